//! The sync against AWS Secrets Manager (moto): values, versions, binary secrets, find, force-sync
//! and a provider outage.

use aws_sdk_secretsmanager::primitives::Blob;

use crate::{World, text_data};

#[tokio::test]
async fn values_versions_and_binary_secrets_sync() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    let first = world
        .put_remote(
            "svc/config",
            r#"{"db":{"hosts":[{"name":"a"},{"name":"b"}]},"log.level":"debug"}"#,
        )
        .await;
    world
        .put_remote(
            "svc/config",
            r#"{"db":{"hosts":[{"name":"c"}]},"log.level":"info"}"#,
        )
        .await;
    let client = world.account.secretsmanager_client().await;
    client
        .create_secret()
        .name("svc/keystore")
        .secret_binary(Blob::new(vec![0u8, 159, 255, 1]))
        .send()
        .await
        .unwrap();
    world
        .apply(&format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: svc
spec:
  secretStoreRef: {{name: aws}}
  data:
    - secretKey: second-host
      remoteRef: {{key: svc/config, property: db.hosts.1.name, version: uuid/{first}}}
    - secretKey: host
      remoteRef: {{key: svc/config, property: db.hosts.0.name}}
    - secretKey: level
      remoteRef: {{key: svc/config, property: log.level}}
    - secretKey: previous-level
      remoteRef: {{key: svc/config, property: log.level, version: AWSPREVIOUS}}
    - secretKey: keystore
      remoteRef: {{key: svc/keystore}}
"#
        ))
        .await;
    let secret = world.wait_secret("svc", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["second-host"], "b", "uuid/<id> selects a VersionId");
    assert_eq!(data["host"], "c", "AWSCURRENT by default");
    assert_eq!(
        data["level"], "info",
        "a literal dotted key wins over the path"
    );
    assert_eq!(
        data["previous-level"], "debug",
        "other versions select a VersionStage"
    );
    let keystore = &secret.data.as_ref().unwrap()["keystore"].0;
    assert_eq!(
        keystore,
        &vec![0u8, 159, 255, 1],
        "SecretBinary bytes as they are"
    );
}

#[tokio::test]
async fn find_selects_secrets_by_name_and_tags() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    let client = world.account.secretsmanager_client().await;
    for (name, team) in [
        ("team/a", "x"),
        ("team/b", "x"),
        ("team/c", "y"),
        ("other/d", "x"),
    ] {
        client
            .create_secret()
            .name(name)
            .secret_string(format!("value-{name}"))
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("team")
                    .value(team)
                    .build(),
            )
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
  name: found
spec:
  secretStoreRef: {name: aws}
  dataFrom:
    - find:
        name: {regexp: "^team/"}
        tags: {team: x}
    - find:
        name: {regexp: "^other/"}
      rewrite:
        - regexp: {source: "other/(.*)", target: "renamed-$1"}
"#,
        )
        .await;
    let secret = world.wait_secret("found", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data.len(), 3, "{:?}", data.keys());
    assert_eq!(data["team_a"], "value-team/a", "'/' becomes '_'");
    assert_eq!(data["team_b"], "value-team/b");
    assert_eq!(data["renamed-d"], "value-other/d");
}

#[tokio::test]
async fn find_ignores_the_stores_prefix_as_in_eso() {
    let world = World::new().await;
    let store = world.aws_store("aws").replace(
        "region: us-east-1\n",
        "region: us-east-1\n      prefix: app/\n",
    );
    assert!(store.contains("prefix: app/"));
    world.apply(&store).await;
    for (name, value) in [
        ("app/db", "prefixed"),
        ("db", "unprefixed"),
        ("other/token", "outside the prefix"),
    ] {
        world.put_remote(name, value).await;
    }
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: prefixed
spec:
  secretStoreRef: {name: aws}
  data:
    - {secretKey: db, remoteRef: {key: db}}
  dataFrom:
    - find:
        name: {regexp: "^other/"}
"#,
        )
        .await;
    let secret = world.wait_secret("prefixed", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["db"], "prefixed", "remoteRef keys get the prefix");
    assert_eq!(
        data["other_token"], "outside the prefix",
        "find lists every secret the identity reads, without the prefix"
    );
    assert_eq!(data.len(), 2, "{:?}", data.keys());
}

