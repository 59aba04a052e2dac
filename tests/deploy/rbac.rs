//! The chart's RBAC, proven both ways. The controller runs in-process under the identity of the chart's
//! ServiceAccount, bound by the chart's own ClusterRole, Role and bindings (rendered by helm for a fresh
//! namespace), and completes every flow: key generation, the Lease, the certificate ConfigMap, unsealing
//! with status and events, drift repair, the sync from a `fake` SecretStore (with `templateFrom`), from a
//! ClusterSecretStore with `conditions`, repair of a deleted target, deletionPolicy Delete, deleting an
//! ExternalSecret that carries ESO's cleanup finalizer, a ClusterExternalSecret made under ESO (its
//! ExternalSecret and Secret, its status, ESO's finalizers removed on the way out), and the AWS
//! provider with `jwt` auth (TokenRequest, then STS at moto). Then, once per permission (one verb on one
//! resource of one rule), the same flows run with only that permission removed, and must fail at the step
//! that needs it. All variants run at once, each in its own namespace with its own controller class, so
//! the whole check takes about one flow's time.
//!
//! The chart grants `jwt` auth's permissions only with `controller.sync.jwtAuth=true`. Without it, every
//! rule is proven as above, and the last flow is a `jwt` store refused with a message naming that value
//! (and no AWS call). With it, the chart grants exactly those rules more, and each of them is proven.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kseal_api::SealedSecret;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{Certificate, KeyOptions};
use kseal_testenv::{AwsAccount, TestEnv};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{apply, documents, render};

/// How long one step of a flow may take.
const STEP_DEADLINE: Duration = Duration::from_secs(25);
/// Pause between two polls.
const POLL: Duration = Duration::from_millis(200);
/// The certificate ConfigMap (the controller's `certmap::CERT_CONFIG_MAP`).
const CERT_CONFIG_MAP: &str = kseal_api::names::CERT_CONFIG_MAP;

// The flows, in order; a variant stops at the first that fails.
const KEY: &str = "generate a key and serve its certificate";
const LEASE: &str = "hold and renew the Lease";
const CERT_MAP: &str = "publish the certificate ConfigMap";
const UNSEAL: &str = "unseal a SealedSecret (Secret, Synced condition, event)";
const DRIFT: &str = "repair a hand-edited unsealed Secret (and publish the event again)";
const SYNC_FAKE: &str = "sync from a fake SecretStore with templateFrom (Secret, Ready conditions)";
const SYNC_CLUSTER: &str = "sync from a ClusterSecretStore with conditions";
const SYNC_REPAIR: &str = "recreate a deleted synced Secret";
const SYNC_DELETE: &str = "delete the Secret when the remote key is gone (deletionPolicy Delete)";
const SYNC_FINALIZER: &str =
    "delete an ExternalSecret created under ESO (remove ESO's cleanup finalizer)";
const SYNC_CES: &str =
    "provision a ClusterExternalSecret made under ESO (status, ESO's finalizers), then delete it";
const SYNC_GENERATORS: &str =
    "sync from generators (Password, UUID, Fake, a ClusterGenerator) without a store";
const SYNC_PUSH: &str =
    "push a Secret to AWS and delete it with the PushSecret (PushSecret, deletionPolicy Delete)";
const SYNC_JWT: &str = "sync from AWS with jwt auth (TokenRequest, STS)";
const SYNC_JWT_OFF: &str =
    "refuse jwt auth naming controller.sync.jwtAuth, without an STS call for it (jwtAuth off)";
/// The chart value that grants jwt auth's permissions.
const JWT_AUTH_VALUE: &str = "controller.sync.jwtAuth";

