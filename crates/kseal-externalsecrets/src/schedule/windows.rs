//! `spec.syncWindows`: when periodic refreshes may run, as ESO decides it. Pure; time is a parameter.
//!
//! A window opens at each firing of its schedule (5-field cron in UTC, or a descriptor such as
//! `@daily` or `@every 1h`) and stays open for its duration. Kind `allow` lets periodic refreshes run
//! only while a window is open, kind `deny` stops them while one is. ESO asks robfig/cron for the
//! first firing after `at − duration − 1s` and calls the window open at `at` when that firing lies in
//! `[at − duration, at]`; kseal asks the same question, so its answers match ESO's to the nanosecond,
//! quirks included:
//!
//! - a window that opens again before it closed (`* * * * *` for `2h`) is still closed for one
//!   second after each `firing + duration`, because only the first firing after the probe counts;
//! - `@every D` has no fixed firings (robfig's next firing is the probe time, truncated to the
//!   second, plus `D`), so such a window is open always, never, or during a part of every second.
//!
//! Cron schedules are read as robfig reads them (see [`super::cron`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kseal_api::external_secrets::{SyncWindowKind, SyncWindows};

use super::cron::CronSchedule;

/// One second, in nanoseconds (the unit of every instant here).
const SECOND: i128 = 1_000_000_000;

/// Instants [`Windows::next_allowed`] examines before it settles for "look again then".
const MAX_STEPS: usize = 256;

/// The sync windows of one ExternalSecret; the default has none and allows every refresh.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    gate: Option<Gate>,
}

/// A non-empty `syncWindows.windows`, its unparseable schedules left out.
#[derive(Debug, Clone)]
struct Gate {
    kind: SyncWindowKind,
    windows: Vec<Window>,
}

#[derive(Debug, Clone)]
struct Window {
    schedule: Schedule,
    /// `duration`, in nanoseconds (a Go duration: may be negative).
    duration: i128,
}

#[derive(Debug, Clone)]
enum Schedule {
    Cron(CronSchedule),
    /// `@every D`: D in nanoseconds, whole seconds, at least one.
    Every(i128),
}

/// [`Windows::parse`]'s result.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The windows that count.
    pub windows: Windows,
    /// Indexes of the windows whose schedule does not parse: ignored, as ESO ignores them.
    pub ignored: Vec<usize>,
}

impl Windows {
    /// Reads `spec.syncWindows`. A `duration` that is not a Go duration is an error naming its path;
    /// a schedule that does not parse leaves its window out (see [`Parsed::ignored`]).
    pub fn parse(spec: Option<&SyncWindows>) -> Result<Parsed, String> {
        let mut parsed = Parsed {
            windows: Windows::default(),
            ignored: Vec::new(),
        };
        let Some(spec) = spec.filter(|s| !s.windows.is_empty()) else {
            return Ok(parsed);
        };
        let mut windows = Vec::new();
        for (index, window) in spec.windows.iter().enumerate() {
            let duration = kseal_api::duration::nanos(&window.duration).ok_or_else(|| {
                format!(
                    "spec.syncWindows.windows[{index}].duration: invalid duration {:?}: expected a Go duration such as 8h, 1h30m or 90s",
                    window.duration
                )
            })?;
            match Schedule::parse(&window.schedule) {
                Some(schedule) => windows.push(Window {
                    schedule,
                    duration: i128::from(duration),
                }),
                None => parsed.ignored.push(index),
            }
        }
        parsed.windows.gate = Some(Gate {
            kind: spec.kind,
            windows,
        });
        Ok(parsed)
    }

    /// Whether a periodic refresh may run at `at`.
    pub fn allows(&self, at: SystemTime) -> bool {
        self.gate.as_ref().is_none_or(|gate| gate.allows(nanos(at)))
    }

    /// When a periodic refresh blocked at `now` may run: the first instant, at least a second after
    /// `now`, that the windows allow, or (when that is far off) an instant to look again; `None` when
    /// the windows never allow one.
    pub fn next_allowed(&self, now: SystemTime) -> Option<SystemTime> {
        let start = nanos(now) + SECOND;
        let Some(gate) = &self.gate else {
            return Some(instant(start));
        };
        let never = match gate.kind {
            SyncWindowKind::Allow => gate.windows.iter().all(|w| !w.can_open()),
            SyncWindowKind::Deny => gate.windows.iter().any(Window::always_open),
        };
        if never {
            return None;
        }
        let mut at = start;
        for _ in 0..MAX_STEPS {
            if gate.allows(at) {
                return Some(instant(at));
            }
            // Nothing changes before the first window opens or closes.
            at = gate
                .windows
                .iter()
                .filter_map(|w| w.next_change(at))
                .min()?;
        }
        Some(instant(at))
    }
}

