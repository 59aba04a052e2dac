//! Generators (`dataFrom[].sourceRef.generatorRef`): Password, UUID, Fake, ECRAuthorizationToken,
//! STSSessionToken (at moto) and ClusterGenerator fill a Secret without any store; values stay until the next refresh (also across a restart of the
//! controller) and change at it; kinds kseal does not generate, and generators that cannot generate,
//! are refused naming the object, and the Secret is left as it is.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use crate::{World, text_data};

const GENERATORS: &str = "generators.external-secrets.io/v1alpha1";

/// An ExternalSecret `name` with `refresh` and one `dataFrom` entry per `(kind, name)` generator, each
/// followed by `extra` lines (a rewrite) when given.
fn generated(name: &str, refresh: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: {name}}}\nspec:\n  \
         refreshInterval: {refresh}\n  dataFrom:\n"
    );
    for (kind, generator, extra) in entries {
        yaml.push_str(&format!(
            "    - sourceRef: {{generatorRef: {{apiVersion: {GENERATORS}, kind: {kind}, name: {generator}}}}}\n{extra}"
        ));
    }
    yaml
}

/// (letters, digits, others) of `value`.
fn classes(value: &str) -> (usize, usize, usize) {
    let letters = value.bytes().filter(u8::is_ascii_alphabetic).count();
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    (letters, digits, value.len() - letters - digits)
}

fn is_uuid_v4(value: &str) -> bool {
    regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        .unwrap()
        .is_match(value)
}

#[tokio::test]
async fn password_uuid_and_fake_generators_fill_a_secret_without_a_store() {
    let world = World::new().await;
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: Password\nmetadata: {{name: pw}}\n---\n\
             apiVersion: {GENERATORS}\nkind: UUID\nmetadata: {{name: id}}\n---\n\
             apiVersion: {GENERATORS}\nkind: Fake\nmetadata: {{name: static}}\nspec:\n  data: {{user: admin, host: db}}\n"
        ))
        .await;
    world
        .apply(&generated(
            "app",
            "1h",
            &[
                (
                    "Password",
                    "pw",
                    "      rewrite: [{regexp: {source: password, target: db-password}}]\n",
                ),
                ("UUID", "id", ""),
                ("Fake", "static", ""),
            ],
        ))
        .await;
    let secret = world.wait_secret("app", |s| text_data(s).len() == 4).await;
    let data = text_data(&secret);
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        ["db-password", "host", "user", "uuid"]
    );
    // ESO's defaults: 24 characters, a quarter digits, a quarter symbols, none repeated.
    let password = &data["db-password"];
    assert_eq!(password.len(), 24);
    assert_eq!(classes(password), (12, 6, 6), "{}", password.len());
    assert_eq!(password.bytes().collect::<BTreeSet<_>>().len(), 24);
    assert!(is_uuid_v4(&data["uuid"]), "not a version 4 UUID");
    assert_eq!(
        (data["user"].as_str(), data["host"].as_str()),
        ("admin", "db")
    );
    world.wait_ready("app", "SecretSynced").await;
}

#[tokio::test]
async fn generated_values_stay_until_the_next_refresh_even_across_a_restart() {
    let mut world = World::new().await;
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: Password\nmetadata: {{name: pw}}\nspec: {{length: 32}}\n"
        ))
        .await;
    world
        .apply(&generated("hourly", "1h", &[("Password", "pw", "")]))
        .await;
    world
        .apply(&generated("every-second", "1s", &[("Password", "pw", "")]))
        .await;
    let hourly = world
        .wait_secret("hourly", |s| text_data(s).contains_key("password"))
        .await;
    world.wait_ready("hourly", "SecretSynced").await;
    let first = text_data(
        &world
            .wait_secret("every-second", |s| !text_data(s).is_empty())
            .await,
    )["password"]
        .clone();
    // A refresh every second generates a new password each time.
    world
        .wait_secret("every-second", |s| {
            text_data(s).get("password").is_some_and(|p| *p != first)
        })
        .await;

    // The controller restarts: nothing is due for the hourly one, so its password stays.
    world.sync.take().unwrap().abort();
    world.start_sync();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = world.secret("hourly").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, hourly.metadata.resource_version,
        "the hourly password was not generated again"
    );
    assert_eq!(text_data(&after)["password"].len(), 32);
}

