//! The Secret an ExternalSecret describes, computed from the provider data (SPEC §3.2).
//!
//! [`desired_secret`] applies `spec.target` (name, type, immutable, template with `mergePolicy` and
//! `templateFrom`, metadata) to the data read from the provider. The I/O layer reads the provider and
//! the `templateFrom` objects, then applies the result; everything here is pure.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kseal_api::external_secrets::{
    ANNOTATION_DATA_HASH, ANNOTATION_FORCE_SYNC, CreationPolicy, ExternalSecret, LABEL_MANAGED,
    TemplateMergePolicy, TemplateScope, TemplateTarget,
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::manifest::LAST_APPLIED_ANNOTATIONS;

/// Provider data by Secret key (values zeroized on drop).
pub type Data = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// Why the desired Secret cannot be computed. Messages name the ExternalSecret and the key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template failed to parse or render.
    #[error("template {key}: {source}")]
    Template {
        /// Which template (the target key, or `templateFrom` source and key).
        key: String,
        /// The engine's error (never a value).
        source: kseal_template::Error,
    },
    /// A `templateFrom` or `KeysAndValues` result is not a YAML map of strings.
    #[error("template {key}: the rendered output is not a YAML map of strings")]
    NotAMap {
        /// Which template.
        key: String,
    },
    /// A resulting key is not a valid Secret key.
    #[error("{key:?} is not a valid Secret key (allowed: letters, digits, '-', '_', '.')")]
    InvalidKey {
        /// The key.
        key: String,
    },
}

impl Error {
    /// Short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Template { .. } | Error::NotAMap { .. } => "template",
            Error::InvalidKey { .. } => "invalid_key",
        }
    }
}

/// One resolved `templateFrom` entry.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// The items of a ConfigMap or Secret: (key, how the key is used, template text).
    Items {
        /// `configmap/<name>` or `secret/<name>`, for messages.
        origin: String,
        /// Where the rendered results go.
        target: TemplateTarget,
        /// The templated keys.
        items: Vec<(String, TemplateScope, String)>,
    },
    /// `literal`: renders to a YAML map.
    Literal {
        /// Where the rendered result goes.
        target: TemplateTarget,
        /// The template.
        template: String,
    },
}

/// The Secret to write: data, metadata, type, and the ExternalSecret that owns it.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Target Secret name.
    pub name: String,
    /// Secret data.
    pub data: Data,
    /// Labels (with [`LABEL_MANAGED`]).
    pub labels: BTreeMap<String, String>,
    /// Annotations (with [`ANNOTATION_DATA_HASH`]).
    pub annotations: BTreeMap<String, String>,
    /// Secret type; `None` leaves an existing Secret's type alone (Merge).
    pub type_: Option<String>,
    /// Immutable Secret.
    pub immutable: bool,
    /// The controller ownerReference (creationPolicy Owner).
    pub owner: Option<OwnerReference>,
}

/// The values handed to templates, zeroized when dropped.
struct Values(BTreeMap<String, Vec<u8>>);

impl Drop for Values {
    fn drop(&mut self) {
        self.0.values_mut().for_each(zeroize::Zeroize::zeroize);
    }
}

/// The target Secret's name: `spec.target.name`, default the ExternalSecret's name.
pub fn target_name(es: &ExternalSecret) -> String {
    es.spec
        .target
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| es.metadata.name.clone().unwrap_or_default())
}

