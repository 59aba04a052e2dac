//! JSON and YAML for `toJson`/`toYaml` and `fromJson`/`fromYaml`, bounded.
//!
//! Values are serialized straight into a buffer that stops at a size cap (a list holding one large string
//! many times cannot expand past it) and parsed straight into template values, counting every node and
//! text byte against the object's budget as it is read: parsing stops at the limit instead of first
//! building a whole document in memory. Parser messages quote the input, so none is kept.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
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
        Value::Int(i) | Value::Int64(i) => push_str(out, &i.to_string(), cap),
        Value::Float(f) if f.is_finite() => push_str(out, &go_json_float(*f), cap),
        Value::Float(_) => Err(ValueError::Invalid("cannot encode NaN or infinity".into())),
        Value::Str(s) => write_json_str(s, escape_html, out, cap),
        // Go's encoding/json writes each invalid byte as \ufffd.
        Value::Bytes(_) => {
            let text = value.go_runes()?;
            let mut escaped = String::new();
            write_json_str(&text, escape_html, &mut escaped, cap)?;
            push_str(out, &escaped.replace('\u{FFFD}', "\\ufffd"), cap)
        }
        // encoding/json writes a struct's exported fields in order.
        Value::Cert(c) => write_json(&c.as_map(), escape_html, pretty, level, out, cap),
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
        // Go's MarshalJSON of both: RFC 3339 text for a time, `String()` for a version.
        Value::Time(t) => match t.json_text() {
            Some(text) => write_json_str(&text, escape_html, out, cap),
            None => Err(ValueError::Invalid(
                "Time.MarshalJSON: year outside of range [0,9999]".into(),
            )),
        },
        Value::Semver(v) => write_json_str(&v.text(), escape_html, out, cap),
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

/// `fromJson`: parses `text` into a value, charging it to `budget`.
pub(crate) fn from_json(text: &str, budget: &mut Budget) -> Result<Value, ParseError> {
    let mut builder = Builder {
        yaml: false,
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
        yaml: true,
        budget,
        nodes: 0,
        limit: None,
    };
    // sigs.k8s.io/yaml reads YAML 1.1 (yaml.v2): `0755` is octal.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        Seed {
            b: &mut builder,
            depth: 0,
        }
        .deserialize(de)
    });
    builder.result(parsed.ok())
}

/// Counts what a parse builds.
struct Builder<'b> {
    /// YAML: a plain key YAML 1.1 reads as a bool or null is named as sigs.k8s.io/yaml names it
    /// (`on` → `true`).
    yaml: bool,
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
            let key = if self.b.yaml { yaml11_key(key) } else { key };
            map.insert(key, value);
        }
        Ok(Value::Map(Rc::new(map)))
    }
}

/// A YAML mapping key as sigs.k8s.io/yaml gives it: yaml.v2 reads `on`, `yes`, `y`, ... as bools
/// and `~`, `null` as null, which become the keys `true`, `false` and `null`.
fn yaml11_key(key: String) -> String {
    match key.as_str() {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            "true".into()
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            "false".into()
        }
        "~" | "null" | "Null" | "NULL" => "null".into(),
        _ => key,
    }
}

/// ESO's `toYaml` before trimming: sigs.k8s.io/yaml's output (Go JSON, then yaml.v2), at most `cap`
/// bytes. Keys sorted; sequences in a mapping not indented; a string that would read back as another
/// type in YAML 1.1 (`yes`, `010`, `1e3`, `2024-01-02`, `null`) double-quoted, one that cannot be
/// plain for its characters single-quoted (double-quoted when it holds a control character), one with
/// a line break in literal block style; numbers as they read back from their Go JSON text.
pub(crate) fn go_yaml(value: &Value, cap: usize) -> Result<Zeroizing<String>, ValueError> {
    let mut out = Zeroizing::new(String::new());
    match value {
        Value::Map(m) if !m.is_empty() => yaml_map(m, 0, &mut out, cap)?,
        Value::List(l) if !l.is_empty() => yaml_list(l, 0, &mut out, cap)?,
        other => {
            yaml_scalar(other, 2, &mut out, cap)?;
            push_str(&mut out, "\n", cap)?;
        }
    }
    Ok(out)
}

fn indent(out: &mut String, n: usize, cap: usize) -> Result<(), ValueError> {
    for _ in 0..n {
        push_str(out, " ", cap)?;
    }
    Ok(())
}

