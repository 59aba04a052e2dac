//! When an ExternalSecret reads its remote data again. Pure; time is a parameter.
//!
//! Periodic refreshes follow a grid per (store, interval): the grid's points are `offset + k·interval`,
//! with the offset derived from the store's identity. Every ExternalSecret of a store with the same
//! interval comes due at the same grid point, so their fetches coalesce into one batch; stores are
//! spread over the interval, so a restart does not send every request at once. A refresh fetches
//! data no older than its grid point ([`Decision::Due::fresh_after`]): data fetched since the grid
//! point by another ExternalSecret is shared, not fetched again.
//!
//! Sync windows ([`Windows`]) hold back only the periodic refreshes: a first sync, a change of the
//! ExternalSecret and the repair of its Secret run at once, as in ESO. A refresh held back waits
//! until the windows next allow one, and then reads the data of the cycle it runs in.

mod cron;
mod windows;

pub use windows::{Parsed, Windows};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kseal_api::external_secrets::RefreshPolicy;
use kseal_runtime::Backoff;

/// Retries of a failed ExternalSecret: after 1 s, doubled per consecutive failure, at most 7 minutes.
pub const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(7 * 60));

/// ESO's default `refreshInterval` (1h).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// The shortest periodic refresh: a `refreshInterval` below it (`1ms` is valid for ESO, which then
/// refreshes as fast as its work queue turns) refreshes once a second, so a typo cannot hammer AWS.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The refresh interval `spec.refreshInterval` asks for, as Go's `time.ParseDuration` reads it: zero
/// or negative syncs once (as ESO); otherwise whole seconds, rounded up (`status.refreshTime` has
/// second precision), and at least [`MIN_INTERVAL`].
pub fn interval(text: &str) -> Result<Duration, String> {
    let asked = kseal_api::duration::parse_or_zero(text)?;
    if asked.is_zero() {
        return Ok(Duration::ZERO);
    }
    let whole = asked.as_secs() + u64::from(asked.subsec_nanos() > 0);
    Ok(Duration::from_secs(whole).max(MIN_INTERVAL))
}

/// What the reconciler knows about one ExternalSecret.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `spec.refreshPolicy`.
    pub policy: RefreshPolicy,
    /// `spec.refreshInterval`; zero means "sync once".
    pub interval: Duration,
    /// When the remote data was last read (`status.refreshTime`), if ever.
    pub refreshed_at: Option<SystemTime>,
    /// `status.syncedResourceVersion` matches the ExternalSecret's spec, labels and annotations.
    pub spec_synced: bool,
    /// The target Secret exists with the data last written (or the policy writes no Secret).
    pub target_intact: bool,
    /// Identity of the store: spreads stores over the interval.
    pub store_seed: u64,
    /// `spec.syncWindows`: when periodic refreshes may run.
    pub windows: Windows,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refresh now, with remote data fetched at or after `fresh_after`.
    Due {
        /// Oldest acceptable fetch time.
        fresh_after: SystemTime,
        /// `fresh_after` is a grid point: the whole store's data for this cycle may be read at once.
        cycle: bool,
    },
    /// Nothing to do until `until` (never, when `None`, unless something changes).
    Wait {
        /// The next periodic refresh.
        until: Option<SystemTime>,
    },
}

/// Whether an ExternalSecret must be refreshed at `now`.
pub fn decide(inputs: &Inputs, now: SystemTime) -> Decision {
    let grid = Grid::new(inputs.interval, inputs.store_seed);
    let this_cycle = grid.map_or(now, |grid| grid.at_or_before(now));
    let Some(refreshed_at) = inputs.refreshed_at else {
        // Never synced: data of the current cycle will do.
        return Decision::Due {
            fresh_after: this_cycle,
            cycle: grid.is_some(),
        };
    };
    if !inputs.spec_synced {
        // The spec, a label or an annotation (e.g. `force-sync`) changed: read the remote data now.
        return Decision::Due {
            fresh_after: now,
            cycle: false,
        };
    }
    if !inputs.target_intact {
        // Deleted or edited by hand: repair at once, from this cycle's data.
        return Decision::Due {
            fresh_after: this_cycle,
            cycle: grid.is_some(),
        };
    }
    match (inputs.policy, grid) {
        (RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange, _) | (_, None) => {
            Decision::Wait { until: None }
        }
        (RefreshPolicy::Periodic, Some(grid)) => {
            let next = grid.after(refreshed_at);
            if next > now {
                Decision::Wait { until: Some(next) }
            } else if inputs.windows.allows(now) {
                // Late (held back by the windows, or a stopped controller): this cycle's data.
                Decision::Due {
                    fresh_after: this_cycle,
                    cycle: true,
                }
            } else {
                Decision::Wait {
                    until: inputs.windows.next_allowed(now),
                }
            }
        }
    }
}

