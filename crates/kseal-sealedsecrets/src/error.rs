//! Errors of the SealedSecret reconciler and the key handling. Messages name objects and keys, never a secret value.

use kseal_api::api_error::describe;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the unsealer or the key handling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed. Shown without the API server's message, which can quote values.
    #[error("{}", describe("a request", .0))]
    Kube(kube::Error),
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
    /// The Secret is, or would become, a sealing key: the unsealer never writes one.
    #[error("Secret {name} is protected: {why}")]
    ProtectedSecret {
        /// Name of the Secret (and of the SealedSecret).
        name: String,
        /// Why it is protected.
        why: &'static str,
    },
    /// Writing the Secret failed. Shown without the API server's message, which can quote values.
    #[error("{}", describe(&format!("Secret {name}"), .cause))]
    Update {
        /// Name of the Secret.
        name: String,
        /// The API error; not an error `source`, so its text cannot reach a log through the error chain.
        cause: kube::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Not `#[from]`: that would make the API error the `source`, and a report of the error chain would print
/// the API server's message.
impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(error)
    }
}

impl Error {
    /// Short stable label of the kind of failure, for metrics (`reason`) and logs. The set is small and
    /// fixed: `api`, `key`, `no_keys`, `malformed`, `decrypt`, `template`, `conflict`, `protected`, `update`,
    /// `task`. A wrong scope cannot be told apart from a wrong key (both fail the OAEP label
    /// check), so both are `decrypt`.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "api",
            Error::KeySecret { .. } | Error::KeyGeneration(_) => "key",
            Error::NoKeys => "no_keys",
            Error::Invalid { .. } => "malformed",
            Error::Unseal(error) => unseal_label(error),
            Error::SecretExists { .. } => "conflict",
            Error::ProtectedSecret { .. } => "protected",
            Error::Update { .. } => "update",
            Error::Task(_) => "task",
        }
    }
}

/// The [`Error::label`] of an unseal failure: the ciphertext or manifest is broken (`malformed`), no key
/// opens it (`decrypt`), or a template fails (`template`).
fn unseal_label(error: &kseal_core::Error) -> &'static str {
    use kseal_crypto::Error as Crypto;
    let crypto = |error: &Crypto| match error {
        Crypto::InvalidBase64(_) | Crypto::Truncated(_) => "malformed",
        _ => "decrypt",
    };
    match error {
        kseal_core::Error::Template { .. } => "template",
        kseal_core::Error::Crypto { source, .. } => crypto(source),
        kseal_core::Error::Keys { failures, .. } => failures
            .iter()
            .map(|(_, error)| crypto(error))
            .find(|label| *label == "decrypt")
            .unwrap_or("malformed"),
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseal_failures_have_coarse_labels() {
        let keys = |errors: Vec<kseal_crypto::Error>| {
            Error::Unseal(kseal_core::Error::Keys {
                object: "ns/s".into(),
                failures: errors.into_iter().map(|e| ("k".to_owned(), e)).collect(),
            })
        };
        assert_eq!(
            keys(vec![kseal_crypto::Error::NoMatchingKey]).label(),
            "decrypt"
        );
        assert_eq!(
            keys(vec![kseal_crypto::Error::Truncated("short".into())]).label(),
            "malformed"
        );
        // One value no key opens is a decryption failure, whatever else is wrong.
        assert_eq!(
            keys(vec![
                kseal_crypto::Error::Truncated("short".into()),
                kseal_crypto::Error::NoMatchingKey
            ])
            .label(),
            "decrypt"
        );
        assert_eq!(Error::SecretExists { name: "s".into() }.label(), "conflict");
    }
}
