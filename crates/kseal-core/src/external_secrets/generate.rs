//! Values of the generators kseal serves: [`password`], [`uuid`] and [`fake`], as ESO's generators of
//! those kinds produce them (the same keys, defaults, character sets, encodings and errors).
//!
//! Passwords follow ESO's generator (sethvargo/go-password): `length − digits − symbols` letters,
//! then the digits, then the symbols, each drawn uniformly from its set (without a character already
//! drawn unless `allowRepeat`), in a uniformly random order. Characters are bytes, as there: a
//! multi-byte symbol contributes its bytes one by one. Where ESO would loop forever (every symbol
//! already drawn as a letter or digit) or build a value no Secret can hold, kseal fails instead.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use kseal_api::generators::{FakeSpec, PasswordEncoding, PasswordSpec};
use rand::RngExt as _;
use rand::seq::SliceRandom as _;
use zeroize::Zeroizing;

use super::desired::Data;

/// ESO's default symbols.
pub const DEFAULT_SYMBOLS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";
/// ESO's default length.
pub const DEFAULT_LENGTH: i64 = 24;
/// Most bytes one generator writes (all its keys): the most a Secret holds.
pub const MAX_BYTES: usize = 1 << 20;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// Why a generator's spec cannot produce values. Messages name fields and counts, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// ESO's `number of digits and symbols must be less than total length`.
    #[error("number of digits and symbols must be less than total length")]
    ExceedsTotalLength,
    /// ESO's `number of letters exceeds available letters and repeats are not allowed`.
    #[error("number of letters exceeds available letters and repeats are not allowed")]
    LettersExceedAvailable,
    /// ESO's `number of digits exceeds available digits and repeats are not allowed`.
    #[error("number of digits exceeds available digits and repeats are not allowed")]
    DigitsExceedAvailable,
    /// ESO's `number of symbols exceeds available symbols and repeats are not allowed`.
    #[error("number of symbols exceeds available symbols and repeats are not allowed")]
    SymbolsExceedAvailable,
    /// Every symbol is already used as a letter or digit, and repeats are not allowed (ESO never
    /// returns).
    #[error(
        "spec.symbolCharacters: no symbol is left that the password does not hold already, and repeats are not allowed (allowRepeat: false)"
    )]
    SymbolsExhausted,
    /// ESO's `secretKeys must be non-empty and unique`.
    #[error("secretKeys must be non-empty and unique")]
    SecretKeys,
    /// More than a Secret can hold.
    #[error(
        "{keys} password(s) of {length} characters are more than a Secret holds ({MAX_BYTES} bytes)"
    )]
    TooLong {
        /// Characters per password.
        length: u64,
        /// Number of keys.
        keys: usize,
    },
}

/// The passwords of `spec`: one per `secretKeys` entry (default `password`).
pub fn password(spec: &PasswordSpec, rng: &mut impl rand::Rng) -> Result<Data, Error> {
    let length = if spec.length > 0 {
        spec.length
    } else {
        DEFAULT_LENGTH
    };
    // Go's int(float32(length) * 0.25): truncated.
    let quarter = length / 4;
    let digits = spec.digits.unwrap_or(quarter);
    let symbols = spec.symbols.unwrap_or(quarter);
    let symbol_set = match spec.symbol_characters.as_deref() {
        // go-password falls back to its default set for an empty one.
        None | Some("") => DEFAULT_SYMBOLS.as_bytes(),
        Some(set) => set.as_bytes(),
    };
    let keys: Vec<&str> = if spec.secret_keys.is_empty() {
        vec!["password"]
    } else {
        spec.secret_keys.iter().map(String::as_str).collect()
    };
    let distinct: BTreeSet<&str> = keys.iter().copied().collect();
    if keys.iter().any(|k| k.is_empty()) || distinct.len() != keys.len() {
        return Err(Error::SecretKeys);
    }
    let letters: Vec<u8> = if spec.no_upper {
        LOWER.to_vec()
    } else {
        [LOWER, UPPER].concat()
    };
    let chars = length - digits - symbols;
    if chars < 0 {
        return Err(Error::ExceedsTotalLength);
    }
    if !spec.allow_repeat {
        if chars > len(&letters) {
            return Err(Error::LettersExceedAvailable);
        }
        if digits > len(DIGITS) {
            return Err(Error::DigitsExceedAvailable);
        }
        if symbols > len(symbol_set) {
            return Err(Error::SymbolsExceedAvailable);
        }
    }
    // Negative counts draw nothing (and lengthen the letters), as in Go's loops.
    let counts = [chars, digits.max(0), symbols.max(0)].map(|n| u64::try_from(n).unwrap_or(0));
    let total: u64 = counts.iter().sum();
    if usize::try_from(total)
        .ok()
        .and_then(|t| t.checked_mul(keys.len()))
        .is_none_or(|bytes| bytes > MAX_BYTES)
    {
        return Err(Error::TooLong {
            length: total,
            keys: keys.len(),
        });
    }
    let sets: [&[u8]; 3] = [&letters, DIGITS, symbol_set];
    let mut out = Data::new();
    for key in keys {
        let mut chosen = Zeroizing::new(Vec::with_capacity(total as usize));
        let mut used = [false; 256];
        for (set, count) in sets.iter().zip(counts) {
            for _ in 0..count {
                let byte = if spec.allow_repeat {
                    set[rng.random_range(0..set.len())]
                } else {
                    // Drawing from the set until an unused byte comes up picks uniformly among the
                    // set's unused entries: pick among those directly.
                    let unused = set.iter().filter(|b| !used[usize::from(**b)]).count();
                    if unused == 0 {
                        return Err(Error::SymbolsExhausted);
                    }
                    let nth = rng.random_range(0..unused);
                    let byte = *set
                        .iter()
                        .filter(|b| !used[usize::from(**b)])
                        .nth(nth)
                        .unwrap_or(&set[0]);
                    used[usize::from(byte)] = true;
                    byte
                };
                chosen.push(byte);
            }
        }
        // Inserting each character at a uniformly random position (go-password) orders them
        // uniformly at random: a shuffle does the same in linear time.
        chosen.shuffle(rng);
        out.insert(
            key.to_owned(),
            encode(chosen, spec.encoding.unwrap_or_default()),
        );
    }
    Ok(out)
}

