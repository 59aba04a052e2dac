//! PushSecrets (`external-secrets.io/v1alpha1`): keys of a Secret pushed to AWS Secrets Manager, as
//! ESO pushes them.
//!
//! At each due refresh (a new generation, or `refreshInterval` after the last push) the source Secret
//! is read and each `data` entry is pushed to every store `secretStoreRefs` selects (by name or by
//! label). A remote secret is created tagged `managed-by: external-secrets` (ESO's tag) and is only
//! ever written over or deleted while it carries that tag: one made by anyone else is refused. A
//! value is written only when it differs from the remote one. Under `updatePolicy: IfNotExists` a
//! remote secret that exists is left as it is. Under `deletionPolicy: Delete` the PushSecret carries
//! ESO's finalizer, and the remote secrets it no longer pushes (an entry removed, the source Secret
//! deleted, the PushSecret deleted) are deleted with the store's `secretsManager` options.
//!
//! The controller's sealing keys are never pushed. Messages name the PushSecret, store, Secret and
//! key, never a value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::external_secrets::{Condition, StoreKind};
use kseal_api::push_secret::{
    FINALIZER, PushConversionStrategy, PushDeletionPolicy, PushSecret, PushSecretData,
    PushSecretSpec, PushSecretStatus, PushSecretStoreRef, PushUpdatePolicy,
};
use kseal_core::conditions::{self as kseal_conditions, Position, Verdict};
use kseal_runtime::ObjectTable;
use kseal_runtime::meta::name_in;
use kseal_runtime::report::Notice;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::kube;
use crate::provider::aws::push::{self as remote, Creation, Format};
use crate::stores::{self, StoreHandle};
use crate::watched::SpecError;
use crate::{Context, Error, FIELD_MANAGER, Result};

/// `Ready` reasons (ESO's).
pub mod reasons {
    /// Every entry was pushed.
    pub const SYNCED: &str = "Synced";
    /// Something failed.
    pub const ERRORED: &str = "Errored";
    /// The source Secret is gone and the remote secrets were deleted.
    pub const SOURCE_DELETED: &str = "SourceDeleted";
    /// The PushSecret sets a field kseal does not implement.
    pub const UNSUPPORTED: &str = "Unsupported";
}

/// The refresh interval without `spec.refreshInterval` (ESO's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How often the controller looks again for the PushSecret CRD while it is not installed.
const CRD_POLL: Duration = Duration::from_secs(10);
/// The most bytes of one pushed value (what a Secret holds).
const MAX_VALUE: usize = 1 << 20;

/// A PushSecret as watched: the spec parsed once, when it arrives.
#[derive(kube::Resource, Clone, Debug, serde::Serialize)]
#[resource(inherit = PushSecret)]
pub struct WatchedPushSecret {
    /// The object's metadata (without `managedFields`).
    pub metadata: ObjectMeta,
    /// The spec, or why it does not parse.
    #[serde(skip)]
    pub spec: std::result::Result<PushSecretSpec, SpecError>,
    /// The status; one kseal cannot read counts as none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PushSecretStatus>,
}

impl<'de> Deserialize<'de> for WatchedPushSecret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let raw = crate::watched::RawObject::deserialize(deserializer)?;
        let spec =
            crate::watched::parse_at(&raw.spec, &raw.metadata, "spec").map_err(SpecError::from);
        let status = raw.status.and_then(|s| serde_json::from_value(s).ok());
        Ok(WatchedPushSecret {
            metadata: raw.metadata,
            spec,
            status,
        })
    }
}

/// The PushSecret reconciler's state: the sync's (stores, providers, reporter) and per-object
/// failures for the backoff.
struct PushContext {
    sync: Arc<Context>,
    failures: ObjectTable<()>,
}

