//! ESO's own metric families, with its names, labels and meanings, beside kseal's, so dashboards and
//! alerts written for ESO keep working:
//!
//! | family | type | meaning |
//! | --- | --- | --- |
//! | `externalsecret_sync_calls_total{name,namespace}` | counter | reconciles of the ExternalSecret |
//! | `externalsecret_sync_calls_error{name,namespace}` | counter (no `_total`, as ESO names it) | failed reconciles |
//! | `externalsecret_reconcile_duration{name,namespace}` | gauge | the last reconcile's duration, in nanoseconds (ESO sets a Go `time.Duration`) |
//! | `externalsecret_status_condition{name,namespace,condition,status}` | gauge | 1 for the status the condition has, 0 for the opposite one |
//! | `externalsecret_provider_api_calls_count{provider,call,status}` | counter (no `_total`) | calls to the provider: `AWS/SecretsManager` or `AWS/ParameterStore`, the operation, `success` or `error` |
//! | `secretstore_status_condition{name,namespace,condition,status}`, `clustersecretstore_status_condition{name,namespace,condition,status}` | gauge | as for ExternalSecrets |
//! | `clusterexternalsecret_status_condition{name,namespace,condition,status}` | gauge | as for ExternalSecrets (ESO sets it only while `Ready` is `True`) |
//! | `clusterexternalsecret_reconcile_duration{name,namespace}` | gauge | the last reconcile's duration, in nanoseconds |
//!
//! The per-object families are computed at each scrape from the sync's watch caches, so a deleted
//! object's series go with it (ESO keeps them until it restarts). Families without `_total` are served
//! with type `unknown`: OpenMetrics requires counters to end in `_total`, and the series names are
//! what queries use.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::runtime::reflector::Store;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::cluster::WatchedClusterExternalSecret;
use crate::watched::{WatchedClusterSecretStore, WatchedExternalSecret, WatchedSecretStore};

/// ESO's provider label of AWS Secrets Manager calls.
const PROVIDER_AWS_SM: &str = "AWS/SecretsManager";
/// ESO's provider label of AWS Parameter Store calls.
const PROVIDER_AWS_PS: &str = "AWS/ParameterStore";

/// ESO's provider and call labels of a provider operation. ESO names its DescribeParameters calls
/// `DescribeParameter`; GetParameters (kseal's batched read) has no ESO name of its own.
fn eso_call(operation: &'static str) -> (&'static str, &'static str) {
    match crate::provider::aws::error::service_of(operation) {
        crate::provider::aws::error::PARAMETER_STORE => (
            PROVIDER_AWS_PS,
            match operation {
                "DescribeParameters" => "DescribeParameter",
                operation => operation,
            },
        ),
        _ => (PROVIDER_AWS_SM, operation),
    }
}

/// Per-object counts, kept until the object leaves the watch cache.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    calls: u64,
    errors: u64,
    last_duration: Duration,
}

#[derive(Default)]
struct Inner {
    objects: Mutex<HashMap<(String, String), Counts>>,
    api_calls: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    caches: Mutex<Option<Caches>>,
    /// The ClusterExternalSecret reconciler's cache, when it runs.
    cluster_externals: Mutex<Option<Store<WatchedClusterExternalSecret>>>,
    /// The last reconcile's duration per ClusterExternalSecret, kept while it is in that cache.
    cluster_durations: Mutex<BTreeMap<String, Duration>>,
}

#[derive(Clone)]
struct Caches {
    externals: Store<WatchedExternalSecret>,
    stores: Store<WatchedSecretStore>,
    cluster_stores: Store<WatchedClusterSecretStore>,
}

/// ESO's families; cheap to clone.
#[derive(Clone, Default)]
pub struct EsoMetrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EsoMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsoMetrics").finish_non_exhaustive()
    }
}

impl EsoMetrics {
    /// Registers the families in the root registry (ESO's names have no prefix).
    pub fn register(root: &mut Registry) -> Self {
        let metrics = EsoMetrics::default();
        root.register_collector(Box::new(metrics.clone()));
        metrics
    }