fn len(set: &[u8]) -> i64 {
    i64::try_from(set.len()).unwrap_or(i64::MAX)
}

fn encode(raw: Zeroizing<Vec<u8>>, encoding: PasswordEncoding) -> Zeroizing<Vec<u8>> {
    let text = match encoding {
        PasswordEncoding::Raw => return raw,
        PasswordEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&*raw),
        PasswordEncoding::Base64url => base64::engine::general_purpose::URL_SAFE.encode(&*raw),
        PasswordEncoding::Base32 => data_encoding::BASE32.encode(&raw),
        PasswordEncoding::Hex => hex::encode(&*raw),
    };
    Zeroizing::new(text.into_bytes())
}

/// A random (version 4) UUID under the key `uuid`, lowercase and hyphenated.
pub fn uuid(rng: &mut impl rand::Rng) -> Data {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    Data::from([(
        "uuid".to_owned(),
        Zeroizing::new(id.hyphenated().to_string().into_bytes()),
    )])
}

/// The Fake generator's data as it is.
pub fn fake(spec: &FakeSpec) -> Data {
    spec.data
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone().into_bytes())))
        .collect::<BTreeMap<_, _>>()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn text(data: &Data, key: &str) -> String {
        String::from_utf8(data[key].to_vec()).unwrap()
    }

    fn classes(password: &str, symbols: &str) -> (usize, usize, usize, usize) {
        let b = password.as_bytes();
        (
            b.iter().filter(|c| c.is_ascii_lowercase()).count(),
            b.iter().filter(|c| c.is_ascii_uppercase()).count(),
            b.iter().filter(|c| c.is_ascii_digit()).count(),
            b.iter().filter(|c| symbols.as_bytes().contains(c)).count(),
        )
    }

    #[test]
    fn the_default_password_has_24_characters_6_digits_6_symbols_and_no_repeats() {
        let mut rng = rng();
        for _ in 0..200 {
            let data = password(&PasswordSpec::default(), &mut rng).unwrap();
            assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
            let p = text(&data, "password");
            let (lower, upper, digits, symbols) = classes(&p, DEFAULT_SYMBOLS);
            assert_eq!((lower + upper, digits, symbols), (12, 6, 6), "{p}");
            let distinct: BTreeSet<u8> = p.bytes().collect();
            assert_eq!(distinct.len(), 24, "{p}");
        }
    }

    #[test]
    fn every_position_gets_every_class() {
        // The order is random: over many passwords each position sees letters, digits and symbols.
        let mut rng = rng();
        let mut seen = [[false; 3]; 24];
        for _ in 0..500 {
            let p = text(
                &password(&PasswordSpec::default(), &mut rng).unwrap(),
                "password",
            );
            for (i, c) in p.bytes().enumerate() {
                let class = if c.is_ascii_alphabetic() {
                    0
                } else if c.is_ascii_digit() {
                    1
                } else {
                    2
                };
                seen[i][class] = true;
            }
        }
        assert!(seen.iter().all(|s| s.iter().all(|x| *x)), "{seen:?}");
    }

    #[test]
    fn options_shape_the_password() {
        let spec = PasswordSpec {
            length: 40,
            digits: Some(0),
            symbols: Some(3),
            symbol_characters: Some("-_".into()),
            no_upper: true,
            allow_repeat: true,
            ..PasswordSpec::default()
        };
        let p = text(&password(&spec, &mut rng()).unwrap(), "password");
        let (lower, upper, digits, symbols) = classes(&p, "-_");
        assert_eq!((p.len(), lower, upper, digits, symbols), (40, 37, 0, 0, 3));
    }

    #[test]
    fn a_length_of_zero_or_less_is_the_default() {
        for length in [0, -5] {
            let spec = PasswordSpec {
                length,
                ..PasswordSpec::default()
            };
            assert_eq!(
                text(&password(&spec, &mut rng()).unwrap(), "password").len(),
                24
            );
        }
    }

    #[test]
    fn esos_errors() {
        let cases = [
            (
                PasswordSpec {
                    length: 4,
                    digits: Some(3),
                    symbols: Some(2),
                    ..PasswordSpec::default()
                },
                Error::ExceedsTotalLength,
            ),
            (
                PasswordSpec {
                    length: 60,
                    digits: Some(0),
                    symbols: Some(0),
                    ..PasswordSpec::default()
                },
                Error::LettersExceedAvailable,
            ),
            (
                PasswordSpec {
                    length: 30,
                    digits: Some(11),
                    symbols: Some(0),
                    ..PasswordSpec::default()
                },
                Error::DigitsExceedAvailable,
            ),
            (
                PasswordSpec {
                    length: 30,
                    symbols: Some(3),
                    symbol_characters: Some("#!".into()),
                    ..PasswordSpec::default()
                },
                Error::SymbolsExceedAvailable,
            ),
            (
                PasswordSpec {
                    secret_keys: vec!["a".into(), "a".into()],
                    ..PasswordSpec::default()
                },
                Error::SecretKeys,
            ),
        ];
        for (spec, error) in cases {
            assert_eq!(password(&spec, &mut rng()), Err(error));
        }
    }

    #[test]
    fn symbols_that_are_all_used_already_fail_instead_of_looping() {
        // 52 letters without repeats use every letter; the only symbol is a letter.
        let spec = PasswordSpec {
            length: 53,
            digits: Some(0),
            symbols: Some(1),
            symbol_characters: Some("a".into()),
            ..PasswordSpec::default()
        };
        assert_eq!(password(&spec, &mut rng()), Err(Error::SymbolsExhausted));
    }

    #[test]
    fn a_password_longer_than_a_secret_holds_is_refused() {
        let spec = PasswordSpec {
            length: 2_000_000,
            allow_repeat: true,
            ..PasswordSpec::default()
        };
        assert!(matches!(
            password(&spec, &mut rng()),
            Err(Error::TooLong { .. })
        ));
        // Negative digits lengthen the letters, as in ESO: bounded as well.
        let spec = PasswordSpec {
            digits: Some(-10_000_000),
            allow_repeat: true,
            ..PasswordSpec::default()
        };
        assert!(matches!(
            password(&spec, &mut rng()),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn each_secret_key_gets_its_own_password_in_the_encoding() {
        let spec = PasswordSpec {
            secret_keys: vec!["a".into(), "b".into()],
            encoding: Some(PasswordEncoding::Hex),
            ..PasswordSpec::default()
        };
        let data = password(&spec, &mut rng()).unwrap();
        assert_eq!(data.len(), 2);
        assert_ne!(data["a"], data["b"]);
        for value in data.values() {
            assert_eq!(value.len(), 48);
            let raw = hex::decode(&**value).unwrap();
            assert_eq!(raw.len(), 24);
        }
        assert_eq!(
            encode(
                Zeroizing::new(b"Test>>Pass??word".to_vec()),
                PasswordEncoding::Base64
            )
            .as_slice(),
            b"VGVzdD4+UGFzcz8/d29yZA=="
        );
        assert_eq!(
            encode(
                Zeroizing::new(b"Test>>Pass??word".to_vec()),
                PasswordEncoding::Base64url
            )
            .as_slice(),
            b"VGVzdD4-UGFzcz8_d29yZA=="
        );
        assert_eq!(
            encode(Zeroizing::new(b"ab".to_vec()), PasswordEncoding::Base32).as_slice(),
            b"MFRA===="
        );
    }

    #[test]
    fn uuids_are_version_4_lowercase_and_distinct() {
        let mut rng = rng();
        let a = text(&uuid(&mut rng), "uuid");
        let b = text(&uuid(&mut rng), "uuid");
        assert_ne!(a, b);
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&a), "{a}");
    }

    #[test]
    fn fake_returns_its_data() {
        let spec = FakeSpec {
            controller: None,
            data: BTreeMap::from([("k".into(), "v".into())]),
        };
        assert_eq!(text(&fake(&spec), "k"), "v");
    }
}
