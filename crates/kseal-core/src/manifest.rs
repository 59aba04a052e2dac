//! Reading Kubernetes manifests: multi-document YAML (`---`) or a stream of JSON objects.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Annotations written by `kubectl apply` and kubecfg that hold a full copy of the object — with its
/// values in clear. They are never copied into a SealedSecret.
pub const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// One parsed document with its 1-based position in the input, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based position in the input.
    pub position: usize,
    /// The document.
    pub value: Value,
}

impl Document {
    /// `kind` of the document, or `""`.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// How to name this document in an error: `Kind namespace/name` when known, else its position.
    pub fn describe(&self) -> String {
        let meta = self.value.get("metadata");
        let field = |f: &str| {
            meta.and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let kind = match self.kind() {
            kind if plausible_kind(kind) => kind,
            _ => "object",
        };
        match (field("namespace"), field("name")) {
            (_, "") => format!("document {}", self.position),
            ("", name) => format!("{kind} {name}"),
            (ns, name) => format!("{kind} {ns}/{name}"),
        }
    }
}

/// Reads every document of `input`: YAML documents separated by `---`, or concatenated JSON objects.
/// Empty documents are skipped; a `List` is flattened into its items.
pub fn read_documents(input: &str) -> Result<Vec<Document>> {
    let trimmed = input.trim_start();
    let values: Vec<Value> = if trimmed.starts_with('{') {
        serde_json::Deserializer::from_str(trimmed)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| {
                Error::Syntax(format!("JSON at line {} column {}", e.line(), e.column()))
            })?
    } else {
        serde_saphyr::from_multiple_with_options::<Value>(input, yaml_options())
            .map_err(|e| Error::Syntax(yaml_error(&e)))?
    };
    let mut documents = Vec::new();
    for value in values {
        match value {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = map
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                documents.extend(
                    items
                        .into_iter()
                        .map(|value| Document { position: 0, value }),
                );
            }
            Value::Object(_) => documents.push(Document { position: 0, value }),
            _ => {
                return Err(Error::Syntax(format!(
                    "document {} is not an object",
                    documents.len() + 1
                )));
            }
        }
    }
    for (i, doc) in documents.iter_mut().enumerate() {
        doc.position = i + 1;
    }
    Ok(documents)
}

/// YAML 1.2 core schema (`n`, `yes`, `on` stay strings, as Kubernetes users expect of their values);
/// no source snippets in errors, since the source may be a secret.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        crop_radius: 0,
    }
}

/// A YAML error message: what is wrong and where, never the offending text (it may be a secret).
/// The reason is chosen by the kind of error, not cut out of the library's message, because some of
/// those quote the input (a duplicate key, an unquoted value, a tag) without marking it.
fn yaml_error(error: &serde_saphyr::Error) -> String {
    let reason = yaml_reason(error);
    match error.location() {
        Some(at) if at.line() > 0 => {
            format!("{reason} at line {}, column {}", at.line(), at.column())
        }
        _ => reason,
    }
}

fn yaml_reason(error: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    let fixed = match error {
        E::WithSnippet { error, .. } | E::AliasError { error, .. } => return yaml_reason(error),
        E::DuplicateMappingKey { .. } => "duplicate mapping key",
        E::QuotingRequired { .. } => "a value must be quoted",
        E::NonFiniteFloat { .. } => "a number is not finite",
        E::UnsupportedTag { .. } | E::TaggedStructFieldName { .. } => "unsupported tag",
        E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. } => "a value has the wrong type",
        E::SerdeUnknownVariant { .. } | E::SerdeUnknownField { .. } => "unexpected field",
        E::Budget { .. } => "the document is too large or too deeply nested",
        E::UnknownAnchor { .. } => "alias references unknown anchor",
        E::Message { msg, .. } | E::ExternalMessage { msg, .. } => return parser_reason(msg),
        // Messages of the remaining kinds are fixed texts, numbers and names of the library's
        // options; still, cut them like a parser message.
        other => return parser_reason(&other.render()),
    };
    fixed.to_owned()
}

