//! Errors of the AWS provider: typed by what the caller does about them.

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Result of the AWS provider.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Error codes that mean the request was throttled.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Error codes that mean the caller's identity or permissions are the problem.
const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "InvalidIdentityToken",
    "IDPRejectedClaim",
    "IDPCommunicationError",
    "RegionDisabledException",
    "NotAuthorized",
];

/// Error codes of a missing secret or parameter (or a missing version of it).
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

/// [`Error::NotFound`]'s service: AWS Secrets Manager.
pub const SECRETS_MANAGER: &str = "Secrets Manager";
/// [`Error::NotFound`]'s service: AWS Systems Manager Parameter Store.
pub const PARAMETER_STORE: &str = "Parameter Store";

/// The service of an operation the provider calls.
pub fn service_of(operation: &str) -> &'static str {
    if operation.contains("Parameter") || operation == "ListTagsForResource" {
        PARAMETER_STORE
    } else {
        SECRETS_MANAGER
    }
}

/// Whether AWS refused a read because the secret is scheduled for deletion: AWS answers
/// `InvalidRequestException` ("... because it was marked for deletion"; moto: "... currently marked
/// deleted"). ESO treats that as a missing secret too, so `deletionPolicy` applies.
fn marked_for_deletion(code: &str, message: Option<&str>) -> bool {
    matches!(
        code,
        "InvalidRequestException" | "InvalidParameterException"
    ) && message.is_some_and(|m| m.contains("marked for deletion") || m.contains("marked deleted"))
}

/// An AWS provider failure. Messages name the secret and the AWS error
/// code and message; they never contain a secret value or a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The secret (or the requested version of it) does not exist.
    #[error("{key:?} not found in AWS {service}")]
    NotFound {
        /// The secret id or parameter name as sent to AWS (with the store's prefix).
        key: String,
        /// [`SECRETS_MANAGER`] or [`PARAMETER_STORE`].
        service: &'static str,
    },
    /// Credentials could not be obtained, or AWS refused them or the access.
    #[error("AWS authentication failed: {0}")]
    Auth(String),
    /// AWS throttled the request (after the SDK's own retries).
    #[error("AWS throttled {operation}{}: {message}", KeySuffix(key))]
    Throttled {
        /// The AWS operation.
        operation: &'static str,
        /// The secret, when the call was about one.
        key: Option<String>,
        /// AWS's error code and message.
        message: String,
    },
    /// Any other failed request: invalid parameters, network, timeouts.
    #[error("AWS {operation}{} failed: {message}", KeySuffix(key))]
    Request {
        /// The AWS operation.
        operation: &'static str,
        /// The secret, when the call was about one.
        key: Option<String>,
        /// AWS's error code and message, or the transport error.
        message: String,
    },
    /// The store configuration cannot be used.
    #[error("invalid AWS store configuration: {0}")]
    Config(String),
}

impl Error {
    /// Short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Auth(_) => "auth",
            Error::Throttled { .. } => "throttled",
            Error::Request { .. } => "request",
            Error::Config(_) => "config",
        }
    }

    /// Classifies an AWS error code and message returned for `key`.
    pub(crate) fn from_code(
        operation: &'static str,
        key: Option<&str>,
        code: Option<&str>,
        message: Option<&str>,
    ) -> Error {
        let key_owned = key.map(str::to_owned);
        let text = match (code, message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, Some(message)) => message.to_owned(),
            (None, None) => "unknown error".to_owned(),
        };
        match code {
            Some(code) if key.is_some() && NOT_FOUND_CODES.contains(&code) => Error::NotFound {
                key: key_owned.unwrap_or_default(),
                service: service_of(operation),
            },
            Some(code) if key.is_some() && marked_for_deletion(code, message) => Error::NotFound {
                key: key_owned.unwrap_or_default(),
                service: service_of(operation),
            },
            Some(code) if THROTTLING_CODES.contains(&code) => Error::Throttled {
                operation,
                key: key_owned,
                message: text,
            },
            Some(code) if AUTH_CODES.contains(&code) => Error::Auth(match key {
                Some(key) => format!("{operation} of {key:?}: {text}"),
                None => format!("{operation}: {text}"),
            }),
            _ => Error::Request {
                operation,
                key: key_owned,
                message: text,
            },
        }
    }

    /// Classifies an SDK error of `operation` about `key`.
    pub(crate) fn from_sdk<E>(
        operation: &'static str,
        key: Option<&str>,
        error: SdkError<E, HttpResponse>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if let SdkError::ServiceError(service) = &error {
            let err = service.err();
            if err.code().is_none() && err.message().is_none() {
                // No AWS error in the answer (not an AWS endpoint, or a proxy's page): say what came.
                let status = service.raw().status().as_u16();
                return Error::Request {
                    operation,
                    key: key.map(str::to_owned),
                    message: format!(
                        "HTTP {status} without an AWS error code (is the endpoint or region right?)"
                    ),
                };
            }
            return Error::from_code(operation, key, err.code(), err.message());
        }
        // A credential provider failure: pass on the provider's own error
        // (e.g. STS throttling) when it is one of ours.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        let mut credentials_failed = false;
        while let Some(current) = source {
            if let Some(ours) = current.downcast_ref::<Error>() {
                return ours.clone();
            }
            credentials_failed |= current.is::<CredentialsError>();
            source = current.source();
        }
        let message = DisplayErrorContext(&error).to_string();
        if credentials_failed {
            Error::Auth(format!("{operation}: {message}"))
        } else {
            Error::Request {
                operation,
                key: key.map(str::to_owned),
                message,
            }
        }
    }
}

/// Renders ` of "key"` when there is a key.
struct KeySuffix<'a>(&'a Option<String>);

impl fmt::Display for KeySuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, " of {key:?}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let not_found = Error::from_code(
            "GetSecretValue",
            Some("db"),
            Some("ResourceNotFoundException"),
            Some("Secrets Manager can't find the specified secret."),
        );
        assert!(matches!(&not_found, Error::NotFound { key, .. } if key == "db"));
        assert_eq!(not_found.reason(), "not_found");

        let throttled = Error::from_code("ListSecrets", None, Some("ThrottlingException"), None);
        assert_eq!(throttled.reason(), "throttled");
        assert_eq!(
            throttled.to_string(),
            "AWS throttled ListSecrets: ThrottlingException"
        );

        let denied = Error::from_code(
            "GetSecretValue",
            Some("db"),
            Some("AccessDeniedException"),
            Some("no"),
        );
        assert_eq!(denied.reason(), "auth");
        assert!(denied.to_string().contains("\"db\""));

        for message in [
            "You can't perform this operation on the secret because it was marked for deletion.",
            "You tried to perform the operation on a secret that's currently marked deleted.",
        ] {
            let deleted = Error::from_code(
                "GetSecretValue",
                Some("db"),
                Some("InvalidRequestException"),
                Some(message),
            );
            assert!(
                matches!(&deleted, Error::NotFound { key, .. } if key == "db"),
                "{message}"
            );
        }

        let other = Error::from_code(
            "GetSecretValue",
            Some("db"),
            Some("InvalidRequestException"),
            Some("the version stage is not attached"),
        );
        assert_eq!(
            other.to_string(),
            "AWS GetSecretValue of \"db\" failed: InvalidRequestException: the version stage is not attached"
        );
    }
}
