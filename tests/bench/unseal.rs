//! Unseal benchmark (issue 4): the real `kseal-controller` process (release build) against the
//! real API server, with RSA-4096 keys, the default. Prints from one run, each figure beside its target:
//!
//! 1. `KSEAL_BENCH_N` SealedSecrets × 5 values (default 1000) from no Secrets to all `Synced`, in values/s,
//!    beside 2 × the raw aws-lc-rs RSA-4096 OAEP decrypt rate of one core measured in this run (the
//!    machine's 2 cores); target ≥ 0.8×; then the same with the controller pinned to one core and everything
//!    else to the other, beside the raw rate of one core: the controller's share of the work when the API
//!    server does not take its CPU;
//! 2. RSA operations and time to ready after a controller restart with all of them synced; target 0;
//! 3. RSA operations per value with 12 active keys (`KSEAL_BENCH_KEYS_N` SealedSecrets, default 60): with
//!    the `kseal` key hint, without it, and without it after an update (the last key is remembered);
//!    target ≤ 1.1;
//! 4. the controller's RSS with `KSEAL_BENCH_RSS_N` SealedSecrets synced (default 10 000; 0 skips) and the
//!    external secret sync idle; target < 64 MiB.
//!
//! Run it with `scripts/bench-unseal` (starts the test environment, builds the release controller).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use futures::StreamExt as _;
use kseal_api::SealedSecret;
use kseal_crypto::PublicKey;
use kseal_testenv::TestEnv;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt as _};

/// Active keys in the key-hint measurement.
const KEYS: usize = 12;
/// Cores of the reference machine: the raw one-core rate is scaled by this.
const CORES: f64 = 2.0;
/// How long one raw decrypt-rate measurement runs.
const RAW_WINDOW: Duration = Duration::from_secs(4);
/// How long the controller may take to sync everything before the benchmark fails.
const SYNC_DEADLINE: Duration = Duration::from_secs(60 * 60);

#[path = "common.rs"]
mod common;
use common::{
    ApiRequests, CREATE_CONCURRENCY, Controller, CpuUse, IDLE_AFTER, VALUES, controller_binary,
    create_sealed, generate_keys, rss, sealed, store_keys,
};

fn main() {
    kseal_testenv::block_on(run());
}

