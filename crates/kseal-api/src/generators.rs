//! The External Secrets Operator's generators kseal serves (`generators.external-secrets.io/v1alpha1`):
//! [`Password`], [`Uuid`] (kind `UUID`), [`Fake`], [`EcrAuthorizationToken`] (kind
//! `ECRAuthorizationToken`), [`StsSessionToken`] (kind `STSSessionToken`) and the cluster-scoped
//! [`ClusterGenerator`] of those kinds. An ExternalSecret uses one from
//! `dataFrom[].sourceRef.generatorRef`; every refresh generates new values.
//!
//! Field names, enum values and defaults are ESO's (its newest release), so existing manifests apply
//! unchanged. A `ClusterGenerator` of a kind kseal does not generate keeps its spec as written (the
//! CRD prunes nothing), and an ExternalSecret that uses it is refused naming the kind.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::external_secrets::AwsAuth;

/// API group of the generators.
pub const GROUP: &str = "generators.external-secrets.io";
/// The version served (and ESO's only one).
pub const VERSION: &str = "v1alpha1";
/// `generatorRef.apiVersion` when it is left out.
pub const DEFAULT_API_VERSION: &str = "generators.external-secrets.io/v1alpha1";

/// The generator kinds ESO has (`ClusterGenerator`'s `spec.kind`); kseal generates
/// [`GeneratorKind::served`] ones.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum GeneratorKind {
    /// Azure Container Registry token.
    #[serde(rename = "ACRAccessToken")]
    AcrAccessToken,
    /// BeyondTrust workload credentials.
    BeyondtrustWorkloadCredentialsDynamicSecret,
    /// Cloudsmith access token.
    CloudsmithAccessToken,
    /// Amazon ECR authorization token.
    #[serde(rename = "ECRAuthorizationToken")]
    EcrAuthorizationToken,
    /// Static data.
    Fake,
    /// Google Container Registry token.
    #[serde(rename = "GCRAccessToken")]
    GcrAccessToken,
    /// GitHub access token.
    GithubAccessToken,
    /// GitLab deploy token.
    GitlabDeployToken,
    /// Quay access token.
    QuayAccessToken,
    /// A random password.
    Password,
    /// An SSH key pair.
    #[serde(rename = "SSHKey")]
    SshKey,
    /// AWS STS session token.
    #[serde(rename = "STSSessionToken")]
    StsSessionToken,
    /// A random UUID.
    #[serde(rename = "UUID")]
    Uuid,
    /// HashiCorp Vault dynamic secret.
    VaultDynamicSecret,
    /// A webhook's answer.
    Webhook,
    /// Grafana service account token.
    Grafana,
    /// A TOTP code.
    #[serde(rename = "MFA")]
    Mfa,
}

impl GeneratorKind {
    /// Every kind, in ESO's order.
    pub const ALL: [GeneratorKind; 17] = [
        GeneratorKind::AcrAccessToken,
        GeneratorKind::BeyondtrustWorkloadCredentialsDynamicSecret,
        GeneratorKind::CloudsmithAccessToken,
        GeneratorKind::EcrAuthorizationToken,
        GeneratorKind::Fake,
        GeneratorKind::GcrAccessToken,
        GeneratorKind::GithubAccessToken,
        GeneratorKind::GitlabDeployToken,
        GeneratorKind::QuayAccessToken,
        GeneratorKind::Password,
        GeneratorKind::SshKey,
        GeneratorKind::StsSessionToken,
        GeneratorKind::Uuid,
        GeneratorKind::VaultDynamicSecret,
        GeneratorKind::Webhook,
        GeneratorKind::Grafana,
        GeneratorKind::Mfa,
    ];

