//! External secret sync: ExternalSecrets, SecretStores and ClusterSecretStores of
//! `external-secrets.io`, synced from AWS Secrets Manager (or the `fake` provider) into Secrets.
//!
//! Modules: [`cluster`] (ClusterExternalSecrets: an ExternalSecret per selected namespace), [`provider`] (`aws`: credentials, Secrets Manager calls, coalesced and batched fetches;
//! `fake`), [`stores`] (store validation, `conditions`, the provider of a store), [`schedule`] (when a
//! refresh is due), [`select`] (what `data`/`dataFrom` read, and the values of generators), [`reconcile`] (the ExternalSecret reconciler),
//! [`watched`] (loosely typed watches), [`protect`] (Secrets the sync never writes: sealing keys and
//! the Secrets of SealedSecrets), [`metrics`]. The pure parts (what a `remoteRef` selects, the
//! desired Secret) live in `kseal_core::external_secrets`.
//!
//! [`run`] runs inside `kseal-controller`, under its leader election.

pub mod cluster;
pub mod eso_metrics;
pub mod kubernetes_store;
pub mod managed;
pub mod metrics;
pub mod protect;
pub mod provider;
pub mod reconcile;
pub mod schedule;
pub mod select;
pub mod stores;
pub mod watched;

use provider::aws;

mod error;
mod generators;
pub mod push;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kseal_api::external_secrets::{LABEL_MANAGED, StoreKind};
use kseal_runtime::ObjectTable;
use kseal_runtime::report::Reporter;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt as _};

pub use error::{Error, Result, kube_message};
pub use metrics::SyncMetrics;

pub use kseal_api::names::field_managers::SYNC as FIELD_MANAGER;

/// How long the refresh cycle of a store is remembered after it started.
const CYCLE_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);
use watched::{WatchedClusterSecretStore, WatchedExternalSecret, WatchedSecretStore};

/// ExternalSecrets reconciled at once; bounds the memory of a burst (a restart, a cycle of 10 000).
pub const MAX_CONCURRENT_RECONCILES: u16 = 32;

/// What the sync watches and which stores it serves.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Watch ExternalSecrets and SecretStores in this namespace only; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Serve stores whose `spec.controller` is this class (stores without a class are always served).
    pub controller_class: Option<String>,
    /// AWS endpoint override; `None` uses the SDK's (`AWS_ENDPOINT_URL`, …).
    pub aws_endpoint_url: Option<String>,
    /// Let namespaced SecretStores without `spec.provider.aws.auth` use the controller's own AWS
    /// credentials (the SDK default chain). Off by default: whoever may create a SecretStore in any
    /// namespace would read whatever the controller's IAM role can read. ClusterSecretStores without
    /// `auth` are always allowed (only cluster administrators create them).
    pub allow_namespaced_default_credentials: bool,
    /// Where the controller keeps its sealing keys: Secrets named like keys there are never written.
    pub sealing_keys: protect::KeyLocation,
}

/// The controller flag that lets namespaced SecretStores use the default credential chain.
pub const ALLOW_DEFAULT_CREDENTIALS_FLAG: &str = "--sync-allow-namespaced-default-credentials";
/// The chart value that sets [`ALLOW_DEFAULT_CREDENTIALS_FLAG`].
pub const ALLOW_DEFAULT_CREDENTIALS_VALUE: &str =
    "controller.sync.allowNamespacedDefaultCredentials";
/// The chart value that grants the RBAC of `jwt` auth (get on serviceaccounts, create on
/// serviceaccounts/token).
pub const JWT_AUTH_VALUE: &str = "controller.sync.jwtAuth";