fn yaml_map(
    m: &BTreeMap<String, Value>,
    level: usize,
    out: &mut String,
    cap: usize,
) -> Result<(), ValueError> {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            indent(out, level, cap)?;
        }
        yaml_string(k, level, out, cap)?;
        push_str(out, ":", cap)?;
        yaml_value_after_key(v, level, out, cap)?;
    }
    Ok(())
}

fn yaml_value_after_key(
    v: &Value,
    level: usize,
    out: &mut String,
    cap: usize,
) -> Result<(), ValueError> {
    match v {
        Value::Map(m) if !m.is_empty() => {
            push_str(out, "\n", cap)?;
            indent(out, level + 2, cap)?;
            yaml_map(m, level + 2, out, cap)
        }
        Value::List(l) if !l.is_empty() => {
            push_str(out, "\n", cap)?;
            indent(out, level, cap)?;
            yaml_list(l, level, out, cap)
        }
        other => {
            push_str(out, " ", cap)?;
            yaml_scalar(other, level + 2, out, cap)?;
            push_str(out, "\n", cap)
        }
    }
}

fn yaml_list(l: &[Value], level: usize, out: &mut String, cap: usize) -> Result<(), ValueError> {
    for (i, v) in l.iter().enumerate() {
        if i > 0 {
            indent(out, level, cap)?;
        }
        push_str(out, "- ", cap)?;
        match v {
            Value::Map(m) if !m.is_empty() => yaml_map(m, level + 2, out, cap)?,
            Value::List(inner) if !inner.is_empty() => yaml_list(inner, level + 2, out, cap)?,
            other => {
                yaml_scalar(other, level + 2, out, cap)?;
                push_str(out, "\n", cap)?;
            }
        }
    }
    Ok(())
}

/// A scalar (or an empty collection) at block indentation `level` (for literal blocks).
fn yaml_scalar(v: &Value, level: usize, out: &mut String, cap: usize) -> Result<(), ValueError> {
    match v {
        Value::Nil => push_str(out, "null", cap),
        Value::Bool(b) => push_str(out, if *b { "true" } else { "false" }, cap),
        Value::Int(i) | Value::Int64(i) => push_str(out, &i.to_string(), cap),
        Value::Float(f) if f.is_finite() => {
            let json = go_json_float(*f);
            let digits = json.strip_prefix('-').unwrap_or(&json);
            let integral = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if integral && (json.parse::<i64>().is_ok() || json.parse::<u64>().is_ok()) {
                let text = if json == "-0" { "0".to_owned() } else { json };
                push_str(out, &text, cap)
            } else {
                push_str(out, &crate::printf::format_go_float(*f, 'g', None), cap)
            }
        }
        Value::Float(_) => Err(ValueError::Invalid("cannot encode NaN or infinity".into())),
        Value::Str(s) => yaml_string(s, level, out, cap),
        // sigs.k8s.io/yaml goes through encoding/json, which writes each byte that is not UTF-8 as
        // U+FFFD.
        Value::Bytes(_) => yaml_string(&v.go_runes()?, level, out, cap),
        Value::List(_) => push_str(out, "[]", cap),
        Value::Map(_) => push_str(out, "{}", cap),
        // sigs.k8s.io/yaml goes through JSON: both become strings.
        Value::Time(t) => match t.json_text() {
            Some(text) => yaml_string(&text, level, out, cap),
            None => Err(ValueError::Invalid(
                "Time.MarshalJSON: year outside of range [0,9999]".into(),
            )),
        },
        Value::Semver(v) => yaml_string(&v.text(), level, out, cap),
        Value::Cert(_) => Err(ValueError::Invalid(
            "a certificate struct cannot be written as YAML; use its .Cert and .Key".into(),
        )),
    }
}