#[tokio::test]
async fn a_cluster_generator_generates_its_kind_and_unserved_kinds_are_refused() {
    let world = World::new().await;
    let password = format!("{}-password", world.namespace);
    let webhook = format!("{}-webhook", world.namespace);
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: ClusterGenerator\nmetadata: {{name: {password}}}\nspec:\n  kind: Password\n  \
             generator:\n    passwordSpec: {{length: 12, secretKeys: [first, second], encoding: hex}}\n---\n\
             apiVersion: {GENERATORS}\nkind: ClusterGenerator\nmetadata: {{name: {webhook}}}\nspec:\n  kind: Webhook\n  \
             generator:\n    webhookSpec: {{url: 'https://tokens.example/new', method: POST}}\n"
        ))
        .await;
    world
        .apply(&generated(
            "two",
            "1h",
            &[("ClusterGenerator", &password, "")],
        ))
        .await;
    world
        .apply(&generated(
            "hook",
            "1h",
            &[("ClusterGenerator", &webhook, "")],
        ))
        .await;
    let secret = world.wait_secret("two", |s| text_data(s).len() == 2).await;
    let data = text_data(&secret);
    for key in ["first", "second"] {
        let raw = hex::decode(&data[key]).expect("hex");
        assert_eq!(raw.len(), 12, "{key}");
    }
    assert_ne!(data["first"], data["second"], "each key its own password");
    world.wait_ready("two", "SecretSynced").await;

    let refused = world.wait_ready("hook", "Unsupported").await;
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains("spec.dataFrom[0].sourceRef.generatorRef") && message.contains("Webhook"),
        "{message}"
    );
    assert!(world.secret("hook").await.is_none(), "nothing is synced");
    // The CRD keeps the spec of a kind kseal does not generate, as written.
    let gvk = GroupVersionKind::gvk(
        "generators.external-secrets.io",
        "v1alpha1",
        "ClusterGenerator",
    );
    let resource = ApiResource::from_gvk_with_plural(&gvk, "clustergenerators");
    let api: kube::Api<DynamicObject> = kube::Api::all_with(world.client.clone(), &resource);
    let kept = api.get(&webhook).await.unwrap();
    assert_eq!(
        kept.data["spec"]["generator"]["webhookSpec"]["url"],
        "https://tokens.example/new"
    );
    api.delete(&password, &Default::default()).await.unwrap();
    api.delete(&webhook, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn a_generator_that_cannot_generate_fails_naming_it_and_the_secret_is_kept() {
    let world = World::new().await;
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: Password\nmetadata: {{name: pw}}\nspec: {{length: 16}}\n"
        ))
        .await;
    world
        .apply(&generated("app", "1h", &[("Password", "pw", "")]))
        .await;
    let before = world
        .wait_secret("app", |s| text_data(s).contains_key("password"))
        .await;
    world.wait_ready("app", "SecretSynced").await;

    // More digits and symbols than characters: the next refresh (forced here) fails as ESO's does.
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: Password\nmetadata: {{name: pw}}\nspec: {{length: 16, digits: 10, symbols: 10}}\n"
        ))
        .await;
    world
        .apply(&generated("app", "1h", &[("Password", "pw", "")]).replace(
            "metadata: {name: app}",
            "metadata: {name: app, annotations: {force-sync: '1'}}",
        ))
        .await;
    let failed = world.wait_ready("app", "SecretSyncedError").await;
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains(&format!("Password {}/pw", world.namespace))
            && message.contains("number of digits and symbols must be less than total length"),
        "{message}"
    );
    let after = world.secret("app").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the last good Secret is kept"
    );

    // A generator that does not exist, and one of another group.
    world
        .apply(&generated("missing", "1h", &[("UUID", "nowhere", "")]))
        .await;
    let missing = world.wait_ready("missing", "SecretSyncedError").await;
    let message = missing.message.unwrap_or_default();
    assert!(
        message.contains(&format!("UUID {}/nowhere does not exist", world.namespace)),
        "{message}"
    );
    world
        .apply(
            &generated("other-group", "1h", &[("Password", "pw", "")])
                .replace(GENERATORS, "example.com/v1"),
        )
        .await;
    let other = world.wait_ready("other-group", "SecretSyncedError").await;
    assert!(
        other
            .message
            .unwrap_or_default()
            .contains("may only reference the generators group"),
    );
}

