//! AWS Systems Manager Parameter Store (`service: ParameterStore`): the reads of a store, as ESO makes
//! them, with fewer calls.
//!
//! - One parameter: `prefix` + key, and `:version` when `remoteRef.version` is set (a version number
//!   or a label, as AWS selects them), always decrypted (SecureString). A missing parameter or
//!   version is "not found", so `deletionPolicy` applies.
//! - Current values go out in GetParameters calls of up to [`MAX_NAMES`] names (ESO calls
//!   GetParameter once per key). When AWS denies GetParameters (a policy that grants
//!   `ssm:GetParameter` alone), the store's reads go one GetParameter each, and GetParameters is tried
//!   again after [`super::client::BATCH_DENIED_RETRY`].
//! - Tags (`metadataPolicy: Fetch`): ListTagsForResource, as a JSON object sorted by key.
//! - `find` by name: GetParametersByPath under `path` (default `/`), recursive, decrypted, then the
//!   name's regular expression; when AWS denies GetParametersByPath, DescribeParameters and then the
//!   values, as ESO falls back. `find` by tags: DescribeParameters with a `tag:<key>` filter per tag
//!   (and the path), then the values. As in ESO, the store's prefix is not applied to `find`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use aws_sdk_ssm::error::ProvideErrorMetadata as _;
use aws_sdk_ssm::types::{ParameterStringFilter, ResourceTypeForTagging};
use futures::StreamExt as _;
use futures::future::join_all;
use zeroize::Zeroizing;

use super::client::RemoteSecret;
use super::config::Observer;
use super::error::Error;

/// Most names one GetParameters call accepts.
pub const MAX_NAMES: usize = 10;
/// GetParameter calls in flight at once per batch that falls back to them.
const FALLBACK_CONCURRENCY: usize = 4;

/// A store's Parameter Store client.
pub(crate) struct Parameters {
    client: aws_sdk_ssm::Client,
    /// Until when GetParameters is known to be denied to this identity.
    batch_denied_until: Mutex<Option<Instant>>,
}

impl Parameters {
    pub(crate) fn new(client: aws_sdk_ssm::Client) -> Self {
        Parameters {
            client,
            batch_denied_until: Mutex::new(None),
        }
    }

