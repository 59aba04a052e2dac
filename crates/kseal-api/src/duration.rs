//! Durations written the way Go programs (and so sealed-secrets and ESO manifests) write them.

use std::time::Duration;

/// Parses a Go-style duration (`720h`, `1h30m`, `45s`, `0`), as sealed-secrets' flags and ESO's
/// `refreshInterval` take it.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("invalid duration \"\": expected e.g. 720h, 30m or 45s".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. 720h, 30m or 45s"))?;
        let seconds = match unit {
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            _ => return Err(format!("invalid duration {text:?}: unit must be h, m or s")),
        };
        total += Duration::from_secs(number.saturating_mul(seconds));
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("5d").is_err());
        assert!(parse("h").is_err());
        assert!(parse("").is_err());
    }
}
