//! The envelope format against the scope rules and against an independent implementation
//! (the pure-Rust `rsa` + `aes-gcm` crates).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use kseal_crypto::{
    Certificate, Error, KeyOptions, KeyPair, PrivateKey, Scope, label, open, open_base64,
    open_with_any, seal, seal_base64,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, PrivateKey as RsaPrivateKey};

fn key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..Default::default()
        })
        .unwrap()
    })
}

fn other_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..Default::default()
        })
        .unwrap()
    })
}

fn seal_for(scope: Scope, namespace: &str, name: &str, value: &[u8]) -> Vec<u8> {
    let key = key_pair().certificate().public_key();
    seal(key, &label(scope, namespace, name), value).unwrap()
}

fn open_as(scope: Scope, namespace: &str, name: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    open(
        key_pair().private_key(),
        &label(scope, namespace, name),
        sealed,
    )
    .map(|p| p.to_vec())
}

#[test]
fn round_trip_in_every_scope() {
    for scope in Scope::ALL {
        let sealed = seal_for(scope, "production", "myapp-secret", b"s3cret\x00\xff");
        assert_eq!(
            open_as(scope, "production", "myapp-secret", &sealed).unwrap(),
            b"s3cret\x00\xff"
        );
    }
}

#[test]
fn strict_value_renamed_or_moved_does_not_open() {
    let sealed = seal_for(Scope::Strict, "production", "myapp-secret", b"v");
    let renamed = open_as(Scope::Strict, "production", "other-name", &sealed);
    assert!(matches!(renamed, Err(Error::NoMatchingKey)), "{renamed:?}");
    let moved = open_as(Scope::Strict, "staging", "myapp-secret", &sealed);
    assert!(matches!(moved, Err(Error::NoMatchingKey)), "{moved:?}");
    // Switching the scope annotation does not help either.
    assert!(open_as(Scope::ClusterWide, "production", "myapp-secret", &sealed).is_err());
    assert!(open_as(Scope::NamespaceWide, "production", "myapp-secret", &sealed).is_err());
}

#[test]
fn namespace_wide_value_opens_under_any_name_but_not_elsewhere() {
    let sealed = seal_for(Scope::NamespaceWide, "production", "a", b"v");
    assert_eq!(
        open_as(Scope::NamespaceWide, "production", "b", &sealed).unwrap(),
        b"v"
    );
    assert!(matches!(
        open_as(Scope::NamespaceWide, "staging", "a", &sealed),
        Err(Error::NoMatchingKey)
    ));
}

#[test]
fn cluster_wide_value_opens_anywhere() {
    let sealed = seal_for(Scope::ClusterWide, "production", "a", b"v");
    for (ns, name) in [("production", "a"), ("staging", "b"), ("", "")] {
        assert_eq!(
            open_as(Scope::ClusterWide, ns, name, &sealed).unwrap(),
            b"v"
        );
    }
}

#[test]
fn envelope_layout_matches_the_format() {
    let sealed = seal_for(Scope::Strict, "ns", "n", b"hello");
    let rsa_len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    assert_eq!(rsa_len, 256, "2048-bit key");
    assert_eq!(
        sealed.len(),
        2 + rsa_len + 5 + 16,
        "RSA part, value, 16-byte tag"
    );
    // Two seals of the same value differ (fresh session key each time).
    assert_ne!(sealed, seal_for(Scope::Strict, "ns", "n", b"hello"));
}

#[test]
fn rsa_4096_values_start_with_ag() {
    let pair = KeyPair::generate(&KeyOptions::default()).unwrap();
    assert_eq!(pair.certificate().public_key().bits(), 4096);
    let text = seal_base64(pair.certificate().public_key(), b"ns/n", b"x").unwrap();
    assert!(text.starts_with("Ag"), "{text}");
    let (plain, used) = open_base64([pair.private_key()], b"ns/n", &text).unwrap();
    assert_eq!(&plain[..], b"x");
    assert_eq!(used.fingerprint(), pair.private_key().fingerprint());
}

#[test]
fn open_with_any_tries_every_key_and_reports_which() {
    let sealed = seal_for(Scope::Strict, "ns", "n", b"v");
    let keys = [other_key().private_key(), key_pair().private_key()];
    let (plain, used) = open_with_any(keys, b"ns/n", &sealed).unwrap();
    assert_eq!(&plain[..], b"v");
    assert_eq!(used.fingerprint(), key_pair().private_key().fingerprint());
    let wrong = open_with_any([other_key().private_key()], b"ns/n", &sealed);
    assert!(matches!(wrong, Err(Error::NoMatchingKey)));
}

