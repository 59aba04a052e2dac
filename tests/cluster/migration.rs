//! The migration of docs/migration-from-sealed-secrets.md, run as written: the real sealed-secrets
//! controller (v0.40.0, its own chart) holds the key and unseals a SealedSecret; `helm uninstall
//! sealed-secrets` leaves the key Secret, the CRD, the SealedSecrets and their Secrets; `helm install
//! kseal` in the same namespace with its default names takes the key over: the Secret the peer wrote
//! keeps its bytes and its uid, a SealedSecret sealed with the old certificate before the swap unseals,
//! and `kseal --fetch-cert` returns the same certificate.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kseal_api::SealedSecret;
use kseal_api::names::KEY_LABEL;
use kseal_api::names::field_managers::UNSEALER;
use kseal_testenv::{TestEnv, apply_yaml};
use kube::api::ListParams;
use kube::{Api, ResourceExt as _};

use crate::proxy::{fresh_value, secret_manifest, unsealed};
use crate::{
    IMAGE_REGISTRY, INSTALL_TIMEOUT, Release, SETTLE_TIMEOUT, kseal_binary, repo_root, run,
    target_dir, within,
};

const FIELD_MANAGER: &str = "kseal-cluster-test";
/// The image of the real sealed-secrets controller, imported into the node.
const PEER_IMAGE_REPOSITORY: &str = "bitnami/sealed-secrets-controller";
const PEER_IMAGE_TAG: &str = "0.40.0";

/// The sealed-secrets module (its chart is in `helm/sealed-secrets`), as tests/go/kubeseal pins it.
fn peer_module() -> PathBuf {
    let output = std::process::Command::new("go")
        .args([
            "list",
            "-m",
            "-f",
            "{{.Dir}}",
            "github.com/bitnami/sealed-secrets",
        ])
        .current_dir(repo_root().join("tests/go/kubeseal"))
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("cannot run go");
    assert!(output.status.success(), "go list failed");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// The sealed-secrets controller built statically (`CGO_ENABLED=0`, as its release images are), once.
fn static_peer_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let out = target_dir().join("sealed-secrets-controller-static");
            let status = std::process::Command::new("go")
                .args(["build", "-trimpath", "-ldflags=-s", "-o"])
                .arg(&out)
                .arg("github.com/bitnami/sealed-secrets/cmd/controller")
                .current_dir(repo_root().join("tests/go/kubeseal"))
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=readonly -buildvcs=false")
                .status()
                .expect("cannot run go");
            assert!(
                status.success(),
                "building the sealed-secrets controller failed"
            );
            out
        })
        .clone()
}

