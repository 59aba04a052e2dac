//! Controller differential: the real sealed-secrets controller (built by `tests/env/build` from its Go
//! module, the version kubeseal is pinned to) and kseal's controller unseal the same SealedSecrets with
//! the same key, each in a namespace of its own, and the Secrets and `Synced` conditions they leave are
//! compared.
//!
//! sealed-secrets' controller runs as a pod would run it (in-cluster configuration in a private mount
//! namespace; see `controller.rs`) and watches only its own namespace.
//!
//! A case agrees when both controllers report the same `Synced` status and, where a Secret is written,
//! the Secrets have the same data, type, labels, annotations, owner reference and immutability (kseal's
//! own bookkeeping labels and annotations aside). The test prints `N agree, M differ`, lists each
//! difference, and fails on one that `tests/peer/known-differences.yaml` does not list with its reason,
//! or on a listed case that agrees.

mod controller;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use controller::{peer_version, start_peer};
use k8s_openapi::api::core::v1::Secret;
use kseal_api::{SealedSecret, SealedSecretStatus};
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{KeyOptions, KeyPair, PublicKey, Scope};
use kseal_testenv::{TestEnv, eventually};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// The labels and annotations only kseal writes on a Secret (its bookkeeping; see the README).
const KSEAL_ONLY: &[&str] = &[
    kseal_api::names::MANAGED_LABEL,
    kseal_api::names::SEALED_DIGEST,
    kseal_api::names::UNSEALED_WITH,
];

/// One case: a Secret to seal (its name is the case id), how, and what exists beforehand.
struct Case {
    id: &'static str,
    data: &'static [(&'static str, &'static str)],
    /// `type`, labels and annotations of the Secret sealed (the template's metadata).
    secret_type: Option<&'static str>,
    labels: &'static [(&'static str, &'static str)],
    annotations: &'static [(&'static str, &'static str)],
    scope: Scope,
    /// `spec.template.data` entries.
    templates: &'static [(&'static str, &'static str)],
    immutable: bool,
    /// A Secret of the same name that exists before the SealedSecret (its annotations).
    existing: Option<&'static [(&'static str, &'static str)]>,
    /// Replace the ciphertext of this key with one no key opens.
    broken: Option<&'static str>,
}

const fn case(id: &'static str, data: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        id,
        data,
        secret_type: None,
        labels: &[],
        annotations: &[],
        scope: Scope::Strict,
        templates: &[],
        immutable: false,
        existing: None,
        broken: None,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("plain", &[("username", "admin"), ("password", "s3cr3t")]),
        case("empty-value", &[("token", "")]),
        case("multi-line", &[("config.yaml", "a: 1\nb:\n  - x\n")]),
        Case {
            secret_type: Some("kubernetes.io/dockerconfigjson"),
            ..case(
                "dockerconfig",
                &[(
                    ".dockerconfigjson",
                    r#"{"auths":{"r.example":{"auth":"dTpw"}}}"#,
                )],
            )
        },
        Case {
            secret_type: Some("kubernetes.io/tls"),
            ..case("tls", &[("tls.crt", "CERT"), ("tls.key", "KEY")])
        },
        Case {
            labels: &[("app", "web"), ("team", "payments")],
            annotations: &[("owner", "platform")],
            ..case("metadata", &[("k", "v")])
        },
        Case {
            scope: Scope::NamespaceWide,
            ..case("namespace-wide", &[("k", "v")])
        },
        Case {
            scope: Scope::ClusterWide,
            ..case("cluster-wide", &[("k", "v")])
        },
        Case {
            immutable: true,
            ..case("immutable", &[("k", "v")])
        },
        Case {
            templates: &[(
                "url",
                "postgres://{{ .username }}:{{ .password }}@db:5432/app",
            )],
            ..case(
                "template-refers",
                &[("username", "admin"), ("password", "pw")],
            )
        },
        Case {
            templates: &[("config.json", r#"{"user":"{{ .username | upper }}"}"#)],
            ..case("template-sprig", &[("username", "admin")])
        },
        Case {
            templates: &[("username", "{{ .username }}-templated")],
            ..case("template-same-key", &[("username", "admin")])
        },
        Case {
            templates: &[("static", "no actions here")],
            ..case("template-static", &[("k", "v")])
        },
        Case {
            annotations: &[(
                "sealedsecrets.bitnami.com/skip-set-owner-references",
                "true",
            )],
            ..case("skip-owner", &[("k", "v")])
        },
        Case {
            existing: Some(&[("sealedsecrets.bitnami.com/managed", "true")]),
            ..case("managed-existing", &[("k", "v")])
        },
        Case {
            existing: Some(&[("sealedsecrets.bitnami.com/patch", "true")]),
            ..case("patch-existing", &[("k", "new")])
        },
        Case {
            existing: Some(&[]),
            ..case("unmanaged-existing", &[("k", "v")])
        },
        Case {
            broken: Some("password"),
            ..case("broken-value", &[("username", "admin"), ("password", "pw")])
        },
    ]
}

#[tokio::test]
async fn kseal_unseals_as_the_sealed_secrets_controller_does() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let client = env.client().await;
    let (peer_ns, kseal_ns) = (env.namespace().await, env.namespace().await);
    let pair = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    for namespace in [&peer_ns, &kseal_ns] {
        let key = kseal_sealedsecrets::keys::key_secret(namespace, &pair).unwrap();
        Api::<Secret>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &key)
            .await
            .unwrap();
    }
    let _peer = start_peer(env, &client, &peer_ns, &[]).await;
    let kseal = start_kseal(client.clone(), &kseal_ns);

    let cases = cases();
    for namespace in [&peer_ns, &kseal_ns] {
        for case in &cases {
            apply(&client, namespace, case, pair.certificate().public_key()).await;
        }
    }
    let mut differences = BTreeMap::new();
    for case in &cases {
        let peer = outcome(&client, &peer_ns, case.id).await;
        let ours = outcome(&client, &kseal_ns, case.id).await;
        if peer != ours {
            differences.insert(case.id.to_owned(), (peer, ours));
        }
    }
    kseal.abort();

    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id).collect();
    kseal_e2e::differential_verdict(
        "tests/peer/known-differences.yaml",
        &format!("sealed-secrets controller {}", peer_version()),
        "sealed-secrets",
        &ids,
        &differences,
        false,
    );
}

