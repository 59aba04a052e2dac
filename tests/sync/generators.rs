//! Generators (`dataFrom[].sourceRef.generatorRef`): Password, UUID, Fake and ClusterGenerator fill a
//! Secret without any store; values stay until the next refresh (also across a restart of the
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
    let ecr = format!("{}-ecr", world.namespace);
    world
        .apply(&format!(
            "apiVersion: {GENERATORS}\nkind: ClusterGenerator\nmetadata: {{name: {password}}}\nspec:\n  kind: Password\n  \
             generator:\n    passwordSpec: {{length: 12, secretKeys: [first, second], encoding: hex}}\n---\n\
             apiVersion: {GENERATORS}\nkind: ClusterGenerator\nmetadata: {{name: {ecr}}}\nspec:\n  kind: ECRAuthorizationToken\n  \
             generator:\n    ecrAuthorizationTokenSpec: {{region: eu-west-1, role: arn:aws:iam::123456789012:role/pull}}\n"
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
        .apply(&generated("ecr", "1h", &[("ClusterGenerator", &ecr, "")]))
        .await;
    let secret = world.wait_secret("two", |s| text_data(s).len() == 2).await;
    let data = text_data(&secret);
    for key in ["first", "second"] {
        let raw = hex::decode(&data[key]).expect("hex");
        assert_eq!(raw.len(), 12, "{key}");
    }
    assert_ne!(data["first"], data["second"], "each key its own password");
    world.wait_ready("two", "SecretSynced").await;

    let refused = world.wait_ready("ecr", "Unsupported").await;
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains("spec.dataFrom[0].sourceRef.generatorRef")
            && message.contains("ECRAuthorizationToken"),
        "{message}"
    );
    assert!(world.secret("ecr").await.is_none(), "nothing is synced");
    // The CRD keeps the spec of a kind kseal does not generate, as written.
    let gvk = GroupVersionKind::gvk(
        "generators.external-secrets.io",
        "v1alpha1",
        "ClusterGenerator",
    );
    let resource = ApiResource::from_gvk_with_plural(&gvk, "clustergenerators");
    let api: kube::Api<DynamicObject> = kube::Api::all_with(world.client.clone(), &resource);
    let kept = api.get(&ecr).await.unwrap();
    assert_eq!(
        kept.data["spec"]["generator"]["ecrAuthorizationTokenSpec"]["region"],
        "eu-west-1"
    );
    api.delete(&password, &Default::default()).await.unwrap();
    api.delete(&ecr, &Default::default()).await.unwrap();
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
