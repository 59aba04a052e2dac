//! Metrics with one convention: the binary makes one registry and hands every component
//! [`kseal`]'s sub-registry (prefix `kseal`); each component registers its families under its own
//! name inside it (`kseal_unseal_*`, `kseal_sync_*`, `kseal_http_*`). Error labels are short fixed
//! strings (`&'static str`), never text from an object.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Prefix of every kseal metric.
pub const PREFIX: &str = "kseal";

/// The sub-registry every component registers in (prefix [`PREFIX`]).
pub fn kseal(root: &mut Registry) -> &mut Registry {
    root.sub_registry_with_prefix(PREFIX)
}

/// Label set of failures: the error's short fixed label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Short fixed label of the failure.
    pub reason: &'static str,
}

/// Names and help texts of a reconciler's families, inside its component's prefix.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileNames {
    /// Counter of reconciles run: name and help.
    pub runs: (&'static str, &'static str),
    /// Counter of failures by reason: name and help.
    pub errors: (&'static str, &'static str),
    /// Histogram of reconcile durations: name and help.
    pub duration: (&'static str, &'static str),
    /// Number of histogram buckets, doubling from 5 ms.
    pub buckets: u16,
}

/// A reconciler's run counter, failure counter (by reason) and duration histogram.
#[derive(Debug, Clone)]
pub struct ReconcileMetrics {
    runs: Counter,
    errors: Family<ReasonLabels, Counter>,
    duration: Histogram,
}

impl ReconcileMetrics {
    /// Registers the families `names` in `registry` (a component's sub-registry).
    pub fn register(registry: &mut Registry, names: &ReconcileNames) -> Self {
        let metrics = ReconcileMetrics {
            runs: Counter::default(),
            errors: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, names.buckets)),
        };
        registry.register(names.runs.0, names.runs.1, metrics.runs.clone());
        registry.register(names.errors.0, names.errors.1, metrics.errors.clone());
        registry.register(names.duration.0, names.duration.1, metrics.duration.clone());
        metrics
    }

    /// One reconcile finished after `elapsed`; `error` is the label of its failure, if it failed.
    pub fn reconciled(&self, elapsed: Duration, error: Option<&'static str>) {
        self.runs.inc();
        self.duration.observe(elapsed.as_secs_f64());
        if let Some(reason) = error {
            self.failed(reason);
        }
    }

    /// A failure that is not a run (counted in the failure counter only).
    pub fn failed(&self, reason: &'static str) {
        self.errors.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// Content type of [`render`]'s output (OpenMetrics text, which Prometheus scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders `registry` (every component's families) in the format of [`CONTENT_TYPE`].
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; a collector's error would only truncate the output.
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(%error, "cannot render metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_under_the_kseal_and_component_prefixes() {
        let mut root = Registry::default();
        let names = ReconcileNames {
            runs: ("runs", "reconciles run"),
            errors: ("errors", "failures"),
            duration: ("duration_seconds", "time"),
            buckets: 3,
        };
        let metrics =
            ReconcileMetrics::register(kseal(&mut root).sub_registry_with_prefix("demo"), &names);
        metrics.reconciled(Duration::from_millis(1), Some("api"));
        metrics.failed("api");
        let text = render(&root);
        assert!(text.contains("kseal_demo_runs_total 1"), "{text}");
        assert!(
            text.contains("kseal_demo_errors_total{reason=\"api\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kseal_demo_duration_seconds_count 1"),
            "{text}"
        );
    }
}