/// The steps that may fail first without `permission`: why the chart grants it.
fn needed_by(permission: &Permission) -> &'static [&'static str] {
    match (permission.resource.as_str(), permission.verb.as_str()) {
        // Loading keys lists the labelled ones and reads the legacy `sealed-secrets-key`; a new key is
        // created.
        ("secrets", "list" | "get" | "create") => &[KEY],
        // The unsealer applies the Secret.
        ("secrets", "patch") => &[UNSEAL],
        // Without watching Secrets, a deleted one is never noticed; a hand edit only by the relists that
        // follow each refused watch (with backoff), so either step may be the first to fail.
        ("secrets", "watch") => &[DRIFT, SYNC_REPAIR],
        ("secrets", "delete") => &[SYNC_DELETE],
        ("sealedsecrets" | "sealedsecrets/status", _) => &[UNSEAL],
        ("events", "create") => &[UNSEAL],
        // Without taking the Lease the controller never leads, so it never generates a key.
        ("leases", "create" | "get") => &[KEY],
        // Without renewing it, leadership ends one lease duration after taking it: the renewal never comes
        // (or, on a busy machine, leadership ends before the key is generated).
        ("leases", _) => &[LEASE, KEY],
        ("configmaps", "create" | "patch") => &[CERT_MAP],
        // templateFrom.configMap.
        ("configmaps", "get") => &[SYNC_FAKE],
        ("externalsecrets", "patch") => &[SYNC_FINALIZER],
        // The ClusterExternalSecret reconciler reads, creates and deletes ExternalSecrets, and
        // watches namespaces; patch on namespaces drops ESO's finalizers there.
        ("externalsecrets", "get" | "create" | "delete") => &[SYNC_CES],
        ("clusterexternalsecrets" | "clusterexternalsecrets/status", _) => &[SYNC_CES],
        ("namespaces", "list" | "watch" | "patch") => &[SYNC_CES],
        ("externalsecrets" | "externalsecrets/status", _) => &[SYNC_FAKE],
        ("secretstores" | "secretstores/status", _) => &[SYNC_FAKE],
        // A ClusterSecretStore with `conditions` reads the ExternalSecret's namespace.
        ("clustersecretstores" | "clustersecretstores/status" | "namespaces", _) => &[SYNC_CLUSTER],
        ("serviceaccounts" | "serviceaccounts/token", _) => &[SYNC_JWT],
        (
            "passwords"
            | "uuids"
            | "fakes"
            | "ecrauthorizationtokens"
            | "stssessiontokens"
            | "clustergenerators",
            "get",
        ) => &[SYNC_GENERATORS],
        // PushSecrets are watched; patch moves ESO's finalizer; the status says what was pushed.
        ("pushsecrets" | "pushsecrets/status", _) => &[SYNC_PUSH],
        _ => &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_needs_every_permission_of_the_chart_and_no_other() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;

    // The permissions, as the chart grants them (rendered for a namespace of its own), without and
    // with jwt auth.
    let probe = env.namespace().await;
    let permissions = ChartRbac::render(env, &probe, false).permissions();
    assert!(
        permissions.len() >= 20,
        "the chart grants only {} permissions: is its RBAC rendered?",
        permissions.len()
    );
    let with_jwt = ChartRbac::render(env, &probe, true).permissions();
    let jwt_only: Vec<Permission> = with_jwt
        .iter()
        .filter(|p| !permissions.iter().any(|q| q.same_grant(p)))
        .cloned()
        .collect();
    let granted = |ps: &[Permission]| {
        let mut grants: Vec<String> = ps
            .iter()
            .map(|p| format!("{} {}", p.verb, p.resource))
            .collect();
        grants.sort();
        grants
    };
    assert_eq!(
        granted(&jwt_only),
        ["create serviceaccounts/token", "get serviceaccounts"],
        "{JWT_AUTH_VALUE}=true grants exactly jwt auth's permissions"
    );
    assert_eq!(
        with_jwt.len(),
        permissions.len() + jwt_only.len(),
        "{JWT_AUTH_VALUE}=true keeps every other permission"
    );

    // jwt off: the rendered RBAC, then each permission removed; jwt on: the rendered RBAC, then each
    // of its own permissions removed (the others are the same rules, proven with jwt off).
    let mut variants = vec![(false, None)];
    variants.extend(permissions.into_iter().map(|p| (false, Some(p))));
    variants.push((true, None));
    variants.extend(jwt_only.into_iter().map(|p| (true, Some(p))));
    let runs = variants.into_iter().map(|(jwt, removed)| async move {
        let outcome = run_variant(env, jwt, removed.as_ref()).await;
        (jwt, removed, outcome)
    });
    let outcomes = futures::future::join_all(runs).await;

    let mut report = Vec::new();
    for (jwt, removed, outcome) in &outcomes {
        // The whole table, shown when the test fails.
        let chart = format!("{JWT_AUTH_VALUE}={jwt}");
        match removed {
            None => eprintln!("chart RBAC as rendered ({chart}): {outcome:?}"),
            Some(permission) => eprintln!("({chart}) without {permission}: {outcome:?}"),
        }
        match (removed, outcome) {
            (None, Ok(())) => {}
            (None, Err(failure)) => report.push(format!(
                "with the chart's RBAC as rendered ({chart}), the flow failed: {failure}"
            )),
            (Some(permission), Ok(())) => report.push(format!(
                "({chart}) without {permission}, every flow still passed: the chart grants more than the controller uses"
            )),
            (Some(permission), Err(failure)) if !needed_by(permission).contains(&failure.step) => {
                report.push(format!(
                    "({chart}) without {permission}, expected {:?} to fail first, but: {failure}",
                    needed_by(permission)
                ));
            }
            (Some(_), Err(_)) => {}
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} variants went wrong:\n{}",
        report.len(),
        outcomes.len(),
        report.join("\n")
    );
}

/// One verb on one resource of one rule of the chart's ClusterRole or Role.
#[derive(Clone, Debug)]
struct Permission {
    /// `ClusterRole` or `Role`.
    kind: String,
    /// Index of the rule in the role.
    rule: usize,
    api_group: String,
    resource: String,
    verb: String,
}

impl Permission {
    /// The same verb on the same resource of the same group and role kind (whatever the rule's index).
    fn same_grant(&self, other: &Permission) -> bool {
        (&self.kind, &self.api_group, &self.resource, &self.verb)
            == (&other.kind, &other.api_group, &other.resource, &other.verb)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(
            f,
            "{} rule {} '{} {}' ({group})",
            self.kind, self.rule, self.verb, self.resource
        )
    }
}

/// A flow that failed: the step and why.
#[derive(Debug)]
struct Failure {
    step: &'static str,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step '{}' failed: {}", self.step, self.message)
    }
}

/// The chart's controller RBAC rendered for one namespace: the ServiceAccount, the ClusterRole and Role
/// with their bindings (names made unique with `fullnameOverride`), and the lease name the Deployment uses.
struct ChartRbac {
    namespace: String,
    fullname: String,
    objects: Vec<Value>,
    service_account: String,
    lease_name: String,
}

