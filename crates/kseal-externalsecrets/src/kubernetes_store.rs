//! Stores of the `kubernetes` provider: what their configuration may hold, and the client of the
//! remote namespace an ExternalSecret reads through (built from what `server`, `auth` or `authRef`
//! refer to, and kept while those stay the same).
//!
//! A SecretStore reads what it refers to in its own namespace; a ClusterSecretStore in a reference's
//! `namespace`, else in the ExternalSecret's. A service account's token comes from the TokenRequest
//! API (one hour, as ESO asks) and is renewed well before it expires.

use std::hash::{Hash as _, Hasher as _};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kseal_api::external_secrets::{
    CaProviderType, KubernetesAuth, KubernetesProvider, SecretKeySelector, StoreKind,
};
use kube::Client;
use kube::api::{Api, PostParams};
use zeroize::Zeroizing;

use crate::Error;
use crate::provider::kubernetes::{Connection, Credential, Remote};
use crate::stores::{Providers, RefScope, secret_value};

/// How long a service account token is asked for (ESO's hour).
const TOKEN_SECONDS: i64 = 3600;
/// A client holding a service account token is rebuilt (with a new token) after this long.
pub const TOKEN_CLIENT_TTL: Duration = Duration::from_secs(15 * 60);

/// What is wrong with a `kubernetes` provider configuration on its own, as ESO checks it.
pub fn validate(provider: &KubernetesProvider, kind: StoreKind) -> Result<(), String> {
    let Some(auth) = &provider.auth else {
        if provider.auth_ref.is_none() {
            return Err(
                "kubernetes: set auth (token, serviceAccount or cert) or authRef (a kubeconfig in a Secret)"
                    .into(),
            );
        }
        return Ok(());
    };
    if provider.auth_ref.is_some() {
        return Err("kubernetes: set either auth or authRef, not both".into());
    }
    let set = [
        auth.token.is_some(),
        auth.service_account.is_some(),
        auth.cert.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    match set {
        0 => return Err("kubernetes.auth: set one of token, serviceAccount or cert".into()),
        1 => {}
        _ => return Err("kubernetes.auth: set only one of token, serviceAccount or cert".into()),
    }
    if provider.server.url.is_empty() {
        return Err("kubernetes.server.url: no server URL provided".into());
    }
    if let Some(ca) = &provider.server.ca_provider {
        match (kind, &ca.namespace) {
            (StoreKind::ClusterSecretStore, None) => {
                return Err(
                    "kubernetes.server.caProvider.namespace is required in a ClusterSecretStore"
                        .into(),
                );
            }
            (StoreKind::SecretStore, Some(_)) => {
                return Err(
                    "kubernetes.server.caProvider.namespace may only be set in a ClusterSecretStore"
                        .into(),
                );
            }
            _ => {}
        }
        if ca.key.is_empty() {
            return Err("kubernetes.server.caProvider.key is required".into());
        }
    }
    Ok(())
}

/// Whether a ClusterSecretStore reads its credentials in each ExternalSecret's namespace (a
/// reference without `namespace`): it cannot be checked on its own.
pub fn referent(provider: &KubernetesProvider) -> bool {
    if let Some(auth_ref) = &provider.auth_ref {
        return auth_ref.namespace.is_none();
    }
    let Some(auth) = &provider.auth else {
        return false;
    };
    let unnamespaced = |s: &SecretKeySelector| s.namespace.is_none();
    auth.token
        .as_ref()
        .is_some_and(|t| unnamespaced(&t.bearer_token))
        || auth
            .service_account
            .as_ref()
            .is_some_and(|sa| sa.namespace.is_none())
        || auth
            .cert
            .as_ref()
            .is_some_and(|c| unnamespaced(&c.client_cert) || unnamespaced(&c.client_key))
}

/// The client of the store's remote namespace, used from `namespace` (the store's for a SecretStore,
/// the ExternalSecret's for a ClusterSecretStore); `fresh` reads every credential again.
pub async fn remote(
    client: &Client,
    providers: &Providers,
    display: &str,
    kind: StoreKind,
    namespace: &str,
    provider: &KubernetesProvider,
    fresh: bool,
) -> Result<Remote, Error> {
    let scope = match kind {
        StoreKind::SecretStore => RefScope::Fixed(namespace),
        StoreKind::ClusterSecretStore => RefScope::Default(namespace),
    };
    let failed = |why: String| Error::Store {
        message: format!("{display}: {why}"),
    };
    // What the client is built from, read first: the client built from the same is reused.
    let mut identity = std::collections::hash_map::DefaultHasher::new();
    display.hash(&mut identity);
    namespace.hash(&mut identity);
    serde_json::to_string(provider)
        .unwrap_or_default()
        .hash(&mut identity);
    let read = async |selector: &SecretKeySelector| {
        secret_value(client, providers, display, selector, scope, fresh).await
    };
    let auth = provider.auth.clone().unwrap_or_default();
    let (material, ca) = if let Some(auth_ref) = &provider.auth_ref {
        let (kubeconfig, version) = read(auth_ref).await?;
        version.hash(&mut identity);
        (Material::Kubeconfig(kubeconfig), None)
    } else {
        let (ca, ca_version) =
            ca_certificate(client, providers, display, provider, scope, fresh).await?;
        ca_version.hash(&mut identity);
        let material = match &auth {
            KubernetesAuth {
                token: Some(token), ..
            } => {
                let (value, version) = read(&token.bearer_token).await?;
                version.hash(&mut identity);
                Material::Token(value)
            }
            KubernetesAuth {
                service_account: Some(account),
                ..
            } => Material::Account(account),
            KubernetesAuth {
                cert: Some(cert), ..
            } => {
                let (cert_pem, cert_version) = read(&cert.client_cert).await?;
                let (key_pem, key_version) = read(&cert.client_key).await?;
                cert_version.hash(&mut identity);
                key_version.hash(&mut identity);
                Material::Cert(cert_pem, key_pem)
            }
            _ => {
                return Err(failed(
                    "kubernetes.auth: set one of token, serviceAccount or cert".into(),
                ));
            }
        };
        (material, ca)
    };
    let key = identity.finish();
    // A service account's token ages: its client is rebuilt after a while, and for a check.
    let account = matches!(material, Material::Account(_));
    let max_age = account.then_some(TOKEN_CLIENT_TTL);
    if !(fresh && account)
        && let Some(remote) = providers.cached_remote(key, max_age)
    {
        return Ok(remote);
    }
    let credential = match material {
        Material::Kubeconfig(kubeconfig) => {
            let remote = Remote::from_kubeconfig(&kubeconfig, &provider.remote_namespace)
                .await
                .map_err(|why| failed(format!("authRef: {why}")))?;
            providers.keep_remote(key, remote.clone());
            return Ok(remote);
        }
        Material::Token(value) => {
            let text = std::str::from_utf8(&value)
                .map_err(|_| failed("auth.token.bearerToken is not UTF-8".into()))?;
            // A token pasted with its newline would not fit in a header.
            Credential::Token(Zeroizing::new(text.trim().to_owned()))
        }
        Material::Account(account) => {
            let namespace = scope.namespace(account.namespace.as_deref()).to_owned();
            let token = service_account_token(
                client,
                display,
                &namespace,
                &account.name,
                &account.audiences,
            )
            .await?;
            Credential::Token(token)
        }
        Material::Cert(cert, key) => Credential::Cert { cert, key },
    };
    let connection = Connection {
        url: provider.server.url.clone(),
        ca,
        credential,
    };
    let remote = Remote::connect(connection, &provider.remote_namespace)
        .await
        .map_err(failed)?;
    providers.keep_remote(key, remote.clone());
    Ok(remote)
}

/// What a store's client is built from, as read.
enum Material<'a> {
    /// A kubeconfig (`authRef`).
    Kubeconfig(Zeroizing<Vec<u8>>),
    /// A bearer token (`auth.token`).
    Token(Zeroizing<Vec<u8>>),
    /// A service account whose token is requested (`auth.serviceAccount`).
    Account(&'a kseal_api::external_secrets::ServiceAccountSelector),
    /// A client certificate and its key (`auth.cert`).
    Cert(Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>),
}

/// The CA certificate of `server` (PEM) and the version of what it was read from: `caBundle` (PEM,
/// or base64 of it), else the key `caProvider` names; none when neither is set.
async fn ca_certificate(
    client: &Client,
    providers: &Providers,
    display: &str,
    provider: &KubernetesProvider,
    scope: RefScope<'_>,
    fresh: bool,
) -> Result<(Option<Vec<u8>>, String), Error> {
    let failed = |why: String| Error::Store {
        message: format!("{display}: {why}"),
    };
    if let Some(bundle) = provider
        .server
        .ca_bundle
        .as_ref()
        .filter(|b| !b.0.is_empty())
    {
        return pem_or_base64(&bundle.0)
            .map(|pem| (Some(pem), String::new()))
            .ok_or_else(|| {
                failed("kubernetes.server.caBundle is neither PEM nor base64 of PEM".into())
            });
    }
    let Some(ca) = &provider.server.ca_provider else {
        return Ok((None, String::new()));
    };
    let namespace = scope.namespace(ca.namespace.as_deref()).to_owned();
    let (bytes, version) = match ca.type_ {
        CaProviderType::Secret => {
            let selector = SecretKeySelector {
                name: ca.name.clone(),
                namespace: ca.namespace.clone(),
                key: ca.key.clone(),
            };
            let (value, version) =
                secret_value(client, providers, display, &selector, scope, fresh).await?;
            (value.to_vec(), version)
        }
        CaProviderType::ConfigMap => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
            let what = format!("ConfigMap {namespace}/{}", ca.name);
            let map = api
                .get_opt(&ca.name)
                .await
                .map_err(crate::error::kube(&what))?
                .ok_or_else(|| failed(format!("{what} not found")))?;
            let version = kube::ResourceExt::resource_version(&map).unwrap_or_default();
            let value = map
                .data
                .as_ref()
                .and_then(|d| d.get(&ca.key))
                .map(|v| v.as_bytes().to_vec())
                .or_else(|| {
                    map.binary_data
                        .as_ref()
                        .and_then(|d| d.get(&ca.key))
                        .map(|v| v.0.clone())
                })
                .ok_or_else(|| failed(format!("{what} has no key {:?}", ca.key)))?;
            (value, version)
        }
    };
    pem_or_base64(&bytes)
        .map(|pem| (Some(pem), version))
        .ok_or_else(|| {
            failed(
                "kubernetes.server.caProvider: the certificate is neither PEM nor base64 of PEM"
                    .into(),
            )
        })
}

