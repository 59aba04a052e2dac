//! Errors of the desired-state builders. Messages name the object and key, never a value.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while reading, sealing or unsealing an object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is neither YAML nor JSON.
    #[error("input is not valid YAML or JSON: {0}")]
    Syntax(String),
    /// A document has the wrong kind.
    #[error("{document}: expected kind {expected}, found {found}")]
    WrongKind {
        /// Which document (1-based position, or its name).
        document: String,
        /// The kind that was expected.
        expected: &'static str,
        /// The kind that was found.
        found: String,
    },
    /// A document does not have the shape of its kind.
    #[error("{document}: {message}")]
    Invalid {
        /// Which document.
        document: String,
        /// What is wrong, without values.
        message: String,
    },
    /// The Secret has no name.
    #[error("missing metadata.name in input Secret")]
    MissingName,
    /// The Secret has no namespace and is not cluster-wide.
    #[error("Secret {name} must declare a namespace (or be sealed with --scope cluster-wide)")]
    MissingNamespace {
        /// The Secret's name.
        name: String,
    },
    /// The Secret has no values.
    #[error(
        "Secret {object}: data and stringData are empty; assuming this is an error and aborting (use --allow-empty-data to seal it anyway)"
    )]
    EmptyData {
        /// `namespace/name` of the Secret.
        object: String,
    },
    /// A `data` value is not base64.
    #[error("Secret {object}: data.{key} is not valid base64")]
    InvalidBase64 {
        /// `namespace/name` of the Secret.
        object: String,
        /// The key.
        key: String,
    },
    /// Sealing or opening one value failed.
    #[error("{object}: key {key}: {source}")]
    Crypto {
        /// `namespace/name` of the object.
        object: String,
        /// The key inside the object.
        key: String,
        /// The cause.
        source: kseal_crypto::Error,
    },
    /// Several keys of one object failed; each is listed.
    #[error("{object}: {}", .failures.iter().map(|(k, e)| format!("key {k}: {e}")).collect::<Vec<_>>().join("; "))]
    Keys {
        /// `namespace/name` of the object.
        object: String,
        /// Each failing key with its cause.
        failures: Vec<(String, kseal_crypto::Error)>,
    },
    /// A template of `spec.template.data` failed.
    #[error("{object}: template: {source}")]
    Template {
        /// `namespace/name` of the object.
        object: String,
        /// The cause.
        source: kseal_template::Error,
    },
}

impl Error {
    /// Short stable label, e.g. for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Syntax(_) | Error::WrongKind { .. } | Error::Invalid { .. } => {
                "invalid_manifest"
            }
            Error::MissingName | Error::MissingNamespace { .. } => "invalid_metadata",
            Error::EmptyData { .. } => "empty_data",
            Error::InvalidBase64 { .. } => "invalid_base64",
            Error::Crypto { source, .. } => source.reason(),
            Error::Keys { failures, .. } => failures.first().map_or("crypto", |(_, e)| e.reason()),
            Error::Template { .. } => "template",
        }
    }
}
