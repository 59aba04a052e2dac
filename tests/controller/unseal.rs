//! SealedSecret → Secret: bytes, status, scope violations, and pre-existing Secrets.

use std::collections::BTreeMap;

use kseal_api::names::{ACTIVE, KEY_LABEL};
use kseal_api::{SealedSecret, annotations};
use kseal_crypto::KeyOptions;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};

use crate::http::metric;
use crate::{Cluster, data_of, eventually, existing_secret, plain_secret, seal};

#[tokio::test]
async fn sealed_secret_is_unsealed_into_the_right_bytes() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let ns = &cluster.namespace;
    let sealed = seal(
        plain_secret(
            ns,
            "db",
            &[("password", b"hunter2"), ("binary", &[0, 255, 10])],
        ),
        &key,
    );
    let created = cluster.create_sealed(&sealed).await;

    let (reason, _) = cluster.synced("db", "True").await;
    assert_eq!(reason, "Unsealed");
    cluster.event("db", "Unsealed").await;
    let secret = cluster.secret_with_key("db", "password").await;
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data["password"].0, b"hunter2");
    assert_eq!(data["binary"].0, [0, 255, 10]);
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        (
            "SealedSecret",
            created.metadata.uid.as_deref().unwrap(),
            Some(true)
        )
    );
}

#[tokio::test]
async fn strict_sealed_secret_moved_from_another_namespace_is_refused() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let mut sealed = seal(
        plain_secret("elsewhere", "moved", &[("token", b"s3cr3t-value")]),
        &key,
    );
    sealed.metadata.namespace = Some(cluster.namespace.clone());
    cluster.create_sealed(&sealed).await;

    let (reason, message) = cluster.synced("moved", "False").await;
    assert_eq!(reason, "ErrUnsealFailed");
    assert!(message.contains("key token"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    let note = cluster.event("moved", "ErrUnsealFailed").await;
    assert!(
        note.contains("key token") && !note.contains("s3cr3t"),
        "{note}"
    );
    assert!(cluster.secrets().get_opt("moved").await.unwrap().is_none());
}

#[tokio::test]
async fn existing_unowned_secret_is_left_alone() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    cluster
        .create_secret(existing_secret("taken", &[("mine", b"keep")], &[]))
        .await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "taken", &[("password", b"new")]),
        &key,
    );
    cluster.create_sealed(&sealed).await;

    let (reason, message) = cluster.synced("taken", "False").await;
    assert_eq!(reason, "ErrSecretExists");
    cluster.event("taken", "ErrSecretExists").await;
    assert!(message.contains("taken"), "{message}");
    let secret = cluster.secrets().get("taken").await.unwrap();
    assert_eq!(data_of(&secret), [("mine".into(), "keep".into())].into());
    assert!(secret.metadata.owner_references.is_none());
}

#[tokio::test]
async fn existing_managed_secret_is_taken_over() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    cluster
        .create_secret(existing_secret(
            "adopt",
            &[("old", b"gone"), ("password", b"stale")],
            &[(annotations::MANAGED, "true"), ("note", "by hand")],
        ))
        .await;
    let mut plain = plain_secret(&cluster.namespace, "adopt", &[("password", b"fresh")]);
    plain.metadata.annotations = Some([("team".into(), "payments".into())].into());
    let sealed = seal(plain, &key);
    let created = cluster.create_sealed(&sealed).await;

    cluster.synced("adopt", "True").await;
    let secret = cluster.secrets().get("adopt").await.unwrap();
    assert_eq!(
        data_of(&secret),
        [("password".into(), "fresh".into())].into()
    );
    // As sealed-secrets does: the Secret's annotations become the template's (`managed` goes too).
    let kept = secret.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(kept.get("team").map(String::as_str), Some("payments"));
    assert!(
        !kept.contains_key("note") && !kept.contains_key(annotations::MANAGED),
        "{kept:?}"
    );
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(Some(owner.uid.as_str()), created.metadata.uid.as_deref());
}

#[tokio::test]
async fn existing_patch_secret_gets_the_keys_merged_in() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    cluster
        .create_secret(existing_secret(
            "merge",
            &[("theirs", b"kept"), ("password", b"stale")],
            &[(annotations::PATCH, "true")],
        ))
        .await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "merge", &[("password", b"fresh")]),
        &key,
    );
    cluster.create_sealed(&sealed).await;

    cluster.synced("merge", "True").await;
    let secret = cluster.secrets().get("merge").await.unwrap();
    assert_eq!(
        data_of(&secret),
        [
            ("password".into(), "fresh".into()),
            ("theirs".into(), "kept".into())
        ]
        .into()
    );
    assert!(secret.metadata.owner_references.is_none());
}

