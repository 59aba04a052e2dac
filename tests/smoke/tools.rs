//! The tools of tests/env: kubeseal (what it seals, kseal-crypto opens), helm, kubeconform.

use base64::Engine;
use kseal_crypto::{KeyOptions, KeyPair, Scope};
use kseal_testenv::TestEnv;

#[tokio::test]
async fn kubeseal_raw_output_opens_with_kseal_crypto() {
    let env = TestEnv::get().await;
    let keys = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let value = dir.path().join("value");
    std::fs::write(&cert, keys.certificate_pem()).unwrap();
    std::fs::write(&value, b"s3cr3t \x00 bytes").unwrap();

    for (scope, flag) in [
        (Scope::Strict, "strict"),
        (Scope::NamespaceWide, "namespace-wide"),
        (Scope::ClusterWide, "cluster-wide"),
    ] {
        let output = env
            .command(env.kubeseal())
            .args([
                "--raw",
                "--scope",
                flag,
                "--namespace",
                "team-a",
                "--name",
                "db",
            ])
            .arg("--cert")
            .arg(&cert)
            .arg(format!("--from-file={}", value.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubeseal failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(String::from_utf8(output.stdout).unwrap().trim())
            .unwrap();
        let label = kseal_crypto::label(scope, "team-a", "db");
        let opened = kseal_crypto::open(keys.private_key(), &label, &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"s3cr3t \x00 bytes", "scope {flag}");
    }
}

#[tokio::test]
async fn helm_and_kubeconform_run() {
    let env = TestEnv::get().await;
    let tools: [(_, &[&str], &str); 2] = [
        (env.helm(), &["version", "--short"], "v3."),
        (env.kubeconform(), &["-v"], "v0."),
    ];
    for (tool, args, version) in tools {
        let output = env.command(&tool).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{} {args:?} failed",
            tool.display()
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.starts_with(version),
            "{}: {printed}",
            tool.display()
        );
    }
}
