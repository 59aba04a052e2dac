//! Go `text/template` rendering for secret templates: SealedSecret `spec.template.data` and ExternalSecret
//! `spec.target.template` (data, labels, annotations, `templateFrom`), giving the bytes the Go engines
//! give. [`Flavour`] picks the engine a template comes from:
//!
//! - [`Flavour::SealedSecrets`]: Go's default missing-key behaviour (`{{ .absent }}` prints `<no value>`)
//!   and sprig v3.3.0's functions without `env`, `expandenv` and `getHostByName`;
//! - [`Flavour::Eso`] (`engineVersion: v2`): a missing key is an error (Go's `missingkey=error`), but
//!   `index . "absent"` gives the empty string as in Go; sprig's functions plus ESO's `toYaml`,
//!   `fromYaml`, `hexdec`, `filterPEM`, `filterCertChain` and `certSANs`.
//!
//! Each template value is rendered with the secret's values as the data dot: `{{ .database_url }}`,
//! `{{ index . "my-key" }}`, pipelines (`{{ .x | b64enc | quote }}`), `if`/`else if`/`else`, `with`/`else
//! with`, `range` (over lists, maps and ints, with `break`/`continue`), variables, parentheses, comments,
//! trim markers, `define`/`template`/`block`, Go's builtins (`and`, `or`, `not`, `len`, `index`, `print`,
//! `printf`, `println`, `html`, `js`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`; `slice` is sprig's,
//! `call` is not offered) and the sprig functions listed in [`FUNCTIONS`] and [`MORE_FUNCTIONS`].
//!
//! Go's semantics are followed where users see them: `printf` has every verb and flag of Go's `fmt`
//! (`%!d(string=…)`, `%[2]s`, `%*d`, `%U`, `%g` precision, ...), numbers from `fromJson`/`fromYaml` are
//! float64 and print as Go prints them, `toJson` is Go's `encoding/json` (HTML escaping; `toRawJson`
//! without), `trunc` and `substr` cut bytes, case mapping is Go's one-character mapping, a nil action
//! value prints `<no value>`, and `set`/`unset`/`merge` change the map held by the variable they are
//! given (Go's maps are references). The differential suite (`crates/kseal-core/tests/template_differential.rs`,
//! cases in `tests/template-corpus/`) checks all of this against the Go engines themselves.
//!
//! # Design
//!
//! This is a small parser and evaluator of its own rather than a wrapper around `gtmpl`: `gtmpl`'s error
//! messages print whole values (the secret data map) and its values are Rust `String`s, so binary secrets
//! cannot pass through. Here:
//!
//! - Values are strings. A value that is not valid UTF-8 is kept as bytes: output as is (`{{ .keystore }}`
//!   copies it exactly, as Go does) or given to `b64enc`, `sha256sum`, `quote` (Go `\x` escapes), `len`,
//!   `eq`/`ne` and the value-passing helpers (`default`, `coalesce`, `ternary`, `list`, `dict`). The
//!   functions Go runs rune by rune (`upper`, `lower`, `title`, `swapcase`, `toJson`, ...) read each
//!   invalid byte as U+FFFD, as Go does; `squote`, `toString`, `trim`, `replace`, `contains`,
//!   `hasPrefix` and `hasSuffix` keep the bytes, as Go does. The other text functions (`indent`,
//!   `splitList`, ...) fail on it with an error naming the key written in the template that reached it
//!   (Go would keep the bytes; not there yet). The output is therefore bytes, UTF-8 unless binary data was output.
//! - Error messages name the template (the target key), the line, the missing key or failing function, and
//!   never contain a secret value nor text derived from one: they quote only text written in the template
//!   (`fail .password` says only that `fail` was called). Functions that parse their input (`b64dec`,
//!   `fromJson`, `fromYaml`) report only what is wrong (no position, no snippet). What `printf` writes for
//!   a verb that does not fit its argument (`%!d(string=…)`) is output, as in Go, not an error.
//! - Deliberate differences from sprig: `b64dec`, `b32dec`, `fromJson` and `fromYaml` fail on bad input
//!   instead of returning an error text, nil or an `Error` key; and, **kseal-only**, `get`, `hasKey` and
//!   `keys` accept the data map (`get . "k"`), which both Go engines reject (their data is a
//!   `map[string]string`): templates meant to run on the Go engines too should use `index . "k"`.
//! - Limits keep hostile templates bounded, per object rather than per template: all the templates of
//!   one object (a SealedSecret's `template.data`; an ExternalSecret's `target.template.data`, templated
//!   labels and annotations and `templateFrom` entries) are rendered by one [`Renderer`] and share one
//!   budget, so an object with many templates gets no more than an object with one. The Go engines have
//!   no such limits: they render what passes them, or run out of memory.
//!   - [`MAX_OBJECT_OUTPUT_BYTES`] (1 MiB, what a Kubernetes Secret can hold): the output of all the
//!     templates together;
//!   - [`MAX_OBJECT_STEPS`] (1,000,000): evaluation steps (commands, operands, loop iterations) of all
//!     the templates together;
//!   - [`MAX_OBJECT_WORK_BYTES`] (8 MiB): bytes that functions read and produce, all templates together,
//!     counting intermediate values that are dropped again (`{{ $x := repeat ... }}`,
//!     `{{ len (repeat ...) }}`) and 32 bytes per list item or map entry built or walked. The count is
//!     cumulative, so it bounds both the total work and the memory live at any moment: rendering a
//!     hostile object holds about the work budget plus the output at most (the tests measure 1 to 5 MiB
//!     of peak heap for 200 hostile templates);
//!   - [`MAX_TEMPLATES`] (1024) templates per object, [`MAX_TEMPLATE_BYTES`] (1 MiB) of text per
//!     template, [`MAX_VALUE_BYTES`] (1 MiB) per value, 100,000 items and 128 levels of nesting per list
//!     or map, 100 levels of nested actions and of `{{template}}` calls, 1000 variables in scope.
//!
//!   Sizes are checked before a large value is built where they can be computed (`repeat`, `replace`,
//!   `indent`, `b64enc`, `split`, ...), printing stops at the limit (a list holding one large string
//!   many times cannot expand past it), and `fromJson`/`fromYaml` count as they parse. Not counted:
//!   parsing the template text (bounded by the template limits) and the cost of one step itself, which
//!   is bounded by the template's size (a field name compared, a variable looked up).
//!   [`render`], [`render_map`] and [`validate`] use a fresh budget of their own.
//! - Secret text and bytes live in zeroizing buffers while rendering; the returned output is the caller's
//!   to protect.
//!
//! sprig's date functions follow Go's `time` package (reference layouts, `ParseDuration`, IANA zones,
//! `Time.String`; local time is Go's: `TZ`, else `/etc/localtime`, else UTC) and `semver`/`semverCompare`
//! follow Masterminds/semver v3.4.0; the times and versions they return offer their Go methods to
//! templates (`.Year`, `.Format "2006"`, `.Major`, `.LessThan $v`).
//!
//! Not there yet: ESO's PKCS#12, JWK and RSA functions and sprig's certificate-generating
//! functions. The environment, file and network functions of sprig are never offered.