impl ChartRbac {
    fn render(env: &TestEnv, namespace: &str, jwt: bool) -> Self {
        let fullname = format!("{namespace}-kseal");
        let yaml = render(
            env,
            namespace,
            &[
                "--set",
                &format!("fullnameOverride={fullname},{JWT_AUTH_VALUE}={jwt}"),
                "--show-only",
                "templates/rbac.yaml",
                "--show-only",
                "templates/serviceaccount.yaml",
                "--show-only",
                "templates/deployment.yaml",
            ],
        );
        let mut objects = documents(&yaml);
        let deployment_at = objects
            .iter()
            .position(|o| o["kind"] == "Deployment")
            .expect("the chart renders a Deployment");
        let deployment = objects.remove(deployment_at);
        let pod = &deployment["spec"]["template"]["spec"];
        let lease_name = pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "KSEAL_LEASE_NAME")
            .and_then(|e| e["value"].as_str())
            .expect("the Deployment names its Lease")
            .to_owned();
        ChartRbac {
            namespace: namespace.to_owned(),
            service_account: pod["serviceAccountName"].as_str().unwrap().to_owned(),
            fullname,
            objects,
            lease_name,
        }
    }

    /// The controller's own roles (not the certificate readers' Role).
    fn controller_roles(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(|o| {
            (o["kind"] == "ClusterRole" || o["kind"] == "Role")
                && o["metadata"]["name"] == self.fullname.as_str()
        })
    }

    fn permissions(&self) -> Vec<Permission> {
        let mut permissions = Vec::new();
        for role in self.controller_roles() {
            for (index, rule) in role["rules"].as_array().unwrap().iter().enumerate() {
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        for verb in strings(&rule["verbs"]) {
                            permissions.push(Permission {
                                kind: role["kind"].as_str().unwrap().to_owned(),
                                rule: index,
                                api_group: group.clone(),
                                resource: resource.clone(),
                                verb,
                            });
                        }
                    }
                }
            }
        }
        permissions
    }

    /// These objects with `permission` removed (the rest of its rule kept).
    fn without(mut self, permission: &Permission) -> Self {
        let fullname = self.fullname.clone();
        let role = self
            .objects
            .iter_mut()
            .find(|o| {
                o["kind"] == permission.kind.as_str() && o["metadata"]["name"] == fullname.as_str()
            })
            .expect("the role of the permission");
        let rules = role["rules"].as_array_mut().unwrap();
        let rule = rules[permission.rule].clone();
        let others: Vec<String> = strings(&rule["resources"])
            .into_iter()
            .filter(|r| *r != permission.resource)
            .collect();
        let verbs: Vec<String> = strings(&rule["verbs"])
            .into_iter()
            .filter(|v| *v != permission.verb)
            .collect();
        let mut split = Vec::new();
        if !others.is_empty() {
            let mut kept = rule.clone();
            kept["resources"] = json!(others);
            split.push(kept);
        }
        if !verbs.is_empty() {
            let mut narrowed = rule;
            narrowed["resources"] = json!([permission.resource]);
            narrowed["verbs"] = json!(verbs);
            split.push(narrowed);
        }
        rules.splice(permission.rule..=permission.rule, split);
        self
    }

    async fn apply(&self, admin: &Client) {
        for object in &self.objects {
            apply(admin, object).await.unwrap_or_else(|e| {
                panic!(
                    "applying {} {}: {e}",
                    object["kind"], object["metadata"]["name"]
                )
            });
        }
    }

    /// The user name of the chart's ServiceAccount, as the API server authenticates its tokens.
    fn user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

/// The strings of a JSON array.
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Runs every flow in a fresh namespace under the chart's RBAC (with `jwt` auth's permissions or
/// without), less `removed`.
async fn run_variant(
    env: &'static TestEnv,
    jwt: bool,
    removed: Option<&Permission>,
) -> Result<(), Failure> {
    let namespace = env.namespace().await;
    let admin = env.client().await;
    let mut rbac = ChartRbac::render(env, &namespace, jwt);
    if let Some(permission) = removed {
        rbac = rbac.without(permission);
    }
    rbac.apply(&admin).await;
    let namespace_group = format!("system:serviceaccounts:{namespace}");
    let identity = env
        .client_as(
            &rbac.user(),
            &[
                "system:serviceaccounts",
                &namespace_group,
                "system:authenticated",
            ],
        )
        .await;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let http = listener.local_addr().unwrap();
    let replica = format!("{namespace}-replica");
    let config = kseal_controller::Config {
        // Smaller than the chart's 4096 bits: 32 controllers generate keys at once on 2 cores.
        key_options: KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        },
        leader_election: Some(kseal_runtime::lease::LeaseConfig {
            name: rbac.lease_name.clone(),
            identity: replica.clone(),
            duration: Duration::from_secs(5),
            renew_interval: Duration::from_secs(1),
        }),
        sync: Some(kseal_externalsecrets::Config {
            watch_namespace: Some(namespace.clone()),
            // Stores of other variants (ClusterSecretStores are cluster-wide) are left alone.
            controller_class: Some(namespace.clone()),
            aws_endpoint_url: Some(env.moto_endpoint().to_owned()),
            ..kseal_externalsecrets::Config::default()
        }),
        ..kseal_controller::Config::in_namespace(&namespace)
    };
    // The ClusterExternalSecret reconciler runs only in a sync of every namespace; this variant's
    // runs apart, under the same identity, for its own ClusterExternalSecret only.
    let cluster_externals = tokio::spawn(kseal_externalsecrets::cluster::run(
        identity.clone(),
        kube::runtime::watcher::Config::default()
            .fields(&format!("metadata.name={}", ces_name(&namespace))),
        kseal_externalsecrets::eso_metrics::EsoMetrics::default(),
        std::future::pending(),
    ));
    let controller = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        kseal_controller::run_with_listener(
            identity,
            config,
            Some(listener),
            std::future::pending(),
        )
        .await
    });

    let flow = Flow {
        admin,
        namespace,
        http,
        lease_name: rbac.lease_name.clone(),
        replica,
        account: env.aws_account(),
        jwt,
    };
    let outcome = flow.run().await;
    cluster_externals.abort();
    match outcome {
        Err(mut failure) if controller.is_finished() => {
            let ended = match controller.await {
                Ok(Err(error)) => format!("the controller stopped: {error}"),
                Ok(Ok(())) => "the controller stopped".to_owned(),
                Err(error) => format!("the controller panicked: {error}"),
            };
            failure.message = format!("{} ({ended})", failure.message);
            Err(failure)
        }
        other => {
            controller.abort();
            other
        }
    }
}

/// The name of a variant's ClusterExternalSecret (cluster-wide: named after the variant's namespace).
fn ces_name(namespace: &str) -> String {
    format!("{namespace}-ces")
}

