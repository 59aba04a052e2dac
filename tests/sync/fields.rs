//! ESO v1 fields kseal implements beyond the first version, each against moto: `rewrite.transform` and
//! `rewrite.merge`, `sourceRef.storeRef`, `nullBytePolicy`, `creationPolicy: CreateOrMerge`,
//! `templateFrom[].target` in any case with `valuesDecodingStrategy`, template `finalizers`, and a
//! store `refreshInterval` written as a Go duration.

use aws_sdk_secretsmanager::primitives::Blob;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

use crate::{World, text_data};

#[tokio::test]
async fn rewrite_transform_and_merge_shape_the_keys() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world
        .put_remote("app/db", r#"{"db-user":"app","db-pass":"s3cr3t"}"#)
        .await;
    world
        .put_remote(
            "app/defaults",
            r#"{"host":"db.local","port":5432,"tls":true}"#,
        )
        .await;
    world
        .put_remote(
            "app/overrides",
            r#"{"host":"db.prod","opts":{"b":"<2>","a":1}}"#,
        )
        .await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: transformed}
spec:
  secretStoreRef: {name: aws}
  dataFrom:
    - extract: {key: app/db}
      rewrite:
        - transform: {template: "{{ .value | upper | replace \"-\" \"_\" }}"}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: merged}
spec:
  secretStoreRef: {name: aws}
  dataFrom:
    - find: {path: app/, name: {regexp: "defaults|overrides"}}
      rewrite:
        - merge: {conflictPolicy: Ignore, priority: [app/overrides]}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: merged-json}
spec:
  secretStoreRef: {name: aws}
  dataFrom:
    - find: {path: app/, name: {regexp: "defaults|overrides"}}
      rewrite:
        - regexp: {source: "^app/", target: ""}
        - merge: {strategy: JSON, into: config, conflictPolicy: Ignore, priority: [defaults]}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: conflicting}
spec:
  secretStoreRef: {name: aws}
  dataFrom:
    - find: {path: app/, name: {regexp: "defaults|overrides"}}
      rewrite:
        - merge: {}
"#,
        )
        .await;
    let transformed = world.wait_secret("transformed", |_| true).await;
    assert_eq!(
        text_data(&transformed),
        [("DB_PASS", "s3cr3t"), ("DB_USER", "app")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );
    let merged = text_data(&world.wait_secret("merged", |_| true).await);
    assert_eq!(merged["host"], "db.prod", "the priority key is merged last");
    assert_eq!(merged["port"], "5432");
    assert_eq!(merged["tls"], "true");
    assert_eq!(
        merged["opts"], r#"{"a":1,"b":"\u003c2\u003e"}"#,
        "json.Marshal"
    );
    assert!(
        !merged.contains_key("app_defaults"),
        "Extract keeps only members"
    );
    let merged_json = text_data(&world.wait_secret("merged-json", |_| true).await);
    assert_eq!(
        merged_json["config"],
        r#"{"host":"db.local","opts":{"a":1,"b":"<2>"},"port":5432,"tls":true}"#
    );
    assert!(merged_json.contains_key("defaults") && merged_json.contains_key("overrides"));
    let ready = world.wait_ready("conflicting", "SecretSyncedError").await;
    let message = ready.message.unwrap_or_default();
    assert!(
        message.contains("dataFrom[0].rewrite[0] (merge)") && message.contains("conflictPolicy"),
        "{message}"
    );
    assert!(!message.contains("db.local"), "{message}");
}

#[tokio::test]
async fn an_entry_reads_from_the_store_its_source_ref_names() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("app/token", "from-aws").await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: fake}
spec:
  provider:
    fake:
      data:
        - {key: app/token, value: from-fake}
        - {key: app/map, value: '{"m":"1"}'}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: sourced}
spec:
  secretStoreRef: {name: aws}
  data:
    - secretKey: aws
      remoteRef: {key: app/token}
    - secretKey: fake
      remoteRef: {key: app/token}
      sourceRef: {storeRef: {name: fake, kind: SecretStore}}
  dataFrom:
    - extract: {key: app/map}
      sourceRef: {storeRef: {name: fake}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: no-default-store}
spec:
  data:
    - secretKey: fake
      remoteRef: {key: app/token}
      sourceRef: {storeRef: {name: fake}}
"#,
        )
        .await;
    let data = text_data(&world.wait_secret("sourced", |_| true).await);
    assert_eq!(data["aws"], "from-aws");
    assert_eq!(data["fake"], "from-fake");
    assert_eq!(data["m"], "1");
    let data = text_data(&world.wait_secret("no-default-store", |_| true).await);
    assert_eq!(data["fake"], "from-fake");
}