mod asn1;
mod budget;
mod bytewise;
mod certs;
mod convert;
mod date;
mod error;
mod eso;
mod eso_keys;
mod exec;
mod funcs;
mod keys;
mod lex;
mod merge;
mod objects;
mod parse;
mod pkcs12;
mod printf;
mod semver;
mod sprig;
mod text;
mod value;
mod xstrings;

use std::collections::BTreeMap;
use std::rc::Rc;

use zeroize::Zeroize as _;

pub use error::{Error, Result};
pub use merge::{MergeError, Merged};

use budget::Budget;
use value::{COMPUTED, Value};

/// Most bytes the templates of one object may output together (a Kubernetes Secret holds at most 1 MiB).
pub const MAX_OBJECT_OUTPUT_BYTES: usize = 1024 * 1024;

/// Most evaluation steps (commands, operands and loop iterations) the templates of one object may take
/// together.
pub const MAX_OBJECT_STEPS: usize = 1_000_000;

/// Most bytes that functions may read and produce for the templates of one object together, intermediate
/// values included (32 bytes are counted per list item or map entry built or walked).
pub const MAX_OBJECT_WORK_BYTES: usize = 8 * 1024 * 1024;

/// Most templates one object may have.
pub const MAX_TEMPLATES: usize = 1024;

/// Largest text of one template, in bytes: a Secret value cannot be larger, and a literal annotation may
/// fill all of the 256 KiB Kubernetes allows.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// Largest text of all templates of one object together, in bytes.
pub const MAX_OBJECT_TEMPLATE_BYTES: usize = 4 * 1024 * 1024;

/// Largest single value (a string a function produces), in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Names of the functions templates may call: Go's builtins, the core sprig set and ESO's `toYaml`,
/// `fromYaml` ([`MORE_FUNCTIONS`] has the rest of sprig's).
pub const FUNCTIONS: &[&str] = funcs::FUNCTIONS;

/// The other functions templates may call: the rest of sprig v3.3.0, Go's `html` and `js`, ESO's `hexdec`.
pub const MORE_FUNCTIONS: &[&str] = sprig::FUNCTIONS;

/// Which Go engine a template comes from: the two differ in what a missing key gives and in the
/// functions they offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavour {
    /// External Secrets Operator, `engineVersion: v2`: a missing key is an error (Go's
    /// `missingkey=error`), except through `index`, which gives the empty string as in Go; sprig's
    /// functions plus ESO's own (`toYaml`, `fromYaml`, ...).
    #[default]
    Eso,
    /// sealed-secrets' `spec.template.data`: a missing key prints `<no value>` (Go's default); sprig's
    /// functions, without ESO's (`toYaml`, `fromYaml`, ...).
    SealedSecrets,
    /// ESO's `dataFrom[].rewrite[].transform`: ESO's functions like [`Flavour::Eso`], but Go's default
    /// missing-key behaviour (the template runs without `missingkey=error`).
    EsoTransform,
}

