//! The External Secrets Operator resources kseal serves (`external-secrets.io`):
//! [`ExternalSecret`], [`SecretStore`], [`ClusterSecretStore`] and [`ClusterExternalSecret`].
//!
//! Field names, enum values and defaults are ESO's, so existing manifests apply unchanged. The types
//! are version `v1` (storage); the generated CRDs also serve `v1beta1` with the same schema
//! ([`SERVED_VERSIONS`]). Providers other than `aws` and `fake` are kept as written
//! ([`SecretStoreProvider::other`]) so such stores apply and report that kseal does not serve them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the resources.
pub const GROUP: &str = "external-secrets.io";
/// Versions served, storage version first; both share one schema.
pub const SERVED_VERSIONS: [&str; 2] = ["v1", "v1beta1"];

/// Label ESO and kseal put on every Secret an ExternalSecret manages.
pub const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
/// Label ESO and kseal put on a Secret of `creationPolicy: Owner`: a digest of the ExternalSecret's
/// `namespace/name`, by which a Secret left under an old `target.name` is found and deleted.
pub const LABEL_CREATED_BY: &str = "reconcile.external-secrets.io/created-by";
/// Annotation with a hash of the data an ExternalSecret wrote into its Secret.
pub const ANNOTATION_DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
/// Annotation on an ExternalSecret: a new value forces a refresh.
pub const ANNOTATION_FORCE_SYNC: &str = "force-sync";

// ---------------------------------------------------------------------------------------------
// SecretStore and ClusterSecretStore
// ---------------------------------------------------------------------------------------------

/// Where and how to read secrets (namespaced store).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "SecretStore",
    plural = "secretstores",
    shortname = "ss",
    category = "external-secrets",
    namespaced,
    status = "SecretStoreStatus",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreSpec {
    /// Controller class that should handle this store; empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The provider: exactly one of its fields is set.
    pub provider: SecretStoreProvider,
    /// Retry settings of the provider client (accepted; kseal's own backoff applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<RetrySettings>,
    /// How often the store is validated again: whole seconds, or a Go duration (`"5m"`); unset or
    /// 0 uses the controller's default ([`SecretStoreSpec::refresh_interval`]).
    #[serde(
        default,
        rename = "refreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "int_or_string")]
    pub refresh_interval_raw: Option<IntOrString>,
    /// ClusterSecretStore only: which namespaces may use the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterSecretStoreCondition>,
}

impl SecretStoreSpec {
    /// `refreshInterval` as a duration (`None` when unset or 0: the controller's default), or why it
    /// is not one (negative, or not a Go duration).
    pub fn refresh_interval(&self) -> Result<Option<std::time::Duration>, String> {
        let interval = match &self.refresh_interval_raw {
            None => return Ok(None),
            Some(IntOrString::Int(seconds)) => {
                let seconds = u64::try_from(*seconds)
                    .map_err(|_| format!("{seconds} must not be negative"))?;
                std::time::Duration::from_secs(seconds)
            }
            Some(IntOrString::String(text)) => crate::duration::parse(text)?,
        };
        Ok((!interval.is_zero()).then_some(interval))
    }
}

/// The OpenAPI schema of bytes written as base64 text (Go's `[]byte`).
fn base64_bytes(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "format": "byte"})
}

/// The OpenAPI schema of an int-or-string field (`x-kubernetes-int-or-string`).
fn int_or_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"x-kubernetes-int-or-string": true})
}

/// A store any namespace may use, limited by [`SecretStoreSpec::conditions`].
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterSecretStore",
    plural = "clustersecretstores",
    shortname = "css",
    category = "external-secrets",
    status = "SecretStoreStatus",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
pub struct ClusterSecretStoreSpec {
    /// The same fields as a SecretStore.
    #[serde(flatten)]
    pub store: SecretStoreSpec,
}