/// One variant's view of the cluster: what the test does as admin, and where the controller listens.
struct Flow {
    admin: Client,
    namespace: String,
    http: SocketAddr,
    lease_name: String,
    replica: String,
    account: AwsAccount,
    /// The chart grants jwt auth's permissions.
    jwt: bool,
}

impl Flow {
    async fn run(&self) -> Result<(), Failure> {
        let certificate = step(KEY, self.key()).await?;
        step(LEASE, self.lease()).await?;
        step(CERT_MAP, self.certificate_config_map(&certificate)).await?;
        step(UNSEAL, self.unseal(&certificate)).await?;
        step(DRIFT, self.drift()).await?;
        step(SYNC_FAKE, self.sync_fake()).await?;
        step(SYNC_CLUSTER, self.sync_cluster()).await?;
        step(SYNC_REPAIR, self.sync_repair()).await?;
        step(SYNC_DELETE, self.sync_delete()).await?;
        step(SYNC_FINALIZER, self.sync_finalizer()).await?;
        step(SYNC_CES, self.sync_cluster_external()).await?;
        step(SYNC_GENERATORS, self.sync_generators()).await?;
        step(SYNC_PUSH, self.sync_push()).await?;
        if self.jwt {
            step(SYNC_JWT, self.sync_jwt()).await?;
        } else {
            step(SYNC_JWT_OFF, self.sync_jwt_off()).await?;
        }
        Ok(())
    }

    async fn key(&self) -> Result<Certificate, String> {
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), &self.namespace);
        let selector = format!(
            "{}={}",
            kseal_api::names::KEY_LABEL,
            kseal_api::names::ACTIVE
        );
        let key = poll("an active key Secret", || async {
            let list = secrets
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            list.items.into_iter().next()
        })
        .await?;
        let stored = Certificate::from_pem(&key.data.unwrap_or_default()["tls.crt"].0)
            .map_err(|e| format!("the key Secret's certificate: {e}"))?;
        let served = poll("GET /v1/cert.pem answering 200", || async {
            let (status, body) = http_get(self.http, "/v1/cert.pem").await?;
            (status == 200).then_some(body)
        })
        .await?;
        let served =
            Certificate::from_pem(served.as_bytes()).map_err(|e| format!("/v1/cert.pem: {e}"))?;
        if served.public_key().fingerprint() != stored.public_key().fingerprint() {
            return Err("/v1/cert.pem serves another key than the key Secret's".into());
        }
        Ok(served)
    }

    async fn lease(&self) -> Result<(), String> {
        let leases: Api<Lease> = Api::namespaced(self.admin.clone(), &self.namespace);
        let held = |lease: Lease| {
            let spec = lease.spec?;
            (spec.holder_identity.as_deref() == Some(&self.replica)).then_some(spec.renew_time?)
        };
        let first = poll(
            &format!("Lease {} held by the controller", self.lease_name),
            || async { held(leases.get_opt(&self.lease_name).await.ok()??) },
        )
        .await?;
        poll("a renewal of the Lease", || async {
            held(leases.get_opt(&self.lease_name).await.ok()??).filter(|renewed| *renewed != first)
        })
        .await?;
        Ok(())
    }

    async fn certificate_config_map(&self, certificate: &Certificate) -> Result<(), String> {
        let maps: Api<ConfigMap> = Api::namespaced(self.admin.clone(), &self.namespace);
        poll(
            &format!("ConfigMap {CERT_CONFIG_MAP} with the sealing certificate"),
            || async {
                let map = maps.get_opt(CERT_CONFIG_MAP).await.ok()??;
                let pem = map.data?.remove(kseal_api::names::CERT_KEY)?;
                let published = Certificate::from_pem(pem.as_bytes()).ok()?;
                (published.public_key().fingerprint() == certificate.public_key().fingerprint())
                    .then_some(())
            },
        )
        .await
    }

    async fn unseal(&self, certificate: &Certificate) -> Result<(), String> {
        let plain = PlainSecret {
            metadata: ObjectMeta {
                name: Some("app".into()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            data: [("password".to_owned(), b"hunter2".to_vec().into())].into(),
            ..PlainSecret::default()
        };
        let sealed = seal_secret(
            plain,
            &SealOptions {
                key: certificate.public_key(),
                scope: None,
                allow_empty_data: false,
                default_namespace: self.namespace.clone(),
                namespace: None,
                name: None,
            },
        )
        .map_err(|e| format!("sealing: {e}"))?;
        Api::<SealedSecret>::namespaced(self.admin.clone(), &self.namespace)
            .create(&PostParams::default(), &sealed)
            .await
            .map_err(|e| format!("creating the SealedSecret: {e}"))?;
        self.secret_with("app", "password", "hunter2").await?;
        let sealed_api: Api<DynamicObject> = Api::namespaced_with(
            self.admin.clone(),
            &self.namespace,
            &ApiResource::erase::<SealedSecret>(&()),
        );
        poll("condition Synced=True on SealedSecret app", || async {
            let object = sealed_api.get("app").await.ok()?;
            condition(&object.data["status"], "Synced", "True")
        })
        .await?;
        self.event_count("SealedSecret", "app", "Unsealed", 1).await
    }

    async fn drift(&self) -> Result<(), String> {
        let patch = json!({"data": {"password": base64::engine::general_purpose::STANDARD.encode("tampered")}});
        Api::<Secret>::namespaced(self.admin.clone(), &self.namespace)
            .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| format!("editing Secret app: {e}"))?;
        self.secret_with("app", "password", "hunter2").await?;
        self.event_count("SealedSecret", "app", "Unsealed", 2).await
    }

    async fn sync_fake(&self) -> Result<(), String> {
        let class = &self.namespace;
        self.apply(&format!(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: db-template}}
data:
  url: "postgres://{{{{ .user }}}}:{{{{ .password }}}}@db/app"
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: fake}}
spec:
  controller: {class}
  provider:
    fake:
      data:
        - {{key: app/db, value: '{{"user":"app","password":"pw"}}'}}
        - {{key: app/temp, value: short-lived}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: db}}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: fake, kind: SecretStore}}
  target:
    template:
      templateFrom:
        - configMap: {{name: db-template, items: [{{key: url}}]}}
  data:
    - {{secretKey: user, remoteRef: {{key: app/db, property: user}}}}
    - {{secretKey: password, remoteRef: {{key: app/db, property: password}}}}
