//! The unsealer's decisions, without a client: what a SealedSecret's Secret must carry ([`Expected`],
//! [`sealed_digest`]), what the unsealer reads of an existing Secret ([`SecretSummary`], never a value),
//! whether that Secret is up to date ([`is_up_to_date`]) and whose it is ([`ownership`]), which keys,
//! labels and annotations a take-over removes ([`takeover_patch`]) and what a decryption cost ([`rsa_operations`]).
//!
//! The digest covers only sealed material and metadata, never plaintext, so it reveals nothing about
//! the values. Each unsealed Secret records it and the key that opened it, so an up-to-date Secret
//! costs no private-key work after a restart or resync.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::fields::data_fields;
use kseal_api::names::field_managers::UNSEALER as FIELD_MANAGER;
use kseal_api::names::{KEY_LABEL, MANAGED_LABEL, SEALED_DIGEST, UNSEALED_WITH};
use kseal_api::{SealedSecret, annotations};
use sha2::{Digest as _, Sha256};

use crate::Unsealed;

/// What the unsealer reads of a Secret: never a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretSummary {
    /// Its resourceVersion (a write that changed nothing keeps it).
    pub resource_version: Option<Box<str>>,
    /// Annotation [`digest::SEALED_DIGEST`].
    pub sealed_digest: Option<Box<str>>,
    /// Annotation [`digest::UNSEALED_WITH`].
    pub unsealed_with: Option<Box<str>>,
    /// Labelled [`digest::MANAGED_LABEL`] `= "true"`.
    pub labelled: bool,
    /// Annotated [`annotations::MANAGED`] `= "true"`: kseal may take it over.
    pub managed: bool,
    /// Annotated [`annotations::PATCH`] `= "true"`: kseal merges its keys in.
    pub patch: bool,
    /// UID of its controller (the ownerReference with `controller: true`).
    pub controller: Option<Box<str>>,
    /// Names of its data keys.
    pub keys: Keys,
    /// Data keys a field manager other than kseal has written (a hand edit, or another controller).
    pub foreign_keys: Keys,
    /// Whether kseal's field manager has written it.
    pub written_by_kseal: bool,
    /// Labelled as a sealing key ([`crate::keys::KEY_LABEL`], any value): never written by the unsealer.
    pub sealing_key: bool,
}

impl From<&Secret> for SecretSummary {
    fn from(secret: &Secret) -> Self {
        SecretSummary::read(
            &secret.metadata,
            secret.data.iter().flatten().map(|(k, _)| k.clone()),
        )
    }
}

/// A sorted set of key names, as small as a set can be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys(Box<[Box<str>]>);

impl Keys {
    /// Whether `key` is one of them.
    pub fn contains(&self, key: &str) -> bool {
        self.0.binary_search_by(|k| k.as_ref().cmp(key)).is_ok()
    }

    /// The names, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(AsRef::as_ref)
    }

    /// Whether every key of `self` is in `other`.
    pub fn is_subset(&self, other: &Keys) -> bool {
        self.iter().all(|k| other.contains(k))
    }

    /// Whether no key of `self` is in `other`.
    pub fn is_disjoint(&self, other: &Keys) -> bool {
        !self.iter().any(|k| other.contains(k))
    }
}

impl<S: Into<Box<str>>> FromIterator<S> for Keys {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut keys: Vec<Box<str>> = iter.into_iter().map(Into::into).collect();
        keys.sort_unstable();
        keys.dedup();
        Keys(keys.into_boxed_slice())
    }
}

