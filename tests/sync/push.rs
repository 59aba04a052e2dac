//! PushSecrets (`external-secrets.io/v1alpha1`) against the real API server and moto: a Secret's keys
//! pushed to Secrets Manager as ESO pushes them (binary by default, tagged `managed-by:
//! external-secrets`, properties merged into JSON), written only when they change, never over a
//! secret someone else made, `IfNotExists`, `deletionPolicy: Delete` with the store's
//! `forceDeleteWithoutRecovery`, and fields kseal does not implement refused by path.

use std::collections::BTreeMap;
use std::time::Duration;

use kseal_testenv::eventually;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use crate::World;

/// A PushSecret `name` of Secret `source` to the SecretStore `aws`, with `extra` spec lines and the
/// `data` entries.
fn push_secret(name: &str, source: &str, extra: &str, data: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1alpha1\nkind: PushSecret\nmetadata: {{name: {name}}}\nspec:\n  \
         refreshInterval: 1s\n  secretStoreRefs: [{{name: aws, kind: SecretStore}}]\n  \
         selector: {{secret: {{name: {source}}}}}\n{extra}  data:\n{data}"
    )
}

/// One `data` entry: `key` (none: the whole Secret) to `remote` (and `property`).
fn entry(key: Option<&str>, remote: &str, property: Option<&str>) -> String {
    let key = key.map(|k| format!("secretKey: {k}, ")).unwrap_or_default();
    let property = property
        .map(|p| format!(", property: {p}"))
        .unwrap_or_default();
    format!("    - match: {{{key}remoteRef: {{remoteKey: {remote}{property}}}}}\n")
}

impl World {
    fn push_secrets(&self) -> kube::Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("external-secrets.io", "v1alpha1", "PushSecret");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "pushsecrets");
        kube::Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// Waits until PushSecret `name`'s `Ready` has `reason`; returns its status.
    async fn wait_push(&self, name: &str, reason: &str) -> serde_json::Value {
        let api = self.push_secrets();
        eventually(
            &format!("PushSecret {name} Ready reason {reason}"),
            || async {
                let ps = api.get_opt(name).await.ok()??;
                let status = ps.data["status"].clone();
                status["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["reason"] == reason)
                    .then_some(status)
            },
        )
        .await
    }

    /// The remote secret `name`: (SecretString, SecretBinary), or `None` when it does not exist.
    async fn remote(&self, name: &str) -> Option<(Option<String>, Option<Vec<u8>>)> {
        let client = self.account.secretsmanager_client().await;
        let got = client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .ok()?;
        Some((
            got.secret_string().map(str::to_owned),
            got.secret_binary().map(|b| b.as_ref().to_vec()),
        ))
    }

    /// The tags of remote secret `name`.
    async fn remote_tags(&self, name: &str) -> BTreeMap<String, String> {
        let client = self.account.secretsmanager_client().await;
        let described = client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .unwrap();
        described
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Waits until remote secret `name` holds `binary` (as SecretBinary).
    async fn wait_remote_binary(&self, name: &str, binary: &str) {
        eventually(&format!("remote {name} holds the new value"), || async {
            let (_, got) = self.remote(name).await?;
            (got.as_deref() == Some(binary.as_bytes())).then_some(())
        })
        .await;
    }
}

const SOURCE: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: source}\nstringData: {password: s3cr3t, user: admin}\n";