impl Gate {
    fn allows(&self, at: i128) -> bool {
        let open = self.windows.iter().any(|w| w.is_open(at));
        match self.kind {
            SyncWindowKind::Allow => open,
            SyncWindowKind::Deny => !open,
        }
    }
}

impl Window {
    /// ESO's test: the first firing after `at − duration − 1s` lies in `[at − duration, at]`.
    fn is_open(&self, at: i128) -> bool {
        self.schedule
            .next(at - self.duration - SECOND)
            .is_some_and(|opened| opened <= at && at <= opened + self.duration)
    }

    /// The first instant after `at` where [`Window::is_open`] may change.
    ///
    /// For a cron schedule, the window is open at `t` iff no firing lies in `(t − d − 1s, t − d)`
    /// and one lies in `[t − d, t]`: it can open only at a firing `f` or at `f + d + 1s`, and close
    /// only just after `f + d`. An `@every` window repeats its state every second.
    fn next_change(&self, at: i128) -> Option<i128> {
        let d = self.duration;
        match &self.schedule {
            Schedule::Cron(_) => [
                self.schedule.next(at),
                self.schedule.next(at - d - 1).map(|f| f + d + 1),
                self.schedule.next(at - d - SECOND).map(|f| f + d + SECOND),
            ]
            .into_iter()
            .flatten()
            .min(),
            Schedule::Every(every) => {
                // Open iff frac(t − d − 1s) lies in [every − d − 1s, every − 1s]: changes where
                // that fraction is 0, 1ns, or the lower bound.
                let probe = at - d - SECOND;
                let whole = probe.div_euclid(SECOND) * SECOND;
                [0, 1, (every - d - SECOND).rem_euclid(SECOND)]
                    .into_iter()
                    .map(|fraction| {
                        let x = whole + fraction;
                        let x = if x <= probe { x + SECOND } else { x };
                        x + d + SECOND
                    })
                    .min()
            }
        }
    }

    /// Whether the window is open at some instant (a schedule that never fires does not count:
    /// [`Windows::next_allowed`] finds that out by searching).
    fn can_open(&self) -> bool {
        match self.schedule {
            Schedule::Cron(_) => self.duration >= 0,
            Schedule::Every(every) => {
                let lower = every - self.duration - SECOND;
                lower <= 0 || (every >= 2 * SECOND && lower < SECOND)
            }
        }
    }

    /// Whether the window is open at every instant (only `@every` can be: a cron window is closed
    /// for a second after each `firing + duration`).
    fn always_open(&self) -> bool {
        match self.schedule {
            Schedule::Cron(_) => false,
            Schedule::Every(every) => every >= 2 * SECOND && self.duration >= every - SECOND,
        }
    }
}

impl Schedule {
    /// robfig's descriptors (exactly as written, lower case), `@every <Go duration>`, or five cron
    /// fields; `None` where robfig's parser, as ESO sets it up, fails.
    fn parse(text: &str) -> Option<Schedule> {
        let fields = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => {
                if let Some(every) = text.strip_prefix("@every ") {
                    // robfig: at least a second, and whole seconds (rounded down).
                    let every = i128::from(kseal_api::duration::nanos(every)?);
                    let every = (every - every % SECOND).max(SECOND);
                    return Some(Schedule::Every(every));
                }
                if text.starts_with('@') {
                    return None;
                }
                text
            }
        };
        CronSchedule::parse(fields).map(Schedule::Cron)
    }

    /// The first firing strictly after `t` (robfig's `Next`): firings are whole seconds.
    fn next(&self, t: i128) -> Option<i128> {
        let after = t.div_euclid(SECOND) + 1;
        match self {
            Schedule::Every(every) => Some((after - 1) * SECOND + every),
            Schedule::Cron(cron) => cron.first_from(after).map(|second| second * SECOND),
        }
    }
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

