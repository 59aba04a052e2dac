//! External Secrets Operator's PKCS#12 functions: `pkcs12key(Pass)` and `pkcs12cert(Pass)` read a
//! keystore as go-pkcs12's `DecodeChain` does (v3 PFX, password integrity with an HMAC-SHA-1/256/512
//! MAC, one or two safes, legacy PBE with SHA-1 and 3DES or RC2, PBES2 with PBKDF2 and AES-CBC),
//! and `pemToPkcs12(Pass)`, `fullPemToPkcs12(Pass)` and `pemTruststoreToPKCS12(Pass)` write one as
//! go-pkcs12's `Modern` encoder does (PBES2: PBKDF2-HMAC-SHA-256, 2048 iterations, 16-byte salt,
//! AES-256-CBC; MAC HMAC-SHA-256 with 2048 iterations). The keys come out as ESO writes them: one
//! `PRIVATE KEY` PEM block in Go's PKCS#8 form; the certificates as `CERTIFICATE` blocks, leaf first
//! when they form one chain. Messages never contain key material or passwords.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{
    BlockCipherDecrypt, BlockModeDecrypt as _, BlockModeEncrypt as _, InnerIvInit as _,
    KeyInit as _, KeyIvInit as _,
};
use base64::Engine as _;
use hmac::Hmac;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use zeroize::Zeroizing;

use crate::asn1::{self, Seq, Tlv};
use crate::budget::Budget;
use crate::funcs::{arity, go_pem, invalid};
use crate::keys::{self, PrivateKey};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

/// The names this module implements.
pub(crate) const FUNCTIONS: &[&str] = &[
    "pkcs12key",
    "pkcs12keyPass",
    "pkcs12cert",
    "pkcs12certPass",
    "pemToPkcs12",
    "pemToPkcs12Pass",
    "fullPemToPkcs12",
    "fullPemToPkcs12Pass",
    "pemTruststoreToPKCS12",
    "pemTruststoreToPKCS12Pass",
];

const OID_DATA: &str = "1.2.840.113549.1.7.1";
const OID_ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const OID_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.1";
const OID_SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
const OID_CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const OID_X509_CERT: &str = "1.2.840.113549.1.9.22.1";
const OID_LOCAL_KEY_ID: &str = "1.2.840.113549.1.9.21";
const OID_FRIENDLY_NAME: &str = "1.2.840.113549.1.9.20";
const OID_JAVA_TRUST_STORE: &str = "2.16.840.1.113894.746875.1.1";
const OID_ANY_EKU: &str = "2.5.29.37.0";
const OID_SHA1: &str = "1.3.14.3.2.26";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
const OID_PBE_3DES: &str = "1.2.840.113549.1.12.1.3";
const OID_PBE_RC2_128: &str = "1.2.840.113549.1.12.1.5";
const OID_PBE_RC2_40: &str = "1.2.840.113549.1.12.1.6";
const OID_PBES2: &str = "1.2.840.113549.1.5.13";
const OID_PBKDF2: &str = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA1: &str = "1.2.840.113549.2.7";
const OID_HMAC_SHA256: &str = "1.2.840.113549.2.9";
const OID_HMAC_SHA512: &str = "1.2.840.113549.2.11";
const OID_AES128_CBC: &str = "2.16.840.1.101.3.4.1.2";
const OID_AES192_CBC: &str = "2.16.840.1.101.3.4.1.22";
const OID_AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";

/// go-pkcs12's `Modern` parameters.
const ITERATIONS: u32 = 2048;
const SALT_LEN: usize = 16;

/// Work counted for each iteration of a key derivation: a keystore that asks for millions of
/// iterations runs out of budget before any is done.
const WORK_PER_ITERATION: usize = 16;

fn is(oid: &[u8], dotted: &str) -> bool {
    oid == asn1::oid(dotted).as_slice()
}