"#
        ))
        .await?;
        self.secret_with("db", "url", "postgres://app:pw@db/app")
            .await?;
        self.ready(
            "external-secrets.io/v1",
            "ExternalSecret",
            "db",
            Some(&self.namespace),
        )
        .await?;
        self.ready(
            "external-secrets.io/v1",
            "SecretStore",
            "fake",
            Some(&self.namespace),
        )
        .await
    }

    async fn sync_cluster(&self) -> Result<(), String> {
        let name = &self.namespace;
        self.apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {{name: {name}}}
spec:
  controller: {name}
  conditions:
    - namespaces: [{name}]
  provider:
    fake:
      data:
        - {{key: shared/token, value: t0ken}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: shared}}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: {name}, kind: ClusterSecretStore}}
  data:
    - {{secretKey: token, remoteRef: {{key: shared/token}}}}
"#
        ))
        .await?;
        self.secret_with("shared", "token", "t0ken").await?;
        self.ready("external-secrets.io/v1", "ClusterSecretStore", name, None)
            .await
    }

    async fn sync_repair(&self) -> Result<(), String> {
        Api::<Secret>::namespaced(self.admin.clone(), &self.namespace)
            .delete("db", &DeleteParams::default())
            .await
            .map_err(|e| format!("deleting Secret db: {e}"))?;
        self.secret_with("db", "url", "postgres://app:pw@db/app")
            .await
    }

    async fn sync_delete(&self) -> Result<(), String> {
        let class = &self.namespace;
        self.apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: temp}
spec:
  refreshInterval: 1s
  secretStoreRef: {name: fake, kind: SecretStore}
  target: {deletionPolicy: Delete}
  data:
    - {secretKey: value, remoteRef: {key: app/temp}}
"#,
        )
        .await?;
        self.secret_with("temp", "value", "short-lived").await?;
        // The remote key goes away.
        self.apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: fake}}
spec:
  controller: {class}
  provider:
    fake:
      data:
        - {{key: app/db, value: '{{"user":"app","password":"pw"}}'}}
"#
        ))
        .await?;
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), &self.namespace);
        poll("Secret temp deleted", || async {
            secrets.get_opt("temp").await.ok()?.is_none().then_some(())
        })
        .await
    }

    async fn sync_generators(&self) -> Result<(), String> {
        let cluster_generator = format!("{}-gen", self.namespace);
        // The AWS generators read their keys from a Secret, as a store does.
        let keys = self.account.static_key_store("gen");
        self.apply(keys.split("---").next().unwrap_or_default())
            .await?;
        let auth = "auth: {secretRef: {accessKeyIDSecretRef: {name: gen-credentials, key: access-key}, secretAccessKeySecretRef: {name: gen-credentials, key: secret-key}}}";
        self.apply(&format!(
            r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: ECRAuthorizationToken
metadata: {{name: ecr}}
spec: {{region: us-east-1, {auth}}}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: STSSessionToken
metadata: {{name: sts}}
spec: {{region: us-east-1, {auth}}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: aws-generated}}
spec:
  refreshInterval: 1h
  dataFrom:
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: ECRAuthorizationToken, name: ecr}}}}
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: STSSessionToken, name: sts}}}}
"#
        ))
        .await?;
        self.secret_with("aws-generated", "username", "AWS").await?;
        self.ready(
            "external-secrets.io/v1",
            "ExternalSecret",
            "aws-generated",
            Some(&self.namespace),
        )
        .await?;
        self.apply(&format!(
            r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {{name: pw}}
spec: {{length: 16, digits: 4, symbols: 0}}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: UUID
metadata: {{name: id}}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Fake
metadata: {{name: static}}
spec: {{data: {{greeting: hello}}}}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: ClusterGenerator
metadata: {{name: {cluster_generator}}}
spec: {{kind: Fake, generator: {{fakeSpec: {{data: {{shared: cluster}}}}}}}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: generated}}
spec:
  refreshInterval: 1h
  dataFrom:
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: Password, name: pw}}}}
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: UUID, name: id}}}}
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: Fake, name: static}}}}
    - sourceRef: {{generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: ClusterGenerator, name: {cluster_generator}}}}}
