//! SecretStores and ClusterSecretStores: validation (their `Ready` condition), who may use them
//! (`spec.conditions`), and the provider an ExternalSecret reads through.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher as _;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kseal_api::external_secrets::{
    AwsAuth, AwsProvider, AwsServiceType, ClusterSecretStoreCondition, Condition, FakeProvider,
    FakeProviderData, KubernetesProvider, SecretKeySelector, SecretStoreSpec,
    SecretsManagerOptions, StoreKind,
};
use kseal_core::conditions::{self as kseal_conditions, Position, Verdict};
use kube::api::Api;
use kube::{Client, ResourceExt as _};
use zeroize::Zeroizing;

use crate::Error;
use crate::error::kube;
use crate::provider::aws::{self, StoreId};
use crate::provider::kubernetes;
use crate::watched::{WatchedClusterSecretStore, WatchedSecretStore};

/// Service account annotation holding the IAM role for IRSA (`jwt` auth).
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Store `Ready` reasons (ESO's).
pub mod reasons {
    /// The store is usable.
    pub const VALID: &str = "Valid";
    /// The provider configuration is wrong or not served.
    pub const INVALID_PROVIDER_CONFIG: &str = "InvalidProviderConfig";
    /// The configuration is complete but what it refers to is missing.
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    /// Usable, but its credentials cannot be checked on their own (a ClusterSecretStore that reads
    /// them in each ExternalSecret's namespace); `Ready` stays `True`.
    pub const VALIDATION_UNKNOWN: &str = "ValidationUnknown";
    /// The store sets a field kseal does not implement (kseal's own reason); its ExternalSecrets are not
    /// synced.
    pub const UNSUPPORTED: &str = "Unsupported";
    /// Condition type on a ClusterSecretStore without `conditions` (kseal's own): any namespace may
    /// read through it.
    pub const SERVES_ALL_NAMESPACES: &str = "ServesAllNamespaces";
    /// Reason of [`SERVES_ALL_NAMESPACES`].
    pub const NO_CONDITIONS: &str = "NoConditions";
}

/// Message of the [`reasons::SERVES_ALL_NAMESPACES`] condition.
pub const SERVES_ALL_NAMESPACES_MESSAGE: &str = "spec.conditions is empty: ExternalSecrets in any namespace may read every secret this store can reach; restrict it with spec.conditions (namespaces, namespaceSelector or namespaceRegexes)";

/// Sets (`serves_all`) or removes the [`reasons::SERVES_ALL_NAMESPACES`] condition in `conditions`,
/// first (before `Ready`), keeping its `lastTransitionTime` while it stays.
pub fn set_serves_all_namespaces(
    conditions: &mut Vec<Condition>,
    serves_all: bool,
    now: std::time::SystemTime,
) {
    *conditions = if serves_all {
        let verdict = Verdict {
            type_: reasons::SERVES_ALL_NAMESPACES,
            ok: true,
            reason: reasons::NO_CONDITIONS,
            message: SERVES_ALL_NAMESPACES_MESSAGE,
        };
        kseal_conditions::set(
            conditions,
            &verdict,
            &kseal_conditions::eso_time(now),
            Position::First,
        )
    } else {
        kseal_conditions::remove(conditions, reasons::SERVES_ALL_NAMESPACES)
    };
}

/// A store an ExternalSecret reads through.
#[derive(Clone, Debug)]
pub enum StoreHandle {
    /// AWS Secrets Manager, with the fetch cache key of this store configuration.
    Aws {
        /// Cache key: the store's identity and configuration.
        id: StoreId,
        /// The client.
        provider: aws::Provider,
    },
    /// The store's own data.
    Fake(Arc<Vec<FakeProviderData>>),
    /// Secrets of a namespace of this or another cluster.
    Kubernetes(kubernetes::Remote),
}

/// A resolved store with its name and the seed that places its refresh grid.
#[derive(Clone, Debug)]
pub struct ResolvedStore {
    /// `SecretStore ns/name` or `ClusterSecretStore name`, for messages.
    pub display: String,
    /// The provider.
    pub handle: StoreHandle,
    /// Stable per store: spreads stores over the refresh interval.
    pub seed: u64,
    /// How the store deletes what a PushSecret pushed (`spec.provider.aws.secretsManager`).
    pub secrets_manager: SecretsManagerOptions,
    /// The store reads AWS Parameter Store (`service: ParameterStore`).
    pub parameter_store: bool,
}

/// The sync's watch caches of SecretStores and ClusterSecretStores: an ExternalSecret reads its store
/// from them, not from the API server.
#[derive(Clone)]
pub struct StoreCaches {
    /// SecretStores.
    pub namespaced: kube::runtime::reflector::Store<WatchedSecretStore>,
    /// ClusterSecretStores.
    pub cluster: kube::runtime::reflector::Store<WatchedClusterSecretStore>,
    /// Whether `namespaced` has listed the SecretStores (awaited by many reconciles at once).
    pub namespaced_ready: kseal_runtime::Ready,
    /// Whether `cluster` has listed the ClusterSecretStores.
    pub cluster_ready: kseal_runtime::Ready,
}

impl StoreCaches {
    /// Caches of the stores, filled by the watches that write into them.
    pub fn new(
        namespaced: kube::runtime::reflector::Store<WatchedSecretStore>,
        cluster: kube::runtime::reflector::Store<WatchedClusterSecretStore>,
    ) -> Self {
        StoreCaches {
            namespaced_ready: kseal_runtime::Ready::of(&namespaced),
            cluster_ready: kseal_runtime::Ready::of(&cluster),
            namespaced,
            cluster,
        }
    }
}

/// Providers built so far, by configuration (credentials are cached inside each), and the Secrets
/// holding stores' static keys, read lately.
#[derive(Default)]
pub struct Providers {
    built: Mutex<HashMap<StoreId, aws::Provider>>,
    options: aws::ProviderOptions,
    /// Credential Secrets by (namespace, name), read at most every [`CREDENTIALS_TTL`] for the
    /// ExternalSecrets (a store check reads them afresh); one read at a time per Secret, which the
    /// reconciles waiting for it share.
    credentials: Mutex<CredentialSlots>,
    /// Clients of `kubernetes` stores' remote namespaces, by what they were built from, with when.
    remotes: Mutex<HashMap<u64, (std::time::Instant, kubernetes::Remote)>>,
}

/// How long the ExternalSecrets of a store reuse a read of its credential Secret: a refresh of a
/// thousand ExternalSecrets reads it once, and rotated keys are used within this time (at once by the
/// store's next check).
pub const CREDENTIALS_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// One slot per credential Secret (namespace, name): its last read, behind a lock held while reading.
type CredentialSlots = HashMap<(String, String), Arc<tokio::sync::Mutex<Option<CredentialSecret>>>>;

/// A Secret holding static keys, as read at `at`.
struct CredentialSecret {
    at: std::time::Instant,
    data: Arc<BTreeMap<String, Zeroizing<Vec<u8>>>>,
    version: String,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").finish_non_exhaustive()
    }
}

