//! The unsealer: reconciles every SealedSecret into the Secret it describes.
//!
//! Level-triggered: each reconcile compares the existing Secret with what the SealedSecret asks for
//! ([`kseal_core::plan`]); unless it is up to date, it decrypts, builds the whole Secret with
//! [`kseal_core::unseal()`] and server-side applies it under the unsealer's field manager. The `Synced`
//! condition is written only when it changes.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use kseal_api::annotations;
use kseal_api::names::{self, field_managers::UNSEALER as FIELD_MANAGER};
use kseal_core::plan::{self, Expected, Ownership, SecretSummary};
use kseal_crypto::PrivateKey;
use kseal_runtime::report::Reporter;
use kseal_runtime::{Backoff, ObjectTable};
use kube::api::{GetParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, ResourceExt as _};

use crate::conditions::{Outcome, now, synced_status};
use crate::keys::{KeyRing, SharedKeys};
use crate::metrics::{KeyUsageSource, Metrics};
use crate::watched::{SealedSecretObject, SecretCache, WatchedSealedSecret, WatchedSecret};
use crate::{Error, Result};

/// SealedSecrets reconciled at once (decryption itself is bounded by the cores); bounds the memory of a
/// burst such as a restart with thousands of objects.
pub const MAX_CONCURRENT_RECONCILES: u16 = 32;
/// Every SealedSecret is reconciled again this often (a periodic resync repairs anything a watch
/// missed). One timer for all of them, not a requeue per object: a scheduled requeue holds about a
/// kilobyte per object in the controller's queue.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Retries of a failed SealedSecret: after 1 s, doubled per consecutive failure, at most 5 minutes.
pub const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5 * 60));

/// The decrypt pool: one slot per core. The unsealer and the HTTP API's `/v1/verify` and `/v1/rotate`
/// hold one for each decryption, so together they never run more RSA work at once than there are cores.
pub fn decrypt_slots() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ))
}

/// Shared state of the unsealer.
pub struct Context {
    client: Client,
    reporter: Reporter,
    keys: Arc<SharedKeys>,
    /// Bounds concurrent decryptions to the number of cores, so RSA work never queues up behind itself
    /// on the blocking pool; shared with the HTTP API.
    decrypt_slots: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    /// Per SealedSecret, pruned when it is deleted.
    objects: ObjectTable<ObjectState>,
    /// The watched Secrets kseal wrote (labelled [`names::MANAGED_LABEL`]), once [`run`] has started.
    secrets: SecretCache,
    /// The namespace of the sealing-key Secrets and their name prefix: such names are never written there.
    key_location: Option<(String, String)>,
    options: Options,
}

/// How the unsealer behaves where sealed-secrets has a flag for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Only SealedSecrets matching this label selector (`--label-selector`); `None` reads all.
    pub label_selector: Option<String>,
    /// Write the `Synced` condition (`--update-status`, default true).
    pub update_status: bool,
    /// Retry a failed SealedSecret this many times (with backoff), then wait until it (or the keys)
    /// change, or the periodic resync (`--max-unseal-retries`). `None` (kseal's default) retries for ever
    /// with a backoff of up to 5 minutes: a conflict resolved by hand heals without a restart, where
    /// sealed-secrets gives up after 5 retries.
    pub max_retries: Option<u32>,
    /// Unseal the deprecated `spec.data` format (`--accept-deprecated-v1-data`, default true).
    pub accept_v1_data: bool,
    /// Namespaces watched besides the controller's own (`--additional-namespaces`); when there are
    /// some, only those and the controller's own are watched, as sealed-secrets does.
    pub additional_namespaces: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            label_selector: None,
            update_status: true,
            max_retries: None,
            accept_v1_data: true,
            additional_namespaces: Vec::new(),
        }
    }
}

/// What the unsealer remembers about one SealedSecret between reconciles.
#[derive(Debug, Default, Clone)]
struct ObjectState {
    /// Fingerprint of the key that opened it last (or that the up-to-date Secret records).
    last_key: Option<String>,
    /// The status last written, while the watch has not shown it yet: the version it was written over,
    /// and what it said (generation and outcome). Until a newer version arrives, a reconcile woken by
    /// something else (the Secret's own change) would otherwise write the same status again.
    written: Option<(Option<String>, Option<i64>, Outcome)>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("keys", &self.keys.get().len())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context writing with `client` and unsealing with `keys`, each decryption holding one of
    /// `decrypt_slots` (shared with the HTTP API; see [`decrypt_slots`]).
    pub fn new(
        client: Client,
        keys: Arc<SharedKeys>,
        metrics: Arc<Metrics>,
        decrypt_slots: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        Context {
            reporter: Reporter::new(client.clone(), FIELD_MANAGER),
            client,
            keys,
            decrypt_slots,
            metrics,
            objects: ObjectTable::default(),
            secrets: SecretCache::default(),
            key_location: None,
            options: Options::default(),
        }
    }

