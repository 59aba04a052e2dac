//! The sealed-secrets ciphertext format and key handling, compatible with Bitnami's `kubeseal`.
//!
//! Every value is sealed separately with a hybrid scheme: a fresh 32-byte session key is
//! encrypted with RSA-OAEP(SHA-256) under a *scope label*, the value with AES-256-GCM under the
//! session key and an all-zero nonce. Output: `u16 BE len(rsa) ‖ rsa ‖ aes-gcm ciphertext+tag`.
//!
//! Sealing (public-key work only) is pure Rust (`rsa`, `aes-gcm`); opening, the private-key work, uses
//! aws-lc-rs (constant-time RSA). The crate does no I/O.

mod envelope;
mod error;
mod keys;
mod scope;

pub use envelope::{Envelope, open, open_base64, open_with_any, seal, seal_base64};
pub use error::{Error, Result};
pub use keys::{Certificate, DEFAULT_COMMON_NAME, KeyOptions, KeyPair, PrivateKey, PublicKey};
pub use scope::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, Scope, label};

/// Plaintext that is wiped from memory when dropped.
pub type Plaintext = zeroize::Zeroizing<Vec<u8>>;