impl SecretSummary {
    /// What the unsealer reads of a Secret with `metadata` and data keys `keys`.
    pub fn read(metadata: &ObjectMeta, keys: impl Iterator<Item = String>) -> Self {
        let mut foreign_keys = Vec::new();
        let mut written_by_kseal = false;
        for entry in metadata.managed_fields.iter().flatten() {
            if entry.manager.as_deref() == Some(FIELD_MANAGER) {
                written_by_kseal = true;
                continue;
            }
            foreign_keys.extend(data_fields(entry).map(str::to_owned));
        }
        let annotation = |name: &str| {
            metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(name))
                .map(String::as_str)
        };
        let label = |name: &str| {
            metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(name))
                .map(String::as_str)
        };
        let controller = metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .map(|r| r.uid.as_str().into());
        SecretSummary {
            resource_version: metadata.resource_version.as_deref().map(Into::into),
            sealed_digest: annotation(SEALED_DIGEST).map(Into::into),
            unsealed_with: annotation(UNSEALED_WITH).map(Into::into),
            labelled: label(MANAGED_LABEL) == Some("true"),
            managed: annotation(annotations::MANAGED) == Some("true"),
            patch: annotation(annotations::PATCH) == Some("true"),
            controller,
            keys: keys.collect(),
            foreign_keys: foreign_keys.into_iter().collect(),
            written_by_kseal,
            sealing_key: label(KEY_LABEL).is_some(),
        }
    }
}

/// SHA-256 (hex) of everything the unsealed Secret depends on: the SealedSecret's identity (UID,
/// namespace, name), its annotations (they select the scope) and its whole spec.
pub fn sealed_digest(sealed: &SealedSecret) -> String {
    let input = serde_json::json!({
        "uid": sealed.metadata.uid,
        "namespace": sealed.metadata.namespace,
        "name": sealed.metadata.name,
        "annotations": sealed.metadata.annotations,
        "spec": sealed.spec,
    });
    // Maps are BTreeMaps, so the serialisation is canonical.
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// What the Secret of a SealedSecret must carry, read without decrypting (and kept in the watch cache
/// instead of the ciphertexts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// [`sealed_digest`] of the SealedSecret.
    pub digest: String,
    /// The data keys unsealing produces: those of `encryptedData` and of `template.data`.
    pub keys: Keys,
    /// Sealed in the deprecated `spec.data` blob, whose keys only decryption reveals.
    pub legacy: bool,
    /// The template opts out of the ownerReference (`skip-set-owner-references`).
    pub skips_owner_reference: bool,
}

impl Expected {
    /// What unsealing `sealed` writes.
    pub fn of(sealed: &SealedSecret) -> Self {
        let template = sealed.spec.template.as_ref();
        let templated = template.and_then(|t| t.data.as_ref()).into_iter().flatten();
        let keys = sealed
            .spec
            .encrypted_data
            .keys()
            .chain(templated.map(|(k, _)| k))
            .map(String::as_str)
            .collect();
        let skips_owner_reference = template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(annotations::SKIP_SET_OWNER_REFERENCES))
            .is_some_and(|v| v == "true");
        Expected {
            digest: sealed_digest(sealed),
            keys,
            legacy: sealed.spec.data.is_some(),
            skips_owner_reference,
        }
    }
}

/// Whether `existing` already is what unsealing the SealedSecret would write: it carries the same digest
/// and kseal's label, holds every key the SealedSecret produces, and no other field manager has written
/// one of those keys since (a hand edit). The deprecated `spec.data` blob hides its keys, so it is always
/// decrypted.
pub fn is_up_to_date(existing: &SecretSummary, expected: &Expected) -> bool {
    existing.sealed_digest.as_deref() == Some(expected.digest.as_str())
        && !expected.legacy
        && existing.labelled
        && expected.keys.is_subset(&existing.keys)
        && expected.keys.is_disjoint(&existing.foreign_keys)
}

/// The key fingerprint recorded on `existing`.
pub fn unsealed_with(existing: &SecretSummary) -> Option<&str> {
    existing.unsealed_with.as_deref()
}

/// Number of sealed values of `sealed`: each costs at least one RSA operation to open.
pub fn value_count(sealed: &SealedSecret) -> usize {
    match sealed.spec.data {
        Some(_) => 1,
        None => sealed.spec.encrypted_data.len(),
    }
}

