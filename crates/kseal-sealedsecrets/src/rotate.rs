//! Re-encryption (`POST /v1/rotate`, `kseal --re-encrypt`): every value, opened with the controller's keys
//! by [`kseal_core::unseal::open_all`], sealed again with the newest one under the same scope label.
//! Everything else is kept.

use std::collections::BTreeMap;

use kseal_api::SealedSecret;
use kseal_core::seal::scope_of;
use kseal_core::unseal::Opened;
use kseal_crypto::{PublicKey, label, seal_base64};

/// `sealed` with each value (and the deprecated `spec.data` blob) re-sealed for `to`; `opened` is what
/// [`kseal_core::unseal::open_all`] opened of `sealed`. Sealing uses only the public key.
pub fn reencrypt(
    sealed: &SealedSecret,
    opened: &Opened,
    to: &PublicKey,
) -> kseal_core::Result<SealedSecret> {
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let label = label(scope_of(&sealed.metadata), namespace, name);
    let reseal = |key: &str, plain: &[u8]| {
        seal_base64(to, &label, plain).map_err(|source| kseal_core::Error::Crypto {
            object: format!("{namespace}/{name}"),
            key: key.to_owned(),
            source,
        })
    };

    let mut encrypted_data = BTreeMap::new();
    for (key, plain) in &opened.encrypted_data {
        encrypted_data.insert(key.clone(), reseal(key, plain)?);
    }
    let data = match &opened.data {
        Some(blob) => Some(reseal("data", blob)?),
        None => None,
    };

    let mut rotated = sealed.clone();
    rotated.spec.encrypted_data = encrypted_data;
    rotated.spec.data = data;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use kseal_core::unseal::open_all;
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

        let opened = open_all(&sealed, &[old.private_key()], 10).result.unwrap();
        let rotated = reencrypt(&sealed, &opened, new.certificate().public_key()).unwrap();
        assert_ne!(
            rotated.spec.encrypted_data["k"],
            sealed.spec.encrypted_data["k"]
        );
        let opened = kseal_core::unseal(&rotated, &[new.private_key()]).unwrap();
        assert_eq!(opened.data["k"].as_slice(), b"value");
        assert!(kseal_core::unseal(&rotated, &[old.private_key()]).is_err());
        // Everything but the values is kept.
        assert_eq!(rotated.metadata, sealed.metadata);
        assert_eq!(rotated.spec.template, sealed.spec.template);
    }
}
