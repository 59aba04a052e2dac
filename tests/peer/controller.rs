//! The real sealed-secrets controller (built by `tests/env/build` from its Go module, the version
//! kubeseal is pinned to), run as a pod would run it; shared by the controller differential and the
//! side-by-side benchmark.
//!
//! sealed-secrets' controller only reads in-cluster configuration, so it runs in a private mount
//! namespace (`unshare --mount`) with a service account's token, `ca.crt` and `namespace` where
//! in-cluster configuration reads them and `KUBERNETES_SERVICE_HOST`/`PORT` naming the API server. It
//! watches only its own namespace (`--all-namespaces=false`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kseal_testenv::TestEnv;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// The sealed-secrets controller, killed when dropped.
pub struct Peer {
    child: Child,
    /// Where its `/metrics` listens.
    #[allow(
        dead_code,
        reason = "read by the side-by-side benchmark, which shares this file"
    )]
    pub metrics: std::net::SocketAddr,
}

impl Peer {
    /// The process id (`unshare` execs the shell, which execs the controller).
    #[allow(
        dead_code,
        reason = "read by the side-by-side benchmark, which shares this file"
    )]
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sealed-secrets controller for `namespace` as a pod would run it, with `flags` after its
/// own: in-cluster configuration from a service account (bound to `cluster-admin`: the test owns the
/// cluster) in a private mount namespace. Starting it again in the same namespace reuses the account.
pub async fn start_peer(env: &TestEnv, client: &Client, namespace: &str, flags: &[&str]) -> Peer {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let created = accounts
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("sealed-secrets".into()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            },
        )
        .await;
    let created = Api::<ClusterRoleBinding>::all(client.clone())
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: ObjectMeta {
                    name: Some(format!("peer-{namespace}")),
                    ..ObjectMeta::default()
                },
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "ClusterRole".into(),
                    name: "cluster-admin".into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "sealed-secrets".into(),
                    namespace: Some(namespace.to_owned()),
                    ..Subject::default()
                }]),
            },
        )
        .await
        .and(created);
    match created {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => panic!("creating the peer's service account: {error}"),
    }
    let token = accounts
        .create_token_request(
            "sealed-secrets",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap()
        .token;

    let files = tempfile::tempdir().unwrap().keep();
    std::fs::write(files.join("token"), token).unwrap();
    std::fs::write(files.join("namespace"), namespace).unwrap();
    std::fs::copy(env.dir().join("pki/ca.crt"), files.join("ca.crt")).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(env.kubeconfig_path()).unwrap();
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    let authority = server.trim_start_matches("https://");
    let (host, port) = authority.rsplit_once(':').unwrap();
    let listen = free_port();
    let metrics = free_port();
    let log = std::fs::File::create(env.dir().join(format!("logs/peer-{namespace}.log"))).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && \
         cp {files}/token {files}/namespace {files}/ca.crt /run/secrets/kubernetes.io/serviceaccount/ && \
         exec {binary} --all-namespaces=false --key-renew-period=0 \
         --listen-addr 127.0.0.1:{listen} --listen-metrics-addr 127.0.0.1:{metrics} {flags}",
        files = files.display(),
        binary = peer_binary().display(),
        flags = flags.join(" "),
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("KUBERNETES_SERVICE_HOST", host)
        .env("KUBERNETES_SERVICE_PORT", port)
        .env("POD_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Peer {
        child,
        metrics: std::net::SocketAddr::from(([127, 0, 0, 1], metrics)),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The sealed-secrets controller the test environment built.
pub fn peer_binary() -> PathBuf {
    kseal_e2e::built_peer(
        "KSEAL_SEALED_SECRETS_CONTROLLER",
        "sealed-secrets-controller",
    )
}

pub fn peer_version() -> String {
    std::fs::read_to_string(kseal_e2e::repo_root().join("tests/env/versions"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("KUBESEAL_VERSION="))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned()
}