#[test]
fn truncated_and_corrupted_ciphertexts_are_errors() {
    let sealed = seal_for(Scope::Strict, "ns", "n", b"value");
    for cut in [0, 1, 2, 100, 2 + 256, 2 + 256 + 15] {
        let err = open_as(Scope::Strict, "ns", "n", &sealed[..cut]).unwrap_err();
        assert!(matches!(err, Error::Truncated(_)), "cut at {cut}: {err:?}");
    }
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(matches!(
        open_as(Scope::Strict, "ns", "n", &flipped),
        Err(Error::Corrupted)
    ));
    let mut rsa_flipped = sealed;
    rsa_flipped[10] ^= 1;
    assert!(matches!(
        open_as(Scope::Strict, "ns", "n", &rsa_flipped),
        Err(Error::NoMatchingKey)
    ));
    let bad = open_base64([key_pair().private_key()], b"ns/n", "not base64!");
    assert!(matches!(bad, Err(Error::InvalidBase64(_))));
}

/// kseal opens what aws-lc-rs's own primitives sealed (kseal seals with the `rsa` crate, so this is the
/// other direction of the cross-check).
#[test]
fn kseal_opens_what_aws_lc_rs_primitives_sealed() {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as AwsNonce, UnboundKey};
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};

    let public =
        PublicEncryptingKey::from_der(key_pair().certificate().public_key().spki_der()).unwrap();
    let oaep = OaepPublicEncryptingKey::new(public).unwrap();
    let session_key = [42u8; 32];
    let mut rsa_part = vec![0u8; oaep.ciphertext_size()];
    oaep.encrypt(
        &OAEP_SHA256_MGF1SHA256,
        &session_key,
        &mut rsa_part,
        Some(b"team-a/api"),
    )
    .unwrap();
    let mut aes_part = b"from aws-lc-rs".to_vec();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &session_key).unwrap())
        .seal_in_place_append_tag(
            AwsNonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut aes_part,
        )
        .unwrap();
    let mut sealed = (rsa_part.len() as u16).to_be_bytes().to_vec();
    sealed.extend(rsa_part);
    sealed.extend(aes_part);
    assert_eq!(
        open_as(Scope::Strict, "team-a", "api", &sealed).unwrap(),
        b"from aws-lc-rs"
    );
}

/// Independent implementation: kseal seals, `rsa` + `aes-gcm` open.
#[test]
fn the_rsa_crate_opens_what_kseal_sealed() {
    let pem = key_pair().private_key_pem().unwrap();
    let private = RsaPrivateKey::from_pkcs1_pem_compat(&pem);
    let sealed = seal_for(Scope::NamespaceWide, "team-a", "ignored", b"from kseal");
    let rsa_len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    let session_key = private
        .decrypt(
            Oaep::<sha2::Sha256>::new_with_label(&b"team-a"[..]),
            &sealed[2..2 + rsa_len],
        )
        .unwrap();
    let plain = Aes256Gcm::new_from_slice(&session_key)
        .unwrap()
        .decrypt(&Nonce::default(), &sealed[2 + rsa_len..])
        .unwrap();
    assert_eq!(plain, b"from kseal");
}

trait FromPkcs1Compat {
    fn from_pkcs1_pem_compat(pem: &str) -> Self;
}

impl FromPkcs1Compat for RsaPrivateKey {
    fn from_pkcs1_pem_compat(pem: &str) -> Self {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        RsaPrivateKey::from_pkcs1_pem(pem).unwrap()
    }
}

#[test]
fn pkcs1_and_pkcs8_pem_read_the_same_key() {
    let pkcs1 = key_pair().private_key_pem().unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let from_pkcs1 = PrivateKey::from_pem(pkcs1.as_bytes()).unwrap();
    let rsa_key = RsaPrivateKey::from_pkcs1_pem_compat(&pkcs1);
    let pkcs8 = {
        use rsa::pkcs8::EncodePrivateKey;
        rsa_key.to_pkcs8_pem(Default::default()).unwrap()
    };
    let from_pkcs8 = PrivateKey::from_pem(pkcs8.as_bytes()).unwrap();
    assert_eq!(from_pkcs1.fingerprint(), from_pkcs8.fingerprint());
    assert_eq!(
        from_pkcs1.fingerprint(),
        key_pair().certificate().public_key().fingerprint()
    );
    let _ = RsaPrivateKey::from_pkcs8_pem(&pkcs8).unwrap();
    // A PEM bundle with certificate and key yields just the key.
    let bundle = format!("{}{}", key_pair().certificate_pem(), *pkcs1);
    assert_eq!(
        PrivateKey::all_from_pem(bundle.as_bytes()).unwrap().len(),
        1
    );
}

