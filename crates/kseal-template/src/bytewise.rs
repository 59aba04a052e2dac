//! Binary values through Go's byte-wise string functions.
//!
//! Go's strings are bytes: `indent`, `split`, `join`, `trimPrefix`, the regular expressions and the
//! other functions that cut and paste strings keep the bytes of a value that is not UTF-8 where they
//! are, and those that count runes count each such byte as one. kseal's functions work on UTF-8 text,
//! so for these functions each byte that is not part of valid UTF-8 stands in as one character of a
//! private-use range while the function runs (one character each, so counts agree with Go's), and the
//! result is turned back into those bytes.

use std::collections::BTreeMap;
use std::rc::Rc;

use zeroize::Zeroizing;

use crate::value::{COMPUTED, Value};

/// The functions that keep bytes that are not UTF-8 as they are, as Go does.
const BYTEWISE: &[&str] = &[
    "indent",
    "nindent",
    "split",
    "splitList",
    "splitn",
    "join",
    "repeat",
    "trimPrefix",
    "trimSuffix",
    "trimAll",
    "trimall",
    "cat",
    "wrap",
    "wrapWith",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osDir",
    "osClean",
    "osExt",
    "osIsAbs",
    "toStrings",
    "sortAlpha",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "atoi",
    "toDate",
    "mustToDate",
];

/// First character of the stand-ins: byte `b` (0x80 and up) is U+10FF00 + `b`.
const BASE: u32 = 0x10_FF00;

/// Whether `name` gets [`escape`]d arguments: it is byte-wise and one of them holds bytes that are not
/// UTF-8.
pub(crate) fn applies(name: &str, args: &[Value]) -> bool {
    // Most calls have no binary argument: that is the cheaper test, so it comes first.
    args.iter().any(holds_bytes) && BYTEWISE.contains(&name)
}

fn holds_bytes(v: &Value) -> bool {
    match v {
        Value::Bytes(_) => true,
        Value::List(items) => items.iter().any(holds_bytes),
        Value::Map(map) => map.values().any(holds_bytes),
        _ => false,
    }
}

/// `v` with each binary string as text in which the bytes that are not UTF-8 are stand-ins.
pub(crate) fn escape(v: Value) -> Value {
    match v {
        Value::Bytes(b) => {
            let mut out = String::with_capacity(b.bytes.len() * 2);
            for chunk in b.bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for &byte in chunk.invalid() {
                    out.push(char::from_u32(BASE + u32::from(byte)).unwrap_or('\u{FFFD}'));
                }
            }
            Value::Str(Rc::new(Zeroizing::new(out)))
        }
        Value::List(items) if items.iter().any(holds_bytes) => {
            Value::List(Rc::new(items.iter().cloned().map(escape).collect()))
        }
        Value::Map(map) if map.values().any(holds_bytes) => Value::Map(Rc::new(
            map.iter()
                .map(|(k, v)| (k.clone(), escape(v.clone())))
                .collect::<BTreeMap<_, _>>(),
        )),
        other => other,
    }
}

/// The result with the stand-ins of [`escape`] turned back into their bytes.
pub(crate) fn unescape(v: Value) -> Value {
    match v {
        Value::Str(s) if s.chars().any(is_stand_in) => {
            let mut bytes = Vec::with_capacity(s.len());
            let mut buf = [0; 4];
            for c in s.chars() {
                if is_stand_in(c) {
                    bytes.push((u32::from(c) - BASE) as u8);
                } else {
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            Value::from_bytes(bytes, || COMPUTED.to_owned())
        }
        Value::List(items) => Value::List(Rc::new(
            Rc::unwrap_or_clone(items)
                .into_iter()
                .map(unescape)
                .collect(),
        )),
        Value::Map(map) => Value::Map(Rc::new(
            Rc::unwrap_or_clone(map)
                .into_iter()
                .map(|(k, v)| (k, unescape(v)))
                .collect(),
        )),
        other => other,
    }
}

fn is_stand_in(c: char) -> bool {
    (BASE + 0x80..=BASE + 0xFF).contains(&u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_come_back_as_they_were() {
        let bin = Value::from_bytes(b"caf\xe9\n\xff".to_vec(), || "key \"k\"".into());
        let escaped = escape(bin);
        let Value::Str(text) = &escaped else {
            panic!("escaped to text")
        };
        assert_eq!(text.chars().count(), 6);
        let back = unescape(escaped);
        assert_eq!(back.as_bytes().unwrap(), b"caf\xe9\n\xff");
        // Valid text is untouched.
        assert_eq!(
            unescape(escape(Value::str("café"))).as_str().unwrap(),
            "café"
        );
    }
}
