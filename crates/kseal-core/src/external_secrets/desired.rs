//! The Secret an ExternalSecret describes, computed from the provider data.
//!
//! [`desired_secret`] applies `spec.target` (name, type, immutable, template with `mergePolicy` and
//! `templateFrom`, metadata) to the data read from the provider. The I/O layer reads the provider and
//! the `templateFrom` objects, then applies the result; everything here is pure.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kseal_api::external_secrets::{
    ANNOTATION_DATA_HASH, ANNOTATION_FORCE_SYNC, CreationPolicy, DecodingStrategy, ExternalSecret,
    LABEL_CREATED_BY, LABEL_MANAGED, TemplateMergePolicy, TemplateScope, TemplateTarget,
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::external_secrets::remote::valid_secret_key;
use crate::manifest::LAST_APPLIED_ANNOTATIONS;

/// Provider data by Secret key (values zeroized on drop).
pub type Data = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// Why the desired Secret cannot be computed. Messages name the ExternalSecret's manifest paths,
/// templates and literal keys; never a value, nor a key or label that was computed from data (those
/// are told by the template or `dataFrom` entry that produced them).
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
    /// `target.template.engineVersion` names an engine other than v2 (ESO's deprecated v1 engine has
    /// other functions and semantics, which kseal does not render).
    #[error(
        "template engineVersion {version:?} is not supported: kseal renders engineVersion v2 templates only (ESO's v1 engine is deprecated; rewrite the templates for v2)"
    )]
    UnsupportedEngine {
        /// The version the manifest names.
        version: String,
    },
    /// A `templateFrom` or `KeysAndValues` result is not a YAML map of strings.
    #[error("template {key}: the rendered output is not a YAML map of strings")]
    NotAMap {
        /// Which template.
        key: String,
    },
    /// A template for a label or annotation rendered bytes that are not UTF-8 text.
    #[error(
        "template {key}: the rendered output is not UTF-8 text (labels and annotations are text)"
    )]
    NotText {
        /// Which template.
        key: String,
    },
    /// A rendered value does not decode with the entry's `valuesDecodingStrategy`.
    #[error("template {key}: a rendered value is not valid {strategy} (valuesDecodingStrategy)")]
    ValueDecoding {
        /// Which template.
        key: String,
        /// The strategy, as the manifest spells it.
        strategy: &'static str,
    },
    /// A resulting key is not a valid Secret key.
    #[error("{origin}")]
    InvalidKey {
        /// Where the key came from (names it only when the manifest spells it).
        origin: KeyOrigin,
    },
    /// A label or annotation key, or a label value, is not valid in Kubernetes (checked here so
    /// that the API server never rejects it with a message quoting it).
    #[error("{origin}: {}", metadata_message(*.rendered, *.problem))]
    InvalidMetadata {
        /// What produced it: `template.metadata.labels.<key>` or `template <name>`.
        origin: String,
        /// Whether the bad text was rendered (else it is the manifest's own text, named by `origin`).
        rendered: bool,
        /// What is invalid.
        problem: MetadataProblem,
    },
    /// The annotations add up to more than Kubernetes allows.
    #[error(
        "the Secret's annotations exceed Kubernetes' limit of 256 KiB in total{}",
        largest_message(.largest.as_deref())
    )]
    AnnotationsTooLarge {
        /// `annotations.<key>` of the largest annotation, when its key is written in the manifest.
        largest: Option<String>,
    },
}

impl Error {
    /// Short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Template { .. }
            | Error::NotAMap { .. }
            | Error::NotText { .. }
            | Error::UnsupportedEngine { .. }
            | Error::ValueDecoding { .. } => "template",
            Error::InvalidKey { .. } => "invalid_key",
            Error::InvalidMetadata { .. } | Error::AnnotationsTooLarge { .. } => "invalid_metadata",
        }
    }
}

/// Where an invalid Secret key came from. Only keys the manifest spells out are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A key written in the manifest (`spec.data[].secretKey`, `template.data`, a `templateFrom`
    /// item).
    Literal {
        /// Where it is written, e.g. `data[1].secretKey` or `template.data key`.
        path: String,
        /// The key.
        key: String,
    },
    /// A key a template rendered (`KeysAndValues`, `templateFrom.literal`).
    Rendered {
        /// The template's name.
        template: String,
    },
    /// Keys read through `spec.dataFrom` (JSON members, names of found secrets, rewritten keys).
    DataFrom {
        /// The `dataFrom` entry, when there is only one.
        entry: Option<usize>,
        /// Whether that entry rewrites its keys.
        rewritten: bool,
        /// How many such keys are invalid.
        count: usize,
    },
}

