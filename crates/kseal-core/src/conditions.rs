//! Status conditions of both resource families (SealedSecret's `Synced`, ESO's `Ready` and the store
//! conditions), computed without a client: one condition type is set, its `lastTransitionTime` kept while
//! its status stays the same, and every other condition is kept as it is.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kseal_api::SealedSecretCondition;
use kseal_api::external_secrets::Condition as EsoCondition;

/// What a reconcile concluded, as one condition says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// The condition type, e.g. `Synced` or `Ready`.
    pub type_: &'a str,
    /// Whether it holds (`True`) or not (`False`).
    pub ok: bool,
    /// Machine-readable reason.
    pub reason: &'a str,
    /// Human-readable message; never a secret value.
    pub message: &'a str,
}

impl Verdict<'_> {
    /// The condition's `status` field.
    pub fn status(&self) -> &'static str {
        if self.ok { "True" } else { "False" }
    }
}

/// Where a newly set condition goes in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// First (printer columns that read `conditions[0]`).
    First,
    /// Last.
    Last,
}

/// A condition type of some resource's status.
pub trait Condition: Clone {
    /// How the condition writes times.
    type Time: Clone;
    /// Its type.
    fn type_(&self) -> &str;
    /// `True`, `False` or `Unknown`.
    fn status(&self) -> &str;
    /// Its reason.
    fn reason(&self) -> Option<&str>;
    /// Its message.
    fn message(&self) -> Option<&str>;
    /// When its status last changed.
    fn last_transition_time(&self) -> Option<&Self::Time>;
    /// The condition saying `verdict`, its status changed at `transition`, written at `now`.
    fn build(verdict: &Verdict<'_>, transition: Self::Time, now: &Self::Time) -> Self;
}

/// Whether `conditions` already say `verdict`: same status, reason and message.
pub fn says<C: Condition>(conditions: &[C], verdict: &Verdict<'_>) -> bool {
    conditions.iter().any(|c| {
        c.type_() == verdict.type_
            && c.status() == verdict.status()
            && c.reason() == Some(verdict.reason)
            && c.message() == Some(verdict.message)
    })
}

/// `conditions` with the condition of `verdict.type_` saying `verdict`, at `position`. Its
/// `lastTransitionTime` stays while its status does not change, else it is `now`.
pub fn set<C: Condition>(
    conditions: &[C],
    verdict: &Verdict<'_>,
    now: &C::Time,
    position: Position,
) -> Vec<C> {
    let transition = conditions
        .iter()
        .find(|c| c.type_() == verdict.type_ && c.status() == verdict.status())
        .and_then(|c| c.last_transition_time().cloned())
        .unwrap_or_else(|| now.clone());
    let mut out = remove(conditions, verdict.type_);
    let condition = C::build(verdict, transition, now);
    match position {
        Position::First => out.insert(0, condition),
        Position::Last => out.push(condition),
    }
    out
}

/// `conditions` without the one of type `type_`.
pub fn remove<C: Condition>(conditions: &[C], type_: &str) -> Vec<C> {
    conditions
        .iter()
        .filter(|c| c.type_() != type_)
        .cloned()
        .collect()
}

/// Whether two lists say the same (types, statuses, reasons, messages), whatever their times.
pub fn same<C: Condition>(a: &[C], b: &[C]) -> bool {
    let key = |c: &C| {
        (
            c.type_().to_owned(),
            c.status().to_owned(),
            c.reason().map(str::to_owned),
            c.message().map(str::to_owned),
        )
    };
    a.iter().map(key).eq(b.iter().map(key))
}

/// The getters every condition type has under the same field names.
macro_rules! common_fields {
    () => {
        fn type_(&self) -> &str {
            &self.type_
        }
        fn status(&self) -> &str {
            &self.status
        }
        fn reason(&self) -> Option<&str> {
            self.reason.as_deref()
        }
        fn message(&self) -> Option<&str> {
            self.message.as_deref()
        }
        fn last_transition_time(&self) -> Option<&Self::Time> {
            self.last_transition_time.as_ref()
        }
    };
}

impl Condition for SealedSecretCondition {
    /// RFC 3339, as sealed-secrets writes them.
    type Time = String;

    common_fields!();
    fn build(verdict: &Verdict<'_>, transition: String, now: &String) -> Self {
        SealedSecretCondition {
            type_: verdict.type_.into(),
            status: verdict.status().into(),
            reason: Some(verdict.reason.into()),
            message: Some(verdict.message.into()),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(transition),
        }
    }
}

impl Condition for EsoCondition {
    type Time = Time;

    common_fields!();
    fn build(verdict: &Verdict<'_>, transition: Time, _now: &Time) -> Self {
        EsoCondition {
            type_: verdict.type_.into(),
            status: verdict.status().into(),
            reason: Some(verdict.reason.into()),
            message: Some(verdict.message.into()),
            last_transition_time: Some(transition),
        }
    }
}

/// `at` as a condition time of ESO's resources.
pub fn eso_time(at: std::time::SystemTime) -> Time {
    Time(at.try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(ok: bool, message: &str) -> Verdict<'_> {
        Verdict {
            type_: "Ready",
            ok,
            reason: if ok { "Valid" } else { "Invalid" },
            message,
        }
    }

    #[test]
    fn the_transition_time_stays_while_the_status_does() {
        let t0 = "2026-01-01T00:00:00Z".to_owned();
        let t1 = "2026-01-01T00:01:00Z".to_owned();
        let t2 = "2026-01-01T00:02:00Z".to_owned();
        let first: Vec<SealedSecretCondition> =
            set(&[], &verdict(false, "a"), &t0, Position::First);
        let same_status = set(&first, &verdict(false, "b"), &t1, Position::First);
        assert_eq!(same_status[0].last_transition_time.as_ref(), Some(&t0));
        assert_eq!(same_status[0].last_update_time.as_ref(), Some(&t1));
        let flipped = set(&same_status, &verdict(true, "c"), &t2, Position::First);
        assert_eq!(flipped[0].last_transition_time.as_ref(), Some(&t2));
        assert_eq!(flipped.len(), 1);
    }

    #[test]
    fn other_conditions_are_kept_and_the_new_one_goes_where_asked() {
        let now = eso_time(std::time::SystemTime::UNIX_EPOCH);
        let other = EsoCondition {
            type_: "Other".into(),
            status: "True".into(),
            reason: None,
            message: None,
            last_transition_time: None,
        };
        let last = set(
            std::slice::from_ref(&other),
            &verdict(true, "ok"),
            &now,
            Position::Last,
        );
        assert_eq!(
            last.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(),
            ["Other", "Ready"]
        );
        let first = set(&[other], &verdict(true, "ok"), &now, Position::First);
        assert_eq!(first[0].type_, "Ready");
        assert!(says(&first, &verdict(true, "ok")));
        assert!(!says(&first, &verdict(true, "changed")));
        assert!(same(
            &first,
            &set(&first, &verdict(true, "ok"), &now, Position::First)
        ));
        assert!(!same(&first, &remove(&first, "Other")));
    }
}
