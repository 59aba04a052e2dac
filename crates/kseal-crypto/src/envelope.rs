//! The hybrid envelope: `u16 BE len(rsa) ‖ RSA-OAEP(session key) ‖ AES-256-GCM(value) ‖ tag`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::{PrivateKey, PublicKey};
use crate::{Error, Plaintext, Result};

const SESSION_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Each session key encrypts exactly one value, so a fixed nonce is safe (as in sealed-secrets).
const ZERO_NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// The two parts of a parsed envelope, borrowed from the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// RSA-OAEP ciphertext of the session key.
    pub rsa: &'a [u8],
    /// AES-256-GCM ciphertext of the value, tag included.
    pub aes: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Splits raw envelope bytes; checks lengths only, no cryptography.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let [hi, lo, rest @ ..] = bytes else {
            return Err(Error::Truncated(format!(
                "{} bytes, the 2-byte length header is missing",
                bytes.len()
            )));
        };
        let rsa_len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if rest.len() < rsa_len + TAG_LEN {
            return Err(Error::Truncated(format!(
                "{} bytes after the header, expected at least {} ({rsa_len}-byte RSA part and {TAG_LEN}-byte tag)",
                rest.len(),
                rsa_len + TAG_LEN
            )));
        }
        let (rsa, aes) = rest.split_at(rsa_len);
        Ok(Envelope { rsa, aes })
    }
}

/// Seals `plaintext` for `key` under the scope `label`.
///
/// Pure Rust (`rsa` + `aes-gcm`) with the operating system's RNG; opening uses aws-lc-rs, so every
/// round trip also checks the two implementations against each other.
pub fn seal(key: &PublicKey, label: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    use aes_gcm::aead::{Aead as _, KeyInit as _};

    let mut session_key = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    getrandom::fill(session_key.as_mut()).map_err(|_| Error::Crypto)?;
    let rsa_part = key
        .rsa()
        .encrypt(
            &mut getrandom::SysRng,
            rsa::Oaep::<sha2::Sha256>::new_with_label(label),
            session_key.as_ref(),
        )
        .map_err(|_| Error::Crypto)?;
    let rsa_len = u16::try_from(rsa_part.len()).map_err(|_| Error::Crypto)?;
    let aes_part = aes_gcm::Aes256Gcm::new_from_slice(session_key.as_ref())
        .map_err(|_| Error::Crypto)?
        .encrypt(&aes_gcm::Nonce::from(ZERO_NONCE), plaintext)
        .map_err(|_| Error::Crypto)?;

    let mut out = Vec::with_capacity(2 + rsa_part.len() + aes_part.len());
    out.extend_from_slice(&rsa_len.to_be_bytes());
    out.extend_from_slice(&rsa_part);
    out.extend_from_slice(&aes_part);
    Ok(out)
}

/// Seals `plaintext` and returns the standard base64 (with padding) used in `encryptedData`.
pub fn seal_base64(key: &PublicKey, label: &[u8], plaintext: &[u8]) -> Result<String> {
    Ok(STANDARD.encode(seal(key, label, plaintext)?))
}

/// Opens an envelope with one private key.
pub fn open(key: &PrivateKey, label: &[u8], ciphertext: &[u8]) -> Result<Plaintext> {
    let envelope = Envelope::parse(ciphertext)?;
    let session_key = unwrap_session_key(key, label, envelope.rsa)?;
    open_body(&session_key, envelope.aes)
}

/// Opens an envelope with the first of `keys` that fits, returning the plaintext and that key.
///
/// The envelope is parsed once; only the RSA step is repeated per key.
pub fn open_with_any<'k>(
    keys: impl IntoIterator<Item = &'k PrivateKey>,
    label: &[u8],
    ciphertext: &[u8],
) -> Result<(Plaintext, &'k PrivateKey)> {
    let envelope = Envelope::parse(ciphertext)?;
    for key in keys {
        if let Ok(session_key) = unwrap_session_key(key, label, envelope.rsa) {
            return Ok((open_body(&session_key, envelope.aes)?, key));
        }
    }
    Err(Error::NoMatchingKey)
}

/// Decodes standard base64 and opens the envelope with the first key that fits.
pub fn open_base64<'k>(
    keys: impl IntoIterator<Item = &'k PrivateKey>,
    label: &[u8],
    ciphertext: &str,
) -> Result<(Plaintext, &'k PrivateKey)> {
    let bytes = STANDARD.decode(ciphertext.trim())?;
    open_with_any(keys, label, &bytes)
}

fn unwrap_session_key(
    key: &PrivateKey,
    label: &[u8],
    rsa: &[u8],
) -> Result<Zeroizing<[u8; SESSION_KEY_LEN]>> {
    let mut buf = Zeroizing::new(vec![0u8; key.oaep().min_output_size()]);
    let decrypted = key
        .oaep()
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa, &mut buf, Some(label))
        .map_err(|_| Error::NoMatchingKey)?;
    let mut session_key = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    if decrypted.len() != SESSION_KEY_LEN {
        return Err(Error::Corrupted);
    }
    session_key.copy_from_slice(decrypted);
    Ok(session_key)
}

fn open_body(session_key: &[u8; SESSION_KEY_LEN], aes: &[u8]) -> Result<Plaintext> {
    let mut body = Zeroizing::new(aes.to_vec());
    let len = aead_key(session_key)?
        .open_in_place(
            Nonce::assume_unique_for_key(ZERO_NONCE),
            Aad::empty(),
            &mut body,
        )
        .map_err(|_| Error::Corrupted)?
        .len();
    body.truncate(len);
    Ok(body)
}

fn aead_key(session_key: &[u8]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, session_key)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Crypto)
}