#[tokio::test]
async fn null_byte_policy_fail_refuses_binary_values() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    let client = world.account.secretsmanager_client().await;
    client
        .create_secret()
        .name("app/blob")
        .secret_binary(Blob::new(vec![b'a', 0, b'b']))
        .send()
        .await
        .unwrap();
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: strict}
spec:
  secretStoreRef: {name: aws}
  data:
    - secretKey: blob
      remoteRef: {key: app/blob, nullBytePolicy: Fail}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: lenient}
spec:
  secretStoreRef: {name: aws}
  data:
    - secretKey: blob
      remoteRef: {key: app/blob, nullBytePolicy: Ignore}
"#,
        )
        .await;
    let ready = world.wait_ready("strict", "SecretSyncedError").await;
    let message = ready.message.unwrap_or_default();
    assert!(
        message.contains("spec.data[0]") && message.contains("nullBytePolicy Fail"),
        "{message}"
    );
    assert!(world.secret("strict").await.is_none());
    let lenient = world.wait_secret("lenient", |_| true).await;
    assert_eq!(lenient.data.unwrap()["blob"].0, vec![b'a', 0, b'b']);
}

#[tokio::test]
async fn create_or_merge_creates_then_merges_and_recreates() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("app/token", "t0ken").await;
    let external_secret = |force: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: com, annotations: {{force-sync: "{force}"}}}}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: aws}}
  target: {{name: shared, creationPolicy: CreateOrMerge}}
  data:
    - secretKey: token
      remoteRef: {{key: app/token}}
"#
        )
    };
    world.apply(&external_secret("0")).await;
    let created = world.wait_secret("shared", |_| true).await;
    assert_eq!(text_data(&created)["token"], "t0ken");
    assert!(
        created
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "no owner, as Orphan"
    );
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    // Another writer's key stays; ours is merged in.
    world
        .secrets()
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"stringData": {"other": "kept"}})),
        )
        .await
        .unwrap();
    world.put_remote("app/token", "t0ken-2").await;
    world.apply(&external_secret("1")).await;
    let merged = world
        .wait_secret("shared", |s| {
            text_data(s).get("token").map(String::as_str) == Some("t0ken-2")
        })
        .await;
    assert_eq!(text_data(&merged)["other"], "kept");
    // A deleted target is created again while the ExternalSecret exists.
    let uid = merged.metadata.uid.clone();
    world
        .secrets()
        .delete("shared", &DeleteParams::default())
        .await
        .unwrap();
    let again = world.wait_secret("shared", |s| s.metadata.uid != uid).await;
    assert_eq!(text_data(&again)["token"], "t0ken-2");
}

#[tokio::test]
async fn template_from_targets_in_any_case_decode_and_finalizers_apply() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("app/cert", "aGVsbG8=").await;
    let configs: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    configs
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "tpl"},
                "data": {"labels.yaml": "team: payments", "raw": "{{ .cert }}"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: templated}
spec:
  secretStoreRef: {name: aws}
  target:
    template:
      metadata:
        finalizers: [example.com/keep]
      templateFrom:
        - target: labels
          configMap: {name: tpl, items: [{key: labels.yaml, templateAs: KeysAndValues}]}
        - target: DATA
          valuesDecodingStrategy: Base64
          configMap: {name: tpl, items: [{key: raw}]}
  data:
    - secretKey: cert
      remoteRef: {key: app/cert}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: bad-target}
spec:
  secretStoreRef: {name: aws}
  target:
    template:
      templateFrom:
        - target: metadata.ownerReferences
          literal: "a: b"
  data:
    - secretKey: cert
      remoteRef: {key: app/cert}
"#,
        )
        .await;
    let secret = world.wait_secret("templated", |_| true).await;
    assert_eq!(
        text_data(&secret)["raw"],
        "hello",
        "decoded after rendering"
    );
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()["team"],
        "payments",
        "target labels, lower case"
    );
    assert_eq!(
        secret.metadata.finalizers.clone().unwrap_or_default(),
        ["example.com/keep"]
    );
    let ready = world.wait_ready("bad-target", "SecretSyncedError").await;
    assert!(
        ready
            .message
            .unwrap_or_default()
            .contains("templateFrom[0].target \"metadata.ownerReferences\" is not allowed"),
    );
    // The finalizer is the user's: let the namespace go.
    world
        .secrets()
        .patch(
            "templated",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_store_refresh_interval_may_be_a_go_duration() {
    let world = World::new().await;
    let store = world.aws_store("aws").replace(
        "spec:\n  provider:",
        "spec:\n  refreshInterval: 5m\n  provider:",
    );
    assert!(store.contains("refreshInterval: 5m"), "{store}");
    world.apply(&store).await;
    let (status, _) = crate::stores::store_ready(&world, "aws", "Valid").await;
    assert_eq!(status, "True");
}
