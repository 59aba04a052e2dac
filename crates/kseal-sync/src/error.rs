//! Errors of the sync. Messages name the object, store and remote key; never a secret value.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an ExternalSecret or store could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not fit ESO's schema, or asks for something impossible.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// The store is missing, invalid, or may not be used from this namespace.
    #[error("{message}")]
    Store {
        /// What is wrong with the store.
        message: String,
    },
    /// The provider failed (network, credentials, throttling).
    #[error("{}{source}", if key.is_empty() { String::new() } else { format!("remote key {key:?}: ") })]
    Provider {
        /// The remote key (empty when the failure is not about one key).
        key: String,
        /// The provider's error.
        source: crate::aws::Error,
    },
    /// The remote secret does not exist.
    #[error("remote key {key:?} does not exist")]
    RemoteMissing {
        /// The remote key.
        key: String,
    },
    /// A property, decoding or rewrite failed.
    #[error(transparent)]
    Remote(#[from] kseal_core::external::remote::Error),
    /// A rewrite failed.
    #[error(transparent)]
    Rewrite(#[from] kseal_core::external::rewrite::Error),
    /// The template or the resulting keys are invalid.
    #[error(transparent)]
    Desired(#[from] kseal_core::external::desired::Error),
    /// The target Secret is controlled by another ExternalSecret.
    #[error("Secret {secret} is owned by ExternalSecret {owner}; it is not taken over")]
    Conflict {
        /// The target Secret.
        secret: String,
        /// The other ExternalSecret.
        owner: String,
    },
    /// creationPolicy Merge needs an existing Secret.
    #[error(
        "Secret {secret} does not exist (creationPolicy Merge only merges into an existing Secret)"
    )]
    TargetMissing {
        /// The target Secret.
        secret: String,
    },
    /// The immutable target Secret holds other data.
    #[error(
        "Secret {secret} is immutable and holds other data; delete it to let it be written again"
    )]
    Immutable {
        /// The target Secret.
        secret: String,
    },
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// Short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid",
            Error::Store { .. } => "store",
            Error::Provider { source, .. } => source.reason(),
            Error::RemoteMissing { .. } => "not_found",
            Error::Remote(_) | Error::Rewrite(_) => "remote_value",
            Error::Desired(error) => error.reason(),
            Error::Conflict { .. } => "conflict",
            Error::TargetMissing { .. } => "target_missing",
            Error::Immutable { .. } => "immutable",
            Error::Kube(_) => "api",
        }
    }
}
