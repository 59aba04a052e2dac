//! JSON and YAML for `toJson`/`toYaml` and `fromJson`/`fromYaml`, bounded.
//!
//! Values are serialized straight into a buffer that stops at a size cap (a list holding one large string
//! many times cannot expand past it) and parsed straight into template values, counting every node and
//! text byte against the object's budget as it is read: parsing stops at the limit instead of first
//! building a whole document in memory. Parser messages quote the input, so none is kept.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap as _, SerializeSeq as _};
use zeroize::Zeroizing;

use crate::budget::{Budget, Limit, MAX_VALUE_DEPTH, MAX_VALUE_NODES, NODE_BYTES};
use crate::value::{Value, ValueError};

/// Why a document could not be parsed.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not valid JSON or YAML (nothing more is said: the parser's message would quote the input).
    Syntax,
    /// The document is larger than the budget allows.
    Limit(Limit),
}

/// Go's `encoding/json` output of a value, at most `cap` bytes: map keys sorted, floats as Go writes
/// them (`1`, `1e+21`, `1e-7`), `<`, `>`, `&` escaped as `\u003c`... when `escape_html` (sprig's
/// `toJson`; `toRawJson` does not), U+2028 and U+2029 always escaped; `indent` two spaces per level
/// for `toPrettyJson`. Binary values and non-finite floats are refused.
pub(crate) fn go_json(
    value: &Value,
    escape_html: bool,
    pretty: bool,
    cap: usize,
) -> Result<Zeroizing<String>, ValueError> {
    let mut out = Zeroizing::new(String::new());
    write_json(value, escape_html, pretty, 0, &mut out, cap)?;
    Ok(out)
}

fn push_str(out: &mut String, s: &str, cap: usize) -> Result<(), ValueError> {
    if out.len().saturating_add(s.len()) > cap {
        return Err(ValueError::TooLarge);
    }
    out.push_str(s);
    Ok(())
}

fn newline(out: &mut String, level: usize, cap: usize) -> Result<(), ValueError> {
    push_str(out, "\n", cap)?;
    for _ in 0..level {
        push_str(out, "  ", cap)?;
    }
    Ok(())
}

/// Go's `encoding/json` float formatting.
pub(crate) fn go_json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = crate::printf::format_go_float(f, 'e', None);
        // Go shortens a two-digit negative exponent: 1e-07 becomes 1e-7.
        match s.split_once("e-0") {
            Some((m, e)) if e.len() == 1 => format!("{m}e-{e}"),
            _ => s,
        }
    } else {
        crate::printf::format_go_float(f, 'f', None)
    }
}

fn write_json(
    value: &Value,
    escape_html: bool,
    pretty: bool,
    level: usize,
    out: &mut String,
    cap: usize,
) -> Result<(), ValueError> {
    match value {
        Value::Nil => push_str(out, "null", cap),
        Value::Bool(b) => push_str(out, if *b { "true" } else { "false" }, cap),
        Value::Int(i) => push_str(out, &i.to_string(), cap),
        Value::Float(f) if f.is_finite() => push_str(out, &go_json_float(*f), cap),
        Value::Float(_) => Err(ValueError::Invalid("cannot encode NaN or infinity".into())),
        Value::Str(s) => write_json_str(s, escape_html, out, cap),
        Value::Bytes(b) => Err(ValueError::NonUtf8(b.origin.clone())),
        Value::List(items) => {
            push_str(out, "[", cap)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    push_str(out, ",", cap)?;
                }
                if pretty {
                    newline(out, level + 1, cap)?;
                }
                write_json(item, escape_html, pretty, level + 1, out, cap)?;
            }
            if pretty && !items.is_empty() {
                newline(out, level, cap)?;
            }
            push_str(out, "]", cap)
        }
        Value::Map(map) => {
            push_str(out, "{", cap)?;
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    push_str(out, ",", cap)?;
                }
                if pretty {
                    newline(out, level + 1, cap)?;
                }
                write_json_str(k, escape_html, out, cap)?;
                push_str(out, if pretty { ": " } else { ":" }, cap)?;
                write_json(v, escape_html, pretty, level + 1, out, cap)?;
            }
            if pretty && !map.is_empty() {
                newline(out, level, cap)?;
            }
            push_str(out, "}", cap)
        }
    }
}

fn write_json_str(
    s: &str,
    escape_html: bool,
    out: &mut String,
    cap: usize,
) -> Result<(), ValueError> {
    push_str(out, "\"", cap)?;
    for c in s.chars() {
        let escaped;
        let piece: &str = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '<' | '>' | '&' if escape_html => {
                escaped = format!("\\u{:04x}", c as u32);
                &escaped
            }
            '\u{2028}' | '\u{2029}' => {
                escaped = format!("\\u{:04x}", c as u32);
                &escaped
            }
            c if (c as u32) < 0x20 => {
                escaped = format!("\\u{:04x}", c as u32);
                &escaped
            }
            c => {
                escaped = c.to_string();
                &escaped
            }
        };
        push_str(out, piece, cap)?;
    }
    push_str(out, "\"", cap)
}

/// `toYaml` before trimming: YAML of at most `cap` bytes.
pub(crate) fn to_yaml(value: &Value, cap: usize) -> Result<Zeroizing<String>, ValueError> {
    let why = Cell::new(None);
    let mut out = Capped {
        out: Zeroizing::new(Vec::new()),
        cap,
        over: false,
    };
    let result = serde_saphyr::to_fmt_writer(&mut out, &Ser { value, why: &why });
    finish(result.is_ok(), out, &why)
}