/// `spec.provider`: kseal serves `aws` (Secrets Manager and Parameter Store), `kubernetes` and `fake`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SecretStoreProvider {
    /// AWS Secrets Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsProvider>,
    /// Static data held in the store itself, for demos and tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<FakeProvider>,
    /// Secrets of a namespace of this or another Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesProvider>,
    /// Providers kseal does not serve, kept as written (the store reports them as unsupported).
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `spec.provider.aws`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// `SecretsManager` or `ParameterStore` (both served; `CertificateManager` is not yet).
    pub service: AwsServiceType,
    /// How to authenticate; without it, the AWS SDK's default credential chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// Role to assume (after `additionalRoles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Roles assumed in order before `role`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_roles: Vec<String>,
    /// External ID passed when assuming `role`.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Session tags sent when assuming `role` (with `sessionTagsPolicy: None`, the default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_tags: Vec<SessionTag>,
    /// Secrets Manager write options (accepted; kseal does not write to AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<SecretsManagerOptions>,
    /// Session tag keys that pass on to the sessions of later roles in a chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// Session tags made from the store: `None` (default: `sessionTags`), `Simple` (the namespace,
    /// store name and kind instead) or `Custom` (those and `customSessionTags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_tags_policy: Option<SessionTagsPolicy>,
    /// More session tags with policy `Custom`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_session_tags: BTreeMap<String, String>,
    /// Prefix added to every remote key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `spec.provider.aws.sessionTagsPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SessionTagsPolicy {
    /// No tags added.
    #[default]
    None,
    /// The namespace, store name and store kind as tags.
    Simple,
    /// Those and `customSessionTags`.
    Custom,
}

/// A session tag (`key`, `value`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SessionTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[serde(default)]
    pub value: String,
}

/// `spec.provider.aws.secretsManager`: options of writing secrets (kseal only reads).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsManagerOptions {
    /// Delete without a recovery window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_delete_without_recovery: Option<bool>,
    /// Recovery window of deletions, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window_in_days: Option<i64>,
}

/// `spec.provider.aws.service`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AwsServiceType {
    /// AWS Secrets Manager.
    #[default]
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
    /// AWS Certificate Manager (not served yet).
    CertificateManager,
}

/// `spec.provider.aws.auth`: static keys from a Secret, or IRSA-style web identity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    /// Access keys read from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// A service account token exchanged with STS for the role in its annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

/// `auth.secretRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuthSecretRef {
    /// The access key id.
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id_secret_ref: SecretKeySelector,
    /// The secret access key.
    pub secret_access_key_secret_ref: SecretKeySelector,
    /// An optional session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_secret_ref: Option<SecretKeySelector>,
}

/// `auth.jwt`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    /// The service account whose token is exchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

/// A key of a Secret; `namespace` only in ClusterSecretStores.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretKeySelector {
    /// Secret name.
    #[serde(default)]
    pub name: String,
    /// Secret namespace (ClusterSecretStore only; defaults to the ExternalSecret's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key in the Secret's data.
    #[serde(default)]
    pub key: String,
}

/// A service account; `namespace` only in ClusterSecretStores.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ServiceAccountSelector {
    /// Service account name.
    pub name: String,
    /// Its namespace (ClusterSecretStore only; defaults to the ExternalSecret's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Token audiences; default `sts.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// `spec.provider.kubernetes`: Secrets of `remoteNamespace`, read from the API server at `server`
/// with the credentials of `auth` (or of the kubeconfig `authRef` names).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesProvider {
    /// The API server and the CA that signed its certificate.
    #[serde(default)]
    pub server: KubernetesServer,
    /// One of `token`, `serviceAccount` or `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KubernetesAuth>,
    /// A key of a Secret holding a kubeconfig (instead of `server` and `auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_ref: Option<SecretKeySelector>,
    /// The namespace whose Secrets are read (default `default`).
    #[serde(default = "default_remote_namespace")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub remote_namespace: String,
}

fn default_remote_namespace() -> String {
    "default".to_owned()
}

/// `kubernetes.server`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesServer {
    /// The API server's address (default `kubernetes.default`; without a scheme, `https` when a CA
    /// is given).
    #[serde(default = "default_server_url")]
    pub url: String,
    /// The CA certificate (PEM, itself base64-encoded in the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "base64_bytes")]
    pub ca_bundle: Option<k8s_openapi::ByteString>,
    /// Where to read the CA certificate instead: a key of a Secret or ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

impl Default for KubernetesServer {
    fn default() -> Self {
        KubernetesServer {
            url: default_server_url(),
            ca_bundle: None,
            ca_provider: None,
        }
    }
}

fn default_server_url() -> String {
    "kubernetes.default".to_owned()
}

