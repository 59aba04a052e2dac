//! What the unseal benchmarks share: SealedSecrets to unseal, the controller's keys, and the CPU,
//! memory and API requests a measurement reads from `/proc` and the API server.

use futures::{StreamExt as _, TryStreamExt as _};
use kseal_api::{SealedSecret, annotations};
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{KeyOptions, KeyPair, PublicKey};
use kseal_testenv::TestEnv;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// Values per SealedSecret.
pub const VALUES: usize = 5;
/// Concurrent creates while setting up.
pub const CREATE_CONCURRENCY: usize = 16;

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

    /// `VERB resource n.nn` for each (verb, resource) with at least 0.01 request per object.
    pub fn per_object(&self, objects: usize) -> String {
        let shown: Vec<String> = self
            .0
            .iter()
            .map(|((verb, resource), count)| (verb, resource, count / objects as f64))
            .filter(|(_, _, each)| *each >= 0.01)
            .map(|(verb, resource, each)| format!("{verb} {resource} {each:.2}"))
            .collect();
        let total: f64 = self.0.values().sum::<f64>() / objects as f64;
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
