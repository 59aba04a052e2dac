//! Errors of the sealing crate.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while sealing, opening or reading keys. Messages never hold plaintext.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The value is not standard base64 with padding.
    #[error("invalid base64: {0}")]
    InvalidBase64(#[from] base64::DecodeError),
    /// The envelope is shorter than its own header says.
    #[error("ciphertext is truncated: {0}")]
    Truncated(String),
    /// RSA-OAEP decryption failed: wrong key, or the object was renamed/moved out of its scope.
    #[error(
        "no private key could decrypt it (wrong key, or name, namespace or scope changed since sealing)"
    )]
    NoMatchingKey,
    /// The session key was recovered but the AES-GCM tag did not verify.
    #[error("ciphertext is corrupted: the authentication tag does not match")]
    Corrupted,
    /// A PEM document could not be read.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// No PEM block of the expected kind was found.
    #[error("no {0} found in PEM input")]
    MissingPem(&'static str),
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A key could not be parsed.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// The key is not RSA.
    #[error("unsupported key type {0}: only RSA keys are supported")]
    UnsupportedKey(String),
    /// The certificate is past its notAfter.
    #[error("certificate expired at {0}")]
    ExpiredCertificate(String),
    /// The certificate's notBefore is in the future.
    #[error("certificate is not valid before {0}")]
    CertificateNotYetValid(String),
    /// Key generation or certificate signing failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// The certificate does not belong to the private key.
    #[error("certificate does not match the private key")]
    KeyMismatch,
    /// An internal cryptographic primitive failed (should not happen with valid inputs).
    #[error("cryptographic operation failed")]
    Crypto,
}

impl Error {
    /// Short stable label, e.g. for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidBase64(_) => "invalid_base64",
            Error::Truncated(_) => "truncated",
            Error::NoMatchingKey => "no_matching_key",
            Error::Corrupted => "corrupted",
            Error::InvalidPem(_) | Error::MissingPem(_) => "invalid_pem",
            Error::InvalidCertificate(_) => "invalid_certificate",
            Error::InvalidKey(_) => "invalid_key",
            Error::UnsupportedKey(_) => "unsupported_key",
            Error::ExpiredCertificate(_) | Error::CertificateNotYetValid(_) => {
                "certificate_validity"
            }
            Error::KeyGeneration(_) => "key_generation",
            Error::KeyMismatch => "key_mismatch",
            Error::Crypto => "crypto",
        }
    }
}
