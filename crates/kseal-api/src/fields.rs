//! What `managedFields` say about who wrote what (server-side apply's field ownership).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

/// The `data` keys one `managedFields` entry owns (its `f:data` fields), without their `f:` prefix.
pub fn data_fields(entry: &ManagedFieldsEntry) -> impl Iterator<Item = &str> {
    entry
        .fields_v1
        .as_ref()
        .and_then(|fields| fields.0.get("f:data"))
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flat_map(|data| data.keys())
        .filter_map(|field| field.strip_prefix("f:"))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;

    use super::*;

    #[test]
    fn data_fields_lists_the_keys_under_f_data_only() {
        let entry = ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({
                "f:data": {"f:user": {}, "f:pass": {}, ".": {}},
                "f:metadata": {"f:labels": {"f:app": {}}}
            }))),
            ..ManagedFieldsEntry::default()
        };
        let mut keys: Vec<&str> = data_fields(&entry).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["pass", "user"]);
        assert_eq!(data_fields(&ManagedFieldsEntry::default()).count(), 0);
    }
}
