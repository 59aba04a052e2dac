//! Go's `time.Time` as sprig's date functions use it: formatting and parsing with Go's reference layout
//! (`2006-01-02 15:04:05.999999999 -0700 MST`), `time.ParseDuration`, `time.LoadLocation` (IANA zones
//! read through `jiff` from the system's time zone database, else from the copy built into the binary),
//! `Time.String` (with the monotonic `m=` reading of a `now`), and the zero-argument methods a template
//! can reach as fields (`.Year`, `.Unix`, `.UTC`, ...).
//!
//! `time.Local` is what Go's is: the zone `TZ` names, else `/etc/localtime`, else UTC. Both kseal's
//! controller and the Go engines it follows run in containers where that is normally UTC.
//!
//! Error messages never quote the value being parsed: only what went wrong.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use kseal_api::duration::leading_int;

/// A Go `time.Time`: an instant, the location it is shown in and, for a `now`, the monotonic reading.
#[derive(Clone, Debug)]
pub(crate) struct GoTime {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub(crate) unix: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub(crate) nsec: u32,
    pub(crate) zone: Zone,
    /// A monotonic clock reading in nanoseconds, as Go keeps for `time.Now()` (Go counts from the
    /// process start, kseal from its first reading: only its shape can be compared).
    pub(crate) mono: Option<i64>,
}

/// A Go `*time.Location`.
#[derive(Clone, Debug)]
pub(crate) enum Zone {
    Utc,
    Local,
    /// `time.FixedZone(name, offset)`, as parsing a numeric offset or an unknown abbreviation makes.
    Fixed {
        name: String,
        offset: i32,
    },
    Named(TimeZone),
}

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero time is 0001-01-01 00:00:00 UTC.
const ZERO_UNIX: i64 = -62_135_596_800;

fn local_tz() -> &'static TimeZone {
    static LOCAL: OnceLock<TimeZone> = OnceLock::new();
    LOCAL.get_or_init(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn tz_lookup(tz: &TimeZone, unix: i64) -> (String, i32) {
    let secs = unix.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let info = tz.to_offset_info(ts);
    (info.abbreviation().to_owned(), info.offset().seconds())
}

impl Zone {
    /// The zone's abbreviation and offset east of UTC in seconds at `unix` (Go's `Location.lookup`).
    pub(crate) fn lookup(&self, unix: i64) -> (String, i32) {
        match self {
            Zone::Utc => ("UTC".into(), 0),
            Zone::Local => tz_lookup(local_tz(), unix),
            Zone::Fixed { name, offset } => (name.clone(), *offset),
            Zone::Named(tz) => tz_lookup(tz, unix),
        }
    }

    /// Go's `Location.String`: the name the location was loaded by.
    fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Local => "Local".into(),
            Zone::Fixed { name, .. } => name.clone(),
            Zone::Named(tz) => tz.iana_name().unwrap_or("").to_owned(),
        }
    }

    /// Go's `Location.lookupName`: the offset of a zone called `name`, preferring one in effect at
    /// `unix` less its offset, else any the location ever had (its transitions up to 2100 are read).
    fn lookup_name(&self, name: &str, unix: i64) -> Option<i32> {
        let tz = match self {
            Zone::Utc => return (name == "UTC").then_some(0),
            Zone::Fixed { name: n, offset } => return (n == name).then_some(*offset),
            Zone::Local => local_tz(),
            Zone::Named(tz) => tz,
        };
        let (abbrev, offset) = tz_lookup(tz, unix - i64::from(tz_lookup(tz, unix).1));
        if abbrev == name {
            return Some(offset);
        }
        const Y2100: i64 = 4_102_444_800;
        let mut offsets: Vec<i32> = Vec::new();
        // The zone before the first transition (local mean time, usually) is not a transition.
        let (first, off) = tz_lookup(tz, i64::MIN);
        if first == name {
            offsets.push(off);
        }
        for tr in tz.following(jiff::Timestamp::MIN).take(2000) {
            if tr.timestamp().as_second() > Y2100 {
                break;
            }
            let off = tr.offset().seconds();
            if tr.abbreviation() == name && !offsets.contains(&off) {
                offsets.push(off);
            }
        }
        for &off in &offsets {
            let (abbrev, offset) = tz_lookup(tz, unix - i64::from(off));
            if abbrev == name {
                return Some(offset);
            }
        }
        offsets.first().copied()
    }
}

/// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" is `time.Local`, anything else an IANA name
/// (case as the database spells it).
pub(crate) fn load_location(name: &str) -> Option<Zone> {
    match name {
        "" | "UTC" => return Some(Zone::Utc),
        "Local" => return Some(Zone::Local),
        _ => {}
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    let tz = TimeZone::get(name).ok()?;
    (tz.iana_name() == Some(name)).then_some(Zone::Named(tz))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y.saturating_sub(1) } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Past the range of any real date (AddDate of huge years) this wraps, as Go's arithmetic does.
    era.wrapping_mul(146_097).wrapping_add(doe - 719_468)
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.wrapping_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: u32, y: i64) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The wall clock of a time in its zone.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    weekday: usize,
    hour: u32,
    min: u32,
    sec: u32,
}