/// A parser message without its location and without anything it quotes: the YAML scanner
/// quotes at most one character (`unexpected character: `x'`) or a bracket.
fn parser_reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let first = first.split(" at line ").next().unwrap_or_default();
    let first = first.split(" at char ").next().unwrap_or_default();
    let cut = first
        .find(['`', '"'])
        .map_or(first, |i| &first[..i])
        .trim_end_matches([' ', ':']);
    match cut.trim() {
        "" => "syntax error".to_owned(),
        reason => reason.to_owned(),
    }
}

/// A plain Kubernetes Secret as read from a manifest, with `stringData` folded into `data`.
#[derive(Clone, Default)]
pub struct PlainSecret {
    /// The Secret's metadata as written (server-set fields included; [`crate::seal`] drops them).
    pub metadata: ObjectMeta,
    /// `type`, e.g. `Opaque`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Decoded values; wiped from memory on drop.
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("PlainSecret")
            .field("metadata", &self.metadata)
            .field("type_", &self.type_)
            .field("immutable", &self.immutable)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PlainSecret {
    /// Reads a Secret document: `kind: Secret`, base64 `data`, plain `stringData` (which wins on a clash).
    pub fn from_document(doc: &Document) -> Result<Self> {
        let described = doc.describe();
        if doc.kind() != "Secret" {
            let found = match doc.kind() {
                "" => "no kind".to_owned(),
                kind if plausible_kind(kind) => kind.to_owned(),
                _ => "a kind that is not a Kubernetes kind name".to_owned(),
            };
            return Err(Error::WrongKind {
                document: described,
                expected: "Secret",
                found,
            });
        }
        let invalid = |message: String| Error::Invalid {
            document: described.clone(),
            message,
        };
        let object = doc
            .value
            .as_object()
            .ok_or_else(|| invalid("not an object".into()))?;
        let metadata: ObjectMeta = match object.get("metadata") {
            Some(m) => serde_json::from_value(m.clone()).map_err(|_| invalid(metadata_error(m)))?,
            None => ObjectMeta::default(),
        };
        let object_name = format!(
            "{}/{}",
            metadata.namespace.as_deref().unwrap_or(""),
            metadata.name.as_deref().unwrap_or("")
        );
        let mut data = BTreeMap::new();
        for (key, value) in string_map(object, "data").map_err(invalid)? {
            // As Go's base64 decoder (and so the API server): line breaks anywhere are skipped.
            let unwrapped: Zeroizing<String> = Zeroizing::new(
                value
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n'))
                    .collect(),
            );
            let decoded =
                STANDARD
                    .decode(unwrapped.as_bytes())
                    .map_err(|_| Error::InvalidBase64 {
                        object: object_name.clone(),
                        key: key.clone(),
                    })?;
            data.insert(key, Zeroizing::new(decoded));
        }
        for (key, value) in string_map(object, "stringData").map_err(invalid)? {
            data.insert(key, Zeroizing::new(value.into_bytes()));
        }
        Ok(PlainSecret {
            metadata,
            type_: object
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            immutable: object.get("immutable").and_then(Value::as_bool),
            data,
        })
    }

    /// `namespace/name`, for messages.
    pub fn object_name(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or(""),
            self.metadata.name.as_deref().unwrap_or("")
        )
    }
}

/// Which `metadata` field does not have its type, without quoting it (serde's messages do):
/// `metadata.generation has the wrong type`, `metadata.labels.app must be a string`.
fn metadata_error(metadata: &Value) -> String {
    let Value::Object(fields) = metadata else {
        return "metadata must be a map".to_owned();
    };
    for (field, value) in fields {
        let alone = Value::Object(Map::from_iter([(field.clone(), value.clone())]));
        if serde_json::from_value::<ObjectMeta>(alone).is_ok() {
            continue;
        }
        if let Value::Object(entries) = value
            && let Some((key, _)) = entries.iter().find(|(_, v)| !v.is_string())
        {
            return format!("metadata.{field}.{key} must be a string");
        }
        return format!("metadata.{field} has the wrong type");
    }
    "invalid metadata".to_owned()
}