/// Shared state of the sync.
pub struct Context {
    client: Client,
    config: Config,
    /// Writes statuses and publishes events (only when something changed).
    reporter: Reporter,
    fetcher: aws::Fetcher,
    providers: stores::Providers,
    metrics: SyncMetrics,
    /// Per ExternalSecret, pruned when it is deleted.
    objects: ObjectTable<ObjectState>,
    /// Targets of ExternalSecrets without an ownerReference on their Secret: (namespace, Secret) → name.
    targets: Mutex<HashMap<(String, String), String>>,
    externals: std::sync::OnceLock<Store<WatchedExternalSecret>>,
    /// The stores as the ExternalSecret controller's watches of them see them.
    store_caches: std::sync::OnceLock<stores::StoreCaches>,
    /// What the sync keeps of each Secret it manages.
    managed: managed::ManagedIndex,
    /// The refresh cycle each AWS store last read all its values for.
    cycles: Mutex<HashMap<aws::StoreId, SystemTime>>,
    /// The last check of each AWS store's credentials, by display name.
    checks: Mutex<HashMap<String, Check>>,
}

/// The last check of a store's credentials against AWS.
#[derive(Debug, Clone)]
struct Check {
    /// The configuration checked.
    id: aws::StoreId,
    at: std::time::Instant,
    /// `Err((why, refused))`: `refused` when AWS refused the credentials (not a network failure);
    /// then the store's ExternalSecrets wait instead of calling AWS with them.
    outcome: std::result::Result<(), (String, bool)>,
}

#[derive(Debug, Default)]
struct ObjectState {
    /// `syncedResourceVersion` and time of the last successful refresh (the watch may lag behind).
    synced: Option<(String, SystemTime)>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context writing with `client`, counting into `metrics`.
    pub fn new(client: Client, config: Config, metrics: SyncMetrics) -> Self {
        let observer: Arc<dyn aws::CallObserver> = Arc::new(metrics.clone());
        let options = aws::ProviderOptions {
            endpoint_url: config.aws_endpoint_url.clone(),
            observer: Some(observer),
        };
        Context {
            reporter: Reporter::new(client.clone(), FIELD_MANAGER),
            client,
            config,
            fetcher: aws::Fetcher::new(),
            providers: stores::Providers::new(options),
            metrics,
            objects: ObjectTable::default(),
            targets: Mutex::default(),
            externals: std::sync::OnceLock::new(),
            store_caches: std::sync::OnceLock::new(),
            managed: managed::ManagedIndex::default(),
            cycles: Mutex::default(),
            checks: Mutex::default(),
        }
    }

    fn checks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Check>> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last check of store `display`, if it was of configuration `id` and less than `within` ago.
    fn last_check(
        &self,
        display: &str,
        id: aws::StoreId,
        within: std::time::Duration,
    ) -> Option<Check> {
        self.checks()
            .get(display)
            .filter(|check| check.id == id && check.at.elapsed() < within)
            .cloned()
    }

    /// Why AWS refused store `display` in configuration `id` at its last check, if it did: a changed
    /// configuration (e.g. new keys in its Secret) is tried at once.
    pub(crate) fn refused(&self, display: &str, id: aws::StoreId) -> Option<String> {
        let checks = self.checks();
        let check = checks.get(display).filter(|check| check.id == id)?;
        match &check.outcome {
            Err((why, true)) => Some(why.clone()),
            _ => None,
        }
    }

    fn remember(&self, object: &impl kube::Resource, version: String, at: SystemTime) {
        self.objects
            .with(object, |state| state.synced = Some((version, at)));
    }

    fn remembered(&self, object: &impl kube::Resource) -> Option<(String, SystemTime)> {
        self.objects.with(object, |state| state.synced.clone())
    }

