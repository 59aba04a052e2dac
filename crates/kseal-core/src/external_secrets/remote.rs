//! What an ESO `remoteRef` or `dataFrom` entry selects from one remote secret, following External
//! Secrets Operator's AWS Secrets Manager provider and its `pkg/utils` helpers:
//!
//! - [`value`] — `spec.data[].remoteRef`: the whole secret, or one gjson-style `property` of a JSON
//!   secret, then `decodingStrategy`.
//! - [`extract`] — `spec.dataFrom[].extract`: the members of a JSON object become keys.
//! - [`find_key`], [`convert_key`], [`convert_keys`] — `conversionStrategy` and the key a
//!   `dataFrom[].find` result gets.
//! - [`valid_secret_key`] — whether a key can go into a Kubernetes Secret.
//!
//! Values are returned in [`Zeroizing`] buffers. Errors name the remote key and the property, which
//! are manifest text, never a value nor a member name (data): members are told by position.
//!
//! Semantics that are easy to get wrong, each matching ESO:
//! - With a `property`, the secret's bytes are read as JSON and the property is a gjson path,
//!   evaluated by `kseal_gjson` (tidwall/gjson v1.18's `Get`, which ESO uses): queries, `#`
//!   projections, pipes, multipaths, literals, every modifier of gjson's default table, and
//!   escapes; malformed JSON is read leniently, as gjson does. A property with dots is first tried
//!   with every dot escaped (one literal key) and used so if that exists, else as written — ESO's
//!   AWS provider does exactly this. A lookup past `kseal_gjson::Limits` is an error.
//! - A selected string gives its content; `true`/`false` their text; `null` nothing (empty);
//!   objects and arrays their JSON text exactly as written in the secret; integers as written and
//!   other numbers in Go's shortest decimal form (`1.50` → `1.5`, `1e3` → `1000`), like gjson's
//!   `Result.String()`.
//! - [`extract`] follows Go's `encoding/json` instead: every non-string member keeps its JSON text
//!   as written (`1.50` stays `1.50`), `null` becomes empty, and a repeated key keeps its last value.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
pub use kseal_api::external_secrets::DecodingStrategy;
use zeroize::Zeroizing;

/// A remote secret's payload as the provider returned it, borrowed from the caller (who owns and
/// zeroizes it). AWS Secrets Manager sets exactly one of `SecretString` and `SecretBinary`.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    /// `SecretString`.
    String(&'a str),
    /// `SecretBinary`; with a `property` it is read as JSON text, like ESO does.
    Binary(&'a [u8]),
}

impl Payload<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::String(s) => s.as_bytes(),
            Payload::Binary(b) => b,
        }
    }
}

/// Shows the kind and length only, never the payload.
impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::String(s) => write!(f, "Payload::String(<{} bytes>)", s.len()),
            Payload::Binary(b) => write!(f, "Payload::Binary(<{} bytes>)", b.len()),
        }
    }
}

/// The name of a `decodingStrategy` (ESO's [`DecodingStrategy`]: how a selected value is decoded
/// before it is stored), as messages show it. `Base64` and `Base64URL` are Go's padded
/// `base64.StdEncoding` and `base64.URLEncoding`, ignoring `\r` and `\n`; `Auto` tries standard, then
/// URL-safe base64, else keeps the value (a plain value that happens to be valid base64, `password`,
/// is decoded too, as in ESO).
fn decoding_label(strategy: DecodingStrategy) -> &'static str {
    match strategy {
        DecodingStrategy::None => "None",
        DecodingStrategy::Base64 => "Base64",
        DecodingStrategy::Base64Url => "Base64URL",
        DecodingStrategy::Auto => "Auto",
    }
}

/// ESO `conversionStrategy`: how `dataFrom` keys are made valid Secret keys.
///
/// ESO converts only when the `dataFrom` entry has no `rewrite`; pass [`KeyConversion::Keep`]
/// when it has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyConversion {
    /// Every character other than a letter, a digit, `-`, `.` and `_` becomes `_` (`a/b` → `a_b`).
    #[default]
    Default,
    /// Every such character becomes `_U<hex>_`, at least four lowercase hex digits
    /// (`a/b` → `a_U002f_b`), which PushSecret's `ReverseUnicode` can undo.
    Unicode,
    /// Keys are left as they are: what ESO does when the `dataFrom` entry has a `rewrite`.
    Keep,
}

impl KeyConversion {
    fn label(self) -> &'static str {
        match self {
            KeyConversion::Default => "Default",
            KeyConversion::Unicode => "Unicode",
            KeyConversion::Keep => "none (rewrite)",
        }
    }
}

