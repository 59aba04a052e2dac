//! Re-encryption (`POST /v1/rotate`, `kseal --re-encrypt`): every value opened with the controller's keys
//! and sealed again with the newest one, under the same scope label. Everything else is kept.

use std::collections::BTreeMap;

use kseal_api::SealedSecret;
use kseal_core::seal::scope_of;
use kseal_crypto::{PrivateKey, PublicKey, label, open_base64, seal_base64};

/// `sealed` with each value (and the deprecated `spec.data` blob) re-sealed for `to`.
pub fn reencrypt(
    sealed: &SealedSecret,
    keys: &[&PrivateKey],
    to: &PublicKey,
) -> kseal_core::Result<SealedSecret> {
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let object = format!("{namespace}/{name}");
    let label = label(scope_of(&sealed.metadata), namespace, name);
    let reseal = |value: &str| {
        let (plain, _) = open_base64(keys.iter().copied(), &label, value)?;
        seal_base64(to, &label, &plain)
    };

    let mut encrypted_data = BTreeMap::new();
    let mut failures = Vec::new();
    for (key, value) in &sealed.spec.encrypted_data {
        match reseal(value) {
            Ok(resealed) => {
                encrypted_data.insert(key.clone(), resealed);
            }
            Err(error) => failures.push((key.clone(), error)),
        }
    }
    if !failures.is_empty() {
        return Err(kseal_core::Error::Keys { object, failures });
    }
    let data = match &sealed.spec.data {
        Some(blob) => Some(reseal(blob).map_err(|source| kseal_core::Error::Crypto {
            object,
            key: "data".into(),
            source,
        })?),
        None => None,
    };

    let mut rotated = sealed.clone();
    rotated.spec.encrypted_data = encrypted_data;
    rotated.spec.data = data;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use kseal_core::{PlainSecret, SealOptions, seal_secret};
    use kseal_crypto::{KeyOptions, KeyPair};

    use super::*;

    fn pair() -> KeyPair {
        KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..KeyOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn rotated_values_open_with_the_new_key_only() {
        let (old, new) = (pair(), pair());
        let mut secret = PlainSecret::default();
        secret.metadata.name = Some("s".into());
        secret.metadata.namespace = Some("ns".into());
        secret.data.insert("k".into(), b"value".to_vec().into());
        let options = SealOptions {
            key: old.certificate().public_key(),
            scope: None,
            allow_empty_data: false,
            default_namespace: "ns".into(),
            namespace: None,
            name: None,
        };
        let sealed = seal_secret(secret, &options).unwrap();

        let rotated = reencrypt(
            &sealed,
            &[old.private_key()],
            new.certificate().public_key(),
        )
        .unwrap();
        assert_ne!(
            rotated.spec.encrypted_data["k"],
            sealed.spec.encrypted_data["k"]
        );
        let opened = kseal_core::unseal(&rotated, &[new.private_key()]).unwrap();
        assert_eq!(opened.secret.data.unwrap()["k"].0, b"value");
        assert!(kseal_core::unseal(&rotated, &[old.private_key()]).is_err());

        // A value no key opens is named, never shown.
        let error = reencrypt(
            &rotated,
            &[old.private_key()],
            new.certificate().public_key(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("key k"), "{error}");
    }
}
