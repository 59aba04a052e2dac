//! gjson's `Result`: what a path selects, how it reads as text, and the top-level reader
//! (`Parse`) and member walk (`ForEach`) the modifiers are built on.

use std::fmt;

use crate::scan;

/// The JSON type of a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `null`, or nothing (see [`Value::exists`]).
    Null,
    /// `false`.
    False,
    /// A number (or a token gjson reads as one, such as `NaN`).
    Number,
    /// A string.
    String,
    /// `true`.
    True,
    /// An object or an array, kept as its JSON text.
    Json,
}

/// A selected value: its kind, its JSON text as written (or as a modifier produced it), and for
/// strings the decoded content and for numbers the parsed value.
#[derive(Clone)]
pub struct Value {
    pub(crate) kind: Kind,
    pub(crate) raw: Vec<u8>,
    pub(crate) str: Vec<u8>,
    pub(crate) num: f64,
}

/// Shows the kind and sizes only: values are usually secrets.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Value({:?}, <{} bytes>, exists: {})",
            self.kind,
            self.raw.len(),
            self.exists()
        )
    }
}

impl Default for Value {
    fn default() -> Self {
        Value::none()
    }
}

impl Value {
    /// Nothing: the value of a path that selects nothing.
    pub(crate) fn none() -> Value {
        Value {
            kind: Kind::Null,
            raw: Vec::new(),
            str: Vec::new(),
            num: 0.0,
        }
    }

    pub(crate) fn json(raw: Vec<u8>) -> Value {
        Value {
            kind: Kind::Json,
            raw,
            ..Value::none()
        }
    }

    pub(crate) fn number(raw: &[u8]) -> Value {
        Value {
            kind: Kind::Number,
            num: scan::parse_float(raw),
            raw: raw.to_vec(),
            str: Vec::new(),
        }
    }

    /// A string from its raw text (with quotes) and whether it holds escapes.
    pub(crate) fn string(raw: &[u8], escaped: bool) -> Value {
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        Value {
            kind: Kind::String,
            str: if escaped {
                scan::unescape(inner)
            } else {
                inner.to_vec()
            },
            raw: raw.to_vec(),
            num: 0.0,
        }
    }

    pub(crate) fn literal(first: u8, raw: &[u8]) -> Value {
        Value {
            kind: match first {
                b't' => Kind::True,
                b'f' => Kind::False,
                _ => Kind::Null,
            },
            raw: raw.to_vec(),
            ..Value::none()
        }
    }

    /// The JSON type.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The JSON text of the value as written in the document (objects and arrays exactly as
    /// written), or as a modifier produced it; empty when nothing was selected.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// gjson's `Exists`: whether the path selected anything (`null` included).
    pub fn exists(&self) -> bool {
        self.kind != Kind::Null || !self.raw.is_empty()
    }

    /// gjson's `Result.String()`, the text ESO stores: a string's content, `true`/`false`, nothing
    /// for null, objects and arrays as written, integers as written and other numbers in Go's
    /// shortest decimal form (`1.50` → `1.5`, `1e3` → `1000`, `NaN`, `+Inf`).
    pub fn text(&self) -> Vec<u8> {
        match self.kind {
            Kind::Null => Vec::new(),
            Kind::False => b"false".to_vec(),
            Kind::True => b"true".to_vec(),
            Kind::String => self.str.clone(),
            Kind::Json => self.raw.clone(),
            Kind::Number => {
                let digits = self.raw.strip_prefix(b"-").unwrap_or(&self.raw);
                if !self.raw.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    self.raw.clone()
                } else {
                    scan::format_float(self.num)
                }
            }
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        self.kind == Kind::Json && self.raw.first() == Some(&b'{')
    }

    pub(crate) fn is_array(&self) -> bool {
        self.kind == Kind::Json && self.raw.first() == Some(&b'[')
    }

    /// gjson's `Bool()`.
    pub(crate) fn truthy(&self) -> bool {
        match self.kind {
            Kind::True => true,
            Kind::String => go_bool(&self.str) == Some(true),
            Kind::Number => self.num != 0.0,
            _ => false,
        }
    }

    /// gjson's `Int()`.
    pub(crate) fn int(&self) -> i64 {
        match self.kind {
            Kind::True => 1,
            Kind::String => scan::parse_int(&self.str).unwrap_or(0),
            Kind::Number => {
                let f = self.num;
                if (-9_007_199_254_740_991.0..=9_007_199_254_740_991.0).contains(&f) {
                    f as i64
                } else if let Some(n) = scan::parse_int(&self.raw) {
                    n
                } else if f.is_nan()
                    || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
                {
                    // Go's conversion of a float outside int64 on amd64.
                    i64::MIN
                } else {
                    f as i64
                }
            }
            _ => 0,
        }
    }
}

