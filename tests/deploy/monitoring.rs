//! The alerts (PrometheusRule) and the Grafana dashboard query only metrics the controller serves, and
//! cover what the chart promises: unseal and sync errors, provider calls, the leader, key usage. With
//! Prometheus' own engine and rules (`tests/go/promql-eval`) over scrapes of the controller, the alerts of
//! kseal's chart and of sealed-secrets' mixin fire for a SealedSecret that does not unseal, with the labels
//! an operator sees, and the dashboards' queries have data.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kseal_crypto::KeyOptions;
use kseal_testenv::{TestEnv, eventually};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{chart_dir, documents, find, render};

#[tokio::test]
async fn alerts_and_dashboard_query_metrics_the_controller_serves() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let objects = documents(&render(
        env,
        "kube-system",
        &[
            "--set",
            "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true",
        ],
    ));

    let rule = find(&objects, "PrometheusRule", "kseal-controller");
    let alerts: Vec<&Value> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let names: BTreeSet<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for expected in [
        "KsealControllerDown",
        "KsealNoLeader",
        "KsealUnsealErrors",
        "KsealSyncErrors",
        "KsealProviderCallErrors",
    ] {
        assert!(names.contains(expected), "alert {expected} missing");
    }
    for alert in &alerts {
        assert!(alert["labels"]["severity"].is_string(), "{alert}");
        assert!(alert["annotations"]["summary"].is_string(), "{alert}");
    }
    let mut queries: Vec<String> = alerts
        .iter()
        .map(|a| a["expr"].as_str().unwrap().to_owned())
        .collect();

    // The ServiceMonitor scrapes the metrics Service's port by name (the API's port does not serve
    // /metrics), keeps the SealedSecrets' `namespace` label, and names the job as the alerts expect.
    let monitor = find(&objects, "ServiceMonitor", "kseal-controller");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["honorLabels"], true);
    assert_eq!(endpoint["relabelings"][0]["targetLabel"], "job");
    assert_eq!(
        endpoint["relabelings"][0]["replacement"],
        "sealed-secrets-controller"
    );
    let metrics_service = find(&objects, "Service", "sealed-secrets-controller-metrics");
    assert_eq!(metrics_service["spec"]["ports"][0]["name"], "metrics");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&metrics_service["metadata"]["labels"][key], value, "{key}");
    }
    let api_service = find(&objects, "Service", "sealed-secrets-controller");
    assert_ne!(
        api_service["metadata"]["labels"]["kseal-service"], "metrics",
        "the ServiceMonitor selects the metrics Service only"
    );

    let dashboard_map = find(&objects, "ConfigMap", "kseal-controller-dashboard");
    let dashboard: Value = serde_json::from_str(
        dashboard_map["data"]["kseal-controller.json"]
            .as_str()
            .unwrap(),
    )
    .expect("the dashboard is JSON");
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("dashboards/kseal-controller.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dashboard, file, "the ConfigMap carries the dashboard file");
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for expected in [
        "Unseals",
        "Unseal errors by reason",
        "Syncs",
        "Sync errors by reason",
        "Provider calls",
        "SealedSecrets per key",
    ] {
        assert!(
            titles.contains(&expected),
            "dashboard panel {expected} missing: {titles:?}"
        );
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }

    let (served, _) = served_families(env).await;
    let mut unknown = BTreeSet::new();
    for query in &queries {
        for name in metric_names(query) {
            if name != "up" && !is_served(&name, &served) {
                unknown.insert(name);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "queried but not served by the controller: {unknown:?}\nserved: {served:?}"
    );
}

/// The metric families (`# TYPE name type`) of a running controller's `/metrics` and the whole text, once
/// every family the alerts and the dashboards use has samples: the controller leads (the per-key gauge is
/// the leader's), a SealedSecret fails to unseal and another unseals, `/v1/cert.pem` was fetched, an
/// ExternalSecret fails to sync and another calls AWS (moto).
async fn served_families(env: &TestEnv) -> (BTreeSet<(String, String)>, String) {
    let namespace = env.namespace().await;
    let client = env.client().await;
    let account = env.aws_account();
    account
        .secretsmanager_client()
        .await
        .create_secret()
        .name("metrics/token")
        .secret_string("t0ken")
        .send()
        .await
        .unwrap();
    let class = &namespace;
    let objects = documents(&format!(
        r#"
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: broken
  labels: {{app.kubernetes.io/instance: payments}}
spec:
  encryptedData: {{password: AgBnb3QgYSBjaXBoZXJ0ZXh0}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: no-store}}
spec:
  secretStoreRef: {{name: missing, kind: SecretStore}}
  data:
    - {{secretKey: value, remoteRef: {{key: anything}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws-credentials}}
stringData: {{access-key: {access}, secret-key: {secret}}}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: aws}}
spec:
  controller: {class}
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {{name: aws-credentials, key: access-key}}
          secretAccessKeySecretRef: {{name: aws-credentials, key: secret-key}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: from-aws}}
spec:
  secretStoreRef: {{name: aws, kind: SecretStore}}
  data:
    - {{secretKey: token, remoteRef: {{key: metrics/token}}}}
"#,
        access = account.access_key_id(),
        secret = account.secret_access_key(),
    ));
    for mut object in objects {
        object["metadata"]["namespace"] = serde_json::json!(namespace);
        crate::apply(&client, &object).await.unwrap();
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let config = kseal_controller::Config {
        key_options: KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        },
        sync: Some(kseal_externalsecrets::Config {
            watch_namespace: Some(namespace.clone()),
            controller_class: Some(namespace.clone()),
            aws_endpoint_url: Some(env.moto_endpoint().to_owned()),
            ..kseal_externalsecrets::Config::default()
        }),
        ..kseal_controller::Config::in_namespace(&namespace)
    };
    let controller = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let _ = kseal_controller::run_with_listener(
            client,
            config,
            Some(listener),
            std::future::pending(),
        )
        .await;
    });
    let broken_unseal = format!(
        r#"sealed_secrets_controller_unseal_errors_total{{reason="unseal",namespace="{namespace}"}}"#
    );
    let broken_condition = format!(
        r#"sealed_secrets_controller_condition_info{{namespace="{namespace}",name="broken",condition="Synced",ss_app_kubernetes_io_instance="payments"}} -1"#
    );
    let expected = [
        "kseal_sealedsecrets_per_key{",
        "kseal_unseal_errors_total{",
        "kseal_sync_errors_total{",
        "kseal_sync_provider_calls_total{",
        "sealed_secrets_controller_unseal_requests_total ",
        broken_unseal.as_str(),
        broken_condition.as_str(),
        r#"sealed_secrets_controller_http_requests_total{path="/v1/cert.pem",code="200",method="get"}"#,
        r#"sealed_secrets_controller_http_request_duration_seconds_count{path="/v1/cert.pem",method="get"}"#,
        "sealed_secrets_controller_build_info{",
    ];
    // What the last poll lacked, named in the failure message.
    let mut missing: Vec<&str> = expected.to_vec();
    let polled = tokio::time::timeout(kseal_testenv::DEADLINE, async {
        loop {
            if let (Some(_), Some(text)) = (
                http_get(addr, "/v1/cert.pem").await,
                http_get(addr, "/metrics").await,
            ) {
                missing = expected
                    .iter()
                    .copied()
                    .filter(|sample| !text.contains(sample))
                    .collect();
                if missing.is_empty() {
                    return text;
                }
            }
            tokio::time::sleep(kseal_testenv::POLL_INTERVAL).await;
        }
    })
    .await;
    let text = polled.unwrap_or_else(|_| {
        panic!("timed out waiting for /metrics with samples of every family; missing: {missing:?}")
    });
    controller.abort();
    let families = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect();
    (families, text)
}

