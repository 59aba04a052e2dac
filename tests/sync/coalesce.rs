//! Coalescing: ExternalSecrets that read the same remote secrets in one refresh cycle share
//! one fetch, batched with BatchGetSecretValue. Counted at moto.

use std::time::{Duration, SystemTime};

use kseal_testenv::eventually;
use kube::api::ListParams;

use crate::World;

const EXTERNAL_SECRETS: usize = 200;
const REMOTE_SECRETS: usize = 20;
const INTERVAL: Duration = Duration::from_secs(10);

#[tokio::test]
async fn two_hundred_external_secrets_over_twenty_remote_secrets_cost_two_calls_per_cycle() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    for i in 0..REMOTE_SECRETS {
        world
            .put_remote(&format!("shared/{i}"), &format!("value-{i}"))
            .await;
    }
    let manifests: Vec<String> = (0..EXTERNAL_SECRETS)
        .map(|i| {
            format!(
                r#"apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: es-{i}
spec:
  refreshInterval: {}s
  secretStoreRef: {{name: aws}}
  data:
    - secretKey: value
      remoteRef: {{key: shared/{}}}
"#,
                INTERVAL.as_secs(),
                i % REMOTE_SECRETS
            )
        })
        .collect();
    world.apply(&manifests.join("\n---\n")).await;

    let all_refreshed_after = |since: SystemTime| {
        let world = &world;
        async move {
            let api: kube::Api<kseal_api::external_secrets::ExternalSecret> =
                kube::Api::namespaced(world.client.clone(), &world.namespace);
            let list = api.list(&ListParams::default()).await.ok()?;
            let times: Vec<SystemTime> = list
                .items
                .iter()
                .filter_map(|es| es.status.as_ref()?.refresh_time.as_ref())
                .map(|t| SystemTime::from(t.0))
                .collect();
            (times.len() == EXTERNAL_SECRETS && times.iter().all(|t| *t >= since))
                .then(|| times.into_iter().max().unwrap())
        }
    };
    let reads = || async {
        let calls = world.account.call_counts().await;
        (
            calls.get("BatchGetSecretValue").copied().unwrap_or(0),
            calls.get("GetSecretValue").copied().unwrap_or(0),
        )
    };

    eventually("all ExternalSecrets synced", || {
        all_refreshed_after(SystemTime::UNIX_EPOCH)
    })
    .await;
    let (start_batches, start_gets) = reads().await;
    let started = SystemTime::now();
    // Two full refresh cycles for every object: each refreshes at least twice more.
    let once = eventually("one more refresh cycle", || all_refreshed_after(started)).await;
    eventually("a second refresh cycle", || {
        all_refreshed_after(once + Duration::from_secs(1))
    })
    .await;
    let (end_batches, end_gets) = reads().await;
    let elapsed = SystemTime::now().duration_since(started).unwrap();
    // Grid points passed while measuring (the first and the last may be partial).
    let cycles = elapsed.as_secs().div_ceil(INTERVAL.as_secs()) + 1;
    let batches = end_batches - start_batches;
    eprintln!(
        "coalescing: {batches} BatchGetSecretValue calls over {cycles} refresh cycles for \
         {EXTERNAL_SECRETS} ExternalSecrets and {REMOTE_SECRETS} remote secrets \
         (ESO would make {} GetSecretValue calls per cycle)",
        EXTERNAL_SECRETS
    );
    assert_eq!(end_gets, start_gets, "no single GetSecretValue calls");
    assert!(
        batches >= 2,
        "the remote secrets were read again: {batches}"
    );
    assert!(
        batches <= 2 * cycles,
        "{batches} BatchGetSecretValue calls in {cycles} cycles (at most 2 per cycle)"
    );
}
