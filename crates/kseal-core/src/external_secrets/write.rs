//! Whether the sync writes an ExternalSecret's target Secret, decided without a client from the
//! `creationPolicy`, the Secret as the watch shows it and the Secret the ExternalSecret describes.

use k8s_openapi::api::core::v1::Secret;
use kseal_api::external_secrets::{ANNOTATION_DATA_HASH, CreationPolicy};

use super::desired::Desired;

/// What to do with the target Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePlan {
    /// Nothing to write: `creationPolicy: None`, or the Secret already holds what would be written.
    Unchanged,
    /// `creationPolicy: Merge` and there is no Secret to merge into.
    TargetMissing,
    /// The Secret is immutable and its data would change.
    Immutable,
    /// Write it (the caller reads the Secret again first and checks it may).
    Write,
}

/// The plan for `object` (the Secret `desired` describes, as [`super::desired::secret_object`] builds
/// it) over `existing`, under `policy`. Under `Merge`, the data is unchanged when every written key
/// already has its value (also under `CreateOrMerge`, which creates a missing Secret); otherwise the
/// whole data must be equal. Labels and annotations are unchanged
/// when every desired one is present with its value, and the type when it is not set or equal.
pub fn write_plan(
    policy: CreationPolicy,
    existing: Option<&Secret>,
    desired: &Desired,
    object: &Secret,
) -> WritePlan {
    let existing = match (policy, existing) {
        (CreationPolicy::None, _) => return WritePlan::Unchanged,
        (CreationPolicy::Merge, None) => return WritePlan::TargetMissing,
        (_, None) => return WritePlan::Write,
        (_, Some(existing)) => existing,
    };
    let empty = Default::default();
    let current = existing.data.as_ref().unwrap_or(&empty);
    let written = object.data.as_ref().unwrap_or(&empty);
    let merging = matches!(
        policy,
        CreationPolicy::Merge | CreationPolicy::CreateOrMerge
    );
    let same_data =
        current == written || (merging && written.iter().all(|(k, v)| current.get(k) == Some(v)));
    if existing.immutable == Some(true) {
        return if same_data {
            WritePlan::Unchanged
        } else {
            WritePlan::Immutable
        };
    }
    let same_metadata = same_metadata(existing, desired);
    if same_data && same_metadata {
        WritePlan::Unchanged
    } else {
        WritePlan::Write
    }
}

/// Whether `existing` has every label, annotation and finalizer of `desired`, and its type.
fn same_metadata(existing: &Secret, desired: &Desired) -> bool {
    let labels = existing.metadata.labels.as_ref();
    let annotations = existing.metadata.annotations.as_ref();
    desired
        .labels
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        && desired
            .annotations
            .iter()
            .all(|(k, v)| annotations.and_then(|a| a.get(k)) == Some(v))
        && (desired.type_.is_none() || existing.type_ == desired.type_)
        && desired.finalizers.iter().all(|f| {
            existing
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|all| all.contains(f))
        })
}

/// What a watch cache keeps of a Secret's metadata, compactly: a hash of each label, annotation,
/// finalizer and of its type (sorted). [`unchanged_by_facts`] compares a desired Secret with it.
pub fn metadata_facts(secret: &Secret) -> Box<[u64]> {
    let meta = &secret.metadata;
    let mut facts: Vec<u64> = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| fact('l', k, v))
        .chain(
            meta.annotations
                .iter()
                .flatten()
                .map(|(k, v)| fact('a', k, v)),
        )
        .chain(meta.finalizers.iter().flatten().map(|f| fact('f', f, "")))
        .chain(secret.type_.iter().map(|t| fact('t', t, "")))
        .collect();
    facts.sort_unstable();
    facts.into()
}

fn fact(kind: char, key: &str, value: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    // Fixed keys: the same fact hashes alike in every call of this process.
    let mut hasher = std::hash::DefaultHasher::new();
    (kind, key, value).hash(&mut hasher);
    hasher.finish()
}

