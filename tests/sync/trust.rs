//! Trust boundaries of the sync, with the real controller binary: a namespaced SecretStore cannot
//! borrow the controller's own AWS identity, and what the API server says when it refuses a Secret
//! (which may quote a value) never reaches a status, an event or the log.

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

use crate::controller::Controller;
use crate::{World, text_data};

/// The moto calls of the world's account other than `CreateSecret` (which the test itself makes).
async fn controller_calls(world: &World) -> Vec<(String, u64)> {
    let mut calls = world.account.call_counts().await;
    calls.remove("CreateSecret");
    calls.into_iter().collect()
}

#[tokio::test]
async fn namespaced_stores_may_not_borrow_the_controllers_aws_identity() {
    let world = World::without_sync().await;
    // The controller's own AWS identity (the SDK default chain) is the world's moto account.
    let controller = Controller::start(&world, &[]).await;
    world
        .put_remote("app/token", "read-with-the-controllers-role")
        .await;
    let css = format!("{}-default-chain", world.namespace);
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: borrowed}
spec:
  provider:
    aws: {service: SecretsManager, region: us-east-1}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: borrowed}
spec:
  secretStoreRef: {name: borrowed}
  data: [{secretKey: token, remoteRef: {key: app/token}}]
"#,
        )
        .await;

    let store = world
        .wait_store_condition("SecretStore", "borrowed", "Ready", "InvalidProviderConfig")
        .await;
    assert_eq!(store.status, "False");
    let message = store.message.unwrap_or_default();
    for named in [
        "--sync-allow-namespaced-default-credentials",
        "controller.sync.allowNamespacedDefaultCredentials",
    ] {
        assert!(message.contains(named), "{message}");
    }
    let refused = world.wait_ready("borrowed", "SecretSyncedError").await;
    assert_eq!(refused.status, "False");
    let message = refused.message.unwrap_or_default();
    assert!(
        message.starts_with(&format!("SecretStore {}/borrowed: ", world.namespace)),
        "{message}"
    );
    assert!(
        message.contains("--sync-allow-namespaced-default-credentials"),
        "{message}"
    );
    assert!(world.secret("borrowed").await.is_none());
    assert_eq!(
        controller_calls(&world).await,
        [],
        "the refused store made AWS calls with the controller's identity"
    );

    // A ClusterSecretStore without auth is the administrator's choice: it reads with the controller's
    // identity (and the counts above would have seen it).
    world
        .apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {css}}}
spec:
  conditions: [{{namespaces: [{ns}]}}]
  provider:
    aws: {{service: SecretsManager, region: us-east-1}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: shared}}
spec:
  secretStoreRef: {{name: {css}, kind: ClusterSecretStore}}
  data: [{{secretKey: token, remoteRef: {{key: app/token}}}}]
"#,
            ns = world.namespace
        ))
        .await;
    let shared = world.wait_secret("shared", |_| true).await;
    assert_eq!(
        text_data(&shared)["token"],
        "read-with-the-controllers-role"
    );
    assert_ne!(controller_calls(&world).await, []);

    // With the flag, the namespaced store may use it too.
    controller.stop().await;
    let controller =
        Controller::start(&world, &["--sync-allow-namespaced-default-credentials"]).await;
    let store = world
        .wait_store_condition("SecretStore", "borrowed", "Ready", "Valid")
        .await;
    assert_eq!(store.status, "True");
    let secret = world.wait_secret("borrowed", |_| true).await;
    assert_eq!(
        text_data(&secret)["token"],
        "read-with-the-controllers-role"
    );
    world.wait_ready("borrowed", "SecretSynced").await;
    drop(controller);
    world.delete_cluster_store(&css).await;
}

#[tokio::test]
async fn invalid_templated_labels_are_reported_without_their_value() {
    let world = World::without_sync().await;
    let controller = Controller::start(&world, &[]).await;
    // Not a valid label value: the API server's message quotes it.
    let canary = format!("CANARY {} is not a label value!", world.namespace);
    world
        .apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: fake}}
spec:
  provider:
    fake: {{data: [{{key: app/team, value: "{canary}"}}]}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: labelled}}
spec:
  secretStoreRef: {{name: fake}}
  target:
    template:
      metadata:
        labels: {{team: "{{{{ .team }}}}"}}
  data: [{{secretKey: team, remoteRef: {{key: app/team}}}}]
"#
        ))
        .await;

    // Checked before the API server sees it (its rejection would quote the value): the message names the
    // template, never the value.
    let expected = "template.metadata.labels.team: renders a label value that is not valid (empty, or at \
                    most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";
    let ready = world.wait_ready("labelled", "SecretSyncedError").await;
    assert_eq!(ready.message.as_deref(), Some(expected));
    let status = serde_json::to_string(&world.status("labelled").await).unwrap();
    assert!(!status.contains("CANARY"), "{status}");

    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.namespace);
    let notes = kseal_testenv::eventually("the UpdateFailed event", || async {
        let notes: Vec<String> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("labelled"))
            .filter_map(|e| e.note)
            .collect();
        notes.iter().any(|n| n == expected).then_some(notes)
    })
    .await;
    assert!(notes.iter().all(|n| !n.contains("CANARY")), "{notes:?}");

    let log = controller.stop().await;
    assert!(
        log.contains(expected),
        "the refusal is logged as reported:\n{log}"
    );
    assert!(!log.contains("CANARY"), "the log quotes the value:\n{log}");
}
