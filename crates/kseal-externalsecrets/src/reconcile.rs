//! The ExternalSecret reconciler: decide whether a refresh is due, read the remote data, write the
//! Secret, report `Ready`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kseal_api::external_secrets::{
    Binding, Condition, CreationPolicy, DeletionPolicy, ExternalSecret, ExternalSecretStatus,
    LABEL_CREATED_BY, RefreshPolicy, TemplateTarget,
};
use kseal_core::external_secrets::desired::{self, Desired, TemplateSource};
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;

use crate::error::kube;
use crate::schedule::{self, Decision};
use crate::stores;
use crate::watched::WatchedExternalSecret;
use crate::{Context, Error, FIELD_MANAGER, select};
use kseal_core::conditions::{self, Position, Verdict};
use kseal_core::external_secrets::write::{WritePlan, write_plan};
use kseal_runtime::meta::name_of;
use kseal_runtime::report::Notice;

/// Condition type, reasons and event reasons (ESO's).
pub mod reasons {
    /// The condition type.
    pub const READY: &str = "Ready";
    /// The Secret holds the remote data.
    pub const SECRET_SYNCED: &str = "SecretSynced";
    /// The last refresh failed; the Secret keeps its last good data.
    pub const SECRET_SYNCED_ERROR: &str = "SecretSyncedError";
    /// The remote data is gone and `deletionPolicy` removed the Secret or its keys.
    pub const SECRET_DELETED: &str = "SecretDeleted";
    /// The target Secret is missing (creationPolicy None or Merge).
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// The target Secret is a sealing key or a SealedSecret's; the sync never writes or deletes it
    /// (kseal's own reason).
    pub const PROTECTED_SECRET: &str = "ProtectedSecret";
    /// The ExternalSecret (or its store) sets a field kseal does not implement; nothing is synced and
    /// the Secret is left as it is (kseal's own reason).
    pub const UNSUPPORTED: &str = "Unsupported";
    /// Event: the Secret was created.
    pub const CREATED: &str = "Created";
    /// Event: the Secret was updated.
    pub const UPDATED: &str = "Updated";
    /// Event: the refresh failed.
    pub const UPDATE_FAILED: &str = "UpdateFailed";
    /// Event: the Secret (or its keys) was deleted.
    pub const DELETED: &str = "Deleted";
}

/// Longest wait before an ExternalSecret is looked at again, even with nothing due.
pub const RESYNC: Duration = Duration::from_secs(60 * 60);
/// Added to a periodic wait, so the timer fires after the grid point, never just before it.
const GRID_MARGIN: Duration = Duration::from_millis(200);

/// The target Secret as a reconcile knows it.
enum Existing {
    /// Read from the API server (`None`: there is none).
    Read(Option<Box<Secret>>),
    /// A managed Secret as the index of managed Secrets knows it (the facts of its metadata), known to
    /// hold the data its data-hash annotation names.
    Cached(Box<[u64]>),
}

impl Existing {
    /// The whole Secret: read from the API server when only the cached copy is known.
    async fn read(self, ctx: &Context, es: &ExternalSecret) -> Result<Option<Secret>, Error> {
        match self {
            Existing::Read(secret) => Ok(secret.map(|secret| *secret)),
            Existing::Cached(_) => {
                let namespace = es.namespace().unwrap_or_default();
                let target = desired::target_name(es);
                Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
                    .get_opt(&target)
                    .await
                    .map_err(kube(format!("Secret {namespace}/{target}")))
            }
        }
    }
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Created,
    Updated,
    Unchanged,
    Deleted,
    /// `creationPolicy: Merge` and no Secret to merge into: nothing written until it exists.
    TargetMissing,
}

