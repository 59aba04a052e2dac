//! Kubernetes clients, per-test namespaces and CRD installation.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::{TestEnv, scripts};

/// Field manager of the objects the test environment applies (CRDs).
const FIELD_MANAGER: &str = "kseal-testenv";
/// How long a CRD may take to become established.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);
/// Label on every namespace [`TestEnv::namespace`] creates.
const NAMESPACE_LABEL: &str = "kseal.dev/test-namespace";

impl TestEnv {
    /// A client authenticated as the admin (group `system:masters`).
    pub async fn client(&self) -> Client {
        client_from(&self.kubeconfig_path()).await
    }

    /// A client authenticated as `user` in `groups` (a client certificate
    /// signed by the environment's CA); RBAC decides what it may do.
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> Client {
        client_from(&self.kubeconfig_as(user, groups).await).await
    }

    /// The API server's address and the CA certificate (PEM) that signed its serving certificate,
    /// as the admin kubeconfig names them: what a store of ESO's `kubernetes` provider is given.
    pub fn api_server(&self) -> (String, Vec<u8>) {
        use base64::Engine as _;
        let kubeconfig =
            Kubeconfig::read_from(self.kubeconfig_path()).expect("the admin kubeconfig");
        let cluster = kubeconfig.clusters[0].cluster.clone().expect("a cluster");
        let ca = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64 CA data"),
            (None, Some(path)) => std::fs::read(path).expect("the CA file"),
            (None, None) => panic!("the admin kubeconfig names no CA"),
        };
        (cluster.server.expect("a server address"), ca)
    }

    /// The kubeconfig of [`TestEnv::client_as`]: the API server, its CA and the client certificate
    /// and key of `user` in `groups`, as files.
    pub async fn kubeconfig_as(&self, user: &str, groups: &[&str]) -> std::path::PathBuf {
        let dir = self.dir.clone();
        let user = user.to_owned();
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            scripts::kubeconfig_for(&dir, &user, &groups)
        })
        .await
        .expect("tests/env/kubeconfig-for panicked")
    }

    /// Creates a fresh namespace for one test and returns its name. It is
    /// never deleted: no namespace controller runs, and the whole state goes
    /// with the environment.
    pub async fn namespace(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos_suffix()
        );
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client().await)
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Server-side applies `crds` and waits until each is established.
    /// Safe to call from parallel tests with the same CRDs.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) {
        let api = Api::<CustomResourceDefinition>::all(self.client().await);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        for crd in crds {
            let name = crd.metadata.name.as_deref().expect("CRD without a name");
            api.patch(name, &params, &Patch::Apply(crd))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        }
        for crd in crds {
            let name = crd.metadata.name.as_deref().expect("CRD without a name");
            let deadline = Instant::now() + CRD_ESTABLISHED_TIMEOUT;
            loop {
                let current = api
                    .get(name)
                    .await
                    .unwrap_or_else(|e| panic!("reading CRD {name}: {e}"));
                if is_established(&current) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "CRD {name} not established in time"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn client_from(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("reading {}: {e}", kubeconfig.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("loading the test environment's kubeconfig");
    Client::try_from(config).expect("building a kube client")
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Distinguishes namespaces of test processes that reuse one environment.
fn nanos_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:x}", nanos & 0xfffff)
}
