//! The watched resources, loosely typed: a spec that does not fit the schema is kept (as JSON, or as
//! the reason it does not parse) instead of failing the watch. A malformed object then fails only its
//! own reconcile (and says why in its status) instead of every list of the watch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::external_secrets::{
    ClusterSecretStore, ExternalSecret, ExternalSecretSpec, ExternalSecretStatus, SecretStore,
    SecretStoreSpec,
};
use kseal_runtime::meta::{name_in, without_managed_fields};
use serde::de::DeserializeOwned;

use crate::Error;

macro_rules! watched {
    ($(#[$doc:meta])* $name:ident inherits $typed:ty) => {
        $(#[$doc])*
        #[derive(kube::Resource, Clone, Debug, serde::Deserialize, serde::Serialize)]
        #[resource(inherit = $typed)]
        pub struct $name {
            /// The object's metadata (without `managedFields`, which nothing here reads).
            #[serde(deserialize_with = "without_managed_fields")]
            pub metadata: ObjectMeta,
            /// `spec`, not yet checked.
            #[serde(default)]
            pub spec: serde_json::Value,
            /// `status`, not yet checked.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<serde_json::Value>,
        }

        impl $name {
            /// The store's spec, or why it does not fit the schema.
            pub fn parse(&self) -> Result<SecretStoreSpec, Error> {
                parse_spec(&self.spec, &self.metadata)
            }
        }
    };
}

/// Why a cached spec is not used (kept instead of the typed spec, and reported by its reconcile).
#[derive(Clone, Debug)]
pub enum SpecError {
    /// It does not fit ESO's schema.
    Invalid(String),
    /// It sets fields kseal does not implement.
    Unsupported(String),
}

impl From<Error> for SpecError {
    fn from(error: Error) -> Self {
        match error {
            Error::Unsupported { message } => SpecError::Unsupported(message),
            error => SpecError::Invalid(error.to_string()),
        }
    }
}

impl SpecError {
    /// The sync's error for it.
    pub fn into_error(self) -> Error {
        match self {
            SpecError::Invalid(message) => Error::Invalid { message },
            SpecError::Unsupported(message) => Error::Unsupported { message },
        }
    }
}

/// An object as it arrives, before its spec and status are parsed: metadata (without
/// `managedFields`), the spec and the status as JSON.
#[derive(serde::Deserialize)]
pub(crate) struct RawObject {
    #[serde(deserialize_with = "without_managed_fields")]
    pub(crate) metadata: ObjectMeta,
    #[serde(default)]
    pub(crate) spec: serde_json::Value,
    #[serde(default)]
    pub(crate) status: Option<serde_json::Value>,
}

/// An ExternalSecret as watched and cached: the spec and status parsed once, when they arrive, into
/// the compact typed form (a JSON tree of the same object takes several times the memory). A spec
/// that does not fit ESO's schema is kept as the reason, reported by its reconcile.
#[derive(kube::Resource, Clone, Debug, serde::Serialize)]
#[resource(inherit = ExternalSecret)]
pub struct WatchedExternalSecret {
    /// The object's metadata (without `managedFields`).
    pub metadata: ObjectMeta,
    /// The spec, or why it does not parse.
    #[serde(skip)]
    pub spec: Result<ExternalSecretSpec, SpecError>,
    /// The status; one kseal cannot read counts as none (it is rewritten whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ExternalSecretStatus>,
}

impl<'de> serde::Deserialize<'de> for WatchedExternalSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawObject::deserialize(deserializer)?;
        let spec = parse_spec(&raw.spec, &raw.metadata)
            .and_then(|spec: ExternalSecretSpec| {
                let fields = unimplemented(&spec);
                if fields.is_empty() {
                    Ok(spec)
                } else {
                    Err(unsupported(&raw.metadata, &fields))
                }
            })
            .map_err(SpecError::from);
        let status = raw.status.and_then(|s| serde_json::from_value(s).ok());
        Ok(WatchedExternalSecret {
            metadata: raw.metadata,
            spec,
            status,
        })
    }
}
watched!(
    /// A SecretStore as watched.
    WatchedSecretStore inherits SecretStore
);
watched!(
    /// A ClusterSecretStore as watched.
    WatchedClusterSecretStore inherits ClusterSecretStore
);

