//! The sealing keys: `kubernetes.io/tls` Secrets in the controller's namespace, with the labels and layout of
//! sealed-secrets so a cluster's existing keys are adopted as they are.
//!
//! [`KeyRing`] is the pure part (which key seals, which order to try); [`load`] and [`ensure`] read and
//! create the Secrets.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_crypto::{Certificate, KeyOptions, KeyPair, PrivateKey};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};

use crate::{Error, Result};
use kseal_api::names::{ACTIVE, KEY_LABEL, KEY_SECRET_PREFIX, TLS_CERT, TLS_KEY, TLS_SECRET_TYPE};

/// Default key renewal period, as sealed-secrets (30 days).
pub const DEFAULT_RENEW_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Retry delay after a failed renewal.
pub const RENEW_RETRY: Duration = Duration::from_secs(60);

/// One key: the private key with its certificate and the Secret it came from.
#[derive(Debug)]
pub struct Key {
    /// Name of the Secret holding the key.
    pub secret_name: String,
    /// The private key.
    pub private: PrivateKey,
    /// Its certificate.
    pub certificate: Certificate,
    /// The time that orders the keys ([`KeyOrder`]): the newest seals, and renewal counts from it.
    pub ordering: SystemTime,
}

impl Key {
    /// SHA-256 fingerprint of the public key (the value of kseal's key-hint annotation).
    pub fn fingerprint(&self) -> &str {
        self.private.fingerprint()
    }
}

/// Every active key; the newest (by [`Key::ordering`]) seals, all may unseal.
#[derive(Debug, Default)]
pub struct KeyRing {
    /// Newest first.
    keys: Vec<Arc<Key>>,
}

impl KeyRing {
    /// A ring of `keys`, in any order.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Self {
        Self::from_shared(keys.into_iter().map(Arc::new).collect())
    }

    fn from_shared(mut keys: Vec<Arc<Key>>) -> Self {
        // Newest first; ties broken by Secret name so the order is stable.
        keys.sort_by(|a, b| {
            b.ordering
                .cmp(&a.ordering)
                .then_with(|| a.secret_name.cmp(&b.secret_name))
        });
        KeyRing { keys }
    }

    /// This ring plus `key`.
    pub fn with(&self, key: Key) -> Self {
        let mut keys = self.keys.clone();
        keys.push(Arc::new(key));
        Self::from_shared(keys)
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Fingerprints of the keys, newest first.
    pub fn fingerprints(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.fingerprint()).collect()
    }

    /// The key that seals: the newest one.
    pub fn sealing_key(&self) -> Option<&Arc<Key>> {
        self.keys.first()
    }

    /// The keys newest first.
    pub fn keys(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// The keys in the order to try them: those whose fingerprint is in `preferred` first (in that order),
    /// then the rest newest first.
    pub fn ordered(&self, preferred: &[&str]) -> Vec<Arc<Key>> {
        let mut ordered: Vec<Arc<Key>> = preferred
            .iter()
            .filter_map(|fp| self.keys.iter().find(|k| k.fingerprint() == *fp))
            .cloned()
            .collect();
        ordered.dedup_by(|a, b| a.fingerprint() == b.fingerprint());
        for key in &self.keys {
            if !ordered.iter().any(|k| k.fingerprint() == key.fingerprint()) {
                ordered.push(key.clone());
            }
        }
        ordered
    }
}

/// The current [`KeyRing`], shared by the unsealer and the HTTP API and replaced when key Secrets change.
#[derive(Debug, Default)]
pub struct SharedKeys {
    ring: RwLock<Arc<KeyRing>>,
}

