//! ClusterExternalSecrets: one ExternalSecret per selected namespace, each controlled by the
//! ClusterExternalSecret through its ownerReference (as ESO marks them, so objects made under ESO stay
//! owned).
//!
//! A reconcile selects the namespaces again (by name, and by any of the label selectors), applies the
//! ExternalSecret in each (server-side, under the sync's field manager), deletes it from the namespaces
//! no longer selected, and writes `provisionedNamespaces`, `failedNamespaces` and `Ready`. An
//! ExternalSecret of that name it does not control is never taken over: its namespace is failed.
//! Namespaces are watched (a label change selects again at once), and so are the ExternalSecrets it
//! owns (one deleted by hand comes back); `refreshTime` is a safety net.
//!
//! kseal adds no finalizer: Kubernetes' garbage collector deletes the ExternalSecrets with their owner.
//! A ClusterExternalSecret made under ESO carries ESO's cleanup finalizer and its namespaces ESO's
//! per-ClusterExternalSecret finalizers; kseal does ESO's cleanup for them and removes them, so
//! nothing hangs in Terminating once ESO is gone.
//!
//! Only a sync watching every namespace runs this: a ClusterExternalSecret's status lists namespaces
//! cluster-wide, which a sync restricted to one namespace cannot write truthfully.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kseal_api::external_secrets::{
    ClusterExternalSecret, ClusterExternalSecretCondition, ClusterExternalSecretSpec,
    ClusterExternalSecretStatus, ExternalSecret, NamespaceFailure,
};
use kseal_runtime::ObjectTable;
use kseal_runtime::meta::name_in;
use kseal_runtime::report::Reporter;
use kube::api::{Api, DeleteParams, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource as _, ResourceExt as _};

use crate::error::kube;
use crate::eso_metrics::EsoMetrics;
use crate::{Error, FIELD_MANAGER, Result};

/// How often the namespaces are selected again without `spec.refreshTime` (ESO's default).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60 * 60);
/// A reconcile with failed namespaces is repeated this soon (or at `refreshTime`, if sooner).
pub const FAILURE_RETRY: Duration = Duration::from_secs(30);
/// How many namespaces one reconcile applies at once.
const PARALLEL_APPLIES: usize = 8;
/// ESO's finalizer on ClusterExternalSecrets (kseal adds none; it removes ESO's after its cleanup).
pub const ESO_FINALIZER: &str = "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup";
/// Prefix of the finalizer ESO puts on each namespace it provisions, followed by the
/// ClusterExternalSecret's name.
pub const ESO_NAMESPACE_FINALIZER_PREFIX: &str = "externalsecrets.external-secrets.io/ces-";
/// Why a namespace holding a foreign ExternalSecret of the same name failed (ESO's words).
pub const FOREIGN_EXTERNAL_SECRET: &str = "external secret already exists in namespace";
/// `Ready`'s message when some namespace failed (ESO's words).
pub const NAMESPACES_FAILED: &str = "one or more namespaces failed";
/// The annotation copied from the ClusterExternalSecret onto its ExternalSecrets.
const FORCE_SYNC: &str = kseal_api::external_secrets::ANNOTATION_FORCE_SYNC;

/// A ClusterExternalSecret as watched: the spec checked once, when it arrives. The ExternalSecret's spec
/// is kept as written, so a field kseal does not implement reaches each ExternalSecret, whose reconcile
/// reports it.
#[derive(kube::Resource, Clone, Debug, serde::Serialize)]
#[resource(inherit = ClusterExternalSecret)]
pub struct WatchedClusterExternalSecret {
    /// The object's metadata (without `managedFields`).
    pub metadata: ObjectMeta,
    /// The typed spec and `spec.externalSecretSpec` as written, or why the spec does not parse.
    #[serde(skip)]
    pub spec: Result<(ClusterExternalSecretSpec, serde_json::Value), String>,
    /// The status; one kseal cannot read counts as none (it is rewritten whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ClusterExternalSecretStatus>,
}