impl Flavour {
    /// Whether a missing map key is Go's `<no value>` rather than an error.
    pub(crate) fn missing_key_is_nil(self) -> bool {
        matches!(self, Flavour::SealedSecrets | Flavour::EsoTransform)
    }
}

/// Renders the templates of one object against its values, under one budget for the whole object.
///
/// The data dot is built once; every [`Renderer::render`] call counts against the same limits
/// ([`MAX_OBJECT_OUTPUT_BYTES`], [`MAX_OBJECT_STEPS`], [`MAX_OBJECT_WORK_BYTES`], [`MAX_TEMPLATES`]), so
/// use one renderer per object and a new one for the next object. Not `Send`: render where it was made.
pub struct Renderer {
    flavour: Flavour,
    dot: Value,
    budget: Budget,
    templates: usize,
    template_bytes: usize,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("Renderer")
            .field("templates", &self.templates)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer for one ExternalSecret ([`Flavour::Eso`]) whose values are `values` (plain or
    /// zeroizing buffers).
    pub fn new<V: AsRef<[u8]>>(values: &BTreeMap<String, V>) -> Self {
        Self::with_flavour(values, Flavour::Eso)
    }

    /// A renderer for one object of the given flavour whose values are `values`.
    pub fn with_flavour<V: AsRef<[u8]>>(values: &BTreeMap<String, V>, flavour: Flavour) -> Self {
        Renderer {
            flavour,
            dot: data_dot(values),
            budget: Budget::default(),
            templates: 0,
            template_bytes: 0,
        }
    }

    /// Renders one template of the object; `name` names it (the target key) in error messages.
    pub fn render(&mut self, name: &str, template: &str) -> Result<Vec<u8>, Error> {
        self.templates += 1;
        if self.templates > MAX_TEMPLATES {
            return Err(limit_error(
                name,
                format!("the object has more than {MAX_TEMPLATES} templates"),
            ));
        }
        self.template_bytes = self.template_bytes.saturating_add(template.len());
        if self.template_bytes > MAX_OBJECT_TEMPLATE_BYTES {
            return Err(limit_error(
                name,
                format!(
                    "the object's templates are longer than {MAX_OBJECT_TEMPLATE_BYTES} bytes in all"
                ),
            ));
        }
        let parsed = parse_checked(name, template)?;
        let mut out = exec::execute(name, &parsed, &self.dot, self.flavour, &mut self.budget)?;
        Ok(std::mem::take(&mut *out))
    }

    /// Renders every entry of a `template.data` map; the whole call fails if any entry fails (never a
    /// partial result).
    pub fn render_map(
        &mut self,
        templates: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        if let Some((name, _)) = templates
            .iter()
            .nth(MAX_TEMPLATES.saturating_sub(self.templates))
        {
            return Err(limit_error(
                name,
                format!("the object has more than {MAX_TEMPLATES} templates"),
            ));
        }
        let mut rendered = BTreeMap::new();
        for (name, template) in templates {
            match self.render(name, template) {
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
}

/// Renders one template string against the secret values, with a budget of its own.
/// `name` names the template (the target key) for error messages.
pub fn render(
    name: &str,
    template: &str,
    values: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<u8>, Error> {
    Renderer::new(values).render(name, template)
}

/// Renders every entry of a `template.data` map under one budget; the whole call fails if any entry fails
/// (never a partial result).
pub fn render_map(
    templates: &BTreeMap<String, String>,
    values: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    Renderer::new(values).render_map(templates)
}

/// Checks that a template parses (and uses only known functions) and is within [`MAX_TEMPLATE_BYTES`],
/// without rendering it.
pub fn validate(name: &str, template: &str) -> Result<(), Error> {
    parse_checked(name, template).map(drop)
}

fn parse_checked(name: &str, template: &str) -> Result<parse::Parsed, Error> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(limit_error(
            name,
            format!("the template is longer than {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    parse::parse_all(template).map_err(|e| parse_error(name, e))
}

fn limit_error(name: &str, message: String) -> Error {
    Error::Limit {
        template: name.to_owned(),
        line: 1,
        message,
    }
}

fn parse_error(name: &str, (line, message): parse::ParseError) -> Error {
    Error::Parse {
        template: name.to_owned(),
        line,
        message,
    }
}

/// The data dot: a map of the secret values, text where UTF-8 and binary otherwise. A binary value is
/// named `a computed value` until a key written in the template reaches it.
fn data_dot<V: AsRef<[u8]>>(values: &BTreeMap<String, V>) -> Value {
    let map = values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::from_bytes(v.as_ref().to_vec(), || COMPUTED.to_owned()),
            )
        })
        .collect();
    Value::Map(Rc::new(map))
}

#[cfg(test)]
mod tests;