#[tokio::test]
async fn a_pushsecret_creates_tagged_secrets_as_eso_does_and_writes_only_what_changed() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.apply(SOURCE).await;
    let metadata = "      metadata:\n        apiVersion: kubernetes.external-secrets.io/v1alpha1\n        \
        kind: PushSecretMetadata\n        spec: {secretPushFormat: string, tags: {team: payments}}\n";
    let data = format!(
        "{}{}{}{metadata}",
        entry(Some("password"), "app/password", None),
        entry(None, "app/all", None),
        entry(Some("user"), "app/json", Some("db.user")),
    );
    world.apply(&push_secret("push", "source", "", &data)).await;
    let status = world.wait_push("push", "Synced").await;
    let synced = &status["syncedPushSecrets"]["SecretStore/aws"];
    let mut listed: Vec<&str> = synced
        .as_object()
        .expect("syncedPushSecrets of the store")
        .keys()
        .map(String::as_str)
        .collect();
    listed.sort();
    assert_eq!(listed, ["app/all", "app/json/db.user", "app/password"]);

    // Binary unless the metadata says string, as ESO writes them.
    assert_eq!(
        world.remote("app/password").await,
        Some((None, Some(b"s3cr3t".to_vec())))
    );
    assert_eq!(
        world.remote("app/all").await,
        Some((
            None,
            Some(br#"{"password":"s3cr3t","user":"admin"}"#.to_vec())
        ))
    );
    assert_eq!(
        world.remote("app/json").await,
        Some((Some(r#"{"db":{"user":"admin"}}"#.to_owned()), None))
    );
    let tags = world.remote_tags("app/json").await;
    assert_eq!(
        tags.get("managed-by").map(String::as_str),
        Some("external-secrets")
    );
    assert_eq!(tags.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        world
            .remote_tags("app/password")
            .await
            .get("managed-by")
            .map(String::as_str),
        Some("external-secrets")
    );

    // Refreshed every second; nothing changed, so nothing is written.
    let puts = world.account.call_count("PutSecretValue").await;
    let creates = world.account.call_count("CreateSecret").await;
    assert_eq!(creates, 3);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(world.account.call_count("PutSecretValue").await, puts);
    assert!(
        world.account.call_count("DescribeSecret").await >= 6,
        "it did refresh"
    );

    // A new password reaches both secrets that hold it.
    world
        .apply(&SOURCE.replace("password: s3cr3t", "password: n3w"))
        .await;
    world.wait_remote_binary("app/password", "n3w").await;
    world
        .wait_remote_binary("app/all", r#"{"password":"n3w","user":"admin"}"#)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.account.call_count("PutSecretValue").await, puts + 2);
    assert_eq!(world.account.call_count("CreateSecret").await, 3);
}

#[tokio::test]
async fn a_secret_someone_else_made_is_never_written_over_and_if_not_exists_leaves_it_alone() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.apply(SOURCE).await;
    world.put_remote("theirs", "their value").await;
    world
        .apply(&push_secret(
            "over",
            "source",
            "",
            &entry(Some("password"), "theirs", None),
        ))
        .await;
    let status = world.wait_push("over", "Errored").await;
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("secret not managed by external-secrets")
            && message.contains("\"theirs\"")
            && !message.contains("s3cr3t"),
        "{message}"
    );
    assert_eq!(
        world.remote("theirs").await,
        Some((Some("their value".to_owned()), None))
    );

    world
        .apply(&push_secret(
            "once",
            "source",
            "  updatePolicy: IfNotExists\n",
            &format!(
                "{}{}",
                entry(Some("password"), "theirs", None),
                entry(Some("user"), "mine", None)
            ),
        ))
        .await;
    let status = world.wait_push("once", "Synced").await;
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        message,
        "PushSecret synced successfully. Existing secrets in providers unchanged."
    );
    assert_eq!(
        world.remote("theirs").await,
        Some((Some("their value".to_owned()), None))
    );
    assert_eq!(
        world.remote("mine").await,
        Some((None, Some(b"admin".to_vec())))
    );
}

#[tokio::test]
async fn deletion_policy_delete_removes_what_is_no_longer_pushed_then_the_rest_with_the_pushsecret()
{
    let world = World::new().await;
    let store = world.aws_store("aws").replace(
        "      region: us-east-1\n",
        "      region: us-east-1\n      secretsManager: {forceDeleteWithoutRecovery: true}\n",
    );
    world.apply(&store).await;
    world.apply(SOURCE).await;
    let both = format!(
        "{}{}",
        entry(Some("password"), "del/a", None),
        entry(Some("user"), "del/b", None)
    );
    let policy = "  deletionPolicy: Delete\n";
    world
        .apply(&push_secret("gone", "source", policy, &both))
        .await;
    world.wait_push("gone", "Synced").await;
    let ps = world.push_secrets().get("gone").await.unwrap();
    assert!(
        ps.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"pushsecret.externalsecrets.io/finalizer".to_owned()),
        "ESO's finalizer"
    );
    assert!(world.remote("del/b").await.is_some());

    // One entry less: its remote secret goes (for good: forceDeleteWithoutRecovery).
    world
        .apply(&push_secret(
            "gone",
            "source",
            policy,
            &entry(Some("password"), "del/a", None),
        ))
        .await;
    eventually("del/b deleted", || async {
        world.remote("del/b").await.is_none().then_some(())
    })
    .await;
    let status = eventually("del/b no longer listed", || async {
        let ps = world.push_secrets().get("gone").await.ok()?;
        let synced = ps.data["status"]["syncedPushSecrets"]["SecretStore/aws"].clone();
        (synced.get("del/b").is_none() && synced.get("del/a").is_some()).then_some(synced)
    })
    .await;
    assert_eq!(status.as_object().unwrap().len(), 1);
    assert!(world.remote("del/a").await.is_some());

    // The PushSecret goes: so does what it pushed, then its finalizer.
    world
        .push_secrets()
        .delete("gone", &Default::default())
        .await
        .unwrap();
    eventually("PushSecret gone", || async {
        world
            .push_secrets()
            .get_opt("gone")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(world.remote("del/a").await.is_none(), "deleted with it");
}

#[tokio::test]
async fn pushsecret_fields_kseal_does_not_implement_are_refused_by_path() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.apply(SOURCE).await;
    let extra = "  template: {data: {x: '{{ .password }}'}}\n  dataTo: [{storeRef: {name: aws}}]\n";
    let data = format!(
        "{}      metadata: {{apiVersion: kubernetes.external-secrets.io/v1alpha1, kind: PushSecretMetadata, spec: {{resourcePolicy: {{blockPublicPolicy: true}}}}}}\n",
        entry(Some("password"), "never", None)
    );
    world
        .apply(&push_secret("odd", "source", extra, &data))
        .await;
    let status = world.wait_push("odd", "Unsupported").await;
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("spec.template") && message.contains("spec.dataTo"),
        "{message}"
    );
    // The metadata is read per entry: once the spec is supported, its unknown field is named.
    world.apply(&push_secret("meta", "source", "", &data)).await;
    let status = world.wait_push("meta", "Unsupported").await;
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("spec.data[0].metadata.spec.resourcePolicy"),
        "{message}"
    );
    assert!(world.remote("never").await.is_none(), "nothing is pushed");
}