impl Providers {
    /// The options providers are built with.
    pub(crate) fn options(&self) -> &aws::ProviderOptions {
        &self.options
    }

    /// Providers built with `options` (endpoint override, call observer).
    pub fn new(options: aws::ProviderOptions) -> Self {
        Providers {
            built: Mutex::default(),
            options,
            credentials: Mutex::default(),
            remotes: Mutex::default(),
        }
    }

    /// The client built from `key`, if one was and (with `max_age`) is young enough.
    pub(crate) fn cached_remote(
        &self,
        key: u64,
        max_age: Option<std::time::Duration>,
    ) -> Option<kubernetes::Remote> {
        let remotes = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
        remotes
            .get(&key)
            .filter(|(at, _)| max_age.is_none_or(|age| at.elapsed() < age))
            .map(|(_, remote)| remote.clone())
    }

    /// Keeps the client built from `key`.
    pub(crate) fn keep_remote(&self, key: u64, remote: kubernetes::Remote) {
        let mut remotes = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
        // Configurations and credentials change rarely; a bound keeps replaced ones from piling up.
        if remotes.len() > 1024 {
            remotes.clear();
        }
        remotes.insert(key, (std::time::Instant::now(), remote));
    }

    /// The data and resource version of credential Secret `namespace/name`: a read younger than
    /// [`CREDENTIALS_TTL`] unless `fresh`; `None` when it does not exist.
    async fn credential_secret(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        fresh: bool,
    ) -> Result<Option<(Arc<BTreeMap<String, Zeroizing<Vec<u8>>>>, String)>, Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let slot = {
            let mut map = self.credentials_lock();
            if map.len() > 4096 {
                map.clear();
            }
            map.entry(key).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if !fresh
            && let Some(entry) = slot
                .as_ref()
                .filter(|entry| entry.at.elapsed() < CREDENTIALS_TTL)
        {
            return Ok(Some((entry.data.clone(), entry.version.clone())));
        }
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let read = api
            .get_opt(name)
            .await
            .map_err(kube(format!("Secret {namespace}/{name}")))?;
        let Some(secret) = read else {
            *slot = None;
            return Ok(None);
        };
        let version = secret.resource_version().unwrap_or_default();
        let data = Arc::new(secret_data(secret));
        *slot = Some(CredentialSecret {
            at: std::time::Instant::now(),
            data: data.clone(),
            version: version.clone(),
        });
        Ok(Some((data, version)))
    }

    fn credentials_lock(&self) -> std::sync::MutexGuard<'_, CredentialSlots> {
        self.credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn get(
        &self,
        display: &str,
        id: StoreId,
        config: aws::StoreConfig,
    ) -> Result<aws::Provider, Error> {
        if let Some(provider) = self.lock().get(&id) {
            return Ok(provider.clone());
        }
        let provider = aws::Provider::new(config, self.options.clone())
            .await
            .map_err(|source| Error::Provider {
                store: display.to_owned(),
                key: String::new(),
                source,
            })?;
        let mut built = self.lock();
        // Configurations change rarely; a bound keeps replaced ones from piling up.
        if built.len() > 1024 {
            built.clear();
        }
        built.insert(id, provider.clone());
        Ok(provider)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StoreId, aws::Provider>> {
        self.built.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A Secret's data, each value wiped when dropped.
pub(crate) fn secret_data(secret: Secret) -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v.0)))
        .collect()
}

/// What the controller allows a store of some kind.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The store's kind.
    pub kind: StoreKind,
    /// A namespaced SecretStore may use the controller's own AWS credentials (no `auth`).
    pub allow_namespaced_default_credentials: bool,
}

/// What a message says about a refused TokenRequest or service account read: the chart value that
/// grants them.
pub fn jwt_rbac_hint() -> String {
    format!(
        "jwt auth needs RBAC that the chart grants only with {}=true (get on serviceaccounts, create on serviceaccounts/token)",
        crate::JWT_AUTH_VALUE
    )
}