/// Whether a Secret known only by its [`metadata_facts`] (a watch cache's copy), whose data matched its
/// data-hash annotation, is already as `desired` would write it under `creationPolicy` Owner or Orphan:
/// the desired annotations carry the hash of the desired data, so the same metadata means the same
/// data. `false` means only the whole Secret can tell.
pub fn unchanged_by_facts(policy: CreationPolicy, facts: &[u64], desired: &Desired) -> bool {
    let has = |f: u64| facts.binary_search(&f).is_ok();
    matches!(policy, CreationPolicy::Owner | CreationPolicy::Orphan)
        && desired.annotations.contains_key(ANNOTATION_DATA_HASH)
        && desired.labels.iter().all(|(k, v)| has(fact('l', k, v)))
        && desired
            .annotations
            .iter()
            .all(|(k, v)| has(fact('a', k, v)))
        && desired.finalizers.iter().all(|f| has(fact('f', f, "")))
        && desired.type_.iter().all(|t| has(fact('t', t, "")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use zeroize::Zeroizing;

    use super::*;
    use crate::external_secrets::desired::secret_object;

    fn desired(data: &[(&str, &str)]) -> Desired {
        Desired {
            name: "app".into(),
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
                .collect(),
            labels: BTreeMap::from([("team".to_owned(), "a".to_owned())]),
            annotations: BTreeMap::new(),
            type_: None,
            immutable: false,
            owner: None,
            finalizers: Vec::new(),
        }
    }

    fn existing(data: &[(&str, &str)], immutable: bool) -> Secret {
        let mut secret = secret_object(&desired(&[]), "ns");
        secret.data = Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        secret.immutable = Some(immutable);
        secret
    }

    #[test]
    fn each_policy_writes_only_what_changed() {
        let want = desired(&[("user", "u")]);
        let object = secret_object(&want, "ns");
        let plan = |policy, current: Option<&Secret>| write_plan(policy, current, &want, &object);
        let same = existing(&[("user", "u")], false);
        let more = existing(&[("user", "u"), ("extra", "x")], false);
        let changed = existing(&[("user", "old")], false);
        assert_eq!(plan(CreationPolicy::None, None), WritePlan::Unchanged);
        assert_eq!(plan(CreationPolicy::Owner, None), WritePlan::Write);
        assert_eq!(plan(CreationPolicy::Merge, None), WritePlan::TargetMissing);
        assert_eq!(plan(CreationPolicy::CreateOrMerge, None), WritePlan::Write);
        assert_eq!(
            plan(CreationPolicy::Owner, Some(&same)),
            WritePlan::Unchanged
        );
        assert_eq!(
            plan(CreationPolicy::Owner, Some(&changed)),
            WritePlan::Write
        );
        // Owner writes the whole data; Merge only its keys.
        assert_eq!(plan(CreationPolicy::Owner, Some(&more)), WritePlan::Write);
        assert_eq!(
            plan(CreationPolicy::Merge, Some(&more)),
            WritePlan::Unchanged
        );
        assert_eq!(
            plan(CreationPolicy::CreateOrMerge, Some(&more)),
            WritePlan::Unchanged
        );
        let mut unlabelled = same.clone();
        unlabelled.metadata.labels = None;
        assert_eq!(
            plan(CreationPolicy::Owner, Some(&unlabelled)),
            WritePlan::Write
        );
    }

    #[test]
    fn an_immutable_secret_is_never_rewritten() {
        let want = desired(&[("user", "u")]);
        let object = secret_object(&want, "ns");
        let frozen = existing(&[("user", "u")], true);
        let mut relabelled = frozen.clone();
        relabelled.metadata.labels = None;
        assert_eq!(
            write_plan(CreationPolicy::Owner, Some(&relabelled), &want, &object),
            WritePlan::Unchanged
        );
        let stale = existing(&[("user", "old")], true);
        assert_eq!(
            write_plan(CreationPolicy::Owner, Some(&stale), &want, &object),
            WritePlan::Immutable
        );
    }

    #[test]
    fn a_cached_copy_is_unchanged_only_when_its_hash_and_metadata_match() {
        let with_hash = |data: &[(&str, &str)]| {
            let mut want = desired(data);
            let values: BTreeMap<String, &[u8]> = data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes()))
                .collect();
            want.annotations.insert(
                ANNOTATION_DATA_HASH.to_owned(),
                crate::external_secrets::desired::data_hash(&values),
            );
            want
        };
        let written = with_hash(&[("user", "u")]);
        let mut cached = secret_object(&written, "ns");
        // Labels another writer added do not matter.
        cached
            .metadata
            .labels
            .get_or_insert_default()
            .insert("extra".into(), "x".into());
        let facts = metadata_facts(&cached);
        let unchanged = |policy, want: &Desired| unchanged_by_facts(policy, &facts, want);
        assert!(unchanged(CreationPolicy::Owner, &written));
        assert!(unchanged(CreationPolicy::Orphan, &written));
        // Other data has another hash; merged Secrets hold other keys: only the whole Secret tells.
        let other = with_hash(&[("user", "new")]);
        assert!(!unchanged(CreationPolicy::Owner, &other));
        assert!(!unchanged(CreationPolicy::Merge, &written));
        // A new label, another type, a finalizer from the template.
        let mut relabelled = written.clone();
        relabelled.labels.insert("tier".into(), "web".into());
        assert!(!unchanged(CreationPolicy::Owner, &relabelled));
        let mut typed = written.clone();
        typed.type_ = Some("kubernetes.io/tls".into());
        assert!(!unchanged(CreationPolicy::Owner, &typed));
        let mut held = written.clone();
        held.finalizers.push("example.com/hold".into());
        assert!(!unchanged(CreationPolicy::Owner, &held));
        // Without the hash annotation nothing is known of the data.
        let mut unhashed = written.clone();
        unhashed.annotations.clear();
        assert!(!unchanged(CreationPolicy::Owner, &unhashed));
    }
}