/// `bytes` when they hold a PEM block, else their base64 decoding when that does.
fn pem_or_base64(bytes: &[u8]) -> Option<Vec<u8>> {
    let is_pem = |b: &[u8]| b.windows(11).any(|w| w == b"-----BEGIN ");
    if is_pem(bytes) {
        return Some(bytes.to_vec());
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .ok()?;
    is_pem(&decoded).then_some(decoded)
}

/// A token of service account `namespace/name` for `audiences` (none: the API server's), from the
/// TokenRequest API.
async fn service_account_token(
    client: &Client,
    display: &str,
    namespace: &str,
    name: &str,
    audiences: &[String],
) -> Result<Zeroizing<String>, Error> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audiences.to_vec(),
            expiration_seconds: Some(TOKEN_SECONDS),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let what = format!("{display}: TokenRequest for ServiceAccount {namespace}/{name}");
    let response = match api
        .create_token_request(name, &PostParams::default(), &request)
        .await
    {
        Ok(response) => response,
        // The chart grants TokenRequest only with jwt auth on: say so.
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(Error::Store {
                message: format!(
                    "{}; kubernetes.auth.serviceAccount needs create on serviceaccounts/token, which the chart grants only with {}=true",
                    crate::kube_message(&what, &kube::Error::Api(status.clone())),
                    crate::JWT_AUTH_VALUE
                ),
            });
        }
        Err(error) => return Err(crate::error::kube(&what)(error)),
    };
    response
        .status
        .map(|status| Zeroizing::new(status.token))
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Error::Store {
            message: format!("{what}: the API server returned no token"),
        })
}

