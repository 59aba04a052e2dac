//! What one store needs to reach AWS: region, identity, roles, prefix.

use std::fmt;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use zeroize::Zeroizing;

use super::error::Error;

/// Audience of the service account token when none is configured (what IRSA uses).
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// Lifetime requested for a service account token; it is used once, right away.
const TOKEN_EXPIRATION_SECONDS: i64 = 600;

/// One store's AWS configuration, translated from `spec.provider.aws`.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Which AWS service the store reads (`spec.provider.aws.service`).
    pub service: Service,
    /// AWS region (`spec.provider.aws.region`).
    pub region: String,
    /// Role assumed last, with [`StoreConfig::external_id`] (`role`).
    pub role: Option<String>,
    /// Roles assumed in order before [`StoreConfig::role`] (`additionalRoles`).
    pub additional_roles: Vec<String>,
    /// External id passed when assuming [`StoreConfig::role`] (`externalID`).
    pub external_id: Option<String>,
    /// Session tags (`key`, `value`) passed when assuming [`StoreConfig::role`]: `sessionTags`, or
    /// what `sessionTagsPolicy` makes of the store.
    pub session_tags: Vec<(String, String)>,
    /// Tag keys of [`StoreConfig::session_tags`] that pass on in a role chain
    /// (`transitiveTagKeys`).
    pub transitive_tag_keys: Vec<String>,
    /// Prepended to every key of `get` and `batch_get` (`prefix`).
    pub prefix: Option<String>,
    /// Where the first credentials come from (`auth`).
    pub auth: Auth,
    /// STS role session name, e.g. `kseal-<store name>`.
    pub session_name: String,
}

/// The AWS service a store reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS Secrets Manager.
    #[default]
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
}

/// Where a store's first credentials come from.
#[derive(Clone)]
pub enum Auth {
    /// The AWS SDK default credential chain (environment, profile, IRSA, IMDS, …).
    DefaultChain,
    /// Access keys from a Kubernetes Secret (`auth.secretRef`).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: Zeroizing<String>,
        /// Session token of temporary credentials.
        session_token: Option<Zeroizing<String>>,
    },
    /// A service account token exchanged with STS AssumeRoleWithWebIdentity (`auth.jwt`).
    WebIdentity {
        /// The role to assume (the service account's `eks.amazonaws.com/role-arn`).
        role_arn: String,
        /// Where the web identity token comes from.
        token: Arc<dyn TokenSource>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret access key or session token.
        match self {
            Auth::DefaultChain => f.write_str("DefaultChain"),
            Auth::Static {
                access_key_id,
                session_token,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"** redacted **")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "** redacted **"),
                )
                .finish(),
            Auth::WebIdentity { role_arn, token } => f
                .debug_struct("WebIdentity")
                .field("role_arn", role_arn)
                .field("token", token)
                .finish(),
        }
    }
}

/// A source of web identity tokens (OIDC JWTs) for AssumeRoleWithWebIdentity.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A fresh token.
    fn token(&self) -> BoxFuture<'static, Result<String, Error>>;
}

/// Service account annotation naming the audience of its tokens (EKS pod identity webhook's).
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";

/// The audiences of a `jwt` store's tokens, as ESO asks for them: the service account's
/// [`AUDIENCE_ANNOTATION`] (else [`DEFAULT_AUDIENCE`]), then `serviceAccountRef.audiences`.
pub fn audiences(annotation: Option<&str>, extra: &[String]) -> Vec<String> {
    let first = annotation
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_AUDIENCE);
    std::iter::once(first.to_owned())
        .chain(extra.iter().cloned())
        .collect()
}

/// Tokens of a Kubernetes service account, from the TokenRequest API.
#[derive(Clone)]
pub struct ServiceAccountTokenSource {
    client: kube::Client,
    namespace: String,
    name: String,
    audiences: Vec<String>,
}

impl ServiceAccountTokenSource {
    /// Tokens of service account `namespace/name` for `audiences` (empty: [`DEFAULT_AUDIENCE`]; see
    /// [`audiences`] for how ESO chooses them).
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
        audiences: Vec<String>,
    ) -> Self {
        let audiences = if audiences.is_empty() {
            vec![DEFAULT_AUDIENCE.to_owned()]
        } else {
            audiences
        };
        Self {
            client,
            namespace: namespace.into(),
            name: name.into(),
            audiences,
        }
    }
}

impl fmt::Debug for ServiceAccountTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokenSource")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl TokenSource for ServiceAccountTokenSource {
    fn token(&self) -> BoxFuture<'static, Result<String, Error>> {
        let this = self.clone();
        async move {
            let api = Api::<ServiceAccount>::namespaced(this.client, &this.namespace);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: this.audiences,
                    expiration_seconds: Some(TOKEN_EXPIRATION_SECONDS),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let what = format!(
                "TokenRequest for ServiceAccount {}/{}",
                this.namespace, this.name
            );
            let response = api
                .create_token_request(&this.name, &PostParams::default(), &request)
                .await
                .map_err(|error| {
                    // Never the API server's message: only code, reason and fields.
                    let message = crate::kube_message(&what, &error);
                    match &error {
                        kube::Error::Api(status) if status.code == 403 => {
                            Error::Auth(format!("{message}; {}", crate::stores::jwt_rbac_hint()))
                        }
                        _ => Error::Auth(message),
                    }
                })?;
            response
                .status
                .map(|status| status.token)
                .filter(|token| !token.is_empty())
                .ok_or_else(|| Error::Auth(format!("{what}: the API server returned no token")))
        }
        .boxed()
    }
}

/// Receives one notification per AWS call a [`super::Provider`] makes (for metrics).
pub trait CallObserver: Send + Sync {
    /// `operation` (e.g. `BatchGetSecretValue`, `AssumeRole`) finished with
    /// `result`: `success` or an [`Error::reason`].
    fn call(&self, operation: &'static str, result: &'static str);
}

impl<F> CallObserver for F
where
    F: Fn(&'static str, &'static str) + Send + Sync,
{
    fn call(&self, operation: &'static str, result: &'static str) {
        self(operation, result)
    }
}

/// How a [`super::Provider`] is built, beyond the store's configuration.
#[derive(Clone, Default)]
pub struct ProviderOptions {
    /// Endpoint for Secrets Manager and STS. `None`: the standard
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
    /// `AWS_ENDPOINT_URL_STS` variables, else AWS itself.
    pub endpoint_url: Option<String>,
    /// Told about every AWS call.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl fmt::Debug for ProviderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderOptions")
            .field("endpoint_url", &self.endpoint_url)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Reports one call's outcome to an optional observer.
#[derive(Clone, Default)]
pub(crate) struct Observer(Option<Arc<dyn CallObserver>>);

impl Observer {
    pub(crate) fn new(observer: Option<Arc<dyn CallObserver>>) -> Self {
        Self(observer)
    }

    /// Reports `result` of `operation` and passes it on.
    pub(crate) fn record<T>(
        &self,
        operation: &'static str,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        if let Some(observer) = &self.0 {
            let label = match &result {
                Ok(_) => "success",
                Err(error) => error.reason(),
            };
            observer.call(operation, label);
        }
        result
    }
}