impl SharedKeys {
    /// Holds `ring`.
    pub fn new(ring: KeyRing) -> Self {
        SharedKeys {
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    /// The current keys.
    pub fn get(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the keys.
    pub fn set(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
    }
}

/// Reads the key of one Secret (`tls.key` and `tls.crt`), ordered by `order`.
pub fn key_from_secret(secret: &Secret, order: KeyOrder) -> Result<Key> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| v.0.as_slice())
            .ok_or_else(|| Error::KeySecret {
                name: name.clone(),
                message: format!("missing {key}"),
            })
    };
    let invalid = |source: kseal_crypto::Error| Error::KeySecret {
        name: name.clone(),
        message: source.to_string(),
    };
    let private = PrivateKey::from_pem(field(TLS_KEY)?).map_err(invalid)?;
    let certificate = Certificate::from_pem(field(TLS_CERT)?).map_err(invalid)?;
    if private.public_key() != certificate.public_key() {
        return Err(Error::KeySecret {
            name,
            message: "tls.key does not match tls.crt".into(),
        });
    }
    let ordering = order.time_of(&certificate, secret);
    Ok(Key {
        secret_name: name,
        private,
        certificate,
        ordering,
    })
}

/// Which key seals: the one whose certificate starts last (sealed-secrets' default `CertNotBefore`), or
/// the one whose Secret was created last (`SecretCreationTimestamp`, for keys imported with backdated
/// certificates). Renewal counts from the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyOrder {
    /// The certificate's notBefore.
    #[default]
    CertNotBefore,
    /// The key Secret's creationTimestamp.
    SecretCreationTimestamp,
}

impl KeyOrder {
    /// The time that orders the key of `certificate`, stored in `secret`.
    pub fn time_of(self, certificate: &Certificate, secret: &Secret) -> SystemTime {
        match self {
            KeyOrder::CertNotBefore => certificate.not_before(),
            // A Secret read from (or created by) the API server always has one; none sorts oldest.
            KeyOrder::SecretCreationTimestamp => secret
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(SystemTime::UNIX_EPOCH, |t| SystemTime::from(t.0)),
        }
    }
}

impl std::str::FromStr for KeyOrder {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "CertNotBefore" => Ok(KeyOrder::CertNotBefore),
            "SecretCreationTimestamp" => Ok(KeyOrder::SecretCreationTimestamp),
            _ => Err(format!(
                "{text:?} is not a key order (CertNotBefore or SecretCreationTimestamp)"
            )),
        }
    }
}

/// How the key Secrets are named, labelled and ordered: sealed-secrets' `--key-prefix`,
/// `--privatekey-labels`, `--privatekey-annotations` and `--key-order-priority`. The key label itself
/// cannot be overridden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    /// Generated key Secrets are named this plus a suffix the API server picks; a Secret named exactly
    /// this is adopted as a key without the key label (the oldest sealed-secrets layout).
    pub prefix: String,
    /// Which key seals.
    pub order: KeyOrder,
    /// Labels added to each generated key Secret.
    pub labels: BTreeMap<String, String>,
    /// Annotations added to each generated key Secret.
    pub annotations: BTreeMap<String, String>,
}

