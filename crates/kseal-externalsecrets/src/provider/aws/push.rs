//! Writing to AWS Secrets Manager for PushSecrets, as ESO's AWS provider writes: a secret is created
//! tagged `managed-by: external-secrets` (ESO's tag, so that ESO and kseal recognise each other's
//! secrets), and only a secret carrying that tag is ever written over or deleted.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use zeroize::Zeroizing;

use super::client::Provider;
use super::error::Error;

/// The tag that marks a secret as written by a PushSecret (ESO's key and value).
pub const MANAGED_BY: (&str, &str) = ("managed-by", "external-secrets");
/// ESO's description of the secrets it creates.
pub const DEFAULT_DESCRIPTION: &str = "secret 'managed-by:external-secrets'";
/// ESO's KMS key of the secrets it creates.
pub const DEFAULT_KMS_KEY: &str = "alias/aws/secretsmanager";
/// The client request token (version id) of a secret's first version, as ESO sends it.
const INITIAL_VERSION: &str = "00000000-0000-0000-0000-000000000001";

/// How the value is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `SecretBinary` (ESO's default).
    #[default]
    Binary,
    /// `SecretString`.
    String,
}

/// What a created secret carries.
#[derive(Debug, Clone, Default)]
pub struct Creation {
    /// Description.
    pub description: String,
    /// KMS key id.
    pub kms_key_id: String,
    /// Tags (with [`MANAGED_BY`]).
    pub tags: BTreeMap<String, String>,
}

/// A remote secret as DescribeSecret and GetSecretValue see it.
pub struct Existing {
    /// Whether it carries [`MANAGED_BY`].
    pub managed: bool,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its current value (string or binary), when it has a version.
    pub value: Option<Zeroizing<Vec<u8>>>,
}

impl Provider {
    /// The remote secret `key` (with the store's prefix), or `None` when it does not exist.
    pub async fn describe_for_push(&self, key: &str) -> Result<Option<Existing>, Error> {
        let id = self.secret_id(key);
        let described = self
            .observe("DescribeSecret", {
                self.secrets_manager()
                    .describe_secret()
                    .secret_id(&id)
                    .send()
                    .await
                    .map_err(|error| Error::from_sdk("DescribeSecret", Some(&id), error))
            })
            .map(Some)
            .or_else(not_found)?;
        let Some(described) = described else {
            return Ok(None);
        };
        let tags: BTreeMap<String, String> = described
            .tags()
            .iter()
            .map(|tag| {
                (
                    tag.key().unwrap_or_default().to_owned(),
                    tag.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let managed = tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1);
        let has_versions = described
            .version_ids_to_stages()
            .is_some_and(|stages| !stages.is_empty());
        let value = if managed && has_versions {
            self.current_value(key).await?
        } else {
            None
        };
        Ok(Some(Existing {
            managed,
            tags,
            value,
        }))
    }

    /// Whether the remote secret `key` exists (GetSecretValue, as ESO checks it).
    pub async fn exists_for_push(&self, key: &str) -> Result<bool, Error> {
        Ok(self.current_value(key).await?.is_some())
    }

    /// The current value of `key`, string or binary; `None` when it does not exist.
    async fn current_value(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let id = self.secret_id(key);
        let output = self
            .observe("GetSecretValue", {
                self.secrets_manager()
                    .get_secret_value()
                    .secret_id(&id)
                    .send()
                    .await
                    .map_err(|error| Error::from_sdk("GetSecretValue", Some(&id), error))
            })
            .map(Some)
            .or_else(not_found)?;
        Ok(output.map(|output| {
            Zeroizing::new(match (output.secret_string, output.secret_binary) {
                (_, Some(binary)) => binary.into_inner(),
                (Some(text), None) => text.into_bytes(),
                (None, None) => Vec::new(),
            })
        }))
    }

    /// Creates `key` with `value`.
    pub async fn create_for_push(
        &self,
        key: &str,
        value: &[u8],
        format: Format,
        creation: &Creation,
    ) -> Result<(), Error> {
        let id = self.secret_id(key);
        let tags = creation
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let request = self
            .secrets_manager()
            .create_secret()
            .name(&id)
            .description(&creation.description)
            .kms_key_id(&creation.kms_key_id)
            .client_request_token(INITIAL_VERSION)
            .set_tags(Some(tags));
        let request = match format {
            Format::Binary => request.secret_binary(Blob::new(value.to_vec())),
            Format::String => request.secret_string(String::from_utf8_lossy(value)),
        };
        self.observe(
            "CreateSecret",
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|error| Error::from_sdk("CreateSecret", Some(&id), error)),
        )
    }

    /// Writes a new version of `key`.
    pub async fn put_for_push(&self, key: &str, value: &[u8], format: Format) -> Result<(), Error> {
        let id = self.secret_id(key);
        let request = self
            .secrets_manager()
            .put_secret_value()
            .secret_id(&id)
            .client_request_token(new_version_id());
        let request = match format {
            Format::Binary => request.secret_binary(Blob::new(value.to_vec())),
            Format::String => request.secret_string(String::from_utf8_lossy(value)),
        };
        self.observe(
            "PutSecretValue",
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|error| Error::from_sdk("PutSecretValue", Some(&id), error)),
        )
    }

