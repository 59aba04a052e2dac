//! `/metrics`: what an operator reads there (OpenMetrics text from the prometheus-client registry).

use std::collections::BTreeMap;

use kseal_crypto::{KeyOptions, KeyPair};
use kube::api::DeleteParams;

use crate::http::get;
use crate::{Cluster, eventually, plain_secret, seal};

/// Every sample of the controller's `/metrics`, by series (`name{labels}`).
async fn scrape(cluster: &Cluster) -> BTreeMap<String, f64> {
    let response = get(cluster, "/metrics").await;
    assert_eq!(response.status, 200);
    let body = response.body;
    assert!(body.ends_with("# EOF\n"), "not OpenMetrics text: {body}");
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

/// The value of `series`, 0 when it is absent.
async fn sample(cluster: &Cluster, series: &str) -> f64 {
    scrape(cluster).await.get(series).copied().unwrap_or(0.0)
}

fn per_key(fingerprint: &str) -> String {
    format!("kseal_sealedsecrets_per_key{{fingerprint=\"{fingerprint}\"}}")
}

#[tokio::test]
async fn metrics_count_rsa_operations_and_sealed_secrets_per_key() {
    let mut cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let response = get(&cluster, "/metrics").await;
    assert!(
        response.headers.contains(&(
            "content-type".into(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8".into()
        )),
        "{:?}",
        response.headers
    );

    let three = plain_secret(
        &cluster.namespace,
        "three",
        &[("a", b"1"), ("b", b"2"), ("c", b"3")],
    );
    cluster.create_sealed(&seal(three, &key)).await;
    cluster.synced("three", "True").await;
    let samples = scrape(&cluster).await;
    // One key: one private-key operation per value, one decryption.
    assert_eq!(samples["kseal_unseal_rsa_operations_total"], 3.0);
    assert_eq!(samples["kseal_unseal_decryptions_total"], 1.0);
    assert!(samples["kseal_unseal_runs_total"] >= 1.0);
    assert!(samples["kseal_unseal_duration_seconds_count"] >= 1.0);
    assert_eq!(samples[&per_key(key.fingerprint())], 1.0);

    let one = plain_secret(&cluster.namespace, "one", &[("k", b"v")]);
    cluster.create_sealed(&seal(one, &key)).await;
    cluster.synced("one", "True").await;
    assert_eq!(sample(&cluster, &per_key(key.fingerprint())).await, 2.0);
    assert_eq!(
        sample(&cluster, "kseal_unseal_rsa_operations_total").await,
        4.0
    );

    // After a restart nothing is decrypted, and the gauge is rebuilt from the Secrets' annotations.
    cluster.restart_controller().await;
    eventually("the per-key gauge rebuilt after the restart", || async {
        (sample(&cluster, &per_key(key.fingerprint())).await == 2.0).then_some(())
    })
    .await;
    assert_eq!(
        sample(&cluster, "kseal_unseal_rsa_operations_total").await,
        0.0
    );

    // A deleted SealedSecret no longer needs its key.
    cluster
        .sealed_secrets()
        .delete("one", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted SealedSecret uncounted", || async {
        (sample(&cluster, &per_key(key.fingerprint())).await == 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn unseal_errors_are_counted_by_reason() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let stranger = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let foreign = plain_secret(&cluster.namespace, "foreign", &[("k", b"v")]);
    cluster
        .create_sealed(&seal(foreign, stranger.certificate().public_key()))
        .await;
    let mut truncated = seal(
        plain_secret(&cluster.namespace, "cut", &[("k", b"v")]),
        &key,
    );
    let value = truncated.spec.encrypted_data.get_mut("k").unwrap();
    value.truncate(8);
    cluster.create_sealed(&truncated).await;

    cluster.synced("foreign", "False").await;
    cluster.synced("cut", "False").await;
    let samples = scrape(&cluster).await;
    assert!(
        samples
            .get("kseal_unseal_errors_total{reason=\"decrypt\"}")
            .is_some_and(|n| *n >= 1.0),
        "{samples:?}"
    );
    assert!(
        samples
            .get("kseal_unseal_errors_total{reason=\"malformed\"}")
            .is_some_and(|n| *n >= 1.0),
        "{samples:?}"
    );
    // The controller's one key opened neither.
    assert_eq!(samples[&per_key(key.fingerprint())], 0.0);
}

#[tokio::test]
async fn metrics_show_when_the_sealing_certificate_expires() {
    let cluster = Cluster::with_controller().await;
    let secret = cluster.key_secrets().await.remove(0);
    let not_after = crate::certificate_of(&secret)
        .not_after()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let expiry = eventually("the certificate expiry gauge", || async {
        scrape(&cluster)
            .await
            .get("kseal_sealing_certificate_expiry_timestamp_seconds")
            .copied()
    })
    .await;
    assert_eq!(expiry, not_after);
}
