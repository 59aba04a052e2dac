//! kseal-controller: the binary that holds the sealing keys, unseals SealedSecrets into Secrets and runs
//! the external secret sync, with leader election so only one replica writes.
//!
//! This crate is only the wiring: [`args`] (flags), [`run`] (which component runs when: every replica
//! loads the keys and serves [`http`]; the leader also runs the reconcilers of `kseal-sealedsecrets` and
//! `kseal-externalsecrets`), [`http`] (`/v1/cert.pem`, `/v1/verify`, `/v1/rotate`, health, `/metrics`)
//! and [`crd`] (the generated CRD files). See `docs/architecture.md` for the data flow.
//!
//! [`run`] is the whole controller against a given client, so tests start it in-process;
//! [`run_from_args`] adds what the binary needs (client configuration, signals).

pub mod args;
pub mod crd;
pub mod http;
pub mod served;

mod error;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt as _;
use kseal_crypto::KeyOptions;
use kseal_runtime::{Backoff, lease};
use kseal_sealedsecrets::{certmap, keys, metrics, unseal};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use args::Args;
pub use error::{Error, Result};

/// What the controller does, independent of how it was configured.
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespace of the key Secrets.
    pub key_namespace: String,
    /// Watch SealedSecrets in this namespace only; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Options of generated keys.
    pub key_options: KeyOptions,
    /// Extra labels and annotations of generated key Secrets.
    pub key_metadata: keys::KeyMetadata,
    /// Address of the HTTP API; `None` serves none.
    pub http_addr: Option<SocketAddr>,
    /// Timeouts of the HTTP API.
    pub http_limits: http::Limits,
    /// Generate a new sealing key this long after the newest one; `None` never renews.
    pub key_renew_period: Option<std::time::Duration>,
    /// Generate a new sealing key at start when the newest one is older than this.
    pub key_cutoff_time: Option<std::time::SystemTime>,
    /// Elect a leader on this Lease (in `key_namespace`); `None` makes this replica the leader at once.
    pub leader_election: Option<lease::LeaseConfig>,
    /// The external secret sync (ExternalSecrets from AWS Secrets Manager); `None` turns it off.
    pub sync: Option<kseal_externalsecrets::Config>,
    /// Leave out sealed-secrets' `condition_info` metric, which names every SealedSecret.
    pub metrics_omit_secret_labels: bool,
    /// Address that serves `/metrics` alone (sealed-secrets' `:8081`); `None` serves none.
    pub metrics_addr: Option<SocketAddr>,
    /// How the unsealer behaves where sealed-secrets has a flag for it.
    pub unseal: unseal::Options,
}

impl Config {
    /// A controller that keeps its keys in `namespace` and unseals there only, with sealed-secrets'
    /// defaults otherwise, and nothing else of its own: no HTTP or metrics listener, no leader election,
    /// no key renewal, no sync. Embedders (and tests) set what they need on top.
    pub fn in_namespace(namespace: &str) -> Self {
        Config {
            key_namespace: namespace.to_owned(),
            watch_namespace: Some(namespace.to_owned()),
            key_options: KeyOptions::default(),
            key_metadata: keys::KeyMetadata::default(),
            http_addr: None,
            http_limits: http::Limits::default(),
            key_renew_period: None,
            key_cutoff_time: None,
            leader_election: None,
            sync: None,
            metrics_omit_secret_labels: false,
            metrics_addr: None,
            unseal: unseal::Options::default(),
        }
    }

    /// What generated keys are.
    fn key_spec(&self) -> keys::KeySpec {
        keys::KeySpec {
            options: self.key_options.clone(),
            metadata: self.key_metadata.clone(),
        }
    }
}

/// Runs the controller with `client` until `shutdown` completes: serves the HTTP API on
/// `config.http_addr`, loads (or generates) the keys, then unseals.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let listener = match config.http_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(Error::Http)?,
        ),
        None => None,
    };
    run_with_listener(client, config, listener, shutdown).await
}

