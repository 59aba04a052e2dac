//! The sync against AWS Systems Manager Parameter Store (moto): values, versions, SecureString,
//! JSON properties, `dataFrom.extract`, tags (`metadataPolicy: Fetch`), `find` by path, name and
//! tags, the store's prefix, a parameter that is gone, and the calls it takes (GetParameters batches
//! of 10 names, counted at moto), also under a policy that grants GetParameter alone.

use aws_sdk_ssm::types::{ParameterType, Tag};

use crate::{World, text_data};

/// A SecretStore `name` reading this test's moto account's Parameter Store, with `extra` lines under
/// `aws:` (e.g. a prefix).
fn parameter_store(world: &World, name: &str, extra: &str) -> String {
    let store = world.aws_store(name).replace(
        "service: SecretsManager\n",
        &format!("service: ParameterStore\n{extra}"),
    );
    assert!(store.contains("service: ParameterStore"), "{store}");
    store
}

/// Creates or overwrites parameter `name`.
async fn put(world: &World, name: &str, value: &str, kind: ParameterType) {
    world
        .account
        .ssm_client()
        .await
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .expect("put_parameter");
}

#[tokio::test]
async fn parameters_sync_with_versions_properties_tags_and_find() {
    let world = World::new().await;
    world.apply(&parameter_store(&world, "ps", "")).await;
    put(
        &world,
        "/app/db",
        r#"{"user":"admin","pass":"pw"}"#,
        ParameterType::String,
    )
    .await;
    put(
        &world,
        "/app/db",
        r#"{"user":"root","pass":"pw2","port":5432}"#,
        ParameterType::String,
    )
    .await;
    put(&world, "/app/token", "t0ken", ParameterType::SecureString).await;
    put(&world, "/app/hosts", "a,b", ParameterType::StringList).await;
    put(&world, "/other/flag", "on", ParameterType::String).await;
    let ssm = world.account.ssm_client().await;
    for (name, team) in [("/app/token", "web"), ("/other/flag", "web")] {
        ssm.add_tags_to_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .tags(Tag::builder().key("team").value(team).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: app
spec:
  secretStoreRef: {name: ps}
  data:
    - {secretKey: user, remoteRef: {key: /app/db, property: user}}
    - {secretKey: first-user, remoteRef: {key: /app/db, property: user, version: "1"}}
    - {secretKey: token, remoteRef: {key: /app/token}}
    - {secretKey: hosts, remoteRef: {key: /app/hosts}}
    - {secretKey: token-tags, remoteRef: {key: /app/token, metadataPolicy: Fetch}}
  dataFrom:
    - extract: {key: /app/db}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: found
spec:
  secretStoreRef: {name: ps}
  dataFrom:
    - find:
        path: /app
        name: {regexp: "token|hosts"}
    - find:
        tags: {team: web}
      rewrite:
        - regexp: {source: "^/(.*)/(.*)$", target: "tagged-$2"}
"#,
        )
        .await;
    let secret = world.wait_secret("app", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["user"], "root", "the current version by default");
    assert_eq!(data["first-user"], "admin", "version selects name:version");
    assert_eq!(data["token"], "t0ken", "SecureString decrypted");
    assert_eq!(data["hosts"], "a,b", "StringList as AWS stores it");
    assert_eq!(data["token-tags"], r#"{"team":"web"}"#);
    assert_eq!(data["pass"], "pw2", "extract: strings unquoted");
    assert_eq!(data["port"], "5432", "extract: other JSON as it is");
    world.wait_ready("app", "SecretSynced").await;

    let found = text_data(&world.wait_secret("found", |_| true).await);
    let keys: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["_app_hosts", "_app_token", "tagged-flag", "tagged-token"],
        "find by path and name ('/' becomes '_'), and by tags"
    );
    assert_eq!(found["_app_token"], "t0ken");
    assert_eq!(found["tagged-flag"], "on");

    // Current values went out in GetParameters batches; only the version read is one by one.
    let calls = world.account.call_counts().await;
    assert_eq!(
        calls.get("GetParameter").copied().unwrap_or(0),
        1,
        "{calls:?}"
    );
    assert!(
        calls.get("GetParameters").copied().unwrap_or(0) >= 1,
        "{calls:?}"
    );
    let eso = world.metrics_text();
    assert!(
        eso.contains(
            r#"externalsecret_provider_api_calls_count{provider="AWS/ParameterStore",call="ListTagsForResource",status="success"}"#
        ),
        "ESO's call family names the Parameter Store calls:\n{eso}"
    );
}

#[tokio::test]
async fn the_prefix_applies_to_keys_and_a_missing_parameter_follows_the_deletion_policy() {
    let world = World::new().await;
    world
        .apply(&parameter_store(&world, "ps", "      prefix: /team/\n"))
        .await;
    put(&world, "/team/api-key", "k1", ParameterType::SecureString).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: retained
spec:
  refreshInterval: 1s
  secretStoreRef: {name: ps}
  data:
    - {secretKey: key, remoteRef: {key: api-key}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: deleted
spec:
  refreshInterval: 1s
  secretStoreRef: {name: ps}
  target: {deletionPolicy: Delete}
  data:
    - {secretKey: key, remoteRef: {key: api-key}}
"#,
        )
        .await;
    for name in ["retained", "deleted"] {
        let secret = world.wait_secret(name, |_| true).await;
        assert_eq!(text_data(&secret)["key"], "k1", "{name}: prefix + key");
    }
    world
        .account
        .ssm_client()
        .await
        .delete_parameter()
        .name("/team/api-key")
        .send()
        .await
        .unwrap();
    // Retain: an error that names the parameter, and the Secret as it was.
    let condition = world.wait_ready("retained", "SecretSyncedError").await;
    let message = condition.message.unwrap_or_default();
    assert!(message.contains("api-key"), "{message}");
    assert!(
        !message.contains("k1"),
        "no value in the message: {message}"
    );
    assert_eq!(
        text_data(&world.secret("retained").await.unwrap())["key"],
        "k1"
    );
    // Delete: the Secret goes.
    kseal_testenv::eventually("the Secret of deletionPolicy Delete deleted", || async {
        world.secret("deleted").await.is_none().then_some(())
    })
    .await;
}

/// 30 ExternalSecrets over 25 parameters, each read by 1 or 2 of them: the first sync reads each
/// parameter once, in GetParameters calls of up to 10 names (ESO: one GetParameter per entry).
#[tokio::test]
async fn many_external_secrets_read_each_parameter_once_in_batches_of_ten() {
    let mut world = World::without_sync().await;
    world.apply(&parameter_store(&world, "ps", "")).await;
    for i in 0..25 {
        put(
            &world,
            &format!("/bulk/p{i}"),
            &format!("v{i}"),
            ParameterType::String,
        )
        .await;
    }
    let mut manifests = String::new();
    for i in 0..30 {
        manifests.push_str(&format!(
            r#"
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: es-{i}
spec:
  secretStoreRef: {{name: ps}}
  data:
    - {{secretKey: a, remoteRef: {{key: /bulk/p{a}}}}}
    - {{secretKey: b, remoteRef: {{key: /bulk/p{b}}}}}
"#,
            a = i % 25,
            b = (i * 7) % 25,
        ));
    }
    world.apply(&manifests).await;
    world.start_sync();
    for i in 0..30 {
        let secret = world.wait_secret(&format!("es-{i}"), |_| true).await;
        assert_eq!(text_data(&secret)["a"], format!("v{}", i % 25));
    }
    let calls = world.account.call_counts().await;
    assert_eq!(
        calls.get("GetParameter").copied().unwrap_or(0),
        0,
        "{calls:?}"
    );
    let batches = calls.get("GetParameters").copied().unwrap_or(0);
    assert!(
        (3..=6).contains(&batches),
        "25 parameters in calls of 10 (a few more when reconciles arrive apart): {calls:?}"
    );
}

/// A policy that grants `ssm:GetParameter` alone (as ESO needs it): GetParameters is denied, and
/// the store's reads go one GetParameter each.
#[tokio::test]
async fn a_policy_without_get_parameters_reads_each_parameter_with_get_parameter() {
    let world = World::isolated().await;
    let reader = world
        .env
        .moto_iam_user(
            "ps-reader",
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                    "Resource": "*",
                }],
            }),
        )
        .await;
    let ssm = reader.ssm_client().await;
    for (name, value) in [("/least/user", "admin"), ("/least/password", "p4ss")] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    // moto enforces the policy: the batch call is denied to this identity.
    let denied = ssm
        .get_parameters()
        .names("/least/user")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ssm::error::ProvideErrorMetadata::code(&denied),
        Some("AccessDeniedException"),
        "{denied:?}"
    );
    let store = reader
        .static_key_store("least")
        .replace("service: SecretsManager\n", "service: ParameterStore\n");
    world.apply(&store).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: app
spec:
  refreshInterval: 1h
  secretStoreRef: {name: least}
  data:
    - {secretKey: user, remoteRef: {key: /least/user}}
    - {secretKey: password, remoteRef: {key: /least/password}}
"#,
        )
        .await;
    let secret = world.wait_secret("app", |s| text_data(s).len() == 2).await;
    assert_eq!(text_data(&secret)["user"], "admin");
    assert_eq!(text_data(&secret)["password"], "p4ss");
    world.wait_ready("app", "SecretSynced").await;
    let calls = reader.call_counts().await;
    // The test's own denied call, and at most one of the sync's before it remembers the denial.
    assert!(
        calls.get("GetParameters").copied().unwrap_or(0) <= 2,
        "{calls:?}"
    );
    assert_eq!(calls.get("GetParameter").copied(), Some(2), "{calls:?}");
}