/// A CA certificate kept in a Secret or ConfigMap (`namespace` only in ClusterSecretStores).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CaProvider {
    /// `Secret` or `ConfigMap`.
    #[serde(rename = "type")]
    pub type_: CaProviderType,
    /// The object's name.
    pub name: String,
    /// The key holding the PEM certificate.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The object's namespace (required in a ClusterSecretStore, not allowed in a SecretStore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `caProvider.type`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CaProviderType {
    /// A key of a Secret.
    #[default]
    Secret,
    /// A key of a ConfigMap.
    ConfigMap,
}

/// `kubernetes.auth`: exactly one way to authenticate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// A client certificate and its key, each a key of a Secret (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<KubernetesCertAuth>,
    /// A bearer token kept in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<KubernetesTokenAuth>,
    /// A service account whose short-lived token (TokenRequest) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSelector>,
}

/// `auth.cert`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesCertAuth {
    /// The client certificate (PEM).
    pub client_cert: SecretKeySelector,
    /// Its private key (PEM).
    pub client_key: SecretKeySelector,
}

/// `auth.token`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesTokenAuth {
    /// The bearer token.
    pub bearer_token: SecretKeySelector,
}

/// `spec.provider.fake`: the store's own data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeProvider {
    /// The remote secrets.
    #[serde(default)]
    pub data: Vec<FakeProviderData>,
    /// What validating the store gives: 0 valid (default), 1 unknown, 2 an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<i32>,
}

/// One remote secret of the fake provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeProviderData {
    /// Remote key.
    pub key: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
    /// Deprecated in ESO: a map served as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_map: Option<BTreeMap<String, String>>,
    /// Version; matches `remoteRef.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `spec.retrySettings`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    /// Maximum retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// Interval between retries (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}

/// One entry of a ClusterSecretStore's `spec.conditions`: a namespace may use the store when it
/// matches any entry (selector, listed name, or regular expression).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreCondition {
    /// Namespaces with matching labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces whose name matches one of these regular expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_regexes: Vec<String>,
}

/// Observed state of a store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretStoreStatus {
    /// `Ready` with reason `Valid`, `InvalidProviderConfig` or `ValidationFailed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `ReadOnly` for every store kseal serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
}

/// A status condition (stores and ExternalSecrets).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message; never holds a secret value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

// ---------------------------------------------------------------------------------------------
// ExternalSecret
// ---------------------------------------------------------------------------------------------

/// Which remote data to read and the Secret to write it into.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ExternalSecret",
    plural = "externalsecrets",
    shortname = "es",
    category = "external-secrets",
    namespaced,
    status = "ExternalSecretStatus",
    printcolumn = r#"{"name":"StoreType","type":"string","jsonPath":".spec.secretStoreRef.kind"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.secretStoreRef.name"}"#,
    printcolumn = r#"{"name":"Refresh Interval","type":"string","jsonPath":".spec.refreshInterval"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    /// The store to read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// The Secret to write.
    #[serde(default)]
    pub target: ExternalSecretTarget,
    /// `Periodic` (default), `OnChange` or `CreatedOnce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    /// How often to read the remote data again (Go duration, default `1h`; `0` syncs once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// When periodic refreshes may run (UTC cron windows that allow or deny them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<SyncWindows>,
    /// One Secret key per remote value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,
    /// Many keys at once: extract a JSON object or find secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFrom>,
}

/// `spec.syncWindows`: every window has the same kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SyncWindows {
    /// `allow`: refreshes only while a window is open; `deny`: none while one is.
    pub kind: SyncWindowKind,
    /// The windows.
    #[serde(default)]
    pub windows: Vec<SyncWindow>,
}

/// `syncWindows.kind`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncWindowKind {
    /// Periodic refreshes only inside a window.
    #[default]
    Allow,
    /// No periodic refreshes inside a window.
    Deny,
}

/// One `syncWindows.windows[]` entry: a window opens at each time `schedule` names (5-field cron in
/// UTC, or `@daily`, `@every 1h`, ...) and stays open for `duration`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SyncWindow {
    /// When the window opens.
    pub schedule: String,
    /// How long it stays open (Go duration).
    pub duration: String,
}

/// `spec.secretStoreRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretStoreRef {
    /// Store name.
    pub name: String,
    /// `SecretStore` (default) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StoreKind>,
}