/// The provider of a valid store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Provider<'a> {
    /// AWS Secrets Manager.
    Aws(&'a AwsProvider),
    /// ESO's `fake` provider: the store's own data.
    Fake(&'a FakeProvider),
    /// Secrets of a namespace of this or another cluster.
    Kubernetes(&'a KubernetesProvider),
}

/// The provider of a store, or what is wrong with its configuration on its own (no API reads), as
/// `(reason, message)`.
pub fn validate(
    spec: &SecretStoreSpec,
    policy: Policy,
) -> Result<Provider<'_>, (&'static str, String)> {
    let invalid = |message: String| Err((reasons::INVALID_PROVIDER_CONFIG, message));
    let provider = &spec.provider;
    let unsupported = |field: &str, why: &str| {
        Err((
            reasons::UNSUPPORTED,
            format!("{field} is not supported by kseal: {why}"),
        ))
    };
    if let Some(name) = provider.other.keys().next() {
        return unsupported(
            &format!("spec.provider.{name}"),
            &format!("provider {name:?} is not served (served: aws, kubernetes, fake)"),
        );
    }
    if let Some(aws) = &provider.aws
        && aws.service == AwsServiceType::CertificateManager
    {
        return unsupported(
            "spec.provider.aws.service",
            "service CertificateManager is not served yet (use SecretsManager or ParameterStore)",
        );
    }
    let set: Vec<&str> = [
        ("aws", provider.aws.is_some()),
        ("fake", provider.fake.is_some()),
        ("kubernetes", provider.kubernetes.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if set.len() > 1 {
        return invalid(format!(
            "only one provider may be set (found {})",
            set.join(" and ")
        ));
    }
    let valid = if let Some(fake) = &provider.fake {
        match fake.validation_result.unwrap_or_default() {
            0 => Ok(Provider::Fake(fake)),
            2 => invalid("the fake provider's validationResult is 2 (Error)".into()),
            1 => unsupported(
                "spec.provider.fake.validationResult",
                "result 1 (Unknown) is not modelled (0 is valid, 2 an error)",
            ),
            other => invalid(format!(
                "spec.provider.fake.validationResult {other} is not 0 (Ready), 1 (Unknown) or 2 (Error)"
            )),
        }
    } else if let Some(aws) = &provider.aws {
        validate_aws(aws, policy)
            .map(|()| Provider::Aws(aws))
            .map_err(|m| (reasons::INVALID_PROVIDER_CONFIG, m))
    } else if let Some(kubernetes) = &provider.kubernetes {
        crate::kubernetes_store::validate(kubernetes, policy.kind)
            .map(|()| Provider::Kubernetes(kubernetes))
            .map_err(|m| (reasons::INVALID_PROVIDER_CONFIG, m))
    } else {
        invalid("spec.provider must set one provider (aws, kubernetes or fake)".into())
    }?;
    for condition in &spec.conditions {
        for pattern in &condition.namespace_regexes {
            if let Err(error) = regex::Regex::new(pattern) {
                return invalid(format!(
                    "conditions: invalid namespaceRegexes entry {pattern:?}: {error}"
                ));
            }
        }
    }
    Ok(valid)
}

fn validate_aws(aws: &AwsProvider, policy: Policy) -> Result<(), String> {
    if aws.region.trim().is_empty() {
        return Err("aws.region is required".into());
    }
    if let Some(AwsAuth {
        secret_ref: Some(_),
        jwt: Some(_),
    }) = &aws.auth
    {
        return Err("aws.auth: set either secretRef or jwt, not both".into());
    }
    if let Some(jwt) = aws.auth.as_ref().and_then(|a| a.jwt.as_ref())
        && jwt.service_account_ref.is_none()
    {
        return Err("aws.auth.jwt.serviceAccountRef is required".into());
    }
    let default_chain = aws
        .auth
        .as_ref()
        .is_none_or(|auth| auth.secret_ref.is_none() && auth.jwt.is_none());
    if default_chain
        && policy.kind == StoreKind::SecretStore
        && !policy.allow_namespaced_default_credentials
    {
        return Err(format!(
            "a SecretStore without spec.provider.aws.auth would read with the controller's own AWS credentials (the SDK default chain), which a namespaced store may not use: set auth.secretRef or auth.jwt, or use a ClusterSecretStore; the controller allows it with {} (chart value {}=true)",
            crate::ALLOW_DEFAULT_CREDENTIALS_FLAG,
            crate::ALLOW_DEFAULT_CREDENTIALS_VALUE
        ));
    }
    Ok(())
}

/// Whether a ClusterSecretStore's `conditions` let `namespace` (with `labels`) use it.
pub fn namespace_allowed(
    conditions: &[ClusterSecretStoreCondition],
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    conditions.is_empty()
        || conditions.iter().any(|condition| {
            condition.namespaces.iter().any(|n| n == namespace)
                || condition
                    .namespace_regexes
                    .iter()
                    .filter_map(|p| regex::Regex::new(p).ok())
                    .any(|re| re.is_match(namespace))
                || condition
                    .namespace_selector
                    .as_ref()
                    .is_some_and(|selector| selector_matches(selector, labels))
        })
}

/// Kubernetes label selector semantics (`matchLabels` and `matchExpressions`).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// Looks up the store `es_namespace`'s ExternalSecret refers to, checks that it may be used, and
/// returns its provider.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    client: &Client,
    providers: &Providers,
    caches: Option<&StoreCaches>,
    kind: StoreKind,
    name: &str,
    es_namespace: &str,
    config: &crate::Config,
) -> Result<ResolvedStore, Error> {
    let controller_class = config.controller_class.as_deref();
    let display = display(kind, name, es_namespace);
    let (spec, uid, generation) = match kind {
        StoreKind::SecretStore => {
            let store = match caches {
                Some(caches) => {
                    let reference =
                        kube::runtime::reflector::ObjectRef::new(name).within(es_namespace);
                    cached_store(
                        &caches.namespaced,
                        &caches.namespaced_ready,
                        &reference,
                        &display,
                    )
                    .await?
                }
                None => {
                    let api: Api<WatchedSecretStore> =
                        Api::namespaced(client.clone(), es_namespace);
                    read_store(&api, name, &display).await?
                }
            };
            let spec = store.parse()?;
            (spec, store.uid(), store.metadata.generation)
        }
        StoreKind::ClusterSecretStore => {
            let store = match caches {
                Some(caches) => {
                    let reference = kube::runtime::reflector::ObjectRef::new(name);
                    cached_store(&caches.cluster, &caches.cluster_ready, &reference, &display)
                        .await?
                }
                None => {
                    let api: Api<WatchedClusterSecretStore> = Api::all(client.clone());
                    read_store(&api, name, &display).await?
                }
            };
            let spec = store.parse()?;
            if !spec.conditions.is_empty() {
                let namespace = Api::<Namespace>::all(client.clone())
                    .get(es_namespace)
                    .await
                    .map_err(kube(format!("Namespace {es_namespace}")))?;
                let labels = namespace.metadata.labels.unwrap_or_default();
                if !namespace_allowed(&spec.conditions, es_namespace, &labels) {
                    return Err(Error::Store {
                        message: format!(
                            "{display} may not be used from namespace {es_namespace} (spec.conditions)"
                        ),
                    });
                }
            }
            (spec, store.uid(), store.metadata.generation)
        }
    };
    if !handles_class(&spec, controller_class) {
        return Err(Error::Store {
            message: format!(
                "{display} is for controller class {:?}, not this controller's",
                spec.controller.as_deref().unwrap_or_default()
            ),
        });
    }
    let policy = Policy {
        kind,
        allow_namespaced_default_credentials: config.allow_namespaced_default_credentials,
    };
    let provider = validate(&spec, policy).map_err(|(_, message)| Error::Store {
        message: format!("{display}: {message}"),
    })?;
    let seed = seed(&display);
    let aws = match provider {
        Provider::Fake(fake) => {
            return Ok(ResolvedStore {
                display,
                handle: StoreHandle::Fake(Arc::new(fake.data.clone())),
                seed,
                secrets_manager: SecretsManagerOptions::default(),
                parameter_store: false,
            });
        }
        Provider::Kubernetes(provider) => {
            let remote = crate::kubernetes_store::remote(
                client,
                providers,
                &display,
                kind,
                es_namespace,
                provider,
                false,
            )
            .await?;
            return Ok(ResolvedStore {
                display,
                handle: StoreHandle::Kubernetes(remote),
                seed,
                secrets_manager: SecretsManagerOptions::default(),
                parameter_store: false,
            });
        }
        Provider::Aws(aws) => aws.clone(),
    };
    let secrets_manager = aws.secrets_manager.clone().unwrap_or_default();
    let parameter_store = aws.service == AwsServiceType::ParameterStore;
    let (id, provider) = aws_store(
        client,
        providers,
        &display,
        kind,
        name,
        es_namespace,
        aws,
        uid,
        generation,
        false,
    )
    .await?;
    Ok(ResolvedStore {
        display,
        handle: StoreHandle::Aws { id, provider },
        seed,
        secrets_manager,
        parameter_store,
    })
}

/// The provider of an AWS store used from `namespace` (a ClusterSecretStore's references without a
/// namespace are read there), and its fetch cache key.
#[allow(clippy::too_many_arguments)]
async fn aws_store(
    client: &Client,
    providers: &Providers,
    display: &str,
    kind: StoreKind,
    name: &str,
    namespace: &str,
    aws: AwsProvider,
    uid: Option<String>,
    generation: Option<i64>,
    fresh: bool,
) -> Result<(StoreId, aws::Provider), Error> {
    let scope = match kind {
        // A namespaced store reads its references in its own namespace only.
        StoreKind::SecretStore => RefScope::Fixed(namespace),
        StoreKind::ClusterSecretStore => RefScope::Default(namespace),
    };
    let (auth, versions) =
        auth_config(client, providers, display, aws.auth.as_ref(), scope, fresh).await?;
    let session_tags = session_tags(&aws, kind, name, namespace);
    // The store's generation, not its resource version: writing its status changes nothing here.
    let service = match aws.service {
        AwsServiceType::ParameterStore => aws::Service::ParameterStore,
        _ => aws::Service::SecretsManager,
    };
    let id = StoreId(hash_of(&(
        service,
        display,
        uid,
        generation,
        versions,
        &aws.region,
        &aws.role,
        &aws.additional_roles,
        &aws.external_id,
        &aws.prefix,
        &session_tags,
        &aws.transitive_tag_keys,
    )));
    let config = aws::StoreConfig {
        service,
        region: aws.region,
        role: aws.role,
        additional_roles: aws.additional_roles,
        external_id: aws.external_id,
        session_tags,
        transitive_tag_keys: aws.transitive_tag_keys,
        prefix: aws.prefix,
        auth,
        session_name: format!("kseal-{name}"),
    };
    let provider = providers.get(display, id, config).await?;
    Ok((id, provider))
}

/// The AWS configuration of a generator that calls AWS (ECRAuthorizationToken, STSSessionToken),
/// `display`ed as e.g. `ECRAuthorizationToken ns/name`, used by an ExternalSecret of `namespace`:
/// as in ESO, what its `auth` refers to is read in that namespace only (a selector's `namespace` is
/// not used), then `role` is assumed. Without `auth` it uses the controller's own credentials, which
/// only a ClusterGenerator (`cluster`) may do unless the controller allows namespaced objects to.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn generator_config(
    client: &Client,
    providers: &Providers,
    display: &str,
    auth: Option<&AwsAuth>,
    role: Option<String>,
    region: String,
    namespace: &str,
    cluster: bool,
    allow_namespaced_default_credentials: bool,
) -> Result<aws::StoreConfig, Error> {
    let configured = auth.filter(|auth| auth.secret_ref.is_some() || auth.jwt.is_some());
    if let Some(auth) = configured
        && auth.secret_ref.is_none()
        && auth
            .jwt
            .as_ref()
            .is_some_and(|jwt| jwt.service_account_ref.is_none())
    {
        return Err(Error::Invalid {
            message: format!("{display}: spec.auth.jwt.serviceAccountRef is required"),
        });
    }
    if configured.is_none() && !cluster && !allow_namespaced_default_credentials {
        return Err(Error::Invalid {
            message: format!(
                "{display}: without spec.auth it would use the controller's own AWS credentials (the SDK default chain), which a namespaced generator may not use: set auth.secretRef or auth.jwt, or use a ClusterGenerator; the controller allows it with {} (chart value {}=true)",
                crate::ALLOW_DEFAULT_CREDENTIALS_FLAG,
                crate::ALLOW_DEFAULT_CREDENTIALS_VALUE
            ),
        });
    }
    let (auth, _) = auth_config(
        client,
        providers,
        display,
        configured,
        RefScope::Fixed(namespace),
        false,
    )
    .await?;
    Ok(aws::StoreConfig {
        service: aws::Service::default(),
        region,
        role: role.filter(|role| !role.is_empty()),
        additional_roles: Vec::new(),
        external_id: None,
        session_tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        prefix: None,
        auth,
        session_name: "kseal-generator".to_owned(),
    })
}

/// How often a store's credentials are checked against AWS when its `refreshInterval` is unset
/// (ESO's default store requeue interval).
pub const VERIFY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// The shortest interval between two checks of one store: a tiny `refreshInterval` does not send an
/// STS call per second.
pub const MIN_VERIFY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// What checking a store against AWS found.
#[derive(Debug)]
pub enum Verification {
    /// Not an AWS store: nothing to check.
    NotAws,
    /// A ClusterSecretStore whose credentials are read in each ExternalSecret's namespace: there are
    /// none to check until an ExternalSecret uses it (ESO's `ValidationUnknown`).
    Unknown,
    /// This configuration was checked less than [`MIN_VERIFY_INTERVAL`] ago (the status written after
    /// a check triggers another): the outcome of that check stands.
    Recent,
    /// A `kubernetes` store's credentials may read Secrets of its remote namespace.
    Allowed,
    /// AWS accepted the credentials (through every role of the chain).
    Verified {
        /// The store's fetch cache key.
        id: StoreId,
        /// The identity AWS answered with (empty when GetCallerIdentity is explicitly denied).
        arn: String,
    },
}

/// Why a store's credentials could not be used.
#[derive(Debug)]
pub struct Rejection {
    /// The store's fetch cache key, once its configuration could be read.
    pub id: Option<StoreId>,
    /// What failed, naming the step: a missing Secret or service account, an AssumeRole, or the
    /// GetCallerIdentity call; never a credential.
    pub message: String,
    /// AWS refused the credentials or access (not a network failure or throttling): the store's
    /// ExternalSecrets make no AWS call with them until they change or a later check passes.
    pub refused: bool,
}

/// Checks that a store's credentials work: reads what its `auth` refers to, obtains the credentials
/// (assuming every role) and calls STS GetCallerIdentity with them, unless `recent` says this
/// configuration was just checked.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    client: &Client,
    providers: &Providers,
    kind: StoreKind,
    name: &str,
    namespace: &str,
    spec: &SecretStoreSpec,
    uid: Option<String>,
    generation: Option<i64>,
    recent: impl Fn(StoreId) -> bool,
) -> Result<Verification, Rejection> {
    if let Some(provider) = &spec.provider.kubernetes {
        let display = display(kind, name, namespace);
        let checked =
            crate::kubernetes_store::verify(client, providers, &display, kind, namespace, provider)
                .await;
        return match checked {
            Ok(true) => Ok(Verification::Allowed),
            Ok(false) => Ok(Verification::Unknown),
            Err(message) => Err(Rejection {
                id: None,
                message,
                refused: false,
            }),
        };
    }
    let Some(aws) = &spec.provider.aws else {
        return Ok(Verification::NotAws);
    };
    if kind == StoreKind::ClusterSecretStore && referent(aws.auth.as_ref()) {
        return Ok(Verification::Unknown);
    }
    let display = display(kind, name, namespace);
    let (id, provider) = aws_store(
        client,
        providers,
        &display,
        kind,
        name,
        namespace,
        aws.clone(),
        uid,
        generation,
        true,
    )
    .await
    .map_err(|error| Rejection {
        id: None,
        message: error.to_string(),
        refused: false,
    })?;
    if recent(id) {
        return Ok(Verification::Recent);
    }
    match provider.verify().await {
        Ok(arn) => Ok(Verification::Verified { id, arn }),
        Err(error) => Err(Rejection {
            id: Some(id),
            refused: matches!(error, aws::Error::Auth(_) | aws::Error::Config(_)),
            message: format!("{display}: the AWS credentials do not work: {error}"),
        }),
    }
}