/// Reconciles one ExternalSecret.
#[tracing::instrument(skip_all, fields(namespace = watched.namespace().unwrap_or_default(), name = watched.name_any()))]
pub async fn reconcile(
    watched: Arc<WatchedExternalSecret>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if watched.metadata.deletion_timestamp.is_some() {
        return finalize(&ctx, &watched).await;
    }
    let es = match watched.parse() {
        Ok(es) => es,
        Err(error) => {
            ctx.metrics.failed(error.reason());
            report(&ctx, &watched, None, Err(&error)).await?;
            return Ok(Action::await_change());
        }
    };
    let namespace = es.namespace().unwrap_or_default();
    let target = desired::target_name(&es);
    let policy = es.spec.target.creation_policy;
    if policy != CreationPolicy::Owner {
        ctx.index_target(&namespace, &target, &es.name_any());
    }
    let named = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(target.clone()),
            ..Default::default()
        },
        ..Secret::default()
    };
    // Nothing due (the reconcile that follows a status write, most events): decided from the watch
    // cache of the managed Secrets, without reading the target.
    let now = SystemTime::now();
    let version = desired::synced_version(&es);
    let indexed = ctx.cached_target(&namespace, &target);
    if let Some(intact) = indexed_intact(policy, indexed.as_ref())
        && let Ok(inputs) =
            schedule_inputs(&ctx, &watched, &es, &namespace, &version, intact, false)
        && let Decision::Wait { until } = schedule::decide(&inputs, now)
    {
        ctx.objects.succeeded(watched.as_ref());
        return Ok(wait(until, now));
    }
    // A managed Secret that holds the data last written, is this ExternalSecret's (or no other's) and
    // is not protected: a refresh that changes nothing does not read it.
    let cached = indexed.filter(|cached| {
        matches!(policy, CreationPolicy::Owner | CreationPolicy::Orphan)
            && cached.intact
            && !cached.protected
            && cached
                .controller
                .as_deref()
                .is_none_or(|uid| Some(uid) == es.metadata.uid.as_deref())
    });
    let existing = match cached {
        Some(cached) => Existing::Cached(cached.facts),
        None => {
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
            let existing = secrets
                .get_opt(&target)
                .await
                .map_err(kube(format!("Secret {namespace}/{target}")))?;
            // The Secret as it is, or (when there is none yet) its name alone: checked before any
            // remote read.
            if let Err(error) =
                refuse_protected(&ctx, &namespace, existing.as_ref().unwrap_or(&named))
            {
                return fail(&ctx, &watched, &es, error).await;
            }
            if let Some(secret) = &existing
                && let Some(owner) = desired::owned_by_other(secret, &es)
            {
                let error = Error::Conflict {
                    secret: target.clone(),
                    owner,
                };
                return fail(&ctx, &watched, &es, error).await;
            }
            Existing::Read(existing.map(Box::new))
        }
    };

    // Removed on purpose (deletionPolicy): nothing to repair until the remote secret is back.
    let removed = es.status.as_ref().is_some_and(|status| {
        status.conditions.iter().any(|c| {
            c.type_ == reasons::READY && c.reason.as_deref() == Some(reasons::SECRET_DELETED)
        })
    });
    let target_intact = match (policy, &existing) {
        (_, Existing::Cached(_)) | (CreationPolicy::None, _) => true,
        (_, Existing::Read(None)) => removed,
        // A merged Secret holds other keys too; its hand edits are repaired at the next refresh.
        (CreationPolicy::Merge | CreationPolicy::CreateOrMerge, Existing::Read(Some(_))) => true,
        (_, Existing::Read(Some(secret))) => desired::secret_unchanged(secret),
    };
    let inputs = match schedule_inputs(
        &ctx,
        &watched,
        &es,
        &namespace,
        &version,
        target_intact,
        true,
    ) {
        Ok(inputs) => inputs,
        Err(error) => return fail(&ctx, &watched, &es, error).await,
    };
    let (fresh_after, cycle) = match schedule::decide(&inputs, now) {
        Decision::Due { fresh_after, cycle } => (fresh_after, cycle),
        Decision::Wait { until } => {
            ctx.objects.succeeded(watched.as_ref());
            return Ok(wait(until, now));
        }
    };

    let started = Instant::now();
    let freshness = select::Freshness { fresh_after, cycle };
    let result = refresh(&ctx, &es, existing, freshness).await;
    let error = result.as_ref().err().map(Error::reason);
    ctx.metrics.synced(started.elapsed(), error);
    let written = match result {
        Ok(written) => written,
        Err(error) => return fail(&ctx, &watched, &es, error).await,
    };
    ctx.remember(watched.as_ref(), version.clone(), now);
    ctx.objects.succeeded(watched.as_ref());
    let status = synced_status(&es, &target, &version, written, now);
    report(&ctx, &watched, Some(status), Ok(written)).await?;
    let next = schedule::decide(
        &schedule::Inputs {
            refreshed_at: Some(now),
            spec_synced: true,
            target_intact: true,
            ..inputs
        },
        now,
    );
    Ok(match next {
        Decision::Wait { until } => wait(until, now),
        Decision::Due { .. } => Action::requeue(GRID_MARGIN),
    })
}

