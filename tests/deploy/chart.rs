//! The chart as a user meets it: `helm lint`, the committed manifest, kubeconform against the API server's
//! schemas, applying it, and the production practices its Deployment follows.

use std::collections::BTreeSet;

use kseal_testenv::TestEnv;
use serde_json::Value;

use crate::{apply, chart_dir, documents, find, helm, render, repo_root, schemas};

/// Values files shipped with the chart, each linted and validated.
const VALUES_FILES: [&str; 2] = ["values-dev.yaml", "values-prod.yaml"];
/// Kinds with no schema on this API server (prometheus-operator is not installed); `monitoring.rs`
/// checks what they contain.
const KINDS_WITHOUT_SCHEMA: [&str; 2] = ["ServiceMonitor", "PrometheusRule"];

#[tokio::test]
async fn helm_lint_passes_with_every_values_file() {
    let env = TestEnv::get().await;
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    helm(env, &["lint", "--strict", chart]);
    for file in VALUES_FILES {
        let values = chart_dir().join(file);
        helm(
            env,
            &["lint", "--strict", chart, "-f", values.to_str().unwrap()],
        );
    }
}

#[tokio::test]
async fn committed_manifest_matches_a_fresh_render() {
    let env = TestEnv::get().await;
    let output = env
        .command(repo_root().join("deploy/render"))
        .arg("-")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "deploy/render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fresh = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(repo_root().join("deploy/manifests/kseal.yaml")).unwrap();
    assert!(
        fresh == committed,
        "deploy/manifests/kseal.yaml is out of date with the chart: run deploy/render"
    );
    // The manifest is complete on its own: CRDs, the controller and what it needs.
    let objects = documents(&committed);
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "CustomResourceDefinition",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from the manifest");
    }
}

#[tokio::test]
async fn rendered_chart_conforms_to_the_api_servers_schemas() {
    let env = TestEnv::get().await;
    let openapi = schemas::openapi_v2(&env.client().await).await;
    let dir = tempfile::tempdir().unwrap();

    let chart = chart_dir();
    let mut renders = vec![(
        "default values".to_owned(),
        render(env, "kube-system", &["--include-crds"]),
    )];
    for file in VALUES_FILES {
        let values = chart.join(file);
        renders.push((
            file.to_owned(),
            render(env, "kube-system", &["-f", values.to_str().unwrap()]),
        ));
    }
    renders.push((
        "every option on".to_owned(),
        render(
            env,
            "kseal",
            &[
                "--set",
                "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true",
                "--set",
                "controller.watchNamespace=apps,controller.keyCutoffTime=2026-01-02T15:04:05Z,controller.sync.controllerClass=kseal",
                "--set",
                "controller.sync.jwtAuth=true,controller.sync.allowNamespacedDefaultCredentials=true",
                "--set",
                "replicaCount=null,networkPolicy.ingress.from[0].podSelector.matchLabels.app=prometheus",
            ],
        ),
    ));
    renders.push((
        "sealed-secrets values".to_owned(),
        render_values(env, "kseal", SEALED_SECRETS_VALUES, &[]),
    ));

    let kinds: BTreeSet<(String, String)> = renders
        .iter()
        .flat_map(|(_, yaml)| documents(yaml))
        .map(|o| {
            (
                o["apiVersion"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let written = schemas::write(&openapi, &kinds, dir.path());
    assert!(written >= 10, "only {written} schemas generated");

    for (what, yaml) in &renders {
        let results = kubeconform(env, dir.path(), yaml);
        for resource in &results {
            let status = resource["status"].as_str().unwrap_or_default();
            let kind = resource["kind"].as_str().unwrap_or_default();
            let expected = if KINDS_WITHOUT_SCHEMA.contains(&kind) {
                "statusSkipped"
            } else {
                "statusValid"
            };
            assert_eq!(
                status, expected,
                "{what}: {kind} {}: {}",
                resource["name"], resource["msg"]
            );
        }
        let validated = results
            .iter()
            .filter(|r| r["status"] == "statusValid")
            .count();
        assert_eq!(
            validated,
            documents(yaml)
                .iter()
                .filter(|o| !KINDS_WITHOUT_SCHEMA.contains(&o["kind"].as_str().unwrap()))
                .count(),
            "{what}: every object is validated"
        );
    }

    // The schemas are strict: a misspelt field is caught (this check can fail).
    let broken =
        render(env, "kube-system", &[]).replace("readOnlyRootFilesystem", "readOnlyRootFileSystem");
    let results = kubeconform(env, dir.path(), &broken);
    let deployment = results
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .expect("the Deployment is reported");
    assert_eq!(deployment["status"], "statusInvalid", "{deployment}");
}

/// Runs kubeconform (strict, schemas from `schemas`) on `yaml`; returns its per-resource results.
fn kubeconform(env: &TestEnv, schemas: &std::path::Path, yaml: &str) -> Vec<Value> {
    // kubeconform reads only files named *.yaml, *.yml or *.json.
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), yaml).unwrap();
    let location = format!("{}/{}", schemas.display(), schemas::SCHEMA_LOCATION);
    let output = env
        .command(env.kubeconform())
        .args(["-strict", "-verbose", "-output", "json", "-schema-location"])
        .arg(&location)
        .args(["-skip", &KINDS_WITHOUT_SCHEMA.join(",")])
        .arg(file.path())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "kubeconform output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // Comment-only documents (helm's `# Source:` headers) come back without a kind.
    report["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !r["kind"].as_str().unwrap_or_default().is_empty())
        .cloned()
        .collect()
}

#[tokio::test]
async fn committed_manifest_applies_to_the_api_server() {
    let env = TestEnv::get().await;
    let client = env.client().await;
    let manifest =
        std::fs::read_to_string(repo_root().join("deploy/manifests/kseal.yaml")).unwrap();
    let objects = documents(&manifest);
    // CRDs first (as helm and kubectl do), then the rest.
    let (crds, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    for object in crds.into_iter().chain(rest) {
        let applied = apply(&client, object).await.unwrap_or_else(|e| {
            panic!(
                "applying {} {}: {e}",
                object["kind"], object["metadata"]["name"]
            )
        });
        assert!(applied.metadata.uid.is_some());
    }
    // The API server kept what matters (no field dropped by an unknown-field prune or a typo).
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), "kube-system");
    let deployment = deployments.get("kseal-controller").await.unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(
        container
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client, "kube-system");
    let service = services.get("sealed-secrets-controller").await.unwrap();
    let port = &service.spec.unwrap().ports.unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), 8080),
        "kseal's defaults (--controller-name sealed-secrets-controller, port name http) find it"
    );
}