const SECRET_KEY_RULE: &str =
    "letters, digits, '-', '_' and '.', at most 253 characters, not '.' nor starting with '..'";

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOrigin::Literal { path, key } => {
                write!(
                    f,
                    "{path} {key:?} is not a valid Secret key ({SECRET_KEY_RULE})"
                )
            }
            KeyOrigin::Rendered { template } => write!(
                f,
                "template {template} renders a Secret key that is not valid ({SECRET_KEY_RULE})"
            ),
            KeyOrigin::DataFrom {
                entry,
                rewritten,
                count,
            } => {
                match entry {
                    Some(entry) => write!(f, "dataFrom[{entry}]: ")?,
                    None => write!(f, "dataFrom: ")?,
                }
                let kind = if *rewritten { "rewritten key" } else { "key" };
                if *count == 1 {
                    write!(f, "a {kind} is not a valid Secret key")?;
                } else {
                    write!(f, "{count} {kind}s are not valid Secret keys")?;
                }
                write!(
                    f,
                    " ({SECRET_KEY_RULE}; a rewrite or conversionStrategy can change them)"
                )
            }
        }
    }
}

fn metadata_message(rendered: bool, problem: MetadataProblem) -> String {
    if rendered {
        format!(
            "renders {} that is not valid ({})",
            problem.what(),
            problem.rule()
        )
    } else {
        format!("not {} ({})", problem.what(), problem.rule())
    }
}

fn largest_message(largest: Option<&str>) -> String {
    largest.map_or_else(String::new, |k| format!(" (the largest is {k})"))
}

/// What is invalid about a label or annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataProblem {
    /// A label key is not a qualified name.
    LabelKey,
    /// A label value is too long or has characters labels do not allow.
    LabelValue,
    /// An annotation key is not a qualified name.
    AnnotationKey,
}

impl MetadataProblem {
    fn what(self) -> &'static str {
        match self {
            MetadataProblem::LabelKey => "a label key",
            MetadataProblem::LabelValue => "a label value",
            MetadataProblem::AnnotationKey => "an annotation key",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            MetadataProblem::LabelKey | MetadataProblem::AnnotationKey => {
                "an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' \
                 or '.', starting and ending with a letter or digit"
            }
            MetadataProblem::LabelValue => {
                "empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a \
                 letter or digit"
            }
        }
    }
}

/// Kubernetes' rules for label and annotation keys and values (apimachinery's validation).
mod k8s {
    /// Most bytes all annotations of an object may take, keys and values together.
    pub(super) const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
    fn name_part(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    }

    /// A DNS-1123 subdomain: lowercase labels of `[a-z0-9-]` joined by dots, at most 253.
    fn dns_subdomain(s: &str) -> bool {
        s.len() <= 253
            && s.split('.').all(|label| {
                let b = label.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-')
            })
    }

    /// `[prefix/]name` (apimachinery `IsQualifiedName`).
    fn qualified_name(s: &str) -> bool {
        match s.split_once('/') {
            Some((prefix, name)) => dns_subdomain(prefix) && name_part(name),
            None => name_part(s),
        }
    }

    pub(super) fn label_key(s: &str) -> bool {
        qualified_name(s)
    }

    /// Annotation keys are checked lowercased: `Example.com/Note` is fine.
    pub(super) fn annotation_key(s: &str) -> bool {
        qualified_name(&s.to_ascii_lowercase())
    }

    pub(super) fn label_value(s: &str) -> bool {
        s.is_empty() || name_part(s)
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
        /// How each rendered value is decoded.
        decoding: DecodingStrategy,
        /// The templated keys.
        items: Vec<(String, TemplateScope, String)>,
    },
    /// `literal`: renders to a YAML map.
    Literal {
        /// Where the rendered result goes.
        target: TemplateTarget,
        /// How each rendered value is decoded.
        decoding: DecodingStrategy,
        /// The template.
        template: String,
    },
}

/// The Secret to write: data, metadata, type, and the ExternalSecret that owns it. `Debug` shows the
/// data's keys only.
#[derive(Clone)]
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
    /// Finalizers of the Secret (`template.metadata.finalizers`).
    pub finalizers: Vec<String>,
}

impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desired")
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("labels", &self.labels)
            .field("annotations", &self.annotations)
            .field("type_", &self.type_)
            .field("immutable", &self.immutable)
            .field("owner", &self.owner)
            .field("finalizers", &self.finalizers)
            .finish()
    }
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
            if let Some(version) = template.engine_version.as_deref().filter(|v| *v != "v2") {
                return Err(Error::UnsupportedEngine {
                    version: version.to_owned(),
                });
            }
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

    check_keys(es, &out)?;
    for key in LAST_APPLIED_ANNOTATIONS
        .iter()
        .chain(&[ANNOTATION_FORCE_SYNC])
    {
        annotations.remove(*key);
    }
    check_metadata(es, &labels, &annotations)?;
    labels.insert(LABEL_MANAGED.to_owned(), "true".to_owned());
    if target.creation_policy == CreationPolicy::Owner {
        labels.insert(LABEL_CREATED_BY.to_owned(), created_by(es));
    }
    annotations.insert(ANNOTATION_DATA_HASH.to_owned(), data_hash(&out));
    check_annotations_size(es, template_sources, &annotations)?;

    let merge = matches!(
        target.creation_policy,
        CreationPolicy::Merge | CreationPolicy::CreateOrMerge
    );
    let finalizers = target
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .map(|m| m.finalizers.clone())
        .unwrap_or_default();
    Ok(Desired {
        name: target_name(es),
        data: out,
        labels,
        annotations,
        // Merging keeps the Secret's type unless the template names one (a created Secret is Opaque).
        type_: if merge {
            type_
        } else {
            Some(type_.unwrap_or_else(|| "Opaque".to_owned()))
        },
        finalizers,
        immutable: target.immutable,
        owner: (target.creation_policy == CreationPolicy::Owner)
            .then(|| owner_reference(es))
            .flatten(),
    })
}