/// A password as PKCS#12 wants it: UCS-2 big-endian with a terminating zero (Go's
/// `bmpStringZeroTerminated`).
fn bmp(password: &str) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for c in password.chars() {
        let Ok(u) = u16::try_from(u32::from(c)) else {
            return invalid(
                "pkcs12: the keystore passphrase has characters that cannot be encoded in UCS-2",
            );
        };
        out.extend_from_slice(&u.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// The password's text back from its UCS-2 form (what PBES2 uses).
fn utf8_of_bmp(bmp: &[u8]) -> Zeroizing<Vec<u8>> {
    let units: Vec<u16> = bmp
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    Zeroizing::new(String::from_utf16_lossy(&units).into_bytes())
}

fn random(n: usize) -> Result<Vec<u8>, FuncError> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out).or_else(|_| invalid("no randomness available"))?;
    Ok(out)
}

fn charge(b: &mut Budget, iterations: i64) -> Result<(), FuncError> {
    let n = usize::try_from(iterations.max(1)).unwrap_or(usize::MAX);
    b.work(n.saturating_mul(WORK_PER_ITERATION))?;
    Ok(())
}

/// RFC 7292's key derivation (appendix B.2) with SHA-1, SHA-256 or SHA-512.
fn kdf(hash: &str, password: &[u8], salt: &[u8], id: u8, rounds: i64, len: usize) -> Vec<u8> {
    use pkcs12::kdf::{Pkcs12KeyType, derive_key};
    let id = match id {
        1 => Pkcs12KeyType::EncryptionKey,
        2 => Pkcs12KeyType::Iv,
        _ => Pkcs12KeyType::Mac,
    };
    let rounds = i32::try_from(rounds).unwrap_or(i32::MAX);
    match hash {
        OID_SHA256 => derive_key::<Sha256>(password, salt, id, rounds, len),
        OID_SHA512 => derive_key::<Sha512>(password, salt, id, rounds, len),
        _ => derive_key::<Sha1>(password, salt, id, rounds, len),
    }
}

fn hmac_of(hash: &str, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: hmac::Mac + hmac::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match hash {
        OID_SHA256 => run::<Hmac<Sha256>>(key, msg),
        OID_SHA512 => run::<Hmac<Sha512>>(key, msg),
        _ => run::<Hmac<Sha1>>(key, msg),
    }
}

/// The MAC of `content` as `MacData` describes it (go-pkcs12's `doMac`).
fn mac(
    mac_data: Tlv<'_>,
    content: &[u8],
    password: &[u8],
    b: &mut Budget,
) -> Result<Vec<u8>, FuncError> {
    const WHAT: &str = "pkcs12: MAC data";
    let mut s = Seq::new(mac_data, WHAT)?;
    let mut digest_info = Seq::new(s.take(asn1::SEQUENCE)?, WHAT)?;
    let (alg, _) = asn1::algorithm(digest_info.take(asn1::SEQUENCE)?, WHAT)?;
    let salt = s.take(asn1::OCTET_STRING)?.body;
    let iterations = match s.optional(asn1::INTEGER) {
        Some(t) => asn1::int(t, WHAT)?,
        None => 1,
    };
    let (hash, len) = if is(alg, OID_SHA1) {
        (OID_SHA1, 20)
    } else if is(alg, OID_SHA256) {
        (OID_SHA256, 32)
    } else if is(alg, OID_SHA512) {
        (OID_SHA512, 64)
    } else {
        return invalid("pkcs12: MAC digest algorithm not supported");
    };
    charge(b, iterations)?;
    let key = Zeroizing::new(kdf(hash, password, salt, 3, iterations, len));
    Ok(hmac_of(hash, &key, content))
}

fn mac_digest<'a>(mac_data: Tlv<'a>) -> Result<&'a [u8], FuncError> {
    const WHAT: &str = "pkcs12: MAC data";
    let mut s = Seq::new(mac_data, WHAT)?;
    let mut digest_info = Seq::new(s.take(asn1::SEQUENCE)?, WHAT)?;
    digest_info.take(asn1::SEQUENCE)?;
    Ok(digest_info.take(asn1::OCTET_STRING)?.body)
}

