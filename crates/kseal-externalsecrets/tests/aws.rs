//! The AWS provider against the real moto server of `tests/env`: values,
//! versions, batching and coalescing counted at moto, credentials from STS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use k8s_openapi::api::core::v1::ServiceAccount;
use kseal_externalsecrets::provider::aws::{
    Auth, CallObserver, Error, Fetcher, Provider, ProviderOptions, RemoteSecret,
    ServiceAccountTokenSource, StoreConfig, StoreId,
};
use kseal_testenv::{AwsAccount, TestEnv};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use zeroize::Zeroizing;

const REGION: &str = "us-east-1";

/// Counts the calls a provider reports, by operation and result.
#[derive(Default)]
struct Calls(Mutex<BTreeMap<(String, String), u64>>);

impl CallObserver for Calls {
    fn call(&self, operation: &'static str, result: &'static str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry((operation.to_owned(), result.to_owned()))
            .or_default() += 1;
    }
}

impl Calls {
    fn count(&self, operation: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((op, _), _)| op == operation)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A store configuration that signs with `account`'s static keys.
fn store(account: &AwsAccount) -> StoreConfig {
    StoreConfig {
        service: kseal_externalsecrets::provider::aws::Service::SecretsManager,
        region: REGION.to_owned(),
        role: None,
        additional_roles: Vec::new(),
        external_id: None,
        session_tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        prefix: None,
        auth: Auth::Static {
            access_key_id: account.access_key_id().to_owned(),
            secret_access_key: Zeroizing::new(account.secret_access_key().to_owned()),
            session_token: None,
        },
        session_name: "kseal-test".to_owned(),
    }
}

async fn new_provider(env: &TestEnv, config: StoreConfig) -> (Provider, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let options = ProviderOptions {
        endpoint_url: Some(env.moto_endpoint().to_owned()),
        observer: Some(calls.clone()),
    };
    let provider = Provider::new(config, options).await.expect("provider");
    (provider, calls)
}

async fn create(account: &AwsAccount, name: &str, value: &str) -> String {
    account
        .secretsmanager_client()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"))
        .version_id
        .expect("version id")
}

fn text(value: &RemoteSecret) -> &str {
    match value {
        RemoteSecret::String(value) => value.as_str(),
        RemoteSecret::Binary(_) => panic!("expected a string secret"),
    }
}

#[tokio::test]
async fn get_reads_strings_binaries_and_versions() {
    let env = TestEnv::get().await;
    let account = env.aws_account();
    let sm = account.secretsmanager_client().await;
    create(&account, "app/db", r#"{"password":"p1"}"#).await;
    sm.create_secret()
        .name("app/cert")
        .secret_binary(Blob::new(vec![0u8, 159, 146, 150]))
        .send()
        .await
        .unwrap();
    let first = create(&account, "app/rotated", "v1").await;
    sm.put_secret_value()
        .secret_id("app/rotated")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id("app/rotated")
        .secret_string("v3-blue")
        .version_stages("blue")
        .send()
        .await
        .unwrap();

    let mut config = store(&account);
    config.prefix = Some("app/".to_owned());
    let (provider, calls) = new_provider(env, config).await;

    let db = provider.get("db", None).await.unwrap();
    assert_eq!(text(&db), r#"{"password":"p1"}"#);
    assert!(!format!("{db:?}").contains("p1"));
    let cert = provider.get("cert", None).await.unwrap();
    assert_eq!(
        cert,
        RemoteSecret::Binary(Zeroizing::new(vec![0, 159, 146, 150]))
    );

    assert_eq!(text(&provider.get("rotated", None).await.unwrap()), "v2");
    assert_eq!(
        text(&provider.get("rotated", Some("AWSCURRENT")).await.unwrap()),
        "v2"
    );
    assert_eq!(
        text(&provider.get("rotated", Some("AWSPREVIOUS")).await.unwrap()),
        "v1"
    );
    assert_eq!(
        text(&provider.get("rotated", Some("blue")).await.unwrap()),
        "v3-blue"
    );
    let by_id = provider
        .get("rotated", Some(&format!("uuid/{first}")))
        .await
        .unwrap();
    assert_eq!(text(&by_id), "v1");

    let missing = provider.get("nope", None).await.unwrap_err();
    assert!(
        matches!(&missing, Error::NotFound { key, .. } if key == "app/nope"),
        "{missing}"
    );
    assert_eq!(missing.reason(), "not_found");
    let no_stage = provider.get("rotated", Some("green")).await.unwrap_err();
    assert_eq!(no_stage.reason(), "not_found", "{no_stage}");

    assert_eq!(account.call_count("GetSecretValue").await, 9);
    assert_eq!(calls.count("GetSecretValue"), 9);
    assert_eq!(
        calls.0.lock().unwrap()[&("GetSecretValue".into(), "not_found".into())],
        2
    );
}

#[tokio::test]
async fn batch_get_splits_into_calls_of_20() {
    let env = TestEnv::get().await;
    let account = env.aws_account();
    let mut keys = Vec::new();
    for i in 0..44 {
        let key = format!("batch/{i:02}");
        create(&account, &key, &format!("value {i}")).await;
        keys.push(key);
    }
    keys.insert(7, "batch/missing".to_owned());
    let (provider, calls) = new_provider(env, store(&account)).await;

    let results = provider.batch_get(&keys).await.unwrap();

    assert_eq!(results.len(), 45);
    for (key, (got_key, result)) in keys.iter().zip(&results) {
        assert_eq!(key, got_key);
        match key.as_str() {
            "batch/missing" => assert!(
                matches!(result, Err(Error::NotFound { key, .. }) if key == "batch/missing"),
                "{result:?}"
            ),
            _ => {
                let i: u32 = key["batch/".len()..].parse().unwrap();
                assert_eq!(text(result.as_ref().unwrap()), format!("value {i}"));
            }
        }
    }
    assert_eq!(account.call_count("BatchGetSecretValue").await, 3);
    assert_eq!(account.call_count("GetSecretValue").await, 0);
    assert_eq!(calls.count("BatchGetSecretValue"), 3);
}

#[tokio::test]
async fn fetcher_coalesces_concurrent_fetches_into_one_call() {
    let env = TestEnv::get().await;
    let account = env.aws_account();
    let mut ids = BTreeMap::new();
    for i in 0..20 {
        let id = create(&account, &format!("shared/{i}"), &format!("v{i}")).await;
        ids.insert(i, id);
    }
    let (provider, _) = new_provider(env, store(&account)).await;
    let fetcher = Fetcher::new();
    let store = StoreId(1);

    let round = Instant::now();
    let fetch_round = |fresh_after: Instant| {
        let fetches = (0..200).map(|n| {
            let fetcher = fetcher.clone();
            let provider = provider.clone();
            tokio::spawn(async move {
                let key = format!("shared/{}", n % 20);
                let value = fetcher
                    .fetch(store, &provider, &key, None, fresh_after)
                    .await;
                (n % 20, value)
            })
        });
        futures::future::join_all(fetches)
    };
    for result in fetch_round(round).await {
        let (i, value) = result.unwrap();
        assert_eq!(text(&value.unwrap()), format!("v{i}"));
    }
    assert_eq!(account.call_count("BatchGetSecretValue").await, 1);

    // The same round again: served from the cache.
    fetch_round(round).await;
    assert_eq!(account.call_count("BatchGetSecretValue").await, 1);

    // A later round fetches again, once.
    let next = Instant::now();
    fetch_round(next).await;
    assert_eq!(account.call_count("BatchGetSecretValue").await, 2);

    // A pinned version is read with GetSecretValue, shared by concurrent requests.
    let version = format!("uuid/{}", ids[&3]);
    let pinned = futures::future::join_all(
        (0..10).map(|_| fetcher.fetch(store, &provider, "shared/3", Some(&version), next)),
    )
    .await;
    for value in pinned {
        assert_eq!(text(&value.unwrap()), "v3");
    }
    assert_eq!(account.call_count("GetSecretValue").await, 1);

    // A missing secret: the error reaches every waiter and is not cached.
    let missing = futures::future::join_all(
        (0..5).map(|_| fetcher.fetch(store, &provider, "shared/missing", None, next)),
    )
    .await;
    assert!(
        missing
            .iter()
            .all(|r| matches!(r, Err(Error::NotFound { .. })))
    );
    assert_eq!(account.call_count("BatchGetSecretValue").await, 3);
    let again = fetcher
        .fetch(store, &provider, "shared/missing", None, next)
        .await;
    assert!(matches!(again, Err(Error::NotFound { .. })));
    assert_eq!(account.call_count("BatchGetSecretValue").await, 4);
}

#[tokio::test]
async fn find_selects_by_tags_path_and_name() {
    let env = TestEnv::get().await;
    let account = env.aws_account();
    let sm = account.secretsmanager_client().await;
    let tagged = |name: &str, team: &str| {
        sm.create_secret()
            .name(name)
            .secret_string(format!("value of {name}"))
            .tags(Tag::builder().key("team").value(team).build())
            .tags(Tag::builder().key("env").value("prod").build())
            .send()
    };
    tagged("payments/db", "payments").await.unwrap();
    tagged("payments/api-key", "payments").await.unwrap();
    tagged("search/db", "search").await.unwrap();
    // Key "team" with another value, and value "payments" under another key.
    sm.create_secret()
        .name("decoy")
        .secret_string("x")
        .tags(Tag::builder().key("team").value("other").build())
        .tags(Tag::builder().key("owner").value("payments").build())
        .send()
        .await
        .unwrap();
    let (provider, calls) = new_provider(env, store(&account)).await;

    let names = |found: Vec<(String, RemoteSecret)>| -> Vec<String> {
        found
            .into_iter()
            .map(|(name, value)| {
                assert_eq!(text(&value), format!("value of {name}"));
                name
            })
            .collect()
    };
    let tags = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
    let by_tags = provider.find(None, &tags, None).await.unwrap();
    assert_eq!(names(by_tags), ["payments/api-key", "payments/db"]);

    let db = regex::Regex::new("/db$").unwrap();
    let by_name = provider
        .find(Some(&db), &BTreeMap::new(), None)
        .await
        .unwrap();
    assert_eq!(names(by_name), ["payments/db", "search/db"]);

    let by_path = provider
        .find(Some(&db), &BTreeMap::new(), Some("search/"))
        .await
        .unwrap();
    assert_eq!(names(by_path), ["search/db"]);

    let nobody = BTreeMap::from([("team".to_owned(), "nobody".to_owned())]);
    let none = provider.find(None, &nobody, None).await.unwrap();
    assert!(none.is_empty());

    assert_eq!(account.call_count("ListSecrets").await, 4);
    // The empty result needs no values.
    assert_eq!(account.call_count("BatchGetSecretValue").await, 3);
    assert_eq!(account.call_count("GetSecretValue").await, 0);
    assert_eq!(calls.count("ListSecrets"), 4);
}

#[tokio::test]
async fn web_identity_credentials_are_cached() {
    let env = TestEnv::get().await;
    let namespace = env.namespace().await;
    let client = env.client().await;
    let service_accounts = Api::<ServiceAccount>::namespaced(client.clone(), &namespace);
    let service_account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("reader".to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    service_accounts
        .create(&PostParams::default(), &service_account)
        .await
        .unwrap();

    // The assumed role's account holds the secret (moto: the role's account id).
    let account = env.aws_account();
    create(&account, "irsa/db", "from-web-identity").await;
    let token = ServiceAccountTokenSource::new(client, &namespace, "reader", Vec::new());
    let mut config = store(&account);
    let role_arn = format!("arn:aws:iam::{}:role/reader", account.account_id());
    config.auth = Auth::WebIdentity {
        role_arn: role_arn.clone(),
        token: Arc::new(token),
    };
    let (provider, calls) = new_provider(env, config).await;

    for _ in 0..3 {
        let value = provider.get("irsa/db", None).await.unwrap();
        assert_eq!(text(&value), "from-web-identity");
    }
    assert_eq!(calls.count("AssumeRoleWithWebIdentity"), 1);
    assert_eq!(calls.count("GetSecretValue"), 3);
    // At moto: one AssumeRoleWithWebIdentity, and all reads signed with its keys.
    let sessions = assumed_roles(env, &role_arn).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].session_name, "kseal-test");
    assert_eq!(
        calls_of(env, &sessions[0].access_key_id, "GetSecretValue").await,
        3
    );
    assert_eq!(account.call_count("GetSecretValue").await, 0);

    // No such service account: an authentication error that names it.
    let token = ServiceAccountTokenSource::new(env.client().await, &namespace, "ghost", vec![]);
    let mut config = store(&account);
    config.auth = Auth::WebIdentity {
        role_arn: role_arn.clone(),
        token: Arc::new(token),
    };
    let (provider, calls) = new_provider(env, config).await;
    let error = provider.get("irsa/db", None).await.unwrap_err();
    assert_eq!(error.reason(), "auth", "{error}");
    assert!(
        error.to_string().contains(&format!("{namespace}/ghost")),
        "{error}"
    );
    assert_eq!(calls.count("AssumeRoleWithWebIdentity"), 0);
    // The read is reported as failed for lack of credentials.
    let reported = calls.0.lock().unwrap().clone();
    assert_eq!(
        reported,
        BTreeMap::from([(("GetSecretValue".into(), "auth".into()), 1)])
    );
}

#[tokio::test]
async fn roles_are_chained_with_the_external_id() {
    let env = TestEnv::get().await;
    let base = env.aws_account();
    let hop = env.aws_account();
    let target = env.aws_account();
    create(&target, "chained/db", "from-target").await;
    let mut config = store(&base);
    let hop_arn = format!("arn:aws:iam::{}:role/hop", hop.account_id());
    let target_arn = format!("arn:aws:iam::{}:role/target", target.account_id());
    config.additional_roles = vec![hop_arn.clone()];
    config.role = Some(target_arn.clone());
    config.external_id = Some("kseal-external-id".to_owned());
    let (provider, calls) = new_provider(env, config).await;

    for _ in 0..2 {
        let value = provider.get("chained/db", None).await.unwrap();
        assert_eq!(text(&value), "from-target");
    }
    assert_eq!(calls.count("AssumeRole"), 2);
    // At moto: each role assumed once, the external id only for `role`, and
    // every read signed with the last role's keys.
    let hops = assumed_roles(env, &hop_arn).await;
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert_eq!(hops[0].external_id, None);
    let targets = assumed_roles(env, &target_arn).await;
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0].external_id.as_deref(), Some("kseal-external-id"));
    assert_eq!(
        calls_of(env, &targets[0].access_key_id, "GetSecretValue").await,
        2
    );
    assert_eq!(base.call_count("GetSecretValue").await, 0);
}