/// Refresh points of one (store, interval): `offset + k·interval` seconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Grid {
    interval: u64,
    offset: u64,
}

impl Grid {
    /// Whole seconds keep the grid exact against `status.refreshTime`, which has second precision.
    fn new(interval: Duration, seed: u64) -> Option<Grid> {
        let interval = interval.as_secs();
        (interval > 0).then(|| Grid {
            interval,
            offset: seed % interval,
        })
    }

    fn at_or_before(self, t: SystemTime) -> SystemTime {
        let secs = seconds(t);
        let point = if secs < self.offset {
            0
        } else {
            (secs - self.offset) / self.interval * self.interval + self.offset
        };
        UNIX_EPOCH + Duration::from_secs(point)
    }

    /// The first grid point strictly after `t` (at whole-second precision).
    fn after(self, t: SystemTime) -> SystemTime {
        let point = self.at_or_before(UNIX_EPOCH + Duration::from_secs(seconds(t)));
        point + Duration::from_secs(self.interval)
    }
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kseal_api::external_secrets::{SyncWindow, SyncWindowKind, SyncWindows};

    #[test]
    fn intervals_read_as_go_durations_with_a_one_second_floor() {
        let secs = |s| Ok(Duration::from_secs(s));
        assert_eq!(interval("1h"), secs(3600));
        assert_eq!(interval("2h45m"), secs(9900));
        assert_eq!(interval("1.5h"), secs(5400));
        assert_eq!(interval("1ms"), secs(1));
        assert_eq!(interval("300us"), secs(1));
        assert_eq!(interval("1.5s"), secs(2));
        assert_eq!(interval("0"), secs(0));
        assert_eq!(interval("-5m"), secs(0));
        assert!(interval("5d").is_err());
        assert!(interval("").is_err());
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn synced(refreshed: u64) -> Inputs {
        Inputs {
            policy: RefreshPolicy::Periodic,
            interval: HOUR,
            refreshed_at: Some(at(refreshed)),
            spec_synced: true,
            target_intact: true,
            store_seed: 600,
            windows: Windows::default(),
        }
    }

    #[test]
    fn periodic_refreshes_at_the_stores_grid_points() {
        // Grid points: 600 + k·3600.
        let inputs = synced(4300);
        assert_eq!(
            decide(&inputs, at(5000)),
            Decision::Wait {
                until: Some(at(7800))
            }
        );
        assert_eq!(
            decide(&inputs, at(7801)),
            Decision::Due {
                fresh_after: at(7800),
                cycle: true,
            }
        );
        // Refreshed at the grid point (refreshTime truncated to it): next is one interval later.
        assert_eq!(
            decide(&synced(7800), at(7801)),
            Decision::Wait {
                until: Some(at(11400))
            }
        );
    }

    #[test]
    fn objects_of_one_store_share_a_cycle() {
        let a = decide(&synced(4300), at(8000));
        let b = decide(&synced(7000), at(8100));
        assert_eq!(a, b, "both accept data fetched since the same grid point");
    }

    #[test]
    fn changes_and_repairs_are_due_at_once() {
        let mut changed = synced(7800);
        changed.spec_synced = false;
        assert_eq!(
            decide(&changed, at(7900)),
            Decision::Due {
                fresh_after: at(7900),
                cycle: false,
            }
        );
        let mut edited = synced(7800);
        edited.target_intact = false;
        assert_eq!(
            decide(&edited, at(7900)),
            Decision::Due {
                fresh_after: at(7800),
                cycle: true,
            }
        );
        let mut new = synced(0);
        new.refreshed_at = None;
        assert_eq!(
            decide(&new, at(7900)),
            Decision::Due {
                fresh_after: at(7800),
                cycle: true,
            }
        );
    }

    #[test]
    fn policies_without_periodic_refresh_wait_for_changes() {
        for policy in [RefreshPolicy::CreatedOnce, RefreshPolicy::OnChange] {
            let mut inputs = synced(4300);
            inputs.policy = policy;
            assert_eq!(decide(&inputs, at(100_000)), Decision::Wait { until: None });
        }
        let mut once = synced(4300);
        once.interval = Duration::ZERO;
        assert_eq!(decide(&once, at(100_000)), Decision::Wait { until: None });
    }

    /// Wednesday 2026-12-02 00:00 UTC, in seconds since the epoch.
    const WEDNESDAY: u64 = 1_796_169_600;

    fn windows(kind: SyncWindowKind, schedule: &str, duration: &str) -> Windows {
        let spec = SyncWindows {
            kind,
            windows: vec![SyncWindow {
                schedule: schedule.into(),
                duration: duration.into(),
            }],
        };
        Windows::parse(Some(&spec)).unwrap().windows
    }

    /// Synced at `refreshed`, with weeknight (22:00 for 8h, Monday to Friday) windows of `kind`.
    fn weeknights(kind: SyncWindowKind, refreshed: u64) -> Inputs {
        Inputs {
            windows: windows(kind, "0 22 * * 1-5", "8h"),
            ..synced(refreshed)
        }
    }

    #[test]
    fn sync_windows_hold_back_periodic_refreshes_until_they_allow() {
        // Grid points: 600 + k·3600, so 22:10, 23:10, ... Refreshed at 21:10 on Wednesday.
        let refreshed = WEDNESDAY + 21 * 3600 + 600;
        let denied = weeknights(SyncWindowKind::Deny, refreshed);
        let thursday_six = WEDNESDAY + 30 * 3600;
        assert_eq!(
            decide(&denied, at(refreshed + 1000)),
            Decision::Wait {
                until: Some(at(refreshed + 3600))
            },
            "not due yet: the grid says when"
        );
        assert_eq!(
            decide(&denied, at(refreshed + 3601)),
            Decision::Wait {
                until: Some(at(thursday_six) + Duration::from_nanos(1))
            },
            "due, but denied until the window closes"
        );
        // When the window allows it: the data of the cycle it runs in, not of the missed one.
        assert_eq!(
            decide(&denied, at(thursday_six + 1)),
            Decision::Due {
                fresh_after: at(thursday_six - 3000),
                cycle: true,
            }
        );

        let allowed = weeknights(SyncWindowKind::Allow, refreshed);
        assert_eq!(
            decide(&allowed, at(refreshed + 3601)),
            Decision::Due {
                fresh_after: at(refreshed + 3600),
                cycle: true,
            }
        );
        // Refreshed Thursday at 05:10; due at 06:10, after the window closed: until Thursday 22:00.
        let after = weeknights(SyncWindowKind::Allow, thursday_six - 3000);
        assert_eq!(
            decide(&after, at(thursday_six + 700)),
            Decision::Wait {
                until: Some(at(WEDNESDAY + 46 * 3600))
            }
        );
    }

    #[test]
    fn sync_windows_never_hold_back_first_syncs_changes_and_repairs() {
        let refreshed = WEDNESDAY + 22 * 3600 + 600;
        let now = at(refreshed + 100);
        let mut new = weeknights(SyncWindowKind::Deny, refreshed);
        new.refreshed_at = None;
        assert!(matches!(decide(&new, now), Decision::Due { .. }));
        let mut changed = weeknights(SyncWindowKind::Deny, refreshed);
        changed.spec_synced = false;
        assert_eq!(
            decide(&changed, now),
            Decision::Due {
                fresh_after: now,
                cycle: false
            }
        );
        let mut edited = weeknights(SyncWindowKind::Deny, refreshed);
        edited.target_intact = false;
        assert!(matches!(decide(&edited, now), Decision::Due { .. }));
        // Nor do they make the other policies refresh.
        let mut once = weeknights(SyncWindowKind::Allow, refreshed);
        once.policy = RefreshPolicy::CreatedOnce;
        assert_eq!(decide(&once, now), Decision::Wait { until: None });
    }

    #[test]
    fn windows_that_never_allow_wait_for_a_change() {
        let inputs = Inputs {
            windows: windows(SyncWindowKind::Allow, "@every 1h", "10m"),
            ..synced(WEDNESDAY)
        };
        assert_eq!(
            decide(&inputs, at(WEDNESDAY + 7200)),
            Decision::Wait { until: None }
        );
    }

    #[test]
    fn failed_objects_back_off_up_to_about_seven_minutes() {
        assert_eq!(BACKOFF.delay(1), Duration::from_secs(1));
        assert_eq!(BACKOFF.delay(9), Duration::from_secs(256));
        assert_eq!(BACKOFF.delay(10), Duration::from_secs(7 * 60));
    }
}
