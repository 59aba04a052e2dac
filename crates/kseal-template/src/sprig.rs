//! The sprig v3.3.0 functions beyond the core set (in `funcs`), with sprig's semantics: byte-wise
//! string slicing, `spf13/cast` conversions (`int "0x1F"` is 31, a bad number 0), `int64` arithmetic,
//! decimal arithmetic for the `...f` functions, reflection-style list and dict helpers, Go RE2 regular
//! expressions and Go's `path` helpers. Errors never quote a value: only what went wrong.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::budget::{Budget, Limit, MAX_VALUE_NODES};
use crate::funcs::{arity, at_least, invalid};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

/// The function names this module implements.
pub(crate) const FUNCTIONS: &[&str] = &[
    "hello",
    "substr",
    "abbrev",
    "abbrevboth",
    "initials",
    "untitle",
    "swapcase",
    "snakecase",
    "camelcase",
    "kebabcase",
    "wrap",
    "wrapWith",
    "plural",
    "splitn",
    "toStrings",
    "trimall",
    "sha1sum",
    "sha512sum",
    "adler32sum",
    "b32enc",
    "b32dec",
    "atoi",
    "int",
    "int64",
    "float64",
    "toDecimal",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "biggest",
    "min",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "seq",
    "until",
    "untilStep",
    "tuple",
    "first",
    "mustFirst",
    "last",
    "mustLast",
    "rest",
    "mustRest",
    "initial",
    "mustInitial",
    "append",
    "mustAppend",
    "push",
    "mustPush",
    "prepend",
    "mustPrepend",
    "concat",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "compact",
    "mustCompact",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "slice",
    "mustSlice",
    "chunk",
    "mustChunk",
    "sortAlpha",
    "all",
    "any",
    "keys",
    "values",
    "pick",
    "omit",
    "pluck",
    "set",
    "unset",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "dig",
    "deepCopy",
    "mustDeepCopy",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "fail",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "base",
    "dir",
    "ext",
    "clean",
    "isAbs",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "html",
    "js",
    "hexdec",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randBytes",
    "randInt",
    "uuidv4",
    "urlParse",
    "urlJoin",
    "bcrypt",
    "htpasswd",
    "duration",
    "durationRound",
    "encryptAES",
    "decryptAES",
    "derivePassword",
    "shuffle",
    // In `objects`:
    "now",
    "date",
    "dateInZone",
    "date_in_zone",
    "htmlDate",
    "htmlDateInZone",
    "toDate",
    "mustToDate",
    "unixEpoch",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "must_date_modify",
    "ago",
    "semver",
    "semverCompare",
];

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha2::Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = sha2::Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// sprig's `derivePassword` (Master Password v3): scrypt of the password with the user as salt,
/// HMAC-SHA256 of the site and counter, characters picked from the template of `kind`.
fn derive_password(
    counter: u32,
    kind: &str,
    password: &[u8],
    user: &[u8],
    site: &[u8],
) -> Result<String, FuncError> {
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return Ok(format!("cannot find password template {kind}")),
    };
    let mut salt = SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user);
    let params = scrypt::Params::new(15, 8, 2, 64).or_else(|_| invalid("scrypt parameters"))?;
    let mut key = zeroize::Zeroizing::new([0u8; 64]);
    scrypt::scrypt(password, &salt, &params, &mut *key).or_else(|_| invalid("scrypt failed"))?;
    let mut msg = SEED.to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site);
    msg.extend_from_slice(&counter.to_be_bytes());
    let seed = hmac_sha256(&*key, &msg);
    let template = templates[usize::from(seed[0]) % templates.len()];
    let chars = |c: u8| -> &'static [u8] {
        match c {
            b'V' => b"AEIOU",
            b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
            b'v' => b"aeiou",
            b'c' => b"bcdfghjklmnpqrstvwxyz",
            b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
            b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
            b'n' => b"0123456789",
            b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
            _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
        }
    };
    Ok(template
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let set = chars(c);
            char::from(set[usize::from(seed[i + 1]) % set.len()])
        })
        .collect())
}

/// sprig's AES key: the password's bytes in 32 zeroed bytes (a longer password is cut).
fn aes_cipher(password: &[u8]) -> aes::Aes256 {
    use aes::cipher::KeyInit as _;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password[..n]);
    aes::Aes256::new(&aes::cipher::Array::from(*key))
}