/// Whether a ClusterSecretStore's `auth` reads its credentials in each ExternalSecret's namespace
/// (a reference without a namespace).
fn referent(auth: Option<&AwsAuth>) -> bool {
    let Some(auth) = auth else { return false };
    if let Some(secret_ref) = &auth.secret_ref {
        return secret_ref.access_key_id_secret_ref.namespace.is_none()
            || secret_ref.secret_access_key_secret_ref.namespace.is_none()
            || secret_ref
                .session_token_secret_ref
                .as_ref()
                .is_some_and(|s| s.namespace.is_none());
    }
    auth.jwt
        .as_ref()
        .and_then(|jwt| jwt.service_account_ref.as_ref())
        .is_some_and(|sa| sa.namespace.is_none())
}

/// The session tags sent when assuming a store's `role`, as ESO chooses them: `sessionTags` with
/// `sessionTagsPolicy: None` (the default); with `Simple` instead `esoNamespace` (the namespace the
/// store is used from), `esoStoreName` and `esoStoreKind`; with `Custom` those and every
/// `customSessionTags` entry whose key and value are not empty. Sorted by key.
pub fn session_tags(
    aws: &AwsProvider,
    kind: StoreKind,
    name: &str,
    namespace: &str,
) -> Vec<(String, String)> {
    use kseal_api::external_secrets::SessionTagsPolicy;
    let mut tags: BTreeMap<String, String> = match aws.session_tags_policy.unwrap_or_default() {
        SessionTagsPolicy::None => {
            return aws
                .session_tags
                .iter()
                .map(|tag| (tag.key.clone(), tag.value.clone()))
                .collect();
        }
        SessionTagsPolicy::Simple => BTreeMap::new(),
        SessionTagsPolicy::Custom => aws
            .custom_session_tags
            .iter()
            .filter(|(key, value)| !key.is_empty() && !value.is_empty())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    };
    let kind = match kind {
        StoreKind::SecretStore => "SecretStore",
        StoreKind::ClusterSecretStore => "ClusterSecretStore",
    };
    for (key, value) in [
        ("esoNamespace", namespace),
        ("esoStoreName", name),
        ("esoStoreKind", kind),
    ] {
        tags.insert(key.to_owned(), value.to_owned());
    }
    tags.into_iter().collect()
}

