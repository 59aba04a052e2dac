//! Five cron fields (minute, hour, day of month, month, weekday) in UTC, read as robfig/cron v3 reads
//! them with the parser ESO sets up; croner only searches for the next firing.
//!
//! robfig's syntax: each field is a comma list (empty items skipped) of `*` or `?` (all values; what
//! follows a `-` is then ignored), `N`, `N-M`, each optionally `/step` (`N/step` is `N-max/step`);
//! numbers as Go's `strconv.Atoi` reads them (`+5`, `05`), three-letter month and weekday names in
//! their own field, in any case; weekdays 0–6. A day matches when its day of month *and* weekday
//! match if either field holds a `*` item (with a step of 1), else when either matches. Anything else
//! (`L`, `W`, `#`, weekday `7`) does not parse, as in ESO, so the window is ignored. So does robfig's
//! `TZ=<zone>` prefix, which ESO's CRD refuses (schedules are UTC).

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::Offset;

/// robfig gives up looking for a firing more than 5 years after the probe's year.
const SEARCH_YEARS: i16 = 5;

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(super) struct CronSchedule {
    /// `None`: a field matches nothing (`,`), so it never fires.
    cron: Option<Box<Cron>>,
}

/// The values one field matches, and whether it holds robfig's wildcard.
struct Field {
    values: Vec<u32>,
    star: bool,
}

impl CronSchedule {
    /// `None` where robfig's parser fails.
    pub(super) fn parse(text: &str) -> Option<CronSchedule> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return None;
        };
        let minute = field(minute, 0, 59, &[])?;
        let hour = field(hour, 0, 23, &[])?;
        let mut dom = field(dom, 1, 31, &[])?;
        let month = field(month, 1, 12, MONTHS)?;
        let mut dow = field(dow, 0, 6, WEEKDAYS)?;
        // croner matches "day of month or weekday" unless one is `*`, and no field may be empty: an
        // empty day field under the "or" rule leaves the other alone, so it becomes `*`.
        if !dom.star && !dow.star {
            if dom.values.is_empty() {
                dom.star = true;
            } else if dow.values.is_empty() {
                dow.star = true;
            }
        }
        let day = |f: &Field| {
            if f.star { "*".to_owned() } else { list(f) }
        };
        let fields = [&minute, &hour, &dom, &month, &dow];
        if fields.iter().any(|f| !f.star && f.values.is_empty()) {
            return Some(CronSchedule { cron: None });
        }
        let pattern = format!(
            "{} {} {} {} {}",
            list(&minute),
            list(&hour),
            day(&dom),
            list(&month),
            day(&dow)
        );
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .build()
            .parse(&pattern)
            .ok()?;
        Some(CronSchedule {
            cron: Some(Box::new(cron)),
        })
    }

    /// The first firing at or after `second` (seconds since the epoch), within robfig's 5 years.
    pub(super) fn first_from(&self, second: i128) -> Option<i128> {
        let cron = self.cron.as_ref()?;
        let start = Timestamp::from_second(i64::try_from(second).ok()?).ok()?;
        let start = Offset::UTC.to_datetime(start);
        let next = cron.find_next_occurrence(&start, true).ok()?;
        if next.year() > start.year() + SEARCH_YEARS {
            return None;
        }
        Some(i128::from(Offset::UTC.to_timestamp(next).ok()?.as_second()))
    }
}

/// One field as robfig's `getField` reads it.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Option<Field> {
    let mut matched = vec![false; max as usize + 1];
    let mut star = false;
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let mut range_and_step = item.split('/');
        let range = range_and_step.next()?;
        let step = match (range_and_step.next(), range_and_step.next()) {
            (None, _) => 1,
            (Some(step), None) => number(step)?,
            (Some(_), Some(_)) => return None,
        };
        let mut low_and_high = range.split('-');
        let low = low_and_high.next()?;
        let (start, end) = if low == "*" || low == "?" {
            star |= step <= 1;
            (min, max)
        } else {
            let start = number_or_name(low, names)?;
            let end = match (low_and_high.next(), low_and_high.next()) {
                (None, _) if range != item => max,
                (None, _) => start,
                (Some(high), None) => number_or_name(high, names)?,
                (Some(_), Some(_)) => return None,
            };
            (start, end)
        };
        if start < min || end > max || start > end || step == 0 {
            return None;
        }
        for value in (start..=end).step_by(step as usize) {
            matched[value as usize] = true;
        }
    }
    let values = (min..=max).filter(|v| matched[*v as usize]).collect();
    Some(Field { values, star })
}