    /// Prunes the per-object state and the target index on one event of the ExternalSecret watch.
    fn observe(
        &self,
        event: &watcher::Event<WatchedExternalSecret>,
        store: &Store<WatchedExternalSecret>,
    ) {
        self.objects.observe(event, store);
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Delete(es) => {
                let (namespace, name) = (es.namespace().unwrap_or_default(), es.name_any());
                targets.retain(|(ns, _), owner| *ns != namespace || *owner != name);
            }
            watcher::Event::InitDone => targets.retain(|(namespace, _), owner| {
                store
                    .get(&ObjectRef::new(owner).within(namespace))
                    .is_some()
            }),
            _ => {}
        }
    }

    fn index_target(&self, namespace: &str, secret: &str, external: &str) {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (namespace.to_owned(), secret.to_owned()),
                external.to_owned(),
            );
    }

    /// The ExternalSecret a managed Secret belongs to: its controller owner, else the target index.
    fn owner_of(&self, secret: &Secret) -> Option<ObjectRef<WatchedExternalSecret>> {
        let namespace = secret.namespace()?;
        let owner = secret
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
            .map(|o| o.name.clone())
            .or_else(|| {
                self.targets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&(namespace.clone(), secret.name_any()))
                    .cloned()
            })?;
        Some(ObjectRef::new(&owner).within(&namespace))
    }

    /// What the index of managed Secrets knows of `namespace/name`, unless it is being deleted.
    pub(crate) fn cached_target(&self, namespace: &str, name: &str) -> Option<managed::Managed> {
        self.managed
            .get(namespace, name)
            .filter(|secret| !secret.deleting)
    }

    /// Whether `cycle` is new for `store` (and records it): only its first refresh reads the whole store.
    fn start_cycle(&self, store: aws::StoreId, cycle: SystemTime) -> bool {
        let mut cycles = self.cycles.lock().unwrap_or_else(PoisonError::into_inner);
        match cycles.get(&store) {
            Some(last) if *last >= cycle => false,
            _ => {
                // A store whose configuration changed has a new id; its old entries go once they are
                // a day old (a store refreshed less often than daily may read itself whole once more).
                if let Some(horizon) = cycle.checked_sub(CYCLE_MEMORY) {
                    cycles.retain(|_, last| *last >= horizon);
                }
                cycles.insert(store, cycle);
                true
            }
        }
    }

    /// The remote keys read at their current version by ExternalSecrets of the store `display`
    /// (`SecretStore ns/name` or `ClusterSecretStore name`).
    fn current_keys_of(&self, display: &str) -> Vec<String> {
        let Some(store) = self.externals.get() else {
            return Vec::new();
        };
        let mut keys = std::collections::BTreeSet::new();
        for es in store.state() {
            let Ok(spec) = &es.spec else { continue };
            let namespace = es.namespace().unwrap_or_default();
            // Each entry reads from its own `sourceRef.storeRef`, else from the ExternalSecret's store.
            let reads_here = |source: Option<&kseal_api::external_secrets::SourceRef>| {
                source
                    .and_then(|s| s.store_ref.as_ref())
                    .or(spec.secret_store_ref.as_ref())
                    .is_some_and(|r| {
                        stores::display(r.kind.unwrap_or_default(), &r.name, &namespace) == display
                    })
            };
            let refs = spec
                .data
                .iter()
                .filter(|item| reads_here(item.source_ref.as_ref()))
                .map(|item| &item.remote_ref)
                .chain(
                    spec.data_from
                        .iter()
                        .filter(|from| reads_here(from.source_ref.as_ref()))
                        .filter_map(|from| from.extract.as_ref()),
                );
            for remote in refs {
                // Tags (metadataPolicy Fetch) are read apart, not in the batch of values.
                let current = remote
                    .version
                    .as_deref()
                    .is_none_or(|v| v.is_empty() || v == aws::DEFAULT_STAGE)
                    && remote.metadata_policy
                        != Some(kseal_api::external_secrets::MetadataPolicy::Fetch);
                if current {
                    keys.insert(remote.key.clone());
                }
            }
        }
        keys.into_iter().collect()
    }

    /// ExternalSecrets that use the store `kind`/`name` (in `namespace` for SecretStores).
    fn users_of(
        &self,
        kind: StoreKind,
        name: &str,
        namespace: Option<&str>,
    ) -> Vec<ObjectRef<WatchedExternalSecret>> {
        let Some(store) = self.externals.get() else {
            return Vec::new();
        };
        store
            .state()
            .iter()
            .filter(|es| {
                kind == StoreKind::ClusterSecretStore || es.namespace().as_deref() == namespace
            })
            .filter(|es| {
                es.spec.as_ref().is_ok_and(|spec| {
                    select::references(spec)
                        .any(|r| r.kind.unwrap_or_default() == kind && r.name == name)
                })
            })
            .map(|es| ObjectRef::from_obj(es.as_ref()))
            .collect()
    }
}

