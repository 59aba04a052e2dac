//! Controller suite: kseal-controller against the real API server (tests/env).
//!
//! Each test owns a namespace and runs its own controller in-process, watching only that namespace and
//! keeping its keys there, so tests run in parallel without seeing each other.

mod certmap;
mod cli;
mod crds;
mod http;
mod interop;
mod key_flags;
mod keys;
mod leader;
mod metrics;
mod restart;
mod sealed_secrets_flags;
mod shutdown;
mod unseal;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kseal_api::names::{ACTIVE, KEY_LABEL};
use kseal_api::{SealedSecret, SealedSecretStatus};
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{Certificate, KeyOptions, PublicKey};
use kseal_testenv::TestEnv;
use kube::api::{ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client, CustomResourceExt};

use kseal_testenv::eventually;

/// One test's world: a fresh namespace with the CRD installed, and (once started) a controller for it.
struct Cluster {
    client: Client,
    namespace: String,
    controller: Option<tokio::task::JoinHandle<()>>,
    /// Key renewal period of the controllers this cluster starts.
    key_renew_period: Option<Duration>,
    /// Where the controller's HTTP API listens, once started.
    http_addr: Option<std::net::SocketAddr>,
}

impl Cluster {
    /// A fresh namespace; the controller is not started yet.
    async fn new() -> Self {
        Self::in_env(TestEnv::get().await).await
    }

    /// A fresh namespace in `env` (e.g. a private [`TestEnv::isolated`] one); the controller is not
    /// started yet.
    async fn in_env(env: &TestEnv) -> Self {
        env.install_crds(&[SealedSecret::crd()]).await;
        Self::in_env_as_it_is(env).await
    }

    /// A fresh namespace in `env`, with only the CRDs `env` already has.
    async fn in_env_as_it_is(env: &TestEnv) -> Self {
        Cluster {
            client: env.client().await,
            namespace: env.namespace().await,
            controller: None,
            key_renew_period: None,
            http_addr: None,
        }
    }

    /// A fresh namespace with a running controller.
    async fn with_controller() -> Self {
        let mut cluster = Self::new().await;
        cluster.start_controller();
        cluster
    }

    /// Starts the controller as a task, with keys and watch limited to this namespace.
    fn start_controller(&mut self) {
        self.start_controller_with(self.controller_config());
    }

    /// The configuration [`Cluster::start_controller`] uses: keys and watch limited to this namespace.
    fn controller_config(&self) -> kseal_controller::Config {
        kseal_controller::Config {
            // Smaller than the 4096-bit default: generation is much faster and the format is the same.
            key_options: KeyOptions {
                bits: 2048,
                ..KeyOptions::default()
            },
            key_renew_period: self.key_renew_period,
            // One identity per namespace: a restarted controller renews its own lease at once.
            leader_election: Some(short_lease(&format!("test-{}", self.namespace))),
            ..kseal_controller::Config::in_namespace(&self.namespace)
        }
    }