/// sprig's `encryptAES`: AES-256-CBC with PKCS#7 padding and a random IV, base64 of IV and ciphertext.
fn encrypt_aes(password: &[u8], plain: &[u8]) -> Result<String, FuncError> {
    use aes::cipher::BlockCipherEncrypt as _;
    if plain.is_empty() {
        return Ok(String::new());
    }
    let cipher = aes_cipher(password);
    let pad = 16 - plain.len() % 16;
    let mut data = zeroize::Zeroizing::new(plain.to_vec());
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = random_bytes(16)?;
    let mut prev: [u8; 16] = out[..16].try_into().unwrap_or([0; 16]);
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        for (i, b) in block.iter_mut().enumerate() {
            *b = chunk[i] ^ prev[i];
        }
        let mut arr = aes::cipher::Array::from(block);
        cipher.encrypt_block(&mut arr);
        prev = arr.into();
        out.extend_from_slice(&prev);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// sprig's `decryptAES` (where Go panics on a short or unpadded input, an error).
fn decrypt_aes(password: &[u8], crypt64: &str) -> Result<Vec<u8>, FuncError> {
    use aes::cipher::BlockCipherDecrypt as _;
    let crypt = base64::engine::general_purpose::STANDARD
        .decode(crypt64)
        .or_else(|_| invalid("input is not valid base64"))?;
    if crypt.len() < 16 || crypt.len() % 16 != 0 {
        return invalid("input is not a whole number of AES blocks");
    }
    let cipher = aes_cipher(password);
    let mut prev: [u8; 16] = crypt[..16].try_into().unwrap_or([0; 16]);
    let mut out = Vec::with_capacity(crypt.len() - 16);
    for chunk in crypt[16..].chunks(16) {
        let this: [u8; 16] = chunk.try_into().unwrap_or([0; 16]);
        let mut arr = aes::cipher::Array::from(this);
        cipher.decrypt_block(&mut arr);
        let block: [u8; 16] = arr.into();
        out.extend(block.iter().zip(prev.iter()).map(|(a, b)| a ^ b));
        prev = this;
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad > out.len() {
        return invalid("bad padding");
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

/// Go's `time.Duration.String` of `d` nanoseconds.
pub(crate) fn go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let mut u = d.unsigned_abs();
    let sign = if d < 0 { "-" } else { "" };
    // The digits of `v` / 10^prec with the trailing zeros of the fraction dropped.
    let frac = |v: u64, prec: u32| -> String {
        let p = 10u64.pow(prec);
        let (whole, f) = (v / p, v % p);
        if f == 0 {
            return whole.to_string();
        }
        let digits = format!("{f:0width$}", width = prec as usize);
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("\u{b5}s", 3)
        } else {
            ("ms", 6)
        };
        return format!("{sign}{}{unit}", frac(u, prec));
    }
    let secs_ns = u % 60_000_000_000;
    u /= 60_000_000_000;
    let mut out = format!("{}s", frac(secs_ns, 9));
    if u > 0 {
        out = format!("{}m{out}", u % 60);
        u /= 60;
        if u > 0 {
            out = format!("{u}h{out}");
        }
    }
    format!("{sign}{out}")
}

/// sprig's `bcrypt`: Go's `bcrypt.GenerateFromPassword` at the default cost 10, `$2a$` form; a password
/// longer than 72 bytes gives sprig's failure text, as Go refuses it.
fn bcrypt_text(password: &[u8]) -> Result<String, FuncError> {
    match bcrypt::non_truncating_hash_with_result(password, 10) {
        Ok(parts) => Ok(parts.format_for_version(bcrypt::Version::TwoA)),
        Err(bcrypt::BcryptError::Truncation(_)) => Ok(
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".into(),
        ),
        Err(_) => invalid("bcrypt failed"),
    }
}

/// Go's `url.Parse` for the URLs templates build (scheme, `//userinfo@host`, path, query, fragment);
/// the map sprig's `urlParse` returns.
fn url_parse(raw: &str) -> Result<BTreeMap<String, Value>, FuncError> {
    let (rest, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let mut scheme = "";
    let mut rest = rest;
    if let Some(colon) = rest.find(':') {
        let candidate = &rest[..colon];
        if !candidate.is_empty()
            && candidate.starts_with(|c: char| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            scheme = candidate;
            rest = &rest[colon + 1..];
        } else if colon == 0 {
            return invalid("unable to parse url: missing protocol scheme");
        }
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut userinfo, mut host, mut opaque, mut path) = ("", "", "", rest);
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        match authority.rsplit_once('@') {
            Some((u, h)) => {
                userinfo = u;
                host = h;
            }
            None => host = authority,
        }
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest;
        path = "";
    }
    let hostname = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| &h[1..])
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let v = |s: &str| Value::str(s);
    Ok(BTreeMap::from([
        ("scheme".to_owned(), v(&scheme.to_ascii_lowercase())),
        ("host".to_owned(), v(host)),
        ("hostname".to_owned(), v(hostname)),
        ("path".to_owned(), v(path)),
        ("query".to_owned(), v(query)),
        ("opaque".to_owned(), v(opaque)),
        ("fragment".to_owned(), v(fragment)),
        ("userinfo".to_owned(), v(userinfo)),
    ]))
}

/// `n` random bytes from the operating system.
fn random_bytes(n: usize) -> Result<Vec<u8>, FuncError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).or_else(|_| invalid("no randomness available"))?;
    Ok(buf)
}

/// A uniformly random number below `n` (rejection sampling).
fn random_below(n: u64) -> Result<u64, FuncError> {
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8)?;
        let v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        if v < zone {
            return Ok(v % n);
        }
    }
}

/// `count` characters drawn uniformly from `set` (goutils' crypto random strings).
fn random_string(count: i64, set: &[u8], b: &mut Budget) -> FResult {
    let count = usize::try_from(count).or_else(|_| invalid("negative count"))?;
    b.can_produce(count)?;
    let mut out = String::with_capacity(count);
    for _ in 0..count {
        out.push(char::from(set[random_below(set.len() as u64)? as usize]));
    }
    text(b, out)
}

/// A parameter Go types as `int`: only an integer is accepted (a float or a string is a type error).
fn int_param(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => invalid(format!(
            "wrong type for value; expected int; got {}",
            other.kind()
        )),
    }
}

fn str_param(v: &Value) -> Result<&str, FuncError> {
    Ok(v.as_str()?)
}

/// A string result built from bytes (byte-wise slicing may cut a character: Go keeps the bytes).
fn bytes_result(b: &mut Budget, bytes: &[u8]) -> FResult {
    b.produce(bytes.len())?;
    Ok(Value::from_bytes(bytes.to_vec(), || {
        "a part of a value cut by a function".to_owned()
    }))
}

fn text(b: &mut Budget, s: String) -> FResult {
    b.produce(s.len())?;
    Ok(Value::str(s))
}

fn list(b: &mut Budget, items: Vec<Value>) -> FResult {
    if items.len() > MAX_VALUE_NODES {
        return Err(FuncError::Limit(Limit::ValueNodes));
    }
    b.nodes(items.len().saturating_add(1))?;
    Ok(Value::List(Rc::new(items)))
}

fn map(b: &mut Budget, m: BTreeMap<String, Value>) -> FResult {
    b.nodes(m.len().saturating_add(1))?;
    Ok(Value::Map(Rc::new(m)))
}

/// `spf13/cast`'s `ToInt64`: numbers truncated, strings parsed as Go integer literals (`0x`, `0o`,
/// leading `0` octal, a trailing `.0...` ignored), anything unparsable 0.
pub(crate) fn cast_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(s).unwrap_or(0),
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    parse_go_int_literal(s).or_else(|| {
        // cast v1.10 then reads the text as a float and truncates it ("3.9" is 3).
        let f: f64 = s
            .parse()
            .ok()
            .filter(|_| !s.contains(['i', 'n', 'N', 'I']))?;
        (f.abs() < 9.2e18).then_some(f as i64)
    })
}