/// How messages name the store an ExternalSecret in `namespace` uses: `SecretStore ns/name` or
/// `ClusterSecretStore name`.
pub fn store_display(
    spec: &kseal_api::external_secrets::ExternalSecretSpec,
    namespace: &str,
) -> Option<String> {
    let reference = spec.secret_store_ref.as_ref()?;
    let kind = reference.kind.unwrap_or_default();
    Some(stores::display(kind, &reference.name, namespace))
}

/// Runs the sync until `shutdown` completes: the ExternalSecret reconciler, the store validators and,
/// when it watches every namespace, the ClusterExternalSecret reconciler ([`cluster`]).
pub async fn run(
    client: Client,
    config: Config,
    metrics: SyncMetrics,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let ctx = Arc::new(Context::new(client.clone(), config.clone(), metrics));
    let eso_metrics = ctx.metrics.eso().clone();
    let namespace = config.watch_namespace.as_deref();
    let (externals, secrets, stores): (
        Api<WatchedExternalSecret>,
        Api<Secret>,
        Api<WatchedSecretStore>,
    ) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let cluster_stores: Api<WatchedClusterSecretStore> = Api::all(client.clone());

    let pruned = ctx.clone();
    let controller = kseal_runtime::objects::controller(
        externals,
        watcher::Config::default(),
        move |event, store| pruned.observe(event, store),
    );
    let external_cache = controller.store();
    let _ = ctx.externals.set(external_cache.clone());
    let (secret_ctx, store_ctx, cluster_ctx) = (ctx.clone(), ctx.clone(), ctx.clone());
    let managed = watcher::Config::default().labels(&format!("{LABEL_MANAGED}=true"));
    // The stores' watches keep caches that refreshes read them from; each change reaches the cache
    // before it triggers the ExternalSecrets that use the store.
    let (namespaced_cache, namespaced_writer) = kube::runtime::reflector::store();
    let (cluster_cache, cluster_writer) = kube::runtime::reflector::store();
    let _ = ctx
        .store_caches
        .set(stores::StoreCaches::new(namespaced_cache, cluster_cache));
    let namespaced_events = kube::runtime::reflector(
        namespaced_writer,
        watcher(stores.clone(), watcher::Config::default()),
    )
    .touched_objects();
    let cluster_events = kube::runtime::reflector(
        cluster_writer,
        watcher(cluster_stores.clone(), watcher::Config::default()),
    )
    .touched_objects();
    // The index of managed Secrets takes in each event before it triggers their ExternalSecrets.
    let index_ctx = ctx.clone();
    let managed_events = watcher(secrets, managed)
        .map(move |event| {
            if let Ok(event) = &event {
                index_ctx
                    .managed
                    .observe(event, &index_ctx.config.sealing_keys);
            }
            event
        })
        .touched_objects();
    let externals = controller
        .watches_stream(managed_events, move |secret| secret_ctx.owner_of(&secret))
        .watches_stream(namespaced_events, move |store| {
            store_ctx.users_of(
                StoreKind::SecretStore,
                &store.name_any(),
                store.namespace().as_deref(),
            )
        })
        .watches_stream(cluster_events, move |store| {
            cluster_ctx.users_of(StoreKind::ClusterSecretStore, &store.name_any(), None)
        })
        .with_config(
            kube::runtime::controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES),
        )
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_observed, reconcile::error_policy, ctx.clone())
        .for_each(|_| async {});
    let store_controller = Controller::new(stores, watcher::Config::default());
    let cluster_controller = Controller::new(cluster_stores, watcher::Config::default());
    ctx.metrics.eso().attach(
        external_cache,
        store_controller.store(),
        cluster_controller.store(),
    );
    let store_status = store_controller
        .graceful_shutdown_on(shutdown.clone())
        .run(validate_store, store_error_policy, ctx.clone())
        .for_each(|_| async {});
    let push_ctx = ctx.clone();
    let cluster_status = cluster_controller
        .graceful_shutdown_on(shutdown.clone())
        .run(validate_cluster_store, store_error_policy, ctx)
        .for_each(|_| async {});
    let pushes: Api<push::WatchedPushSecret> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let pushes = push::run(push_ctx, pushes, shutdown.clone());
    // A ClusterExternalSecret's status lists namespaces cluster-wide: only a sync of every namespace
    // writes it.
    let cluster_externals = async {
        if namespace.is_none() {
            let metrics = eso_metrics.clone();
            cluster::run(client, watcher::Config::default(), metrics, shutdown).await;
        }
    };
    futures::join!(
        externals,
        store_status,
        cluster_status,
        cluster_externals,
        pushes
    );
}