/// Whether the target holds the data last written, from what the index of managed Secrets knows of it
/// (`creationPolicy` None and Merge: always); `None` when the index cannot tell (no managed Secret of
/// that name, or one being deleted), and the Secret must be read.
fn indexed_intact(
    policy: CreationPolicy,
    indexed: Option<&crate::managed::Managed>,
) -> Option<bool> {
    match (policy, indexed) {
        (CreationPolicy::None, _) => Some(true),
        (_, None) => None,
        (CreationPolicy::Merge | CreationPolicy::CreateOrMerge, Some(_)) => Some(true),
        (_, Some(secret)) => Some(secret.intact),
    }
}

/// When an ExternalSecret is due, from its spec and status (`version`: its
/// [`desired::synced_version`]), what this controller remembers of it, and whether its target is
/// intact. Logs ignored sync windows when `log`.
fn schedule_inputs(
    ctx: &Context,
    watched: &WatchedExternalSecret,
    es: &ExternalSecret,
    namespace: &str,
    version: &str,
    target_intact: bool,
    log: bool,
) -> Result<schedule::Inputs, Error> {
    let remembered = ctx.remembered(watched);
    let status = es.status.clone().unwrap_or_default();
    let refreshed_at = [
        status.refresh_time.as_ref().map(|t| SystemTime::from(t.0)),
        remembered.as_ref().map(|(_, at)| *at),
    ]
    .into_iter()
    .flatten()
    .max();
    let spec_synced = status.synced_resource_version.as_deref() == Some(version)
        || remembered.as_ref().is_some_and(|(v, _)| v == version);
    let interval = es
        .spec
        .refresh_interval
        .as_deref()
        .map_or(Ok(schedule::DEFAULT_INTERVAL), schedule::interval)
        .map_err(|error| Error::Invalid {
            message: format!("spec.refreshInterval: {error}"),
        })?;
    let parsed = schedule::Windows::parse(es.spec.sync_windows.as_ref())
        .map_err(|message| Error::Invalid { message })?;
    if log {
        for index in parsed.ignored {
            // The span names the ExternalSecret; the schedule is not logged.
            tracing::warn!(
                window = index,
                "ignoring spec.syncWindows.windows[{index}]: its schedule does not parse, as ESO ignores it"
            );
        }
    }
    // Entries may each name their store (`sourceRef.storeRef`) or generator; the others need
    // `secretStoreRef` (each such entry then says so).
    let generates = es.spec.data_from.iter().any(|from| {
        from.source_ref
            .as_ref()
            .is_some_and(|s| s.generator_ref.is_some())
    });
    if es.spec.secret_store_ref.is_none()
        && select::references(&es.spec).next().is_none()
        && !generates
    {
        return Err(Error::Invalid {
            message: "spec.secretStoreRef is required".into(),
        });
    }
    let store_display = crate::store_display(&es.spec, namespace).unwrap_or_default();
    Ok(schedule::Inputs {
        policy: es.spec.refresh_policy.unwrap_or(RefreshPolicy::Periodic),
        interval,
        refreshed_at,
        spec_synced,
        target_intact,
        store_seed: stores::seed(&store_display),
        windows: parsed.windows,
    })
}