fn parse_go_int_literal(s: &str) -> Option<i64> {
    let s = match s.find('.') {
        Some(dot) if s[dot + 1..].bytes().all(|b| b == b'0') => &s[..dot],
        _ => s,
    };
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r.to_owned())
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r.to_owned())
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower)
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(&body, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// `spf13/cast`'s `ToFloat64`: strings parsed as Go floats, anything unparsable 0.
pub(crate) fn cast_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s
            .parse::<f64>()
            .ok()
            .filter(|_| !s.contains(['i', 'n', 'N', 'I']))
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

/// A float64 as `shopspring/decimal`'s `NewFromFloat` sees it: the shortest decimal that reads back
/// as the same float, as a mantissa and a count of decimal places.
fn decimal(f: f64) -> Option<(i128, u32)> {
    if !f.is_finite() {
        return None;
    }
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let frac = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let places = frac - exp;
    let mut m: i128 = digits.parse().ok()?;
    if neg {
        m = -m;
    }
    if places >= 0 {
        (places <= 30).then_some((m, places as u32))
    } else {
        let scale = 10i128.checked_pow((-places) as u32)?;
        Some((m.checked_mul(scale)?, 0))
    }
}

fn decimal_to_float((m, places): (i128, u32)) -> f64 {
    format!("{m}e-{places}").parse().unwrap_or(f64::NAN)
}

/// sprig's `...f` arithmetic: exact decimal arithmetic on the floats' shortest decimal forms, then the
/// nearest float (so `mulf 1.1 3` is 3.3). Falls back to float arithmetic past 38 digits.
fn decimal_op(a: f64, b: f64, op: char) -> f64 {
    let exact = (|| {
        let (am, ap) = decimal(a)?;
        let (bm, bp) = decimal(b)?;
        match op {
            '*' => Some((am.checked_mul(bm)?, ap + bp)),
            _ => {
                let p = ap.max(bp);
                let am = am.checked_mul(10i128.checked_pow(p - ap)?)?;
                let bm = bm.checked_mul(10i128.checked_pow(p - bp)?)?;
                Some((
                    if op == '+' {
                        am.checked_add(bm)?
                    } else {
                        am.checked_sub(bm)?
                    },
                    p,
                ))
            }
        }
    })();
    match exact {
        Some(d) => decimal_to_float(d),
        None => match op {
            '*' => a * b,
            '+' => a + b,
            _ => a - b,
        },
    }
}

/// Go's `fmt.Sprint` of one value as sprig's `strval` uses it.
fn strval(v: &Value, b: &Budget) -> Result<Zeroizing<String>, FuncError> {
    Ok(v.to_text(b.cap())?)
}

fn items(v: &Value, func: &str) -> Result<Rc<Vec<Value>>, FuncError> {
    match v {
        Value::List(l) => Ok(Rc::clone(l)),
        other => invalid(format!(
            "{func}: cannot use type {} as a list",
            crate::value::go_kind(other)
        )),
    }
}

fn dict_param<'a>(v: &'a Value, func: &str) -> Result<&'a Rc<BTreeMap<String, Value>>, FuncError> {
    match v {
        Value::Map(m) => Ok(m),
        other => invalid(format!(
            "{func}: wrong type for value; expected map[string]interface {{}}; got {}",
            crate::value::go_type(other)
        )),
    }
}

/// Go's `reflect.DeepEqual` on template values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(_) | Value::Bytes(_), Value::Str(_) | Value::Bytes(_)) => {
            a.as_bytes().ok() == b.as_bytes().ok()
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Time(_) | Value::Semver(_), _) => crate::objects::deep_equal(a, b),
        _ => false,
    }
}

/// sprig's `empty`.
fn is_empty(v: &Value) -> bool {
    !v.is_truthy()
}

fn regex(pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).or_else(|_| invalid("invalid regular expression"))
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's `regexp.Split`.
fn regex_split(re: &regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if s.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let mut beg = 0;
    let mut end;
    for m in re.find_iter(s) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() == 0 {
            continue;
        }
        out.push(s[beg..end].to_owned());
        beg = m.end();
    }
    out.push(s[beg..].to_owned());
    out
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

fn dir(p: &str) -> String {
    let cut = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..cut])
}

fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_owned();
        }
    }
    String::new()
}