#[tokio::test]
async fn force_sync_reads_the_remote_again() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("rotating", "one").await;
    let manifest = |force: &str| {
        format!(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: rotating
  annotations: {{force-sync: "{force}"}}
spec:
  refreshInterval: 24h
  secretStoreRef: {{name: aws}}
  data:
    - secretKey: value
      remoteRef: {{key: rotating}}
"#
        )
    };
    world.apply(&manifest("0")).await;
    world
        .wait_secret("rotating", |s| text_data(s)["value"] == "one")
        .await;
    world.put_remote("rotating", "two").await;
    world.apply(&manifest("1")).await;
    world
        .wait_secret("rotating", |s| text_data(s)["value"] == "two")
        .await;
    let calls = world.account.call_counts().await;
    let reads = calls.get("BatchGetSecretValue").copied().unwrap_or(0)
        + calls.get("GetSecretValue").copied().unwrap_or(0);
    assert_eq!(
        reads, 2,
        "one read at creation, one for force-sync: {calls:?}"
    );
}

#[tokio::test]
async fn a_provider_outage_keeps_the_secret_and_recovers() {
    let world = World::isolated().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("outage", "before").await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: outage
spec:
  refreshInterval: 2s
  secretStoreRef: {name: aws}
  data:
    - secretKey: value
      remoteRef: {key: outage}
"#,
        )
        .await;
    world
        .wait_secret("outage", |s| text_data(s)["value"] == "before")
        .await;

    world.env.stop_moto().await;
    let ready = world.wait_ready("outage", "SecretSyncedError").await;
    assert_eq!(ready.status, "False");
    let kept = world
        .secret("outage")
        .await
        .expect("Secret kept during the outage");
    assert_eq!(text_data(&kept)["value"], "before");

    // moto comes back empty (it keeps state in memory): the secret is created again with a new value.
    world.env.start_moto().await;
    world.put_remote("outage", "after").await;
    world
        .wait_secret("outage", |s| text_data(s)["value"] == "after")
        .await;
    world.wait_ready("outage", "SecretSynced").await;
}

#[tokio::test]
async fn refresh_intervals_are_go_durations() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("fast", "one").await;
    world.put_remote("fractional", "one").await;
    // ESO accepts any Go duration; `1ms` refreshes once a second here, `1.5h` every 90 minutes.
    for (name, interval) in [("fast", "1ms"), ("fractional", "1.5h")] {
        world
            .apply(&format!(
                r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: {interval}
  secretStoreRef: {{name: aws}}
  data:
    - secretKey: value
      remoteRef: {{key: {name}}}
"#
            ))
            .await;
    }
    for name in ["fast", "fractional"] {
        world
            .wait_secret(name, |s| text_data(s)["value"] == "one")
            .await;
        world.wait_ready(name, "SecretSynced").await;
    }
    world.put_remote("fast", "two").await;
    world
        .wait_secret("fast", |s| text_data(s)["value"] == "two")
        .await;
}

#[tokio::test]
async fn an_endpoint_that_is_not_aws_is_named_in_the_condition() {
    // An HTTP server that answers everything with a bare 404, as a wrong endpoint or a proxy does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 65536];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found")
                    .await;
            });
        }
    });
    let mut world = World::without_sync().await;
    world.start_sync_at(endpoint);
    world.apply(&world.aws_store("aws")).await;
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: nowhere
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws}
  data:
    - secretKey: value
      remoteRef: {key: db}
"#,
        )
        .await;
    let ready = world.wait_ready("nowhere", "SecretSyncedError").await;
    let message = ready.message.unwrap_or_default();
    let store = format!("SecretStore {}/aws", world.namespace);
    for expected in [store.as_str(), "GetSecretValue", "HTTP 404"] {
        assert!(message.contains(expected), "{expected:?} in {message:?}");
    }
    assert!(!message.contains("unknown error"), "{message}");
    server.abort();
}

