//! The `kubernetes` provider against the real API server: a store reads the Secrets of another
//! namespace with its own credentials (a service account's token, a bearer token, a client
//! certificate, a kubeconfig in a Secret), as ESO's provider selects them; the store's `Ready` says
//! whether those credentials may read there; a kubeconfig that would run a command is refused.

use base64::Engine as _;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use kube::config::Kubeconfig;

use crate::{World, text_data};

/// The test API server's address and its CA (PEM).
pub(crate) fn server(world: &World) -> (String, Vec<u8>) {
    world.env.api_server()
}

/// A namespace holding the Secret `db` (labelled `team: a`) and the Secret `other`, and a Role there
/// that lets `subject` get and list Secrets.
async fn remote_namespace(world: &World, subject: &str) -> String {
    let remote = world.env.namespace().await;
    kseal_testenv::apply_yaml(
        &world.client,
        &remote,
        "kseal-test",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, labels: {{team: a}}, annotations: {{owner: ops}}}}\n\
             stringData: {{user: admin, config: '{{\"host\":\"db.internal\",\"port\":5432}}', file.txt: dotted}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: other}}\nstringData: {{x: 'y'}}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: read-secrets}}\n\
             rules: [{{apiGroups: [''], resources: [secrets], verbs: [get, list]}}]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: read-secrets}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}}\n\
             subjects: [{subject}]\n"
        ),
    )
    .await;
    remote
}

/// A SecretStore `name` of the kubernetes provider reading `remote` with `auth` (YAML flow mapping).
fn store(world: &World, name: &str, remote: &str, auth: &str) -> String {
    let (url, ca) = server(world);
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    format!(
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: {name}}}\nspec:\n  provider:\n    kubernetes:\n      \
         remoteNamespace: {remote}\n      server: {{url: '{url}', caBundle: {ca}}}\n      auth: {auth}\n"
    )
}

/// An ExternalSecret `name` reading through store `store` what ESO's users read most: one key, a
/// path inside a JSON key, a key with a dot, the whole Secret as JSON, and its labels.
fn external_secret(name: &str, store: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: {name}}}\nspec:\n  \
         refreshInterval: 1h\n  secretStoreRef: {{name: {store}}}\n  data:\n    \
         - {{secretKey: user, remoteRef: {{key: db, property: user}}}}\n    \
         - {{secretKey: host, remoteRef: {{key: db, property: config.host}}}}\n    \
         - {{secretKey: port, remoteRef: {{key: db, property: config.port}}}}\n    \
         - {{secretKey: file, remoteRef: {{key: db, property: file.txt}}}}\n    \
         - {{secretKey: all, remoteRef: {{key: db}}}}\n    \
         - {{secretKey: team, remoteRef: {{key: db, property: labels.team, metadataPolicy: Fetch}}}}\n"
    )
}

async fn service_account(world: &World, name: &str) {
    world
        .apply(&format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n"
        ))
        .await;
}

#[tokio::test]
async fn a_service_accounts_token_reads_secrets_of_another_namespace() {
    let world = World::new().await;
    service_account(&world, "reader").await;
    let remote = remote_namespace(
        &world,
        &format!(
            "{{kind: ServiceAccount, name: reader, namespace: {}}}",
            world.namespace
        ),
    )
    .await;
    world
        .apply(&store(
            &world,
            "remote",
            &remote,
            "{serviceAccount: {name: reader}}",
        ))
        .await;
    world
        .wait_store_condition("SecretStore", "remote", "Ready", "Valid")
        .await;
    world.apply(&external_secret("copy", "remote")).await;
    let secret = world.wait_secret("copy", |s| text_data(s).len() == 6).await;
    let data = text_data(&secret);
    assert_eq!(data["user"], "admin");
    assert_eq!(data["host"], "db.internal");
    assert_eq!(data["port"], "5432");
    assert_eq!(data["file"], "dotted");
    assert_eq!(
        data["all"],
        r#"{"config":"{\"host\":\"db.internal\",\"port\":5432}","file.txt":"dotted","user":"admin"}"#
    );
    assert_eq!(data["team"], "a");
    world.wait_ready("copy", "SecretSynced").await;

    // dataFrom: the whole Secret as keys, and every Secret labelled team=a as one JSON key each.
    world
        .apply(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: whole}\nspec:\n  \
             refreshInterval: 1h\n  secretStoreRef: {name: remote}\n  dataFrom:\n    \
             - extract: {key: db}\n    \
             - find: {tags: {team: a}}\n      rewrite: [{regexp: {source: '^(.*)$', target: 'found-$1'}}]\n",
        )
        .await;
    let whole = world
        .wait_secret("whole", |s| text_data(s).len() == 4)
        .await;
    let data = text_data(&whole);
    assert_eq!(data["user"], "admin");
    assert_eq!(data["file.txt"], "dotted");
    assert!(
        data["found-db"].contains(r#""user":"admin""#),
        "the labelled Secret as JSON"
    );
    assert!(!data.contains_key("found-other"));

    // A key that is not there fails the ExternalSecret, naming key and property, and keeps the Secret.
    world
        .apply(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: copy}\nspec:\n  \
             refreshInterval: 1h\n  secretStoreRef: {name: remote}\n  data:\n    \
             - {secretKey: user, remoteRef: {key: db, property: nope}}\n",
        )
        .await;
    let failed = world.wait_ready("copy", "SecretSyncedError").await;
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains("property nope does not exist in data of secret \"db\""),
        "{message}"
    );
    assert_eq!(
        text_data(&world.secret("copy").await.unwrap())["user"],
        "admin"
    );
}