impl Default for KeyMetadata {
    fn default() -> Self {
        KeyMetadata {
            prefix: KEY_SECRET_PREFIX.to_owned(),
            order: KeyOrder::default(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

impl KeyMetadata {
    /// Checks a `--key-prefix` as sealed-secrets does: lower-case letters, digits and `-`, at most 245
    /// characters (the API server appends a suffix to the 253 a name may have).
    pub fn check_prefix(prefix: &str) -> std::result::Result<(), String> {
        if prefix.len() > 245 {
            return Err(format!(
                "is {} characters long; at most 245 are allowed",
                prefix.len()
            ));
        }
        match prefix
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            Some(c) => Err(format!(
                "contains {c:?}; only lower-case letters, digits and '-' are allowed"
            )),
            None => Ok(()),
        }
    }

    /// sealed-secrets' `k=v,k2=v2` list; an entry without `=` is an error naming it.
    pub fn parse_list(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
        text.split(',')
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once('=') {
                Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
                _ => Err(format!("{entry:?} is not key=value")),
            })
            .collect()
    }
}

/// What a generated key is: its options and the metadata of its Secret.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    /// Size, validity and common name.
    pub options: KeyOptions,
    /// Extra labels and annotations of its Secret.
    pub metadata: KeyMetadata,
}

/// The Secret that stores a generated key, as sealed-secrets writes it (the server completes the name).
pub fn key_secret(namespace: &str, pair: &KeyPair) -> Result<Secret> {
    key_secret_with(namespace, pair, &KeyMetadata::default())
}

/// [`key_secret`] with `metadata`'s labels and annotations added.
pub fn key_secret_with(namespace: &str, pair: &KeyPair, metadata: &KeyMetadata) -> Result<Secret> {
    let key_pem = pair.private_key_pem().map_err(Error::KeyGeneration)?;
    let mut labels = metadata.labels.clone();
    labels.insert(KEY_LABEL.to_owned(), ACTIVE.to_owned());
    Ok(Secret {
        metadata: ObjectMeta {
            generate_name: Some(metadata.prefix.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations: (!metadata.annotations.is_empty()).then(|| metadata.annotations.clone()),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_SECRET_TYPE.to_owned()),
        data: Some(BTreeMap::from([
            (TLS_KEY.to_owned(), ByteString(key_pem.as_bytes().to_vec())),
            (
                TLS_CERT.to_owned(),
                ByteString(pair.certificate_pem().as_bytes().to_vec()),
            ),
        ])),
        ..Secret::default()
    })
}

/// Loads the labelled key Secrets of `namespace` and the one named exactly the key prefix
/// (`sealed-secrets-key`, the oldest layout), ordered as `layout` says.
///
/// A Secret that does not hold a valid key is logged and skipped.
pub async fn load(client: &Client, namespace: &str, layout: &KeyMetadata) -> Result<KeyRing> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{KEY_LABEL}={ACTIVE}");
    let mut secrets = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    if let Some(legacy) = api.get_opt(&layout.prefix).await?
        && !secrets
            .iter()
            .any(|s| s.metadata.name == legacy.metadata.name)
    {
        secrets.push(legacy);
    }
    let keys = secrets
        .iter()
        .filter_map(|secret| match key_from_secret(secret, layout.order) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(%error, namespace, "skipping key Secret");
                None
            }
        });
    Ok(KeyRing::new(keys))
}

/// Loads the keys of `namespace`, generating and storing one when there is none or when the newest is
/// older than `cutoff`.
pub async fn ensure(
    client: &Client,
    namespace: &str,
    spec: &KeySpec,
    cutoff: Option<SystemTime>,
) -> Result<KeyRing> {
    let ring = load(client, namespace, &spec.metadata).await?;
    let newest = ring.sealing_key().map(|k| k.ordering);
    if !needs_new_key(newest, cutoff) {
        tracing::info!(namespace, keys = ring.len(), "loaded sealing keys");
        return Ok(ring);
    }
    if newest.is_some() {
        tracing::info!(
            namespace,
            keys = ring.len(),
            "the newest sealing key is older than the key cut-off time"
        );
    }
    Ok(ring.with(generate(client, namespace, spec).await?))
}

/// Whether a key must be generated at start: there is none (`newest_not_before` is `None`), or the
/// newest is older than `cutoff` (sealed-secrets' `--key-cutoff-time`).
pub fn needs_new_key(newest_not_before: Option<SystemTime>, cutoff: Option<SystemTime>) -> bool {
    match (newest_not_before, cutoff) {
        (None, _) => true,
        (Some(newest), Some(cutoff)) => newest < cutoff,
        (Some(_), None) => false,
    }
}

/// How long until a key whose certificate starts at `newest_not_before` is due for renewal (`period`
/// later); zero when it is overdue.
pub fn renewal_due_in(
    newest_not_before: SystemTime,
    period: Duration,
    now: SystemTime,
) -> Duration {
    (newest_not_before + period)
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
}

