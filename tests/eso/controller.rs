//! The real External Secrets Operator (built by `tests/env/build eso` from its Go module, the version in
//! `tests/env/versions`), run as a child process outside the cluster with its environment's kubeconfig;
//! shared by the differential, the migration test and the side-by-side benchmark.
//!
//! It is restricted to one namespace (`--namespace`), runs without leader election or a metrics
//! listener, and with the reconcilers it does not need for ExternalSecrets switched off
//! (ClusterSecretStore, PushSecret, ClusterPushSecret, ClusterExternalSecret; the GeneratorState
//! reconciler cannot be, so its CRD is installed too). Its AWS provider reaches moto through
//! `AWS_SECRETSMANAGER_ENDPOINT` / `AWS_SSM_ENDPOINT` / `AWS_STS_ENDPOINT`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kseal_testenv::TestEnv;

/// The CRDs of ESO's bundle an ESO installation (its Helm chart) creates for the resources used here
/// (the generators of the generator cases among them), and the GeneratorState CRD its controller needs
/// (its reconciler cannot be switched off).
pub const ESO_CRDS: &[&str] = &[
    "external-secrets.io_externalsecrets.yaml",
    "external-secrets.io_secretstores.yaml",
    "external-secrets.io_clustersecretstores.yaml",
    "generators.external-secrets.io_generatorstates.yaml",
    "generators.external-secrets.io_passwords.yaml",
    "generators.external-secrets.io_uuids.yaml",
    "generators.external-secrets.io_fakes.yaml",
    "generators.external-secrets.io_stssessiontokens.yaml",
    "generators.external-secrets.io_clustergenerators.yaml",
];

/// The External Secrets Operator's controller, killed when dropped.
pub struct Eso(Option<Child>);

impl Eso {
    /// Starts ESO for `namespace` with the environment's kubeconfig, reconciling `concurrent`
    /// ExternalSecrets at once (ESO's `--concurrent`; its default is 1), logging to `{log}.log` in
    /// `$KSEAL_ESO_LOGS` (kept after the run), else in the environment's `logs/`.
    pub fn start(env: &TestEnv, namespace: &str, log: &str, concurrent: u32) -> Eso {
        let dir = std::env::var_os("KSEAL_ESO_LOGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| env.dir().join("logs"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join(format!("{log}.log"))).unwrap();
        let endpoint = env.moto_endpoint();
        let child = Command::new(eso_binary())
            .args([
                &format!("--namespace={namespace}"),
                "--enable-leader-election=false",
                "--metrics-addr=0",
                "--enable-cluster-store-reconciler=false",
                "--enable-cluster-external-secret-reconciler=false",
                "--enable-push-secret-reconciler=false",
                "--enable-cluster-push-secret-reconciler=false",
                &format!("--concurrent={concurrent}"),
                "--loglevel=debug",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.dir())
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("AWS_SECRETSMANAGER_ENDPOINT", endpoint)
            .env("AWS_STS_ENDPOINT", endpoint)
            .env("AWS_SSM_ENDPOINT", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Eso(Some(child))
    }

    /// Kills ESO (as an uninstall does: no graceful handover).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Eso {
    /// The process id, while it runs.
    #[allow(
        dead_code,
        reason = "read by the side-by-side benchmark, which shares this file"
    )]
    pub fn id(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }
}

impl Drop for Eso {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The ESO controller the test environment built.
pub fn eso_binary() -> PathBuf {
    kseal_e2e::built_peer("KSEAL_ESO", "eso")
}

/// A CRD of ESO's own bundle (`config/crds/bases/FILE` of the ESO module tests/go/eso builds).
pub fn eso_crd(file: &str) -> CustomResourceDefinition {
    let out = Command::new("go")
        .args([
            "list",
            "-mod=readonly",
            "-m",
            "-f",
            "{{.Dir}}",
            "github.com/external-secrets/external-secrets",
        ])
        .current_dir(kseal_e2e::repo_root().join("tests/go/eso"))
        .stderr(Stdio::inherit())
        .output()
        .expect("go list (the ESO module)");
    assert!(out.status.success(), "go list failed");
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let path = dir.join("config/crds/bases").join(file);
    serde_saphyr::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

pub fn eso_version() -> String {
    std::fs::read_to_string(kseal_e2e::repo_root().join("tests/env/versions"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("ESO_VERSION="))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned()
}
