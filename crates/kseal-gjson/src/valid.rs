//! gjson's `Valid`: strict JSON (RFC 8259 grammar, whitespace ` \t\r\n`, any bytes inside
//! strings except control bytes), checked without recursion.

fn skip_ws(d: &[u8], mut i: usize) -> usize {
    while i < d.len() && matches!(d[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index after a string whose content starts at `i`.
fn string(d: &[u8], mut i: usize) -> Option<usize> {
    while i < d.len() {
        match d[i] {
            0..=0x1f => return None,
            b'\\' => {
                i += 1;
                match d.get(i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = d.get(i + 1..i + 5)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 4;
                    }
                    _ => return None,
                }
            }
            b'"' => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

fn digits(d: &[u8], mut i: usize) -> usize {
    while i < d.len() && d[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn number(d: &[u8], mut i: usize) -> Option<usize> {
    if d[i] == b'-' {
        i += 1;
    }
    match d.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(d, i),
        _ => return None,
    }
    if d.get(i) == Some(&b'.') {
        i += 1;
        if !d.get(i)?.is_ascii_digit() {
            return None;
        }
        i = digits(d, i);
    }
    if matches!(d.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(d.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !d.get(i)?.is_ascii_digit() {
            return None;
        }
        i = digits(d, i);
    }
    Some(i)
}

/// Whether `d` is one JSON value, optionally surrounded by whitespace.
pub(crate) fn valid(d: &[u8]) -> bool {
    check(d).is_some()
}

fn check(d: &[u8]) -> Option<()> {
    let mut open: Vec<u8> = Vec::new();
    let mut i = skip_ws(d, 0);
    'value: loop {
        i = skip_ws(d, i);
        match *d.get(i)? {
            b'{' => {
                i = skip_ws(d, i + 1);
                if *d.get(i)? == b'}' {
                    i += 1;
                } else {
                    open.push(b'}');
                    i = member_key(d, i)?;
                    continue 'value;
                }
            }
            b'[' => {
                i = skip_ws(d, i + 1);
                if *d.get(i)? == b']' {
                    i += 1;
                } else {
                    open.push(b']');
                    continue 'value;
                }
            }
            b'"' => i = string(d, i + 1)?,
            b'-' | b'0'..=b'9' => i = number(d, i)?,
            b't' => i = literal(d, i, b"true")?,
            b'f' => i = literal(d, i, b"false")?,
            b'n' => i = literal(d, i, b"null")?,
            _ => return None,
        }
        // After a value: close containers, or go on after a comma.
        loop {
            let Some(&close) = open.last() else {
                return (skip_ws(d, i) == d.len()).then_some(());
            };
            i = skip_ws(d, i);
            let b = *d.get(i)?;
            if b == b',' {
                i += 1;
                if close == b'}' {
                    i = member_key(d, skip_ws(d, i))?;
                }
                continue 'value;
            }
            if b != close {
                return None;
            }
            open.pop();
            i += 1;
        }
    }
}

/// A member's key and colon, from the key's opening quote; the index after the colon.
fn member_key(d: &[u8], i: usize) -> Option<usize> {
    if *d.get(i)? != b'"' {
        return None;
    }
    let i = skip_ws(d, string(d, i + 1)?);
    (*d.get(i)? == b':').then_some(i + 1)
}

fn literal(d: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    d.get(i..i + word.len())
        .filter(|w| *w == word)
        .map(|_| i + word.len())
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn valid_json() {
        for ok in [
            "1",
            " {\"a\": [1, 2.5e-3, true, null, \"x\\u00e9\"]} ",
            "[]",
            "{}",
            "-0",
            "\"\u{ff}\"",
        ] {
            assert!(valid(ok.as_bytes()), "{ok}");
        }
        assert!(valid(b"\"\xff\""));
        for bad in [
            "",
            " ",
            "01",
            "1.",
            ".5",
            "[1,]",
            "{\"a\":1,}",
            "{'a':1}",
            "tru",
            "truex",
            "[1] x",
            "\"a\tb\"",
            "\"\\x\"",
            "{\"a\" 1}",
            "[",
            "+1",
            "1e",
            "\"\\u12\"",
        ] {
            assert!(!valid(bad.as_bytes()), "{bad}");
        }
    }
}