    /// Sets `tags` on `key` and removes the others it has (as ESO does when the metadata names tags).
    pub async fn retag_for_push(
        &self,
        key: &str,
        current: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let id = self.secret_id(key);
        let gone: Vec<String> = current
            .keys()
            .filter(|k| !tags.contains_key(*k))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.observe(
                "UntagResource",
                self.secrets_manager()
                    .untag_resource()
                    .secret_id(&id)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| Error::from_sdk("UntagResource", Some(&id), error)),
            )?;
        }
        let changed = tags
            .iter()
            .any(|(k, v)| k != MANAGED_BY.0 && current.get(k) != Some(v));
        if changed {
            let tags = tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            self.observe(
                "TagResource",
                self.secrets_manager()
                    .tag_resource()
                    .secret_id(&id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| Error::from_sdk("TagResource", Some(&id), error)),
            )?;
        }
        Ok(())
    }

    /// Deletes `key` if it exists and carries [`MANAGED_BY`]; `force`: without a recovery window,
    /// else within `recovery_days` (AWS's default 30 when `None`).
    pub async fn delete_for_push(
        &self,
        key: &str,
        force: bool,
        recovery_days: Option<i64>,
    ) -> Result<(), Error> {
        let Some(existing) = self.describe_for_push(key).await? else {
            return Ok(());
        };
        if !existing.managed {
            return Ok(());
        }
        if force && recovery_days.is_some_and(|days| days > 0) {
            return Err(Error::Config(
                "secretsManager: forceDeleteWithoutRecovery and recoveryWindowInDays cannot both be set"
                    .to_owned(),
            ));
        }
        if let Some(days) = recovery_days.filter(|days| !(7..=30).contains(days) && *days != 0) {
            return Err(Error::Config(format!(
                "secretsManager.recoveryWindowInDays must be between 7 and 30 days, not {days}"
            )));
        }
        let id = self.secret_id(key);
        let request = self
            .secrets_manager()
            .delete_secret()
            .secret_id(&id)
            .set_force_delete_without_recovery(force.then_some(true))
            .set_recovery_window_in_days(recovery_days.filter(|days| *days > 0));
        let result = request.send().await;
        match result {
            Err(error) if error.code() == Some("ResourceNotFoundException") => Ok(()),
            result => self.observe(
                "DeleteSecret",
                result
                    .map(|_| ())
                    .map_err(|error| Error::from_sdk("DeleteSecret", Some(&id), error)),
            ),
        }
    }
}

/// A random (version 4) UUID: a new version's client request token, as ESO sends one.
fn new_version_id() -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A missing secret as `None`.
fn not_found<T>(error: Error) -> Result<Option<T>, Error> {
    match error {
        Error::NotFound { .. } => Ok(None),
        error => Err(error),
    }
}