/// Reads the remote data and writes the Secret. As in ESO, a remote secret that is gone is an error
/// under `deletionPolicy: Retain`; under `Delete` and `Merge` the entries that read it are left out,
/// and when no data is left at all, `Delete` deletes the Secret (of creationPolicy Owner), `Retain`
/// leaves it as it is, and `Merge` writes the Secret without the keys this ExternalSecret wrote.
async fn refresh(
    ctx: &Context,
    es: &ExternalSecret,
    existing: Existing,
    freshness: select::Freshness,
) -> Result<Written, Error> {
    let stores = select::Stores::resolve(ctx, es).await?;
    let data = select::fetch_data(ctx, es, &stores, freshness).await?;
    if data.is_empty() {
        match es.spec.target.deletion_policy {
            DeletionPolicy::Delete => {
                let existing = existing.read(ctx, es).await?;
                return delete_target(ctx, es, existing.as_ref()).await;
            }
            DeletionPolicy::Retain => return Ok(Written::Unchanged),
            DeletionPolicy::Merge => {}
        }
    }
    let sources = template_sources(ctx, es).await?;
    let desired = desired::desired_secret(es, data, &sources)?;
    if let Existing::Cached(facts) = &existing
        && kseal_core::external_secrets::write::unchanged_by_facts(
            es.spec.target.creation_policy,
            facts,
            &desired,
        )
    {
        return Ok(Written::Unchanged);
    }
    let existing = existing.read(ctx, es).await?;
    match write(ctx, es, &desired, existing.as_ref()).await {
        Err(Error::TargetMissing { .. }) => Ok(Written::TargetMissing),
        result => result,
    }
}

/// `deletionPolicy: Delete` and no remote data left: deletes the Secret this ExternalSecret owns.
async fn delete_target(
    ctx: &Context,
    es: &ExternalSecret,
    existing: Option<&Secret>,
) -> Result<Written, Error> {
    let target = desired::target_name(es);
    let namespace = es.namespace().unwrap_or_default();
    let policy = es.spec.target.creation_policy;
    if policy != CreationPolicy::Owner {
        return Err(Error::Invalid {
            message: format!(
                "the provider returned no data and deletionPolicy Delete deletes only a Secret of creationPolicy Owner (this ExternalSecret has {policy:?}); Secret {namespace}/{target} is kept"
            ),
        });
    }
    let Some(secret) = existing else {
        return Ok(Written::Deleted);
    };
    refuse_protected(ctx, &namespace, secret)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    delete_exactly(&secrets, secret)
        .await
        .map_err(kube(format!("Secret {namespace}/{target}")))?;
    Ok(Written::Deleted)
}

