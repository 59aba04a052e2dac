//! Sync differential: the real External Secrets Operator (built by `tests/env/build eso` from its Go
//! module, the version in `tests/env/versions`) and kseal's sync reconcile the same ExternalSecrets
//! against the same remote secrets, and the Secrets and `Ready` conditions they leave are compared. A
//! second test migrates a namespace from ESO to kseal (`migration.rs`).
//!
//! Each runs as it is installed: ESO in a private environment (its own API server and moto) with ESO's
//! own CRDs, kseal in the shared one with kseal's. They cannot share one API server: a CRD name exists
//! once, and ESO's controller relies on the defaults its CRDs write: kseal's CRDs default
//! `creationPolicy` and `deletionPolicy` but not `spec.refreshInterval` (ESO's default `1h`), and ESO
//! panics on an ExternalSecret without it (a nil pointer in its refresh check). Both moto accounts are
//! seeded alike.
//!
//! ESO runs as a child process outside the cluster with its environment's kubeconfig, restricted to its
//! namespace (`--namespace`), without leader election or a metrics listener, and with the reconcilers
//! it does not need for ExternalSecrets switched off (ClusterSecretStore, PushSecret, ClusterPushSecret,
//! ClusterExternalSecret; the GeneratorState reconciler cannot be, so its CRD is installed too). Its
//! AWS provider reaches moto through `AWS_SECRETSMANAGER_ENDPOINT` / `AWS_STS_ENDPOINT`.
//!
//! A case agrees when both report the same `Ready` status and reason and the Secrets it names (the
//! target by default) are alike: data, type, labels, annotations, owner references (kind, name,
//! controller, blockOwnerDeletion) and immutability. Two bookkeeping entries are normalised, see
//! [`view`]. Cases with a second step (the remote secret deleted or changed, the ExternalSecret edited)
//! compare the state after each step. The test prints `N agree, M differ`, lists each difference, and
//! fails on one that `tests/eso/known-differences.yaml` does not list with its reason, or on a listed
//! case that agrees.
//!
//! `KSEAL_ESO_SHOW=1` also prints both outcomes of each known difference and the outcome of each case
//! that agrees; `KSEAL_ESO_LOGS=DIR` keeps ESO's logs there.
//!
//! Not part of `cargo test --workspace` (`test = false`): ESO is not in the default build of the test
//! environment. `scripts/test-eso` builds it and runs this suite.

mod controller;
mod migration;

use controller::{ESO_CRDS, Eso, eso_crd, eso_version};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use k8s_openapi::api::core::v1::Secret;
use kseal_testenv::{AwsAccount, TestEnv, eventually};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

/// Field manager of what the tests apply.
const MANAGER: &str = "kseal-eso-test";
/// ESO's annotation with a hash of the Secret's data: both write it, each with its own hash function
/// (ESO a SHA3 of Go's rendering of the map, kseal a SHA-256 of the entries), so only its presence is
/// compared.
const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
/// ESO's label on Secrets of `creationPolicy: Owner`: a hash of the ExternalSecret's namespace and name
/// (so its value differs between the two namespaces by construction), with which ESO finds the Secrets
/// left behind when `target.name` changes. Its presence is compared in one case (`owner-created-by-label`),
/// not in every Owner case; what it is for is compared in `target-renamed`.
const CREATED_BY: &str = "reconcile.external-secrets.io/created-by";
/// How long the outcome of a case must stay the same to count as settled.
const SETTLE: Duration = Duration::from_millis(1500);
/// How long a second step may take to show an effect.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// What happens after the first outcome of a case was taken.
enum After {
    Nothing,
    /// The remote secret is deleted (force: without recovery window).
    DeleteRemote(&'static str),
    /// The remote secret is deleted with AWS's default recovery window (scheduled for deletion).
    ScheduleDeletion(&'static str),
    /// The remote secret gets a new value.
    PutRemote(&'static str, &'static str),
    /// The ExternalSecret is applied again as this YAML.
    Reapply(String),
    /// The parameter is deleted.
    DeleteParameter(&'static str),
    /// The parameter gets a new value (a new version).
    PutParameter(&'static str, &'static str),
}

struct Case {
    id: &'static str,
    /// Objects applied before the ExternalSecret (ConfigMaps, existing Secrets).
    pre: &'static str,
    /// The ExternalSecret.
    es: String,
    /// The Secrets compared; empty: the one named like the case.
    secrets: &'static [&'static str],
    after: After,
    /// Compare the presence of [`CREATED_BY`].
    created_by: bool,
    /// Compare values by their [`shape`] (random values of generators), not their bytes.
    shape: bool,
}

/// An ExternalSecret `id` of the store `aws` with `spec` (YAML lines at two spaces' indent, without
/// `secretStoreRef`).
fn es(id: &str, spec: &str) -> String {
    es_of("aws", id, spec)
}

/// An ExternalSecret `id` of SecretStore `store` with `spec`.
fn es_of(store: &str, id: &str, spec: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {id}\nspec:\n  \
         secretStoreRef: {{name: {store}, kind: SecretStore}}\n{spec}"
    )
}

/// A case of the Parameter Store store `ps`.
fn ps_case(id: &'static str, spec: &str) -> Case {
    Case {
        es: es_of("ps", id, spec),
        ..case(id, spec)
    }
}

/// The SecretStore `ps`: this account's Parameter Store, with static keys.
fn parameter_store(account: &AwsAccount) -> String {
    account
        .static_key_store("ps")
        .replace("service: SecretsManager\n", "service: ParameterStore\n")
}

/// The parameters the Parameter Store cases read, as users keep them: paths, a SecureString, JSON,
/// a StringList, a parameter with two versions and tagged ones.
async fn seed_parameters(account: &AwsAccount) {
    use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging};
    let ssm = account.ssm_client().await;
    let parameters = [
        ("/ps/plain", "plain-value", ParameterType::String),
        ("/ps/secure", "s3cure", ParameterType::SecureString),
        (
            "/ps/json",
            r#"{"username":"admin","port":5432,"nested":{"host":"db.internal"},"dotted.key":"literal"}"#,
            ParameterType::SecureString,
        ),
        ("/ps/list", "a,b,c", ParameterType::StringList),
        ("/ps/versioned", "first", ParameterType::String),
        ("/ps/versioned", "second", ParameterType::String),
        ("/ps/find/one", "1", ParameterType::String),
        ("/ps/find/two", "2", ParameterType::SecureString),
        ("/ps/find/deep/three", "3", ParameterType::String),
        ("/ps/del/delete", "gone-soon", ParameterType::String),
        ("/ps/refresh", "before", ParameterType::String),
        ("/ps/tagged/a", "tagged-a", ParameterType::String),
        ("/ps/tagged/b", "tagged-b", ParameterType::String),
    ];
    for (name, value, kind) in parameters {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }
    for (name, team) in [("/ps/tagged/a", "ps"), ("/ps/tagged/b", "other")] {
        ssm.add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .tags(
                aws_sdk_ssm::types::Tag::builder()
                    .key("team")
                    .value(team)
                    .build()
                    .unwrap(),
            )
            .tags(
                aws_sdk_ssm::types::Tag::builder()
                    .key("env")
                    .value("prod")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

fn case(id: &'static str, spec: &str) -> Case {
    Case {
        id,
        pre: "",
        es: es(id, spec),
        secrets: &[],
        after: After::Nothing,
        created_by: false,
        shape: false,
    }
}

/// The generators of the generator cases (ESO v0.16.2's fields only: it has no `secretKeys` or
/// `encoding` yet); the ClusterGenerator is cluster-wide, named for this suite. No
/// ECRAuthorizationToken: ESO v0.16.2 takes only the Secrets Manager, SSM and STS endpoints from the
/// environment (its resolver sends ECR to AWS itself), so it cannot reach moto's ECR; kseal's ECR
/// generator is tested in tests/sync/generators.rs.
const GENERATORS: &str = "
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw-default}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw-options}
spec: {length: 40, digits: 5, symbols: 5, symbolCharacters: '-_', noUpper: true, allowRepeat: true}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw-zero}
spec: {length: 0, digits: 2, symbols: 0}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw-too-many}
spec: {length: 8, digits: 5, symbols: 5}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata: {name: pw-no-repeat}
spec: {length: 70, digits: 0, symbols: 0}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: UUID
metadata: {name: id}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: Fake
metadata: {name: static}
spec:
  data: {user: admin, host: db.internal, port: '5432'}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: ClusterGenerator
