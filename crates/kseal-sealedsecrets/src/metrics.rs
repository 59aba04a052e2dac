//! The unsealer's metrics, registered in the component registry the binary hands out (prefix `kseal`,
//! see `kseal_runtime::metrics`), beside every other component's families.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `kseal_unseal_runs_total` | counter | SealedSecret reconciles run |
//! | `kseal_unseal_errors_total{reason}` | counter | failed reconciles, by [`crate::Error::label`] |
//! | `kseal_unseal_decryptions_total` | counter | SealedSecrets decrypted (an up-to-date Secret is not) |
//! | `kseal_unseal_rsa_operations_total` | counter | RSA private-key operations: one per key tried per value |
//! | `kseal_unseal_duration_seconds` | histogram | time of one reconcile |
//! | `kseal_sealedsecrets_per_key{fingerprint}` | gauge | SealedSecrets each key last decrypted |
//! | `kseal_sealing_certificate_expiry_timestamp_seconds` | gauge | when the sealing certificate expires |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use kseal_runtime::metrics::{ReconcileMetrics, ReconcileNames};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::Error;
use crate::compat::{Compat, Conditions};

/// Name of the per-key gauge, inside the `kseal` prefix.
const PER_KEY_GAUGE: &str = "sealedsecrets_per_key";

/// The unsealer's reconcile families, inside `kseal_unseal`.
const NAMES: ReconcileNames = ReconcileNames {
    runs: ("runs", "SealedSecret reconciles run"),
    errors: ("errors", "SealedSecret reconciles that failed, by reason"),
    duration: ("duration_seconds", "Duration of one SealedSecret reconcile"),
    // 5 ms to ~20 s.
    buckets: 13,
};

/// The unsealer's metric families. Cheap to share: every family is reference-counted inside.
#[derive(Debug)]
pub struct Metrics {
    reconciles: ReconcileMetrics,
    decryptions: Counter,
    rsa_operations: Counter,
    key_usage: Arc<KeyUsage>,
    /// sealed-secrets' families, when the binary serves them.
    compat: Option<(Compat, Conditions)>,
}

impl Metrics {
    /// Registers the unsealer's families in `registry`, the `kseal` component registry.
    pub fn register(registry: &mut Registry) -> Self {
        let key_usage = Arc::<KeyUsage>::default();
        registry.register_collector(Box::new(key_usage.clone()));
        let unseal = registry.sub_registry_with_prefix("unseal");
        let metrics = Metrics {
            reconciles: ReconcileMetrics::register(unseal, &NAMES),
            decryptions: Counter::default(),
            rsa_operations: Counter::default(),
            key_usage,
            compat: None,
        };
        unseal.register(
            "decryptions",
            "SealedSecrets decrypted; an up-to-date Secret is not decrypted again",
            metrics.decryptions.clone(),
        );
        unseal.register(
            "rsa_operations",
            "RSA private-key operations of the unsealer: one per key tried on each value",
            metrics.rsa_operations.clone(),
        );
        metrics
    }

    /// Also feeds sealed-secrets' families (see [`crate::compat`]).
    pub fn with_compat(mut self, compat: Compat, conditions: Conditions) -> Self {
        self.compat = Some((compat, conditions));
        self
    }

    /// One reconcile of a SealedSecret in `namespace` finished after `duration`: `unseal` is its
    /// failure, if it failed, and `status` the failure to write its status.
    pub fn reconciled(
        &self,
        namespace: &str,
        duration: Duration,
        unseal: Option<&Error>,
        status: Option<&Error>,
    ) {
        self.reconciles
            .reconciled(duration, unseal.or(status).map(Error::label));
        if let Some((compat, _)) = &self.compat {
            compat.requested();
            if let Some(error) = unseal {
                compat.failed(namespace, error);
            }
            if status.is_some() {
                compat.status_failed(namespace);
            }
        }
    }

    /// Where sealed-secrets' `condition_info` reads from while this replica unseals.
    pub fn conditions(&self) -> Option<&Conditions> {
        self.compat.as_ref().map(|(_, conditions)| conditions)
    }

    /// One SealedSecret was decrypted (or decryption was attempted) with `rsa_operations` private-key
    /// operations.
    pub fn decrypted(&self, rsa_operations: u64) {
        self.decryptions.inc();
        self.rsa_operations.inc_by(rsa_operations);
    }

    /// Where `kseal_sealedsecrets_per_key` reads from while this replica unseals.
    pub fn key_usage(&self) -> &KeyUsage {
        &self.key_usage
    }
}

/// What the per-key gauge reports: implemented by the unsealer, which knows the keys and which key last
/// opened each live SealedSecret.
pub trait KeyUsageSource: Send + Sync + 'static {
    /// Fingerprints of the active keys.
    fn key_fingerprints(&self) -> Vec<String>;
    /// For each SealedSecret that exists now, the fingerprint of the key that last decrypted it.
    fn last_keys(&self) -> Vec<String>;
}

