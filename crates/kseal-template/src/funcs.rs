//! The functions templates may call: Go's `text/template` builtins and a subset of sprig, with sprig's names,
//! argument order and results. None reads the environment, files or the network.
//!
//! Where sprig hides failures (`b64dec` and `fromJson` return an error text or an empty value) these return
//! an error instead; error messages describe the problem without quoting the input.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::budget::{Budget, Limit, MAX_VALUE_NODES};
use crate::convert::{ParseError, from_json, from_yaml, go_json, go_yaml};
use crate::printf::{go_quote, printf, sprint};
use crate::value::{FuncError, Value, push_capped};

/// Every function name a template may use (`and`/`or` are evaluated lazily by the executor).
pub(crate) const FUNCTIONS: &[&str] = &[
    // Go text/template builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge", // sprig
    "b64enc",
    "b64dec",
    "toJson",
    "mustToJson",
    "toRawJson",
    "mustToRawJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "fromJson",
    "mustFromJson",
    "toYaml",
    "fromYaml",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "cat",
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "split",
    "splitList",
    "join",
    "indent",
    "nindent",
    "sha256sum",
    "toString",
    "trunc",
    "repeat",
    "nospace",
    "list",
    "dict",
    "get",
    "hasKey",
];

/// The functions External Secrets Operator adds to sprig's (not offered to sealed-secrets templates).
pub(crate) const ESO_ONLY: &[&str] = &[
    "toYaml",
    "fromYaml",
    "hexdec",
    "filterPEM",
    "filterCertChain",
    "certSANs",
];

/// Whether `name` is one of ESO's functions kept in modules of their own (PKCS#12, keys).
pub(crate) fn eso_module(name: &str) -> bool {
    crate::pkcs12::FUNCTIONS.contains(&name) || crate::eso_keys::FUNCTIONS.contains(&name)
}

/// Whether `name` is a known function.
pub(crate) fn exists(name: &str) -> bool {
    FUNCTIONS.contains(&name)
        || crate::sprig::FUNCTIONS.contains(&name)
        || crate::eso::FUNCTIONS.contains(&name)
        || eso_module(name)
        || crate::certs::FUNCTIONS.contains(&name)
}

/// Whether the function reads the text of its arguments (the executor counts that as work). The others
/// only pass values along or look at their length.
pub(crate) fn reads_text(name: &str) -> bool {
    !matches!(
        name,
        "len" | "default" | "coalesce" | "ternary" | "list" | "dict" | "empty" | "not"
    )
}

type FResult = Result<Value, FuncError>;

/// Go's `pem.Encode` of one block: 64-character base64 lines, `\n` line ends.
pub(crate) fn go_pem(tag: &str, der: &[u8]) -> String {
    let block = pem::Pem::new(tag, der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new()
            .set_line_ending(pem::LineEnding::LF)
            .set_line_wrap(64),
    )
}

/// A function's failure with `msg` (which never holds data).
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T, FuncError> {
    Err(FuncError::Invalid(msg.into()))
}

/// `args` has exactly `want` values.
pub(crate) fn arity(args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() == want {
        Ok(())
    } else {
        invalid(format!(
            "wrong number of arguments: want {want}, got {}",
            args.len()
        ))
    }
}

/// `args` has at least `want` values.
pub(crate) fn at_least(args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() >= want {
        Ok(())
    } else {
        invalid(format!(
            "wrong number of arguments: want at least {want}, got {}",
            args.len()
        ))
    }
}

/// A string result, counted as produced.
fn text(b: &mut Budget, s: String) -> FResult {
    b.produce(s.len())?;
    Ok(Value::str(s))
}

/// A string result already in a zeroizing buffer, counted as produced.
fn secret_text(b: &mut Budget, s: Zeroizing<String>) -> FResult {
    b.produce(s.len())?;
    Ok(Value::Str(Rc::new(s)))
}

/// The functions that tell a Go `int64` from an `int`.
const INT64_AWARE: &[&str] = &[
    "duration",
    "durationRound",
    "typeOf",
    "kindOf",
    "typeIs",
    "typeIsLike",
    "kindIs",
    "printf",
    "deepEqual",
];

