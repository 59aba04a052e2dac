//! The API server: Secrets, watches, CRDs, server-side apply, TokenRequest, RBAC.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kseal_testenv::TestEnv;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, CustomResourceExt};

use crate::eventually;

fn secret(name: &str, key: &str, value: &[u8]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(value.to_vec()),
        )])),
        ..Secret::default()
    }
}

#[tokio::test]
async fn secret_create_list_and_watch() {
    let env = TestEnv::get().await;
    let namespace = env.namespace().await;
    let secrets: Api<Secret> = Api::namespaced(env.client().await, &namespace);

    let first = secrets
        .create(&PostParams::default(), &secret("first", "k", b"v1"))
        .await
        .unwrap();
    let version = first.metadata.resource_version.clone().unwrap();

    let mut events = secrets
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();
    secrets
        .create(&PostParams::default(), &secret("second", "k", b"v2"))
        .await
        .unwrap();
    let added = tokio::time::timeout(crate::DEADLINE, async {
        while let Some(event) = events.try_next().await.unwrap() {
            if let WatchEvent::Added(s) = event {
                return s;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("no Added event");
    assert_eq!(added.metadata.name.as_deref(), Some("second"));
    assert_eq!(added.data.unwrap()["k"].0, b"v2");

    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert_eq!(names, ["first", "second"]);
}

#[tokio::test]
async fn crd_from_api_types_serves_objects() {
    let env = TestEnv::get().await;
    env.install_crds(&[kseal_api::SealedSecret::crd()]).await;
    let namespace = env.namespace().await;
    let api: Api<kseal_api::SealedSecret> = Api::namespaced(env.client().await, &namespace);

    let object: kseal_api::SealedSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": { "name": "db" },
        "spec": { "encryptedData": { "password": "AgBy3i4OJSWK+PiTySYZZA==" } }
    }))
    .unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();

    let read = api.get("db").await.unwrap();
    assert_eq!(
        read.spec.encrypted_data["password"],
        "AgBy3i4OJSWK+PiTySYZZA=="
    );
}

#[tokio::test]
async fn server_side_apply_reports_conflicts_between_managers() {
    let env = TestEnv::get().await;
    let namespace = env.namespace().await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client().await, &namespace);
    let desired = |value: &str| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": "shared" },
            "data": { "key": value }
        })
    };

    maps.patch(
        "shared",
        &PatchParams::apply("kseal-first"),
        &Patch::Apply(desired("one")),
    )
    .await
    .unwrap();
    let conflict = maps
        .patch(
            "shared",
            &PatchParams::apply("kseal-second"),
            &Patch::Apply(desired("two")),
        )
        .await
        .unwrap_err();
    match conflict {
        kube::Error::Api(status) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected a conflict, got {other}"),
    }

    let forced = maps
        .patch(
            "shared",
            &PatchParams::apply("kseal-second").force(),
            &Patch::Apply(desired("two")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["key"], "two");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert!(
        managers.contains(&"kseal-second".to_owned()),
        "{managers:?}"
    );
}

#[tokio::test]
async fn token_request_issues_a_service_account_token() {
    let env = TestEnv::get().await;
    let namespace = env.namespace().await;
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client().await, &namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("kseal".to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();

    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec!["kseal-test".to_owned()],
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let issued = accounts
        .create_token_request("kseal", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = issued.status.unwrap().token;
    assert_eq!(token.split('.').count(), 3, "a JWT");
}

#[tokio::test]
async fn identity_without_rbac_is_refused() {
    let env = TestEnv::get().await;
    let namespace = env.namespace().await;
    let admin = env.client().await;
    let user = env.client_as("alice", &["kseal-testers"]).await;
    let user_maps: Api<ConfigMap> = Api::namespaced(user.clone(), &namespace);
    let user_secrets: Api<Secret> = Api::namespaced(user, &namespace);

    let forbidden = |result: Result<_, kube::Error>| matches!(result, Err(kube::Error::Api(status)) if status.code == 403);
    assert!(forbidden(
        user_maps.list(&ListParams::default()).await.map(|_| ())
    ));

    let role = Role {
        metadata: ObjectMeta {
            name: Some("read-configmaps".to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".to_owned()]),
            verbs: vec!["get".to_owned(), "list".to_owned()],
            ..PolicyRule::default()
        }]),
    };
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("testers-read-configmaps".to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: "read-configmaps".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "Group".to_owned(),
            name: "kseal-testers".to_owned(),
            ..Subject::default()
        }]),
    };
    let pp = PostParams::default();
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(&pp, &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin, &namespace)
        .create(&pp, &binding)
        .await
        .unwrap();

    // RBAC reads bindings from an informer: granted access appears shortly after.
    eventually("the role binding to take effect", || async {
        user_maps.list(&ListParams::default()).await.ok()
    })
    .await;
    assert!(forbidden(
        user_secrets.list(&ListParams::default()).await.map(|_| ())
    ));
    let map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("not-allowed".to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    assert!(forbidden(user_maps.create(&pp, &map).await.map(|_| ())));
}
