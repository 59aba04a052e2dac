//! ClusterExternalSecrets: an ExternalSecret in each namespace selected by name or labels, following
//! label changes and renames; status of provisioned and failed namespaces; a foreign ExternalSecret is
//! left alone; ESO's finalizers are honoured on deletion.
//!
//! A ClusterExternalSecret is cluster-scoped, and the sync runs its reconciler only when it watches
//! every namespace, which the tests' syncs do not (each watches its own namespace and turns the
//! ExternalSecrets there into Secrets). So one reconciler runs for the whole test process, on a thread
//! of its own; each test's objects have names of its own.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kseal_api::external_secrets::{
    ClusterExternalSecret, ClusterExternalSecretStatus, ExternalSecret,
};
use kseal_testenv::{TestEnv, eventually};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};

use crate::{World, text_data};

/// ESO's finalizer on a ClusterExternalSecret, and the prefix of the one it puts on namespaces.
const ESO_FINALIZER: &str = "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup";
const ESO_NAMESPACE_FINALIZER: &str = "externalsecrets.external-secrets.io/ces-";

/// The registry the shared reconciler counts into (ESO's families, as the controller registers them).
static REGISTRY: OnceLock<std::sync::Arc<prometheus_client::registry::Registry>> = OnceLock::new();

/// Starts the ClusterExternalSecret reconciler once for this test process.
fn start_reconciler() {
    REGISTRY.get_or_init(|| {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = kseal_externalsecrets::eso_metrics::EsoMetrics::register(&mut registry);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async {
                let client = TestEnv::get().await.client().await;
                let all = kube::runtime::watcher::Config::default();
                let forever = futures::future::pending::<()>();
                kseal_externalsecrets::cluster::run(client, all, metrics, forever).await;
            });
        });
        std::sync::Arc::new(registry)
    });
}

/// The shared reconciler's metrics as `/metrics` renders them.
fn metrics_text() -> String {
    let mut text = String::new();
    let registry = REGISTRY.get().expect("the reconciler is started");
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// A fake ClusterSecretStore `name` serving `shared` = `hello`.
fn fake_cluster_store(name: &str) -> String {
    format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {name}}}
spec:
  provider:
    fake: {{data: [{{key: shared, value: hello}}]}}
"#
    )
}

fn cluster_externals(world: &World) -> Api<ClusterExternalSecret> {
    Api::all(world.client.clone())
}

fn externals_in(world: &World, namespace: &str) -> Api<ExternalSecret> {
    Api::namespaced(world.client.clone(), namespace)
}

async fn ces_status(world: &World, name: &str) -> Option<ClusterExternalSecretStatus> {
    cluster_externals(world)
        .get_opt(name)
        .await
        .expect("reading a ClusterExternalSecret")?
        .status
}

/// Waits until the ClusterExternalSecret's status satisfies `check`; returns it.
async fn wait_status(
    world: &World,
    name: &str,
    what: &str,
    check: impl Fn(&ClusterExternalSecretStatus) -> bool,
) -> ClusterExternalSecretStatus {
    eventually(&format!("ClusterExternalSecret {name}: {what}"), || async {
        ces_status(world, name).await.filter(|s| check(s))
    })
    .await
}

