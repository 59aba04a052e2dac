//! The sync never writes or deletes a sealing key or a SealedSecret's Secret, whatever the
//! ExternalSecret's policies: overwriting the key Secret would lose the key for good.

use k8s_openapi::api::core::v1::Secret;
use kseal_api::SealedSecret;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::Certificate;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, ResourceExt as _};

use crate::controller::Controller;
use crate::{World, text_data};

/// Label of the sealing-key Secrets.
const KEY_LABEL: &str = kseal_api::names::KEY_LABEL;

/// A SealedSecret `name` in the world's namespace holding `value` under `key`, sealed with `pem`.
fn sealed(world: &World, pem: &str, name: &str, key: &str, value: &str) -> SealedSecret {
    let certificate = Certificate::from_pem(pem.as_bytes()).expect("the served certificate");
    let plain = PlainSecret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(world.namespace.clone()),
            ..ObjectMeta::default()
        },
        data: [(key.to_owned(), value.as_bytes().to_vec().into())].into(),
        ..PlainSecret::default()
    };
    seal_secret(
        plain,
        &SealOptions {
            key: certificate.public_key(),
            scope: None,
            allow_empty_data: false,
            default_namespace: world.namespace.clone(),
            namespace: None,
            name: None,
        },
    )
    .expect("sealing")
}

/// The key Secrets of the world's namespace, by name.
async fn key_secrets(world: &World) -> Vec<Secret> {
    world
        .secrets()
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .unwrap()
        .items
}

/// An ExternalSecret writing a TLS Secret named `target` from the `attacker` store.
fn tls_external_secret(name: &str, target: &str, target_extra: &str) -> String {
    format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: {name}}}
spec:
  refreshInterval: 1s
  secretStoreRef: {{name: attacker}}
  target:
    name: {target}
    {target_extra}
  data:
    - {{secretKey: key, remoteRef: {{key: tls/key}}}}
    - {{secretKey: crt, remoteRef: {{key: tls/crt}}}}
"#
    )
}

#[tokio::test]
async fn the_sealing_key_survives_external_secrets_that_target_it() {
    let world = World::without_sync().await;
    let controller = Controller::start(&world, &[]).await;
    let certificate = controller.certificate().await.unwrap();
    let keys = key_secrets(&world).await;
    assert_eq!(keys.len(), 1, "one generated key");
    let key = keys.into_iter().next().unwrap();
    let key_name = key.name_any();
    // Sealed now, applied after the restart: it must still open.
    let before = sealed(&world, &certificate, "sealed-before", "password", "hunter2");

    let template = "template:
      type: kubernetes.io/tls
      data: {tls.key: '{{ .key }}', tls.crt: '{{ .crt }}'}";
    let mut manifest = String::from(
        r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: attacker}
spec:
  provider:
    fake:
      data:
        - {key: tls/key, value: "-----BEGIN RSA PRIVATE KEY-----attacker-----END RSA PRIVATE KEY-----"}
        - {key: tls/crt, value: "-----BEGIN CERTIFICATE-----attacker-----END CERTIFICATE-----"}
"#,
    );
    let policies = [
        ("owner", "creationPolicy: Owner"),
        ("orphan", "creationPolicy: Orphan"),
        ("merge", "creationPolicy: Merge"),
        ("none", "creationPolicy: None"),
        ("delete", "deletionPolicy: Delete"),
    ];
    for (name, policy) in policies {
        manifest.push_str("---");
        manifest.push_str(&tls_external_secret(
            name,
            &key_name,
            &format!("{policy}\n    {template}"),
        ));
    }
    // The legacy key name (no such Secret yet), and a new Secret labelled as a key.
    manifest.push_str("---");
    manifest.push_str(&tls_external_secret(
        "legacy",
        "sealed-secrets-key",
        template,
    ));
    manifest.push_str("---");
    manifest.push_str(&tls_external_secret(
        "labelled",
        "innocent",
        &format!("{template}\n      metadata: {{labels: {{{KEY_LABEL}: active}}}}"),
    ));
    world.apply(&manifest).await;

    let ns = &world.namespace;
    for (name, _) in policies {
        let ready = world.wait_ready(name, "ProtectedSecret").await;
        assert_eq!(ready.status, "False", "{name}");
        assert_eq!(
            ready.message.as_deref(),
            Some(
                format!(
                    "Secret {ns}/{key_name} is protected: it is labelled {KEY_LABEL} (a sealing key); the sync never writes or deletes it (choose another spec.target.name)"
                )
                .as_str()
            ),
            "{name}"
        );
    }
    let legacy = world.wait_ready("legacy", "ProtectedSecret").await;
    assert!(
        legacy
            .message
            .unwrap_or_default()
            .contains("sealing key's name (sealed-secrets-key) in the controller's key namespace")
    );
    let labelled = world.wait_ready("labelled", "ProtectedSecret").await;
    assert!(labelled.message.unwrap_or_default().starts_with(&format!(
        "Secret {ns}/innocent is protected: it is labelled {KEY_LABEL}"
    )));
    assert!(world.secret("sealed-secrets-key").await.is_none());
    assert!(world.secret("innocent").await.is_none());
    let after = world.secret(&key_name).await.expect("the key Secret");
    assert_eq!(after.data, key.data, "the key's bytes are unchanged");
    assert_eq!(
        after.resource_version(),
        key.resource_version(),
        "the key Secret was not written at all"
    );

    // A restart loads the same key: nothing new generated, the same certificate served.
    controller.stop().await;
    let controller = Controller::start(&world, &[]).await;
    assert_eq!(controller.certificate().await.unwrap(), certificate);
    let names: Vec<String> = key_secrets(&world)
        .await
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert_eq!(names, [key_name]);
    let sealed_secrets: Api<SealedSecret> = Api::namespaced(world.client.clone(), ns);
    sealed_secrets
        .create(&PostParams::default(), &before)
        .await
        .unwrap();
    let unsealed = world
        .wait_secret("sealed-before", |s| s.data.is_some())
        .await;
    assert_eq!(text_data(&unsealed)["password"], "hunter2");

    // The Secret of a SealedSecret is not the sync's either.
    world
        .apply(&tls_external_secret(
            "steal",
            "sealed-before",
            "creationPolicy: Merge",
        ))
        .await;
    let ready = world.wait_ready("steal", "ProtectedSecret").await;
    assert_eq!(
        ready.message.as_deref(),
        Some(
            format!(
                "Secret {ns}/sealed-before is protected: it is owned by SealedSecret sealed-before; the sync never writes or deletes it (choose another spec.target.name)"
            )
            .as_str()
        )
    );
    let kept = world.secret("sealed-before").await.unwrap();
    assert_eq!(kept.resource_version(), unsealed.resource_version());
    drop(controller);
}

