//! Side-by-side benchmark: kseal against the controllers users run today, on one test environment
//! (tests/env), the same key and the same inputs, one controller at a time. Prints a table
//! `figure | peer | kseal | kseal/peer` with each target beside it.
//!
//! Unseal (the sealed-secrets controller of the version `tests/env/versions` pins, built from its Go
//! module by `tests/env/build`; kseal's release controller):
//! - `KSEAL_BENCH_N` SealedSecrets × 5 values (default 1000), sealed once without kseal's key hint (as
//!   kubeseal seals them), one RSA-4096 key in sealed-secrets' layout that both adopt: time from the
//!   controller's start to all Secrets right, controller CPU-s, API server and etcd CPU-s, API requests
//!   per SealedSecret (the API server's own counters), peak RSS; the peer at its defaults and with its
//!   client-side rate limiter off (`--kubeclient-qps=-1`);
//! - a restart with everything in sync: CPU-s and time until the controller is idle;
//! - 12 active keys (`KSEAL_BENCH_KEYS_N` SealedSecrets, default 60, sealed with each key in turn):
//!   controller CPU-s per value (and kseal's RSA operations per value);
//! - RSS with `KSEAL_BENCH_RSS_N` SealedSecrets (default 10 000; 0 skips), the peer without its limiter.
//!
//! Sync (the External Secrets Operator of the version `tests/env/versions` pins, built from its Go
//! module by `tests/env/build eso`; kseal's release controller), in a private environment with ESO's
//! own CRDs (ESO v0.16 cannot run on kseal's; kseal's are applied over them for kseal's run, as a
//! migration does):
//! - `KSEAL_BENCH_SYNC_N` ExternalSecrets (default 1000) over `KSEAL_BENCH_SYNC_SECRETS` AWS secrets
//!   (default 100) at moto, `refreshInterval: 30s`: time from the controller's start to all Ready; then
//!   over `KSEAL_BENCH_SYNC_CYCLES` refresh cycles (default 2): AWS calls per cycle (counted at moto by
//!   access key), controller and API server CPU-s per cycle, API requests per refresh; RSS; ESO at its
//!   defaults (`--concurrent=1`) and with `--concurrent=8`;
//! - RSS with `KSEAL_BENCH_SYNC_RSS_N` ExternalSecrets (default 10 000; 0 skips), ESO with
//!   `--concurrent=8`.
//!
//! `KSEAL_BENCH_PEERS` picks the parts (default `unseal,sync`). Run it with `scripts/bench-peers`.

#[path = "common.rs"]
mod common;
#[path = "../eso/controller.rs"]
mod eso;
#[path = "../peer/controller.rs"]
mod peer;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    ApiRequests, CREATE_CONCURRENCY, Controller, CpuUse, IDLE_AFTER, VALUES, controller_binary,
    create_sealed, generate_keys, rss, store_keys,
};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kseal_crypto::PublicKey;
use kseal_testenv::TestEnv;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Active keys in the many-keys row.
const KEYS: usize = 12;
/// How long a controller may take to write every Secret before the benchmark fails.
const DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);
/// The peer's unseal counter (one per SealedSecret it decrypts).
const PEER_UNSEALS: &str = "sealed_secrets_controller_unseal_requests_total";
/// The peer's flag that switches its client-side rate limiter off.
const PEER_NO_LIMIT: &str = "--kubeclient-qps=-1";

fn main() {
    kseal_testenv::block_on(run());
}

async fn run() {
    let parts = std::env::var("KSEAL_BENCH_PEERS").unwrap_or_else(|_| "unseal,sync".to_owned());
    let mut table = Table::default();
    if parts.split(',').any(|p| p == "unseal") {
        let env = TestEnv::get().await;
        env.install_crds(&kseal_controller::crd::crds()).await;
        unseal(env, &mut table).await;
    }
    if parts.split(',').any(|p| p == "sync") {
        sync(&mut table).await;
    }
    table.print();
}