"#
        ))
        .await?;
        self.secret_with("generated", "shared", "cluster").await?;
        self.secret_with("generated", "greeting", "hello").await?;
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), &self.namespace);
        poll("Secret generated with a password and a uuid", || async {
            let data = secrets.get_opt("generated").await.ok()??.data?;
            (data.get("password")?.0.len() == 16 && data.get("uuid")?.0.len() == 36).then_some(())
        })
        .await?;
        self.ready(
            "external-secrets.io/v1",
            "ExternalSecret",
            "generated",
            Some(&self.namespace),
        )
        .await
    }

    async fn sync_cluster_external(&self) -> Result<(), String> {
        let name = ces_name(&self.namespace);
        let kept = format!("externalsecrets.external-secrets.io/ces-{name}");
        let namespaces: Api<Namespace> = Api::all(self.admin.clone());
        let finalizers = json!({"metadata": {"finalizers": [kept]}});
        namespaces
            .patch(
                &self.namespace,
                &PatchParams::default(),
                &Patch::Merge(finalizers),
            )
            .await
            .map_err(|e| format!("adding ESO's finalizer to the namespace: {e}"))?;
        self.apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata:
  name: {name}
  finalizers: [externalsecrets.external-secrets.io/clusterexternalsecret-cleanup]
spec:
  externalSecretName: from-ces
  namespaces: [{namespace}]
  externalSecretSpec:
    refreshInterval: 1h
    secretStoreRef: {{name: fake, kind: SecretStore}}
    data:
      - {{secretKey: user, remoteRef: {{key: app/db, property: user}}}}
"#,
            namespace = self.namespace,
        ))
        .await?;
        self.secret_with("from-ces", "user", "app").await?;
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("external-secrets.io", "v1", "ClusterExternalSecret"),
            "clusterexternalsecrets",
        );
        let cluster_externals: Api<DynamicObject> = Api::all_with(self.admin.clone(), &resource);
        poll(
            "the ClusterExternalSecret's provisionedNamespaces",
            || async {
                let ces = cluster_externals.get_opt(&name).await.ok()??;
                (ces.data["status"]["provisionedNamespaces"] == json!([self.namespace]))
                    .then_some(())
            },
        )
        .await?;
        poll("ESO's finalizer removed from the namespace", || async {
            let namespace = namespaces.get(&self.namespace).await.ok()?;
            let finalizers = namespace.metadata.finalizers.unwrap_or_default();
            (!finalizers.contains(&kept)).then_some(())
        })
        .await?;
        cluster_externals
            .delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| format!("deleting ClusterExternalSecret {name}: {e}"))?;
        poll("ClusterExternalSecret gone", || async {
            cluster_externals
                .get_opt(&name)
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await?;
        let externals: Api<DynamicObject> = Api::namespaced_with(
            self.admin.clone(),
            &self.namespace,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"),
                "externalsecrets",
            ),
        );
        poll("its ExternalSecret deleted", || async {
            externals
                .get_opt("from-ces")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await
    }

    async fn sync_finalizer(&self) -> Result<(), String> {
        self.apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: from-eso
  finalizers: [externalsecrets.external-secrets.io/externalsecret-cleanup]
spec:
  refreshInterval: 1h
  secretStoreRef: {name: fake, kind: SecretStore}
  data:
    - {secretKey: user, remoteRef: {key: app/db, property: user}}
"#,
        )
        .await?;
        self.secret_with("from-eso", "user", "app").await?;
        let externals: Api<DynamicObject> = Api::namespaced_with(
            self.admin.clone(),
            &self.namespace,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"),
                "externalsecrets",
            ),
        );
        externals
            .delete("from-eso", &DeleteParams::default())
            .await
            .map_err(|e| format!("deleting ExternalSecret from-eso: {e}"))?;
        poll("ExternalSecret from-eso gone", || async {
            externals
                .get_opt("from-eso")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await
    }

    async fn sync_push(&self) -> Result<(), String> {
        self.apply(&self.account.static_key_store("push")).await?;
        self.apply(
            r#"
apiVersion: v1
kind: Secret
metadata: {name: pushed}
stringData: {token: to-aws}
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: {name: pushed}
spec:
  refreshInterval: 1h
  deletionPolicy: Delete
  secretStoreRefs: [{name: push, kind: SecretStore}]
  selector: {secret: {name: pushed}}
  data:
    - match: {secretKey: token, remoteRef: {remoteKey: rbac/pushed}}
"#,
        )
        .await?;
        let remote = self.account.secretsmanager_client().await;
        poll("remote secret rbac/pushed at moto", || async {
            let got = remote
                .get_secret_value()
                .secret_id("rbac/pushed")
                .send()
                .await
                .ok()?;
            (got.secret_binary()?.as_ref() == b"to-aws").then_some(())
        })
        .await?;
        self.ready(
            "external-secrets.io/v1alpha1",
            "PushSecret",
            "pushed",
            Some(&self.namespace),
        )
        .await?;
        let gvk = GroupVersionKind::gvk("external-secrets.io", "v1alpha1", "PushSecret");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "pushsecrets");
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.admin.clone(), &self.namespace, &resource);
        api.delete("pushed", &Default::default())
            .await
            .map_err(|e| format!("deleting the PushSecret: {e}"))?;
        poll(
            "PushSecret pushed deleted with its remote secret",
            || async {
                let gone = api.get_opt("pushed").await.ok()?.is_none();
                let described = remote
                    .describe_secret()
                    .secret_id("rbac/pushed")
                    .send()
                    .await
                    .ok();
                let remote_gone = described.is_none_or(|d| d.deleted_date().is_some());
                (gone && remote_gone).then_some(())
            },
        )
        .await
    }

    async fn sync_jwt(&self) -> Result<(), String> {
        self.apply_jwt_store().await?;
        self.secret_with("aws", "token", "from-aws").await
    }

    /// Without the chart's jwt permissions, the store and its ExternalSecret say which chart value
    /// grants them, and the sync makes no AWS call.
    async fn sync_jwt_off(&self) -> Result<(), String> {
        self.apply_jwt_store().await?;
        let value = format!("{JWT_AUTH_VALUE}=true");
        for kind in ["SecretStore", "ExternalSecret"] {
            self.condition_naming(
                "external-secrets.io/v1",
                kind,
                "aws",
                "Ready",
                "False",
                &value,
            )
            .await?;
        }
        let (_, metrics) = http_get(self.http, "/metrics")
            .await
            .ok_or("GET /metrics did not answer")?;
        match metrics
            .lines()
            // jwt auth starts with AssumeRoleWithWebIdentity (earlier steps make other AWS calls).
            .find(|line| {
                line.starts_with("kseal_sync_provider_calls_total{")
                    && line.contains("operation=\"AssumeRoleWithWebIdentity\"")
            }) {
            Some(call) => Err(format!("the sync called AWS with jwt auth: {call}")),
            None => Ok(()),
        }
    }

    /// The remote secret at moto and a SecretStore with jwt auth, with its ExternalSecret `aws`.
    async fn apply_jwt_store(&self) -> Result<(), String> {
        let role = format!("arn:aws:iam::{}:role/app-reader", self.account.account_id());
        let class = &self.namespace;
        self.account
            .secretsmanager_client()
            .await
            .create_secret()
            .name("app/aws")
            .secret_string(r#"{"token":"from-aws"}"#)
            .send()
            .await
            .map_err(|e| format!("creating the remote secret at moto: {e}"))?;
        self.apply(&format!(
            r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-reader
  annotations: {{eks.amazonaws.com/role-arn: "{role}"}}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {{name: aws}}
spec:
  controller: {class}
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      auth:
        jwt:
          serviceAccountRef: {{name: app-reader}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: aws}}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: aws, kind: SecretStore}}
  data:
    - {{secretKey: token, remoteRef: {{key: app/aws, property: token}}}}
"#
        ))
        .await
    }

    /// Applies every document of `yaml` as admin, in this namespace unless cluster-scoped.
    async fn apply(&self, yaml: &str) -> Result<(), String> {
        for mut object in documents(yaml) {
            if object["kind"] != "ClusterSecretStore" && object["kind"] != "ClusterExternalSecret" {
                object["metadata"]["namespace"] = json!(self.namespace);
            }
            apply(&self.admin, &object).await.map_err(|e| {
                format!(
                    "applying {} {}: {e}",
                    object["kind"], object["metadata"]["name"]
                )
            })?;
        }
        Ok(())
    }

    /// Waits until Secret `name` holds `value` under `key`.
    async fn secret_with(&self, name: &str, key: &str, value: &str) -> Result<(), String> {
        let secrets: Api<Secret> = Api::namespaced(self.admin.clone(), &self.namespace);
        poll(&format!("Secret {name} with {key}={value}"), || async {
            let secret = secrets.get_opt(name).await.ok()??;
            (secret.data?.get(key)?.0 == value.as_bytes()).then_some(())
        })
        .await
    }

    /// Waits until the `type_` condition of `kind` `name` (in this namespace) has `status` and a message
    /// containing `text`.
    async fn condition_naming(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        type_: &str,
        status: &str,
        text: &str,
    ) -> Result<(), String> {
        let (group, version) = api_version.split_once('/').unwrap();
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource =
            ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.admin.clone(), &self.namespace, &resource);
        poll(
            &format!("condition {type_}={status} on {kind} {name} with a message naming {text}"),
            || async {
                let object = api.get(name).await.ok()?;
                let conditions = object.data["status"]["conditions"].as_array()?.clone();
                conditions
                    .iter()
                    .any(|c| {
                        c["type"] == type_
                            && c["status"] == status
                            && c["message"].as_str().is_some_and(|m| m.contains(text))
                    })
                    .then_some(())
            },
        )
        .await
    }

    /// Waits until the `Ready` condition of `kind` `name` is True.
    async fn ready(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<(), String> {
        let (group, version) = api_version.split_once('/').unwrap();
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource =
            ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()));
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(self.admin.clone(), namespace, &resource),
            None => Api::all_with(self.admin.clone(), &resource),
        };
        poll(
            &format!("condition Ready=True on {kind} {name}"),
            || async {
                let object = api.get(name).await.ok()?;
                condition(&object.data["status"], "Ready", "True")
            },
        )
        .await
    }

    /// Waits until events with `reason` about `kind` `name` were published at least `count` times (as
    /// separate events, or counted in a series).
    async fn event_count(
        &self,
        kind: &str,
        name: &str,
        reason: &str,
        count: i32,
    ) -> Result<(), String> {
        let events: Api<Event> = Api::namespaced(self.admin.clone(), &self.namespace);
        poll(
            &format!("event {reason} on {kind} {name}, {count} time(s)"),
            || async {
                let list = events.list(&ListParams::default()).await.ok()?;
                list.items
                    .into_iter()
                    .filter(|event| {
                        let about = event.regarding.as_ref();
                        about.and_then(|r| r.kind.as_deref()) == Some(kind)
                            && about.and_then(|r| r.name.as_deref()) == Some(name)
                            && event.reason.as_deref() == Some(reason)
                    })
                    .map(|event| event.series.map_or(1, |series| series.count))
                    .sum::<i32>()
                    .ge(&count)
                    .then_some(())
            },
        )
        .await
    }
}

