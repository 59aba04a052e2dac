//! Durations written the way Go programs (and so sealed-secrets and ESO manifests) write them:
//! Go's `time.ParseDuration` (`720h`, `1h30m`, `1.5h`, `300ms`, `2h45m`, `-1s`, `0`).

use std::time::Duration;

/// Parses a Go duration that must not be negative (the flags of sealed-secrets take them).
pub fn parse(text: &str) -> Result<Duration, String> {
    match nanos(text) {
        Some(n) if n >= 0 => Ok(Duration::from_nanos(n.unsigned_abs())),
        Some(_) => Err(format!("invalid duration {text:?}: must not be negative")),
        None => Err(invalid(text)),
    }
}

/// Parses a Go duration where a negative one means the same as zero (ESO's `refreshInterval`: no
/// periodic refresh).
pub fn parse_or_zero(text: &str) -> Result<Duration, String> {
    let n = nanos(text).ok_or_else(|| invalid(text))?;
    Ok(Duration::from_nanos(n.max(0).unsigned_abs()))
}

fn invalid(text: &str) -> String {
    format!(
        "invalid duration {text:?}: expected a Go duration such as 720h, 1h30m, 1.5h, 45s or 300ms (units h, m, s, ms, us, ns)"
    )
}

/// Go's `time.ParseDuration`, in nanoseconds; `None` where Go returns an error (a missing or unknown
/// unit, a number without digits, more than Go's 290 years).
pub fn nanos(text: &str) -> Option<i64> {
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return None;
        }
        let (mut value, rest) = leading_int(s)?;
        let whole_digits = rest.len() != s.len();
        s = rest;
        // The fraction: digits beyond what fits are dropped, as Go drops them.
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for digit in rest[..digits].bytes() {
                let next = fraction
                    .checked_mul(10)
                    .map(|f| f + u64::from(digit - b'0'))
                    .filter(|f| *f <= LIMIT);
                match next {
                    Some(next) if !overflow => {
                        fraction = next;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            fraction_digits = digits > 0;
            s = &rest[digits..];
        }
        if !whole_digits && !fraction_digits {
            return None;
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit: u64 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[unit_len..];
        if value > LIMIT / unit {
            return None;
        }
        value *= unit;
        if fraction > 0 {
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return None;
            }
        }
        total += value;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        return Some((total as i64).wrapping_neg());
    }
    i64::try_from(total).ok()
}

/// Go's `leadingInt`: the leading decimal digits of `s` (none gives 0) and the rest; `None` past 2⁶³.
pub fn leading_int(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut value: u64 = 0;
    for digit in s[..digits].bytes() {
        value = value
            .checked_mul(10)
            .map(|v| v + u64::from(digit - b'0'))
            .filter(|v| *v <= 1 << 63)?;
    }
    Some((value, &s[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse("300us"), Ok(Duration::from_micros(300)));
        assert_eq!(parse("300\u{b5}s"), Ok(Duration::from_micros(300)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("+0"), Ok(Duration::ZERO));
        assert!(parse("-1s").unwrap_err().contains("negative"));
        for bad in ["5d", "h", "", "1", ".s", "1h 30m", "9223372037s", "1e3s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(nanos("2562047h47m16.854775807s"), Some(i64::MAX));
        assert_eq!(nanos("-2562047h47m16.854775808s"), Some(i64::MIN));
        assert_eq!(parse_or_zero("-1h"), Ok(Duration::ZERO));
        assert_eq!(parse_or_zero("1ms"), Ok(Duration::from_millis(1)));
    }
}
