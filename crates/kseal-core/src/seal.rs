//! Secret → SealedSecret, as `kubeseal` builds it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_api::{SealedSecret, SealedSecretSpec, SecretTemplateSpec, annotations};
use kseal_crypto::{PublicKey, Scope, label, seal_base64};

use crate::manifest::{LAST_APPLIED_ANNOTATIONS, PlainSecret};
use crate::{Error, Result};

/// How to seal one Secret.
#[derive(Debug, Clone)]
pub struct SealOptions<'a> {
    /// The controller's public key.
    pub key: &'a PublicKey,
    /// `--scope`; `None` keeps the scope the Secret's own annotations select.
    pub scope: Option<Scope>,
    /// Seal a Secret without values.
    pub allow_empty_data: bool,
    /// Namespace for a Secret that declares none (kubeconfig context, else `default`).
    pub default_namespace: String,
    /// `-n`: must agree with the Secret's namespace unless cluster-wide.
    pub namespace: Option<String>,
    /// Forced name (used by `--merge-into`).
    pub name: Option<String>,
}

/// Seals every value of `secret` into a SealedSecret.
///
/// Metadata follows kubeseal: the SealedSecret carries name, namespace and the scope annotation (plus
/// kseal's key hint); the Secret's labels, annotations, type and immutability go into `spec.template`.
pub fn seal_secret(mut secret: PlainSecret, options: &SealOptions<'_>) -> Result<SealedSecret> {
    if secret.data.is_empty() && !options.allow_empty_data {
        return Err(Error::EmptyData {
            object: secret.object_name(),
        });
    }
    if let Some(name) = &options.name {
        secret.metadata.name = Some(name.clone());
    }
    let name = match secret.metadata.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => return Err(Error::MissingName),
    };
    if let Some(scope) = options.scope {
        set_scope_annotations(&mut secret.metadata.annotations, scope);
    }
    let scope = scope_of(&secret.metadata);

    let declared = secret
        .metadata
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty());
    let namespace = match (
        declared,
        options.namespace.clone().filter(|ns| !ns.is_empty()),
    ) {
        // Cluster-wide, the namespace is only what the Secret declares (kubeseal reads neither -n nor
        // the kubeconfig for it): the label does not include it.
        (declared, _) if scope == Scope::ClusterWide => declared,
        (Some(declared), Some(flag)) if declared != flag => {
            return Err(Error::Invalid {
                document: format!("Secret {declared}/{name}"),
                message: format!(
                    "its namespace {declared:?} contradicts --namespace {flag:?}; remove one of them"
                ),
            });
        }
        (_, Some(flag)) => Some(flag),
        (Some(declared), None) => Some(declared),
        (None, None) => Some(options.default_namespace.clone()),
    };
    secret.metadata.namespace = namespace.clone();
    let namespace = namespace.unwrap_or_default();

    let label = label(scope, &namespace, &name);
    let object = format!("{namespace}/{name}");
    let mut encrypted_data = BTreeMap::new();
    for (key, value) in &secret.data {
        let sealed = seal_base64(options.key, &label, value).map_err(|source| Error::Crypto {
            object: object.clone(),
            key: key.clone(),
            source,
        })?;
        encrypted_data.insert(key.clone(), sealed);
    }

    let mut sealed_annotations = BTreeMap::new();
    if let Some(annotation) = scope.annotation() {
        sealed_annotations.insert(annotation.to_owned(), "true".to_owned());
    }
    sealed_annotations.insert(
        annotations::KEY_HINT.to_owned(),
        options.key.fingerprint().to_owned(),
    );

    let mut sealed = SealedSecret::new(
        &name,
        SealedSecretSpec {
            template: Some(SecretTemplateSpec {
                metadata: Some(template_metadata(secret.metadata)),
                type_: secret.type_,
                immutable: secret.immutable,
                data: None,
            }),
            encrypted_data,
            data: None,
        },
    );
    sealed.metadata.namespace = (!namespace.is_empty()).then_some(namespace);
    sealed.metadata.annotations = Some(sealed_annotations);
    Ok(sealed)
}

/// The scope that an object's own annotations select.
pub fn scope_of(metadata: &ObjectMeta) -> Scope {
    let annotations = metadata.annotations.as_ref();
    Scope::from_annotations(|key| annotations.and_then(|a| a.get(key)).map(String::as_str))
}

/// Rewrites the scope annotations so that they select `scope`.
pub fn set_scope_annotations(annotations: &mut Option<BTreeMap<String, String>>, scope: Scope) {
    let map = annotations.get_or_insert_with(BTreeMap::new);
    for s in Scope::ALL {
        if let Some(key) = s.annotation() {
            map.remove(key);
        }
    }
    if let Some(key) = scope.annotation() {
        map.insert(key.to_owned(), "true".to_owned());
    }
    if map.is_empty() {
        *annotations = None;
    }
}

/// The Secret's metadata minus what the server sets and what would leak values.
fn template_metadata(mut meta: ObjectMeta) -> ObjectMeta {
    if let Some(annotations) = meta.annotations.as_mut() {
        for key in LAST_APPLIED_ANNOTATIONS {
            annotations.remove(key);
        }
    }
    if meta.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
        meta.annotations = None;
    }
    ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        labels: meta.labels,
        annotations: meta.annotations,
        finalizers: meta.finalizers,
        generate_name: meta.generate_name,
        ..ObjectMeta::default()
    }
}
