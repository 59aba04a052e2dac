//! Graceful shutdown of the real `kseal-controller` binary on SIGTERM (what Kubernetes sends to stop a
//! pod): it exits 0 at once, stops serving, and releases its Lease so that another replica takes over
//! without waiting for the lease to expire.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kseal_runtime::lease::{DEFAULT_LEASE_NAME, expired};
use kseal_testenv::TestEnv;
use kube::Api;

use crate::http::get;
use crate::{Cluster, eventually, plain_secret, seal};

/// How long the controller may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(5);

/// A free port on loopback (the controller binds it a moment later).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The running binary; killed if the test fails before it exits.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) log: tempfile::NamedTempFile,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Sends SIGTERM, as the kubelet does.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// The exit status, once the process has exited within `deadline`.
    async fn exited_within(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_stops_serving_releases_the_lease_and_exits_zero() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let mut cluster = Cluster::new().await;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    cluster.http_addr = Some(addr);

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
        // No metrics listener: tests run controllers side by side.
        .args(["--listen-metrics-addr", ""])
        // Every log line in one stream.
        .arg("--log-info-stdout=false")
        .args(["--key-size", "2048"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut process = Process { child, log };

    eventually("/readyz to answer 200", || async {
        tokio::net::TcpStream::connect(addr).await.ok()?;
        (get(&cluster, "/readyz").await.status == 200).then_some(())
    })
    .await;
    // It works before it stops: it holds the Lease and unseals.
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let holder = eventually("the controller to hold the Lease", || async {
        let spec = leases.get_opt(DEFAULT_LEASE_NAME).await.unwrap()?.spec?;
        spec.holder_identity.filter(|h| !h.is_empty())
    })
    .await;
    let key = cluster.public_key().await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "before-stop", &[("k", b"v")]),
        &key,
    );
    cluster.create_sealed(&sealed).await;
    cluster.synced("before-stop", "True").await;

    process.terminate();
    let status = process.exited_within(EXIT_DEADLINE).await;
    let log = process.log();
    let status = status
        .unwrap_or_else(|| panic!("still running {EXIT_DEADLINE:?} after SIGTERM; log:\n{log}"));
    assert!(status.success(), "exit status {status}; log:\n{log}");

    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the HTTP API still answers after the exit"
    );
    let spec = leases
        .get(DEFAULT_LEASE_NAME)
        .await
        .unwrap()
        .spec
        .unwrap_or_default();
    assert_eq!(
        spec.holder_identity.as_deref().unwrap_or_default(),
        "",
        "{holder} did not release the Lease; log:\n{log}"
    );
    assert!(
        expired(&spec, Timestamp::now()),
        "another replica could not take the Lease over at once: {spec:?}"
    );
}