#[tokio::test]
async fn session_tags_and_transitive_keys_go_with_the_last_role() {
    let env = TestEnv::get().await;
    let base = env.aws_account();
    let hop = env.aws_account();
    let target = env.aws_account();
    create(&target, "tagged/db", "from-tagged-session").await;
    let mut config = store(&base);
    let hop_arn = format!("arn:aws:iam::{}:role/hop", hop.account_id());
    let target_arn = format!("arn:aws:iam::{}:role/tagged", target.account_id());
    config.additional_roles = vec![hop_arn.clone()];
    config.role = Some(target_arn.clone());
    config.session_tags = vec![
        ("team".to_owned(), "payments".to_owned()),
        ("env".to_owned(), "prod".to_owned()),
    ];
    config.transitive_tag_keys = vec!["team".to_owned()];
    let (provider, _) = new_provider(env, config).await;
    let value = provider.get("tagged/db", None).await.unwrap();
    assert_eq!(text(&value), "from-tagged-session");

    // What STS received: no tags for the hop, the tags and transitive keys with `role`.
    let hops = env.sts_calls(&hop_arn).await;
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert!(hops[0].tags.is_empty(), "{hops:?}");
    assert!(hops[0].transitive_tag_keys.is_empty(), "{hops:?}");
    let targets = env.sts_calls(&target_arn).await;
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0].action, "AssumeRole");
    assert_eq!(
        targets[0].tags,
        BTreeMap::from([
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "payments".to_owned()),
        ])
    );
    assert_eq!(targets[0].transitive_tag_keys, ["team"]);
    assert_eq!(targets[0].session_name.as_deref(), Some("kseal-test"));
}

