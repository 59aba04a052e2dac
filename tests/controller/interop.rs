//! Interoperability with the real kubeseal (tests/env): what kubeseal seals, the controller unseals;
//! what kseal seals, kubeseal's recovery mode opens.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kseal_api::SealedSecret;
use kseal_core::manifest::read_documents;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{KeyOptions, KeyPair};
use kseal_testenv::TestEnv;

use crate::Cluster;

/// Values that must survive unchanged: text, and bytes that are not UTF-8.
const PASSWORD: &[u8] = b"hunter2";
const BINARY: &[u8] = &[0, 255, 10, 13, 0x80];

/// Runs `command` with `stdin`, failing the test (with kubeseal's stderr) unless it succeeds; returns stdout.
fn run_with_stdin(mut command: Command, stdin: &[u8]) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kubeseal failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A Secret manifest `namespace/name` holding [`PASSWORD`] and [`BINARY`], as a user would write it.
fn secret_manifest(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         type: Opaque\ndata:\n  password: {}\n  binary: {}\n",
        STANDARD.encode(PASSWORD),
        STANDARD.encode(BINARY),
    )
}

#[tokio::test]
async fn kubeseal_sealed_secret_is_unsealed_by_the_controller() {
    let env = TestEnv::get().await;
    let cluster = Cluster::with_controller().await;
    let ns = &cluster.namespace;
    let key_secret = cluster.key_secrets().await.remove(0);
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, &key_secret.data.as_ref().unwrap()["tls.crt"].0).unwrap();

    let mut kubeseal = env.command(env.kubeseal());
    kubeseal
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .arg("--cert")
        .arg(&cert)
        .args(["--format", "yaml"]);
    let yaml = run_with_stdin(kubeseal, secret_manifest(ns, "from-kubeseal").as_bytes());

    let documents = read_documents(&yaml).unwrap();
    assert_eq!(documents.len(), 1, "{yaml}");
    assert_eq!(documents[0].kind(), "SealedSecret", "{yaml}");
    let sealed: SealedSecret = serde_json::from_value(documents[0].value.clone()).unwrap();
    assert_eq!(sealed.metadata.namespace.as_deref(), Some(ns.as_str()));
    let created = cluster.create_sealed(&sealed).await;

    let (reason, message) = cluster.synced("from-kubeseal", "True").await;
    assert_eq!(reason, "Unsealed", "{message}");
    let secret = cluster.secret_with_key("from-kubeseal", "password").await;
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data.len(), 2, "{:?}", data.keys());
    assert_eq!(data["password"].0, PASSWORD);
    assert_eq!(data["binary"].0, BINARY);
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(Some(owner.uid.as_str()), created.metadata.uid.as_deref());
}

#[tokio::test]
async fn kseal_output_opens_with_kubeseal_recovery_unseal() {
    let env = TestEnv::get().await;
    let keys = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("tls.key");
    std::fs::write(&key_file, keys.private_key_pem().unwrap().as_bytes()).unwrap();

    // The same path as `kseal`: a manifest read as documents, then sealed.
    let documents = read_documents(&secret_manifest("team-a", "db")).unwrap();
    let secret = PlainSecret::from_document(&documents[0]).unwrap();
    let sealed = seal_secret(
        secret,
        &SealOptions {
            key: keys.certificate().public_key(),
            scope: None,
            allow_empty_data: false,
            default_namespace: "default".to_owned(),
            namespace: None,
            name: None,
        },
    )
    .unwrap();
    // JSON is YAML too, and kubeseal reads both.
    let input = serde_json::to_string_pretty(&sealed).unwrap();

    let mut kubeseal = env.command(env.kubeseal());
    kubeseal
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args(["--recovery-unseal", "--format", "yaml"])
        .arg("--recovery-private-key")
        .arg(&key_file);
    let output = run_with_stdin(kubeseal, input.as_bytes());

    let documents = read_documents(&output).unwrap();
    assert_eq!(documents.len(), 1, "{output}");
    let opened = PlainSecret::from_document(&documents[0]).unwrap();
    assert_eq!(opened.metadata.name.as_deref(), Some("db"));
    assert_eq!(opened.metadata.namespace.as_deref(), Some("team-a"));
    let data: Vec<(&str, &[u8])> = opened
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    assert_eq!(data, [("binary", BINARY), ("password", PASSWORD)]);
}