metadata: {name: kseal-eso-differential-fake}
spec:
  kind: Fake
  generator:
    fakeSpec:
      data: {shared: cluster-wide}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: ClusterGenerator
metadata: {name: kseal-eso-differential-password}
spec:
  kind: Password
  generator:
    passwordSpec: {length: 16, digits: 3, symbols: 0}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: STSSessionToken
metadata: {name: session}
spec:
  region: us-east-1
  auth: {secretRef: {accessKeyIDSecretRef: {name: aws-credentials, key: access-key}, secretAccessKeySecretRef: {name: aws-credentials, key: secret-key}}}
  requestParameters: {sessionDuration: 900}
---
apiVersion: generators.external-secrets.io/v1alpha1
kind: STSSessionToken
metadata: {name: session-jwt}
spec:
  region: us-east-1
  auth: {jwt: {serviceAccountRef: {name: default}}}
";

/// An ExternalSecret `id` without a store whose `dataFrom` is one entry per generator `(kind, name)`
/// (each followed by its extra lines), after `spec` lines.
fn generator_case(id: &'static str, spec: &str, generators: &[(&str, &str, &str)]) -> Case {
    let mut yaml = format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {id}\nspec:\n{spec}  dataFrom:\n"
    );
    for (kind, name, extra) in generators {
        yaml.push_str(&format!(
            "    - sourceRef:\n        generatorRef: {{apiVersion: generators.external-secrets.io/v1alpha1, kind: {kind}, name: {name}}}\n{extra}"
        ));
    }
    let random = generators.iter().any(|(kind, name, _)| {
        matches!(*kind, "Password" | "UUID" | "STSSessionToken") || name.contains("password")
    });
    Case {
        es: yaml,
        shape: random,
        ..case(id, "")
    }
}