#[tokio::test]
async fn deployment_follows_production_practices() {
    let env = TestEnv::get().await;
    let objects = documents(&render(env, "kube-system", &[]));
    let deployment = find(&objects, "Deployment", "kseal-controller");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kseal-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    for (probe, path) in [
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/livez"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let env_var = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the container's env"))
            .clone()
    };
    assert_eq!(
        env_var("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(env_var("KSEAL_LEADER_ELECT")["value"], "true");
    assert_eq!(env_var("KSEAL_LISTEN_ADDR")["value"], "0.0.0.0:8080");

    let pdb = find(&objects, "PodDisruptionBudget", "kseal-controller");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        spec["selector"]["matchLabels"]
    );

    // Default deny with explicit exceptions: DNS, the API server, AWS over 443, ingress to the API port.
    let policy = find(&objects, "NetworkPolicy", "kseal-controller");
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let egress_ports: BTreeSet<(i64, &str)> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap())
        .map(|p| (p["port"].as_i64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(
        egress_ports,
        BTreeSet::from([(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP")])
    );
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], "http");
    // Ingress names its sources (the API server's addresses, the monitoring namespace), never "any".
    let sources = policy["spec"]["ingress"][0]["from"]
        .as_array()
        .expect("the HTTP API admits named sources only");
    assert!(
        sources.iter().any(|peer| {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
        }),
        "{sources:?}"
    );
    let narrowed = documents(&render(
        env,
        "kube-system",
        &["--set", "networkPolicy.ingress.podCidrs={10.244.0.0/16}"],
    ));
    let narrowed = find(&narrowed, "NetworkPolicy", "kseal-controller");
    assert_eq!(
        narrowed["spec"]["ingress"][0]["from"][0]["ipBlock"],
        serde_json::json!({ "cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"] }),
        "pods are excluded from the API server's block"
    );

    // An autoscaler owns the count when replicaCount is null: no `replicas` to fight over.
    let scaled = documents(&render(env, "kube-system", &["--set", "replicaCount=null"]));
    assert!(
        find(&scaled, "Deployment", "kseal-controller")["spec"]
            .get("replicas")
            .is_none()
    );
}

#[tokio::test]
async fn the_syncs_wider_trust_is_opt_in() {
    let env = TestEnv::get().await;
    let rules = |objects: &[Value]| -> Vec<String> {
        let role = find(objects, "ClusterRole", "kseal-controller");
        let mut rules = Vec::new();
        for rule in role["rules"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    rules.push(format!(
                        "{} {}",
                        verb.as_str().unwrap(),
                        resource.as_str().unwrap()
                    ));
                }
            }
        }
        rules
    };
    let env_value = |objects: &[Value], name: &str| {
        let deployment = find(objects, "Deployment", "kseal-controller");
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    const ALLOW: &str = "KSEAL_SYNC_ALLOW_NAMESPACED_DEFAULT_CREDENTIALS";

    // Defaults: no token minting, no ServiceAccount reads, no default credentials for SecretStores.
    let defaults = documents(&render(env, "kube-system", &[]));
    let granted = rules(&defaults);
    assert!(granted.contains(&"patch secrets".to_owned()), "{granted:?}");
    assert!(
        !granted.iter().any(|r| r.contains("serviceaccounts")),
        "{granted:?}"
    );
    assert_eq!(env_value(&defaults, ALLOW), None);
    // The committed manifest is the default render: the same holds for it.
    let manifest =
        std::fs::read_to_string(repo_root().join("deploy/manifests/kseal.yaml")).unwrap();
    assert!(!manifest.contains("serviceaccounts/token"));

    let opted_in = documents(&render(
        env,
        "kube-system",
        &[
            "--set",
            "controller.sync.jwtAuth=true,controller.sync.allowNamespacedDefaultCredentials=true",
        ],
    ));
    let granted = rules(&opted_in);
    for rule in ["get serviceaccounts", "create serviceaccounts/token"] {
        assert!(granted.contains(&rule.to_owned()), "{rule}: {granted:?}");
    }
    assert_eq!(env_value(&opted_in, ALLOW), Some(Value::from("true")));

    // Without the sync, neither is granted whatever jwtAuth says.
    let no_sync = documents(&render(
        env,
        "kube-system",
        &[
            "--set",
            "controller.sync.enabled=false,controller.sync.jwtAuth=true",
        ],
    ));
    assert!(
        !rules(&no_sync)
            .iter()
            .any(|r| r.contains("serviceaccounts"))
    );
}

