//! SealedSecret → Secret: what the controller writes and what `--recovery-unseal` prints.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kseal_api::{SealedSecret, annotations};
use kseal_crypto::{PrivateKey, label, open_base64, open_with_any};
use kseal_template::Renderer;

use crate::manifest::{Document, PlainSecret};
use crate::seal::scope_of;
use crate::{Error, Result};

/// The Secret a SealedSecret describes, with the keys that opened it.
#[derive(Debug, Clone)]
pub struct Unsealed {
    /// The Secret to write.
    pub secret: Secret,
    /// Fingerprints of the private keys that opened at least one value.
    pub keys_used: BTreeSet<String>,
}

/// Unseals `sealed` with `keys`, tried in the given order for every value (put the likely key first).
///
/// The scope label comes from the SealedSecret's own top-level metadata, never from its template, so a
/// strict SealedSecret moved or renamed does not open. Every failing key is reported; no partial Secret.
pub fn unseal(sealed: &SealedSecret, keys: &[&PrivateKey]) -> Result<Unsealed> {
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let object = format!("{namespace}/{name}");
    let label = label(scope_of(&sealed.metadata), namespace, name);
    let template = sealed.spec.template.clone().unwrap_or_default();

    let mut keys_used = BTreeSet::new();
    let mut metadata = template.metadata.unwrap_or_default();
    let mut type_ = template.type_;
    let mut immutable = template.immutable;
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    if let Some(blob) = &sealed.spec.data {
        if !sealed.spec.encrypted_data.is_empty() {
            return Err(Error::Invalid {
                document: format!("SealedSecret {object}"),
                message: "cannot use encryptedData and the deprecated data field together".into(),
            });
        }
        let legacy = open_legacy(keys, &label, blob, &object)?;
        keys_used.insert(legacy.1);
        let secret = legacy.0;
        metadata.labels = secret.metadata.labels;
        metadata.annotations = secret.metadata.annotations;
        type_ = secret.type_.or(type_);
        immutable = secret.immutable.or(immutable);
        data.extend(secret.data.into_iter().map(|(k, v)| (k, v.to_vec())));
    } else {
        let mut failures = Vec::new();
        for (key, value) in &sealed.spec.encrypted_data {
            match open_base64(keys.iter().copied(), &label, value) {
                Ok((plain, used)) => {
                    keys_used.insert(used.fingerprint().to_owned());
                    data.insert(key.clone(), plain.to_vec());
                }
                Err(error) => failures.push((key.clone(), error)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::Keys { object, failures });
        }
    }

    if let Some(templates) = template.data.as_ref().filter(|t| !t.is_empty()) {
        // One renderer for the whole object: its templates share one budget.
        let rendered = Renderer::new(&data)
            .render_map(templates)
            .map_err(|source| Error::Template {
                object: object.clone(),
                source,
            })?;
        data.extend(rendered);
    }

    metadata.name = Some(name.to_owned());
    metadata.namespace = (!namespace.is_empty()).then(|| namespace.to_owned());
    metadata.owner_references = owner_reference(sealed, &metadata).map(|r| vec![r]);
    for server_set in [&mut metadata.uid, &mut metadata.resource_version] {
        *server_set = None;
    }
    metadata.managed_fields = None;
    metadata.creation_timestamp = None;

    let secret = Secret {
        metadata,
        type_,
        immutable,
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    };
    Ok(Unsealed { secret, keys_used })
}

/// The deprecated single-blob format: the whole Secret as JSON, sealed as one value.
fn open_legacy(
    keys: &[&PrivateKey],
    label: &[u8],
    blob: &str,
    object: &str,
) -> Result<(PlainSecret, String)> {
    use base64::Engine as _;
    let crypto = |source| Error::Crypto {
        object: object.to_owned(),
        key: "data".into(),
        source,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob.trim())
        .map_err(|e| crypto(kseal_crypto::Error::InvalidBase64(e)))?;
    let (plain, used) = open_with_any(keys.iter().copied(), label, &bytes).map_err(crypto)?;
    let value = serde_json::from_slice(&plain).map_err(|_| Error::Invalid {
        document: format!("SealedSecret {object}"),
        message: "the deprecated data field does not hold a JSON Secret".into(),
    })?;
    let secret = PlainSecret::from_document(&Document { position: 1, value })?;
    Ok((secret, used.fingerprint().to_owned()))
}

/// The controller ownerReference to the SealedSecret, unless the template opts out or the object has no UID
/// (offline recovery).
fn owner_reference(sealed: &SealedSecret, metadata: &ObjectMeta) -> Option<OwnerReference> {
    let skip = metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::SKIP_SET_OWNER_REFERENCES))
        .is_some_and(|v| v == "true");
    if skip {
        return None;
    }
    Some(OwnerReference {
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        name: sealed.metadata.name.clone()?,
        uid: sealed.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}