impl GoTime {
    /// Go's zero `time.Time{}` (what `toDate` gives for a bad date).
    pub(crate) fn zero() -> GoTime {
        GoTime {
            unix: ZERO_UNIX,
            nsec: 0,
            zone: Zone::Utc,
            mono: None,
        }
    }

    /// `time.Now()`: in `time.Local`, with a monotonic reading.
    pub(crate) fn now() -> GoTime {
        let start = process_start();
        let (unix, nsec) = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => {
                let d = e.duration();
                let (s, n) = (
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                );
                if n == 0 {
                    (-s, 0)
                } else {
                    (-s - 1, 1_000_000_000 - n)
                }
            }
        };
        let mono = i64::try_from(start.elapsed().as_nanos())
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        GoTime {
            unix,
            nsec,
            zone: Zone::Local,
            mono: Some(mono),
        }
    }

    /// `time.Unix(secs, 0)`, in `time.Local`.
    pub(crate) fn from_unix(secs: i64) -> GoTime {
        GoTime {
            unix: secs,
            nsec: 0,
            zone: Zone::Local,
            mono: None,
        }
    }

    /// The same instant shown in `zone` (`Time.In`); the monotonic reading is kept.
    pub(crate) fn in_zone(&self, zone: Zone) -> GoTime {
        GoTime {
            zone,
            ..self.clone()
        }
    }

    /// `Time.Add(d)` for `d` nanoseconds.
    pub(crate) fn add(&self, d: i64) -> GoTime {
        let total = i128::from(self.nsec) + i128::from(d % 1_000_000_000);
        let mut unix = self.unix.saturating_add(d / 1_000_000_000);
        let mut nsec = total;
        if nsec >= 1_000_000_000 {
            unix = unix.saturating_add(1);
            nsec -= 1_000_000_000;
        } else if nsec < 0 {
            unix = unix.saturating_sub(1);
            nsec += 1_000_000_000;
        }
        GoTime {
            unix,
            nsec: nsec as u32,
            zone: self.zone.clone(),
            mono: self.mono.map(|m| m.saturating_add(d)),
        }
    }

    /// `Time.AddDate(years, months, days)`: the wall clock moved in the time's zone, normalized as Go's
    /// `time.Date` does (October 31 plus one month is December 1); the monotonic reading is dropped.
    pub(crate) fn add_date(&self, years: i64, months: i64, days: i64) -> GoTime {
        let (c, _, _) = self.civil();
        let m = i64::from(c.month) - 1 + months;
        let y = c
            .year
            .saturating_add(years)
            .saturating_add(m.div_euclid(12));
        let m = (m.rem_euclid(12) + 1) as u32;
        let day = days_from_civil(y, m, 1)
            .saturating_add(i64::from(c.day) - 1)
            .saturating_add(days);
        let (y, m, d) = civil_from_days(day);
        GoTime {
            unix: date_in(
                &self.zone,
                y,
                m,
                d,
                c.hour.into(),
                c.min.into(),
                c.sec.into(),
            ),
            nsec: self.nsec,
            zone: self.zone.clone(),
            mono: None,
        }
    }

    /// `Time.Sub(u)` in nanoseconds, saturating as Go's does.
    pub(crate) fn sub(&self, u: &GoTime) -> i64 {
        if let (Some(a), Some(b)) = (self.mono, u.mono) {
            return a.saturating_sub(b);
        }
        let d = (i128::from(self.unix) - i128::from(u.unix)) * 1_000_000_000
            + (i128::from(self.nsec) - i128::from(u.nsec));
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    fn civil(&self) -> (Civil, String, i32) {
        let (name, offset) = self.zone.lookup(self.unix);
        let local = i128::from(self.unix) + i128::from(offset);
        let days = local.div_euclid(86_400) as i64;
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        let civil = Civil {
            year,
            month,
            day,
            yday,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
        };
        (civil, name, offset)
    }

    /// Go's `Time.Format(layout)`.
    pub(crate) fn format(&self, layout: &str) -> String {
        let (c, name, offset) = self.civil();
        let mut b = String::with_capacity(layout.len() + 10);
        let mut layout = layout;
        while !layout.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(layout);
            b.push_str(prefix);
            let Some(std) = std else { break };
            layout = suffix;
            match std {
                Std::Year => push_int(&mut b, c.year.abs() % 100, 2),
                Std::LongYear => push_int(&mut b, c.year, 4),
                Std::Month => b.push_str(&LONG_MONTHS[c.month as usize - 1][..3]),
                Std::LongMonth => b.push_str(LONG_MONTHS[c.month as usize - 1]),
                Std::NumMonth => push_int(&mut b, c.month.into(), 0),
                Std::ZeroMonth => push_int(&mut b, c.month.into(), 2),
                Std::WeekDay => b.push_str(&LONG_DAYS[c.weekday][..3]),
                Std::LongWeekDay => b.push_str(LONG_DAYS[c.weekday]),
                Std::Day => push_int(&mut b, c.day.into(), 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    push_int(&mut b, c.day.into(), 0);
                }
                Std::ZeroDay => push_int(&mut b, c.day.into(), 2),
                Std::UnderYearDay => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    push_int(&mut b, c.yday.into(), 0);
                }
                Std::ZeroYearDay => push_int(&mut b, c.yday.into(), 3),
                Std::Hour => push_int(&mut b, c.hour.into(), 2),
                Std::Hour12 | Std::ZeroHour12 => {
                    let hr = match c.hour % 12 {
                        0 => 12,
                        h => h,
                    };
                    push_int(&mut b, hr.into(), if std == Std::Hour12 { 0 } else { 2 });
                }
                Std::Minute => push_int(&mut b, c.min.into(), 0),
                Std::ZeroMinute => push_int(&mut b, c.min.into(), 2),
                Std::Second => push_int(&mut b, c.sec.into(), 0),
                Std::ZeroSecond => push_int(&mut b, c.sec.into(), 2),
                Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::Tz(tz) => {
                    if offset == 0 && tz.iso {
                        b.push('Z');
                        continue;
                    }
                    let zone = offset / 60;
                    b.push(if zone < 0 { '-' } else { '+' });
                    let (zone, abs) = (zone.abs(), offset.abs());
                    push_int(&mut b, (zone / 60).into(), 2);
                    if tz.colon {
                        b.push(':');
                    }
                    if !tz.short {
                        push_int(&mut b, (zone % 60).into(), 2);
                    }
                    if tz.seconds {
                        if tz.colon {
                            b.push(':');
                        }
                        push_int(&mut b, (abs % 60).into(), 2);
                    }
                }
                Std::ZoneName => {
                    if !name.is_empty() {
                        b.push_str(&name);
                        continue;
                    }
                    let zone = offset / 60;
                    b.push(if zone < 0 { '-' } else { '+' });
                    let zone = zone.abs();
                    push_int(&mut b, (zone / 60).into(), 2);
                    push_int(&mut b, (zone % 60).into(), 2);
                }
                Std::Frac { trim, digits, sep } => {
                    if trim && (digits == 0 || self.nsec == 0) {
                        continue;
                    }
                    let start = b.len();
                    b.push(sep);
                    let n = format!("{:09}", self.nsec);
                    b.push_str(&n[..digits.min(9)]);
                    if trim {
                        while b.len() > start && b.ends_with('0') {
                            b.pop();
                        }
                        if b.len() == start + 1 {
                            b.pop();
                        }
                    }
                }
            }
        }
        b
    }

    /// Go's `Time.String`: `2006-01-02 15:04:05.999999999 -0700 MST`, then ` m=±s.nnnnnnnnn` for a `now`.
    pub(crate) fn go_string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        s
    }

    /// The zero-argument methods of `time.Time` a template reaches as fields (`.Year`, `.Unix`, ...).
    pub(crate) fn method(&self, name: &str) -> Option<Field> {
        let (c, _, _) = self.civil();
        Some(match name {
            "Year" => Field::Int(c.year),
            "Month" => Field::Str(LONG_MONTHS[c.month as usize - 1].into()),
            "Day" => Field::Int(c.day.into()),
            "YearDay" => Field::Int(c.yday.into()),
            "Weekday" => Field::Str(LONG_DAYS[c.weekday].into()),
            "Hour" => Field::Int(c.hour.into()),
            "Minute" => Field::Int(c.min.into()),
            "Second" => Field::Int(c.sec.into()),
            "Nanosecond" => Field::Int(self.nsec.into()),
            "Unix" => Field::Int(self.unix),
            "UnixMilli" => Field::Int(
                self.unix
                    .saturating_mul(1000)
                    .saturating_add(i64::from(self.nsec / 1_000_000)),
            ),
            "UnixMicro" => Field::Int(
                self.unix
                    .saturating_mul(1_000_000)
                    .saturating_add(i64::from(self.nsec / 1000)),
            ),
            "UnixNano" => Field::Int(
                self.unix
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(i64::from(self.nsec)),
            ),
            "IsZero" => Field::Bool(self.unix == ZERO_UNIX && self.nsec == 0),
            "UTC" => Field::Time(self.in_zone(Zone::Utc)),
            "Local" => Field::Time(self.in_zone(Zone::Local)),
            "Location" => Field::Str(self.zone.name()),
            "String" => Field::Str(self.go_string()),
            _ => return None,
        })
    }

    /// The RFC 3339 text Go's `encoding/json` writes for a time (`Time.MarshalJSON`), or `None` for a
    /// year outside 0..=9999, which Go refuses.
    pub(crate) fn json_text(&self) -> Option<String> {
        let (c, _, _) = self.civil();
        if !(0..=9999).contains(&c.year) {
            return None;
        }
        Some(self.format("2006-01-02T15:04:05.999999999Z07:00"))
    }
}

