//! External Secrets Operator's key functions: `jwkPublicKeyPem` and `jwkPrivateKeyPem` (a JSON Web
//! Key as lestrrat-go/jwx reads it, written as Go's `x509.MarshalPKIXPublicKey` /
//! `MarshalPKCS8PrivateKey` give it: `PUBLIC KEY` / `PRIVATE KEY` PEM blocks), and `rsaDecrypt`
//! (scheme "None" gives the input back; "RSA-OAEP" with SHA1, SHA256 or SHA512, any other hash name
//! meaning SHA-256, and no label; other schemes are an error). Messages never contain key material.

use base64::Engine as _;
use rsa::BoxedUint;
use rsa::pkcs8::EncodePublicKey as _;
use zeroize::Zeroizing;

use crate::asn1;
use crate::budget::Budget;
use crate::funcs::{arity, go_pem, invalid};
use crate::keys::{self, CURVES, OID_EC, OID_ED25519, PrivateKey};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

/// The names this module implements.
pub(crate) const FUNCTIONS: &[&str] = &["jwkPublicKeyPem", "jwkPrivateKeyPem", "rsaDecrypt"];

/// A JWK member as bytes: base64url (jwx also takes padding and the standard alphabet).
fn member(
    jwk: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, FuncError> {
    let Some(v) = jwk.get(name) else {
        return Ok(None);
    };
    let Some(s) = v.as_str() else {
        return invalid(format!(
            "failed to parse the JWK: member {name:?} is not a string"
        ));
    };
    let cleaned: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cleaned)
        .map(|b| Some(Zeroizing::new(b)))
        .or_else(|_| {
            invalid(format!(
                "failed to parse the JWK: member {name:?} is not valid base64url"
            ))
        })
}

fn required(
    jwk: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    member(jwk, name)?.ok_or_else(|| {
        FuncError::Invalid(format!(
            "failed to parse the JWK: required member {name:?} is missing"
        ))
    })
}

fn big(bytes: &[u8]) -> Result<BoxedUint, FuncError> {
    let bits = u32::try_from(bytes.len().max(1) * 8).unwrap_or(u32::MAX);
    BoxedUint::from_be_slice(bytes, bits)
        .or_else(|_| invalid("failed to parse the JWK: a number is invalid"))
}

/// A big-endian unsigned number as `size` bytes (leading zeros dropped or added), as Go's
/// fixed-size encodings of curve coordinates give it.
fn fixed(bytes: &[u8], size: usize) -> Result<Vec<u8>, FuncError> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let digits = &bytes[skip..];
    if digits.len() > size {
        return invalid("invalid elliptic curve key: a coordinate is too large for the curve");
    }
    let mut out = vec![0u8; size - digits.len()];
    out.extend_from_slice(digits);
    Ok(out)
}

/// What the JWK holds, as Go gets it from jwx's `Raw`.
enum Jwk {
    Public(Vec<u8>),
    Private(PrivateKey),
}

fn parse_jwk(text: &str) -> Result<Jwk, FuncError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .or_else(|_| invalid("failed to parse the JWK: it is not a JSON object"))?;
    let Some(jwk) = value.as_object() else {
        return invalid("failed to parse the JWK: it is not a JSON object");
    };
    let kty = jwk.get("kty").and_then(|k| k.as_str()).unwrap_or_default();
    match kty {
        "RSA" => {
            let n = required(jwk, "n")?;
            let e = required(jwk, "e")?;
            match member(jwk, "d")? {
                None => {
                    let public = rsa::PublicKey::new(big(&n)?, big(&e)?)
                        .or_else(|_| invalid("failed to parse the JWK: invalid RSA public key"))?;
                    let der = public
                        .to_public_key_der()
                        .or_else(|_| invalid("the RSA public key cannot be encoded"))?;
                    Ok(Jwk::Public(der.as_bytes().to_vec()))
                }
                Some(d) => {
                    let p = required(jwk, "p")?;
                    let q = required(jwk, "q")?;
                    let key = rsa::PrivateKey::from_components(
                        big(&n)?,
                        big(&e)?,
                        big(&d)?,
                        vec![big(&p)?, big(&q)?],
                    )
                    .or_else(|_| invalid("failed to parse the JWK: invalid RSA private key"))?;
                    Ok(Jwk::Private(PrivateKey::Rsa(Box::new(key))))
                }
            }
        }
        "EC" => {
            let crv = jwk.get("crv").and_then(|c| c.as_str()).unwrap_or_default();
            let Some((_, oid, size)) = CURVES
                .iter()
                .find(|(name, _, _)| *name == crv && *name != "P-224")
            else {
                return invalid("failed to parse the JWK: unsupported elliptic curve");
            };
            let mut point = vec![4u8];
            point.extend(fixed(&required(jwk, "x")?, *size)?);
            point.extend(fixed(&required(jwk, "y")?, *size)?);
            match member(jwk, "d")? {
                None => Ok(Jwk::Public(spki(OID_EC, Some(oid), &point))),
                Some(d) => Ok(Jwk::Private(PrivateKey::Ec {
                    curve: oid,
                    d: fixed(&d, *size)?,
                    public: point,
                })),
            }
        }
        "OKP" => {
            let crv = jwk.get("crv").and_then(|c| c.as_str()).unwrap_or_default();
            if crv != "Ed25519" {
                return invalid("this OKP key type cannot be written as PEM");
            }
            let x = required(jwk, "x")?;
            if x.len() != 32 {
                return invalid("failed to parse the JWK: invalid Ed25519 key length");
            }
            match member(jwk, "d")? {
                None => Ok(Jwk::Public(spki(OID_ED25519, None, &x))),
                Some(d) if d.len() == 32 => Ok(Jwk::Private(PrivateKey::Edwards {
                    oid: OID_ED25519,
                    seed: d.to_vec(),
                })),
                Some(_) => invalid("failed to parse the JWK: invalid Ed25519 key length"),
            }
        }
        "oct" => invalid("a symmetric JWK cannot be written as PEM"),
        _ => invalid("failed to parse the JWK: invalid key type"),
    }
}