/// Why the unsealer must not write the Secret `namespace/name` (`existing` as it is now), if it must
/// not: sealing-key Secrets are never written, neither by name (starting with the key prefix) in the
/// controller's key namespace (`keys`: namespace and prefix) nor when the existing Secret is labelled
/// as a key.
pub fn protection(
    keys: Option<(&str, &str)>,
    namespace: &str,
    name: &str,
    existing: Option<&SecretSummary>,
) -> Option<&'static str> {
    if let Some((key_namespace, prefix)) = keys
        && key_namespace == namespace
        && name.starts_with(prefix)
    {
        return Some("sealing-key Secrets are named like this in the controller's namespace");
    }
    if existing.is_some_and(|s| s.sealing_key) {
        return Some("the existing Secret is a sealing key");
    }
    None
}

/// The Secret to apply from `unsealed`: kseal's label, the digest of the SealedSecret and the key that
/// opened it; without ownerReference when merging into someone else's Secret. Refused (with the
/// reason) when its template labels it as a sealing key: the key loader would adopt it, so whoever may
/// create a SealedSecret here could plant a sealing key.
pub fn desired_secret(
    mut unsealed: Unsealed,
    ownership: Ownership,
    digest: String,
) -> Result<Unsealed, &'static str> {
    let labels = unsealed.metadata.labels.as_ref();
    if labels.is_some_and(|labels| labels.contains_key(KEY_LABEL)) {
        return Err("its template labels it as a sealing key");
    }
    if ownership == Ownership::Merge {
        unsealed.metadata.owner_references = None;
    }
    let used = unsealed.keys_used.iter().next().cloned();
    unsealed
        .metadata
        .labels
        .get_or_insert_default()
        .insert(MANAGED_LABEL.into(), "true".into());
    let annotations = unsealed.metadata.annotations.get_or_insert_default();
    annotations.insert(SEALED_DIGEST.into(), digest);
    if let Some(used) = used {
        annotations.insert(UNSEALED_WITH.into(), used);
    }
    Ok(unsealed)
}

/// RSA private-key operations an unseal of `values` values cost, trying the keys in `order` (fingerprints)
/// on each value until one opens it.
///
/// Exact when one key opened every value (the usual case: one SealedSecret, one sealing key) and when a
/// value failed because no key opened it; otherwise (values opened by different keys, a template failing
/// after decryption) it is a lower bound, since the result does not say which key opened which value.
pub fn rsa_operations(
    values: usize,
    order: &[&str],
    result: &crate::Result<crate::Unsealed>,
) -> u64 {
    use kseal_crypto::Error as Crypto;
    let position = |fingerprint: &str| order.iter().position(|k| *k == fingerprint);
    // A value that failed: every key was tried when none fits; a parse error tried none; a key whose RSA
    // step succeeded but whose body did not open (corrupted) stopped the search at some key.
    let failed = |error: &Crypto| match error {
        Crypto::NoMatchingKey => order.len(),
        Crypto::InvalidBase64(_) | Crypto::Truncated(_) => 0,
        _ => 1,
    };
    let operations = match result {
        Ok(unsealed) => {
            let mut positions: Vec<usize> = unsealed
                .keys_used
                .iter()
                .filter_map(|k| position(k))
                .collect();
            positions.sort_unstable();
            match positions.as_slice() {
                [] => 0,
                [only] => values * (only + 1),
                [first, ..] => {
                    let each_once: usize = positions.iter().map(|p| p + 1).sum();
                    each_once + values.saturating_sub(positions.len()) * (first + 1)
                }
            }
        }
        Err(crate::Error::Keys { failures, .. }) => {
            let opened = values.saturating_sub(failures.len());
            opened + failures.iter().map(|(_, e)| failed(e)).sum::<usize>()
        }
        Err(crate::Error::Crypto { source, .. }) => failed(source),
        Err(crate::Error::Template { .. }) => values,
        Err(_) => 0,
    };
    operations as u64
}

