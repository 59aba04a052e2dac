//! [`Provider`]: one store's AWS client (Secrets Manager, or Parameter Store through
//! `parameters`), and the three ways a sync reads secrets (one key, many keys, a search).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretValueEntry};
use futures::StreamExt as _;
use futures::future::join_all;
use zeroize::Zeroizing;

use super::config::{Auth, Observer, ProviderOptions, Service, StoreConfig};
use super::credentials;
use super::error::Error;
use super::parameters::{self, Parameters};

/// Most secret ids one BatchGetSecretValue call accepts.
pub const MAX_BATCH_IDS: usize = 20;
/// The version stage read when no version is given.
pub const DEFAULT_STAGE: &str = "AWSCURRENT";
/// A `version` with this prefix selects a VersionId; anything else a VersionStage.
const VERSION_ID_PREFIX: &str = "uuid/";
/// After AWS denies BatchGetSecretValue to a store's identity (a least-privilege policy that grants
/// only GetSecretValue), its reads go one GetSecretValue per secret for this long, then the batch call
/// is tried again (the policy may have been widened).
pub const BATCH_DENIED_RETRY: Duration = Duration::from_secs(15 * 60);
/// GetSecretValue calls in flight at once per batch that falls back to them.
const FALLBACK_CONCURRENCY: usize = 4;

/// A secret's value: `SecretString` or `SecretBinary`. Zeroized on drop;
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteSecret {
    /// `SecretString`.
    String(Zeroizing<String>),
    /// `SecretBinary`.
    Binary(Zeroizing<Vec<u8>>),
}

impl RemoteSecret {
    /// The value's bytes (a string's UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            RemoteSecret::String(value) => value.as_bytes(),
            RemoteSecret::Binary(value) => value,
        }
    }

    /// Takes the value out of an AWS response; `None` when it has neither.
    fn from_parts(string: Option<String>, binary: Option<Blob>) -> Option<RemoteSecret> {
        match (string, binary) {
            (Some(string), _) => Some(RemoteSecret::String(Zeroizing::new(string))),
            (None, Some(binary)) => Some(RemoteSecret::Binary(Zeroizing::new(binary.into_inner()))),
            (None, None) => None,
        }
    }
}

impl fmt::Debug for RemoteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteSecret::String(_) => f.write_str("RemoteSecret::String(** redacted **)"),
            RemoteSecret::Binary(_) => f.write_str("RemoteSecret::Binary(** redacted **)"),
        }
    }
}

/// Which version of a secret a `remoteRef.version` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector<'a> {
    /// A VersionId (`uuid/<id>`).
    Id(&'a str),
    /// A VersionStage (anything else; default [`DEFAULT_STAGE`]).
    Stage(&'a str),
}

impl<'a> VersionSelector<'a> {
    /// Maps ESO's `remoteRef.version`: `uuid/<id>` → VersionId, anything else
    /// → VersionStage, none or empty → `AWSCURRENT`.
    pub fn parse(version: Option<&'a str>) -> Self {
        match version {
            None | Some("") => VersionSelector::Stage(DEFAULT_STAGE),
            Some(version) => match version.strip_prefix(VERSION_ID_PREFIX) {
                Some(id) => VersionSelector::Id(id),
                None => VersionSelector::Stage(version),
            },
        }
    }

    /// Whether this is the current version (what BatchGetSecretValue returns).
    pub fn is_current(&self) -> bool {
        *self == VersionSelector::Stage(DEFAULT_STAGE)
    }
}

/// One store's access to AWS Secrets Manager: credentials (cached) and a
/// client. Cheap to clone; build once per store configuration and reuse.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    client: aws_sdk_secretsmanager::Client,
    /// Set for a Parameter Store store: every read goes there instead.
    parameters: Option<Parameters>,
    /// STS with the same credentials, for [`Provider::verify`].
    sts: aws_sdk_sts::Client,
    prefix: Option<String>,
    observer: Observer,
    /// Until when BatchGetSecretValue is known to be denied to this identity.
    batch_denied_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// The SDK configuration of `config`: its region and the endpoint override; the SDK's default
/// credential chain only for [`Auth::DefaultChain`] (the others are built by `credentials::chain`).
pub(crate) async fn sdk_config(
    config: &StoreConfig,
    options: &ProviderOptions,
) -> Result<aws_config::SdkConfig, Error> {
    if config.region.is_empty() {
        return Err(Error::Config("region is required".to_owned()));
    }
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone()));
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if !matches!(config.auth, Auth::DefaultChain) {
        // The chain is built by the caller; do not probe the environment for one.
        loader = loader.no_credentials();
    }
    Ok(loader.load().await)
}