/// What a controller left for a case: the `Synced` status, and the Secret (normalized).
#[derive(Debug, PartialEq)]
struct Outcome {
    synced: String,
    secret: Option<SecretView>,
}

/// What the comparison reads of a Secret.
#[derive(Debug, PartialEq)]
struct SecretView {
    data: BTreeMap<String, String>,
    secret_type: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// (kind, name, controller) of each owner reference.
    owners: Vec<(String, String, Option<bool>)>,
    immutable: Option<bool>,
}

async fn outcome(client: &Client, namespace: &str, name: &str) -> Outcome {
    let sealed: Api<SealedSecret> = Api::namespaced(client.clone(), namespace);
    let synced = eventually(&format!("Synced on {namespace}/{name}"), || async {
        let object = sealed.get(name).await.ok()?;
        let status: SealedSecretStatus = object.status?;
        let condition = status.conditions.iter().find(|c| c.type_ == "Synced")?;
        Some(condition.status.clone())
    })
    .await;
    // A moment for a Secret write that follows the status.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .unwrap()
        .map(view);
    Outcome { synced, secret }
}

fn view(secret: Secret) -> SecretView {
    let strip = |map: Option<BTreeMap<String, String>>| -> BTreeMap<String, String> {
        map.unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !KSEAL_ONLY.contains(&k.as_str()))
            .collect()
    };
    SecretView {
        data: secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect(),
        secret_type: secret.type_,
        labels: strip(secret.metadata.labels),
        annotations: strip(secret.metadata.annotations),
        owners: secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.kind, o.name, o.controller))
            .collect(),
        immutable: secret.immutable,
    }
}

/// Seals `case` for `namespace` and applies it (after its pre-existing Secret, if any).
async fn apply(client: &Client, namespace: &str, case: &Case, key: &PublicKey) {
    if let Some(annotations) = case.existing {
        let existing = Secret {
            metadata: ObjectMeta {
                name: Some(case.id.to_owned()),
                namespace: Some(namespace.to_owned()),
                annotations: Some(pairs(annotations)),
                labels: Some(pairs(&[("before", "yes")])),
                ..ObjectMeta::default()
            },
            string_data: Some(pairs(&[("old", "kept?"), ("k", "old")])),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &existing)
            .await
            .unwrap();
    }
    let mut annotations = pairs(case.annotations);
    match case.scope {
        Scope::Strict => {}
        Scope::NamespaceWide => {
            annotations.insert(
                kseal_crypto::NAMESPACE_WIDE_ANNOTATION.into(),
                "true".into(),
            );
        }
        Scope::ClusterWide => {
            annotations.insert(kseal_crypto::CLUSTER_WIDE_ANNOTATION.into(), "true".into());
        }
    }
    let document = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": case.id,
            "namespace": namespace,
            "labels": pairs(case.labels),
            "annotations": annotations,
        },
        "type": case.secret_type,
        "immutable": case.immutable.then_some(true),
        "stringData": pairs(case.data),
    });
    let plain = PlainSecret::from_document(&kseal_core::Document {
        position: 1,
        value: document,
    })
    .unwrap();
    let mut sealed = seal_secret(
        plain,
        &SealOptions {
            key,
            scope: None,
            allow_empty_data: false,
            default_namespace: namespace.to_owned(),
            namespace: None,
            name: None,
        },
    )
    .unwrap();
    if let Some(key) = case.broken {
        sealed
            .spec
            .encrypted_data
            .insert(key.to_owned(), "AgBub3QgYSBjaXBoZXJ0ZXh0".to_owned());
    }
    if !case.templates.is_empty() {
        let template = sealed.spec.template.get_or_insert_default();
        template.data = Some(pairs(case.templates));
    }
    Api::<SealedSecret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &sealed)
        .await
        .unwrap();
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// kseal's controller in-process, keys and watch in `namespace`.
fn start_kseal(client: Client, namespace: &str) -> tokio::task::JoinHandle<()> {
    let config = kseal_controller::Config::in_namespace(namespace);
    tokio::spawn(async move {
        let _ = kseal_controller::run(client, config, std::future::pending()).await;
    })
}