/// Kind of a referenced store.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StoreKind {
    /// A store in the ExternalSecret's namespace.
    #[default]
    SecretStore,
    /// A cluster-wide store.
    ClusterSecretStore,
}

/// `spec.refreshPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RefreshPolicy {
    /// Every `refreshInterval`.
    #[default]
    Periodic,
    /// Only when the ExternalSecret changes.
    OnChange,
    /// Once, when created.
    CreatedOnce,
}

/// `spec.target`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    /// Secret name; default the ExternalSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the Secret is created and owned.
    #[serde(default)]
    pub creation_policy: CreationPolicy,
    /// What happens when the remote data is gone.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Shape of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
    /// Make the Secret immutable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
    /// Another kind of object to write instead of a Secret (not served: refused unless it names
    /// `v1` `Secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReference>,
}

/// `spec.target.manifest`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReference {
    /// API version of the object, e.g. `v1`.
    pub api_version: String,
    /// Its kind, e.g. `ConfigMap`.
    pub kind: String,
}

/// `spec.target.creationPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CreationPolicy {
    /// Create the Secret and own it (controller ownerReference).
    #[default]
    Owner,
    /// Create the Secret without an owner.
    Orphan,
    /// Merge into an existing Secret; never create one.
    Merge,
    /// Do not write a Secret.
    None,
    /// Merge into the Secret, creating it (without an owner) when it is missing.
    CreateOrMerge,
}

/// `spec.target.deletionPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the Secret (the ExternalSecret reports the error).
    #[default]
    Retain,
    /// Delete the Secret (Owner policy only).
    Delete,
    /// Remove only the keys this ExternalSecret manages.
    Merge,
}

/// `spec.target.template`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    /// Secret type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// ESO template engine version (`v2` default; kseal implements v2 syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Labels and annotations of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// `Replace` (default): only templated keys; `Merge`: templated keys over the provider data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy: Option<TemplateMergePolicy>,
    /// Templates of Secret keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Templates read from ConfigMaps or Secrets, or given literally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

/// `template.metadata`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TemplateMetadata {
    /// Secret annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Secret labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Finalizers added to the Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// `template.mergePolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateMergePolicy {
    /// The templated keys only.
    #[default]
    Replace,
    /// The provider data, with templated keys over it.
    Merge,
}

/// One `template.templateFrom` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates from a ConfigMap in the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Templates from a Secret in the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// Where the rendered result goes: `Data` (default), `Annotations` or `Labels`, in any case
    /// ([`TemplateTarget::parse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A literal template rendering to YAML key-value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// Decoding of each rendered value (default `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<DecodingStrategy>,
}

/// A ConfigMap or Secret holding templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TemplateRef {
    /// Object name.
    pub name: String,
    /// Which keys are templates.
    #[serde(default)]
    pub items: Vec<TemplateRefItem>,
}

/// One templated key of a [`TemplateRef`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// Key in the ConfigMap or Secret.
    pub key: String,
    /// `Values` (default): the key's content is one template, written under the same key;
    /// `KeysAndValues`: it renders to YAML key-value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_as: Option<TemplateScope>,
}

/// `templateAs`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateScope {
    /// One template per key.
    #[default]
    Values,
    /// The rendered YAML gives keys and values.
    KeysAndValues,
}

/// Where a `templateFrom` entry's results go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemplateTarget {
    /// Secret data.
    #[default]
    Data,
    /// Secret annotations.
    Annotations,
    /// Secret labels.
    Labels,
}

impl TemplateTarget {
    /// `templateFrom[].target` as ESO reads it: empty is `Data`, and the names match in any case
    /// (`data`, `LABELS`); anything else (ESO's paths into other kinds of object) is `None`.
    pub fn parse(target: Option<&str>) -> Option<TemplateTarget> {
        match target.unwrap_or_default() {
            "" => Some(TemplateTarget::Data),
            t if t.eq_ignore_ascii_case("data") => Some(TemplateTarget::Data),
            t if t.eq_ignore_ascii_case("annotations") => Some(TemplateTarget::Annotations),
            t if t.eq_ignore_ascii_case("labels") => Some(TemplateTarget::Labels),
            _ => None,
        }
    }
}

