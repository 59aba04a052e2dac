//! JSON schemas for kubeconform, generated offline from the running API server's own OpenAPI v2 document
//! (which includes the installed CRDs), so validation needs no download and matches the Kubernetes
//! version the tests run.
//!
//! Layout: `<dir>/<group, or the version for the core group>/<kind>_<version>.json`, which kubeconform
//! finds with [`SCHEMA_LOCATION`]. Each file holds the kind's definition and every definition it reaches;
//! objects reject unknown fields (kubeconform `-strict` expects strict schemas).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kube::Client;
use kube::api::GetParams;
use serde_json::{Map, Value, json};

/// The `-schema-location` template matching the layout.
pub const SCHEMA_LOCATION: &str = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json";

/// The API server's OpenAPI v2 document.
pub async fn openapi_v2(client: &Client) -> Value {
    let request = kube::core::Request::new("/openapi")
        .get("v2", &GetParams::default())
        .expect("a valid request");
    let text = client.request_text(request).await.expect("GET /openapi/v2");
    serde_json::from_str(&text).expect("/openapi/v2 is JSON")
}

/// Writes a schema for each of `kinds` ((apiVersion, kind)) into `dir`; returns how many were written.
/// A kind the document does not describe gets no file (kubeconform then reports it missing).
pub fn write(openapi: &Value, kinds: &BTreeSet<(String, String)>, dir: &Path) -> usize {
    let definitions = openapi["definitions"]
        .as_object()
        .expect("an OpenAPI v2 document has definitions");
    let mut written = 0;
    for (name, definition) in definitions {
        for gvk in definition["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (group, version, kind) = (
                gvk["group"].as_str().unwrap_or_default(),
                gvk["version"].as_str().unwrap_or_default(),
                gvk["kind"].as_str().unwrap_or_default(),
            );
            let api_version = if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            };
            if !kinds.contains(&(api_version, kind.to_owned())) {
                continue;
            }
            let folder = dir.join(if group.is_empty() { version } else { group });
            std::fs::create_dir_all(&folder).unwrap();
            let file = folder.join(format!("{}_{version}.json", kind.to_lowercase()));
            let schema = standalone(definitions, name);
            std::fs::write(file, serde_json::to_vec(&schema).unwrap()).unwrap();
            written += 1;
        }
    }
    written
}

/// The schema of definition `root`: a reference to it, with every definition it reaches, converted.
fn standalone(definitions: &Map<String, Value>, root: &str) -> Value {
    let mut reached = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(name) = pending.pop() {
        if reached.contains_key(&name) {
            continue;
        }
        let Some(definition) = definitions.get(&name) else {
            continue;
        };
        collect_refs(definition, &mut pending);
        reached.insert(name.clone(), convert(&name, definition));
    }
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "allOf": [{"$ref": format!("#/definitions/{root}")}],
        "definitions": reached,
    })
}

/// Adds the definitions `schema` refers to.
fn collect_refs(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && let Some(name) = reference.strip_prefix("#/definitions/")
            {
                names.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, names)),
        _ => {}
    }
}

/// An OpenAPI v2 schema as JSON schema: int-or-string and quantities accept both forms (as the API
/// server does), and objects with declared properties reject others.
fn convert(name: &str, schema: &Value) -> Value {
    if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
        return json!({"oneOf": [{"type": "string"}, {"type": "number"}]});
    }
    match schema {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("int-or-string") {
                return json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
            }
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(key, value)| {
                    let value = match key.as_str() {
                        // Names of properties, not schemas: convert each property's schema.
                        "properties" => Value::Object(
                            value
                                .as_object()
                                .into_iter()
                                .flatten()
                                .map(|(k, v)| (k.clone(), convert("", v)))
                                .collect(),
                        ),
                        _ => convert("", value),
                    };
                    (key.clone(), value)
                })
                .collect();
            let open = map.contains_key("additionalProperties")
                || map.contains_key("x-kubernetes-preserve-unknown-fields");
            if map.contains_key("properties") && !open {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| convert("", v)).collect()),
        other => other.clone(),
    }
}