/// sealed-secrets' own Prometheus mixin (its alerts and its dashboard, from the sealed-secrets module of
/// the version the test environment's kubeseal is built from) queries only series the controller serves,
/// with the labels the queries group by; and its unseal-error alert would fire for a SealedSecret that
/// does not open (its counter has a sample for that reason and namespace).
#[tokio::test]
async fn sealed_secrets_mixin_queries_series_the_controller_serves() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let mixin = sealed_secrets_mixin();
    let alerts =
        std::fs::read_to_string(mixin.join("alerts/sealed-secrets-alerts.libsonnet")).unwrap();
    // The alert expressions are the `|||` text blocks of the libsonnet file.
    let mut queries: Vec<String> = alerts
        .split("|||")
        .skip(1)
        .step_by(2)
        .map(|block| block.trim().to_owned())
        .collect();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("sealed_secrets_controller_unseal_errors_total")),
        "the mixin's alerts: {queries:?}"
    );
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(mixin.join("dashboards/sealed-secrets-controller.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }

    let (served, text) = served_families(env).await;
    let mut unknown = BTreeSet::new();
    for query in &queries {
        for name in metric_names_with(query, "sealed_secrets_controller_") {
            if !is_served(&name, &served) {
                unknown.insert(name);
            }
        }
        // Every label a query groups by is on the served samples (`pod` is Prometheus' target label).
        for label in grouping_labels(query) {
            if label != "pod" {
                assert!(
                    text.lines()
                        .filter(|line| line.starts_with("sealed_secrets_controller_"))
                        .any(|line| line.contains(&format!("{{{label}="))
                            || line.contains(&format!(",{label}="))),
                    "{query}: no served sample has the label {label}"
                );
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "the sealed-secrets mixin queries series the controller does not serve: {unknown:?}"
    );
}

/// The sealed-secrets Prometheus mixin in the Go module cache (the module is downloaded to build the test
/// environment's kubeseal).
fn sealed_secrets_mixin() -> std::path::PathBuf {
    let versions = std::fs::read_to_string(crate::repo_root().join("tests/env/versions")).unwrap();
    let version = versions
        .lines()
        .find_map(|line| line.strip_prefix("KUBESEAL_VERSION="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("KUBESEAL_VERSION in tests/env/versions")
        .to_owned();
    let out = std::process::Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .expect("go env GOMODCACHE");
    let cache = String::from_utf8(out.stdout).unwrap();
    let dir = std::path::PathBuf::from(cache.trim())
        .join(format!("github.com/bitnami-labs/sealed-secrets@{version}"))
        .join("contrib/prometheus-mixin");
    assert!(
        dir.is_dir(),
        "{} is missing: tests/env/build downloads the sealed-secrets module",
        dir.display()
    );
    dir
}

/// The labels of every `by (…)` clause of a PromQL query.
fn grouping_labels(query: &str) -> Vec<String> {
    query
        .split("by")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('(')?;
            Some(rest.split(')').next()?.to_owned())
        })
        .flat_map(|labels| {
            labels
                .split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether series `name` belongs to one of `families` (counters add `_total`, histograms `_bucket`,
/// `_sum` and `_count`).
fn is_served(name: &str, families: &BTreeSet<(String, String)>) -> bool {
    families.iter().any(|(family, kind)| {
        name == family
            || match kind.as_str() {
                "counter" => name.strip_suffix("_total") == Some(family),
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(family)),
                _ => false,
            }
    })
}

/// The metric names a PromQL query selects: identifiers followed by `{`, `[` or `)` that are not
/// functions or keywords. kseal's are the `kseal_` ones; `up` is Prometheus' own.
fn metric_names(query: &str) -> BTreeSet<String> {
    metric_names_with(query, "kseal_")
}

/// [`metric_names`] of the names that start with `prefix` (and `up`).
fn metric_names_with(query: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = query.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let word = &query[s..i];
                // Inside a label matcher or a string the word is a label or a value, not a metric.
                let before = query[..s].trim_end();
                let in_matcher =
                    before.ends_with('{') || before.ends_with(',') || before.ends_with('"');
                if (word.starts_with(prefix) || word == "up") && !in_matcher && b != b'(' {
                    names.insert(word.to_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    names
}

#[test]
fn grouping_labels_of_a_query() {
    assert_eq!(
        grouping_labels("sum by (reason, namespace) (rate(x[5m])) > 0 or sum(y) by (pod)"),
        ["reason", "namespace", "pod"]
    );
}

#[test]
fn metric_names_of_a_query() {
    let names = metric_names(
        r#"sum by (reason) (rate(kseal_unseal_errors_total{job="x", namespace=~"$namespace"}[5m])) + absent(up{job="x"} == 1)"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["kseal_unseal_errors_total".to_owned(), "up".to_owned()])
    );
}

/// `GET path` from the controller's HTTP API: the body of a 200 answer.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Pod name of the scraped target: as the pods of a release named `sealed-secrets`, the pods the mixin
/// dashboard's `$pod` variable lists (`label_values(kube_pod_info, pod)`, regex
/// `/^sealed-secrets-controller.*$/`).
const POD: &str = "sealed-secrets-controller-6b8d9c7f5-x2k4q";

/// Seconds between two scrapes as the engine sees them.
///
/// The scrapes are taken seconds apart, as fast as the controller's retries move its counters, and given
/// synthetic timestamps `SCRAPE_INTERVAL` apart: `rate(x[5m])` needs two samples in its window and the
/// mixin dashboard's `rate(x[1m])` two in the last minute, which a 15 s scrape interval (Prometheus'
/// common setting) gives. The engine only ever sees samples and their timestamps, so this is what a
/// Prometheus scraping every 15 s would hold if the counters moved at those scrapes.
const SCRAPE_INTERVAL: u64 = 15;

/// With the real Prometheus engine (`tests/go/promql-eval`) over scrapes of a running controller's
/// `/metrics`: sealed-secrets' mixin alert `SealedSecretsUnsealErrorHigh` fires for the namespace of a
/// SealedSecret sealed for another key, with reason `unseal`, and not for a namespace whose SealedSecrets
/// unseal; every query of the mixin's dashboard has data. kseal's own chart alerts (its PrometheusRule)
/// parse, `KsealUnsealErrors` holds (pending, then firing after its `for:`) with reason `decrypt`, and no
/// other alert does; kseal's dashboard queries have data.
#[tokio::test]
async fn alerts_fire_for_a_sealedsecret_that_does_not_unseal() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    // The controller's own namespace (its key is there) holds SealedSecrets that unseal; the other one
    // (watched as an additional namespace) holds one sealed for a key the controller does not have.
    let healthy = env.namespace().await;
    let failing = env.namespace().await;
    let client = env.client().await;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let config = kseal_controller::Config {
        key_options: KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        },
        unseal: kseal_sealedsecrets::unseal::Options {
            additional_namespaces: vec![failing.clone()],
            ..Default::default()
        },
        ..kseal_controller::Config::in_namespace(&healthy)
    };
    let controller_client = client.clone();
    let controller = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let _ = kseal_controller::run_with_listener(
            controller_client,
            config,
            Some(listener),
            std::future::pending(),
        )
        .await;
    });

    let pem = eventually("the sealing certificate", || http_get(addr, "/v1/cert.pem")).await;
    let key = kseal_crypto::Certificate::from_pem(pem.as_bytes())
        .unwrap()
        .public_key()
        .clone();
    for name in ["database", "api-token"] {
        crate::apply(&client, &sealed_secret(&healthy, name, &key))
            .await
            .unwrap();
    }
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &healthy);
    eventually("the healthy SealedSecrets unsealed", || async {
        for name in ["database", "api-token"] {
            secrets.get_opt(name).await.ok()??;
        }
        Some(())
    })
    .await;

    // The first scrape: nothing has failed yet.
    let mut scrapes = vec![http_get(addr, "/metrics").await.expect("/metrics")];
    let other_key = kseal_crypto::KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    crate::apply(
        &client,
        &sealed_secret(&failing, "payments", other_key.certificate().public_key()),
    )
    .await
    .unwrap();
    // The controller retries the failing SealedSecret with backoff (1 s, 2 s, 4 s, …): each further
    // scrape is taken once its error counter has moved.
    let failing_errors = format!(
        r#"sealed_secrets_controller_unseal_errors_total{{reason="unseal",namespace="{failing}"}} "#
    );
    let moved = |last: Option<f64>| {
        let failing_errors = &failing_errors;
        eventually("the unseal error counter to move", move || async move {
            let text = http_get(addr, "/metrics").await?;
            let count = sample_value(&text, failing_errors)?;
            (Some(count) != last).then_some((text, count))
        })
    };
    let mut last = None;
    while scrapes.len() < 4 {
        let (text, count) = moved(last).await;
        last = Some(count);
        scrapes.push(text);
    }
    // Later scrapes, for the alerts whose `for:` holds them pending: 16 minutes more as the engine sees
    // them (the chart's default `for:` is 15 minutes). The failure recurs all along: kseal retries a
    // failing SealedSecret at least every 5 minutes (its backoff's ceiling); in this compressed time a
    // change of the object (sealed anew for the other key) makes each retry happen every 4 minutes.
    let mut later = Vec::new();
    for i in 1..=(16 * 60 / SCRAPE_INTERVAL) {
        if i % (4 * 60 / SCRAPE_INTERVAL) == 0 {
            crate::apply(
                &client,
                &sealed_secret(&failing, "payments", other_key.certificate().public_key()),
            )
            .await
            .unwrap();
            let (text, count) = moved(last).await;
            last = Some(count);
            later.push(text);
        } else {
            later.push(http_get(addr, "/metrics").await.expect("/metrics"));
        }
    }
    controller.abort();

    // sealed-secrets' mixin, scraped as sealed-secrets' chart's ServiceMonitor does (honorLabels: true
    // by default there: the samples keep their own `namespace`, the SealedSecret's). Without honorLabels
    // the target's `namespace` (the controller's) replaces it and the alert names the wrong namespace.
    let mixin = sealed_secrets_mixin();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(mixin.join("dashboards/sealed-secrets-controller.json")).unwrap(),
    )
    .unwrap();
    let queries = dashboard_queries(&dashboard, &[("$pod", POD)]);
    let target = target_labels(&healthy, POD);
    let result = promql_eval(
        &scrapes,
        &target,
        true,
        &[mixin.join("lib/alerts.jsonnet")],
        &queries,
    );
    let fired = alerts_of(&result);
    assert_eq!(
        fired,
        [(
            "SealedSecretsUnsealErrorHigh".to_owned(),
            "firing".to_owned(),
            labels(&[
                ("alertname", "SealedSecretsUnsealErrorHigh"),
                ("namespace", &failing),
                ("reason", "unseal"),
                ("severity", "warning"),
            ]),
        )],
        "the mixin's alerts: {result:#}"
    );
    let alert = &result["rules"][0]["alerts"][0];
    assert_eq!(
        alert["annotations"]["description"],
        format!("High number of errors during unsealing Sealed Secrets in {failing} namespace."),
    );
    assert_every_query_has_data(&result, |_| false);
    let by_query = |fragment: &str| -> Vec<(BTreeMap<String, String>, f64)> {
        query_result(&result, fragment)
    };
    let requests = by_query("unseal_requests_total");
    assert!(
        requests.len() == 1 && requests[0].1 > 0.0,
        "unseal request rate: {requests:?}"
    );
    let errors = by_query("unseal_errors_total");
    assert_eq!(errors.len(), 1, "unseal error rate by reason: {errors:?}");
    assert_eq!(errors[0].0, labels(&[("reason", "unseal")]));
    assert!(errors[0].1 > 0.0, "unseal error rate: {errors:?}");

    // kseal's chart: its PrometheusRule, scraped as its ServiceMonitor says (kseal's own series have no
    // `namespace` label: the target's, the controller's namespace, is the one the rules select and group by).
    let objects = documents(&render(
        env,
        &healthy,
        &[
            "--set",
            "metrics.prometheusRule.enabled=true,metrics.serviceMonitor.enabled=true",
        ],
    ));
    let rule = find(&objects, "PrometheusRule", "kseal-controller");
    let rules_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rules_file.path(), rule["spec"].to_string()).unwrap();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("dashboards/kseal-controller.json")).unwrap(),
    )
    .unwrap();
    // Grafana's `$__rate_interval` for a 15 s scrape interval: four of them.
    let queries = dashboard_queries(
        &dashboard,
        &[
            ("$namespace", healthy.as_str()),
            ("$job", "sealed-secrets-controller"),
            ("$__rate_interval", "1m"),
        ],
    );
    let monitor = find(&objects, "ServiceMonitor", "kseal-controller");
    let honor_labels = monitor["spec"]["endpoints"][0]["honorLabels"] == true;
    let kseal_pod = "kseal-controller-7f6c5d4b8-q9z2w";
    let target = target_labels(&healthy, kseal_pod);
    let result = promql_eval(
        &scrapes,
        &target,
        honor_labels,
        &[rules_file.path().to_owned()],
        &queries,
    );
    for evaluated in result["rules"].as_array().unwrap() {
        assert!(evaluated["error"].is_null(), "{evaluated}");
    }
    assert_eq!(
        result["rules"].as_array().unwrap().len(),
        rule["spec"]["groups"][0]["rules"].as_array().unwrap().len(),
        "every alert of the chart is evaluated"
    );
    // Its `namespace` is the controller's (the target's): kseal's counter has no per-object label; the
    // failing SealedSecret's namespace is on sealed-secrets' family, the mixin's alert above.
    let unseal_errors = labels(&[
        ("alertname", "KsealUnsealErrors"),
        ("namespace", &healthy),
        ("reason", "decrypt"),
        ("severity", "warning"),
    ]);
    assert_eq!(
        alerts_of(&result),
        [(
            "KsealUnsealErrors".to_owned(),
            "pending".to_owned(),
            unseal_errors.clone()
        )],
        "kseal's alerts a minute after the failure: {result:#}"
    );
    // The sync is off in this controller: its panels have no series (the families are served once the
    // sync runs, see alerts_and_dashboard_query_metrics_the_controller_serves).
    assert_every_query_has_data(&result, |query| {
        query.contains("kseal_sync_") && !query.contains("kseal_unseal_")
    });
    let decrypt = query_result(&result, "sum by (reason) (rate(kseal_unseal_errors_total");
    assert_eq!(decrypt.len(), 1, "unseal errors by reason: {decrypt:?}");
    assert_eq!(decrypt[0].0, labels(&[("reason", "decrypt")]));
    assert!(decrypt[0].1 > 0.0, "{decrypt:?}");
    let leader = query_result(&result, "clamp_max(count(kseal_sealedsecrets_per_key");
    assert_eq!(leader.len(), 1);
    assert_eq!(leader[0].1, 1.0, "leader present");
    let up = query_result(&result, "sum(up{");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0, "replicas up");

    // The failure persists past the alert's `for:`: KsealUnsealErrors fires.
    let all: Vec<String> = scrapes.iter().chain(&later).cloned().collect();
    let result = promql_eval(
        &all,
        &target,
        honor_labels,
        &[rules_file.path().to_owned()],
        &[],
    );
    assert_eq!(
        alerts_of(&result),
        [(
            "KsealUnsealErrors".to_owned(),
            "firing".to_owned(),
            unseal_errors
        )],
        "kseal's alerts 16 minutes after the failure: {result:#}"
    );
    let alert = result["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "KsealUnsealErrors")
        .unwrap();
    assert_eq!(
        alert["alerts"][0]["annotations"]["summary"],
        "SealedSecrets fail to unseal (reason decrypt)."
    );
}