/// Merge-patches the labels of namespace `name` (`null` removes one).
async fn label_namespace(world: &World, name: &str, labels: serde_json::Value) {
    let api: Api<Namespace> = Api::all(world.client.clone());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": labels}})),
    )
    .await
    .expect("labelling a namespace");
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn namespaces_selected_by_name_or_labels_get_the_external_secret_and_its_secret() {
    let (a, b, c) = (World::new().await, World::new().await, World::new().await);
    start_reconciler();
    let id = a.namespace.clone();
    let (store, ces) = (format!("fake-{id}"), format!("shared-{id}"));
    label_namespace(&a, &b.namespace, serde_json::json!({"kseal.test/ces": id})).await;
    a.apply(&fake_cluster_store(&store)).await;
    a.apply(&format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata: {{name: {ces}}}
spec:
  externalSecretName: shared
  externalSecretMetadata: {{labels: {{team: payments}}}}
  namespaces: [{ns_a}]
  namespaceSelectors: [{{matchLabels: {{kseal.test/ces: {id}}}}}]
  refreshTime: 1h
  externalSecretSpec:
    refreshInterval: 1h
    secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
    data: [{{secretKey: greeting, remoteRef: {{key: shared}}}}]
"#,
        ns_a = a.namespace,
    ))
    .await;

    let expected = sorted(&[&a.namespace, &b.namespace]);
    let status = wait_status(&a, &ces, "provisioned in a and b", |s| {
        s.provisioned_namespaces == expected
    })
    .await;
    assert_eq!(status.external_secret_name.as_deref(), Some("shared"));
    assert!(status.failed_namespaces.is_empty(), "{status:?}");
    assert_eq!(status.conditions[0].type_, "Ready");
    assert_eq!(status.conditions[0].status, "True");
    // ESO's families, for dashboards written for ESO.
    let text = metrics_text();
    let ready = format!(
        "clusterexternalsecret_status_condition{{name=\"{ces}\",namespace=\"\",condition=\"Ready\",status=\"True\"}} 1"
    );
    assert!(text.contains(&ready), "{text}");
    let duration =
        format!("clusterexternalsecret_reconcile_duration{{name=\"{ces}\",namespace=\"\"}}");
    assert!(text.contains(&duration), "{text}");
    for world in [&a, &b] {
        let secret = world.wait_secret("shared", |_| true).await;
        assert_eq!(
            text_data(&secret)["greeting"],
            "hello",
            "{}",
            world.namespace
        );
        let es = externals_in(&a, &world.namespace)
            .get("shared")
            .await
            .unwrap();
        assert_eq!(es.metadata.labels.unwrap_or_default()["team"], "payments");
        let owner = &es.metadata.owner_references.unwrap_or_default()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("ClusterExternalSecret", ces.as_str(), Some(true))
        );
    }
    // An ExternalSecret deleted by hand comes back (the owned ExternalSecrets are watched).
    let first = externals_in(&a, &a.namespace).get("shared").await.unwrap();
    externals_in(&a, &a.namespace)
        .delete("shared", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted ExternalSecret recreated", || async {
        let again = externals_in(&a, &a.namespace)
            .get_opt("shared")
            .await
            .unwrap()?;
        (again.metadata.uid != first.metadata.uid).then_some(())
    })
    .await;
    let unselected = externals_in(&a, &c.namespace)
        .get_opt("shared")
        .await
        .unwrap();
    assert!(unselected.is_none(), "namespace c is not selected");

    // c gets the label, b loses it.
    label_namespace(&a, &c.namespace, serde_json::json!({"kseal.test/ces": id})).await;
    c.wait_secret("shared", |s| text_data(s)["greeting"] == "hello")
        .await;
    label_namespace(
        &a,
        &b.namespace,
        serde_json::json!({"kseal.test/ces": null}),
    )
    .await;
    let expected = sorted(&[&a.namespace, &c.namespace]);
    wait_status(&a, &ces, "provisioned in a and c", |s| {
        s.provisioned_namespaces == expected
    })
    .await;
    eventually("the ExternalSecret of namespace b deleted", || async {
        let left = externals_in(&a, &b.namespace)
            .get_opt("shared")
            .await
            .unwrap();
        left.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_foreign_external_secret_is_not_taken_over_and_deletion_does_esos_cleanup() {
    let (a, b) = (World::new().await, World::new().await);
    start_reconciler();
    let id = a.namespace.clone();
    let (store, ces) = (format!("fake-{id}"), format!("mixed-{id}"));
    a.apply(&fake_cluster_store(&store)).await;
    // Namespace a already has an ExternalSecret of that name, made by someone else.
    a.apply(&format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: {ces}}}
spec:
  secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
  data: [{{secretKey: mine, remoteRef: {{key: shared}}}}]
"#
    ))
    .await;
    // As under ESO: its finalizer on the ClusterExternalSecret and on the namespace it provisioned.
    let namespace_finalizer = format!("{ESO_NAMESPACE_FINALIZER}{ces}");
    let namespaces: Api<Namespace> = Api::all(a.client.clone());
    namespaces
        .patch(
            &b.namespace,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": [namespace_finalizer]}})),
        )
        .await
        .unwrap();
    a.apply(&format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata:
  name: {ces}
  finalizers: [{ESO_FINALIZER}]
spec:
  namespaces: [{ns_a}, {ns_b}]
  externalSecretSpec:
    secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
    data: [{{secretKey: greeting, remoteRef: {{key: shared}}}}]
"#,
        ns_a = a.namespace,
        ns_b = b.namespace,
    ))
    .await;

    let status = wait_status(&a, &ces, "a failed, b provisioned", |s| {
        s.provisioned_namespaces == [b.namespace.clone()] && !s.failed_namespaces.is_empty()
    })
    .await;
    assert_eq!(status.failed_namespaces.len(), 1, "{status:?}");
    assert_eq!(status.failed_namespaces[0].namespace, a.namespace);
    assert_eq!(
        status.failed_namespaces[0].reason.as_deref(),
        Some("external secret already exists in namespace")
    );
    assert_eq!(status.conditions[0].status, "False");
    assert_eq!(
        status.conditions[0].message.as_deref(),
        Some("one or more namespaces failed")
    );
    let foreign = externals_in(&a, &a.namespace).get(&ces).await.unwrap();
    assert!(
        foreign
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(foreign.spec.data[0].secret_key, "mine", "left as it was");
    let secret = b.wait_secret(&ces, |_| true).await;
    assert_eq!(text_data(&secret)["greeting"], "hello");
    eventually("ESO's namespace finalizer removed", || async {
        let namespace = namespaces.get(&b.namespace).await.unwrap();
        (!namespace
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&namespace_finalizer))
        .then_some(())
    })
    .await;

    cluster_externals(&a)
        .delete(&ces, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the ClusterExternalSecret gone", || async {
        let gone = cluster_externals(&a).get_opt(&ces).await.unwrap();
        gone.is_none().then_some(())
    })
    .await;
    let left = externals_in(&a, &b.namespace).get_opt(&ces).await.unwrap();
    assert!(left.is_none(), "its ExternalSecret in b is deleted");
    let foreign = externals_in(&a, &a.namespace).get_opt(&ces).await.unwrap();
    assert!(foreign.is_some(), "the foreign ExternalSecret is kept");
}