/// Go's `strconv.ParseBool` of the lowercased text.
pub(crate) fn go_bool(s: &[u8]) -> Option<bool> {
    match s.to_ascii_lowercase().as_slice() {
        b"1" | b"t" | b"true" => Some(true),
        b"0" | b"f" | b"false" => Some(false),
        _ => None,
    }
}

/// gjson's `Parse`: the first value of `json`; an object or array takes all the rest of the text.
pub(crate) fn parse(json: &[u8]) -> Value {
    for (i, &b) in json.iter().enumerate() {
        if b == b'{' || b == b'[' {
            return Value::json(json[i..].to_vec());
        }
        if b <= b' ' {
            continue;
        }
        let rest = &json[i..];
        return match b {
            b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => Value::number(number_token(rest)),
            b'n' if rest.get(1).is_some_and(|&c| c != b'u') => Value::number(number_token(rest)),
            b'n' | b't' | b'f' => {
                let (end, _) = scan::read_literal(rest, 0);
                Value::literal(b, &rest[..end])
            }
            b'"' => parse_string_token(rest),
            _ => Value::none(),
        };
    }
    Value::none()
}

/// A number at the start of `s` as `Parse` reads it: up to whitespace, `,`, `]` or `}`.
fn number_token(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .enumerate()
        .skip(1)
        .find(|&(_, &b)| b <= b' ' || matches!(b, b',' | b']' | b'}'))
        .map_or(s.len(), |(j, _)| j);
    &s[..end]
}

/// A string at the start of `s` as `Parse` reads it (an unterminated one takes the rest).
fn parse_string_token(s: &[u8]) -> Value {
    match scan::string_end(s, 1) {
        Some((close, esc)) => Value::string(&s[..close + 1], esc),
        None => {
            let esc = s[1..].contains(&b'\\');
            let mut v = Value::string(s, false);
            // The whole rest is the raw text and, unquoted, the content.
            v.str = if esc {
                scan::unescape(&s[1..])
            } else {
                s[1..].to_vec()
            };
            v
        }
    }
}

/// gjson's `parseAny`: the next value at or after `i`, skipping anything that starts none.
pub(crate) fn parse_any(json: &[u8], mut i: usize) -> (usize, Value, bool) {
    while i < json.len() {
        let b = json[i];
        match b {
            b'{' | b'[' => {
                let (end, r) = scan::skip_block(json, i);
                return (end, Value::json(json[r].to_vec()), true);
            }
            b'"' => {
                let (end, r, esc, ok) = scan::read_string(json, i + 1);
                if !ok {
                    return (end, Value::none(), false);
                }
                return (end, Value::string(&json[r], esc), true);
            }
            b'n' if json.get(i + 1).is_some_and(|&c| c != b'u') => {
                let (end, r) = scan::read_number(json, i);
                return (end, Value::number(&json[r]), true);
            }
            b'n' | b't' | b'f' => {
                let (end, r) = scan::read_literal(json, i);
                return (end, Value::literal(b, &json[r]), true);
            }
            b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => {
                let (end, r) = scan::read_number(json, i);
                return (end, Value::number(&json[r]), true);
            }
            _ => i += 1,
        }
    }
    (i, Value::none(), false)
}

/// gjson's `ForEach`: each member of an object (with its key) or element of an array; a scalar is
/// passed once. Returning `false` stops the walk.
pub(crate) fn for_each(v: &Value, mut f: impl FnMut(Option<&Value>, Value) -> bool) {
    if !v.exists() {
        return;
    }
    if v.kind != Kind::Json {
        f(None, v.clone());
        return;
    }
    let json = &v.raw[..];
    let mut i = 0;
    let mut object = false;
    while i < json.len() {
        match json[i] {
            b'{' => {
                object = true;
                i += 1;
                break;
            }
            b'[' => {
                i += 1;
                break;
            }
            b if b > b' ' => return,
            _ => i += 1,
        }
    }
    while i < json.len() {
        let mut key = None;
        if object {
            if json[i] != b'"' {
                i += 1;
                continue;
            }
            let (end, r, esc, ok) = scan::read_string(json, i + 1);
            if !ok {
                return;
            }
            key = Some(Value::string(&json[r], esc));
            i = end;
        }
        while i < json.len() && (json[i] <= b' ' || json[i] == b',' || json[i] == b':') {
            i += 1;
        }
        let (end, value, ok) = parse_any(json, i);
        if !ok {
            return;
        }
        i = end;
        if !f(key.as_ref(), value) {
            return;
        }
        i += 1;
    }
}
