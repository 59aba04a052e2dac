//! The alerts (PrometheusRule) and the Grafana dashboard query only metrics the controller serves, and
//! cover what the chart promises: unseal and sync errors, provider calls, the leader, key usage.

use std::collections::BTreeSet;
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

    // The ServiceMonitor scrapes the Service's port by name.
    let monitor = find(&objects, "ServiceMonitor", "kseal-controller");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");

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
        key_namespace: namespace.clone(),
        watch_namespace: Some(namespace.clone()),
        key_options: KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        },
        http_addr: None,
        http_limits: kseal_controller::http::Limits::default(),
        key_renew_period: None,
        key_cutoff_time: None,
        leader_election: None,
        sync: Some(kseal_externalsecrets::Config {
            watch_namespace: Some(namespace.clone()),
            controller_class: Some(namespace.clone()),
            aws_endpoint_url: Some(env.moto_endpoint().to_owned()),
            ..kseal_externalsecrets::Config::default()
        }),
        metrics_omit_secret_labels: false,
        metrics_addr: None,
        key_metadata: Default::default(),
        unseal: Default::default(),
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
    let text = eventually("/metrics with samples of every family", || async {
        http_get(addr, "/v1/cert.pem").await?;
        let text = http_get(addr, "/metrics").await?;
        [
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
        ]
        .iter()
        .all(|sample| text.contains(sample))
        .then_some(text)
    })
    .await;
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
