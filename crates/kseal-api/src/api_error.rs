//! API server errors described without the API server's own words.
//!
//! When the API server refuses an object, its message quotes the offending value: an invalid label value,
//! a too long annotation, a field that does not parse. Those values may come from decrypted or fetched
//! secret data (templated metadata), so the text kseal writes into a status condition, an event or a log
//! is built only from the HTTP code, the `reason` and the field paths of `details.causes` (without
//! subscripts, which can be computed keys). For the same reason a response that does not decode is
//! reported without the decoder's message (serde's messages can quote the value they could not read).

/// Most cause field paths a message lists.
const MAX_FIELDS: usize = 5;
/// Longest field path a message carries.
const MAX_FIELD_LEN: usize = 120;

/// Describes a failed request about `what` (e.g. `Secret ns/name`) without the API server's message:
/// `the API server refused Secret ns/name: Invalid (422) at metadata.labels`; a request that got no
/// answer names only the kind of failure.
pub fn describe(what: &str, error: &kube::Error) -> String {
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
        let field = without_subscript(&cause.field);
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

/// `metadata.labels[app]` → `metadata.labels`: a subscript can be a computed key, which may be data.
fn without_subscript(field: &str) -> &str {
    field.split_once('[').map_or(field, |(path, _)| path)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
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
        assert_eq!(
            describe("Secret apps/app", &error),
            "the API server refused Secret apps/app: Invalid (422) at metadata.labels, type"
        );
        // kube's own Display quotes the value: that is what this module exists to avoid.
        assert!(error.to_string().contains("CANARY"));

        let forbidden = api_error(serde_json::json!({
            "code": 403, "reason": "Forbidden", "message": canary,
        }));
        assert_eq!(
            describe("ServiceAccount apps/reader", &forbidden),
            "the API server refused ServiceAccount apps/reader: Forbidden (403)"
        );
        let bare = api_error(serde_json::json!({"code": 500, "message": canary}));
        assert_eq!(
            describe("Secret apps/app", &bare),
            "the API server refused Secret apps/app: HTTP 500"
        );
    }

    #[test]
    fn a_computed_subscript_is_not_shown() {
        let error = api_error(serde_json::json!({
            "code": 422, "reason": "Invalid",
            "details": {"causes": [{"field": "metadata.annotations[CANARY-key]", "message": "too long"}]},
        }));
        assert_eq!(
            describe("Secret apps/app", &error),
            "the API server refused Secret apps/app: Invalid (422) at metadata.annotations"
        );
    }

    #[test]
    fn a_decoding_failure_does_not_quote_the_input() {
        let source = serde_json::from_str::<u32>("\"CANARY-value\"").unwrap_err();
        assert!(source.to_string().contains("CANARY"));
        let text = describe("Secret apps/app", &kube::Error::SerdeError(source));
        assert_eq!(
            text,
            "the API server's answer about Secret apps/app could not be read"
        );
    }

    #[test]
    fn many_fields_are_bounded() {
        let causes: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"field": format!("spec.k{i}{}", "x".repeat(300))}))
            .collect();
        let error = api_error(serde_json::json!({
            "code": 422, "reason": "Invalid", "details": {"causes": causes},
        }));
        let message = describe("Secret apps/app", &error);
        assert!(message.ends_with(" and 35 more"), "{message}");
        assert!(message.len() < 1000, "{}", message.len());
    }
}