async fn run() {
    let n = kseal_testenv::env_count("KSEAL_BENCH_N", 1000);
    let keys_n = kseal_testenv::env_count("KSEAL_BENCH_KEYS_N", 60);
    let rss_n = kseal_testenv::env_count("KSEAL_BENCH_RSS_N", 10_000);
    let binary = controller_binary();
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let client = env.client().await;
    eprintln!("controller binary: {}", binary.display());

    let raw = RawRate::new();
    let raw_before = raw.one_core().await;

    // 1. Throughput from no Secrets to all Synced.
    let namespace = env.namespace().await;
    let pair = generate_keys(1).await.remove(0);
    store_keys(&client, &namespace, std::slice::from_ref(&pair)).await;
    let public = [pair.certificate().public_key().clone()];
    eprintln!("creating {n} SealedSecrets × {VALUES} values…");
    create_sealed(&client, &namespace, 0..n, &public, true).await;
    let mut controller = Controller::start(&binary, env, &namespace);
    let cpu_before = CpuUse::now(env, controller.child.id());
    let requests_before = ApiRequests::now(&client).await;
    let started = Instant::now();
    controller.ready().await;
    let first_ready = started.elapsed();
    synced(&client, &namespace, n).await;
    let elapsed = started.elapsed();
    let cpu = CpuUse::now(env, controller.child.id()).minus(&cpu_before);
    let requests = ApiRequests::now(&client).await.minus(&requests_before);
    let first_ops = controller.metric("kseal_unseal_rsa_operations_total").await;
    let raw_after = raw.one_core().await;
    let raw_two_threads = raw.threads(2).await;
    let raw_rate = (raw_before + raw_after) / 2.0;
    let rate = (n * VALUES) as f64 / elapsed.as_secs_f64();
    let reference = CORES * raw_rate;
    let rss_small = rss(controller.child.id());
    println!();
    println!(
        "kseal unseal benchmark: RSA-4096 keys, real kube-apiserver, controller {}",
        binary.display()
    );
    println!(
        "  raw aws-lc-rs RSA-4096 OAEP decrypt, one core: {raw_rate:.0}/s ({raw_before:.0} before, {raw_after:.0} after); \
         2 threads measured: {raw_two_threads:.0}/s"
    );
    println!(
        "  {n} SealedSecrets × {VALUES} values, no Secrets to all Synced: {:.2} s = {rate:.0} values/s \
         vs 2 × raw = {reference:.0}/s: {:.2}× (target >= 0.8×); {first_ops:.0} RSA operations; \
         the controller process was ready after {:.2} s",
        elapsed.as_secs_f64(),
        rate / reference,
        first_ready.as_secs_f64()
    );

    println!(
        "    CPU used meanwhile, of {:.1} core-s: controller {:.1} s (its {first_ops:.0} RSA operations alone \
         ≈ {:.1} s at the raw rate), kube-apiserver {:.1} s, etcd {:.1} s, this benchmark {:.1} s, \
         other processes {:.1} s",
        CORES * elapsed.as_secs_f64(),
        cpu.controller,
        first_ops / raw_rate,
        cpu.apiserver,
        cpu.etcd,
        cpu.bench,
        cpu.machine - cpu.controller - cpu.apiserver - cpu.etcd - cpu.bench
    );

    println!(
        "    API requests meanwhile (every client, this benchmark's watch included), per SealedSecret: {}",
        requests.per_object(n)
    );

    // 2. A restart with everything in sync.
    controller.stop().await;
    let mut controller = Controller::start(&binary, env, &namespace);
    let started = Instant::now();
    controller.ready().await;
    let to_ready = started.elapsed();
    controller.reconciled(n).await;
    let to_reconciled = started.elapsed();
    let ops = controller.metric("kseal_unseal_rsa_operations_total").await;
    println!(
        "  restart with {n} synced: {ops:.0} RSA operations (target 0; sealed-secrets decrypts all {} values again); \
         ready after {:.2} s, all {n} reconciled after {:.2} s",
        n * VALUES,
        to_ready.as_secs_f64(),
        to_reconciled.as_secs_f64()
    );
    controller.stop().await;

    // 1b. The same with the controller on a core of its own: how much of one core's raw rate it turns into
    // unsealed values when the API server does not take its CPU (the machine has no third core, so the
    // API server, etcd and this benchmark share the other one).
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        let namespace = env.namespace().await;
        store_keys(&client, &namespace, std::slice::from_ref(&pair)).await;
        create_sealed(&client, &namespace, 0..n, &public, true).await;
        let pinned = Pinned::new(env);
        let controller = Controller::start_on(&binary, env, &namespace, Some(CONTROLLER_CPU));
        let started = Instant::now();
        synced(&client, &namespace, n).await;
        let elapsed = started.elapsed();
        drop(pinned);
        let rate = (n * VALUES) as f64 / elapsed.as_secs_f64();
        println!(
            "  on a core of its own (controller on CPU {CONTROLLER_CPU}; kube-apiserver, etcd and this benchmark \
             on CPU {OTHERS_CPU}): {n} SealedSecrets × {VALUES} values in {:.2} s = {rate:.0} values/s vs raw \
             one core = {raw_rate:.0}/s: {:.2}× (the ratio the target asks of 2 cores, with 1)",
            elapsed.as_secs_f64(),
            rate / raw_rate
        );
        controller.stop().await;
    }

    // 3. Twelve active keys.
    key_hints(&client, env, &binary, keys_n).await;

    // 4. Memory.
    println!(
        "  controller RSS with {n} SealedSecrets synced: {:.1} MiB (peak {:.1} MiB); target < 64 MiB at 10 000",
        rss_small.0, rss_small.1
    );
    if rss_n > 0 {
        let namespace = env.namespace().await;
        store_keys(&client, &namespace, std::slice::from_ref(&pair)).await;
        eprintln!("creating {rss_n} SealedSecrets × {VALUES} values…");
        let setup = Instant::now();
        create_sealed(&client, &namespace, 0..rss_n, &public, true).await;
        eprintln!("created in {:.0} s", setup.elapsed().as_secs_f64());
        let mut controller = Controller::start(&binary, env, &namespace);
        let started = Instant::now();
        synced(&client, &namespace, rss_n).await;
        let to_synced = started.elapsed();
        controller.idle().await;
        let (resident, peak) = rss(controller.child.id());
        println!(
            "  controller RSS with {rss_n} SealedSecrets synced, idle: {resident:.1} MiB (peak {peak:.1} MiB while \
             unsealing; synced in {:.0} s); target < 64 MiB",
            to_synced.as_secs_f64()
        );
        controller.stop().await;
        // The steady state after any restart: caches only, nothing to decrypt.
        let mut controller = Controller::start(&binary, env, &namespace);
        controller.reconciled(rss_n).await;
        controller.idle().await;
        let (resident, peak) = rss(controller.child.id());
        println!(
            "  controller RSS with {rss_n} SealedSecrets synced, after a restart, idle: {resident:.1} MiB \
             (peak {peak:.1} MiB); target < 64 MiB"
        );
        controller.stop().await;
    }
}