#[tokio::test]
async fn immutable_secret_is_written_once_and_a_later_change_is_reported() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let mut plain = plain_secret(&cluster.namespace, "frozen", &[("k", b"v1")]);
    plain.immutable = Some(true);
    cluster.create_sealed(&seal(plain, &key)).await;
    cluster.synced("frozen", "True").await;
    let secret = cluster.secret_with_key("frozen", "k").await;
    assert_eq!(secret.immutable, Some(true));

    let mut plain = plain_secret(&cluster.namespace, "frozen", &[("k", b"v2")]);
    plain.immutable = Some(true);
    let changed = seal(plain, &key);
    let patch = serde_json::json!({ "spec": changed.spec });
    cluster
        .sealed_secrets()
        .patch("frozen", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let (reason, message) = cluster.synced("frozen", "False").await;
    assert_eq!(reason, "ErrUpdateFailed", "{message}");
    cluster.event("frozen", "ErrUpdateFailed").await;
    assert!(!message.contains("v2"), "{message}");
    let secret = cluster.secrets().get("frozen").await.unwrap();
    assert_eq!(data_of(&secret)["k"], "v1");
}

#[tokio::test]
async fn restart_does_not_decrypt_up_to_date_secrets() {
    let mut cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    for name in ["one", "two"] {
        let sealed = seal(plain_secret(&cluster.namespace, name, &[("k", b"v")]), &key);
        cluster.create_sealed(&sealed).await;
    }
    for name in ["one", "two"] {
        cluster.synced(name, "True").await;
    }
    let secret = cluster.secrets().get("one").await.unwrap();
    let annotations = secret.metadata.annotations.unwrap();
    assert!(annotations.contains_key("kseal.io/sealed-digest"));
    assert_eq!(annotations["kseal.io/unsealed-with"], key.fingerprint());
    assert!(metric(&cluster, "kseal_unseal_decryptions_total").await >= 2);
    // One key, one value each: one private-key operation per SealedSecret.
    assert!(metric(&cluster, "kseal_unseal_rsa_operations_total").await >= 2);

    cluster.restart_controller().await;
    eventually(
        "both SealedSecrets reconciled after the restart",
        || async { (metric(&cluster, "kseal_unseal_runs_total").await >= 2).then_some(()) },
    )
    .await;
    assert_eq!(metric(&cluster, "kseal_unseal_decryptions_total").await, 0);
    assert_eq!(
        metric(&cluster, "kseal_unseal_rsa_operations_total").await,
        0
    );
}

#[tokio::test]
async fn secret_without_owner_reference_stays_managed() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let sealed_with = |value: &'static [u8]| {
        let mut plain = plain_secret(&cluster.namespace, "free", &[("k", value)]);
        plain.metadata.annotations = Some(
            [(
                annotations::SKIP_SET_OWNER_REFERENCES.to_owned(),
                "true".to_owned(),
            )]
            .into(),
        );
        seal(plain, &key)
    };
    cluster.create_sealed(&sealed_with(b"v1")).await;
    cluster.synced("free", "True").await;
    let secret = cluster.secret_with_key("free", "k").await;
    assert!(secret.metadata.owner_references.is_none());

    let patch = serde_json::json!({ "spec": sealed_with(b"v2").spec });
    cluster
        .sealed_secrets()
        .patch("free", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let secrets = cluster.secrets();
    eventually("the new value written", || async {
        let secret = secrets.get("free").await.unwrap();
        (data_of(&secret)["k"] == "v2").then_some(())
    })
    .await;
    cluster.synced("free", "True").await;
}

#[tokio::test]
async fn deleted_or_edited_secret_is_restored() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "drift", &[("password", b"right")]),
        &key,
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("drift", "True").await;
    let secrets = cluster.secrets();

    let edit = serde_json::json!({ "data": { "password": "d3Jvbmc=" } }); // "wrong"
    secrets
        .patch("drift", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    eventually("the edited value restored", || async {
        let secret = secrets.get("drift").await.unwrap();
        (data_of(&secret)["password"] == "right").then_some(())
    })
    .await;

    secrets
        .delete("drift", &DeleteParams::default())
        .await
        .unwrap();
    let restored = cluster.secret_with_key("drift", "password").await;
    assert_eq!(data_of(&restored)["password"], "right");
}

