//! Whether the API server serves each family's custom resources, so that a missing CRD of one family
//! (an ESO-only cluster without `sealedsecrets.bitnami.com`, or the reverse) holds back only the part
//! of the controller that needs it: that part waits for its CRD, says so in the log and in
//! `kseal_crd_served{crd}`, and the rest runs.

use std::time::Duration;

use kube::Client;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// How often a missing CRD is looked for again.
pub const POLL: Duration = Duration::from_secs(10);

/// A custom resource one part of the controller watches.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// `group/version`, as the API server serves it.
    pub group_version: &'static str,
    /// The plural name.
    pub plural: &'static str,
    /// The CRD's name (`plural.group`), for the log and the metric.
    pub crd: &'static str,
    /// The part of the controller that waits for it.
    pub part: &'static str,
}

/// SealedSecrets, which the unsealer watches.
pub const SEALED_SECRETS: Resource = Resource {
    group_version: "bitnami.com/v1alpha1",
    plural: "sealedsecrets",
    crd: "sealedsecrets.bitnami.com",
    part: "the unsealer",
};

/// ExternalSecrets (`v1`), which the sync watches (with its stores).
pub const EXTERNAL_SECRETS: Resource = Resource {
    group_version: "external-secrets.io/v1",
    plural: "externalsecrets",
    crd: "externalsecrets.external-secrets.io",
    part: "the sync",
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CrdLabels {
    crd: &'static str,
}

/// `kseal_crd_served{crd}`: 1 while the API server serves the resource, 0 while kseal waits for it.
#[derive(Debug, Clone, Default)]
pub struct Served {
    gauge: Family<CrdLabels, Gauge>,
}

impl Served {
    /// Registers the family in the `kseal` registry.
    pub fn register(kseal: &mut Registry) -> Self {
        let served = Served::default();
        kseal.register(
            "crd_served",
            "Whether the API server serves a custom resource kseal watches (1), or kseal waits for its CRD (0)",
            served.gauge.clone(),
        );
        served
    }

    /// Returns once `resource` is served; until then logs that its part waits, and looks again every
    /// [`POLL`]. `on_missing` runs once if it is not served at first (so readiness can reflect what is
    /// served).
    pub async fn wait(&self, client: &Client, resource: Resource, on_missing: impl FnOnce()) {
        // The family's guard is not held across an await (it is not Send).
        let set = |value| {
            self.gauge
                .get_or_create(&CrdLabels { crd: resource.crd })
                .set(value);
        };
        let mut on_missing = Some(on_missing);
        loop {
            let served = match client
                .list_api_group_resources(resource.group_version)
                .await
            {
                Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource.plural)),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                Err(error) => Err(error),
            };
            match served {
                Ok(true) => {
                    if on_missing.is_none() {
                        tracing::info!(
                            crd = resource.crd,
                            "the CRD is served: {} starts",
                            resource.part
                        );
                    }
                    set(1);
                    return;
                }
                Ok(false) => {
                    set(0);
                    if let Some(on_missing) = on_missing.take() {
                        tracing::warn!(
                            crd = resource.crd,
                            "the API server does not serve {}/{}: {} waits for the CRD (install it, e.g. from the chart's crds/)",
                            resource.group_version,
                            resource.plural,
                            resource.part,
                        );
                        on_missing();
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, crd = resource.crd, "looking for the CRD");
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
