//! The sync with the `fake` provider: templates, extract and rewrite, both API versions, ownership,
//! drift repair and template errors.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};

use crate::{World, text_data};

const FAKE_STORE: &str = r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: fake
spec:
  provider:
    fake:
      data:
        - key: app/db
          value: '{"user":"admin","password":"p4ss","nested":{"host":"db.local","port":5432}}'
        - key: app/token
          value: t0ken
        - key: app/token
          version: v2
          value: t0ken-v2
"#;

#[tokio::test]
async fn templates_extract_and_rewrite_build_the_secret() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: app
  labels: {team: payments}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: fake, kind: SecretStore}
  target:
    template:
      type: kubernetes.io/basic-auth
      metadata:
        labels: {rendered: "yes"}
      data:
        username: "{{ .db_user }}"
        password: "{{ .db_password | upper }}"
        url: "postgres://{{ .db_user }}@{{ .host }}:{{ .port }}"
        token: "{{ .token }}"
  data:
    - secretKey: host
      remoteRef: {key: app/db, property: nested.host}
    - secretKey: port
      remoteRef: {key: app/db, property: nested.port}
    - secretKey: token
      remoteRef: {key: app/token, version: v2}
  dataFrom:
    - extract: {key: app/db}
      rewrite:
        - regexp: {source: "^(.*)$", target: "db_$1"}
"#,
        )
        .await;
    let secret = world.wait_secret("app", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["username"], "admin");
    assert_eq!(data["password"], "P4SS");
    assert_eq!(data["url"], "postgres://admin@db.local:5432");
    assert_eq!(data["token"], "t0ken-v2");
    assert_eq!(
        data.len(),
        4,
        "Replace keeps only the templated keys: {:?}",
        data.keys()
    );
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    let labels = secret.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["rendered"], "yes");
    assert_eq!(labels["reconcile.external-secrets.io/managed"], "true");
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("ExternalSecret", "app")
    );
    assert_eq!(owner.controller, Some(true));

    let ready = world.wait_ready("app", "SecretSynced").await;
    assert_eq!(ready.status, "True");
    let status = world.status("app").await.unwrap();
    assert_eq!(status.binding.unwrap().name, "app");
    assert!(status.refresh_time.is_some());
    assert!(status.synced_resource_version.is_some());
}

#[tokio::test]
async fn v1beta1_and_v1_manifests_sync_side_by_side() {
    let world = World::new().await;
    world
        .apply(&FAKE_STORE.replace("external-secrets.io/v1", "external-secrets.io/v1beta1"))
        .await;
    for (version, name) in [("v1beta1", "old"), ("v1", "new")] {
        world
            .apply(&format!(
                r#"
apiVersion: external-secrets.io/{version}
kind: ExternalSecret
metadata:
  name: {name}
spec:
  secretStoreRef: {{name: fake}}
  target: {{name: {name}-secret}}
  data:
    - secretKey: token
      remoteRef: {{key: app/token}}
"#
            ))
            .await;
    }
    for name in ["old-secret", "new-secret"] {
        let secret = world.wait_secret(name, |_| true).await;
        assert_eq!(text_data(&secret)["token"], "t0ken", "{name}");
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    }
}

#[tokio::test]
async fn deleted_or_edited_secrets_are_restored() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: repair
spec:
  secretStoreRef: {name: fake}
  data:
    - secretKey: token
      remoteRef: {key: app/token}
"#,
        )
        .await;
    world.wait_secret("repair", |_| true).await;

    let edited = Secret {
        data: Some([("token".to_owned(), ByteString(b"hacked".to_vec()))].into()),
        ..Secret::default()
    };
    world
        .secrets()
        .patch("repair", &PatchParams::default(), &Patch::Merge(&edited))
        .await
        .unwrap();
    let restored = world
        .wait_secret("repair", |s| text_data(s)["token"] == "t0ken")
        .await;
    assert_eq!(text_data(&restored).len(), 1);

    world
        .secrets()
        .delete("repair", &DeleteParams::default())
        .await
        .unwrap();
    let recreated = world
        .wait_secret("repair", |s| {
            text_data(s).get("token").map(String::as_str) == Some("t0ken")
        })
        .await;
    assert_ne!(
        recreated.metadata.uid, restored.metadata.uid,
        "a new Secret was created"
    );
}

#[tokio::test]
async fn a_template_error_keeps_the_last_good_secret() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    let manifest = |template: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: tpl
spec:
  secretStoreRef: {{name: fake}}
  target:
    template:
      data:
        out: "{template}"
  data:
    - secretKey: password
      remoteRef: {{key: app/db, property: password}}