/// Deletes exactly `secret` as it was read: not one that replaced it since. Gone already is fine.
async fn delete_exactly(secrets: &Api<Secret>, secret: &Secret) -> Result<(), kube::Error> {
    let params = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: secret.metadata.uid.clone(),
            resource_version: secret.metadata.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    match secrets.delete(&secret.name_any(), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// After writing the Secret of a `creationPolicy: Owner` ExternalSecret: deletes the Secrets it wrote
/// under an earlier `target.name` (labelled with its [`desired::created_by`] digest and controlled by
/// it), as ESO does.
async fn delete_renamed_targets(
    ctx: &Context,
    es: &ExternalSecret,
    target: &str,
) -> Result<(), Error> {
    let namespace = es.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{}={}", LABEL_CREATED_BY, desired::created_by(es));
    let listed = secrets
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(kube(format!(
            "Secrets of ExternalSecret {namespace}/{}",
            es.name_any()
        )))?;
    for secret in listed.items {
        if secret.name_any() == target || !desired::controlled_by(&secret, es) {
            continue;
        }
        refuse_protected(ctx, &namespace, &secret)?;
        delete_exactly(&secrets, &secret)
            .await
            .map_err(kube(format!("Secret {namespace}/{}", secret.name_any())))?;
        tracing::info!(
            secret = secret.name_any(),
            "deleted the Secret of an earlier target.name"
        );
    }
    Ok(())
}

/// Writes `desired` as `creationPolicy` says.
async fn write(
    ctx: &Context,
    es: &ExternalSecret,
    desired: &Desired,
    existing: Option<&Secret>,
) -> Result<Written, Error> {
    let namespace = es.namespace().unwrap_or_default();
    let policy = es.spec.target.creation_policy;
    let object = desired::secret_object(desired, &namespace);
    let secret = desired.name.clone();
    match write_plan(policy, existing, desired, &object) {
        WritePlan::Unchanged => return Ok(Written::Unchanged),
        WritePlan::TargetMissing => return Err(Error::TargetMissing { secret }),
        WritePlan::Immutable => return Err(Error::Immutable { secret }),
        WritePlan::Write => {}
    }
    // The Secret as it is now (it may have been replaced while the remote data was read), and the
    // Secret as it would be written: neither may be protected.
    let what = format!("Secret {namespace}/{}", desired.name);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let current = secrets
        .get_opt(&desired.name)
        .await
        .map_err(kube(what.clone()))?;
    refuse_protected(ctx, &namespace, &object)?;
    let mut object = object;
    match &current {
        // Being deleted (a finalizer holds it): written again once it is gone, never changed on its
        // way out (an apply would add or drop finalizers of a terminating object).
        Some(secret) if secret.metadata.deletion_timestamp.is_some() => {
            return Ok(Written::Unchanged);
        }
        Some(secret) => {
            refuse_protected(ctx, &namespace, secret)?;
            if let Some(owner) = desired::owned_by_other(secret, es) {
                return Err(Error::Conflict {
                    secret: desired.name.clone(),
                    owner,
                });
            }
            // Written only over the version just checked (the API server refuses another).
            object
                .metadata
                .resource_version
                .clone_from(&secret.metadata.resource_version);
            // Owner and Orphan write the whole data, as ESO does: keys other writers put there go
            // (server-side apply alone would leave them).
            if matches!(policy, CreationPolicy::Owner | CreationPolicy::Orphan) {
                let extra: serde_json::Map<String, serde_json::Value> = secret
                    .data
                    .iter()
                    .flatten()
                    .filter(|(key, _)| !desired.data.contains_key(*key))
                    .map(|(key, _)| (key.clone(), serde_json::Value::Null))
                    .collect();
                if !extra.is_empty() {
                    let patch = serde_json::json!({
                        "metadata": {"resourceVersion": secret.metadata.resource_version},
                        "data": extra,
                    });
                    let patched = secrets
                        .patch(
                            &desired.name,
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await
                        .map_err(kube(what.clone()))?;
                    object.metadata.resource_version = patched.metadata.resource_version;
                }
            }
        }
        None if policy == CreationPolicy::Merge => {
            return Err(Error::TargetMissing {
                secret: desired.name.clone(),
            });
        }
        None => {}
    }
    // Serialized from the zeroizing values into a body wiped once sent; the answer's values are skipped.
    let body = kseal_api::secret_apply::SecretBody {
        metadata: &object.metadata,
        type_: object.type_.as_deref(),
        immutable: object.immutable,
        data: &desired.data,
    }
    .to_json()
    .map_err(|_| Error::Invalid {
        message: format!("Secret {namespace}/{}: cannot be serialized", desired.name),
    })?;
    kseal_api::secret_apply::apply::<serde::de::IgnoredAny>(
        &ctx.client,
        &namespace,
        &desired.name,
        FIELD_MANAGER,
        body,
    )
    .await
    .map_err(kube(what))?;
    if policy == CreationPolicy::Owner {
        delete_renamed_targets(ctx, es, &desired.name).await?;
    }
    Ok(if current.is_some() {
        Written::Updated
    } else {
        Written::Created
    })
}

/// Refuses `secret` (the target as it exists, or as the sync would write it) when it is a sealing key
/// or a SealedSecret's.
fn refuse_protected(ctx: &Context, namespace: &str, secret: &Secret) -> Result<(), Error> {
    match crate::protect::check(&ctx.config.sealing_keys, namespace, secret) {
        Some(why) => Err(Error::Protected {
            secret: format!("{namespace}/{}", secret.name_any()),
            why,
        }),
        None => Ok(()),
    }
}

/// The `templateFrom` entries with the ConfigMaps and Secrets they name read.
async fn template_sources(
    ctx: &Context,
    es: &ExternalSecret,
) -> Result<Vec<TemplateSource>, Error> {
    let Some(template) = &es.spec.target.template else {
        return Ok(Vec::new());
    };
    let namespace = es.namespace().unwrap_or_default();
    let mut sources = Vec::new();
    for (index, entry) in template.template_from.iter().enumerate() {
        let target = TemplateTarget::parse(entry.target.as_deref()).ok_or_else(|| Error::Invalid {
            message: format!(
                "spec.target.template.templateFrom[{index}].target {:?} is not allowed when the target is a Secret: use Data, Annotations or Labels",
                entry.target.as_deref().unwrap_or_default()
            ),
        })?;
        let decoding = entry.values_decoding_strategy.unwrap_or_default();
        if let Some(literal) = &entry.literal {
            sources.push(TemplateSource::Literal {
                target,
                decoding,
                template: literal.clone(),
            });
        }
        if let Some(reference) = &entry.config_map {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
            let origin = format!("configmap/{}", reference.name);
            let map = api
                .get_opt(&reference.name)
                .await
                .map_err(kube(format!("ConfigMap {namespace}/{}", reference.name)))?
                .ok_or_else(|| Error::Invalid {
                    message: format!(
                        "templateFrom: ConfigMap {namespace}/{} not found",
                        reference.name
                    ),
                })?;
            let data = map.data.unwrap_or_default();
            let items = template_items(&origin, &reference.items, |key| data.get(key).cloned())?;
            sources.push(TemplateSource::Items {
                origin,
                target,
                decoding,
                items,
            });
        }
        if let Some(reference) = &entry.secret {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
            let origin = format!("secret/{}", reference.name);
            let secret = api
                .get_opt(&reference.name)
                .await
                .map_err(kube(format!("Secret {namespace}/{}", reference.name)))?
                .ok_or_else(|| Error::Invalid {
                    message: format!(
                        "templateFrom: Secret {namespace}/{} not found",
                        reference.name
                    ),
                })?;
            let data = secret.data.unwrap_or_default();
            let items = template_items(&origin, &reference.items, |key| {
                data.get(key)
                    .and_then(|v| String::from_utf8(v.0.clone()).ok())
            })?;
            sources.push(TemplateSource::Items {
                origin,
                target,
                decoding,
                items,
            });
        }
    }
    Ok(sources)
}

fn template_items(
    origin: &str,
    items: &[kseal_api::external_secrets::TemplateRefItem],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, kseal_api::external_secrets::TemplateScope, String)>, Error> {
    items
        .iter()
        .map(|item| {
            let text = lookup(&item.key).ok_or_else(|| Error::Invalid {
                message: format!("templateFrom: {origin} has no text key {:?}", item.key),
            })?;
            Ok((item.key.clone(), item.template_as.unwrap_or_default(), text))
        })
        .collect()
}

/// The status after a successful refresh.
fn synced_status(
    es: &ExternalSecret,
    target: &str,
    version: &str,
    written: Written,
    now: SystemTime,
) -> ExternalSecretStatus {
    let previous = es.status.clone().unwrap_or_default();
    let (reason, message) = match written {
        Written::TargetMissing => (
            reasons::SECRET_MISSING,
            "the target Secret does not exist; creationPolicy Merge writes once it does",
        ),
        Written::Deleted => (
            reasons::SECRET_DELETED,
            "the remote secret is gone; the Secret was removed as deletionPolicy says",
        ),
        _ if es.spec.target.creation_policy == CreationPolicy::None => (
            reasons::SECRET_SYNCED,
            "remote data read (creationPolicy None writes no Secret)",
        ),
        _ => (reasons::SECRET_SYNCED, "secret synced"),
    };
    // ESO reports these outcomes as done: Ready, with the reason saying what happened.
    let ready = true;
    ExternalSecretStatus {
        refresh_time: Some(Time(now.try_into().unwrap_or_default())),
        synced_resource_version: Some(version.to_owned()),
        conditions: ready_conditions(&previous.conditions, ready, reason, message, now),
        binding: Some(Binding {
            name: target.to_owned(),
        }),
    }
}

/// `conditions` with `Ready` set (last); `lastTransitionTime` is kept while the status does not change.
pub fn ready_conditions(
    previous: &[Condition],
    ready: bool,
    reason: &str,
    message: &str,
    now: SystemTime,
) -> Vec<Condition> {
    let verdict = Verdict {
        type_: reasons::READY,
        ok: ready,
        reason,
        message,
    };
    conditions::set(
        previous,
        &verdict,
        &conditions::eso_time(now),
        Position::Last,
    )
}

/// Reports a failure (status and, on a new failure, an event); the error goes to the backoff.
/// The finalizer ESO puts on every ExternalSecret it reconciles.
pub const ESO_FINALIZER: &str = "externalsecrets.external-secrets.io/externalsecret-cleanup";

/// An ExternalSecret being deleted: nothing is synced any more. kseal adds no finalizer (the Secrets it
/// owns go with their owner), but ExternalSecrets created under ESO carry ESO's, and would hang in
/// Terminating once ESO is gone: kseal does what ESO does for it (with `deletionPolicy: Delete`, it
/// deletes the target Secret if this ExternalSecret controls it), then removes it.
async fn finalize(ctx: &Context, watched: &WatchedExternalSecret) -> Result<Action, Error> {
    let finalizers = watched.metadata.finalizers.as_deref().unwrap_or_default();
    let Some(index) = finalizers.iter().position(|f| f == ESO_FINALIZER) else {
        return Ok(Action::await_change());
    };
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    if let Ok(es) = watched.parse()
        && es.spec.target.deletion_policy == DeletionPolicy::Delete
    {
        let target = desired::target_name(&es);
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        let existing = secrets
            .get_opt(&target)
            .await
            .map_err(kube(format!("Secret {namespace}/{target}")))?;
        if let Some(secret) = existing
            && desired::controlled_by(&secret, &es)
            && refuse_protected(ctx, &namespace, &secret).is_ok()
        {
            match secrets.delete(&target, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => return Err(kube(format!("Secret {namespace}/{target}"))(error)),
            }
        }
    }
    // The list without it, at the version read: a list changed meanwhile fails (409), and the next
    // event retries.
    let mut rest = finalizers.to_vec();
    rest.remove(index);
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": rest,
            "resourceVersion": watched.metadata.resource_version,
        }
    });
    let api: Api<WatchedExternalSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(error) => return Err(kube(format!("ExternalSecret {namespace}/{name}"))(error)),
    }
    tracing::info!("removed ESO's cleanup finalizer of a deleted ExternalSecret");
    Ok(Action::await_change())
}

