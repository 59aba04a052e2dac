//! Private keys as Go's `crypto/x509` reads and writes them: PKCS#1, PKCS#8 and SEC 1 input
//! (ESO tries them in that order), PKCS#8 output in the form `x509.MarshalPKCS8PrivateKey` gives
//! (RSA with NULL parameters; EC with the named curve as parameters and an ECPrivateKey without
//! parameters but with the public key; Ed25519 and X25519 as a bare 32-byte seed).
//! Messages never contain key material.

use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePrivateKey as _;

use crate::asn1::{self, Seq, Tlv};
use crate::value::FuncError;

pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
pub(crate) const OID_EC: &str = "1.2.840.10045.2.1";
pub(crate) const OID_ED25519: &str = "1.3.101.112";
pub(crate) const OID_X25519: &str = "1.3.101.110";

/// The named curves Go's `crypto/ecdsa` has: OID and private scalar size.
pub(crate) const CURVES: &[(&str, &str, usize)] = &[
    ("P-224", "1.3.132.0.33", 28),
    ("P-256", "1.2.840.10045.3.1.7", 32),
    ("P-384", "1.3.132.0.34", 48),
    ("P-521", "1.3.132.0.35", 66),
];

fn invalid<T>(msg: &str) -> Result<T, FuncError> {
    Err(FuncError::Invalid(msg.to_owned()))
}

/// A private key Go can hold.
pub(crate) enum PrivateKey {
    Rsa(Box<rsa::PrivateKey>),
    /// Curve OID, scalar (curve size), uncompressed public point.
    Ec {
        curve: &'static str,
        d: Vec<u8>,
        public: Vec<u8>,
    },
    /// Ed25519 (`OID_ED25519`) or X25519 (`OID_X25519`) seed.
    Edwards {
        oid: &'static str,
        seed: Vec<u8>,
    },
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        match self {
            PrivateKey::Rsa(_) => {}
            PrivateKey::Ec { d, .. } => d.zeroize(),
            PrivateKey::Edwards { seed, .. } => seed.zeroize(),
        }
    }
}