/// Why a value could not be selected. Messages name the remote key and the property (both written
/// in the manifest), never a value, a member name or any other text of the secret: a JSON syntax
/// error gives its line and column, a member its position in the object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The secret had to be JSON (for a property, or for `extract`) and is not.
    #[error(
        "remote secret {key:?} is not valid JSON{} (line {line}, column {column})",
        needed_for(.property.as_deref())
    )]
    NotJson {
        /// The remote key.
        key: String,
        /// The property that needed JSON, if any.
        property: Option<String>,
        /// 1-based line of the first syntax error.
        line: usize,
        /// 1-based column of the first syntax error.
        column: usize,
    },
    /// The property does not exist in the secret.
    #[error("property {property:?} does not exist in remote secret {key:?}")]
    MissingProperty {
        /// The remote key.
        key: String,
        /// The property.
        property: String,
    },
    /// `extract` found something other than a JSON object.
    #[error("cannot extract remote secret {key:?}{}: expected a JSON object, found {found}", of_property(.property.as_deref()))]
    NotAnObject {
        /// The remote key.
        key: String,
        /// The property that selected the value, if any.
        property: Option<String>,
        /// What was found, e.g. `an array`.
        found: &'static str,
    },
    /// The property needs more work or nesting than a lookup may take (see
    /// `kseal_gjson::Limits`); ESO would go on evaluating it.
    #[error(
        "property {property:?} of remote secret {key:?} needs more work or nesting than kseal allows a lookup"
    )]
    TooComplex {
        /// The remote key.
        key: String,
        /// The property.
        property: String,
    },
    /// The value is not valid for the decoding strategy.
    #[error(
        "remote secret {key:?}{}{}: value is not valid for decodingStrategy {strategy}",
        of_property(.property.as_deref()),
        of_member(*.member)
    )]
    Decode {
        /// The remote key (or what the caller named instead).
        key: String,
        /// The property that selected the value, if any.
        property: Option<String>,
        /// For `extract`: which member of the JSON object, as (1-based position as written, number
        /// of members). Member names are data, never shown.
        member: Option<(usize, usize)>,
        /// The decoding strategy.
        strategy: &'static str,
    },
    /// Two keys became the same key after key conversion.
    #[error(
        "{context}: {collided} become the same key after key conversion (conversionStrategy {strategy})"
    )]
    KeyCollision {
        /// What the keys came from: `remote secret "<key>"`, or what the caller named.
        context: String,
        /// Which keys collided, by position or count (keys are data, never shown).
        collided: Collided,
        /// The conversion strategy.
        strategy: &'static str,
    },
}

/// Which keys became one after key conversion, told without the keys (they are data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collided {
    /// Two members of an extracted JSON object: their 1-based positions as written.
    Members(usize, usize),
    /// Keys of a map (e.g. secrets found by `find`): how many collide with another, of how many.
    Count {
        /// Keys that share their converted key with another key.
        colliding: usize,
        /// All keys.
        total: usize,
    },
}

impl fmt::Display for Collided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Collided::Members(a, b) => write!(f, "members {a} and {b} of the JSON object"),
            Collided::Count { colliding, total } => write!(f, "{colliding} of {total} keys"),
        }
    }
}

impl Error {
    /// Short stable label, e.g. for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotJson { .. } => "not_json",
            Error::MissingProperty { .. } => "missing_property",
            Error::TooComplex { .. } => "property_too_complex",
            Error::NotAnObject { .. } => "not_an_object",
            Error::Decode { .. } => "decode",
            Error::KeyCollision { .. } => "key_collision",
        }
    }
}

fn needed_for(property: Option<&str>) -> String {
    property.map_or_else(String::new, |p| format!(", needed for property {p:?}"))
}

fn of_property(property: Option<&str>) -> String {
    property.map_or_else(String::new, |p| format!(" property {p:?}"))
}

fn of_member(member: Option<(usize, usize)>) -> String {
    member.map_or_else(String::new, |(position, of)| {
        format!(", member {position} (of {of}) of the JSON object")
    })
}

/// The value `spec.data[].remoteRef` selects: without a `property` the secret's bytes, with one the
/// JSON value at that gjson path (see the module docs for how each JSON type renders), then decoded.
/// An empty property counts as none, as in ESO.
pub fn value(
    secret: Payload<'_>,
    key_for_errors: &str,
    property: Option<&str>,
    decoding: DecodingStrategy,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let property = property.filter(|p| !p.is_empty());
    let selected = select(secret, key_for_errors, property)?;
    decode_bytes(&selected, decoding).ok_or_else(|| Error::Decode {
        key: key_for_errors.to_owned(),
        property: property.map(str::to_owned),
        member: None,
        strategy: decoding_label(decoding),
    })
}