/// The remote secrets every case reads, in one moto account; returns the VersionId of the first value
/// of `app/config`.
async fn seed_remote(account: &AwsAccount) -> String {
    let sm = account.secretsmanager_client().await;
    let plain = [
        (
            "db/creds",
            r#"{"username":"admin","password":"s3cr3t","port":5432,"enabled":true,"nested":{"host":"db.internal","tags":["a","b"]},"dotted.key":"literal","nested.host":"flat"}"#,
        ),
        ("plain/token", "just-a-string"),
        ("b64/std", "aGVsbG8gd29ybGQ="),
        ("b64/url", "PDw_Pz4-"),
        (
            "json/b64",
            r#"{"cert":"aGVsbG8=","plain":"not base64!","url":"PDw_Pz4-"}"#,
        ),
        (
            "keys/special",
            r#"{"my.key":"1","with space":"2","a/b":"3","ok_key-1":"4"}"#,
        ),
        ("del/delete", r#"{"k":"v"}"#),
        ("del/scheduled", r#"{"k":"v"}"#),
        ("del/retain", r#"{"k":"v"}"#),
        ("del/merge-a", "a"),
        ("del/merge-b", "b"),
        ("del/partial-a", "a"),
        ("del/partial-b", "b"),
        ("del/find-1", "one"),
        ("refresh/value", "before"),
        ("other/d", "value-d"),
        ("multi/line", "line1\nline2\n"),
    ];
    for (name, value) in plain {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    for (name, team) in [("team/a", "x"), ("team/b", "x"), ("team/c", "y")] {
        sm.create_secret()
            .name(name)
            .secret_string(format!("value-{name}"))
            .tags(Tag::builder().key("team").value(team).build())
            .send()
            .await
            .unwrap();
    }
    sm.create_secret()
        .name("tagged/secret")
        .secret_string("tagged-value")
        .tags(Tag::builder().key("env").value("prod").build())
        .tags(Tag::builder().key("team").value("x").build())
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("bin/keystore")
        .secret_binary(Blob::new(vec![0u8, 159, 255, 1]))
        .send()
        .await
        .unwrap();
    let first = sm
        .create_secret()
        .name("app/config")
        .secret_string(r#"{"level":"debug"}"#)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    sm.put_secret_value()
        .secret_id("app/config")
        .secret_string(r#"{"level":"info"}"#)
        .send()
        .await
        .unwrap();
    first
}

fn cases(first_version: &str) -> Vec<Case> {
    let data = |key: &str, remote: &str| {
        format!("  data:\n    - secretKey: {key}\n      remoteRef: {remote}\n")
    };
    vec![
        case("data-plain", &data("token", "{key: plain/token}")),
        Case {
            created_by: true,
            ..case("owner-created-by-label", &data("token", "{key: plain/token}"))
        },
        case("data-multi-line", &data("text", "{key: multi/line}")),
        case(
            "data-property",
            &data("user", "{key: db/creds, property: username}"),
        ),
        case(
            "data-nested-property",
            &data("host", "{key: db/creds, property: nested.host}"),
        ),
        case(
            "data-array-property",
            &data("tag", "{key: db/creds, property: nested.tags.1}"),
        ),
        case(
            "data-dotted-key",
            &data("v", "{key: db/creds, property: dotted.key}"),
        ),
        case(
            "data-number-property",
            &data("port", "{key: db/creds, property: port}"),
        ),
        case(
            "data-bool-property",
            &data("enabled", "{key: db/creds, property: enabled}"),
        ),
        case(
            "data-object-property",
            &data("nested", "{key: db/creds, property: nested}"),
        ),
        case(
            "data-version-uuid",
            &data(
                "level",
                &format!("{{key: app/config, property: level, version: uuid/{first_version}}}"),
            ),
        ),
        case(
            "data-version-stage",
            &data(
                "level",
                "{key: app/config, property: level, version: AWSPREVIOUS}",
            ),
        ),
        case(
            "data-version-current",
            &data(
                "level",
                "{key: app/config, property: level, version: AWSCURRENT}",
            ),
        ),
        case("data-binary", &data("keystore", "{key: bin/keystore}")),
        case(
            "data-missing-key",
            &data("x", "{key: does/not/exist}"),
        ),
        case(
            "data-missing-property",
            &data("x", "{key: db/creds, property: nope}"),
        ),
        case(
            "data-property-of-plain",
            &data("x", "{key: plain/token, property: field}"),
        ),
        case(
            "extract-json",
            "  dataFrom:\n    - extract: {key: db/creds}\n",
        ),
        case(
            "extract-property",
            "  dataFrom:\n    - extract: {key: db/creds, property: nested}\n",
        ),
        case(
            "extract-plain-string",
            "  dataFrom:\n    - extract: {key: plain/token}\n",
        ),
        case(
            "extract-rewrite-regexp",
            "  dataFrom:\n    - extract: {key: db/creds}\n      rewrite:\n        - regexp: {source: \"^(.*)$\", target: \"db_$1\"}\n        - regexp: {source: \"\\\\.\", target: \"-\"}\n",
        ),
        case(
            "extract-and-data",
            "  data:\n    - secretKey: username\n      remoteRef: {key: plain/token}\n  dataFrom:\n    - extract: {key: db/creds}\n",
        ),
        case(
            "find-name-regexp",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^team/\"}\n",
        ),
        case(
            "find-tags",
            "  dataFrom:\n    - find:\n        tags: {team: x}\n",
        ),
        case(
            "find-path",
            "  dataFrom:\n    - find:\n        path: team/\n        name: {regexp: \".*\"}\n",
        ),
        case(
            "find-rewrite",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^other/\"}\n      rewrite:\n        - regexp: {source: \"other/(.*)\", target: \"renamed-$1\"}\n",
        ),
        case(
            "find-rewrite-leaves-invalid-key",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^other/\"}\n      rewrite:\n        - regexp: {source: \"other_(.*)\", target: \"renamed-$1\"}\n",
        ),
        case(
            "find-nothing",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^nothing-matches/\"}\n",
        ),
        case(
            "decoding-base64",
            &data("v", "{key: b64/std, decodingStrategy: Base64}"),
        ),
        case(
            "decoding-base64url",
            &data("v", "{key: b64/url, decodingStrategy: Base64URL}"),
        ),
        case(
            "decoding-auto-extract",
            "  dataFrom:\n    - extract: {key: json/b64, decodingStrategy: Auto}\n",
        ),
        case(
            "decoding-invalid",
            &data("v", "{key: plain/token, decodingStrategy: Base64}"),
        ),
        case(
            "conversion-default",
            "  dataFrom:\n    - extract: {key: keys/special, conversionStrategy: Default}\n",
        ),
        case(
            "conversion-unicode",
            "  dataFrom:\n    - extract: {key: keys/special, conversionStrategy: Unicode}\n",
        ),
        case(
            "find-conversion-unicode",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^team/a$\"}\n        conversionStrategy: Unicode\n",
        ),
        Case {
            secrets: &["another-name"],
            ..case(
                "target-name",
                &format!(
                    "  target: {{name: another-name}}\n{}",
                    data("token", "{key: plain/token}")
                ),
            )
        },
        case(
            "creation-orphan",
            &format!(
                "  target: {{creationPolicy: Orphan}}\n{}",
                data("token", "{key: plain/token}")
            ),
        ),
        Case {
            pre: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creation-merge\n  labels: {app: web}\n  annotations: {note: kept}\ntype: kubernetes.io/basic-auth\nstringData:\n  username: old\n  keep: me\n",
            ..case(
                "creation-merge",
                &format!(
                    "  target: {{creationPolicy: Merge}}\n{}",
                    data("username", "{key: db/creds, property: username}")
                ),
            )
        },
        case(
            "creation-merge-missing",
            &format!(
                "  target: {{creationPolicy: Merge}}\n{}",
                data("token", "{key: plain/token}")
            ),
        ),
        case(
            "creation-none",
            &format!(
                "  target: {{creationPolicy: None}}\n{}",
                data("token", "{key: plain/token}")
            ),
        ),
        Case {
            pre: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: owner-existing\n  labels: {before: \"yes\"}\nstringData:\n  old: data\n",
            ..case("owner-existing", &data("token", "{key: plain/token}"))
        },
        case(
            "immutable",
            &format!(
                "  target: {{immutable: true}}\n{}",
                data("token", "{key: plain/token}")
            ),
        ),
        Case {
            es: "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: es-metadata\n  labels: {app: web, team: payments}\n  annotations: {owner: platform}\nspec:\n  secretStoreRef: {name: aws, kind: SecretStore}\n  data:\n    - secretKey: token\n      remoteRef: {key: plain/token}\n".to_owned(),
            ..case("es-metadata", "")
        },
        case(
            "template-data",
            "  target:\n    template:\n      engineVersion: v2\n      data:\n        url: \"postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app\"\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n    - {secretKey: password, remoteRef: {key: db/creds, property: password}}\n    - {secretKey: host, remoteRef: {key: db/creds, property: nested.host}}\n",
        ),
        case(
            "template-metadata-type",
            "  target:\n    template:\n      type: kubernetes.io/basic-auth\n      metadata:\n        labels: {app: web, user: \"{{ .username }}\"}\n        annotations: {rotated-by: eso}\n      data:\n        username: \"{{ .username }}\"\n        password: \"{{ .password }}\"\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n    - {secretKey: password, remoteRef: {key: db/creds, property: password}}\n",
        ),
        case(
            "template-tls",
            "  target:\n    template:\n      type: kubernetes.io/tls\n      data:\n        tls.crt: \"{{ .cert | b64dec }}\"\n        tls.key: \"{{ .plain }}\"\n  dataFrom:\n    - extract: {key: json/b64}\n",
        ),
        case(
            "template-merge-policy-merge",
            "  target:\n    template:\n      mergePolicy: Merge\n      data:\n        greeting: \"hello {{ .username | upper }}\"\n  dataFrom:\n    - extract: {key: db/creds}\n",
        ),
        case(
            "template-no-data",
            "  target:\n    template:\n      type: kubernetes.io/dockerconfigjson\n  data:\n    - {secretKey: .dockerconfigjson, remoteRef: {key: json/b64}}\n",
        ),
        case(
            "template-type-rejects-value",
            "  target:\n    template:\n      type: kubernetes.io/dockerconfigjson\n  data:\n    - {secretKey: .dockerconfigjson, remoteRef: {key: plain/token}}\n",
        ),
        case(
            "template-sprig",
            "  target:\n    template:\n      data:\n        b64: \"{{ .password | b64enc }}\"\n        sha: \"{{ .password | sha256sum }}\"\n        json: '{{ dict \"u\" .username \"p\" .password | toJson }}'\n        trimmed: '{{ \"  x  \" | trim }}'\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n    - {secretKey: password, remoteRef: {key: db/creds, property: password}}\n",
        ),
        case(
            "template-missing-key",
            "  target:\n    template:\n      data:\n        v: \"{{ .absent }}\"\n  data:\n    - {secretKey: token, remoteRef: {key: plain/token}}\n",
        ),
        case(
            "template-json-functions",
            "  target:\n    template:\n      data:\n        host: \"{{ (.creds | fromJson).nested.host }}\"\n  data:\n    - {secretKey: creds, remoteRef: {key: db/creds}}\n",
        ),
        Case {
            pre: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tf-values\ndata:\n  config.yaml: |\n    user: {{ .username }}\n    password: {{ .password }}\n",
            ..case(
                "template-from-configmap-values",
                "  target:\n    template:\n      templateFrom:\n        - configMap:\n            name: tf-values\n            items:\n              - {key: config.yaml, templateAs: Values}\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n    - {secretKey: password, remoteRef: {key: db/creds, property: password}}\n",
            )
        },
        Case {
            pre: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tf-kv\ndata:\n  pairs: |\n    {{ .username }}: {{ .password }}\n    static: value\n",
            ..case(
                "template-from-configmap-keys-and-values",
                "  target:\n    template:\n      templateFrom:\n        - configMap:\n            name: tf-kv\n            items:\n              - {key: pairs, templateAs: KeysAndValues}\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n    - {secretKey: password, remoteRef: {key: db/creds, property: password}}\n",
            )
        },
        case(
            "template-from-literal",
            "  target:\n    template:\n      templateFrom:\n        - literal: \"dsn: postgres://{{ .username }}@db\"\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n",
        ),
        case(
            "template-from-target-labels",
            "  target:\n    template:\n      templateFrom:\n        - target: Labels\n          literal: \"user: {{ .username }}\"\n        - target: Annotations\n          literal: \"note: for {{ .username }}\"\n  data:\n    - {secretKey: username, remoteRef: {key: db/creds, property: username}}\n",
        ),
        case(
            "metadata-fetch",
            &data("env", "{key: tagged/secret, property: env, metadataPolicy: Fetch}"),
        ),
        case(
            "metadata-fetch-all-tags",
            &data("tags", "{key: tagged/secret, metadataPolicy: Fetch}"),
        ),
        Case {
            es: es("v1beta1-manifest", &data("token", "{key: plain/token}"))
                .replace("external-secrets.io/v1\n", "external-secrets.io/v1beta1\n"),
            ..case("v1beta1-manifest", "")
        },
        Case {
            after: After::DeleteRemote("del/delete"),
            ..case(
                "deletion-delete",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Delete}\n  dataFrom:\n    - extract: {key: del/delete}\n",
            )
        },
        Case {
            after: After::ScheduleDeletion("del/scheduled"),
            ..case(
                "deletion-delete-scheduled",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Delete}\n  dataFrom:\n    - extract: {key: del/scheduled}\n",
            )
        },
        Case {
            after: After::DeleteRemote("del/retain"),
            ..case(
                "deletion-retain",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Retain}\n  data:\n    - {secretKey: k, remoteRef: {key: del/retain, property: k}}\n",
            )
        },
        Case {
            after: After::DeleteRemote("del/merge-a"),
            ..case(
                "deletion-merge",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Merge}\n  data:\n    - {secretKey: a, remoteRef: {key: del/merge-a}}\n    - {secretKey: b, remoteRef: {key: del/merge-b}}\n",
            )
        },
        Case {
            after: After::DeleteRemote("del/partial-a"),
            ..case(
                "deletion-delete-one-of-two",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Delete}\n  data:\n    - {secretKey: a, remoteRef: {key: del/partial-a}}\n    - {secretKey: b, remoteRef: {key: del/partial-b}}\n",
            )
        },
        Case {
            after: After::DeleteRemote("del/find-1"),
            ..case(
                "deletion-delete-find",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Delete}\n  dataFrom:\n    - find:\n        name: {regexp: \"^del/find-\"}\n",
            )
        },
        Case {
            after: After::PutRemote("refresh/value", "after"),
            ..case(
                "refresh-remote-change",
                "  refreshInterval: 1s\n  data:\n    - {secretKey: v, remoteRef: {key: refresh/value}}\n",
            )
        },
        Case {
            secrets: &["target-renamed", "target-renamed-new"],
            after: After::Reapply(es(
                "target-renamed",
                &format!(
                    "  target: {{name: target-renamed-new}}\n{}",
                    data("token", "{key: plain/token}")
                ),
            )),
            ..case("target-renamed", &data("token", "{key: plain/token}"))
        },
        Case {
            after: After::Reapply(es(
                "template-removed-key",
                "  target:\n    template:\n      data:\n        b: \"{{ .token }}-b\"\n  data:\n    - {secretKey: token, remoteRef: {key: plain/token}}\n",
            )),
            ..case(
                "template-removed-key",
                "  target:\n    template:\n      data:\n        a: \"{{ .token }}-a\"\n        b: \"{{ .token }}-b\"\n  data:\n    - {secretKey: token, remoteRef: {key: plain/token}}\n",
            )
        },
        // Parameter Store (`service: ParameterStore`), as ESO's docs write its manifests.
        ps_case("ps-data-plain", &data("value", "{key: /ps/plain}")),
        ps_case("ps-securestring", &data("password", "{key: /ps/secure}")),
        ps_case("ps-stringlist", &data("hosts", "{key: /ps/list}")),
        ps_case(
            "ps-properties",
            "  data:\n    - {secretKey: user, remoteRef: {key: /ps/json, property: username}}\n    - {secretKey: port, remoteRef: {key: /ps/json, property: port}}\n    - {secretKey: host, remoteRef: {key: /ps/json, property: nested.host}}\n    - {secretKey: dotted, remoteRef: {key: /ps/json, property: dotted.key}}\n",
        ),
        ps_case(
            "ps-versions",
            "  data:\n    - {secretKey: first, remoteRef: {key: /ps/versioned, version: \"1\"}}\n    - {secretKey: current, remoteRef: {key: /ps/versioned}}\n",
        ),
        ps_case(
            "ps-extract",
            "  dataFrom:\n    - extract: {key: /ps/json}\n",
        ),
        ps_case(
            "ps-find-path",
            "  dataFrom:\n    - find:\n        path: /ps/find\n        name: {regexp: \".*\"}\n",
        ),
        ps_case(
            "ps-find-name-rewrite",
            "  dataFrom:\n    - find:\n        name: {regexp: \"^/ps/find/[a-z]+$\"}\n      rewrite:\n        - regexp: {source: \"^/ps/find/(.*)$\", target: \"found-$1\"}\n",
        ),
        ps_case(
            "ps-find-tags",
            "  dataFrom:\n    - find:\n        tags: {team: ps}\n",
        ),
        ps_case(
            "ps-metadata-fetch",
            "  data:\n    - {secretKey: tags, remoteRef: {key: /ps/tagged/a, metadataPolicy: Fetch}}\n    - {secretKey: team, remoteRef: {key: /ps/tagged/a, metadataPolicy: Fetch, property: team}}\n",
        ),
        ps_case(
            "ps-template",
            "  target:\n    template:\n      data:\n        dsn: \"postgres://{{ .user }}@{{ .host }}/app\"\n  data:\n    - {secretKey: user, remoteRef: {key: /ps/json, property: username}}\n    - {secretKey: host, remoteRef: {key: /ps/json, property: nested.host}}\n",
        ),
        ps_case("ps-missing", &data("value", "{key: /ps/does-not-exist}")),
        Case {
            after: After::DeleteParameter("/ps/del/delete"),
            ..ps_case(
                "ps-deletion-delete",
                "  refreshInterval: 1s\n  target: {deletionPolicy: Delete}\n  data:\n    - {secretKey: v, remoteRef: {key: /ps/del/delete}}\n",
            )
        },
        generator_case("gen-password-default", "", &[("Password", "pw-default", "")]),
        generator_case("gen-password-options", "", &[("Password", "pw-options", "")]),
        generator_case("gen-password-length-zero", "", &[("Password", "pw-zero", "")]),
        generator_case("gen-password-too-many", "", &[("Password", "pw-too-many", "")]),
        generator_case("gen-password-no-repeat", "", &[("Password", "pw-no-repeat", "")]),
        generator_case("gen-uuid", "", &[("UUID", "id", "")]),
        generator_case("gen-fake", "", &[("Fake", "static", "")]),
        generator_case(
            "gen-rewrite",
            "",
            &[
                (
                    "Fake",
                    "static",
                    "      rewrite:\n        - regexp: {source: \"^(.*)$\", target: \"db_$1\"}\n",
                ),
                (
                    "Password",
                    "pw-default",
                    "      rewrite:\n        - regexp: {source: password, target: db_password}\n",
                ),
            ],
        ),
        generator_case(
            "gen-cluster",
            "",
            &[
                ("ClusterGenerator", "kseal-eso-differential-fake", ""),
                ("ClusterGenerator", "kseal-eso-differential-password", ""),
            ],
        ),
        generator_case("gen-missing", "", &[("Password", "does-not-exist", "")]),
        generator_case("gen-sts-session", "", &[("STSSessionToken", "session", "")]),
        generator_case("gen-sts-jwt", "", &[("STSSessionToken", "session-jwt", "")]),
        generator_case(
            "gen-template",
            "  target:\n    template:\n      data:\n        dsn: \"postgres://{{ .user }}@{{ .host }}:{{ .port }}/app\"\n",
            &[("Fake", "static", "")],
        ),
        Case {
            es: es(
                "gen-with-store",
                "  data:\n    - {secretKey: token, remoteRef: {key: plain/token}}\n  dataFrom:\n    - sourceRef:\n        generatorRef: {apiVersion: generators.external-secrets.io/v1alpha1, kind: Fake, name: static}\n",
            ),
            ..case("gen-with-store", "")
        },
        Case {
            after: After::PutParameter("/ps/refresh", "after"),
            ..ps_case(
                "ps-refresh-change",
                "  refreshInterval: 1s\n  data:\n    - {secretKey: v, remoteRef: {key: /ps/refresh}}\n",
            )
        },
    ]
    .into_iter()
    .chain(kubernetes_cases())
    .collect()
}

/// Cases of the `kubernetes` store `k8s` over the Secrets [`KUBERNETES_REMOTE`] seeds: what users
/// copy from another namespace (one key, a JSON path, a dotted key, the whole Secret, its labels),
/// with ESO's edge cases (binary values, numbers, missing keys and properties).
fn kubernetes_cases() -> Vec<Case> {
    let k8s = |id: &'static str, spec: &str| Case {
        es: es_of("k8s", id, spec),
        ..case(id, spec)
    };
    let one = |id: &'static str, remote_ref: &str| {
        k8s(
            id,
            &format!("  data:\n    - {{secretKey: v, remoteRef: {remote_ref}}}\n"),
        )
    };
    vec![
        one("k8s-key", "{key: db, property: user}"),
        one("k8s-json-path", "{key: db, property: config.host}"),
        one("k8s-json-number", "{key: db, property: config.port}"),
        one("k8s-json-object", "{key: db, property: config.nested}"),
        one("k8s-dotted-key", "{key: db, property: file.txt}"),
        one("k8s-whole", "{key: db}"),
        one("k8s-binary-key", "{key: binary, property: blob}"),
        one("k8s-binary-whole", "{key: binary}"),
        one("k8s-escapes-whole", "{key: escapes}"),
        one(
            "k8s-base64",
            "{key: db, property: encoded, decodingStrategy: Base64}",
        ),
        one("k8s-metadata", "{key: db, metadataPolicy: Fetch}"),
        one(
            "k8s-metadata-labels",
            "{key: db, property: labels, metadataPolicy: Fetch}",
        ),
        one(
            "k8s-metadata-label",
            "{key: db, property: labels.team, metadataPolicy: Fetch}",
        ),
        one(
            "k8s-metadata-annotation-path",
            "{key: db, property: annotations.config.owner, metadataPolicy: Fetch}",
        ),
        one("k8s-metadata-none", "{key: plain, metadataPolicy: Fetch}"),
        one("k8s-missing-secret", "{key: nope}"),
        one("k8s-missing-property", "{key: db, property: nope}"),
        one("k8s-missing-path", "{key: db, property: config.nope}"),
        k8s("k8s-extract", "  dataFrom:\n    - extract: {key: db}\n"),
        k8s(
            "k8s-extract-metadata",
            "  dataFrom:\n    - extract: {key: db, metadataPolicy: Fetch}\n",
        ),
        k8s(
            "k8s-find-name",
            "  dataFrom:\n    - find: {name: {regexp: \"^(db|plain)$\"}}\n",
        ),
        k8s(
            "k8s-find-tags",
            "  dataFrom:\n    - find: {tags: {team: a}}\n",
        ),
        k8s(
            "k8s-template",
            "  target:\n    template:\n      data:\n        dsn: \"postgres://{{ .user }}@{{ .host }}/app\"\n  data:\n    - {secretKey: user, remoteRef: {key: db, property: user}}\n    - {secretKey: host, remoteRef: {key: db, property: config.host}}\n",
        ),
    ]
}