fn instant(nanos: i128) -> SystemTime {
    let magnitude = nanos.unsigned_abs();
    let magnitude = Duration::new(
        u64::try_from(magnitude / SECOND.unsigned_abs()).unwrap_or(u64::MAX),
        u32::try_from(magnitude % SECOND.unsigned_abs()).unwrap_or_default(),
    );
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use kseal_api::external_secrets::SyncWindow;

    /// An instant written as RFC 3339 (UTC).
    fn utc(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<Timestamp>().expect(text))
    }

    fn parsed(kind: SyncWindowKind, windows: &[(&str, &str)]) -> Parsed {
        let spec = SyncWindows {
            kind,
            windows: windows
                .iter()
                .map(|(schedule, duration)| SyncWindow {
                    schedule: (*schedule).to_owned(),
                    duration: (*duration).to_owned(),
                })
                .collect(),
        };
        Windows::parse(Some(&spec)).expect("durations parse")
    }

    fn deny(windows: &[(&str, &str)]) -> Windows {
        parsed(SyncWindowKind::Deny, windows).windows
    }

    fn allow(windows: &[(&str, &str)]) -> Windows {
        parsed(SyncWindowKind::Allow, windows).windows
    }

    /// Asserts which of `instants` `windows` allow.
    fn assert_allows(windows: &Windows, cases: &[(&str, bool)]) {
        for (at, allowed) in cases {
            assert_eq!(windows.allows(utc(at)), *allowed, "at {at}");
        }
    }

    #[test]
    fn no_windows_allow_every_refresh() {
        let none = Windows::parse(None).unwrap();
        assert!(none.ignored.is_empty());
        assert!(none.windows.allows(utc("2026-12-02T22:30:00Z")));
        let empty = parsed(SyncWindowKind::Allow, &[]);
        assert!(empty.windows.allows(utc("2026-12-02T22:30:00Z")));
    }

    #[test]
    fn a_weeknight_deny_window_crosses_midnight() {
        // 2026-12-02 is a Wednesday; windows open Monday to Friday at 22:00 for 8 hours.
        let windows = deny(&[("0 22 * * 1-5", "8h")]);
        assert_allows(
            &windows,
            &[
                ("2026-12-02T21:59:59Z", true),
                ("2026-12-02T22:00:00Z", false),
                ("2026-12-03T05:59:59Z", false),
                ("2026-12-03T06:00:00Z", false),
                ("2026-12-03T06:00:00.5Z", true),
                ("2026-12-03T12:00:00Z", true),
                // Friday night runs into Saturday morning; none opens on Saturday or Sunday.
                ("2026-12-05T03:00:00Z", false),
                ("2026-12-05T23:00:00Z", true),
                ("2026-12-07T03:00:00Z", true),
                ("2026-12-07T22:30:00Z", false),
            ],
        );
        let allowed = allow(&[("0 22 * * 1-5", "8h")]);
        assert!(allowed.allows(utc("2026-12-05T03:00:00Z")));
        assert!(!allowed.allows(utc("2026-12-06T03:00:00Z")));
    }

    #[test]
    fn names_of_days_and_months_read_as_numbers() {
        let numbers = deny(&[("0 22 * 1,7 1-5", "8h")]);
        let names = deny(&[("0 22 * jan,JUL MON-Fri", "8h")]);
        for at in [
            "2026-07-01T23:00:00Z",
            "2026-07-04T05:00:00Z",
            "2026-07-05T05:00:00Z",
            "2026-12-02T23:00:00Z",
            "2027-01-05T23:00:00Z",
        ] {
            assert_eq!(numbers.allows(utc(at)), names.allows(utc(at)), "at {at}");
        }
        assert!(!names.allows(utc("2027-01-05T23:00:00Z")));
        assert!(names.allows(utc("2026-12-02T23:00:00Z")));
    }

    #[test]
    fn descriptors_name_their_schedules() {
        for daily in ["@daily", "@midnight"] {
            assert_allows(
                &allow(&[(daily, "1h")]),
                &[
                    ("2026-12-02T00:00:00Z", true),
                    ("2026-12-02T00:30:00Z", true),
                    ("2026-12-02T01:00:00Z", true),
                    ("2026-12-02T01:00:00.5Z", false),
                    ("2026-12-02T23:59:59Z", false),
                ],
            );
        }
        let hourly = allow(&[("@hourly", "5m")]);
        assert!(hourly.allows(utc("2026-12-02T13:04:00Z")));
        assert!(!hourly.allows(utc("2026-12-02T13:06:00Z")));
        let weekly = allow(&[("@weekly", "24h")]);
        assert!(weekly.allows(utc("2026-12-06T12:00:00Z")), "Sunday");
        assert!(!weekly.allows(utc("2026-12-07T12:00:00Z")), "Monday");
        for yearly in ["@yearly", "@annually"] {
            let yearly = allow(&[(yearly, "24h")]);
            assert!(yearly.allows(utc("2027-01-01T12:00:00Z")));
            assert!(!yearly.allows(utc("2026-12-02T12:00:00Z")));
        }
        let monthly = allow(&[("@monthly", "24h")]);
        assert!(monthly.allows(utc("2026-12-01T12:00:00Z")));
        assert!(!monthly.allows(utc("2026-12-02T12:00:00Z")));
    }

    #[test]
    fn every_windows_are_open_always_never_or_at_whole_seconds() {
        // robfig's `@every` fires a constant delay after the probe: open when duration ≥ delay − 1s.
        let always = allow(&[("@every 1h", "2h")]);
        let never = allow(&[("@every 1h", "30m")]);
        for at in [
            "2026-12-02T00:00:00Z",
            "2026-12-02T13:37:42.25Z",
            "2026-12-02T23:59:59.999999999Z",
        ] {
            assert!(always.allows(utc(at)), "at {at}");
            assert!(!never.allows(utc(at)), "at {at}");
        }
        // Sub-second delays are a second; a one-second delay is open only on whole seconds.
        let seconds = allow(&[("@every 300ms", "0s")]);
        assert!(seconds.allows(utc("2026-12-02T13:37:42Z")));
        assert!(!seconds.allows(utc("2026-12-02T13:37:42.5Z")));
        assert_eq!(
            seconds.next_allowed(utc("2026-12-02T13:37:42.5Z")),
            Some(utc("2026-12-02T13:37:44Z"))
        );
        assert_eq!(never.next_allowed(utc("2026-12-02T00:00:00Z")), None);
        assert_eq!(
            deny(&[("@every 1h", "2h")]).next_allowed(utc("2026-12-02T00:00:00Z")),
            None,
            "a deny window that is always open never allows"
        );
        assert_eq!(
            deny(&[("@every 1h", "30m")]).next_allowed(utc("2026-12-02T00:00:00.25Z")),
            Some(utc("2026-12-02T00:00:01.25Z"))
        );
    }

    #[test]
    fn a_window_that_reopens_before_it_closes_is_closed_one_second_per_opening() {
        // As in ESO: only the first firing after `at − 2h − 1s` counts.
        let windows = deny(&[("* * * * *", "2h")]);
        assert_allows(
            &windows,
            &[
                ("2026-12-02T12:00:00Z", false),
                ("2026-12-02T12:00:00.000000001Z", true),
                ("2026-12-02T12:00:00.5Z", true),
                ("2026-12-02T12:00:01Z", false),
                ("2026-12-02T12:00:30Z", false),
            ],
        );
        assert_eq!(
            windows.next_allowed(utc("2026-12-02T12:00:10Z")),
            Some(utc("2026-12-02T12:01:00.000000001Z"))
        );
        // Two such windows, closed at different seconds, deny every refresh: look again later.
        let covered = deny(&[("* * * * *", "2h"), ("* * * * *", "2h30s")]);
        let now = utc("2026-12-02T12:00:10Z");
        for offset in [0, 500_000_000, 20_000_000_001, 50_500_000_000] {
            assert!(!covered.allows(now + Duration::from_nanos(offset)));
        }
        let again = covered.next_allowed(now).expect("an instant to look again");
        assert!(again > now + Duration::from_secs(30 * 60), "{again:?}");
        assert!(!covered.allows(again));
    }

    #[test]
    fn overlapping_allow_windows_join() {
        let windows = allow(&[("0 9 * * *", "1h"), ("30 9 * * *", "1h")]);
        assert_allows(
            &windows,
            &[
                ("2026-12-02T08:59:59Z", false),
                ("2026-12-02T09:00:00Z", true),
                ("2026-12-02T10:00:00.5Z", true),
                ("2026-12-02T10:30:00Z", true),
                ("2026-12-02T10:30:01Z", false),
            ],
        );
    }

    #[test]
    fn day_of_month_or_weekday_when_both_are_restricted() {
        // The 13th, or a Friday (robfig, as Vixie cron); with `*` (or `?`, `*/1`), only Fridays.
        let either = allow(&[("0 12 13 * 5", "1h")]);
        assert!(either.allows(utc("2026-12-13T12:30:00Z")), "a Sunday 13th");
        assert!(either.allows(utc("2026-12-04T12:30:00Z")), "a Friday 4th");
        assert!(
            !either.allows(utc("2026-12-02T12:30:00Z")),
            "a Wednesday 2nd"
        );
        for fridays in ["0 12 * * 5", "0 12 ? * 5", "0 12 */1 * 5"] {
            let fridays = allow(&[(fridays, "1h")]);
            assert!(fridays.allows(utc("2026-12-04T12:30:00Z")));
            assert!(!fridays.allows(utc("2026-12-13T12:30:00Z")));
        }
        // `N/step` starts at N.
        let tens = allow(&[("0/10 * * * *", "1m")]);
        assert!(tens.allows(utc("2026-12-02T12:10:30Z")));
        assert!(!tens.allows(utc("2026-12-02T12:15:00Z")));
    }

    #[test]
    fn unparseable_schedules_are_ignored() {
        for bad in [
            "not a cron",
            "0 0 22 * * 1-5",
            "0 22 * *",
            "@DAILY",
            "@fortnightly",
            "@every 5d",
            "@every",
            "61 * * * *",
            // croner's extensions, which robfig refuses.
            "0 0 L * *",
            "0 0 1W * *",
            "0 9 * * 1#2",
            "0 22 * * 7",
            "0 22 * * FRI-SUN",
            "0 0 * MON *",
        ] {
            let deny = parsed(SyncWindowKind::Deny, &[(bad, "8h"), ("0 22 * * 1-5", "8h")]);
            assert_eq!(deny.ignored, [0], "{bad}");
            assert!(!deny.windows.allows(utc("2026-12-02T23:00:00Z")), "{bad}");
            assert!(deny.windows.allows(utc("2026-12-02T12:00:00Z")), "{bad}");
            // An allow list of unparseable windows never opens.
            let allow = parsed(SyncWindowKind::Allow, &[(bad, "8h")]);
            assert!(!allow.windows.allows(utc("2026-12-02T23:00:00Z")), "{bad}");
            assert_eq!(
                allow.windows.next_allowed(utc("2026-12-02T23:00:00Z")),
                None
            );
        }
    }

    #[test]
    fn a_duration_that_is_not_a_go_duration_is_an_error_naming_it() {
        let spec = SyncWindows {
            kind: SyncWindowKind::Deny,
            windows: vec![
                SyncWindow {
                    schedule: "@daily".into(),
                    duration: "1h".into(),
                },
                SyncWindow {
                    schedule: "@daily".into(),
                    duration: "1 day".into(),
                },
            ],
        };
        let error = Windows::parse(Some(&spec)).unwrap_err();
        assert!(
            error.starts_with("spec.syncWindows.windows[1].duration: "),
            "{error}"
        );
    }

    #[test]
    fn blocked_refreshes_wait_until_the_windows_allow() {
        let weeknights = ("0 22 * * 1-5", "8h");
        // Allow: the next opening (Saturday noon → Monday 22:00).
        assert_eq!(
            allow(&[weeknights]).next_allowed(utc("2026-12-05T12:00:00Z")),
            Some(utc("2026-12-07T22:00:00Z"))
        );
        // The earliest opening of any window.
        assert_eq!(
            allow(&[weeknights, ("0 9 * * 6", "1h")]).next_allowed(utc("2026-12-05T07:00:00Z")),
            Some(utc("2026-12-05T09:00:00Z"))
        );
        // Deny: just after the window closes (Wednesday night → Thursday 06:00).
        assert_eq!(
            deny(&[weeknights]).next_allowed(utc("2026-12-02T23:00:00Z")),
            Some(utc("2026-12-03T06:00:00.000000001Z"))
        );
        // Overlapping deny windows: when the last one closes.
        assert_eq!(
            deny(&[weeknights, ("0 5 * * *", "3h")]).next_allowed(utc("2026-12-02T23:00:00Z")),
            Some(utc("2026-12-03T08:00:00.000000001Z"))
        );
        // Never sooner than a second ahead: a gap shorter than that is skipped.
        assert_eq!(
            deny(&[("* * * * *", "2h")]).next_allowed(utc("2026-12-02T12:00:00Z")),
            Some(utc("2026-12-02T12:01:00.000000001Z"))
        );
        assert_eq!(
            allow(&[weeknights]).next_allowed(utc("2026-12-02T23:00:00Z")),
            Some(utc("2026-12-02T23:00:01Z"))
        );
        // A window that opens once a year, and one that never does (30 February).
        assert_eq!(
            allow(&[("0 0 1 1 *", "1m")]).next_allowed(utc("2026-12-02T12:00:00Z")),
            Some(utc("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            allow(&[("0 0 30 2 *", "1h")]).next_allowed(utc("2026-12-02T12:00:00Z")),
            None
        );
        assert_eq!(
            allow(&[("0 22 * * 1-5", "-1h")]).next_allowed(utc("2026-12-02T12:00:00Z")),
            None,
            "a negative duration never opens"
        );
    }
}