"#
        )
    };
    world.apply(&manifest("pw={{ .password }}")).await;
    world
        .wait_secret("tpl", |s| text_data(s)["out"] == "pw=p4ss")
        .await;

    world.apply(&manifest("pw={{ .passwrod }}")).await;
    let ready = world.wait_ready("tpl", "SecretSyncedError").await;
    assert_eq!(ready.status, "False");
    let message = ready.message.unwrap_or_default();
    assert!(
        message.contains("passwrod"),
        "names the missing key: {message}"
    );
    assert!(!message.contains("p4ss"), "never a value: {message}");
    let kept = world.secret("tpl").await.expect("the Secret is kept");
    assert_eq!(text_data(&kept)["out"], "pw=p4ss");
}

#[tokio::test]
async fn a_secret_owned_by_another_external_secret_is_not_taken_over() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    let manifest = |name: &str, key: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  secretStoreRef: {{name: fake}}
  target: {{name: shared}}
  data:
    - secretKey: value
      remoteRef: {{key: {key}}}
"#
        )
    };
    world.apply(&manifest("first", "app/token")).await;
    world.wait_ready("first", "SecretSynced").await;
    world.apply(&manifest("second", "app/db")).await;
    let ready = world.wait_ready("second", "SecretSyncedError").await;
    let message = ready.message.unwrap_or_default();
    assert!(
        message.contains("owned by ExternalSecret first"),
        "{message}"
    );
    let secret = world.secret("shared").await.unwrap();
    assert_eq!(text_data(&secret)["value"], "t0ken", "first's data stays");
    assert_eq!(secret.metadata.owner_references.unwrap()[0].name, "first");
}

#[tokio::test]
async fn template_from_a_configmap_renders_keys() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    world
        .apply(
            r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: templates
data:
  config.yaml: "user: {{ .user }}\npassword: {{ .password }}\n"
  pairs: "DB_USER: {{ .user }}"
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: from-cm
spec:
  secretStoreRef: {name: fake}
  target:
    template:
      templateFrom:
        - configMap:
            name: templates
            items:
              - key: config.yaml
              - key: pairs
                templateAs: KeysAndValues
  dataFrom:
    - extract: {key: app/db}
"#,
        )
        .await;
    let secret = world.wait_secret("from-cm", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["config.yaml"], "user: admin\npassword: p4ss\n");
    assert_eq!(data["DB_USER"], "admin");
    assert!(!data.contains_key("user"), "Replace: only templated keys");
}

#[tokio::test]
async fn esos_metric_families_describe_each_external_secret_and_store() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: good}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: fake, kind: SecretStore}
  data:
    - {secretKey: token, remoteRef: {key: app/token}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: broken}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: fake, kind: SecretStore}
  data:
    - {secretKey: token, remoteRef: {key: app/missing}}
"#,
        )
        .await;
    world.wait_ready("good", "SecretSynced").await;
    world.wait_ready("broken", "SecretSyncedError").await;
    let ns = &world.namespace;
    // The store's status is written apart from the ExternalSecrets': wait for both.
    let text = kseal_testenv::eventually("ESO's families for both and the store", || async {
        let text = world.metrics_text();
        (text.contains(&format!(
            "externalsecret_sync_calls_error{{name=\"broken\",namespace=\"{ns}\"}}"
        )) && text.contains(&format!(
            "secretstore_status_condition{{name=\"fake\",namespace=\"{ns}\",condition=\"Ready\",status=\"True\"}} 1"
        )))
        .then_some(text)
    })
    .await;
    let value = |series: String| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{series} ")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
    };
    let es = |name: &str, condition: &str, status: &str| {
        format!(
            "externalsecret_status_condition{{name=\"{name}\",namespace=\"{ns}\",condition=\"{condition}\",status=\"{status}\"}}"
        )
    };
    assert_eq!(value(es("good", "Ready", "True")), "1");
    assert_eq!(value(es("good", "Ready", "False")), "0");
    assert_eq!(value(es("broken", "Ready", "False")), "1");
    assert_eq!(value(es("broken", "Ready", "True")), "0");
    assert_eq!(
        value(format!(
            "secretstore_status_condition{{name=\"fake\",namespace=\"{ns}\",condition=\"Ready\",status=\"True\"}}"
        )),
        "1"
    );
    let calls = value(format!(
        "externalsecret_sync_calls_total{{name=\"good\",namespace=\"{ns}\"}}"
    ));
    assert!(calls.parse::<u64>().unwrap() >= 1, "{calls}");
    let errors = value(format!(
        "externalsecret_sync_calls_error{{name=\"broken\",namespace=\"{ns}\"}}"
    ));
    assert!(errors.parse::<u64>().unwrap() >= 1, "{errors}");
    assert!(
        text.contains(&format!(
            "externalsecret_reconcile_duration{{name=\"good\",namespace=\"{ns}\"}}"
        )),
        "{text}"
    );
}