/// What a plain YAML 1.1 scalar reads as in yaml.v2, when not a string.
fn resolves_to_other_type(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let int = {
        let lower = unsigned.to_ascii_lowercase();
        let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
            (16, d.to_owned())
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d.to_owned())
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d.to_owned())
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, lower[1..].to_owned())
        } else {
            (10, lower)
        };
        !digits.is_empty() && u128::from_str_radix(&digits, radix).is_ok()
    };
    let float = {
        let b = unsigned.as_bytes();
        let mut i = 0;
        let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        i += int_digits;
        let mut ok = true;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            i += frac_digits;
            if int_digits == 0 && frac_digits == 0 {
                ok = false;
            }
        } else if int_digits == 0 {
            ok = false;
        }
        if ok && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            let e = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if e == 0 {
                ok = false;
            }
            i += e;
        }
        ok && i == b.len()
    };
    let base60 = {
        let mut parts = unsigned.split(':');
        let head = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        !rest.is_empty()
            && head.starts_with(|c: char| c.is_ascii_digit())
            && head.chars().all(|c| c.is_ascii_digit())
            && rest.iter().enumerate().all(|(i, p)| {
                let p = if i + 1 == rest.len() {
                    p.split('.').next().unwrap_or("")
                } else {
                    p
                };
                !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()) && p < "60"
            })
    };
    let timestamp = {
        let date = s.split(['T', 't', ' ']).next().unwrap_or("");
        let parts: Vec<&str> = date.split('-').collect();
        parts.len() == 3
            && parts[0].len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
            && (date.len() == s.len() || s.len() > date.len() + 1)
    };
    int || float || base60 || timestamp
}

fn is_yaml_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{85}')
        || ('\u{20}'..='\u{7e}').contains(&c)
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || ('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}'
        || ('\u{10000}'..='\u{10ffff}').contains(&c)
}

fn yaml_string(s: &str, level: usize, out: &mut String, cap: usize) -> Result<(), ValueError> {
    let special = s.chars().any(|c| !is_yaml_printable(c));
    if s.contains('\n') && !special {
        return yaml_literal(s, level, out, cap);
    }
    if resolves_to_other_type(s) || special {
        return yaml_double(s, out, cap);
    }
    let chars: Vec<char> = s.chars().collect();
    let is_space = |c: char| c == ' ';
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut block_plain = true;
    if s.starts_with("---") || s.starts_with("...") {
        block_plain = false;
    }
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = chars
            .get(i + 1)
            .is_none_or(|&n| is_space(n) || n == '\t' || is_break(n));
        let preceded_by_ws =
            i == 0 || is_space(chars[i - 1]) || chars[i - 1] == '\t' || is_break(chars[i - 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_plain = false,
                '?' | ':' | '-' if followed_by_ws => block_plain = false,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_plain = false,
                '#' if preceded_by_ws => block_plain = false,
                _ => {}
            }
        }
        if is_break(c) {
            block_plain = false;
        }
    }
    if chars.first().is_some_and(|&c| is_space(c)) || chars.last().is_some_and(|&c| is_space(c)) {
        block_plain = false;
    }
    if block_plain {
        return push_str(out, s, cap);
    }
    push_str(out, "'", cap)?;
    push_str(out, &s.replace('\'', "''"), cap)?;
    push_str(out, "'", cap)
}

fn yaml_double(s: &str, out: &mut String, cap: usize) -> Result<(), ValueError> {
    push_str(out, "\"", cap)?;
    for c in s.chars() {
        let piece = match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            '\0' => "\\0".to_owned(),
            '\u{7}' => "\\a".to_owned(),
            '\u{8}' => "\\b".to_owned(),
            '\t' => "\\t".to_owned(),
            '\n' => "\\n".to_owned(),
            '\u{b}' => "\\v".to_owned(),
            '\u{c}' => "\\f".to_owned(),
            '\r' => "\\r".to_owned(),
            '\u{1b}' => "\\e".to_owned(),
            '\u{85}' => "\\N".to_owned(),
            '\u{a0}' => "\\_".to_owned(),
            '\u{2028}' => "\\L".to_owned(),
            '\u{2029}' => "\\P".to_owned(),
            c if is_yaml_printable(c) => c.to_string(),
            c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
            c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
            c => format!("\\U{:08X}", c as u32),
        };
        push_str(out, &piece, cap)?;
    }
    push_str(out, "\"", cap)
}

fn yaml_literal(s: &str, level: usize, out: &mut String, cap: usize) -> Result<(), ValueError> {
    push_str(out, "|", cap)?;
    if s.starts_with([' ', '\n']) {
        push_str(out, "2", cap)?;
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    match trailing {
        0 => push_str(out, "-", cap)?,
        1 => {}
        _ => push_str(out, "+", cap)?,
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        push_str(out, "\n", cap)?;
        if !line.is_empty() {
            indent(out, level, cap)?;
            push_str(out, line, cap)?;
        }
    }
    Ok(())
}
