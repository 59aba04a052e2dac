//! SealedSecret → Secret: what the controller writes and what `--recovery-unseal` prints.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kseal_api::{SealedSecret, annotations};
use kseal_crypto::{PrivateKey, label, open_base64, open_with_any};
use kseal_template::{Flavour, Renderer};
use zeroize::{Zeroize as _, Zeroizing};

use crate::manifest::{Document, PlainSecret};
use crate::seal::scope_of;
use crate::{Error, Result};

/// The Secret a SealedSecret describes, with the keys that opened it. The values are wiped from memory
/// when it is dropped, and `Debug` shows their keys only.
#[derive(Clone, Default)]
pub struct Unsealed {
    /// The Secret's metadata (name, namespace, labels, annotations, ownerReference).
    pub metadata: ObjectMeta,
    /// `type`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// The values, decrypted and rendered.
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// Fingerprints of the private keys that opened at least one value.
    pub keys_used: BTreeSet<String>,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("metadata", &self.metadata)
            .field("type_", &self.type_)
            .field("immutable", &self.immutable)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("keys_used", &self.keys_used)
            .finish()
    }
}

impl Unsealed {
    /// The Secret as a Kubernetes object, for printing (`--recovery-unseal`): its values are copied into
    /// plain buffers that are not wiped.
    pub fn to_secret(&self) -> Secret {
        Secret {
            metadata: self.metadata.clone(),
            type_: self.type_.clone(),
            immutable: self.immutable,
            data: Some(
                self.data
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    /// The body to apply: the values are serialized from their zeroizing buffers.
    pub fn body(&self) -> kseal_api::secret_apply::SecretBody<'_> {
        kseal_api::secret_apply::SecretBody {
            metadata: &self.metadata,
            type_: self.type_.as_deref(),
            immutable: self.immutable,
            data: &self.data,
        }
    }
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
    let mut data: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();

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
        data.extend(secret.data);
    } else {
        let mut failures = Vec::new();
        for (key, value) in &sealed.spec.encrypted_data {
            match open_base64(keys.iter().copied(), &label, value) {
                Ok((plain, used)) => {
                    keys_used.insert(used.fingerprint().to_owned());
                    data.insert(key.clone(), plain);
                }
                Err(error) => failures.push((key.clone(), error)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::Keys { object, failures });
        }
    }

    if let Some(templates) = template.data.as_ref().filter(|t| !t.is_empty()) {
        // As sealed-secrets (v0.37 and later) does it: the templates see the decrypted values and, for
        // keys that have none, the other templates' own text; a decrypted value wins over a template
        // of the same key. One renderer for the whole object: its templates share one budget.
        let mut context: BTreeMap<String, &[u8]> = data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_slice()))
            .collect();
        for (key, text) in templates {
            context.entry(key.clone()).or_insert(text.as_bytes());
        }
        let rendered = Renderer::with_flavour(&context, Flavour::SealedSecrets)
            .render_map(templates)
            .map_err(|source| Error::Template {
                object: object.clone(),
                source,
            })?;
        drop(context);
        for (key, mut value) in rendered {
            match data.entry(key) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(Zeroizing::new(value));
                }
                std::collections::btree_map::Entry::Occupied(_) => value.zeroize(),
            }
        }
    }

    metadata.name = Some(name.to_owned());
    metadata.namespace = (!namespace.is_empty()).then(|| namespace.to_owned());
    metadata.owner_references = owner_reference(sealed, &metadata).map(|r| vec![r]);
    for server_set in [&mut metadata.uid, &mut metadata.resource_version] {
        *server_set = None;
    }
    metadata.managed_fields = None;
    metadata.creation_timestamp = None;

    Ok(Unsealed {
        metadata,
        type_,
        immutable,
        data,
        keys_used,
    })
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

/// Every sealed value of a SealedSecret, opened but not rendered: what the controller's `/v1/verify`
/// checks and `/v1/rotate` seals again.
#[derive(Default)]
pub struct Opened {
    /// The plaintext of each value of `spec.encryptedData`, by key.
    pub encrypted_data: BTreeMap<String, kseal_crypto::Plaintext>,
    /// The plaintext of the deprecated `spec.data` (a whole Secret as JSON), when the object has it.
    pub data: Option<kseal_crypto::Plaintext>,
    /// Fingerprints of the private keys that opened at least one value.
    pub keys_used: BTreeSet<String>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the plaintexts.
        f.debug_struct("Opened")
            .field("keys", &self.encrypted_data.keys().collect::<Vec<_>>())
            .field("data", &self.data.as_ref().map(|_| "<opened>"))
            .field("keys_used", &self.keys_used)
            .finish()
    }
}

