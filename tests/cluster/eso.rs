//! The seed ExternalSecret synced inside the cluster: the controller pod authenticates with the seed
//! ClusterSecretStore's IRSA-style `jwt` auth (a TokenRequest for the store's ServiceAccount, then STS
//! AssumeRoleWithWebIdentity) and reads AWS Secrets Manager, both at moto, which the pod reaches on the
//! node's bridge (`AWS_ENDPOINT_URL` in `controller.extraEnv`). Deleting the ExternalSecret then
//! garbage-collects its Secret (`creationPolicy: Owner`), and an ExternalSecret with `deletionPolicy: Delete`
//! loses its Secret once the remote secret is deleted.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kseal_testenv::{TestEnv, apply_yaml};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt as _};

use crate::{INSTALL_TIMEOUT, Release, SETTLE_TIMEOUT, within};

const FIELD_MANAGER: &str = "kseal-cluster-test";
const STORE: &str = include_str!("../../examples/eso/cluster-secret-store.yaml");
const EXTERNAL_SECRET: &str = include_str!("../../examples/eso/external-secret.yaml");

#[tokio::test]
async fn the_seed_external_secret_is_synced_from_moto_inside_the_cluster() {
    let env = TestEnv::node().await;
    let moto = &env.vars()["AWS_ENDPOINT_URL"];
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        values.path(),
        format!(
            "controller:\n  sync:\n    jwtAuth: true\n  extraEnv:\n    - name: AWS_ENDPOINT_URL\n      value: {moto}\n"
        ),
    )
    .unwrap();
    let release = Release::install("eso", &["-f", values.path().to_str().unwrap()]).await;

    // What the seed store expects: its ServiceAccount, annotated with the role to assume.
    let client = release.client.clone();
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "external-secrets"}}))
            .unwrap();
    Api::<Namespace>::all(client.clone())
        .patch("external-secrets", &apply, &Patch::Apply(&namespace))
        .await
        .unwrap();
    let account = env.aws_account();
    let role = format!("arn:aws:iam::{}:role/myapp-reader", account.account_id());
    let service_account: ServiceAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "external-secrets-sa", "annotations": {"eks.amazonaws.com/role-arn": role}}
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), "external-secrets")
        .patch(
            "external-secrets-sa",
            &apply,
            &Patch::Apply(&service_account),
        )
        .await
        .unwrap();
    // The remote secret, in the store's region, in the role's account.
    let config = account.config().await;
    let tokyo = aws_sdk_secretsmanager::config::Builder::from(&config)
        .region(aws_sdk_secretsmanager::config::Region::new(
            "ap-northeast-1",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(tokyo)
        .create_secret()
        .name("myapp/production")
        .secret_string(r#"{"database_url":"postgres://app@db:5432/app","jwt_secret":"s3cr3t-jwt"}"#)
        .send()
        .await
        .expect("creating the remote secret at moto");

    release.ready_pods(2, INSTALL_TIMEOUT).await;
    apply_yaml(&client, &release.namespace, FIELD_MANAGER, STORE).await;
    apply_yaml(&client, &release.namespace, FIELD_MANAGER, EXTERNAL_SECRET).await;
    let secrets = release.secrets();
    let secret = within(
        SETTLE_TIMEOUT,
        "the ExternalSecret's Secret synced in the cluster",
        || async { secrets.get_opt("myapp-secret").await.unwrap() },
    )
    .await;
    let data = kseal_testenv::secret_text(&secret);
    assert!(
        data.get("DATABASE_URL").map(String::as_str) == Some("postgres://app@db:5432/app"),
        "DATABASE_URL rendered from the remote secret's property"
    );
    assert!(
        data.get("JWT_SECRET").map(String::as_str) == Some("s3cr3t-jwt"),
        "JWT_SECRET rendered from the remote secret's property"
    );
    assert_eq!(data.len(), 2);
    assert_eq!(secret.owner_references()[0].name, "myapp-secret");

    // deletionPolicy: Delete — the remote secret deleted at moto, the controller deletes the Secret.
    let tokyo_client = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&config)
            .region(aws_sdk_secretsmanager::config::Region::new(
                "ap-northeast-1",
            ))
            .build(),
    );
    tokyo_client
        .create_secret()
        .name("myapp/ephemeral")
        .secret_string("short-lived")
        .send()
        .await
        .expect("creating the remote secret at moto");
    let ephemeral = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: ephemeral\nspec:\n  refreshInterval: 1s\n  secretStoreRef: {name: aws-secretsmanager, kind: ClusterSecretStore}\n  target: {name: ephemeral, deletionPolicy: Delete}\n  data:\n    - secretKey: value\n      remoteRef: {key: myapp/ephemeral}\n";
    apply_yaml(&client, &release.namespace, FIELD_MANAGER, ephemeral).await;
    within(SETTLE_TIMEOUT, "the ephemeral Secret synced", || async {
        secrets.get_opt("ephemeral").await.unwrap()
    })
    .await;
    tokyo_client
        .delete_secret()
        .secret_id("myapp/ephemeral")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("deleting the remote secret at moto");
    within(
        SETTLE_TIMEOUT,
        "deletionPolicy Delete to remove the Secret of a deleted remote secret",
        || async {
            secrets
                .get_opt("ephemeral")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;

    // creationPolicy: Owner — deleting the ExternalSecret lets the garbage collector delete its Secret.
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("external-secrets.io", "v1beta1", "ExternalSecret"),
        "externalsecrets",
    );
    let external_secrets: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), &release.namespace, &resource);
    external_secrets
        .delete("myapp-secret", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    within(
        SETTLE_TIMEOUT,
        "the garbage collector to delete the ExternalSecret's Secret",
        || async {
            secrets
                .get_opt("myapp-secret")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}
