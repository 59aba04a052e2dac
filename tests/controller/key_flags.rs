//! Key flags: `--key-cutoff-time` forces a new key at start, `--key-ttl` sets the certificates' validity.

use std::time::{Duration, SystemTime};

use kseal_crypto::{KeyOptions, KeyPair};
use kseal_sealedsecrets::keys::key_secret;

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