    /// Reads the per-object families from these caches while the sync runs.
    pub(crate) fn attach(
        &self,
        externals: Store<WatchedExternalSecret>,
        stores: Store<WatchedSecretStore>,
        cluster_stores: Store<WatchedClusterSecretStore>,
    ) {
        *self
            .inner
            .caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Caches {
            externals,
            stores,
            cluster_stores,
        });
    }

    /// Reads the ClusterExternalSecret families from this cache while their reconciler runs.
    pub(crate) fn attach_cluster_externals(&self, cache: Store<WatchedClusterExternalSecret>) {
        *self
            .inner
            .cluster_externals
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cache);
    }

    /// One reconcile of the ClusterExternalSecret `name` took `elapsed`.
    pub(crate) fn cluster_reconciled(&self, name: &str, elapsed: Duration) {
        self.inner
            .cluster_durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), elapsed);
    }

    /// One reconcile of `namespace/name` took `elapsed`, and failed when `failed`.
    pub(crate) fn reconciled(&self, namespace: &str, name: &str, elapsed: Duration, failed: bool) {
        let mut objects = self
            .inner
            .objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let counts = objects
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default();
        counts.calls += 1;
        counts.errors += u64::from(failed);
        counts.last_duration = elapsed;
    }

    /// One provider call `operation` with `result` (`success` or an error label).
    pub(crate) fn provider_call(&self, operation: &'static str, result: &str) {
        let status = if result == "success" {
            "success"
        } else {
            "error"
        };
        *self
            .inner
            .api_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((operation, status))
            .or_default() += 1;
    }
}

/// The `status_condition` series of one object: for each condition, 1 for its status and 0 for the
/// opposite one (ESO's toggle), from a status' `conditions`.
fn condition_series(
    conditions: impl Iterator<Item = (String, String)>,
) -> Vec<(String, &'static str, i64)> {
    let mut series = Vec::new();
    for (type_, status) in conditions {
        match status.as_str() {
            "True" => {
                series.push((type_.clone(), "True", 1));
                series.push((type_, "False", 0));
            }
            "False" => {
                series.push((type_.clone(), "False", 1));
                series.push((type_, "True", 0));
            }
            _ => series.push((type_, "Unknown", 1)),
        }
    }
    series
}

