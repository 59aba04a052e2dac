//! Test support for kseal's end-to-end tests: a real kube-apiserver + etcd and
//! moto (AWS Secrets Manager), started by `tests/env/up`.
//!
//! ```no_run
//! # async fn t() {
//! let env = kseal_testenv::TestEnv::get().await;
//! let client = env.client().await;
//! let namespace = env.namespace().await; // fresh, owned by this test
//! let secrets = env.aws_account().secretsmanager_client().await;
//! # }
//! ```
//!
//! [`TestEnv::get`] reuses the environment named by `KSEAL_TESTENV_DIR` (set by
//! `eval "$(tests/env/up)"`), or starts one for this test process; a watchdog
//! started by `up` stops it when the process exits. Fault tests that stop or
//! restart a component use [`TestEnv::isolated`], a private environment that is
//! stopped when dropped, so that parallel tests are not disturbed.
//!
//! Helpers panic on failure: they set up tests, and a failed setup fails the test.

mod aws;
mod kubernetes;
mod scripts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use aws::{AwsAccount, CallCounts, StsCall};
pub use scripts::Component;

/// How long a polled condition may take before the test fails.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);
/// Pause between two polls.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`]: tests wait for a
/// condition, never for a fixed time.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A running test environment: kube-apiserver + etcd, and moto.
#[derive(Debug)]
pub struct TestEnv {
    /// State directory of `tests/env/up` (PKI, kubeconfigs, logs, ports).
    dir: PathBuf,
    /// The variables `up` exported (KUBECONFIG, AWS_ENDPOINT_URL, …).
    vars: BTreeMap<String, String>,
    /// Whether dropping this value stops the environment.
    owned: bool,
}

static SHARED: OnceLock<TestEnv> = OnceLock::new();
static SHARED_NODE: OnceLock<TestEnv> = OnceLock::new();

impl TestEnv {
    /// The environment shared by all tests of this process: the one named by
    /// `KSEAL_TESTENV_DIR`, or one started on first use (building missing
    /// components first, which takes long once — see tests/env/README.md).
    pub async fn get() -> &'static TestEnv {
        install_crypto_provider();
        if let Some(env) = SHARED.get() {
            return env;
        }
        // Starting takes seconds of blocking process work; keep it off the runtime.
        tokio::task::spawn_blocking(|| SHARED.get_or_init(Self::reuse_or_start))
            .await
            .expect("test environment start panicked")
    }

    /// The environment with a node (`tests/env/up --node`: containerd, kubelet, controller-manager,
    /// scheduler, kube-proxy) shared by the tests of this process: the one named by
    /// `KSEAL_TESTENV_DIR` if it has a node, or one started on first use. One node runs per host.
    pub async fn node() -> &'static TestEnv {
        install_crypto_provider();
        if let Some(env) = SHARED_NODE.get() {
            return env;
        }
        tokio::task::spawn_blocking(|| {
            SHARED_NODE.get_or_init(|| {
                let reused = std::env::var_os("KSEAL_TESTENV_DIR")
                    .map(|dir| scripts::read_exports(&PathBuf::from(dir).join("env")))
                    .filter(|vars| vars.contains_key("KSEAL_NODE_NAME"));
                Self::from_vars(reused.unwrap_or_else(|| scripts::up(&["--node"])), false)
            })
        })
        .await
        .expect("test environment start panicked")
    }

    /// A private environment for tests that stop or restart components;
    /// it is stopped when dropped.
    pub async fn isolated() -> TestEnv {
        install_crypto_provider();
        tokio::task::spawn_blocking(|| {
            let vars = scripts::up(&[]);
            Self::from_vars(vars, true)
        })
        .await
        .expect("test environment start panicked")
    }

    fn reuse_or_start() -> TestEnv {
        match std::env::var_os("KSEAL_TESTENV_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                let vars = scripts::read_exports(&dir.join("env"));
                Self::from_vars(vars, false)
            }
            // Not owned: the watchdog stops it when this process exits, since
            // statics are never dropped.
            None => Self::from_vars(scripts::up(&[]), false),
        }
    }

    fn from_vars(vars: BTreeMap<String, String>, owned: bool) -> TestEnv {
        let dir = PathBuf::from(var(&vars, "KSEAL_TESTENV_DIR"));
        TestEnv { dir, vars, owned }
    }

    /// Whether this is a private environment ([`TestEnv::isolated`]), stopped when dropped.
    pub fn is_private(&self) -> bool {
        self.owned
    }

    /// The state directory (logs are in `logs/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The variables `tests/env/up` exports, to pass to child processes
    /// (`KUBECONFIG`, `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …).
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// A command with [`TestEnv::vars`] in its environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        command.envs(&self.vars);
        command
    }

    /// The admin kubeconfig (user `kseal-admin` in group `system:masters`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        PathBuf::from(var(&self.vars, "KUBECONFIG"))
    }

    /// Path of the `kubeseal` binary (the interoperability peer).
    pub fn kubeseal(&self) -> PathBuf {
        PathBuf::from(var(&self.vars, "KSEAL_KUBESEAL"))
    }

    /// Path of the `helm` binary.
    pub fn helm(&self) -> PathBuf {
        PathBuf::from(var(&self.vars, "KSEAL_HELM"))
    }

    /// Path of the `kubeconform` binary.
    pub fn kubeconform(&self) -> PathBuf {
        PathBuf::from(var(&self.vars, "KSEAL_KUBECONFORM"))
    }

    /// Stops a component (it keeps its port; etcd keeps its data).
    pub async fn stop(&self, component: Component) {
        self.ctl("stop", component).await;
    }

    /// Starts a stopped component on its old port and waits until it is ready.
    pub async fn start(&self, component: Component) {
        self.ctl("start", component).await;
    }

    /// Stops and starts the kube-apiserver; returns once it is ready again.
    pub async fn restart_apiserver(&self) {
        self.ctl("restart", Component::ApiServer).await;
    }

    /// Stops moto (its calls then fail to connect).
    pub async fn stop_moto(&self) {
        self.stop(Component::Moto).await;
    }

    /// Starts moto again on the same port, empty (moto keeps state in memory).
    pub async fn start_moto(&self) {
        self.start(Component::Moto).await;
    }

    async fn ctl(&self, action: &'static str, component: Component) {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || scripts::ctl(&dir, action, component))
            .await
            .expect("tests/env/ctl panicked");
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.owned {
            scripts::down(&self.dir);
        }
    }
}