/// Computes the Secret `es` describes from the provider `data` and the resolved `templateFrom`
/// sources (in `spec.target.template.templateFrom` order).
pub fn desired_secret(
    es: &ExternalSecret,
    data: Data,
    template_sources: &[TemplateSource],
) -> Result<Desired, Error> {
    let target = &es.spec.target;
    let values = Values(data.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect());
    let values = &values.0;
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();

    let (out, type_) = match &target.template {
        None => {
            // No template: the provider data as it is, with the ExternalSecret's own metadata.
            labels.extend(es.metadata.labels.clone().unwrap_or_default());
            annotations.extend(es.metadata.annotations.clone().unwrap_or_default());
            (data, None)
        }
        Some(template) => {
            let mut out = Data::new();
            let replace = template.merge_policy.unwrap_or_default() == TemplateMergePolicy::Replace;
            let has_templates = !template.data.is_empty() || !template.template_from.is_empty();
            if !replace || !has_templates {
                out = data;
            }
            // One renderer for every template of the ExternalSecret (metadata, `templateFrom`, data):
            // they share one budget.
            let mut renderer = kseal_template::Renderer::new(values);
            if let Some(metadata) = &template.metadata {
                for (key, value) in &metadata.labels {
                    labels.insert(
                        key.clone(),
                        render_text(&mut renderer, &format!("labels.{key}"), value)?,
                    );
                }
                for (key, value) in &metadata.annotations {
                    annotations.insert(
                        key.clone(),
                        render_text(&mut renderer, &format!("annotations.{key}"), value)?,
                    );
                }
            }
            for source in template_sources {
                apply_source(
                    &mut renderer,
                    source,
                    &mut out,
                    &mut labels,
                    &mut annotations,
                )?;
            }
            let rendered =
                renderer
                    .render_map(&template.data)
                    .map_err(|source| Error::Template {
                        key: template_error_key(&source),
                        source,
                    })?;
            out.extend(rendered.into_iter().map(|(k, v)| (k, Zeroizing::new(v))));
            (out, template.type_.clone())
        }
    };

    for key in out.keys() {
        if !crate::external::remote::valid_secret_key(key) {
            return Err(Error::InvalidKey { key: key.clone() });
        }
    }
    for key in LAST_APPLIED_ANNOTATIONS
        .iter()
        .chain(&[ANNOTATION_FORCE_SYNC])
    {
        annotations.remove(*key);
    }
    labels.insert(LABEL_MANAGED.to_owned(), "true".to_owned());
    annotations.insert(ANNOTATION_DATA_HASH.to_owned(), data_hash(&out));

    let merge = target.creation_policy == CreationPolicy::Merge;
    Ok(Desired {
        name: target_name(es),
        data: out,
        labels,
        annotations,
        type_: if merge {
            None
        } else {
            Some(type_.unwrap_or_else(|| "Opaque".to_owned()))
        },
        immutable: target.immutable,
        owner: (target.creation_policy == CreationPolicy::Owner)
            .then(|| owner_reference(es))
            .flatten(),
    })
}

/// The Secret object to server-side apply for `desired` in `namespace`.
pub fn secret_object(desired: &Desired, namespace: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(desired.name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(desired.labels.clone()),
            annotations: Some(desired.annotations.clone()),
            owner_references: desired.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        type_: desired.type_.clone(),
        immutable: desired.immutable.then_some(true),
        data: Some(
            desired
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// Hash of Secret data, written as [`ANNOTATION_DATA_HASH`]: a Secret whose data no longer matches
/// its annotation was edited by hand.
pub fn data_hash<V: AsRef<[u8]>>(data: &BTreeMap<String, V>) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in data {
        let value = value.as_ref();
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Whether `secret`'s data still matches the hash it was written with (false when edited by hand or
/// never written by a sync).
pub fn secret_unchanged(secret: &Secret) -> bool {
    let recorded = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_DATA_HASH));
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let data: BTreeMap<&String, &[u8]> = data.iter().map(|(k, v)| (k, v.0.as_slice())).collect();
    let data: BTreeMap<String, &[u8]> = data.into_iter().map(|(k, v)| (k.clone(), v)).collect();
    recorded.is_some_and(|hash| *hash == data_hash(&data))
}

/// ESO's `syncedResourceVersion`: the generation plus a hash of labels and annotations, so a change to
/// any of them (including `force-sync`) makes the ExternalSecret due.
pub fn synced_version(es: &ExternalSecret) -> String {
    let mut hasher = Sha256::new();
    for map in [&es.metadata.labels, &es.metadata.annotations] {
        for (key, value) in map.iter().flatten() {
            if LAST_APPLIED_ANNOTATIONS.contains(&key.as_str()) {
                continue;
            }
            hasher.update(key.as_bytes());
            hasher.update([0]);
            hasher.update(value.as_bytes());
            hasher.update([0]);
        }
        hasher.update([1]);
    }
    format!(
        "{}-{}",
        es.metadata.generation.unwrap_or_default(),
        hex::encode(&hasher.finalize()[..8])
    )
}

/// The name of the other ExternalSecret that controls `secret`, if it is not `es`.
pub fn owned_by_other(secret: &Secret, es: &ExternalSecret) -> Option<String> {
    let uid = es.metadata.uid.as_deref();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|owner| {
            owner.controller == Some(true)
                && owner.kind == "ExternalSecret"
                && owner.api_version.starts_with("external-secrets.io/")
                && Some(owner.uid.as_str()) != uid
        })
        .map(|owner| owner.name.clone())
}

/// The controller ownerReference to `es` (none before it has a UID).
fn owner_reference(es: &ExternalSecret) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "external-secrets.io/v1".to_owned(),
        kind: "ExternalSecret".to_owned(),
        name: es.metadata.name.clone()?,
        uid: es.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

fn render_text(
    renderer: &mut kseal_template::Renderer,
    key: &str,
    template: &str,
) -> Result<String, Error> {
    let out = renderer
        .render(key, template)
        .map_err(|source| Error::Template {
            key: key.to_owned(),
            source,
        })?;
    String::from_utf8(out).map_err(|_| Error::NotAMap {
        key: key.to_owned(),
    })
}

fn apply_source(
    renderer: &mut kseal_template::Renderer,
    source: &TemplateSource,
    data: &mut Data,
    labels: &mut BTreeMap<String, String>,
    annotations: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut put = |target: TemplateTarget, key: String, value: Vec<u8>, origin: &str| {
        match target {
            TemplateTarget::Data => {
                data.insert(key, Zeroizing::new(value));
            }
            TemplateTarget::Labels | TemplateTarget::Annotations => {
                let value = String::from_utf8(value).map_err(|_| Error::NotAMap {
                    key: origin.to_owned(),
                })?;
                let map = if target == TemplateTarget::Labels {
                    &mut *labels
                } else {
                    &mut *annotations
                };
                map.insert(key, value);
            }
        }
        Ok::<(), Error>(())
    };
    match source {
        TemplateSource::Items {
            origin,
            target,
            items,
        } => {
            for (key, scope, template) in items {
                let name = format!("{origin}/{key}");
                let out = renderer
                    .render(&name, template)
                    .map_err(|source| Error::Template {
                        key: name.clone(),
                        source,
                    })?;
                match scope {
                    TemplateScope::Values => put(*target, key.clone(), out, &name)?,
                    TemplateScope::KeysAndValues => {
                        for (k, v) in yaml_map(&name, &out)? {
                            put(*target, k, v.into_bytes(), &name)?;
                        }
                    }
                }
            }
        }
        TemplateSource::Literal { target, template } => {
            let name = "templateFrom.literal".to_owned();
            let out = renderer
                .render(&name, template)
                .map_err(|source| Error::Template {
                    key: name.clone(),
                    source,
                })?;
            for (k, v) in yaml_map(&name, &out)? {
                put(*target, k, v.into_bytes(), &name)?;
            }
        }
    }
    Ok(())
}

/// A rendered `KeysAndValues`/literal template: a YAML map whose values are scalars.
fn yaml_map(key: &str, rendered: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    let not_a_map = || Error::NotAMap {
        key: key.to_owned(),
    };
    let text = std::str::from_utf8(rendered).map_err(|_| not_a_map())?;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|_| not_a_map())?;
    let serde_json::Value::Object(map) = value else {
        return Err(not_a_map());
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(not_a_map()),
        })
        .collect()
}