#[test]
fn fingerprint_is_sha256_of_the_public_key_der() {
    use sha2::Digest;
    let public = key_pair().certificate().public_key();
    assert_eq!(
        public.fingerprint(),
        hex::encode(sha2::Sha256::digest(public.spki_der()))
    );
    assert_eq!(public.fingerprint().len(), 64);
    assert_ne!(
        public.fingerprint(),
        other_key().certificate().public_key().fingerprint()
    );
}

#[test]
fn generated_certificate_is_valid_for_the_requested_time() {
    let validity = Duration::from_secs(3600 * 24 * 30);
    let pair = KeyPair::generate(&KeyOptions {
        bits: 2048,
        validity,
        ..Default::default()
    })
    .unwrap();
    let cert = pair.certificate();
    let span = cert.not_after().duration_since(cert.not_before()).unwrap();
    assert_eq!(span, validity);
    cert.check_validity(SystemTime::now()).unwrap();
    let later = SystemTime::now() + validity + Duration::from_secs(60);
    assert!(matches!(
        cert.check_validity(later),
        Err(Error::ExpiredCertificate(_))
    ));
    // Default validity is ten years.
    let default = key_pair().certificate();
    let years = default
        .not_after()
        .duration_since(default.not_before())
        .unwrap()
        .as_secs()
        / (365 * 24 * 3600);
    assert_eq!(years, 10);
    let reread = Certificate::from_pem(pair.certificate_pem().as_bytes()).unwrap();
    assert_eq!(reread.public_key(), cert.public_key());
    let (key, cert) = pair.into_parts();
    assert!(matches!(
        KeyPair::new(
            PrivateKey::from_pem(key_pair().private_key_pem().unwrap().as_bytes()).unwrap(),
            cert
        ),
        Err(Error::KeyMismatch)
    ));
    drop(key);
}

#[test]
fn non_rsa_keys_and_certificates_are_refused() {
    let ec = rcgen_ec();
    let cert_err = Certificate::from_pem(ec.0.as_bytes()).unwrap_err();
    assert!(
        matches!(&cert_err, Error::UnsupportedKey(k) if k == "EC"),
        "{cert_err}"
    );
    assert!(cert_err.to_string().contains("only RSA"));
    let key_err = PrivateKey::from_pem(ec.1.as_bytes()).unwrap_err();
    assert!(matches!(key_err, Error::UnsupportedKey(_)), "{key_err}");
    assert!(matches!(
        KeyPair::generate(&KeyOptions {
            bits: 1024,
            ..Default::default()
        }),
        Err(Error::KeyGeneration(_))
    ));
    assert!(matches!(
        Certificate::from_pem(b"hello"),
        Err(Error::MissingPem(_) | Error::InvalidPem(_))
    ));
    assert!(matches!(
        PrivateKey::from_pem(b""),
        Err(Error::MissingPem(_))
    ));
}

/// An EC P-256 certificate (fixture made with openssl) and a fresh EC key (PEM).
fn rcgen_ec() -> (String, String) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pkcs8 = key.to_pkcs8v1().unwrap();
    let key_pem = pem_encode("PRIVATE KEY", pkcs8.as_ref());
    let cert_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ec-cert.pem"
    ))
    .unwrap();
    (cert_pem, key_pem)
}

fn pem_encode(tag: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {tag}-----\n{}\n-----END {tag}-----\n",
        body.join("\n")
    )
}

#[test]
fn expired_certificate_is_refused_with_its_date() {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/expired-cert.pem"
    ))
    .unwrap();
    let cert = Certificate::from_pem(&pem).unwrap();
    let err = cert.check_validity(SystemTime::now()).unwrap_err();
    assert!(matches!(err, Error::ExpiredCertificate(_)));
    assert!(err.to_string().contains("2021-01-01"), "{err}");
}
