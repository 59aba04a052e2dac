//! The subset of Go's `fmt` that templates use: `print`, `println`, `printf` and `%q`-style quoting.
//!
//! Unlike Go, a verb that does not fit its argument (`%d` of a string), a missing argument or an extra one is
//! an error: Go would write `%!d(string=<the value>)` into the output, echoing a possibly secret value.
//! A format string computed from data may itself be secret: messages then say `a verb of the format
//! (computed from data)`, neither its text nor its position.

use zeroize::Zeroizing;

use crate::value::{FuncError, Value, format_float, push_capped};

/// Go's `fmt.Sprint` (`newline = false`: spaces only between two non-string operands) or `fmt.Sprintln`,
/// at most `cap` bytes.
pub(crate) fn sprint(
    args: &[Value],
    newline: bool,
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mut out = Zeroizing::new(Vec::new());
    let is_string = |v: &Value| matches!(v, Value::Str(_) | Value::Bytes(_));
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && (newline || (!is_string(arg) && !is_string(&args[i - 1]))) {
            push_capped(&mut out, b" ", cap)?;
        }
        arg.write_to(&mut out, cap)?;
    }
    if newline {
        push_capped(&mut out, b"\n", cap)?;
    }
    Ok(out)
}

/// One parsed `%` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs `%v %s %q %d %x %X %o %b %c %t %f %F %e %E %g %%`, at most `cap`
/// bytes. `literal` tells whether the format is a literal of the template (then messages may quote its
/// verbs).
pub(crate) fn printf(
    format: &str,
    literal: bool,
    args: &[Value],
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mut out = Zeroizing::new(Vec::new());
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    let verb_name = |verb: char| {
        if literal {
            format!("verb %{verb}")
        } else {
            "a verb of the format (computed from data)".to_owned()
        }
    };
    while let Some(c) = chars.next() {
        if c != '%' {
            push_capped(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes(), cap)?;
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars, cap)?;
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(number(&mut chars, cap)?.unwrap_or(0));
        }
        let verb = chars
            .next()
            .ok_or_else(|| bad("format ends with an incomplete verb"))?;
        if verb == '%' {
            push_capped(&mut out, b"%", cap)?;
            continue;
        }
        if matches!(verb, '*' | '[') {
            return Err(bad("argument indexes and * widths are not supported"));
        }
        let arg = args
            .next()
            .ok_or_else(|| bad(format!("missing argument for {}", verb_name(verb))))?;
        let body = format_one(verb, &spec, arg, cap, &verb_name)?;
        pad(&mut out, &spec, verb, &body, cap)?;
    }
    if args.next().is_some() {
        return Err(bad("more arguments than verbs in the format"));
    }
    Ok(out)
}

fn bad(msg: impl Into<String>) -> FuncError {
    FuncError::Invalid(msg.into())
}

fn number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    cap: usize,
) -> Result<Option<usize>, FuncError> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let v = n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize);
        if v > cap {
            return Err(FuncError::TooLarge);
        }
        n = Some(v);
    }
    Ok(n)
}

/// Formats one argument without padding.
fn format_one(
    verb: char,
    spec: &Spec,
    arg: &Value,
    cap: usize,
    verb_name: &dyn Fn(char) -> String,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mismatch = || {
        bad(format!(
            "{} cannot format a {}",
            verb_name(verb),
            arg.kind()
        ))
    };
    let mut out = Zeroizing::new(Vec::new());
    match (verb, arg) {
        ('v' | 's', _) => {
            arg.write_to(&mut out, cap)?;
            if let (Some(p), Value::Str(s)) = (spec.precision, arg) {
                let cut = s.char_indices().nth(p).map_or(s.len(), |(i, _)| i);
                out.truncate(cut);
            }
        }
        ('q', Value::Str(_) | Value::Bytes(_)) => {
            out.extend_from_slice(go_quote(arg.as_bytes()?).as_bytes())
        }
        ('d', Value::Int(i)) => {
            out.extend_from_slice(signed(*i < 0, i.unsigned_abs().to_string(), spec).as_bytes())
        }
        ('x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let digits = match verb {
                'x' => format!("{:x}", i.unsigned_abs()),
                'X' => format!("{:X}", i.unsigned_abs()),
                'o' => format!("{:o}", i.unsigned_abs()),
                _ => format!("{:b}", i.unsigned_abs()),
            };
            out.extend_from_slice(signed(*i < 0, digits, spec).as_bytes());
        }
        ('x' | 'X', Value::Str(_) | Value::Bytes(_)) => {
            if arg.text_len().saturating_mul(2) > cap {
                return Err(FuncError::TooLarge);
            }
            let hex = hex::encode(arg.as_bytes()?);
            let hex = if verb == 'X' { hex.to_uppercase() } else { hex };
            out.extend_from_slice(hex.as_bytes());
        }
        ('c', Value::Int(i)) => {
            let c = u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        ('t', Value::Bool(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Int(_) | Value::Float(_)) => {
            let f = match arg {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => unreachable!("matched above"),
            };
            let digits = match verb {
                'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), f.abs()),
                'e' | 'E' => {
                    let s = go_exp(&format!("{:.*e}", spec.precision.unwrap_or(6), f.abs()));
                    if verb == 'E' { s.to_uppercase() } else { s }
                }
                _ if spec.precision.is_some() => {
                    return Err(bad(format!(
                        "{} with a precision is not supported",
                        verb_name(verb)
                    )));
                }
                _ => {
                    let s = format_float(f.abs());
                    if verb == 'G' { s.to_uppercase() } else { s }
                }
            };
            out.extend_from_slice(
                signed(f.is_sign_negative() && f != 0.0, digits, spec).as_bytes(),
            );
        }
        ('q' | 'd' | 'x' | 'X' | 'o' | 'b' | 'c' | 't' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G', _) => {
            return Err(mismatch());
        }
        _ => return Err(bad(format!("{} is not supported", verb_name(verb)))),
    }
    Ok(out)
}

/// Rust's `1.5e3` exponent form to Go's `1.5e+03`.
fn go_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s.to_owned(),
    }
}

