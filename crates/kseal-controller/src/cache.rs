//! What the unsealer keeps of the objects it watches: enough to decide whether a SealedSecret's Secret is
//! up to date and whose it is, and nothing more (SPEC §7: the controller's memory at 10 000 SealedSecrets).
//!
//! - A [`WatchedSealedSecret`] keeps its identity, its status and what its Secret must carry
//!   ([`Expected`]), not its ciphertexts: the unsealer reads the whole object ([`SealedSecretObject`])
//!   only when it has to decrypt.
//! - A [`WatchedSecret`] keeps its identity, owner references, the annotations and label kseal reads, and
//!   the names of its data keys, never a value.
//!
//! Both are trimmed while they are deserialized, so a watch never holds a whole object longer than the
//! page it arrived in.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::{SealedSecret, SealedSecretStatus, annotations};
use serde::Deserialize;

use crate::digest::{self, Expected};
use crate::unseal::FIELD_MANAGER;
use crate::{Error, Result};

/// A SealedSecret as watched, without its ciphertexts.
#[derive(kube::Resource, Clone, Debug)]
#[resource(inherit = SealedSecret)]
pub struct WatchedSealedSecret {
    /// Identity (name, namespace, UID, resourceVersion, generation) and the key-hint annotation.
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
            object: object_name(&self.metadata),
            message: message.clone(),
        })
    }
}

impl<'de> Deserialize<'de> for WatchedSealedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let raw = SealedSecretObject::deserialize(deserializer)?;
        let expected =
            raw.parse()
                .map(|sealed| Expected::of(&sealed))
                .map_err(|error| match error {
                    Error::Invalid { message, .. } => message,
                    other => other.to_string(),
                });
        let status = raw.current_status();
        Ok(WatchedSealedSecret {
            metadata: trimmed(raw.metadata, &[annotations::KEY_HINT], &[]),
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
    #[serde(deserialize_with = "kseal_sync::watched::without_managed_fields")]
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
    pub fn parse(&self) -> Result<SealedSecret> {
        let spec = serde_json::from_value(self.spec.clone()).map_err(|error| Error::Invalid {
            object: object_name(&self.metadata),
            message: format!("invalid spec: {error}"),
        })?;
        Ok(SealedSecret {
            metadata: self.metadata.clone(),
            spec,
            status: self.current_status(),
        })
    }

    /// The current status; one kseal cannot read counts as none (it is rewritten whole).
    pub fn current_status(&self) -> Option<SealedSecretStatus> {
        serde_json::from_value(self.status.clone()?).ok()
    }
}

/// A Secret as the unsealer sees it: no values.
#[derive(kube::Resource, Clone, Debug, Default)]
#[resource(inherit = Secret)]
pub struct WatchedSecret {
    /// Identity, owner references, kseal's label and the annotations kseal reads.
    pub metadata: ObjectMeta,
    /// Names of its data keys.
    pub keys: BTreeSet<String>,
    /// Data keys a field manager other than kseal has written (a hand edit, or another controller).
    pub foreign_keys: BTreeSet<String>,
    /// Whether kseal's field manager has written it.
    pub written_by_kseal: bool,
}

impl WatchedSecret {
    /// The annotation `name`, when set.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }

    /// Whether it carries kseal's managed label.
    pub fn labelled(&self) -> bool {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(digest::MANAGED_LABEL))
            .is_some_and(|v| v == "true")
    }
}

impl From<&Secret> for WatchedSecret {
    fn from(secret: &Secret) -> Self {
        summarize(
            secret.metadata.clone(),
            secret.data.iter().flatten().map(|(k, _)| k.clone()),
        )
    }
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
    let mut foreign_keys = BTreeSet::new();
    let mut written_by_kseal = false;
    for entry in metadata.managed_fields.iter().flatten() {
        if entry.manager.as_deref() == Some(FIELD_MANAGER) {
            written_by_kseal = true;
            continue;
        }
        let data = entry
            .fields_v1
            .as_ref()
            .and_then(|fields| fields.0.get("f:data"))
            .and_then(serde_json::Value::as_object);
        foreign_keys.extend(
            data.into_iter()
                .flat_map(|d| d.keys())
                .filter_map(|k| k.strip_prefix("f:"))
                .map(str::to_owned),
        );
    }
    WatchedSecret {
        metadata: trimmed(
            metadata,
            &[
                digest::SEALED_DIGEST,
                digest::UNSEALED_WITH,
                annotations::MANAGED,
                annotations::PATCH,
            ],
            &[digest::MANAGED_LABEL],
        ),
        keys: keys.collect(),
        foreign_keys,
        written_by_kseal,
    }
}

/// `metadata` with only its identity, owner references and the named annotations and labels.
fn trimmed(metadata: ObjectMeta, annotations: &[&str], labels: &[&str]) -> ObjectMeta {
    let only = |map: Option<BTreeMap<String, String>>, names: &[&str]| {
        let kept: BTreeMap<String, String> = map
            .into_iter()
            .flatten()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    };
    ObjectMeta {
        annotations: only(metadata.annotations, annotations),
        labels: only(metadata.labels, labels),
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        resource_version: metadata.resource_version,
        generation: metadata.generation,
        owner_references: metadata.owner_references,
        deletion_timestamp: metadata.deletion_timestamp,
        ..ObjectMeta::default()
    }
}

/// `namespace/name`, as errors name objects.
fn object_name(metadata: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        metadata.namespace.as_deref().unwrap_or_default(),
        metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            expected.keys,
            BTreeSet::from(["k".to_owned(), "t".to_owned()])
        );
        // Only the identity and the key hint stay; the digest still covered every annotation.
        assert_eq!(
            good.metadata.annotations,
            Some(BTreeMap::from([(
                annotations::KEY_HINT.to_owned(),
                "fp".to_owned()
            )]))
        );
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
    fn watched_secrets_keep_key_names_and_who_wrote_them_never_values() {
        let secret: WatchedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "s",
                "namespace": "ns",
                "labels": { digest::MANAGED_LABEL: "true", "app": "x" },
                "annotations": { digest::SEALED_DIGEST: "d", "note": "n" },
                "managedFields": [
                    { "manager": FIELD_MANAGER, "fieldsV1": { "f:data": { "f:a": {}, "f:b": {} } } },
                    { "manager": "kubectl-edit", "fieldsV1": { "f:data": { "f:b": {} } } },
                    { "manager": "other", "fieldsV1": { "f:metadata": {} } },
                ],
            },
            "data": { "a": "c2VjcmV0LWE=", "b": "c2VjcmV0LWI=" },
        }))
        .unwrap();
        assert_eq!(
            secret.keys,
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(secret.foreign_keys, BTreeSet::from(["b".to_owned()]));
        assert!(secret.written_by_kseal);
        assert!(secret.labelled());
        assert_eq!(secret.annotation(digest::SEALED_DIGEST), Some("d"));
        assert_eq!(secret.annotation("note"), None);
        assert_eq!(secret.metadata.labels.as_ref().map(BTreeMap::len), Some(1));
        let shown = format!("{secret:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
