//! `helm install` as users run it: both replicas Running and Ready under the chart's securityContext
//! (checked on the running process, not only in the Pod spec), probes passing, exactly one leader; and
//! each values file shipped with the chart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;

use crate::{INSTALL_TIMEOUT, Release, container_status, find_dir, name, repo_root};

/// The container's main process on the host, found through the node's pids cgroup.
fn container_pid(release: &Release, pod: &Pod) -> u32 {
    let status = container_status(pod);
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("containerd://"))
        .expect("a containerd container id");
    let cgroup = &release.env.vars()["KSEAL_NODE_CGROUP"];
    let root = PathBuf::from("/sys/fs/cgroup/pids").join(cgroup);
    let dir =
        find_dir(&root, id).unwrap_or_else(|| panic!("no cgroup {id} under {}", root.display()));
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    let pids: Vec<u32> = procs.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(
        pids.len(),
        1,
        "the image has no shell: one process per container, found {pids:?}"
    );
    pids[0]
}

/// The fields of /proc/PID/status.
fn proc_status(pid: u32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// What the chart's securityContext means for the running process: user and group 65532, no
/// capability at all, no privilege escalation, a seccomp filter, a read-only root filesystem.
fn assert_restricted(release: &Release, pod: &Pod) {
    let pid = container_pid(release, pod);
    let status = proc_status(pid);
    let pod_name = name(pod);
    assert_eq!(
        status["Uid"], "65532\t65532\t65532\t65532",
        "{pod_name}: uid"
    );
    assert_eq!(
        status["Gid"], "65532\t65532\t65532\t65532",
        "{pod_name}: gid"
    );
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{pod_name}: {set}");
    }
    assert_eq!(status["NoNewPrivs"], "1", "{pod_name}: NoNewPrivs");
    // 2: a seccomp filter (RuntimeDefault) is in force.
    assert_eq!(status["Seccomp"], "2", "{pod_name}: Seccomp");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&"/"))
        .expect("a root mount");
    assert!(
        root[5].split(',').any(|o| o == "ro"),
        "{pod_name}: root filesystem mounted {}",
        root[5]
    );
    // The image holds the binary and the CA bundle, nothing else: no shell to exec into.
    let rootfs = PathBuf::from(format!("/proc/{pid}/root"));
    assert!(rootfs.join("kseal-controller").is_file());
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    assert!(
        !rootfs.join("bin/sh").exists(),
        "{pod_name}: a shell in the image"
    );
}

/// Both replicas Ready, their probes passing, exactly one of them leading; each process restricted.
async fn assert_healthy(release: &Release, replicas: usize) -> Vec<Pod> {
    let pods = release.ready_pods(replicas, INSTALL_TIMEOUT).await;
    let names: Vec<String> = pods.iter().map(name).collect();
    for pod in &pods {
        let container = container_status(pod);
        // Startup probe done, readiness passing, liveness never failed (no restart).
        assert_eq!(container.started, Some(true), "{}: started", name(pod));
        assert!(container.ready, "{}: ready", name(pod));
        assert_eq!(container.restart_count, 0, "{}: restarts", name(pod));
        assert_restricted(release, pod);
    }
    let leader = release.leader().await.expect("a leader holds the Lease");
    assert!(
        names.contains(&leader),
        "the Lease holder {leader} is one of the replicas {names:?}"
    );
    pods
}

#[tokio::test]
async fn helm_install_runs_two_ready_restricted_replicas_with_one_leader() {
    let release = Release::install("install", &[]).await;
    let pods = assert_healthy(&release, 2).await;
    // Ready stays true: probes keep passing for several readiness periods (5 s each).
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let again = release
        .ready_pods(2, std::time::Duration::from_secs(1))
        .await;
    let before: Vec<String> = pods.iter().map(name).collect();
    let after: Vec<String> = again.iter().map(name).collect();
    assert_eq!(before, after, "the same two pods, still Ready");
}

#[tokio::test]
async fn helm_install_with_values_dev_runs_one_ready_replica() {
    let values = repo_root().join("deploy/helm/kseal/values-dev.yaml");
    let release = Release::install("dev", &["-f", values.to_str().unwrap()]).await;
    assert_healthy(&release, 1).await;
}

#[tokio::test]
async fn helm_install_with_values_prod_runs_three_ready_replicas() {
    let values = repo_root().join("deploy/helm/kseal/values-prod.yaml");
    // The node has the image under the local name; prometheus-operator's kinds and the monitoring
    // namespace do not exist on this cluster (tests/deploy checks what they render).
    let release = Release::install(
        "prod",
        &[
            "-f",
            values.to_str().unwrap(),
            "--set",
            "image.repository=kseal/kseal-controller",
            "--set",
            "image.tag=0.1.0",
            "--set",
            "metrics.serviceMonitor.enabled=false",
            "--set",
            "metrics.prometheusRule.enabled=false",
            "--set",
            "metrics.dashboard.enabled=false",
        ],
    )
    .await;
    assert_healthy(&release, 3).await;
}