/// Generates a new sealing key every `period` after the newest one, forever. Old keys stay: they still
/// unseal. A failure is logged and retried after [`RENEW_RETRY`].
pub async fn renew(
    client: Client,
    namespace: String,
    keys: Arc<SharedKeys>,
    spec: KeySpec,
    period: Duration,
) {
    loop {
        let due_in = |ring: &KeyRing| {
            ring.sealing_key().map_or(Duration::ZERO, |k| {
                renewal_due_in(k.ordering, period, SystemTime::now())
            })
        };
        tokio::time::sleep(due_in(&keys.get())).await;
        // Re-read: the key watch may have brought a newer key meanwhile.
        let ring = keys.get();
        if !due_in(&ring).is_zero() {
            continue;
        }
        match generate(&client, &namespace, &spec).await {
            Ok(key) => keys.set(ring.with(key)),
            Err(error) => {
                tracing::warn!(%error, namespace, "key renewal failed");
                tokio::time::sleep(RENEW_RETRY).await;
            }
        }
    }
}

/// Generates a key and stores it as a new key Secret in `namespace`.
pub async fn generate(client: &Client, namespace: &str, spec: &KeySpec) -> Result<Key> {
    let options = spec.options.clone();
    let pair = tokio::task::spawn_blocking(move || KeyPair::generate(&options))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
        .map_err(Error::KeyGeneration)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let created = api
        .create(
            &PostParams::default(),
            &key_secret_with(namespace, &pair, &spec.metadata)?,
        )
        .await?;
    let secret_name = created.metadata.name.clone().unwrap_or_default();
    tracing::info!(namespace, name = %secret_name, fingerprint = pair.private_key().fingerprint(), "generated a sealing key");
    let (private, certificate) = pair.into_parts();
    let ordering = spec.metadata.order.time_of(&certificate, &created);
    Ok(Key {
        secret_name,
        private,
        certificate,
        ordering,
    })
}