    /// The kind's name as ESO writes it (`UUID`, `ECRAuthorizationToken`).
    pub fn name(self) -> &'static str {
        match self {
            GeneratorKind::AcrAccessToken => "ACRAccessToken",
            GeneratorKind::BeyondtrustWorkloadCredentialsDynamicSecret => {
                "BeyondtrustWorkloadCredentialsDynamicSecret"
            }
            GeneratorKind::CloudsmithAccessToken => "CloudsmithAccessToken",
            GeneratorKind::EcrAuthorizationToken => "ECRAuthorizationToken",
            GeneratorKind::Fake => "Fake",
            GeneratorKind::GcrAccessToken => "GCRAccessToken",
            GeneratorKind::GithubAccessToken => "GithubAccessToken",
            GeneratorKind::GitlabDeployToken => "GitlabDeployToken",
            GeneratorKind::QuayAccessToken => "QuayAccessToken",
            GeneratorKind::Password => "Password",
            GeneratorKind::SshKey => "SSHKey",
            GeneratorKind::StsSessionToken => "STSSessionToken",
            GeneratorKind::Uuid => "UUID",
            GeneratorKind::VaultDynamicSecret => "VaultDynamicSecret",
            GeneratorKind::Webhook => "Webhook",
            GeneratorKind::Grafana => "Grafana",
            GeneratorKind::Mfa => "MFA",
        }
    }

    /// The kind named `name` (case as ESO writes it).
    pub fn parse(name: &str) -> Option<GeneratorKind> {
        GeneratorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether kseal generates values of this kind.
    pub fn served(self) -> bool {
        matches!(
            self,
            GeneratorKind::Password
                | GeneratorKind::Uuid
                | GeneratorKind::Fake
                | GeneratorKind::EcrAuthorizationToken
                | GeneratorKind::StsSessionToken
        )
    }

    /// The field of `ClusterGenerator.spec.generator` holding this kind's spec (`passwordSpec`).
    pub fn spec_field(self) -> String {
        let name = match self {
            GeneratorKind::AcrAccessToken => "acrAccessToken",
            GeneratorKind::EcrAuthorizationToken => "ecrAuthorizationToken",
            GeneratorKind::GcrAccessToken => "gcrAccessToken",
            GeneratorKind::SshKey => "sshKey",
            GeneratorKind::StsSessionToken => "stsSessionToken",
            GeneratorKind::Uuid => "uuid",
            GeneratorKind::Mfa => "mfa",
            other => {
                let name = other.name();
                let mut chars = name.chars();
                let first = chars.next().map(|c| c.to_ascii_lowercase());
                return format!("{}{}Spec", first.unwrap_or_default(), chars.as_str());
            }
        };
        format!("{name}Spec")
    }
}

/// A random password of letters, digits and symbols (ESO's Password generator).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Password",
    plural = "passwords",
    category = "external-secrets",
    category = "external-secrets-generators",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Length of the password (default 24; 0 or less is 24).
    #[serde(default = "default_length")]
    pub length: i64,
    /// Number of digits (default a quarter of the length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i64>,
    /// Number of symbols (default a quarter of the length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<i64>,
    /// The symbols to choose from (default ``~!@#$%^&*()_+`-={}|[]\:"<>?,./``).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_characters: Option<String>,
    /// No uppercase letters.
    #[serde(default)]
    pub no_upper: bool,
    /// Characters may repeat.
    #[serde(default)]
    pub allow_repeat: bool,
    /// The keys, each with its own password (default one key, `password`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub secret_keys: Vec<String>,
    /// How the password is written: `raw` (default), `base64`, `base64url`, `base32` or `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<PasswordEncoding>,
}

fn default_length() -> i64 {
    24
}

impl Default for PasswordSpec {
    fn default() -> Self {
        PasswordSpec {
            length: default_length(),
            digits: None,
            symbols: None,
            symbol_characters: None,
            no_upper: false,
            allow_repeat: false,
            secret_keys: Vec::new(),
            encoding: None,
        }
    }
}

/// `Password.spec.encoding`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64, padded.
    Base64url,
    /// Standard base32, padded.
    Base32,
    /// Lowercase hexadecimal.
    Hex,
    /// As generated.
    #[default]
    Raw,
}

/// A random (version 4) UUID, under the key `uuid` (ESO's UUID generator).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "UUID",
    root = "Uuid",
    plural = "uuids",
    category = "external-secrets",
    category = "external-secrets-generators",
    namespaced
)]
pub struct UuidSpec {}

