//! The AWS SDK pointed at moto, and moto's per-operation call counts.
//!
//! moto runs behind `tests/env/moto_server.py`, which counts calls by access
//! key id and operation, and gives access key ids `KSEAL<12 digits>…` their
//! own moto account. [`TestEnv::aws_account`] hands each test such a key, so
//! its secrets and counts are its own while tests run in parallel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;

use crate::{TestEnv, var};

/// Calls moto received, by operation name (`BatchGetSecretValue`, …).
pub type CallCounts = BTreeMap<String, u64>;

/// One STS AssumeRole or AssumeRoleWithWebIdentity call moto received, with the parameters moto
/// itself ignores (session tags) or does not keep (the token's audiences).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct StsCall {
    /// `AssumeRole` or `AssumeRoleWithWebIdentity`.
    pub action: String,
    /// `RoleArn`.
    pub role_arn: Option<String>,
    /// `RoleSessionName`.
    pub session_name: Option<String>,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `Tags`, by key.
    pub tags: BTreeMap<String, String>,
    /// `TransitiveTagKeys`, sorted.
    pub transitive_tag_keys: Vec<String>,
    /// The `aud` claim of `WebIdentityToken`.
    pub audiences: Vec<String>,
}

/// Secret access key moto accepts with any access key id.
const SECRET_ACCESS_KEY: &str = "testing";
/// Region every test uses.
const REGION: &str = "us-east-1";

/// A moto account of its own: credentials, SDK config and call counts.
#[derive(Debug, Clone)]
pub struct AwsAccount {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    endpoint: String,
}

impl TestEnv {
    /// moto's endpoint (`AWS_ENDPOINT_URL`).
    pub fn moto_endpoint(&self) -> &str {
        var(&self.vars, "AWS_ENDPOINT_URL")
    }

    /// SDK config for moto with the environment's default credentials
    /// (shared moto account `123456789012`).
    pub async fn aws_config(&self) -> SdkConfig {
        sdk_config(
            self.moto_endpoint(),
            var(&self.vars, "AWS_ACCESS_KEY_ID"),
            SECRET_ACCESS_KEY,
        )
        .await
    }

    /// A Secrets Manager client for moto with the default credentials.
    pub async fn secretsmanager_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.aws_config().await)
    }

    /// The STS calls moto received for `role_arn`, in order.
    pub async fn sts_calls(&self, role_arn: &str) -> Vec<StsCall> {
        let url = format!("{}/_kseal/sts", self.moto_endpoint());
        let calls: Vec<StsCall> =
            serde_json::from_str(&http_get(url).await).expect("moto's STS calls are JSON");
        calls
            .into_iter()
            .filter(|call| call.role_arn.as_deref() == Some(role_arn))
            .collect()
    }

    /// All calls moto received, by access key id, then operation.
    pub async fn moto_call_counts(&self) -> BTreeMap<String, CallCounts> {
        let url = format!("{}/_kseal/calls", self.moto_endpoint());
        serde_json::from_str(&http_get(url).await).expect("moto call counts are JSON")
    }

    /// Creates IAM user `user` with the inline `policy` in moto's default account and switches moto's
    /// IAM access control on for every later request: only for a private environment
    /// ([`TestEnv::isolated`]), since the shared moto's accounts have no IAM users. The user's keys, as
    /// an account whose calls are counted under its access key.
    pub async fn moto_iam_user(&self, user: &str, policy: serde_json::Value) -> AwsAccount {
        assert!(self.is_private(), "IAM access control needs a private moto");
        let url = format!("{}/_kseal/iam/user", self.moto_endpoint());
        let body = serde_json::json!({ "user": user, "policy": policy }).to_string();
        let answer = tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .header("content-type", "application/json")
                .send(body.as_bytes())
                .and_then(|mut response| response.body_mut().read_to_string())
                .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        })
        .await
        .expect("moto request panicked");
        let keys: serde_json::Value = serde_json::from_str(&answer).expect("moto's answer is JSON");
        let field = |name: &str| keys[name].as_str().expect("an access key").to_owned();
        AwsAccount {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
            account_id: "123456789012".to_owned(),
            endpoint: self.moto_endpoint().to_owned(),
        }
    }

    /// A fresh moto account for one test.
    pub fn aws_account(&self) -> AwsAccount {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // 12 digits: 6 from the process id, 6 from a counter.
        let account_id = format!(
            "{:06}{:06}",
            std::process::id() % 1_000_000,
            NEXT.fetch_add(1, Ordering::Relaxed) % 1_000_000
        );
        AwsAccount {
            access_key_id: format!("KSEAL{account_id}"),
            secret_access_key: SECRET_ACCESS_KEY.to_owned(),
            account_id,
            endpoint: self.moto_endpoint().to_owned(),
        }
    }
}

impl AwsAccount {
    /// The access key id (its calls are counted under it).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key to pair with [`AwsAccount::access_key_id`].
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The moto account id (12 digits; it appears in ARNs).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// A Secret `{name}-credentials` with this account's static keys and a SecretStore `name` (AWS
    /// Secrets Manager, us-east-1) reading with them, as YAML documents for [`crate::apply_yaml`].
    pub fn static_key_store(&self, name: &str) -> String {
        format!(
            r#"
apiVersion: v1
kind: Secret
metadata:
  name: {name}-credentials
stringData:
  access-key: {access}
  secret-key: {secret}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: {name}
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {{name: {name}-credentials, key: access-key}}
          secretAccessKeySecretRef: {{name: {name}-credentials, key: secret-key}}
"#,
            access = self.access_key_id,
            secret = self.secret_access_key,
        )
    }

    /// Environment variables that point an AWS SDK in a child process
    /// (e.g. the controller) at this account.
    pub fn vars(&self) -> [(&'static str, String); 4] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }

    /// SDK config for moto with this account's credentials.
    pub async fn config(&self) -> SdkConfig {
        sdk_config(&self.endpoint, &self.access_key_id, &self.secret_access_key).await
    }

    /// A Secrets Manager client for this account.
    pub async fn secretsmanager_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config().await)
    }

    /// A Parameter Store (SSM) client of this account.
    pub async fn ssm_client(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config().await)
    }

    /// Calls this account made, by operation (exact counts, kept by moto's wrapper).
    pub async fn call_counts(&self) -> CallCounts {
        let url = format!("{}/_kseal/calls?key={}", self.endpoint, self.access_key_id);
        serde_json::from_str(&http_get(url).await).expect("moto call counts are JSON")
    }

    /// How many `operation` calls this account made.
    pub async fn call_count(&self, operation: &str) -> u64 {
        self.call_counts()
            .await
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

async fn sdk_config(endpoint: &str, access_key_id: &str, secret_access_key: &str) -> SdkConfig {
    let credentials = Credentials::new(
        access_key_id,
        secret_access_key.to_owned(),
        None,
        None,
        "kseal-testenv",
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

async fn http_get(url: String) -> String {
    tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .and_then(|mut response| response.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    })
    .await
    .expect("moto request panicked")
}
