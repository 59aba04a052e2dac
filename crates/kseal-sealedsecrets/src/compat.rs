//! The sealed-secrets controller's own metric families, with its names, labels and meanings, served beside
//! kseal's: the dashboards and alerts written for sealed-secrets (its Prometheus mixin) keep working after
//! the swap. They are registered in the root registry, outside the `kseal` prefix.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `sealed_secrets_controller_unseal_requests_total` | counter | SealedSecret reconciles run |
//! | `sealed_secrets_controller_unseal_errors_total{reason,namespace}` | counter | failures: `unseal` (no key opens it, malformed, template), `update` (the Secret could not be written), `unmanaged` (a Secret of that name exists and is not the SealedSecret's), `status` (the status could not be written) |
//! | `sealed_secrets_controller_condition_info{namespace,name,condition,ss_app_kubernetes_io_instance}` | gauge | each SealedSecret's status conditions: 1 true, -1 false, 0 unknown; absent with `--metrics-omit-secret-labels` |
//! | `sealed_secrets_controller_build_info{revision}` | gauge | 1, with the version |
//!
//! The HTTP families (`sealed_secrets_controller_http_requests_total`, `…_http_request_duration_seconds`)
//! are the controller binary's, which serves the routes.

use std::sync::{Mutex, PoisonError};

use kube::runtime::reflector::Store;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::Error;
use crate::watched::WatchedSealedSecret;

/// Prefix of sealed-secrets' metric families.
pub const PREFIX: &str = "sealed_secrets_controller";

/// The SealedSecret label sealed-secrets copies into `condition_info` (as `ss_app_kubernetes_io_instance`).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// `unseal_errors_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    reason: &'static str,
    namespace: String,
}

/// The sealed-secrets families the unsealer feeds.
#[derive(Debug)]
pub struct Compat {
    requests: Counter,
    errors: Family<ErrorLabels, Counter>,
}

impl Compat {
    /// Registers the families in `root` (the registry's root: the names carry their own prefix).
    /// `omit_secret_labels` leaves out `condition_info`, which names every SealedSecret, as sealed-secrets'
    /// `--metrics-omit-secret-labels` does.
    pub fn register(
        root: &mut Registry,
        version: &str,
        omit_secret_labels: bool,
    ) -> (Self, Conditions) {
        let compat = Compat {
            requests: Counter::default(),
            errors: Family::default(),
        };
        let conditions = Conditions::default();
        let registry = root.sub_registry_with_prefix(PREFIX);
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            compat.requests.clone(),
        );
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            compat.errors.clone(),
        );
        let build = Gauge::<i64>::default();
        build.set(1);
        registry
            .sub_registry_with_label(("revision".into(), version.to_owned().into()))
            .register("build_info", "Build information.", build);
        if !omit_secret_labels {
            registry.register_collector(Box::new(conditions.clone()));
        }
        (compat, conditions)
    }

    /// One reconcile ran.
    pub fn requested(&self) {
        self.requests.inc();
    }

    /// The reconcile of a SealedSecret in `namespace` failed with `error`.
    pub fn failed(&self, namespace: &str, error: &Error) {
        self.count(namespace, reason(error));
    }

    /// Writing the status of a SealedSecret in `namespace` failed.
    pub fn status_failed(&self, namespace: &str) {
        self.count(namespace, "status");
    }

    fn count(&self, namespace: &str, reason: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                reason,
                namespace: namespace.to_owned(),
            })
            .inc();
    }
}

/// sealed-secrets' reason for a failure: the Secret could not be written (`update`), one of that name is
/// not the SealedSecret's (`unmanaged`), or it does not open (`unseal`).
fn reason(error: &Error) -> &'static str {
    match error {
        Error::Kube(_) | Error::Update { .. } | Error::Task(_) => "update",
        Error::SecretExists { .. } | Error::ProtectedSecret { .. } => "unmanaged",
        Error::Unseal(_)
        | Error::Invalid { .. }
        | Error::NoKeys
        | Error::KeySecret { .. }
        | Error::KeyGeneration(_) => "unseal",
    }
}

/// `condition_info`, computed at each scrape from the unsealer's watch of the SealedSecrets and the
/// statuses they carry, so a deleted SealedSecret's series goes with it. Absent on a replica that does
/// not unseal.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// One store per running unsealer (one per watched namespace with `--additional-namespaces`).
    stores: std::sync::Arc<Mutex<Vec<Tagged>>>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Conditions {
    /// Reads from `store` too, until the returned guard is dropped (the unsealer stopped).
    pub fn attach(&self, store: Store<WatchedSealedSecret>) -> Attached {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, store));
        Attached {
            conditions: self.clone(),
            id,
        }
    }
}

/// A store and the id of its [`Attached`] guard.
type Tagged = (u64, Store<WatchedSealedSecret>);

/// A store [`Conditions`] reads from while this lives.
#[derive(Debug)]
pub struct Attached {
    conditions: Conditions,
    id: u64,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.conditions
            .stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _)| *id != self.id);
    }
}

impl prometheus_client::collector::Collector for Conditions {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stores: Vec<Store<WatchedSealedSecret>> = self
            .stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, store)| store.clone())
            .collect();
        if stores.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for sealed in stores.iter().flat_map(Store::state) {
            let Some(status) = &sealed.status else {
                continue;
            };
            let namespace = sealed.metadata.namespace.as_deref().unwrap_or_default();
            let name = sealed.metadata.name.as_deref().unwrap_or_default();
            let instance = sealed
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(INSTANCE_LABEL))
                .map_or("", String::as_str);
            for condition in &status.conditions {
                let labels = [
                    ("namespace", namespace),
                    ("name", name),
                    ("condition", condition.type_.as_str()),
                    ("ss_app_kubernetes_io_instance", instance),
                ];
                ConstGauge::new(gauge_value(&condition.status))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// sealed-secrets' value of a condition status: `True` 1, `False` -1, anything else 0.
fn gauge_value(status: &str) -> i64 {
    match status {
        "True" => 1,
        "False" => -1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_reasons_sealed_secrets_alerts_on() {
        assert_eq!(reason(&Error::NoKeys), "unseal");
        assert_eq!(
            reason(&Error::SecretExists { name: "s".into() }),
            "unmanaged"
        );
        assert_eq!(gauge_value("True"), 1);
        assert_eq!(gauge_value("False"), -1);
        assert_eq!(gauge_value("Unknown"), 0);
    }

    #[test]
    fn families_carry_sealed_secrets_names_and_labels() {
        let mut root = Registry::default();
        let (compat, _conditions) = Compat::register(&mut root, "v1.2.3", false);
        compat.requested();
        compat.failed("team-a", &Error::NoKeys);
        compat.status_failed("team-a");
        let text = kseal_runtime::metrics::render(&root);
        assert!(
            text.contains("sealed_secrets_controller_unseal_requests_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"sealed_secrets_controller_unseal_errors_total{reason="unseal",namespace="team-a"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"sealed_secrets_controller_unseal_errors_total{reason="status",namespace="team-a"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"sealed_secrets_controller_build_info{revision="v1.2.3"} 1"#),
            "{text}"
        );
    }
}