/// The CPU the pinned controller runs on, and the one everything else shares meanwhile.
const CONTROLLER_CPU: &str = "1";
const OTHERS_CPU: &str = "0";

/// kube-apiserver, etcd and this process pinned to [`OTHERS_CPU`] while it lives; back on every CPU (a
/// `taskset` list) after.
struct Pinned(Vec<u32>, String);

impl Pinned {
    fn new(env: &TestEnv) -> Self {
        let pids: Vec<u32> = ["apiserver", "etcd"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(env.dir().join(format!("{name}.pid"))).ok())
            .filter_map(|pid| pid.trim().parse().ok())
            .chain([std::process::id()])
            .collect();
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let all = format!("0-{}", all.saturating_sub(1));
        Pinned::set(&pids, OTHERS_CPU);
        Pinned(pids, all)
    }

    /// Sets the CPU list of every thread of `pids`.
    fn set(pids: &[u32], cpus: &str) {
        for pid in pids {
            let status = Command::new("taskset")
                .args(["--all-tasks", "--pid", "--cpu-list", cpus, &pid.to_string()])
                .stdout(Stdio::null())
                .status()
                .expect("taskset (util-linux) runs");
            assert!(status.success(), "taskset {cpus} {pid} failed");
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        Pinned::set(&self.0, &self.1);
    }
}

/// RSA operations per value with [`KEYS`] active keys and SealedSecrets sealed with each in turn.
async fn key_hints(client: &Client, env: &TestEnv, binary: &PathBuf, count: usize) {
    let pairs = generate_keys(KEYS).await;
    let public: Vec<PublicKey> = pairs
        .iter()
        .map(|p| p.certificate().public_key().clone())
        .collect();
    let values = (count * VALUES) as f64;
    let mut results = Vec::new();
    for hint in [Hint::Kseal, Hint::None] {
        let namespace = env.namespace().await;
        store_keys(client, &namespace, &pairs).await;
        create_sealed(client, &namespace, 0..count, &public, hint == Hint::Kseal).await;
        let mut controller = Controller::start(binary, env, &namespace);
        synced(client, &namespace, count).await;
        let first = controller.metric("kseal_unseal_rsa_operations_total").await;
        results.push((hint, first / values));
        if hint == Hint::None {
            // Sealed again with the same keys (new ciphertext, new generation): the key that opened each
            // object last is tried first.
            update_sealed(client, &namespace, count, &public).await;
            synced(client, &namespace, count).await;
            let second = controller.metric("kseal_unseal_rsa_operations_total").await;
            results.push((Hint::Remembered, (second - first) / values));
        }
        controller.stop().await;
    }
    let naive = (KEYS as f64 + 1.0) / 2.0;
    for (hint, per_value) in results {
        let target = match hint {
            Hint::None => "no target: nothing tells which key sealed it",
            Hint::Kseal | Hint::Remembered => "target <= 1.1",
        };
        println!(
            "  {KEYS} active keys, {count} SealedSecrets × {VALUES} values, {}: {per_value:.2} RSA operations per value \
             ({target}; trying the keys in turn: ({KEYS}+1)/2 = {naive:.1})",
            hint.describe()
        );
    }
}

/// Whether a SealedSecret carries `kseal`'s key-hint annotation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hint {
    /// As `kseal` seals: the sealing key's fingerprint annotated.
    Kseal,
    /// As `kubeseal` seals: no hint.
    None,
    /// No hint, but unsealed before: the controller remembers the key.
    Remembered,
}

impl Hint {
    fn describe(self) -> &'static str {
        match self {
            Hint::Kseal => "with the kseal key hint",
            Hint::None => "without hint (kubeseal), first unseal",
            Hint::Remembered => "without hint, after an update (last key remembered)",
        }
    }
}