/// Runs helm with `args`; panics with its stderr when it fails.
fn helm(env: &TestEnv, args: &[&str]) {
    let output = env
        .command(env.helm())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "helm {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `kseal ARGS` against the controller in `namespace`: stdout, or a panic with stderr.
async fn kseal(env: &TestEnv, namespace: &str, args: &[&str], stdin: &str) -> String {
    let mut all = vec!["--controller-namespace", namespace];
    all.extend_from_slice(args);
    let output = run(env, &kseal_binary(), &all, stdin).await;
    assert!(
        output.status.success(),
        "kseal {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn helm_uninstall_sealed_secrets_then_install_kseal_keeps_keys_secrets_and_certificate() {
    let env = TestEnv::node().await;
    let namespace = format!("migrate-{}", std::process::id());
    let client = env.client().await;

    // The real sealed-secrets controller, from its own chart, with the local image.
    let binary = tokio::task::spawn_blocking(static_peer_binary)
        .await
        .unwrap();
    let image = format!("{IMAGE_REGISTRY}/{PEER_IMAGE_REPOSITORY}:{PEER_IMAGE_TAG}");
    let output = env
        .command(repo_root().join("tests/env/sealed-secrets-image"))
        .arg(&binary)
        .arg(&image)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tests/env/sealed-secrets-image failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peer_chart = peer_module().join("helm/sealed-secrets");
    let values = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    // The other tests' releases share the cluster: the peer watches its own namespace only (its chart's
    // `args` replace all of its default flags; the rest keep the binary's defaults).
    std::fs::write(
        values.path(),
        format!(
            "fullnameOverride: sealed-secrets-controller\nimage:\n  registry: {IMAGE_REGISTRY}\n  repository: {PEER_IMAGE_REPOSITORY}\n  tag: \"{PEER_IMAGE_TAG}\"\n  pullPolicy: Never\nargs:\n  - --all-namespaces=false\n"
        ),
    )
    .unwrap();
    helm(
        env,
        &[
            "install",
            "sealed-secrets",
            peer_chart.to_str().unwrap(),
            "--namespace",
            &namespace,
            "--create-namespace",
            "-f",
            values.path().to_str().unwrap(),
        ],
    );

    // Its key Secret, then its certificate through the service proxy (the Service
    // sealed-secrets-controller, what kseal and kubeseal look for by default).
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let by_key_label = ListParams::default().labels(KEY_LABEL);
    let key = within(INSTALL_TIMEOUT, "the peer's key Secret", || async {
        secrets
            .list(&by_key_label)
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    })
    .await;
    assert!(
        key.name_any().starts_with("sealed-secrets-key"),
        "{}",
        key.name_any()
    );
    let stored = kseal_crypto::Certificate::from_pem(&key.data.as_ref().unwrap()["tls.crt"].0)
        .unwrap()
        .to_pem()
        .to_owned();
    let old_certificate = within(
        INSTALL_TIMEOUT,
        "the peer's certificate through the proxy",
        || async {
            let output = run(
                env,
                &kseal_binary(),
                &["--controller-namespace", &namespace, "--fetch-cert"],
                "",
            )
            .await;
            output
                .status
                .success()
                .then(|| String::from_utf8(output.stdout).unwrap())
        },
    )
    .await;
    assert_eq!(
        kseal_crypto::Certificate::from_pem(old_certificate.as_bytes())
            .unwrap()
            .to_pem(),
        stored,
        "the peer serves its key's certificate"
    );
    let cert_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cert_file.path(), &old_certificate).unwrap();
    let cert = cert_file.path().to_str().unwrap();

    // A SealedSecret the peer unseals.
    let before_value = fresh_value();
    let sealed = kseal(
        env,
        &namespace,
        &["--cert", cert, "-o", "yaml"],
        &secret_manifest(&namespace, "before", &before_value),
    )
    .await;
    apply_yaml(&client, &namespace, FIELD_MANAGER, &sealed).await;
    let written = within(SETTLE_TIMEOUT, "the peer unseals Secret before", || async {
        secrets.get_opt("before").await.unwrap()
    })
    .await;
    assert!(
        written.data.as_ref().unwrap()["password"].0 == before_value.as_bytes(),
        "the peer's Secret holds the sealed value"
    );
    // Sealed with the old certificate before the swap, applied after it.
    let after_value = fresh_value();
    let sealed_after = kseal(
        env,
        &namespace,
        &["--cert", cert, "-o", "yaml"],
        &secret_manifest(&namespace, "after", &after_value),
    )
    .await;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd_uid = crds.get("sealedsecrets.bitnami.com").await.unwrap().uid();

    // helm uninstall: the controller goes; what it made, and the CRD (crds/ of the chart, which helm
    // never deletes), stay.
    helm(
        env,
        &[
            "uninstall",
            "sealed-secrets",
            "--namespace",
            &namespace,
            "--wait",
        ],
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    within(SETTLE_TIMEOUT, "the peer's pods to go", || async {
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(
        secrets.get(&key.name_any()).await.unwrap().uid(),
        key.uid(),
        "the key Secret stays"
    );
    assert_eq!(
        crds.get("sealedsecrets.bitnami.com").await.unwrap().uid(),
        crd_uid,
        "the CRD stays"
    );
    let sealed_secrets: Api<SealedSecret> = Api::namespaced(client.clone(), &namespace);
    assert!(sealed_secrets.get_opt("before").await.unwrap().is_some());
    assert_eq!(secrets.get("before").await.unwrap().uid(), written.uid());

    // helm install kseal: same namespace, default names.
    let release = Release::install_in("kseal", &namespace, &[]).await;
    release.ready_pods(2, INSTALL_TIMEOUT).await;

    // kseal adopts the peer's Secret (server-side apply under its field manager): same object, same bytes.
    let adopted = within(SETTLE_TIMEOUT, "kseal to adopt Secret before", || async {
        let secret = secrets.get("before").await.unwrap();
        secret
            .managed_fields()
            .iter()
            .any(|m| m.manager.as_deref() == Some(UNSEALER))
            .then_some(secret)
    })
    .await;
    assert_eq!(adopted.uid(), written.uid(), "the Secret is not recreated");
    assert!(
        adopted.data == written.data,
        "the Secret keeps the bytes the peer wrote"
    );

    // The SealedSecret sealed with the old certificate unseals under kseal.
    apply_yaml(&client, &namespace, FIELD_MANAGER, &sealed_after).await;
    unsealed(&release, "after", &after_value).await;

    // The same key: no new one, and the same certificate through the proxy.
    let keys = secrets.list(&by_key_label).await.unwrap().items;
    assert_eq!(
        keys.iter().map(|k| k.uid()).collect::<Vec<_>>(),
        vec![key.uid()],
        "kseal uses the peer's key and generates none"
    );
    let new_certificate = kseal(env, &namespace, &["--fetch-cert"], "").await;
    assert_eq!(
        kseal_crypto::Certificate::from_pem(new_certificate.as_bytes())
            .unwrap()
            .to_pem(),
        stored,
        "kseal --fetch-cert returns the peer's certificate"
    );
}
