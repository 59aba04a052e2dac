//! The unsealer: reconciles every SealedSecret into the Secret it describes (SPEC §2.3).
//!
//! Level-triggered: each reconcile compares the existing Secret with the SealedSecret's digest
//! ([`crate::digest`]); unless it is up to date, it decrypts, builds the whole Secret with
//! [`kseal_core::unseal()`] and server-side applies it under [`FIELD_MANAGER`]. The `Synced` condition
//! is written only when it changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use kseal_api::{SealedSecret, annotations};
use kseal_crypto::PrivateKey;
use kube::api::{GetParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource as _, ResourceExt as _};

pub use crate::cache::{
    SealedSecretObject, SecretCache, SecretSummary, WatchedSealedSecret, WatchedSecret,
};
use crate::conditions::{Outcome, synced_status};
use crate::digest::{self, Expected};
use crate::keys::{KeyRing, SharedKeys};
use crate::metrics::{KeyUsageSource, Metrics};
use crate::{Error, Result};

/// Field manager of every Secret and status kseal writes.
pub const FIELD_MANAGER: &str = "kseal-controller";
/// SealedSecrets reconciled at once (decryption itself is bounded by the cores); bounds the memory of a
/// burst such as a restart with thousands of objects.
pub const MAX_CONCURRENT_RECONCILES: u16 = 32;
/// Every SealedSecret is reconciled again this often (a periodic resync repairs anything a watch
/// missed). One timer for all of them, not a requeue per object: a scheduled requeue holds about a
/// kilobyte per object in the controller's queue.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// First retry delay after a failure; doubled per consecutive failure of the same object.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

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
    /// Who publishes the events. Events are published only when something changed, so there is no
    /// series cache: kube's `Recorder` keeps every event it sent for six minutes, which after a burst of
    /// 10 000 new SealedSecrets would be a large share of the controller's memory.
    reporter: Reporter,
    keys: Arc<SharedKeys>,
    /// Bounds concurrent decryptions to the number of cores, so RSA work never queues up behind itself
    /// on the blocking pool; shared with the HTTP API.
    decrypt_slots: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    objects: Mutex<HashMap<(String, String), ObjectState>>,
    /// The watched SealedSecrets, once [`run`] has started: which objects still exist.
    sealed_store: OnceLock<Store<WatchedSealedSecret>>,
    /// The watched Secrets kseal wrote (labelled [`digest::MANAGED_LABEL`]), once [`run`] has started.
    secrets: SecretCache,
    /// The namespace of the sealing-key Secrets, where names starting with
    /// [`keys::KEY_SECRET_PREFIX`](crate::keys::KEY_SECRET_PREFIX) are never written.
    key_namespace: Option<String>,
}

/// What the unsealer remembers about one SealedSecret between reconciles.
#[derive(Debug, Default, Clone)]
struct ObjectState {
    /// Fingerprint of the key that opened it last (or that the up-to-date Secret records).
    last_key: Option<String>,
    /// Consecutive failed reconciles.
    failures: u32,
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
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: None,
        };
        Context {
            reporter,
            client,
            keys,
            decrypt_slots,
            metrics,
            objects: Mutex::default(),
            sealed_store: OnceLock::new(),
            secrets: SecretCache::default(),
            key_namespace: None,
        }
    }

    /// Protects the sealing-key Secrets of `namespace` by name, besides those labelled as keys anywhere.
    pub fn with_key_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.key_namespace = Some(namespace.into());
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

    fn update<T>(&self, object: &impl kube::Resource, f: impl FnOnce(&mut ObjectState) -> T) -> T {
        let key = (object.namespace().unwrap_or_default(), object.name_any());
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        f(objects.entry(key).or_default())
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
        let Some(store) = self.sealed_store.get() else {
            return Vec::new();
        };
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        // Only objects that still exist: a deleted SealedSecret no longer needs its key.
        objects
            .iter()
            .filter(|((namespace, name), _)| {
                store.get(&ObjectRef::new(name).within(namespace)).is_some()
            })
            .filter_map(|(_, state)| state.last_key.clone())
            .collect()
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
    let controller = Controller::new(sealed, watcher::Config::default());
    let store = controller.store();
    let _ = ctx.sealed_store.set(store.clone());
    let usage: Weak<dyn KeyUsageSource> = Arc::downgrade(&ctx) as Weak<Context>;
    ctx.metrics.key_usage().attach(usage);
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
        watcher::Config::default().labels(&format!("{}=true", digest::MANAGED_LABEL)),
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
    let result = sync(sealed, &ctx).await;
    let outcome = match &result {
        Ok(_) => Outcome::unsealed(),
        Err(error) => {
            tracing::warn!(%error, reason = error.label(), "unseal failed");
            Outcome::failed(error)
        }
    };
    let status_changed = write_status(sealed, &ctx, &outcome).await;
    let failure = match (&result, &status_changed) {
        (Err(error), _) | (Ok(_), Err(error)) => Some(error.label()),
        _ => None,
    };
    ctx.metrics.reconciled(started.elapsed(), failure);
    let status_changed = status_changed?;
    // An event for each change of the Secret, and for each new failure (not for every retry).
    let changed = matches!(result, Ok(true)) || (result.is_err() && status_changed);
    if changed {
        publish(sealed, &ctx, &outcome).await;
    }
    result?;
    ctx.update(sealed, |state| state.failures = 0);
    Ok(Action::await_change())
}

