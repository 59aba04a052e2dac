//! Sync benchmark (issue 5): the real `kseal-controller` process against the real API server and moto.
//!
//! Prints, from one run:
//! 1. AWS calls per refresh cycle for `KSEAL_BENCH_ES` ExternalSecrets (default 1000) over
//!    `KSEAL_BENCH_REMOTE` distinct remote secrets (default 100), next to the target (≤ 10 plus
//!    credential calls) and to what ESO makes (one GetSecretValue per ExternalSecret and key);
//! 2. the time from creating them to all `Ready`;
//! 3. the same for a Parameter Store store: `KSEAL_BENCH_PS_ES` ExternalSecrets (default 1000) over
//!    `KSEAL_BENCH_PS_REMOTE` parameters (default 100), calls per cycle next to the target
//!    (≤ ⌈parameters / 10⌉, GetParameters takes 10 names) and to ESO (one GetParameter per
//!    ExternalSecret and key); `KSEAL_BENCH_PS_ES=0` skips it;
//! 4. the controller's RSS with `KSEAL_BENCH_RSS_ES` ExternalSecrets synced (default 10 000; target
//!    < 64 MiB together with the SealedSecret work);
//! 5. a ClusterExternalSecret over `KSEAL_BENCH_CES_NS` namespaces (default 200) whose ExternalSecrets
//!    read `KSEAL_BENCH_CES_REMOTE` remote secrets each (default 20) from one ClusterSecretStore, with
//!    a controller that watches every namespace: AWS calls per refresh cycle next to the target
//!    (⌈remote secrets / 20⌉ batches) and to ESO (one GetSecretValue per namespace and key), time from
//!    creating it to all Ready, RSS; `KSEAL_BENCH_CES_NS=0` skips it.
//!
//! Run it with `scripts/bench-sync` (builds the release controller, starts the test environment).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt as _;
use kseal_api::external_secrets::ExternalSecret;
use kseal_testenv::{AwsAccount, TestEnv};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

const INTERVAL: Duration = Duration::from_secs(30);

fn main() {
    kseal_testenv::block_on(run());
}