impl Provider {
    /// A provider for `config`. Makes no AWS call: credentials are obtained
    /// on first use.
    pub async fn new(config: StoreConfig, options: ProviderOptions) -> Result<Self, Error> {
        let base = sdk_config(&config, &options).await?;
        let observer = Observer::new(options.observer);
        let credentials = credentials::chain(&config, &base, &observer)?;
        let client_config = aws_sdk_secretsmanager::config::Builder::from(&base)
            .credentials_provider(credentials.clone())
            .build();
        let parameters = (config.service == Service::ParameterStore).then(|| {
            Parameters::new(aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&base)
                    .credentials_provider(credentials.clone())
                    .build(),
            ))
        });
        let sts_config = aws_sdk_sts::config::Builder::from(&base)
            .credentials_provider(credentials)
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                client: aws_sdk_secretsmanager::Client::from_conf(client_config),
                parameters,
                sts: aws_sdk_sts::Client::from_conf(sts_config),
                prefix: config.prefix.filter(|prefix| !prefix.is_empty()),
                observer,
                batch_denied_until: Mutex::new(None),
            }),
        })
    }

    /// Whether the store's credentials work: obtains them (through every role of the chain, as reads
    /// do, and cached as theirs) and signs an STS GetCallerIdentity with them. That call needs no IAM
    /// permission, so a least-privilege policy passes; an explicit deny of it (`AccessDenied`) still
    /// proves that AWS accepted the credentials. Returns the identity's ARN.
    pub async fn verify(&self) -> Result<String, Error> {
        const OPERATION: &str = "GetCallerIdentity";
        let result = match self.inner.sts.get_caller_identity().send().await {
            Ok(output) => Ok(output.arn.unwrap_or_default()),
            Err(error)
                if aws_sdk_sts::error::ProvideErrorMetadata::code(&error)
                    == Some("AccessDenied") =>
            {
                Ok(String::new())
            }
            Err(error) => Err(Error::from_sdk(OPERATION, None, error)),
        };
        self.inner.observer.record(OPERATION, result)
    }

    /// The secret id of `key`: the store's prefix, then the key.
    /// The Secrets Manager client.
    pub(super) fn secrets_manager(&self) -> &aws_sdk_secretsmanager::Client {
        &self.inner.client
    }

    /// Counts `operation`'s `result` for the call observer.
    pub(super) fn observe<T>(
        &self,
        operation: &'static str,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        self.inner.observer.record(operation, result)
    }

    pub(super) fn secret_id(&self, key: &str) -> String {
        match &self.inner.prefix {
            Some(prefix) => format!("{prefix}{key}"),
            None => key.to_owned(),
        }
    }

    /// GetSecretValue of `key` (with the store's prefix) at `version`
    /// (see [`VersionSelector::parse`]).
    pub async fn get(&self, key: &str, version: Option<&str>) -> Result<RemoteSecret, Error> {
        if let Some(parameters) = &self.inner.parameters {
            return parameters
                .get(&self.inner.observer, &self.secret_id(key), version)
                .await;
        }
        self.get_id(&self.secret_id(key), VersionSelector::parse(version))
            .await
    }

    /// Most keys one batch call reads: 20 (BatchGetSecretValue) or 10 (GetParameters).
    pub fn batch_size(&self) -> usize {
        match self.inner.parameters {
            Some(_) => parameters::MAX_NAMES,
            None => MAX_BATCH_IDS,
        }
    }

    /// Whether `version` selects the current value, which batch calls read: none or empty, and for
    /// Secrets Manager also `AWSCURRENT` (a Parameter Store version is a number or a label).
    pub fn is_current(&self, version: Option<&str>) -> bool {
        match self.inner.parameters {
            Some(_) => version.is_none_or(str::is_empty),
            None => VersionSelector::parse(version).is_current(),
        }
    }

    async fn get_id(&self, id: &str, version: VersionSelector<'_>) -> Result<RemoteSecret, Error> {
        const OPERATION: &str = "GetSecretValue";
        let request = self.inner.client.get_secret_value().secret_id(id);
        let request = match version {
            VersionSelector::Id(version_id) => request.version_id(version_id),
            VersionSelector::Stage(stage) => request.version_stage(stage),
        };
        let result = request
            .send()
            .await
            .map_err(|e| Error::from_sdk(OPERATION, Some(id), e));
        let output = self.inner.observer.record(OPERATION, result)?;
        RemoteSecret::from_parts(output.secret_string, output.secret_binary)
            .ok_or_else(|| no_value(OPERATION, id))
    }

    /// The tags of `key` (with the store's prefix), as `remoteRef.metadataPolicy: Fetch` reads them: a
    /// JSON object of tag keys to values, keys sorted, as ESO writes it (Go's `encoding/json`), from
    /// DescribeSecret.
    pub async fn tags(&self, key: &str) -> Result<RemoteSecret, Error> {
        const OPERATION: &str = "DescribeSecret";
        let id = self.secret_id(key);
        if let Some(parameters) = &self.inner.parameters {
            return parameters.tags(&self.inner.observer, &id).await;
        }
        let result = self
            .inner
            .client
            .describe_secret()
            .secret_id(&id)
            .send()
            .await
            .map_err(|e| Error::from_sdk(OPERATION, Some(&id), e));
        let output = self.inner.observer.record(OPERATION, result)?;
        let tags: BTreeMap<String, String> = output
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|tag| Some((tag.key?, tag.value.unwrap_or_default())))
            .collect();
        Ok(tags_json(&tags))
    }

    /// The current values of `keys` (with the store's prefix), with
    /// BatchGetSecretValue: at most [`MAX_BATCH_IDS`] per call, calls in
    /// parallel. A missing or unreadable secret fails only its own key; a
    /// failed call fails the whole batch. Results are in the order of `keys`.
    pub async fn batch_get(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, Result<RemoteSecret, Error>)>, Error> {
        let ids: Vec<String> = keys.iter().map(|key| self.secret_id(key)).collect();
        let mut values = match &self.inner.parameters {
            Some(parameters) => parameters.batch_get(&self.inner.observer, &ids).await,
            None => self.batch_get_ids(&ids).await?,
        };
        Ok(keys
            .iter()
            .zip(&ids)
            .map(|(key, id)| {
                let value = values.get_mut(id).map_or_else(
                    || Err(no_value("BatchGetSecretValue", id)),
                    |value| value.clone(),
                );
                (key.clone(), value)
            })
            .collect())
    }

    /// BatchGetSecretValue of secret ids (no prefix added), by id.
    async fn batch_get_ids(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Result<RemoteSecret, Error>>, Error> {
        let calls = plan_batches(ids);
        let results = join_all(calls.iter().map(|chunk| self.batch_call(chunk))).await;
        let mut values = HashMap::with_capacity(ids.len());
        for result in results {
            values.extend(result?);
        }
        Ok(values)
    }

    /// One BatchGetSecretValue request (and its pages) for at most
    /// [`MAX_BATCH_IDS`] distinct ids. An id the response neither returns
    /// nor reports (e.g. a partial ARN) is read with GetSecretValue, and so
    /// is every id while the batch call is denied ([`BATCH_DENIED_RETRY`]).
    async fn batch_call(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Result<RemoteSecret, Error>>, Error> {
        const OPERATION: &str = "BatchGetSecretValue";
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut values = HashMap::with_capacity(ids.len());
        let mut next_token = None;
        let denied_until = *self
            .inner
            .batch_denied_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if denied_until.is_none_or(|until| Instant::now() >= until) {
            loop {
                let mut denied = false;
                let result = self
                    .inner
                    .client
                    .batch_get_secret_value()
                    .set_secret_id_list(Some(ids.to_vec()))
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|e| {
                        denied = matches!(e.code(), Some("AccessDeniedException" | "AccessDenied"));
                        Error::from_sdk(OPERATION, None, e)
                    });
                if denied && values.is_empty() {
                    // Counted as the failed call it was, then read one by one.
                    let _ = self.inner.observer.record(OPERATION, result);
                    self.batch_denied(ids.len());
                    break;
                }
                let output = self.inner.observer.record(OPERATION, result)?;
                for entry in output.secret_values.unwrap_or_default() {
                    let Some(id) = requested_id(&entry, &wanted) else {
                        continue;
                    };
                    let value = RemoteSecret::from_parts(entry.secret_string, entry.secret_binary)
                        .ok_or_else(|| no_value(OPERATION, &id));
                    values.insert(id, value);
                }
                for error in output.errors.unwrap_or_default() {
                    let Some(id) = error.secret_id.filter(|id| wanted.contains(id.as_str())) else {
                        continue;
                    };
                    let error_value = Error::from_code(
                        OPERATION,
                        Some(&id),
                        error.error_code.as_deref(),
                        error.message.as_deref(),
                    );
                    values.insert(id, Err(error_value));
                }
                next_token = output.next_token.filter(|token| !token.is_empty());
                if next_token.is_none() {
                    break;
                }
            }
        }
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !values.contains_key(*id))
            .cloned()
            .collect();
        // Owned ids and a cloned provider: the stream's futures borrow nothing.
        let provider = self.clone();
        let mut singles = futures::stream::iter(missing)
            .map(move |id| {
                let provider = provider.clone();
                async move {
                    let value = provider
                        .get_id(&id, VersionSelector::Stage(DEFAULT_STAGE))
                        .await;
                    (id, value)
                }
            })
            .buffer_unordered(FALLBACK_CONCURRENCY);
        while let Some((id, value)) = singles.next().await {
            values.insert(id, value);
        }
        Ok(values)
    }

    /// Remembers that BatchGetSecretValue is denied to this identity, for [`BATCH_DENIED_RETRY`].
    fn batch_denied(&self, ids: usize) {
        let mut until = self
            .inner
            .batch_denied_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if until.is_none_or(|until| Instant::now() >= until) {
            tracing::warn!(
                ids,
                retry_in_s = BATCH_DENIED_RETRY.as_secs(),
                "AWS denied BatchGetSecretValue to this store's identity: reading its secrets one GetSecretValue each (grant secretsmanager:BatchGetSecretValue to save calls)"
            );
        }
        *until = Some(Instant::now() + BATCH_DENIED_RETRY);
    }

    /// The secrets a `dataFrom.find` selects, by name, sorted: ListSecrets
    /// filtered by `tags` (all must match exactly) and `path` (name prefix),
    /// then `name_regexp` on the name, then their current values with
    /// BatchGetSecretValue. As in ESO, the store's prefix is not applied.
    /// Secrets without a current value are left out.
    pub async fn find(
        &self,
        name_regexp: Option<&regex::Regex>,
        tags: &BTreeMap<String, String>,
        path: Option<&str>,
    ) -> Result<Vec<(String, RemoteSecret)>, Error> {
        if let Some(parameters) = &self.inner.parameters {
            return parameters
                .find(&self.inner.observer, name_regexp, tags, path)
                .await;
        }
        let names = self.list_names(tags, path).await?;
        let names: Vec<String> = names
            .into_iter()
            .filter(|name| name_regexp.is_none_or(|regexp| regexp.is_match(name)))
            .collect();
        let values = self.batch_get_ids(&names).await?;
        found_values(names, values)
    }

    /// Names of the secrets with all `tags` whose name starts with `path`.
    async fn list_names(
        &self,
        tags: &BTreeMap<String, String>,
        path: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        const OPERATION: &str = "ListSecrets";
        let filters = list_filters(tags, path);
        let mut names = Vec::new();
        let mut next_token = None;
        loop {
            let result = self
                .inner
                .client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| Error::from_sdk(OPERATION, None, e));
            let output = self.inner.observer.record(OPERATION, result)?;
            for entry in output.secret_list.unwrap_or_default() {
                let Some(name) = entry.name else { continue };
                let entry_tags: BTreeMap<&str, &str> = entry
                    .tags
                    .iter()
                    .flatten()
                    .filter_map(|tag| Some((tag.key.as_deref()?, tag.value.as_deref()?)))
                    .collect();
                // AWS filters match tag keys and values separately, and names
                // case-insensitively: check exactly here.
                let tags_match = tags
                    .iter()
                    .all(|(key, value)| entry_tags.get(key.as_str()) == Some(&value.as_str()));
                let path_match = path.is_none_or(|path| name.starts_with(path));
                if tags_match && path_match {
                    names.push(name);
                }
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// The values `find` listed by `names`, in that order: a name deleted since it was listed (or without a
/// current value) is left out; any other failure fails the whole `find`.
pub(crate) fn found_values(
    names: Vec<String>,
    mut values: HashMap<String, Result<RemoteSecret, Error>>,
) -> Result<Vec<(String, RemoteSecret)>, Error> {
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        match values.remove(&name) {
            Some(Ok(value)) => found.push((name, value)),
            Some(Err(Error::NotFound { .. })) | None => {}
            Some(Err(error)) => return Err(error),
        }
    }
    Ok(found)
}

/// Tags as `remoteRef.metadataPolicy: Fetch` gives them: a JSON object of tag keys to values, keys
/// sorted, as ESO writes it (Go's `encoding/json` of a map).
pub(crate) fn tags_json(tags: &BTreeMap<String, String>) -> RemoteSecret {
    let members: Vec<String> = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                kseal_gjson::json_string(k),
                kseal_gjson::json_string(v)
            )
        })
        .collect();
    RemoteSecret::String(Zeroizing::new(format!("{{{}}}", members.join(","))))
}

