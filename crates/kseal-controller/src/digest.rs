//! "No repeated decryption" (SPEC §4 item 2): each unsealed Secret records a digest of what it was
//! unsealed from and the key that opened it, so an up-to-date Secret costs no private-key work after a
//! restart or resync.
//!
//! The digest covers only sealed material and metadata, never plaintext, so it reveals nothing about the
//! values.

use std::collections::BTreeSet;

use aws_lc_rs::digest::{SHA256, digest};
use k8s_openapi::api::core::v1::Secret;
use kseal_api::SealedSecret;

use crate::unseal::FIELD_MANAGER;

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

/// Whether `existing` already is what unsealing `sealed` would write: it carries the same digest, holds
/// every key the SealedSecret produces, and no other field manager has written one of those keys since
/// (a hand edit). The deprecated `spec.data` blob hides its keys, so it is always decrypted.
pub fn is_up_to_date(existing: &Secret, sealed: &SealedSecret, digest: &str) -> bool {
    let recorded = existing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SEALED_DIGEST));
    let labelled = existing
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.get(MANAGED_LABEL).is_some_and(|v| v == "true"));
    if recorded.map(String::as_str) != Some(digest) || sealed.spec.data.is_some() || !labelled {
        return false;
    }
    let mut keys: BTreeSet<&str> = sealed
        .spec
        .encrypted_data
        .keys()
        .map(String::as_str)
        .collect();
    if let Some(templates) = sealed.spec.template.as_ref().and_then(|t| t.data.as_ref()) {
        keys.extend(templates.keys().map(String::as_str));
    }
    let data = existing.data.as_ref();
    let all_present = keys
        .iter()
        .all(|k| data.is_some_and(|d| d.contains_key(*k)));
    let edited_by_others = existing
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|entry| {
            entry.manager.as_deref() != Some(FIELD_MANAGER)
                && entry.fields_v1.as_ref().is_some_and(|fields| {
                    keys.iter().any(|k| {
                        fields
                            .0
                            .get("f:data")
                            .and_then(|d| d.get(format!("f:{k}")))
                            .is_some()
                    })
                })
        });
    all_present && !edited_by_others
}

/// The key fingerprint recorded on `existing`.
pub fn unsealed_with(existing: &Secret) -> Option<&str> {
    existing
        .metadata
        .annotations
        .as_ref()?
        .get(UNSEALED_WITH)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
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
        let digest = sealed_digest(&object);
        let ours = serde_json::json!({ "f:data": { "f:k": {} } });
        assert!(is_up_to_date(
            &unsealed(&digest, &[(FIELD_MANAGER, ours.clone())]),
            &object,
            &digest
        ));
        assert!(!is_up_to_date(
            &unsealed("old", &[(FIELD_MANAGER, ours.clone())]),
            &object,
            &digest
        ));
        let edited = unsealed(
            &digest,
            &[
                (FIELD_MANAGER, ours.clone()),
                ("kubectl-edit", ours.clone()),
            ],
        );
        assert!(!is_up_to_date(&edited, &object, &digest));
        let mut missing = unsealed(&digest, &[]);
        missing.data = None;
        assert!(!is_up_to_date(&missing, &object, &digest));
        let mut unlabelled = unsealed(&digest, &[(FIELD_MANAGER, ours.clone())]);
        unlabelled.metadata.labels = None;
        assert!(
            !is_up_to_date(&unlabelled, &object, &digest),
            "a Secret without the label is rewritten, so the watch sees it again"
        );
    }
}