/// Go's `template.HTMLEscapeString` on bytes.
pub(crate) fn html_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString` on bytes.
pub(crate) fn js_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < 0x80 {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'<' => out.extend_from_slice(b"\\u003C"),
                b'>' => out.extend_from_slice(b"\\u003E"),
                b'&' => out.extend_from_slice(b"\\u0026"),
                b'=' => out.extend_from_slice(b"\\u003D"),
                c if c < b' ' => out.extend_from_slice(format!("\\u00{c:02X}").as_bytes()),
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        let (ch, size) = crate::text::decode_rune(&s[i..]);
        if ch.is_none_or(crate::text::is_go_printable) {
            out.extend_from_slice(&s[i..i + size]);
        } else if let Some(ch) = ch {
            out.extend_from_slice(format!("\\u{:04X}", ch as u32).as_bytes());
        }
        i += size;
    }
    out
}

/// Go's `strings.SplitN`.
fn split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n < 0 || chars.len() as i64 <= n {
            return chars;
        }
        let n = n as usize;
        let mut out: Vec<String> = chars[..n - 1].to_vec();
        out.push(chars[n - 1..].concat());
        return out;
    }
    if n < 0 {
        s.split(sep).map(str::to_owned).collect()
    } else {
        s.splitn(n as usize, sep).map(str::to_owned).collect()
    }
}

fn swapcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut whitespace = true;
    for c in s.chars() {
        if matches!(c, 'ǅ' | 'ǈ' | 'ǋ' | 'ǲ') || c.is_uppercase() {
            out.push(crate::text::go_lower_char(c));
            whitespace = false;
        } else if c.is_lowercase() {
            out.push(if whitespace {
                crate::text::go_to_title(c)
            } else {
                crate::text::go_upper_char(c)
            });
            whitespace = false;
        } else {
            whitespace = c.is_whitespace();
            out.push(c);
        }
    }
    out
}

fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut next = true;
    for c in s.chars() {
        if c.is_whitespace() {
            next = true;
            out.push(c);
        } else if next {
            out.push(crate::text::go_lower_char(c));
            next = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn initials(s: &[u8]) -> String {
    // goutils reads the string byte by byte: a byte of a multi-byte character becomes a Latin-1 char.
    let mut out = String::new();
    let mut gap = true;
    for &b in s {
        let ch = char::from(b);
        if ch.is_whitespace() && (b < 0x80 || b == 0x85 || b == 0xA0) {
            gap = true;
        } else if gap {
            out.push(ch);
            gap = false;
        }
    }
    out
}

/// goutils `WrapCustom` (byte offsets, words split at spaces).
fn wrap(s: &str, width: i64, newline: &str, long_words: bool) -> Vec<u8> {
    let str_ = s.as_bytes();
    if str_.is_empty() {
        return Vec::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let len = str_.len();
    let mut offset = 0;
    let mut out = Vec::new();
    while len - offset > width {
        if str_[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        let space = str_[offset..end]
            .iter()
            .rposition(|&c| c == b' ')
            .map(|p| p + offset);
        if let Some(space) = space {
            out.extend_from_slice(&str_[offset..space]);
            out.extend_from_slice(newline.as_bytes());
            offset = space + 1;
        } else if long_words {
            let end = width + offset;
            out.extend_from_slice(&str_[offset..end]);
            out.extend_from_slice(newline.as_bytes());
            offset += width;
        } else {
            let end = width + offset;
            match str_[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&str_[offset..]);
                    offset = len;
                }
                Some(i) => {
                    let space = i + end;
                    out.extend_from_slice(&str_[offset..space]);
                    out.extend_from_slice(newline.as_bytes());
                    offset = space + 1;
                }
            }
        }
    }
    out.extend_from_slice(&str_[offset..]);
    out
}

/// goutils `AbbreviateFull` (byte offsets).
fn abbreviate(b: &[u8], offset: i64, width: i64) -> Result<Vec<u8>, FuncError> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    if width < 4 {
        return invalid("minimum abbreviation width is 4");
    }
    let len = b.len() as i64;
    if len <= width {
        return Ok(b.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    let marker = b"...";
    if offset <= 4 {
        let mut out = b[..(width - 3) as usize].to_vec();
        out.extend_from_slice(marker);
        return Ok(out);
    }
    if width < 7 {
        return invalid("minimum abbreviation width with offset is 7");
    }
    if offset + width - 3 < len {
        let mut out = marker.to_vec();
        out.extend(abbreviate(&b[offset as usize..], 0, width - 3)?);
        return Ok(out);
    }
    let mut out = marker.to_vec();
    out.extend_from_slice(&b[(len - (width - 3)) as usize..]);
    Ok(out)
}

fn until_step(start: i64, stop: i64, step: i64, b: &mut Budget) -> Result<Vec<i64>, FuncError> {
    let mut v = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        while i > stop {
            v.push(i);
            i += step;
            if v.len() > MAX_VALUE_NODES {
                return Err(FuncError::Limit(Limit::ValueNodes));
            }
        }
    } else {
        if step <= 0 {
            return Ok(v);
        }
        while i < stop {
            v.push(i);
            i += step;
            if v.len() > MAX_VALUE_NODES {
                return Err(FuncError::Limit(Limit::ValueNodes));
            }
        }
    }
    b.nodes(v.len())?;
    Ok(v)
}

fn ints(v: Vec<i64>) -> Vec<Value> {
    v.into_iter().map(Value::Int).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// SHA-1 (sprig's `sha1sum`), written out here: the workspace has no SHA-1 crate.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Calls the sprig function `name`, or returns `None` if this module does not have it.
pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    Some(call_inner(name, a, b))
        .filter(|r| !matches!(r, Err(FuncError::Invalid(m)) if m == "unknown function"))
}

fn call_inner(name: &str, a: &[Value], b: &mut Budget) -> FResult {
    match name {
        "hello" => text(b, "Hello!".into()),
        "substr" => {
            arity(a, 3)?;
            let (start, end) = (int_param(&a[0])?, int_param(&a[1])?);
            let s = a[2].as_bytes()?;
            let len = s.len() as i64;
            let out = if start < 0 {
                if end < 0 || end > len {
                    return invalid("slice bounds out of range");
                }
                &s[..end as usize]
            } else if end < 0 || end > len {
                if start > len {
                    return invalid("slice bounds out of range");
                }
                &s[start as usize..]
            } else {
                if start > end {
                    return invalid("slice bounds out of range");
                }
                &s[start as usize..end as usize]
            };
            bytes_result(b, out)
        }
        "abbrev" => {
            arity(a, 2)?;
            let w = int_param(&a[0])?;
            let s = a[1].as_bytes()?;
            if w < 4 {
                return bytes_result(b, s);
            }
            let out = abbreviate(s, 0, w)?;
            bytes_result(b, &out)
        }
        "abbrevboth" => {
            arity(a, 3)?;
            let (l, r) = (int_param(&a[0])?, int_param(&a[1])?);
            let s = a[2].as_bytes()?;
            if r < 4 || l > 0 && r < 7 {
                return bytes_result(b, s);
            }
            let out = abbreviate(s, l, r).unwrap_or_default();
            bytes_result(b, &out)
        }
        "initials" => {
            arity(a, 1)?;
            text(b, initials(a[0].as_bytes()?))
        }
        "untitle" => {
            arity(a, 1)?;
            text(b, untitle(&a[0].go_runes()?))
        }
        "swapcase" => {
            arity(a, 1)?;
            text(b, swapcase(&a[0].go_runes()?))
        }
        "snakecase" => {
            arity(a, 1)?;
            bytes_result(b, &crate::xstrings::delimited(a[0].as_bytes()?, '_'))
        }
        "kebabcase" => {
            arity(a, 1)?;
            bytes_result(b, &crate::xstrings::delimited(a[0].as_bytes()?, '-'))
        }
        "camelcase" => {
            arity(a, 1)?;
            bytes_result(b, &crate::xstrings::pascal(a[0].as_bytes()?))
        }
        "wrap" => {
            arity(a, 2)?;
            let w = int_param(&a[0])?;
            let s = str_param(&a[1])?;
            b.can_produce(s.len().saturating_mul(2))?;
            let out = wrap(s, w, "", false);
            bytes_result(b, &out)
        }
        "wrapWith" => {
            arity(a, 3)?;
            let w = int_param(&a[0])?;
            let (sep, s) = (str_param(&a[1])?, str_param(&a[2])?);
            b.can_produce(s.len().saturating_mul(sep.len().max(1) + 1))?;
            let out = wrap(s, w, sep, true);
            bytes_result(b, &out)
        }
        "plural" => {
            arity(a, 3)?;
            let n = int_param(&a[2])?;
            Ok(if n == 1 { a[0].clone() } else { a[1].clone() })
        }
        "splitn" => {
            arity(a, 3)?;
            let sep = str_param(&a[0])?;
            let n = int_param(&a[1])?;
            let s = str_param(&a[2])?;
            b.work(s.len())?;
            let parts = split_n(s, sep, n);
            map(
                b,
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                    .collect(),
            )
        }
        "toStrings" => {
            arity(a, 1)?;
            let out = match &a[0] {
                Value::List(l) => l
                    .iter()
                    .map(|v| strval(v, b).map(|s| Value::str(s.as_str())))
                    .collect::<Result<Vec<_>, _>>()?,
                Value::Nil => Vec::new(),
                other => vec![Value::str(strval(other, b)?.as_str())],
            };
            list(b, out)
        }
        "trimall" => {
            arity(a, 2)?;
            let (cut, s) = (str_param(&a[0])?, str_param(&a[1])?);
            text(b, s.trim_matches(|c| cut.contains(c)).to_owned())
        }
        "sha1sum" => {
            arity(a, 1)?;
            text(b, hex::encode(sha1(a[0].as_bytes()?)))
        }
        "sha512sum" => {
            arity(a, 1)?;
            text(b, hex::encode(sha2::Sha512::digest(a[0].as_bytes()?)))
        }
        "adler32sum" => {
            arity(a, 1)?;
            text(b, adler32(a[0].as_bytes()?).to_string())
        }
        "b32enc" => {
            arity(a, 1)?;
            let s = a[0].as_bytes()?;
            b.can_produce(s.len() / 5 * 8 + 8)?;
            text(b, data_encoding::BASE32.encode(s))
        }
        "b32dec" => {
            arity(a, 1)?;
            let s = str_param(&a[0])?;
            let cleaned: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
            let decoded = data_encoding::BASE32
                .decode(&cleaned)
                .or_else(|_| invalid("input is not valid base32"))?;
            b.produce(decoded.len())?;
            Ok(Value::from_bytes(decoded, || {
                "the result of b32dec".to_owned()
            }))
        }
        "hexdec" => {
            arity(a, 1)?;
            let decoded =
                hex::decode(str_param(&a[0])?).or_else(|_| invalid("input is not valid hex"))?;
            b.produce(decoded.len())?;
            Ok(Value::from_bytes(decoded, || {
                "the result of hexdec".to_owned()
            }))
        }
        "atoi" => {
            arity(a, 1)?;
            let s = str_param(&a[0])?;
            let t = s.strip_prefix('+').unwrap_or(s);
            let ok = !t.is_empty()
                && t.trim_start_matches('-')
                    .bytes()
                    .all(|c| c.is_ascii_digit())
                && !t.starts_with("--");
            Ok(Value::Int(if ok {
                s.parse::<i64>().unwrap_or(0)
            } else {
                0
            }))
        }
        "int" => {
            arity(a, 1)?;
            Ok(Value::Int(cast_int(&a[0])))
        }
        "int64" => {
            arity(a, 1)?;
            Ok(Value::Int64(cast_int(&a[0])))
        }
        "float64" => {
            arity(a, 1)?;
            Ok(Value::Float(cast_float(&a[0])))
        }
        "toDecimal" => {
            arity(a, 1)?;
            let s = strval(&a[0], b)?;
            Ok(Value::Int(i64::from_str_radix(&s, 8).unwrap_or(0)))
        }
        "add" => Ok(Value::Int64(
            a.iter().fold(0i64, |acc, v| acc.wrapping_add(cast_int(v))),
        )),
        "add1" => {
            arity(a, 1)?;
            Ok(Value::Int64(cast_int(&a[0]).wrapping_add(1)))
        }
        "sub" => {
            arity(a, 2)?;
            Ok(Value::Int64(cast_int(&a[0]).wrapping_sub(cast_int(&a[1]))))
        }
        "mul" => {
            at_least(a, 1)?;
            Ok(Value::Int64(
                a[1..]
                    .iter()
                    .fold(cast_int(&a[0]), |acc, v| acc.wrapping_mul(cast_int(v))),
            ))
        }
        "div" | "mod" => {
            arity(a, 2)?;
            let (x, y) = (cast_int(&a[0]), cast_int(&a[1]));
            if y == 0 {
                return invalid("runtime error: integer divide by zero");
            }
            Ok(Value::Int64(if name == "div" {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            }))
        }
        "max" | "biggest" | "min" => {
            at_least(a, 1)?;
            let first = cast_int(&a[0]);
            Ok(Value::Int64(a[1..].iter().map(cast_int).fold(
                first,
                |acc, v| {
                    if name == "min" {
                        acc.min(v)
                    } else {
                        acc.max(v)
                    }
                },
            )))
        }
        "addf" => Ok(Value::Float(
            a.iter()
                .fold(0.0, |acc, v| decimal_op(acc, cast_float(v), '+')),
        )),
        "add1f" => {
            arity(a, 1)?;
            Ok(Value::Float(decimal_op(cast_float(&a[0]), 1.0, '+')))
        }
        "subf" => {
            at_least(a, 1)?;
            Ok(Value::Float(
                a[1..].iter().fold(cast_float(&a[0]), |acc, v| {
                    decimal_op(acc, cast_float(v), '-')
                }),
            ))
        }
        "mulf" => {
            at_least(a, 1)?;
            Ok(Value::Float(
                a[1..].iter().fold(cast_float(&a[0]), |acc, v| {
                    decimal_op(acc, cast_float(v), '*')
                }),
            ))
        }
        "divf" => {
            at_least(a, 1)?;
            let mut acc = cast_float(&a[0]);
            for v in &a[1..] {
                let d = cast_float(v);
                if d == 0.0 {
                    return invalid("decimal division by 0");
                }
                acc /= d;
            }
            Ok(Value::Float(acc))
        }
        "maxf" | "minf" => {
            at_least(a, 1)?;
            let first = cast_float(&a[0]);
            Ok(Value::Float(a[1..].iter().map(cast_float).fold(
                first,
                |acc, v| {
                    if name == "minf" {
                        acc.min(v)
                    } else {
                        acc.max(v)
                    }
                },
            )))
        }
        "ceil" => {
            arity(a, 1)?;
            Ok(Value::Float(cast_float(&a[0]).ceil()))
        }
        "floor" => {
            arity(a, 1)?;
            Ok(Value::Float(cast_float(&a[0]).floor()))
        }
        "round" => {
            if a.len() < 2 || a.len() > 3 {
                return invalid(format!(
                    "wrong number of arguments: want 2 or 3, got {}",
                    a.len()
                ));
            }
            let places = int_param(&a[1])? as f64;
            let on = a.get(2).map_or(Ok(0.5), |v| match v {
                Value::Float(f) => Ok(*f),
                Value::Int(i) => Ok(*i as f64),
                other => invalid(format!(
                    "wrong type for value; expected float64; got {}",
                    other.kind()
                )),
            })?;
            let val = cast_float(&a[0]);
            let pow = 10f64.powf(places);
            let digit = pow * val;
            let frac = digit.fract();
            let r = if frac >= on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Ok(Value::Float(r / pow))
        }
        "until" => {
            arity(a, 1)?;
            let n = int_param(&a[0])?;
            let v = until_step(0, n, if n < 0 { -1 } else { 1 }, b)?;
            list(b, ints(v))
        }
        "untilStep" => {
            arity(a, 3)?;
            let v = until_step(int_param(&a[0])?, int_param(&a[1])?, int_param(&a[2])?, b)?;
            list(b, ints(v))
        }
        "seq" => {
            let p: Vec<i64> = a.iter().map(int_param).collect::<Result<_, _>>()?;
            let v = match p.as_slice() {
                [end] => {
                    let inc = if *end < 1 { -1 } else { 1 };
                    until_step(1, end + inc, inc, b)?
                }
                [start, end] => {
                    let step = if end < start { -1 } else { 1 };
                    until_step(*start, end + step, step, b)?
                }
                [start, step, end] => {
                    let inc = if end < start { -1 } else { 1 };
                    if end < start && *step > 0 {
                        Vec::new()
                    } else {
                        until_step(*start, end + inc, *step, b)?
                    }
                }
                _ => Vec::new(),
            };
            let s: Vec<String> = v.iter().map(i64::to_string).collect();
            text(b, s.join(" "))
        }
        "tuple" => list(b, a.to_vec()),
        "first" | "mustFirst" | "last" | "mustLast" => {
            arity(a, 1)?;
            let l = items(&a[0], name)?;
            Ok(if name.ends_with("irst") || name == "first" {
                l.first().cloned()
            } else {
                l.last().cloned()
            }
            .unwrap_or(Value::Nil))
        }
        "rest" | "mustRest" | "initial" | "mustInitial" => {
            arity(a, 1)?;
            let l = items(&a[0], name)?;
            if l.is_empty() {
                return list(b, Vec::new());
            }
            let out = if name.ends_with("est") || name == "rest" {
                l[1..].to_vec()
            } else {
                l[..l.len() - 1].to_vec()
            };
            list(b, out)
        }
        "append" | "mustAppend" | "push" | "mustPush" => {
            arity(a, 2)?;
            let mut l = match &a[0] {
                Value::Nil => Vec::new(),
                v => items(v, name)?.to_vec(),
            };
            l.push(a[1].clone());
            list(b, l)
        }
        "prepend" | "mustPrepend" => {
            arity(a, 2)?;
            let mut l = vec![a[1].clone()];
            match &a[0] {
                Value::Nil => {}
                v => l.extend(items(v, name)?.iter().cloned()),
            }
            list(b, l)
        }
        "concat" => {
            let mut l = Vec::new();
            for v in a {
                l.extend(items(v, name)?.iter().cloned());
            }
            list(b, l)
        }
        "reverse" | "mustReverse" => {
            arity(a, 1)?;
            let mut l = items(&a[0], name)?.to_vec();
            l.reverse();
            list(b, l)
        }
        "uniq" | "mustUniq" => {
            arity(a, 1)?;
            let l = items(&a[0], name)?;
            // Each item is compared with the ones kept: quadratic, so counted as work.
            b.work(l.len().saturating_mul(l.len()))?;
            let mut out: Vec<Value> = Vec::new();
            for v in l.iter() {
                if !out.iter().any(|o| deep_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            list(b, out)
        }
        "compact" | "mustCompact" => {
            arity(a, 1)?;
            let out = items(&a[0], name)?
                .iter()
                .filter(|v| !is_empty(v))
                .cloned()
                .collect();
            list(b, out)
        }
        "without" | "mustWithout" => {
            at_least(a, 1)?;
            let l = items(&a[0], name)?;
            b.work(l.len().saturating_mul(a.len()))?;
            let out = l
                .iter()
                .filter(|v| !a[1..].iter().any(|o| deep_equal(o, v)))
                .cloned()
                .collect();
            list(b, out)
        }
        "has" | "mustHas" => {
            arity(a, 2)?;
            if matches!(a[1], Value::Nil) {
                return Ok(Value::Bool(false));
            }
            let l = items(&a[1], name)?;
            Ok(Value::Bool(l.iter().any(|v| deep_equal(v, &a[0]))))
        }
        "slice" | "mustSlice" => {
            at_least(a, 1)?;
            let l = items(&a[0], name)?;
            if l.is_empty() {
                return Ok(Value::Nil);
            }
            let start = a.get(1).map_or(0, cast_int);
            let end = a.get(2).map_or(l.len() as i64, cast_int);
            if start < 0 || end < start || end > l.len() as i64 {
                return invalid("slice index out of range");
            }
            list(b, l[start as usize..end as usize].to_vec())
        }
        "chunk" | "mustChunk" => {
            arity(a, 2)?;
            let size = int_param(&a[0])?;
            let l = items(&a[1], name)?;
            if size <= 0 {
                return invalid("chunk size must be positive");
            }
            let out = l
                .chunks(size as usize)
                .map(|c| Value::List(Rc::new(c.to_vec())))
                .collect();
            list(b, out)
        }
        "sortAlpha" => {
            arity(a, 1)?;
            let mut s: Vec<Zeroizing<String>> = match &a[0] {
                Value::List(l) => l
                    .iter()
                    .filter(|v| !matches!(v, Value::Nil))
                    .map(|v| strval(v, b))
                    .collect::<Result<_, _>>()?,
                other => vec![strval(other, b)?],
            };
            s.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
            list(b, s.iter().map(|x| Value::str(x.as_str())).collect())
        }
        "all" => Ok(Value::Bool(a.iter().all(|v| !is_empty(v)))),
        "any" => Ok(Value::Bool(a.iter().any(|v| !is_empty(v)))),
        "keys" => {
            let mut out = Vec::new();
            for d in a {
                out.extend(dict_param(d, name)?.keys().map(|k| Value::str(k.as_str())));
            }
            list(b, out)
        }
        "values" => {
            arity(a, 1)?;
            let out = dict_param(&a[0], name)?.values().cloned().collect();
            list(b, out)
        }
        "pick" | "omit" => {
            at_least(a, 1)?;
            let d = dict_param(&a[0], name)?;
            let names: Vec<Zeroizing<String>> = a[1..]
                .iter()
                .map(|v| strval(v, b))
                .collect::<Result<_, _>>()?;
            let keep = |k: &String| names.iter().any(|n| n.as_str() == k) == (name == "pick");
            map(
                b,
                d.iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        "pluck" => {
            at_least(a, 1)?;
            let key = str_param(&a[0])?;
            let mut out = Vec::new();
            for d in &a[1..] {
                if let Some(v) = dict_param(d, name)?.get(key) {
                    out.push(v.clone());
                }
            }
            list(b, out)
        }
        "set" => {
            arity(a, 3)?;
            let mut d = (**dict_param(&a[0], name)?).clone();
            d.insert(str_param(&a[1])?.to_owned(), a[2].clone());
            map(b, d)
        }
        "unset" => {
            arity(a, 2)?;
            let mut d = (**dict_param(&a[0], name)?).clone();
            d.remove(str_param(&a[1])?);
            map(b, d)
        }
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            at_least(a, 1)?;
            let overwrite = name.contains("Overwrite");
            let mut dst = (**dict_param(&a[0], name)?).clone();
            for src in &a[1..] {
                merge_into(&mut dst, dict_param(src, name)?, overwrite);
            }
            map(b, dst)
        }
        "dig" => {
            at_least(a, 3)?;
            let n = a.len();
            let mut cur = dict_param(&a[n - 1], name)?.clone();
            let default = &a[n - 2];
            let keys = &a[..n - 2];
            for (i, k) in keys.iter().enumerate() {
                let Some(step) = cur.get(str_param(k)?).cloned() else {
                    return Ok(default.clone());
                };
                if i + 1 == keys.len() {
                    return Ok(step);
                }
                cur = dict_param(&step, name)?.clone();
            }
            Ok(default.clone())
        }
        "deepCopy" | "mustDeepCopy" => {
            arity(a, 1)?;
            Ok(a[0].clone())
        }
        "typeOf" => {
            arity(a, 1)?;
            text(b, crate::value::go_type(&a[0]).into())
        }
        "kindOf" => {
            arity(a, 1)?;
            text(b, crate::value::go_kind(&a[0]).into())
        }
        "typeIs" | "typeIsLike" => {
            arity(a, 2)?;
            let want = str_param(&a[0])?;
            let t = crate::value::go_type(&a[1]);
            Ok(Value::Bool(
                want == t || name == "typeIsLike" && format!("*{want}") == t,
            ))
        }
        "kindIs" => {
            arity(a, 2)?;
            Ok(Value::Bool(
                str_param(&a[0])? == crate::value::go_kind(&a[1]),
            ))
        }
        "deepEqual" => {
            arity(a, 2)?;
            Ok(Value::Bool(deep_equal(&a[0], &a[1])))
        }
        "fail" => {
            arity(a, 1)?;
            str_param(&a[0])?;
            invalid("the template called fail")
        }
        "regexMatch" | "mustRegexMatch" => {
            arity(a, 2)?;
            let (re, s) = (str_param(&a[0])?, str_param(&a[1])?);
            match regex(re) {
                Ok(re) => Ok(Value::Bool(re.is_match(s))),
                Err(e) if name == "mustRegexMatch" => Err(e),
                Err(_) => Ok(Value::Bool(false)),
            }
        }
        "regexFind" | "mustRegexFind" => {
            arity(a, 2)?;
            let re = regex(str_param(&a[0])?)?;
            let s = str_param(&a[1])?;
            text(b, re.find(s).map_or("", |m| m.as_str()).to_owned())
        }
        "regexFindAll" | "mustRegexFindAll" => {
            arity(a, 3)?;
            let re = regex(str_param(&a[0])?)?;
            let s = str_param(&a[1])?;
            let n = int_param(&a[2])?;
            b.work(s.len())?;
            let found: Vec<Value> = re
                .find_iter(s)
                .take(if n < 0 { usize::MAX } else { n as usize })
                .map(|m| Value::str(m.as_str()))
                .collect();
            list(b, found)
        }
        "regexReplaceAll"
        | "mustRegexReplaceAll"
        | "regexReplaceAllLiteral"
        | "mustRegexReplaceAllLiteral" => {
            arity(a, 3)?;
            let re = regex(str_param(&a[0])?)?;
            let (s, repl) = (str_param(&a[1])?, str_param(&a[2])?);
            b.can_produce(
                s.len()
                    .saturating_add(repl.len().saturating_mul(s.len() + 1)),
            )?;
            let out = if name.ends_with("Literal") {
                re.replace_all(s, regex::NoExpand(repl)).into_owned()
            } else {
                re.replace_all(s, repl).into_owned()
            };
            text(b, out)
        }
        "regexSplit" | "mustRegexSplit" => {
            arity(a, 3)?;
            let re = regex(str_param(&a[0])?)?;
            let s = str_param(&a[1])?;
            let n = int_param(&a[2])?;
            b.work(s.len())?;
            list(
                b,
                regex_split(&re, s, n).into_iter().map(Value::str).collect(),
            )
        }
        "regexQuoteMeta" => {
            arity(a, 1)?;
            text(b, quote_meta(str_param(&a[0])?))
        }
        "base" | "osBase" => {
            arity(a, 1)?;
            text(b, base(str_param(&a[0])?))
        }
        "dir" | "osDir" => {
            arity(a, 1)?;
            text(b, dir(str_param(&a[0])?))
        }
        "ext" | "osExt" => {
            arity(a, 1)?;
            text(b, ext(str_param(&a[0])?))
        }
        "clean" | "osClean" => {
            arity(a, 1)?;
            text(b, clean(str_param(&a[0])?))
        }
        "isAbs" | "osIsAbs" => {
            arity(a, 1)?;
            Ok(Value::Bool(str_param(&a[0])?.starts_with('/')))
        }
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            arity(a, 1)?;
            let set: Vec<u8> = match name {
                "randAlphaNum" => (b'A'..=b'Z')
                    .chain(b'a'..=b'z')
                    .chain(b'0'..=b'9')
                    .collect(),
                "randAlpha" => (b'A'..=b'Z').chain(b'a'..=b'z').collect(),
                "randNumeric" => (b'0'..=b'9').collect(),
                _ => (b' '..=b'~').collect(),
            };
            random_string(int_param(&a[0])?, &set, b)
        }
        "randBytes" => {
            arity(a, 1)?;
            let n = usize::try_from(int_param(&a[0])?).or_else(|_| invalid("negative count"))?;
            b.can_produce(n.saturating_mul(2))?;
            let bytes = random_bytes(n)?;
            text(b, base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        "randInt" => {
            arity(a, 2)?;
            let (lo, hi) = (cast_int(&a[0]), cast_int(&a[1]));
            if hi <= lo {
                return invalid("randInt: the maximum must be above the minimum");
            }
            let span = hi.wrapping_sub(lo) as u64;
            Ok(Value::Int(lo.wrapping_add(random_below(span)? as i64)))
        }
        "uuidv4" => {
            arity(a, 0)?;
            let mut u = random_bytes(16)?;
            u[6] = (u[6] & 0x0f) | 0x40;
            u[8] = (u[8] & 0x3f) | 0x80;
            let h = hex::encode(&u);
            text(
                b,
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ),
            )
        }
        "urlParse" => {
            arity(a, 1)?;
            let m = url_parse(str_param(&a[0])?)?;
            map(b, m)
        }
        "urlJoin" => {
            arity(a, 1)?;
            let d = dict_param(&a[0], name)?;
            let part = |k: &str| -> Result<String, FuncError> {
                match d.get(k) {
                    None => Ok(String::new()),
                    Some(v) => Ok(str_param(v)?.to_owned()),
                }
            };
            let (scheme, host, path, query, opaque, fragment, userinfo) = (
                part("scheme")?,
                part("host")?,
                part("path")?,
                part("query")?,
                part("opaque")?,
                part("fragment")?,
                part("userinfo")?,
            );
            let mut out = String::new();
            if !scheme.is_empty() {
                out.push_str(&scheme);
                out.push(':');
            }
            if !opaque.is_empty() {
                out.push_str(&opaque);
            } else {
                if !scheme.is_empty() || !host.is_empty() || !userinfo.is_empty() {
                    if !host.is_empty() || !path.is_empty() || !userinfo.is_empty() {
                        out.push_str("//");
                    }
                    if !userinfo.is_empty() {
                        out.push_str(&userinfo);
                        out.push('@');
                    }
                    out.push_str(&host);
                }
                if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
                    out.push('/');
                }
                out.push_str(&path);
            }
            if !query.is_empty() {
                out.push('?');
                out.push_str(&query);
            }
            if !fragment.is_empty() {
                out.push('#');
                out.push_str(&fragment);
            }
            text(b, out)
        }
        "derivePassword" => {
            arity(a, 5)?;
            let counter = u32::try_from(int_param(&a[0])?)
                .or_else(|_| invalid("the counter must fit a uint32"))?;
            // scrypt with N = 32768 and r = 8 takes 32 MiB and tens of milliseconds: a call counts
            // as 1 MiB of work, so an object can make a few of them, not thousands.
            b.work(1024 * 1024)?;
            let out = derive_password(
                counter,
                str_param(&a[1])?,
                a[2].as_bytes()?,
                a[3].as_bytes()?,
                a[4].as_bytes()?,
            )?;
            text(b, out)
        }
        "encryptAES" => {
            arity(a, 2)?;
            let (password, plain) = (a[0].as_bytes()?, a[1].as_bytes()?);
            b.can_produce(plain.len().saturating_mul(2).saturating_add(64))?;
            text(b, encrypt_aes(password, plain)?)
        }
        "decryptAES" => {
            arity(a, 2)?;
            let out = decrypt_aes(a[0].as_bytes()?, str_param(&a[1])?)?;
            b.produce(out.len())?;
            Ok(Value::from_bytes(out, || {
                "the result of decryptAES".to_owned()
            }))
        }
        "duration" => {
            arity(a, 1)?;
            // sprig reads a string of seconds (or an int64); Go's untyped int literal counts as 0.
            let secs = match &a[0] {
                Value::Str(s) => s.parse::<i64>().unwrap_or(0),
                Value::Int64(n) => *n,
                _ => 0,
            };
            // Go's Duration multiplication wraps.
            text(b, go_duration(secs.wrapping_mul(1_000_000_000)))
        }
        "durationRound" => {
            arity(a, 1)?;
            let d = match &a[0] {
                Value::Str(s) => crate::date::parse_duration(s).unwrap_or(0),
                Value::Time(t) => crate::objects::since(t),
                Value::Int64(n) => *n,
                _ => 0,
            };
            let u = d.unsigned_abs();
            const SECOND: u64 = 1_000_000_000;
            const MINUTE: u64 = 60 * SECOND;
            const HOUR: u64 = 60 * MINUTE;
            const DAY: u64 = 24 * HOUR;
            const MONTH: u64 = 30 * DAY;
            const YEAR: u64 = 365 * DAY;
            let out = [
                (YEAR, "y"),
                (MONTH, "mo"),
                (DAY, "d"),
                (HOUR, "h"),
                (MINUTE, "m"),
                (SECOND, "s"),
            ]
            .iter()
            .find(|(unit, _)| u > *unit)
            .map_or_else(
                || "0s".to_owned(),
                |(unit, name)| format!("{}{name}", u / unit),
            );
            text(b, out)
        }
        "bcrypt" => {
            arity(a, 1)?;
            let out = bcrypt_text(a[0].as_bytes()?)?;
            text(b, out)
        }
        "htpasswd" => {
            arity(a, 2)?;
            let user = str_param(&a[0])?;
            let pass = a[1].as_bytes()?;
            // sprig writes this text (with the name) instead of failing.
            if user.contains(':') {
                return text(b, format!("invalid username: {user}"));
            }
            let hash = bcrypt_text(pass)?;
            text(b, format!("{user}:{hash}"))
        }
        "eso:htpasswd" => {
            arity(a, 3)?;
            let user = str_param(&a[0])?;
            let pass = a[1].as_bytes()?;
            let algorithm = str_param(&a[2])?;
            if user.contains(':') {
                return text(b, format!("invalid username: {user}"));
            }
            let hash = if algorithm == "sha" {
                format!(
                    "{{SHA}}{}",
                    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(pass))
                )
            } else {
                bcrypt_text(pass)?
            };
            text(b, format!("{user}:{hash}"))
        }
        "html" | "js" => {
            let joined: Zeroizing<Vec<u8>> = match a {
                [Value::Str(_) | Value::Bytes(_)] => Zeroizing::new(a[0].as_bytes()?.to_vec()),
                _ => crate::printf::sprint(a, false, b.cap())?,
            };
            b.can_produce(joined.len().saturating_mul(6))?;
            let out = if name == "html" {
                html_escape(&joined)
            } else {
                js_escape(&joined)
            };
            bytes_result(b, &out)
        }
        "shuffle" => {
            arity(a, 1)?;
            // sprig: the string's characters (runes) in a random order.
            let text = a[0].go_runes()?;
            let mut chars: Vec<char> = text.chars().collect();
            // Fisher-Yates with the randomness drawn in one read; a draw in the biased tail is redrawn.
            let pool = random_bytes(chars.len().saturating_mul(8))?;
            for i in (1..chars.len()).rev() {
                let n = i as u64 + 1;
                let draw = pool.get(8 * i..8 * i + 8).map_or(u64::MAX, |w| {
                    u64::from_le_bytes(w.try_into().unwrap_or([0xff; 8]))
                });
                let j = if draw < u64::MAX - u64::MAX % n {
                    draw % n
                } else {
                    random_below(n)?
                };
                chars.swap(i, j as usize);
            }
            let out: Zeroizing<String> = Zeroizing::new(chars.iter().collect());
            chars.fill('\0');
            b.produce(out.len())?;
            Ok(Value::str(out.as_str()))
        }
        _ => crate::objects::call(name, a, b).unwrap_or_else(|| invalid("unknown function")),
    }
}

/// mergo's `Merge` (keys missing in `dst` are added; nested maps merged) or `WithOverride`.
fn merge_into(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Map(d)), Value::Map(s)) => {
                let mut inner = (**d).clone();
                merge_into(&mut inner, s, overwrite);
                *d = Rc::new(inner);
            }
            (Some(existing), v) => {
                if overwrite && !is_empty(v) || is_empty(existing) && !overwrite {
                    *existing = v.clone();
                }
            }
            (None, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_go() {
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(adler32(b"Wikipedia"), 300_286_872);
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("3.0"), Some(3));
        assert_eq!(parse_go_int("3.9"), Some(3));
        assert_eq!(parse_go_int("12abc"), None);
        assert_eq!(decimal_op(1.1, 3.0, '*'), 3.3);
        assert_eq!(clean("/a/../b//c/"), "/b/c");
        assert_eq!(dir("/a/b/c.txt"), "/a/b");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(ext("c.tar.gz"), ".gz");
        assert_eq!(quote_meta("a.b*c"), "a\\.b\\*c");
    }
}