/// One measured run of a controller over `n` SealedSecrets.
#[derive(Debug, Clone)]
struct Run {
    seconds: f64,
    controller_cpu: f64,
    server_cpu: f64,
    requests_per_object: f64,
    /// Requests per SealedSecret by verb and resource.
    requests: String,
    peak_mib: f64,
}

impl Run {
    fn total_cpu(&self) -> f64 {
        self.controller_cpu + self.server_cpu
    }
}

/// Which controller a measurement runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// sealed-secrets at its defaults.
    Peer,
    /// sealed-secrets with its client-side rate limiter off.
    PeerNoLimit,
    Kseal,
}

/// A running controller of either kind.
enum Running {
    Peer(peer::Peer),
    Kseal(Controller),
}

impl Running {
    async fn start(who: Who, env: &TestEnv, client: &Client, namespace: &str) -> Running {
        match who {
            Who::Peer => Running::Peer(peer::start_peer(env, client, namespace, &[]).await),
            Who::PeerNoLimit => {
                Running::Peer(peer::start_peer(env, client, namespace, &[PEER_NO_LIMIT]).await)
            }
            Who::Kseal => Running::Kseal(Controller::start(&controller_binary(), env, namespace)),
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Running::Peer(peer) => peer.id(),
            Running::Kseal(controller) => controller.child.id(),
        }
    }

    /// SealedSecrets the controller has decrypted (peer) or reconciled (kseal) since it started.
    async fn handled(&mut self) -> f64 {
        match self {
            Running::Peer(peer) => peer_metric(peer.metrics, PEER_UNSEALS).await,
            Running::Kseal(controller) => controller.metric("kseal_unseal_runs_total").await,
        }
    }

    /// Waits until the controller handled `count` objects and its count stood still for
    /// [`IDLE_AFTER`]; returns when it last moved.
    async fn idle(&mut self, count: usize, started: Instant) -> Duration {
        let mut last = (self.handled().await, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.handled().await;
            if now != last.0 {
                last = (now, Instant::now());
            } else if now >= count as f64 && last.1.elapsed() >= IDLE_AFTER {
                return last.1 - started;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the controller did not finish"
            );
        }
    }

    async fn stop(self) {
        match self {
            Running::Peer(peer) => drop(peer),
            Running::Kseal(controller) => controller.stop().await,
        }
    }
}

/// A sample of the peer's `/metrics` (0 while it does not answer or lacks the series).
async fn peer_metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0.0;
    };
    let request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0.0;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
}

/// Measures `who` from its start until all `n` Secrets are right.
async fn measure(who: Who, env: &TestEnv, client: &Client, namespace: &str, n: usize) -> Run {
    let requests_before = ApiRequests::now(client).await;
    let started = Instant::now();
    let running = Running::start(who, env, client, namespace).await;
    let cpu_before = CpuUse::now(env, running.pid());
    secrets_right(client, namespace, 0..n).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = CpuUse::now(env, running.pid()).minus(&cpu_before);
    let requests = ApiRequests::now(client).await.minus(&requests_before);
    let peak_mib = rss(running.pid()).1;
    running.stop().await;
    Run {
        seconds,
        controller_cpu: cpu.controller,
        server_cpu: cpu.apiserver + cpu.etcd,
        requests_per_object: requests.total() / n as f64,
        requests: requests.per_object(n),
        peak_mib,
    }
}

