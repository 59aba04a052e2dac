//! Cluster suite: the chart installed with `helm install` and run as pods, as users deploy it, on the
//! node of the test environment (`tests/env/up --node`: containerd, kubelet, kube-controller-manager,
//! kube-scheduler, kube-proxy beside the API server).
//!
//! The controller runs from its image (built without Docker by `tests/env/controller-image` from a
//! statically linked release binary, in the Dockerfile's layout), under the chart's securityContext and
//! probes; the CLIs (`kubeseal`, `kseal`) reach it through the API server's service proxy, as from a
//! laptop. Each test installs its own release in its own namespace (`controller.watchNamespace`: the
//! releases of parallel tests share the cluster).

mod eso;
mod install;
mod lifecycle;
mod migration;
mod proxy;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kseal_testenv::TestEnv;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, ResourceExt as _};

/// How long the pods of a fresh install may take to be Ready (a 4096-bit key is generated first, on a
/// machine whose two cores other builds share).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(240);
/// How long an unsealed Secret, a garbage collection, ... may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The image the chart runs: its default repository and tag (the chart's appVersion), in a registry
/// that does not exist (`imagePullPolicy: Never`: the node has it imported).
const IMAGE_REGISTRY: &str = "kseal.invalid";
const IMAGE_REPOSITORY: &str = "kseal/kseal-controller";
const IMAGE_TAG: &str = "0.1.0";

/// The workspace root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

fn target_dir() -> PathBuf {
    // A relative CARGO_TARGET_DIR is relative to the workspace, not to this package.
    repo_root().join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or("target".into()))
}

/// Runs cargo with `args` in the workspace (a nested build: the test's own cargo has released its lock).
fn cargo(args: &[&str], envs: &[(&str, &str)]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args(args).current_dir(repo_root());
    // Flags of the outer build would override the static ones.
    command
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    command.envs(envs.iter().copied());
    let status = command.status().expect("cannot run cargo");
    assert!(status.success(), "cargo {} failed", args.join(" "));
}

/// The statically linked release `kseal-controller` (glibc, `+crt-static`), what the image holds; built
/// once per test process (incrementally after the first time).
fn static_controller_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let target = "x86_64-unknown-linux-gnu";
            // Naming the host target keeps build scripts and proc-macros dynamic.
            cargo(
                &[
                    "build",
                    "--quiet",
                    "--release",
                    "--locked",
                    "-p",
                    "kseal-controller",
                    "--bin",
                    "kseal-controller",
                    "--target",
                    target,
                ],
                &[(
                    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                    "-C target-feature=+crt-static",
                )],
            );
            target_dir().join(target).join("release/kseal-controller")
        })
        .clone()
}

/// The `kseal` CLI of this workspace (debug build).
fn kseal_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            cargo(
                &["build", "--quiet", "-p", "kseal-cli", "--bin", "kseal"],
                &[],
            );
            target_dir().join("debug/kseal")
        })
        .clone()
}