/// The store `reference` from the sync's watch cache once it has listed them all, or an error naming
/// it (`display`) when it does not exist.
async fn cached_store<K>(
    cache: &kube::runtime::reflector::Store<K>,
    ready: &kseal_runtime::Ready,
    reference: &kube::runtime::reflector::ObjectRef<K>,
    display: &str,
) -> Result<K, Error>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    if !ready.wait().await {
        return Err(Error::Store {
            message: format!("{display}: the sync is stopping"),
        });
    }
    cache
        .get(reference)
        .map(|store| (*store).clone())
        .ok_or_else(|| Error::Store {
            message: format!("{display} not found"),
        })
}

/// The store `name` of `api`, or an error naming it (`display`) when it does not exist.
async fn read_store<K>(api: &Api<K>, name: &str, display: &str) -> Result<K, Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .map_err(kube(display.to_owned()))?
        .ok_or_else(|| Error::Store {
            message: format!("{display} not found"),
        })
}

/// How messages (and the fetch cycle) name a store used from `namespace`: `SecretStore ns/name` or
/// `ClusterSecretStore name`.
pub fn display(kind: StoreKind, name: &str, namespace: &str) -> String {
    match kind {
        StoreKind::SecretStore => format!("SecretStore {namespace}/{name}"),
        StoreKind::ClusterSecretStore => format!("ClusterSecretStore {name}"),
    }
}

