//! The watched resources, loosely typed: metadata typed, `spec` kept as JSON until a reconcile parses it.
//! A malformed object then fails only its own reconcile (and says why in its status) instead of every
//! list of the watch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::external_secrets::{
    ClusterSecretStore, ExternalSecret, ExternalSecretStatus, SecretStore, SecretStoreSpec,
};
use kube::ResourceExt as _;
use serde::de::DeserializeOwned;

use crate::Error;

macro_rules! watched {
    ($(#[$doc:meta])* $name:ident inherits $typed:ty) => {
        $(#[$doc])*
        #[derive(kube::Resource, Clone, Debug, serde::Deserialize, serde::Serialize)]
        #[resource(inherit = $typed)]
        pub struct $name {
            /// The object's metadata.
            pub metadata: ObjectMeta,
            /// `spec`, not yet checked.
            #[serde(default)]
            pub spec: serde_json::Value,
            /// `status`, not yet checked.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<serde_json::Value>,
        }
    };
}

watched!(
    /// An ExternalSecret as watched.
    WatchedExternalSecret inherits ExternalSecret
);
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
            spec: parse_spec(&self.spec, &self.metadata)?,
            status: self.current_status(),
        })
    }

    /// The current status; one kseal cannot read counts as none.
    pub fn current_status(&self) -> Option<ExternalSecretStatus> {
        serde_json::from_value(self.status.clone()?).ok()
    }
}

impl WatchedSecretStore {
    /// The store's spec.
    pub fn parse(&self) -> Result<SecretStoreSpec, Error> {
        parse_spec(&self.spec, &self.metadata)
    }
}

impl WatchedClusterSecretStore {
    /// The store's spec.
    pub fn parse(&self) -> Result<SecretStoreSpec, Error> {
        parse_spec(&self.spec, &self.metadata)
    }
}

fn parse_spec<T: DeserializeOwned>(
    spec: &serde_json::Value,
    metadata: &ObjectMeta,
) -> Result<T, Error> {
    serde_json::from_value(spec.clone()).map_err(|error| Error::Invalid {
        message: format!(
            "{}: invalid spec: {error}",
            object_name(
                metadata.namespace.as_deref(),
                metadata.name.as_deref().unwrap_or_default()
            )
        ),
    })
}

/// `namespace/name`, or `name` for cluster-scoped objects.
pub fn object_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_owned(),
    }
}

/// `namespace/name` of a watched object.
pub fn name_of(object: &impl kube::Resource) -> String {
    object_name(object.namespace().as_deref(), &object.name_any())
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