/// [`run`] with the HTTP API on an already bound `listener` (tests bind port 0); `config.http_addr` is
/// ignored.
pub async fn run_with_listener(
    client: Client,
    config: Config,
    listener: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let keys = Arc::new(keys::SharedKeys::default());
    let health = Arc::new(http::Health::default());
    // One registry for every component; each registers its families before the API serves it.
    let mut registry = prometheus_client::registry::Registry::default();
    let kseal = kseal_runtime::metrics::kseal(&mut registry);
    let metrics = metrics::Metrics::register(kseal);
    let api_metrics = http::ApiMetrics::register(kseal);
    metrics::CertificateExpiry::register(kseal, keys.clone());
    let served = served::Served::register(kseal);
    let sync_metrics = config
        .sync
        .as_ref()
        .map(|_| kseal_externalsecrets::SyncMetrics::register(kseal));
    // sealed-secrets' families beside kseal's, for its dashboards and alerts.
    let (compat, conditions) = kseal_sealedsecrets::compat::Compat::register(
        &mut registry,
        env!("CARGO_PKG_VERSION"),
        config.metrics_omit_secret_labels,
    );
    let metrics = Arc::new(metrics.with_compat(compat, conditions));
    // ESO's families beside kseal's, for its dashboards and alerts.
    let sync_metrics = sync_metrics.map(|sync| {
        sync.with_eso(kseal_externalsecrets::eso_metrics::EsoMetrics::register(
            &mut registry,
        ))
    });
    api_metrics.register_compat(&mut registry);
    let registry = Arc::new(registry);
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(Error::Http)?,
        ),
        None => None,
    };
    let metrics_router = http::metrics_router(registry.clone());
    // One decrypt pool for the unsealer and the HTTP API.
    let decrypt_slots = unseal::decrypt_slots();
    let shutdown = {
        let health = health.clone();
        async move {
            shutdown.await;
            health.set_ready(false);
        }
    }
    .shared();

    // The API answers (`/livez`) while the keys load.
    let api_shutdown = shutdown.clone();
    let api = async {
        match listener {
            Some(listener) => {
                let router = http::router(http::Api {
                    keys: keys.clone(),
                    health: health.clone(),
                    registry,
                    serve_metrics: config.metrics_addr.is_none(),
                    decrypt_slots: decrypt_slots.clone(),
                    metrics: api_metrics,
                    limits: config.http_limits,
                });
                http::serve(listener, router, config.http_limits, api_shutdown)
                    .await
                    .map_err(Error::Http)
            }
            None => std::future::pending().await,
        }
    };
    let metrics_shutdown = shutdown.clone();
    let metrics_api = async {
        match metrics_listener {
            Some(listener) => http::serve(
                listener,
                metrics_router,
                config.http_limits,
                metrics_shutdown,
            )
            .await
            .map_err(Error::Http),
            None => std::future::pending().await,
        }
    };
    // Without election this replica leads from the start; the sender stays alive until the end.
    let (always_leader, mut leader) = tokio::sync::watch::channel(true);
    let elector = config.leader_election.clone().map(|lease| {
        let (elector, receiver) = lease::Elector::new(client.clone(), &config.key_namespace, lease);
        leader = receiver;
        elector
    });
    let election = async {
        match &elector {
            Some(elector) => elector.run().await,
            None => std::future::pending().await,
        }
    };
    let controller = follow_or_lead(
        client,
        &config,
        keys.clone(),
        health.clone(),
        Telemetry {
            unseal: metrics.clone(),
            served,
            sync: sync_metrics,
            decrypt_slots: decrypt_slots.clone(),
        },
        leader,
        shutdown,
    );
    let result = tokio::select! {
        result = api => result,
        result = metrics_api => result,
        result = controller => result,
        () = election => Ok(()),
    };
    // The leader's tasks are stopped (dropped above) before another replica may take over.
    if let Some(elector) = &elector {
        elector.release().await;
    }
    drop(always_leader);
    result
}

/// The metrics of the leader's components.
struct Telemetry {
    unseal: Arc<metrics::Metrics>,
    /// Which families' CRDs are served.
    served: served::Served,
    /// Present when the sync runs.
    sync: Option<kseal_externalsecrets::SyncMetrics>,
    /// The decrypt pool the unsealer shares with the HTTP API.
    decrypt_slots: Arc<tokio::sync::Semaphore>,
}

