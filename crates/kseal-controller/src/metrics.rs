//! Counters of the unsealer, served at `/metrics` in the Prometheus text format.
//!
//! A first set; the histograms and per-reason counters of the issue come later.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of every metric name.
pub const PREFIX: &str = "kseal";

/// The unsealer's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    failures: AtomicU64,
    decryptions: AtomicU64,
}

impl Metrics {
    /// One reconcile finished (successfully or not).
    pub fn reconciled(&self, failed: bool) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One SealedSecret was decrypted (private-key work was done).
    pub fn decrypted(&self) {
        self.decryptions.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            (
                "unseal_reconciles_total",
                "SealedSecret reconciles run.",
                &self.reconciles,
            ),
            (
                "unseal_failures_total",
                "SealedSecret reconciles that failed.",
                &self.failures,
            ),
            (
                "unseal_decryptions_total",
                "SealedSecrets decrypted; an up-to-date Secret is not decrypted again.",
                &self.decryptions,
            ),
        ] {
            let value = value.load(Ordering::Relaxed);
            let _ = write!(
                out,
                "# HELP {PREFIX}_{name} {help}\n# TYPE {PREFIX}_{name} counter\n{PREFIX}_{name} {value}\n"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.reconciled(false);
        metrics.reconciled(true);
        metrics.decrypted();
        let text = metrics.render();
        assert!(text.contains(
            "# TYPE kseal_unseal_reconciles_total counter\nkseal_unseal_reconciles_total 2\n"
        ));
        assert!(text.contains("\nkseal_unseal_failures_total 1\n"));
        assert!(text.contains("\nkseal_unseal_decryptions_total 1\n"));
    }
}
