//! What the unseal benchmarks share: SealedSecrets to unseal, the controller's keys, and the CPU,
//! memory and API requests a measurement reads from `/proc` and the API server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use kseal_api::{SealedSecret, annotations};
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{KeyOptions, KeyPair, PublicKey};
use kseal_testenv::TestEnv;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Values per SealedSecret.
pub const VALUES: usize = 5;
/// Concurrent creates while setting up.
pub const CREATE_CONCURRENCY: usize = 16;
/// A controller is idle once its reconcile count has not moved for this long.
pub const IDLE_AFTER: Duration = Duration::from_secs(5);

/// Value `v` of SealedSecret `s-{i}`.
pub fn value(i: usize, v: usize) -> String {
    format!("value {v} of secret {i}: {}", "x".repeat(24))
}

/// (VmRSS, VmHWM) of process `pid` in MiB, from `/proc/<pid>/status`.
pub fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/<pid>/status"))
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (seconds) used so far by the processes that share the machine during a measurement.
pub struct CpuUse {
    pub controller: f64,
    pub apiserver: f64,
    pub etcd: f64,
    pub bench: f64,
    /// Every process on the machine (busy time of all cores).
    pub machine: f64,
}

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on Linux).
pub const TICKS: f64 = 100.0;

impl CpuUse {
    /// Now, with `controller` the process id of the controller measured.
    pub fn now(env: &TestEnv, controller: u32) -> Self {
        let server = |name: &str| {
            std::fs::read_to_string(env.dir().join(format!("{name}.pid")))
                .ok()
                .and_then(|pid| pid.trim().parse().ok())
                .map_or(0.0, process_cpu)
        };
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let ticks: Vec<f64> = stat
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect();
        // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
        let busy = ticks.iter().take(8).sum::<f64>() - ticks[3] - ticks[4];
        CpuUse {
            controller: process_cpu(controller),
            apiserver: server("apiserver"),
            etcd: server("etcd"),
            bench: process_cpu(std::process::id()),
            machine: busy / TICKS,
        }
    }

    pub fn minus(&self, before: &CpuUse) -> CpuUse {
        CpuUse {
            controller: self.controller - before.controller,
            apiserver: self.apiserver - before.apiserver,
            etcd: self.etcd - before.etcd,
            bench: self.bench - before.bench,
            machine: self.machine - before.machine,
        }
    }
}

/// The API server's own request counts (`apiserver_request_total`) by verb and resource.
pub struct ApiRequests(std::collections::BTreeMap<(String, String), f64>);

impl ApiRequests {
    pub async fn now(client: &Client) -> Self {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let text = client.request_text(request).await.unwrap_or_default();
        let mut counts = std::collections::BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                    .map_or("", |v| v.trim_end_matches('"'))
            };
            let resource = match label("subresource") {
                "" => label("resource").to_owned(),
                sub => format!("{}/{sub}", label("resource")),
            };
            if resource.is_empty() || label("verb") == "WATCH" {
                continue;
            }
            *counts
                .entry((label("verb").to_owned(), resource))
                .or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
        }
        ApiRequests(counts)
    }

    pub fn minus(&self, before: &ApiRequests) -> ApiRequests {
        ApiRequests(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - before.0.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect(),
        )
    }

    /// Requests in all.
    pub fn total(&self) -> f64 {
        self.0.values().sum()
    }

    /// `VERB resource n.nn` for each (verb, resource) with at least 0.01 request per object.
    pub fn per_object(&self, objects: usize) -> String {
        let shown: Vec<String> = self
            .0
            .iter()
            .map(|((verb, resource), count)| (verb, resource, count / objects as f64))
            .filter(|(_, _, each)| *each >= 0.01)
            .map(|(verb, resource, each)| format!("{verb} {resource} {each:.2}"))
            .collect();
        let total = self.total() / objects as f64;
        format!("{total:.2} in all: {}", shown.join(", "))
    }
}

/// User + system CPU seconds of process `pid` (`/proc/<pid>/stat` fields 14 and 15).
pub fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS
}

/// `count` RSA-4096 key pairs (generation takes a while: both cores).
pub async fn generate_keys(count: usize) -> Vec<KeyPair> {
    futures::stream::iter(0..count)
        .map(|_| tokio::task::spawn_blocking(|| KeyPair::generate(&KeyOptions::default()).unwrap()))
        .buffer_unordered(2)
        .try_collect()
        .await
        .unwrap()
}