#[tokio::test]
async fn a_policy_without_batch_get_reads_each_secret_with_get_secret_value() {
    let world = World::isolated().await;
    // The least-privilege policy many ESO installations grant: GetSecretValue and DescribeSecret only
    // (CreateSecret for this test's own set-up).
    let reader = world
        .env
        .moto_iam_user(
            "eso-reader",
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": [
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:DescribeSecret",
                        "secretsmanager:CreateSecret",
                    ],
                    "Resource": "*",
                }],
            }),
        )
        .await;
    let client = reader.secretsmanager_client().await;
    for (name, value) in [("app/user", "admin"), ("app/password", "p4ss")] {
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    // moto enforces the policy: the batch call is denied to this identity.
    let denied = client
        .batch_get_secret_value()
        .secret_id_list("app/user")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&denied),
        Some("AccessDeniedException"),
        "{denied:?}"
    );

    world.apply(&reader.static_key_store("least")).await;
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
    - secretKey: user
      remoteRef: {key: app/user}
    - secretKey: password
      remoteRef: {key: app/password}
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
        calls.get("BatchGetSecretValue").copied().unwrap_or(0) <= 2,
        "{calls:?}"
    );
    assert_eq!(calls.get("GetSecretValue").copied(), Some(2), "{calls:?}");
}

#[tokio::test]
async fn metadata_policy_fetch_reads_the_tags() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    let client = world.account.secretsmanager_client().await;
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    client
        .create_secret()
        .name("tagged")
        .secret_string("the-value")
        .tags(tag("team", "payments"))
        .tags(tag("cost-center", "<42>"))
        .send()
        .await
        .unwrap();
    world
        .apply(
            r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: tags
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws}
  data:
    - secretKey: team
      remoteRef: {key: tagged, property: team, metadataPolicy: Fetch}
    - secretKey: all
      remoteRef: {key: tagged, metadataPolicy: Fetch}
    - secretKey: value
      remoteRef: {key: tagged}
  dataFrom:
    - extract: {key: tagged, metadataPolicy: Fetch}
"#,
        )
        .await;
    let secret = world
        .wait_secret("tags", |s| text_data(s).contains_key("all"))
        .await;
    let data = text_data(&secret);
    assert_eq!(data["team"], "payments");
    assert_eq!(data["value"], "the-value");
    // As ESO writes it: Go's encoding/json, keys sorted, HTML characters escaped.
    assert_eq!(
        data["all"],
        r#"{"cost-center":"\u003c42\u003e","team":"payments"}"#
    );
    assert_eq!(data["cost-center"], "<42>");
}

#[tokio::test]
async fn jwt_audiences_and_session_tags_reach_sts_as_in_eso() {
    let world = World::new().await;
    let account = world.account.account_id().to_owned();
    let web_role = format!("arn:aws:iam::{account}:role/web-identity");
    let tagged_role = format!("arn:aws:iam::{account}:role/tagged");
    world
        .apply(&format!(
            r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
  annotations:
    eks.amazonaws.com/role-arn: {web_role}
    eks.amazonaws.com/audience: custom-audience
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: tagged
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      role: {tagged_role}
      sessionTagsPolicy: Custom
      customSessionTags:
        cost-centre: "42"
      transitiveTagKeys: [esoNamespace]
      auth:
        jwt:
          serviceAccountRef:
            name: reader
            audiences: [extra-audience]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: tagged
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: tagged}}
  data:
    - secretKey: value
      remoteRef: {{key: tagged/db}}
"#
        ))
        .await;
    world.put_remote("tagged/db", "through-two-roles").await;
    world
        .wait_secret("tagged", |s| text_data(s)["value"] == "through-two-roles")
        .await;
    world.wait_ready("tagged", "SecretSynced").await;

    // The token's audiences: the service account's annotation first, then the store's.
    let web = world.env.sts_calls(&web_role).await;
    assert!(
        !web.is_empty(),
        "no AssumeRoleWithWebIdentity for {web_role}"
    );
    for call in &web {
        assert_eq!(call.action, "AssumeRoleWithWebIdentity");
        assert_eq!(call.audiences, ["custom-audience", "extra-audience"]);
        assert!(call.tags.is_empty(), "{call:?}");
    }
    // The role after it: ESO's tags for the store and namespace, the custom one, the transitive key.
    let tagged = world.env.sts_calls(&tagged_role).await;
    assert!(!tagged.is_empty(), "no AssumeRole for {tagged_role}");
    for call in &tagged {
        assert_eq!(call.action, "AssumeRole");
        assert_eq!(
            call.tags,
            std::collections::BTreeMap::from([
                ("cost-centre".to_owned(), "42".to_owned()),
                ("esoNamespace".to_owned(), world.namespace.clone()),
                ("esoStoreKind".to_owned(), "SecretStore".to_owned()),
                ("esoStoreName".to_owned(), "tagged".to_owned()),
            ])
        );
        assert_eq!(call.transitive_tag_keys, ["esoNamespace"]);
    }
}