/// The unseal rows.
async fn unseal(env: &TestEnv, table: &mut Table) {
    let n = kseal_testenv::env_count("KSEAL_BENCH_N", 1000);
    let keys_n = kseal_testenv::env_count("KSEAL_BENCH_KEYS_N", 60);
    let rss_n = kseal_testenv::env_count("KSEAL_BENCH_RSS_N", 10_000);
    let client = env.client().await;
    let peer_version = peer::peer_version();
    table.header(format!(
        "unseal: sealed-secrets controller {peer_version} (from its Go module) vs {}, RSA-4096, \
         {VALUES} values per SealedSecret, one controller at a time on one kube-apiserver",
        controller_binary().display()
    ));

    let namespace = env.namespace().await;
    let pair = generate_keys(1).await.remove(0);
    store_keys(&client, &namespace, std::slice::from_ref(&pair)).await;
    let public = [pair.certificate().public_key().clone()];
    eprintln!("creating {n} SealedSecrets × {VALUES} values…");
    create_sealed(&client, &namespace, 0..n, &public, false).await;

    // The peer at its defaults, then its restart with everything in sync.
    eprintln!("sealed-secrets at its defaults…");
    let peer = measure(Who::Peer, env, &client, &namespace, n).await;
    let peer_restart = restart(Who::Peer, env, &client, &namespace, n).await;
    delete_secrets(&client, &namespace, 0..n).await;
    eprintln!("sealed-secrets with {PEER_NO_LIMIT}…");
    let free = measure(Who::PeerNoLimit, env, &client, &namespace, n).await;
    delete_secrets(&client, &namespace, 0..n).await;
    eprintln!("kseal…");
    let kseal = measure(Who::Kseal, env, &client, &namespace, n).await;
    let kseal_restart = restart(Who::Kseal, env, &client, &namespace, n).await;

    let values = (n * VALUES) as f64;
    let rate = |run: &Run| values / run.seconds;
    table.row(
        format!("{n} SealedSecrets: values/s, start to all Secrets right"),
        &[(rate(&peer), "defaults"), (rate(&free), PEER_NO_LIMIT)],
        rate(&kseal),
        "≥ 10× the peer at its defaults, ≥ 2× without its limiter",
        Better::Higher,
    );
    table.row(
        "  seconds".to_owned(),
        &[(peer.seconds, "defaults"), (free.seconds, PEER_NO_LIMIT)],
        kseal.seconds,
        "",
        Better::Lower,
    );
    table.row(
        "  controller CPU-s".to_owned(),
        &[
            (peer.controller_cpu, "defaults"),
            (free.controller_cpu, PEER_NO_LIMIT),
        ],
        kseal.controller_cpu,
        "",
        Better::Lower,
    );
    table.row(
        "  kube-apiserver + etcd CPU-s".to_owned(),
        &[
            (peer.server_cpu, "defaults"),
            (free.server_cpu, PEER_NO_LIMIT),
        ],
        kseal.server_cpu,
        "",
        Better::Lower,
    );
    table.row(
        "  total CPU-s (controller + kube-apiserver + etcd)".to_owned(),
        &[
            (peer.total_cpu(), "defaults"),
            (free.total_cpu(), PEER_NO_LIMIT),
        ],
        kseal.total_cpu(),
        "≤ 1/3 of the peer's",
        Better::Lower,
    );
    table.row(
        "  API requests per SealedSecret (every client, this benchmark's watch included)"
            .to_owned(),
        &[
            (peer.requests_per_object, "defaults"),
            (free.requests_per_object, PEER_NO_LIMIT),
        ],
        kseal.requests_per_object,
        "",
        Better::Lower,
    );
    for (who, run) in [
        ("peer at its defaults", &peer),
        ("peer without limiter", &free),
        ("kseal", &kseal),
    ] {
        table.note(format!(
            "    requests per SealedSecret, {who}: {}",
            run.requests
        ));
    }
    table.row(
        "  peak RSS, MiB".to_owned(),
        &[(peer.peak_mib, "defaults"), (free.peak_mib, PEER_NO_LIMIT)],
        kseal.peak_mib,
        "",
        Better::Lower,
    );
    table.row(
        format!("restart with {n} in sync: controller CPU-s until idle"),
        &[(peer_restart.cpu, "defaults")],
        kseal_restart.cpu,
        "",
        Better::Lower,
    );
    table.row(
        "  seconds until idle".to_owned(),
        &[(peer_restart.seconds, "defaults")],
        kseal_restart.seconds,
        "",
        Better::Lower,
    );
    table.note(format!(
        "  restart: kseal made {:.0} RSA operations (target 0); the peer decrypted {:.0} SealedSecrets again",
        kseal_restart.rsa_operations, peer_restart.handled
    ));

    many_keys(env, &client, keys_n, table).await;
    if rss_n > 0 {
        memory(env, &client, &public, &pair, rss_n, table).await;
    }
}

