//! Byte-level readers shared by the path engine and the modifiers. They read JSON the lenient way
//! gjson does: no validation, a value ends where gjson's scanners stop, and nothing ever panics.

use std::ops::Range;

/// Index of the quote closing a string whose content starts at `start`, and whether a backslash
/// came before it. A quote is escaped when an odd run of backslashes precedes it.
pub(crate) fn string_end(json: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut run = 0usize;
    let mut escaped = false;
    for (i, &b) in json.iter().enumerate().skip(start) {
        match b {
            b'\\' => {
                run += 1;
                escaped = true;
            }
            b'"' if run.is_multiple_of(2) => return Some((i, escaped)),
            _ => run = 0,
        }
    }
    None
}

/// A string value whose opening quote is just before `content`: the index after it, its raw text
/// (with quotes), whether it holds escapes, and whether it was closed.
pub(crate) fn read_string(json: &[u8], content: usize) -> (usize, Range<usize>, bool, bool) {
    let open = content.saturating_sub(1);
    match string_end(json, content) {
        Some((close, esc)) => (close + 1, open..close + 1, esc, true),
        None => (json.len(), open..json.len(), false, false),
    }
}

/// A number token starting at `i`: up to whitespace, `,`, `]` or `}`.
pub(crate) fn read_number(json: &[u8], i: usize) -> (usize, Range<usize>) {
    let end = json
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|&(_, &b)| b <= b' ' || matches!(b, b',' | b']' | b'}'))
        .map_or(json.len(), |(j, _)| j);
    (end, i..end)
}

/// A literal token starting at `i`: its first byte and the lowercase letters after it.
pub(crate) fn read_literal(json: &[u8], i: usize) -> (usize, Range<usize>) {
    let end = json
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|&(_, &b)| !b.is_ascii_lowercase())
        .map_or(json.len(), |(j, _)| j);
    (end, i..end)
}

/// The bracketed value whose opening byte is at `start` (the opening byte itself is not looked
/// at), balancing `{[(` against `}])` outside strings. Returns the index after it and its range;
/// an unterminated string at the end makes the index one past the end, as gjson's does.
pub(crate) fn skip_block(json: &[u8], start: usize) -> (usize, Range<usize>) {
    let mut i = start + 1;
    let mut depth = 1usize;
    while i < json.len() {
        match json[i] {
            b'"' => match string_end(json, i + 1) {
                Some((close, _)) => i = close,
                None => return (json.len() + 1, start..json.len()),
            },
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth -= 1;
                if depth == 0 {
                    return (i + 1, start..i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (i, start..json.len())
}

/// The leading block of `text`: a string when it starts with a quote, else everything up to the
/// bracket that balances the first byte (taken as an opener whatever it is), or all of `text`.
pub(crate) fn leading_block(text: &[u8]) -> &[u8] {
    let Some(&first) = text.first() else {
        return text;
    };
    let (mut i, mut depth) = if first == b'"' { (0, 0usize) } else { (1, 1) };
    while i < text.len() {
        match text[i] {
            b'"' => {
                let close = string_end(text, i + 1);
                if depth == 0 {
                    return match close {
                        Some((c, _)) => &text[..c + 1],
                        None => text,
                    };
                }
                match close {
                    Some((c, _)) => i = c,
                    None => return text,
                }
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[..i + 1];
                }
            }
            _ => {}
        }
        i += 1;
    }
    text
}

/// Strips bytes up to and including the space from both ends.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if *first > b' ' {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if *last > b' ' {
            break;
        }
        s = rest;
    }
    s
}

/// gjson's own unsigned parse: digits only, wrapping on overflow.
pub(crate) fn parse_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| {
        n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    }))
}

/// gjson's own signed parse: an optional `-`, then digits, wrapping on overflow.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let n = parse_uint(digits)? as i64;
    Some(if neg { n.wrapping_neg() } else { n })
}

fn hex4(s: &[u8]) -> u32 {
    let digits = &s[..4.min(s.len())];
    if digits.len() < 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return 0;
    }
    digits.iter().fold(0u32, |n, &d| {
        n * 16 + char::from(d).to_digit(16).unwrap_or(0)
    })
}

fn is_surrogate(r: u32) -> bool {
    (0xD800..0xE000).contains(&r)
}

