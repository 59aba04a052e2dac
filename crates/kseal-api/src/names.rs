//! Every name kseal's binaries share: the key-Secret layout (as sealed-secrets stores keys), the labels
//! and annotations kseal puts on the Secrets it writes, the certificate ConfigMap and the field managers.

/// Label of a sealing-key Secret, as sealed-secrets sets it; its value is [`ACTIVE`] (or `compromised`).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Value of [`KEY_LABEL`] on keys in use.
pub const ACTIVE: &str = "active";
/// Names of key Secrets start with this (`sealed-secrets-key` alone is the pre-v0.7 single key).
pub const KEY_SECRET_PREFIX: &str = "sealed-secrets-key";
/// Type of a key Secret.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
/// Data key of a key Secret's private key (PKCS#1 or PKCS#8 PEM).
pub const TLS_KEY: &str = "tls.key";
/// Data key of a key Secret's certificate (PEM).
pub const TLS_CERT: &str = "tls.crt";

/// Label on every Secret the unsealer writes (value `"true"`): its watch reads only those.
pub const MANAGED_LABEL: &str = "kseal.io/managed";
/// Annotation on an unsealed Secret: digest of what the SealedSecret asked for when it was written.
pub const SEALED_DIGEST: &str = "kseal.io/sealed-digest";
/// Annotation on an unsealed Secret: fingerprint of the key that opened it.
pub const UNSEALED_WITH: &str = "kseal.io/unsealed-with";

/// The ConfigMap (in the controller's namespace) the controller publishes its certificate in.
pub const CERT_CONFIG_MAP: &str = "kseal-cert";
/// Data key of the certificate in [`CERT_CONFIG_MAP`].
pub const CERT_KEY: &str = "cert.pem";

/// Field managers of everything kseal writes.
pub mod field_managers {
    /// The unsealer: unsealed Secrets, SealedSecret statuses and events.
    pub const UNSEALER: &str = "kseal-controller";
    /// The certificate ConfigMap.
    pub const CERTIFICATE: &str = "kseal-controller/cert";
    /// The external secret sync: its Secrets, ExternalSecret and store statuses, events.
    pub const SYNC: &str = "kseal-sync";
}