/// Runs the PushSecret reconciler for `api` until `shutdown`, once the API server serves PushSecrets.
pub(crate) async fn run(
    sync: Arc<Context>,
    api: Api<WatchedPushSecret>,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let waiting = async {
        let mut logged = false;
        loop {
            match api.list_metadata(&ListParams::default().limit(1)).await {
                Ok(_) => break,
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    if !logged {
                        tracing::warn!(
                            "pushsecrets.external-secrets.io is not served: PushSecrets wait for its CRD"
                        );
                        logged = true;
                    }
                }
                Err(error) => {
                    let error = crate::kube_message("the PushSecrets", &error);
                    tracing::debug!(%error, "cannot list PushSecrets yet");
                }
            }
            tokio::time::sleep(CRD_POLL).await;
        }
    };
    tokio::select! {
        () = waiting => {}
        () = shutdown.clone() => return,
    }
    let ctx = Arc::new(PushContext {
        sync,
        failures: ObjectTable::default(),
    });
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(ps: Arc<WatchedPushSecret>, error: &Error, ctx: Arc<PushContext>) -> Action {
    tracing::warn!(%error, reason = error.reason(), "PushSecret reconcile failed");
    Action::requeue(crate::schedule::BACKOFF.delay(ctx.failures.failed(ps.as_ref())))
}

/// What a store key of `status.syncedPushSecrets` names: `SecretStore/name`, `ClusterSecretStore/name`.
fn store_key(kind: StoreKind, name: &str) -> String {
    let kind = match kind {
        StoreKind::SecretStore => "SecretStore",
        StoreKind::ClusterSecretStore => "ClusterSecretStore",
    };
    format!("{kind}/{name}")
}

/// The store a store key names.
fn parse_store_key(key: &str) -> Option<(StoreKind, &str)> {
    let (kind, name) = key.split_once('/')?;
    let kind = match kind {
        "SecretStore" => StoreKind::SecretStore,
        "ClusterSecretStore" => StoreKind::ClusterSecretStore,
        _ => return None,
    };
    Some((kind, name))
}

/// The entry key of `status.syncedPushSecrets` (ESO's): the remote key, and `/property` if any.
fn entry_key(data: &PushSecretData) -> String {
    let remote = &data.match_.remote_ref;
    match remote.property.as_deref().filter(|p| !p.is_empty()) {
        Some(property) => format!("{}/{property}", remote.remote_key),
        None => remote.remote_key.clone(),
    }
}

/// What was pushed: store key → entry key → entry.
type Synced = BTreeMap<String, BTreeMap<String, PushSecretData>>;