/// CBC decryption of `data` with `cipher` and `iv`, and go-pkcs12's padding check.
fn cbc_decrypt<C: BlockCipherDecrypt + Clone>(
    cipher: C,
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let block = C::block_size();
    if data.is_empty() {
        return invalid("pkcs12: empty encrypted data");
    }
    if !data.len().is_multiple_of(block) {
        return invalid("pkcs12: input is not a multiple of the block size");
    }
    let dec = cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv)
        .or_else(|_| invalid("pkcs12: the IV length does not match the cipher's block size"))?;
    let mut out = Zeroizing::new(
        dec.decrypt_padded_vec::<NoPadding>(data)
            .or_else(|_| invalid("pkcs12: decryption error"))?,
    );
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0
        || pad > block
        || out.len() < pad
        || out[out.len() - pad..]
            .iter()
            .any(|x| usize::from(*x) != pad)
    {
        return invalid("pkcs12: decryption error, incorrect padding");
    }
    let keep = out.len() - pad;
    out.truncate(keep);
    Ok(out)
}

/// Decrypts what an AlgorithmIdentifier describes (go-pkcs12's `pbDecrypt`).
fn pb_decrypt(
    alg: Tlv<'_>,
    data: &[u8],
    password: &[u8],
    b: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    const WHAT: &str = "pkcs12: encryption parameters";
    let (oid, params) = asn1::algorithm(alg, WHAT)?;
    let params = params.ok_or_else(|| FuncError::Invalid(format!("{WHAT}: missing")))?;
    if is(oid, OID_PBES2) {
        let mut s = Seq::new(params, WHAT)?;
        let (kdf_oid, kdf_params) = asn1::algorithm(s.take(asn1::SEQUENCE)?, WHAT)?;
        let (enc_oid, enc_params) = asn1::algorithm(s.take(asn1::SEQUENCE)?, WHAT)?;
        if !is(kdf_oid, OID_PBKDF2) {
            return invalid("pkcs12: this PBES2 key derivation is not supported");
        }
        let kdf_params =
            kdf_params.ok_or_else(|| FuncError::Invalid(format!("{WHAT}: missing")))?;
        let mut k = Seq::new(kdf_params, WHAT)?;
        let salt = k
            .optional(asn1::OCTET_STRING)
            .ok_or_else(|| {
                FuncError::Invalid(
                    "pkcs12: only octet string salts are supported for pbes2/pbkdf2".into(),
                )
            })?
            .body;
        let iterations = asn1::int(k.take(asn1::INTEGER)?, WHAT)?;
        let _key_length = k.optional(asn1::INTEGER);
        let prf = match k.optional(asn1::SEQUENCE) {
            Some(t) => {
                let (prf, _) = asn1::algorithm(t, WHAT)?;
                if is(prf, OID_HMAC_SHA256) {
                    OID_SHA256
                } else if is(prf, OID_HMAC_SHA512) {
                    OID_SHA512
                } else if is(prf, OID_HMAC_SHA1) {
                    OID_SHA1
                } else {
                    return invalid("pkcs12: this PBES2 pseudo-random function is not supported");
                }
            }
            None => OID_SHA1,
        };
        let key_len = if is(enc_oid, OID_AES256_CBC) {
            32
        } else if is(enc_oid, OID_AES192_CBC) {
            24
        } else if is(enc_oid, OID_AES128_CBC) {
            16
        } else {
            return invalid("pkcs12: this PBES2 cipher is not supported");
        };
        let iv = enc_params.map(|t| t.body).unwrap_or_default();
        if iterations < 1 {
            return invalid("pkcs12: invalid PBKDF2 iteration count");
        }
        charge(b, iterations)?;
        let pass = utf8_of_bmp(password);
        let rounds = u32::try_from(iterations).unwrap_or(u32::MAX);
        let mut key = Zeroizing::new(vec![0u8; key_len]);
        match prf {
            OID_SHA256 => pbkdf2::pbkdf2_hmac::<Sha256>(&pass, salt, rounds, &mut key),
            OID_SHA512 => pbkdf2::pbkdf2_hmac::<Sha512>(&pass, salt, rounds, &mut key),
            _ => pbkdf2::pbkdf2_hmac::<Sha1>(&pass, salt, rounds, &mut key),
        }
        return match key_len {
            32 => cbc_decrypt(
                aes::Aes256::new_from_slice(&key).expect("32-byte key"),
                iv,
                data,
            ),
            24 => cbc_decrypt(
                aes::Aes192::new_from_slice(&key).expect("24-byte key"),
                iv,
                data,
            ),
            _ => cbc_decrypt(
                aes::Aes128::new_from_slice(&key).expect("16-byte key"),
                iv,
                data,
            ),
        };
    }
    let (key_len, legacy) = if is(oid, OID_PBE_3DES) {
        (24, 0)
    } else if is(oid, OID_PBE_RC2_128) {
        (16, 128)
    } else if is(oid, OID_PBE_RC2_40) {
        (5, 40)
    } else {
        return invalid("pkcs12: this encryption algorithm is not supported");
    };
    let mut s = Seq::new(params, WHAT)?;
    let salt = s.take(asn1::OCTET_STRING)?.body;
    let iterations = asn1::int(s.take(asn1::INTEGER)?, WHAT)?;
    charge(b, iterations.saturating_mul(2))?;
    let key = Zeroizing::new(kdf(OID_SHA1, password, salt, 1, iterations, key_len));
    let iv = kdf(OID_SHA1, password, salt, 2, iterations, 8);
    if legacy == 0 {
        cbc_decrypt(
            des::TdesEde3::new_from_slice(&key).expect("24-byte key"),
            &iv,
            data,
        )
    } else {
        cbc_decrypt(rc2::Rc2::new_with_eff_key_len(&key, legacy), &iv, data)
    }
}