/// Calls the function `name` (never `and`/`or`) with evaluated arguments. `literal[i]` tells whether
/// `args[i]` is a literal of the template (only then may a message quote it); what the call produces is
/// counted against `b`, and sizes are checked before large results are built.
pub(crate) fn call(name: &str, args: Vec<Value>, literal: &[bool], b: &mut Budget) -> FResult {
    if crate::bytewise::applies(name, &args) {
        let args = args.into_iter().map(crate::bytewise::escape).collect();
        return call_text(name, args, literal, b).map(crate::bytewise::unescape);
    }
    call_text(name, args, literal, b)
}

fn call_text(name: &str, args: Vec<Value>, literal: &[bool], b: &mut Budget) -> FResult {
    // Only these tell Go's int64 from its int; every other function gets an int.
    let args = if INT64_AWARE.contains(&name) {
        args
    } else {
        args.into_iter().map(Value::into_go_int).collect()
    };
    let a = args.as_slice();
    let is_literal = |i: usize| literal.get(i).copied().unwrap_or(false);
    match name {
        "not" => {
            arity(a, 1)?;
            Ok(Value::Bool(!a[0].is_truthy()))
        }
        "len" => {
            arity(a, 1)?;
            let n = match &a[0] {
                Value::Str(s) => s.len(),
                Value::Bytes(b) => b.bytes.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return invalid(format!("len of {}", other.kind())),
            };
            Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
        }
        "index" => {
            at_least(a, 1)?;
            a[1..]
                .iter()
                .enumerate()
                .try_fold(a[0].clone(), |item, (i, key)| {
                    index(&item, key, is_literal(i + 1))
                })
        }
        "print" | "println" => {
            let out = sprint(a, name == "println", b.cap())?;
            bytes_value(b, out, a, name)
        }
        "printf" => {
            at_least(a, 1)?;
            let out = printf(a[0].as_str()?, is_literal(0), &a[1..], b.cap())?;
            bytes_value(b, out, &a[1..], "printf")
        }
        "urlquery" => {
            let joined = match a {
                [Value::Str(s)] => Zeroizing::new(s.as_bytes().to_vec()),
                _ => sprint(a, false, b.cap())?,
            };
            text(b, query_escape(&joined))
        }
        "eq" | "ne" => {
            at_least(a, 2)?;
            let mut any = false;
            for other in &a[1..] {
                any |= compare(&a[0], other, true)? == Ordering::Equal;
            }
            Ok(Value::Bool(any == (name == "eq")))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(a, 2)?;
            let ord = compare(&a[0], &a[1], false)?;
            Ok(Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
        "b64enc" => {
            arity(a, 1)?;
            let bytes = a[0].as_bytes()?;
            b.can_produce(bytes.len() / 3 * 4 + 4)?;
            text(b, STANDARD.encode(bytes))
        }
        "b64dec" => {
            arity(a, 1)?;
            // Go's StdEncoding skips line breaks; padding is required.
            let input: Zeroizing<Vec<u8>> = Zeroizing::new(
                a[0].as_str()?
                    .bytes()
                    .filter(|b| !matches!(b, b'\r' | b'\n'))
                    .collect(),
            );
            b.can_produce(input.len() / 4 * 3)?;
            let decoded = STANDARD.decode(&*input).or_else(|_| {
                invalid("input is not valid base64 (standard alphabet, with padding)")
            })?;
            b.produce(decoded.len())?;
            Ok(Value::from_bytes(decoded, || {
                "the result of b64dec".to_owned()
            }))
        }
        "toJson" | "mustToJson" | "toRawJson" | "mustToRawJson" | "toPrettyJson"
        | "mustToPrettyJson" => {
            arity(a, 1)?;
            let raw = name.ends_with("RawJson");
            let pretty = name.ends_with("PrettyJson");
            let json = go_json(&a[0], !raw, pretty, b.cap())?;
            secret_text(b, json)
        }
        "fromJson" | "mustFromJson" => {
            arity(a, 1)?;
            from_json(a[0].as_str()?, b).or_else(|e| match e {
                ParseError::Syntax => invalid("input is not valid JSON"),
                ParseError::Limit(limit) => Err(FuncError::Limit(limit)),
            })
        }
        "toYaml" => {
            arity(a, 1)?;
            let mut yaml = go_yaml(&a[0], b.cap())?;
            let kept = yaml.trim_end_matches('\n').len();
            yaml.truncate(kept);
            secret_text(b, yaml)
        }
        "fromYaml" => {
            arity(a, 1)?;
            // ESO's fromYaml gives a map: an empty document is an empty map.
            if a[0].as_str()?.trim().is_empty() {
                return Ok(Value::Map(Rc::new(BTreeMap::new())));
            }
            from_yaml(a[0].as_str()?, b).or_else(|e| match e {
                ParseError::Syntax => invalid("input is not valid YAML"),
                ParseError::Limit(limit) => Err(FuncError::Limit(limit)),
            })
        }
        "default" => {
            if a.is_empty() || a.len() > 2 {
                return invalid(format!(
                    "wrong number of arguments: want 1 or 2, got {}",
                    a.len()
                ));
            }
            Ok(match a.get(1) {
                Some(given) if given.is_truthy() => given.clone(),
                _ => a[0].clone(),
            })
        }
        "empty" => {
            arity(a, 1)?;
            Ok(Value::Bool(!a[0].is_truthy()))
        }
        "coalesce" => Ok(a
            .iter()
            .find(|v| v.is_truthy())
            .cloned()
            .unwrap_or(Value::Nil)),
        "ternary" => {
            arity(a, 3)?;
            match a[2] {
                Value::Bool(cond) => Ok(if cond { a[0].clone() } else { a[1].clone() }),
                ref other => invalid(format!("condition must be a bool, got {}", other.kind())),
            }
        }
        "quote" | "squote" => {
            let cap = b.cap();
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in a.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
                let part: Zeroizing<Vec<u8>> = match (name, v) {
                    ("quote", Value::Bytes(bin)) => {
                        Zeroizing::new(go_quote(&bin.bytes).into_bytes())
                    }
                    ("quote", v) => {
                        Zeroizing::new(go_quote(v.to_text(cap)?.as_bytes()).into_bytes())
                    }
                    // sprig's squote puts the bytes between quotes as they are.
                    (_, Value::Bytes(bin)) => {
                        let mut q = Zeroizing::new(Vec::with_capacity(bin.bytes.len() + 2));
                        q.push(b'\'');
                        q.extend_from_slice(&bin.bytes);
                        q.push(b'\'');
                        q
                    }
                    (_, v) => {
                        Zeroizing::new(format!("'{}'", v.to_text(cap)?.as_str()).into_bytes())
                    }
                };
                if out.len() + part.len() + 1 > cap {
                    return Err(FuncError::TooLarge);
                }
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(&part);
            }
            bytes_value(b, out, a, name)
        }
        "cat" => {
            let cap = b.cap();
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in a.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
                if i > 0 {
                    push_capped(&mut out, b" ", cap)?;
                }
                v.write_text(&mut out, cap)?;
            }
            let out = String::from_utf8(std::mem::take(&mut *out))
                .map_err(|_| FuncError::NonUtf8("an element of a list or map".into()))?;
            secret_text(b, Zeroizing::new(out))
        }
        "upper" => one_runes(b, a, |s| {
            s.chars().map(crate::text::go_upper_char).collect()
        }),
        "lower" => one_runes(b, a, |s| {
            s.chars().map(crate::text::go_lower_char).collect()
        }),
        "title" => one_runes(b, a, title),
        "trim" => {
            arity(a, 1)?;
            // Go's TrimSpace works on the bytes: invalid bytes are kept (they are not space).
            let bytes = a[0].as_bytes()?;
            let out = trim_space(bytes).to_vec();
            b.produce(out.len())?;
            Ok(Value::from_bytes(out, || "the result of trim".to_owned()))
        }
        "nospace" => {
            // goutils' DeleteWhiteSpace reads each byte as a rune (U+0000..U+00FF) and writes the ones
            // that are not space; with none removed it returns the input unchanged.
            arity(a, 1)?;
            let bytes = a[0].as_bytes()?;
            let kept: String = bytes
                .iter()
                .map(|&byte| char::from(byte))
                .filter(|c| !c.is_whitespace())
                .collect();
            if kept.chars().count() == bytes.len() {
                return Ok(a[0].clone());
            }
            text(b, kept)
        }
        "trimAll" => two_str(b, a, |cut, s| {
            s.trim_matches(|c| cut.contains(c)).to_owned()
        }),
        "trimPrefix" => two_str(b, a, |p, s| s.strip_prefix(p).unwrap_or(s).to_owned()),
        "trimSuffix" => two_str(b, a, |p, s| s.strip_suffix(p).unwrap_or(s).to_owned()),
        "contains" => bool_bytes(a, |sub, s| {
            sub.is_empty() || s.windows(sub.len()).any(|w| w == sub)
        }),
        "hasPrefix" => bool_bytes(a, |p, s| s.starts_with(p)),
        "hasSuffix" => bool_bytes(a, |p, s| s.ends_with(p)),
        "replace" if a.len() == 3 && a.iter().any(|v| matches!(v, Value::Bytes(_))) => {
            // Go's strings.Replace works on the bytes.
            let (old, new, src) = (a[0].as_bytes()?, a[1].as_bytes()?, a[2].as_bytes()?);
            if old.is_empty() {
                return invalid("replacing the empty string in a binary value is not supported");
            }
            let hits = src.windows(old.len()).filter(|w| *w == old).count();
            b.can_produce(src.len().saturating_add(hits.saturating_mul(new.len())))?;
            let mut out = Vec::with_capacity(src.len());
            let mut i = 0;
            while i < src.len() {
                if src[i..].starts_with(old) {
                    out.extend_from_slice(new);
                    i += old.len();
                } else {
                    out.push(src[i]);
                    i += 1;
                }
            }
            b.produce(out.len())?;
            Ok(Value::from_bytes(out, || {
                "the result of replace".to_owned()
            }))
        }
        "replace" => {
            arity(a, 3)?;
            let (old, new, src) = (a[0].as_str()?, a[1].as_str()?, a[2].as_str()?);
            let hits = if old.is_empty() {
                src.chars().count() + 1
            } else {
                src.matches(old).count()
            };
            b.can_produce(src.len().saturating_add(hits.saturating_mul(new.len())))?;
            text(b, src.replace(old, new))
        }
        "split" | "splitList" => {
            arity(a, 2)?;
            let (sep, s) = (a[0].as_str()?, a[1].as_str()?);
            let pieces = if sep.is_empty() {
                s.chars().count()
            } else {
                s.matches(sep).count() + 1
            };
            if pieces > MAX_VALUE_NODES {
                return Err(FuncError::Limit(Limit::ValueNodes));
            }
            b.nodes(pieces.saturating_add(1))?;
            b.work(s.len())?;
            let parts = go_split(s, sep);
            Ok(if name == "split" {
                let map = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                    .collect();
                Value::Map(Rc::new(map))
            } else {
                Value::List(Rc::new(parts.into_iter().map(Value::str).collect()))
            })
        }
        "join" => {
            arity(a, 2)?;
            let sep = a[0].as_str()?;
            let cap = b.cap();
            let items: &[Value] = match &a[1] {
                Value::List(items) => items,
                Value::Nil => &[],
                other => std::slice::from_ref(other),
            };
            let mut out = Zeroizing::new(Vec::new());
            for (i, item) in items
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .enumerate()
            {
                if i > 0 {
                    push_capped(&mut out, sep.as_bytes(), cap)?;
                }
                item.write_text(&mut out, cap)?;
            }
            let out = String::from_utf8(std::mem::take(&mut *out))
                .map_err(|_| FuncError::NonUtf8("an element of a list or map".into()))?;
            secret_text(b, Zeroizing::new(out))
        }
        "indent" | "nindent" => {
            arity(a, 2)?;
            let n = count(&a[0])?;
            let s = a[1].as_str()?;
            let lines = s.matches('\n').count() + 1;
            b.can_produce(
                s.len()
                    .saturating_add(lines.saturating_mul(n.saturating_add(1))),
            )?;
            let pad = " ".repeat(n);
            let indented = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
            text(
                b,
                if name == "nindent" {
                    format!("\n{indented}")
                } else {
                    indented
                },
            )
        }
        "sha256sum" => {
            arity(a, 1)?;
            text(b, hex::encode(sha2::Sha256::digest(a[0].as_bytes()?)))
        }
        "toString" => {
            arity(a, 1)?;
            // sprig's strval gives a string's bytes as they are.
            if let Value::Bytes(_) = a[0] {
                return Ok(a[0].clone());
            }
            let s = a[0].to_text(b.cap())?;
            secret_text(b, s)
        }
        "trunc" => {
            arity(a, 2)?;
            let Value::Int(c) = a[0] else {
                return invalid(format!(
                    "wrong type for value; expected int; got {}",
                    a[0].kind()
                ));
            };
            // sprig cuts bytes, not characters (a cut character stays cut, as in Go).
            let s = a[1].as_bytes()?;
            let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
            let out = if c < 0 && len + c > 0 {
                &s[usize::try_from(len + c).unwrap_or(0)..]
            } else if c >= 0 && len > c {
                &s[..usize::try_from(c).unwrap_or(0)]
            } else {
                s
            };
            b.produce(out.len())?;
            Ok(Value::from_bytes(out.to_vec(), || {
                "the result of trunc".to_owned()
            }))
        }
        "repeat" => {
            arity(a, 2)?;
            let n = count(&a[0])?;
            let s = a[1].as_str()?;
            b.can_produce(s.len().saturating_mul(n))?;
            text(b, s.repeat(n))
        }
        // The executor checks and counts the size of the list or map built.
        "list" => Ok(Value::List(Rc::new(args))),
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in a.chunks(2) {
                let key = pair[0].to_text(b.cap())?;
                b.produce(key.len())?;
                map.insert(
                    key.as_str().to_owned(),
                    pair.get(1).cloned().unwrap_or_else(|| Value::str("")),
                );
            }
            Ok(Value::Map(Rc::new(map)))
        }
        "get" | "hasKey" => {
            arity(a, 2)?;
            let Value::Map(map) = &a[0] else {
                return invalid(format!("expected a map, got {}", a[0].kind()));
            };
            let key = a[1].as_str()?;
            let found = map.get(key);
            Ok(if name == "hasKey" {
                Value::Bool(found.is_some())
            } else {
                match found {
                    Some(v) if is_literal(1) => v.clone().labelled(|| format!("key {key:?}")),
                    Some(v) => v.clone(),
                    None => Value::str(""),
                }
            })
        }
        "eso:htpasswd" => {
            arity(a, 3)?;
            // Its third parameter has a named string type: Go takes a literal for it, not a value.
            if !is_literal(2) {
                return invalid("wrong type for value; expected sprig.HashAlgorithm; got string");
            }
            crate::sprig::call(name, a, b).unwrap_or_else(|| invalid("unknown function"))
        }
        _ => crate::sprig::call(name, a, b)
            .or_else(|| crate::eso::call(name, a, b))
            .or_else(|| crate::certs::call(name, a, b))
            .or_else(|| crate::pkcs12::call(name, a, b))
            .or_else(|| crate::eso_keys::call(name, a, b))
            .unwrap_or_else(|| invalid("unknown function")),
    }
}