/// Checks that the store's credentials may read Secrets of its remote namespace (ESO's check:
/// `client is not allowed to get secrets` otherwise); `Ok(false)` when the ClusterSecretStore reads
/// its credentials per ExternalSecret namespace (nothing to check on its own).
pub async fn verify(
    client: &Client,
    providers: &Providers,
    display: &str,
    kind: StoreKind,
    namespace: &str,
    provider: &KubernetesProvider,
) -> Result<bool, String> {
    if kind == StoreKind::ClusterSecretStore && referent(provider) {
        return Ok(false);
    }
    let remote = remote(client, providers, display, kind, namespace, provider, true)
        .await
        .map_err(|error| error.to_string())?;
    let what = format!(
        "{display}: reviewing access to Secrets of namespace {}",
        remote.namespace()
    );
    match remote.may_read().await {
        Ok(true) => Ok(true),
        Ok(false) => Err(format!(
            "{display}: client is not allowed to get secrets in namespace {}",
            remote.namespace()
        )),
        Err(error) => Err(crate::kube_message(&what, &error)),
    }
}

/// The base64 of `bytes`, for tests and messages that need a CA bundle.
#[cfg(test)]
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kseal_api::external_secrets::{CaProvider, KubernetesTokenAuth, ServiceAccountSelector};

    fn token_store() -> KubernetesProvider {
        serde_json::from_value(serde_json::json!({
            "server": {"url": "https://10.0.0.1"},
            "auth": {"token": {"bearerToken": {"name": "t", "key": "token"}}},
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_esos() {
        let store = token_store();
        assert_eq!(store.remote_namespace, "default");
        let bare: KubernetesProvider = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(bare.server.url, "kubernetes.default");
    }

    #[test]
    fn exactly_one_way_to_authenticate() {
        assert!(validate(&token_store(), StoreKind::SecretStore).is_ok());
        let mut both = token_store();
        both.auth.as_mut().unwrap().service_account = Some(ServiceAccountSelector {
            name: "sa".into(),
            ..ServiceAccountSelector::default()
        });
        assert!(
            validate(&both, StoreKind::SecretStore)
                .unwrap_err()
                .contains("only one")
        );
        let mut none = token_store();
        none.auth = None;
        assert!(validate(&none, StoreKind::SecretStore).is_err());
        let mut with_ref = token_store();
        with_ref.auth_ref = Some(SecretKeySelector::default());
        assert!(
            validate(&with_ref, StoreKind::SecretStore)
                .unwrap_err()
                .contains("not both")
        );
    }

    #[test]
    fn a_cluster_store_names_the_namespace_of_its_ca() {
        let mut store = token_store();
        store.server.ca_provider = Some(CaProvider {
            name: "ca".into(),
            key: "ca.crt".into(),
            ..CaProvider::default()
        });
        assert!(validate(&store, StoreKind::SecretStore).is_ok());
        assert!(validate(&store, StoreKind::ClusterSecretStore).is_err());
    }

    #[test]
    fn referent_stores_read_credentials_per_namespace() {
        assert!(referent(&token_store()));
        let mut fixed = token_store();
        fixed.auth.as_mut().unwrap().token = Some(KubernetesTokenAuth {
            bearer_token: SecretKeySelector {
                name: "t".into(),
                namespace: Some("ops".into()),
                key: "token".into(),
            },
        });
        assert!(!referent(&fixed));
    }

    #[test]
    fn a_ca_bundle_is_pem_or_base64_of_pem() {
        let pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_or_base64(pem).unwrap(), pem);
        assert_eq!(pem_or_base64(b64(pem).as_bytes()).unwrap(), pem);
        assert!(pem_or_base64(b"not a certificate").is_none());
    }
}