#[tokio::test]
async fn malformed_sealed_secrets_fail_alone() {
    // Created before the controller starts, so that they are in its first list.
    let mut cluster = Cluster::new().await;
    let raw: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &ApiResource::erase::<SealedSecret>(&()),
    );
    let malformed = [
        // Not base64; garbage ciphertext; a template the API server accepts but kseal cannot read.
        (
            "bad-base64",
            serde_json::json!({ "encryptedData": { "k": "%%%not base64" } }),
        ),
        (
            "bad-ciphertext",
            serde_json::json!({ "encryptedData": { "k": "AgBhYmNkZWZnaGlqa2xtbm9w" } }),
        ),
        (
            "bad-template",
            serde_json::json!({
                "encryptedData": {},
                "template": { "metadata": { "labels": "not-a-map" } }
            }),
        ),
        (
            "bad-go-template",
            serde_json::json!({
                "encryptedData": {},
                "template": { "data": { "x": "{{ .missing" } }
            }),
        ),
    ];
    for (name, spec) in &malformed {
        let object = DynamicObject::new(name, &ApiResource::erase::<SealedSecret>(&()))
            .within(&cluster.namespace)
            .data(serde_json::json!({ "spec": spec }));
        raw.create(&PostParams::default(), &object).await.unwrap();
    }
    cluster.start_controller();
    let key = cluster.public_key().await;
    let good = seal(
        plain_secret(&cluster.namespace, "good", &[("k", b"fine")]),
        &key,
    );
    cluster.create_sealed(&good).await;

    cluster.synced("good", "True").await;
    for (name, _) in &malformed {
        let (reason, message) = cluster.synced(name, "False").await;
        assert_eq!(reason, "ErrUnsealFailed", "{name}: {message}");
        assert!(message.contains(name), "{name}: {message}");
    }
}

/// A valid key pair (2048 bits, fast), as an attacker would make one.
fn attacker_key() -> kseal_crypto::KeyPair {
    kseal_crypto::KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn the_unsealer_never_writes_or_plants_a_sealing_key() {
    let cluster = Cluster::with_controller().await;
    let ns = cluster.namespace.clone();
    let key = cluster.public_key().await;
    let keys_before: Vec<_> = cluster
        .key_secrets()
        .await
        .into_iter()
        .map(|s| (s.metadata.name, s.data))
        .collect();
    let planted = attacker_key();
    let planted_key = planted.private_key_pem().unwrap();
    let key_data: [(&str, &[u8]); 2] = [
        ("tls.key", planted_key.as_bytes()),
        ("tls.crt", planted.certificate_pem().as_bytes()),
    ];
    // What an attacker allowed to create SealedSecrets in the controller's namespace could try.
    let mut named_like_a_key = plain_secret(&ns, "sealed-secrets-keyevil", &key_data);
    named_like_a_key.type_ = Some("kubernetes.io/tls".into());
    let mut labelled_as_a_key = plain_secret(&ns, "planted", &key_data);
    labelled_as_a_key.type_ = Some("kubernetes.io/tls".into());
    labelled_as_a_key.metadata.labels = Some(BTreeMap::from([(KEY_LABEL.into(), ACTIVE.into())]));
    // A key imported by hand under another name, later annotated for take-over.
    let imported = attacker_key();
    let imported_key = imported.private_key_pem().unwrap();
    let mut imported_secret = existing_secret(
        "imported-key",
        &[
            ("tls.key", imported_key.as_bytes()),
            ("tls.crt", imported.certificate_pem().as_bytes()),
        ],
        &[("sealedsecrets.bitnami.com/managed", "true")],
    );
    imported_secret.metadata.labels = Some(BTreeMap::from([(KEY_LABEL.into(), ACTIVE.into())]));
    imported_secret.type_ = Some("kubernetes.io/tls".into());
    let imported_before = cluster.create_secret(imported_secret).await.data;
    let over_imported = plain_secret(&ns, "imported-key", &[("tls.key", b"overwritten")]);

    for secret in [named_like_a_key, labelled_as_a_key, over_imported] {
        let name = secret.metadata.name.clone().unwrap();
        cluster.create_sealed(&seal(secret, &key)).await;
        let (reason, message) = cluster.synced(&name, "False").await;
        assert_eq!(reason, "ErrProtectedSecret", "{name}: {message}");
        assert!(message.contains(&name), "{message}");
    }
    let secrets = cluster.secrets();
    for name in ["sealed-secrets-keyevil", "planted"] {
        assert!(
            secrets.get_opt(name).await.unwrap().is_none(),
            "Secret {name} was written"
        );
    }
    assert_eq!(
        secrets.get("imported-key").await.unwrap().data,
        imported_before,
        "the imported key Secret was overwritten"
    );
    // The controller's own key Secrets are untouched, and it still seals with its own key.
    let keys_after: Vec<_> = cluster
        .key_secrets()
        .await
        .into_iter()
        .filter(|s| s.metadata.name.as_deref() != Some("imported-key"))
        .map(|s| (s.metadata.name, s.data))
        .collect();
    assert_eq!(keys_after, keys_before);
    let still = seal(plain_secret(&ns, "after", &[("k", b"v")]), &key);
    cluster.create_sealed(&still).await;
    assert_eq!(
        data_of(&cluster.secret_with_key("after", "k").await)["k"],
        "v"
    );
}
