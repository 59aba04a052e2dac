//! Errors of the controller binary: its configuration, its HTTP API, and the reconcilers it runs.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client configuration (kubeconfig or in-cluster) could not be loaded.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// The HTTP API could not listen or serve.
    #[error("HTTP API: {0}")]
    Http(std::io::Error),
    /// A task the controller needs ended.
    #[error("{0} stopped")]
    Stopped(&'static str),
    /// The SealedSecret side (keys, unsealer) failed for good.
    #[error(transparent)]
    Sealed(#[from] kseal_sealedsecrets::Error),
}

/// Not `#[from]` on the variant: the API error stays out of the `source()` chain (its message can quote
/// values), as in `kseal_sealedsecrets::Error`.
impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Sealed(kseal_sealedsecrets::Error::Kube(error))
    }
}