/// A function Go writes rune by rune: a value that is not UTF-8 is read with U+FFFD for each invalid
/// byte, as Go does.
fn one_runes(b: &mut Budget, a: &[Value], f: impl Fn(&str) -> String) -> FResult {
    arity(a, 1)?;
    let out = f(&a[0].go_runes()?);
    text(b, out)
}

fn two_str(b: &mut Budget, a: &[Value], f: impl Fn(&str, &str) -> String) -> FResult {
    arity(a, 2)?;
    let out = f(a[0].as_str()?, a[1].as_str()?);
    text(b, out)
}

fn bool_bytes(a: &[Value], f: impl Fn(&[u8], &[u8]) -> bool) -> FResult {
    arity(a, 2)?;
    Ok(Value::Bool(f(a[0].as_bytes()?, a[1].as_bytes()?)))
}

/// Go's `strings.TrimSpace` on bytes: Unicode white space off both ends, other bytes kept.
fn trim_space(s: &[u8]) -> &[u8] {
    let mut start = 0;
    let mut end = 0;
    let mut i = 0;
    let mut seen = false;
    while i < s.len() {
        let (c, size) = crate::text::decode_rune(&s[i..]);
        let space = c.is_some_and(char::is_whitespace);
        if !space {
            if !seen {
                start = i;
                seen = true;
            }
            end = i + size;
        }
        i += size;
    }
    if seen { &s[start..end] } else { &s[..0] }
}