/// Stores `pairs` as the controller's key Secrets in `namespace`, as it would have generated them.
pub async fn store_keys(client: &Client, namespace: &str, pairs: &[KeyPair]) {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    for pair in pairs {
        let secret = kseal_sealedsecrets::keys::key_secret(namespace, pair).unwrap();
        api.create(&PostParams::default(), &secret).await.unwrap();
    }
}

/// SealedSecret `s-{i}` with [`VALUES`] values ([`value`]), sealed with `keys[i % keys.len()]`, with
/// kseal's key hint annotation or (`kseal_hint` false) without, as kubeseal seals.
pub fn sealed(namespace: &str, i: usize, keys: &[PublicKey], kseal_hint: bool) -> SealedSecret {
    let secret = PlainSecret {
        metadata: ObjectMeta {
            name: Some(format!("s-{i}")),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: (0..VALUES)
            .map(|v| (format!("key-{v}"), value(i, v).into_bytes().into()))
            .collect(),
        ..PlainSecret::default()
    };
    let mut sealed = seal_secret(
        secret,
        &SealOptions {
            key: &keys[i % keys.len()],
            scope: None,
            allow_empty_data: false,
            default_namespace: namespace.to_owned(),
            namespace: None,
            name: None,
        },
    )
    .unwrap();
    if !kseal_hint {
        sealed
            .metadata
            .annotations
            .get_or_insert_default()
            .remove(annotations::KEY_HINT);
    }
    sealed
}

/// Seals (on the blocking pool) and creates SealedSecrets `range`.
pub async fn create_sealed(
    client: &Client,
    namespace: &str,
    range: std::ops::Range<usize>,
    keys: &[PublicKey],
    kseal_hint: bool,
) {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(range)
        .map(|i| {
            let (namespace, keys) = (namespace.to_owned(), keys.to_vec());
            tokio::task::spawn_blocking(move || sealed(&namespace, i, &keys, kseal_hint))
        })
        .buffered(CREATE_CONCURRENCY)
        .map(|sealed| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &sealed.unwrap())
                    .await
                    .expect("creating a SealedSecret")
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .for_each(|_| async {})
        .await;
}

/// The release controller: `KSEAL_CONTROLLER_BIN`, else `target/release/kseal-controller`.
pub fn controller_binary() -> PathBuf {
    let path = std::env::var_os("KSEAL_CONTROLLER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/kseal-controller"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} not found: run scripts/bench-unseal (it builds the release controller)",
        path.display()
    );
    path
}

/// The controller as a child process, watching one namespace that also holds its keys.
pub struct Controller {
    pub child: Child,
    addr: std::net::SocketAddr,
    _log: tempfile::NamedTempFile,
}

impl Controller {
    pub fn start(binary: &PathBuf, env: &TestEnv, namespace: &str) -> Self {
        Controller::start_on(binary, env, namespace, None)
    }

    /// Starts the controller, on the CPUs `cpus` (a `taskset` list) when given.
    pub fn start_on(binary: &PathBuf, env: &TestEnv, namespace: &str, cpus: Option<&str>) -> Self {
        let addr: std::net::SocketAddr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = match cpus {
            Some(cpus) => {
                let mut command = env.command("taskset");
                command.args(["--cpu-list", cpus]).arg(binary);
                command
            }
            None => env.command(binary),
        };
        let child = command
            .arg("--kubeconfig")
            .arg(env.kubeconfig_path())
            .args(["--namespace", namespace])
            .args(["--watch-namespace", namespace])
            .args(["--listen-addr", &addr.to_string()])
            // No metrics listener: tests run controllers side by side.
            .args(["--listen-metrics-addr", ""])
            // Every log line in one stream.
            .arg("--log-info-stdout=false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("starting the controller");
        Controller {
            child,
            addr,
            _log: log,
        }
    }

    /// Sends SIGTERM and waits for the exit (the Lease is released, so the next one leads at once).
    pub async fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the controller did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of a sample of `/metrics` (0 when absent).
    pub async fn metric(&mut self, series: &str) -> f64 {
        let body = loop {
            if let Some(body) = self.get("/metrics").await {
                break body;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the controller exited"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// The raw response to `GET path`, or `None` while nothing listens.
    pub async fn get(&self, path: &str) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        Some(response)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