/// `Some(())` when `status.conditions` has `type_` with `status`.
fn condition(status: &Value, type_: &str, expected: &str) -> Option<()> {
    status["conditions"]
        .as_array()?
        .iter()
        .any(|c| c["type"] == type_ && c["status"] == expected)
        .then_some(())
}

/// Runs one step (its polls have deadlines), naming it in the failure.
async fn step<T>(
    name: &'static str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, Failure> {
    work.await.map_err(|message| Failure {
        step: name,
        message,
    })
}

/// Polls `check` until it returns `Some`, or fails after [`STEP_DEADLINE`] naming `what`.
async fn poll<T, F, Fut>(what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + STEP_DEADLINE;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "timed out after {STEP_DEADLINE:?} waiting for {what}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `GET path` from the controller's HTTP API: status and body, `None` when it does not answer.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

#[tokio::test]
async fn any_authenticated_user_reads_the_certificate_and_nothing_else() {
    let env = TestEnv::get().await;
    let admin = env.client().await;
    let namespace = env.namespace().await;
    let rbac = ChartRbac::render(env, &namespace, false);
    rbac.apply(&admin).await;
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &namespace);
    for name in [CERT_CONFIG_MAP, "other"] {
        let map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name},
            "data": {"cert.pem": "-----BEGIN CERTIFICATE-----"},
        }))
        .unwrap();
        maps.create(&PostParams::default(), &map).await.unwrap();
    }

    // Any user the API server authenticates, in no group of its own.
    let alice = env.client_as("alice", &[]).await;
    let as_alice: Api<ConfigMap> = Api::namespaced(alice, &namespace);
    let certificate = as_alice
        .get(CERT_CONFIG_MAP)
        .await
        .expect("an authenticated user reads the certificate ConfigMap");
    assert!(certificate.data.unwrap().contains_key("cert.pem"));
    for (what, result) in [
        ("another ConfigMap", as_alice.get("other").await.map(|_| ())),
        (
            "the list of ConfigMaps",
            as_alice.list(&ListParams::default()).await.map(|_| ()),
        ),
    ] {
        match result {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{what}: {status:?}"),
            other => panic!("{what}: expected 403, got {other:?}"),
        }
    }

    // Without the chart's reader Role nobody but the controller reads it: the Role is what grants it.
    let without = documents(&render(
        env,
        &namespace,
        &[
            "--set",
            "rbac.certificateReaders=false",
            "--show-only",
            "templates/rbac.yaml",
        ],
    ));
    assert!(
        !without.iter().any(|o| o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("-cert-reader"))),
        "rbac.certificateReaders=false renders no reader Role"
    );
    let bob = env.client_as("bob", &[]).await;
    let other_namespace = env.namespace().await;
    Api::<ConfigMap>::namespaced(admin, &other_namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": CERT_CONFIG_MAP}})).unwrap(),
        )
        .await
        .unwrap();
    let refused = Api::<ConfigMap>::namespaced(bob, &other_namespace)
        .get(CERT_CONFIG_MAP)
        .await;
    assert!(
        matches!(refused, Err(kube::Error::Api(ref status)) if status.code == 403),
        "without the reader Role: {refused:?}"
    );
}

