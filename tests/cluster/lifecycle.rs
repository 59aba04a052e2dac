//! The release over time: the leader pod deleted (the other replica takes over within the lease time), a
//! `helm upgrade` rolling both pods under the PodDisruptionBudget with a ready replica at every moment,
//! and the memory of the leader after 1000 SealedSecrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kseal_api::SealedSecret;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_runtime::lease::LEASE_DURATION;
use kseal_testenv::apply_yaml;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, ResourceExt as _};

use crate::proxy::{fresh_value, kseal, secret_manifest, unsealed};
use crate::{
    INSTALL_TIMEOUT, Release, SETTLE_TIMEOUT, container_status, find_dir, import_image, name,
    repo_root, within,
};

const FIELD_MANAGER: &str = "kseal-cluster-test";
const SERVICE: &str = "sealed-secrets-controller";

#[tokio::test]
async fn deleting_the_leader_pod_hands_over_to_the_other_replica_within_the_lease_time() {
    let release = Release::install("failover", &[]).await;
    let pods = release.ready_pods(2, INSTALL_TIMEOUT).await;
    let namespace = release.namespace.clone();
    let leader = release.leader().await.expect("a leader");
    let follower = pods
        .iter()
        .map(name)
        .find(|p| *p != leader)
        .expect("a follower");
    // Sealed before the leader goes: only the new leader can unseal it.
    let value = fresh_value();
    let sealed = kseal(
        &release,
        &["-o", "yaml"],
        &secret_manifest(&namespace, "after-failover", &value),
    )
    .await;

    let start = Instant::now();
    release.delete_pod(&leader).await;
    // The follower, or the Deployment's replacement pod when it starts first: any replica but the
    // deleted one may take over.
    let new_leader = within(
        LEASE_DURATION + Duration::from_secs(15),
        "another replica to take the Lease",
        || async { release.leader().await.filter(|holder| *holder != leader) },
    )
    .await;
    eprintln!(
        "failover: {new_leader} took the Lease ({})",
        if new_leader == follower {
            "the follower"
        } else {
            "the replacement pod"
        }
    );
    apply_yaml(&release.client, &namespace, FIELD_MANAGER, &sealed).await;
    unsealed(&release, "after-failover", &value).await;
    let elapsed = start.elapsed();
    // The old leader releases its Lease when it stops; at worst the Lease expires (LEASE_DURATION).
    // The margin is for the unseal itself on a machine whose cores other builds share.
    assert!(
        elapsed <= LEASE_DURATION + Duration::from_secs(5),
        "the new leader unsealed {elapsed:?} after the leader was deleted (lease: {LEASE_DURATION:?})"
    );
    eprintln!("failover: new leader unsealed {elapsed:?} after the leader pod was deleted");

    // The Deployment replaces the pod; the replacement, started after the key exists, is Ready too.
    let pods = release.ready_pods(2, INSTALL_TIMEOUT).await;
    assert!(!pods.iter().any(|p| name(p) == leader));
    assert_eq!(release.leader().await.as_deref(), Some(new_leader.as_str()));
}

