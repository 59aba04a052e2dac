//! What the unsealer keeps of the objects it watches: enough to decide whether a SealedSecret's Secret is
//! up to date and whose it is, and nothing more: at 10 000 SealedSecrets the controller's memory is mostly these.
//!
//! - A [`WatchedSealedSecret`] keeps its identity, its status and what its Secret must carry
//!   ([`Expected`]), not its ciphertexts: the unsealer reads the whole object ([`SealedSecretObject`])
//!   only when it has to decrypt.
//! - A [`WatchedSecret`] (as the Secret watch reads it) carries its identity, owner references and a
//!   [`SecretSummary`]: what kseal reads of its annotations and label, and the names of its data keys,
//!   never a value. Only the summaries are kept, in the [`SecretCache`].
//!
//! Both are trimmed while they are deserialized, so a watch never holds a whole object longer than the
//! page it arrived in. Maps become plain fields and sorted slices: a `BTreeMap` node costs hundreds of
//! bytes even for one entry, times every object in the cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::{SealedSecret, SealedSecretStatus};
use kseal_core::plan::{Expected, SecretSummary};
use kseal_runtime::meta::{identity, name_in};
use kube::runtime::watcher;
use serde::Deserialize;

use crate::{Error, Result};

/// A SealedSecret as watched, without its ciphertexts.
#[derive(kube::Resource, Clone, Debug)]
#[resource(inherit = SealedSecret)]
pub struct WatchedSealedSecret {
    /// Identity only: name, namespace, UID, resourceVersion, generation, and the
    /// `app.kubernetes.io/instance` label (see [`crate::compat`]).
    pub metadata: ObjectMeta,
    /// What its Secret must carry, or why its spec does not fit the schema kseal reads. A malformed object
    /// then fails only its own reconcile (which reports it in the status), not every list of the watch.
    pub expected: std::result::Result<Expected, String>,
    /// The current status; one kseal cannot read counts as none (it is rewritten whole).
    pub status: Option<SealedSecretStatus>,
}

impl WatchedSealedSecret {
    /// What its Secret must carry, or [`Error::Invalid`] naming the object and what is wrong.
    pub fn expected(&self) -> Result<&Expected> {
        self.expected.as_ref().map_err(|message| Error::Invalid {
            object: name_in(&self.metadata),
            message: message.clone(),
        })
    }
}

impl<'de> Deserialize<'de> for WatchedSealedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let raw = SealedSecretObject::deserialize(deserializer)?;
        let status = status_of(raw.status);
        // The spec and metadata are moved, not copied: this runs for every event of the watch.
        let (metadata, expected) = match serde_json::from_value(raw.spec) {
            Ok(spec) => {
                let sealed = SealedSecret {
                    metadata: raw.metadata,
                    spec,
                    status: None,
                };
                let expected = Expected::of(&sealed);
                (sealed.metadata, Ok(expected))
            }
            Err(error) => (raw.metadata, Err(invalid_spec(&error))),
        };
        // The one label sealed-secrets' `condition_info` metric reports.
        let instance = metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(crate::compat::INSTANCE_LABEL))
            .cloned();
        let mut metadata = identity(metadata);
        metadata.labels =
            instance.map(|value| [(crate::compat::INSTANCE_LABEL.to_owned(), value)].into());
        Ok(WatchedSealedSecret {
            metadata,
            expected,
            status,
        })
    }
}

/// A whole SealedSecret as read: metadata typed, the rest kept as JSON until [`SealedSecretObject::parse`].
#[derive(kube::Resource, Clone, Debug, Deserialize)]
#[resource(inherit = SealedSecret)]
pub struct SealedSecretObject {
    /// The object's metadata (without `managedFields`, which the unsealer never reads).
    #[serde(deserialize_with = "kseal_runtime::meta::without_managed_fields")]
    pub metadata: ObjectMeta,
    /// `spec`, not yet checked.
    #[serde(default)]
    pub spec: serde_json::Value,
    /// `status`, not yet checked.
    #[serde(default)]
    pub status: Option<serde_json::Value>,
}

