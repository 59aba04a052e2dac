//! The CLIs against the installed chart, as from a laptop: `kubeseal --fetch-cert` and `kseal --fetch-cert`
//! reach the controller through the API server's service proxy under the chart's default Service name
//! (`sealed-secrets-controller`); `kseal` seals without `--cert`, `--validate` and `--re-encrypt` go
//! through the same proxy; the SealedSecret is unsealed in the cluster, and deleting it
//! garbage-collects its Secret (kube-controller-manager's garbage collector).

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kseal_api::SealedSecret;
use kseal_api::names::{ACTIVE, KEY_LABEL};
use kseal_testenv::apply_yaml;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::{INSTALL_TIMEOUT, Release, SETTLE_TIMEOUT, kseal_binary, run, within};

const FIELD_MANAGER: &str = "kseal-cluster-test";

/// A plain Secret manifest `name` with one value.
pub(crate) fn secret_manifest(namespace: &str, name: &str, value: &str) -> String {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(value);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: Opaque\ndata:\n  password: {value}\n"
    )
}

/// A value only this test knows.
pub(crate) fn fresh_value() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `kseal ARGS` with the admin kubeconfig against the release's controller; returns stdout, fails
/// with stderr.
pub(crate) async fn kseal(release: &Release, args: &[&str], stdin: &str) -> String {
    let mut all = vec!["--controller-namespace", &release.namespace];
    all.extend_from_slice(args);
    let output = run(release.env, &kseal_binary(), &all, stdin).await;
    assert!(
        output.status.success(),
        "kseal {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Waits for the Secret `name` the controller unseals and checks its value (never printed).
pub(crate) async fn unsealed(release: &Release, name: &str, value: &str) -> Secret {
    let secrets = release.secrets();
    let what = format!("Secret {name} unsealed in the cluster");
    let secret = within(SETTLE_TIMEOUT, &what, || async {
        secrets.get_opt(name).await.unwrap()
    })
    .await;
    let data = secret.data.as_ref().expect("the Secret has data");
    assert!(
        data.get("password").map(|v| v.0.as_slice()) == Some(value.as_bytes()),
        "Secret {name} holds the value that was sealed"
    );
    secret
}

#[tokio::test]
async fn cli_fetches_the_certificate_seals_validates_and_re_encrypts_through_the_service_proxy() {
    let release = Release::install("proxy", &[]).await;
    release.ready_pods(2, INSTALL_TIMEOUT).await;
    let env = release.env;
    let namespace = release.namespace.clone();

    // The certificate of the active key, as the controller stored it.
    let keys = release
        .secrets()
        .list(&ListParams::default().labels(&format!("{KEY_LABEL}={ACTIVE}")))
        .await
        .unwrap()
        .items;
    assert_eq!(keys.len(), 1, "one active sealing key");
    let stored = keys[0].data.as_ref().unwrap()["tls.crt"].0.clone();
    let stored = kseal_crypto::Certificate::from_pem(&stored).unwrap();

    // Real kubeseal, its default controller name: the chart's default Service name.
    let output = run(
        env,
        &env.kubeseal(),
        &["--fetch-cert", "--controller-namespace", &namespace],
        "",
    )
    .await;
    assert!(
        output.status.success(),
        "kubeseal --fetch-cert failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_kubeseal = kseal_crypto::Certificate::from_pem(&output.stdout).unwrap();
    let from_kseal = kseal(&release, &["--fetch-cert"], "").await;
    let from_kseal = kseal_crypto::Certificate::from_pem(from_kseal.as_bytes()).unwrap();
    assert_eq!(from_kubeseal.to_pem(), stored.to_pem());
    assert_eq!(from_kseal.to_pem(), stored.to_pem());

    // Sealing without --cert fetches the certificate through the proxy.
    let value = fresh_value();
    let sealed = kseal(
        &release,
        &["-o", "yaml"],
        &secret_manifest(&namespace, "app", &value),
    )
    .await;
    apply_yaml(&release.client, &namespace, FIELD_MANAGER, &sealed).await;
    unsealed(&release, "app", &value).await;

    // --validate asks the controller (POST /v1/verify through the proxy): kseal and kubeseal agree.
    kseal(&release, &["--validate"], &sealed).await;
    let output = run(
        env,
        &env.kubeseal(),
        &["--validate", "--controller-namespace", &namespace],
        &sealed,
    )
    .await;
    assert!(
        output.status.success(),
        "kubeseal --validate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tampered = tamper(&sealed);
    let output = run(
        env,
        &kseal_binary(),
        &["--validate", "--controller-namespace", &namespace],
        &tampered,
    )
    .await;
    assert!(
        !output.status.success(),
        "kseal --validate accepts a SealedSecret whose ciphertext was changed"
    );

    // --re-encrypt (POST /v1/rotate through the proxy): new ciphertext, same Secret once applied.
    let re_encrypted = kseal(&release, &["--re-encrypt", "-o", "yaml"], &sealed).await;
    assert_ne!(ciphertext(&re_encrypted), ciphertext(&sealed));
    apply_yaml(&release.client, &namespace, FIELD_MANAGER, &re_encrypted).await;
    let sealed_secrets: Api<SealedSecret> = Api::namespaced(release.client.clone(), &namespace);
    let applied = sealed_secrets.get("app").await.unwrap();
    assert_eq!(
        serde_json::to_value(&applied.spec.encrypted_data).unwrap(),
        serde_json::to_value(ciphertext(&re_encrypted)).unwrap()
    );
    let what = "the controller to unseal the re-encrypted SealedSecret";
    within(SETTLE_TIMEOUT, what, || async {
        let s = sealed_secrets.get("app").await.unwrap();
        let status = s.status.as_ref()?;
        let synced = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Synced" && c.status == "True");
        (status.observed_generation == s.metadata.generation && synced).then_some(())
    })
    .await;
    unsealed(&release, "app", &value).await;
}

/// `spec.encryptedData` of a SealedSecret manifest.
fn ciphertext(yaml: &str) -> serde_json::Value {
    let object: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    object["spec"]["encryptedData"].clone()
}

/// The manifest with one ciphertext byte changed (base64 stays valid).
fn tamper(yaml: &str) -> String {
    let mut object: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    let data = object["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut chars: Vec<char> = data.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    object["spec"]["encryptedData"]["password"] = chars.into_iter().collect::<String>().into();
    serde_json::to_string(&object).unwrap()
}

#[tokio::test]
async fn deleting_a_sealed_secret_garbage_collects_its_secret() {
    let release = Release::install("gc", &[]).await;
    release.ready_pods(2, INSTALL_TIMEOUT).await;
    let namespace = release.namespace.clone();
    let value = fresh_value();
    let sealed = kseal(
        &release,
        &["-o", "yaml"],
        &secret_manifest(&namespace, "owned", &value),
    )
    .await;
    apply_yaml(&release.client, &namespace, FIELD_MANAGER, &sealed).await;
    let secret = unsealed(&release, "owned", &value).await;
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("SealedSecret", "owned")
    );

    let sealed_secrets: Api<SealedSecret> = Api::namespaced(release.client.clone(), &namespace);
    sealed_secrets
        .delete("owned", &DeleteParams::default())
        .await
        .unwrap();
    let secrets = release.secrets();
    within(
        SETTLE_TIMEOUT,
        "the garbage collector to delete the Secret",
        || async {
            secrets
                .get_opt("owned")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

/// A kubeconfig that authenticates as `user` in `groups` (tests/env/kubeconfig-for: a client
/// certificate of the environment's CA; RBAC decides the rest).
fn kubeconfig_for(release: &Release, user: &str, groups: &[&str]) -> String {
    let output = release
        .env
        .command(crate::repo_root().join("tests/env/kubeconfig-for"))
        .arg(user)
        .args(groups)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tests/env/kubeconfig-for failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_service_proxier_role_lets_its_subjects_and_nobody_else_through_the_proxy() {
    // sealed-secrets' rbac.serviceProxier values, bound to one group instead of every authenticated user.
    let group = format!("sealers-{}", std::process::id());
    let subjects = format!(
        "rbac.serviceProxier.subjects[0].apiGroup=rbac.authorization.k8s.io,rbac.serviceProxier.subjects[0].kind=Group,rbac.serviceProxier.subjects[0].name={group}"
    );
    let release = Release::install(
        "proxier",
        &[
            "--set",
            &subjects,
            "--set",
            "replicaCount=1,controller.keySize=2048",
        ],
    )
    .await;
    release.ready_pods(1, INSTALL_TIMEOUT).await;
    let env = release.env;
    let namespace = release.namespace.clone();
    let value = fresh_value();
    let sealed = kseal(
        &release,
        &["-o", "yaml"],
        &secret_manifest(&namespace, "app", &value),
    )
    .await;
    let certificate = kseal(&release, &["--fetch-cert"], "").await;

    let sealer = kubeconfig_for(&release, "carol", &[&group]);
    let outsider = kubeconfig_for(&release, "dave", &[]);
    // kubeseal has no other way to the certificate than the proxy (it reads the Service for its port
    // name, then GETs through "http:<service>:http"), kseal's --validate and --re-encrypt neither (POST).
    let attempts: [(&Path, Vec<&str>, &str); 3] = [
        (&env.kubeseal(), vec!["--fetch-cert"], ""),
        (&kseal_binary(), vec!["--validate"], &sealed),
        (&kseal_binary(), vec!["--re-encrypt", "-o", "yaml"], &sealed),
    ];
    for (program, args, stdin) in &attempts {
        for (who, kubeconfig, allowed) in [("carol", &sealer, true), ("dave", &outsider, false)] {
            let mut all = vec![
                "--kubeconfig",
                kubeconfig,
                "--controller-namespace",
                &namespace,
            ];
            all.extend(args.iter().copied());
            let output = run(env, program, &all, stdin).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.success(),
                allowed,
                "{who}: {} {}: {stderr}",
                program.display(),
                args.join(" ")
            );
            if !allowed {
                assert!(
                    stderr.contains("forbidden") || stderr.contains("403"),
                    "{who}: {} {}: refused by RBAC: {stderr}",
                    program.display(),
                    args.join(" ")
                );
            } else if args[0] == "--fetch-cert" {
                assert_eq!(
                    kseal_crypto::Certificate::from_pem(&output.stdout)
                        .unwrap()
                        .to_pem(),
                    kseal_crypto::Certificate::from_pem(certificate.as_bytes())
                        .unwrap()
                        .to_pem()
                );
            }
        }
    }

    // The same as raw requests: 200 for the group, 403 for anyone else.
    {
        let path = format!(
            "/api/v1/namespaces/{namespace}/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"
        );
        for (client, expected) in [
            (env.client_as("carol", &[&group]).await, 200),
            (env.client_as("dave", &[]).await, 403),
        ] {
            let request = http::Request::get(&path).body(Vec::new()).unwrap();
            let status = match client.request_text(request).await {
                Ok(_) => 200,
                Err(kube::Error::Api(status)) => status.code,
                Err(other) => panic!("{path}: {other}"),
            };
            assert_eq!(status, expected, "{path}");
        }
    }
}
