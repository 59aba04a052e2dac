//! Key Secrets: generated with sealed-secrets' layout, or adopted as they are.

use kseal_crypto::{KeyOptions, KeyPair};
use kseal_sealedsecrets::keys::key_secret;
use kube::api::{ListParams, ObjectMeta};

use std::time::Duration;

use crate::http::get;
use crate::{Cluster, certificate_of, eventually, plain_secret, seal};

#[tokio::test]
async fn generated_key_secret_has_the_sealed_secrets_layout() {
    let cluster = Cluster::with_controller().await;
    let secrets = cluster.key_secrets().await;
    assert_eq!(secrets.len(), 1);
    let secret = &secrets[0];
    let name = secret.metadata.name.as_deref().unwrap();
    assert!(name.starts_with("sealed-secrets-key"), "{name}");
    assert_eq!(name.len(), "sealed-secrets-key".len() + 5, "{name}");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    let data = secret.data.as_ref().unwrap();
    assert!(
        data["tls.key"]
            .0
            .starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
    );
    assert_eq!(certificate_of(secret).public_key().bits(), 2048);
}

#[tokio::test]
async fn existing_legacy_key_secret_is_adopted() {
    let mut cluster = Cluster::new().await;
    let pair = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    // The legacy layout: unlabelled, named exactly `sealed-secrets-key`.
    let mut legacy = key_secret(&cluster.namespace, &pair).unwrap();
    legacy.metadata = ObjectMeta {
        name: Some("sealed-secrets-key".into()),
        ..ObjectMeta::default()
    };
    cluster.create_secret(legacy).await;
    cluster.start_controller();

    let sealed = seal(
        plain_secret(&cluster.namespace, "app", &[("api-key", b"abc")]),
        pair.certificate().public_key(),
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("app", "True").await;
    let secret = cluster.secret_with_key("app", "api-key").await;
    assert_eq!(secret.data.unwrap()["api-key"].0, b"abc");

    // No key was generated beside the adopted one.
    let tls = cluster
        .secrets()
        .list(&ListParams::default().fields("type=kubernetes.io/tls"))
        .await
        .unwrap();
    let names: Vec<_> = tls
        .items
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(names, ["sealed-secrets-key"]);
}

#[tokio::test]
async fn key_added_while_running_is_picked_up() {
    let cluster = Cluster::with_controller().await;
    cluster.key_secrets().await;
    let pair = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let sealed = seal(
        plain_secret(&cluster.namespace, "later", &[("token", b"t")]),
        pair.certificate().public_key(),
    );
    cluster.create_sealed(&sealed).await;
    let (reason, _) = cluster.synced("later", "False").await;
    assert_eq!(reason, "ErrUnsealFailed");

    cluster
        .create_secret(key_secret(&cluster.namespace, &pair).unwrap())
        .await;
    cluster.synced("later", "True").await;
    let secret = cluster.secret_with_key("later", "token").await;
    assert_eq!(secret.data.unwrap()["token"].0, b"t");
}

#[tokio::test]
async fn renewed_key_seals_and_old_sealed_secrets_still_unseal() {
    let mut cluster = Cluster::new().await;
    cluster.key_renew_period = Some(Duration::from_secs(2));
    cluster.start_controller();
    let first = cluster.public_key().await;
    let old = seal(
        plain_secret(&cluster.namespace, "old", &[("k", b"old")]),
        &first,
    );

    let secrets = eventually("a second key Secret", || async {
        let secrets = cluster.key_secrets().await;
        (secrets.len() >= 2).then_some(secrets)
    })
    .await;
    let newest = secrets
        .iter()
        .map(certificate_of)
        .max_by_key(|c| c.not_before())
        .unwrap();
    assert_ne!(newest.public_key().fingerprint(), first.fingerprint());
    let served = eventually("the renewed certificate served", || async {
        let body = get(&cluster, "/v1/cert.pem").await.body;
        let served = kseal_crypto::Certificate::from_pem(body.as_bytes()).unwrap();
        (served.public_key().fingerprint() != first.fingerprint()).then_some(served)
    })
    .await;

    cluster.create_sealed(&old).await;
    let new = seal(
        plain_secret(&cluster.namespace, "new", &[("k", b"new")]),
        served.public_key(),
    );
    cluster.create_sealed(&new).await;
    for (name, value) in [("old", b"old"), ("new", b"new")] {
        cluster.synced(name, "True").await;
        let secret = cluster.secret_with_key(name, "k").await;
        assert_eq!(&secret.data.unwrap()["k"].0, value);
    }
}