/// Every replica loads and watches the keys (the HTTP API needs them); while `leader` is true, this
/// replica also runs the writers: key generation and renewal, the unsealer, the certificate ConfigMap.
/// They stop as soon as leadership ends, and the replica goes back to following.
async fn follow_or_lead(
    client: Client,
    config: &Config,
    keys: Arc<keys::SharedKeys>,
    health: Arc<http::Health>,
    telemetry: Telemetry,
    mut leader: tokio::sync::watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Clone + Send + Sync + 'static,
) -> Result<()> {
    loop {
        let ring = retry_api("load the keys", || {
            keys::load(&client, &config.key_namespace, &config.key_metadata)
        })
        .await?;
        let known = ring.fingerprints().into_iter().map(str::to_owned).collect();
        // A follower serves the API once keys are loaded; the leader is ready when its caches are synced.
        if !ring.is_empty() && !*leader.borrow() {
            health.set_ready(true);
        }
        keys.set(ring);
        let (follower_keys, follower_health) = (keys.clone(), health.clone());
        let follow = keys::watch(
            client.clone(),
            config.key_namespace.clone(),
            config.key_metadata.clone(),
            known,
            move |ring| {
                // Started before any key existed (a fresh install: the leader generates it meanwhile),
                // a follower becomes ready when the watch brings the first key.
                if !ring.is_empty() {
                    follower_health.set_ready(true);
                }
                follower_keys.set(ring);
            },
        );
        tokio::select! {
            elected = leader.wait_for(|leader| *leader) => {
                elected.map_err(|_| Error::Stopped("leader election"))?;
            }
            () = follow => continue,
            () = shutdown.clone() => return Ok(()),
        }
        let lead = unseal_with_keys(
            client.clone(),
            config,
            keys.clone(),
            health.clone(),
            &telemetry,
            shutdown.clone(),
        );
        let sync = async {
            match (&config.sync, &telemetry.sync) {
                (Some(sync), Some(metrics)) => {
                    // Without the ESO CRDs the sync waits for them; the unsealer runs meanwhile.
                    telemetry
                        .served
                        .wait(&client, served::EXTERNAL_SECRETS, || {})
                        .await;
                    // The sync never writes the Secrets of this key namespace named like keys.
                    let sealing_keys = kseal_externalsecrets::protect::KeyLocation {
                        namespace: Some(config.key_namespace.clone()),
                        prefix: Some(config.key_metadata.prefix.clone()),
                    };
                    kseal_externalsecrets::run(
                        client.clone(),
                        kseal_externalsecrets::Config {
                            sealing_keys,
                            ..sync.clone()
                        },
                        metrics.clone(),
                        shutdown.clone(),
                    )
                    .await;
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            result = lead => return result,
            // The sync ends only at shutdown; the unsealer then ends too.
            () = sync => return Ok(()),
            _ = leader.wait_for(|leader| !*leader) => {
                tracing::warn!("lost leadership: stopped the unsealer, the sync, key renewal and certificate publication");
            }
        }
    }
}

async fn unseal_with_keys(
    client: Client,
    config: &Config,
    keys: Arc<keys::SharedKeys>,
    health: Arc<http::Health>,
    telemetry: &Telemetry,
    shutdown: impl Future<Output = ()> + Clone + Send + Sync + 'static,
) -> Result<()> {
    let (metrics, served) = (telemetry.unseal.clone(), &telemetry.served);
    let decrypt_slots = telemetry.decrypt_slots.clone();
    let spec = config.key_spec();
    let ring = retry_api("load or generate the keys", || {
        keys::ensure(
            &client,
            &config.key_namespace,
            &spec,
            config.key_cutoff_time,
        )
    })
    .await?;
    let known = ring.fingerprints().into_iter().map(str::to_owned).collect();
    keys.set(ring);
    let client_for_crd = client.clone();
    // One unsealer per watched namespace with --additional-namespaces (the controller's own and those,
    // as sealed-secrets); otherwise one for `watch_namespace` (or all). Each has its own per-object state.
    let namespaces: Vec<Option<String>> = if config.unseal.additional_namespaces.is_empty() {
        vec![config.watch_namespace.clone()]
    } else {
        let own = config
            .watch_namespace
            .clone()
            .unwrap_or_else(|| config.key_namespace.clone());
        let mut all = vec![own];
        for namespace in &config.unseal.additional_namespaces {
            if !all.contains(namespace) {
                all.push(namespace.clone());
            }
        }
        all.into_iter().map(Some).collect()
    };
    let contexts: Vec<Arc<unseal::Context>> = namespaces
        .iter()
        .map(|_| {
            Arc::new(
                unseal::Context::new(
                    client.clone(),
                    keys.clone(),
                    metrics.clone(),
                    decrypt_slots.clone(),
                )
                .with_key_location(&config.key_namespace, &config.key_metadata.prefix)
                .with_options(config.unseal.clone()),
            )
        })
        .collect();

    let (renew_client, renew_keys) = (client.clone(), keys.clone());
    let (signal_client, signal_keys) = (client.clone(), keys.clone());
    let (keys_changed, reconcile_all): (Vec<_>, Vec<_>) = namespaces
        .iter()
        .map(|_| futures::channel::mpsc::unbounded())
        .unzip();
    let (cert_changed, cert_changes) = futures::channel::mpsc::unbounded();
    let cert_publisher = certmap::publish(
        client.clone(),
        config.key_namespace.clone(),
        keys.clone(),
        cert_changes,
    );
    // Renewal stores a new key Secret, which this watch sees too: both paths end here.
    let key_watch = keys::watch(
        client,
        config.key_namespace.clone(),
        config.key_metadata.clone(),
        known,
        move |ring| {
            keys.set(ring);
            // A SealedSecret that failed for want of a key may open now.
            for sender in &keys_changed {
                let _ = sender.unbounded_send(());
            }
            let _ = cert_changed.unbounded_send(());
        },
    );
    // Ready once every unsealer's cache is synced.
    let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(namespaces.len()));
    let unsealers = contexts
        .into_iter()
        .zip(reconcile_all)
        .zip(&namespaces)
        .map(|((ctx, reconcile_all), namespace)| {
            let (health, waiting) = (health.clone(), waiting.clone());
            unseal::run(
                ctx,
                namespace.as_deref(),
                reconcile_all,
                move || {
                    if waiting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                        health.set_ready(true);
                    }
                },
                shutdown.clone(),
            )
        });
    let (crd_client, missing_health) = (client_for_crd, health.clone());
    let unsealer = async move {
        // Without the SealedSecret CRD (an ESO-only cluster) the unsealer waits for it; the keys, the
        // certificate API and the sync serve meanwhile, so the replica is ready.
        served
            .wait(&crd_client, served::SEALED_SECRETS, move || {
                missing_health.set_ready(true)
            })
            .await;
        futures::future::join_all(unsealers).await;
    };
    let renewal = async {
        match config.key_renew_period {
            Some(period) => {
                let namespace = config.key_namespace.clone();
                keys::renew(
                    renew_client,
                    namespace,
                    renew_keys,
                    config.key_spec(),
                    period,
                )
                .await;
            }
            None => std::future::pending().await,
        }
    };
    // SIGUSR1 asks for a new sealing key now, as sealed-secrets.
    let on_signal = async {
        let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        else {
            tracing::warn!("cannot listen for SIGUSR1");
            return std::future::pending().await;
        };
        while signal.recv().await.is_some() {
            tracing::info!("SIGUSR1: generating a new sealing key");
            match keys::generate(&signal_client, &config.key_namespace, &config.key_spec()).await {
                Ok(key) => signal_keys.set(signal_keys.get().with(key)),
                Err(error) => tracing::warn!(%error, "key generation on SIGUSR1 failed"),
            }
        }
    };
    // The key tasks run for as long as the unsealer; they end only with it.
    tokio::select! {
        () = unsealer => {}
        () = key_watch => {}
        () = renewal => {}
        () = cert_publisher => {}
        () = on_signal => {}
    }
    Ok(())
}