/// One role session moto's STS handed out.
#[derive(Debug)]
struct AssumedRole {
    access_key_id: String,
    session_name: String,
    external_id: Option<String>,
}

/// The sessions moto's STS created for `role_arn` (from moto's own state,
/// `/moto-api/data.json`: `tests/env/moto_server.py` does not count STS calls).
async fn assumed_roles(env: &TestEnv, role_arn: &str) -> Vec<AssumedRole> {
    let url = format!("{}/moto-api/data.json", env.moto_endpoint());
    let body = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .and_then(|mut response| response.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    })
    .await
    .unwrap();
    let data: serde_json::Value = serde_json::from_str(&body).expect("moto state is JSON");
    let text = |role: &serde_json::Value, field: &str| role[field].as_str().map(str::to_owned);
    data["sts"]["AssumedRole"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|role| role["role_arn"] == role_arn)
        .map(|role| AssumedRole {
            access_key_id: text(role, "access_key_id").expect("access key id"),
            session_name: text(role, "session_name").unwrap_or_default(),
            external_id: text(role, "external_id"),
        })
        .collect()
}

/// Calls of `operation` moto counted under `access_key_id`.
async fn calls_of(env: &TestEnv, access_key_id: &str, operation: &str) -> u64 {
    env.moto_call_counts()
        .await
        .get(access_key_id)
        .and_then(|counts| counts.get(operation))
        .copied()
        .unwrap_or(0)
}