#[tokio::test]
async fn an_unknown_field_is_reported_and_nothing_is_created() {
    let a = World::new().await;
    start_reconciler();
    let ces = format!("unknown-{}", a.namespace);
    a.apply(&format!(
        r#"
apiVersion: external-secrets.io/v1beta1
kind: ClusterExternalSecret
metadata: {{name: {ces}}}
spec:
  namespaces: [{ns}]
  namespaceRegexes: ["^t-"]
  externalSecretSpec:
    secretStoreRef: {{name: none, kind: ClusterSecretStore}}
"#,
        ns = a.namespace,
    ))
    .await;
    let status = wait_status(&a, &ces, "Ready False", |s| {
        s.conditions.iter().any(|c| c.status == "False")
    })
    .await;
    let message = status.conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("spec.namespaceRegexes"), "{message}");
    let created = externals_in(&a, &a.namespace).get_opt(&ces).await.unwrap();
    assert!(created.is_none());
}

#[tokio::test]
async fn a_new_external_secret_name_replaces_the_old_external_secret() {
    let a = World::new().await;
    start_reconciler();
    let id = a.namespace.clone();
    let (store, ces) = (format!("fake-{id}"), format!("renamed-{id}"));
    a.apply(&fake_cluster_store(&store)).await;
    let manifest = |es_name: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata: {{name: {ces}}}
spec:
  externalSecretName: {es_name}
  namespaces: [{id}]
  externalSecretSpec:
    secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
    data: [{{secretKey: greeting, remoteRef: {{key: shared}}}}]
"#
        )
    };
    a.apply(&manifest("before")).await;
    a.wait_secret("before", |s| text_data(s)["greeting"] == "hello")
        .await;
    a.apply(&manifest("after")).await;
    a.wait_secret("after", |s| text_data(s)["greeting"] == "hello")
        .await;
    let status = wait_status(&a, &ces, "the new name", |s| {
        s.external_secret_name.as_deref() == Some("after")
    })
    .await;
    assert_eq!(status.provisioned_namespaces, std::slice::from_ref(&id));
    eventually("the ExternalSecret of the old name deleted", || async {
        let old = externals_in(&a, &id).get_opt("before").await.unwrap();
        old.is_none().then_some(())
    })
    .await;
}