impl PrivateKey {
    /// `x509.MarshalPKCS8PrivateKey`.
    pub(crate) fn to_pkcs8(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, FuncError> {
        let out = match self {
            PrivateKey::Rsa(k) => k
                .to_pkcs8_der()
                .or_else(|_| invalid("the RSA key cannot be encoded"))?
                .as_bytes()
                .to_vec(),
            PrivateKey::Ec { curve, d, public } => {
                let inner = zeroize::Zeroizing::new(asn1::cons(
                    asn1::SEQUENCE,
                    &[
                        &asn1::uint(1),
                        &asn1::tlv(asn1::OCTET_STRING, d),
                        &asn1::tlv(
                            asn1::CTX1,
                            &asn1::tlv(asn1::BIT_STRING, &bit_string(public)),
                        ),
                    ],
                ));
                asn1::cons(
                    asn1::SEQUENCE,
                    &[
                        &asn1::uint(0),
                        &asn1::cons(
                            asn1::SEQUENCE,
                            &[&asn1::oid_tlv(OID_EC), &asn1::oid_tlv(curve)],
                        ),
                        &asn1::tlv(asn1::OCTET_STRING, &inner),
                    ],
                )
            }
            PrivateKey::Edwards { oid, seed } => {
                let inner = zeroize::Zeroizing::new(asn1::tlv(asn1::OCTET_STRING, seed));
                asn1::cons(
                    asn1::SEQUENCE,
                    &[
                        &asn1::uint(0),
                        &asn1::cons(asn1::SEQUENCE, &[&asn1::oid_tlv(oid)]),
                        &asn1::tlv(asn1::OCTET_STRING, &inner),
                    ],
                )
            }
        };
        Ok(zeroize::Zeroizing::new(out))
    }

    /// `x509.MarshalPKCS1PrivateKey` (RSA keys only).
    pub(crate) fn to_pkcs1(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, FuncError> {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        match self {
            PrivateKey::Rsa(k) => Ok(zeroize::Zeroizing::new(
                k.to_pkcs1_der()
                    .or_else(|_| invalid("the RSA key cannot be encoded"))?
                    .as_bytes()
                    .to_vec(),
            )),
            _ => invalid("not an RSA key"),
        }
    }

    /// `x509.MarshalECPrivateKey` (SEC 1 with the named curve; EC keys only).
    pub(crate) fn to_sec1(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, FuncError> {
        match self {
            PrivateKey::Ec { curve, d, public } => Ok(zeroize::Zeroizing::new(asn1::cons(
                asn1::SEQUENCE,
                &[
                    &asn1::uint(1),
                    &asn1::tlv(asn1::OCTET_STRING, d),
                    &asn1::tlv(asn1::CTX0, &asn1::oid_tlv(curve)),
                    &asn1::tlv(
                        asn1::CTX1,
                        &asn1::tlv(asn1::BIT_STRING, &bit_string(public)),
                    ),
                ],
            ))),
            _ => invalid("not an EC key"),
        }
    }

    /// The RSA key, if it is one.
    pub(crate) fn rsa(&self) -> Option<&rsa::PrivateKey> {
        match self {
            PrivateKey::Rsa(k) => Some(k),
            _ => None,
        }
    }
}

/// A BIT STRING's contents: no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(0);
    out.extend_from_slice(bytes);
    out
}

fn curve_of(oid: &[u8]) -> Option<(&'static str, usize)> {
    CURVES
        .iter()
        .find(|(_, o, _)| asn1::oid(o) == oid)
        .map(|(_, o, size)| (*o, *size))
}

/// ESO's `parsePrivateKey`: PKCS#1, then PKCS#8, then SEC 1.
pub(crate) fn parse_any(der: &[u8]) -> Result<PrivateKey, FuncError> {
    if let Ok(k) = rsa::PrivateKey::from_pkcs1_der(der) {
        return Ok(PrivateKey::Rsa(Box::new(k)));
    }
    if let Ok(k) = parse_pkcs8(der) {
        return Ok(k);
    }
    if let Ok(k) = parse_sec1(der, None) {
        return Ok(k);
    }
    invalid("unable to parse private key type")
}

/// `x509.ParsePKCS1PrivateKey`.
pub(crate) fn parse_pkcs1(der: &[u8]) -> Result<PrivateKey, FuncError> {
    rsa::PrivateKey::from_pkcs1_der(der)
        .map(|k| PrivateKey::Rsa(Box::new(k)))
        .or_else(|_| invalid("parsing RSA private key from PEM failed"))
}

/// `x509.ParseECPrivateKey` (SEC 1, naming its curve).
pub(crate) fn parse_sec1_alone(der: &[u8]) -> Result<PrivateKey, FuncError> {
    parse_sec1(der, None)
}

/// `x509.ParsePKCS8PrivateKey`.
pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<PrivateKey, FuncError> {
    const WHAT: &str = "PKCS#8 private key";
    let (top, rest) = asn1::read(der, WHAT)?;
    if !rest.is_empty() {
        return invalid("trailing data after the PKCS#8 private key");
    }
    let mut s = Seq::new(top, WHAT)?;
    asn1::int(s.take(asn1::INTEGER)?, WHAT)?;
    let (oid, params) = asn1::algorithm(s.take(asn1::SEQUENCE)?, WHAT)?;
    let key = s.take(asn1::OCTET_STRING)?.body;
    if oid == asn1::oid(OID_RSA) {
        let k = rsa::PrivateKey::from_pkcs1_der(key)
            .or_else(|_| invalid("the PKCS#8 wrapping holds an invalid RSA private key"))?;
        return Ok(PrivateKey::Rsa(Box::new(k)));
    }
    if oid == asn1::oid(OID_EC) {
        let curve = match params {
            Some(Tlv {
                tag: asn1::OID,
                body,
            }) => body,
            _ => return invalid("the PKCS#8 EC private key has no named curve"),
        };
        return parse_sec1(key, Some(curve));
    }
    for name in [OID_ED25519, OID_X25519] {
        if oid == asn1::oid(name) {
            if params.is_some() {
                return invalid("invalid Ed25519/X25519 private key parameters");
            }
            let seed = asn1::whole(key, asn1::OCTET_STRING, WHAT)?.body;
            if seed.len() != 32 {
                return invalid("invalid Ed25519/X25519 private key length");
            }
            return Ok(PrivateKey::Edwards {
                oid: name,
                seed: seed.to_vec(),
            });
        }
    }
    invalid("the PKCS#8 wrapping holds a private key of an unknown algorithm")
}

/// `x509.ParseECPrivateKey` (SEC 1), with the curve of a PKCS#8 wrapping if there is one.
fn parse_sec1(der: &[u8], wrapped_curve: Option<&[u8]>) -> Result<PrivateKey, FuncError> {
    const WHAT: &str = "EC private key";
    let (top, _) = asn1::read(der, WHAT)?;
    let mut s = Seq::new(top, WHAT)?;
    if asn1::int(s.take(asn1::INTEGER)?, WHAT)? != 1 {
        return invalid("unknown EC private key version");
    }
    let d = s.take(asn1::OCTET_STRING)?.body;
    let own_curve = s
        .optional(asn1::CTX0)
        .map(|t| asn1::whole(t.body, asn1::OID, WHAT).map(|o| o.body))
        .transpose()?;
    let public = s
        .optional(asn1::CTX1)
        .map(|t| asn1::whole(t.body, asn1::BIT_STRING, WHAT).map(|b| b.body))
        .transpose()?;
    let Some(curve_oid) = wrapped_curve.or(own_curve) else {
        return invalid("the EC private key names no curve");
    };
    let Some((curve, size)) = curve_of(curve_oid) else {
        return invalid("the EC private key's curve is not supported");
    };
    // Go strips leading zeros of a longer scalar and pads a shorter one to the curve's size.
    let trimmed = &d[d.len().saturating_sub(size)..];
    if d[..d.len() - trimmed.len()].iter().any(|b| *b != 0) || trimmed.iter().all(|b| *b == 0) {
        return invalid("invalid EC private key value");
    }
    let mut scalar = vec![0u8; size - trimmed.len()];
    scalar.extend_from_slice(trimmed);
    // Go derives the public point from the scalar; kseal takes it from the key, which has it.
    let public = match public {
        Some([0, rest @ ..]) if rest.len() == 1 + 2 * size && rest[0] == 4 => rest.to_vec(),
        _ => {
            return invalid(
                "EC private keys without their uncompressed public key are not supported",
            );
        }
    };
    Ok(PrivateKey::Ec {
        curve,
        d: scalar,
        public,
    })
}

/// The first PEM block of `input` as Go's `pem.Decode` finds it, or `None`.
pub(crate) fn first_pem(input: &[u8]) -> Option<pem::Pem> {
    let text = std::str::from_utf8(input).ok()?;
    pem::parse_many(text).ok()?.into_iter().next()
}
