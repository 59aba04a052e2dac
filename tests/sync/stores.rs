//! Store validation (`Ready` reasons) and who may use a ClusterSecretStore.

use k8s_openapi::api::core::v1::Namespace;
use kseal_api::external_secrets::{SecretStore, SecretStoreStatus};
use kseal_testenv::eventually;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::{TEST_MANAGER, World, text_data};

pub(crate) async fn store_ready(world: &World, name: &str, reason: &str) -> (String, String) {
    let api: Api<SecretStore> = Api::namespaced(world.client.clone(), &world.namespace);
    eventually(
        &format!("SecretStore {name} Ready reason {reason}"),
        || async {
            let status: SecretStoreStatus = api.get_opt(name).await.ok()??.status?;
            let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            (ready.reason.as_deref() == Some(reason))
                .then(|| (ready.status, ready.message.unwrap_or_default()))
        },
    )
    .await
}

#[tokio::test]
async fn stores_report_whether_kseal_can_serve_them() {
    let world = World::new().await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: fake}
spec:
  provider:
    fake: {data: [{key: k, value: v}]}
---
apiVersion: external-secrets.io/v1beta1
kind: SecretStore
metadata: {name: vault}
spec:
  provider:
    vault: {server: "https://vault.example", path: secret}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: certificates}
spec:
  provider:
    aws: {service: CertificateManager, region: eu-west-1}
"#,
        )
        .await;
    assert_eq!(store_ready(&world, "fake", "Valid").await.0, "True");
    let (status, message) = store_ready(&world, "vault", "Unsupported").await;
    assert_eq!(status, "False");
    assert!(message.contains("spec.provider.vault"), "{message}");
    assert!(message.contains("\"vault\" is not served"), "{message}");
    let (_, message) = store_ready(&world, "certificates", "Unsupported").await;
    assert!(message.contains("CertificateManager"), "{message}");

    // An ExternalSecret on an unserved store says why.
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: on-vault}
spec:
  secretStoreRef: {name: vault}
  data: [{secretKey: a, remoteRef: {key: a}}]
"#,
        )
        .await;
    let ready = world.wait_ready("on-vault", "SecretSyncedError").await;
    assert!(ready.message.unwrap_or_default().contains("SecretStore"));
}

#[tokio::test]
async fn cluster_store_conditions_limit_namespaces() {
    let world = World::new().await;
    let store = format!("{}-css", world.namespace);
    let manifest = |conditions: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {store}}}
spec:
  conditions: {conditions}
  provider:
    fake: {{data: [{{key: shared, value: hello}}]}}
"#
        )
    };
    world
        .apply(&manifest("[{namespaces: [somewhere-else]}]"))
        .await;
    world
        .apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: from-cluster}}
spec:
  refreshInterval: 1s
  secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
  data: [{{secretKey: greeting, remoteRef: {{key: shared}}}}]
"#
        ))
        .await;
    let refused = world.wait_ready("from-cluster", "SecretSyncedError").await;
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains(&format!(
            "may not be used from namespace {}",
            world.namespace
        )),
        "{message}"
    );
    assert!(world.secret("from-cluster").await.is_none());

    // A label selector that matches the namespace lets it in.
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    let labels = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": world.namespace, "labels": {"secrets-from": "shared-store"}}
    });
    namespaces
        .patch(
            &world.namespace,
            &PatchParams::apply(TEST_MANAGER),
            &Patch::Apply(&labels),
        )
        .await
        .unwrap();
    world
        .apply(&manifest(
            "[{namespaces: [somewhere-else]}, {namespaceSelector: {matchLabels: {secrets-from: shared-store}}}]",
        ))
        .await;
    let secret = world.wait_secret("from-cluster", |_| true).await;
    assert_eq!(text_data(&secret)["greeting"], "hello");
}

#[tokio::test]
async fn a_cluster_store_without_conditions_says_it_serves_every_namespace() {
    let world = World::new().await;
    let store = format!("{}-open", world.namespace);
    let manifest = |conditions: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {store}}}
spec:
  {conditions}
  provider:
    fake: {{data: [{{key: shared, value: hello}}]}}