async fn reconcile(watched: Arc<WatchedPushSecret>, ctx: Arc<PushContext>) -> Result<Action> {
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    let display = format!("PushSecret {namespace}/{name}");
    let previous = watched.status.clone().unwrap_or_default();
    let has_finalizer = watched.finalizers().iter().any(|f| f == FINALIZER);
    let spec = match &watched.spec {
        Ok(spec) => spec.clone(),
        Err(error) => {
            if watched.metadata.deletion_timestamp.is_some() && has_finalizer {
                // Unreadable now: what it pushed is still in the status.
                delete_all(&ctx, &namespace, &previous.synced_push_secrets).await?;
                set_finalizer(&ctx, &watched, false).await?;
                return Ok(Action::await_change());
            }
            let (reason, message) = match error {
                SpecError::Unsupported(message) => (reasons::UNSUPPORTED, message.clone()),
                SpecError::Invalid(message) => (reasons::ERRORED, message.clone()),
            };
            report_failure(&ctx, &watched, &previous, reason, &message).await?;
            return Ok(Action::await_change());
        }
    };

    if watched.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if let Err(error) = delete_all(&ctx, &namespace, &previous.synced_push_secrets).await {
                let message = format!("Failed to Delete Secrets from Provider: {error}");
                report_failure(&ctx, &watched, &previous, reasons::ERRORED, &message).await?;
                return Err(error);
            }
            set_finalizer(&ctx, &watched, false).await?;
        }
        return Ok(Action::await_change());
    }
    let delete = spec.deletion_policy == PushDeletionPolicy::Delete;
    if delete != has_finalizer {
        // The change re-triggers this reconcile.
        set_finalizer(&ctx, &watched, delete).await?;
        return Ok(Action::await_change());
    }

    let interval = match spec.refresh_interval.as_deref() {
        None => DEFAULT_INTERVAL,
        Some(text) => match kseal_api::duration::parse(text) {
            Ok(interval) => interval,
            Err(error) => {
                let message = format!("{display}: invalid spec.refreshInterval: {error}");
                report_failure(&ctx, &watched, &previous, reasons::ERRORED, &message).await?;
                return Ok(Action::await_change());
            }
        },
    };
    let generation = watched.metadata.generation.unwrap_or_default().to_string();
    let now = SystemTime::now();
    let last = previous
        .refresh_time
        .as_ref()
        .map(|t| SystemTime::from(t.0));
    let spec_synced = previous.synced_resource_version.as_deref() == Some(generation.as_str());
    let due_at = match last {
        Some(_) if spec_synced && interval.is_zero() => None,
        Some(last) if spec_synced => Some(last + interval),
        _ => Some(now),
    };
    match due_at {
        None => return Ok(Action::await_change()),
        Some(at) if at > now => {
            return Ok(Action::requeue(at.duration_since(now).unwrap_or_default()));
        }
        Some(_) => {}
    }

    let outcome = push(&ctx, &watched, &spec, &namespace, &display).await;
    let requeue = (!interval.is_zero()).then_some(interval);
    match outcome {
        Ok(Pushed::Synced(synced)) => {
            ctx.failures.succeeded(watched.as_ref());
            let mut message = "PushSecret synced successfully".to_owned();
            if spec.update_policy == PushUpdatePolicy::IfNotExists {
                message.push_str(". Existing secrets in providers unchanged.");
            }
            let mut status = with_ready(&previous, true, reasons::SYNCED, &message);
            status.synced_push_secrets = synced;
            status.refresh_time = Some(kseal_conditions::eso_time(now));
            status.synced_resource_version = Some(generation);
            report(&ctx, &watched, &previous, status).await?;
            Ok(requeue.map_or_else(Action::await_change, Action::requeue))
        }
        Ok(Pushed::SourceDeleted) => {
            let mut status = with_ready(
                &previous,
                false,
                reasons::SOURCE_DELETED,
                "source secret deleted; provider secrets cleaned up",
            );
            status.synced_push_secrets = Synced::new();
            report(&ctx, &watched, &previous, status).await?;
            Ok(Action::await_change())
        }
        Err((error, synced)) => {
            let reason = match &error {
                Error::Unsupported { .. } => reasons::UNSUPPORTED,
                _ => reasons::ERRORED,
            };
            let mut status = failed(&previous, reason, &error.to_string());
            // What did get pushed stays listed, so a later deletion finds it.
            for (store, entries) in synced {
                status
                    .synced_push_secrets
                    .entry(store)
                    .or_default()
                    .extend(entries);
            }
            report(&ctx, &watched, &previous, status).await?;
            Err(error)
        }
    }
}

/// What a push did.
enum Pushed {
    /// Every entry is in its stores, as listed.
    Synced(Synced),
    /// The source Secret is gone; what was pushed is deleted (`deletionPolicy: Delete`).
    SourceDeleted,
}

