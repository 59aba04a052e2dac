//! The `SealedSecret` custom resource (`bitnami.com/v1alpha1`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of a SealedSecret: encrypted values plus the template of the Secret to create.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    shortname = "sealedsecret",
    namespaced,
    status = "SealedSecretStatus",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[0].message"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[0].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Metadata, type and templated data of the Secret to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplateSpec>,
    /// Each value sealed separately: base64 of the hybrid RSA-OAEP + AES-GCM envelope.
    #[serde(default)]
    pub encrypted_data: BTreeMap<String, String>,
    /// Deprecated: the whole Secret as JSON, sealed as one value. Still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// Template of the Secret a SealedSecret unseals into.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplateSpec {
    /// Labels, annotations and other metadata copied to the Secret (name and namespace are forced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub metadata: Option<ObjectMeta>,
    /// Secret type, e.g. `Opaque` or `kubernetes.io/tls`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Whether the Secret is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Go templates rendered as sealed-secrets renders them: with the decrypted values and, for other
    /// keys, the templates' own text as the data; a decrypted value wins over a template of its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
}

/// Observed state of a SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// Generation of the spec the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions; kseal sets `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<SealedSecretCondition>,
}

/// One status condition of a SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretCondition {
    /// Condition type, `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message; never holds a secret value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last time the condition was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    /// Last time the status changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

impl SealedSecret {
    /// Namespace of the object, or `""` when unset.
    pub fn namespace_or_empty(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// Name of the object, or `""` when unset.
    pub fn name_or_empty(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }
}
