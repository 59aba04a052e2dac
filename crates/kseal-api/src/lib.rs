//! Resource types kseal reads and writes, shared by the CLI and the controller.
//!
//! Field names and shapes follow Bitnami sealed-secrets ([`sealed_secret`]) and the External Secrets
//! Operator ([`external_secrets`]) so existing manifests apply unchanged.

pub mod api_error;
pub mod duration;
pub mod external_secrets;
pub mod fields;
pub mod generators;
pub mod names;
pub mod push_secret;
pub mod sealed_secret;
pub mod secret_apply;

pub use sealed_secret::{
    SealedSecret, SealedSecretCondition, SealedSecretSpec, SealedSecretStatus, SecretTemplateSpec,
};

/// Annotations shared with sealed-secrets. The scope annotations (namespace-wide, cluster-wide) belong to
/// the sealing format: `kseal_crypto::Scope` reads and writes them.
pub mod annotations {
    /// On an existing Secret: kseal may take it over and overwrite it.
    pub const MANAGED: &str = "sealedsecrets.bitnami.com/managed";
    /// On an existing Secret: kseal merges the unsealed keys into it without owning it.
    pub const PATCH: &str = "sealedsecrets.bitnami.com/patch";
    /// In `spec.template.metadata.annotations`: do not set an ownerReference on the Secret.
    pub const SKIP_SET_OWNER_REFERENCES: &str =
        "sealedsecrets.bitnami.com/skip-set-owner-references";
    /// kseal's key hint: SHA-256 fingerprint of the public key that sealed the object.
    /// sealed-secrets ignores it, so the format stays compatible.
    pub const KEY_HINT: &str = "kseal.io/key-fingerprint";
}