/// A non-negative count argument (Go's `strings.Repeat` panics on negative counts).
fn count(v: &Value) -> Result<usize, FuncError> {
    usize::try_from(v.as_int()?).or_else(|_| invalid("negative count"))
}

/// Wraps printed output: text when UTF-8, else binary labelled with the first binary argument's origin.
fn bytes_value(b: &mut Budget, out: Zeroizing<Vec<u8>>, args: &[Value], func: &str) -> FResult {
    b.produce(out.len())?;
    let origin = args
        .iter()
        .find_map(|v| match v {
            Value::Bytes(b) => Some(b.origin.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("the result of {func}"));
    let mut out = out;
    Ok(Value::from_bytes(std::mem::take(&mut *out), || origin))
}

/// Go's `index`: list by integer, map by string key (a missing key is an error), string by byte position.
/// `literal` tells whether `key` is a literal of the template: only then may an error quote it.
fn index(item: &Value, key: &Value, literal: bool) -> FResult {
    match item {
        Value::Map(map) => {
            let k = key.as_str()?;
            match map.get(k) {
                Some(found) if literal => Ok(found.clone().labelled(|| format!("key {k:?}"))),
                Some(found) => Ok(found.clone()),
                // Go's `index` gives the zero value for a missing key, whatever `missingkey` says.
                None => Ok(Value::Nil),
            }
        }
        Value::Nil => invalid("index of untyped nil"),
        Value::List(_) | Value::Str(_) | Value::Bytes(_) => {
            let i = key.as_int()?;
            let len = match item {
                Value::List(l) => l.len(),
                other => other.as_bytes()?.len(),
            };
            let pos = usize::try_from(i).ok().filter(|&p| p < len);
            let Some(pos) = pos else {
                return invalid(if literal {
                    format!("index {i} out of range")
                } else {
                    "index (computed from data) out of range".to_owned()
                });
            };
            Ok(match item {
                Value::List(l) => l[pos].clone(),
                other => Value::Int(i64::from(other.as_bytes()?[pos])),
            })
        }
        other => invalid(format!("cannot index into {}", other.kind())),
    }
}

/// Compares two basic values as Go's `eq`/`lt` do; numbers compare by value across int and float.
fn compare(a: &Value, b: &Value, equality: bool) -> Result<Ordering, FuncError> {
    let num = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        // Go compares an int and a float64 only when both are the same kind.
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => {
            invalid("incompatible types for comparison: int and float64")
        }
        (Value::Str(_) | Value::Bytes(_), Value::Str(_) | Value::Bytes(_)) => {
            Ok(a.as_bytes()?.cmp(b.as_bytes()?))
        }
        (Value::Bool(x), Value::Bool(y)) if equality => Ok(x.cmp(y)),
        (Value::Time(_), Value::Time(_)) | (Value::Semver(_), Value::Semver(_)) if equality => {
            Ok(match crate::objects::go_equal(a, b) {
                Some(true) => Ordering::Equal,
                _ => Ordering::Less,
            })
        }
        (Value::Nil, Value::Nil) if equality => Ok(Ordering::Equal),
        (Value::Nil, _) | (_, Value::Nil) if equality => Ok(Ordering::Less),
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            invalid(format!("cannot compare {} and {}", a.kind(), b.kind()))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| FuncError::Invalid("cannot compare NaN".into())),
            _ if !equality && matches!((a, b), (Value::Bool(_), Value::Bool(_))) => {
                invalid("invalid type for ordering: bool")
            }
            _ => invalid(format!(
                "incompatible types for comparison: {} and {}",
                a.kind(),
                b.kind()
            )),
        },
    }
}