/// Imports the controller image `kseal.invalid/kseal/kseal-controller:TAG` into the node (once per tag).
async fn import_image(env: &'static TestEnv, tag: &str) {
    static IMPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let tag = tag.to_owned();
    tokio::task::spawn_blocking(move || {
        // Held while importing: two tests asking for the same tag wait for one import.
        let mut imported = IMPORTED.lock().unwrap_or_else(|e| e.into_inner());
        if imported.contains(&tag) {
            return;
        }
        let binary = static_controller_binary();
        let image = format!("{IMAGE_REGISTRY}/{IMAGE_REPOSITORY}:{tag}");
        let output = env
            .command(repo_root().join("tests/env/controller-image"))
            .arg(&binary)
            .arg(&image)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run tests/env/controller-image");
        assert!(
            output.status.success(),
            "tests/env/controller-image failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        imported.insert(tag);
    })
    .await
    .expect("image import panicked");
}

/// The status of the pod's (only) container.
fn container_status(
    pod: &k8s_openapi::api::core::v1::Pod,
) -> &k8s_openapi::api::core::v1::ContainerStatus {
    &pod.status
        .as_ref()
        .expect("pod status")
        .container_statuses
        .as_ref()
        .expect("container statuses")[0]
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
async fn within<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `program` with the environment's variables, `args` and `stdin`; returns its output.
async fn run(env: &TestEnv, program: &Path, args: &[&str], stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut command = tokio::process::Command::from(env.command(program));
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALED_SECRETS_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// A release of the chart installed by one test in its own namespace; uninstalled when dropped.
struct Release {
    env: &'static TestEnv,
    client: Client,
    name: String,
    namespace: String,
}

impl Release {
    /// `helm install NAME deploy/helm/kseal` into a fresh namespace with the local image and `extra`
    /// arguments (`-f values-dev.yaml`, `--set ...`). Does not wait for the pods.
    async fn install(name: &str, extra: &[&str]) -> Release {
        Release::install_in(name, &format!("{name}-{}", std::process::id()), extra).await
    }

    /// [`Release::install`] into `namespace` (created when missing).
    async fn install_in(name: &str, namespace: &str, extra: &[&str]) -> Release {
        let env = TestEnv::node().await;
        import_image(env, IMAGE_TAG).await;
        let client = env.client().await;
        let namespace = namespace.to_owned();
        let release = Release {
            env,
            client,
            name: name.to_owned(),
            namespace,
        };
        let chart = repo_root().join("deploy/helm/kseal");
        let mut args = vec![
            "install",
            name,
            chart.to_str().unwrap(),
            "--namespace",
            &release.namespace,
            "--create-namespace",
            "--set",
            "image.pullPolicy=Never",
        ];
        let registry = format!("image.registry={IMAGE_REGISTRY}");
        // Releases of parallel tests share the cluster: each controller watches its own namespace only
        // (the chart's multi-tenant setting), or every leader would try every SealedSecret.
        let watch = format!("controller.watchNamespace={}", release.namespace);
        args.extend(["--set", &registry, "--set", &watch]);
        args.extend_from_slice(extra);
        release.helm(&args);
        release
    }

    /// Runs helm; panics with its stderr when it fails.
    fn helm(&self, args: &[&str]) -> String {
        let output = self
            .env
            .command(self.env.helm())
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
        String::from_utf8(output.stdout).expect("helm prints UTF-8")
    }

    fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The release's controller pods (not being deleted).
    async fn pods(&self) -> Vec<Pod> {
        let selector = format!(
            "app.kubernetes.io/name=kseal-controller,app.kubernetes.io/instance={}",
            self.name
        );
        self.pods_api()
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// Waits until exactly `count` pods run and are Ready; returns them. On timeout, fails with each
    /// pod's state and the end of its log.
    async fn ready_pods(&self, count: usize, timeout: Duration) -> Vec<Pod> {
        let deadline = Instant::now() + timeout;
        loop {
            let pods = self.pods().await;
            if pods.len() == count && pods.iter().all(is_ready) {
                return pods;
            }
            if Instant::now() >= deadline {
                let states: Vec<String> = pods
                    .iter()
                    .map(|p| {
                        let log = self.pod_log(&name(p));
                        let tail: Vec<&str> = log.lines().rev().take(8).collect();
                        format!(
                            "{}: {:?}\n  log (last lines, newest first):\n    {}",
                            name(p),
                            p.status.as_ref().map(|s| (
                                &s.phase,
                                s.conditions
                                    .iter()
                                    .flatten()
                                    .map(|c| format!("{}={}", c.type_, c.status))
                                    .collect::<Vec<_>>(),
                                s.container_statuses
                                    .iter()
                                    .flatten()
                                    .map(|c| (c.ready, c.restart_count, c.state.clone()))
                                    .collect::<Vec<_>>()
                            )),
                            tail.join("\n    ")
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {count} Ready pods of release {}; pods:\n{}",
                    self.name,
                    states.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The holder of the release's leader Lease.
    async fn leader(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        leases
            .get_opt("kseal-controller")
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }

    /// The controller's log lines of `pod`, read from the kubelet's log directory (for failure messages).
    fn pod_log(&self, pod: &str) -> String {
        let Some(dir) = self.env.vars().get("KSEAL_NODE_POD_LOGS") else {
            return String::new();
        };
        let mut text = String::new();
        let prefix = format!("{}_{pod}_", self.namespace);
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let container = entry.path().join("controller");
                for file in std::fs::read_dir(container).into_iter().flatten().flatten() {
                    text.push_str(&std::fs::read_to_string(file.path()).unwrap_or_default());
                }
            }
        }
        text
    }

    /// Deletes `pod` (default grace period, as `kubectl delete pod` does).
    async fn delete_pod(&self, pod: &str) {
        self.pods_api()
            .delete(pod, &DeleteParams::default())
            .await
            .unwrap();
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        // Frees the node for the next tests; the namespace goes with the environment.
        let _ = self
            .env
            .command(self.env.helm())
            .args(["uninstall", &self.name, "--namespace", &self.namespace])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Running, Ready, started, never restarted.
fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let running = status.phase.as_deref() == Some("Running");
    ready && running
}

/// The name of `pod`.
fn name(pod: &Pod) -> String {
    pod.name_any()
}

/// The directory `name` somewhere under `root` (a container's cgroup).
fn find_dir(root: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if entry.file_name() == name {
            return Some(path);
        }
        if let Some(found) = find_dir(&path, name) {
            return Some(found);
        }
    }
    None
}