/// API calls the controller cannot go on without (loading the keys) are retried after 500 ms, doubled
/// per failure up to 30 s: the API server may be away for a while (an upgrade, a restart), and the
/// controller waits for it instead of exiting, carrying on where it was (e.g. after losing and
/// regaining leadership during the outage).
pub const API_RETRY: Backoff = Backoff::new(
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(30),
);

/// Runs `call` until it succeeds or fails with something other than an API error ([`API_RETRY`]).
async fn retry_api<T, F, Fut>(what: &str, call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kseal_sealedsecrets::Result<T>>,
{
    let transient =
        |error: &kseal_sealedsecrets::Error| matches!(error, kseal_sealedsecrets::Error::Kube(_));
    Ok(API_RETRY.retry(what, transient, call).await?)
}

/// Runs the controller as the binary does: client from `--kubeconfig` or the environment, stopped by
/// SIGTERM or SIGINT.
pub async fn run_from_args(args: Args) -> Result<()> {
    args.check().map_err(Error::Config)?;
    if args.kubeclient_qps != 5.0 || args.kubeclient_burst != 10 {
        tracing::info!(
            qps = args.kubeclient_qps,
            burst = args.kubeclient_burst,
            "--kubeclient-qps and --kubeclient-burst are not applied: kseal's API client has no client-side rate limit"
        );
    }
    let client = client(&args).await?;
    run(client, args.config(), shutdown_signal()).await
}

async fn client(args: &Args) -> Result<Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    Ok(Client::try_from(config)?)
}

/// Completes on SIGTERM (Kubernetes stopping the pod) or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

/// Log targets kept at `error`, whatever `RUST_LOG` says: kube's client logs the API server's error
/// answers at `debug` (they quote the rejected values) and a response it cannot decode at `warn` (the
/// whole response, e.g. a Secret with its data).
pub const QUIET_TARGETS: &[&str] = &["kube_client"];

/// Logs as `--log-level`, `--log-format` and `--log-info-stdout` say: `RUST_LOG`, when set, filters
/// instead of the level, except for [`QUIET_TARGETS`]; info and debug lines go to stdout and warnings
/// and errors to stderr (as sealed-secrets), or everything to stderr.
pub fn init_tracing(args: &Args) {
    use tracing_subscriber::fmt::writer::MakeWriterExt as _;
    let level = args.log_level.as_str().to_ascii_lowercase();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    for target in QUIET_TARGETS {
        // `error` only: kube's client has no error-level line that quotes a body.
        if let Ok(directive) = format!("{target}=error").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let stdout_below_warn = args.log_info_stdout;
    let writer = std::io::stderr
        .with_max_level(tracing::Level::WARN)
        .or_else(move || -> Box<dyn std::io::Write> {
            if stdout_below_warn {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::io::stderr())
            }
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