/// The classic use of ClusterExternalSecrets with the `kubernetes` provider: one Secret of a source
/// namespace copied into every selected namespace, read with a service account of the source
/// namespace (never the controller's own rights).
#[tokio::test]
async fn one_secret_is_copied_into_many_namespaces_through_the_kubernetes_provider() {
    let (a, b) = (World::new().await, World::new().await);
    start_reconciler();
    let id = a.namespace.clone();
    let (store, ces) = (format!("copy-{id}"), format!("copy-{id}"));
    let source = a.env.namespace().await;
    kseal_testenv::apply_yaml(
        &a.client,
        &source,
        "kseal-test",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: registry}\n\
         stringData: {username: robot, password: s3cret}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: copier}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: copier}\n\
         rules: [{apiGroups: [''], resources: [secrets], resourceNames: [registry], verbs: [get]}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: copier}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: copier}\n\
         subjects: [{kind: ServiceAccount, name: copier}]\n",
    )
    .await;
    let (url, ca) = crate::kubernetes::server(&a);
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    for world in [&a, &b] {
        label_namespace(
            &a,
            &world.namespace,
            serde_json::json!({"kseal.test/copy": id}),
        )
        .await;
    }
    a.apply(&format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {store}}}
spec:
  provider:
    kubernetes:
      remoteNamespace: {source}
      server: {{url: '{url}', caBundle: {ca}}}
      auth: {{serviceAccount: {{name: copier, namespace: {source}}}}}
---
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata: {{name: {ces}}}
spec:
  externalSecretName: registry
  namespaceSelectors: [{{matchLabels: {{kseal.test/copy: {id}}}}}]
  externalSecretSpec:
    refreshInterval: 1h
    secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}
    dataFrom: [{{extract: {{key: registry}}}}]
"#
    ))
    .await;
    for world in [&a, &b] {
        let secret = world
            .wait_secret("registry", |s| text_data(s).len() == 2)
            .await;
        let data = text_data(&secret);
        assert_eq!(
            (data["username"].as_str(), data["password"].as_str()),
            ("robot", "s3cret"),
            "in {}",
            world.namespace
        );
        world.wait_ready("registry", "SecretSynced").await;
    }
    let expected = sorted(&[&a.namespace, &b.namespace]);
    wait_status(&a, &ces, "provisioned in a and b", |s| {
        s.provisioned_namespaces == expected
    })
    .await;
    // The service account may read that one Secret only, and so may the store: another is refused.
    a.apply(&format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: other}}\nspec:\n  \
         refreshInterval: 1h\n  secretStoreRef: {{name: {store}, kind: ClusterSecretStore}}\n  \
         data: [{{secretKey: x, remoteRef: {{key: not-granted}}}}]\n"
    ))
    .await;
    let refused = a.wait_ready("other", "SecretSyncedError").await;
    assert!(
        refused
            .message
            .unwrap_or_default()
            .contains("Forbidden (403)"),
        "read with the service account's rights, not the controller's"
    );
    cluster_externals(&a)
        .delete(&ces, &DeleteParams::default())
        .await
        .unwrap();
    a.delete_cluster_store(&store).await;
}
