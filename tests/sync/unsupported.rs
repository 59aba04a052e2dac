//! Nothing of an ESO manifest is silently ignored: each field kseal does not implement yet reaches the
//! controller (the CRDs prune nothing) and makes the object `Ready=False`, reason `Unsupported`, with a
//! message naming the field's path; the target Secret is left exactly as it is.

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
        - key: app/token
          value: t0ken
"#;

/// An ExternalSecret `name` reading `app/token` into `token`, with `extra` (YAML lines) added under
/// `spec` (2 spaces deep) or replacing the data item.
fn external_secret(name: &str, spec_extra: &str, item_extra: &str) -> String {
    format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: fake, kind: SecretStore}}
{spec_extra}
  data:
    - secretKey: token
      remoteRef: {{key: app/token}}
{item_extra}
"#
    )
}

/// Fields of ESO v1 that kseal does not implement yet, and one ESO does not have either: (field path,
/// spec lines, data-item lines).
const FIELDS: &[(&str, &str, &str)] = &[
    (
        "spec.data[0].sourceRef.generatorRef",
        "",
        "      sourceRef: {generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: Password, name: pw}}",
    ),
    (
        "spec.dataFrom[0].sourceRef.generatorRef",
        "  dataFrom:\n    - sourceRef: {generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: VaultDynamicSecret, name: vault}}",
        "",
    ),
    (
        "spec.target.manifest",
        "  target:\n    manifest: {apiVersion: v1, kind: ConfigMap}",
        "",
    ),
    (
        "spec.target.notAnEsoField",
        "  target:\n    notAnEsoField: true",
        "",
    ),
];

#[tokio::test]
async fn each_unimplemented_field_is_refused_by_its_path() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    for (index, (path, spec_extra, item_extra)) in FIELDS.iter().enumerate() {
        let name = format!("field-{index}");
        world
            .apply(&external_secret(&name, spec_extra, item_extra))
            .await;
        let ready = world.wait_ready(&name, "Unsupported").await;
        assert_eq!(ready.status, "False", "{path}");
        let message = ready.message.unwrap_or_default();
        assert!(message.contains(path), "{path} named in {message:?}");
        assert!(
            world.secret(&name).await.is_none(),
            "{path}: nothing is synced"
        );
    }
}

#[tokio::test]
async fn an_unimplemented_field_added_later_leaves_the_secret_as_it_is() {
    let world = World::new().await;
    world.apply(FAKE_STORE).await;
    world.apply(&external_secret("kept", "", "")).await;
    let before = world
        .wait_secret("kept", |s| {
            text_data(s).get("token").map(String::as_str) == Some("t0ken")
        })
        .await;
    world.wait_ready("kept", "SecretSynced").await;
    let (path, spec_extra, _) = FIELDS
        .iter()
        .find(|(path, ..)| *path == "spec.target.manifest")
        .unwrap();
    world.apply(&external_secret("kept", spec_extra, "")).await;
    let ready = world.wait_ready("kept", "Unsupported").await;
    assert!(ready.message.unwrap_or_default().contains(path));
    let after = world.secret("kept").await.expect("the Secret is kept");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the Secret is left exactly as it is"
    );
}

#[tokio::test]
async fn store_fields_kseal_does_not_implement_are_refused_by_their_path() {
    let world = World::new().await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: certificates}
spec:
  provider:
    aws:
      service: CertificateManager
      region: us-east-1
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: unknown-field}
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: creds, key: id}
          secretAccessKeySecretRef: {name: creds, key: secret}
      notAnEsoField: true
"#,
        )
        .await;
    for (store, path) in [
        ("certificates", "spec.provider.aws.service"),
        ("unknown-field", "spec.provider.aws.notAnEsoField"),
    ] {
        let (status, message) = crate::stores::store_ready(&world, store, "Unsupported").await;
        assert_eq!(status, "False");
        assert!(message.contains(path), "{path} named in {message:?}");
    }
}