/// A kind as Kubernetes names them (`ConfigMap`): safe to repeat in a message. Anything else is
/// not repeated, in case it is not a kind at all.
fn plausible_kind(kind: &str) -> bool {
    kind.len() <= 63
        && kind.starts_with(|c: char| c.is_ascii_alphabetic())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A map of strings at `field`; a `null` value is an empty one and a boolean or number its text, as the
/// API server reads them; other values are refused by key, without echoing them.
fn string_map(object: &Map<String, Value>, field: &str) -> Result<Vec<(String, String)>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::Null => Ok((k.clone(), String::new())),
                Value::String(s) => Ok((k.clone(), s.clone())),
                // As the API server and kubeseal read `port: 5432` or `enabled: true`: their text.
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                _ => Err(format!("{field}.{k} must be a string")),
            })
            .collect(),
        Some(_) => Err(format!("{field} must be a map of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_multi_document_and_lists() {
        let docs = read_documents(
            "---\nkind: Secret\nmetadata: {name: a}\n---\n---\nkind: List\nitems:\n- kind: Secret\n  metadata: {name: b}\n- kind: Secret\n  metadata: {name: c, namespace: x}\n",
        )
        .unwrap();
        let names: Vec<String> = docs.iter().map(Document::describe).collect();
        assert_eq!(names, ["Secret a", "Secret b", "Secret x/c"]);
        assert_eq!(docs[2].position, 3);
    }

    #[test]
    fn concatenated_json_objects() {
        let docs = read_documents("{\"kind\":\"Secret\"}\n{\"kind\":\"ConfigMap\"}").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].kind(), "ConfigMap");
        assert!(matches!(
            read_documents("{\"kind\": "),
            Err(Error::Syntax(_))
        ));
    }

    #[test]
    fn string_data_wins_and_base64_is_checked_by_key() {
        let docs = read_documents(
            "kind: Secret\nmetadata: {name: s, namespace: n}\ndata: {a: YQ==, b: Yg==}\nstringData: {b: plain}\n",
        )
        .unwrap();
        let secret = PlainSecret::from_document(&docs[0]).unwrap();
        assert_eq!(&secret.data["a"][..], b"a");
        assert_eq!(&secret.data["b"][..], b"plain");

        let docs =
            read_documents("kind: Secret\nmetadata: {name: s, namespace: n}\ndata: {k: '%%%'}\n")
                .unwrap();
        let err = PlainSecret::from_document(&docs[0]).unwrap_err();
        assert_eq!(err.to_string(), "Secret n/s: data.k is not valid base64");
    }

    #[test]
    fn errors_name_fields_and_places_never_values() {
        let err = |yaml: &str| {
            let docs = read_documents(yaml)?;
            PlainSecret::from_document(&docs[0]).map(drop)
        };
        let msg = |yaml: &str| err(yaml).unwrap_err().to_string();
        assert_eq!(
            msg("kind: Secret\nmetadata: {name: s, generation: hunter2}\n"),
            "Secret s: metadata.generation has the wrong type"
        );
        assert_eq!(
            msg("kind: Secret\nmetadata: {name: s, annotations: {a: b, note: [hunter2]}}\n"),
            "Secret s: metadata.annotations.note must be a string"
        );
        assert_eq!(
            msg("kind: Secret\nstringData:\n  ? hunter2\n  : x\n  ? hunter2\n  : y\n"),
            "input is not valid YAML or JSON: duplicate mapping key at line 5, column 5"
        );
        assert_eq!(
            msg("kind: Secret\nstringData: {a: @hunter2}\n"),
            "input is not valid YAML or JSON: unexpected character at line 2, column 17"
        );
        assert_eq!(
            msg("kind: [\n"),
            "input is not valid YAML or JSON: unclosed bracket '[' at line 1, column 7"
        );
        assert_eq!(
            msg("kind: 'hunter2 is no kind'\nmetadata: {name: c}\n"),
            "object c: expected kind Secret, found a kind that is not a Kubernetes kind name"
        );
    }

    #[test]
    fn wrong_kind_and_bad_shapes_are_named() {
        let docs = read_documents("kind: ConfigMap\nmetadata: {name: c}\n").unwrap();
        let err = PlainSecret::from_document(&docs[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap c: expected kind Secret, found ConfigMap"
        );
        let docs =
            read_documents("kind: Secret\nmetadata: {name: s}\nstringData: {n: [5]}\n").unwrap();
        let err = PlainSecret::from_document(&docs[0]).unwrap_err();
        assert_eq!(err.to_string(), "Secret s: stringData.n must be a string");
        assert!(matches!(
            read_documents("- a\n- b\n"),
            Err(Error::Syntax(_))
        ));
    }
}