    /// GetParameter of `name` (already prefixed), at `version` when one is given.
    pub(crate) async fn get(
        &self,
        observer: &Observer,
        name: &str,
        version: Option<&str>,
    ) -> Result<RemoteSecret, Error> {
        const OPERATION: &str = "GetParameter";
        let selector = match version.filter(|v| !v.is_empty()) {
            Some(version) => format!("{name}:{version}"),
            None => name.to_owned(),
        };
        let result = self
            .client
            .get_parameter()
            .name(&selector)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| Error::from_sdk(OPERATION, Some(&selector), e));
        let output = observer.record(OPERATION, result)?;
        output
            .parameter
            .and_then(|p| p.value)
            .map(|value| RemoteSecret::String(Zeroizing::new(value)))
            .ok_or_else(|| no_value(OPERATION, &selector))
    }

    /// The current values of `names` (already prefixed), in GetParameters calls of at most
    /// [`MAX_NAMES`], in parallel. A missing parameter fails only its own name; a failed call fails
    /// its names. Results are by name.
    pub(crate) async fn batch_get(
        &self,
        observer: &Observer,
        names: &[String],
    ) -> HashMap<String, Result<RemoteSecret, Error>> {
        let calls = plan_calls(names);
        let results = join_all(calls.iter().map(|chunk| self.batch_call(observer, chunk))).await;
        results.into_iter().flatten().collect()
    }

    /// One GetParameters call for at most [`MAX_NAMES`] distinct names; one GetParameter per name
    /// while GetParameters is denied.
    async fn batch_call(
        &self,
        observer: &Observer,
        names: &[String],
    ) -> HashMap<String, Result<RemoteSecret, Error>> {
        const OPERATION: &str = "GetParameters";
        let denied_until = *self
            .batch_denied_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if denied_until.is_none_or(|until| Instant::now() >= until) {
            let mut denied = false;
            let result = self
                .client
                .get_parameters()
                .set_names(Some(names.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    denied = matches!(e.code(), Some("AccessDeniedException" | "AccessDenied"));
                    Error::from_sdk(OPERATION, None, e)
                });
            if !denied {
                return match observer.record(OPERATION, result) {
                    Ok(output) => batch_values(names, output),
                    Err(error) => names
                        .iter()
                        .map(|name| (name.clone(), Err(error.clone())))
                        .collect(),
                };
            }
            // Counted as the failed call it was, then read one by one.
            let _ = observer.record(OPERATION, result);
            self.batch_denied(names.len());
        }
        futures::stream::iter(names.to_vec())
            .map(|name| async move {
                let value = self.get(observer, &name, None).await;
                (name, value)
            })
            .buffer_unordered(FALLBACK_CONCURRENCY)
            .collect()
            .await
    }

    /// Remembers that GetParameters is denied to this identity, for
    /// [`super::client::BATCH_DENIED_RETRY`].
    fn batch_denied(&self, names: usize) {
        let mut until = self
            .batch_denied_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if until.is_none_or(|until| Instant::now() >= until) {
            tracing::warn!(
                names,
                retry_in_s = super::client::BATCH_DENIED_RETRY.as_secs(),
                "AWS denied GetParameters to this store's identity: reading its parameters one GetParameter each (grant ssm:GetParameters to save calls)"
            );
        }
        *until = Some(Instant::now() + super::client::BATCH_DENIED_RETRY);
    }

    /// The tags of parameter `name` (already prefixed) as a JSON object, keys sorted (Go's
    /// `encoding/json` of a map, as ESO writes it).
    pub(crate) async fn tags(
        &self,
        observer: &Observer,
        name: &str,
    ) -> Result<RemoteSecret, Error> {
        const OPERATION: &str = "ListTagsForResource";
        let result = self
            .client
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .map_err(|e| Error::from_sdk(OPERATION, Some(name), e));
        let output = observer.record(OPERATION, result)?;
        let tags: BTreeMap<String, String> = output
            .tag_list
            .unwrap_or_default()
            .into_iter()
            .map(|tag| (tag.key, tag.value))
            .collect();
        Ok(super::client::tags_json(&tags))
    }

    /// The parameters a `dataFrom.find` selects, by name, sorted (see the module's summary).
    pub(crate) async fn find(
        &self,
        observer: &Observer,
        name_regexp: Option<&regex::Regex>,
        tags: &BTreeMap<String, String>,
        path: Option<&str>,
    ) -> Result<Vec<(String, RemoteSecret)>, Error> {
        let matches = |name: &str| name_regexp.is_none_or(|regexp| regexp.is_match(name));
        let names = if tags.is_empty() {
            match self.by_path(observer, path.unwrap_or("/")).await {
                Ok(found) => {
                    let mut found: Vec<(String, RemoteSecret)> = found
                        .into_iter()
                        .filter(|(name, _)| matches(name))
                        .collect();
                    found.sort_by(|a, b| a.0.cmp(&b.0));
                    return Ok(found);
                }
                Err(Error::Auth(why)) => {
                    tracing::info!(
                        %why,
                        "AWS denied GetParametersByPath: finding parameters with DescribeParameters (grant ssm:GetParametersByPath to save calls)"
                    );
                    self.describe(observer, &BTreeMap::new(), path).await?
                }
                Err(error) => return Err(error),
            }
        } else {
            self.describe(observer, tags, path).await?
        };
        let names: Vec<String> = names.into_iter().filter(|name| matches(name)).collect();
        let values = self.batch_get(observer, &names).await;
        super::client::found_values(names, values)
    }

    /// Every parameter under `path` (recursive, decrypted), with its value.
    async fn by_path(
        &self,
        observer: &Observer,
        path: &str,
    ) -> Result<Vec<(String, RemoteSecret)>, Error> {
        const OPERATION: &str = "GetParametersByPath";
        let mut found = Vec::new();
        let mut next_token = None;
        loop {
            let result = self
                .client
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(true)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| {
                    let denied = matches!(e.code(), Some("AccessDeniedException" | "AccessDenied"));
                    let error = Error::from_sdk(OPERATION, None, e);
                    match error {
                        // A denial is what makes the caller fall back, whatever words AWS used.
                        Error::Request { message, .. } if denied => Error::Auth(message),
                        error => error,
                    }
                });
            let output = observer.record(OPERATION, result)?;
            for parameter in output.parameters.unwrap_or_default() {
                if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                    found.push((name, RemoteSecret::String(Zeroizing::new(value))));
                }
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                return Ok(found);
            }
        }
    }

    /// Names of the parameters with every one of `tags` under `path`, sorted.
    async fn describe(
        &self,
        observer: &Observer,
        tags: &BTreeMap<String, String>,
        path: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        const OPERATION: &str = "DescribeParameters";
        let filters = describe_filters(tags, path)?;
        let mut names = Vec::new();
        let mut next_token = None;
        loop {
            let result = self
                .client
                .describe_parameters()
                .set_parameter_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| Error::from_sdk(OPERATION, None, e));
            let output = observer.record(OPERATION, result)?;
            names.extend(
                output
                    .parameters
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|parameter| parameter.name),
            );
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

