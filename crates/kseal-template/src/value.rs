//! Values flowing through a template: secret values (text or binary), literals and the lists and maps built
//! by helper functions. Cloning is cheap (shared), and secret text and bytes are zeroized when dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use zeroize::Zeroizing;

use crate::budget::{Budget, Limit, MAX_VALUE_DEPTH, MAX_VALUE_NODES};

/// Text that may be secret: zeroized when the last reference goes.
pub(crate) type Text = Rc<Zeroizing<String>>;

/// How error messages name a binary value reached other than through template text.
pub(crate) const COMPUTED: &str = "a computed value";

/// A template value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A Go `int64`: what sprig's arithmetic (`add`, `sub`, `mul`, `div`, `mod`, `add1`, `max`, `min`)
    /// and `int64` give. It is an `int` to every function but the few that tell them apart (`duration`,
    /// `durationRound`, `typeOf`, `kindOf`, `typeIs`, `kindIs`): see [`Value::into_go_int`].
    Int64(i64),
    Float(f64),
    Str(Text),
    /// Bytes that are not valid UTF-8 (a binary secret value or a `b64dec` result).
    Bytes(Rc<Binary>),
    List(Rc<Vec<Value>>),
    Map(Rc<BTreeMap<String, Value>>),
    /// A Go `time.Time` (from `now`, `toDate`, `dateModify`, ...).
    Time(Rc<crate::date::GoTime>),
    /// A Masterminds `*semver.Version` (from `semver`).
    Semver(Rc<crate::semver::Version>),
    /// sprig's `certificate` struct (`genCA` and the other certificate generators): `.Cert`, `.Key`.
    Cert(Rc<crate::certs::CertPair>),
}

/// A binary value and how messages name it: template text (`key "keystore"`, `the result of b64dec`) or
/// [`COMPUTED`], never anything taken from data. The bytes are shared so that relabelling copies nothing.
#[derive(Debug)]
pub(crate) struct Binary {
    pub(crate) origin: String,
    pub(crate) bytes: Rc<Zeroizing<Vec<u8>>>,
}

/// A value's type was wrong for an operation.
#[derive(Debug)]
pub(crate) enum ValueError {
    /// Binary data used as text; holds the origin.
    NonUtf8(String),
    /// Any other problem; the message never contains the value.
    Invalid(String),
    /// Writing the value would pass the caller's size cap.
    TooLarge,
    /// A limit of the budget was reached.
    Limit(Limit),
}

impl From<Limit> for ValueError {
    fn from(limit: Limit) -> Self {
        ValueError::Limit(limit)
    }
}

/// Why a function call failed. No variant holds text taken from data.
#[derive(Debug)]
pub(crate) enum FuncError {
    /// Binary data used as text; holds the origin.
    NonUtf8(String),
    /// Bad arguments or input; the message never contains the input.
    Invalid(String),
    /// A limit of the budget was reached.
    Limit(Limit),
    /// A result would pass the size cap the call was given.
    TooLarge,
}

impl From<ValueError> for FuncError {
    fn from(e: ValueError) -> Self {
        match e {
            ValueError::NonUtf8(origin) => FuncError::NonUtf8(origin),
            ValueError::Invalid(msg) => FuncError::Invalid(msg),
            ValueError::TooLarge => FuncError::TooLarge,
            ValueError::Limit(limit) => FuncError::Limit(limit),
        }
    }
}

impl From<Limit> for FuncError {
    fn from(limit: Limit) -> Self {
        FuncError::Limit(limit)
    }
}

