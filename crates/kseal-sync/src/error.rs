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

/// Most cause field paths a message lists.
const MAX_FIELDS: usize = 5;
/// Longest field path a message carries.
const MAX_FIELD_LEN: usize = 120;

/// Describes a failed request about `what` without the API server's message: `the API server refused
/// Secret ns/name: Invalid (422) at metadata.labels`; a request that got no answer names only the kind
/// of failure.
pub fn kube_message(what: &str, error: &kube::Error) -> String {
    let status = match error {
        kube::Error::Api(status) => status,
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            return format!(
                "the request for {what} did not reach the API server (connection error)"
            );
        }
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => {
            return format!("the API server's answer about {what} could not be read");
        }
        _ => return format!("the request for {what} failed in the Kubernetes client"),
    };
    let mut message = format!("the API server refused {what}: ");
    if status.reason.is_empty() {
        message.push_str(&format!("HTTP {}", status.code));
    } else {
        message.push_str(&format!("{} ({})", status.reason, status.code));
    }
    let mut fields: Vec<&str> = Vec::new();
    for cause in status.details.iter().flat_map(|d| &d.causes) {
        let field = cause.field.as_str();
        if !field.is_empty() && !fields.contains(&field) {
            fields.push(field);
        }
    }
    if !fields.is_empty() {
        let shown: Vec<String> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|f| truncate(f, MAX_FIELD_LEN))
            .collect();
        message.push_str(" at ");
        message.push_str(&shown.join(", "));
        if fields.len() > MAX_FIELDS {
            message.push_str(&format!(" and {} more", fields.len() - MAX_FIELDS));
        }
    }
    message
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
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
            Error::Protected { .. } => "protected",
            Error::Kube { .. } => "api",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(status: serde_json::Value) -> kube::Error {
        kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
    }

    #[test]
    fn refusals_name_code_reason_and_fields_but_not_the_servers_message() {
        let canary = "CANARY-value quoted by the API server";
        let error = api_error(serde_json::json!({
            "kind": "Status", "status": "Failure", "code": 422, "reason": "Invalid",
            "message": format!("Secret \"app\" is invalid: metadata.labels: Invalid value: \"{canary}\""),
            "details": {"name": "app", "kind": "Secret", "causes": [
                {"reason": "FieldValueInvalid", "message": format!("Invalid value: \"{canary}\""), "field": "metadata.labels"},
                {"reason": "FieldValueInvalid", "message": canary, "field": "metadata.labels"},
                {"reason": "FieldValueInvalid", "message": canary, "field": "type"},
            ]},
        }));
        let message = kube("Secret apps/app")(error).to_string();
        assert_eq!(
            message,
            "the API server refused Secret apps/app: Invalid (422) at metadata.labels, type"
        );

        let forbidden = api_error(serde_json::json!({
            "code": 403, "reason": "Forbidden", "message": canary,
        }));
        assert_eq!(
            kube_message("ServiceAccount apps/reader", &forbidden),
            "the API server refused ServiceAccount apps/reader: Forbidden (403)"
        );
        let bare = api_error(serde_json::json!({"code": 500, "message": canary}));
        assert_eq!(
            kube_message("Secret apps/app", &bare),
            "the API server refused Secret apps/app: HTTP 500"
        );
        let unreadable = kube::Error::SerdeError(
            serde_json::from_str::<u8>(&format!("\"{canary}\"")).unwrap_err(),
        );
        let message = kube_message("Secret apps/app", &unreadable);
        assert!(!message.contains("CANARY"), "{message}");
    }

    #[test]
    fn many_fields_are_bounded() {
        let causes: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"field": format!("data[k{i}]{}", "x".repeat(300))}))
            .collect();
        let error = api_error(serde_json::json!({
            "code": 422, "reason": "Invalid", "details": {"causes": causes},
        }));
        let message = kube_message("Secret apps/app", &error);
        assert!(message.ends_with(" and 35 more"), "{message}");
        assert!(message.len() < 1000, "{}", message.len());
    }
}