/// The id a batch entry answers: its name or its ARN, whichever was asked for.
fn requested_id(entry: &SecretValueEntry, wanted: &HashSet<&str>) -> Option<String> {
    [entry.name.as_deref(), entry.arn.as_deref()]
        .into_iter()
        .flatten()
        .find(|id| wanted.contains(id))
        .map(str::to_owned)
}

/// ListSecrets filters for `tags` and `path`.
fn list_filters(tags: &BTreeMap<String, String>, path: Option<&str>) -> Vec<Filter> {
    let filter =
        |key: FilterNameStringType, value: &str| Filter::builder().key(key).values(value).build();
    let mut filters = Vec::new();
    if let Some(path) = path.filter(|path| !path.is_empty()) {
        filters.push(filter(FilterNameStringType::Name, path));
    }
    for (key, value) in tags {
        filters.push(filter(FilterNameStringType::TagKey, key));
        filters.push(filter(FilterNameStringType::TagValue, value));
    }
    filters
}

/// Distinct `ids`, in order, in calls of at most [`MAX_BATCH_IDS`].
pub(crate) fn plan_batches(ids: &[String]) -> Vec<Vec<String>> {
    let mut seen = HashSet::with_capacity(ids.len());
    let distinct: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    distinct
        .chunks(MAX_BATCH_IDS)
        .map(<[String]>::to_vec)
        .collect()
}

