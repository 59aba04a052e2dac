//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder writes.
//!
//! The [`Elector`] acquires the Lease when it is absent, unheld or expired (optimistic concurrency through
//! the resourceVersion), renews it, and reports leadership on a `watch` channel. Leadership ends when a
//! renewal fails for long enough that another replica may take over, and on [`Elector::release`].

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

use kube::Result;

/// Name of the Lease when `--lease-name` is not given.
pub const DEFAULT_LEASE_NAME: &str = "kseal-controller";
/// How long a Lease stays held without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews (and a candidate retries).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(2);

/// How the election runs.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Name of the Lease, in the controller namespace.
    pub name: String,
    /// This replica's `holderIdentity`.
    pub identity: String,
    /// `leaseDurationSeconds` (rounded up to whole seconds).
    pub duration: Duration,
    /// Time between renewals.
    pub renew_interval: Duration,
}

impl LeaseConfig {
    /// Lease `name` with the default timings and this process's [`identity`].
    pub fn new(name: impl Into<String>) -> Self {
        LeaseConfig {
            name: name.into(),
            identity: identity(),
            duration: LEASE_DURATION,
            renew_interval: RENEW_INTERVAL,
        }
    }
}

/// `POD_NAME`, or the host name with a random suffix (two processes on one host must differ).
pub fn identity() -> String {
    if let Some(pod) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
        return pod;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_LEASE_NAME.to_owned());
    let random = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        std::process::id(),
    );
    format!("{host}-{:08x}", random as u32)
}

/// Whether a Lease with `spec` may be taken over at `now`: nobody holds it, or the holder stopped renewing.
pub fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
        return true;
    }
    let (Some(renewed), Some(seconds)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        return true;
    };
    renewed.0.as_millisecond() + i64::from(seconds) * 1000 < now.as_millisecond()
}

/// Acquires and renews one Lease; see the module documentation.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    leader: watch::Sender<bool>,
}

impl Elector {
    /// An elector for the Lease in `namespace`, and the receiver of its leadership (initially `false`).
    pub fn new(
        client: Client,
        namespace: &str,
        config: LeaseConfig,
    ) -> (Self, watch::Receiver<bool>) {
        let (leader, receiver) = watch::channel(false);
        let api = Api::namespaced(client, namespace);
        (
            Elector {
                api,
                config,
                leader,
            },
            receiver,
        )
    }

    /// Acquires or renews every renew interval; never returns. API errors are logged and retried; once
    /// the last renewal is too old to be sure nobody else took over, leadership ends.
    pub async fn run(&self) {
        let mut last_renewed: Option<Instant> = None;
        let margin = self
            .config
            .duration
            .saturating_sub(self.config.renew_interval);
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewed = Some(Instant::now());
                    self.set_leader(true);
                }
                Ok(false) => {
                    last_renewed = None;
                    self.set_leader(false);
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.config.name, "cannot renew the lease");
                    if last_renewed.is_none_or(|at| at.elapsed() >= margin) {
                        self.set_leader(false);
                    }
                }
            }
            tokio::time::sleep(self.config.renew_interval).await;
        }
    }

    /// Ends leadership and, if this replica holds the Lease, clears its holder so that another replica
    /// takes over at its next try rather than after the lease duration.
    pub async fn release(&self) {
        self.set_leader(false);
        if let Err(error) = self.clear_holder().await {
            tracing::warn!(%error, lease = %self.config.name, "cannot release the lease");
        }
    }

    async fn clear_holder(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        tracing::info!(lease = %self.config.name, "released the lease");
        Ok(())
    }

    fn set_leader(&self, leader: bool) {
        let changed = self.leader.send_if_modified(|current| {
            let changed = *current != leader;
            *current = leader;
            changed
        });
        if changed {
            tracing::info!(lease = %self.config.name, identity = %self.config.identity, leader, "leadership changed");
        }
    }

    /// `Ok(true)` when this replica holds the Lease after the call.
    async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let current = lease.spec.take().unwrap_or_default();
        let ours = current.holder_identity.as_deref() == Some(self.config.identity.as_str());
        if !ours && !expired(&current, now) {
            return Ok(false);
        }
        let (acquired, transitions) = match (ours, current.acquire_time) {
            (true, Some(acquired)) => (acquired.0, current.lease_transitions.unwrap_or(0)),
            _ => (now, current.lease_transitions.unwrap_or(0) + 1),
        };
        // The resourceVersion kept in `lease.metadata` makes a concurrent take-over fail with a conflict.
        lease.spec = Some(self.spec(acquired, now, transitions));
        conflict_is_false(
            self.api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await,
        )
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.duration.as_secs_f64().ceil() as u64)
                    .unwrap_or(i32::MAX)
                    .max(1),
            ),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

/// A write that lost the race (409) means another replica holds the Lease.
fn conflict_is_false(result: kube::Result<Lease>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(renewed: Timestamp, seconds: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some("other".into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(seconds),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn lease_expires_after_its_duration_without_renewal() {
        let renewed = Timestamp::from_second(1_000).unwrap();
        let at = |second| Timestamp::from_second(second).unwrap();
        assert!(!expired(&held(renewed, 15), at(1_015)));
        assert!(expired(&held(renewed, 15), at(1_016)));
    }

    #[test]
    fn released_or_unheld_lease_is_free() {
        let now = Timestamp::from_second(1_000).unwrap();
        let mut spec = held(now, 15);
        spec.holder_identity = None;
        assert!(expired(&spec, now));
        assert!(expired(&LeaseSpec::default(), now));
    }
}