fn signed(negative: bool, digits: String, spec: &Spec) -> String {
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    format!("{sign}{digits}")
}

/// Pads `body` to the spec's width: spaces on the left (right with `-`), zeros after the sign for numbers.
fn pad(
    out: &mut Vec<u8>,
    spec: &Spec,
    verb: char,
    body: &[u8],
    cap: usize,
) -> Result<(), FuncError> {
    let len = String::from_utf8_lossy(body).chars().count();
    let fill = spec.width.unwrap_or(0).saturating_sub(len);
    if out.len().saturating_add(body.len()).saturating_add(fill) > cap {
        return Err(FuncError::TooLarge);
    }
    if fill == 0 {
        out.extend_from_slice(body);
    } else if spec.minus {
        out.extend_from_slice(body);
        out.resize(out.len() + fill, b' ');
    } else if spec.zero && "dxXobfFeEgG".contains(verb) {
        let sign_len = usize::from(
            body.first()
                .is_some_and(|b| matches!(b, b'-' | b'+' | b' ')),
        );
        out.extend_from_slice(&body[..sign_len]);
        out.resize(out.len() + fill, b'0');
        out.extend_from_slice(&body[sign_len..]);
    } else {
        out.resize(out.len() + fill, b' ');
        out.extend_from_slice(body);
    }
    Ok(())
}

/// Go's `strconv.Quote`: double-quoted with Go escapes; bytes that are not UTF-8 become `\xNN`.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if is_go_printable(c) => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint`: graphic characters and the ASCII space.
pub(crate) fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format_or_private = matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xF0000..);
    !c.is_control() && !c.is_whitespace() && !format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, args: &[Value]) -> String {
        String::from_utf8(printf(format, true, args, usize::MAX).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(
            fmt("%s:%d", &[Value::str("db"), Value::Int(5432)]),
            "db:5432"
        );
        assert_eq!(
            fmt(
                "%5d|%-4s|%05d",
                &[Value::Int(42), Value::str("ab"), Value::Int(-7)]
            ),
            "   42|ab  |-0007"
        );
        assert_eq!(
            fmt(
                "%x %X %q",
                &[Value::Int(255), Value::str("hi"), Value::str("a\"b")]
            ),
            "ff 6869 \"a\\\"b\""
        );
        assert_eq!(
            fmt(
                "%.2f %e %v %t",
                &[
                    Value::Float(1.23456),
                    Value::Float(1234.5),
                    Value::Float(0.5),
                    Value::Bool(true)
                ]
            ),
            "1.23 1.234500e+03 0.5 true"
        );
        assert_eq!(fmt("%.3s%%", &[Value::str("abcdef")]), "abc%");
    }

    #[test]
    fn printf_errors_do_not_echo_values() {
        let message = |format: &str, literal: bool, args: &[Value]| match printf(
            format,
            literal,
            args,
            usize::MAX,
        )
        .unwrap_err()
        {
            FuncError::Invalid(msg) => msg,
            other => panic!("{other:?}"),
        };
        let msg = message("%d", true, &[Value::str("s3cr3t")]);
        assert!(!msg.contains("s3cr3t"));
        assert_eq!(msg, "verb %d cannot format a string");
        assert!(printf("%s %s", true, &[Value::str("a")], usize::MAX).is_err());
        assert!(printf("%s", true, &[Value::str("a"), Value::str("b")], usize::MAX).is_err());
        assert!(printf("%z", true, &[Value::str("a")], usize::MAX).is_err());
        // A format computed from data is secret too: its verbs are not quoted, nor their positions.
        assert_eq!(
            message("ab%zcd", false, &[Value::Int(1)]),
            "a verb of the format (computed from data) is not supported"
        );
        assert_eq!(
            message("x%s%Q", false, &[Value::Int(1)]),
            "missing argument for a verb of the format (computed from data)"
        );
        assert_eq!(
            message("%s %d", false, &[Value::Int(1), Value::str("s")]),
            "a verb of the format (computed from data) cannot format a string"
        );
        assert!(matches!(
            printf("%9999d", true, &[Value::Int(1)], 100),
            Err(FuncError::TooLarge)
        ));
    }

    #[test]
    fn sprint_spacing() {
        let out = sprint(
            &[
                Value::str("a"),
                Value::Int(1),
                Value::Int(2),
                Value::str("b"),
            ],
            false,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(out.as_slice(), b"a1 2b");
        let out = sprint(&[Value::str("a"), Value::str("b")], true, usize::MAX).unwrap();
        assert_eq!(out.as_slice(), b"a b\n");
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote(b"a\tb\"\\"), r#""a\tb\"\\""#);
        assert_eq!(go_quote("é\u{0}\u{200b}".as_bytes()), r#""é\x00\u200b""#);
        assert_eq!(go_quote(b"\xff"), r#""\xff""#);
    }
}