/// Appends `bytes` unless that would make `out` longer than `cap`.
pub(crate) fn push_capped(out: &mut Vec<u8>, bytes: &[u8], cap: usize) -> Result<(), ValueError> {
    if out.len().saturating_add(bytes.len()) > cap {
        return Err(ValueError::TooLarge);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

impl Value {
    /// The value with a Go `int64` made an `int`, as every function but the few that tell them apart
    /// receives it.
    pub(crate) fn into_go_int(self) -> Value {
        match self {
            Value::Int64(i) => Value::Int(i),
            other => other,
        }
    }

    /// Wraps a string (which may be secret).
    pub(crate) fn str(s: impl Into<String>) -> Value {
        Value::Str(Rc::new(Zeroizing::new(s.into())))
    }

    /// Wraps bytes: text when they are UTF-8, otherwise a binary value labelled with `origin`.
    pub(crate) fn from_bytes(bytes: Vec<u8>, origin: impl FnOnce() -> String) -> Value {
        match String::from_utf8(bytes) {
            Ok(s) => Value::str(s),
            Err(e) => Value::Bytes(Rc::new(Binary {
                origin: origin(),
                bytes: Rc::new(Zeroizing::new(e.into_bytes())),
            })),
        }
    }

    /// The same value; a binary one now named `origin` in messages (which must be template text).
    pub(crate) fn labelled(self, origin: impl FnOnce() -> String) -> Value {
        match self {
            Value::Bytes(b) => Value::Bytes(Rc::new(Binary {
                origin: origin(),
                bytes: Rc::clone(&b.bytes),
            })),
            other => other,
        }
    }

    /// Go's name of the value's kind, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Time(_) => "time.Time",
            Value::Semver(v) if v.pointer => "*semver.Version",
            Value::Semver(_) => "semver.Version",
            Value::Cert(_) => "struct",
        }
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.bytes.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            // Go: a struct is always true, a non-nil pointer too.
            Value::Time(_) | Value::Semver(_) => true,
            Value::Cert(_) => true,
        }
    }

    /// Bytes of text a function reading this value reads (0 for numbers, lists and maps).
    pub(crate) fn text_len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.bytes.len(),
            _ => 0,
        }
    }

    /// The value as a string, for parameters Go types as `string`.
    pub(crate) fn as_str(&self) -> Result<&str, ValueError> {
        match self {
            Value::Str(s) => Ok(s.as_str()),
            Value::Bytes(b) => Err(ValueError::NonUtf8(b.origin.clone())),
            other => Err(ValueError::Invalid(format!(
                "expected a string, got {}",
                other.kind()
            ))),
        }
    }

    /// The value as text the way Go's rune-by-rune functions (`strings.ToUpper`, `[]rune(s)`,
    /// `encoding/json`) see it: each byte that is not part of valid UTF-8 becomes U+FFFD.
    pub(crate) fn go_runes(&self) -> Result<std::borrow::Cow<'_, str>, ValueError> {
        match self {
            Value::Str(s) => Ok(std::borrow::Cow::Borrowed(s.as_str())),
            Value::Bytes(b) => {
                let bytes: &[u8] = &b.bytes;
                let mut out = String::with_capacity(bytes.len() + 8);
                for chunk in bytes.utf8_chunks() {
                    out.push_str(chunk.valid());
                    for _ in chunk.invalid() {
                        out.push('\u{FFFD}');
                    }
                }
                Ok(std::borrow::Cow::Owned(out))
            }
            other => Err(ValueError::Invalid(format!(
                "expected a string, got {}",
                other.kind()
            ))),
        }
    }

    /// The raw bytes of a string or binary value (for byte-oriented functions like `b64enc`).
    pub(crate) fn as_bytes(&self) -> Result<&[u8], ValueError> {
        match self {
            Value::Str(s) => Ok(s.as_bytes()),
            Value::Bytes(b) => Ok(&b.bytes),
            other => Err(ValueError::Invalid(format!(
                "expected a string, got {}",
                other.kind()
            ))),
        }
    }

    /// The value as an integer (integral floats, as produced by JSON, are accepted).
    pub(crate) fn as_int(&self) -> Result<i64, ValueError> {
        match self {
            Value::Int(i) | Value::Int64(i) => Ok(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            other => Err(ValueError::Invalid(format!(
                "expected an integer, got {}",
                other.kind()
            ))),
        }
    }

    /// Text of the value as Go's `fmt.Sprint` (sprig's `toString`) would give it, at most `cap` bytes;
    /// binary values are refused.
    pub(crate) fn to_text(&self, cap: usize) -> Result<Zeroizing<String>, ValueError> {
        let mut out = Zeroizing::new(Vec::new());
        self.write_text(&mut out, cap)?;
        let bytes = std::mem::take(&mut *out);
        // `write_text` checked the text is UTF-8.
        String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            ValueError::NonUtf8("an element of a list or map".into())
        })
    }

    /// Appends the value's text (as [`Value::to_text`]) to `out`, which must stay within `cap` bytes;
    /// binary values, also inside lists and maps, are refused.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>, cap: usize) -> Result<(), ValueError> {
        if let Value::Bytes(b) = self {
            return Err(ValueError::NonUtf8(b.origin.clone()));
        }
        let start = out.len();
        self.write_to(out, cap)?;
        if std::str::from_utf8(&out[start..]).is_err() {
            zeroize::Zeroize::zeroize(&mut out[start..]);
            out.truncate(start);
            return Err(ValueError::NonUtf8("an element of a list or map".into()));
        }
        Ok(())
    }

    /// Appends the value as Go's `fmt.Print` would (`%v`); binary values are written as they are. Fails
    /// (having written part of it) rather than make `out` longer than `cap` bytes, so printing a list that
    /// holds one large string many times stops at the cap.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>, cap: usize) -> Result<(), ValueError> {
        match self {
            Value::Nil => push_capped(out, b"<nil>", cap),
            Value::Bool(b) => push_capped(out, if *b { b"true" } else { b"false" }, cap),
            Value::Int(i) | Value::Int64(i) => push_capped(out, i.to_string().as_bytes(), cap),
            Value::Float(f) => push_capped(out, format_float(*f).as_bytes(), cap),
            Value::Str(s) => push_capped(out, s.as_bytes(), cap),
            Value::Bytes(b) => push_capped(out, &b.bytes, cap),
            Value::List(items) => {
                push_capped(out, b"[", cap)?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        push_capped(out, b" ", cap)?;
                    }
                    item.write_to(out, cap)?;
                }
                push_capped(out, b"]", cap)
            }
            Value::Map(map) => {
                push_capped(out, b"map[", cap)?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        push_capped(out, b" ", cap)?;
                    }
                    push_capped(out, k.as_bytes(), cap)?;
                    push_capped(out, b":", cap)?;
                    v.write_to(out, cap)?;
                }
                push_capped(out, b"]", cap)
            }
            // Go's fmt prints both through their String methods.
            Value::Time(t) => push_capped(out, t.go_string().as_bytes(), cap),
            Value::Semver(v) => push_capped(out, v.text().as_bytes(), cap),
            Value::Cert(c) => push_capped(out, c.go_string().as_bytes(), cap),
        }
    }

    /// Checks a list or map just built from other values (`list`, `dict`): at most [`MAX_VALUE_NODES`]
    /// nodes and [`MAX_VALUE_DEPTH`] levels. Every node walked is charged to the budget, so values that share
    /// structure (`$x = list $x $x`) cannot make the walk itself unbounded.
    pub(crate) fn check_size(&self, budget: &mut Budget) -> Result<(), Limit> {
        fn walk(
            v: &Value,
            depth: usize,
            nodes: &mut usize,
            budget: &mut Budget,
        ) -> Result<(), Limit> {
            *nodes += 1;
            if *nodes > MAX_VALUE_NODES {
                return Err(Limit::ValueNodes);
            }
            budget.nodes(1)?;
            let children: Box<dyn Iterator<Item = &Value>> = match v {
                Value::List(items) => Box::new(items.iter()),
                Value::Map(map) => Box::new(map.values()),
                _ => return Ok(()),
            };
            if depth >= MAX_VALUE_DEPTH {
                return Err(Limit::ValueDepth);
            }
            children
                .into_iter()
                .try_for_each(|c| walk(c, depth + 1, nodes, budget))
        }
        walk(self, 0, &mut 0, budget)
    }
}