/// The merge patch that makes a Secret kseal takes over exactly the SealedSecret's, as sealed-secrets does:
/// it removes the data keys of `existing` that `desired` does not have, and the labels and annotations of
/// `current` (the Secret's metadata as the apply left it) that `desired`'s template does not set (the
/// `managed` annotation goes with them). `None` when there is nothing to remove.
pub fn takeover_patch(
    existing: Option<&SecretSummary>,
    current: &ObjectMeta,
    desired: &Unsealed,
) -> Option<serde_json::Value> {
    fn removed<'a, V: 'a>(
        present: impl IntoIterator<Item = &'a String>,
        wanted: Option<&BTreeMap<String, V>>,
    ) -> serde_json::Map<String, serde_json::Value> {
        present
            .into_iter()
            .filter(|key| !wanted.is_some_and(|wanted| wanted.contains_key(*key)))
            .map(|key| (key.clone(), serde_json::Value::Null))
            .collect()
    }
    let data: serde_json::Map<String, serde_json::Value> = existing
        .into_iter()
        .flat_map(|existing| existing.keys.iter())
        .filter(|key| !desired.data.contains_key(*key))
        .map(|key| (key.to_owned(), serde_json::Value::Null))
        .collect();
    let labels = removed(
        current.labels.iter().flatten().map(|(k, _)| k),
        desired.metadata.labels.as_ref(),
    );
    let annotations = removed(
        current.annotations.iter().flatten().map(|(k, _)| k),
        desired.metadata.annotations.as_ref(),
    );
    let mut patch = serde_json::Map::new();
    if !data.is_empty() {
        patch.insert("data".into(), data.into());
    }
    let mut metadata = serde_json::Map::new();
    if !labels.is_empty() {
        metadata.insert("labels".into(), labels.into());
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), annotations.into());
    }
    if !metadata.is_empty() {
        patch.insert("metadata".into(), metadata.into());
    }
    (!patch.is_empty()).then_some(serde_json::Value::Object(patch))
}

/// How the unsealer may treat the Secret that already has the SealedSecret's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// No Secret yet, or one this SealedSecret controls (or kseal wrote before): apply it whole.
    Owned,
    /// Annotated `managed: "true"`: take it over and set the ownerReference.
    TakeOver,
    /// Annotated `patch: "true"`: merge the unsealed keys in, without ownership.
    Merge,
    /// Someone else's Secret: leave it alone.
    Refused,
}