pub(crate) fn push_rune(out: &mut Vec<u8>, r: u32) {
    let c = char::from_u32(r).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// The content of a string with escapes, decoded as gjson does: decoding stops at a raw control
/// byte or a bad escape; `\u` takes four hex digits (0 when they are not), a surrogate takes the
/// next `\u` escape with it whatever it is, and what is not a scalar value becomes U+FFFD.
pub(crate) fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < b' ' {
            break;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&e) = s.get(i) else { break };
        let plain = match e {
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'"' => b'"',
            b'u' => {
                if i + 5 > s.len() {
                    break;
                }
                let mut r = hex4(&s[i + 1..]);
                i += 5;
                if is_surrogate(r) && s.len() - i >= 6 && s[i] == b'\\' && s[i + 1] == b'u' {
                    let low = hex4(&s[i + 2..]);
                    r = if (0xD800..0xDC00).contains(&r) && (0xDC00..0xE000).contains(&low) {
                        0x10000 + ((r - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        0xFFFD
                    };
                    i += 6;
                }
                push_rune(&mut out, r);
                continue;
            }
            _ => break,
        };
        out.push(plain);
        i += 1;
    }
    out
}

/// Go's `utf8.DecodeRune`: the first rune and its length; U+FFFD and 1 for a bad byte; 0 length
/// for empty input.
pub(crate) fn decode_rune(s: &[u8]) -> (u32, usize) {
    match s.first() {
        None => (0xFFFD, 0),
        Some(&b) if b < 0x80 => (u32::from(b), 1),
        Some(_) => {
            let head = &s[..4.min(s.len())];
            let valid = match std::str::from_utf8(head) {
                Ok(v) => v,
                Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
            };
            match valid.chars().next() {
                Some(c) => (u32::from(c), c.len_utf8()),
                None => (0xFFFD, 1),
            }
        }
    }
}

/// Go's `utf8.DecodeLastRune`.
pub(crate) fn decode_last_rune(s: &[u8]) -> (u32, usize) {
    let Some(&last) = s.last() else {
        return (0xFFFD, 0);
    };
    if last < 0x80 {
        return (u32::from(last), 1);
    }
    let end = s.len();
    let lowest = end.saturating_sub(4);
    let start = (lowest..end - 1).rev().find(|&j| s[j] & 0xC0 != 0x80);
    match start {
        Some(st) => {
            let (r, n) = decode_rune(&s[st..end]);
            if st + n == end { (r, n) } else { (0xFFFD, 1) }
        }
        None => (0xFFFD, 1),
    }
}

fn is_go_space(r: u32) -> bool {
    char::from_u32(r).is_some_and(char::is_whitespace)
}

/// Go's `strings.TrimSpace` (Unicode white space; a bad byte is not space).
pub(crate) fn trim_unicode_space(mut s: &[u8]) -> &[u8] {
    loop {
        let (r, n) = decode_rune(s);
        if n == 0 || !is_go_space(r) || (r == 0xFFFD && n == 1) {
            break;
        }
        s = &s[n..];
    }
    loop {
        let (r, n) = decode_last_rune(s);
        if n == 0 || !is_go_space(r) || (r == 0xFFFD && n == 1) {
            break;
        }
        s = &s[..s.len() - n];
    }
    s
}

/// Go's `strconv.ParseFloat(s, 64)` with its error ignored: the value, ±Inf past the range, and 0
/// for text that is not a Go float literal (decimal or hexadecimal, `_` between digits, `inf`,
/// `infinity`, `nan`).
pub(crate) fn parse_float(s: &[u8]) -> f64 {
    if let Some(v) = special_float(s) {
        return v;
    }
    parse_float_literal(s).unwrap_or(0.0)
}

fn special_float(s: &[u8]) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, &lower[..]),
    };
    if body == b"inf" || body == b"infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == b"nan" {
        return Some(f64::NAN);
    }
    None
}