    /// Behaves as `options` say.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Protects the Secrets of `namespace` named like sealing keys (starting with `prefix`), besides those
    /// labelled as keys anywhere.
    pub fn with_key_location(
        mut self,
        namespace: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        self.key_location = Some((namespace.into(), prefix.into()));
        self
    }

    /// The Secret of `sealed`: from the watch of kseal's Secrets when it is there, else read from the API
    /// server, newest version (a Secret kseal has not written, or one the watch has not seen yet). Only
    /// that read can see someone else's Secret of the same name, which must not be overwritten.
    async fn existing_secret(
        &self,
        sealed: &WatchedSealedSecret,
    ) -> Result<Option<Arc<SecretSummary>>> {
        let name = sealed.name_any();
        let namespace = sealed.namespace().unwrap_or_default();
        if let Some(cached) = self.secrets.get(&namespace, &name) {
            return Ok(Some(cached));
        }
        let secrets: Api<WatchedSecret> = Api::namespaced(self.client.clone(), &namespace);
        let read = secrets.get_opt(&name).await?;
        Ok(read.map(|secret| Arc::new(secret.summary)))
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.get()
    }
}

impl KeyUsageSource for Context {
    fn key_fingerprints(&self) -> Vec<String> {
        self.keys()
            .fingerprints()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn last_keys(&self) -> Vec<String> {
        // The table holds only objects that exist: a deleted SealedSecret no longer needs its key.
        self.objects.collect(|_, state| state.last_key.clone())
    }
}

/// Runs the unsealer until `shutdown` completes, watching SealedSecrets in `namespace` (all when `None`).
/// Every item of `reconcile_all` reconciles every SealedSecret again (the keys changed); so does every
/// [`REFRESH_INTERVAL`].
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    reconcile_all: impl futures::Stream<Item = ()> + Send + 'static,
    on_ready: impl FnOnce(),
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (sealed, secrets): (Api<WatchedSealedSecret>, Api<WatchedSecret>) = match namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let pruned = ctx.clone();
    let selected = match &ctx.options.label_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let controller = kseal_runtime::objects::controller(sealed, selected, move |event, store| {
        pruned.objects.observe(event, store)
    });
    let store = controller.store();
    // Read by sealed-secrets' `condition_info` while this runs (dropped with this future).
    let _attached = ctx
        .metrics
        .conditions()
        .map(|conditions| conditions.attach(store.clone()));
    let usage: Weak<dyn KeyUsageSource> = Arc::downgrade(&ctx) as Weak<Context>;
    ctx.metrics.key_usage().attach(usage);
    // The controller's applier waits on this store too; both are polled by this one task (joined
    // below), so the store's single waker wakes both (see `kseal_runtime::ready`).
    let ready = async move {
        if store.wait_until_ready().await.is_ok() {
            on_ready();
        }
    };
    // Only the Secrets the unsealer wrote: a cluster's other Secrets are never held or decoded. The cache
    // is updated before the change triggers a reconcile, so a reconcile never reads an older Secret than
    // the one that woke it.
    let cache = ctx.clone();
    let secret_changes = watcher(
        secrets,
        watcher::Config::default().labels(&format!("{}=true", names::MANAGED_LABEL)),
    )
    .default_backoff()
    .inspect_ok(move |event| cache.secrets.apply(event))
    .touched_objects();
    let work = controller
        .owns_stream(secret_changes)
        .reconcile_all_on(futures::stream::select(reconcile_all, resync()))
        .graceful_shutdown_on(shutdown)
        .with_config(
            kube::runtime::controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            // Reconcile errors are logged (with the object) in `reconcile`; the rest are watch errors,
            // which the watcher retries itself.
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        });
    futures::join!(ready, work);
}

/// An item every [`REFRESH_INTERVAL`].
fn resync() -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((), |()| async {
        tokio::time::sleep(REFRESH_INTERVAL).await;
        Some(((), ()))
    })
}