/// Whether this controller handles a store of `spec.controller` (empty: every controller).
pub fn handles_class(spec: &SecretStoreSpec, class: Option<&str>) -> bool {
    match spec.controller.as_deref().filter(|c| !c.is_empty()) {
        None => true,
        Some(wanted) => Some(wanted) == class,
    }
}

#[derive(Clone, Copy)]
pub(crate) enum RefScope<'a> {
    /// SecretStore: references live in the store's namespace.
    Fixed(&'a str),
    /// ClusterSecretStore: a reference's own namespace, else the ExternalSecret's.
    Default(&'a str),
}

impl RefScope<'_> {
    pub(crate) fn namespace<'b>(&'b self, given: Option<&'b str>) -> &'b str {
        match self {
            RefScope::Fixed(namespace) => namespace,
            RefScope::Default(namespace) => given.unwrap_or(namespace),
        }
    }
}

/// The credentials a store's `auth` selects, and the resource versions of what they were read from.
async fn auth_config(
    client: &Client,
    providers: &Providers,
    display: &str,
    auth: Option<&AwsAuth>,
    scope: RefScope<'_>,
    fresh: bool,
) -> Result<(aws::Auth, Vec<String>), Error> {
    let Some(auth) = auth else {
        return Ok((aws::Auth::DefaultChain, Vec::new()));
    };
    if let Some(secret_ref) = &auth.secret_ref {
        let mut versions = Vec::new();
        let mut read = async |selector: &SecretKeySelector| {
            let (value, version) =
                secret_value(client, providers, display, selector, scope, fresh).await?;
            versions.push(version);
            Ok::<_, Error>(value)
        };
        let access_key_id = read(&secret_ref.access_key_id_secret_ref).await?;
        let secret_access_key = read(&secret_ref.secret_access_key_secret_ref).await?;
        let session_token = match &secret_ref.session_token_secret_ref {
            Some(selector) => Some(read(selector).await?),
            None => None,
        };
        let access_key_id =
            String::from_utf8(access_key_id.to_vec()).map_err(|_| Error::Store {
                message: format!("{display}: the access key id is not UTF-8"),
            })?;
        let text = |value: Zeroizing<Vec<u8>>| {
            String::from_utf8(value.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| Error::Store {
                    message: format!("{display}: a credential is not UTF-8"),
                })
        };
        let auth = aws::Auth::Static {
            access_key_id: access_key_id.trim().to_owned(),
            secret_access_key: text(secret_access_key)?,
            session_token: session_token.map(text).transpose()?,
        };
        return Ok((auth, versions));
    }
    if let Some(sa_ref) = auth
        .jwt
        .as_ref()
        .and_then(|j| j.service_account_ref.as_ref())
    {
        let namespace = scope.namespace(sa_ref.namespace.as_deref()).to_owned();
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        let what = format!("ServiceAccount {namespace}/{}", sa_ref.name);
        let account = api
            .get_opt(&sa_ref.name)
            .await
            .map_err(|error| jwt_refusal(display, &what, error))?
            .ok_or_else(|| Error::Store {
                message: format!(
                    "{display}: service account {namespace}/{} not found",
                    sa_ref.name
                ),
            })?;
        let role_arn = account
            .annotations()
            .get(ROLE_ARN_ANNOTATION)
            .cloned()
            .ok_or_else(|| Error::Store {
                message: format!(
                    "{display}: service account {namespace}/{} has no {ROLE_ARN_ANNOTATION} annotation",
                    sa_ref.name
                ),
            })?;
        let audiences = aws::audiences(
            account
                .annotations()
                .get(aws::AUDIENCE_ANNOTATION)
                .map(String::as_str),
            &sa_ref.audiences,
        );
        let token = aws::ServiceAccountTokenSource::new(
            client.clone(),
            namespace,
            sa_ref.name.clone(),
            audiences,
        );
        let version = account.resource_version().unwrap_or_default();
        return Ok((
            aws::Auth::WebIdentity {
                role_arn,
                token: Arc::new(token),
            },
            vec![version],
        ));
    }
    Ok((aws::Auth::DefaultChain, Vec::new()))
}