impl WatchedExternalSecret {
    /// The typed ExternalSecret, or why its spec does not fit ESO's schema.
    pub fn parse(&self) -> Result<ExternalSecret, Error> {
        Ok(ExternalSecret {
            metadata: self.metadata.clone(),
            spec: self.spec.clone().map_err(SpecError::into_error)?,
            status: self.current_status(),
        })
    }

    /// The current status; one kseal cannot read counts as none.
    pub fn current_status(&self) -> Option<ExternalSecretStatus> {
        self.status.clone()
    }
}

/// The typed spec. A field kseal's types do not know (a field of ESO kseal does not implement yet, or
/// one ESO does not have either) is [`Error::Unsupported`], naming each such path: nothing of the object
/// is synced, rather than a part of it silently ignored.
fn parse_spec<T: DeserializeOwned>(
    spec: &serde_json::Value,
    metadata: &ObjectMeta,
) -> Result<T, Error> {
    parse_at(spec, metadata, "spec")
}

/// [`parse_spec`] of a value at the field path `root` of the object `metadata` names.
pub(crate) fn parse_at<T: DeserializeOwned>(
    spec: &serde_json::Value,
    metadata: &ObjectMeta,
    root: &str,
) -> Result<T, Error> {
    let mut unknown = Vec::new();
    let typed: T = serde_ignored::deserialize(spec.clone(), |path| {
        unknown.push(field_path_from(root, &path));
    })
    .map_err(|error| Error::Invalid {
        message: format!("{}: invalid spec: {error}", name_in(metadata)),
    })?;
    if unknown.is_empty() {
        return Ok(typed);
    }
    unknown.sort();
    unknown.dedup();
    Err(unsupported(metadata, &unknown))
}

/// The paths of fields of ESO's ExternalSecret that kseal's types know but kseal does not implement
/// yet: objects other than a Secret as the target, and `data[].sourceRef.generatorRef` (which ESO
/// deprecated and never implemented: it ignores the field; generators go in `dataFrom`).
fn unimplemented(spec: &ExternalSecretSpec) -> Vec<String> {
    let mut fields = Vec::new();
    if spec
        .target
        .manifest
        .as_ref()
        .is_some_and(|m| !(m.api_version == "v1" && m.kind == "Secret"))
    {
        fields.push("spec.target.manifest".to_owned());
    }
    for (index, item) in spec.data.iter().enumerate() {
        if item
            .source_ref
            .as_ref()
            .is_some_and(|s| s.generator_ref.is_some())
        {
            fields.push(format!("spec.data[{index}].sourceRef.generatorRef"));
        }
    }
    fields
}

/// [`Error::Unsupported`] for the field paths `fields` of the object `metadata` names.
pub(crate) fn unsupported(metadata: &ObjectMeta, fields: &[String]) -> Error {
    Error::Unsupported {
        message: format!(
            "{}: {} not supported by kseal (nothing is synced until the {} removed; the Secret is left as it is)",
            name_in(metadata),
            fields.join(", "),
            if fields.len() == 1 {
                "field is"
            } else {
                "fields are"
            },
        ),
    }
}

/// A field path as Kubernetes writes them: `spec.data[0].sourceRef`.
pub(crate) fn field_path(path: &serde_ignored::Path<'_>) -> String {
    field_path_from("spec", path)
}

/// [`field_path`] below `root`.
fn field_path_from(root: &str, path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => root.to_owned(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path_from(root, parent)),
        Path::Map { parent, key } => format!("{}.{key}", field_path_from(root, parent)),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path_from(root, parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_spec_names_the_object_and_field() {
        let watched: WatchedExternalSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "bad", "namespace": "team"},
            "spec": {"data": [{"secretKey": "k", "remoteRef": {"key": 5}}]}
        }))
        .unwrap();
        let message = watched.parse().unwrap_err().to_string();
        assert!(message.contains("team/bad"), "{message}");
        assert!(message.contains("invalid type"), "{message}");
    }
}