/// The parameters go-pkcs12's `Modern` encoder writes, and the encryption of `data` with them.
fn pbes2_encrypt(
    data: &[u8],
    password: &[u8],
    b: &mut Budget,
) -> Result<(Vec<u8>, Vec<u8>), FuncError> {
    charge(b, i64::from(ITERATIONS))?;
    let salt = random(SALT_LEN)?;
    let iv = random(16)?;
    let pass = utf8_of_bmp(password);
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(&pass, &salt, ITERATIONS, key.as_mut_slice());
    let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(key.as_slice(), &iv)
        .or_else(|_| invalid("pkcs12: cannot set up AES-256-CBC"))?;
    let encrypted = enc.encrypt_padded_vec::<Pkcs7>(data);
    let kdf_params = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::tlv(asn1::OCTET_STRING, &salt),
            &asn1::uint(u64::from(ITERATIONS)),
            &asn1::cons(asn1::SEQUENCE, &[&asn1::oid_tlv(OID_HMAC_SHA256)]),
        ],
    );
    let params = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::cons(asn1::SEQUENCE, &[&asn1::oid_tlv(OID_PBKDF2), &kdf_params]),
            &asn1::cons(
                asn1::SEQUENCE,
                &[
                    &asn1::oid_tlv(OID_AES256_CBC),
                    &asn1::tlv(asn1::OCTET_STRING, &iv),
                ],
            ),
        ],
    );
    let alg = asn1::cons(asn1::SEQUENCE, &[&asn1::oid_tlv(OID_PBES2), &params]);
    Ok((alg, encrypted))
}

/// What go-pkcs12's `DecodeChain` gives: the key, the first certificate, the others.
struct Chain {
    key: PrivateKey,
    certs: Vec<Vec<u8>>,
}