/// The value of the key `selector` names, read as `scope` says, and the Secret's resource version.
pub(crate) async fn secret_value(
    client: &Client,
    providers: &Providers,
    display: &str,
    selector: &SecretKeySelector,
    scope: RefScope<'_>,
    fresh: bool,
) -> Result<(Zeroizing<Vec<u8>>, String), Error> {
    let namespace = scope.namespace(selector.namespace.as_deref());
    let missing = |what: String| Error::Store {
        message: format!("{display}: {what}"),
    };
    let (data, version) = providers
        .credential_secret(client, namespace, &selector.name, fresh)
        .await?
        .ok_or_else(|| missing(format!("Secret {namespace}/{} not found", selector.name)))?;
    let value = data.get(&selector.key).cloned().ok_or_else(|| {
        missing(format!(
            "Secret {namespace}/{} has no key {:?}",
            selector.name, selector.key
        ))
    })?;
    Ok((value, version))
}

/// How often a store with `jwt` auth is checked again for the controller's access to its service
/// account (the RBAC may change without the store changing).
pub const JWT_ACCESS_RECHECK: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The service account a store's `jwt` auth uses, as (namespace, name): the namespace is the store's
/// for a SecretStore, and `None` for a ClusterSecretStore that takes it from each ExternalSecret.
pub fn jwt_account(
    spec: &SecretStoreSpec,
    kind: StoreKind,
    store_namespace: &str,
) -> Option<(Option<String>, String)> {
    let account = spec
        .provider
        .aws
        .as_ref()?
        .auth
        .as_ref()?
        .jwt
        .as_ref()?
        .service_account_ref
        .as_ref()?;
    let namespace = match kind {
        StoreKind::SecretStore => Some(store_namespace.to_owned()),
        StoreKind::ClusterSecretStore => account.namespace.clone(),
    };
    Some((namespace, account.name.clone()))
}

