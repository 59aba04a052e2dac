//! API server errors described without the API server's own words.
//!
//! When the API server refuses an object, its message quotes the offending value: an invalid label value,
//! a too long annotation, a field that does not parse. Those values may come from decrypted or fetched
//! secret data (templated metadata), so the text kseal writes into a status condition, an event or a log
//! is built only from the HTTP code, the `reason` and the field paths of `details.causes`. For the same
//! reason a response that does not decode is reported without the decoder's message (serde's messages
//! can quote the value they could not read).

use std::fmt;

/// Displays a `kube::Error` without any text the API server or a decoder derived from the request.
///
/// `Invalid (422) at metadata.labels` instead of `metadata.labels: Invalid value: "<the value>": …`.
pub struct Redacted<'a>(pub &'a kube::Error);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            kube::Error::Api(status) => {
                let reason = if status.reason.is_empty() {
                    "Failure"
                } else {
                    status.reason.as_str()
                };
                write!(f, "the API server answered {reason} ({})", status.code)?;
                let mut fields: Vec<&str> = status
                    .details
                    .iter()
                    .flat_map(|details| &details.causes)
                    .map(|cause| cause.field.as_str())
                    .filter(|field| !field.is_empty())
                    .map(without_subscript)
                    .collect();
                fields.sort_unstable();
                fields.dedup();
                if !fields.is_empty() {
                    write!(f, " at {}", fields.join(", "))?;
                }
                Ok(())
            }
            kube::Error::SerdeError(_) => {
                f.write_str("the API server's response could not be decoded")
            }
            kube::Error::BuildRequest(_) => f.write_str("the request could not be built"),
            // Transport, TLS and configuration errors carry no object content.
            other => other.fmt(f),
        }
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `metadata.labels[app]` → `metadata.labels`: a subscript can be a computed key, which may be data.
fn without_subscript(field: &str) -> &str {
    field.split_once('[').map_or(field, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn invalid(field: &str, message: &str) -> kube::Error {
        let status: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure",
            "code": 422,
            "reason": "Invalid",
            "message": message,
            "details": {
                "name": "db",
                "kind": "secrets",
                "causes": [{ "reason": "FieldValueInvalid", "message": message, "field": field }],
            },
        }))
        .unwrap();
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn a_rejection_names_the_reason_code_and_fields_but_not_the_value() {
        let error = invalid(
            "metadata.labels",
            "Secret \"db\" is invalid: metadata.labels: Invalid value: \"CANARY-s3cr3t!\": a valid label must be …",
        );
        let text = Redacted(&error).to_string();
        assert_eq!(
            text,
            "the API server answered Invalid (422) at metadata.labels"
        );
        assert!(!format!("{:?}", Redacted(&error)).contains("CANARY"));
        // kube's own Display quotes the value: that is what this type exists to avoid.
        assert!(error.to_string().contains("CANARY"));
    }

    #[test]
    fn a_computed_subscript_is_not_shown() {
        let error = invalid("metadata.annotations[CANARY-key]", "too long");
        assert_eq!(
            Redacted(&error).to_string(),
            "the API server answered Invalid (422) at metadata.annotations"
        );
    }

    #[test]
    fn a_decoding_failure_does_not_quote_the_input() {
        let source = serde_json::from_str::<u32>("\"CANARY-value\"").unwrap_err();
        assert!(source.to_string().contains("CANARY"));
        let text = Redacted(&kube::Error::SerdeError(source)).to_string();
        assert!(!text.contains("CANARY"), "{text}");
    }
}