/// Decides how to treat `existing` for the SealedSecret with UID `sealed_uid`; `skips_owner_reference`
/// when its template opts out of the ownerReference.
pub fn ownership(
    existing: Option<&SecretSummary>,
    sealed_uid: Option<&str>,
    skips_owner_reference: bool,
) -> Ownership {
    let Some(existing) = existing else {
        return Ownership::Owned;
    };
    if existing.patch {
        return Ownership::Merge;
    }
    let controlled = sealed_uid.is_some() && existing.controller.as_deref() == sealed_uid;
    // Without an ownerReference (skip-set-owner-references), a Secret kseal applied before stays kseal's.
    // Only then: a Secret once merged into (`patch`) must not be taken over when that annotation goes.
    let applied_by_kseal = skips_owner_reference && existing.written_by_kseal;
    if controlled || applied_by_kseal {
        Ownership::Owned
    } else if existing.managed {
        Ownership::TakeOver
    } else {
        Ownership::Refused
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        FieldsV1, ManagedFieldsEntry, ObjectMeta,
    };
    use kseal_api::SealedSecretSpec;

    use super::*;

    fn sealed(value: &str) -> SealedSecret {
        let mut sealed = SealedSecret::new(
            "s",
            SealedSecretSpec {
                encrypted_data: BTreeMap::from([("k".to_owned(), value.to_owned())]),
                ..SealedSecretSpec::default()
            },
        );
        sealed.metadata.namespace = Some("ns".into());
        sealed.metadata.uid = Some("u1".into());
        sealed
    }

    fn unsealed(digest: &str, managers: &[(&str, serde_json::Value)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                annotations: Some(BTreeMap::from([(
                    SEALED_DIGEST.to_owned(),
                    digest.to_owned(),
                )])),
                managed_fields: Some(
                    managers
                        .iter()
                        .map(|(m, f)| ManagedFieldsEntry {
                            manager: Some((*m).to_owned()),
                            fields_v1: Some(FieldsV1(f.clone())),
                            ..ManagedFieldsEntry::default()
                        })
                        .collect(),
                ),
                labels: Some(BTreeMap::from([(
                    MANAGED_LABEL.to_owned(),
                    "true".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "k".to_owned(),
                ByteString(b"v".to_vec()),
            )])),
            ..Secret::default()
        }
    }

    #[test]
    fn digest_follows_the_sealed_content_and_identity() {
        let a = sealed_digest(&sealed("AgA"));
        assert_eq!(a, sealed_digest(&sealed("AgA")));
        assert_ne!(a, sealed_digest(&sealed("AgB")));
        let mut moved = sealed("AgA");
        moved.metadata.namespace = Some("other".into());
        assert_ne!(a, sealed_digest(&moved));
    }

    #[test]
    fn up_to_date_only_with_the_same_digest_and_no_foreign_edit() {
        let object = sealed("AgA");
        let expected = Expected::of(&object);
        let digest = expected.digest.as_str();
        let up_to_date = |secret: &Secret| is_up_to_date(&SecretSummary::from(secret), &expected);
        let ours = serde_json::json!({ "f:data": { "f:k": {} } });
        assert!(up_to_date(&unsealed(
            digest,
            &[(FIELD_MANAGER, ours.clone())]
        )));
        assert!(!up_to_date(&unsealed(
            "old",
            &[(FIELD_MANAGER, ours.clone())]
        )));
        let edited = unsealed(
            digest,
            &[
                (FIELD_MANAGER, ours.clone()),
                ("kubectl-edit", ours.clone()),
            ],
        );
        assert!(!up_to_date(&edited));
        // Another manager's own key does not make kseal's keys outdated.
        let other_key = serde_json::json!({ "f:data": { "f:extra": {} } });
        let added = unsealed(
            digest,
            &[(FIELD_MANAGER, ours.clone()), ("kubectl-edit", other_key)],
        );
        assert!(up_to_date(&added));
        let mut missing = unsealed(digest, &[]);
        missing.data = None;
        assert!(!up_to_date(&missing));
        let mut unlabelled = unsealed(digest, &[(FIELD_MANAGER, ours.clone())]);
        unlabelled.metadata.labels = None;
        assert!(
            !up_to_date(&unlabelled),
            "a Secret without the label is rewritten, so the watch sees it again"
        );
        let mut legacy = object.clone();
        legacy.spec.data = Some("AgA".into());
        let legacy = Expected::of(&legacy);
        assert!(!is_up_to_date(
            &SecretSummary::from(&unsealed(&legacy.digest, &[(FIELD_MANAGER, ours)])),
            &legacy
        ));
    }

    #[test]
    fn expected_keys_include_the_template_and_the_owner_reference_choice() {
        let mut object = sealed("AgA");
        assert!(!Expected::of(&object).skips_owner_reference);
        object.spec.template = Some(
            serde_json::from_value(serde_json::json!({
                "metadata": { "annotations": { annotations::SKIP_SET_OWNER_REFERENCES: "true" } },
                "data": { "url": "x://{{ .k }}" },
            }))
            .unwrap(),
        );
        let expected = Expected::of(&object);
        assert!(expected.skips_owner_reference);
        assert_eq!(expected.keys.iter().collect::<Vec<_>>(), ["k", "url"]);
    }

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn secret(annotations: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn ownership_follows_owner_references_and_annotations() {
        assert_eq!(ownership(None, Some("u1"), false), Ownership::Owned);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&secret(&[]))), Some("u1"), false),
            Ownership::Refused
        );
        let managed = secret(&[(annotations::MANAGED, "true")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&managed)), Some("u1"), false),
            Ownership::TakeOver
        );
        let patch = secret(&[(annotations::PATCH, "true")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&patch)), Some("u1"), false),
            Ownership::Merge
        );
        let not_true = secret(&[(annotations::MANAGED, "yes")]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&not_true)), Some("u1"), false),
            Ownership::Refused
        );

        let mut owned = secret(&[]);
        owned.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u1".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&owned)), Some("u1"), false),
            Ownership::Owned
        );
        // Owned by another SealedSecret of the same name (deleted and recreated): not ours.
        assert_eq!(
            ownership(Some(&SecretSummary::from(&owned)), Some("u2"), false),
            Ownership::Refused
        );

        let mut applied = secret(&[]);
        applied.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(FIELD_MANAGER.into()),
            ..ManagedFieldsEntry::default()
        }]);
        assert_eq!(
            ownership(Some(&SecretSummary::from(&applied)), Some("u1"), true),
            Ownership::Owned
        );
        // Merged into once (`patch`), then the annotation removed: still not kseal's.
        assert_eq!(
            ownership(Some(&SecretSummary::from(&applied)), Some("u1"), false),
            Ownership::Refused
        );
    }

    #[test]
    fn taking_over_removes_what_the_template_does_not_set() {
        let data = |keys: &[&str]| {
            Some(
                keys.iter()
                    .map(|k| ((*k).to_owned(), k8s_openapi::ByteString(b"x".to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let existing = Secret {
            data: data(&["old", "password"]),
            ..secret(&[])
        };
        // The metadata after the apply: the Secret's own beside the template's.
        let current = ObjectMeta {
            labels: map(&[("app", "web"), ("hand", "made"), (MANAGED_LABEL, "true")]),
            annotations: map(&[(annotations::MANAGED, "true"), ("note", "n"), ("team", "a")]),
            ..ObjectMeta::default()
        };
        let desired = Unsealed {
            metadata: ObjectMeta {
                labels: map(&[("app", "web"), (MANAGED_LABEL, "true")]),
                annotations: map(&[("team", "a")]),
                ..ObjectMeta::default()
            },
            type_: None,
            immutable: None,
            data: ["password"]
                .into_iter()
                .map(|k| (k.to_owned(), zeroize::Zeroizing::new(b"x".to_vec())))
                .collect(),
            keys_used: Default::default(),
        };
        assert_eq!(
            takeover_patch(Some(&SecretSummary::from(&existing)), &current, &desired),
            Some(serde_json::json!({
                "data": { "old": null },
                "metadata": {
                    "labels": { "hand": null },
                    "annotations": { annotations::MANAGED: null, "note": null },
                },
            }))
        );
        assert_eq!(
            takeover_patch(None, &desired.metadata, &desired),
            None,
            "a Secret that is already the template's needs no patch"
        );
    }

    #[test]
    fn rsa_operations_count_each_key_tried_on_each_value() {
        let unsealed = |used: &[&str]| {
            Ok(crate::Unsealed {
                keys_used: used.iter().map(|k| (*k).to_owned()).collect(),
                ..crate::Unsealed::default()
            })
        };
        let order = ["hint", "b", "c"];
        // The hinted key opens all three values: one operation each.
        assert_eq!(rsa_operations(3, &order, &unsealed(&["hint"])), 3);
        // The third key: two failed tries per value first.
        assert_eq!(rsa_operations(2, &order, &unsealed(&["c"])), 6);
        // Two keys over three values: at least 1 + 3, plus 1 for the third value.
        assert_eq!(rsa_operations(3, &order, &unsealed(&["hint", "c"])), 5);
        assert_eq!(rsa_operations(0, &order, &unsealed(&[])), 0);

        let failed = |errors: Vec<kseal_crypto::Error>| {
            Err(crate::Error::Keys {
                object: "ns/s".into(),
                failures: errors.into_iter().map(|e| ("k".to_owned(), e)).collect(),
            })
        };
        // One value no key opens (every key tried), one truncated (none tried), one opened.
        let result = failed(vec![
            kseal_crypto::Error::NoMatchingKey,
            kseal_crypto::Error::Truncated("short".into()),
        ]);
        assert_eq!(rsa_operations(3, &order, &result), 3 + 1);
    }

    #[test]
    fn keys_are_a_sorted_set() {
        let keys: Keys = ["b", "a", "b"].into_iter().collect();
        assert_eq!(keys.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(keys.contains("a") && !keys.contains("c"));
        let a: Keys = ["a"].into_iter().collect();
        let c: Keys = ["c"].into_iter().collect();
        assert!(a.is_subset(&keys) && !keys.is_subset(&a));
        assert!(c.is_disjoint(&keys) && !a.is_disjoint(&keys));
    }
}
