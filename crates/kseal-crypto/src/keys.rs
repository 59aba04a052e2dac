//! RSA keys and certificates: parsing (PEM, PKCS#1, PKCS#8, X.509), generation and fingerprints.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfoRef};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// PEM with LF line endings, as Go's `encoding/pem` writes it.
fn encode_pem(block: &pem::Pem) -> String {
    pem::encode_config(
        block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const PEM_PKCS1: &str = "RSA PRIVATE KEY";
const PEM_PKCS8: &str = "PRIVATE KEY";
const PEM_CERTIFICATE: &str = "CERTIFICATE";

/// Default RSA modulus size, as sealed-secrets.
pub const DEFAULT_KEY_BITS: usize = 4096;
/// Default certificate validity: ten years, as sealed-secrets.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Default certificate common name.
pub const DEFAULT_COMMON_NAME: &str = "sealed-secret";

/// An RSA public key ready to seal, with its fingerprint.
///
/// Sealing uses the pure-Rust `rsa` crate with the operating system's RNG: aws-lc-rs would seed its
/// DRBG from jitter entropy first, which costs tens of milliseconds per `kseal` process.
#[derive(Clone)]
pub struct PublicKey {
    key: rsa::PublicKey,
    spki_der: Vec<u8>,
    fingerprint: String,
}

impl PublicKey {
    /// Reads an X.509 SubjectPublicKeyInfo (DER). Non-RSA keys are refused.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| Error::InvalidKey(e.to_string()))?;
        check_rsa(&spki.algorithm.oid)?;
        let key =
            PublicEncryptingKey::from_der(der).map_err(|e| Error::InvalidKey(e.to_string()))?;
        Self::from_aws(key)
    }

    fn from_aws(key: PublicEncryptingKey) -> Result<Self> {
        // aws-lc-rs re-encodes the key canonically, so equal keys get equal fingerprints.
        let spki_der = key.as_der().map_err(|_| Error::Crypto)?.as_ref().to_vec();
        let fingerprint = hex::encode(digest(&SHA256, &spki_der));
        let key = <rsa::PublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(&spki_der)
            .map_err(|e| Error::InvalidKey(e.to_string()))?;
        Ok(PublicKey {
            key,
            spki_der,
            fingerprint,
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex (as sealed-secrets' key fingerprint).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        rsa::traits::PublicKeyParts::size(&self.key) * 8
    }

    pub(crate) fn rsa(&self) -> &rsa::PublicKey {
        &self.key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

/// An RSA private key ready to unseal. The key material is wiped on drop; `Debug` never shows it.
pub struct PrivateKey {
    oaep: OaepPrivateDecryptingKey,
    pkcs8_der: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl PrivateKey {
    /// Reads the first private key of a PEM document (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        Self::all_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(Error::MissingPem("private key"))
    }

    /// Reads every private key of a PEM document; other blocks (certificates) are skipped.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        let blocks = pem::parse_many(pem).map_err(|e| Error::InvalidPem(e.to_string()))?;
        let mut keys = Vec::new();
        for block in blocks {
            let der = Zeroizing::new(block.contents().to_vec());
            match block.tag() {
                PEM_PKCS1 => keys.push(Self::from_pkcs1_der(&der)?),
                PEM_PKCS8 => keys.push(Self::from_pkcs8_der(&der)?),
                "EC PRIVATE KEY" => return Err(Error::UnsupportedKey("EC".into())),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::InvalidKey(
                        "encrypted (password-protected) keys are not supported".into(),
                    ));
                }
                _ => {}
            }
        }
        if keys.is_empty() {
            return Err(Error::MissingPem("private key"));
        }
        Ok(keys)
    }

    /// Reads a PKCS#8 PrivateKeyInfo (DER). Non-RSA keys are refused.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info =
            PrivateKeyInfoRef::from_der(der).map_err(|e| Error::InvalidKey(e.to_string()))?;
        check_rsa(&info.algorithm.oid)?;
        let key =
            PrivateDecryptingKey::from_pkcs8(der).map_err(|e| Error::InvalidKey(e.to_string()))?;
        let public = PublicKey::from_aws(key.public_key())?;
        let oaep = OaepPrivateDecryptingKey::new(key).map_err(|_| Error::Crypto)?;
        Ok(PrivateKey {
            oaep,
            pkcs8_der: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    /// Reads a PKCS#1 RSAPrivateKey (DER).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let algorithm = AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        };
        let private_key = OctetStringRef::new(der).map_err(|e| Error::InvalidKey(e.to_string()))?;
        let info = PrivateKeyInfoRef::new(algorithm, private_key);
        let pkcs8 = Zeroizing::new(
            info.to_der()
                .map_err(|e| Error::InvalidKey(e.to_string()))?,
        );
        Self::from_pkcs8_der(&pkcs8)
    }

    /// The key as PKCS#1 PEM (`RSA PRIVATE KEY`), the layout of sealed-secrets' `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>> {
        let info = PrivateKeyInfoRef::from_der(&self.pkcs8_der).map_err(|_| Error::Crypto)?;
        let block = pem::Pem::new(PEM_PKCS1, info.private_key.as_bytes().to_vec());
        Ok(Zeroizing::new(encode_pem(&block)))
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Fingerprint of the matching public key.
    pub fn fingerprint(&self) -> &str {
        self.public.fingerprint()
    }

    pub(crate) fn oaep(&self) -> &OaepPrivateDecryptingKey {
        &self.oaep
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &self.public.fingerprint)
            .finish_non_exhaustive()
    }
}

/// An X.509 certificate holding an RSA public key.
#[derive(Clone, Debug)]
pub struct Certificate {
    pem: String,
    public: PublicKey,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Certificate {
    /// Reads the first certificate of a PEM document. Validity is checked separately
    /// ([`Certificate::check_validity`]) so expired certificates can still be shown.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let blocks = pem::parse_many(pem).map_err(|e| Error::InvalidPem(e.to_string()))?;
        let block = blocks
            .into_iter()
            .find(|b| b.tag() == PEM_CERTIFICATE)
            .ok_or(Error::MissingPem("certificate"))?;
        let cert = x509_cert::Certificate::from_der(block.contents())
            .map_err(|e| Error::InvalidCertificate(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        check_rsa(&spki.algorithm.oid)?;
        let spki_der = spki
            .to_der()
            .map_err(|e| Error::InvalidCertificate(e.to_string()))?;
        Ok(Certificate {
            pem: encode_pem(&block),
            public: PublicKey::from_spki_der(&spki_der)?,
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
        })
    }

    /// Reads a certificate from DER.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_pem(encode_pem(&pem::Pem::new(PEM_CERTIFICATE, der.to_vec())).as_bytes())
    }

    /// Refuses a certificate that is expired or not yet valid at `now`.
    pub fn check_validity(&self, now: SystemTime) -> Result<()> {
        if now > self.not_after {
            return Err(Error::ExpiredCertificate(format_time(self.not_after)));
        }
        if now < self.not_before {
            return Err(Error::CertificateNotYetValid(format_time(self.not_before)));
        }
        Ok(())
    }

    /// The certificate as PEM.
    pub fn to_pem(&self) -> &str {
        &self.pem
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Start of validity; the newest key (latest `not_before`) seals.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

/// Options of [`KeyPair::generate`].
#[derive(Clone, Debug)]
pub struct KeyOptions {
    /// RSA modulus size: 2048, 3072, 4096 or 8192.
    pub bits: usize,
    /// Certificate validity from now.
    pub validity: Duration,
    /// Subject common name of the self-signed certificate.
    pub common_name: String,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            bits: DEFAULT_KEY_BITS,
            validity: DEFAULT_VALIDITY,
            common_name: DEFAULT_COMMON_NAME.to_owned(),
        }
    }
}

/// A private key with its self-signed certificate: what the controller stores in a `kubernetes.io/tls` Secret.
#[derive(Debug)]
pub struct KeyPair {
    private: PrivateKey,
    certificate: Certificate,
}

impl KeyPair {
    /// Generates an RSA key and a self-signed certificate valid from now.
    pub fn generate(options: &KeyOptions) -> Result<Self> {
        let size = match options.bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(Error::KeyGeneration(format!(
                    "unsupported key size {other}: use 2048, 3072, 4096 or 8192"
                )));
            }
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| Error::KeyGeneration("RSA key generation failed".into()))?;
        let pkcs8 = Zeroizing::new(key.as_der().map_err(|_| Error::Crypto)?.as_ref().to_vec());
        let private = PrivateKey::from_pkcs8_der(&pkcs8)?;

        let signer = rcgen::KeyPair::try_from(pkcs8.as_slice())
            .map_err(|e| Error::KeyGeneration(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::KeyGeneration(e.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, options.common_name.as_str());
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "kseal");
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .map_err(|_| Error::Crypto)?;
        params.not_before = now;
        params.not_after = now + options.validity;
        params.serial_number = Some(random_serial()?);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params
            .self_signed(&signer)
            .map_err(|e| Error::KeyGeneration(e.to_string()))?;
        let certificate = Certificate::from_pem(cert.pem().as_bytes())?;
        Ok(KeyPair {
            private,
            certificate,
        })
    }

    /// Pairs a private key with its certificate, checking that they match.
    pub fn new(private: PrivateKey, certificate: Certificate) -> Result<Self> {
        if private.public_key() != certificate.public_key() {
            return Err(Error::KeyMismatch);
        }
        Ok(KeyPair {
            private,
            certificate,
        })
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Splits into the private key and the certificate.
    pub fn into_parts(self) -> (PrivateKey, Certificate) {
        (self.private, self.certificate)
    }

    /// `tls.key`: PKCS#1 PEM.
    pub fn private_key_pem(&self) -> Result<Zeroizing<String>> {
        self.private.to_pkcs1_pem()
    }

    /// `tls.crt`: the certificate PEM.
    pub fn certificate_pem(&self) -> &str {
        self.certificate.to_pem()
    }
}

fn random_serial() -> Result<rcgen::SerialNumber> {
    use aws_lc_rs::rand::SecureRandom;
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| Error::Crypto)?;
    serial[0] &= 0x7f; // positive INTEGER
    Ok(rcgen::SerialNumber::from_slice(&serial))
}

fn check_rsa(oid: &ObjectIdentifier) -> Result<()> {
    if *oid == RSA_ENCRYPTION {
        return Ok(());
    }
    let name = match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "EC".to_owned(),
        "1.3.101.112" => "Ed25519".to_owned(),
        "1.3.101.110" => "X25519".to_owned(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".to_owned(),
        "1.2.840.10040.4.1" => "DSA".to_owned(),
        other => format!("with algorithm OID {other}"),
    };
    Err(Error::UnsupportedKey(name))
}

fn format_time(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{t:?}"))
}