/// One `spec.data` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// Key in the Secret (and name in templates).
    pub secret_key: String,
    /// The remote value.
    pub remote_ref: RemoteRef,
    /// Another store to read this entry from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<SourceRef>,
}

/// `data[].sourceRef` / `dataFrom[].sourceRef`: another store (or a generator, which kseal does not
/// serve) for one entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// The store to read the entry from instead of `spec.secretStoreRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<SecretStoreRef>,
    /// A generator (not served yet: refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// `sourceRef.generatorRef`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// API version of the generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Its kind: one of ESO's generator kinds, or `ClusterGenerator`.
    #[schemars(schema_with = "generator_ref_kind")]
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// `generatorRef.kind` as ESO's schema enumerates it: every generator kind and `ClusterGenerator`.
fn generator_ref_kind(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut kinds: Vec<&str> = crate::generators::GeneratorKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    kinds.insert(2, "ClusterGenerator");
    schemars::json_schema!({"type": "string", "enum": kinds})
}

/// `remoteRef` / `dataFrom[].extract`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRef {
    /// Remote secret name or ARN.
    pub key: String,
    /// Path inside a JSON secret (`a.b`, `a.0.c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// `uuid/<id>` selects a VersionId, anything else a VersionStage (default `AWSCURRENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `None` (default: the value) or `Fetch` (the tags, as a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<MetadataPolicy>,
    /// Key conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// Value decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// Whether a value holding a NUL byte is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// `nullBytePolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NullBytePolicy {
    /// Values may hold NUL bytes (binary data).
    #[default]
    Ignore,
    /// A value with a NUL byte fails the refresh.
    Fail,
}

/// `metadataPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MetadataPolicy {
    /// The secret's value.
    #[default]
    None,
    /// The secret's tags.
    Fetch,
}

/// `conversionStrategy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConversionStrategy {
    /// Keys as they are.
    #[default]
    Default,
    /// Unicode escapes in keys decoded.
    Unicode,
}

/// `decodingStrategy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DecodingStrategy {
    /// Values as they are.
    #[default]
    None,
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Base64 when the value decodes, else as it is.
    Auto,
}

/// One `spec.dataFrom` entry: `extract` or `find`, then `rewrite`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretDataFrom {
    /// A JSON secret whose members become keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<RemoteRef>,
    /// Many secrets selected by name, tags or path; each becomes a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<ExternalSecretFind>,
    /// Key rewrites, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<ExternalSecretRewrite>,
    /// Another store for this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<SourceRef>,
}

/// `dataFrom[].find`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFind {
    /// Only secrets under this path (name prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only secrets whose name matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// Only secrets with all these tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Key conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// Value decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// Whether a value holding a NUL byte is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// `find.name`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct FindName {
    /// Regular expression on the secret name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

/// One `rewrite` entry: exactly one of its fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ExternalSecretRewrite {
    /// Replace what `source` matches in each key by `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<RewriteRegexp>,
    /// Rename each key by a template (`{{ .value }}` is the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<RewriteTransform>,
    /// Merge the JSON objects the keys hold into one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<RewriteMerge>,
}

/// `rewrite[].transform`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RewriteTransform {
    /// Go template giving the new key; `.value` is the key.
    pub template: String,
}

/// `rewrite[].merge`: the values are JSON objects, merged in key order (the `priority` keys last,
/// in their order, so they win).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewriteMerge {
    /// Strategy `JSON`: the key that receives the merged object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Keys merged last, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,
    /// What a `priority` key missing from the data does (default `Strict`: an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_policy: Option<MergePriorityPolicy>,
    /// What a member found in two objects does (default `Error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_policy: Option<MergeConflictPolicy>,
    /// `Extract` (default: the merged members become the keys) or `JSON` (one key `into`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<MergeStrategy>,
}

/// `merge.priorityPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergePriorityPolicy {
    /// A missing priority key is an error.
    #[default]
    Strict,
    /// A missing priority key is skipped.
    IgnoreNotFound,
}

/// `merge.conflictPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergeConflictPolicy {
    /// A member in two objects is an error.
    #[default]
    Error,
    /// The later object wins.
    Ignore,
}

