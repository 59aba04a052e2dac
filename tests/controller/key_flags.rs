//! Key flags: `--key-cutoff-time` forces a new key at start, `--key-ttl` sets the certificates' validity,
//! `--key-prefix` names the key Secrets and `--key-order-priority` picks the key that seals.

use std::time::{Duration, SystemTime};

use kseal_crypto::{KeyOptions, KeyPair};
use kseal_sealedsecrets::keys::{KeyMetadata, KeyOrder, key_secret};

use crate::http::get;
use crate::{Cluster, certificate_of, eventually, plain_secret, seal};

/// A 2048-bit key pair, as a cluster's existing key.
fn existing_key() -> KeyPair {
    KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap()
}

/// Waits until the clock has passed `time` (certificate times have one-second resolution).
async fn wait_until(time: SystemTime) {
    eventually("the clock to pass the cut-off time", || async {
        (SystemTime::now() > time).then_some(())
    })
    .await;
}

#[tokio::test]
async fn cutoff_time_after_the_newest_key_generates_a_new_one() {
    let mut cluster = Cluster::new().await;
    let old = existing_key();
    cluster
        .create_secret(key_secret(&cluster.namespace, &old).unwrap())
        .await;
    let cutoff = old.certificate().not_before() + Duration::from_secs(1);
    wait_until(cutoff).await;

    let mut config = cluster.controller_config();
    config.key_cutoff_time = Some(cutoff);
    cluster.start_controller_with(config);

    let keys = eventually("a second key Secret", || async {
        let keys = cluster.key_secrets().await;
        (keys.len() == 2).then_some(keys)
    })
    .await;
    let new = keys
        .iter()
        .map(certificate_of)
        .find(|c| c.public_key() != old.certificate().public_key())
        .unwrap();
    assert!(new.not_before() >= cutoff);
    // The new key seals; the old one still unseals.
    let served = eventually("the new certificate served", || async {
        let body = get(&cluster, "/v1/cert.pem").await.body;
        let served = kseal_crypto::Certificate::from_pem(body.as_bytes()).ok()?;
        (served.public_key() == new.public_key()).then_some(served)
    })
    .await;
    assert_eq!(served.not_before(), new.not_before());
    let sealed = seal(
        plain_secret(&cluster.namespace, "old", &[("k", b"v")]),
        old.certificate().public_key(),
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("old", "True").await;
}

#[tokio::test]
async fn cutoff_time_before_the_newest_key_keeps_the_keys() {
    let mut cluster = Cluster::new().await;
    let old = existing_key();
    cluster
        .create_secret(key_secret(&cluster.namespace, &old).unwrap())
        .await;
    let mut config = cluster.controller_config();
    config.key_cutoff_time = Some(old.certificate().not_before() - Duration::from_secs(3600));
    cluster.start_controller_with(config);

    // Once a SealedSecret is unsealed, start-up (and any key generation) is over.
    let sealed = seal(
        plain_secret(&cluster.namespace, "s", &[("k", b"v")]),
        old.certificate().public_key(),
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("s", "True").await;
    let keys = cluster.key_secrets().await;
    assert_eq!(keys.len(), 1);
    assert_eq!(
        certificate_of(&keys[0]).public_key(),
        old.certificate().public_key()
    );
}

#[tokio::test]
async fn key_ttl_sets_the_validity_of_generated_certificates() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.key_options.validity = Duration::from_secs(48 * 3600);
    cluster.start_controller_with(config);

    let certificate = certificate_of(&cluster.key_secrets().await[0]);
    assert_eq!(
        certificate
            .not_after()
            .duration_since(certificate.not_before())
            .unwrap(),
        Duration::from_secs(48 * 3600)
    );
}

/// The certificate the controller serves, once it is `expected`'s.
async fn serves(cluster: &Cluster, expected: &KeyPair) {
    eventually("the expected certificate served", || async {
        let body = get(cluster, "/v1/cert.pem").await.body;
        let served = kseal_crypto::Certificate::from_pem(body.as_bytes()).ok()?;
        (served.public_key() == expected.certificate().public_key()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn key_prefix_names_new_keys_and_adopts_the_secret_named_like_it() {
    let mut cluster = Cluster::new().await;
    // The oldest layout: one unlabelled Secret named exactly the prefix.
    let legacy = existing_key();
    let mut secret = key_secret(&cluster.namespace, &legacy).unwrap();
    secret.metadata.generate_name = None;
    secret.metadata.name = Some("team-a-key".into());
    secret.metadata.labels = None;
    cluster.create_secret(secret).await;

    let mut config = cluster.controller_config();
    config.key_metadata = KeyMetadata {
        prefix: "team-a-key".into(),
        ..Default::default()
    };
    config.key_cutoff_time = Some(legacy.certificate().not_before() + Duration::from_secs(1));
    wait_until(config.key_cutoff_time.unwrap()).await;
    cluster.start_controller_with(config);

    // The cut-off forces a new key: it is named after the prefix.
    let generated = eventually("a generated key Secret", || async {
        let keys = cluster.key_secrets().await;
        keys.into_iter()
            .find(|s| certificate_of(s).public_key() != legacy.certificate().public_key())
    })
    .await;
    let name = generated.metadata.name.unwrap();
    assert!(
        name.starts_with("team-a-key") && name.len() > "team-a-key".len(),
        "{name}"
    );
    // The Secret named like the prefix is a key too: what it sealed opens.
    let sealed = seal(
        plain_secret(&cluster.namespace, "legacy", &[("k", b"v")]),
        legacy.certificate().public_key(),
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("legacy", "True").await;
    // And a SealedSecret may not overwrite a Secret named like the keys.
    let planted = seal(
        plain_secret(&cluster.namespace, "team-a-key-planted", &[("k", b"v")]),
        legacy.certificate().public_key(),
    );
    cluster.create_sealed(&planted).await;
    let (_, message) = cluster.synced("team-a-key-planted", "False").await;
    assert!(message.contains("sealing-key"), "{message}");
}

/// Two key Secrets where the newer certificate is in the Secret created first (a key restored from a
/// backup after a rotation): the key pairs with the older and the newer certificate.
async fn newer_certificate_in_the_older_secret(cluster: &Cluster) -> (KeyPair, KeyPair) {
    let older_cert = existing_key();
    // Certificate times and creationTimestamp have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer_cert = existing_key();
    cluster
        .create_secret(key_secret(&cluster.namespace, &newer_cert).unwrap())
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cluster
        .create_secret(key_secret(&cluster.namespace, &older_cert).unwrap())
        .await;
    (older_cert, newer_cert)
}

#[tokio::test]
async fn key_order_priority_secret_creation_timestamp_seals_with_the_newest_secret() {
    let mut cluster = Cluster::new().await;
    let (older_cert, _) = newer_certificate_in_the_older_secret(&cluster).await;

    let mut config = cluster.controller_config();
    config.key_metadata = KeyMetadata {
        order: KeyOrder::SecretCreationTimestamp,
        ..Default::default()
    };
    config.key_renew_period = None;
    cluster.start_controller_with(config);
    serves(&cluster, &older_cert).await;
    assert_eq!(cluster.key_secrets().await.len(), 2, "no key was generated");
}

#[tokio::test]
async fn key_order_priority_defaults_to_the_newest_certificate() {
    let mut cluster = Cluster::new().await;
    let (_, newer_cert) = newer_certificate_in_the_older_secret(&cluster).await;
    let mut config = cluster.controller_config();
    config.key_renew_period = None;
    cluster.start_controller_with(config);
    serves(&cluster, &newer_cert).await;
}
