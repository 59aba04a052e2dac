//! Leader election: of two replicas only the Lease holder unseals, and a stopped leader hands over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kseal_crypto::KeyOptions;
use kseal_runtime::lease::DEFAULT_LEASE_NAME;
use kube::Api;
use tokio::sync::oneshot;

use crate::{Cluster, eventually, plain_secret, seal, short_lease};

/// One in-process controller replica, stopped through its shutdown future.
struct Replica {
    identity: String,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Replica {
    /// Starts a replica named `identity` for the cluster's namespace, electing on the default Lease.
    fn start(cluster: &Cluster, identity: &str) -> Self {
        let config = kseal_controller::Config {
            key_options: KeyOptions {
                bits: 2048,
                ..KeyOptions::default()
            },
            leader_election: Some(short_lease(identity)),
            ..kseal_controller::Config::in_namespace(&cluster.namespace)
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let client = cluster.client.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            kseal_controller::run_with_listener(client, config, None, shutdown)
                .await
                .expect("controller failed");
        });
        Replica {
            identity: identity.to_owned(),
            shutdown,
            task,
        }
    }

    /// Triggers the shutdown future and waits for the replica to finish (lease released).
    async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("replica did not stop")
            .expect("replica panicked");
    }
}

/// The Lease's holder, once it has one other than `not`.
async fn holder_other_than(cluster: &Cluster, not: Option<&str>) -> String {
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    eventually("a lease holder", || async {
        let lease = leases.get_opt(DEFAULT_LEASE_NAME).await.unwrap()?;
        let holder = lease.spec?.holder_identity?;
        (!holder.is_empty() && Some(holder.as_str()) != not).then_some(holder)
    })
    .await
}

/// Seals `name` with the cluster's key and waits for the Secret to hold its bytes.
async fn unseals(cluster: &Cluster, name: &str) {
    let key = cluster.public_key().await;
    let sealed = seal(
        plain_secret(&cluster.namespace, name, &[("token", name.as_bytes())]),
        &key,
    );
    cluster.create_sealed(&sealed).await;
    let (reason, _) = cluster.synced(name, "True").await;
    assert_eq!(reason, "Unsealed");
    let secret = cluster.secret_with_key(name, "token").await;
    assert_eq!(secret.data.as_ref().unwrap()["token"].0, name.as_bytes());
}

#[tokio::test]
async fn one_of_two_replicas_leads_and_a_stopped_leader_hands_over() {
    let cluster = Cluster::new().await;
    let mut replicas = vec![
        Replica::start(&cluster, "replica-a"),
        Replica::start(&cluster, "replica-b"),
    ];

    let leader = holder_other_than(&cluster, None).await;
    assert!(
        replicas.iter().any(|r| r.identity == leader),
        "unexpected holder {leader}"
    );
    unseals(&cluster, "first").await;
    // The same replica still holds the Lease: the other one did not take it over while it renewed.
    assert_eq!(holder_other_than(&cluster, None).await, leader);

    let index = replicas.iter().position(|r| r.identity == leader).unwrap();
    replicas.remove(index).stop().await;
    let successor = holder_other_than(&cluster, Some(&leader)).await;
    assert_eq!(successor, replicas[0].identity);
    unseals(&cluster, "second").await;

    for replica in replicas {
        replica.stop().await;
    }
}

#[tokio::test]
async fn a_follower_started_before_the_first_key_becomes_ready_when_it_appears() {
    // A fresh install: another replica holds the Lease and has not stored its new key yet.
    let cluster = Cluster::new().await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let held: Lease = serde_json::from_value(serde_json::json!({
        "metadata": { "name": DEFAULT_LEASE_NAME },
        "spec": {
            "holderIdentity": "the-other-replica",
            "leaseDurationSeconds": 3600,
            "renewTime": k8s_openapi::jiff::Timestamp::now().to_string(),
        },
    }))
    .unwrap();
    leases.create(&Default::default(), &held).await.unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = cluster.controller_config();
    config.leader_election = Some(short_lease("late-follower"));
    let client = cluster.client.clone();
    let follower = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        kseal_controller::run_with_listener(client, config, Some(listener), std::future::pending())
            .await
            .expect("controller failed");
    });
    let readyz = || async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: kseal\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        answer.split(' ').nth(1).map(str::to_owned)
    };
    eventually("the follower to answer /readyz", || async {
        (readyz().await?.as_str() == "503").then_some(())
    })
    .await;

    // The leader stores its key; the follower's key watch brings it.
    let pair = kseal_crypto::KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let key_pem = pair.private_key_pem().unwrap();
    let mut key = crate::existing_secret(
        "sealed-secrets-keyfirst",
        &[
            ("tls.key", key_pem.as_bytes()),
            ("tls.crt", pair.certificate_pem().as_bytes()),
        ],
        &[],
    );
    key.type_ = Some("kubernetes.io/tls".into());
    key.metadata.labels = Some(
        [(
            kseal_api::names::KEY_LABEL.to_owned(),
            kseal_api::names::ACTIVE.to_owned(),
        )]
        .into(),
    );
    cluster.create_secret(key).await;
    eventually("the follower to be ready once the key exists", || async {
        (readyz().await?.as_str() == "200").then_some(())
    })
    .await;
    follower.abort();
}