/// A method's result.
pub(crate) enum Field {
    Int(i64),
    Str(String),
    Bool(bool),
    Time(GoTime),
}

/// Go's `appendInt`: `x` in decimal, zero-padded to `width` digits (after a `-`).
fn push_int(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    let digits = x.unsigned_abs().to_string();
    for _ in digits.len()..width {
        b.push('0');
    }
    b.push_str(&digits);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TzStd {
    /// `Z...`: `Z` for UTC.
    iso: bool,
    colon: bool,
    seconds: bool,
    /// `-07`: hours only.
    short: bool,
}

/// An element of a Go layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    ZoneName,
    Tz(TzStd),
    /// `.000` (`trim` false) or `.999`: `digits` places, `sep` '.' or ','.
    Frac {
        trim: bool,
        digits: usize,
        sep: char,
    },
}

fn starts_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, and the rest.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let l = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    for i in 0..l.len() {
        let one = |std: Std, len: usize| (&layout[..i], Some(std), &layout[i + len..]);
        match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return one(Std::LongMonth, 7);
                }
                if !starts_lower(&layout[i + 3..]) {
                    return one(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return one(Std::LongWeekDay, 6);
                    }
                    if !starts_lower(&layout[i + 3..]) {
                        return one(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return one(Std::ZoneName, 3);
                }
            }
            b'0' => {
                if let Some(&c) = l.get(i + 1)
                    && (b'1'..=b'6').contains(&c)
                {
                    let std = [
                        Std::ZeroMonth,
                        Std::ZeroDay,
                        Std::ZeroHour12,
                        Std::ZeroMinute,
                        Std::ZeroSecond,
                        Std::Year,
                    ][usize::from(c - b'1')];
                    return one(std, 2);
                }
                if at(i, "002") {
                    return one(Std::ZeroYearDay, 3);
                }
            }
            b'1' => {
                if at(i, "15") {
                    return one(Std::Hour, 2);
                }
                return one(Std::NumMonth, 1);
            }
            b'2' => {
                if at(i, "2006") {
                    return one(Std::LongYear, 4);
                }
                return one(Std::Day, 1);
            }
            b'_' => {
                if at(i, "_2") {
                    if at(i, "_2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return one(Std::UnderDay, 2);
                }
                if at(i, "__2") {
                    return one(Std::UnderYearDay, 3);
                }
            }
            b'3' => return one(Std::Hour12, 1),
            b'4' => return one(Std::Minute, 1),
            b'5' => return one(Std::Second, 1),
            b'P' if at(i, "PM") => return one(Std::PM, 2),
            b'p' if at(i, "pm") => return one(Std::Pm, 2),
            b'-' | b'Z' => {
                let iso = l[i] == b'Z';
                let tz = |colon, seconds, short| {
                    Std::Tz(TzStd {
                        iso,
                        colon,
                        seconds,
                        short,
                    })
                };
                let p = if iso { "Z" } else { "-" };
                if at(i, &format!("{p}070000")) {
                    return one(tz(false, true, false), 7);
                }
                if at(i, &format!("{p}07:00:00")) {
                    return one(tz(true, true, false), 9);
                }
                if at(i, &format!("{p}0700")) {
                    return one(tz(false, false, false), 5);
                }
                if at(i, &format!("{p}07:00")) {
                    return one(tz(true, false, false), 6);
                }
                if at(i, &format!("{p}07")) {
                    return one(tz(false, false, true), 3);
                }
            }
            c @ (b'.' | b',') => {
                if let Some(&ch) = l.get(i + 1)
                    && (ch == b'0' || ch == b'9')
                {
                    let mut j = i + 1;
                    while j < l.len() && l[j] == ch {
                        j += 1;
                    }
                    if !l.get(j).is_some_and(u8::is_ascii_digit) {
                        let std = Std::Frac {
                            trim: ch == b'9',
                            digits: (j - (i + 1)) & 0xfff,
                            sep: char::from(c),
                        };
                        return (&layout[..i], Some(std), &layout[j..]);
                    }
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}

/// Why a date did not parse. No variant holds text of the value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The value does not match the layout element (which is template text or data: not shown).
    Mismatch,
    /// Text is left after the layout ended.
    ExtraText,
    /// A field is out of range ("month", "day", "hour", ...).
    Range(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Mismatch => {
                f.write_str("parsing time: the value does not match the layout")
            }
            ParseError::ExtraText => f.write_str("parsing time: extra text after the layout"),
            ParseError::Range(what) => write!(f, "parsing time: {what} out of range"),
        }
    }
}

/// Go's `getnum`: one or two digits (two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let d0 = b.first().filter(|c| c.is_ascii_digit())?;
    match b.get(1).filter(|c| c.is_ascii_digit()) {
        Some(d1) => Some((i64::from((d0 - b'0') * 10 + (d1 - b'0')), &s[2..])),
        None if fixed => None,
        None => Some((i64::from(d0 - b'0'), &s[1..])),
    }
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < 3 && b.get(i).is_some_and(u8::is_ascii_digit) {
        n = n * 10 + i64::from(b[i] - b'0');
        i += 1;
    }
    if i == 0 || fixed && i != 3 {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `skip`: the literal `prefix` at the start of `value`, where a space matches any run of spaces.
/// Bytes are compared one by one, so a prefix matched whole ends on a character boundary of `value`.
fn skip<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let (v, p) = (value.as_bytes(), prefix.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < p.len() {
        if p[j] == b' ' {
            if i < v.len() && v[i] != b' ' {
                return None;
            }
            while j < p.len() && p[j] == b' ' {
                j += 1;
            }
            while i < v.len() && v[i] == b' ' {
                i += 1;
            }
            continue;
        }
        if i >= v.len() || v[i] != p[j] {
            return None;
        }
        i += 1;
        j += 1;
    }
    value.get(i..)
}

/// Go's `lookup`: a name from `tab` at the start of `val`, matched ignoring ASCII case.
fn lookup_name<'a>(tab: &[&str], val: &'a str) -> Option<(usize, &'a str)> {
    for (i, v) in tab.iter().enumerate() {
        if val.len() >= v.len()
            && val.is_char_boundary(v.len())
            && val.as_bytes()[..v.len()].eq_ignore_ascii_case(v.as_bytes())
        {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

/// Go's `atoi` for the layout's numbers: an optional sign and digits, nothing else.
fn atoi(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (q, rem) = leading_int(digits)?;
    if !rem.is_empty() {
        return None;
    }
    let x = q as i64;
    Some(if neg { x.wrapping_neg() } else { x })
}

/// Go's `parseNanoseconds`: `value[..nbytes]` is a separator and digits.
fn parse_nanos(value: &str, nbytes: usize) -> Result<i64, ParseError> {
    if !matches!(value.as_bytes().first(), Some(b'.' | b',')) {
        return Err(ParseError::Mismatch);
    }
    let nbytes = nbytes.min(10);
    let ns = value
        .get(1..nbytes)
        .and_then(atoi)
        .ok_or(ParseError::Mismatch)?;
    if ns < 0 {
        return Err(ParseError::Range("fractional second"));
    }
    Ok(ns * 10i64.pow((10 - nbytes) as u32))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn parse_time_zone(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if value.starts_with("ChST") || value.starts_with("MeST") {
        return Some(4);
    }
    if let Some(rest) = value.strip_prefix("GMT") {
        return Some(3 + parse_signed_offset(rest));
    }
    if b[0] == b'+' || b[0] == b'-' {
        let n = parse_signed_offset(value);
        return (n > 0).then_some(n);
    }
    let upper = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        5 if b[4] == b'T' => Some(5),
        4 if b[3] == b'T' || value.starts_with("WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

fn parse_signed_offset(value: &str) -> usize {
    let Some(&sign) = value.as_bytes().first() else {
        return 0;
    };
    if sign != b'-' && sign != b'+' {
        return 0;
    }
    match leading_int(&value[1..]) {
        Some((x, rem)) if rem.len() != value.len() - 1 && x <= 23 => value.len() - rem.len(),
        _ => 0,
    }
}

/// Seconds since 1970 of a wall clock in `zone` (Go's `time.Date`, whose fields are in range here).
fn date_in(zone: &Zone, y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    let wall = days_from_civil(y, mo, d)
        .saturating_mul(86_400)
        .saturating_add(h * 3600 + mi * 60 + s);
    let (_, off) = zone.lookup(wall);
    let (_, off) = zone.lookup(wall - i64::from(off));
    wall - i64::from(off)
}

/// Go's `time.ParseInLocation(layout, value, loc)`.
pub(crate) fn parse_in_location(
    layout: &str,
    value: &str,
    loc: &Zone,
) -> Result<GoTime, ParseError> {
    let mut layout = layout;
    let mut value = value;
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut z: Option<Zone> = None;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        value = skip(value, prefix).ok_or(ParseError::Mismatch)?;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(ParseError::ExtraText);
            }
            break;
        };
        layout = suffix;
        let bad = ParseError::Mismatch;
        let mut range: Option<&'static str> = None;
        match std {
            Std::Year => {
                let p = value.get(..2).ok_or(ParseError::Mismatch)?;
                value = &value[2..];
                year = atoi(p).ok_or(bad)?;
                year += if year >= 69 { 1900 } else { 2000 };
            }
            Std::LongYear => {
                if value.len() < 4 || !value.as_bytes()[0].is_ascii_digit() {
                    return Err(bad);
                }
                let p = value.get(..4).ok_or(ParseError::Mismatch)?;
                value = &value[4..];
                year = atoi(p).ok_or(bad)?;
            }
            Std::Month | Std::LongMonth => {
                let tab: Vec<&str> = if std == Std::Month {
                    LONG_MONTHS.iter().map(|m| &m[..3]).collect()
                } else {
                    LONG_MONTHS.to_vec()
                };
                let (m, rest) = lookup_name(&tab, value).ok_or(bad)?;
                month = m as i64 + 1;
                value = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = getnum(value, std == Std::ZeroMonth).ok_or(bad)?;
                (month, value) = (m, rest);
                if !(1..=12).contains(&month) {
                    range = Some("month");
                }
            }
            Std::WeekDay | Std::LongWeekDay => {
                let tab: Vec<&str> = if std == Std::WeekDay {
                    LONG_DAYS.iter().map(|m| &m[..3]).collect()
                } else {
                    LONG_DAYS.to_vec()
                };
                value = lookup_name(&tab, value).ok_or(bad)?.1;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                (day, value) = getnum(value, std == Std::ZeroDay).ok_or(bad)?;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                }
                (yday, value) = getnum3(value, std == Std::ZeroYearDay).ok_or(bad)?;
            }
            Std::Hour => {
                (hour, value) = getnum(value, false).ok_or(bad)?;
                if !(0..24).contains(&hour) {
                    range = Some("hour");
                }
            }
            Std::Hour12 | Std::ZeroHour12 => {
                (hour, value) = getnum(value, std == Std::ZeroHour12).ok_or(bad)?;
                if !(0..=12).contains(&hour) {
                    range = Some("hour");
                }
            }
            Std::Minute | Std::ZeroMinute => {
                (min, value) = getnum(value, std == Std::ZeroMinute).ok_or(bad)?;
                if !(0..60).contains(&min) {
                    range = Some("minute");
                }
            }
            Std::Second | Std::ZeroSecond => {
                (sec, value) = getnum(value, std == Std::ZeroSecond).ok_or(bad)?;
                if !(0..60).contains(&sec) {
                    return Err(ParseError::Range("second"));
                }
                let b = value.as_bytes();
                if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    let next = next_std_chunk(layout).1;
                    if !matches!(next, Some(Std::Frac { .. })) {
                        let mut n = 2;
                        while n < b.len() && b[n].is_ascii_digit() {
                            n += 1;
                        }
                        nsec = parse_nanos(value, n)?;
                        value = &value[n..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                let p = value.get(..2).ok_or(ParseError::Mismatch)?;
                value = &value[2..];
                let (up, down) = if std == Std::PM {
                    ("PM", "AM")
                } else {
                    ("pm", "am")
                };
                if p == up {
                    pm = true;
                } else if p == down {
                    am = true;
                } else {
                    return Err(bad);
                }
            }
            Std::Tz(tz) => {
                if tz.iso && value.starts_with('Z') {
                    value = &value[1..];
                    z = Some(Zone::Utc);
                } else {
                    let b = value.as_bytes();
                    let (need, parts): (usize, [(usize, usize); 3]) = if tz.colon && !tz.seconds {
                        if b.len() < 6 || b[3] != b':' {
                            return Err(bad);
                        }
                        (6, [(1, 3), (4, 6), (0, 0)])
                    } else if tz.short {
                        (3, [(1, 3), (0, 0), (0, 0)])
                    } else if tz.colon {
                        if b.len() < 9 || b[3] != b':' || b[6] != b':' {
                            return Err(bad);
                        }
                        (9, [(1, 3), (4, 6), (7, 9)])
                    } else if tz.seconds {
                        (7, [(1, 3), (3, 5), (5, 7)])
                    } else {
                        (5, [(1, 3), (3, 5), (0, 0)])
                    };
                    if b.len() < need || !value.is_char_boundary(need) {
                        return Err(bad);
                    }
                    // Two digits at `s` (Go's fixed `getnum`); nothing when `s == e`.
                    let num = |(s, e): (usize, usize)| -> Option<i64> {
                        if s == e {
                            return Some(0);
                        }
                        let (d0, d1) = (b[s], b[s + 1]);
                        (d0.is_ascii_digit() && d1.is_ascii_digit())
                            .then(|| i64::from((d0 - b'0') * 10 + (d1 - b'0')))
                    };
                    let hr = num(parts[0]).ok_or(ParseError::Mismatch)?;
                    let mm = num(parts[1]).ok_or(ParseError::Mismatch)?;
                    let ss = num(parts[2]).ok_or(ParseError::Mismatch)?;
                    if hr > 24 {
                        range = Some("time zone offset hour");
                    }
                    if mm > 60 {
                        range = Some("time zone offset minute");
                    }
                    if ss > 60 {
                        range = Some("time zone offset second");
                    }
                    let off = (hr * 60 + mm) * 60 + ss;
                    let sign = b[0];
                    value = &value[need..];
                    if let Some(r) = range {
                        return Err(ParseError::Range(r));
                    }
                    zone_offset = Some(match sign {
                        b'+' => off,
                        b'-' => -off,
                        _ => return Err(bad),
                    });
                }
            }
            Std::ZoneName => {
                if value.starts_with("UTC") {
                    z = Some(Zone::Utc);
                    value = &value[3..];
                } else {
                    let n = parse_time_zone(value).ok_or(bad)?;
                    zone_name = value[..n].to_owned();
                    value = &value[n..];
                }
            }
            Std::Frac {
                trim: false,
                digits,
                ..
            } => {
                let ndigit = 1 + digits;
                if value.len() < ndigit || !value.is_char_boundary(ndigit) {
                    return Err(bad);
                }
                nsec = parse_nanos(value, ndigit)?;
                value = &value[ndigit..];
            }
            Std::Frac { trim: true, .. } => {
                let b = value.as_bytes();
                if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    let mut i = 0;
                    while i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                        i += 1;
                    }
                    nsec = parse_nanos(value, 1 + i)?;
                    value = &value[1 + i..];
                }
            }
        }
        if let Some(r) = range {
            return Err(ParseError::Range(r));
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let mut d = 0;
        let mut m = 0;
        if is_leap(year) {
            if yday == 31 + 29 {
                m = 2;
                d = 29;
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(ParseError::Range("day-of-year"));
        }
        let before = |m: i64| -> i64 {
            (1..m)
                .map(|k| i64::from(days_in(k as u32, 2001)))
                .sum::<i64>()
        };
        if m == 0 {
            m = (yday - 1) / 31 + 1;
            if before(m + 1) < yday {
                m += 1;
            }
            d = yday - before(m);
        }
        if month >= 0 && month != m {
            return Err(ParseError::Mismatch);
        }
        month = m;
        if day >= 0 && day != d {
            return Err(ParseError::Mismatch);
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > i64::from(days_in(month as u32, year)) {
        return Err(ParseError::Range("day"));
    }
    let (mo, d) = (month as u32, day as u32);
    let nsec = nsec as u32;
    if let Some(z) = z {
        let unix = date_in(&z, year, mo, d, hour, min, sec);
        return Ok(GoTime {
            unix,
            nsec,
            zone: z,
            mono: None,
        });
    }
    if let Some(off) = zone_offset {
        let unix = date_in(&Zone::Utc, year, mo, d, hour, min, sec) - off;
        let (name, offset) = loc.lookup(unix);
        let zone = if i64::from(offset) == off && (zone_name.is_empty() || name == zone_name) {
            loc.clone()
        } else {
            Zone::Fixed {
                name: zone_name,
                offset: off as i32,
            }
        };
        return Ok(GoTime {
            unix,
            nsec,
            zone,
            mono: None,
        });
    }
    if !zone_name.is_empty() {
        let wall = date_in(&Zone::Utc, year, mo, d, hour, min, sec);
        if let Some(offset) = loc.lookup_name(&zone_name, wall) {
            return Ok(GoTime {
                unix: wall - i64::from(offset),
                nsec,
                zone: loc.clone(),
                mono: None,
            });
        }
        let mut offset = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            offset = atoi(&zone_name[3..]).unwrap_or(0) * 3600;
        }
        // Go keeps the wall clock as UTC and only shows it in the made-up zone.
        return Ok(GoTime {
            unix: wall,
            nsec,
            zone: Zone::Fixed {
                name: zone_name,
                offset: offset as i32,
            },
            mono: None,
        });
    }
    Ok(GoTime {
        unix: date_in(loc, year, mo, d, hour, min, sec),
        nsec,
        zone: loc.clone(),
        mono: None,
    })
}

/// Go's `time.ParseDuration` in nanoseconds; `None` when invalid.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    kseal_api::duration::nanos(s)
}

/// Go's `Duration.Round(m)` for `m` > 0.
pub(crate) fn round_duration(d: i64, m: i64) -> i64 {
    let less_than_half = |x: i64, y: i64| (x as u64).wrapping_add(x as u64) < y as u64;
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if less_than_half(r, m) {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if less_than_half(r, m) {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(layout: &str, value: &str) -> GoTime {
        parse_in_location(layout, value, &Zone::Utc).unwrap()
    }

    #[test]
    fn formats_like_go() {
        let t = utc("2006-01-02 15:04:05.000000", "2024-03-05 07:08:09.123456");
        assert_eq!(t.go_string(), "2024-03-05 07:08:09.123456 +0000 UTC");
        assert_eq!(
            t.format("Mon Monday Jan January 1 01 2 _2 02 __2 002 3 03 15 4 04 5 05 PM pm 06 2006"),
            "Tue Tuesday Mar March 3 03 5  5 05  65 065 7 07 07 8 08 9 09 AM am 24 2024"
        );
        assert_eq!(t.format(".000 .999 ,9 .0"), ".123 .123 ,1 .1");
        assert_eq!(
            t.format("Z07:00 -07:00 Z0700 -07 MST"),
            "Z +00:00 Z +00 UTC"
        );
        let f = utc("2006-01-02T15:04:05Z07:00", "2024-03-05T07:08:09-05:30");
        assert_eq!(
            f.format(time_layouts::RFC1123Z),
            "Tue, 05 Mar 2024 07:08:09 -0530"
        );
        assert_eq!(f.format("MST"), "-0530");
        assert_eq!(f.unix, 1_709_642_289);
        assert_eq!(GoTime::zero().go_string(), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(GoTime::zero().unix, -62_135_596_800);
    }

    mod time_layouts {
        pub(super) const RFC1123Z: &str = "Mon, 02 Jan 2006 15:04:05 -0700";
    }

    #[test]
    fn parses_like_go() {
        assert!(parse_in_location("2006-01-02", "2024-02-30", &Zone::Utc).is_err());
        assert!(parse_in_location("2006-01-02", "2024-02-29x", &Zone::Utc).is_err());
        assert_eq!(
            utc("Jan _2 2006", "feb  9 2024").format("2006-01-02"),
            "2024-02-09"
        );
        assert_eq!(utc("3:04PM", "12:30AM").format("15:04"), "00:30");
        assert_eq!(utc("2006 002", "2024 060").format("01-02"), "02-29");
        let t = utc("2006-01-02 MST", "2024-01-02 PST");
        assert_eq!(t.go_string(), "2024-01-02 00:00:00 +0000 PST");
        let t = utc("2006-01-02 MST", "2024-01-02 GMT+3");
        assert_eq!(t.format("15:04 -0700"), "03:00 +0300");
    }

    #[test]
    fn parsing_never_panics_on_multibyte_text() {
        let layouts = [
            "2006-01-02",
            "-0700",
            "Z07:00",
            "-07:00:00",
            "-070000",
            "MST",
            "Jan",
            "Monday",
            "é2006",
            "2006é",
            "05.000",
            "05.999",
            "_2 __2 002",
            "3PM",
            "é é",
            "ééé -07",
        ];
        let values = [
            "é",
            "+1é00",
            "+é:00",
            "-0é:00:00",
            "2024é",
            "éé",
            "+12:3é",
            "10.é",
            "Jé",
            "Moé",
            "é2024",
            "2024é",
            "é  é",
            "GMT+é",
            "+1é",
            "  é",
            "ééé -0é",
        ];
        for l in layouts {
            for v in values {
                let _ = parse_in_location(l, v, &Zone::Utc);
            }
        }
    }

    #[test]
    fn extreme_dates_do_not_overflow() {
        for secs in [i64::MIN, -1, 0, i64::MAX] {
            let t = GoTime::from_unix(secs).in_zone(Zone::Utc);
            let _ = t.go_string();
            let _ = t.add_date(i64::MAX, i64::MIN, i64::MAX).go_string();
            let _ = t.add(i64::MAX).add(i64::MIN).go_string();
        }
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-1.5s"), Some(-1_500_000_000));
        assert_eq!(parse_duration(".5ms"), Some(500_000));
        assert_eq!(parse_duration("1"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("3d"), None);
        assert_eq!(round_duration(1_500_000_000, 1_000_000_000), 2_000_000_000);
        assert_eq!(
            round_duration(-1_499_999_999, 1_000_000_000),
            -1_000_000_000
        );
    }

    #[test]
    fn zones() {
        let berlin = load_location("Europe/Berlin").unwrap();
        let t = GoTime::from_unix(1_709_600_000).in_zone(berlin);
        assert_eq!(t.format("15:04 MST -07:00"), "01:53 CET +01:00");
        assert!(load_location("europe/berlin").is_none());
        // Parsing an abbreviation in a location: one in effect, one the zone once had, an unknown one.
        let ny = load_location("America/New_York").unwrap();
        let t = parse_in_location("2006-01-02 15:04 MST", "2024-07-01 10:00 EDT", &ny).unwrap();
        assert_eq!(t.go_string(), "2024-07-01 10:00:00 -0400 EDT");
        let t = parse_in_location("2006-01-02 15:04 MST", "2024-07-01 10:00 EWT", &ny).unwrap();
        assert_eq!(t.go_string(), "2024-07-01 10:00:00 -0400 EDT");
        let t = parse_in_location("2006-01-02 15:04 MST", "2024-01-01 10:00 LMT", &ny).unwrap();
        assert_eq!(t.go_string(), "2024-01-01 09:56:02 -0500 EST");
        let t = parse_in_location("2006-01-02 15:04 MST", "2024-07-01 10:00 XYZ", &ny).unwrap();
        assert_eq!(t.go_string(), "2024-07-01 10:00:00 +0000 XYZ");
        assert!(load_location("Nowhere/Town").is_none());
    }
}