impl<'de> serde::Deserialize<'de> for WatchedClusterExternalSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = crate::watched::RawObject::deserialize(deserializer)?;
        let spec = parse_spec(&raw.spec, &raw.metadata);
        let status = raw.status.and_then(|s| serde_json::from_value(s).ok());
        Ok(WatchedClusterExternalSecret {
            metadata: raw.metadata,
            spec,
            status,
        })
    }
}

/// The typed spec; a field outside `externalSecretSpec` that kseal does not know is refused by its
/// path (those inside are left to the ExternalSecrets' own reconciles).
fn parse_spec(
    spec: &serde_json::Value,
    metadata: &ObjectMeta,
) -> Result<(ClusterExternalSecretSpec, serde_json::Value), String> {
    let mut unknown = Vec::new();
    let typed: ClusterExternalSecretSpec = serde_ignored::deserialize(spec.clone(), |path| {
        let path = crate::watched::field_path(&path);
        if !path.starts_with("spec.externalSecretSpec.") {
            unknown.push(path);
        }
    })
    .map_err(|error| format!("{}: invalid spec: {error}", name_in(metadata)))?;
    if let Err(error) = refresh_interval(&typed) {
        return Err(format!(
            "{}: invalid spec.refreshTime: {error}",
            name_in(metadata)
        ));
    }
    if !unknown.is_empty() {
        unknown.sort();
        return Err(format!(
            "{}: {} not supported by kseal",
            name_in(metadata),
            unknown.join(", ")
        ));
    }
    let raw = spec
        .get("externalSecretSpec")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    Ok((typed, raw))
}

/// `spec.refreshTime` as a duration (`None` when unset or zero: [`DEFAULT_REFRESH`]), or why it is not
/// a Go duration.
fn refresh_interval(spec: &ClusterExternalSecretSpec) -> Result<Option<Duration>, String> {
    match spec.refresh_time.as_deref() {
        None => Ok(None),
        Some(text) => kseal_api::duration::parse(text).map(|d| (!d.is_zero()).then_some(d)),
    }
}

/// Shared state of the ClusterExternalSecret reconciler.
struct Context {
    client: Client,
    reporter: Reporter,
    namespaces: Store<Namespace>,
    /// Whether `namespaces` has listed them (awaited by many reconciles at once).
    namespaces_ready: kseal_runtime::Ready,
    /// Consecutive failures per ClusterExternalSecret, for the backoff; pruned when it is deleted.
    objects: Arc<ObjectTable<()>>,
    metrics: EsoMetrics,
}