/// Formats a float as Go's `%v` does (`strconv.FormatFloat(f, 'g', -1, 64)`: exponent form below 1e-4 and from 1e6).
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest formatting.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let mut s = String::new();
        let _ = write!(
            s,
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
        s
    } else {
        format!("{f}")
    }
}

/// Go's `reflect.Kind` name of a value.
pub(crate) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::Str(_) | Value::Bytes(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Time(_) => "struct",
        Value::Semver(v) if v.pointer => "ptr",
        Value::Semver(_) => "struct",
        Value::Cert(_) => "struct",
    }
}

/// Go's `%T` of a value.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::Str(_) | Value::Bytes(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Time(_) => "time.Time",
        Value::Semver(v) if v.pointer => "*semver.Version",
        Value::Semver(_) => "semver.Version",
        Value::Cert(_) => "sprig.certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(v: &Value) -> String {
        let mut out = Vec::new();
        v.write_to(&mut out, usize::MAX).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_like_go() {
        let list = Value::List(Rc::new(vec![Value::Int(1), Value::str("a"), Value::Nil]));
        assert_eq!(print(&list), "[1 a <nil>]");
        let map = Value::Map(Rc::new(BTreeMap::from([
            ("b".to_string(), Value::Bool(true)),
            ("a".to_string(), Value::Float(1.5)),
        ])));
        assert_eq!(print(&map), "map[a:1.5 b:true]");
        assert_eq!(format_float(1e21), "1e+21");
        assert_eq!(format_float(123456.0), "123456");
        assert_eq!(format_float(1234567.0), "1.234567e+06");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(0.25), "0.25");
    }

    #[test]
    fn truthiness_and_limits() {
        assert!(!Value::str("").is_truthy());
        assert!(Value::str("x").is_truthy());
        assert!(!Value::Int(0).is_truthy());
        let mut v = Value::Int(1);
        for _ in 0..40 {
            v = Value::List(Rc::new(vec![v.clone(), v]));
        }
        let mut budget = Budget::default();
        assert_eq!(v.check_size(&mut budget), Err(Limit::ValueNodes));
        let mut deep = Value::Int(1);
        for _ in 0..=MAX_VALUE_DEPTH {
            deep = Value::List(Rc::new(vec![deep]));
        }
        assert_eq!(deep.check_size(&mut budget), Err(Limit::ValueDepth));
        let s = Value::str("x".repeat(1000));
        let many = Value::List(Rc::new(vec![s; 1000]));
        let mut out = Vec::new();
        assert!(matches!(
            many.write_to(&mut out, 4096),
            Err(ValueError::TooLarge)
        ));
        assert!(out.len() <= 4096);
    }
}