impl SealedSecretObject {
    /// The typed SealedSecret, or why the spec does not fit the schema kseal reads.
    pub fn parse(self) -> Result<SealedSecret> {
        let spec = serde_json::from_value(self.spec).map_err(|error| Error::Invalid {
            object: name_in(&self.metadata),
            message: invalid_spec(&error),
        })?;
        Ok(SealedSecret {
            metadata: self.metadata,
            spec,
            status: status_of(self.status),
        })
    }
}

/// The status as kseal reads it; one it cannot read counts as none (it is rewritten whole).
fn status_of(status: Option<serde_json::Value>) -> Option<SealedSecretStatus> {
    serde_json::from_value(status?).ok()
}

/// The message naming why a spec does not fit the schema.
fn invalid_spec(error: &serde_json::Error) -> String {
    format!("invalid spec: {error}")
}

/// A Secret as the unsealer's watch reads it: identity (name, namespace, UID, resourceVersion) and owner
/// references, which map a change of the Secret to its SealedSecret, and its [`SecretSummary`].
#[derive(kube::Resource, Clone, Debug, Default)]
#[resource(inherit = Secret)]
pub struct WatchedSecret {
    /// Identity and owner references only.
    pub metadata: ObjectMeta,
    /// What the unsealer reads of it.
    pub summary: SecretSummary,
}

impl<'de> Deserialize<'de> for WatchedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            metadata: ObjectMeta,
            /// Values are skipped unread.
            #[serde(default)]
            data: Option<BTreeMap<String, serde::de::IgnoredAny>>,
        }
        let raw = Raw::deserialize(deserializer)?;
        Ok(summarize(
            raw.metadata,
            raw.data.into_iter().flatten().map(|(k, _)| k),
        ))
    }
}

fn summarize(metadata: ObjectMeta, keys: impl Iterator<Item = String>) -> WatchedSecret {
    let summary = SecretSummary::read(&metadata, keys);
    let mut metadata = metadata;
    WatchedSecret {
        metadata: ObjectMeta {
            owner_references: metadata.owner_references.take(),
            ..identity(metadata)
        },
        summary,
    }
}

/// kseal's Secrets as the unsealer's watch last saw them, as [`SecretSummary`]s: about a third of the
/// memory of a kube store of [`WatchedSecret`]s, which also keeps every object's metadata and reference.
#[derive(Debug, Default)]
pub struct SecretCache {
    state: Mutex<SecretCacheState>,
}

#[derive(Debug, Default)]
struct SecretCacheState {
    /// By `namespace/name`.
    live: HashMap<String, Arc<SecretSummary>>,
    /// A relist in progress: replaces `live` when complete (until then, `live` answers).
    relist: Option<HashMap<String, Arc<SecretSummary>>>,
}