/// A SealedSecret `namespace`/`name` (strict scope) with one value sealed for `key`.
fn sealed_secret(namespace: &str, name: &str, key: &kseal_crypto::PublicKey) -> Value {
    let label = kseal_crypto::label(kseal_crypto::Scope::Strict, namespace, name);
    let password = kseal_crypto::seal_base64(key, &label, b"s3cret").unwrap();
    serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"encryptedData": {"password": password}},
    })
}

/// The value of the sample whose line starts with `series` (name, labels and a space) in `text`.
fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
}

/// The labels Prometheus' Kubernetes service discovery gives a ServiceMonitor's target: the controller
/// in `namespace`, pod `pod`, behind the Service `sealed-secrets-controller` (port `http`).
fn target_labels(namespace: &str, pod: &str) -> Vec<(String, String)> {
    [
        ("job", "sealed-secrets-controller"),
        ("namespace", namespace),
        ("service", "sealed-secrets-controller"),
        ("pod", pod),
        ("container", "controller"),
        ("endpoint", "http"),
        ("instance", "10.244.0.17:8080"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The `expr` of every panel target of a Grafana dashboard, with its template variables replaced.
fn dashboard_queries(dashboard: &Value, variables: &[(&str, &str)]) -> Vec<String> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let mut query = target["expr"].as_str().unwrap().to_owned();
            // Longest first: `$__rate_interval` before any shorter name it starts with.
            let mut variables = variables.to_vec();
            variables.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
            for (name, value) in variables {
                query = query.replace(name, value);
            }
            assert!(!query.contains('$'), "a variable left in {query}");
            queries.push(query);
        }
    }
    queries
}

