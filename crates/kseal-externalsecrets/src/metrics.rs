//! Metrics of the sync, registered into the controller's prometheus-client registry under `kseal_externalsecrets`.

use std::time::Duration;

use kseal_runtime::metrics::{ReconcileMetrics, ReconcileNames};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label set of provider calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// AWS operation, e.g. `BatchGetSecretValue`.
    pub operation: String,
    /// `success` or the error label.
    pub result: String,
}

/// The sync's reconcile families, inside `kseal_sync`.
const NAMES: ReconcileNames = ReconcileNames {
    runs: ("runs", "ExternalSecret refreshes that read remote data"),
    errors: ("errors", "ExternalSecret reconciles that failed, by reason"),
    duration: (
        "reconcile_duration_seconds",
        "Duration of ExternalSecret reconciles that refreshed",
    ),
    // 5 ms to ~40 s.
    buckets: 14,
};

/// The sync's metrics.
#[derive(Clone, Debug)]
pub struct SyncMetrics {
    reconciles: ReconcileMetrics,
    provider_calls: Family<CallLabels, Counter>,
    /// ESO's own families (registered apart, at the root: they have no prefix).
    eso: crate::eso_metrics::EsoMetrics,
}

impl SyncMetrics {
    /// Registers the sync's metrics in `registry`, the `kseal` component registry (prefix `sync`).
    pub fn register(registry: &mut Registry) -> SyncMetrics {
        let registry = registry.sub_registry_with_prefix("sync");
        let metrics = SyncMetrics {
            reconciles: ReconcileMetrics::register(registry, &NAMES),
            provider_calls: Family::default(),
            eso: crate::eso_metrics::EsoMetrics::default(),
        };
        registry.register(
            "provider_calls",
            "Calls to the secret provider, by operation and result",
            metrics.provider_calls.clone(),
        );
        metrics
    }

    /// These metrics, also counting into ESO's families `eso` (see [`crate::eso_metrics`]).
    pub fn with_eso(mut self, eso: crate::eso_metrics::EsoMetrics) -> Self {
        self.eso = eso;
        self
    }

    /// ESO's families.
    pub fn eso(&self) -> &crate::eso_metrics::EsoMetrics {
        &self.eso
    }

    /// A refresh finished after `elapsed`, failed with `error` when set.
    pub fn synced(&self, elapsed: Duration, error: Option<&'static str>) {
        self.reconciles.reconciled(elapsed, error);
    }

    /// A reconcile failed before reading remote data.
    pub fn failed(&self, reason: &'static str) {
        self.reconciles.failed(reason);
    }

    /// One provider call.
    pub fn provider_call(&self, operation: &str, result: &str) {
        self.provider_calls
            .get_or_create(&CallLabels {
                operation: operation.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }
}

impl crate::provider::aws::CallObserver for SyncMetrics {
    fn call(&self, operation: &'static str, result: &'static str) {
        self.provider_call(operation, result);
        // ESO's family counts Secrets Manager calls (`provider="AWS/SecretsManager"`); STS calls
        // (roles, the store checks) are kseal's family only.
        if !STS_OPERATIONS.contains(&operation) {
            self.eso.provider_call(operation, result);
        }
    }
}

/// The STS operations the AWS provider calls.
const STS_OPERATIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "GetCallerIdentity",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_the_sync_prefix() {
        let mut registry = Registry::with_prefix("kseal");
        let metrics = SyncMetrics::register(&mut registry);
        metrics.synced(Duration::from_millis(20), None);
        metrics.synced(Duration::from_millis(20), Some("not_found"));
        metrics.provider_call("BatchGetSecretValue", "success");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("kseal_sync_runs_total 2"), "{text}");
        assert!(
            text.contains("kseal_sync_errors_total{reason=\"not_found\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "kseal_sync_provider_calls_total{operation=\"BatchGetSecretValue\",result=\"success\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn sts_calls_count_in_kseals_family_only() {
        use crate::provider::aws::CallObserver as _;
        let mut registry = Registry::default();
        let metrics = SyncMetrics::register(&mut registry)
            .with_eso(crate::eso_metrics::EsoMetrics::register(&mut registry));
        metrics.call("GetCallerIdentity", "success");
        metrics.call("GetSecretValue", "success");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "provider_calls_total{operation=\"GetCallerIdentity\",result=\"success\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("call=\"GetSecretValue\""), "{text}");
        assert!(!text.contains("call=\"GetCallerIdentity\""), "{text}");
    }
}
