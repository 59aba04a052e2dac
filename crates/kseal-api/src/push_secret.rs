//! The External Secrets Operator's PushSecret (`external-secrets.io/v1alpha1`): keys of a Secret of its
//! namespace pushed to AWS Secrets Manager through SecretStores or ClusterSecretStores.
//!
//! Field names, enum values and defaults are ESO's. The types hold what kseal implements; any other
//! field of a manifest (the CRD keeps them all) is reported as `Unsupported` by its path.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::external_secrets::{Condition, StoreKind};

/// The finalizer a PushSecret with `deletionPolicy: Delete` carries (ESO's), so that its remote
/// secrets are deleted before it goes.
pub const FINALIZER: &str = "pushsecret.externalsecrets.io/finalizer";

/// Which Secret to push, and where.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "PushSecret",
    plural = "pushsecrets",
    shortname = "ps",
    category = "external-secrets",
    namespaced,
    status = "PushSecretStatus",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Last Sync","type":"date","jsonPath":".status.refreshTime"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSpec {
    /// How often the Secret is pushed again (Go duration; default `1h`; `0`: only when the PushSecret
    /// changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// The stores to push to.
    #[serde(default)]
    pub secret_store_refs: Vec<PushSecretStoreRef>,
    /// `Replace` (default) or `IfNotExists` (a remote secret that exists is left as it is).
    #[serde(default)]
    pub update_policy: PushUpdatePolicy,
    /// `None` (default) or `Delete`: remote secrets no longer pushed, or of a deleted PushSecret, are
    /// deleted.
    #[serde(default)]
    pub deletion_policy: PushDeletionPolicy,
    /// The Secret to push.
    #[serde(default)]
    pub selector: PushSecretSelector,
    /// What to push: a key of the Secret (or all of it) to a remote key (and property).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<PushSecretData>,
}

/// `spec.secretStoreRefs[]`: a store by name, or every store whose labels match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStoreRef {
    /// The store's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Stores whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// `SecretStore` (default) or `ClusterSecretStore`.
    #[serde(default)]
    pub kind: StoreKind,
}

/// `spec.updatePolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PushUpdatePolicy {
    /// Remote secrets are written whenever they differ.
    #[default]
    Replace,
    /// A remote secret that exists is never written.
    IfNotExists,
}

/// `spec.deletionPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PushDeletionPolicy {
    /// Remote secrets stay.
    #[default]
    None,
    /// Remote secrets this PushSecret no longer pushes are deleted (only those kseal or ESO created).
    Delete,
}

/// `spec.selector`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PushSecretSelector {
    /// A Secret of the PushSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<PushSecretSecret>,
}

/// `spec.selector.secret`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PushSecretSecret {
    /// The Secret's name.
    #[serde(default)]
    pub name: String,
}

/// `spec.data[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PushSecretData {
    /// Which key goes where.
    #[serde(rename = "match")]
    pub match_: PushSecretMatch,
    /// Provider-specific metadata: for AWS Secrets Manager a `PushSecretMetadata` of
    /// `kubernetes.external-secrets.io/v1alpha1` with `spec.tags`, `description`, `secretPushFormat`
    /// (`binary`, default, or `string`) and `kmsKeyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub metadata: Option<serde_json::Value>,
    /// `None` (ESO's default) or `ReverseUnicode` (which kseal does not implement yet).
    #[serde(
        default,
        rename = "conversionStrategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub conversion_strategy: Option<PushConversionStrategy>,
}

/// `spec.data[].conversionStrategy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PushConversionStrategy {
    /// Keys as they are.
    #[default]
    None,
    /// Keys with `_U<hex>_` sequences turned back into characters.
    ReverseUnicode,
}

/// `spec.data[].match`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretMatch {
    /// The Secret's key; left out, the whole Secret as a JSON object of its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Where it goes.
    pub remote_ref: PushSecretRemoteRef,
}

/// `spec.data[].match.remoteRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretRemoteRef {
    /// The remote secret's name.
    pub remote_key: String,
    /// A property of the remote secret's JSON value to set, instead of the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// Observed state of a PushSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatus {
    /// When the Secret was last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<Time>,
    /// `metadata.generation` of the PushSecret last pushed (ESO's name for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// What was pushed, by store (`SecretStore/name`, `ClusterSecretStore/name`) and remote key
    /// (`key`, or `key/property`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synced_push_secrets: BTreeMap<String, BTreeMap<String, PushSecretData>>,
    /// `Ready` with reason `Synced` or `Errored`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Any JSON value, kept as written (`x-kubernetes-preserve-unknown-fields`).
fn any_json(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"x-kubernetes-preserve-unknown-fields": true})
}