/// Ready endpoints of the release's Service, from its EndpointSlices.
async fn ready_endpoints(slices: &Api<EndpointSlice>) -> usize {
    let selector = format!("kubernetes.io/service-name={SERVICE}");
    slices
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|list| {
            list.items
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn helm_upgrade_rolls_both_pods_with_a_ready_replica_at_every_moment() {
    const NEW_TAG: &str = "0.1.0-upgraded";
    let release = Release::install("upgrade", &[]).await;
    let old: Vec<String> = release
        .ready_pods(2, INSTALL_TIMEOUT)
        .await
        .iter()
        .map(name)
        .collect();
    import_image(release.env, NEW_TAG).await;
    let pdbs: Api<PodDisruptionBudget> =
        Api::namespaced(release.client.clone(), &release.namespace);
    let pdb = pdbs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .pop()
        .expect("the chart's PodDisruptionBudget");
    let allowed = pdb.status.as_ref().map(|s| s.disruptions_allowed);
    assert_eq!(
        allowed,
        Some(1),
        "with both replicas Ready the PodDisruptionBudget allows one disruption"
    );

    // Watch the Service's ready endpoints and the certificate API through the proxy while rolling.
    let slices: Api<EndpointSlice> = Api::namespaced(release.client.clone(), &release.namespace);
    let done = Arc::new(AtomicBool::new(false));
    let min_ready = Arc::new(AtomicUsize::new(usize::MAX));
    let failed_fetches = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (done, min_ready, failed) = (done.clone(), min_ready.clone(), failed_fetches.clone());
        let client = release.client.clone();
        let url = format!(
            "/api/v1/namespaces/{}/services/http:{SERVICE}:http/proxy/v1/cert.pem",
            release.namespace
        );
        tokio::spawn(async move {
            let mut samples = 0usize;
            while !done.load(Ordering::Relaxed) {
                min_ready.fetch_min(ready_endpoints(&slices).await, Ordering::Relaxed);
                let request = http::Request::get(&url).body(Vec::new()).unwrap();
                if client.request_text(request).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let chart = repo_root().join("deploy/helm/kseal");
    let tag = format!("image.tag={NEW_TAG}");
    release.helm(&[
        "upgrade",
        &release.name,
        chart.to_str().unwrap(),
        "--namespace",
        &release.namespace,
        "--reuse-values",
        "--set",
        &tag,
    ]);
    let what = "both pods replaced by Ready pods of the new image";
    within(INSTALL_TIMEOUT, what, || async {
        let pods = release.pods().await;
        let rolled = pods.len() == 2
            && pods.iter().all(|p| {
                crate::is_ready(p)
                    && !old.contains(&name(p))
                    && p.spec.as_ref().unwrap().containers[0]
                        .image
                        .as_deref()
                        .is_some_and(|i| i.ends_with(NEW_TAG))
            });
        rolled.then_some(())
    })
    .await;
    // Terminated old pods leave the endpoints before the roll is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    let samples = watcher.await.unwrap();
    assert!(samples > 20, "the roll was observed ({samples} samples)");
    assert!(
        min_ready.load(Ordering::Relaxed) >= 1,
        "a moment with no ready replica during the roll"
    );
    assert_eq!(
        failed_fetches.load(Ordering::Relaxed),
        0,
        "the certificate API failed through the proxy during the roll"
    );
    let leader = release.leader().await.expect("a leader after the roll");
    let pods: Vec<String> = release.pods().await.iter().map(name).collect();
    assert!(
        pods.contains(&leader),
        "the leader {leader} is one of {pods:?}"
    );
}

/// A number from a cgroup v1 memory file of the container `container_id`.
fn memory_file(release: &Release, container_id: &str, file: &str) -> u64 {
    let root = std::path::PathBuf::from("/sys/fs/cgroup/memory")
        .join(&release.env.vars()["KSEAL_NODE_CGROUP"]);
    let dir = find_dir(&root, container_id).expect("the container's memory cgroup");
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.trim().parse().unwrap()
}

fn memory_stat(release: &Release, container_id: &str, key: &str) -> u64 {
    let root = std::path::PathBuf::from("/sys/fs/cgroup/memory")
        .join(&release.env.vars()["KSEAL_NODE_CGROUP"]);
    let dir = find_dir(&root, container_id).expect("the container's memory cgroup");
    std::fs::read_to_string(dir.join("memory.stat"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_leaders_memory_stays_under_its_limit_after_1000_sealed_secrets() {
    const COUNT: usize = 1000;
    let release = Release::install("memory", &[]).await;
    release.ready_pods(2, INSTALL_TIMEOUT).await;
    let namespace = release.namespace.clone();
    let pem = kseal(&release, &["--fetch-cert"], "").await;
    let certificate = kseal_crypto::Certificate::from_pem(pem.as_bytes()).unwrap();

    let sealed_secrets: Api<SealedSecret> = Api::namespaced(release.client.clone(), &namespace);
    let value = fresh_value();
    futures::stream::iter(0..COUNT)
        .map(|i| {
            let api = sealed_secrets.clone();
            let secret = PlainSecret {
                metadata: ObjectMeta {
                    name: Some(format!("bulk-{i}")),
                    namespace: Some(namespace.clone()),
                    ..ObjectMeta::default()
                },
                data: [("password".to_owned(), value.as_bytes().to_vec().into())].into(),
                ..PlainSecret::default()
            };
            let sealed = seal_secret(
                secret,
                &SealOptions {
                    key: certificate.public_key(),
                    scope: None,
                    allow_empty_data: false,
                    default_namespace: namespace.clone(),
                    namespace: None,
                    name: None,
                },
            )
            .unwrap();
            async move {
                api.create(&PostParams::default(), &sealed)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();

    let secrets = release.secrets();
    let what = format!("{COUNT} Secrets unsealed");
    within(SETTLE_TIMEOUT * 3, &what, || async {
        let n = secrets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|s| s.name_any().starts_with("bulk-"))
            .count();
        (n == COUNT).then_some(())
    })
    .await;

    let leader = release.leader().await.expect("a leader");
    let pod = release.pods_api().get(&leader).await.unwrap();
    let status = container_status(&pod);
    assert_eq!(
        status.restart_count, 0,
        "the leader was never restarted (OOM)"
    );
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("containerd://"))
        .unwrap();
    let limit = memory_file(&release, id, "memory.limit_in_bytes");
    assert_eq!(
        limit,
        256 * 1024 * 1024,
        "the chart's memory limit is in force"
    );
    let usage = memory_file(&release, id, "memory.usage_in_bytes");
    // The kubelet's working set: usage less inactive page cache.
    let working_set = usage.saturating_sub(memory_stat(&release, id, "total_inactive_file"));
    let failcnt = memory_file(&release, id, "memory.failcnt");
    eprintln!(
        "memory after {COUNT} SealedSecrets: working set {} MiB, usage {} MiB, limit {} MiB",
        working_set >> 20,
        usage >> 20,
        limit >> 20
    );
    assert!(
        working_set < limit,
        "working set {working_set} over the limit {limit}"
    );
    assert_eq!(failcnt, 0, "the container hit its memory limit");
}