/// `merge.strategy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergeStrategy {
    /// The merged members become the keys.
    #[default]
    Extract,
    /// The keys stay, and `into` receives the merged object as JSON.
    #[serde(rename = "JSON")]
    Json,
}

/// `rewrite[].regexp`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RewriteRegexp {
    /// Regular expression.
    pub source: String,
    /// Replacement (`$1` refers to a group).
    pub target: String,
}

/// Observed state of an ExternalSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// When the remote data was last read successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<Time>,
    /// `metadata.generation` of the ExternalSecret last synced (ESO's name for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// `Ready` with reason `SecretSynced`, `SecretSyncedError`, `SecretDeleted` or `SecretMissing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Secret written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
}

/// `status.binding`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Binding {
    /// Secret name.
    #[serde(default)]
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// ClusterExternalSecret
// ---------------------------------------------------------------------------------------------

/// An ExternalSecret to create in each selected namespace (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterExternalSecret",
    plural = "clusterexternalsecrets",
    shortname = "ces",
    category = "external-secrets",
    status = "ClusterExternalSecretStatus",
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.externalSecretSpec.secretStoreRef.name"}"#,
    printcolumn = r#"{"name":"Refresh Interval","type":"string","jsonPath":".spec.refreshTime"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretSpec {
    /// The spec of every ExternalSecret created.
    pub external_secret_spec: ExternalSecretSpec,
    /// Name of the ExternalSecrets; default the ClusterExternalSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Labels and annotations of the ExternalSecrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_metadata: Option<ExternalSecretMetadata>,
    /// Deprecated single selector of namespaces (ORed with the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces whose labels match any of these selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Namespaces by name (ORed with the selectors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// How often the namespaces are selected again (Go duration; default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
}

/// `spec.externalSecretMetadata`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ExternalSecretMetadata {
    /// Annotations of each ExternalSecret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels of each ExternalSecret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Observed state of a ClusterExternalSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretStatus {
    /// Name of the ExternalSecrets created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Namespaces where no ExternalSecret could be created or deleted, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<NamespaceFailure>,
    /// Namespaces holding the ExternalSecret, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,
    /// `Ready`: `True` when every selected namespace is provisioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterExternalSecretCondition>,
}

/// One entry of `status.failedNamespaces`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A ClusterExternalSecret's condition: ESO's carries no reason or transition time.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ClusterExternalSecretCondition {
    /// Condition type, `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_STORE: &str = r#"{"apiVersion":"external-secrets.io/v1beta1","kind":"ClusterSecretStore",
        "metadata":{"name":"aws-secretsmanager"},
        "spec":{"provider":{"aws":{"service":"SecretsManager","region":"ap-northeast-1",
        "auth":{"jwt":{"serviceAccountRef":{"name":"external-secrets-sa","namespace":"external-secrets"}}}}}}}"#;

    #[test]
    fn seed_cluster_store_parses() {
        let store: ClusterSecretStore = serde_json::from_str(SEED_STORE).unwrap();
        let aws = store.spec.store.provider.aws.unwrap();
        assert_eq!(aws.region, "ap-northeast-1");
        let sa = aws.auth.unwrap().jwt.unwrap().service_account_ref.unwrap();
        assert_eq!(sa.name, "external-secrets-sa");
        assert_eq!(sa.namespace.as_deref(), Some("external-secrets"));
    }

    #[test]
    fn unknown_providers_are_kept() {
        let store: SecretStore = serde_json::from_str(
            r#"{"metadata":{"name":"v"},"spec":{"provider":{"vault":{"server":"x"}}}}"#,
        )
        .unwrap();
        assert!(store.spec.provider.other.contains_key("vault"));
        assert!(store.spec.provider.aws.is_none());
    }

    #[test]
    fn defaults_are_eso_defaults() {
        let es: ExternalSecret = serde_json::from_str(
            r#"{"metadata":{"name":"e"},"spec":{"secretStoreRef":{"name":"s"},
                "data":[{"secretKey":"k","remoteRef":{"key":"r","decodingStrategy":"Base64URL"}}]}}"#,
        )
        .unwrap();
        assert_eq!(es.spec.target.creation_policy, CreationPolicy::Owner);
        assert_eq!(es.spec.target.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(
            es.spec.data[0].remote_ref.decoding_strategy,
            Some(DecodingStrategy::Base64Url)
        );
    }
}
