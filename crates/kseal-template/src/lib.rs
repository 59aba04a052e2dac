//! Go `text/template` rendering for secret templates: SealedSecret `spec.template.data` and ExternalSecret
//! `spec.target.template.data`.
//!
//! Each template value is rendered with the secret's values as the data dot: `{{ .database_url }}`,
//! `{{ index . "my-key" }}`, pipelines (`{{ .x | b64enc | quote }}`), `if`/`else if`/`else`, `with`, `range`
//! (over lists, maps and ints, with `break`/`continue`), variables (`$x := ...`, `$x = ...`, `$`),
//! parentheses, comments and trim markers (`{{-` / `-}}`), plus the helper functions listed in
//! [`FUNCTIONS`].
//!
//! # Design
//!
//! This is a small parser and evaluator of its own rather than a wrapper around `gtmpl` 0.7. `gtmpl` renders a
//! missing map key as `<no value>` deep inside its executor (field lookups and `index`) with no hook to turn
//! that into an error, its error messages print whole values (the secret data map) with `Display`, and its
//! values are Rust `String`s, so binary secrets cannot pass through. Here:
//!
//! - A missing key (`{{ .nope }}`, `{{ index . "nope" }}`, `$m.nope`) is an error naming the key, as with Go's
//!   `missingkey=error` (which ESO uses). Use `get . "k"` (empty when absent) or `hasKey . "k"` to probe.
//! - Values are strings. A value that is not valid UTF-8 is kept as bytes: output as is (`{{ .keystore }}`
//!   copies it exactly, as Go does) or given to `b64enc`, `sha256sum`, `quote` (Go `\x` escapes), `len`,
//!   `eq`/`ne` and the value-passing helpers (`default`, `coalesce`, `ternary`, `list`, `dict`, `get`). Any
//!   text operation on it (`upper`, `toJson`, `printf "%d"`, ...) fails with an error naming the key, so
//!   binary data is never silently corrupted. The output is therefore bytes, UTF-8 unless binary data was
//!   output.
//! - Error messages name the template (the target key), the line, the missing key or failing function, and
//!   never contain a secret value: functions that parse their input (`b64dec`, `fromJson`, `fromYaml`)
//!   report only what is wrong, and `printf` refuses mismatched verbs instead of echoing the value like Go's
//!   `%!d(string=...)`.
//! - Unlike sprig, `b64dec`, `fromJson` and `fromYaml` fail on bad input instead of returning an error text
//!   or an empty value; `ternary` needs a bool condition; `trunc` counts characters, not bytes.
//! - Limits keep hostile templates bounded: output of [`MAX_OUTPUT_BYTES`] per template (the size of a whole
//!   Kubernetes Secret), [`MAX_STEPS`] evaluation steps, bounded nesting and value sizes.
//! - Secret text and bytes live in zeroizing buffers while rendering; the returned output is the caller's
//!   to protect.
//!
//! Not supported: `define`/`template`/`block` (each value is one template), Go's `html`, `js`, `slice`,
//! `call`, method calls, `%g` with a precision, `printf` argument indexes, and the environment, file and
//! network functions of sprig (never offered).

mod error;
mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod value;

use std::collections::BTreeMap;
use std::rc::Rc;

use zeroize::Zeroize as _;

pub use error::{Error, Result};

use value::Value;

/// Largest output of one template, in bytes (a Kubernetes Secret holds at most 1 MiB in total).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Most evaluation steps (commands and loop iterations) one template may take.
pub const MAX_STEPS: usize = 1_000_000;

/// Names of the functions templates may call.
pub const FUNCTIONS: &[&str] = funcs::FUNCTIONS;

/// Renders one template string against the secret values.
/// `name` names the template (the target key) for error messages.
pub fn render(
    name: &str,
    template: &str,
    values: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<u8>, Error> {
    render_with(name, template, &data_dot(values))
}

/// Renders every entry of a `template.data` map; the whole call fails if any entry fails (never a partial result).
pub fn render_map(
    templates: &BTreeMap<String, String>,
    values: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let dot = data_dot(values);
    let mut rendered = BTreeMap::new();
    for (name, template) in templates {
        match render_with(name, template, &dot) {
            Ok(out) => {
                rendered.insert(name.clone(), out);
            }
            Err(e) => {
                rendered
                    .values_mut()
                    .for_each(|out: &mut Vec<u8>| out.zeroize());
                return Err(e);
            }
        }
    }
    Ok(rendered)
}

/// Checks that a template parses (and uses only known functions) without rendering it.
pub fn validate(name: &str, template: &str) -> Result<(), Error> {
    parse::parse(template)
        .map(drop)
        .map_err(|e| parse_error(name, e))
}

fn render_with(name: &str, template: &str, dot: &Value) -> Result<Vec<u8>, Error> {
    let nodes = parse::parse(template).map_err(|e| parse_error(name, e))?;
    let mut out = exec::execute(name, &nodes, dot)?;
    Ok(std::mem::take(&mut *out))
}

fn parse_error(name: &str, (line, message): parse::ParseError) -> Error {
    Error::Parse {
        template: name.to_owned(),
        line,
        message,
    }
}

/// The data dot: a map of the secret values, text where UTF-8 and binary otherwise.
fn data_dot(values: &BTreeMap<String, Vec<u8>>) -> Value {
    let map = values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::from_bytes(v.clone(), || format!("key {k:?}")),
            )
        })
        .collect();
    Value::Map(Rc::new(map))
}

#[cfg(test)]
mod tests;