/// Reconciles one SealedSecret: unseal, write the Secret, report `Synced`.
#[tracing::instrument(skip_all, fields(namespace = watched.namespace().unwrap_or_default(), name = watched.name_any()))]
async fn reconcile(watched: Arc<WatchedSealedSecret>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let sealed = watched.as_ref();
    let result = unseal_one(sealed, &ctx).await;
    let outcome = match &result {
        Ok(_) => Outcome::unsealed(),
        Err(error) => {
            tracing::warn!(%error, reason = error.label(), "unseal failed");
            Outcome::failed(error)
        }
    };
    let status_changed = write_status(sealed, &ctx, &outcome).await;
    ctx.metrics.reconciled(
        &sealed.namespace().unwrap_or_default(),
        started.elapsed(),
        result.as_ref().err(),
        status_changed.as_ref().err(),
    );
    let status_changed = status_changed?;
    // An event for each change of the Secret, and for each new failure (not for every retry).
    let changed = matches!(result, Ok(true)) || (result.is_err() && status_changed);
    if changed {
        ctx.reporter.publish(sealed, outcome.notice()).await;
    }
    result?;
    ctx.objects.succeeded(sealed);
    Ok(Action::await_change())
}

/// Retries a failed object with per-object exponential backoff ([`BACKOFF`]).
fn error_policy(sealed: Arc<WatchedSealedSecret>, _error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.objects.failed(sealed.as_ref());
    match ctx.options.max_retries {
        // Given up, as sealed-secrets does: the next change of the object or of the keys (and the
        // periodic resync) tries again.
        // The first attempt and `max` retries.
        Some(max) if failures > max => Action::await_change(),
        _ => Action::requeue(BACKOFF.delay(failures)),
    }
}

/// Unseals `watched` and writes its Secret; returns whether the Secret changed.
async fn unseal_one(watched: &WatchedSealedSecret, ctx: &Context) -> Result<bool> {
    let expected = watched.expected()?;
    if expected.legacy && !ctx.options.accept_v1_data {
        return Err(Error::Invalid {
            object: kseal_runtime::meta::name_in(&watched.metadata),
            message: "spec.data (the deprecated v1 format) is refused: the controller runs with --accept-deprecated-v1-data=false".into(),
        });
    }
    let ring = ctx.keys();
    if ring.is_empty() {
        return Err(Error::NoKeys);
    }
    let name = watched.name_any();
    let namespace = watched.namespace().unwrap_or_default();
    let protected = |why| Error::ProtectedSecret {
        name: name.clone(),
        why,
    };
    if let Some(why) = plan::protection(
        ctx.key_location
            .as_ref()
            .map(|(namespace, prefix)| (namespace.as_str(), prefix.as_str())),
        &namespace,
        &name,
        None,
    ) {
        return Err(protected(why));
    }
    let existing = ctx.existing_secret(watched).await?;
    if let Some(why) = plan::protection(None, &namespace, &name, existing.as_deref()) {
        return Err(protected(why));
    }
    let ownership_for = |uid: Option<String>, expected: &Expected| match plan::ownership(
        existing.as_deref(),
        uid.as_deref(),
        expected.skips_owner_reference,
    ) {
        Ownership::Refused => Err(Error::SecretExists { name: name.clone() }),
        ownership => Ok(ownership),
    };
    let ownership = ownership_for(watched.uid(), expected)?;
    if ownership != Ownership::TakeOver
        && let Some(existing) = &existing
        && plan::is_up_to_date(existing, expected)
    {
        // Nothing to decrypt; the key that opened it last is on the Secret (for the per-key gauge).
        let recorded = plan::unsealed_with(existing).map(str::to_owned);
        ctx.objects.with(watched, |state| state.last_key = recorded);
        return Ok(false);
    }

    // The watch cache keeps no ciphertexts: read the whole object, at least as new as the watched one.
    let Some(object) = read_sealed(watched, ctx).await? else {
        // Deleted meanwhile: its Secret goes with it.
        return Ok(false);
    };
    let sealed = Arc::new(object.parse()?);
    let expected = Expected::of(&sealed);
    let ownership = ownership_for(sealed.uid(), &expected)?;
    let unsealed = decrypt(ctx, sealed, &ring, existing.as_deref()).await?;
    let desired = plan::desired_secret(unsealed, ownership, expected.digest).map_err(protected)?;
    write(
        ctx,
        &namespace,
        &name,
        desired,
        existing.as_deref(),
        ownership,
    )
    .await
}

