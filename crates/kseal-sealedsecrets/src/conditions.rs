//! The `Synced` status condition of a SealedSecret, computed without a client.

use kseal_api::SealedSecretStatus;
use kseal_core::conditions::{self, Position, Verdict};

use kseal_runtime::report::Notice;

use crate::Error;

/// Condition type kseal sets on every SealedSecret (as sealed-secrets).
pub const SYNCED: &str = "Synced";

/// Condition (and event) reasons.
pub mod reasons {
    /// The Secret is up to date.
    pub const UNSEALED: &str = "Unsealed";
    /// Decrypting or rendering failed.
    pub const ERR_UNSEAL_FAILED: &str = "ErrUnsealFailed";
    /// Writing the Secret failed.
    pub const ERR_UPDATE_FAILED: &str = "ErrUpdateFailed";
    /// A Secret of the same name exists and is not kseal's to change.
    pub const ERR_SECRET_EXISTS: &str = "ErrSecretExists";
    /// The Secret is a sealing key (or would be labelled as one): the unsealer never writes it.
    pub const ERR_PROTECTED_SECRET: &str = "ErrProtectedSecret";
}

/// Result of one reconcile, as the status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the Secret is in sync.
    pub synced: bool,
    /// One of [`reasons`].
    pub reason: &'static str,
    /// Human-readable detail; never a secret value.
    pub message: String,
}

impl Outcome {
    /// The Secret was written (or already up to date).
    pub fn unsealed() -> Self {
        Outcome {
            synced: true,
            reason: reasons::UNSEALED,
            message: "SealedSecret unsealed successfully".into(),
        }
    }

    /// The `Synced` condition this outcome sets.
    pub fn verdict(&self) -> Verdict<'_> {
        Verdict {
            type_: SYNCED,
            ok: self.synced,
            reason: self.reason,
            message: &self.message,
        }
    }

    /// The event that reports this outcome.
    pub fn notice(&self) -> Notice {
        Notice {
            warning: !self.synced,
            reason: self.reason.into(),
            note: self.message.clone(),
            action: "Unseal",
        }
    }

    /// The reconcile failed with `error`.
    pub fn failed(error: &Error) -> Self {
        let reason = match error {
            Error::Unseal(_) | Error::Invalid { .. } | Error::NoKeys | Error::Task(_) => {
                reasons::ERR_UNSEAL_FAILED
            }
            Error::SecretExists { .. } => reasons::ERR_SECRET_EXISTS,
            Error::ProtectedSecret { .. } => reasons::ERR_PROTECTED_SECRET,
            _ => reasons::ERR_UPDATE_FAILED,
        };
        Outcome {
            synced: false,
            reason,
            message: error.to_string(),
        }
    }
}

/// The status to write for `outcome`, or `None` when `current` already says the same.
///
/// `lastTransitionTime` is kept while the condition's status does not change; `lastUpdateTime` is `now`.
/// Not rewriting an unchanged status keeps a reconcile from triggering itself.
pub fn synced_status(
    current: Option<&SealedSecretStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: &str,
) -> Option<SealedSecretStatus> {
    let verdict = outcome.verdict();
    let conditions = current.map_or(&[][..], |s| s.conditions.as_slice());
    let unchanged = conditions::says(conditions, &verdict)
        && current.and_then(|s| s.observed_generation) == generation;
    if unchanged {
        return None;
    }
    Some(SealedSecretStatus {
        observed_generation: generation,
        // Synced first: the CRD's printer columns read conditions[0].
        conditions: conditions::set(conditions, &verdict, &now.to_owned(), Position::First),
    })
}

/// The current time as RFC 3339 with whole seconds, as Kubernetes writes condition times.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_status_sets_both_times() {
        let status = synced_status(None, Some(1), &Outcome::unsealed(), "t1").unwrap();
        assert_eq!(status.observed_generation, Some(1));
        let c = &status.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Synced", "True"));
        assert_eq!(c.reason.as_deref(), Some("Unsealed"));
        assert_eq!(c.last_transition_time.as_deref(), Some("t1"));
        assert_eq!(c.last_update_time.as_deref(), Some("t1"));
    }

    #[test]
    fn unchanged_outcome_writes_nothing() {
        let status = synced_status(None, Some(1), &Outcome::unsealed(), "t1").unwrap();
        assert_eq!(
            synced_status(Some(&status), Some(1), &Outcome::unsealed(), "t2"),
            None
        );
        // A new generation is reported even when the outcome is the same.
        let next = synced_status(Some(&status), Some(2), &Outcome::unsealed(), "t2").unwrap();
        assert_eq!(
            next.conditions[0].last_transition_time.as_deref(),
            Some("t1")
        );
        assert_eq!(next.conditions[0].last_update_time.as_deref(), Some("t2"));
    }

    #[test]
    fn status_change_moves_the_transition_time() {
        let ok = synced_status(None, Some(1), &Outcome::unsealed(), "t1").unwrap();
        let failed = Outcome::failed(&Error::SecretExists { name: "s".into() });
        let status = synced_status(Some(&ok), Some(1), &failed, "t2").unwrap();
        let c = &status.conditions[0];
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ErrSecretExists"));
        assert_eq!(c.last_transition_time.as_deref(), Some("t2"));
        assert_eq!(status.conditions.len(), 1);
    }
}