/// A restart with everything in sync.
struct Restart {
    seconds: f64,
    cpu: f64,
    handled: f64,
    rsa_operations: f64,
}

async fn restart(who: Who, env: &TestEnv, client: &Client, namespace: &str, n: usize) -> Restart {
    let started = Instant::now();
    let mut running = Running::start(who, env, client, namespace).await;
    let cpu_before = CpuUse::now(env, running.pid());
    let seconds = running.idle(n, started).await.as_secs_f64();
    let cpu = CpuUse::now(env, running.pid())
        .minus(&cpu_before)
        .controller;
    let handled = running.handled().await;
    let rsa_operations = match &mut running {
        Running::Kseal(controller) => controller.metric("kseal_unseal_rsa_operations_total").await,
        Running::Peer(_) => handled * VALUES as f64,
    };
    running.stop().await;
    Restart {
        seconds,
        cpu,
        handled,
        rsa_operations,
    }
}

/// Twelve active keys: controller CPU-s per value (kseal: RSA operations per value too).
async fn many_keys(env: &TestEnv, client: &Client, count: usize, table: &mut Table) {
    let pairs = generate_keys(KEYS).await;
    let public: Vec<PublicKey> = pairs
        .iter()
        .map(|p| p.certificate().public_key().clone())
        .collect();
    let values = (count * VALUES) as f64;
    let namespace = env.namespace().await;
    store_keys(client, &namespace, &pairs).await;
    create_sealed(client, &namespace, 0..count, &public, false).await;
    let peer = measure(Who::PeerNoLimit, env, client, &namespace, count).await;
    delete_secrets(client, &namespace, 0..count).await;
    let started = Instant::now();
    let mut controller = Controller::start(&controller_binary(), env, &namespace);
    let before = CpuUse::now(env, controller.child.id());
    secrets_right(client, &namespace, 0..count).await;
    let kseal_cpu = CpuUse::now(env, controller.child.id())
        .minus(&before)
        .controller;
    let ops = controller.metric("kseal_unseal_rsa_operations_total").await;
    let seconds = started.elapsed().as_secs_f64();
    controller.stop().await;
    // The same Secrets sealed by the kseal CLI, which names the key in an annotation.
    let hinted = env.namespace().await;
    store_keys(client, &hinted, &pairs).await;
    create_sealed(client, &hinted, 0..count, &public, true).await;
    let mut controller = Controller::start(&controller_binary(), env, &hinted);
    secrets_right(client, &hinted, 0..count).await;
    let hinted_ops = controller.metric("kseal_unseal_rsa_operations_total").await;
    controller.stop().await;
    table.row(
        format!(
            "{KEYS} active keys, {count} SealedSecrets without hint: controller CPU-ms per value"
        ),
        &[(1000.0 * peer.controller_cpu / values, PEER_NO_LIMIT)],
        1000.0 * kseal_cpu / values,
        "",
        Better::Lower,
    );
    table.note(format!(
        "  {KEYS} keys: kseal {:.2} RSA operations per value as kubeseal seals (no key named; trying keys \
         in turn: {:.1}), {:.2} as the kseal CLI seals (target ≤ 1.1); peer {:.1} s, kseal {seconds:.1} s",
        ops / values,
        (KEYS as f64 + 1.0) / 2.0,
        hinted_ops / values,
        peer.seconds
    ));
}