/// Retries a failed object with per-object exponential backoff.
fn error_policy(sealed: Arc<WatchedSealedSecret>, _error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.update(sealed.as_ref(), |state| {
        state.failures = state.failures.saturating_add(1);
        state.failures
    });
    Action::requeue(backoff(failures))
}

/// Delay before retry number `failures` (1-based): [`BACKOFF_BASE`] doubled, at most [`BACKOFF_MAX`].
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX)
}

/// Unseals and writes the Secret; returns whether the Secret changed.
async fn sync(watched: &WatchedSealedSecret, ctx: &Context) -> Result<bool> {
    let expected = watched.expected()?;
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
    if ctx.key_namespace.as_deref() == Some(namespace.as_str())
        && name.starts_with(crate::keys::KEY_SECRET_PREFIX)
    {
        return Err(protected(
            "sealing-key Secrets are named like this in the controller's namespace",
        ));
    }
    let existing = ctx.existing_secret(watched).await?;
    if existing.as_ref().is_some_and(|s| s.sealing_key) {
        return Err(protected("the existing Secret is a sealing key"));
    }
    let ownership_for = |uid: Option<String>, expected: &Expected| match ownership(
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
        && digest::is_up_to_date(existing, expected)
    {
        // Nothing to decrypt; the key that opened it last is on the Secret (for the per-key gauge).
        let recorded = digest::unsealed_with(existing).map(str::to_owned);
        ctx.update(watched, |state| state.last_key = recorded);
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
    let sealed_digest = expected.digest;
    let secrets: Api<WatchedSecret> = Api::namespaced(ctx.client.clone(), &namespace);

    let hint = sealed.annotations().get(annotations::KEY_HINT).cloned();
    let last = ctx.update(sealed.as_ref(), |state| state.last_key.clone());
    let recorded = existing.as_deref().and_then(digest::unsealed_with);
    let preferred: Vec<&str> = hint
        .iter()
        .chain(last.iter())
        .map(String::as_str)
        .chain(recorded)
        .collect();
    let keys = ring.ordered(&preferred);

    // RSA work is CPU-bound: keep it off the async I/O threads, one object per core at a time.
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
        let operations = rsa_operations(value_count(&object), &order, &unsealed);
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
    ctx.update(sealed.as_ref(), |state| state.last_key = used.clone());
    let unsealed = unsealed?;

    let mut desired = unsealed;
    let labels = desired.metadata.labels.as_ref();
    if labels.is_some_and(|labels| labels.contains_key(crate::keys::KEY_LABEL)) {
        // The key loader would adopt it: whoever may create a SealedSecret here could plant a sealing key.
        return Err(protected("its template labels it as a sealing key"));
    }
    if ownership == Ownership::Merge {
        desired.metadata.owner_references = None;
    }
    desired
        .metadata
        .labels
        .get_or_insert_default()
        .insert(digest::MANAGED_LABEL.into(), "true".into());
    let annotations = desired.metadata.annotations.get_or_insert_default();
    annotations.insert(digest::SEALED_DIGEST.into(), sealed_digest);
    if let Some(used) = used {
        annotations.insert(digest::UNSEALED_WITH.into(), used);
    }
    let update_failed = |cause| Error::Update {
        name: name.clone(),
        cause,
    };
    // Serialized from the zeroizing values into a body wiped once sent (not kube's plain buffers).
    let body = desired.body().to_json().map_err(|_| Error::Invalid {
        object: format!("{namespace}/{name}"),
        message: "the Secret cannot be serialized".into(),
    })?;
    let applied: WatchedSecret =
        kseal_api::secret_apply::apply(&ctx.client, &namespace, &name, FIELD_MANAGER, body)
            .await
            .map_err(update_failed)?;
    let mut changed = existing
        .as_ref()
        .and_then(|s| s.resource_version.as_deref())
        != applied.summary.resource_version.as_deref();
    // Apply leaves the keys another manager wrote; taking over overwrites the whole data.
    if ownership == Ownership::TakeOver
        && let Some(patch) = remove_stale_keys(existing.as_deref(), &desired.data)
    {
        secrets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(update_failed)?;
        changed = true;
    }
    Ok(changed)
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

/// Number of sealed values of `sealed`: each costs at least one RSA operation to open.
fn value_count(sealed: &SealedSecret) -> usize {
    match sealed.spec.data {
        Some(_) => 1,
        None => sealed.spec.encrypted_data.len(),
    }
}

/// RSA private-key operations an unseal of `values` values cost, trying the keys in `order` (fingerprints)
/// on each value until one opens it.
///
/// Exact when one key opened every value (the usual case: one SealedSecret, one sealing key) and when a
/// value failed because no key opened it; otherwise (values opened by different keys, a template failing
/// after decryption) it is a lower bound, since the result does not say which key opened which value.
pub fn rsa_operations(
    values: usize,
    order: &[&str],
    result: &kseal_core::Result<kseal_core::Unsealed>,
) -> u64 {
    use kseal_crypto::Error as Crypto;
    let position = |fingerprint: &str| order.iter().position(|k| *k == fingerprint);
    // A value that failed: every key was tried when none fits; a parse error tried none; a key whose RSA
    // step succeeded but whose body did not open (corrupted) stopped the search at some key.
    let failed = |error: &Crypto| match error {
        Crypto::NoMatchingKey => order.len(),
        Crypto::InvalidBase64(_) | Crypto::Truncated(_) => 0,
        _ => 1,
    };
    let operations = match result {
        Ok(unsealed) => {
            let mut positions: Vec<usize> = unsealed
                .keys_used
                .iter()
                .filter_map(|k| position(k))
                .collect();
            positions.sort_unstable();
            match positions.as_slice() {
                [] => 0,
                [only] => values * (only + 1),
                [first, ..] => {
                    let each_once: usize = positions.iter().map(|p| p + 1).sum();
                    each_once + values.saturating_sub(positions.len()) * (first + 1)
                }
            }
        }
        Err(kseal_core::Error::Keys { failures, .. }) => {
            let opened = values.saturating_sub(failures.len());
            opened + failures.iter().map(|(_, e)| failed(e)).sum::<usize>()
        }
        Err(kseal_core::Error::Crypto { source, .. }) => failed(source),
        Err(kseal_core::Error::Template { .. }) => values,
        Err(_) => 0,
    };
    operations as u64
}

/// A merge patch removing the data keys of `existing` that `desired` does not have, if there are any.
pub fn remove_stale_keys<V>(
    existing: Option<&SecretSummary>,
    wanted: &BTreeMap<String, V>,
) -> Option<serde_json::Value> {
    let stale: serde_json::Map<String, serde_json::Value> = existing?
        .keys
        .iter()
        .filter(|key| !wanted.contains_key(*key))
        .map(|key| (key.to_owned(), serde_json::Value::Null))
        .collect();
    (!stale.is_empty()).then(|| serde_json::json!({ "data": stale }))
}

/// How the unsealer may treat the Secret that already has the SealedSecret's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// No Secret yet, or one this SealedSecret controls (or kseal wrote before): apply it whole.
    Owned,
    /// Annotated `managed: "true"`: take it over and set the ownerReference.
    TakeOver,
    /// Annotated `patch: "true"`: merge the unsealed keys in, without ownership.
    Merge,
    /// Someone else's Secret: leave it alone.
    Refused,
}

/// Decides how to treat `existing` for the SealedSecret with UID `sealed_uid`; `skips_owner_reference`
/// when its template opts out of the ownerReference.
pub fn ownership(
    existing: Option<&SecretSummary>,
    sealed_uid: Option<&str>,
    skips_owner_reference: bool,
) -> Ownership {
    let Some(existing) = existing else {
        return Ownership::Owned;
    };
    if existing.patch {
        return Ownership::Merge;
    }
    let controlled = sealed_uid.is_some() && existing.controller.as_deref() == sealed_uid;
    // Without an ownerReference (skip-set-owner-references), a Secret kseal applied before stays kseal's.
    // Only then: a Secret once merged into (`patch`) must not be taken over when that annotation goes.
    let applied_by_kseal = skips_owner_reference && existing.written_by_kseal;
    if controlled || applied_by_kseal {
        Ownership::Owned
    } else if existing.managed {
        Ownership::TakeOver
    } else {
        Ownership::Refused
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
    let in_flight = ctx.update(sealed, |state| match &state.written {
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
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &sealed.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    ctx.update(sealed, |state| {
        state.written = Some((version, generation, outcome.clone()));
    });
    Ok(true)
}

/// Publishes `outcome` as an event on the SealedSecret; a failure is only logged.
async fn publish(sealed: &WatchedSealedSecret, ctx: &Context, outcome: &Outcome) {
    let event = Event {
        type_: if outcome.synced {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: outcome.reason.into(),
        note: Some(outcome.message.clone()),
        action: "Unseal".into(),
        secondary: None,
    };
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    if let Err(error) = recorder.publish(&event, &sealed.object_ref(&())).await {
        tracing::warn!(%error, "cannot publish event");
    }
}

/// The current time as RFC 3339 with whole seconds, as Kubernetes writes condition times.
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        ManagedFieldsEntry, ObjectMeta, OwnerReference,
    };

    use super::*;

    fn secret(annotations: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn ownership_follows_owner_references_and_annotations() {
        assert_eq!(ownership(None, Some("u1"), false), Ownership::Owned);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&secret(&[]))), Some("u1"), false),
            Ownership::Refused
        );
        let managed = secret(&[(annotations::MANAGED, "true")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&managed)), Some("u1"), false),
            Ownership::TakeOver
        );
        let patch = secret(&[(annotations::PATCH, "true")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&patch)), Some("u1"), false),
            Ownership::Merge
        );
        let not_true = secret(&[(annotations::MANAGED, "yes")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&not_true)), Some("u1"), false),
            Ownership::Refused
        );

        let mut owned = secret(&[]);
        owned.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u1".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&owned)), Some("u1"), false),
            Ownership::Owned
        );
        // Owned by another SealedSecret of the same name (deleted and recreated): not ours.
        assert_eq!(
            ownership(Some(&SecretSummary::from(&owned)), Some("u2"), false),
            Ownership::Refused
        );

        let mut applied = secret(&[]);
        applied.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(FIELD_MANAGER.into()),
            ..ManagedFieldsEntry::default()
        }]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&applied)), Some("u1"), true),
            Ownership::Owned
        );
        // Merged into once (`patch`), then the annotation removed: still not kseal's.
        assert_eq!(
            ownership(Some(&SecretSummary::from(&applied)), Some("u1"), false),
            Ownership::Refused
        );
    }

    #[test]
    fn taking_over_removes_only_foreign_keys() {
        let data = |keys: &[&str]| {
            Some(
                keys.iter()
                    .map(|k| ((*k).to_owned(), k8s_openapi::ByteString(b"x".to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let existing = Secret {
            data: data(&["old", "password"]),
            ..secret(&[])
        };
        let desired = Secret {
            data: data(&["password"]),
            ..Secret::default()
        };
        let wanted = desired.data.clone().unwrap_or_default();
        assert_eq!(
            remove_stale_keys(Some(&SecretSummary::from(&existing)), &wanted),
            Some(serde_json::json!({ "data": { "old": null } }))
        );
        assert_eq!(
            remove_stale_keys(Some(&SecretSummary::from(&desired)), &wanted),
            None
        );
        assert_eq!(remove_stale_keys(None, &wanted), None);
    }

    #[test]
    fn rsa_operations_count_each_key_tried_on_each_value() {
        let unsealed = |used: &[&str]| {
            Ok(kseal_core::Unsealed {
                keys_used: used.iter().map(|k| (*k).to_owned()).collect(),
                ..kseal_core::Unsealed::default()
            })
        };
        let order = ["hint", "b", "c"];
        // The hinted key opens all three values: one operation each.
        assert_eq!(rsa_operations(3, &order, &unsealed(&["hint"])), 3);
        // The third key: two failed tries per value first.
        assert_eq!(rsa_operations(2, &order, &unsealed(&["c"])), 6);
        // Two keys over three values: at least 1 + 3, plus 1 for the third value.
        assert_eq!(rsa_operations(3, &order, &unsealed(&["hint", "c"])), 5);
        assert_eq!(rsa_operations(0, &order, &unsealed(&[])), 0);

        let failed = |errors: Vec<kseal_crypto::Error>| {
            Err(kseal_core::Error::Keys {
                object: "ns/s".into(),
                failures: errors.into_iter().map(|e| ("k".to_owned(), e)).collect(),
            })
        };
        // One value no key opens (every key tried), one truncated (none tried), one opened.
        let result = failed(vec![
            kseal_crypto::Error::NoMatchingKey,
            kseal_crypto::Error::Truncated("short".into()),
        ]);
        assert_eq!(rsa_operations(3, &order, &result), 3 + 1);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(30), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