/// `auth.secretRef` of a generator: the test account's keys in Secret `aws-keys` of the test namespace.
const KEYS_AUTH: &str = "auth: {secretRef: {accessKeyIDSecretRef: {name: aws-keys, key: access-key}, secretAccessKeySecretRef: {name: aws-keys, key: secret-key}}}";

impl World {
    /// Secret `aws-keys` with this test's moto keys, for [`KEYS_AUTH`].
    async fn apply_aws_keys(&self) {
        let keys = self.account.static_key_store("aws");
        let secret = keys
            .split("---")
            .next()
            .unwrap()
            .replace("aws-credentials", "aws-keys");
        self.apply(&secret).await;
    }
}

#[tokio::test]
async fn an_ecr_authorization_token_fills_a_docker_config_with_the_role_assumed() {
    let world = World::new().await;
    world.apply_aws_keys().await;
    // Another account's role: the token is that account's registry, so the role was assumed.
    let other = "210987654321";
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: ECRAuthorizationToken\nmetadata: {{name: ecr}}\nspec:\n  region: eu-west-1\n  \
             role: arn:aws:iam::{other}:role/pull\n  {KEYS_AUTH}\n---\n\
             apiVersion: {GENERATORS}\nkind: ECRAuthorizationToken\nmetadata: {{name: own}}\nspec:\n  region: us-east-2\n  {KEYS_AUTH}\n"
        ))
        .await;
    // ESO's documented use: a dockerconfigjson from the token's keys.
    let template = "  target:\n    template:\n      type: kubernetes.io/dockerconfigjson\n      data:\n        \
        .dockerconfigjson: '{\"auths\":{\"{{ .proxy_endpoint }}\":{\"username\":\"{{ .username }}\",\"password\":\"{{ .password }}\"}}}'\n";
    world
        .apply(&format!(
            "{}{template}",
            generated("pull", "1h", &[("ECRAuthorizationToken", "ecr", "")])
        ))
        .await;
    world
        .apply(&generated(
            "raw",
            "1h",
            &[("ECRAuthorizationToken", "own", "")],
        ))
        .await;

    let pull = world
        .wait_secret("pull", |s| text_data(s).contains_key(".dockerconfigjson"))
        .await;
    assert_eq!(
        pull.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let config: serde_json::Value =
        serde_json::from_str(&text_data(&pull)[".dockerconfigjson"]).unwrap();
    let registry = format!("https://{other}.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(config["auths"][&registry]["username"], "AWS", "{config}");
    assert_eq!(
        config["auths"][&registry]["password"],
        format!("{other}-auth-token")
    );
    world.wait_ready("pull", "SecretSynced").await;

    let raw = text_data(&world.wait_secret("raw", |s| !text_data(s).is_empty()).await);
    assert_eq!(
        raw.keys().map(String::as_str).collect::<Vec<_>>(),
        ["expires_at", "password", "proxy_endpoint", "username"]
    );
    let own = world.account.account_id();
    assert_eq!(raw["password"], format!("{own}-auth-token"));
    assert_eq!(
        raw["proxy_endpoint"],
        format!("https://{own}.dkr.ecr.us-east-2.amazonaws.com")
    );
    assert!(
        raw["expires_at"].parse::<i64>().is_ok_and(|t| t > 0),
        "Unix seconds"
    );
}

#[tokio::test]
async fn an_sts_session_token_hands_out_temporary_credentials_of_the_asked_lifetime() {
    let world = World::new().await;
    world.apply_aws_keys().await;
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: STSSessionToken\nmetadata: {{name: session}}\nspec:\n  region: us-east-1\n  \
             {KEYS_AUTH}\n  requestParameters: {{sessionDuration: 900}}\n"
        ))
        .await;
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    world
        .apply(&generated(
            "session",
            "1h",
            &[("STSSessionToken", "session", "")],
        ))
        .await;
    let data = text_data(
        &world
            .wait_secret("session", |s| !text_data(s).is_empty())
            .await,
    );
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "access_key_id",
            "expiration",
            "secret_access_key",
            "session_token"
        ]
    );
    assert!(data["access_key_id"].len() >= 16, "an access key id");
    assert!(!data["secret_access_key"].is_empty() && !data["session_token"].is_empty());
    let expiration: i64 = data["expiration"].parse().expect("Unix seconds");
    assert!(
        (asked + 900 - 5..=asked + 900 + 60).contains(&expiration),
        "valid for the 900 s asked: {} s",
        expiration - asked
    );
    world.wait_ready("session", "SecretSynced").await;
}

