//! creationPolicy and deletionPolicy, and a remote secret that disappears.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::{TEST_MANAGER, World, text_data};

fn external_secret(name: &str, target: &str, remote: &str, policies: &str) -> String {
    format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: 1s
  secretStoreRef: {{name: aws}}
  target:
    name: {target}
    {policies}
  data:
    - secretKey: {remote}
      remoteRef: {{key: {remote}}}
"#
    )
}

async fn delete_remote(world: &World, name: &str) {
    world
        .account
        .secretsmanager_client()
        .await
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn deletion_policies_when_the_remote_secret_is_gone() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    // A Secret with a foreign key, for the Merge policy (written through stringData, as users do).
    let existing: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "merged"},
        "stringData": {"foreign": "kept"}
    }))
    .unwrap();
    world
        .secrets()
        .patch(
            "merged",
            &PatchParams::apply(TEST_MANAGER),
            &Patch::Apply(&existing),
        )
        .await
        .unwrap();
    for remote in ["retain-key", "delete-key", "merge-key"] {
        world.put_remote(remote, "v").await;
    }
    world
        .apply(&external_secret(
            "retain",
            "retain",
            "retain-key",
            "deletionPolicy: Retain",
        ))
        .await;
    world
        .apply(&external_secret(
            "delete",
            "delete",
            "delete-key",
            "deletionPolicy: Delete",
        ))
        .await;
    world
        .apply(&external_secret(
            "merge",
            "merged",
            "merge-key",
            "creationPolicy: Merge\n    deletionPolicy: Merge",
        ))
        .await;
    world.wait_secret("retain", |_| true).await;
    world.wait_secret("delete", |_| true).await;
    let merged = world
        .wait_secret("merged", |s| text_data(s).contains_key("merge-key"))
        .await;
    assert_eq!(text_data(&merged)["foreign"], "kept");
    assert!(
        merged.metadata.owner_references.is_none(),
        "Merge does not take ownership"
    );

    for remote in ["retain-key", "delete-key", "merge-key"] {
        delete_remote(&world, remote).await;
    }
    let ready = world.wait_ready("retain", "SecretSyncedError").await;
    assert!(ready.message.unwrap_or_default().contains("retain-key"));
    assert!(
        world.secret("retain").await.is_some(),
        "Retain keeps the Secret"
    );

    let deleted = world.wait_ready("delete", "SecretDeleted").await;
    assert_eq!(deleted.status, "True", "done, as ESO reports it");
    assert!(
        world.secret("delete").await.is_none(),
        "Delete removes the owned Secret"
    );

    // Merge writes the Secret without the keys whose remote secret is gone.
    let merged = world
        .wait_secret("merged", |s| !text_data(s).contains_key("merge-key"))
        .await;
    assert_eq!(
        text_data(&merged)["foreign"],
        "kept",
        "Merge removes only its keys"
    );
    let synced = world.wait_ready("merge", "SecretSynced").await;
    assert_eq!(synced.status, "True");
}

#[tokio::test]
async fn creation_policies_orphan_merge_and_none() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("k", "v").await;
    world
        .apply(&external_secret(
            "orphan",
            "orphan",
            "k",
            "creationPolicy: Orphan",
        ))
        .await;
    world
        .apply(&external_secret(
            "none",
            "none",
            "k",
            "creationPolicy: None",
        ))
        .await;
    world
        .apply(&external_secret(
            "merge",
            "absent",
            "k",
            "creationPolicy: Merge",
        ))
        .await;

    let orphan = world.wait_secret("orphan", |_| true).await;
    assert!(orphan.metadata.owner_references.is_none());
    assert_eq!(text_data(&orphan)["k"], "v");

    world.wait_ready("none", "SecretSynced").await;
    assert!(
        world.secret("none").await.is_none(),
        "None writes no Secret"
    );

    // ESO reports it as done: nothing to merge into yet, written once the Secret exists.
    let missing = world.wait_ready("merge", "SecretMissing").await;
    assert_eq!(missing.status, "True");
}

#[tokio::test]
async fn immutable_targets_are_written_once() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("frozen", "one").await;
    world
        .apply(&external_secret(
            "frozen",
            "frozen",
            "frozen",
            "immutable: true",
        ))
        .await;
    let secret = world.wait_secret("frozen", |_| true).await;
    assert_eq!(secret.immutable, Some(true));
    world.put_remote("frozen", "two").await;
    let ready = world.wait_ready("frozen", "SecretSyncedError").await;
    assert!(ready.message.unwrap_or_default().contains("immutable"));
    assert_eq!(
        text_data(&world.secret("frozen").await.unwrap())["frozen"],
        "one"
    );
}

#[tokio::test]
async fn a_remote_secret_marked_for_deletion_counts_as_gone() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("scheduled-key", "v").await;
    world
        .apply(&external_secret(
            "scheduled",
            "scheduled",
            "scheduled-key",
            "deletionPolicy: Delete",
        ))
        .await;
    world.wait_secret("scheduled", |_| true).await;
    // Deleted with a recovery window, as the console does: AWS refuses reads until it is gone.
    world
        .account
        .secretsmanager_client()
        .await
        .delete_secret()
        .secret_id("scheduled-key")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    world.wait_ready("scheduled", "SecretDeleted").await;
    assert!(
        world.secret("scheduled").await.is_none(),
        "deletionPolicy Delete applies to a secret scheduled for deletion"
    );
}

#[tokio::test]
async fn externalsecrets_left_by_eso_with_its_finalizer_can_be_deleted() {
    use kube::api::DeleteParams;
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    for remote in ["eso-delete-key", "eso-retain-key"] {
        world.put_remote(remote, "v").await;
    }
    // As ESO left them: its cleanup finalizer on each.
    for (name, remote, policy) in [
        ("eso-delete", "eso-delete-key", "deletionPolicy: Delete"),
        ("eso-retain", "eso-retain-key", "deletionPolicy: Retain"),
    ] {
        let manifest = external_secret(name, name, remote, policy).replace(
            &format!("  name: {name}\nspec:"),
            &format!(
                "  name: {name}\n  finalizers: [externalsecrets.external-secrets.io/externalsecret-cleanup]\nspec:"
            ),
        );
        assert!(manifest.contains("finalizers"), "{manifest}");
        world.apply(&manifest).await;
        world.wait_secret(name, |_| true).await;
    }
    let externals: Api<kube::api::DynamicObject> = Api::namespaced_with(
        world.client.clone(),
        &world.namespace,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"),
            "externalsecrets",
        ),
    );
    for name in ["eso-delete", "eso-retain"] {
        externals
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for name in ["eso-delete", "eso-retain"] {
        kseal_testenv::eventually(&format!("ExternalSecret {name} gone"), || async {
            externals
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    }
    // ESO's semantics: deletionPolicy Delete deletes the Secret it controls; Retain keeps it (this test
    // environment has no garbage collector, which would delete an owned Secret in a cluster).
    kseal_testenv::eventually("the Delete policy's Secret gone", || async {
        world.secret("eso-delete").await.is_none().then_some(())
    })
    .await;
    assert!(world.secret("eso-retain").await.is_some());
}