/// The Secrets of the namespace the `kubernetes` store `k8s` reads, alike on both sides.
const KUBERNETES_REMOTE: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: db
  labels: {team: a, tier: data}
  annotations: {config: '{"owner":"ops","since":2021}'}
stringData:
  user: admin
  config: '{"host":"db.internal","port":5432.50,"nested":{"a":[1,2]}}'
  file.txt: dotted
  encoded: c2VjcmV0
---
apiVersion: v1
kind: Secret
metadata: {name: plain, labels: {team: b}}
stringData: {token: t0ken}
---
apiVersion: v1
kind: Secret
metadata: {name: binary}
data: {blob: 3q2+7wABAgP/, text: aGVsbG8=}
---
apiVersion: v1
kind: Secret
metadata: {name: escapes, labels: {team: a}}
stringData: {html: "<a href='x'>&</a>", quote: "say \"hi\"\n\ttab", sep: "line\u2028end"}
"#;

/// Seeds the remote namespace of `env` for the side in `namespace`: its Secrets, a service account
/// `k8s-reader` in `namespace` that may read them, and the store `k8s` (its token, the API server's
/// address and CA from `env`'s kubeconfig).
async fn seed_kubernetes(env: &TestEnv, client: &Client, namespace: &str) -> String {
    use base64::Engine as _;
    let remote = env.namespace().await;
    kseal_testenv::apply_yaml(client, &remote, MANAGER, KUBERNETES_REMOTE).await;
    kseal_testenv::apply_yaml(
        client,
        &remote,
        MANAGER,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: read-secrets}}\n\
             rules: [{{apiGroups: [''], resources: [secrets], verbs: [get, list]}}]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: read-secrets}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}}\n\
             subjects: [{{kind: ServiceAccount, name: k8s-reader, namespace: {namespace}}}]\n"
        ),
    )
    .await;
    let (url, ca) = env.api_server();
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: k8s-reader}}\n---\n\
         apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: k8s}}\nspec:\n  provider:\n    kubernetes:\n      \
         remoteNamespace: {remote}\n      server: {{url: '{}', caBundle: {}}}\n      auth: {{serviceAccount: {{name: k8s-reader}}}}\n",
        url,
        base64::engine::general_purpose::STANDARD.encode(ca)
    )
}