/// The values of a GetParameters answer for `names`; a name it does not return is not found.
fn batch_values(
    names: &[String],
    output: aws_sdk_ssm::operation::get_parameters::GetParametersOutput,
) -> HashMap<String, Result<RemoteSecret, Error>> {
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut values = HashMap::with_capacity(names.len());
    for parameter in output.parameters.unwrap_or_default() {
        let Some(name) = parameter.name.filter(|n| wanted.contains(n.as_str())) else {
            continue;
        };
        let value = parameter
            .value
            .map(|value| RemoteSecret::String(Zeroizing::new(value)))
            .ok_or_else(|| no_value("GetParameters", &name));
        values.insert(name, value);
    }
    for name in names {
        values.entry(name.clone()).or_insert_with(|| {
            Err(Error::NotFound {
                key: name.clone(),
                service: super::error::PARAMETER_STORE,
            })
        });
    }
    values
}

/// DescribeParameters filters: `tag:<key>` Equals `<value>` per tag, and `Path` Recursive.
fn describe_filters(
    tags: &BTreeMap<String, String>,
    path: Option<&str>,
) -> Result<Vec<ParameterStringFilter>, Error> {
    let filter = |key: String, option: &str, value: &str| {
        ParameterStringFilter::builder()
            .key(key)
            .option(option)
            .values(value)
            .build()
            .map_err(|error| Error::Config(format!("dataFrom.find: {error}")))
    };
    let mut filters = Vec::with_capacity(tags.len() + 1);
    for (key, value) in tags {
        filters.push(filter(format!("tag:{key}"), "Equals", value)?);
    }
    if let Some(path) = path {
        filters.push(filter("Path".to_owned(), "Recursive", path)?);
    }
    Ok(filters)
}

/// Distinct `names`, in order, in calls of at most [`MAX_NAMES`].
fn plan_calls(names: &[String]) -> Vec<Vec<String>> {
    let mut seen = HashSet::with_capacity(names.len());
    let distinct: Vec<String> = names
        .iter()
        .filter(|name| seen.insert(name.as_str()))
        .cloned()
        .collect();
    distinct.chunks(MAX_NAMES).map(<[String]>::to_vec).collect()
}

fn no_value(operation: &'static str, name: &str) -> Error {
    Error::Request {
        operation,
        key: Some(name.to_owned()),
        message: "the response holds no parameter value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_hold_at_most_ten_distinct_names() {
        let names: Vec<String> = (0..23).map(|i| format!("/app/{}", i % 21)).collect();
        let calls = plan_calls(&names);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 1]);
        let all: HashSet<&String> = calls.iter().flatten().collect();
        assert_eq!(all.len(), 21);
    }

    #[test]
    fn filters_for_tags_and_path() {
        let tags = BTreeMap::from([("team".to_owned(), "web".to_owned())]);
        let filters = describe_filters(&tags, Some("/app")).unwrap();
        let shown: Vec<(String, Option<String>, Vec<String>)> = filters
            .iter()
            .map(|f| {
                (
                    f.key().to_owned(),
                    f.option().map(str::to_owned),
                    f.values().to_vec(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "tag:team".to_owned(),
                    Some("Equals".to_owned()),
                    vec!["web".to_owned()]
                ),
                (
                    "Path".to_owned(),
                    Some("Recursive".to_owned()),
                    vec!["/app".to_owned()]
                ),
            ]
        );
        assert!(describe_filters(&BTreeMap::new(), None).unwrap().is_empty());
    }
}