/// [`reconcile::reconcile`], counted in ESO's per-object families.
async fn reconcile_observed(
    watched: Arc<WatchedExternalSecret>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let started = std::time::Instant::now();
    let (namespace, name) = (watched.namespace().unwrap_or_default(), watched.name_any());
    let result = reconcile::reconcile(watched, ctx.clone()).await;
    ctx.metrics
        .eso()
        .reconciled(&namespace, &name, started.elapsed(), result.is_err());
    result
}

async fn validate_store(store: Arc<WatchedSecretStore>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<WatchedSecretStore> =
        Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    let spec = store.parse();
    let kind = StoreKind::SecretStore;
    write_store_status(&api, store.as_ref(), kind, &store.status, spec, &ctx).await
}

async fn validate_cluster_store(
    store: Arc<WatchedClusterSecretStore>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let api: Api<WatchedClusterSecretStore> = Api::all(ctx.client.clone());
    let spec = store.parse();
    let kind = StoreKind::ClusterSecretStore;
    write_store_status(&api, store.as_ref(), kind, &store.status, spec, &ctx).await
}

/// Sets a store's `Ready` condition from its configuration (stores of another controller class are
/// left alone), and on a ClusterSecretStore without `conditions` the
/// [`stores::reasons::SERVES_ALL_NAMESPACES`] condition.
async fn write_store_status<K>(
    api: &Api<K>,
    store: &K,
    kind: StoreKind,
    current: &Option<serde_json::Value>,
    spec: Result<kseal_api::external_secrets::SecretStoreSpec>,
    ctx: &Context,
) -> Result<Action>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let verdict = match &spec {
        Ok(spec) if !stores::handles_class(spec, ctx.config.controller_class.as_deref()) => {
            return Ok(Action::await_change());
        }
        Ok(spec) => stores::validate(
            spec,
            stores::Policy {
                kind,
                allow_namespaced_default_credentials: ctx
                    .config
                    .allow_namespaced_default_credentials,
            },
        )
        .map(drop),
        Err(error @ Error::Unsupported { .. }) => {
            Err((stores::reasons::UNSUPPORTED, error.to_string()))
        }
        Err(error) => Err((stores::reasons::INVALID_PROVIDER_CONFIG, error.to_string())),
    };
    // jwt auth: whether the RBAC lets the controller use the service account (checked again now
    // and then, since the RBAC may change while the store does not).
    let jwt = spec
        .as_ref()
        .ok()
        .and_then(|spec| stores::jwt_account(spec, kind, &store.namespace().unwrap_or_default()));
    let shown = stores::display(
        kind,
        &store.name_any(),
        &store.namespace().unwrap_or_default(),
    );
    let verdict = match (verdict, &jwt) {
        (Ok(()), Some((namespace, name))) => {
            stores::check_jwt_access(&ctx.client, &shown, namespace.as_deref(), name).await
        }
        (verdict, _) => verdict,
    };
    let interval = spec
        .as_ref()
        .ok()
        .map(|spec| spec.refresh_interval())
        .transpose();
    let verdict = match (verdict, &interval) {
        (Ok(()), Err(error)) => Err((
            stores::reasons::INVALID_PROVIDER_CONFIG,
            format!("spec.refreshInterval: {error}"),
        )),
        (verdict, _) => verdict,
    };
    let interval = interval
        .ok()
        .flatten()
        .flatten()
        .unwrap_or(stores::VERIFY_INTERVAL)
        .max(stores::MIN_VERIFY_INTERVAL);
    // Do the credentials work? Checked again at the store's refreshInterval.
    let valid = |next| {
        (
            true,
            stores::reasons::VALID,
            "store validated".to_owned(),
            next,
        )
    };
    let (ready, reason, message, next_check) = match (verdict, &spec) {
        (Ok(()), Ok(spec)) => {
            let namespace = match kind {
                StoreKind::SecretStore => store.namespace().unwrap_or_default(),
                StoreKind::ClusterSecretStore => String::new(),
            };
            let checked = stores::verify(
                &ctx.client,
                &ctx.providers,
                kind,
                &store.name_any(),
                &namespace,
                spec,
                store.uid(),
                kube::Resource::meta(store).generation,
                |id| {
                    ctx.last_check(&shown, id, stores::MIN_VERIFY_INTERVAL)
                        .is_some()
                },
            )
            .await;
            let record = |id, outcome| {
                let at = std::time::Instant::now();
                ctx.checks()
                    .insert(shown.clone(), Check { id, at, outcome });
            };
            let outcome = match checked {
                Ok(stores::Verification::NotAws) => Checked::Nothing,
                Ok(stores::Verification::Unknown) => Checked::Unknown,
                Ok(stores::Verification::Allowed) => Checked::Verified,
                Ok(stores::Verification::Recent) => match ctx.checks().get(&shown) {
                    Some(Check {
                        outcome: Err((why, refused)),
                        ..
                    }) => Checked::Failed(why.clone(), *refused),
                    _ => Checked::Verified,
                },
                Ok(stores::Verification::Verified { id, arn }) => {
                    tracing::debug!(store = %shown, %arn, "store credentials verified");
                    record(id, Ok(()));
                    Checked::Verified
                }
                Err(rejection) => {
                    if let Some(id) = rejection.id {
                        record(id, Err((rejection.message.clone(), rejection.refused)));
                    }
                    Checked::Failed(rejection.message, rejection.refused)
                }
            };
            match outcome {
                Checked::Nothing => valid(None),
                Checked::Verified => valid(Some(interval)),
                Checked::Unknown => (
                    true,
                    stores::reasons::VALIDATION_UNKNOWN,
                    "could not determine validation status: the credentials are read in each ExternalSecret's namespace".to_owned(),
                    Some(interval),
                ),
                // A refusal is checked again at the interval; a network failure sooner.
                Checked::Failed(message, refused) => {
                    let next = if refused {
                        interval
                    } else {
                        interval.min(TRANSIENT_RECHECK)
                    };
                    let reason = stores::reasons::INVALID_PROVIDER_CONFIG;
                    (false, reason, message, Some(next))
                }
            }
        }
        (Ok(()), Err(_)) => valid(None),
        (Err((reason, message)), _) => (false, reason, message, None),
    };
    let previous: kseal_api::external_secrets::SecretStoreStatus = current
        .clone()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let now = SystemTime::now();
    let mut conditions =
        reconcile::ready_conditions(&previous.conditions, ready, reason, &message, now);
    let serves_all = kind == StoreKind::ClusterSecretStore
        && spec.as_ref().is_ok_and(|spec| spec.conditions.is_empty());
    stores::set_serves_all_namespaces(&mut conditions, serves_all, now);
    let status = kseal_api::external_secrets::SecretStoreStatus {
        conditions,
        capabilities: Some("ReadOnly".to_owned()),
    };
    let unchanged = previous.capabilities == status.capabilities
        && kseal_core::conditions::same(&previous.conditions, &status.conditions);
    if !unchanged {
        let what = format!("the status of {shown}");
        ctx.reporter
            .patch_status(api, &store.name_any(), &status)
            .await
            .map_err(error::kube(what))?;
    }
    Ok(match (next_check, jwt) {
        (Some(next), _) => Action::requeue(next),
        (None, Some(_)) => Action::requeue(stores::JWT_ACCESS_RECHECK),
        (None, None) => Action::await_change(),
    })
}

/// What checking a store against AWS found, for its `Ready` condition.
enum Checked {
    /// Not an AWS store.
    Nothing,
    /// AWS accepted the credentials.
    Verified,
    /// The credentials are read per ExternalSecret namespace: nothing to check on its own.
    Unknown,
    /// Why not, and whether AWS refused the credentials (rather than not answering).
    Failed(String, bool),
}

/// A store check that could not reach AWS (network, throttling) is repeated this soon.
const TRANSIENT_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

fn store_error_policy<K>(_store: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "cannot write a store's status");
    Action::requeue(std::time::Duration::from_secs(5))
}