/// Whether the controller may read the service account of a store's `jwt` auth and create tokens for
/// it (SelfSubjectAccessReviews, no token is minted): a refusal is `ValidationFailed` naming the chart
/// value that grants both. A review that cannot be made leaves the store valid (its ExternalSecrets
/// report any refusal).
pub async fn check_jwt_access(
    client: &Client,
    store: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), (&'static str, String)> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let account = match namespace {
        Some(namespace) => format!("ServiceAccount {namespace}/{name}"),
        None => format!("ServiceAccount {name} (in any namespace)"),
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for (verb, subresource, action) in [
        ("get", None, "read"),
        ("create", Some("token"), "create tokens for"),
    ] {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: namespace.map(str::to_owned),
                    verb: Some(verb.to_owned()),
                    group: Some(String::new()),
                    resource: Some("serviceaccounts".to_owned()),
                    subresource: subresource.map(str::to_owned),
                    name: Some(name.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        match api.create(&kube::api::PostParams::default(), &review).await {
            Ok(answer) if !answer.status.as_ref().is_some_and(|status| status.allowed) => {
                return Err((
                    reasons::VALIDATION_FAILED,
                    format!(
                        "{store}: the controller may not {action} {account}; {}",
                        jwt_rbac_hint()
                    ),
                ));
            }
            Ok(_) => {}
            Err(error) => {
                let error = crate::kube_message("a SelfSubjectAccessReview", &error);
                tracing::debug!(%error, store, "cannot check the access of jwt auth");
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A failed read of the service account of `jwt` auth: a refusal (403) names the chart value that
/// grants it.
fn jwt_refusal(display: &str, what: &str, error: kube::Error) -> Error {
    let forbidden = matches!(&error, kube::Error::Api(status) if status.code == 403);
    let message = crate::kube_message(what, &error);
    if forbidden {
        Error::Store {
            message: format!("{display}: {message}; {}", jwt_rbac_hint()),
        }
    } else {
        kube(what)(error)
    }
}

/// The refresh-grid seed of a store, from its display name (`SecretStore ns/name`, `ClusterSecretStore name`).
pub fn seed(display: &str) -> u64 {
    hash_of(&display)
}

fn hash_of(value: &impl std::hash::Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use kseal_api::external_secrets::SecretStoreProvider;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn conditions_allow_by_name_regex_or_selector() {
        let conditions = vec![
            ClusterSecretStoreCondition {
                namespaces: vec!["team-a".into()],
                ..Default::default()
            },
            ClusterSecretStoreCondition {
                namespace_regexes: vec!["^prod-.*$".into()],
                ..Default::default()
            },
            ClusterSecretStoreCondition {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(labels(&[("secrets", "aws")])),
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "tier".into(),
                        operator: "NotIn".into(),
                        values: Some(vec!["dev".into()]),
                    }]),
                }),
                ..Default::default()
            },
        ];
        assert!(namespace_allowed(&conditions, "team-a", &labels(&[])));
        assert!(namespace_allowed(&conditions, "prod-eu", &labels(&[])));
        assert!(namespace_allowed(
            &conditions,
            "x",
            &labels(&[("secrets", "aws")])
        ));
        assert!(!namespace_allowed(
            &conditions,
            "x",
            &labels(&[("secrets", "aws"), ("tier", "dev")])
        ));
        assert!(!namespace_allowed(&conditions, "team-b", &labels(&[])));
        assert!(namespace_allowed(&[], "anything", &labels(&[])));
    }

    const NAMESPACED: Policy = Policy {
        kind: StoreKind::SecretStore,
        allow_namespaced_default_credentials: false,
    };

    #[test]
    fn validation_names_what_is_wrong() {
        let check = |spec: &SecretStoreSpec| validate(spec, NAMESPACED).map(drop);
        let mut spec = SecretStoreSpec::default();
        let (reason, message) = check(&spec).unwrap_err();
        assert_eq!(reason, reasons::INVALID_PROVIDER_CONFIG);
        assert!(message.contains("one provider"), "{message}");
        spec.provider = SecretStoreProvider {
            other: [("vault".to_owned(), serde_json::json!({}))].into(),
            ..Default::default()
        };
        let (reason, message) = check(&spec).unwrap_err();
        assert_eq!(reason, reasons::UNSUPPORTED);
        assert!(message.contains("spec.provider.vault"), "{message}");
        spec.provider = SecretStoreProvider {
            aws: Some(AwsProvider {
                service: AwsServiceType::CertificateManager,
                region: "eu-west-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (reason, message) = check(&spec).unwrap_err();
        assert_eq!(reason, reasons::UNSUPPORTED);
        assert!(message.contains("CertificateManager"), "{message}");
        spec.provider = SecretStoreProvider {
            fake: Some(FakeProvider::default()),
            ..Default::default()
        };
        assert!(matches!(validate(&spec, NAMESPACED), Ok(Provider::Fake(_))));
    }

    #[test]
    fn session_tags_follow_the_policy_as_in_eso() {
        use kseal_api::external_secrets::{SessionTag, SessionTagsPolicy};
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let mut aws = AwsProvider {
            region: "eu-west-1".into(),
            session_tags: vec![SessionTag {
                key: "team".into(),
                value: "payments".into(),
            }],
            custom_session_tags: [
                ("cost-centre".to_owned(), "42".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
            .into(),
            ..Default::default()
        };
        let tags =
            |aws: &AwsProvider| session_tags(aws, StoreKind::ClusterSecretStore, "shared", "apps");
        // No policy: the store's own sessionTags.
        assert_eq!(tags(&aws), pairs(&[("team", "payments")]));
        aws.session_tags_policy = Some(SessionTagsPolicy::None);
        assert_eq!(tags(&aws), pairs(&[("team", "payments")]));
        // Simple: only what identifies the store and the namespace it is used from.
        aws.session_tags_policy = Some(SessionTagsPolicy::Simple);
        let simple = [
            ("esoNamespace", "apps"),
            ("esoStoreKind", "ClusterSecretStore"),
            ("esoStoreName", "shared"),
        ];
        assert_eq!(tags(&aws), pairs(&simple));
        // Custom: those and the custom tags that have a value.
        aws.session_tags_policy = Some(SessionTagsPolicy::Custom);
        let mut custom = vec![("cost-centre", "42")];
        custom.extend(simple);
        assert_eq!(tags(&aws), pairs(&custom));
        // The injected keys win over custom ones of the same name.
        aws.custom_session_tags
            .insert("esoNamespace".into(), "spoofed".into());
        assert!(tags(&aws).contains(&("esoNamespace".into(), "apps".into())));
        assert_eq!(
            session_tags(&aws, StoreKind::SecretStore, "own", "team-a")[1..],
            pairs(&[
                ("esoNamespace", "team-a"),
                ("esoStoreKind", "SecretStore"),
                ("esoStoreName", "own"),
            ])[..]
        );
    }

    #[test]
    fn only_cluster_stores_use_the_default_chain_unless_allowed() {
        let store = |auth: Option<AwsAuth>| SecretStoreSpec {
            provider: SecretStoreProvider {
                aws: Some(AwsProvider {
                    region: "eu-west-1".into(),
                    auth,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let cluster = Policy {
            kind: StoreKind::ClusterSecretStore,
            ..NAMESPACED
        };
        let allowed = Policy {
            allow_namespaced_default_credentials: true,
            ..NAMESPACED
        };
        // No auth, and an empty auth, both mean the SDK default chain.
        for spec in [store(None), store(Some(AwsAuth::default()))] {
            let (reason, message) = validate(&spec, NAMESPACED).unwrap_err();
            assert_eq!(reason, reasons::INVALID_PROVIDER_CONFIG);
            assert!(
                message.contains("--sync-allow-namespaced-default-credentials"),
                "{message}"
            );
            assert!(
                message.contains("controller.sync.allowNamespacedDefaultCredentials"),
                "{message}"
            );
            assert!(validate(&spec, cluster).is_ok());
            assert!(validate(&spec, allowed).is_ok());
        }
        let jwt = store(Some(AwsAuth {
            jwt: Some(kseal_api::external_secrets::AwsJwtAuth {
                service_account_ref: Some(Default::default()),
            }),
            ..Default::default()
        }));
        assert!(matches!(validate(&jwt, NAMESPACED), Ok(Provider::Aws(_))));
    }

    #[test]
    fn namespace_regexes_match_unanchored_as_in_eso() {
        // Go's regexp.MatchString, which ESO uses, finds the pattern anywhere in the name.
        let conditions = vec![ClusterSecretStoreCondition {
            namespace_regexes: vec!["team".into()],
            ..Default::default()
        }];
        assert!(namespace_allowed(&conditions, "my-team-dev", &labels(&[])));
        let anchored = vec![ClusterSecretStoreCondition {
            namespace_regexes: vec!["^team$".into()],
            ..Default::default()
        }];
        assert!(!namespace_allowed(&anchored, "my-team-dev", &labels(&[])));
        assert!(namespace_allowed(&anchored, "team", &labels(&[])));
    }

    #[test]
    fn serves_all_namespaces_comes_and_goes_with_the_conditions() {
        let t0 = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let t1 = t0 + std::time::Duration::from_secs(60);
        let mut conditions =
            crate::reconcile::ready_conditions(&[], true, reasons::VALID, "store validated", t0);
        set_serves_all_namespaces(&mut conditions, true, t0);
        assert_eq!(conditions.len(), 2);
        let serves = &conditions[0];
        assert_eq!(serves.type_, "ServesAllNamespaces");
        assert_eq!(
            (serves.status.as_str(), serves.reason.as_deref()),
            ("True", Some("NoConditions"))
        );
        assert!(serves.message.as_ref().unwrap().contains("spec.conditions"));
        // Validating again changes nothing (not even the order), so no status write follows.
        let mut again = crate::reconcile::ready_conditions(
            &conditions,
            true,
            reasons::VALID,
            "store validated",
            t1,
        );
        set_serves_all_namespaces(&mut again, true, t1);
        assert_eq!(again, conditions);
        set_serves_all_namespaces(&mut again, false, t1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].type_, "Ready");
    }

    #[test]
    fn controller_class_selects_stores() {
        let mut spec = SecretStoreSpec::default();
        assert!(handles_class(&spec, None));
        spec.controller = Some("blue".into());
        assert!(!handles_class(&spec, None));
        assert!(handles_class(&spec, Some("blue")));
    }
}
