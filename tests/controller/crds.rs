//! One family's missing CRD holds back only its own part of the controller: on a cluster with only
//! ESO's CRDs the sync runs and the replica is ready while the unsealer waits for
//! `sealedsecrets.bitnami.com`, and the reverse. Each test has a private API server (CRDs are
//! cluster-wide).

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kseal_testenv::TestEnv;
use kube::Api;

use crate::http::get;
use crate::{Cluster, eventually, plain_secret, seal};

/// The CRDs kseal's chart installs, those of `group` only.
fn crds_of(group: &str) -> Vec<CustomResourceDefinition> {
    kseal_controller::crd::crds()
        .into_iter()
        .filter(|crd| crd.spec.group == group)
        .collect()
}

/// The controller of `cluster` with the sync on (the fake provider needs no AWS).
fn start_with_sync(cluster: &mut Cluster, env: &TestEnv) {
    let mut config = cluster.controller_config();
    config.sync = Some(kseal_externalsecrets::Config {
        watch_namespace: Some(cluster.namespace.clone()),
        controller_class: None,
        aws_endpoint_url: Some(env.moto_endpoint().to_owned()),
        allow_namespaced_default_credentials: false,
        sealing_keys: Default::default(),
    });
    cluster.start_controller_with(config);
}

async fn ready(cluster: &Cluster) {
    eventually("/readyz 200", || async {
        (get(cluster, "/readyz").await.status == 200).then_some(())
    })
    .await;
}

/// Asserts `kseal_crd_served{crd}` is `value` on the controller's `/metrics`.
async fn served_is(cluster: &Cluster, crd: &str, value: &str) {
    let body = get(cluster, "/metrics").await.body;
    let series = format!("kseal_crd_served{{crd=\"{crd}\"}} ");
    let served = body.lines().find_map(|line| line.strip_prefix(&series));
    assert_eq!(served, Some(value), "{crd}");
}

async fn apply(cluster: &Cluster, yaml: &str) {
    kseal_testenv::apply_yaml(&cluster.client, &cluster.namespace, "kseal-test", yaml).await;
}

const FAKE_SYNC: &str = r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: fake
spec:
  provider:
    fake:
      data:
        - key: app/token
          value: t0ken
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: synced
spec:
  refreshInterval: 1h
  secretStoreRef: {name: fake, kind: SecretStore}
  data:
    - secretKey: token
      remoteRef: {key: app/token}
"#;

/// A SealedSecret `name` sealed with the controller's certificate becomes its Secret.
async fn unseals(cluster: &Cluster, name: &str) {
    let key = cluster.public_key().await;
    let sealed = seal(plain_secret(&cluster.namespace, name, &[("k", b"v")]), &key);
    cluster.create_sealed(&sealed).await;
    cluster.secret_with_key(name, "k").await;
}

async fn synced(cluster: &Cluster) {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    eventually("the ExternalSecret's Secret", || async {
        let secret = secrets.get_opt("synced").await.unwrap()?;
        (kseal_testenv::secret_text(&secret).get("token")? == "t0ken").then_some(())
    })
    .await;
}

#[tokio::test]
async fn with_only_eso_crds_the_sync_runs_and_the_unsealer_waits() {
    let env = TestEnv::isolated().await;
    env.install_crds(&crds_of("external-secrets.io")).await;
    let mut cluster = Cluster::in_env_as_it_is(&env).await;
    start_with_sync(&mut cluster, &env);

    ready(&cluster).await;
    served_is(&cluster, "sealedsecrets.bitnami.com", "0").await;
    apply(&cluster, FAKE_SYNC).await;
    synced(&cluster).await;
    served_is(&cluster, "externalsecrets.external-secrets.io", "1").await;

    // The CRD arrives later: the unsealer starts on its own.
    env.install_crds(&crds_of("bitnami.com")).await;
    unseals(&cluster, "late").await;
    served_is(&cluster, "sealedsecrets.bitnami.com", "1").await;
    assert_eq!(get(&cluster, "/readyz").await.status, 200);
}

#[tokio::test]
async fn with_only_the_sealed_secret_crd_the_unsealer_runs_and_the_sync_waits() {
    let env = TestEnv::isolated().await;
    env.install_crds(&crds_of("bitnami.com")).await;
    let mut cluster = Cluster::in_env_as_it_is(&env).await;
    start_with_sync(&mut cluster, &env);

    ready(&cluster).await;
    unseals(&cluster, "early").await;
    served_is(&cluster, "externalsecrets.external-secrets.io", "0").await;

    env.install_crds(&crds_of("external-secrets.io")).await;
    apply(&cluster, FAKE_SYNC).await;
    synced(&cluster).await;
    served_is(&cluster, "externalsecrets.external-secrets.io", "1").await;
}