/// Pushes every entry of `spec` to every store it selects, then deletes what is no longer pushed
/// (`deletionPolicy: Delete`). On failure, the error and what was pushed before it.
async fn push(
    ctx: &PushContext,
    watched: &WatchedPushSecret,
    spec: &PushSecretSpec,
    namespace: &str,
    display: &str,
) -> std::result::Result<Pushed, (Error, Synced)> {
    let previous = watched.status.clone().unwrap_or_default();
    let delete = spec.deletion_policy == PushDeletionPolicy::Delete;
    if let Some(index) = spec
        .data
        .iter()
        .position(|d| d.conversion_strategy == Some(PushConversionStrategy::ReverseUnicode))
    {
        return Err((
            Error::Unsupported {
                message: format!(
                    "{display}: spec.data[{index}].conversionStrategy ReverseUnicode is not supported by kseal; nothing is pushed"
                ),
            },
            Synced::new(),
        ));
    }
    // Every entry's metadata is checked before anything is pushed.
    for (index, entry) in spec.data.iter().enumerate() {
        metadata(watched, entry, &format!("spec.data[{index}]")).map_err(|e| (e, Synced::new()))?;
    }
    let source = spec
        .selector
        .secret
        .as_ref()
        .map(|s| s.name.as_str())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            (
                Error::Invalid {
                    message: format!("{display}: spec.selector.secret.name is required"),
                },
                Synced::new(),
            )
        })?;
    let api: Api<Secret> = Api::namespaced(ctx.sync.client.clone(), namespace);
    let secret = api.get_opt(source).await.map_err(|error| {
        (
            kube(format!("Secret {namespace}/{source}"))(error),
            Synced::new(),
        )
    })?;
    let Some(secret) = secret else {
        if delete && !previous.synced_push_secrets.is_empty() {
            delete_all(ctx, namespace, &previous.synced_push_secrets)
                .await
                .map_err(|error| (error, Synced::new()))?;
            return Ok(Pushed::SourceDeleted);
        }
        return Err((
            Error::Invalid {
                message: format!(
                    "{display}: could not get source secret: Secret {namespace}/{source} not found"
                ),
            },
            Synced::new(),
        ));
    };
    if let Some(why) =
        crate::protect::sealing_key(&ctx.sync.config.sealing_keys, namespace, &secret)
    {
        return Err((
            Error::Invalid {
                message: format!("{display}: Secret {namespace}/{source} is never pushed: {why}"),
            },
            Synced::new(),
        ));
    }
    let data = stores::secret_data(secret);

    let targets = selected_stores(ctx, &spec.secret_store_refs, namespace)
        .map_err(|error| (error, Synced::new()))?;
    let mut synced = Synced::new();
    for (kind, store_name) in targets {
        let key = store_key(kind, &store_name);
        let resolved = resolve(ctx, kind, &store_name, namespace)
            .await
            .map_err(|error| (error, synced.clone()))?;
        let mut entries = BTreeMap::new();
        for (index, entry) in spec.data.iter().enumerate() {
            let at = format!("spec.data[{index}]");
            let pushed = push_entry(
                watched,
                &resolved,
                entry,
                &data,
                spec.update_policy,
                &at,
                source,
            )
            .await;
            if let Err(error) = pushed {
                synced.insert(key, entries);
                return Err((error, synced));
            }
            entries.insert(entry_key(entry), entry.clone());
        }
        synced.insert(key, entries);
    }
    if delete {
        for (store, entries) in &previous.synced_push_secrets {
            let kept = synced.get(store);
            let gone: BTreeMap<String, PushSecretData> = entries
                .iter()
                .filter(|(key, _)| kept.is_none_or(|kept| !kept.contains_key(*key)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if gone.is_empty() {
                continue;
            }
            let one = Synced::from([(store.clone(), gone)]);
            if let Err(error) = delete_all(ctx, namespace, &one).await {
                // What could not be deleted stays listed, to be deleted later.
                let mut listed = synced.clone();
                listed
                    .entry(store.clone())
                    .or_default()
                    .extend(one[store].clone());
                return Err((error, listed));
            }
        }
    }
    Ok(Pushed::Synced(synced))
}

/// The stores `refs` select from `namespace`, as (kind, name), each once, in order.
fn selected_stores(
    ctx: &PushContext,
    refs: &[PushSecretStoreRef],
    namespace: &str,
) -> Result<Vec<(StoreKind, String)>> {
    let mut out: Vec<(StoreKind, String)> = Vec::new();
    for (index, reference) in refs.iter().enumerate() {
        let mut add = |kind, name: String| {
            if !out.iter().any(|(k, n)| *k == kind && *n == name) {
                out.push((kind, name));
            }
        };
        match (
            reference.name.as_deref().filter(|n| !n.is_empty()),
            &reference.label_selector,
        ) {
            (Some(name), _) => add(reference.kind, name.to_owned()),
            (None, Some(selector)) => {
                let caches = ctx.sync.store_caches.get().ok_or_else(|| Error::Store {
                    message: "the stores are not listed yet".to_owned(),
                })?;
                match reference.kind {
                    StoreKind::SecretStore => {
                        for store in caches.namespaced.state() {
                            if store.namespace().as_deref() == Some(namespace)
                                && stores::selector_matches(selector, store.labels())
                            {
                                add(StoreKind::SecretStore, store.name_any());
                            }
                        }
                    }
                    StoreKind::ClusterSecretStore => {
                        for store in caches.cluster.state() {
                            if stores::selector_matches(selector, store.labels()) {
                                add(StoreKind::ClusterSecretStore, store.name_any());
                            }
                        }
                    }
                }
            }
            (None, None) => {
                return Err(Error::Invalid {
                    message: format!("spec.secretStoreRefs[{index}]: set name or labelSelector"),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid {
            message: "spec.secretStoreRefs selects no store".to_owned(),
        });
    }
    Ok(out)
}

/// The store `kind`/`name` as used from `namespace`, refused unless it is AWS Secrets Manager.
async fn resolve(
    ctx: &PushContext,
    kind: StoreKind,
    name: &str,
    namespace: &str,
) -> Result<stores::ResolvedStore> {
    let sync = &ctx.sync;
    let resolved = stores::resolve(
        &sync.client,
        &sync.providers,
        sync.store_caches.get(),
        kind,
        name,
        namespace,
        &sync.config,
    )
    .await?;
    let unsupported = |what: &str| Error::Unsupported {
        message: format!(
            "{}: pushing to {what} is not supported by kseal (AWS Secrets Manager is); nothing is pushed",
            resolved.display
        ),
    };
    match &resolved.handle {
        StoreHandle::Fake(_) => Err(unsupported("the fake provider")),
        StoreHandle::Kubernetes(_) => Err(unsupported("the kubernetes provider")),
        StoreHandle::Aws { .. } if resolved.parameter_store => Err(unsupported("Parameter Store")),
        StoreHandle::Aws { .. } => Ok(resolved),
    }
}

/// `spec.data[].metadata` for AWS Secrets Manager (ESO's `PushSecretMetadata`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    spec: MetadataSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MetadataSpec {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    secret_push_format: Option<String>,
    #[serde(default)]
    kms_key_id: Option<String>,
}

/// The format, what a created secret carries, and whether the metadata names tags.
fn metadata(
    watched: &WatchedPushSecret,
    entry: &PushSecretData,
    at: &str,
) -> Result<(Format, Creation, bool)> {
    let parsed: Metadata = match &entry.metadata {
        None => Metadata::default(),
        Some(value) => {
            crate::watched::parse_at(value, &watched.metadata, &format!("{at}.metadata"))?
        }
    };
    let invalid = |message: String| Error::Invalid {
        message: format!("{}: {at}.metadata: {message}", name_in(&watched.metadata)),
    };
    if let Some(api_version) = parsed
        .api_version
        .as_deref()
        .filter(|v| *v != "kubernetes.external-secrets.io/v1alpha1")
    {
        return Err(invalid(format!("unexpected apiVersion {api_version:?}")));
    }
    if let Some(kind) = parsed
        .kind
        .as_deref()
        .filter(|k| *k != "PushSecretMetadata")
    {
        return Err(invalid(format!("unexpected kind {kind:?}")));
    }
    let spec = parsed.spec;
    let format = match spec.secret_push_format.as_deref().unwrap_or("binary") {
        "" | "binary" => Format::Binary,
        "string" => Format::String,
        other => return Err(invalid(format!("invalid secret push format: {other}"))),
    };
    if spec.tags.contains_key(remote::MANAGED_BY.0) {
        return Err(invalid(format!(
            "Cannot specify a '{}' tag",
            remote::MANAGED_BY.0
        )));
    }
    let names_tags = !spec.tags.is_empty();
    let mut tags = spec.tags;
    tags.insert(
        remote::MANAGED_BY.0.to_owned(),
        remote::MANAGED_BY.1.to_owned(),
    );
    let creation = Creation {
        description: spec
            .description
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| remote::DEFAULT_DESCRIPTION.to_owned()),
        kms_key_id: spec
            .kms_key_id
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| remote::DEFAULT_KMS_KEY.to_owned()),
        tags,
    };
    Ok((format, creation, names_tags))
}

/// Pushes one entry to one store.
#[allow(clippy::too_many_arguments)]
async fn push_entry(
    watched: &WatchedPushSecret,
    store: &stores::ResolvedStore,
    entry: &PushSecretData,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    policy: PushUpdatePolicy,
    at: &str,
    source: &str,
) -> Result<()> {
    let StoreHandle::Aws { provider, .. } = &store.handle else {
        return Ok(());
    };
    let namespace = watched.namespace().unwrap_or_default();
    let (format, creation, names_tags) = metadata(watched, entry, at)?;
    let value = match entry.match_.secret_key.as_deref().filter(|k| !k.is_empty()) {
        Some(key) => data.get(key).cloned().ok_or_else(|| Error::Invalid {
            message: format!("{at}: Secret {namespace}/{source} has no key {key:?}"),
        })?,
        None => whole_secret(data),
    };
    if value.len() > MAX_VALUE {
        return Err(Error::Invalid {
            message: format!("{at}: the value is larger than {MAX_VALUE} bytes"),
        });
    }
    let remote_key = &entry.match_.remote_ref.remote_key;
    let property = entry
        .match_
        .remote_ref
        .property
        .as_deref()
        .filter(|p| !p.is_empty());
    let failed = |source| Error::Provider {
        store: store.display.clone(),
        key: remote_key.clone(),
        source,
    };
    if policy == PushUpdatePolicy::IfNotExists
        && provider.exists_for_push(remote_key).await.map_err(failed)?
    {
        return Ok(());
    }
    match provider
        .describe_for_push(remote_key)
        .await
        .map_err(failed)?
    {
        None => {
            let value = with_property(None, property, &value).map_err(|m| invalid_at(at, m))?;
            provider
                .create_for_push(remote_key, &value, format, &creation)
                .await
                .map_err(failed)?;
        }
        Some(existing) if !existing.managed => {
            return Err(Error::Store {
                message: format!(
                    "{}: remote key {remote_key:?}: secret not managed by external-secrets (it has no tag {}={}); it is not written over",
                    store.display,
                    remote::MANAGED_BY.0,
                    remote::MANAGED_BY.1
                ),
            });
        }
        Some(existing) => {
            if names_tags {
                provider
                    .retag_for_push(remote_key, &existing.tags, &creation.tags)
                    .await
                    .map_err(failed)?;
            }
            let current = existing.value.as_deref().map(Vec::as_slice);
            let value = with_property(current, property, &value).map_err(|m| invalid_at(at, m))?;
            if current != Some(value.as_slice()) {
                provider
                    .put_for_push(remote_key, &value, format)
                    .await
                    .map_err(failed)?;
            }
        }
    }
    Ok(())
}

fn invalid_at(at: &str, message: String) -> Error {
    Error::Invalid {
        message: format!("{at}: {message}"),
    }
}

/// The whole Secret as ESO pushes it without `secretKey`: a JSON object of its keys and values (as
/// text), keys sorted, without HTML escaping.
fn whole_secret(data: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Zeroizing<Vec<u8>> {
    crate::provider::go_json_text_map(data)
}

/// The value to write: `value` itself, or with `property` the current JSON (none: `{}`) with that
/// member (a dotted path) set to `value` as a string. When the member already holds it, the current
/// bytes as they are (nothing to write).
fn with_property(
    current: Option<&[u8]>,
    property: Option<&str>,
    value: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let Some(property) = property else {
        return Ok(Zeroizing::new(value.to_vec()));
    };
    let current = current.filter(|c| !c.is_empty());
    let mut json: serde_json::Value = match current {
        None => serde_json::json!({}),
        Some(bytes) => serde_json::from_slice(bytes).map_err(|_| {
            "PushSecret for aws secrets manager with a pushSecretData property requires a json secret"
                .to_owned()
        })?,
    };
    let wanted = serde_json::Value::String(String::from_utf8_lossy(value).into_owned());
    let path: Vec<&str> = property.split('.').collect();
    let mut node = &mut json;
    for (depth, part) in path.iter().enumerate() {
        let serde_json::Value::Object(members) = node else {
            return Err(format!(
                "property {property:?}: the remote value at depth {depth} is not a JSON object"
            ));
        };
        if depth + 1 == path.len() {
            if members.get(*part) == Some(&wanted) {
                return Ok(Zeroizing::new(current.unwrap_or_default().to_vec()));
            }
            members.insert((*part).to_owned(), wanted);
            break;
        }
        node = members
            .entry((*part).to_owned())
            .or_insert_with(|| serde_json::json!({}));
    }
    Ok(Zeroizing::new(
        serde_json::to_vec(&json).unwrap_or_default(),
    ))
}

/// Deletes every remote secret `synced` lists (each store's own way), skipping stores that are gone.
async fn delete_all(ctx: &PushContext, namespace: &str, synced: &Synced) -> Result<()> {
    for (key, entries) in synced {
        let Some((kind, name)) = parse_store_key(key) else {
            continue;
        };
        let store = match resolve(ctx, kind, name, namespace).await {
            Ok(store) => store,
            Err(error) => {
                return Err(Error::Store {
                    message: format!("could not get secrets client for store {key}: {error}"),
                });
            }
        };
        let StoreHandle::Aws { provider, .. } = &store.handle else {
            continue;
        };
        let force = store
            .secrets_manager
            .force_delete_without_recovery
            .unwrap_or(false);
        let days = store.secrets_manager.recovery_window_in_days;
        for entry in entries.values() {
            let remote_key = &entry.match_.remote_ref.remote_key;
            provider
                .delete_for_push(remote_key, force, days)
                .await
                .map_err(|source| Error::Provider {
                    store: store.display.clone(),
                    key: remote_key.clone(),
                    source,
                })?;
        }
    }
    Ok(())
}

/// Adds or removes ESO's finalizer (a merge patch guarded by the resource version).
async fn set_finalizer(
    ctx: &PushContext,
    watched: &WatchedPushSecret,
    present: bool,
) -> Result<()> {
    let mut finalizers: Vec<String> = watched
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    let api: Api<WatchedPushSecret> = Api::namespaced(ctx.sync.client.clone(), &namespace);
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": watched.resource_version(),
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match api.patch(&name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        // Deleted meanwhile, or changed: the next event reconciles again.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(error) => Err(kube(format!("PushSecret {namespace}/{name}"))(error)),
    }
}

/// `previous` with `Ready` saying (`ok`, `reason`, `message`).
fn with_ready(
    previous: &PushSecretStatus,
    ok: bool,
    reason: &str,
    message: &str,
) -> PushSecretStatus {
    let verdict = Verdict {
        type_: "Ready",
        ok,
        reason,
        message,
    };
    let now = kseal_conditions::eso_time(SystemTime::now());
    PushSecretStatus {
        conditions: kseal_conditions::set::<Condition>(
            &previous.conditions,
            &verdict,
            &now,
            Position::Last,
        ),
        ..previous.clone()
    }
}

/// Writes `Ready=False` with `reason` and `message`.
async fn report_failure(
    ctx: &PushContext,
    watched: &WatchedPushSecret,
    previous: &PushSecretStatus,
    reason: &str,
    message: &str,
) -> Result<()> {
    report(ctx, watched, previous, failed(previous, reason, message)).await
}

fn failed(previous: &PushSecretStatus, reason: &str, message: &str) -> PushSecretStatus {
    with_ready(previous, false, reason, message)
}

/// Writes `status` when it says something new, and publishes an event when `Ready` changed.
async fn report(
    ctx: &PushContext,
    watched: &WatchedPushSecret,
    previous: &PushSecretStatus,
    status: PushSecretStatus,
) -> Result<()> {
    let unchanged = kseal_conditions::same(&previous.conditions, &status.conditions)
        && previous.synced_push_secrets == status.synced_push_secrets
        && previous.synced_resource_version == status.synced_resource_version
        && previous.refresh_time == status.refresh_time;
    if unchanged {
        return Ok(());
    }
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    let api: Api<WatchedPushSecret> = Api::namespaced(ctx.sync.client.clone(), &namespace);
    let body = status_patch(previous, &status);
    match ctx.sync.reporter.patch_status(&api, &name, &body).await {
        Ok(()) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(error) => {
            return Err(kube(format!("the status of PushSecret {namespace}/{name}"))(error));
        }
    }
    if !kseal_conditions::same(&previous.conditions, &status.conditions)
        && let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready")
    {
        let notice = Notice {
            warning: ready.status != "True"
                && ready.reason.as_deref() != Some(reasons::SOURCE_DELETED),
            reason: ready.reason.clone().unwrap_or_default(),
            note: ready.message.clone().unwrap_or_default(),
            action: "Push",
        };
        ctx.sync.reporter.publish(watched, notice).await;
    }
    Ok(())
}

/// The merge patch that turns `previous` into `status`: entries of `syncedPushSecrets` that went are
/// sent as `null` (a merge patch merges maps).
fn status_patch(previous: &PushSecretStatus, status: &PushSecretStatus) -> serde_json::Value {
    let mut synced = serde_json::Map::new();
    for (store, entries) in &previous.synced_push_secrets {
        match status.synced_push_secrets.get(store) {
            None => {
                synced.insert(store.clone(), serde_json::Value::Null);
            }
            Some(kept) => {
                let gone: serde_json::Map<String, serde_json::Value> = entries
                    .keys()
                    .filter(|key| !kept.contains_key(*key))
                    .map(|key| (key.clone(), serde_json::Value::Null))
                    .collect();
                synced.insert(store.clone(), serde_json::Value::Object(gone));
            }
        }
    }
    for (store, entries) in &status.synced_push_secrets {
        let slot = synced
            .entry(store.clone())
            .or_insert_with(|| serde_json::json!({}));
        if let serde_json::Value::Object(slot) = slot {
            for (key, entry) in entries {
                slot.insert(key.clone(), serde_json::to_value(entry).unwrap_or_default());
            }
        }
    }
    serde_json::json!({
        "refreshTime": status.refresh_time,
        "syncedResourceVersion": status.synced_resource_version,
        "conditions": status.conditions,
        "syncedPushSecrets": synced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_is_set_in_the_remote_json_and_an_equal_one_is_not_rewritten() {
        let set = |current: Option<&str>, property, value: &str| {
            with_property(current.map(str::as_bytes), Some(property), value.as_bytes())
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        assert_eq!(
            set(None, "password", "s3cr3t").unwrap(),
            r#"{"password":"s3cr3t"}"#
        );
        assert_eq!(
            set(Some(r#"{"user":"admin"}"#), "db.password", "x").unwrap(),
            r#"{"db":{"password":"x"},"user":"admin"}"#
        );
        // Already there: the current bytes, whatever their layout.
        let current = "{ \"z\": 1, \"password\": \"s3cr3t\" }";
        assert_eq!(set(Some(current), "password", "s3cr3t").unwrap(), current);
        assert!(
            set(Some("not json"), "password", "x")
                .unwrap_err()
                .contains("requires a json secret")
        );
        assert_eq!(
            with_property(None, None, b"raw").unwrap().as_slice(),
            b"raw"
        );
    }

    #[test]
    fn the_whole_secret_is_json_as_go_writes_it() {
        let data = BTreeMap::from([
            ("b".to_owned(), Zeroizing::new(b"<&>".to_vec())),
            (
                "a".to_owned(),
                Zeroizing::new("line\u{2028}".as_bytes().to_vec()),
            ),
        ]);
        assert_eq!(
            String::from_utf8(whole_secret(&data).to_vec()).unwrap(),
            r#"{"a":"line\u2028","b":"<&>"}"#
        );
    }

    #[test]
    fn status_keys_are_esos() {
        let entry: PushSecretData = serde_json::from_value(serde_json::json!({
            "match": {"secretKey": "k", "remoteRef": {"remoteKey": "app/db", "property": "password"}}
        }))
        .unwrap();
        assert_eq!(entry_key(&entry), "app/db/password");
        assert_eq!(
            store_key(StoreKind::ClusterSecretStore, "aws"),
            "ClusterSecretStore/aws"
        );
        assert_eq!(
            parse_store_key("SecretStore/aws"),
            Some((StoreKind::SecretStore, "aws"))
        );
        assert_eq!(parse_store_key("Other/aws"), None);
    }

    #[test]
    fn a_removed_entry_is_nulled_in_the_status_patch() {
        let entry: PushSecretData = serde_json::from_value(serde_json::json!({
            "match": {"remoteRef": {"remoteKey": "a"}}
        }))
        .unwrap();
        let previous = PushSecretStatus {
            synced_push_secrets: Synced::from([
                (
                    "SecretStore/x".to_owned(),
                    BTreeMap::from([
                        ("a".to_owned(), entry.clone()),
                        ("b".to_owned(), entry.clone()),
                    ]),
                ),
                (
                    "SecretStore/y".to_owned(),
                    BTreeMap::from([("a".to_owned(), entry.clone())]),
                ),
            ]),
            ..PushSecretStatus::default()
        };
        let status = PushSecretStatus {
            synced_push_secrets: Synced::from([(
                "SecretStore/x".to_owned(),
                BTreeMap::from([("a".to_owned(), entry)]),
            )]),
            ..PushSecretStatus::default()
        };
        let patch = status_patch(&previous, &status);
        assert_eq!(
            patch["syncedPushSecrets"]["SecretStore/y"],
            serde_json::Value::Null
        );
        assert_eq!(
            patch["syncedPushSecrets"]["SecretStore/x"]["b"],
            serde_json::Value::Null
        );
        assert_eq!(
            patch["syncedPushSecrets"]["SecretStore/x"]["a"]["match"]["remoteRef"]["remoteKey"],
            "a"
        );
    }
}