impl SecretCache {
    /// The Secret `name` in `namespace`, if the watch has seen it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<SecretSummary>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.live.get(&format!("{namespace}/{name}")).cloned()
    }

    /// Applies one event of the watch.
    pub fn apply(&self, event: &watcher::Event<WatchedSecret>) {
        let key = |secret: &WatchedSecret| {
            format!(
                "{}/{}",
                secret.metadata.namespace.as_deref().unwrap_or_default(),
                secret.metadata.name.as_deref().unwrap_or_default()
            )
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(secret) => {
                state
                    .live
                    .insert(key(secret), Arc::new(secret.summary.clone()));
            }
            watcher::Event::Delete(secret) => {
                state.live.remove(&key(secret));
            }
            watcher::Event::Init => state.relist = Some(HashMap::new()),
            watcher::Event::InitApply(secret) => {
                state
                    .relist
                    .get_or_insert_default()
                    .insert(key(secret), Arc::new(secret.summary.clone()));
            }
            watcher::Event::InitDone => {
                if let Some(mut relisted) = state.relist.take() {
                    relisted.shrink_to_fit();
                    state.live = relisted;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kseal_api::annotations;
    use kseal_api::names::{self, field_managers::UNSEALER as FIELD_MANAGER};

    use super::*;

    #[test]
    fn watched_sealed_secrets_keep_no_ciphertext_and_name_what_is_wrong() {
        let object = |spec: serde_json::Value| {
            serde_json::json!({
                "apiVersion": "bitnami.com/v1alpha1",
                "kind": "SealedSecret",
                "metadata": {
                    "name": "s",
                    "namespace": "ns",
                    "uid": "u1",
                    "generation": 3,
                    "annotations": {
                        annotations::KEY_HINT: "fp",
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":\"AgBy…\"}",
                    },
                    "managedFields": [{ "manager": "kubectl" }],
                },
                "spec": spec,
                "status": { "conditions": "not a list" },
            })
        };
        let spec = serde_json::json!({
            "encryptedData": { "k": "AgBy" },
            "template": { "data": { "t": "{{ .k }}" } },
        });
        let good: WatchedSealedSecret = serde_json::from_value(object(spec.clone())).unwrap();
        let expected = good.expected().unwrap();
        let full: SealedSecretObject = serde_json::from_value(object(spec)).unwrap();
        assert_eq!(expected, &Expected::of(&full.parse().unwrap()));
        assert_eq!(expected.keys.iter().collect::<Vec<_>>(), ["k", "t"]);
        // Only the identity stays; the digest still covered every annotation.
        assert_eq!(good.metadata.annotations, None);
        assert_eq!(good.metadata.managed_fields, None);
        assert_eq!(good.metadata.generation, Some(3));
        assert!(!format!("{good:?}").contains("AgBy"), "{good:?}");
        // An unreadable status is dropped, not an error: kseal rewrites it whole.
        assert_eq!(good.status, None);

        let bad: WatchedSealedSecret = serde_json::from_value(object(
            serde_json::json!({ "template": { "metadata": { "labels": 5 } } }),
        ))
        .unwrap();
        let error = bad.expected().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("SealedSecret ns/s: invalid spec: "),
            "{error}"
        );
        assert_eq!(error.label(), "malformed");
    }

    #[test]
    fn the_secret_cache_follows_the_watch_and_swaps_in_a_relist_whole() {
        let secret = |name: &str, digest: &str| WatchedSecret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            summary: SecretSummary {
                sealed_digest: Some(digest.into()),
                ..SecretSummary::default()
            },
        };
        let digest = |cache: &SecretCache, name: &str| {
            cache
                .get("ns", name)
                .and_then(|s| s.sealed_digest.as_deref().map(str::to_owned))
        };
        let cache = SecretCache::default();
        cache.apply(&watcher::Event::Apply(secret("a", "1")));
        cache.apply(&watcher::Event::Apply(secret("b", "1")));
        cache.apply(&watcher::Event::Apply(secret("a", "2")));
        assert_eq!(digest(&cache, "a").as_deref(), Some("2"));
        cache.apply(&watcher::Event::Delete(secret("b", "1")));
        assert_eq!(digest(&cache, "b"), None);
        assert_eq!(cache.get("other", "a"), None);

        // A relist: the old view answers until it is complete, then only what it listed remains.
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(secret("c", "3")));
        assert_eq!(digest(&cache, "a").as_deref(), Some("2"));
        assert_eq!(digest(&cache, "c"), None);
        cache.apply(&watcher::Event::InitDone);
        assert_eq!(digest(&cache, "a"), None);
        assert_eq!(digest(&cache, "c").as_deref(), Some("3"));
    }

    #[test]
    fn watched_secrets_keep_key_names_and_who_wrote_them_never_values() {
        let secret: WatchedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "s",
                "namespace": "ns",
                "labels": { names::MANAGED_LABEL: "true", "app": "x" },
                "annotations": { names::SEALED_DIGEST: "d", "note": "n" },
                "managedFields": [
                    { "manager": FIELD_MANAGER, "fieldsV1": { "f:data": { "f:a": {}, "f:b": {} } } },
                    { "manager": "kubectl-edit", "fieldsV1": { "f:data": { "f:b": {} } } },
                    { "manager": "other", "fieldsV1": { "f:metadata": {} } },
                ],
            },
            "data": { "a": "c2VjcmV0LWE=", "b": "c2VjcmV0LWI=" },
        }))
        .unwrap();
        assert_eq!(secret.metadata.labels, None);
        assert_eq!(secret.metadata.annotations, None);
        let secret = secret.summary;
        assert_eq!(secret.keys.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(secret.foreign_keys.iter().collect::<Vec<_>>(), ["b"]);
        assert!(secret.written_by_kseal);
        assert!(secret.labelled);
        assert!(!secret.managed && !secret.patch);
        assert_eq!(secret.sealed_digest.as_deref(), Some("d"));
        assert_eq!(secret.unsealed_with, None);
        let shown = format!("{secret:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