#[tokio::test]
async fn values_schema_refuses_unsafe_settings() {
    let env = TestEnv::get().await;
    let chart = chart_dir();
    for (set, complaint) in [
        (
            "securityContext.readOnlyRootFilesystem=false",
            "readOnlyRootFilesystem",
        ),
        ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
        ("replicaCount=0", "replicaCount"),
        ("service.port=0", "port"),
        ("controller.keyRenewPeriod=monthly", "keyRenewPeriod"),
        ("unknownSetting=1", "unknownSetting"),
        ("controller.sync.jwtAuth=yes", "jwtAuth"),
    ] {
        let output = env
            .command(env.helm())
            .args(["template", "kseal", chart.to_str().unwrap(), "--set", set])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--set {set} was accepted");
        assert!(stderr.contains(complaint), "--set {set}: {stderr}");
    }
    // Two writers without an election are refused.
    let output = env
        .command(env.helm())
        .args([
            "template",
            "kseal",
            chart.to_str().unwrap(),
            "--set",
            "controller.leaderElection.enabled=false",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("leaderElection"));
}

/// sealed-secrets chart values exercised together: every object kseal's chart renders for them.
const SEALED_SECRETS_VALUES: &str = r#"
commonLabels:
  team: payments
commonAnnotations:
  owner: security
secretName: payments-keys
additionalNamespaces: [apps, web]
args: ["--update-status=false"]
additionalVolumes:
  - name: ca
    configMap:
      name: private-ca
additionalVolumeMounts:
  - name: ca
    mountPath: /etc/private-ca
    readOnly: true
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
priorityClassName: system-cluster-critical
runtimeClassName: runc
podLabels:
  team: controller
service:
  annotations:
    owner: platform
serviceAccount:
  labels:
    account: kseal
rbac:
  labels:
    rbac: "true"
  clusterRole: false
  namespacedRoles: true
  serviceProxier:
    subjects: |
      - apiGroup: rbac.authorization.k8s.io
        kind: Group
        name: {{ .Release.Name }}-sealers
controller:
  sync:
    enabled: false
metrics:
  serviceMonitor:
    enabled: true
  prometheusRule:
    enabled: true
  dashboard:
    enabled: true
extraDeploy:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: "{{ .Release.Name }}-extra"
  - |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ .Release.Name }}-extra-text