/// Why [`open_all`] did not open a SealedSecret.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A value does not open with the keys, or the object is malformed (names the object and key, never
    /// a value).
    #[error(transparent)]
    Failed(#[from] Error),
    /// Opening it would take more RSA private-key operations than allowed.
    #[error("opening it takes more than {0} RSA private-key operations")]
    TooCostly(u64),
}

/// What [`open_all`] found, and what it cost.
#[derive(Debug)]
pub struct Opening {
    /// The opened values, or why they did not open.
    pub result: std::result::Result<Opened, OpenError>,
    /// RSA private-key operations run: one per key tried on each value, also when it failed.
    pub rsa_operations: u64,
}

/// Opens every value of `sealed` (`spec.encryptedData`, or the deprecated `spec.data`, which must hold a
/// Secret) with `keys`, without rendering `spec.template`: templates are not covered by the encryption,
/// so whoever posts a SealedSecret chooses them, and a rendered template could show a value in its error.
///
/// Keys are tried in the given order (put the likely one first), except that a key that opened a value
/// is tried first on the following ones. The first value that does not open ends the search: the
/// answer is the same, and a request made of values no key opens costs one try per key, not per value
/// and key. At most `max_rsa_operations` RSA operations are run; [`OpenError::TooCostly`] past that.
pub fn open_all(sealed: &SealedSecret, keys: &[&PrivateKey], max_rsa_operations: u64) -> Opening {
    let mut operations = 0;
    let result = open_counted(sealed, keys, max_rsa_operations, &mut operations);
    Opening {
        result,
        rsa_operations: operations,
    }
}

fn open_counted(
    sealed: &SealedSecret,
    keys: &[&PrivateKey],
    max_rsa_operations: u64,
    operations: &mut u64,
) -> std::result::Result<Opened, OpenError> {
    use base64::Engine as _;

    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let object = format!("{namespace}/{name}");
    let label = label(scope_of(&sealed.metadata), namespace, name);
    if sealed.spec.data.is_some() && !sealed.spec.encrypted_data.is_empty() {
        return Err(Error::Invalid {
            document: format!("SealedSecret {object}"),
            message: "cannot use encryptedData and the deprecated data field together".into(),
        }
        .into());
    }

    // Keys that opened a value come first, in the order they did; `used` of them are at the front.
    let mut order: Vec<&PrivateKey> = keys.to_vec();
    let mut used = 0;
    let mut keys_used = BTreeSet::new();
    let mut open = |key: &str, ciphertext: &[u8]| {
        let over_budget = std::cell::Cell::new(false);
        let counted = order.iter().copied().take_while(|_| {
            if *operations >= max_rsa_operations {
                over_budget.set(true);
                return false;
            }
            *operations += 1;
            true
        });
        match open_with_any(counted, &label, ciphertext) {
            Ok((plain, opener)) => {
                let fingerprint = opener.fingerprint();
                if let Some(position) = order.iter().position(|k| k.fingerprint() == fingerprint)
                    && position >= used
                {
                    let opener = order.remove(position);
                    order.insert(used, opener);
                    used += 1;
                }
                keys_used.insert(fingerprint.to_owned());
                Ok(plain)
            }
            Err(_) if over_budget.get() => Err(OpenError::TooCostly(max_rsa_operations)),
            Err(source) => Err(OpenError::Failed(Error::Crypto {
                object: object.clone(),
                key: key.to_owned(),
                source,
            })),
        }
    };
    let decode = |key: &str, value: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| Error::Crypto {
                object: object.clone(),
                key: key.to_owned(),
                source: kseal_crypto::Error::InvalidBase64(e),
            })
    };

    let mut encrypted_data = BTreeMap::new();
    for (key, value) in &sealed.spec.encrypted_data {
        let ciphertext = decode(key, value)?;
        encrypted_data.insert(key.clone(), open(key, &ciphertext)?);
    }
    let data = match &sealed.spec.data {
        Some(blob) => {
            let plain = open("data", &decode("data", blob)?)?;
            let value = serde_json::from_slice(&plain).map_err(|_| Error::Invalid {
                document: format!("SealedSecret {object}"),
                message: "the deprecated data field does not hold a JSON Secret".into(),
            })?;
            PlainSecret::from_document(&Document { position: 1, value })?;
            Some(plain)
        }
        None => None,
    };
    Ok(Opened {
        encrypted_data,
        data,
        keys_used,
    })
}