async fn run() {
    let externals = kseal_testenv::env_count("KSEAL_BENCH_ES", 1000);
    let remotes = kseal_testenv::env_count("KSEAL_BENCH_REMOTE", 100);
    let rss_externals = kseal_testenv::env_count("KSEAL_BENCH_RSS_ES", 10_000);
    let ps_externals = kseal_testenv::env_count("KSEAL_BENCH_PS_ES", 1000);
    let ps_remotes = kseal_testenv::env_count("KSEAL_BENCH_PS_REMOTE", 100);
    let ces_namespaces = kseal_testenv::env_count("KSEAL_BENCH_CES_NS", 200);
    let ces_remotes = kseal_testenv::env_count("KSEAL_BENCH_CES_REMOTE", 20);
    let binary = std::env::var("KSEAL_CONTROLLER_BIN").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/release/kseal-controller"
        )
        .to_owned()
    });

    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let client = env.client().await;
    let namespace = env.namespace().await;
    let account = env.aws_account();

    let secrets = account.secretsmanager_client().await;
    for i in 0..remotes {
        secrets
            .create_secret()
            .name(format!("bench/{i}"))
            .secret_string(format!("{{\"password\":\"value-{i}\"}}"))
            .send()
            .await
            .expect("creating a remote secret at moto");
    }
    create_store(&client, &namespace, &account, "bench", "SecretsManager").await;

    let mut controller = Controller::start(&binary, env, &namespace, Some(&namespace), &account);
    eprintln!("controller: {binary} (pid {})", controller.child.id());

    let (sm_api, sm_ours) = family_of(&client, &namespace, &SM);
    let (ps_api, ps_ours) = family_of(&client, &namespace, &PS);
    // 1 + 2: creation to all Ready, then calls per cycle.
    let started = Instant::now();
    create_external_secrets(&client, &namespace, &SM, 0..externals, remotes, INTERVAL).await;
    let created = started.elapsed();
    all_ready(&sm_api, &sm_ours, externals, SystemTime::UNIX_EPOCH).await;
    let ready = started.elapsed();
    // One whole refresh cycle, between two points where every object has just refreshed.
    let once = all_ready(&sm_api, &sm_ours, externals, SystemTime::now()).await;
    let before = reads(&account, &SM).await;
    all_ready(&sm_api, &sm_ours, externals, once + Duration::from_secs(1)).await;
    let after = reads(&account, &SM).await;
    let calls = (after.0 - before.0) + (after.1 - before.1);
    let per_cycle = calls as f64;
    let cycles = 1;
    let minimum = remotes.div_ceil(20);

    println!(
        "kseal sync benchmark ({externals} ExternalSecrets over {remotes} remote secrets, refresh {}s)",
        INTERVAL.as_secs()
    );
    println!(
        "  AWS calls per refresh cycle: {per_cycle:.1} ({calls} calls in {cycles} cycles: {} BatchGetSecretValue, {} GetSecretValue); target <= 10, minimum ceil({remotes}/20) = {minimum}; ESO: {externals} GetSecretValue",
        after.0 - before.0,
        after.1 - before.1
    );
    println!(
        "  creation to all Ready: {:.1} s (creating took {:.1} s) = {:.0} ExternalSecrets/s",
        ready.as_secs_f64(),
        created.as_secs_f64(),
        externals as f64 / ready.as_secs_f64()
    );

    // 3: the same through a Parameter Store store.
    if ps_externals > 0 {
        let parameters = account.ssm_client().await;
        for i in 0..ps_remotes {
            parameters
                .put_parameter()
                .name(format!("/bench/{i}"))
                .value(format!("{{\"password\":\"value-{i}\"}}"))
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("creating a parameter at moto");
        }
        create_store(&client, &namespace, &account, "bench-ps", "ParameterStore").await;
        let started = Instant::now();
        create_external_secrets(
            &client,
            &namespace,
            &PS,
            0..ps_externals,
            ps_remotes,
            INTERVAL,
        )
        .await;
        all_ready(&ps_api, &ps_ours, ps_externals, SystemTime::UNIX_EPOCH).await;
        let ready = started.elapsed();
        let once = all_ready(&ps_api, &ps_ours, ps_externals, SystemTime::now()).await;
        let before = reads(&account, &PS).await;
        all_ready(
            &ps_api,
            &ps_ours,
            ps_externals,
            once + Duration::from_secs(1),
        )
        .await;
        let after = reads(&account, &PS).await;
        println!(
            "  Parameter Store ({ps_externals} ExternalSecrets over {ps_remotes} parameters): AWS calls per refresh cycle: {} GetParameters, {} GetParameter; target <= ceil({ps_remotes}/10) = {}; ESO: {ps_externals} GetParameter; creation to all Ready {:.1} s",
            after.0 - before.0,
            after.1 - before.1,
            ps_remotes.div_ceil(10),
            ready.as_secs_f64()
        );
    }

    // 4: RSS with many ExternalSecrets synced, refresh 1h so the sync is idle when measured.
    if rss_externals > externals {
        let started = Instant::now();
        create_external_secrets(
            &client,
            &namespace,
            &SM,
            externals..rss_externals,
            remotes,
            Duration::from_secs(3600),
        )
        .await;
        all_ready(&sm_api, &sm_ours, rss_externals, SystemTime::UNIX_EPOCH).await;
        eprintln!(
            "{rss_externals} ExternalSecrets Ready after {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    // Idle: let the last status writes settle before reading the RSS.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = controller.rss_kib();
    println!(
        "  controller RSS with {} ExternalSecrets synced: {:.1} MiB; target < 64 MiB",
        rss_externals.max(externals) + ps_externals,
        rss as f64 / 1024.0
    );
    controller.stop();

    if ces_namespaces > 0 {
        cluster_external_secret(&binary, env, &namespace, ces_namespaces, ces_remotes).await;
    }
}

/// 5: one ClusterExternalSecret fanned out to `namespaces` namespaces, each ExternalSecret reading
/// `remotes` remote secrets of a fresh moto account through one ClusterSecretStore.
async fn cluster_external_secret(
    binary: &str,
    env: &TestEnv,
    namespace: &str,
    namespaces: usize,
    remotes: usize,
) {
    let client = env.client().await;
    // The earlier ExternalSecrets would refresh too once every namespace is watched.
    let earlier: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    earlier
        .delete_collection(&Default::default(), &ListParams::default())
        .await
        .expect("deleting the earlier ExternalSecrets");
    let account = env.aws_account();
    let secrets = account.secretsmanager_client().await;
    for i in 0..remotes {
        secrets
            .create_secret()
            .name(format!("ces/{i}"))
            .secret_string(format!("value-{i}"))
            .send()
            .await
            .expect("creating a remote secret at moto");
    }
    let name = format!("{namespace}-ces");
    let credentials = format!("{name}-credentials");
    create_credentials(&client, namespace, &account, &credentials).await;
    let store = serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
        "metadata": {"name": name},
        "spec": {"provider": {"aws": {
            "service": "SecretsManager", "region": "us-east-1",
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": credentials, "namespace": namespace, "key": "access-key"},
                "secretAccessKeySecretRef": {"name": credentials, "namespace": namespace, "key": "secret-key"},
            }}
        }}}
    });
    Api::<kseal_api::external_secrets::ClusterSecretStore>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(store).unwrap(),
        )
        .await
        .expect("creating the ClusterSecretStore");
    let namespaces_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    futures::stream::iter(0..namespaces)
        .map(|i| {
            let api = namespaces_api.clone();
            let labels = serde_json::json!({"kseal-bench-ces": name});
            let name = format!("{name}-{i}");
            async move {
                let created = serde_json::json!({"metadata": {"name": name, "labels": labels}});
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(created).unwrap(),
                )
                .await
                .expect("creating a namespace");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;

    let mut controller = Controller::start(binary, env, namespace, None, &account);
    let data: Vec<serde_json::Value> = (0..remotes)
        .map(|i| serde_json::json!({"secretKey": format!("key-{i}"), "remoteRef": {"key": format!("ces/{i}")}}))
        .collect();
    let ces = serde_json::json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
        "metadata": {"name": name},
        "spec": {
            "externalSecretName": "ces-bench",
            "namespaceSelectors": [{"matchLabels": {"kseal-bench-ces": name}}],
            "externalSecretSpec": {
                "refreshInterval": format!("{}s", INTERVAL.as_secs()),
                "secretStoreRef": {"name": name, "kind": "ClusterSecretStore"},
                "data": data,
            }
        }
    });
    let started = Instant::now();
    let cluster_api: Api<kseal_api::external_secrets::ClusterExternalSecret> =
        Api::all(client.clone());
    cluster_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(ces).unwrap(),
        )
        .await
        .expect("creating the ClusterExternalSecret");
    let fanned: Api<ExternalSecret> = Api::all(client.clone());
    let ours = |es: &ExternalSecret| {
        es.metadata.name.as_deref() == Some("ces-bench")
            && es
                .metadata
                .namespace
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("{name}-")))
    };
    all_ready(&fanned, &ours, namespaces, SystemTime::UNIX_EPOCH).await;
    let ready = started.elapsed();
    let once = all_ready(&fanned, &ours, namespaces, SystemTime::now()).await;
    let before = reads(&account, &SM).await;
    all_ready(&fanned, &ours, namespaces, once + Duration::from_secs(1)).await;
    let after = reads(&account, &SM).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = controller.rss_kib();
    println!(
        "  ClusterExternalSecret over {namespaces} namespaces x {remotes} remote secrets: AWS calls per refresh cycle: {} BatchGetSecretValue, {} GetSecretValue; target ceil({remotes}/20) = {}; ESO: {} GetSecretValue; creation to all Ready {:.1} s; controller RSS {:.1} MiB",
        after.0 - before.0,
        after.1 - before.1,
        remotes.div_ceil(20),
        namespaces * remotes,
        ready.as_secs_f64(),
        rss as f64 / 1024.0
    );
    controller.stop();
    cluster_api
        .delete(&name, &Default::default())
        .await
        .expect("deleting the ClusterExternalSecret");
    for i in 0..namespaces {
        let _ = namespaces_api
            .delete(&format!("{name}-{i}"), &Default::default())
            .await;
    }
    let _ = Api::<kseal_api::external_secrets::ClusterSecretStore>::all(client)
        .delete(&name, &Default::default())
        .await;
}