    /// Starts the controller as a task with `config`.
    fn start_controller_with(&mut self, config: kseal_controller::Config) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        self.http_addr = Some(listener.local_addr().unwrap());
        let client = self.client.clone();
        self.controller = Some(tokio::spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            kseal_controller::run_with_listener(
                client,
                config,
                Some(listener),
                std::future::pending(),
            )
            .await
            .expect("controller failed");
        }));
    }

    /// Stops the controller and starts a new one (a restart: all in-memory state is gone).
    async fn restart_controller(&mut self) {
        if let Some(controller) = self.controller.take() {
            controller.abort();
            let _ = controller.await;
        }
        self.start_controller();
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn sealed_secrets(&self) -> Api<SealedSecret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The active key Secrets of the namespace, once the controller has one.
    async fn key_secrets(&self) -> Vec<Secret> {
        let secrets = self.secrets();
        let selector = format!("{KEY_LABEL}={ACTIVE}");
        eventually("a key Secret", || async {
            let list = secrets
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            (!list.items.is_empty()).then_some(list.items)
        })
        .await
    }

    /// The public key of the controller's (only) key.
    async fn public_key(&self) -> PublicKey {
        let secret = self.key_secrets().await.remove(0);
        certificate_of(&secret).public_key().clone()
    }

    /// Creates a Secret in the namespace.
    async fn create_secret(&self, secret: Secret) -> Secret {
        self.secrets()
            .create(&PostParams::default(), &secret)
            .await
            .unwrap()
    }

    /// Creates a SealedSecret in the namespace.
    async fn create_sealed(&self, sealed: &SealedSecret) -> SealedSecret {
        self.sealed_secrets()
            .create(&PostParams::default(), sealed)
            .await
            .unwrap()
    }

    /// Waits for the `Synced` condition of SealedSecret `name` to report `status` ("True"/"False") for its
    /// current generation; returns (reason, message).
    async fn synced(&self, name: &str, status: &str) -> (String, String) {
        // Read untyped, so that malformed objects can be inspected too.
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &ApiResource::erase::<SealedSecret>(&()),
        );
        eventually(&format!("Synced={status} on {name}"), || async {
            let sealed = api.get(name).await.unwrap();
            let current: SealedSecretStatus =
                serde_json::from_value(sealed.data.get("status")?.clone()).unwrap();
            if current.observed_generation != sealed.metadata.generation {
                return None;
            }
            let condition = current.conditions.iter().find(|c| c.type_ == "Synced")?;
            (condition.status == status).then(|| {
                (
                    condition.reason.clone().unwrap_or_default(),
                    condition.message.clone().unwrap_or_default(),
                )
            })
        })
        .await
    }

    /// Waits for an event with `reason` about SealedSecret `name`; returns its note.
    async fn event(&self, name: &str, reason: &str) -> String {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        eventually(&format!("event {reason} on {name}"), || async {
            let events = api.list(&ListParams::default()).await.unwrap();
            events.items.into_iter().find_map(|event| {
                let about = event.regarding.as_ref()?;
                (about.kind.as_deref() == Some("SealedSecret")
                    && about.name.as_deref() == Some(name)
                    && event.reason.as_deref() == Some(reason))
                .then(|| event.note.unwrap_or_default())
            })
        })
        .await
    }

    /// Waits until Secret `name` holds `key`, and returns its data.
    async fn secret_with_key(&self, name: &str, key: &str) -> Secret {
        let api = self.secrets();
        eventually(&format!("Secret {name} with key {key}"), || async {
            let secret = api.get_opt(name).await.unwrap()?;
            secret
                .data
                .as_ref()
                .is_some_and(|d| d.contains_key(key))
                .then_some(secret)
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(controller) = &self.controller {
            controller.abort();
        }
    }
}

/// Lease settings with short timings, so that a take-over happens within a test's deadline.
fn short_lease(identity: &str) -> kseal_runtime::lease::LeaseConfig {
    kseal_runtime::lease::LeaseConfig {
        identity: identity.to_owned(),
        duration: Duration::from_secs(3),
        renew_interval: Duration::from_millis(300),
        ..kseal_runtime::lease::LeaseConfig::new(kseal_runtime::lease::DEFAULT_LEASE_NAME)
    }
}

/// The certificate of a key Secret.
fn certificate_of(secret: &Secret) -> Certificate {
    Certificate::from_pem(&secret.data.as_ref().unwrap()["tls.crt"].0).unwrap()
}

/// A plain Secret `namespace/name` with `data`.
fn plain_secret(namespace: &str, name: &str, data: &[(&str, &[u8])]) -> PlainSecret {
    PlainSecret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec().into()))
            .collect(),
        ..PlainSecret::default()
    }
}

/// Seals `secret` with `key`, as `kseal` does.
fn seal(secret: PlainSecret, key: &PublicKey) -> SealedSecret {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    seal_secret(
        secret,
        &SealOptions {
            key,
            scope: None,
            allow_empty_data: false,
            default_namespace: namespace,
            namespace: None,
            name: None,
        },
    )
    .unwrap()
}

/// A Secret `name` with `data` and `annotations`, as a user would create it.
fn existing_secret(name: &str, data: &[(&str, &[u8])], annotations: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

/// The data of `secret` as strings, for assertions.
fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    kseal_testenv::secret_text(secret)
}