fn decode_chain(pfx: &[u8], password: &str, b: &mut Budget) -> Result<Chain, FuncError> {
    const WHAT: &str = "pkcs12: error reading P12 data";
    let mut password = bmp(password)?;
    let (top, rest) = asn1::read(pfx, WHAT)?;
    if !rest.is_empty() {
        return invalid("pkcs12: error reading P12 data: trailing data");
    }
    let mut s = Seq::new(top, WHAT)?;
    if asn1::int(s.take(asn1::INTEGER)?, WHAT)? != 3 {
        return invalid("pkcs12: can only decode v3 PFX PDU's");
    }
    let mut auth_safe = Seq::new(s.take(asn1::SEQUENCE)?, WHAT)?;
    if !is(auth_safe.take(asn1::OID)?.body, OID_DATA) {
        return invalid("pkcs12: only passphrase-protected PFX is implemented");
    }
    let wrapped = auth_safe.take(asn1::CTX0)?;
    let content = asn1::whole(wrapped.body, asn1::OCTET_STRING, WHAT)?.body;
    match s.optional(asn1::SEQUENCE) {
        None => {
            if password.as_slice() != [0, 0] {
                return invalid("pkcs12: no MAC in data");
            }
        }
        Some(mac_data) => {
            let want = mac_digest(mac_data)?;
            let got = mac(mac_data, content, &password, b)?;
            if got != want {
                // Some writers use an empty byte string for the empty password: one more try.
                let retry =
                    password.as_slice() == [0, 0] && mac(mac_data, content, &[], b)? == want;
                if !retry {
                    return invalid(
                        "pkcs12: the keystore passphrase is incorrect (its MAC does not match)",
                    );
                }
                password = Zeroizing::new(Vec::new());
            }
        }
    }
    let safes = asn1::items(asn1::whole(content, asn1::SEQUENCE, WHAT)?.body, WHAT)?;
    if safes.is_empty() || safes.len() > 2 {
        return invalid(format!(
            "pkcs12: expected between 1 and 2 items in the authenticated safe, but this file has {}",
            safes.len()
        ));
    }
    let mut key = None;
    let mut certs = Vec::new();
    for safe in safes {
        let mut ci = Seq::new(safe, WHAT)?;
        let kind = ci.take(asn1::OID)?.body;
        let inner = ci.take(asn1::CTX0)?.body;
        let data: Zeroizing<Vec<u8>> = if is(kind, OID_DATA) {
            Zeroizing::new(asn1::whole(inner, asn1::OCTET_STRING, WHAT)?.body.to_vec())
        } else if is(kind, OID_ENCRYPTED_DATA) {
            let (ed, _) = asn1::read(inner, WHAT)?;
            let mut ed = Seq::new(ed, WHAT)?;
            if asn1::int(ed.take(asn1::INTEGER)?, WHAT)? != 0 {
                return invalid("pkcs12: only version 0 of EncryptedData is supported");
            }
            let mut eci = Seq::new(ed.take(asn1::SEQUENCE)?, WHAT)?;
            eci.take(asn1::OID)?;
            let alg = eci.take(asn1::SEQUENCE)?;
            let encrypted = eci
                .optional(asn1::CTX0_PRIM)
                .map(|t| t.body)
                .unwrap_or_default();
            pb_decrypt(alg, encrypted, &password, b)?
        } else {
            return invalid(
                "pkcs12: only data and encryptedData content types are supported in authenticated safe",
            );
        };
        b.work(data.len())?;
        let bags = asn1::items(asn1::whole(&data, asn1::SEQUENCE, WHAT)?.body, WHAT)?;
        for bag in bags {
            let mut bag = Seq::new(bag, WHAT)?;
            let id = bag.take(asn1::OID)?.body;
            let value = asn1::whole(bag.take(asn1::CTX0)?.body, asn1::SEQUENCE, WHAT)
                .or_else(|_| invalid(WHAT))?;
            let raw = asn1::cons(asn1::SEQUENCE, &[value.body]);
            if is(id, OID_CERT_BAG) {
                let mut cb = Seq::new(value, "pkcs12: error decoding cert bag")?;
                if !is(cb.take(asn1::OID)?.body, OID_X509_CERT) {
                    return invalid("pkcs12: only X509 certificates are supported");
                }
                let der = asn1::whole(cb.take(asn1::CTX0)?.body, asn1::OCTET_STRING, WHAT)?.body;
                let (_, more) = asn1::read(der, "pkcs12: certificate")?;
                if !more.is_empty() {
                    return invalid("pkcs12: expected exactly one certificate in the certBag");
                }
                Certificate::from_der(der)
                    .or_else(|_| invalid("pkcs12: a certificate in the keystore is invalid"))?;
                certs.push(der.to_vec());
            } else if is(id, OID_KEY_BAG) || is(id, OID_SHROUDED_KEY_BAG) {
                if key.is_some() {
                    return invalid("pkcs12: expected exactly one key bag");
                }
                let raw = Zeroizing::new(raw);
                let parsed = if is(id, OID_KEY_BAG) {
                    keys::parse_pkcs8(&raw)?
                } else {
                    let mut epki =
                        Seq::new(value, "pkcs12: error decoding PKCS#8 shrouded key bag")?;
                    let alg = epki.take(asn1::SEQUENCE)?;
                    let encrypted = epki.take(asn1::OCTET_STRING)?.body;
                    let plain = pb_decrypt(alg, encrypted, &password, b)?;
                    keys::parse_pkcs8(&plain)
                        .or_else(|_| invalid("pkcs12: error parsing PKCS#8 private key"))?
                };
                key = Some(parsed);
            }
        }
    }
    if certs.is_empty() {
        return invalid("pkcs12: certificate missing");
    }
    let Some(key) = key else {
        return invalid("pkcs12: private key missing");
    };
    Ok(Chain { key, certs })
}