/// The raw aws-lc-rs RSA-4096 OAEP decrypt the controller's unsealing is built on, as
/// `crates/kseal-crypto/benches/decrypt.rs` measures it.
struct RawRate {
    key: std::sync::Arc<OaepPrivateDecryptingKey>,
    ciphertext: std::sync::Arc<Vec<u8>>,
}

/// Label of the raw ciphertext (any bytes: OAEP binds it).
const RAW_LABEL: &[u8] = b"production/myapp-secret";

impl RawRate {
    fn new() -> Self {
        let raw = PrivateDecryptingKey::generate(KeySize::Rsa4096).unwrap();
        let public = OaepPublicEncryptingKey::new(raw.public_key()).unwrap();
        let mut ciphertext = vec![0u8; public.ciphertext_size()];
        public
            .encrypt(
                &OAEP_SHA256_MGF1SHA256,
                &[7u8; 32],
                &mut ciphertext,
                Some(RAW_LABEL),
            )
            .unwrap();
        RawRate {
            key: std::sync::Arc::new(OaepPrivateDecryptingKey::new(raw).unwrap()),
            ciphertext: std::sync::Arc::new(ciphertext),
        }
    }

    /// Decrypts per second on one thread.
    async fn one_core(&self) -> f64 {
        self.threads(1).await
    }

    /// Decrypts per second of `threads` threads together.
    async fn threads(&self, threads: usize) -> f64 {
        let done = std::sync::Arc::new(AtomicU64::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (key, ciphertext) = (self.key.clone(), self.ciphertext.clone());
                let (done, stop) = (done.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut out = vec![0u8; key.min_output_size()];
                    while !stop.load(Ordering::Relaxed) {
                        key.decrypt(
                            &OAEP_SHA256_MGF1SHA256,
                            std::hint::black_box(&ciphertext),
                            &mut out,
                            Some(RAW_LABEL),
                        )
                        .unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        tokio::time::sleep(RAW_WINDOW).await;
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().unwrap();
        }
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    }
}

/// Replaces the `encryptedData` of SealedSecrets `0..count` by a fresh sealing (no hint).
async fn update_sealed(client: &Client, namespace: &str, count: usize, keys: &[PublicKey]) {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let fresh = sealed(namespace, i, keys, false);
            async move {
                let patch =
                    serde_json::json!({ "spec": { "encryptedData": fresh.spec.encrypted_data } });
                api.patch(
                    &fresh.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .expect("updating a SealedSecret")
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .for_each(|_| async {})
        .await;
}

/// Waits (watching) until `count` SealedSecrets of `namespace` are `Synced` for their current generation.
async fn synced(client: &Client, namespace: &str, count: usize) {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), namespace);
    let mut done = HashSet::new();
    let events = watcher(api, watcher::Config::default());
    let mut events = std::pin::pin!(events);
    let wait = async {
        while done.len() < count {
            let event = match events.next().await {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    eprintln!("watch error (retrying): {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                None => panic!("the watch ended"),
            };
            match event {
                watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                    if is_synced(&object) {
                        done.insert(object.name_any());
                    } else {
                        done.remove(&object.name_any());
                    }
                }
                watcher::Event::Delete(object) => {
                    done.remove(&object.name_any());
                }
                watcher::Event::Init | watcher::Event::InitDone => {}
            }
        }
    };
    tokio::time::timeout(SYNC_DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("not all {count} SealedSecrets synced in {SYNC_DEADLINE:?}"));
}

fn is_synced(sealed: &SealedSecret) -> bool {
    sealed.status.as_ref().is_some_and(|status| {
        status.observed_generation == sealed.metadata.generation
            && status
                .conditions
                .iter()
                .any(|c| c.type_ == "Synced" && c.status == "True")
    })
}

/// What only this benchmark asks of the controller.
impl Controller {
    /// Waits until `/readyz` answers 200.
    pub async fn ready(&mut self) {
        loop {
            if self
                .get("/readyz")
                .await
                .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
            {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the controller exited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the controller has reconciled at least `count` SealedSecrets.
    pub async fn reconciled(&mut self, count: usize) {
        while self.metric("kseal_unseal_runs_total").await < count as f64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the reconcile count stops moving for [`IDLE_AFTER`].
    pub async fn idle(&mut self) {
        let mut last = (self.metric("kseal_unseal_runs_total").await, Instant::now());
        while last.1.elapsed() < IDLE_AFTER {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let runs = self.metric("kseal_unseal_runs_total").await;
            if runs != last.0 {
                last = (runs, Instant::now());
            }
        }
    }
}