#[tokio::test]
async fn a_protected_secret_created_after_the_external_secret_is_not_overwritten() {
    let world = World::new().await;
    let store = |data: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: fake}}
spec:
  provider:
    fake: {{data: [{data}]}}
"#
        )
    };
    world.apply(&store("{key: other, value: x}")).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: late}
spec:
  refreshInterval: 1s
  secretStoreRef: {name: fake}
  data: [{secretKey: value, remoteRef: {key: late}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: merged}
spec:
  refreshInterval: 1s
  secretStoreRef: {name: fake}
  target: {creationPolicy: Merge}
  data: [{secretKey: value, remoteRef: {key: late}}]
"#,
        )
        .await;
    // The remote key does not exist yet: no Secret.
    world.wait_ready("late", "SecretSyncedError").await;
    world.wait_ready("merged", "SecretSyncedError").await;

    // Then Secrets appear under the target names: a key (restored from a backup, say), and the
    // Secret of a SealedSecret (its owner is all that marks it).
    let secrets = world.secrets();
    let key: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "late", "labels": {KEY_LABEL: "active"}},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.key": "the key", "tls.crt": "the certificate"},
    }))
    .unwrap();
    let key = secrets.create(&PostParams::default(), &key).await.unwrap();
    let owned: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "merged", "ownerReferences": [{
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "merged",
            "uid": "00000000-0000-0000-0000-000000000001", "controller": true,
        }]},
        "stringData": {"unsealed": "by the unsealer"},
    }))
    .unwrap();
    let owned = secrets
        .create(&PostParams::default(), &owned)
        .await
        .unwrap();

    // The remote key arrives: the refresh must not take either Secret over.
    world.apply(&store("{key: late, value: remote}")).await;
    let ready = world.wait_ready("late", "ProtectedSecret").await;
    assert!(
        ready
            .message
            .unwrap_or_default()
            .contains(&format!("it is labelled {KEY_LABEL}"))
    );
    let ready = world.wait_ready("merged", "ProtectedSecret").await;
    assert!(
        ready
            .message
            .unwrap_or_default()
            .contains("it is owned by SealedSecret merged")
    );
    for (name, created) in [("late", &key), ("merged", &owned)] {
        let now = world.secret(name).await.unwrap();
        assert_eq!(now.resource_version(), created.resource_version(), "{name}");
        assert_eq!(now.data, created.data, "{name}");
    }
}
