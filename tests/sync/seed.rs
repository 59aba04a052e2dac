//! The seed manifests, as written: a ClusterSecretStore with IRSA-style `jwt` auth (TokenRequest, then
//! STS AssumeRoleWithWebIdentity at moto) and an ExternalSecret with a template and `property` lookups.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt as _};

use crate::{TEST_MANAGER, World, text_data};

const STORE: &str = include_str!("../../examples/eso/cluster-secret-store.yaml");
const EXTERNAL_SECRET: &str = include_str!("../../examples/eso/external-secret.yaml");

#[tokio::test]
async fn seed_manifests_sync_as_written() {
    let world = World::new().await;
    // What the seed store expects to exist: the service account, annotated with its IAM role.
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "external-secrets"}
    }))
    .unwrap();
    let apply = PatchParams::apply(TEST_MANAGER).force();
    namespaces
        .patch("external-secrets", &apply, &Patch::Apply(&namespace))
        .await
        .unwrap();
    let role = format!(
        "arn:aws:iam::{}:role/myapp-reader",
        world.account.account_id()
    );
    let account: ServiceAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {
            "name": "external-secrets-sa",
            "annotations": {"eks.amazonaws.com/role-arn": role},
        }
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(world.client.clone(), "external-secrets")
        .patch("external-secrets-sa", &apply, &Patch::Apply(&account))
        .await
        .unwrap();

    // The remote secret, in the store's region (ap-northeast-1) of the role's account.
    let config = world.account.config().await;
    let tokyo = aws_sdk_secretsmanager::config::Builder::from(&config)
        .region(aws_sdk_secretsmanager::config::Region::new(
            "ap-northeast-1",
        ))
        .build();
    let _ = aws_sdk_secretsmanager::Client::from_conf(tokyo)
        .create_secret()
        .name("myapp/production")
        .secret_string(r#"{"database_url":"postgres://app@db:5432/app","jwt_secret":"s3cr3t-jwt"}"#)
        .send()
        .await;

    world.apply(STORE).await;
    world.apply(EXTERNAL_SECRET).await;
    let secret = world.wait_secret("myapp-secret", |_| true).await;
    let data = text_data(&secret);
    assert_eq!(data["DATABASE_URL"], "postgres://app@db:5432/app");
    assert_eq!(data["JWT_SECRET"], "s3cr3t-jwt");
    assert_eq!(data.len(), 2);
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(secret.owner_references()[0].name, "myapp-secret");
    let ready = world.wait_ready("myapp-secret", "SecretSynced").await;
    assert_eq!(ready.status, "True");
    // The service account has no audience annotation and the store asks for none: IRSA's.
    let calls = world.env.sts_calls(&role).await;
    assert!(!calls.is_empty(), "no STS call for {role}");
    for call in calls {
        assert_eq!(call.audiences, ["sts.amazonaws.com"], "{call:?}");
    }
}