/// ESO's certificate order: the keystore's when the certificates do not form one chain.
fn ordered_certs(certs: &[Vec<u8>], b: &mut Budget) -> Result<String, FuncError> {
    let all: String = certs.iter().map(|c| go_pem("CERTIFICATE", c)).collect();
    b.work(all.len())?;
    Ok(crate::eso::order_chain_pem(&all).unwrap_or(all))
}

/// ESO's `parseCaCerts`: every PEM block must be a certificate, and nothing may follow the last one
/// (ESO dereferences the missing block there and the template fails).
fn parse_ca_certs(input: &str) -> Result<Vec<Vec<u8>>, FuncError> {
    let (found, rest) = crate::eso::pem_blocks(input);
    if rest {
        return invalid("the certificates are not PEM only (text follows the last block)");
    }
    found
        .iter()
        .map(|p| {
            Certificate::from_der(p.contents())
                .or_else(|_| invalid("a PEM block is not a valid certificate"))?;
            Ok(p.contents().to_vec())
        })
        .collect()
}

fn first_cert(input: &str) -> Result<(Vec<u8>, String), FuncError> {
    let (found, _) = crate::eso::pem_blocks(input);
    let Some(first) = found.first() else {
        return invalid("no PEM data found in the certificate");
    };
    Certificate::from_der(first.contents())
        .or_else(|_| invalid("the PEM block is not a valid certificate"))?;
    // What follows the first block's END line (its line end included), as Go's pem.Decode leaves it.
    let rest = match input.find("-----END ") {
        Some(end) => {
            let after = &input[end..];
            let line_end = after.find('\n').map_or(after.len(), |i| i + 1);
            after[line_end..].to_owned()
        }
        None => String::new(),
    };
    Ok((first.contents().to_vec(), rest))
}

fn local_key_id(cert: &[u8]) -> Vec<u8> {
    let sum = Sha1::digest(cert);
    asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_LOCAL_KEY_ID),
            &asn1::cons(asn1::SET, &[&asn1::tlv(asn1::OCTET_STRING, &sum)]),
        ],
    )
}

fn cert_bag(cert: &[u8], attributes: &[&[u8]]) -> Vec<u8> {
    let value = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_X509_CERT),
            &asn1::cons(asn1::CTX0, &[&asn1::tlv(asn1::OCTET_STRING, cert)]),
        ],
    );
    asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_CERT_BAG),
            &asn1::cons(asn1::CTX0, &[&value]),
            &asn1::cons(asn1::SET, attributes),
        ],
    )
}

fn encrypted_safe(bags: &[Vec<u8>], password: &[u8], b: &mut Budget) -> Result<Vec<u8>, FuncError> {
    let contents = Zeroizing::new(asn1::cons(
        asn1::SEQUENCE,
        &bags.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    ));
    let (alg, encrypted) = pbes2_encrypt(&contents, password, b)?;
    let eci = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_DATA),
            &alg,
            &asn1::tlv(asn1::CTX0_PRIM, &encrypted),
        ],
    );
    let ed = asn1::cons(asn1::SEQUENCE, &[&asn1::uint(0), &eci]);
    Ok(asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_ENCRYPTED_DATA),
            &asn1::cons(asn1::CTX0, &[&ed]),
        ],
    ))
}