/// The value of [`LABEL_CREATED_BY`] for `es`: ESO's `ObjectHash` of `namespace/name` (SHA3-224, hex).
pub fn created_by(es: &ExternalSecret) -> String {
    use sha3::Digest as _;
    let text = format!(
        "{}/{}",
        es.metadata.namespace.as_deref().unwrap_or_default(),
        es.metadata.name.as_deref().unwrap_or_default()
    );
    hex::encode(sha3::Sha3_224::digest(text.as_bytes()))
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
            finalizers: (!desired.finalizers.is_empty()).then(|| desired.finalizers.clone()),
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

/// Whether `es` is the controller (ownerReference with `controller: true`) of `secret`.
pub fn controlled_by(secret: &Secret, es: &ExternalSecret) -> bool {
    let Some(uid) = es.metadata.uid.as_deref() else {
        return false;
    };
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
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

/// Every key of the Secret is valid; a bad one is named when the manifest spells it, else told by
/// where it came from. (Keys put by `templateFrom` were checked as they were put.)
fn check_keys(es: &ExternalSecret, out: &Data) -> Result<(), Error> {
    let template_data = es.spec.target.template.as_ref().map(|t| &t.data);
    let mut from_data = 0;
    for key in out.keys().filter(|k| !valid_secret_key(k)) {
        let path = if template_data.is_some_and(|t| t.contains_key(key)) {
            Some("template.data key".to_owned())
        } else {
            es.spec
                .data
                .iter()
                .position(|d| d.secret_key == *key)
                .map(|i| format!("data[{i}].secretKey"))
        };
        match path {
            Some(path) => {
                return Err(Error::InvalidKey {
                    origin: KeyOrigin::Literal {
                        path,
                        key: key.clone(),
                    },
                });
            }
            None => from_data += 1,
        }
    }
    if from_data == 0 {
        return Ok(());
    }
    let only = match es.spec.data_from.as_slice() {
        [only] => Some(only),
        _ => None,
    };
    Err(Error::InvalidKey {
        origin: KeyOrigin::DataFrom {
            entry: only.map(|_| 0),
            rewritten: only.is_some_and(|entry| !entry.rewrite.is_empty()),
            count: from_data,
        },
    })
}

/// The labels and annotations not put by `templateFrom` (those were checked as they were put) come
/// from `template.metadata` (or, without a template, the ExternalSecret's own metadata): their keys
/// are manifest text, their values rendered.
fn check_metadata(
    es: &ExternalSecret,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let prefix = if es.spec.target.template.is_some() {
        "template.metadata"
    } else {
        "metadata"
    };
    let invalid = |field: &str, key: &str, problem, rendered| Error::InvalidMetadata {
        origin: format!("{prefix}.{field}.{key}"),
        rendered,
        problem,
    };
    for (key, value) in labels {
        if !k8s::label_key(key) {
            return Err(invalid("labels", key, MetadataProblem::LabelKey, false));
        }
        if !k8s::label_value(value) {
            return Err(invalid("labels", key, MetadataProblem::LabelValue, true));
        }
    }
    for key in annotations.keys() {
        if !k8s::annotation_key(key) {
            return Err(invalid(
                "annotations",
                key,
                MetadataProblem::AnnotationKey,
                false,
            ));
        }
    }
    Ok(())
}

/// All annotations together fit Kubernetes' limit. The largest is named when its key is manifest
/// text (a `template.metadata` key or a `templateFrom` item).
fn check_annotations_size(
    es: &ExternalSecret,
    template_sources: &[TemplateSource],
    annotations: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let size = |(k, v): (&String, &String)| k.len() + v.len();
    if annotations.iter().map(size).sum::<usize>() <= k8s::MAX_ANNOTATIONS_BYTES {
        return Ok(());
    }
    let literal = |key: &str| {
        let template = es.spec.target.template.as_ref();
        template
            .and_then(|t| t.metadata.as_ref())
            .is_some_and(|m| m.annotations.contains_key(key))
            || es
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(key))
            || template_sources.iter().any(|source| match source {
                TemplateSource::Items { items, .. } => items.iter().any(|(k, _, _)| k == key),
                TemplateSource::Literal { .. } => false,
            })
    };
    let largest = annotations
        .iter()
        .max_by_key(|&entry| size(entry))
        .map(|(key, _)| key)
        .filter(|key| literal(key))
        .map(|key| format!("annotations.{key}"));
    Err(Error::AnnotationsTooLarge { largest })
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
    // Every key and value is checked as it is put, by the template that produced it: a key equal to
    // the item's own key (the end of `origin`) is manifest text and may be named, any other key was
    // rendered from data.
    let (target, decoding) = match source {
        TemplateSource::Items {
            target, decoding, ..
        }
        | TemplateSource::Literal {
            target, decoding, ..
        } => (*target, *decoding),
    };
    let mut put = |key: String, value: Vec<u8>, origin: &str| {
        let literal_key = origin
            .strip_suffix(key.as_str())
            .is_some_and(|rest| rest.ends_with('/'));
        let value = Zeroizing::new(value);
        let value = if decoding == DecodingStrategy::None {
            value
        } else {
            crate::external_secrets::remote::decode(&value, decoding, origin).map_err(|_| {
                Error::ValueDecoding {
                    key: origin.to_owned(),
                    strategy: decoding_name(decoding),
                }
            })?
        };
        let invalid = |problem, rendered| Error::InvalidMetadata {
            origin: format!("template {origin}"),
            rendered,
            problem,
        };
        match target {
            TemplateTarget::Data => {
                if !valid_secret_key(&key) {
                    let origin = if literal_key {
                        KeyOrigin::Literal {
                            path: format!("template {origin}: key"),
                            key,
                        }
                    } else {
                        KeyOrigin::Rendered {
                            template: origin.to_owned(),
                        }
                    };
                    return Err(Error::InvalidKey { origin });
                }
                data.insert(key, value);
            }
            TemplateTarget::Labels | TemplateTarget::Annotations => {
                let value = String::from_utf8(value.to_vec()).map_err(|_| Error::NotText {
                    key: origin.to_owned(),
                })?;
                let map = if target == TemplateTarget::Labels {
                    if !k8s::label_key(&key) {
                        return Err(invalid(MetadataProblem::LabelKey, !literal_key));
                    }
                    if !k8s::label_value(&value) {
                        return Err(invalid(MetadataProblem::LabelValue, true));
                    }
                    &mut *labels
                } else {
                    if !k8s::annotation_key(&key) {
                        return Err(invalid(MetadataProblem::AnnotationKey, !literal_key));
                    }
                    &mut *annotations
                };
                map.insert(key, value);
            }
        }
        Ok::<(), Error>(())
    };
    match source {
        TemplateSource::Items { origin, items, .. } => {
            for (key, scope, template) in items {
                let name = format!("{origin}/{key}");
                let out = renderer
                    .render(&name, template)
                    .map_err(|source| Error::Template {
                        key: name.clone(),
                        source,
                    })?;
                match scope {
                    TemplateScope::Values => put(key.clone(), out, &name)?,
                    TemplateScope::KeysAndValues => {
                        for (k, v) in yaml_map(&name, &out)? {
                            put(k, v.into_bytes(), &name)?;
                        }
                    }
                }
            }
        }
        TemplateSource::Literal { template, .. } => {
            let name = "templateFrom.literal".to_owned();
            let out = renderer
                .render(&name, template)
                .map_err(|source| Error::Template {
                    key: name.clone(),
                    source,
                })?;
            for (k, v) in yaml_map(&name, &out)? {
                put(k, v.into_bytes(), &name)?;
            }
        }
    }
    Ok(())
}

/// A decoding strategy as manifests spell it.
fn decoding_name(decoding: DecodingStrategy) -> &'static str {
    match decoding {
        DecodingStrategy::None => "None",
        DecodingStrategy::Base64 => "Base64",
        DecodingStrategy::Base64Url => "Base64URL",
        DecodingStrategy::Auto => "Auto",
    }
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
                decoding: DecodingStrategy::None,
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
                decoding: DecodingStrategy::None,
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
    fn kubernetes_label_and_annotation_rules() {
        for ok in ["", "a", "A-b_c.9", &"v".repeat(63)] {
            assert!(k8s::label_value(ok), "{ok:?}");
        }
        for bad in ["-a", "a-", "a b", "a/b", "é", &"v".repeat(64)] {
            assert!(!k8s::label_value(bad), "{bad:?}");
        }
        let prefix = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(prefix.len(), 253);
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "x-1.y/Z_z",
            &format!("{prefix}/n"),
            &"k".repeat(63),
        ] {
            assert!(k8s::label_key(ok), "{ok:?}");
        }
        for bad in [
            "",
            "/x",
            "x/",
            "a/b/c",
            "App.io/x",
            "a_b.io/x",
            ".io/x",
            &format!("{prefix}x/n"),
            &"k".repeat(64),
        ] {
            assert!(!k8s::label_key(bad), "{bad:?}");
        }
        assert!(k8s::annotation_key("Example.COM/Note"));
        assert!(!k8s::annotation_key("a b"));
    }

    #[test]
    fn annotations_may_fill_exactly_256_kib() {
        let with_note = |len: usize| {
            let template = ExternalSecretTemplate {
                metadata: Some(TemplateMetadata {
                    annotations: [("note".to_owned(), "n".repeat(len))].into(),
                    ..TemplateMetadata::default()
                }),
                ..ExternalSecretTemplate::default()
            };
            desired_secret(&es(Some(template)), data(&[]), &[])
        };
        // The data hash annotation takes its key and 32 hex digits.
        let hash = ANNOTATION_DATA_HASH.len() + 32;
        let fits = k8s::MAX_ANNOTATIONS_BYTES - hash - "note".len();
        assert!(with_note(fits).is_ok());
        let e = with_note(fits + 1).unwrap_err();
        assert_eq!(e.reason(), "invalid_metadata");
        assert_eq!(
            e.to_string(),
            "the Secret's annotations exceed Kubernetes' limit of 256 KiB in total (the largest \
             is annotations.note)"
        );
    }

    #[test]
    fn template_from_items_name_their_own_keys() {
        let template = ExternalSecretTemplate {
            template_from: vec![Default::default()],
            ..ExternalSecretTemplate::default()
        };
        let items = |target, key: &str, scope, text: &str| {
            [TemplateSource::Items {
                origin: "configmap/tpl".into(),
                target,
                decoding: DecodingStrategy::None,
                items: vec![(key.into(), scope, text.into())],
            }]
        };
        let run = |sources: &[TemplateSource]| {
            desired_secret(&es(Some(template.clone())), data(&[("a", "x y")]), sources)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            run(&items(
                TemplateTarget::Data,
                "bad/key",
                TemplateScope::Values,
                "v"
            )),
            format!(
                "template configmap/tpl/bad/key: key \"bad/key\" is not a valid Secret key \
                 ({SECRET_KEY_RULE})"
            )
        );
        assert_eq!(
            run(&items(
                TemplateTarget::Labels,
                "tier",
                TemplateScope::Values,
                "{{ .a }}"
            )),
            format!(
                "template configmap/tpl/tier: renders a label value that is not valid ({})",
                MetadataProblem::LabelValue.rule()
            )
        );
        assert_eq!(
            run(&items(
                TemplateTarget::Annotations,
                "Bad Key",
                TemplateScope::Values,
                "v"
            )),
            format!(
                "template configmap/tpl/Bad Key: not an annotation key ({})",
                MetadataProblem::AnnotationKey.rule()
            )
        );
        let rendered = run(&items(
            TemplateTarget::Labels,
            "kv",
            TemplateScope::KeysAndValues,
            "{{ .a }}: v",
        ));
        assert!(
            rendered
                .starts_with("template configmap/tpl/kv: renders a label key that is not valid"),
            "{rendered}"
        );
        let binary = desired_secret(
            &es(Some(template.clone())),
            [("a".to_owned(), Zeroizing::new(vec![0xff, 0xfe]))].into(),
            &items(
                TemplateTarget::Labels,
                "tier",
                TemplateScope::Values,
                "{{ .a }}",
            ),
        )
        .unwrap_err();
        assert!(matches!(binary, Error::NotText { .. }), "{binary:?}");
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