/// Opens `sealed`, trying first the key its hint names, then the one that opened it last, then the one
/// the existing Secret records. The RSA work runs on the blocking pool, one object per core at a time.
async fn decrypt(
    ctx: &Context,
    sealed: Arc<kseal_api::SealedSecret>,
    ring: &KeyRing,
    existing: Option<&SecretSummary>,
) -> Result<kseal_core::Unsealed> {
    let hint = sealed.annotations().get(annotations::KEY_HINT).cloned();
    let last = ctx
        .objects
        .with(sealed.as_ref(), |state| state.last_key.clone());
    let recorded = existing.and_then(plan::unsealed_with);
    let preferred: Vec<&str> = hint
        .iter()
        .chain(last.iter())
        .map(String::as_str)
        .chain(recorded)
        .collect();
    let keys = ring.ordered(&preferred);

    let slot = ctx
        .decrypt_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
    let object = sealed.clone();
    let (unsealed, operations) = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let order: Vec<&str> = keys.iter().map(|k| k.fingerprint()).collect();
        let keys: Vec<&PrivateKey> = keys.iter().map(|k| &k.private).collect();
        let unsealed = kseal_core::unseal(&object, &keys);
        let operations = plan::rsa_operations(plan::value_count(&object), &order, &unsealed);
        (unsealed, operations)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    ctx.metrics.decrypted(operations);
    let used = unsealed
        .as_ref()
        .ok()
        .and_then(|u| u.keys_used.iter().next().cloned());
    // A SealedSecret no key opens any more counts for none.
    ctx.objects
        .with(sealed.as_ref(), |state| state.last_key = used);
    Ok(unsealed?)
}

/// Applies `desired` as the Secret `namespace/name`; returns whether it changed. Taking a Secret over
/// also removes the keys, labels and annotations another manager wrote (apply alone would leave them).
async fn write(
    ctx: &Context,
    namespace: &str,
    name: &str,
    desired: kseal_core::Unsealed,
    existing: Option<&SecretSummary>,
    ownership: Ownership,
) -> Result<bool> {
    let update_failed = |cause| Error::Update {
        name: name.to_owned(),
        cause,
    };
    // Serialized from the zeroizing values into a body wiped once sent (not kube's plain buffers).
    let body = desired.body().to_json().map_err(|_| Error::Invalid {
        object: format!("{namespace}/{name}"),
        message: "the Secret cannot be serialized".into(),
    })?;
    use kseal_api::secret_apply::apply;
    let before = existing.and_then(|s| s.resource_version.as_deref());
    if ownership != Ownership::TakeOver {
        let applied: WatchedSecret = apply(&ctx.client, namespace, name, FIELD_MANAGER, body)
            .await
            .map_err(update_failed)?;
        return Ok(before != applied.summary.resource_version.as_deref());
    }
    // A take-over (rare) reads the whole metadata the apply left, to remove what the template lacks.
    let applied: AppliedMetadata = apply(&ctx.client, namespace, name, FIELD_MANAGER, body)
        .await
        .map_err(update_failed)?;
    let Some(patch) = plan::takeover_patch(existing, &applied.metadata, &desired) else {
        return Ok(before != applied.metadata.resource_version.as_deref());
    };
    let secrets: Api<WatchedSecret> = Api::namespaced(ctx.client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    secrets
        .patch(name, &params, &Patch::Merge(&patch))
        .await
        .map_err(update_failed)?;
    Ok(true)
}

/// The metadata of an applied Secret; its values are skipped unread.
#[derive(serde::Deserialize)]
struct AppliedMetadata {
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
}

/// The whole SealedSecret `watched` is the cached view of, or `None` once it is deleted. Asked for at
/// least the watched version, so the API server answers from its watch cache.
async fn read_sealed(
    watched: &WatchedSealedSecret,
    ctx: &Context,
) -> Result<Option<SealedSecretObject>> {
    let api: Api<SealedSecretObject> =
        Api::namespaced(ctx.client.clone(), &watched.namespace().unwrap_or_default());
    let params = watched
        .resource_version()
        .map_or_else(GetParams::default, |version| GetParams::at(&version));
    match api.get_with(&watched.name_any(), &params).await {
        Ok(object) => Ok(Some(object)),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Writes the `Synced` condition when it changed; returns whether it did.
async fn write_status(
    sealed: &WatchedSealedSecret,
    ctx: &Context,
    outcome: &Outcome,
) -> Result<bool> {
    let version = sealed.metadata.resource_version.clone();
    let generation = sealed.metadata.generation;
    if !ctx.options.update_status {
        return Ok(false);
    }
    let in_flight = ctx.objects.with(sealed, |state| match &state.written {
        Some((over, written_generation, written)) if *over == version => {
            *written_generation == generation && written == outcome
        }
        _ => {
            state.written = None;
            false
        }
    });
    if in_flight {
        return Ok(false);
    }
    let Some(status) = synced_status(sealed.status.as_ref(), generation, outcome, &now()) else {
        return Ok(false);
    };
    let api: Api<WatchedSealedSecret> =
        Api::namespaced(ctx.client.clone(), &sealed.namespace().unwrap_or_default());
    ctx.reporter
        .patch_status(&api, &sealed.name_any(), &status)
        .await?;
    ctx.objects.with(sealed, |state| {
        state.written = Some((version, generation, outcome.clone()));
    });
    Ok(true)
}
