//! The certificate ConfigMap and `kseal` fetching the certificate from the cluster.
//!
//! Only the ConfigMap fallback is tested end to end: the service-proxy path needs a Service whose
//! Endpoints lead to the in-process controller, and the API server refuses Endpoints on loopback addresses,
//! the only ones these tests may use. Without a Service the proxy answers 404, which is the fallback case.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kseal_api::SealedSecret;
use kseal_api::names::{CERT_CONFIG_MAP, CERT_KEY};
use kseal_crypto::Certificate;
use kseal_testenv::TestEnv;
use kube::Api;
use tokio::io::AsyncWriteExt as _;

use crate::http::get;
use crate::{Cluster, certificate_of, eventually};

impl Cluster {
    /// The certificate PEM in the controller's ConfigMap, once it is there.
    async fn published_certificate(&self) -> String {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        eventually("the certificate ConfigMap", || async {
            let config_map = api.get_opt(CERT_CONFIG_MAP).await.unwrap()?;
            config_map.data?.remove(CERT_KEY)
        })
        .await
    }
}

#[tokio::test]
async fn config_map_holds_the_served_certificate() {
    let cluster = Cluster::with_controller().await;
    let key = certificate_of(&cluster.key_secrets().await[0]);

    let published = cluster.published_certificate().await;
    assert_eq!(published, get(&cluster, "/v1/cert.pem").await.body);
    let certificate = Certificate::from_pem(published.as_bytes()).unwrap();
    assert_eq!(
        certificate.public_key().fingerprint(),
        key.public_key().fingerprint()
    );
}

#[tokio::test]
async fn config_map_follows_key_renewal() {
    let mut cluster = Cluster::new().await;
    cluster.key_renew_period = Some(Duration::from_secs(2));
    cluster.start_controller();
    let first = cluster.public_key().await;
    let first_published = cluster.published_certificate().await;

    let renewed = eventually("a renewed certificate in the ConfigMap", || async {
        let published = cluster.published_certificate().await;
        let certificate = Certificate::from_pem(published.as_bytes()).unwrap();
        (certificate.public_key().fingerprint() != first.fingerprint()).then_some(certificate)
    })
    .await;
    assert_ne!(
        Certificate::from_pem(first_published.as_bytes())
            .unwrap()
            .public_key()
            .fingerprint(),
        renewed.public_key().fingerprint()
    );
    // The renewed certificate is one of the controller's keys, not something else.
    let keys = cluster.key_secrets().await;
    assert!(
        keys.iter()
            .any(|secret| certificate_of(secret).public_key().fingerprint()
                == renewed.public_key().fingerprint()),
        "the published certificate belongs to no key Secret"
    );
}

#[tokio::test]
async fn kseal_fetches_the_certificate_from_the_config_map() {
    let cluster = Cluster::with_controller().await;
    let published = cluster.published_certificate().await;

    // No Service exists: the service proxy answers 404 and kseal falls back to the ConfigMap.
    let output = kseal(&cluster, &["--fetch-cert"], "").await;
    assert_eq!(String::from_utf8(output).unwrap(), published);
}

#[tokio::test]
async fn kseal_seals_with_the_fetched_certificate() {
    let cluster = Cluster::with_controller().await;
    cluster.published_certificate().await;

    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cli\n  namespace: {}\nstringData:\n  password: from-kseal\n",
        cluster.namespace
    );
    // JSON output: this suite has a JSON parser only.
    let output = kseal(&cluster, &["-o", "json"], &secret).await;
    let sealed: SealedSecret = serde_json::from_slice(&output).unwrap();
    cluster.create_sealed(&sealed).await;
    cluster.synced("cli", "True").await;
    let secret = cluster.secret_with_key("cli", "password").await;
    assert_eq!(secret.data.unwrap()["password"].0, b"from-kseal");
}

#[tokio::test]
async fn kseal_names_both_failures_and_suggests_cert() {
    // No controller: neither a Service nor a ConfigMap.
    let cluster = Cluster::new().await;
    let output = run_kseal(&cluster, &["--fetch-cert"], "").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(
            "error: cannot fetch the controller's certificate: through the service proxy: "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "from the ConfigMap: ConfigMap {}/kseal-cert",
            cluster.namespace
        )),
        "{stderr}"
    );
    assert!(stderr.contains("\nhint: pass --cert"), "{stderr}");
}

/// Runs `kseal` with the admin kubeconfig against the cluster's namespace, feeding `stdin`; returns stdout
/// and fails the test when kseal fails.
async fn kseal(cluster: &Cluster, args: &[&str], stdin: &str) -> Vec<u8> {
    let Output {
        status,
        stdout,
        stderr,
    } = run_kseal(cluster, args, stdin).await;
    assert!(
        status.success(),
        "kseal {args:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

/// Runs `kseal` with the admin kubeconfig against the cluster's namespace, feeding `stdin`.
async fn run_kseal(cluster: &Cluster, args: &[&str], stdin: &str) -> Output {
    let env = TestEnv::get().await;
    let mut command = tokio::process::Command::from(env.command(kseal_binary()));
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALED_SECRETS_") {
            command.env_remove(key);
        }
    }
    command
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args(["--controller-namespace", &cluster.namespace])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("cannot run kseal");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// The `kseal` binary of this workspace (built by `cargo test --workspace` or `cargo build -p kseal-cli`).
fn kseal_binary() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // A relative CARGO_TARGET_DIR is relative to the workspace, not to this package.
    let target = workspace.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or("target".into()));
    let binary = target.join("debug/kseal");
    assert!(
        binary.exists(),
        "{} is missing: build it first with `cargo build -p kseal-cli`",
        binary.display()
    );
    binary
}
