//! Faults: the API server restarts under a running controller, which converges without being restarted.
//! The test runs a private environment, so parallel tests are not disturbed.

use std::time::Duration;

use k8s_openapi::ByteString;
use kseal_testenv::TestEnv;
use kube::api::{Patch, PatchParams, PostParams};

use crate::{Cluster, data_of, eventually, plain_secret, seal};

/// Seals `name` (one key `token` holding the name) with the cluster's key.
async fn sealed(cluster: &Cluster, name: &str) -> kseal_api::SealedSecret {
    let key = cluster.public_key().await;
    seal(
        plain_secret(&cluster.namespace, name, &[("token", name.as_bytes())]),
        &key,
    )
}

/// Waits until `name` is `Synced` and its Secret holds exactly what was sealed.
async fn converged(cluster: &Cluster, name: &str) {
    let (reason, _) = cluster.synced(name, "True").await;
    assert_eq!(reason, "Unsealed", "{name}");
    let secrets = cluster.secrets();
    eventually(&format!("Secret {name} with its sealed value"), || async {
        let secret = secrets.get_opt(name).await.ok()??;
        (data_of(&secret) == [("token".to_owned(), name.to_owned())].into()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn controller_converges_after_apiserver_restart() {
    // The lease outlasts the outage: the watches resume under the same leadership.
    converges_across_apiserver_restart(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn controller_that_loses_its_lease_in_an_apiserver_outage_converges() {
    // The outage (a restart takes seconds) outlasts this lease, as a longer outage outlasts the default
    // one: leadership ends while the server is away and must be regained without a process restart.
    converges_across_apiserver_restart(Duration::from_secs(3)).await;
}

/// SealedSecrets created before and after an API server restart under one running controller, whose
/// lease lasts `lease_duration`, are all unsealed; a Secret edited after the restart is repaired.
async fn converges_across_apiserver_restart(lease_duration: Duration) {
    let env = TestEnv::isolated().await;
    let mut cluster = Cluster::in_env(&env).await;
    let mut config = cluster.controller_config();
    if let Some(lease) = config.leader_election.as_mut() {
        lease.duration = lease_duration;
    }
    cluster.start_controller_with(config);
    for name in ["before-1", "before-2"] {
        cluster.create_sealed(&sealed(&cluster, name).await).await;
    }
    for name in ["before-1", "before-2"] {
        converged(&cluster, name).await;
    }

    env.restart_apiserver().await;

    // The restarted server may refuse a moment longer than /readyz says.
    let after = sealed(&cluster, "after-1").await;
    let api = cluster.sealed_secrets();
    eventually("a create after the restart", || async {
        api.create(&PostParams::default(), &after).await.ok()
    })
    .await;
    cluster
        .create_sealed(&sealed(&cluster, "after-2").await)
        .await;
    // A Secret edited by hand after the restart: the watch of owned Secrets resumed too.
    let tampered = serde_json::json!({ "data": { "token": ByteString(b"tampered".to_vec()) } });
    cluster
        .secrets()
        .patch(
            "before-1",
            &PatchParams::default(),
            &Patch::Merge(&tampered),
        )
        .await
        .unwrap();

    for name in ["before-1", "before-2", "after-1", "after-2"] {
        converged(&cluster, name).await;
    }
    let controller = cluster.controller.as_ref().unwrap();
    assert!(
        !controller.is_finished(),
        "the controller stopped instead of riding out the restart"
    );
}