"#;

/// `helm template` with `values` as a values file.
fn render_values(env: &TestEnv, namespace: &str, values: &str, extra: &[&str]) -> String {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), values).unwrap();
    let mut args = vec!["-f", file.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    render(env, namespace, &args)
}

/// `helm template` with `args` that must fail; returns helm's stderr.
fn refused(env: &TestEnv, args: &[&str]) -> String {
    let chart = chart_dir();
    let output = env
        .command(env.helm())
        .args(["template", "kseal", chart.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value of the controller container's environment variable `name`, if set.
fn container_env(objects: &[Value], name: &str) -> Option<Value> {
    let deployment = find(objects, "Deployment", "kseal-controller");
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].clone())
}

#[tokio::test]
async fn sealed_secrets_values_become_kseal_flags_and_pod_settings() {
    let env = TestEnv::get().await;
    let defaults = documents(&render(env, "kube-system", &[]));
    // sealed-secrets' defaults need no flag: the key prefix is the same, every namespace is watched.
    assert_eq!(container_env(&defaults, "KSEAL_KEY_PREFIX"), None);
    assert_eq!(
        container_env(&defaults, "KSEAL_ADDITIONAL_NAMESPACES"),
        None
    );
    let pod = &find(&defaults, "Deployment", "kseal-controller")["spec"]["template"]["spec"];
    for absent in ["hostNetwork", "dnsPolicy", "runtimeClassName", "volumes"] {
        assert!(pod.get(absent).is_none(), "{absent} by default");
    }
    assert!(pod["containers"][0].get("args").is_none());

    let objects = documents(&render_values(env, "kseal", SEALED_SECRETS_VALUES, &[]));
    assert_eq!(
        container_env(&objects, "KSEAL_KEY_PREFIX"),
        Some(Value::from("payments-keys"))
    );
    assert_eq!(
        container_env(&objects, "KSEAL_ADDITIONAL_NAMESPACES"),
        Some(Value::from("apps,web"))
    );
    let pod = &find(&objects, "Deployment", "kseal-controller")["spec"]["template"];
    let spec = &pod["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["runtimeClassName"], "runc");
    assert_eq!(
        spec["volumes"],
        serde_json::json!([{"name": "ca", "configMap": {"name": "private-ca"}}])
    );
    let container = &spec["containers"][0];
    assert_eq!(
        container["args"],
        serde_json::json!(["--update-status=false"])
    );
    assert_eq!(
        container["volumeMounts"],
        serde_json::json!([{"name": "ca", "mountPath": "/etc/private-ca", "readOnly": true}])
    );
    // podLabels win over commonLabels on the pods; the selector keeps the chart's own labels only.
    assert_eq!(pod["metadata"]["labels"]["team"], "controller");
    assert_eq!(
        find(&objects, "Deployment", "kseal-controller")["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app.kubernetes.io/name": "kseal-controller", "app.kubernetes.io/instance": "kseal"})
    );
    // extraDeploy: objects and tpl strings.
    find(&objects, "ConfigMap", "kseal-extra");
    find(&objects, "ConfigMap", "kseal-extra-text");

    // Values kseal cannot honour fail the install, naming the value.
    for (args, complaint) in [
        (
            vec!["--set", "command={controller}"],
            "command is not supported",
        ),
        (vec!["--set", "hostUsers=false"], "hostUsers"),
        (vec!["--set", "keyrenewperiod=720h"], "keyrenewperiod"),
        (
            vec!["--set", "rbac.clusterRoleName=unsealer"],
            "clusterRoleName",
        ),
        (
            vec!["--set", "rbac.clusterRole=false"],
            "rbac.clusterRole=false",
        ),
        (
            vec!["--set", "additionalNamespaces={Apps}"],
            "additionalNamespaces",
        ),
        (vec!["--set", "secretName=Keys"], "secretName"),
        (
            vec!["--set", "commonLabels.app\\.kubernetes\\.io/name=x"],
            "commonLabels",
        ),
    ] {
        let stderr = refused(env, &args);
        assert!(stderr.contains(complaint), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn common_labels_and_annotations_are_on_every_object() {
    let env = TestEnv::get().await;
    let yaml = render_values(env, "kseal", SEALED_SECRETS_VALUES, &[]);
    let objects = documents(&yaml);
    // With the ClusterRole (sync on, no namespaced Roles) too.
    let cluster_wide = documents(&render(
        env,
        "kseal",
        &[
            "--set",
            "commonLabels.team=payments,commonAnnotations.owner=security",
            "--set",
            "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true",
        ],
    ));
    let kinds: BTreeSet<&str> = objects
        .iter()
        .chain(&cluster_wide)
        .filter_map(|o| o["kind"].as_str())
        .collect();
    for kind in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
    ] {
        assert!(kinds.contains(kind), "{kind} rendered");
    }
    let all = objects
        .iter()
        .map(|o| (o, true))
        .chain(cluster_wide.iter().map(|o| (o, false)));
    for (object, own_service_annotation) in all {
        let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
        if what.contains("-extra") {
            continue; // extraDeploy's objects are the user's own.
        }
        let metadata = &object["metadata"];
        assert_eq!(metadata["labels"]["team"], "payments", "{what}");
        let owner = if own_service_annotation && object["kind"] == "Service" {
            "platform" // the object's own annotation wins
        } else {
            "security"
        };
        assert_eq!(metadata["annotations"]["owner"], owner, "{what}");
    }
    let account = find(&objects, "ServiceAccount", "kseal-controller");
    assert_eq!(account["metadata"]["labels"]["account"], "kseal");
    for object in &objects {
        if object["apiVersion"] == "rbac.authorization.k8s.io/v1" {
            assert_eq!(object["metadata"]["labels"]["rbac"], "true", "{object}");
        }
    }
}

/// `(namespace, name)` of the objects of `kind`.
fn placed(objects: &[Value], kind: &str) -> BTreeSet<(String, String)> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn namespaced_roles_grant_the_unsealer_in_each_watched_namespace_only() {
    let env = TestEnv::get().await;
    let objects = documents(&render_values(env, "kseal", SEALED_SECRETS_VALUES, &[]));
    assert!(placed(&objects, "ClusterRole").is_empty());
    assert!(placed(&objects, "ClusterRoleBinding").is_empty());
    let unsealer = |ns: &str| (ns.to_owned(), "kseal-controller-unsealer".to_owned());
    let expected: BTreeSet<_> = ["kseal", "apps", "web"].map(unsealer).into();
    let roles = placed(&objects, "Role");
    let bindings = placed(&objects, "RoleBinding");
    for namespaced in [&roles, &bindings] {
        let unsealers: BTreeSet<_> = namespaced
            .iter()
            .filter(|(_, name)| name.ends_with("-unsealer"))
            .cloned()
            .collect();
        assert_eq!(unsealers, expected);
    }
    let role = objects
        .iter()
        .find(|o| o["kind"] == "Role" && o["metadata"]["namespace"] == "apps")
        .unwrap();
    let rules: BTreeSet<String> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            let resources: Vec<String> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(move |verb| {
                    let verb = verb.as_str().unwrap().to_owned();
                    resources
                        .clone()
                        .into_iter()
                        .map(move |r| format!("{verb} {r}"))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for needed in [
        "watch sealedsecrets",
        "patch sealedsecrets/status",
        "patch secrets",
        "create events",
    ] {
        assert!(rules.contains(needed), "{needed}: {rules:?}");
    }
    assert!(!rules.contains("delete secrets"), "{rules:?}");
    let binding = objects
        .iter()
        .find(|o| o["kind"] == "RoleBinding" && o["metadata"]["namespace"] == "web")
        .unwrap();
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kseal-controller", "namespace": "kseal"}])
    );
    // A name of one's own, and controller.watchNamespace in place of the release namespace's watch.
    let named = documents(&render(
        env,
        "kseal",
        &[
            "--set",
            "rbac.namespacedRoles=true,rbac.namespacedRolesName=secrets-unsealer,controller.sync.enabled=false,controller.watchNamespace=apps",
        ],
    ));
    let roles: BTreeSet<_> = placed(&named, "Role")
        .into_iter()
        .filter(|(_, name)| name == "secrets-unsealer")
        .collect();
    assert_eq!(
        roles,
        ["kseal", "apps"]
            .map(|ns| (ns.to_owned(), "secrets-unsealer".to_owned()))
            .into()
    );

    // Settings no Role could serve are refused, naming what to change.
    for (set, complaint) in [
        (
            "rbac.namespacedRoles=true,additionalNamespaces={apps}",
            "controller.sync.enabled=false",
        ),
        (
            "rbac.namespacedRoles=true,controller.sync.enabled=false",
            "additionalNamespaces or controller.watchNamespace",
        ),
    ] {
        let stderr = refused(env, &["--set", set]);
        assert!(stderr.contains(complaint), "--set {set}: {stderr}");
    }
}

#[tokio::test]
async fn service_proxier_role_grants_the_service_proxy_of_the_controller_only() {
    let env = TestEnv::get().await;
    let objects = documents(&render(env, "kube-system", &[]));
    let role = find(&objects, "Role", "kseal-controller-service-proxier");
    assert_eq!(
        role["rules"],
        serde_json::json!([
            {"apiGroups": [""], "resources": ["services"], "resourceNames": ["sealed-secrets-controller"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": [
                "http:sealed-secrets-controller:",
                "http:sealed-secrets-controller:http",
                "sealed-secrets-controller"
            ], "verbs": ["get", "create"]}
        ])
    );
    // sealed-secrets' default: every authenticated user.
    let binding = find(&objects, "RoleBinding", "kseal-controller-service-proxier");
    assert_eq!(
        binding["roleRef"]["name"],
        "kseal-controller-service-proxier"
    );
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}])
    );
    // Another Service name is what the Role names.
    let renamed = documents(&render(
        env,
        "kube-system",
        &["--set", "service.name=kseal"],
    ));
    let role = find(&renamed, "Role", "kseal-controller-service-proxier");
    assert_eq!(
        role["rules"][1]["resourceNames"],
        serde_json::json!(["http:kseal:", "http:kseal:http", "kseal"])
    );
    // Subjects as a list or as sealed-secrets' tpl string.
    let listed = documents(&render(
        env,
        "kube-system",
        &[
            "--set",
            "rbac.serviceProxier.subjects[0].kind=User,rbac.serviceProxier.subjects[0].name=alice",
        ],
    ));
    assert_eq!(
        find(&listed, "RoleBinding", "kseal-controller-service-proxier")["subjects"],
        serde_json::json!([{"kind": "User", "name": "alice"}])
    );
    let templated = documents(&render_values(env, "kseal", SEALED_SECRETS_VALUES, &[]));
    assert_eq!(
        find(
            &templated,
            "RoleBinding",
            "kseal-controller-service-proxier"
        )["subjects"][0]["name"],
        "kseal-sealers"
    );
    // bind=false: the Role for a binding of one's own; create=false: neither.
    let unbound = documents(&render(
        env,
        "kube-system",
        &["--set", "rbac.serviceProxier.bind=false"],
    ));
    find(&unbound, "Role", "kseal-controller-service-proxier");
    assert!(
        !placed(&unbound, "RoleBinding")
            .iter()
            .any(|(_, n)| n.ends_with("-proxier"))
    );
    let none = documents(&render(
        env,
        "kube-system",
        &["--set", "rbac.serviceProxier.create=false"],
    ));
    assert!(!none.iter().any(|o| {
        o["metadata"]["name"]
            .as_str()
            .unwrap()
            .ends_with("-service-proxier")
    }));
    let stderr = refused(env, &["--set", "rbac.serviceProxier.subjects="]);
    assert!(stderr.contains("rbac.serviceProxier.subjects"), "{stderr}");
}