/// Runs `tests/go/promql-eval` over `scrapes` (taken [`SCRAPE_INTERVAL`] apart, the last one now) of a
/// target with `target` labels; evaluates `rules` files from the first scrape to the last and `queries`
/// at the last. Returns its JSON answer.
fn promql_eval(
    scrapes: &[String],
    target: &[(String, String)],
    honor_labels: bool,
    rules: &[std::path::PathBuf],
    queries: &[String],
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let span = SCRAPE_INTERVAL * (scrapes.len() as u64 - 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut command = std::process::Command::new(promql_eval_binary());
    command.arg(format!("--epoch={}", now - span));
    for (i, text) in scrapes.iter().enumerate() {
        let file = dir.path().join(format!("scrape-{i}.txt"));
        std::fs::write(&file, text).unwrap();
        command.arg(format!(
            "--scrape={}={}",
            SCRAPE_INTERVAL * i as u64,
            file.display()
        ));
    }
    for (name, value) in target {
        command.arg(format!("--label={name}={value}"));
    }
    if honor_labels {
        command.arg("--honor-labels");
    }
    command.arg(format!("--eval-interval={SCRAPE_INTERVAL}s"));
    for file in rules {
        command.arg(format!("--rules={}", file.display()));
    }
    for query in queries {
        command.arg(format!("--query={query}"));
    }
    let output = command.output().expect("run promql-eval");
    assert!(
        output.status.success(),
        "promql-eval failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("promql-eval prints JSON")
}

/// `tests/go/promql-eval`, built by `tests/env/build promql-eval` (Go required) unless
/// `KSEAL_PROMQL_EVAL` names it.
fn promql_eval_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("KSEAL_PROMQL_EVAL") {
        return path.into();
    }
    let out = std::process::Command::new(crate::repo_root().join("tests/env/build"))
        .arg("promql-eval")
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run tests/env/build promql-eval");
    assert!(out.status.success(), "tests/env/build promql-eval failed");
    let path = String::from_utf8(out.stdout).expect("a path");
    std::path::PathBuf::from(path.lines().last().expect("promql-eval's path").trim())
}

/// A label set.
fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The labels of a JSON object of label values.
fn labels_of(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Every active alert of a promql-eval answer: rule, state and labels.
fn alerts_of(result: &Value) -> Vec<(String, String, BTreeMap<String, String>)> {
    let mut alerts = Vec::new();
    for rule in result["rules"].as_array().unwrap() {
        assert!(rule["error"].is_null(), "{rule}");
        for alert in rule["alerts"].as_array().unwrap() {
            alerts.push((
                rule["alert"].as_str().unwrap().to_owned(),
                alert["state"].as_str().unwrap().to_owned(),
                labels_of(&alert["labels"]),
            ));
        }
    }
    alerts
}

/// The samples of the query of a promql-eval answer that contains `fragment` (exactly one does).
fn query_result(result: &Value, fragment: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let matching: Vec<&Value> = result["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["expr"].as_str().unwrap().contains(fragment))
        .collect();
    assert_eq!(matching.len(), 1, "queries containing {fragment}");
    matching[0]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (labels_of(&s["labels"]), s["value"].as_f64().unwrap()))
        .collect()
}

/// Every query of a promql-eval answer evaluated without error, and has samples unless `may_be_empty`.
fn assert_every_query_has_data(result: &Value, may_be_empty: impl Fn(&str) -> bool) {
    for query in result["queries"].as_array().unwrap() {
        let expr = query["expr"].as_str().unwrap();
        assert!(query["error"].is_null(), "{query}");
        let empty = query["result"].as_array().unwrap().is_empty();
        if may_be_empty(expr) {
            continue;
        }
        assert!(!empty, "no data for {expr}");
    }
}
