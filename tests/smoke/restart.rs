//! Faults: a watch resumes after the API server restarts; moto stops and starts.
//! Each test runs a private environment, so parallel tests are not disturbed.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kseal_testenv::TestEnv;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::eventually;

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn watch_resumes_after_apiserver_restart() {
    let env = TestEnv::isolated().await;
    let namespace = env.namespace().await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client().await, &namespace);

    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(
        watcher(maps.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .for_each(move |object| {
                if let Ok(object) = object {
                    let _ = seen_tx.send(object.metadata.name.unwrap_or_default());
                }
                std::future::ready(())
            }),
    );
    let pp = PostParams::default();
    maps.create(&pp, &config_map("before")).await.unwrap();
    expect_seen(&mut seen, "before").await;

    env.restart_apiserver().await;
    // The restarted server may refuse a moment longer than /readyz says.
    eventually("a create after the restart", || async {
        maps.create(&pp, &config_map("after")).await.ok()
    })
    .await;
    expect_seen(&mut seen, "after").await;
    watch.abort();
}

async fn expect_seen(seen: &mut tokio::sync::mpsc::UnboundedReceiver<String>, name: &str) {
    tokio::time::timeout(crate::DEADLINE, async {
        while let Some(got) = seen.recv().await {
            if got == name {
                return;
            }
        }
        panic!("watcher stopped");
    })
    .await
    .unwrap_or_else(|_| panic!("the watcher never saw {name}"));
}

#[tokio::test]
async fn moto_stops_and_starts() {
    let env = TestEnv::isolated().await;
    let account = env.aws_account();
    let client = account.secretsmanager_client().await;
    client.list_secrets().send().await.unwrap();

    env.stop_moto().await;
    assert!(client.list_secrets().send().await.is_err());

    env.start_moto().await;
    let listed = client.list_secrets().send().await.unwrap();
    assert!(listed.secret_list().is_empty(), "moto restarts empty");
    assert_eq!(
        account.call_count("ListSecrets").await,
        1,
        "counts restart too"
    );
}
