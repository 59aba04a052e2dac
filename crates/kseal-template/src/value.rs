//! Values flowing through a template: secret values (text or binary), literals and the lists and maps built
//! by helper functions. Cloning is cheap (shared), and secret text and bytes are zeroized when dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use zeroize::Zeroizing;

/// Text that may be secret: zeroized when the last reference goes.
pub(crate) type Text = Rc<Zeroizing<String>>;

/// Most nodes (list items, map entries, scalars) a single value may have, to bound memory and time.
pub(crate) const MAX_VALUE_NODES: usize = 100_000;

/// A template value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    /// Bytes that are not valid UTF-8 (a binary secret value or a `b64dec` result).
    Bytes(Rc<Binary>),
    List(Rc<Vec<Value>>),
    Map(Rc<BTreeMap<String, Value>>),
}

/// A binary value and where it came from (for error messages; never the bytes themselves).
#[derive(Debug)]
pub(crate) struct Binary {
    pub(crate) origin: String,
    pub(crate) bytes: Zeroizing<Vec<u8>>,
}

/// A value's type was wrong for an operation.
#[derive(Debug)]
pub(crate) enum ValueError {
    /// Binary data used as text; holds the origin.
    NonUtf8(String),
    /// Any other problem; the message never contains the value.
    Invalid(String),
}

impl Value {
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
                bytes: Zeroizing::new(e.into_bytes()),
            })),
        }
    }

    /// Go's name of the value's kind, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.bytes.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
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
            Value::Int(i) => Ok(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            other => Err(ValueError::Invalid(format!(
                "expected an integer, got {}",
                other.kind()
            ))),
        }
    }

    /// Text of the value as Go's `fmt.Sprint` (sprig's `toString`) would give it; binary values are refused.
    pub(crate) fn to_text(&self) -> Result<Zeroizing<String>, ValueError> {
        if let Value::Bytes(b) = self {
            return Err(ValueError::NonUtf8(b.origin.clone()));
        }
        let mut out = Zeroizing::new(Vec::new());
        self.write_to(&mut out)?;
        let bytes = std::mem::take(&mut *out);
        String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            ValueError::NonUtf8("an element of a list or map".into())
        })
    }

    /// Appends the value as Go's `fmt.Print` would (`%v`); binary values are written as they are.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) -> Result<(), ValueError> {
        match self {
            Value::Nil => out.extend_from_slice(b"<nil>"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
            Value::Str(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bytes(b) => out.extend_from_slice(&b.bytes),
            Value::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.write_to(out)?;
                }
                out.push(b']');
            }
            Value::Map(map) => {
                out.extend_from_slice(b"map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b':');
                    v.write_to(out)?;
                }
                out.push(b']');
            }
        }
        Ok(())
    }

    /// Converts to JSON for `toJson`/`toYaml`; binary values are refused (JSON strings are text).
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        Ok(match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .ok_or_else(|| ValueError::Invalid("cannot encode NaN or infinity".into()))?,
            Value::Str(s) => serde_json::Value::String(s.as_str().to_owned()),
            Value::Bytes(b) => return Err(ValueError::NonUtf8(b.origin.clone())),
            Value::List(items) => serde_json::Value::Array(
                items.iter().map(Value::to_json).collect::<Result<_, _>>()?,
            ),
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_json()?)))
                    .collect::<Result<_, ValueError>>()?,
            ),
        })
    }

    /// Converts parsed JSON (from `fromJson`/`fromYaml`) into a value; integral numbers stay integers.
    pub(crate) fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(Rc::new(items.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(map) => Value::Map(Rc::new(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// Whether the value has at most `limit` nodes; stops counting early so shared structure cannot blow up.
    pub(crate) fn fits(&self, limit: usize) -> bool {
        fn count(v: &Value, budget: &mut usize) -> bool {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            match v {
                Value::List(items) => items.iter().all(|i| count(i, budget)),
                Value::Map(map) => map.values().all(|i| count(i, budget)),
                _ => true,
            }
        }
        let mut budget = limit;
        count(self, &mut budget)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn print(v: &Value) -> String {
        let mut out = Vec::new();
        v.write_to(&mut out).unwrap();
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
        assert!(!v.fits(MAX_VALUE_NODES));
    }
}