/// One store's ExternalSecrets: their names, the store and the remote key of the `i`-th.
struct Family {
    prefix: &'static str,
    store: &'static str,
    key: fn(usize) -> String,
    /// The (batch, single) read operations, counted at moto.
    operations: (&'static str, &'static str),
}

/// The Secrets Manager ExternalSecrets.
const SM: Family = Family {
    prefix: "es-",
    store: "bench",
    key: |i| format!("bench/{i}"),
    operations: ("BatchGetSecretValue", "GetSecretValue"),
};

/// The Parameter Store ExternalSecrets.
const PS: Family = Family {
    prefix: "ps-",
    store: "bench-ps",
    key: |i| format!("/bench/{i}"),
    operations: ("GetParameters", "GetParameter"),
};

async fn create_store(
    client: &Client,
    namespace: &str,
    account: &AwsAccount,
    name: &str,
    service: &str,
) {
    create_credentials(client, namespace, account, &format!("{name}-credentials")).await;
    let store: kseal_api::external_secrets::SecretStore =
        serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"provider": {"aws": {
                "service": service, "region": "us-east-1",
                "auth": {"secretRef": {
                    "accessKeyIDSecretRef": {"name": format!("{name}-credentials"), "key": "access-key"},
                    "secretAccessKeySecretRef": {"name": format!("{name}-credentials"), "key": "secret-key"},
                }}
            }}}
        }))
        .unwrap();
    Api::<kseal_api::external_secrets::SecretStore>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &store)
        .await
        .expect("creating the SecretStore");
}