fn finish(
    ok: bool,
    mut out: Capped,
    why: &Cell<Option<ValueError>>,
) -> Result<Zeroizing<String>, ValueError> {
    if let Some(e) = why.take() {
        return Err(e);
    }
    if out.over {
        return Err(ValueError::TooLarge);
    }
    if !ok {
        return Err(ValueError::Invalid("cannot encode".into()));
    }
    let bytes = std::mem::take(&mut *out.out);
    String::from_utf8(bytes)
        .map(Zeroizing::new)
        .map_err(|_| ValueError::Invalid("cannot encode".into()))
}

/// `fromJson`: parses `text` into a value, charging it to `budget`.
pub(crate) fn from_json(text: &str, budget: &mut Budget) -> Result<Value, ParseError> {
    let mut builder = Builder {
        budget,
        nodes: 0,
        limit: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Seed {
        b: &mut builder,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    builder.result(parsed.ok())
}

/// `fromYaml`: parses `text` (one YAML document) into a value, charging it to `budget`.
pub(crate) fn from_yaml(text: &str, budget: &mut Budget) -> Result<Value, ParseError> {
    let mut builder = Builder {
        budget,
        nodes: 0,
        limit: None,
    };
    let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
        Seed {
            b: &mut builder,
            depth: 0,
        }
        .deserialize(de)
    });
    builder.result(parsed.ok())
}

/// A byte buffer that refuses to grow past `cap` (for both `io::Write` and `fmt::Write` serializers).
struct Capped {
    out: Zeroizing<Vec<u8>>,
    cap: usize,
    over: bool,
}

impl Capped {
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.out.len().saturating_add(bytes.len()) > self.cap {
            self.over = true;
            return false;
        }
        self.out.extend_from_slice(bytes);
        true
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.push(buf) {
            Ok(buf.len())
        } else {
            Err(std::io::Error::other("size cap"))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(std::fmt::Error)
        }
    }
}

/// Serializes a value as `serde_json::Value` would; binary values and non-finite floats are refused,
/// with the reason left in `why` (serializer errors carry no reason of ours).
struct Ser<'a> {
    value: &'a Value,
    why: &'a Cell<Option<ValueError>>,
}

impl ser::Serialize for Ser<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let refuse = |e: ValueError| {
            self.why.set(Some(e));
            <S::Error as ser::Error>::custom("refused")
        };
        match self.value {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            // sigs.k8s.io/yaml goes through JSON: a float with an integral JSON form is an integer.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
                if *f >= 0.0 && *f <= u64::MAX as f64 && *f > i64::MAX as f64 {
                    s.serialize_u64(*f as u64)
                } else {
                    s.serialize_i64(*f as i64)
                }
            }
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => Err(refuse(ValueError::Invalid(
                "cannot encode NaN or infinity".into(),
            ))),
            Value::Str(text) => s.serialize_str(text),
            Value::Bytes(b) => Err(refuse(ValueError::NonUtf8(b.origin.clone()))),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for value in items.iter() {
                    seq.serialize_element(&Ser {
                        value,
                        why: self.why,
                    })?;
                }
                seq.end()
            }
            Value::Map(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (key, value) in map.iter() {
                    out.serialize_entry(
                        key,
                        &Ser {
                            value,
                            why: self.why,
                        },
                    )?;
                }
                out.end()
            }
        }
    }
}

/// Counts what a parse builds.
struct Builder<'b> {
    budget: &'b mut Budget,
    nodes: usize,
    /// Set when a limit stopped the parse.
    limit: Option<Limit>,
}

impl Builder<'_> {
    /// Counts one node holding `text_bytes` bytes of text.
    fn charge<E: de::Error>(&mut self, text_bytes: usize) -> Result<(), E> {
        self.nodes += 1;
        let charged = if self.nodes > MAX_VALUE_NODES {
            Err(Limit::ValueNodes)
        } else {
            self.budget.work(NODE_BYTES.saturating_add(text_bytes))
        };
        charged.map_err(|limit| {
            self.limit = Some(limit);
            E::custom("limit")
        })
    }

    /// Counts `bytes` bytes of text that are not a node of their own (a map key).
    fn charge_text<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.budget.work(bytes).map_err(|limit| {
            self.limit = Some(limit);
            E::custom("limit")
        })
    }

    fn result(self, parsed: Option<Value>) -> Result<Value, ParseError> {
        match (self.limit, parsed) {
            (Some(limit), _) => Err(ParseError::Limit(limit)),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(ParseError::Syntax),
        }
    }
}

/// Builds one value (and, through nested seeds, its items).
struct Seed<'a, 'b> {
    b: &'a mut Builder<'b>,
    depth: usize,
}

impl<'b> Seed<'_, 'b> {
    fn nested(&mut self) -> Seed<'_, 'b> {
        Seed {
            b: &mut *self.b,
            depth: self.depth + 1,
        }
    }

    fn container<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= MAX_VALUE_DEPTH {
            self.b.limit = Some(Limit::ValueDepth);
            return Err(E::custom("limit"));
        }
        self.b.charge(0)
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.b.charge(0)?;
        Ok(Value::Bool(v))
    }

    // Numbers are float64, as Go's encoding/json gives them to sprig's fromJson (and
    // sigs.k8s.io/yaml, through JSON, to ESO's fromYaml).
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.b.charge(0)?;
        Ok(Value::Float(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.b.charge(0)?;
        Ok(Value::Float(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.b.charge(0)?;
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.b.charge(v.len())?;
        Ok(Value::str(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.b.charge(v.len())?;
        Ok(Value::str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.b.charge(0)?;
        Ok(Value::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.nested())? {
            items.push(item);
        }
        Ok(Value::List(Rc::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut map = BTreeMap::new();
        while let Some(key) = access.next_key::<String>()? {
            self.b.charge_text(key.len())?;
            let value = access.next_value_seed(self.nested())?;
            map.insert(key, value);
        }
        Ok(Value::Map(Rc::new(map)))
    }
}