/// A SubjectPublicKeyInfo.
fn spki(alg: &str, curve: Option<&str>, key: &[u8]) -> Vec<u8> {
    let oid = asn1::oid_tlv(alg);
    let curve = curve.map(asn1::oid_tlv).unwrap_or_default();
    asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::cons(asn1::SEQUENCE, &[&oid, &curve]),
            &asn1::tlv(asn1::BIT_STRING, &keys::bit_string(key)),
        ],
    )
}

pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    if !FUNCTIONS.contains(&name) {
        return None;
    }
    Some(call_inner(name, a, b))
}

fn call_inner(name: &str, a: &[Value], b: &mut Budget) -> FResult {
    match name {
        "jwkPublicKeyPem" | "jwkPrivateKeyPem" => {
            arity(a, 1)?;
            let text = a[0].as_str()?;
            b.work(text.len())?;
            let out = match (name, parse_jwk(text)?) {
                ("jwkPublicKeyPem", Jwk::Public(der)) => go_pem("PUBLIC KEY", &der),
                ("jwkPrivateKeyPem", Jwk::Private(key)) => go_pem("PRIVATE KEY", &key.to_pkcs8()?),
                ("jwkPublicKeyPem", Jwk::Private(_)) => {
                    return invalid("x509: unsupported public key type: the JWK is a private key");
                }
                _ => {
                    return invalid(
                        "x509: unknown key type while marshaling PKCS#8: the JWK is a public key",
                    );
                }
            };
            b.produce(out.len())?;
            Ok(Value::str(out))
        }
        _ => {
            arity(a, 4)?;
            let scheme = a[0].as_str()?;
            let hash = a[1].as_str()?;
            match scheme {
                "None" => {
                    a[2].as_bytes()?;
                    return Ok(a[2].clone());
                }
                "RSA-OAEP" => {}
                _ => return invalid(format!("decryption scheme {scheme:?} is not supported")),
            }
            let ciphertext = a[2].as_bytes()?;
            let key_pem = a[3].as_bytes()?;
            b.work(ciphertext.len() + key_pem.len())?;
            let Some(block) = keys::first_pem(key_pem) else {
                return invalid("failed to decode PEM block");
            };
            let key = keys::parse_any(block.contents()).map_err(|e| match e {
                FuncError::Invalid(m) => {
                    FuncError::Invalid(format!("could not parse private key: {m}"))
                }
                other => other,
            })?;
            let Some(rsa_key) = key.rsa() else {
                return invalid("could not parse RSA private key");
            };
            let plain = match hash {
                "SHA1" => rsa_key.decrypt(rsa::Oaep::<sha1::Sha1>::new(), ciphertext),
                "SHA512" => rsa_key.decrypt(rsa::Oaep::<sha2::Sha512>::new(), ciphertext),
                _ => rsa_key.decrypt(rsa::Oaep::<sha2::Sha256>::new(), ciphertext),
            }
            .or_else(|_| invalid("error decrypting data with RSA: decryption error"))?;
            b.produce(plain.len())?;
            Ok(Value::from_bytes(plain, || {
                "the result of rsaDecrypt".to_owned()
            }))
        }
    }
}
