//! The crate's error type.
//!
//! Every message names the template (the target key) and never contains a secret value: messages are built
//! only from template text (literal key names, field names, literal format verbs), function names, type
//! names, counts and positions. A key or index computed from data is never quoted, and neither is any part
//! of a function's input. `Debug` shows the same fields, so it does not leak either.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why rendering a template failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template text is not valid template syntax (or uses an unknown function).
    #[error("template {template:?}: line {line}: {message}")]
    Parse {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the template where the problem was found.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The template references a key that the data does not have.
    #[error("template {template:?}: line {line}: missing key {}", describe_key(.key.as_deref()))]
    MissingKey {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the reference.
        line: usize,
        /// The key that was looked up, when it is written in the template (`.name`, `$m.name`,
        /// `index . "name"`); `None` when it was computed from data (`index . .password`), whose text
        /// is never reported.
        key: Option<String>,
    },
    /// A binary (non-UTF-8) value was used where text is needed.
    #[error(
        "template {template:?}: line {line}: {origin} is a binary value, not text; \
         it can only be output as is or passed to b64enc, sha256sum, quote or len"
    )]
    NonUtf8 {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the use.
        line: usize,
        /// How the template reached the binary value: `key "keystore"` for a key written in the template,
        /// `the result of b64dec`, or `a computed value`.
        origin: String,
    },
    /// A function call failed (bad input, wrong argument type or count).
    #[error("template {template:?}: line {line}: function {function}: {message}")]
    Function {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the call.
        line: usize,
        /// Name of the failing function.
        function: String,
        /// What went wrong; never contains the input.
        message: String,
    },
    /// Evaluation failed outside a function (wrong type for a field access, undefined variable, ...).
    #[error("template {template:?}: line {line}: {message}")]
    Exec {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the failing action.
        line: usize,
        /// What went wrong.
        message: String,
    },
    /// The template exceeded a resource limit: one of the object's limits (output, steps, work, number
    /// of templates), the size of a template or the size of a value.
    #[error("template {template:?}: line {line}: {message}")]
    Limit {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line where the limit was hit.
        line: usize,
        /// Which limit was exceeded.
        message: String,
    },
}

impl Error {
    /// A short stable label of the error kind, for metrics and status reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "parse",
            Error::MissingKey { .. } => "missing_key",
            Error::NonUtf8 { .. } => "non_utf8",
            Error::Function { .. } => "function",
            Error::Exec { .. } => "exec",
            Error::Limit { .. } => "limit",
        }
    }

    /// Name of the template (the target key) that failed.
    pub fn template(&self) -> &str {
        match self {
            Error::Parse { template, .. }
            | Error::MissingKey { template, .. }
            | Error::NonUtf8 { template, .. }
            | Error::Function { template, .. }
            | Error::Exec { template, .. }
            | Error::Limit { template, .. } => template,
        }
    }
}

/// How a missing key is named: quoted when it is template text, described otherwise.
fn describe_key(key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{key:?}"),
        None => "(computed from data)".to_owned(),
    }
}
