//! The path language of Go's `github.com/tidwall/gjson` v1.18, as `gjson.Get(json, path)`
//! evaluates it: what External Secrets Operator runs for a `remoteRef.property`.
//!
//! [`get`] takes the JSON text (bytes: Go strings may hold any bytes) and a path, and returns a
//! [`Value`]: whether anything was selected ([`Value::exists`]), and the text ESO stores
//! ([`Value::text`], gjson's `Result.String()`). Covered, with gjson's exact results:
//!
//! - keys separated by `.`, escapes (`fav\.movie`), `*` and `?` wildcards, array indexes;
//! - `#` (an array's length), `#.path` (the path applied to every element);
//! - queries `#(path op value)` (first match) and `#(...)#` (all matches), with `==`, `=`,
//!   `!=`, `<`, `<=`, `>`, `>=`, `%` and `!%` (wildcard patterns), `~true`/`~false`/`~null`/`~*`
//!   truthiness, nested queries and bare-existence queries;
//! - pipes `|` and the dot before a modifier or multipath;
//! - multipaths `[a,b]` and `{a,"name":b}` (members that select nothing are left out);
//! - literals `!true`, `!false`, `!null`, `!NaN`, `!inf`, `!"text"`, `!12`, `!{...}`;
//! - the modifiers `@reverse`, `@ugly`, `@pretty` (options `sortKeys`, `indent`, `prefix`,
//!   `width`), `@this`, `@valid`, `@flatten` (`deep`), `@join` (`preserve`), `@keys`, `@values`,
//!   `@tostr`, `@fromstr`, `@group` and `@dig:path`; an `@name` that is none of them is a key;
//! - `..` reads the text as JSON lines (a sequence of values);
//! - malformed JSON read leniently exactly as gjson reads it (trailing commas, unquoted
//!   garbage, unterminated values, documents followed by other text).
//!
//! Work is bounded: every path step scans the text at most once, and the whole lookup is charged
//! for every byte it scans or produces against a budget ([`Limits`]); recursion (nested
//! containers while pretty-printing, digging or flattening; nested path steps) is bounded too. A
//! lookup past either bound stops with [`Exceeded`] (Go would go on; no realistic secret gets
//! near them).
//!
//! Only what `Get` reaches with gjson's default modifier table is here (not `ForEach`, `Paths`,
//! `AddModifier` or `DisableModifiers`). ESO's own rule — try the property with every dot
//! escaped first — belongs to the caller (`kseal_core::external_secrets::remote`). The crate
//! checks itself against Go's gjson through the corpus `tests/template-corpus/property*.yaml`.
//!
//! The crate does no I/O and has no `unsafe`.

mod glob;
mod modifiers;
mod path;
mod pretty;
mod scan;
mod valid;
mod value;

pub use value::{Kind, Value};

/// Bounds on one lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes scanned or produced, summed over every step of the lookup.
    pub work: u64,
    /// Nesting of recursive steps (path steps into nested values, nested queries and pipes,
    /// containers while pretty-printing, `@dig` and deep `@flatten` levels, wildcard stars).
    pub depth: u32,
}

impl Default for Limits {
    /// 256 MiB of work, 128 levels.
    fn default() -> Self {
        Limits {
            work: 256 << 20,
            depth: 128,
        }
    }
}

/// A lookup went past its [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded;

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the gjson path needs more work or nesting than allowed")
    }
}

impl std::error::Error for Exceeded {}

/// The budget and nesting of one lookup.
pub(crate) struct Ctx {
    work_left: u64,
    depth: u32,
    max_depth: u32,
    failed: bool,
}

impl Ctx {
    pub(crate) fn with(limits: Limits) -> Ctx {
        Ctx {
            work_left: limits.work,
            depth: 0,
            max_depth: limits.depth,
            failed: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn new() -> Ctx {
        Ctx::with(Limits::default())
    }

    /// Spends `n` units of work; false (and the lookup fails) when the budget is gone.
    pub(crate) fn charge(&mut self, n: usize) -> bool {
        let n = n as u64;
        if self.failed || n > self.work_left {
            self.failed = true;
            return false;
        }
        self.work_left -= n;
        true
    }

    /// Enters one level of recursion; false (and the lookup fails) past the bound. A `true`
    /// must be paired with [`Ctx::leave`].
    pub(crate) fn enter(&mut self) -> bool {
        if self.failed || self.depth >= self.max_depth {
            self.failed = true;
            return false;
        }
        self.depth += 1;
        true
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }
}

/// gjson `Get(json, path)` with the default [`Limits`]; a lookup past them selects nothing.
pub fn get(json: &[u8], path: &str) -> Value {
    get_with(json, path, Limits::default()).unwrap_or_default()
}

/// gjson `Get(json, path)`, or [`Exceeded`] when the lookup goes past `limits`.
pub fn get_with(json: &[u8], path: &str, limits: Limits) -> Result<Value, Exceeded> {
    let mut ctx = Ctx::with(limits);
    let v = path::get(&mut ctx, json, path.as_bytes());
    if ctx.failed() { Err(Exceeded) } else { Ok(v) }
}

/// A JSON string for `s`, as gjson's `AppendJSONString` and Go's `encoding/json` write one: control
/// characters, `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn json_string(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    scan::push_json_string(&mut out, s.as_bytes());
    // Only ASCII escapes are added to valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// gjson `Valid`: whether `json` is one strict JSON value (surrounding whitespace allowed).
pub fn valid(json: &[u8]) -> bool {
    valid::valid(json)
}

#[cfg(test)]
mod tests;