/// RSS with `count` SealedSecrets: peak while unsealing and once idle.
async fn memory(
    env: &TestEnv,
    client: &Client,
    public: &[PublicKey],
    pair: &kseal_crypto::KeyPair,
    count: usize,
    table: &mut Table,
) {
    let namespace = env.namespace().await;
    store_keys(client, &namespace, std::slice::from_ref(pair)).await;
    eprintln!("creating {count} SealedSecrets × {VALUES} values…");
    create_sealed(client, &namespace, 0..count, public, false).await;
    let mut idle = Vec::new();
    let mut peaks = Vec::new();
    for who in [Who::PeerNoLimit, Who::Kseal] {
        let started = Instant::now();
        let mut running = Running::start(who, env, client, &namespace).await;
        secrets_right(client, &namespace, 0..count).await;
        running.idle(count, started).await;
        let (resident, peak) = rss(running.pid());
        idle.push(resident);
        peaks.push(peak);
        running.stop().await;
        if who == Who::PeerNoLimit {
            delete_secrets(client, &namespace, 0..count).await;
        }
    }
    table.row(
        format!("RSS with {count} SealedSecrets synced, idle, MiB"),
        &[(idle[0], PEER_NO_LIMIT)],
        idle[1],
        "below the peer's, and < 64 MiB",
        Better::Lower,
    );
    table.row(
        "  peak RSS while unsealing them, MiB".to_owned(),
        &[(peaks[0], PEER_NO_LIMIT)],
        peaks[1],
        "",
        Better::Lower,
    );
}

/// The refresh interval of the sync rows.
const REFRESH: Duration = Duration::from_secs(30);
/// ESO's `--concurrent` in its raised run.
const ESO_RAISED: u32 = 8;

/// One measured run of a sync controller.
struct SyncRun {
    to_ready: f64,
    calls_per_cycle: f64,
    controller_cpu_per_cycle: f64,
    server_cpu_per_cycle: f64,
    requests_per_refresh: f64,
    /// Requests per refresh by verb and resource.
    requests: String,
    rss_mib: f64,
}

/// A running sync controller of either kind.
enum Syncing {
    Eso(eso::Eso),
    Kseal(Controller),
}

impl Syncing {
    fn pid(&self) -> u32 {
        match self {
            Syncing::Eso(eso) => eso.id().expect("ESO runs"),
            Syncing::Kseal(controller) => controller.child.id(),
        }
    }

    async fn stop(self) {
        match self {
            Syncing::Eso(mut eso) => eso.kill(),
            Syncing::Kseal(controller) => controller.stop().await,
        }
    }
}