/// Go's `strings.Split`: an empty separator splits after each character.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        s.chars().map(String::from).collect()
    } else {
        s.split(sep).map(str::to_owned).collect()
    }
}

/// Go's `strings.Title` (which sprig's `title` uses): upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut prev_sep = true;
    s.chars()
        .flat_map(|c| {
            let is_sep = if c.is_ascii() {
                !(c.is_ascii_alphanumeric() || c == '_')
            } else {
                c.is_whitespace()
            };
            let out: Vec<char> = if prev_sep && !is_sep {
                vec![crate::text::go_to_title(c)]
            } else {
                vec![c]
            };
            prev_sep = is_sep;
            out
        })
        .collect()
}

/// Go's `url.QueryEscape`.
fn query_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_function_is_implemented() {
        for name in FUNCTIONS.iter().filter(|n| !matches!(**n, "and" | "or")) {
            if let Err(FuncError::Invalid(msg)) =
                call(name, Vec::new(), &[], &mut Budget::default())
            {
                assert_ne!(
                    msg, "unknown function",
                    "{name} is listed but not implemented"
                );
            }
        }
    }

    #[test]
    fn helpers_match_go() {
        assert_eq!(title("hello wORLD-foo_bar"), "Hello WORLD-Foo_bar");
        assert_eq!(query_escape(b"a b&c=d/\xff"), "a+b%26c%3Dd%2F%FF");

        assert_eq!(go_split("abc", ""), vec!["a", "b", "c"]);
        assert_eq!(go_split("", ","), vec![""]);
    }
}