fn var<'a>(vars: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    vars.get(name)
        .unwrap_or_else(|| panic!("tests/env/up did not export {name}"))
}

/// kube panics when both ring and aws-lc-rs are linked and no provider is chosen.
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_log();
}

/// With `KSEAL_TEST_LOG` set (a `tracing` filter such as `kseal_externalsecrets=debug`), the log of
/// the controllers the tests run in-process goes to the test's output (shown when it fails).
fn init_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("KSEAL_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A Secret's data as text (lossy UTF-8), for assertions.
pub fn secret_text(secret: &k8s_openapi::api::core::v1::Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// A count from the environment variable `name` (benchmark sizes), or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a benchmark's `main` future on a multi-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// The `kseal-controller` binary of this workspace, built (or found up to date) once per test process in
/// the running test's profile: the test binary lives in `target/<profile>/deps/`, the controller in
/// `target/<profile>/`. `cargo test -p kseal-e2e` does not build other packages' binaries by itself.
pub fn controller_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let test_binary = std::env::current_exe().expect("the test binary's path");
            let profile_dir = test_binary
                .parent()
                .and_then(Path::parent)
                .expect("a test binary in target/<profile>/deps");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args([
                "build",
                "--quiet",
                "-p",
                "kseal-controller",
                "--bin",
                "kseal-controller",
            ]);
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                build.arg("--release");
            }
            let status = build
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cannot run cargo");
            assert!(status.success(), "cargo build -p kseal-controller failed");
            profile_dir.join("kseal-controller")
        })
        .clone()
}

/// Server-side applies every document of `yaml` as `field_manager` (forced). Namespaced objects without a
/// namespace land in `namespace`; ClusterSecretStores, ClusterExternalSecrets and ClusterGenerators are
/// cluster-wide. Panics naming the object that
/// fails.
pub async fn apply_yaml(client: &kube::Client, namespace: &str, field_manager: &str, yaml: &str) {
    use kube::ResourceExt as _;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    for document in yaml.split("\n---").filter(|d| !d.trim().is_empty()) {
        let mut object: DynamicObject =
            serde_saphyr::from_str(document).expect("test manifest is valid YAML");
        let types = object
            .types
            .clone()
            .expect("manifest has apiVersion and kind");
        let (group, version) = types
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", &types.api_version));
        let gvk = GroupVersionKind::gvk(group, version, &types.kind);
        let plural = format!("{}s", types.kind.to_lowercase());
        let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
        let cluster_scoped = matches!(
            types.kind.as_str(),
            "ClusterSecretStore" | "ClusterExternalSecret" | "ClusterGenerator"
        );
        let api: kube::Api<DynamicObject> = if cluster_scoped {
            kube::Api::all_with(client.clone(), &resource)
        } else {
            let namespace = object
                .metadata
                .namespace
                .get_or_insert_with(|| namespace.to_owned())
                .clone();
            kube::Api::namespaced_with(client.clone(), &namespace, &resource)
        };
        let name = object.name_any();
        api.patch(
            &name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
    }
}