async fn fail(
    ctx: &Context,
    watched: &WatchedExternalSecret,
    es: &ExternalSecret,
    error: Error,
) -> Result<Action, Error> {
    tracing::warn!(%error, reason = error.reason(), "sync failed");
    let mut status = es.status.clone().unwrap_or_default();
    status.conditions = ready_conditions(
        &status.conditions,
        false,
        failure_reason(&error),
        &error.to_string(),
        SystemTime::now(),
    );
    report(ctx, watched, Some(status), Err(&error)).await?;
    Err(error)
}

/// The `Ready=False` reason of `error`.
fn failure_reason(error: &Error) -> &'static str {
    match error {
        Error::TargetMissing { .. } => reasons::SECRET_MISSING,
        Error::Protected { .. } => reasons::PROTECTED_SECRET,
        Error::Unsupported { .. } => reasons::UNSUPPORTED,
        _ => reasons::SECRET_SYNCED_ERROR,
    }
}

/// Writes `status` when it differs from the current one (so a repeated failure causes no write and
/// no watch event, and the backoff holds), and publishes the matching event.
async fn report(
    ctx: &Context,
    watched: &WatchedExternalSecret,
    status: Option<ExternalSecretStatus>,
    outcome: Result<Written, &Error>,
) -> Result<(), Error> {
    let current = watched.current_status().unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        let mut status = current.clone();
        if let Err(error) = outcome {
            status.conditions = ready_conditions(
                &status.conditions,
                false,
                failure_reason(error),
                &error.to_string(),
                SystemTime::now(),
            );
        }
        status
    });
    let changed = !same_status(&current, &status);
    if changed {
        let api: Api<WatchedExternalSecret> =
            Api::namespaced(ctx.client.clone(), &watched.namespace().unwrap_or_default());
        ctx.reporter
            .patch_status(&api, &watched.name_any(), &status)
            .await
            .map_err(kube(format!(
                "the status of ExternalSecret {}",
                name_of(watched)
            )))?;
    }
    let event = match outcome {
        Ok(Written::Created) => Some((false, reasons::CREATED, "Secret created".to_owned())),
        Ok(Written::Updated) => Some((false, reasons::UPDATED, "Secret updated".to_owned())),
        Ok(Written::Deleted) => Some((
            false,
            reasons::DELETED,
            "remote secret gone: Secret data removed (deletionPolicy)".to_owned(),
        )),
        Ok(Written::Unchanged | Written::TargetMissing) => None,
        // One event per new failure, not per retry.
        Err(error) if changed => Some((true, reasons::UPDATE_FAILED, error.to_string())),
        Err(_) => None,
    };
    if let Some((warning, reason, note)) = event {
        let notice = Notice {
            warning,
            reason: reason.to_owned(),
            note,
            action: "Sync",
        };
        ctx.reporter.publish(watched, notice).await;
    }
    Ok(())
}