fn no_value(operation: &'static str, id: &str) -> Error {
    Error::Request {
        operation,
        key: Some(id.to_owned()),
        message: "the response holds neither SecretString nor SecretBinary".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_mapping() {
        assert_eq!(
            VersionSelector::parse(None),
            VersionSelector::Stage("AWSCURRENT")
        );
        assert_eq!(
            VersionSelector::parse(Some("")),
            VersionSelector::Stage("AWSCURRENT")
        );
        assert_eq!(
            VersionSelector::parse(Some("uuid/0d6c1a2e")),
            VersionSelector::Id("0d6c1a2e")
        );
        assert_eq!(
            VersionSelector::parse(Some("AWSPREVIOUS")),
            VersionSelector::Stage("AWSPREVIOUS")
        );
        assert_eq!(
            VersionSelector::parse(Some("v2")),
            VersionSelector::Stage("v2")
        );
        assert!(VersionSelector::parse(Some("AWSCURRENT")).is_current());
        assert!(VersionSelector::parse(None).is_current());
        assert!(!VersionSelector::parse(Some("uuid/AWSCURRENT")).is_current());
    }

    #[test]
    fn batches_hold_at_most_20_distinct_ids() {
        let ids: Vec<String> = (0..45).map(|i| format!("s{i}")).collect();
        let sizes: Vec<usize> = plan_batches(&ids).iter().map(Vec::len).collect();
        assert_eq!(sizes, [20, 20, 5]);

        let repeated: Vec<String> = ["a", "b", "a", "c", "b"].map(String::from).to_vec();
        assert_eq!(plan_batches(&repeated), [vec!["a", "b", "c"]]);
        assert!(plan_batches(&[]).is_empty());
    }

    #[test]
    fn debug_hides_values() {
        let value = RemoteSecret::String(Zeroizing::new("hunter2".to_owned()));
        assert!(!format!("{value:?}").contains("hunter2"));
        let binary = RemoteSecret::Binary(Zeroizing::new(vec![104, 117, 110]));
        assert!(!format!("{binary:?}").contains("104"));
    }

    #[test]
    fn filters_for_tags_and_path() {
        let tags = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let filters = list_filters(&tags, Some("app/"));
        let keys: Vec<_> = filters
            .iter()
            .map(|f| f.key().unwrap().as_str().to_owned())
            .collect();
        assert_eq!(keys, ["name", "tag-key", "tag-value"]);
        assert!(list_filters(&BTreeMap::new(), None).is_empty());
    }
}
