//! Object metadata as reconcilers keep and show it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt as _;

/// Object metadata without `managedFields` (for `#[serde(deserialize_with)]`): watch caches keep every
/// object, and the field managers' trees are the largest part of most objects' metadata.
pub fn without_managed_fields<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<ObjectMeta, D::Error> {
    let mut metadata = <ObjectMeta as serde::Deserialize>::deserialize(deserializer)?;
    metadata.managed_fields = None;
    Ok(metadata)
}

/// Only the identity of `metadata`: name, namespace, UID, resourceVersion and generation.
pub fn identity(metadata: ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        resource_version: metadata.resource_version,
        generation: metadata.generation,
        ..ObjectMeta::default()
    }
}

/// How messages name an object: `namespace/name`, or `name` for a cluster-scoped one.
pub fn display(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_owned(),
    }
}

/// [`display`] of an object.
pub fn name_of(object: &impl kube::Resource) -> String {
    display(object.namespace().as_deref(), &object.name_any())
}

/// [`display`] of an object's metadata.
pub fn name_in(metadata: &ObjectMeta) -> String {
    display(
        metadata.namespace.as_deref(),
        metadata.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::*;

    #[test]
    fn names_show_the_namespace_only_when_there_is_one() {
        assert_eq!(display(Some("team"), "db"), "team/db");
        assert_eq!(display(Some(""), "shared"), "shared");
        assert_eq!(display(None, "shared"), "shared");
    }

    #[test]
    fn metadata_is_trimmed_to_its_identity() {
        let metadata = ObjectMeta {
            name: Some("db".into()),
            namespace: Some("team".into()),
            uid: Some("u".into()),
            labels: Some([("a".to_owned(), "b".to_owned())].into()),
            managed_fields: Some(vec![ManagedFieldsEntry::default()]),
            ..ObjectMeta::default()
        };
        let trimmed = identity(metadata);
        assert_eq!(trimmed.name.as_deref(), Some("db"));
        assert_eq!(trimmed.uid.as_deref(), Some("u"));
        assert!(trimmed.labels.is_none() && trimmed.managed_fields.is_none());
    }
}