/// Watches the key Secrets of `namespace` and calls `on_change` with the reloaded keys whenever the set of
/// keys differs from the last one (starting from the `known` fingerprints): a key Secret added, relabelled
/// or removed. Runs until dropped.
pub async fn watch(
    client: Client,
    namespace: String,
    layout: KeyMetadata,
    mut known: Vec<String>,
    mut on_change: impl FnMut(KeyRing),
) {
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let labelled = watcher::watcher(
        api.clone(),
        watcher::Config::default().labels(&format!("{KEY_LABEL}={ACTIVE}")),
    );
    let legacy = watcher::watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={}", layout.prefix)),
    );
    let mut events = std::pin::pin!(futures::stream::select(labelled, legacy).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, namespace, "watching key Secrets");
                continue;
            }
        }
        match load(&client, &namespace, &layout).await {
            Ok(ring) => {
                let fingerprints: Vec<String> =
                    ring.fingerprints().into_iter().map(str::to_owned).collect();
                // An empty ring is kept out: a relabelled last key must not stop all unsealing.
                if fingerprints != known && !ring.is_empty() {
                    tracing::info!(namespace, keys = ring.len(), "reloaded sealing keys");
                    known = fingerprints;
                    on_change(ring);
                }
            }
            Err(error) => tracing::warn!(%error, namespace, "reloading sealing keys"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(name: &str) -> Key {
        let pair = KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        })
        .unwrap();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..key_secret("ns", &pair).unwrap()
        };
        key_from_secret(&secret, KeyOrder::default()).unwrap()
    }

    #[test]
    fn newest_certificate_seals_and_preferred_keys_come_first() {
        let older = key("a");
        // notBefore has one-second resolution.
        std::thread::sleep(Duration::from_millis(1100));
        let newer = key("b");
        let (old_fp, new_fp) = (
            older.fingerprint().to_owned(),
            newer.fingerprint().to_owned(),
        );
        let ring = KeyRing::new([older, newer]);

        assert_eq!(ring.sealing_key().unwrap().fingerprint(), new_fp);
        let default: Vec<_> = ring
            .ordered(&[])
            .iter()
            .map(|k| k.secret_name.clone())
            .collect();
        assert_eq!(default, ["b", "a"]);
        let hinted: Vec<_> = ring
            .ordered(&[&old_fp, "unknown", &old_fp, &new_fp])
            .iter()
            .map(|k| k.secret_name.clone())
            .collect();
        assert_eq!(hinted, ["a", "b"]);
    }

    #[test]
    fn secret_creation_order_lets_an_older_certificate_seal() {
        let created = |name: &str, secs: i64| {
            let pair = KeyPair::generate(&KeyOptions {
                bits: 2048,
                ..KeyOptions::default()
            })
            .unwrap();
            let mut secret = key_secret("ns", &pair).unwrap();
            secret.metadata.name = Some(name.to_owned());
            secret.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
                ));
            secret
        };
        // "imported" holds the newer certificate but its Secret was created first.
        let recreated = created("recreated", 2_000_000_000);
        std::thread::sleep(Duration::from_millis(1100));
        let imported = created("imported", 1_000_000_000);
        let ring = |order| {
            KeyRing::new([
                key_from_secret(&recreated, order).unwrap(),
                key_from_secret(&imported, order).unwrap(),
            ])
        };
        let sealing = |order| ring(order).sealing_key().unwrap().secret_name.clone();
        assert_eq!(sealing(KeyOrder::CertNotBefore), "imported");
        assert_eq!(sealing(KeyOrder::SecretCreationTimestamp), "recreated");
        assert_eq!(
            "SecretCreationTimestamp".parse(),
            Ok(KeyOrder::SecretCreationTimestamp)
        );
        assert!("secretcreationtimestamp".parse::<KeyOrder>().is_err());
    }

    #[test]
    fn key_prefixes_are_checked_as_sealed_secrets_checks_them() {
        assert_eq!(KeyMetadata::check_prefix("sealed-secrets-key"), Ok(()));
        assert_eq!(KeyMetadata::check_prefix("team-a-keys-"), Ok(()));
        assert!(KeyMetadata::check_prefix("Keys").is_err());
        assert!(KeyMetadata::check_prefix("keys.v1").is_err());
        assert!(KeyMetadata::check_prefix(&"k".repeat(246)).is_err());
    }

    #[test]
    fn a_key_is_generated_when_none_or_the_newest_is_before_the_cutoff() {
        let t = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert!(needs_new_key(None, None));
        assert!(needs_new_key(None, Some(t(10))));
        assert!(!needs_new_key(Some(t(10)), None));
        assert!(needs_new_key(Some(t(10)), Some(t(11))));
        assert!(!needs_new_key(Some(t(10)), Some(t(10))));
        assert!(!needs_new_key(Some(t(12)), Some(t(11))));
    }

    #[test]
    fn renewal_is_due_a_period_after_the_newest_key() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let day = Duration::from_secs(86400);
        assert_eq!(renewal_due_in(start, 30 * day, start + day), 29 * day);
        assert_eq!(
            renewal_due_in(start, 30 * day, start + 31 * day),
            Duration::ZERO
        );
    }

    #[test]
    fn key_secret_has_the_sealed_secrets_layout() {
        let pair = KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        })
        .unwrap();
        let secret = key_secret("kube-system", &pair).unwrap();
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(
            secret.metadata.generate_name.as_deref(),
            Some("sealed-secrets-key")
        );
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap()[KEY_LABEL],
            "active"
        );
        let key = key_from_secret(&secret, KeyOrder::default()).unwrap();
        assert_eq!(key.fingerprint(), pair.private_key().fingerprint());
        assert!(
            std::str::from_utf8(&secret.data.as_ref().unwrap()[TLS_KEY].0)
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----")
        );
    }

    #[test]
    fn broken_key_secrets_are_named() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("sealed-secrets-key".into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        };
        let error = key_from_secret(&secret, KeyOrder::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "key Secret sealed-secrets-key: missing tls.key"
        );
    }
}
