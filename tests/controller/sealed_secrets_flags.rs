//! The sealed-secrets controller's flags a platform team sets: `--label-selector`, `--update-status`,
//! `--accept-deprecated-v1-data`, `--max-unseal-retries`, `--listen-metrics-addr` and SIGUSR1.

use std::process::Stdio;
use std::time::Duration;

use kseal_api::SealedSecret;
use kseal_testenv::TestEnv;
use kube::api::ObjectMeta;

use crate::http::get;
use crate::shutdown::{Process, free_port};
use crate::{Cluster, eventually, plain_secret, seal};

#[tokio::test]
async fn label_selector_unseals_only_the_selected_sealed_secrets() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.unseal.label_selector = Some("team=payments".into());
    cluster.start_controller_with(config);
    let key = cluster.public_key().await;
    let mut chosen = seal(
        plain_secret(&cluster.namespace, "chosen", &[("k", b"v")]),
        &key,
    );
    chosen.metadata.labels = Some([("team".to_owned(), "payments".to_owned())].into());
    let other = seal(
        plain_secret(&cluster.namespace, "other", &[("k", b"v")]),
        &key,
    );
    // The unselected one first: by the time the selected one is done, it would be too.
    cluster.create_sealed(&other).await;
    cluster.create_sealed(&chosen).await;
    cluster.synced("chosen", "True").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cluster.secrets().get_opt("other").await.unwrap().is_none());
    let status = cluster.sealed_secrets().get("other").await.unwrap().status;
    assert!(
        status.is_none(),
        "an unselected SealedSecret got a status: {status:?}"
    );
}

#[tokio::test]
async fn update_status_false_unseals_and_leaves_the_status_alone() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.unseal.update_status = false;
    cluster.start_controller_with(config);
    let key = cluster.public_key().await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "quiet", &[("k", b"v")]),
        &key,
    );
    cluster.create_sealed(&sealed).await;
    cluster.secret_with_key("quiet", "k").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = cluster.sealed_secrets().get("quiet").await.unwrap().status;
    assert!(status.is_none(), "{status:?}");
}

#[tokio::test]
async fn refused_v1_data_fails_with_a_condition_naming_the_flag() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.unseal.accept_v1_data = false;
    cluster.start_controller_with(config);
    cluster.public_key().await;
    let legacy: SealedSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "legacy", "namespace": cluster.namespace},
        "spec": {"data": "AgBsZWdhY3kgYmxvYg==", "encryptedData": {}},
    }))
    .unwrap();
    cluster.create_sealed(&legacy).await;
    let (_, message) = cluster.synced("legacy", "False").await;
    assert!(
        message.contains("--accept-deprecated-v1-data=false"),
        "{message}"
    );
}

#[tokio::test]
async fn max_unseal_retries_stops_retrying_a_failing_sealed_secret() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.unseal.max_retries = Some(1);
    cluster.start_controller_with(config);
    cluster.public_key().await;
    let broken = SealedSecret {
        metadata: ObjectMeta {
            name: Some("broken".into()),
            namespace: Some(cluster.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: serde_json::from_value(serde_json::json!({
            "encryptedData": {"k": "AgBub3QgYSBjaXBoZXJ0ZXh0"}
        }))
        .unwrap(),
        status: None,
    };
    cluster.create_sealed(&broken).await;
    cluster.synced("broken", "False").await;
    let requests = || async {
        let body = get(&cluster, "/metrics").await.body;
        body.lines()
            .find_map(|l| l.strip_prefix("sealed_secrets_controller_unseal_requests_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_default()
    };
    // The first attempt and one retry (after 1 s); then nothing, where backoff would retry after 2 s,
    // 4 s, ….
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = requests().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(requests().await, settled, "it kept retrying");
    assert!(settled >= 2.0, "{settled} reconciles");
}

/// The binary: `/metrics` on the metrics address alone, and SIGUSR1 generates a new sealing key.
#[tokio::test]
async fn metrics_listener_and_sigusr1_key_generation() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let mut cluster = Cluster::new().await;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let metrics_port = free_port();
    let binary = tokio::task::spawn_blocking(kseal_testenv::controller_binary)
        .await
        .unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = env
        .command(&binary)
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args(["--namespace", &cluster.namespace])
        .args(["--watch-namespace", &cluster.namespace])
        .args(["--listen-addr", &addr.to_string()])
        // Go's form: every interface.
        .args(["--listen-metrics-addr", &format!(":{metrics_port}")])
        .args(["--key-size", "2048"])
        .arg("--log-info-stdout=false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let process = Process { child, log };
    cluster.http_addr = Some(([127, 0, 0, 1], metrics_port).into());
    let metrics = eventually("/metrics on the metrics address", || async {
        tokio::net::TcpStream::connect(cluster.http_addr.unwrap())
            .await
            .ok()?;
        let answer = get(&cluster, "/metrics").await;
        (answer.status == 200).then_some(answer.body)
    })
    .await;
    assert!(
        metrics.contains("sealed_secrets_controller_build_info"),
        "{metrics}"
    );
    assert_eq!(get(&cluster, "/v1/cert.pem").await.status, 404);
    cluster.http_addr = Some(addr);
    cluster.public_key().await;
    assert_eq!(cluster.key_secrets().await.len(), 1);
    // As sealed-secrets: the API's port (which the service proxy reaches) does not show the metrics
    // (SealedSecret names) when they have a listener of their own.
    assert_eq!(get(&cluster, "/metrics").await.status, 404);

    let status = std::process::Command::new("kill")
        .args(["-USR1", &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -USR1 failed");
    eventually("a second key Secret after SIGUSR1", || async {
        (cluster.key_secrets().await.len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn generated_key_secrets_carry_the_private_key_labels_and_annotations() {
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.key_metadata = kseal_sealedsecrets::keys::KeyMetadata {
        labels: [("backup".to_owned(), "velero".to_owned())].into(),
        annotations: [("owner".to_owned(), "platform".to_owned())].into(),
        ..Default::default()
    };
    cluster.start_controller_with(config);
    let secret = cluster.key_secrets().await.remove(0);
    let labels = secret.metadata.labels.unwrap_or_default();
    assert_eq!(labels["backup"], "velero");
    assert_eq!(
        labels[kseal_api::names::KEY_LABEL],
        kseal_api::names::ACTIVE
    );
    assert_eq!(
        secret.metadata.annotations.unwrap_or_default()["owner"],
        "platform"
    );
}

#[tokio::test]
async fn additional_namespaces_are_watched_beside_the_controllers_own() {
    let env = TestEnv::get().await;
    let mut cluster = Cluster::new().await;
    let (extra, unwatched) = (env.namespace().await, env.namespace().await);
    let mut config = cluster.controller_config();
    config.unseal.additional_namespaces = vec![extra.clone()];
    cluster.start_controller_with(config);
    let key = cluster.public_key().await;
    for namespace in [&cluster.namespace, &extra, &unwatched] {
        let sealed = seal(plain_secret(namespace, "app", &[("k", b"v")]), &key);
        let api: kube::Api<SealedSecret> = kube::Api::namespaced(cluster.client.clone(), namespace);
        api.create(&Default::default(), &sealed).await.unwrap();
    }
    for namespace in [&cluster.namespace, &extra] {
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(cluster.client.clone(), namespace);
        eventually(&format!("the Secret in {namespace}"), || async {
            secrets.get_opt("app").await.unwrap()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(cluster.client.clone(), &unwatched);
    assert!(secrets.get_opt("app").await.unwrap().is_none());
}