fn number_or_name(text: &str, names: &[&str]) -> Option<u32> {
    let lower = text.to_lowercase();
    match names.iter().position(|name| *name == lower) {
        // Months count from 1, weekdays from 0.
        Some(index) => u32::try_from(index)
            .ok()
            .map(|i| i + u32::from(names == MONTHS)),
        None => number(text),
    }
}

/// Go's `strconv.Atoi`, non-negative.
fn number(text: &str) -> Option<u32> {
    let number: i64 = text.parse().ok()?;
    u32::try_from(number).ok()
}

fn list(field: &Field) -> String {
    let values: Vec<String> = field.values.iter().map(u32::to_string).collect();
    values.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 2026-12-02 00:00 UTC, in seconds since the epoch.
    const WEDNESDAY: i128 = 1_796_169_600;

    /// The first `n` firings of `text` from Wednesday 2026-12-02 00:00, in minutes after it.
    fn firings(text: &str, n: usize) -> Vec<i128> {
        let schedule = CronSchedule::parse(text).unwrap_or_else(|| panic!("{text} parses"));
        let mut from = WEDNESDAY;
        let mut found = Vec::new();
        while found.len() < n {
            let Some(next) = schedule.first_from(from) else {
                break;
            };
            found.push((next - WEDNESDAY) / 60);
            from = next + 1;
        }
        found
    }

    #[test]
    fn fields_read_as_robfig_reads_them() {
        assert_eq!(firings("5/20 0 * * *", 4), [5, 25, 45, 1445]);
        assert_eq!(firings("+5,,07 0 * * *", 3), [5, 7, 1445]);
        assert_eq!(
            firings("*-5/30 0 * * *", 3),
            [0, 30, 1440],
            "after `*`, robfig ignores `-5`"
        );
        assert_eq!(firings("10-20/4 0 * * *", 4), [10, 14, 18, 1450]);
        assert_eq!(firings("0 0 * * mon-FRI", 4), [0, 1440, 2 * 1440, 5 * 1440]);
        assert_eq!(firings("0 0 * * +5", 1), [2 * 1440], "Go's Atoi reads `+5`");
        assert_eq!(firings("0 0 * dec sun", 2), [4 * 1440, 11 * 1440]);
        assert_eq!(firings("? ? ? ? ?", 2), [0, 1]);
    }

    #[test]
    fn a_day_matches_its_date_or_weekday_unless_one_is_a_wildcard() {
        // Wednesday the 2nd: the 5th (Saturday) or any Friday (the 4th, 11th).
        assert_eq!(firings("0 0 5 * 5", 3), [2 * 1440, 3 * 1440, 9 * 1440]);
        for fridays in ["0 0 * * 5", "0 0 */1 * 5", "0 0 1,* * 5", "0 0 ?-3 * 5"] {
            assert_eq!(firings(fridays, 2), [2 * 1440, 9 * 1440], "{fridays}");
        }
        // A step of 2 is no wildcard: odd days or Fridays.
        assert_eq!(firings("0 0 */2 * 5", 3), [1440, 2 * 1440, 3 * 1440]);
        // An empty weekday list leaves the day of month alone; an empty minute never fires.
        assert_eq!(firings("0 0 5 * ,", 2), [3 * 1440, 34 * 1440]);
        assert_eq!(firings(", 0 * * *", 1), Vec::<i128>::new());
    }

    #[test]
    fn what_robfig_refuses_does_not_parse() {
        for text in [
            "0 0 L * *",
            "0 0 1W * *",
            "0 9 * * 1#2",
            "0 9 * * 5L",
            "0 22 * * 7",
            "0 22 * * FRI-SUN",
            "0 0 * MON *",
            "0 0 mon * *",
            "/5 * * * *",
            "*/0 * * * *",
            "5-3 * * * *",
            "1-2-3 * * * *",
            "1/2/3 * * * *",
            "-1 * * * *",
            "60 * * * *",
            "0 24 * * *",
            "0 0 0 * *",
            "0 0 * 13 *",
            "0 0 * * * *",
            "0 0 * *",
            "0 0 * * monday",
        ] {
            assert!(CronSchedule::parse(text).is_none(), "{text}");
        }
    }
}
