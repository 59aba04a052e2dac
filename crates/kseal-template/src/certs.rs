//! sprig's key and certificate generators: `genPrivateKey` ("rsa" or "" 4096-bit RSA as `RSA PRIVATE
//! KEY`, "ecdsa" P-256 as `EC PRIVATE KEY`, "ed25519" as `PRIVATE KEY`, "dsa" L1024N160 as `DSA PRIVATE KEY`),
//! `genCA(WithKey)`, `genSelfSignedCert(WithKey)`, `genSignedCert(WithKey)` and `buildCustomCert`.
//! The certificates are as sprig's `x509.Certificate` template makes them: the common name as the
//! only subject attribute, a random serial below 2^128, valid from now for the days given, key usage
//! digital signature and key encipherment (and certificate signing for a CA), extended key usage
//! server and client authentication, basic constraints (CA or not), IP and DNS subject alternative
//! names; new keys are 2048-bit RSA. They return sprig's `certificate` struct ([`CertPair`]).
//! Messages never contain key material.

use std::net::IpAddr;
use std::rc::Rc;
use std::str::FromStr as _;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, RsaKeySize, SanType,
    SerialNumber,
};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use zeroize::Zeroizing;

use crate::budget::Budget;
use crate::funcs::{arity, go_pem, invalid};
use crate::keys::{self, PrivateKey};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

/// The names this module implements.
pub(crate) const FUNCTIONS: &[&str] = &[
    "genPrivateKey",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "buildCustomCert",
];

/// Work counted for making an RSA key (a few hundred milliseconds at 4096 bits): an object can make a
/// few of them, not thousands.
const KEYGEN_WORK: usize = 1024 * 1024;

/// sprig's `certificate` struct: a PEM certificate and its PEM private key. Go prints it as
/// `{<Cert> <Key>}`.
#[derive(Debug)]
pub(crate) struct CertPair {
    pub(crate) cert: String,
    pub(crate) key: Zeroizing<String>,
}

impl CertPair {
    /// The field `name` (`.Cert`, `.Key`), or `None` for another name.
    pub(crate) fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(self.cert.clone())),
            "Key" => Some(Value::str(self.key.as_str())),
            _ => None,
        }
    }

    /// The struct as a map of its fields (what encoding/json writes).
    pub(crate) fn as_map(&self) -> Value {
        Value::Map(Rc::new(std::collections::BTreeMap::from([
            ("Cert".to_owned(), Value::str(self.cert.clone())),
            ("Key".to_owned(), Value::str(self.key.as_str())),
        ])))
    }

    /// Go's `%v` of the struct.
    pub(crate) fn go_string(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{{{} {}}}", self.cert, self.key.as_str()))
    }
}

/// sprig's `pemBlockForKey`: RSA as PKCS#1, ECDSA as SEC 1, others as PKCS#8.
fn key_pem(key: &PrivateKey) -> Result<Zeroizing<String>, FuncError> {
    let (tag, der) = match key {
        PrivateKey::Rsa(_) => ("RSA PRIVATE KEY", key.to_pkcs1()?),
        PrivateKey::Ec { .. } => ("EC PRIVATE KEY", key.to_sec1()?),
        PrivateKey::Edwards { .. } => ("PRIVATE KEY", key.to_pkcs8()?),
    };
    Ok(Zeroizing::new(go_pem(tag, &der)))
}

/// sprig's `parsePrivateKeyPEM`: the PEM type says which form the key has.
fn parse_key_pem(text: &str) -> Result<PrivateKey, FuncError> {
    let Some(block) = keys::first_pem(text.as_bytes()) else {
        return invalid("no PEM data in input");
    };
    match block.tag() {
        "PRIVATE KEY" => keys::parse_pkcs8(block.contents()),
        "RSA PRIVATE KEY" => keys::parse_pkcs1(block.contents()),
        "EC PRIVATE KEY" => keys::parse_sec1_alone(block.contents()),
        "DSA PRIVATE KEY" => invalid("DSA keys cannot sign certificates"),
        tag if tag.ends_with(" PRIVATE KEY") => invalid("invalid private key type"),
        _ => invalid("no private key data in the PEM block"),
    }
}

/// The key in the form rcgen signs with.
fn signing_key(key: &PrivateKey) -> Result<KeyPair, FuncError> {
    let alg = match key {
        PrivateKey::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        PrivateKey::Ec { curve, .. } => match *curve {
            "1.2.840.10045.3.1.7" => &rcgen::PKCS_ECDSA_P256_SHA256,
            "1.3.132.0.34" => &rcgen::PKCS_ECDSA_P384_SHA384,
            "1.3.132.0.35" => &rcgen::PKCS_ECDSA_P521_SHA512,
            _ => return invalid("this elliptic curve cannot sign certificates here"),
        },
        PrivateKey::Edwards { oid, .. } if *oid == keys::OID_ED25519 => &rcgen::PKCS_ED25519,
        PrivateKey::Edwards { .. } => return invalid("X25519 keys cannot sign certificates"),
    };
    let der = key.to_pkcs8()?;
    let pem = Zeroizing::new(go_pem("PRIVATE KEY", &der));
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, alg)
        .or_else(|_| invalid("the private key cannot be used to sign"))
}