"#
        )
    };
    world.apply(&manifest("")).await;
    let serves = world
        .wait_store_condition(
            "ClusterSecretStore",
            &store,
            "ServesAllNamespaces",
            "NoConditions",
        )
        .await;
    assert_eq!(serves.status, "True");
    let message = serves.message.unwrap_or_default();
    assert!(message.contains("any namespace"), "{message}");
    assert!(message.contains("spec.conditions"), "{message}");
    let ready = world
        .wait_store_condition("ClusterSecretStore", &store, "Ready", "Valid")
        .await;
    assert_eq!(ready.status, "True");

    // Restricted: the condition goes, Ready stays.
    world
        .apply(&manifest(&format!(
            "conditions: [{{namespaces: [{}]}}]",
            world.namespace
        )))
        .await;
    let conditions = eventually("ServesAllNamespaces removed", || async {
        let conditions = world.store_conditions("ClusterSecretStore", &store).await;
        (!conditions.iter().any(|c| c.type_ == "ServesAllNamespaces")).then_some(conditions)
    })
    .await;
    let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Ready"]);
    world.delete_cluster_store(&store).await;

    // A namespaced SecretStore serves only its own namespace: no such condition.
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: own}
spec:
  provider:
    fake: {data: [{key: k, value: v}]}
"#,
        )
        .await;
    world
        .wait_store_condition("SecretStore", "own", "Ready", "Valid")
        .await;
    let types: Vec<String> = world
        .store_conditions("SecretStore", "own")
        .await
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(types, ["Ready"]);
}

#[tokio::test]
async fn store_credentials_are_checked_at_aws_and_refused_ones_hold_back_their_external_secrets() {
    let world = World::isolated().await;
    // IAM access control on, and one identity that may read: a least-privilege policy without any
    // STS permission (GetCallerIdentity needs none at AWS).
    let reader = world
        .env
        .moto_iam_user(
            "checked-reader",
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": [
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:BatchGetSecretValue",
                        "secretsmanager:CreateSecret",
                    ],
                    "Resource": "*",
                }],
            }),
        )
        .await;
    reader
        .secretsmanager_client()
        .await
        .create_secret()
        .name("app/token")
        .secret_string("t0ken")
        .send()
        .await
        .unwrap();
    // The test's own account is no IAM user: AWS (moto) refuses its keys from now on.
    let checked_every_10s = |yaml: String| {
        yaml.replace(
            "spec:\n  provider:",
            "spec:\n  refreshInterval: 10\n  provider:",
        )
    };
    world
        .apply(&checked_every_10s(
            world.account.static_key_store("checked"),
        ))
        .await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: held}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: checked}
  data: [{secretKey: token, remoteRef: {key: app/token}}]
"#,
        )
        .await;
    let (status, message) = store_ready(&world, "checked", "InvalidProviderConfig").await;
    assert_eq!(status, "False");
    assert!(message.contains("GetCallerIdentity"), "{message}");
    assert!(message.contains("InvalidClientTokenId"), "{message}");
    assert!(
        !message.contains(world.account.secret_access_key()),
        "{message}"
    );
    // Until the store's check has finished, the ExternalSecret may still have called AWS itself (and
    // failed with the same refusal); its retry then finds the store refused.
    let held = eventually("ExternalSecret held: its store is not ready", || async {
        crate::ready(&world.status("held").await?).filter(|c| {
            c.reason.as_deref() == Some("SecretSyncedError")
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.contains("is not ready"))
        })
    })
    .await;
    let why = held.message.unwrap_or_default();
    assert!(
        why.contains("SecretStore") && why.contains("is not ready"),
        "{why}"
    );
    assert!(why.contains("InvalidClientTokenId"), "{why}");

    // Once refused, the ExternalSecret retries without calling AWS with those keys (a read that
    // raced the store's first check may have been made before), and the store is checked once.
    let reads = |calls: &kseal_testenv::CallCounts| {
        calls.get("GetSecretValue").copied().unwrap_or(0)
            + calls.get("BatchGetSecretValue").copied().unwrap_or(0)
    };
    let before = world.account.call_counts().await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let calls = world.account.call_counts().await;
    assert_eq!(reads(&calls), reads(&before), "{calls:?}");
    assert_eq!(calls.get("GetCallerIdentity"), Some(&1), "{calls:?}");
    assert!(world.secret("held").await.is_none());

    // Working keys in the store's Secret: the ExternalSecret tries them at once, the store turns
    // Ready at its next check.
    world
        .apply(&checked_every_10s(reader.static_key_store("checked")))
        .await;
    let secret = world.wait_secret("held", |_| true).await;
    assert_eq!(text_data(&secret)["token"], "t0ken");
    world.wait_ready("held", "SecretSynced").await;
    let (status, _) = store_ready(&world, "checked", "Valid").await;
    assert_eq!(status, "True");
    assert!(
        reader.call_count("GetCallerIdentity").await >= 1,
        "the working keys were checked too"
    );
}