#[tokio::test]
async fn kseal_syncs_as_the_external_secrets_operator_does() {
    // ESO in a private environment with ESO's own CRDs, kseal in the shared one with kseal's.
    let eso_env = TestEnv::isolated().await;
    let crds: Vec<_> = ESO_CRDS.iter().map(|file| eso_crd(file)).collect();
    eso_env.install_crds(&crds).await;
    let eso_side = Side::new(&eso_env).await;
    let kseal_env = TestEnv::get().await;
    kseal_env.install_crds(&kseal_controller::crd::crds()).await;
    let kseal_side = Side::new(kseal_env).await;
    let _eso = Eso::start(
        &eso_env,
        &eso_side.namespace,
        &format!("eso-{}", eso_side.namespace),
        4,
    );
    let kseal = start_kseal(
        kseal_side.client.clone(),
        &kseal_side.namespace,
        kseal_env.moto_endpoint(),
    );
    for side in [&eso_side, &kseal_side] {
        wait_store_ready(&side.client, &side.namespace, "aws").await;
        wait_store_ready(&side.client, &side.namespace, "ps").await;
        wait_store_ready(&side.client, &side.namespace, "k8s").await;
    }

    // The same cases on both sides; only `uuid/<VersionId>` differs, each moto has its own ids.
    let eso_cases = cases(&eso_side.first_version);
    let kseal_cases = cases(&kseal_side.first_version);
    for (side, cases) in [(&eso_side, &eso_cases), (&kseal_side, &kseal_cases)] {
        for case in cases {
            if !case.pre.is_empty() {
                side.apply(case.pre).await;
            }
            side.apply(&case.es).await;
        }
    }
    let first = futures::future::join_all(eso_cases.iter().zip(&kseal_cases).map(
        |(eso_case, kseal_case)| async {
            futures::join!(
                settled(&eso_side.client, &eso_side.namespace, eso_case, None),
                settled(&kseal_side.client, &kseal_side.namespace, kseal_case, None)
            )
        },
    ))
    .await;

    // Second steps, on each side.
    for (side, cases) in [(&eso_side, &eso_cases), (&kseal_side, &kseal_cases)] {
        for case in cases {
            side.step(&case.after).await;
        }
    }
    let second = futures::future::join_all(eso_cases.iter().zip(&kseal_cases).zip(&first).map(
        |((eso_case, kseal_case), (eso, ours))| async {
            if matches!(eso_case.after, After::Nothing) {
                return None;
            }
            Some(futures::join!(
                settled(&eso_side.client, &eso_side.namespace, eso_case, Some(eso)),
                settled(
                    &kseal_side.client,
                    &kseal_side.namespace,
                    kseal_case,
                    Some(ours)
                )
            ))
        },
    ))
    .await;
    let cases = kseal_cases;
    kseal.abort();

    let mut differences = BTreeMap::new();
    for ((case, first), second) in cases.iter().zip(first).zip(second) {
        let mut eso = vec![first.0];
        let mut ours = vec![first.1];
        if let Some((e, o)) = second {
            eso.push(e);
            ours.push(o);
        }
        if eso != ours {
            differences.insert(case.id.to_owned(), (eso, ours));
        } else if std::env::var_os("KSEAL_ESO_SHOW").is_some() {
            println!("AGREE {}: {ours:?}", case.id);
        }
    }

    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id).collect();
    kseal_e2e::differential_verdict(
        "tests/eso/known-differences.yaml",
        &format!("ESO {}", eso_version()),
        "ESO",
        &ids,
        &differences,
        std::env::var_os("KSEAL_ESO_SHOW").is_some(),
    );
}