/// The PFX around `safes` with go-pkcs12's `Modern` MAC, base64-encoded as ESO returns it.
fn pfx(safes: &[Vec<u8>], password: &[u8], b: &mut Budget) -> Result<String, FuncError> {
    let auth_safe = asn1::cons(
        asn1::SEQUENCE,
        &safes.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    charge(b, i64::from(ITERATIONS))?;
    let salt = random(SALT_LEN)?;
    let key = Zeroizing::new(kdf(
        OID_SHA256,
        password,
        &salt,
        3,
        i64::from(ITERATIONS),
        32,
    ));
    let digest = hmac_of(OID_SHA256, &key, &auth_safe);
    let mac_data = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::cons(
                asn1::SEQUENCE,
                &[
                    &asn1::cons(asn1::SEQUENCE, &[&asn1::oid_tlv(OID_SHA256)]),
                    &asn1::tlv(asn1::OCTET_STRING, &digest),
                ],
            ),
            &asn1::tlv(asn1::OCTET_STRING, &salt),
            &asn1::uint(u64::from(ITERATIONS)),
        ],
    );
    let out = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::uint(3),
            &asn1::cons(
                asn1::SEQUENCE,
                &[
                    &asn1::oid_tlv(OID_DATA),
                    &asn1::cons(asn1::CTX0, &[&asn1::tlv(asn1::OCTET_STRING, &auth_safe)]),
                ],
            ),
            &mac_data,
        ],
    );
    b.can_produce(out.len() / 3 * 4 + 4)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// go-pkcs12's `Modern.Encode`: the certificates encrypted in one safe (the leaf with the key's
/// local key id), the shrouded key in a plain one.
fn encode(
    cert: &[u8],
    key_pem: &str,
    cas: &[Vec<u8>],
    password: &str,
    b: &mut Budget,
) -> Result<String, FuncError> {
    let Some(block) = keys::first_pem(key_pem.as_bytes()) else {
        return invalid("no PEM data found in the private key");
    };
    let key = keys::parse_any(block.contents())?;
    let password = bmp(password)?;
    let id = local_key_id(cert);
    let mut bags = vec![cert_bag(cert, &[&id])];
    bags.extend(cas.iter().map(|c| cert_bag(c, &[])));
    let certs = encrypted_safe(&bags, &password, b)?;
    let pkcs8 = key.to_pkcs8()?;
    let (alg, encrypted) = pbes2_encrypt(&pkcs8, &password, b)?;
    let epki = asn1::cons(
        asn1::SEQUENCE,
        &[&alg, &asn1::tlv(asn1::OCTET_STRING, &encrypted)],
    );
    let key_bag = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_SHROUDED_KEY_BAG),
            &asn1::cons(asn1::CTX0, &[&epki]),
            &asn1::cons(asn1::SET, &[&id]),
        ],
    );
    let contents = asn1::cons(asn1::SEQUENCE, &[&key_bag]);
    let plain = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_DATA),
            &asn1::cons(asn1::CTX0, &[&asn1::tlv(asn1::OCTET_STRING, &contents)]),
        ],
    );
    pfx(&[certs, plain], &password, b)
}

/// The UCS-2 BMPString of `s` (go-pkcs12's `bmpString`).
fn bmp_string(s: &str) -> Result<Vec<u8>, FuncError> {
    let mut z = bmp(s)?.to_vec();
    z.truncate(z.len() - 2);
    Ok(z)
}

/// go-pkcs12's `Modern.EncodeTrustStore`: every certificate trusted for any purpose (Java's
/// trusted-certificate attribute) and named by its subject.
fn encode_trust_store(
    certs: &[Vec<u8>],
    password: &str,
    b: &mut Budget,
) -> Result<String, FuncError> {
    let password = bmp(password)?;
    let trust = asn1::cons(
        asn1::SEQUENCE,
        &[
            &asn1::oid_tlv(OID_JAVA_TRUST_STORE),
            &asn1::cons(asn1::SET, &[&asn1::oid_tlv(OID_ANY_EKU)]),
        ],
    );
    let mut bags = Vec::new();
    for der in certs {
        let cert = Certificate::from_der(der)
            .or_else(|_| invalid("a PEM block is not a valid certificate"))?;
        let subject = cert.tbs_certificate().subject().to_string();
        let name = asn1::cons(
            asn1::SEQUENCE,
            &[
                &asn1::oid_tlv(OID_FRIENDLY_NAME),
                &asn1::cons(
                    asn1::SET,
                    &[&asn1::tlv(asn1::BMP_STRING, &bmp_string(&subject)?)],
                ),
            ],
        );
        bags.push(cert_bag(der, &[&trust, &name]));
    }
    let safe = encrypted_safe(&bags, &password, b)?;
    pfx(&[safe], &password, b)
}

pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    if !FUNCTIONS.contains(&name) {
        return None;
    }
    Some(call_inner(name, a, b))
}

fn call_inner(name: &str, a: &[Value], b: &mut Budget) -> FResult {
    let out = match name {
        "pkcs12key" | "pkcs12keyPass" | "pkcs12cert" | "pkcs12certPass" => {
            let with_pass = name.ends_with("Pass");
            arity(a, if with_pass { 2 } else { 1 })?;
            let pass = if with_pass { a[0].as_str()? } else { "" };
            let input = a[a.len() - 1].as_bytes()?;
            b.work(input.len())?;
            let what = if name.starts_with("pkcs12key") {
                "unable to decode pkcs12 key"
            } else {
                "unable to decode pkcs12 certificate"
            };
            let chain = decode_chain(input, pass, b).map_err(|e| match e {
                FuncError::Invalid(m) => FuncError::Invalid(format!("{what}: {m}")),
                other => other,
            })?;
            if name.starts_with("pkcs12key") {
                let der = chain.key.to_pkcs8()?;
                go_pem("PRIVATE KEY", &der)
            } else {
                ordered_certs(&chain.certs, b)?
            }
        }
        "pemToPkcs12" | "pemToPkcs12Pass" | "fullPemToPkcs12" | "fullPemToPkcs12Pass" => {
            let with_pass = name.ends_with("Pass");
            arity(a, if with_pass { 3 } else { 2 })?;
            let cert = a[0].as_str()?;
            let key = a[1].as_str()?;
            let pass = if with_pass { a[2].as_str()? } else { "" };
            b.work(cert.len() + key.len())?;
            let (leaf, rest) = first_cert(cert)?;
            let cas = if name.starts_with("full") {
                parse_ca_certs(&rest)?
            } else {
                Vec::new()
            };
            encode(&leaf, key, &cas, pass, b)?
        }
        _ => {
            let with_pass = name.ends_with("Pass");
            arity(a, if with_pass { 2 } else { 1 })?;
            let certs = a[0].as_str()?;
            let pass = if with_pass { a[1].as_str()? } else { "" };
            b.work(certs.len())?;
            encode_trust_store(&parse_ca_certs(certs)?, pass, b)?
        }
    };
    b.produce(out.len())?;
    Ok(Value::str(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_ucs2_with_a_terminator() {
        assert_eq!(bmp("ab").unwrap().as_slice(), [0, b'a', 0, b'b', 0, 0]);
        assert_eq!(bmp("").unwrap().as_slice(), [0, 0]);
        assert!(bmp("\u{1F600}").is_err());
        assert_eq!(
            utf8_of_bmp(&bmp("pässword").unwrap()).as_slice(),
            "pässword".as_bytes()
        );
    }

    #[test]
    fn encoded_keystores_decode_again() {
        let mut b = Budget::default();
        let safes =
            encrypted_safe(&[cert_bag(b"\x30\x00", &[])], &bmp("pw").unwrap(), &mut b).unwrap();
        let out = pfx(&[safes], &bmp("pw").unwrap(), &mut b).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(out)
            .unwrap();
        // The certificate is not one, so decoding stops there, after the MAC and the decryption.
        let err = decode_chain(&der, "pw", &mut b).err().unwrap();
        assert!(matches!(err, FuncError::Invalid(m) if m.contains("certificate")));
        let err = decode_chain(&der, "wrong", &mut b).err().unwrap();
        assert!(matches!(err, FuncError::Invalid(m) if m.contains("passphrase is incorrect")));
    }
}
