//! Sync suite: the external secret sync against the real API server and moto (tests/env).
//!
//! Each test owns a namespace, a moto account and a sync (`kseal_externalsecrets::run`) watching only that
//! namespace, so tests run in parallel without seeing each other (ClusterExternalSecrets: see `cluster`).

mod aws;
mod cluster;
mod coalesce;
mod controller;
mod fake;
mod fields;
mod generators;
mod kubernetes;
mod parameters;
mod policies;
mod protect;
mod push;
mod seed;
mod stores;
mod trust;
mod unsupported;
mod windows;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kseal_api::external_secrets::{Condition, ExternalSecretStatus};
use kseal_testenv::AwsAccount;
use kseal_testenv::{TestEnv, eventually};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

/// Field manager of what tests apply.
const TEST_MANAGER: &str = "kseal-sync-test";

/// One test's world: a namespace, a moto account, and a running sync for the namespace.
struct World {
    env: EnvRef,
    client: Client,
    namespace: String,
    account: AwsAccount,
    sync: Option<tokio::task::JoinHandle<()>>,
    /// The registry the sync counts into, once started.
    registry: Option<std::sync::Arc<prometheus_client::registry::Registry>>,
}

impl World {
    /// A fresh namespace and moto account, with the CRDs installed and the sync running.
    async fn new() -> Self {
        let mut world = Self::without_sync().await;
        world.start_sync();
        world
    }

    /// [`World::new`] without starting the sync.
    async fn without_sync() -> Self {
        Self::with_env(EnvRef::Shared(TestEnv::get().await)).await
    }

    /// [`World::new`] in a private environment, for tests that stop servers.
    async fn isolated() -> Self {
        let mut world = Self::with_env(EnvRef::Owned(Box::new(TestEnv::isolated().await))).await;
        world.start_sync();
        world
    }

    async fn with_env(env: EnvRef) -> Self {
        env.install_crds(&kseal_controller::crd::crds()).await;
        World {
            client: env.client().await,
            namespace: env.namespace().await,
            account: env.aws_account(),
            env,
            sync: None,
            registry: None,
        }
    }

    fn start_sync(&mut self) {
        self.start_sync_at(self.env.moto_endpoint().to_owned());
    }

    /// Starts the sync with AWS at `endpoint`.
    fn start_sync_at(&mut self, endpoint: String) {
        let config = kseal_externalsecrets::Config {
            watch_namespace: Some(self.namespace.clone()),
            controller_class: None,
            aws_endpoint_url: Some(endpoint),
            allow_namespaced_default_credentials: false,
            // As the controller runs it with its keys in this namespace.
            sealing_keys: kseal_externalsecrets::protect::KeyLocation {
                namespace: Some(self.namespace.clone()),
                prefix: Some(kseal_api::names::KEY_SECRET_PREFIX.to_owned()),
            },
        };
        // As the controller registers them: kseal's families, and ESO's at the root.
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = kseal_externalsecrets::SyncMetrics::register(&mut registry).with_eso(
            kseal_externalsecrets::eso_metrics::EsoMetrics::register(&mut registry),
        );
        self.registry = Some(std::sync::Arc::new(registry));
        let client = self.client.clone();
        self.sync = Some(tokio::spawn(kseal_externalsecrets::run(
            client,
            config,
            metrics,
            futures::future::pending::<()>(),
        )));
    }

    /// The sync's metrics as `/metrics` renders them.
    fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(
            &mut text,
            self.registry.as_ref().expect("the sync is started"),
        )
        .unwrap();
        text
    }

    /// Applies every document of `yaml` (namespaced objects without a namespace land in the test's).
    async fn apply(&self, yaml: &str) {
        kseal_testenv::apply_yaml(&self.client, &self.namespace, TEST_MANAGER, yaml).await;
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A Secret of the test namespace, if it exists.
    async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets()
            .get_opt(name)
            .await
            .expect("reading a Secret")
    }

    /// Waits until Secret `name` exists and `check` accepts it.
    async fn wait_secret(&self, name: &str, check: impl Fn(&Secret) -> bool) -> Secret {
        eventually(&format!("Secret {name}"), || async {
            self.secret(name).await.filter(|s| check(s))
        })
        .await
    }

    /// The ExternalSecret's status (v1), if it has one.
    async fn status(&self, name: &str) -> Option<ExternalSecretStatus> {
        let api: Api<kseal_api::external_secrets::ExternalSecret> =
            Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .expect("reading an ExternalSecret")?
            .status
    }

    /// Waits until the ExternalSecret's `Ready` condition has `reason`; returns the condition.
    async fn wait_ready(&self, name: &str, reason: &str) -> Condition {
        eventually(
            &format!("ExternalSecret {name} Ready reason {reason}"),
            || async {
                ready(&self.status(name).await?).filter(|c| c.reason.as_deref() == Some(reason))
            },
        )
        .await
    }

    /// The conditions of store `kind` (`SecretStore` in this namespace, or `ClusterSecretStore`) `name`.
    async fn store_conditions(&self, kind: &str, name: &str) -> Vec<Condition> {
        let gvk = GroupVersionKind::gvk("external-secrets.io", "v1", kind);
        let resource =
            ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()));
        let api: Api<DynamicObject> = if kind == "ClusterSecretStore" {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
        };
        let Some(store) = api.get_opt(name).await.expect("reading a store") else {
            return Vec::new();
        };
        serde_json::from_value(store.data["status"]["conditions"].clone()).unwrap_or_default()
    }

    /// Waits until store `kind` `name` has a `type_` condition with `reason`; returns it.
    async fn wait_store_condition(
        &self,
        kind: &str,
        name: &str,
        type_: &str,
        reason: &str,
    ) -> Condition {
        eventually(
            &format!("{kind} {name} condition {type_} with reason {reason}"),
            || async {
                self.store_conditions(kind, name)
                    .await
                    .into_iter()
                    .find(|c| c.type_ == type_ && c.reason.as_deref() == Some(reason))
            },
        )
        .await
    }

    /// Deletes ClusterSecretStore `name` (cluster-wide: every sync of the test process sees it).
    async fn delete_cluster_store(&self, name: &str) {
        let gvk = GroupVersionKind::gvk("external-secrets.io", "v1", "ClusterSecretStore");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "clustersecretstores");
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        api.delete(name, &Default::default())
            .await
            .expect("deleting a ClusterSecretStore");
    }

    /// A SecretStore `name` reading this test's moto account with static keys from a Secret.
    fn aws_store(&self, name: &str) -> String {
        self.account.static_key_store(name)
    }

    /// Creates (or overwrites) a string secret in this test's moto account, in `region`.
    async fn put_remote(&self, name: &str, value: &str) -> String {
        let client = self.account.secretsmanager_client().await;
        match client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
        {
            Ok(created) => created.version_id().unwrap_or_default().to_owned(),
            Err(_) => client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .expect("put_secret_value")
                .version_id()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// The shared test environment, or a private one stopped with the test.
enum EnvRef {
    Shared(&'static TestEnv),
    Owned(Box<TestEnv>),
}

impl std::ops::Deref for EnvRef {
    type Target = TestEnv;

    fn deref(&self) -> &TestEnv {
        match self {
            EnvRef::Shared(env) => env,
            EnvRef::Owned(env) => env,
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(sync) = self.sync.take() {
            sync.abort();
        }
    }
}

/// The `Ready` condition of a status.
fn ready(status: &ExternalSecretStatus) -> Option<Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .cloned()
}

/// A Secret's data as text.
fn text_data(secret: &Secret) -> BTreeMap<String, String> {
    kseal_testenv::secret_text(secret)
}
