//! "No repeated decryption" (SPEC §4 item 2): each unsealed Secret records a digest of what it was
//! unsealed from and the key that opened it, so an up-to-date Secret costs no private-key work after a
//! restart or resync.
//!
//! The digest covers only sealed material and metadata, never plaintext, so it reveals nothing about the
//! values.

use aws_lc_rs::digest::{SHA256, digest};
use kseal_api::{SealedSecret, annotations};

use crate::cache::{Keys, SecretSummary};

/// On the Secret: SHA-256 of the SealedSecret it was unsealed from ([`sealed_digest`]).
pub const SEALED_DIGEST: &str = "kseal.io/sealed-digest";
/// On the Secret: fingerprint of the key that opened it (tried first next time).
pub const UNSEALED_WITH: &str = "kseal.io/unsealed-with";
/// Label on every Secret the unsealer writes: its Secret watch selects only these (SPEC §4.7).
pub const MANAGED_LABEL: &str = "kseal.io/managed";

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
    hex::encode(digest(&SHA256, &bytes))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        FieldsV1, ManagedFieldsEntry, ObjectMeta,
    };
    use kseal_api::SealedSecretSpec;

    use crate::unseal::FIELD_MANAGER;

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
}