/// One side of the differential: a namespace, its client, and a moto account with the remote secrets
/// and the store `aws` reading them.
struct Side {
    client: Client,
    namespace: String,
    account: AwsAccount,
    first_version: String,
}

impl Side {
    async fn new(env: &TestEnv) -> Side {
        let client = env.client().await;
        let namespace = env.namespace().await;
        let account = env.aws_account();
        let first_version = seed_remote(&account).await;
        seed_parameters(&account).await;
        let side = Side {
            client,
            namespace,
            account,
            first_version,
        };
        side.apply(&side.account.static_key_store("aws")).await;
        side.apply(&parameter_store(&side.account)).await;
        side.apply(GENERATORS).await;
        let store = seed_kubernetes(env, &side.client, &side.namespace).await;
        side.apply(&store).await;
        side
    }

    async fn apply(&self, yaml: &str) {
        kseal_testenv::apply_yaml(&self.client, &self.namespace, MANAGER, yaml).await;
    }

    async fn step(&self, after: &After) {
        let sm = self.account.secretsmanager_client().await;
        match after {
            After::Nothing => {}
            After::DeleteRemote(name) => {
                sm.delete_secret()
                    .secret_id(*name)
                    .force_delete_without_recovery(true)
                    .send()
                    .await
                    .unwrap();
            }
            After::ScheduleDeletion(name) => {
                sm.delete_secret().secret_id(*name).send().await.unwrap();
            }
            After::PutRemote(name, value) => {
                sm.put_secret_value()
                    .secret_id(*name)
                    .secret_string(*value)
                    .send()
                    .await
                    .unwrap();
            }
            After::Reapply(yaml) => self.apply(yaml).await,
            After::DeleteParameter(name) => {
                let ssm = self.account.ssm_client().await;
                ssm.delete_parameter().name(*name).send().await.unwrap();
            }
            After::PutParameter(name, value) => {
                let ssm = self.account.ssm_client().await;
                ssm.put_parameter()
                    .name(*name)
                    .value(*value)
                    .r#type(aws_sdk_ssm::types::ParameterType::String)
                    .overwrite(true)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// What a controller left for a case: the `Ready` status and reason, and the Secrets (normalized).
#[derive(Debug, PartialEq, Clone)]
struct Outcome {
    ready: Option<(String, String)>,
    secrets: BTreeMap<String, Option<SecretView>>,
}

/// What the comparison reads of a Secret.
#[derive(Debug, PartialEq, Clone)]
struct SecretView {
    /// Values as text; bytes that are not UTF-8 as `hex:…`.
    data: BTreeMap<String, String>,
    secret_type: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// (kind, name, controller, blockOwnerDeletion) of each owner reference.
    owners: Vec<(String, String, Option<bool>, Option<bool>)>,
    immutable: Option<bool>,
}

/// The outcome of `case` in `namespace` once it has a `Ready` condition and stayed the same for
/// [`SETTLE`]. With `before`, first waits (up to [`STEP_TIMEOUT`]) for an outcome other than `before`.
async fn settled(
    client: &Client,
    namespace: &str,
    case: &Case,
    before: Option<&Outcome>,
) -> Outcome {
    let start = Instant::now();
    if let Some(before) = before {
        while start.elapsed() < STEP_TIMEOUT {
            if outcome(client, namespace, case).await != *before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    } else {
        eventually(&format!("Ready on {namespace}/{}", case.id), || async {
            outcome(client, namespace, case).await.ready
        })
        .await;
    }
    let mut last = outcome(client, namespace, case).await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = outcome(client, namespace, case).await;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= SETTLE {
            return last;
        }
        assert!(
            start.elapsed() < STEP_TIMEOUT * 2,
            "{namespace}/{} never settled: {last:?}",
            case.id
        );
    }
}

async fn outcome(client: &Client, namespace: &str, case: &Case) -> Outcome {
    let ready = ready_condition(client, namespace, case.id).await;
    let names: Vec<&str> = if case.secrets.is_empty() {
        vec![case.id]
    } else {
        case.secrets.to_vec()
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut views = BTreeMap::new();
    for name in names {
        let secret = secrets.get_opt(name).await.unwrap();
        let view = secret.map(|secret| view(secret, case.created_by));
        let view = view.map(|mut view| {
            if case.shape {
                for value in view.data.values_mut() {
                    *value = shape(value);
                }
            }
            view
        });
        views.insert(name.to_owned(), view);
    }
    Outcome {
        ready,
        secrets: views,
    }
}

/// The `Ready` condition's (status, reason) of ExternalSecret `name`.
async fn ready_condition(client: &Client, namespace: &str, name: &str) -> Option<(String, String)> {
    let object = external_secrets(client, namespace)
        .get_opt(name)
        .await
        .unwrap()?;
    let conditions = object.data["status"]["conditions"].as_array()?.clone();
    conditions.iter().find(|c| c["type"] == "Ready").map(|c| {
        (
            c["status"].as_str().unwrap_or_default().to_owned(),
            c["reason"].as_str().unwrap_or_default().to_owned(),
        )
    })
}

fn view(secret: Secret, created_by: bool) -> SecretView {
    let mut labels = secret.metadata.labels.unwrap_or_default();
    if labels.remove(CREATED_BY).is_some() && created_by {
        labels.insert(CREATED_BY.to_owned(), "<hash of namespace/name>".to_owned());
    }
    let mut annotations = secret.metadata.annotations.unwrap_or_default();
    if let Some(hash) = annotations.get_mut(DATA_HASH) {
        "<hash>".clone_into(hash);
    }
    SecretView {
        data: secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let text = String::from_utf8(v.0.clone()).unwrap_or_else(|_| {
                    let hex: String = v.0.iter().map(|b| format!("{b:02x}")).collect();
                    format!("hex:{hex}")
                });
                (k, text)
            })
            .collect(),
        secret_type: secret.type_,
        labels,
        annotations,
        owners: secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.kind, o.name, o.controller, o.block_owner_deletion))
            .collect(),
        immutable: secret.immutable,
    }
}

/// What a random generated value is made of: a version 4 UUID, or (a password) its length and how many
/// letters, digits and other characters it has, whether it has upper- and lowercase letters, whether a
/// character repeats. (A case's values that are not random, a Fake generator's, are compared by their
/// shape too; `gen-fake` compares them byte for byte.)
fn shape(value: &str) -> String {
    let uuid =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap();
    if uuid.is_match(value) {
        return "<uuid v4>".to_owned();
    }
    let bytes = value.as_bytes();
    let letters = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let distinct = bytes.iter().collect::<BTreeSet<_>>().len() == bytes.len();
    format!(
        "<{} chars: {letters} letters (upper {upper}, lower {lower}), {digits} digits, {} others, distinct {distinct}>",
        bytes.len(),
        bytes.len() - letters - digits
    )
}

/// ExternalSecrets (v1) of `namespace`.
fn external_secrets(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "externalsecrets");
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Waits until SecretStore `name` of `namespace` is `Ready=True` (whoever serves it).
async fn wait_store_ready(client: &Client, namespace: &str, name: &str) {
    let gvk = GroupVersionKind::gvk("external-secrets.io", "v1", "SecretStore");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "secretstores");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    eventually(&format!("SecretStore {namespace}/{name} Ready"), || async {
        let store = api.get_opt(name).await.ok()??;
        store.data["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    })
    .await;
}

/// kseal's sync in-process for `namespace`, with AWS at `endpoint`; its metrics registry.
fn start_kseal(client: Client, namespace: &str, endpoint: &str) -> KsealSync {
    let config = kseal_externalsecrets::Config {
        watch_namespace: Some(namespace.to_owned()),
        controller_class: None,
        aws_endpoint_url: Some(endpoint.to_owned()),
        allow_namespaced_default_credentials: false,
        sealing_keys: kseal_externalsecrets::protect::KeyLocation {
            namespace: Some(namespace.to_owned()),
            prefix: Some(kseal_api::names::KEY_SECRET_PREFIX.to_owned()),
        },
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = kseal_externalsecrets::SyncMetrics::register(&mut registry).with_eso(
        kseal_externalsecrets::eso_metrics::EsoMetrics::register(&mut registry),
    );
    let task = tokio::spawn(kseal_externalsecrets::run(
        client,
        config,
        metrics,
        futures::future::pending::<()>(),
    ));
    KsealSync { task, registry }
}

/// kseal's sync, running until aborted.
struct KsealSync {
    task: tokio::task::JoinHandle<()>,
    registry: prometheus_client::registry::Registry,
}

impl KsealSync {
    fn abort(&self) {
        self.task.abort();
    }

    /// The sync's metrics as `/metrics` renders them.
    fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text
    }
}

impl Drop for KsealSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}