/// The sync rows.
async fn sync(table: &mut Table) {
    let n = kseal_testenv::env_count("KSEAL_BENCH_SYNC_N", 1000);
    let secrets = kseal_testenv::env_count("KSEAL_BENCH_SYNC_SECRETS", 100);
    let cycles = kseal_testenv::env_count("KSEAL_BENCH_SYNC_CYCLES", 2);
    let rss_n = kseal_testenv::env_count("KSEAL_BENCH_SYNC_RSS_N", 10_000);
    let env = TestEnv::isolated().await;
    let crds: Vec<_> = eso::ESO_CRDS
        .iter()
        .map(|file| eso::eso_crd(file))
        .collect();
    env.install_crds(&crds).await;
    let client = env.client().await;
    table.header(format!(
        "sync: External Secrets Operator {} (from its Go module; the newest the Go module proxy builds) vs \
         {}, {n} ExternalSecrets over {secrets} AWS secrets at moto, refreshInterval 30s",
        eso::eso_version(),
        controller_binary().display()
    ));
    let eso_default = sync_run(Some(1), &env, &client, n, secrets, cycles).await;
    let eso_raised = sync_run(Some(ESO_RAISED), &env, &client, n, secrets, cycles).await;
    // kseal's CRDs over ESO's, as a migration does.
    env.install_crds(&kseal_controller::crd::crds()).await;
    let kseal = sync_run(None, &env, &client, n, secrets, cycles).await;
    let raised = format!("--concurrent={ESO_RAISED}");
    let both = |f: fn(&SyncRun) -> f64| {
        [
            (f(&eso_default), "defaults"),
            (f(&eso_raised), raised.as_str()),
        ]
    };
    table.row(
        "seconds from start to all Ready".to_owned(),
        &both(|r| r.to_ready),
        kseal.to_ready,
        "",
        Better::Lower,
    );
    table.row(
        "AWS calls per 30 s cycle (at moto)".to_owned(),
        &both(|r| r.calls_per_cycle),
        kseal.calls_per_cycle,
        &format!("kseal ≤ ⌈{secrets}/20⌉ = {}", secrets.div_ceil(20)),
        Better::Lower,
    );
    table.row(
        "controller CPU-s per cycle".to_owned(),
        &both(|r| r.controller_cpu_per_cycle),
        kseal.controller_cpu_per_cycle,
        "",
        Better::Lower,
    );
    table.row(
        "kube-apiserver + etcd CPU-s per cycle".to_owned(),
        &both(|r| r.server_cpu_per_cycle),
        kseal.server_cpu_per_cycle,
        "below ESO's",
        Better::Lower,
    );
    table.row(
        "API requests per ExternalSecret and cycle, nothing changed (kseal refreshes each once)"
            .to_owned(),
        &both(|r| r.requests_per_refresh),
        kseal.requests_per_refresh,
        "≤ 1.5",
        Better::Lower,
    );
    for (who, run) in [
        ("ESO at its defaults", &eso_default),
        (&format!("ESO {raised}"), &eso_raised),
        ("kseal", &kseal),
    ] {
        table.note(format!(
            "    requests per ExternalSecret and cycle, {who}: {}",
            run.requests
        ));
    }
    table.row(
        format!("RSS with {n} ExternalSecrets, MiB"),
        &both(|r| r.rss_mib),
        kseal.rss_mib,
        "",
        Better::Lower,
    );
    table.note(format!(
        "  ESO refreshes each ExternalSecret with its own AWS call; at its defaults it keeps up with \
         {:.0} % of the {n} refreshes a cycle asks for",
        100.0 * eso_default.calls_per_cycle / n as f64
    ));
    if rss_n > 0 {
        let eso = sync_rss(Some(ESO_RAISED), &env, &client, rss_n, secrets).await;
        let kseal = sync_rss(None, &env, &client, rss_n, secrets).await;
        table.row(
            format!("RSS with {rss_n} ExternalSecrets Ready, MiB"),
            &[(eso, raised.as_str())],
            kseal,
            "below ESO's, and < 64 MiB",
            Better::Lower,
        );
    }
}

