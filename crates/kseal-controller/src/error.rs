//! Errors of the controller library. Messages name objects and keys, never a secret value.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The client configuration (kubeconfig or in-cluster) could not be loaded.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// A key Secret does not hold a usable key.
    #[error("key Secret {name}: {message}")]
    KeySecret {
        /// The Secret's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Generating a key failed.
    #[error("cannot generate a sealing key: {0}")]
    KeyGeneration(kseal_crypto::Error),
    /// No key is loaded, so nothing can be unsealed.
    #[error("no sealing key is loaded")]
    NoKeys,
    /// The object does not have the shape of a SealedSecret.
    #[error("SealedSecret {object}: {message}")]
    Invalid {
        /// `namespace/name`.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// Unsealing failed (bad ciphertext, wrong key or scope, bad template).
    #[error(transparent)]
    Unseal(#[from] kseal_core::Error),
    /// A Secret of the same name exists and is not managed by the SealedSecret.
    #[error(
        "Secret {name} already exists and is not managed by SealedSecret {name} (annotate it with sealedsecrets.bitnami.com/managed: \"true\" to let kseal take it over)"
    )]
    SecretExists {
        /// Name of the Secret (and of the SealedSecret).
        name: String,
    },
    /// Writing the Secret failed.
    #[error("cannot write Secret {name}: {source}")]
    Update {
        /// Name of the Secret.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The HTTP API could not listen or serve.
    #[error("HTTP API: {0}")]
    Http(std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl Error {
    /// Short stable label, for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Config(_) => "config",
            Error::KeySecret { .. } => "key_secret",
            Error::KeyGeneration(_) => "key_generation",
            Error::NoKeys => "no_keys",
            Error::Invalid { .. } => "invalid_object",
            Error::Unseal(error) => error.reason(),
            Error::SecretExists { .. } => "secret_exists",
            Error::Update { .. } => "update",
            Error::Http(_) => "http",
            Error::Task(_) => "task",
        }
    }
}