/// The keys `spec.dataFrom[].extract` produces: the (optionally property-selected) value must be a
/// JSON object, or a string holding one; each member becomes a key whose value is the member's
/// string content or, for other types, its JSON text as written (`null` → empty). A top-level
/// `null` gives no keys, as in ESO. Keys are then converted with `conversion` and values decoded.
///
/// Member names are data: errors point at a member by its position in the object, never by name.
pub fn extract(
    secret: Payload<'_>,
    key_for_errors: &str,
    property: Option<&str>,
    conversion: KeyConversion,
    decoding: DecodingStrategy,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, Error> {
    let property = property.filter(|p| !p.is_empty());
    let selected = select(secret, key_for_errors, property)?;
    if let Err((line, column)) = json::check(&selected) {
        return Err(match property {
            None => Error::NotJson {
                key: key_for_errors.to_owned(),
                property: None,
                line,
                column,
            },
            Some(p) => Error::NotAnObject {
                key: key_for_errors.to_owned(),
                property: Some(p.to_owned()),
                found: "text that is not JSON",
            },
        });
    }
    let not_an_object = |found| Error::NotAnObject {
        key: key_for_errors.to_owned(),
        property: property.map(str::to_owned),
        found,
    };
    let doc = json::trim(&selected);
    // Member name → (1-based position as written, raw value).
    let mut members = BTreeMap::new();
    let mut count = 0;
    match doc.first() {
        Some(b'{') => {
            let raw = json::members(doc).ok_or_else(|| not_an_object("malformed JSON"))?;
            count = raw.len();
            for (position, (raw_key, raw_value)) in raw.into_iter().enumerate() {
                // Later duplicates win, like Go's json.Unmarshal into a map.
                members.insert(
                    json::key_string(raw_key),
                    (position + 1, json::member_bytes(raw_value)),
                );
            }
        }
        Some(b'n') => {}
        other => return Err(not_an_object(json::kind(other.copied()))),
    }
    let context = || format!("remote secret {key_for_errors:?}{}", of_property(property));
    let members = convert_with(members, conversion, |first, second| Error::KeyCollision {
        context: context(),
        collided: Collided::Members(first.0.min(second.0), first.0.max(second.0)),
        strategy: conversion.label(),
    })?;
    members
        .into_iter()
        .map(
            |(member, (position, raw))| match decode_bytes(&raw, decoding) {
                Some(decoded) => Ok((member, decoded)),
                None => Err(Error::Decode {
                    key: key_for_errors.to_owned(),
                    property: property.map(str::to_owned),
                    member: Some((position, count)),
                    strategy: decoding_label(decoding),
                }),
            },
        )
        .collect()
}

/// Decodes one value with `decoding` (ESO `utils.Decode`), e.g. for each secret a `dataFrom.find`
/// returned. The error names `key_for_errors`, never the value — so for a `find` result pass the
/// manifest path (`dataFrom[0].find`), not the found secret's name, which is data.
pub fn decode(
    value: &[u8],
    decoding: DecodingStrategy,
    key_for_errors: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    decode_bytes(value, decoding).ok_or_else(|| Error::Decode {
        key: key_for_errors.to_owned(),
        property: None,
        member: None,
        strategy: decoding_label(decoding),
    })
}

/// The Secret data key for a secret `dataFrom.find` returned (when the entry has no `rewrite`):
/// its name with every character other than a letter, a digit, `-`, `.` and `_` replaced by `_`
/// (`team/db-password` → `team_db-password`). ESO's `ConvertKeys` with the `Default` strategy.
pub fn find_key(secret_name: &str) -> String {
    convert_key(secret_name, KeyConversion::Default)
}

/// One key converted with `conversion` (ESO `utils.ConvertKeys`, one key). Letters and digits are
/// Unicode letters and digits, as in ESO; [`valid_secret_key`] then rejects non-ASCII ones.
pub fn convert_key(key: &str, conversion: KeyConversion) -> String {
    if conversion == KeyConversion::Keep {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '.' | '_') {
            out.push(c);
        } else if conversion == KeyConversion::Unicode {
            out.push_str(&format!("_U{:04x}_", u32::from(c)));
        } else {
            out.push('_');
        }
    }
    out
}

/// Every key of `map` converted with `conversion`, as in ESO. Keys becoming one are an error that
/// names `context_for_errors` (e.g. `dataFrom[0].find`) and counts the colliding keys; the keys
/// themselves (names of found secrets, JSON members) are data and never shown.
pub fn convert_keys<V>(
    map: BTreeMap<String, V>,
    conversion: KeyConversion,
    context_for_errors: &str,
) -> Result<BTreeMap<String, V>, Error> {
    if conversion == KeyConversion::Keep {
        return Ok(map);
    }
    let total = map.len();
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for original in map.keys() {
        *uses.entry(convert_key(original, conversion)).or_default() += 1;
    }
    let colliding: usize = uses.values().filter(|&&n| n > 1).sum();
    if colliding > 0 {
        return Err(Error::KeyCollision {
            context: context_for_errors.to_owned(),
            collided: Collided::Count { colliding, total },
            strategy: conversion.label(),
        });
    }
    Ok(map
        .into_iter()
        .map(|(original, v)| (convert_key(&original, conversion), v))
        .collect())
}

/// `map` with its keys converted; `collision(first, second)` builds the error when two keys become
/// one (it sees the values, never the keys).
fn convert_with<V>(
    map: BTreeMap<String, V>,
    conversion: KeyConversion,
    collision: impl Fn(&V, &V) -> Error,
) -> Result<BTreeMap<String, V>, Error> {
    if conversion == KeyConversion::Keep {
        return Ok(map);
    }
    let mut out: BTreeMap<String, V> = BTreeMap::new();
    for (original, v) in map {
        match out.entry(convert_key(&original, conversion)) {
            std::collections::btree_map::Entry::Occupied(first) => {
                return Err(collision(first.get(), &v));
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(v);
            }
        }
    }
    Ok(out)
}

/// Whether `key` is a valid Kubernetes Secret data key: `[-._a-zA-Z0-9]+`, at most 253 bytes, and
/// not `.`, `..` or anything starting with `..` (apimachinery `IsConfigMapKey`).
pub fn valid_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && key != "."
        && !key.starts_with("..")
}