/// Status equality that ignores `lastTransitionTime`.
fn same_status(a: &ExternalSecretStatus, b: &ExternalSecretStatus) -> bool {
    let strip = |s: &ExternalSecretStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

fn wait(until: Option<SystemTime>, now: SystemTime) -> Action {
    match until {
        Some(until) => {
            let delay = until.duration_since(now).unwrap_or_default() + GRID_MARGIN;
            Action::requeue(delay.min(RESYNC))
        }
        None => Action::requeue(RESYNC),
    }
}

/// Retries a failed ExternalSecret with per-object exponential backoff.
pub fn error_policy(
    watched: Arc<WatchedExternalSecret>,
    _error: &Error,
    ctx: Arc<Context>,
) -> Action {
    Action::requeue(schedule::BACKOFF.delay(ctx.objects.failed(watched.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_keeps_its_transition_time_while_unchanged() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t1 = t0 + Duration::from_secs(60);
        let first = ready_conditions(&[], true, reasons::SECRET_SYNCED, "ok", t0);
        let again = ready_conditions(&first, true, reasons::SECRET_SYNCED, "ok", t1);
        assert_eq!(first[0].last_transition_time, again[0].last_transition_time);
        let failed = ready_conditions(&again, false, reasons::SECRET_SYNCED_ERROR, "boom", t1);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].status, "False");
        assert_ne!(
            failed[0].last_transition_time,
            first[0].last_transition_time
        );
    }

    #[test]
    fn statuses_differing_only_in_transition_time_are_the_same() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = ExternalSecretStatus {
            conditions: ready_conditions(&[], false, "SecretSyncedError", "x", t0),
            ..Default::default()
        };
        let mut b = a.clone();
        b.conditions[0].last_transition_time = None;
        assert!(same_status(&a, &b));
        b.conditions[0].message = Some("y".into());
        assert!(!same_status(&a, &b));
    }
}