/// Sets up a namespace with `n` ExternalSecrets over `secrets` remote secrets of a moto account of its
/// own, and starts ESO (`Some(concurrent)`) or kseal on it.
async fn sync_setup(
    eso_concurrent: Option<u32>,
    env: &TestEnv,
    client: &Client,
    n: usize,
    secrets: usize,
) -> (String, kseal_testenv::AwsAccount, Syncing, Instant) {
    let namespace = env.namespace().await;
    let account = env.aws_account();
    let aws = account.secretsmanager_client().await;
    futures::stream::iter(0..secrets)
        .map(|i| {
            let aws = aws.clone();
            async move {
                aws.create_secret()
                    .name(format!("bench/secret-{i}"))
                    .secret_string(format!("value of secret {i}"))
                    .send()
                    .await
                    .expect("creating a remote secret");
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .for_each(|_| async {})
        .await;
    kseal_testenv::apply_yaml(
        client,
        &namespace,
        "bench",
        &account.static_key_store("aws"),
    )
    .await;
    let externals = external_secrets(client, &namespace);
    futures::stream::iter(0..n)
        .map(|i| {
            let externals = externals.clone();
            async move {
                let object: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
                    "apiVersion": "external-secrets.io/v1",
                    "kind": "ExternalSecret",
                    "metadata": {"name": format!("es-{i}")},
                    "spec": {
                        "refreshInterval": "30s",
                        "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
                        "target": {"name": format!("es-{i}")},
                        "data": [{"secretKey": "value", "remoteRef": {"key": format!("bench/secret-{}", i % secrets)}}],
                    }
                }))
                .unwrap();
                externals
                    .create(&Default::default(), &object)
                    .await
                    .expect("creating an ExternalSecret");
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .for_each(|_| async {})
        .await;
    let started = Instant::now();
    let running = match eso_concurrent {
        Some(concurrent) => Syncing::Eso(eso::Eso::start(
            env,
            &namespace,
            &format!("bench-eso-{namespace}"),
            concurrent,
        )),
        None => Syncing::Kseal(Controller::start(&controller_binary(), env, &namespace)),
    };
    (namespace, account, running, started)
}

fn external_secrets(client: &Client, namespace: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret");
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, "externalsecrets");
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Waits (watching) until `count` ExternalSecrets of `namespace` are Ready.
async fn all_ready(client: &Client, namespace: &str, count: usize) {
    let is_ready = |object: &kube::api::DynamicObject| {
        object.data["status"]["conditions"]
            .as_array()
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let api = external_secrets(client, namespace);
    until_count(api, count, is_ready, "ExternalSecrets Ready").await;
}

async fn sync_run(
    eso_concurrent: Option<u32>,
    env: &TestEnv,
    client: &Client,
    n: usize,
    secrets: usize,
    cycles: usize,
) -> SyncRun {
    eprintln!(
        "sync: {} over {n} ExternalSecrets…",
        eso_concurrent.map_or("kseal".to_owned(), |c| format!("ESO --concurrent={c}"))
    );
    let (namespace, account, running, started) =
        sync_setup(eso_concurrent, env, client, n, secrets).await;
    all_ready(client, &namespace, n).await;
    let to_ready = started.elapsed().as_secs_f64();
    // The steady state: whole refresh cycles with nothing changed.
    let calls_before = account.call_counts().await;
    let cpu_before = CpuUse::now(env, running.pid());
    let requests_before = ApiRequests::now(client).await;
    tokio::time::sleep(REFRESH * cycles as u32).await;
    let calls_after = account.call_counts().await;
    let cpu = CpuUse::now(env, running.pid()).minus(&cpu_before);
    let requests = ApiRequests::now(client).await.minus(&requests_before);
    let secrets_manager = |calls: &kseal_testenv::CallCounts| {
        [
            "GetSecretValue",
            "BatchGetSecretValue",
            "DescribeSecret",
            "ListSecrets",
        ]
        .iter()
        .map(|op| calls.get(*op).copied().unwrap_or(0))
        .sum::<u64>()
    };
    let calls = secrets_manager(&calls_after) - secrets_manager(&calls_before);
    let rss_mib = rss(running.pid()).0;
    running.stop().await;
    let whole = cycles;
    let cycles = cycles as f64;
    SyncRun {
        to_ready,
        calls_per_cycle: calls as f64 / cycles,
        controller_cpu_per_cycle: cpu.controller / cycles,
        server_cpu_per_cycle: (cpu.apiserver + cpu.etcd) / cycles,
        requests_per_refresh: requests.total() / (n as f64 * cycles),
        requests: requests.per_object(n * whole),
        rss_mib,
    }
}

/// RSS (MiB) of a sync controller once `n` ExternalSecrets are Ready.
async fn sync_rss(
    eso_concurrent: Option<u32>,
    env: &TestEnv,
    client: &Client,
    n: usize,
    secrets: usize,
) -> f64 {
    let (namespace, _, running, _) = sync_setup(eso_concurrent, env, client, n, secrets).await;
    all_ready(client, &namespace, n).await;
    let resident = rss(running.pid()).0;
    running.stop().await;
    resident
}

/// Waits (watching) until Secrets `s-{i}` for every `i` of `range` hold exactly their values.
async fn secrets_right(client: &Client, namespace: &str, range: std::ops::Range<usize>) {
    let count = range.len();
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let is_right = |secret: &Secret| {
        let Some(i) = secret
            .name_any()
            .strip_prefix("s-")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| range.contains(i))
        else {
            return false;
        };
        let data = secret.data.clone().unwrap_or_default();
        data.len() == VALUES
            && (0..VALUES).all(|v| {
                data.get(&format!("key-{v}"))
                    .is_some_and(|got| got.0 == common::value(i, v).as_bytes())
            })
    };
    until_count(api, count, is_right, "Secrets right").await;
}

/// Waits (watching `api`) until `count` of its objects pass `check` at once ([`DEADLINE`] at most).
async fn until_count<K>(api: Api<K>, count: usize, check: impl Fn(&K) -> bool, what: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut passing = HashSet::new();
    let events = watcher(api, watcher::Config::default());
    let mut events = std::pin::pin!(events);
    let wait = async {
        while passing.len() < count {
            match events.next().await {
                Some(Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object))) => {
                    if check(&object) {
                        passing.insert(object.name_any());
                    } else {
                        passing.remove(&object.name_any());
                    }
                }
                Some(Ok(watcher::Event::Delete(object))) => {
                    passing.remove(&object.name_any());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    eprintln!("watch error (retrying): {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => panic!("the watch ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("not all {count} {what} in {DEADLINE:?}"));
}

/// Deletes Secrets `s-{i}` of `range` and waits until they are gone (the next controller starts from
/// none).
async fn delete_secrets(client: &Client, namespace: &str, range: std::ops::Range<usize>) {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(range.clone())
        .map(|i| {
            let api = api.clone();
            async move {
                let _ = api.delete(&format!("s-{i}"), &Default::default()).await;
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .for_each(|_| async {})
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = api
            .list_metadata(&Default::default())
            .await
            .map(|list| {
                list.items
                    .iter()
                    .filter(|s| s.name_any().starts_with("s-"))
                    .count()
            })
            .unwrap_or(usize::MAX);
        if left == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{left} Secrets not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a larger figure is better (throughput) or a smaller one (time, CPU, memory).
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// The printed table.
#[derive(Default)]
struct Table {
    lines: Vec<String>,
}

impl Table {
    fn header(&mut self, text: String) {
        self.lines.push(String::new());
        self.lines.push(text);
        self.lines.push(format!(
            "  {:<78} | {:>12} | {:>10} | {:>10} | {}",
            "figure", "peer", "kseal", "kseal/peer", "target"
        ));
    }

    /// One figure: the peer's values (each with the configuration it ran in) beside kseal's.
    fn row(
        &mut self,
        figure: String,
        peers: &[(f64, &str)],
        kseal: f64,
        target: &str,
        better: Better,
    ) {
        for (index, (peer, how)) in peers.iter().enumerate() {
            let ratio = kseal / peer;
            let verdict = match better {
                Better::Higher if ratio >= 1.0 => format!("{ratio:.2}× (kseal faster)"),
                Better::Higher => format!("{ratio:.2}× (kseal SLOWER)"),
                Better::Lower if ratio <= 1.0 => format!("{ratio:.2}×"),
                Better::Lower => format!("{ratio:.2}× (kseal MORE)"),
            };
            let label = if index == 0 {
                figure.clone()
            } else {
                String::new()
            };
            self.lines.push(format!(
                "  {label:<78} | {peer:>12.2} | {kseal:>10.2} | {verdict:>10} | peer {how}{}",
                if index == 0 && !target.is_empty() {
                    format!("; target {target}")
                } else {
                    String::new()
                }
            ));
        }
    }

    fn note(&mut self, text: String) {
        self.lines.push(text);
    }

    fn print(&self) {
        for line in &self.lines {
            println!("{line}");
        }
    }
}