/// The undecoded value a `remoteRef` selects (ESO `GetSecret`).
fn select(
    secret: Payload<'_>,
    key: &str,
    property: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let payload = secret.bytes();
    let Some(property) = property.filter(|p| !p.is_empty()) else {
        return Ok(Zeroizing::new(payload.to_vec()));
    };
    // ESO's AWS provider: gjson on the payload's bytes, the property with every dot escaped first
    // (one literal key) when that exists, else as written. gjson reads malformed JSON leniently.
    let lookup = |path: &str| {
        kseal_gjson::get_with(payload, path, kseal_gjson::Limits::default()).map_err(|_| {
            Error::TooComplex {
                key: key.to_owned(),
                property: property.to_owned(),
            }
        })
    };
    let mut found = None;
    if property.contains('.') {
        let hit = lookup(&property.replace('.', "\\."))?;
        if hit.exists() {
            found = Some(hit);
        }
    }
    let found = match found {
        Some(hit) => hit,
        None => lookup(property)?,
    };
    if found.exists() {
        return Ok(Zeroizing::new(found.text()));
    }
    // Nothing found: say so, or that the secret is not JSON at all (with where it stops being JSON).
    json::check(payload).map_err(|(line, column)| Error::NotJson {
        key: key.to_owned(),
        property: Some(property.to_owned()),
        line,
        column,
    })?;
    Err(Error::MissingProperty {
        key: key.to_owned(),
        property: property.to_owned(),
    })
}

/// Go `base64.StdEncoding` / `URLEncoding` decoding: padding required, non-zero trailing bits
/// accepted (Go's non-strict mode).
const GO_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
const GO_STD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, GO_CONFIG);
const GO_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, GO_CONFIG);

fn decode_bytes(value: &[u8], decoding: DecodingStrategy) -> Option<Zeroizing<Vec<u8>>> {
    match decoding {
        DecodingStrategy::None => Some(Zeroizing::new(value.to_vec())),
        DecodingStrategy::Base64 => base64_go(&GO_STD, value),
        DecodingStrategy::Base64Url => base64_go(&GO_URL, value),
        DecodingStrategy::Auto => base64_go(&GO_STD, value)
            .or_else(|| base64_go(&GO_URL, value))
            .or_else(|| Some(Zeroizing::new(value.to_vec()))),
    }
}

fn base64_go(engine: &GeneralPurpose, value: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    // Go's decoder skips line breaks anywhere in the input.
    let mut cleaned = Zeroizing::new(Vec::with_capacity(value.len()));
    cleaned.extend(
        value
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b'\n')),
    );
    let mut out = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(
        cleaned.len(),
    )));
    engine.decode_vec(cleaned.as_slice(), &mut out).ok()?;
    Some(out)
}

/// A minimal scanner over JSON text that keeps each value's bytes exactly as written (which
/// gjson and Go's `json.RawMessage` hand back). Documents are validated with serde_json first;
/// the scanner still never panics on malformed input, it returns `None`.
mod json {
    use zeroize::Zeroizing;

    /// Checks that `bytes` is one JSON document; on failure the 1-based line and column (never
    /// serde_json's message, which could quote the input).
    pub(super) fn check(bytes: &[u8]) -> Result<(), (usize, usize)> {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map(drop)
            .map_err(|e| (e.line(), e.column()))
    }