fn generate(kind: &str, b: &mut Budget) -> Result<PrivateKey, FuncError> {
    let pair = match kind {
        "rsa2048" => {
            b.work(KEYGEN_WORK)?;
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
        }
        "" | "rsa" => {
            b.work(4 * KEYGEN_WORK)?;
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
        }
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        _ => return invalid("unknown key type"),
    }
    .or_else(|_| invalid("failed to generate private key"))?;
    let der = Zeroizing::new(pair.serialize_der());
    keys::parse_pkcs8(&der)
}

fn int_arg(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => invalid(format!("expected an integer, got {}", other.kind())),
    }
}

/// A `[]interface{}` parameter of strings (nil is empty).
fn strings(v: &Value, what: &str) -> Result<Vec<String>, FuncError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.as_str().to_owned()),
                _ => invalid(format!("error parsing {what}: an item is not a string")),
            })
            .collect(),
        other => invalid(format!("expected a list of {what}s, got {}", other.kind())),
    }
}

/// sprig's `getBaseCertTemplate`.
fn base_params(
    cn: &str,
    ips: &[String],
    dns: &[String],
    days: i64,
) -> Result<CertificateParams, FuncError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    let mut sans = Vec::new();
    for ip in ips {
        let addr =
            IpAddr::from_str(ip).or_else(|_| invalid("error parsing ip: not an IP address"))?;
        // Go writes an IPv4-mapped IPv6 address as its 4 IPv4 bytes.
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        sans.push(SanType::IpAddress(addr));
    }
    for d in dns {
        let name = d
            .as_str()
            .try_into()
            .or_else(|_| invalid("a DNS name cannot be encoded as an IA5String"))?;
        sans.push(SanType::DnsName(name));
    }
    params.subject_alt_names = sans;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).or_else(|_| invalid("no randomness available"))?;
    let skip = serial.iter().take_while(|x| **x == 0).count().min(15);
    params.serial_number = Some(SerialNumber::from_slice(&serial[skip..]));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    let valid = time::Duration::days(days.clamp(-(1 << 40), 1 << 40));
    params.not_after = now
        .checked_add(valid)
        .ok_or_else(|| FuncError::Invalid("the validity period is out of range".into()))?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // Go writes basic constraints (critical, not a CA) but, unlike rcgen's `ExplicitNoCa`, no subject
    // key identifier for a certificate that is not a CA.
    params.is_ca = IsCa::NoCa;
    let mut constraints = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
    constraints.set_criticality(true);
    params.custom_extensions = vec![constraints];
    Ok(params)
}

fn pair(cert_der: &[u8], key: &PrivateKey) -> Result<Value, FuncError> {
    Ok(Value::Cert(Rc::new(CertPair {
        cert: go_pem("CERTIFICATE", cert_der),
        key: key_pem(key)?,
    })))
}

fn self_signed(params: &CertificateParams, key: &PrivateKey) -> FResult {
    let signer = signing_key(key)?;
    let cert = params
        .self_signed(&signer)
        .or_else(|_| invalid("error creating certificate"))?;
    pair(cert.der(), key)
}

fn ca(cn: &str, days: i64, key: &PrivateKey) -> FResult {
    let mut params = base_params(cn, &[], &[], days)?;
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.custom_extensions.clear();
    self_signed(&params, key)
}

fn signed(params: &CertificateParams, key: &PrivateKey, ca: &CertPair) -> FResult {
    let Some(block) = keys::first_pem(ca.cert.as_bytes()) else {
        return invalid("unable to decode certificate");
    };
    Certificate::from_der(block.contents()).or_else(|_| invalid("error parsing certificate"))?;
    let ca_key = parse_key_pem(&ca.key).map_err(|e| match e {
        FuncError::Invalid(m) => FuncError::Invalid(format!("error parsing private key: {m}")),
        other => other,
    })?;
    let issuer_key = signing_key(&ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&go_pem("CERTIFICATE", block.contents()), issuer_key)
        .or_else(|_| invalid("error parsing certificate"))?;
    let mut params = params.clone();
    params.use_authority_key_identifier_extension = true;
    let subject = signing_key(key)?;
    let cert = params
        .signed_by(&subject, &issuer)
        .or_else(|_| invalid("error creating certificate"))?;
    pair(cert.der(), key)
}

pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    if !FUNCTIONS.contains(&name) {
        return None;
    }
    Some(call_inner(name, a, b))
}

fn with_key(a: &[Value], at: usize, b: &mut Budget) -> Result<PrivateKey, FuncError> {
    match a.get(at) {
        Some(v) => parse_key_pem(v.as_str()?).map_err(|e| match e {
            FuncError::Invalid(m) => FuncError::Invalid(format!("parsing private key: {m}")),
            other => other,
        }),
        None => generate("rsa2048", b),
    }
}

fn ca_arg(v: &Value) -> Result<&CertPair, FuncError> {
    match v {
        Value::Cert(c) => Ok(c),
        other => invalid(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            crate::value::go_type(other)
        )),
    }
}