/// Runs the ClusterExternalSecret reconciler until `shutdown` completes, for the
/// ClusterExternalSecrets `selection` lists (the sync passes the default: all of them), counting into
/// ESO's `clusterexternalsecret_*` families of `metrics`.
pub async fn run(
    client: Client,
    selection: watcher::Config,
    metrics: EsoMetrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (namespaces, writer) = reflector::store();
    let namespace_changes = reflector::reflector(
        writer,
        watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .applied_objects();
    let api: Api<WatchedClusterExternalSecret> = Api::all(client.clone());
    let objects: Arc<ObjectTable<()>> = Arc::new(ObjectTable::default());
    let pruned = objects.clone();
    let controller = kseal_runtime::objects::controller(api, selection, move |event, store| {
        pruned.observe(event, store);
    });
    let cache = controller.store();
    metrics.attach_cluster_externals(cache.clone());
    // Only metadata: the ownerReferences are all this needs of an ExternalSecret.
    let children: Api<PartialObjectMeta<ExternalSecret>> = Api::all(client.clone());
    let children = watcher(children, watcher::Config::default())
        .default_backoff()
        .filter_map(spec_changes());
    let ctx = Arc::new(Context {
        reporter: Reporter::new(client.clone(), FIELD_MANAGER),
        client,
        namespaces_ready: kseal_runtime::Ready::of(&namespaces),
        namespaces,
        objects,
        metrics,
    });
    controller
        // Not `owns_stream`: it would look for the owner in the ExternalSecret's namespace, making one
        // reconcile per namespace of the same cluster-scoped owner, each applying every namespace.
        .watches_stream(children, |es| owners(&es.metadata))
        .watches_stream(namespace_changes, move |namespace| {
            interested(&cache.state(), &namespace)
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// An event of the watch of ExternalSecrets' metadata.
type ChildEvent = Result<watcher::Event<PartialObjectMeta<ExternalSecret>>, watcher::Error>;
/// An ExternalSecret's metadata that triggers its owner.
type ChildResult = Result<PartialObjectMeta<ExternalSecret>, watcher::Error>;

/// The ExternalSecrets whose spec changed (a new `generation`) or that were deleted: every status write
/// of an ExternalSecret's own reconcile would otherwise re-run its ClusterExternalSecret, which applies
/// the ExternalSecret of every namespace.
fn spec_changes() -> impl FnMut(ChildEvent) -> std::future::Ready<Option<ChildResult>> {
    let mut generations: HashMap<String, Option<i64>> = HashMap::new();
    move |event| {
        let changed = match event {
            Ok(watcher::Event::Apply(es) | watcher::Event::InitApply(es)) => {
                let generation = es.metadata.generation;
                let uid = es.metadata.uid.clone().unwrap_or_default();
                (generations.insert(uid, generation) != Some(generation)).then_some(Ok(es))
            }
            Ok(watcher::Event::Delete(es)) => {
                generations.remove(es.metadata.uid.as_deref().unwrap_or_default());
                Some(Ok(es))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(error) => Some(Err(error)),
        };
        std::future::ready(changed)
    }
}

/// The ClusterExternalSecret controlling an ExternalSecret with `metadata`, by name (it is
/// cluster-scoped, whatever namespace the ExternalSecret is in).
fn owners(metadata: &ObjectMeta) -> Option<ObjectRef<WatchedClusterExternalSecret>> {
    controller_of(metadata).map(|owner| ObjectRef::new(&owner.name))
}

/// The controller ownerReference of `object` if it is a ClusterExternalSecret (as ESO checks it:
/// group and kind).
fn controller_of(object: &ObjectMeta) -> Option<&OwnerReference> {
    object.owner_references.iter().flatten().find(|owner| {
        owner.controller == Some(true)
            && owner.kind == "ClusterExternalSecret"
            && owner.api_version.split('/').next() == Some(kseal_api::external_secrets::GROUP)
    })
}

/// The ClusterExternalSecrets a change of `namespace` may concern: those that select it now, and
/// those that provisioned it (it may no longer be selected).
fn interested(
    all: &[Arc<WatchedClusterExternalSecret>],
    namespace: &Namespace,
) -> Vec<ObjectRef<WatchedClusterExternalSecret>> {
    let name = namespace.name_any();
    let labels = namespace.labels();
    all.iter()
        .filter(|ces| {
            let selects = ces
                .spec
                .as_ref()
                .is_ok_and(|(spec, _)| selects(spec, &name, labels));
            let provisioned = ces
                .status
                .as_ref()
                .is_some_and(|s| s.provisioned_namespaces.contains(&name));
            let finalized = namespace
                .finalizers()
                .iter()
                .any(|f| *f == namespace_finalizer(&ces.name_any()));
            selects || provisioned || finalized
        })
        .map(|ces| ObjectRef::from_obj(ces.as_ref()))
        .collect()
}

/// Every label selector of `spec`: the deprecated `namespaceSelector`, then `namespaceSelectors`.
fn selectors(spec: &ClusterExternalSecretSpec) -> impl Iterator<Item = &LabelSelector> {
    spec.namespace_selector
        .iter()
        .chain(spec.namespace_selectors.iter())
}

/// Whether `spec` selects the namespace `name` with `labels`: listed by name, or matched by a selector.
pub fn selects(
    spec: &ClusterExternalSecretSpec,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    spec.namespaces.iter().any(|n| n == name)
        || selectors(spec).any(|s| crate::stores::selector_matches(s, labels))
}

/// A selector the API server would refuse (an unknown operator, or values that do not fit it).
fn invalid_selector(spec: &ClusterExternalSecretSpec) -> Option<String> {
    selectors(spec).find_map(|selector| {
        selector.match_expressions.iter().flatten().find_map(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let fits = match e.operator.as_str() {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            (!fits).then(|| {
                format!(
                    "invalid namespace selector: operator {:?} of key {:?} with {} values",
                    e.operator,
                    e.key,
                    values.len()
                )
            })
        })
    })
}

/// The finalizer ESO puts on namespaces for the ClusterExternalSecret `ces`.
fn namespace_finalizer(ces: &str) -> String {
    format!("{ESO_NAMESPACE_FINALIZER_PREFIX}{ces}")
}

/// Whether `object` is controlled by the ClusterExternalSecret `ces` (as ESO checks it: group, kind and
/// name of the controller ownerReference).
pub fn controlled_by(object: &ObjectMeta, ces: &str) -> bool {
    controller_of(object).is_some_and(|owner| owner.name == ces)
}

/// The ExternalSecret `name` in `namespace`, as applied: the metadata of `spec.externalSecretMetadata`,
/// the ClusterExternalSecret's `force-sync` annotation, its controller ownerReference, and
/// `externalSecretSpec` as written.
pub fn desired_external_secret(
    ces: &ObjectMeta,
    spec: &ClusterExternalSecretSpec,
    raw_spec: &serde_json::Value,
    namespace: &str,
    name: &str,
) -> serde_json::Value {
    let metadata = spec.external_secret_metadata.clone().unwrap_or_default();
    let mut annotations = metadata.annotations;
    annotations.remove(FORCE_SYNC);
    if let Some(value) = ces.annotations.as_ref().and_then(|a| a.get(FORCE_SYNC)) {
        annotations.insert(FORCE_SYNC.to_owned(), value.clone());
    }
    let owner = OwnerReference {
        api_version: ClusterExternalSecret::api_version(&()).into_owned(),
        kind: ClusterExternalSecret::kind(&()).into_owned(),
        name: ces.name.clone().unwrap_or_default(),
        uid: ces.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    serde_json::json!({
        "apiVersion": ExternalSecret::api_version(&()),
        "kind": ExternalSecret::kind(&()),
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": metadata.labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": raw_spec,
    })
}

/// The status after a reconcile: failures and provisioned namespaces sorted, `Ready` as ESO sets it.
pub fn status_of(
    name: &str,
    provisioned: BTreeSet<String>,
    failed: BTreeMap<String, String>,
) -> ClusterExternalSecretStatus {
    let ready = ClusterExternalSecretCondition {
        type_: "Ready".to_owned(),
        status: if failed.is_empty() { "True" } else { "False" }.to_owned(),
        message: (!failed.is_empty()).then(|| NAMESPACES_FAILED.to_owned()),
    };
    ClusterExternalSecretStatus {
        external_secret_name: Some(name.to_owned()),
        failed_namespaces: failed
            .into_iter()
            .map(|(namespace, reason)| NamespaceFailure {
                namespace,
                reason: Some(reason),
            })
            .collect(),
        provisioned_namespaces: provisioned.into_iter().collect(),
        conditions: vec![ready],
    }
}

#[tracing::instrument(skip_all, fields(name = %ces.name_any()))]
async fn reconcile(ces: Arc<WatchedClusterExternalSecret>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    let result = reconcile_once(&ces, &ctx).await;
    tracing::debug!(elapsed = ?started.elapsed(), ok = result.is_ok(), "ClusterExternalSecret reconciled");
    ctx.metrics
        .cluster_reconciled(&ces.name_any(), started.elapsed());
    let action = result?;
    ctx.objects.succeeded(ces.as_ref());
    Ok(action)
}

/// One reconcile: select, apply and delete, then write the status.
async fn reconcile_once(ces: &WatchedClusterExternalSecret, ctx: &Context) -> Result<Action> {
    let name = ces.name_any();
    let previous = ces.status.clone().unwrap_or_default();
    if ces.metadata.deletion_timestamp.is_some() {
        return finalize(ctx, ces, &previous).await;
    }
    let (spec, raw_spec) = match &ces.spec {
        Ok(parsed) => parsed,
        Err(message) => {
            tracing::warn!(%message, "ClusterExternalSecret not reconciled");
            let mut status = previous.clone();
            status.conditions = vec![ClusterExternalSecretCondition {
                type_: "Ready".to_owned(),
                status: "False".to_owned(),
                message: Some(message.clone()),
            }];
            write_status(ctx, &name, &previous, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let refresh = refresh_interval(spec)
        .ok()
        .flatten()
        .unwrap_or(DEFAULT_REFRESH);
    let es_name = spec
        .external_secret_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| name.clone());
    let mut failed = BTreeMap::new();
    let mut provisioned = BTreeSet::new();

    // A new name: the ExternalSecrets of the old one go first.
    if let Some(old) = previous.external_secret_name.as_deref()
        && old != es_name
    {
        for namespace in &previous.provisioned_namespaces {
            if let Err(error) = delete_owned(&ctx.client, namespace, old, &name).await {
                failed.insert(namespace.clone(), error.to_string());
            }
        }
        if !failed.is_empty() {
            // The namespaces keep counting as provisioned: the next reconcile deletes again.
            let kept = previous.provisioned_namespaces.iter().cloned().collect();
            let status = status_of(old, kept, failed);
            write_status(ctx, &name, &previous, &status).await?;
            return Ok(Action::requeue(FAILURE_RETRY.min(refresh)));
        }
    }

    if let Some(why) = invalid_selector(spec) {
        failed.insert("unknown".to_owned(), why);
        let status = status_of(&es_name, BTreeSet::new(), failed);
        write_status(ctx, &name, &previous, &status).await?;
        return Ok(Action::await_change());
    }
    // Before the first list of namespaces, every namespace would look unselected.
    if !ctx.namespaces_ready.wait().await {
        return Ok(Action::requeue(FAILURE_RETRY));
    }
    let namespaces = ctx.namespaces.state();
    let selected: BTreeMap<String, &Namespace> = namespaces
        .iter()
        .filter(|ns| selects(spec, &ns.name_any(), ns.labels()))
        .map(|ns| (ns.name_any(), ns.as_ref()))
        .collect();

    for namespace in &previous.provisioned_namespaces {
        let current = previous.external_secret_name.as_deref() == Some(&es_name);
        if current
            && !selected.contains_key(namespace)
            && let Err(error) = delete_owned(&ctx.client, namespace, &es_name, &name).await
        {
            failed.insert(namespace.clone(), error.to_string());
        }
    }
    // A terminating namespace takes no new objects; its ExternalSecret goes with it.
    let targets: Vec<String> = selected
        .iter()
        .filter(|(_, object)| object.metadata.deletion_timestamp.is_none())
        .map(|(namespace, _)| namespace.clone())
        .collect();
    let (client, metadata, es_name_ref) = (&ctx.client, &ces.metadata, &es_name);
    let applies: Vec<_> = targets
        .into_iter()
        .map(|namespace| async move {
            let applied =
                provision(client, metadata, spec, raw_spec, &namespace, es_name_ref).await;
            (namespace, applied)
        })
        .collect();
    // A few namespaces at a time: hundreds of them take seconds, not minutes, and the API server is
    // not flooded.
    let applied: Vec<(String, std::result::Result<(), String>)> = futures::stream::iter(applies)
        .buffer_unordered(PARALLEL_APPLIES)
        .collect()
        .await;
    for (namespace, outcome) in applied {
        match outcome {
            Ok(()) => {
                provisioned.insert(namespace);
            }
            Err(why) => {
                failed.insert(namespace, why);
            }
        }
    }
    // ESO's namespace finalizers for this ClusterExternalSecret: kseal holds none.
    for namespace in namespaces.iter() {
        release_namespace(&ctx.client, namespace, &name).await?;
    }
    let retry = !failed.is_empty();
    let status = status_of(&es_name, provisioned, failed);
    write_status(ctx, &name, &previous, &status).await?;
    Ok(Action::requeue(if retry {
        FAILURE_RETRY.min(refresh)
    } else {
        refresh
    }))
}

/// Applies the ExternalSecret in `namespace` unless one of that name exists that this
/// ClusterExternalSecret does not control; `Err` is the namespace's failure reason.
async fn provision(
    client: &Client,
    ces: &ObjectMeta,
    spec: &ClusterExternalSecretSpec,
    raw_spec: &serde_json::Value,
    namespace: &str,
    name: &str,
) -> std::result::Result<(), String> {
    let api: Api<PartialObjectMeta<ExternalSecret>> = Api::namespaced(client.clone(), namespace);
    let what = format!("ExternalSecret {namespace}/{name}");
    let existing = api
        .get_metadata_opt(name)
        .await
        .map_err(|error| kube(what.clone())(error).to_string())?;
    let ces_name = ces.name.clone().unwrap_or_default();
    if existing.is_some_and(|es| !controlled_by(&es.metadata, &ces_name)) {
        return Err(FOREIGN_EXTERNAL_SECRET.to_owned());
    }
    let desired = desired_external_secret(ces, spec, raw_spec, namespace, name);
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map(drop)
    .map_err(|error| kube(what)(error).to_string())
}

/// Deletes the ExternalSecret `name` of `namespace` if the ClusterExternalSecret `ces` controls it.
async fn delete_owned(client: &Client, namespace: &str, name: &str, ces: &str) -> Result<()> {
    let api: Api<PartialObjectMeta<ExternalSecret>> = Api::namespaced(client.clone(), namespace);
    let what = format!("ExternalSecret {namespace}/{name}");
    let Some(existing) = api.get_metadata_opt(name).await.map_err(kube(&what))? else {
        return Ok(());
    };
    if !controlled_by(&existing.metadata, ces) {
        return Ok(());
    }
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(kube(what)(error)),
    }
}

/// Removes ESO's finalizer for the ClusterExternalSecret `ces` from `namespace`, if it has it.
async fn release_namespace(client: &Client, namespace: &Namespace, ces: &str) -> Result<()> {
    let finalizer = namespace_finalizer(ces);
    let finalizers = namespace.finalizers();
    if !finalizers.contains(&finalizer) {
        return Ok(());
    }
    let rest: Vec<&String> = finalizers.iter().filter(|f| **f != finalizer).collect();
    let name = namespace.name_any();
    remove_finalizer::<Namespace>(
        &Api::all(client.clone()),
        &name,
        &rest,
        namespace.resource_version(),
        &format!("Namespace {name}"),
    )
    .await?;
    tracing::info!(namespace = %name, "removed ESO's ClusterExternalSecret finalizer of a namespace");
    Ok(())
}

/// Sets the finalizers of object `name` to `rest`, at `version` (a list changed meanwhile fails with
/// 409, and the next event retries).
async fn remove_finalizer<K>(
    api: &Api<K>,
    name: &str,
    rest: &[&String],
    version: Option<String>,
    what: &str,
) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "metadata": { "finalizers": rest, "resourceVersion": version }
    });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(kube(what)(error)),
    }
}

/// A ClusterExternalSecret being deleted. Without ESO's finalizer there is nothing to do (the garbage
/// collector deletes its ExternalSecrets); with it, kseal does ESO's cleanup (deletes the ExternalSecrets
/// it controls in the provisioned namespaces and ESO's namespace finalizers), then removes it.
async fn finalize(
    ctx: &Context,
    ces: &WatchedClusterExternalSecret,
    previous: &ClusterExternalSecretStatus,
) -> Result<Action> {
    let finalizers = ces.finalizers();
    if !finalizers.iter().any(|f| f == ESO_FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = ces.name_any();
    let es_name = previous
        .external_secret_name
        .clone()
        .unwrap_or_else(|| name.clone());
    for namespace in &previous.provisioned_namespaces {
        delete_owned(&ctx.client, namespace, &es_name, &name).await?;
    }
    if !ctx.namespaces_ready.wait().await {
        return Ok(Action::requeue(FAILURE_RETRY));
    }
    for namespace in ctx.namespaces.state() {
        release_namespace(&ctx.client, &namespace, &name).await?;
    }
    let rest: Vec<&String> = finalizers.iter().filter(|f| *f != ESO_FINALIZER).collect();
    let api: Api<WatchedClusterExternalSecret> = Api::all(ctx.client.clone());
    let what = format!("ClusterExternalSecret {name}");
    remove_finalizer(&api, &name, &rest, ces.resource_version(), &what).await?;
    tracing::info!("removed ESO's cleanup finalizer of a deleted ClusterExternalSecret");
    Ok(Action::await_change())
}

/// Writes `status` unless it equals `previous`. Absent fields are sent as `null`, so the merge patch
/// clears what an earlier status had.
async fn write_status(
    ctx: &Context,
    name: &str,
    previous: &ClusterExternalSecretStatus,
    status: &ClusterExternalSecretStatus,
) -> Result<()> {
    if previous == status {
        return Ok(());
    }
    let mut body = serde_json::json!({
        "externalSecretName": null,
        "failedNamespaces": null,
        "provisionedNamespaces": null,
        "conditions": null,
    });
    if let (Some(fields), serde_json::Value::Object(set)) = (
        body.as_object_mut(),
        serde_json::to_value(status).unwrap_or_default(),
    ) {
        fields.extend(set);
    }
    let api: Api<WatchedClusterExternalSecret> = Api::all(ctx.client.clone());
    ctx.reporter
        .patch_status(&api, name, &body)
        .await
        .map_err(kube(format!("the status of ClusterExternalSecret {name}")))
}

/// A failed reconcile (the API refused or failed a request) is retried with per-object backoff.
fn error_policy(
    ces: Arc<WatchedClusterExternalSecret>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    tracing::warn!(%error, reason = error.reason(), "ClusterExternalSecret reconcile failed");
    Action::requeue(crate::schedule::BACKOFF.delay(ctx.objects.failed(ces.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> (ClusterExternalSecretSpec, serde_json::Value) {
        parse_spec(&json, &ObjectMeta::default()).unwrap()
    }

    #[test]
    fn namespaces_are_selected_by_name_or_any_selector() {
        let (spec, _) = spec(serde_json::json!({
            "externalSecretSpec": {},
            "namespaces": ["listed"],
            "namespaceSelector": {"matchLabels": {"old": "yes"}},
            "namespaceSelectors": [
                {"matchLabels": {"team": "a"}},
                {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
            ],
        }));
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(selects(&spec, "listed", &labels(&[])));
        assert!(selects(&spec, "x", &labels(&[("old", "yes")])));
        assert!(selects(&spec, "x", &labels(&[("team", "a")])));
        assert!(selects(&spec, "x", &labels(&[("env", "prod")])));
        assert!(!selects(
            &spec,
            "x",
            &labels(&[("team", "b"), ("env", "dev")])
        ));
    }

    #[test]
    fn unknown_fields_are_refused_except_inside_the_external_secret_spec() {
        let meta = ObjectMeta {
            name: Some("c".into()),
            ..ObjectMeta::default()
        };
        let error = parse_spec(
            &serde_json::json!({"externalSecretSpec": {}, "namespaceRegexes": ["a"]}),
            &meta,
        )
        .unwrap_err();
        assert!(error.contains("spec.namespaceRegexes"), "{error}");
        let (_, raw) = parse_spec(
            &serde_json::json!({"externalSecretSpec": {"someNewField": 1}}),
            &meta,
        )
        .unwrap();
        assert_eq!(raw, serde_json::json!({"someNewField": 1}));
    }

    #[test]
    fn the_desired_external_secret_is_controlled_by_its_cluster_external_secret() {
        let ces = ObjectMeta {
            name: Some("shared".into()),
            uid: Some("u-1".into()),
            annotations: Some([(FORCE_SYNC.to_owned(), "now".to_owned())].into()),
            ..ObjectMeta::default()
        };
        let (spec, raw) = spec(serde_json::json!({
            "externalSecretSpec": {"secretStoreRef": {"name": "s", "kind": "ClusterSecretStore"}},
            "externalSecretMetadata": {"labels": {"a": "b"}},
        }));
        let desired = desired_external_secret(&ces, &spec, &raw, "team", "shared");
        assert_eq!(desired["metadata"]["labels"]["a"], "b");
        assert_eq!(desired["metadata"]["annotations"][FORCE_SYNC], "now");
        assert_eq!(desired["spec"]["secretStoreRef"]["name"], "s");
        let meta: ObjectMeta = serde_json::from_value(desired["metadata"].clone()).unwrap();
        assert!(controlled_by(&meta, "shared"));
        assert!(!controlled_by(&meta, "other"));
    }

    #[test]
    fn an_external_secret_triggers_its_owner_by_name_alone() {
        let ces = ObjectMeta {
            name: Some("shared".into()),
            uid: Some("u-1".into()),
            ..ObjectMeta::default()
        };
        let (spec, raw) = spec(serde_json::json!({"externalSecretSpec": {}}));
        let desired = desired_external_secret(&ces, &spec, &raw, "team-a", "shared");
        let meta: ObjectMeta = serde_json::from_value(desired["metadata"].clone()).unwrap();
        // One reference for the owner of every namespace's ExternalSecret: one reconcile at a time.
        assert_eq!(owners(&meta), Some(ObjectRef::new("shared")));
        assert_eq!(owners(&ObjectMeta::default()), None);
    }

    #[test]
    fn ready_is_false_while_a_namespace_failed() {
        let ok = status_of("es", ["b".into(), "a".into()].into(), BTreeMap::new());
        assert_eq!(ok.provisioned_namespaces, ["a", "b"]);
        assert_eq!(ok.conditions[0].status, "True");
        let failed = status_of(
            "es",
            BTreeSet::new(),
            [("c".to_owned(), FOREIGN_EXTERNAL_SECRET.to_owned())].into(),
        );
        assert_eq!(failed.conditions[0].status, "False");
        assert_eq!(
            failed.conditions[0].message.as_deref(),
            Some(NAMESPACES_FAILED)
        );
        assert_eq!(failed.failed_namespaces[0].namespace, "c");
    }

    #[test]
    fn refresh_time_is_a_go_duration() {
        let (spec, _) = spec(serde_json::json!({"externalSecretSpec": {}, "refreshTime": "1m30s"}));
        assert_eq!(refresh_interval(&spec), Ok(Some(Duration::from_secs(90))));
        let bad = serde_json::json!({"externalSecretSpec": {}, "refreshTime": "soon"});
        let error = parse_spec(&bad, &ObjectMeta::default()).unwrap_err();
        assert!(error.contains("spec.refreshTime"), "{error}");
    }

    #[test]
    fn a_selector_the_api_server_would_refuse_is_reported() {
        let (spec, _) = spec(serde_json::json!({
            "externalSecretSpec": {},
            "namespaceSelectors": [{"matchExpressions": [{"key": "k", "operator": "Near"}]}],
        }));
        assert!(invalid_selector(&spec).is_some());
    }
}