/// Static data, returned as it is (ESO's Fake generator, for tests).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "Fake",
    plural = "fakes",
    category = "external-secrets",
    category = "external-secrets-generators",
    namespaced
)]
pub struct FakeSpec {
    /// Controller class that should handle it; empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The data returned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// An Amazon ECR authorization token (ECR's GetAuthorizationToken), as the keys `username`,
/// `password`, `proxy_endpoint` and `expires_at` (Unix seconds): ESO's ECRAuthorizationToken
/// generator. AWS issues tokens valid for 12 hours.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ECRAuthorizationToken",
    root = "EcrAuthorizationToken",
    plural = "ecrauthorizationtokens",
    category = "external-secrets",
    category = "external-secrets-generators",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct EcrAuthorizationTokenSpec {
    /// The AWS region.
    pub region: String,
    /// How to authenticate with AWS: keys from a Secret or a service account's web identity, read in
    /// the ExternalSecret's namespace (none: the controller's own credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// A role to assume before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `private` (the default) or `public` (ECR Public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Temporary AWS credentials (STS GetSessionToken), as the keys `access_key_id`,
/// `secret_access_key`, `session_token` and `expiration` (Unix seconds): ESO's STSSessionToken
/// generator.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "STSSessionToken",
    root = "StsSessionToken",
    plural = "stssessiontokens",
    category = "external-secrets",
    category = "external-secrets-generators",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct StsSessionTokenSpec {
    /// The AWS region.
    pub region: String,
    /// How to authenticate with AWS: keys from a Secret, read in the ExternalSecret's namespace
    /// (none: the controller's own credentials; web identity cannot call GetSessionToken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// A role to assume before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What is passed to GetSessionToken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<StsRequestParameters>,
}

/// `STSSessionToken.spec.requestParameters`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StsRequestParameters {
    /// How long the credentials stay valid, in seconds (AWS: 900 to 129600, default 43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<i32>,
    /// The MFA device's serial number or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The MFA device's current code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_code: Option<String>,
}

/// A generator of any namespace (cluster-scoped): `kind` and that kind's spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "generators.external-secrets.io",
    version = "v1alpha1",
    kind = "ClusterGenerator",
    plural = "clustergenerators",
    category = "external-secrets",
    category = "external-secrets-generators"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGeneratorSpec {
    /// The kind of generator.
    pub kind: GeneratorKind,
    /// The spec of that kind (`passwordSpec`, `uuidSpec`, `fakeSpec`, …); the others are kept as
    /// written.
    pub generator: ClusterGeneratorSpecs,
}

/// `ClusterGenerator.spec.generator`: one spec per kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGeneratorSpecs {
    /// The spec of kind `Password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_spec: Option<PasswordSpec>,
    /// The spec of kind `UUID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid_spec: Option<UuidSpec>,
    /// The spec of kind `Fake`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_spec: Option<FakeSpec>,
    /// The spec of kind `ECRAuthorizationToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_authorization_token_spec: Option<EcrAuthorizationTokenSpec>,
    /// The spec of kind `STSSessionToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_session_token_spec: Option<StsSessionTokenSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_esos_names_and_spec_fields() {
        for kind in GeneratorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.name());
            assert_eq!(GeneratorKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(GeneratorKind::Uuid.spec_field(), "uuidSpec");
        assert_eq!(GeneratorKind::Password.spec_field(), "passwordSpec");
        assert_eq!(
            GeneratorKind::EcrAuthorizationToken.spec_field(),
            "ecrAuthorizationTokenSpec"
        );
        assert_eq!(
            GeneratorKind::StsSessionToken.spec_field(),
            "stsSessionTokenSpec"
        );
        assert_eq!(
            GeneratorKind::VaultDynamicSecret.spec_field(),
            "vaultDynamicSecretSpec"
        );
        assert_eq!(GeneratorKind::Mfa.spec_field(), "mfaSpec");
    }

    #[test]
    fn a_password_spec_defaults_as_esos() {
        let spec: PasswordSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, PasswordSpec::default());
        assert_eq!(spec.length, 24);
    }
}