    fn is_ws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r')
    }

    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while b.get(i).copied().is_some_and(is_ws) {
            i += 1;
        }
        i
    }

    /// The document's top-level value without surrounding whitespace.
    pub(super) fn trim(doc: &[u8]) -> &[u8] {
        let start = skip_ws(doc, 0);
        match value_end(doc, start) {
            Some(end) => &doc[start..end],
            None => &doc[start..],
        }
    }

    /// End (exclusive) of the string whose opening quote is at `i`.
    fn string_end(b: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
        None
    }

    /// End (exclusive) of the value starting at `i`.
    fn value_end(b: &[u8], i: usize) -> Option<usize> {
        match *b.get(i)? {
            b'"' => string_end(b, i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            j = string_end(b, j)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                None
            }
            _ => {
                let mut j = i;
                while j < b.len() && !is_ws(b[j]) && !matches!(b[j], b',' | b'}' | b']') {
                    j += 1;
                }
                Some(j)
            }
        }
    }

    /// The members of the object `obj` (which starts with `{`): raw key between the quotes, and
    /// the value's bytes.
    pub(super) fn members(obj: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
        let mut out = Vec::new();
        let mut j = skip_ws(obj, 1);
        if obj.get(j) == Some(&b'}') {
            return Some(out);
        }
        loop {
            if obj.get(j) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(obj, j)?;
            let key = &obj[j + 1..key_end - 1];
            j = skip_ws(obj, key_end);
            if obj.get(j) != Some(&b':') {
                return None;
            }
            let start = skip_ws(obj, j + 1);
            let end = value_end(obj, start)?;
            out.push((key, &obj[start..end]));
            j = skip_ws(obj, end);
            match obj.get(j)? {
                b',' => j = skip_ws(obj, j + 1),
                b'}' => return Some(out),
                _ => return None,
            }
        }
    }

    /// What kind of JSON value starts with `first`, for error messages.
    pub(super) fn kind(first: Option<u8>) -> &'static str {
        match first {
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'-' | b'0'..=b'9') => "a number",
            _ => "nothing",
        }
    }

    /// An object key as text (invalid UTF-8 replaced, as Go's encoding/json does).
    pub(super) fn key_string(raw: &[u8]) -> String {
        String::from_utf8_lossy(&unescape(raw)).into_owned()
    }

    /// A member value the way ESO's `GetSecretMap` stores it (Go `json.RawMessage`, then
    /// unmarshalled into a string when it is one): string → content, null → empty, anything
    /// else → its JSON text as written.
    pub(super) fn member_bytes(raw: &[u8]) -> Zeroizing<Vec<u8>> {
        match raw.first() {
            Some(b'"') => {
                let content = unescape(string_content(raw));
                if std::str::from_utf8(&content).is_ok() {
                    content
                } else {
                    Zeroizing::new(String::from_utf8_lossy(&content).into_owned().into_bytes())
                }
            }
            Some(b'n') => Zeroizing::new(Vec::new()),
            _ => Zeroizing::new(raw.to_vec()),
        }
    }

    /// The bytes between a string's quotes.
    fn string_content(raw: &[u8]) -> &[u8] {
        raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default()
    }

    /// Decodes the escapes of a JSON string's content. Lone surrogates become U+FFFD, as in Go.
    /// The output is never longer than the input, so the buffer never reallocates (and leaves no
    /// unzeroized copy behind).
    pub(super) fn unescape(s: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
        let mut i = 0;
        while i < s.len() {
            if s[i] != b'\\' {
                out.push(s[i]);
                i += 1;
                continue;
            }
            let Some(&escape) = s.get(i + 1) else { break };
            i += 2;
            let byte = match escape {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let (c, used) = unicode_escape(&s[i..]);
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += used;
                    continue;
                }
                other => other,
            };
            out.push(byte);
        }
        out
    }

    fn hex4(s: &[u8]) -> Option<u32> {
        let digits = s.get(..4)?;
        let text = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(text, 16).ok()
    }

    /// The character of a `\u` escape whose hex digits start `s`, and how many bytes it used.
    fn unicode_escape(s: &[u8]) -> (char, usize) {
        let Some(high) = hex4(s) else {
            return ('\u{fffd}', 0);
        };
        if (0xd800..0xdc00).contains(&high) {
            if s.get(4..6) == Some(b"\\u")
                && let Some(low) = hex4(&s[6..])
                && (0xdc00..0xe000).contains(&low)
            {
                let c = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                return (char::from_u32(c).unwrap_or('\u{fffd}'), 10);
            }
            return ('\u{fffd}', 4);
        }
        (char::from_u32(high).unwrap_or('\u{fffd}'), 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = r#"{
        "username": "admin",
        "password": "s3cr3t-VALUE",
        "port": 5432,
        "ratio": 1.50,
        "big": 12345678901234567890123,
        "exp": 1e3,
        "enabled": true,
        "off": false,
        "nothing": null,
        "nested": {"host": "db.internal", "ids": [7, {"name": "x"}]},
        "list": ["a", "b", "c"],
        "with.dot": "literal",
        "with": {"dot": "path"},
        "a.b": {"c": "literal-then-path"},
        "esc\"aped": "quote key",
        "unicode": "caf\u00e9 \ud83d\ude00",
        "pretty": { "k" : [1, 2] }
    }"#;

    fn s(secret: &str) -> Payload<'_> {
        Payload::String(secret)
    }

    fn get(property: &str) -> String {
        let v = value(s(DB), "prod/db", Some(property), DecodingStrategy::None).unwrap();
        String::from_utf8(v.to_vec()).unwrap()
    }

    fn err(property: &str) -> Error {
        value(s(DB), "prod/db", Some(property), DecodingStrategy::None).unwrap_err()
    }

    #[test]
    fn no_property_gives_the_whole_secret() {
        let v = value(s("plain text"), "k", None, DecodingStrategy::None).unwrap();
        assert_eq!(&v[..], b"plain text");
        let v = value(s("plain text"), "k", Some(""), DecodingStrategy::None).unwrap();
        assert_eq!(&v[..], b"plain text");
        let bin = [0u8, 159, 146, 150, 255];
        let v = value(Payload::Binary(&bin), "k", None, DecodingStrategy::None).unwrap();
        assert_eq!(&v[..], &bin);
    }

    #[test]
    fn property_renders_each_json_type_like_gjson() {
        assert_eq!(get("username"), "admin");
        assert_eq!(get("port"), "5432");
        assert_eq!(get("ratio"), "1.5");
        assert_eq!(get("big"), "12345678901234567890123");
        assert_eq!(get("exp"), "1000");
        assert_eq!(get("enabled"), "true");
        assert_eq!(get("off"), "false");
        assert_eq!(get("nothing"), "");
        assert_eq!(get("list"), r#"["a", "b", "c"]"#);
        assert_eq!(get("pretty"), r#"{ "k" : [1, 2] }"#);
        assert_eq!(get("esc\"aped"), "quote key");
        assert_eq!(get("unicode"), "café 😀");
    }

    #[test]
    fn numbers_follow_go_formatting() {
        let doc = r#"{"a": -0, "b": 0.1, "c": 1e21, "d": 1e-7, "e": 1e400, "f": -2.50e1}"#;
        let v = |p| {
            value(s(doc), "k", Some(p), DecodingStrategy::None)
                .unwrap()
                .to_vec()
        };
        assert_eq!(v("a"), b"-0");
        assert_eq!(v("b"), b"0.1");
        assert_eq!(v("c"), b"1000000000000000000000");
        assert_eq!(v("d"), b"0.0000001");
        assert_eq!(v("e"), b"+Inf");
        assert_eq!(v("f"), b"-25");
    }

    #[test]
    fn nested_paths_and_arrays() {
        assert_eq!(get("nested.host"), "db.internal");
        assert_eq!(get("nested.ids.0"), "7");
        assert_eq!(get("nested.ids.1.name"), "x");
        assert_eq!(get("nested.ids.1"), r#"{"name": "x"}"#);
        assert_eq!(get("list.2"), "c");
        assert_eq!(get("list.#"), "3");
        assert_eq!(get("nested.ids.#"), "2");
    }

    #[test]
    fn literal_dotted_key_wins_over_path() {
        assert_eq!(get("with.dot"), "literal");
        assert_eq!(get("with\\.dot"), "literal");
        // An escaped dot in the property still works: key "a.b", then member "c".
        assert_eq!(get("a\\.b.c"), "literal-then-path");
        let only_path = r#"{"with": {"dot": "path"}}"#;
        let v = value(s(only_path), "k", Some("with.dot"), DecodingStrategy::None).unwrap();
        assert_eq!(&v[..], b"path");
    }

    #[test]
    fn wildcards_and_duplicates_take_the_first_match() {
        assert_eq!(get("user*"), "admin");
        assert_eq!(get("p?rt"), "5432");
        assert_eq!(get("nest*.h??t"), "db.internal");
        let dup = r#"{"a": "first", "a": "second", "x*": "star"}"#;
        let v = |p| {
            value(s(dup), "k", Some(p), DecodingStrategy::None)
                .unwrap()
                .to_vec()
        };
        assert_eq!(v("a"), b"first");
        assert_eq!(v("x\\*"), b"star");
    }

    #[test]
    fn binary_secrets_are_read_as_json_with_a_property() {
        let v = value(
            Payload::Binary(br#"{"token": "abc"}"#),
            "k",
            Some("token"),
            DecodingStrategy::None,
        )
        .unwrap();
        assert_eq!(&v[..], b"abc");
    }

    #[test]
    fn missing_property_names_key_and_property_only() {
        for property in [
            "absent",
            "nested.absent",
            "list.9",
            "list.x",
            "username.deeper",
            "list.-1",
        ] {
            let e = err(property);
            assert_eq!(e.reason(), "missing_property", "{property}");
            let msg = e.to_string();
            assert!(msg.contains("prod/db") && msg.contains(property), "{msg}");
            assert!(!msg.contains("s3cr3t") && !msg.contains("admin"), "{msg}");
        }
    }

    #[test]
    fn gjson_queries_projections_pipes_and_modifiers() {
        assert_eq!(get("list.#"), "3");
        assert_eq!(get(r#"list.#(=="b")"#), "b");
        assert_eq!(get("nested|host"), "db.internal");
        assert_eq!(get("list|@reverse"), r#"["c","b","a"]"#);
        assert_eq!(get("[username,port]"), r#"["admin",5432]"#);
        assert_eq!(get("nested.ids.#.name"), r#"["x"]"#);
        // Unknown `@` names are ordinary keys, as in gjson.
        let v = value(
            s(r#"{"@type": "t"}"#),
            "k",
            Some("@type"),
            DecodingStrategy::None,
        )
        .unwrap();
        assert_eq!(&v[..], b"t");
    }

    #[test]
    fn gjson_v1_18_modifiers_and_literals() {
        let doc = r#"{"db": {"user": "app", "pass": "s3cr3t"}, "cfg": "{\"token\":\"t0k\"}", "@type": "t"}"#;
        let v = |p| {
            value(s(doc), "k", Some(p), DecodingStrategy::None)
                .unwrap()
                .to_vec()
        };
        assert_eq!(v("db|@keys"), br#"["user","pass"]"#);
        assert_eq!(v("db|@values|1"), b"s3cr3t");
        assert_eq!(v("cfg|@fromstr|token"), b"t0k");
        assert_eq!(v("db|user|@tostr"), br#""app""#);
        // ESO's dot rule: `db\.user|@tostr` already "exists" (the modifier runs on nothing and
        // gives `""`), so ESO stores the empty string, and so does kseal.
        assert_eq!(v("db.user|@tostr"), b"");
        assert_eq!(
            v(r#"{"u":db|user,"kind":!"static"}"#),
            br#"{"u":"app","kind":"static"}"#
        );
        // An `@name` that is no modifier is a key, without escaping.
        assert_eq!(v("@type"), b"t");
    }

    #[test]
    fn binary_secrets_keep_bytes_that_are_not_utf8() {
        // Go reads the payload as a byte string: a value's bytes come out as they are.
        let v = value(
            Payload::Binary(b"{\"a\": \"x\xffy\", \"\xfe\": 1}"),
            "k",
            Some("a"),
            DecodingStrategy::None,
        )
        .unwrap();
        assert_eq!(&v[..], b"x\xffy");
    }

    #[test]
    fn a_lookup_past_the_limits_is_an_error_without_the_value() {
        let deep = format!("{}\"s3cr3t\"{}", "[".repeat(500), "]".repeat(500));
        let e = value(s(&deep), "prod/db", Some("@pretty"), DecodingStrategy::None).unwrap_err();
        assert_eq!(e.reason(), "property_too_complex");
        let msg = e.to_string();
        assert!(msg.contains("prod/db") && msg.contains("@pretty"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    #[test]
    fn property_on_non_json_secret_is_an_error_without_the_value() {
        let e = value(
            s("s3cr3t-VALUE"),
            "prod/db",
            Some("x"),
            DecodingStrategy::None,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "not_json");
        let msg = e.to_string();
        assert!(msg.contains("prod/db") && msg.contains("\"x\""), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        // Like gjson, a value is found in JSON followed by other text.
        let v = value(
            s(r#"{"a": "s3cr3t"} trailing"#),
            "k",
            Some("a"),
            DecodingStrategy::None,
        )
        .unwrap();
        assert_eq!(&v[..], b"s3cr3t");
    }

    #[test]
    fn decoding_strategies() {
        let dec = |v: &str, d| decode(v.as_bytes(), d, "k").map(|b| b.to_vec());
        assert_eq!(
            dec("aGk/Pz8=", DecodingStrategy::None).unwrap(),
            b"aGk/Pz8="
        );
        assert_eq!(dec("aGk/Pz8=", DecodingStrategy::Base64).unwrap(), b"hi???");
        assert_eq!(
            dec("aGk_Pz8=", DecodingStrategy::Base64Url).unwrap(),
            b"hi???"
        );
        assert_eq!(
            dec("aGk/\r\nPz8=\n", DecodingStrategy::Base64).unwrap(),
            b"hi???"
        );
        // Go's non-strict decoding ignores non-zero trailing bits.
        assert_eq!(dec("YR==", DecodingStrategy::Base64).unwrap(), b"a");
        // Padding is required, as in Go's StdEncoding.
        assert!(dec("YQ", DecodingStrategy::Base64).is_err());
        assert!(dec("aGk_Pz8=", DecodingStrategy::Base64).is_err());
        assert!(dec("aGk/Pz8=", DecodingStrategy::Base64Url).is_err());
        // Auto: standard, then URL-safe, else as is.
        assert_eq!(dec("aGk/Pz8=", DecodingStrategy::Auto).unwrap(), b"hi???");
        assert_eq!(dec("aGk_Pz8=", DecodingStrategy::Auto).unwrap(), b"hi???");
        assert_eq!(
            dec("not base64!", DecodingStrategy::Auto).unwrap(),
            b"not base64!"
        );
        assert_eq!(dec("YQ", DecodingStrategy::Auto).unwrap(), b"YQ");
        // A plain value that happens to be base64 is decoded, as in ESO.
        assert_eq!(
            dec("abcd", DecodingStrategy::Auto).unwrap(),
            [0x69, 0xb7, 0x1d]
        );
    }

    #[test]
    fn decode_error_never_shows_the_value() {
        let e = value(s("s3cr3t!!"), "prod/db", None, DecodingStrategy::Base64).unwrap_err();
        assert_eq!(e.reason(), "decode");
        let msg = e.to_string();
        assert!(msg.contains("prod/db") && msg.contains("Base64"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        let doc = r#"{"token": "s3cr3t!!"}"#;
        let e = value(s(doc), "prod/db", Some("token"), DecodingStrategy::Base64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "remote secret \"prod/db\" property \"token\": value is not valid for \
             decodingStrategy Base64"
        );
        let v = value(
            s(r#"{"t": "aGk="}"#),
            "k",
            Some("t"),
            DecodingStrategy::Base64,
        )
        .unwrap();
        assert_eq!(&v[..], b"hi");
    }

    fn extract_str(
        doc: &str,
        property: Option<&str>,
        conversion: KeyConversion,
    ) -> BTreeMap<String, String> {
        extract(
            s(doc),
            "prod/db",
            property,
            conversion,
            DecodingStrategy::None,
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap()))
        .collect()
    }

    #[test]
    fn extract_members_like_go_encoding_json() {
        let doc = r#"{"user": "admin", "port": 5432, "ratio": 1.50, "on": true, "none": null,
            "obj": {"a" : [1, 2]}, "arr": [1,"x"], "dup": 1, "dup": "last", "e\u0301": "accent"}"#;
        let got = extract_str(doc, None, KeyConversion::Keep);
        let want: BTreeMap<String, String> = [
            ("user", "admin"),
            ("port", "5432"),
            ("ratio", "1.50"),
            ("on", "true"),
            ("none", ""),
            ("obj", r#"{"a" : [1, 2]}"#),
            ("arr", r#"[1,"x"]"#),
            ("dup", "last"),
            ("e\u{301}", "accent"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
        assert!(extract_str("null", None, KeyConversion::Default).is_empty());
        assert!(extract_str(" {} ", None, KeyConversion::Default).is_empty());
    }

    #[test]
    fn extract_with_property_and_from_a_string_holding_json() {
        let got = extract_str(DB, Some("nested"), KeyConversion::Default);
        assert_eq!(got["host"], "db.internal");
        assert_eq!(got["ids"], r#"[7, {"name": "x"}]"#);
        let doc = r#"{"cfg": "{\"a\": \"1\", \"b\": 2}"}"#;
        let got = extract_str(doc, Some("cfg"), KeyConversion::Default);
        assert_eq!(got["a"], "1");
        assert_eq!(got["b"], "2");
        let got = extract_str(DB, Some("nested.ids.1"), KeyConversion::Default);
        assert_eq!(got["name"], "x");
    }

    #[test]
    fn extract_converts_keys() {
        let doc = r#"{"a/b": "1", "c d": "2", "ok-._9": "3", "é": "4"}"#;
        let got = extract_str(doc, None, KeyConversion::Default);
        let keys: Vec<_> = got.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a_b", "c_d", "ok-._9", "é"]);
        let got = extract_str(doc, None, KeyConversion::Unicode);
        assert!(got.contains_key("a_U002f_b") && got.contains_key("c_U0020_d"));
        let e = extract(
            s(r#"{"a/b": "s3cr3t", "a_b": "s3cr3t"}"#),
            "prod/db",
            None,
            KeyConversion::Default,
            DecodingStrategy::None,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "key_collision");
        // Member names are data: the members are told by position.
        assert_eq!(
            e.to_string(),
            "remote secret \"prod/db\": members 1 and 2 of the JSON object become the same key \
             after key conversion (conversionStrategy Default)"
        );
        let e = extract(
            s(r#"{"x": 1, "p": {"k y": 1, "z": 2, "k+y": 3}}"#),
            "prod/db",
            Some("p"),
            KeyConversion::Default,
            DecodingStrategy::None,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "remote secret \"prod/db\" property \"p\": members 1 and 3 of the JSON object"
            ),
            "{e}"
        );
    }

    #[test]
    fn extract_decodes_each_member() {
        let doc = r#"{"a": "aGk=", "b": "s3cr3t!!"}"#;
        let e = extract(
            s(doc),
            "prod/db",
            None,
            KeyConversion::Default,
            DecodingStrategy::Base64,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "decode");
        assert_eq!(
            e.to_string(),
            "remote secret \"prod/db\", member 2 (of 2) of the JSON object: value is not valid \
             for decodingStrategy Base64"
        );
        let got = extract(
            s(r#"{"a": "aGk="}"#),
            "k",
            None,
            KeyConversion::Default,
            DecodingStrategy::Base64,
        )
        .unwrap();
        assert_eq!(&got["a"][..], b"hi");
        let got = extract(
            s(doc),
            "k",
            None,
            KeyConversion::Default,
            DecodingStrategy::Auto,
        )
        .unwrap();
        assert_eq!(&got["b"][..], b"s3cr3t!!");
    }

    #[test]
    fn extract_rejects_non_objects_without_the_value() {
        let cases = [
            (r#"["s3cr3t"]"#, None, "not_an_object"),
            (r#""s3cr3t""#, None, "not_an_object"),
            ("42", None, "not_an_object"),
            ("s3cr3t", None, "not_json"),
            (r#"{"p": "s3cr3t"}"#, Some("p"), "not_an_object"),
            (r#"{"p": ["s3cr3t"]}"#, Some("p"), "not_an_object"),
            (r#"{"p": null}"#, Some("p"), "not_an_object"),
            (r#"{"p": {}}"#, Some("q"), "missing_property"),
        ];
        for (doc, property, reason) in cases {
            let e = extract(
                s(doc),
                "prod/db",
                property,
                KeyConversion::Default,
                DecodingStrategy::None,
            )
            .unwrap_err();
            assert_eq!(e.reason(), reason, "{doc}");
            let msg = e.to_string();
            assert!(msg.contains("prod/db") && !msg.contains("s3cr3t"), "{msg}");
        }
    }

    #[test]
    fn find_key_and_conversion_follow_eso() {
        assert_eq!(find_key("team/db-password"), "team_db-password");
        assert_eq!(find_key("a b+c=d@e:f"), "a_b_c_d_e_f");
        assert_eq!(find_key("ok.name_1"), "ok.name_1");
        assert_eq!(convert_key("a/b", KeyConversion::Unicode), "a_U002f_b");
        assert_eq!(convert_key("x😀", KeyConversion::Unicode), "x_U1f600_");
        assert_eq!(convert_key("é1", KeyConversion::Unicode), "é1");
        assert_eq!(convert_key("x✓", KeyConversion::Unicode), "x_U2713_");
        assert_eq!(convert_key("a/b", KeyConversion::Keep), "a/b");
        let map: BTreeMap<String, u8> = [("a/b".to_owned(), 1), ("a_b".to_owned(), 2)].into();
        assert!(convert_keys(map.clone(), KeyConversion::Keep, "find").is_ok());
        let e = convert_keys(map, KeyConversion::Default, "dataFrom[0].find").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dataFrom[0].find: 2 of 2 keys become the same key after key conversion \
             (conversionStrategy Default)"
        );
        let map: BTreeMap<String, u8> = [("a b".to_owned(), 1), ("a-b".to_owned(), 2)].into();
        let converted = convert_keys(map, KeyConversion::Default, "find").unwrap();
        assert_eq!(converted.into_keys().collect::<Vec<_>>(), ["a-b", "a_b"]);
    }

    #[test]
    fn secret_key_validity() {
        for ok in ["a", "A-z_0.9", ".a", "a..b", "a.", &"k".repeat(253)] {
            assert!(valid_secret_key(ok), "{ok}");
        }
        for bad in ["", ".", "..", "..a", "a/b", "a b", "é", &"k".repeat(254)] {
            assert!(!valid_secret_key(bad), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_payload() {
        let dbg = format!("{:?}", Payload::String("s3cr3t"));
        assert!(!dbg.contains("s3cr3t") && dbg.contains("6 bytes"), "{dbg}");
    }

    #[test]
    fn malformed_json_fragments_do_not_panic() {
        for doc in ["{", "[", "{\"a\"", "{\"a\":", "\"", "[1,", "{\"a\":1,}"] {
            let _ = value(s(doc), "k", Some("a.0"), DecodingStrategy::None);
            assert!(json::members(doc.as_bytes()).is_none(), "{doc}");
        }
    }
}