/// The `kseal_sealedsecrets_per_key` gauge, computed at each scrape from the current [`KeyUsageSource`].
/// Without one (a replica that does not lead), the gauge is absent rather than zero.
#[derive(Default)]
pub struct KeyUsage {
    /// One source per unsealer (one per watched namespace with `--additional-namespaces`).
    sources: Mutex<Vec<Weak<dyn KeyUsageSource>>>,
}

impl std::fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUsage").finish_non_exhaustive()
    }
}

impl KeyUsage {
    /// Reads from `source` too from now on, for as long as it lives.
    pub fn attach(&self, source: Weak<dyn KeyUsageSource>) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.retain(|s| s.strong_count() > 0);
        sources.push(source);
    }

    /// The sources still alive.
    fn sources(&self) -> Vec<Arc<dyn KeyUsageSource>> {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

impl prometheus_client::collector::Collector for KeyUsage {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = self.sources();
        let Some(first) = sources.first() else {
            return Ok(());
        };
        let counts = count_per_key(
            first.key_fingerprints(),
            sources.iter().flat_map(|source| source.last_keys()),
        );
        let mut family = encoder.encode_descriptor(
            PER_KEY_GAUGE,
            "SealedSecrets each key decrypted last (0: the key no longer opens any)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (fingerprint, count) in counts {
            let labels = [("fingerprint", fingerprint.as_str())];
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Name of the sealing certificate's expiry gauge, inside the `kseal` prefix.
pub const CERTIFICATE_EXPIRY_GAUGE: &str = "sealing_certificate_expiry_timestamp_seconds";

/// `kseal_sealing_certificate_expiry_timestamp_seconds`: when the certificate of the key that seals now
/// expires (Unix time), read from the loaded keys at each scrape. Every replica serves it; alerts compare
/// it with `time()`. Absent until keys are loaded.
#[derive(Debug)]
pub struct CertificateExpiry {
    keys: Arc<crate::keys::SharedKeys>,
}

impl CertificateExpiry {
    /// Registers the gauge for `keys` in `registry`, the `kseal` component registry.
    pub fn register(registry: &mut Registry, keys: Arc<crate::keys::SharedKeys>) {
        registry.register_collector(Box::new(CertificateExpiry { keys }));
    }
}

impl prometheus_client::collector::Collector for CertificateExpiry {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ring = self.keys.get();
        let Some(key) = ring.sealing_key() else {
            return Ok(());
        };
        let expiry = key
            .certificate
            .not_after()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let metric = encoder.encode_descriptor(
            CERTIFICATE_EXPIRY_GAUGE,
            "When the certificate of the sealing key expires (Unix time)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        ConstGauge::new(expiry).encode(metric)
    }
}

/// How many of `last_keys` name each fingerprint; every key of `keys` appears, with 0 when unused.
pub fn count_per_key(
    keys: impl IntoIterator<Item = String>,
    last_keys: impl IntoIterator<Item = String>,
) -> BTreeMap<String, i64> {
    let mut counts: BTreeMap<String, i64> = keys.into_iter().map(|k| (k, 0)).collect();
    for key in last_keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl KeyUsageSource for Fixed {
        fn key_fingerprints(&self) -> Vec<String> {
            vec!["new".into(), "old".into()]
        }
        fn last_keys(&self) -> Vec<String> {
            vec!["new".into(), "new".into()]
        }
    }

    #[test]
    fn renders_every_family_in_the_shared_registry() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(kseal_runtime::metrics::kseal(&mut registry));
        // Another component registers beside the unsealer.
        let other = Counter::<u64>::default();
        kseal_runtime::metrics::kseal(&mut registry)
            .sub_registry_with_prefix("sync")
            .register("refreshes", "refreshes", other.clone());
        other.inc();

        metrics.reconciled("ns", Duration::from_millis(20), None, None);
        metrics.reconciled("ns", Duration::from_millis(30), Some(&Error::NoKeys), None);
        metrics.decrypted(3);
        let source: Arc<dyn KeyUsageSource> = Arc::new(Fixed);
        metrics.key_usage().attach(Arc::downgrade(&source));

        let text = kseal_runtime::metrics::render(&registry);
        for line in [
            "# TYPE kseal_unseal_runs counter",
            "kseal_unseal_runs_total 2",
            "kseal_unseal_errors_total{reason=\"no_keys\"} 1",
            "kseal_unseal_decryptions_total 1",
            "kseal_unseal_rsa_operations_total 3",
            "kseal_unseal_duration_seconds_count 2",
            "kseal_sealedsecrets_per_key{fingerprint=\"new\"} 2",
            "kseal_sealedsecrets_per_key{fingerprint=\"old\"} 0",
            "kseal_sync_refreshes_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");

        // The unsealer is gone (leadership lost): no stale per-key figures.
        drop(source);
        assert!(!kseal_runtime::metrics::render(&registry).contains("sealedsecrets_per_key"));
    }

    #[test]
    fn keys_without_sealed_secrets_count_zero() {
        let counts = count_per_key(
            ["a".to_owned(), "b".to_owned()],
            ["a".to_owned(), "gone".to_owned(), "a".to_owned()],
        );
        assert_eq!(
            counts,
            BTreeMap::from([("a".into(), 2), ("b".into(), 0), ("gone".into(), 1)])
        );
    }
}