#[tokio::test]
async fn aws_generators_refuse_what_they_cannot_use_naming_the_generator() {
    let world = World::new().await;
    world.apply_aws_keys().await;
    let ns = &world.namespace;
    world
        .apply(&format!(
            // No auth: the controller's own credentials, which a namespaced generator may not use.
            "apiVersion: {GENERATORS}\nkind: ECRAuthorizationToken\nmetadata: {{name: ambient}}\nspec: {{region: us-east-1}}\n---\n\
             apiVersion: {GENERATORS}\nkind: ECRAuthorizationToken\nmetadata: {{name: public}}\nspec:\n  region: us-east-1\n  scope: public\n  {KEYS_AUTH}\n---\n\
             apiVersion: {GENERATORS}\nkind: STSSessionToken\nmetadata: {{name: web}}\nspec:\n  region: us-east-1\n  \
             auth: {{jwt: {{serviceAccountRef: {{name: default}}}}}}\n---\n\
             apiVersion: {GENERATORS}\nkind: STSSessionToken\nmetadata: {{name: nokeys}}\nspec:\n  region: us-east-1\n  \
             {}\n",
            KEYS_AUTH.replace("aws-keys", "absent")
        ))
        .await;
    for (es, kind, generator, reason, says) in [
        (
            "ambient",
            "ECRAuthorizationToken",
            "ambient",
            "SecretSyncedError",
            "a namespaced generator may not use",
        ),
        (
            "public",
            "ECRAuthorizationToken",
            "public",
            "Unsupported",
            "spec.scope public",
        ),
        (
            "web",
            "STSSessionToken",
            "web",
            "SecretSyncedError",
            "jwt auth cannot be used for STS Session Token generation",
        ),
        (
            "nokeys",
            "STSSessionToken",
            "nokeys",
            "SecretSyncedError",
            "Secret",
        ),
    ] {
        world
            .apply(&generated(es, "1h", &[(kind, generator, "")]))
            .await;
        let failed = world.wait_ready(es, reason).await;
        let message = failed.message.unwrap_or_default();
        assert!(
            message.contains(&format!("{kind} {ns}/{generator}")) && message.contains(says),
            "{es}: {message}"
        );
        assert!(world.secret(es).await.is_none(), "{es}: nothing is synced");
    }
}
