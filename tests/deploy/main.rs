//! Deploy suite: the Helm chart (`deploy/helm/kseal`) and the plain manifest rendered from it, checked with
//! the real tools (helm, kubeconform) and against the real API server (tests/env): the chart lints, its
//! output conforms to the API server's own schemas and applies; the controller, run under exactly the
//! chart's RBAC, completes its flows, and fails them without any single permission; the alerts and the
//! dashboard query metrics the controller serves.

mod chart;
mod monitoring;
mod rbac;
mod schemas;

use std::path::{Path, PathBuf};

use kseal_testenv::TestEnv;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Api, Client, ResourceExt as _};
use serde_json::Value;

/// Field manager of what this suite applies.
const TEST_MANAGER: &str = "kseal-deploy-test";

/// The chart's directory.
fn chart_dir() -> PathBuf {
    repo_root().join("deploy/helm/kseal")
}

/// The workspace root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Runs the environment's helm with `args`; panics with helm's stderr when it fails.
fn helm(env: &TestEnv, args: &[&str]) -> String {
    let output = env.command(env.helm()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "helm {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("helm prints UTF-8")
}

/// `helm template` of the chart as release "kseal" in `namespace`, with `extra` arguments (`--set`, `-f`,
/// `--include-crds`, ...); returns the YAML.
fn render(env: &TestEnv, namespace: &str, extra: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "kseal",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    helm(env, &args)
}

/// The objects of a multi-document YAML text (empty documents skipped).
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|document| document.is_object())
        .collect()
}

/// The object of `kind` named `name` among `objects`.
fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered chart"))
}

/// Server-side applies `object` (its kind found through discovery); namespaced objects go to their own
/// `metadata.namespace`.
async fn apply(client: &Client, object: &Value) -> Result<DynamicObject, kube::Error> {
    let object: DynamicObject =
        serde_json::from_value(object.clone()).expect("a Kubernetes object");
    let (resource, capabilities) = resource_of(client, &object).await?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object.metadata.namespace.as_deref().unwrap_or("default"),
            &resource,
        ),
    };
    api.patch(
        &object.name_any(),
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
}

/// The API resource of `object`'s apiVersion and kind.
async fn resource_of(
    client: &Client,
    object: &DynamicObject,
) -> Result<(ApiResource, ApiCapabilities), kube::Error> {
    let types = object
        .types
        .clone()
        .expect("objects have apiVersion and kind");
    let gvk = kube::api::GroupVersionKind::try_from(&types).expect("a valid apiVersion");
    kube::discovery::pinned_kind(client, &gvk).await
}