/// sprig's DSA key: L1024N160 parameters and a key, as OpenSSL's `DSA PRIVATE KEY` (a SEQUENCE of the
/// version 0, P, Q, G, Y and X), which Go's sprig writes with `asn1.Marshal`.
fn dsa_key_pem(b: &mut Budget) -> Result<Zeroizing<String>, FuncError> {
    // Parameter generation searches for primes: charged as the work of a 1024-bit RSA key.
    b.work(1 << 16)?;
    let mut rng = getrandom::SysRng;
    #[allow(deprecated, reason = "sprig makes 1024-bit DSA keys")]
    let size = dsa::KeySize::DSA_1024_160;
    let components = dsa::Components::try_generate_from_rng_with_key_size(&mut rng, size)
        .or_else(|_| invalid("cannot generate DSA parameters"))?;
    let key = dsa::SigningKey::try_generate_from_rng_with_components(&mut rng, components)
        .or_else(|_| invalid("cannot generate a DSA key"))?;
    let public = key.verifying_key();
    let c = public.components();
    let x = Zeroizing::new(key.x().to_be_bytes().to_vec());
    let der = Zeroizing::new(crate::asn1::cons(
        0x30,
        &[
            &crate::asn1::uint(0),
            &crate::asn1::big_uint(&c.p().to_be_bytes()),
            &crate::asn1::big_uint(&c.q().to_be_bytes()),
            &crate::asn1::big_uint(&c.g().to_be_bytes()),
            &crate::asn1::big_uint(&public.y().to_be_bytes()),
            &crate::asn1::big_uint(&x),
        ],
    ));
    Ok(Zeroizing::new(go_pem("DSA PRIVATE KEY", &der)))
}

/// The certificate a generator's first four arguments describe: common name, IPs, DNS names, days.
fn params_of(a: &[Value]) -> Result<CertificateParams, FuncError> {
    base_params(
        a[0].as_str()?,
        &strings(&a[1], "ip")?,
        &strings(&a[2], "alternate dns name")?,
        int_arg(&a[3])?,
    )
}

fn call_inner(name: &str, a: &[Value], b: &mut Budget) -> FResult {
    let out = match name {
        "genPrivateKey" => {
            arity(a, 1)?;
            let kind = a[0].as_str()?;
            if kind == "dsa" {
                let pem = dsa_key_pem(b)?;
                b.produce(pem.len())?;
                return Ok(Value::str(pem.as_str()));
            }
            if !matches!(kind, "" | "rsa" | "ecdsa" | "ed25519") {
                // sprig writes this text instead of failing.
                let out = format!("Unknown type {kind}");
                b.produce(out.len())?;
                return Ok(Value::str(out));
            }
            let key = generate(kind, b)?;
            let pem = key_pem(&key)?;
            b.produce(pem.len())?;
            return Ok(Value::str(pem.as_str()));
        }
        "genCA" | "genCAWithKey" => {
            arity(a, if name == "genCA" { 2 } else { 3 })?;
            let cn = a[0].as_str()?;
            let days = int_arg(&a[1])?;
            let key = with_key(a, 2, b)?;
            ca(cn, days, &key)?
        }
        "genSelfSignedCert" | "genSelfSignedCertWithKey" => {
            arity(a, if name == "genSelfSignedCert" { 4 } else { 5 })?;
            let params = params_of(a)?;
            let key = with_key(a, 4, b)?;
            self_signed(&params, &key)?
        }
        "genSignedCert" | "genSignedCertWithKey" => {
            arity(a, if name == "genSignedCert" { 5 } else { 6 })?;
            let params = params_of(a)?;
            let ca = ca_arg(&a[4])?;
            let key = with_key(a, 5, b)?;
            signed(&params, &key, ca)?
        }
        _ => {
            arity(a, 2)?;
            let std = base64::engine::general_purpose::STANDARD;
            let cert = std
                .decode(a[0].as_str()?)
                .or_else(|_| invalid("unable to decode base64 certificate"))?;
            let key = Zeroizing::new(
                std.decode(a[1].as_str()?)
                    .or_else(|_| invalid("unable to decode base64 private key"))?,
            );
            let Some(block) = keys::first_pem(&cert) else {
                return invalid("unable to decode certificate");
            };
            Certificate::from_der(block.contents())
                .or_else(|_| invalid("error parsing certificate: decodedCert.Bytes"))?;
            let key_text = std::str::from_utf8(&key)
                .or_else(|_| invalid("error parsing private key: no PEM data in input"))?;
            parse_key_pem(key_text).map_err(|e| match e {
                FuncError::Invalid(m) => {
                    FuncError::Invalid(format!("error parsing private key: {m}"))
                }
                other => other,
            })?;
            let cert =
                String::from_utf8(cert).or_else(|_| invalid("the certificate is not text"))?;
            Value::Cert(Rc::new(CertPair {
                cert,
                key: Zeroizing::new(key_text.to_owned()),
            }))
        }
    };
    if let Value::Cert(c) = &out {
        b.produce(c.cert.len() + c.key.len())?;
    }
    Ok(out)
}