#[tokio::test]
async fn a_store_whose_credentials_may_not_read_there_is_not_ready() {
    let world = World::new().await;
    service_account(&world, "nobody").await;
    // The Role is bound to someone else.
    let remote = remote_namespace(
        &world,
        "{kind: User, name: someone-else, apiGroup: rbac.authorization.k8s.io}",
    )
    .await;
    world
        .apply(&store(
            &world,
            "denied",
            &remote,
            "{serviceAccount: {name: nobody}}",
        ))
        .await;
    let condition = world
        .wait_store_condition("SecretStore", "denied", "Ready", "InvalidProviderConfig")
        .await;
    let message = condition.message.unwrap_or_default();
    assert!(
        message.contains("client is not allowed to get secrets"),
        "{message}"
    );
    world.apply(&external_secret("denied", "denied")).await;
    let failed = world.wait_ready("denied", "SecretSyncedError").await;
    assert!(
        failed
            .message
            .unwrap_or_default()
            .contains("Forbidden (403)"),
        "the read is refused by the remote API server"
    );
    assert!(world.secret("denied").await.is_none());
}

#[tokio::test]
async fn bearer_tokens_client_certificates_and_kubeconfigs_authenticate() {
    let world = World::new().await;
    service_account(&world, "token-holder").await;
    let remote = remote_namespace(
        &world,
        &format!(
            "{{kind: ServiceAccount, name: token-holder, namespace: {}}}, {{kind: User, name: remote-reader, apiGroup: rbac.authorization.k8s.io}}",
            world.namespace
        ),
    )
    .await;
    // A bearer token kept in a Secret (as a long-lived token would be).
    let token = Api::<ServiceAccount>::namespaced(world.client.clone(), &world.namespace)
        .create_token_request(
            "token-holder",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            },
        )
        .await
        .expect("a token")
        .status
        .expect("a token status")
        .token;
    // A client certificate of user remote-reader, signed by the cluster's CA.
    let identity = Kubeconfig::read_from(world.env.kubeconfig_as("remote-reader", &[]).await)
        .expect("the identity's kubeconfig");
    let user = identity.auth_infos[0].auth_info.clone().expect("a user");
    let cert = std::fs::read(user.client_certificate.expect("a certificate file")).unwrap();
    let key = std::fs::read(user.client_key.expect("a key file")).unwrap();
    let (url, ca) = server(&world);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let kubeconfig = |user: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{url}', certificate-authority-data: {}}}}}]\n\
             users: [{{name: u, user: {user}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
            b64(&ca)
        )
    };
    world
        .apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\ndata:\n  \
             token: {}\n  tls.crt: {}\n  tls.key: {}\n  kubeconfig: {}\n  exec: {}\n",
            b64(token.as_bytes()),
            b64(&cert),
            b64(&key),
            b64(kubeconfig(&format!("{{token: {token}}}")).as_bytes()),
            b64(kubeconfig("{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, 'touch /tmp/kseal-exec-ran']}}").as_bytes()),
        ))
        .await;
    world
        .apply(&store(
            &world,
            "by-token",
            &remote,
            "{token: {bearerToken: {name: creds, key: token}}}",
        ))
        .await;
    world
        .apply(&store(
            &world,
            "by-cert",
            &remote,
            "{cert: {clientCert: {name: creds, key: tls.crt}, clientKey: {name: creds, key: tls.key}}}",
        ))
        .await;
    world
        .apply(&format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: by-kubeconfig}}\nspec:\n  provider:\n    kubernetes:\n      \
             remoteNamespace: {remote}\n      authRef: {{name: creds, key: kubeconfig}}\n---\n\
             apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: by-exec}}\nspec:\n  provider:\n    kubernetes:\n      \
             remoteNamespace: {remote}\n      authRef: {{name: creds, key: exec}}\n"
        ))
        .await;
    for store in ["by-token", "by-cert", "by-kubeconfig"] {
        world
            .wait_store_condition("SecretStore", store, "Ready", "Valid")
            .await;
        world.apply(&external_secret(store, store)).await;
        let secret = world.wait_secret(store, |s| text_data(s).len() == 6).await;
        assert_eq!(text_data(&secret)["user"], "admin", "through {store}");
    }
    let refused = world
        .wait_store_condition("SecretStore", "by-exec", "Ready", "InvalidProviderConfig")
        .await;
    let message = refused.message.unwrap_or_default();
    assert!(message.contains("users[].user.exec"), "{message}");
    assert!(
        !std::path::Path::new("/tmp/kseal-exec-ran").exists(),
        "the kubeconfig's command never runs"
    );
    // No credential reaches a status.
    let all = world.store_conditions("SecretStore", "by-exec").await;
    assert!(
        all.iter()
            .all(|c| !c.message.as_deref().unwrap_or_default().contains(&token))
    );
}