/// Secret `name` of `namespace` with `account`'s static keys (`access-key`, `secret-key`).
async fn create_credentials(client: &Client, namespace: &str, account: &AwsAccount, name: &str) {
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "stringData": {
            "access-key": account.access_key_id(),
            "secret-key": account.secret_access_key(),
        }
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("creating the credentials Secret");
}

async fn create_external_secrets(
    client: &Client,
    namespace: &str,
    family: &Family,
    range: std::ops::Range<usize>,
    remotes: usize,
    interval: Duration,
) {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(range)
        .map(|i| {
            let api = api.clone();
            async move {
                let es: ExternalSecret = serde_json::from_value(serde_json::json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": format!("{}{i}", family.prefix)},
                    "spec": {
                        "refreshInterval": format!("{}s", interval.as_secs()),
                        "secretStoreRef": {"name": family.store},
                        "data": [{"secretKey": "password",
                                  "remoteRef": {"key": (family.key)(i % remotes), "property": "password"}}]
                    }
                }))
                .unwrap();
                api.create(&PostParams::default(), &es)
                    .await
                    .expect("creating an ExternalSecret");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// Waits until `count` ExternalSecrets of `api` that `ours` accepts are Ready and refreshed at or after
/// `since`; returns the latest refresh time.
async fn all_ready(
    api: &Api<ExternalSecret>,
    ours: &dyn Fn(&ExternalSecret) -> bool,
    count: usize,
    since: SystemTime,
) -> SystemTime {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let list = api
            .list(&ListParams::default())
            .await
            .expect("listing ExternalSecrets");
        let times: Vec<SystemTime> = list
            .items
            .iter()
            .filter(|es| ours(es))
            .filter_map(|es| {
                let status = es.status.as_ref()?;
                let ready = status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                ready.then_some(())?;
                status.refresh_time.as_ref().map(|t| SystemTime::from(t.0))
            })
            .filter(|t| *t >= since)
            .collect();
        if times.len() >= count {
            return times.into_iter().max().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} ExternalSecrets ready",
            times.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The ExternalSecrets of `family` in `namespace`.
fn family_of<'a>(
    client: &Client,
    namespace: &str,
    family: &'a Family,
) -> (Api<ExternalSecret>, impl Fn(&ExternalSecret) -> bool + 'a) {
    let api = Api::namespaced(client.clone(), namespace);
    let ours = |es: &ExternalSecret| {
        es.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with(family.prefix))
    };
    (api, ours)
}

/// The (batch, single) read calls of `family`'s service, counted at moto.
async fn reads(account: &AwsAccount, family: &Family) -> (u64, u64) {
    let calls: BTreeMap<String, u64> = account.call_counts().await;
    (
        calls.get(family.operations.0).copied().unwrap_or(0),
        calls.get(family.operations.1).copied().unwrap_or(0),
    )
}

/// The controller as a child process.
struct Controller {
    child: Child,
}

impl Controller {
    /// The controller with its keys in `namespace`, watching only `watch` (`None`: every namespace).
    fn start(
        binary: &str,
        env: &TestEnv,
        namespace: &str,
        watch: Option<&str>,
        account: &AwsAccount,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut command = Command::new(binary);
        command
            .arg("--kubeconfig")
            .arg(env.kubeconfig_path())
            .args(["--namespace", namespace])
            .args(["--listen-addr", &format!("127.0.0.1:{port}")])
            .args(["--listen-metrics-addr", ""])
            // Every log line in one stream.
            .arg("--log-info-stdout=false")
            .args(["--key-size", "2048", "--leader-elect", "false"])
            // KSEAL_BENCH_LOG: another filter, to see where the time goes.
            .env(
                "RUST_LOG",
                std::env::var("KSEAL_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .args(
                watch
                    .map(|w| ["--watch-namespace", w])
                    .into_iter()
                    .flatten(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in account.vars() {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("starting {binary}: {e} (build it: cargo build --release -p kseal-controller)")
        });
        Controller { child }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the controller is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
