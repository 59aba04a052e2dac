//! `kseal keys`, `--validate` and `--re-encrypt` run as a user runs them, against the real API server.
//!
//! `--validate`/`--re-encrypt` reach the controller through the API server's service proxy, which cannot
//! lead to the in-process controller here (the API server refuses Endpoints on loopback addresses); what is
//! tested is the failure a user sees when the Service is not there.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use kseal_crypto::{KeyOptions, KeyPair};
use kseal_sealedsecrets::keys::key_secret;
use kseal_testenv::TestEnv;

use crate::{Cluster, certificate_of, eventually, plain_secret, seal};

/// Runs `kseal` with the admin kubeconfig, `args` and `stdin`.
async fn run_kseal(args: &[&str], stdin: &str) -> Output {
    let env = TestEnv::get().await;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = workspace.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or("target".into()));
    let binary = target.join("debug/kseal");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p kseal-cli`",
        binary.display()
    );
    let mut command = tokio::process::Command::from(env.command(binary));
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALED_SECRETS_") {
            command.env_remove(key);
        }
    }
    // After the arguments: `kseal keys` takes its flags after the subcommand.
    let mut child = command
        .args(args)
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kseal");
    let mut input = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut input, stdin.as_bytes())
        .await
        .unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// `kseal keys` flags come after the subcommand.
async fn kseal_keys(cluster: &Cluster, extra: &[&str]) -> Output {
    let mut args = vec!["keys", "--controller-namespace", &cluster.namespace];
    args.extend(extra);
    run_kseal(&args, "").await
}

fn stdout_of(output: Output) -> String {
    assert!(
        output.status.success(),
        "kseal failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn keys_lists_which_key_seals_and_what_each_still_decrypts() {
    let mut cluster = Cluster::new().await;
    let old = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    cluster
        .create_secret(key_secret(&cluster.namespace, &old).unwrap())
        .await;
    // A cut-off time after the existing key: the controller adds a newer one at start.
    let cutoff = old.certificate().not_before() + Duration::from_secs(1);
    eventually("the clock to pass the cut-off time", || async {
        (SystemTime::now() > cutoff).then_some(())
    })
    .await;
    let mut config = cluster.controller_config();
    config.key_cutoff_time = Some(cutoff);
    cluster.start_controller_with(config);
    let keys = eventually("two key Secrets", || async {
        let keys = cluster.key_secrets().await;
        (keys.len() == 2).then_some(keys)
    })
    .await;
    let new = keys
        .iter()
        .find(|s| certificate_of(s).public_key() != old.certificate().public_key())
        .unwrap();
    let new_key = certificate_of(new).public_key().clone();

    for (name, key) in [
        ("by-old", old.certificate().public_key()),
        ("by-new-1", &new_key),
        ("by-new-2", &new_key),
    ] {
        let sealed = seal(plain_secret(&cluster.namespace, name, &[("k", b"v")]), key);
        cluster.create_sealed(&sealed).await;
    }
    for name in ["by-old", "by-new-1", "by-new-2"] {
        cluster.synced(name, "True").await;
    }

    let report: serde_json::Value =
        serde_json::from_str(&stdout_of(kseal_keys(&cluster, &["-o", "json"]).await)).unwrap();
    assert_eq!(report["namespace"], cluster.namespace.as_str());
    let rows = report["keys"].as_array().unwrap();
    let row = |fingerprint: &str| {
        rows.iter()
            .find(|k| k["fingerprint"] == fingerprint)
            .unwrap_or_else(|| panic!("no key {fingerprint} in {report}"))
            .clone()
    };
    // Newest first: the new key seals.
    assert_eq!(rows[0]["fingerprint"], new_key.fingerprint());
    let (new_row, old_row) = (
        row(new_key.fingerprint()),
        row(old.certificate().public_key().fingerprint()),
    );
    assert_eq!(new_row["sealing"], true);
    assert_eq!(new_row["sealedSecrets"], 2);
    assert_eq!(new_row["secretName"], new.metadata.name.as_deref().unwrap());
    assert_eq!(old_row["sealing"], false);
    assert_eq!(old_row["sealedSecrets"], 1);
    let created = old_row["created"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");

    // The table a person reads: a header, then the sealing key first.
    let table = stdout_of(kseal_keys(&cluster, &[]).await);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("SECRET") && header.contains("SEALEDSECRETS"),
        "{table}"
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(new.metadata.name.as_deref().unwrap())
            && first.contains(" yes ")
            && first.ends_with(new_key.fingerprint()),
        "{table}"
    );
}

#[tokio::test]
async fn keys_in_a_namespace_without_keys_is_an_error_with_a_hint() {
    let cluster = Cluster::new().await;
    let output = kseal_keys(&cluster, &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "error: no sealing key in namespace {}\nhint: pass the controller's namespace with --controller-namespace\n",
            cluster.namespace
        )
    );
}

#[tokio::test]
async fn validate_and_re_encrypt_name_the_unreachable_service() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let sealed = seal(plain_secret(&cluster.namespace, "s", &[("k", b"v")]), &key);
    let input = serde_json::to_string(&sealed).unwrap();

    for (flag, verb) in [("--validate", "validate"), ("--re-encrypt", "re-encrypt")] {
        // No Service named kseal-controller exists: the API server's proxy answers 404.
        let output = run_kseal(
            &[
                flag,
                "--controller-name",
                "kseal-controller",
                "--controller-namespace",
                &cluster.namespace,
            ],
            &input,
        )
        .await;
        assert_eq!(output.status.code(), Some(1), "{flag}");
        assert!(output.stdout.is_empty(), "{flag}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let expected = format!(
            "error: cannot {verb} SealedSecret {ns}/s\n  caused by: the controller's service {ns}/kseal-controller did not answer through the API server's service proxy: ",
            ns = cluster.namespace
        );
        assert!(stderr.starts_with(&expected), "{stderr}");
        assert!(stderr.contains("(404)"), "{stderr}");
        assert!(
            stderr.ends_with(
                "hint: check --controller-name and --controller-namespace (the controller's Service and its namespace); without the service proxy, check offline with --recovery-unseal and the private key\n"
            ),
            "{stderr}"
        );
    }
}