fn underscores_ok(s: &[u8]) -> bool {
    let s = s
        .strip_prefix(b"+")
        .or_else(|| s.strip_prefix(b"-"))
        .unwrap_or(s);
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn parse_float_literal(s: &[u8]) -> Option<f64> {
    if s.contains(&b'_') && !underscores_ok(s) {
        return None;
    }
    let clean: Vec<u8> = s.iter().copied().filter(|&b| b != b'_').collect();
    let (neg, body) = match clean.first() {
        Some(b'+') => (false, &clean[1..]),
        Some(b'-') => (true, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let value = if body.len() > 2 && body[0] == b'0' && body[1].eq_ignore_ascii_case(&b'x') {
        parse_hex_float(&body[2..])?
    } else {
        // After the checks, Rust's grammar for decimal floats is Go's.
        let ok = !body.is_empty()
            && body
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        if !ok {
            return None;
        }
        std::str::from_utf8(body).ok()?.parse::<f64>().ok()?
    };
    Some(if neg { -value } else { value })
}

fn parse_hex_float(s: &[u8]) -> Option<f64> {
    let p = s.iter().position(|b| b.eq_ignore_ascii_case(&b'p'))?;
    let (mant, exp) = (&s[..p], &s[p + 1..]);
    let mut value = 0f64;
    let mut scale = 0i64;
    let mut seen_dot = false;
    let mut digits = 0;
    for &b in mant {
        if b == b'.' {
            if seen_dot {
                return None;
            }
            seen_dot = true;
            continue;
        }
        let d = char::from(b).to_digit(16)?;
        value = value * 16.0 + f64::from(d);
        digits += 1;
        if seen_dot {
            scale -= 4;
        }
    }
    if digits == 0 {
        return None;
    }
    let (eneg, edigits) = match exp.first() {
        Some(b'+') => (false, &exp[1..]),
        Some(b'-') => (true, &exp[1..]),
        _ => (false, exp),
    };
    if edigits.is_empty() || !edigits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let e = edigits
        .iter()
        .fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(100_000));
    let total = scale + if eneg { -e } else { e };
    let total = i32::try_from(total.clamp(-5000, 5000)).unwrap_or(0);
    Some(value * 2f64.powi(total))
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_float(f: f64) -> Vec<u8> {
    if f.is_nan() {
        b"NaN".to_vec()
    } else if f == f64::INFINITY {
        b"+Inf".to_vec()
    } else if f == f64::NEG_INFINITY {
        b"-Inf".to_vec()
    } else {
        format!("{f}").into_bytes()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_u_escape(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((x >> shift) & 0xF) as usize]);
    }
}

/// gjson's `AppendJSONString`: a JSON string for `s`, escaping control bytes, `<`, `>`, `&`,
/// U+2028 and U+2029, and writing a bad UTF-8 byte as `\ufffd`.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        match b {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | b'<' | b'>' | b'&' => push_u_escape(out, u32::from(b)),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            0x80.. => {
                let (r, n) = decode_rune(&s[i..]);
                if r == 0xFFFD && n == 1 {
                    out.extend_from_slice(b"\\ufffd");
                } else if r == 0x2028 || r == 0x2029 {
                    push_u_escape(out, r);
                } else {
                    out.extend_from_slice(&s[i..i + n]);
                }
                i += n;
                continue;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_an_unescaped_quote() {
        assert_eq!(string_end(br#"ab"c"#, 0), Some((2, false)));
        assert_eq!(string_end(br#"a\"b"c"#, 0), Some((4, true)));
        assert_eq!(string_end(br#"a\\"b"#, 0), Some((3, true)));
        assert_eq!(string_end(br#"abc"#, 0), None);
    }

    #[test]
    fn unescape_follows_gjson() {
        assert_eq!(unescape(br"a\nb"), b"a\nb");
        assert_eq!(unescape(br"\u00e9"), "é".as_bytes());
        assert_eq!(unescape(br"\ud83d\ude00"), "😀".as_bytes());
        // A lone surrogate, and a surrogate followed by a non-surrogate escape (which is eaten).
        assert_eq!(unescape(br"\ud800x"), "\u{fffd}x".as_bytes());
        assert_eq!(unescape(br"\ud800\u0041"), "\u{fffd}".as_bytes());
        // Bad hex reads as 0; a bad escape or a raw control byte ends the text.
        assert_eq!(unescape(br"\uzzzz!"), b"\0!");
        assert_eq!(unescape(br"a\qb"), b"a");
        assert_eq!(unescape(b"a\tb\\n"), b"a");
    }

    #[test]
    fn floats_parse_like_go() {
        assert_eq!(parse_float(b"1.5"), 1.5);
        assert_eq!(parse_float(b"1_000"), 1000.0);
        assert_eq!(parse_float(b"1__0"), 0.0);
        assert_eq!(parse_float(b"0x1p4"), 16.0);
        assert_eq!(parse_float(b"0x10"), 0.0);
        assert_eq!(parse_float(b"-Infinity"), f64::NEG_INFINITY);
        assert!(parse_float(b"NaN").is_nan());
        assert_eq!(parse_float(b"+nan"), 0.0);
        assert_eq!(parse_float(b"1e999"), f64::INFINITY);
        assert_eq!(parse_float(b".5"), 0.5);
        assert_eq!(parse_float(b"12abc"), 0.0);
        assert_eq!(format_float(1e21), b"1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), b"+Inf");
        assert_eq!(format_float(0.1), b"0.1");
    }

    #[test]
    fn json_strings_escape_like_gjson() {
        let mut out = Vec::new();
        push_json_string(&mut out, "a<\"\u{2028}é\x01".as_bytes());
        assert_eq!(out, r#""a\u003c\"\u2028é\u0001""#.as_bytes().to_vec());
        out.clear();
        push_json_string(&mut out, b"\xff");
        assert_eq!(out, br#""\ufffd""#.to_vec());
    }

    #[test]
    fn blocks_balance_brackets_outside_strings() {
        assert_eq!(skip_block(br#"{"a":"}"}x"#, 0), (9, 0..9));
        assert_eq!(skip_block(b"(a]x", 0), (3, 0..3));
        assert_eq!(skip_block(br#"{"a"#, 0), (4, 0..3));
        assert_eq!(leading_block(br#""a\"b"rest"#), br#""a\"b""#);
        assert_eq!(leading_block(b"[1,[2]],x"), b"[1,[2]]");
    }
}