#[tokio::test]
async fn namespaced_roles_let_the_controller_unseal_in_its_namespaces_and_nowhere_else() {
    // sealed-secrets' rbac.namespacedRoles with additionalNamespaces: no ClusterRole at all.
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let admin = env.client().await;
    let home = env.namespace().await;
    let extra = env.namespace().await;
    let outside = env.namespace().await;
    let fullname = format!("{home}-kseal");
    let yaml = render(
        env,
        &home,
        &[
            "--set",
            &format!(
                "fullnameOverride={fullname},rbac.namespacedRoles=true,controller.sync.enabled=false,additionalNamespaces={{{extra}}}"
            ),
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/deployment.yaml",
        ],
    );
    let mut objects = documents(&yaml);
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding"),
        "rbac.namespacedRoles renders no cluster-wide RBAC"
    );
    let deployment_at = objects
        .iter()
        .position(|o| o["kind"] == "Deployment")
        .unwrap();
    let deployment = objects.remove(deployment_at);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env_value = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("the Deployment sets {name}"))
            .to_owned()
    };
    assert_eq!(env_value("KSEAL_ADDITIONAL_NAMESPACES"), extra);
    let lease_name = env_value("KSEAL_LEASE_NAME");
    for object in &objects {
        apply(&admin, object).await.unwrap_or_else(|e| {
            panic!(
                "applying {} {}: {e}",
                object["kind"], object["metadata"]["name"]
            )
        });
    }
    let user = format!("system:serviceaccount:{home}:{fullname}");
    let home_group = format!("system:serviceaccounts:{home}");
    let groups = [
        "system:serviceaccounts",
        home_group.as_str(),
        "system:authenticated",
    ];
    let identity = env.client_as(&user, &groups).await;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let http = listener.local_addr().unwrap();
    let replica = format!("{home}-replica");
    let config = kseal_controller::Config {
        watch_namespace: None,
        key_options: KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        },
        leader_election: Some(kseal_runtime::lease::LeaseConfig {
            name: lease_name.clone(),
            identity: replica.clone(),
            duration: Duration::from_secs(5),
            renew_interval: Duration::from_secs(1),
        }),
        // The chart's KSEAL_ADDITIONAL_NAMESPACES.
        unseal: kseal_sealedsecrets::unseal::Options {
            additional_namespaces: vec![extra.clone()],
            ..Default::default()
        },
        ..kseal_controller::Config::in_namespace(&home)
    };

    let controller = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        kseal_controller::run_with_listener(
            identity,
            config,
            Some(listener),
            std::future::pending(),
        )
        .await
    });
    let flow_in = |namespace: &str| Flow {
        admin: admin.clone(),
        namespace: namespace.to_owned(),
        http,
        lease_name: lease_name.clone(),
        replica: replica.clone(),
        account: env.aws_account(),
        jwt: false,
    };
    let result = async {
        let at_home = flow_in(&home);
        let certificate = step(KEY, at_home.key()).await?;
        step(LEASE, at_home.lease()).await?;
        step(CERT_MAP, at_home.certificate_config_map(&certificate)).await?;
        step(UNSEAL, at_home.unseal(&certificate)).await?;
        // The additional namespace, through its Role only.
        let in_extra = flow_in(&extra);
        step(UNSEAL, in_extra.unseal(&certificate)).await?;
        step(DRIFT, in_extra.drift()).await
    }
    .await;
    controller.abort();
    if let Err(failure) = result {
        panic!("under rbac.namespacedRoles: {failure}");
    }

    // Nowhere else: the controller's identity may not read SealedSecrets or Secrets in other namespaces.
    let identity = env.client_as(&user, &groups).await;
    let refusals = [
        (
            "list SealedSecrets",
            Api::<SealedSecret>::namespaced(identity.clone(), &outside)
                .list(&ListParams::default())
                .await
                .map(|_| ()),
        ),
        (
            "list Secrets",
            Api::<Secret>::namespaced(identity.clone(), &outside)
                .list(&ListParams::default())
                .await
                .map(|_| ()),
        ),
        (
            "list SealedSecrets in all namespaces",
            Api::<SealedSecret>::all(identity)
                .list(&ListParams::default())
                .await
                .map(|_| ()),
        ),
    ];
    for (what, result) in refusals {
        match result {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{what}: {status:?}"),
            other => panic!("{what}: expected 403, got {other:?}"),
        }
    }
}
