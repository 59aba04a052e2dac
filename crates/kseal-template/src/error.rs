//! The crate's error type.
//!
//! Every message names the template (the target key) and never contains a secret value: messages are built
//! only from template text, key names, function names and type names.

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
    #[error("template {template:?}: line {line}: missing key {key:?}")]
    MissingKey {
        /// Name of the template (the target key).
        template: String,
        /// 1-based line of the reference.
        line: usize,
        /// The key that was looked up.
        key: String,
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
        /// Where the binary value came from, e.g. `key "keystore"`.
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
    /// The template exceeded a resource limit (output size, evaluation steps, value size).
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