/// The template name an engine error refers to (its message starts with it).
fn template_error_key(error: &kseal_template::Error) -> String {
    error
        .to_string()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use kseal_api::external_secrets::{
        ExternalSecretSpec, ExternalSecretTarget, ExternalSecretTemplate, TemplateMetadata,
    };

    use super::*;

    fn es(template: Option<ExternalSecretTemplate>) -> ExternalSecret {
        let mut es = ExternalSecret::new(
            "myapp-secret",
            ExternalSecretSpec {
                target: ExternalSecretTarget {
                    template,
                    ..ExternalSecretTarget::default()
                },
                ..ExternalSecretSpec::default()
            },
        );
        es.metadata.namespace = Some("team".into());
        es.metadata.uid = Some("uid-1".into());
        es.metadata.generation = Some(3);
        es.metadata.labels = Some([("app".to_owned(), "myapp".to_owned())].into());
        es
    }

    fn data(pairs: &[(&str, &str)]) -> Data {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Zeroizing::new(v.as_bytes().to_vec())))
            .collect()
    }

    fn text(desired: &Desired, key: &str) -> String {
        String::from_utf8(desired.data[key].to_vec()).unwrap()
    }

    #[test]
    fn seed_template_renders_provider_values() {
        let template = ExternalSecretTemplate {
            type_: Some("Opaque".into()),
            data: [
                ("DATABASE_URL".to_owned(), "{{ .database_url }}".to_owned()),
                ("JWT_SECRET".to_owned(), "{{ .jwt_secret }}".to_owned()),
            ]
            .into(),
            ..ExternalSecretTemplate::default()
        };
        let desired = desired_secret(
            &es(Some(template)),
            data(&[("database_url", "postgres://db"), ("jwt_secret", "s3cr3t")]),
            &[],
        )
        .unwrap();
        assert_eq!(desired.name, "myapp-secret");
        assert_eq!(desired.data.len(), 2, "Replace keeps only templated keys");
        assert_eq!(text(&desired, "DATABASE_URL"), "postgres://db");
        assert_eq!(text(&desired, "JWT_SECRET"), "s3cr3t");
        assert_eq!(desired.type_.as_deref(), Some("Opaque"));
        assert_eq!(desired.labels[LABEL_MANAGED], "true");
        let owner = desired.owner.unwrap();
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ExternalSecret", "uid-1")
        );
        assert_eq!(owner.controller, Some(true));
        assert!(
            !desired.labels.contains_key("app"),
            "a template's metadata replaces the ES's"
        );
    }

    #[test]
    fn no_template_copies_data_and_metadata() {
        let desired = desired_secret(&es(None), data(&[("a", "1")]), &[]).unwrap();
        assert_eq!(text(&desired, "a"), "1");
        assert_eq!(desired.labels["app"], "myapp");
        assert_eq!(
            desired.annotations[ANNOTATION_DATA_HASH],
            data_hash(&desired.data)
        );
    }

    #[test]
    fn merge_policy_keeps_provider_keys() {
        let template = ExternalSecretTemplate {
            merge_policy: Some(TemplateMergePolicy::Merge),
            data: [("b".to_owned(), "{{ .a | upper }}".to_owned())].into(),
            metadata: Some(TemplateMetadata {
                labels: [("tier".to_owned(), "{{ .a }}".to_owned())].into(),
                ..TemplateMetadata::default()
            }),
            ..ExternalSecretTemplate::default()
        };
        let desired = desired_secret(&es(Some(template)), data(&[("a", "x")]), &[]).unwrap();
        assert_eq!(text(&desired, "a"), "x");
        assert_eq!(text(&desired, "b"), "X");
        assert_eq!(desired.labels["tier"], "x");
    }

    #[test]
    fn missing_key_is_an_error_without_values() {
        let template = ExternalSecretTemplate {
            data: [("b".to_owned(), "{{ .nope }}".to_owned())].into(),
            ..ExternalSecretTemplate::default()
        };
        let error =
            desired_secret(&es(Some(template)), data(&[("a", "hunter2")]), &[]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("nope"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(error.reason(), "template");
    }

    #[test]
    fn template_from_sources_fill_data_labels_and_annotations() {
        let template = ExternalSecretTemplate {
            template_from: vec![Default::default()],
            ..ExternalSecretTemplate::default()
        };
        let sources = [
            TemplateSource::Items {
                origin: "configmap/tpl".into(),
                target: TemplateTarget::Data,
                items: vec![
                    (
                        "config.ini".into(),
                        TemplateScope::Values,
                        "pw={{ .a }}".into(),
                    ),
                    (
                        "kv".into(),
                        TemplateScope::KeysAndValues,
                        "user: admin\npass: \"{{ .a }}\"".into(),
                    ),
                ],
            },
            TemplateSource::Literal {
                target: TemplateTarget::Annotations,
                template: "note: v-{{ .a }}".into(),
            },
        ];
        let desired = desired_secret(&es(Some(template)), data(&[("a", "x")]), &sources).unwrap();
        assert_eq!(text(&desired, "config.ini"), "pw=x");
        assert_eq!(text(&desired, "user"), "admin");
        assert_eq!(text(&desired, "pass"), "x");
        assert!(!desired.data.contains_key("a"));
        assert_eq!(desired.annotations["note"], "v-x");
    }

    #[test]
    fn creation_policies_shape_owner_and_type() {
        let mut orphan = es(None);
        orphan.spec.target.creation_policy = CreationPolicy::Orphan;
        assert!(
            desired_secret(&orphan, data(&[]), &[])
                .unwrap()
                .owner
                .is_none()
        );
        let mut merge = es(None);
        merge.spec.target.creation_policy = CreationPolicy::Merge;
        let desired = desired_secret(&merge, data(&[]), &[]).unwrap();
        assert!(desired.owner.is_none());
        assert!(
            desired.type_.is_none(),
            "Merge leaves the existing type alone"
        );
    }

    #[test]
    fn hand_edits_are_detected() {
        let desired = desired_secret(&es(None), data(&[("a", "1")]), &[]).unwrap();
        let mut secret = secret_object(&desired, "team");
        assert!(secret_unchanged(&secret));
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("a".into(), ByteString(b"2".to_vec()));
        assert!(!secret_unchanged(&secret));
    }

    #[test]
    fn synced_version_changes_with_generation_and_annotations() {
        let a = es(None);
        let mut b = a.clone();
        b.metadata.annotations = Some([(ANNOTATION_FORCE_SYNC.to_owned(), "1".to_owned())].into());
        let mut c = a.clone();
        c.metadata.generation = Some(4);
        assert_ne!(synced_version(&a), synced_version(&b));
        assert_ne!(synced_version(&a), synced_version(&c));
        assert_eq!(synced_version(&a), synced_version(&a.clone()));
    }

    #[test]
    fn another_external_secret_owner_is_reported() {
        let desired = desired_secret(&es(None), data(&[]), &[]).unwrap();
        let secret = secret_object(&desired, "team");
        let mut other = es(None);
        other.metadata.uid = Some("uid-2".into());
        assert_eq!(
            owned_by_other(&secret, &other).as_deref(),
            Some("myapp-secret")
        );
        assert_eq!(owned_by_other(&secret, &es(None)), None);
    }
}