/// Conditions of a store's untyped status.
fn store_conditions(status: Option<&serde_json::Value>) -> Vec<(String, String)> {
    status
        .and_then(|s| s["conditions"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["type"].as_str()?.to_owned(),
                c["status"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn encode_conditions<'a>(
    encoder: &mut DescriptorEncoder,
    family: &str,
    help: &str,
    objects: impl Iterator<Item = (&'a str, &'a str, Vec<(String, String)>)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(family, help, None, MetricType::Gauge)?;
    for (namespace, name, conditions) in objects {
        for (condition, status, value) in condition_series(conditions.into_iter()) {
            let labels = [
                ("name", name),
                ("namespace", namespace),
                ("condition", condition.as_str()),
                ("status", status),
            ];
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

impl EsoMetrics {
    /// The ClusterExternalSecret families, when their reconciler runs.
    fn encode_cluster_externals(
        &self,
        encoder: &mut DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let Some(cache) = self
            .inner
            .cluster_externals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return Ok(());
        };
        let all = cache.state();
        let durations = {
            let mut durations = self
                .inner
                .cluster_durations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let present: std::collections::HashSet<String> = all
                .iter()
                .filter_map(|ces| ces.metadata.name.clone())
                .collect();
            durations.retain(|name, _| present.contains(name));
            durations.clone()
        };
        let mut metric = encoder.encode_descriptor(
            "clusterexternalsecret_reconcile_duration",
            "The duration time to reconcile the Cluster External Secret",
            None,
            MetricType::Gauge,
        )?;
        for (name, elapsed) in &durations {
            let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
            let labels = [("name", name.as_str()), ("namespace", "")];
            ConstGauge::new(nanos).encode(metric.encode_family(&labels)?)?;
        }
        encode_conditions(
            encoder,
            "clusterexternalsecret_status_condition",
            "The status condition of a specific Cluster External Secret",
            all.iter().map(|ces| {
                let conditions = ces
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter())
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect();
                (
                    "",
                    ces.metadata.name.as_deref().unwrap_or_default(),
                    conditions,
                )
            }),
        )
    }
}

impl prometheus_client::collector::Collector for EsoMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.encode_cluster_externals(&mut encoder)?;
        {
            let calls = self
                .inner
                .api_calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut metric = encoder.encode_descriptor(
                "externalsecret_provider_api_calls_count",
                "Number of API calls towards the secret provider",
                None,
                MetricType::Unknown,
            )?;
            for ((operation, status), count) in calls {
                let (provider, call) = eso_call(operation);
                let labels = [("provider", provider), ("call", call), ("status", status)];
                ConstGauge::new(count as i64).encode(metric.encode_family(&labels)?)?;
            }
        }
        let Some(caches) = self
            .inner
            .caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return Ok(());
        };
        let externals = caches.externals.state();
        // Counts of objects gone from the cache are dropped here, so the map stays bounded.
        let counts: Vec<((String, String), Counts)> = {
            let mut objects = self
                .inner
                .objects
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let present: std::collections::HashSet<(String, String)> = externals
                .iter()
                .map(|es| {
                    (
                        es.metadata.namespace.clone().unwrap_or_default(),
                        es.metadata.name.clone().unwrap_or_default(),
                    )
                })
                .collect();
            objects.retain(|key, _| present.contains(key));
            let mut counts: Vec<_> = objects.iter().map(|(k, v)| (k.clone(), *v)).collect();
            counts.sort_by(|a, b| a.0.cmp(&b.0));
            counts
        };
        let labels_of = |(namespace, name): &(String, String)| {
            [("name", name.clone()), ("namespace", namespace.clone())]
        };
        let mut calls = encoder.encode_descriptor(
            "externalsecret_sync_calls",
            "Total number of the External Secret sync calls",
            None,
            MetricType::Counter,
        )?;
        for (key, count) in &counts {
            ConstCounter::new(count.calls).encode(calls.encode_family(&labels_of(key))?)?;
        }
        let mut errors = encoder.encode_descriptor(
            "externalsecret_sync_calls_error",
            "Total number of the External Secret sync errors",
            None,
            MetricType::Unknown,
        )?;
        for (key, count) in &counts {
            ConstGauge::new(count.errors as i64).encode(errors.encode_family(&labels_of(key))?)?;
        }
        let mut durations = encoder.encode_descriptor(
            "externalsecret_reconcile_duration",
            "The duration time to reconcile the External Secret",
            None,
            MetricType::Gauge,
        )?;
        for (key, count) in &counts {
            let nanos = i64::try_from(count.last_duration.as_nanos()).unwrap_or(i64::MAX);
            ConstGauge::new(nanos).encode(durations.encode_family(&labels_of(key))?)?;
        }
        encode_conditions(
            &mut encoder,
            "externalsecret_status_condition",
            "The status condition of a specific External Secret",
            externals.iter().map(|es| {
                let conditions = es
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter())
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect();
                (
                    es.metadata.namespace.as_deref().unwrap_or_default(),
                    es.metadata.name.as_deref().unwrap_or_default(),
                    conditions,
                )
            }),
        )?;
        let stores = caches.stores.state();
        encode_conditions(
            &mut encoder,
            "secretstore_status_condition",
            "The status condition of a specific secret store",
            stores.iter().map(|store| {
                (
                    store.metadata.namespace.as_deref().unwrap_or_default(),
                    store.metadata.name.as_deref().unwrap_or_default(),
                    store_conditions(store.status.as_ref()),
                )
            }),
        )?;
        let cluster_stores = caches.cluster_stores.state();
        encode_conditions(
            &mut encoder,
            "clustersecretstore_status_condition",
            "The status condition of a specific cluster secret store",
            cluster_stores.iter().map(|store| {
                (
                    "",
                    store.metadata.name.as_deref().unwrap_or_default(),
                    store_conditions(store.status.as_ref()),
                )
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_gives_its_status_1_and_the_opposite_0() {
        let series = condition_series([("Ready".to_owned(), "False".to_owned())].into_iter());
        assert_eq!(
            series,
            [
                ("Ready".to_owned(), "False", 1),
                ("Ready".to_owned(), "True", 0)
            ]
        );
    }

    #[test]
    fn families_render_with_esos_names() {
        let mut registry = Registry::default();
        let metrics = EsoMetrics::register(&mut registry);
        metrics.provider_call("GetSecretValue", "success");
        metrics.provider_call("GetSecretValue", "not_found");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "externalsecret_provider_api_calls_count{provider=\"AWS/SecretsManager\",call=\"GetSecretValue\",status=\"success\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("call=\"GetSecretValue\",status=\"error\"} 1"),
            "{text}"
        );
    }
}
