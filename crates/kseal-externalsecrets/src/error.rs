//! Errors of the sync. Messages name the object, store and remote key; never a secret value, and
//! never the Kubernetes API server's own message (see [`kube_message`]).

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
    /// The object sets a field kseal does not implement (its message names the field path).
    #[error("{message}")]
    Unsupported {
        /// Which fields, and that nothing is synced.
        message: String,
    },
    /// The store is missing, invalid, or may not be used from this namespace.
    #[error("{message}")]
    Store {
        /// What is wrong with the store.
        message: String,
    },
    /// The provider failed (network, credentials, throttling).
    #[error("{store}: {}{source}", if key.is_empty() { String::new() } else { format!("remote key {key:?}: ") })]
    Provider {
        /// The store, as [`crate::stores::display`] names it.
        store: String,
        /// The remote key (empty when the failure is not about one key).
        key: String,
        /// The provider's error.
        source: crate::provider::aws::Error,
    },
    /// The remote secret does not exist.
    #[error("remote key {key:?} does not exist")]
    RemoteMissing {
        /// The remote key.
        key: String,
    },
    /// A property, decoding or rewrite failed.
    #[error(transparent)]
    Remote(#[from] kseal_core::external_secrets::remote::Error),
    /// A rewrite failed.
    #[error(transparent)]
    Rewrite(#[from] kseal_core::external_secrets::rewrite::Error),
    /// The template or the resulting keys are invalid.
    #[error(transparent)]
    Desired(#[from] kseal_core::external_secrets::desired::Error),
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
    /// The target Secret is a sealing key or a SealedSecret's: the sync never writes or deletes it.
    #[error(
        "Secret {secret} is protected: {why}; the sync never writes or deletes it (choose another spec.target.name)"
    )]
    Protected {
        /// The target Secret, `namespace/name`.
        secret: String,
        /// Why it is protected.
        why: String,
    },
    /// The Kubernetes API refused or failed a request. The message has the HTTP code, the status
    /// reason and the field paths of the causes, never the API server's own message (it may quote a
    /// value, e.g. an invalid templated label).
    #[error("{}", kube_message(what, error))]
    Kube {
        /// What was requested, e.g. `Secret ns/name`.
        what: String,
        /// The client's error: not the `source()` of this one, so no error chain prints its message.
        error: kube::Error,
    },
}

/// Maps a Kubernetes API failure about `what` (e.g. `Secret ns/name`) to an [`Error::Kube`].
pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |error| Error::Kube { what, error }
}

/// Describes a failed request about `what` without the API server's message (see
/// [`kseal_api::api_error::describe`], shared with the unsealer).
pub fn kube_message(what: &str, error: &kube::Error) -> String {
    kseal_api::api_error::describe(what, error)
}

impl Error {
    /// Short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid",
            Error::Unsupported { .. } => "unsupported",
            Error::Store { .. } => "store",
            Error::Provider { source, .. } => source.reason(),
            Error::RemoteMissing { .. } => "not_found",
            Error::Remote(_) | Error::Rewrite(_) => "remote_value",
            Error::Desired(error) => error.reason(),
            Error::Conflict { .. } => "conflict",
            Error::TargetMissing { .. } => "target_missing",
            Error::Immutable { .. } => "immutable",
            Error::Protected { .. } => "protected",
            Error::Kube { .. } => "api",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_request_names_its_object_but_not_the_servers_message() {
        let canary = "CANARY-value quoted by the API server";
        let error = kube::Error::Api(Box::new(
            serde_json::from_value(serde_json::json!({
                "code": 422, "reason": "Invalid", "message": canary,
                "details": {"causes": [{"field": "metadata.labels", "message": canary}]},
            }))
            .unwrap(),
        ));
        assert_eq!(
            kube("Secret apps/app")(error).to_string(),
            "the API server refused Secret apps/app: Invalid (422) at metadata.labels"
        );
    }
}
