//! Property test: whatever the template and the secret data, a failing render's error (its `Display` and
//! its `Debug`) contains no secret value, nor text derived from one (its base64-decoded text, a member of
//! it as a JSON document), unless that text is also written literally in the template.
//!
//! The data is built to make leaks visible: values that are key names (some of them keys of the same map,
//! so a computed lookup can miss or hit), numbers, base64 text, JSON documents and a binary value. The
//! templates come from a grammar of field chains, computed lookups (`index . .k`, `index . (.k)`,
//! `get`/`hasKey`), pipelines through many functions, `range`, `with`, `if` and variables.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

/// Key names of the data maps. None of them is a word of the engine's own messages.
const NAMES: &[&str] = &[
    "password", "kilo", "lima", "mike", "oscar", "papa", "romeo", "tango", "victor", "yankee",
];

/// A secret value and the texts derived from it that must never appear in an error.
#[derive(Debug, Clone)]
struct Secret {
    bytes: Vec<u8>,
    derived: Vec<String>,
}

/// A random token of letters and digits that is not an English word (at least 6 characters).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9]{5,11}".prop_map(|s| format!("Q{s}"))
}

/// A number that no message of the engine contains as text (limits are powers of two and of ten).
fn number() -> impl Strategy<Value = i64> {
    9_700_000i64..9_799_999
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        // a key name, often a key of the same map
        name().prop_map(|n| Secret {
            bytes: n.clone().into_bytes(),
            derived: vec![n],
        }),
        token().prop_map(|t| Secret {
            bytes: t.clone().into_bytes(),
            derived: vec![t],
        }),
        number().prop_map(|n| Secret {
            bytes: n.to_string().into_bytes(),
            derived: vec![n.to_string()],
        }),
        // base64 of a token or of a key name
        prop_oneof![token(), name()].prop_map(|t| {
            let encoded = STANDARD.encode(&t);
            Secret {
                bytes: encoded.clone().into_bytes(),
                derived: vec![encoded, t],
            }
        }),
        // a JSON document whose members are tokens, key names and numbers
        (token(), name(), number(), token(), name()).prop_map(|(t, n, num, t2, member)| {
            let doc = format!(
                r#"{{"{member}":"{t}","n":{num},"k":"{n}","list":["{t2}",{num}],"inner":{{"{member}":"{t2}"}}}}"#
            );
            Secret {
                bytes: doc.clone().into_bytes(),
                derived: vec![doc, t, t2, num.to_string(), n, member],
            }
        }),
        // binary: not valid UTF-8
        Just(Secret {
            bytes: vec![0xff, 0xfe, 0x00, 0x81, 0x42],
            derived: Vec::new(),
        }),
    ]
}

fn data() -> impl Strategy<Value = BTreeMap<String, Secret>> {
    prop::collection::btree_map(name(), secret(), 3..8)
}

/// A key of the data map (`keys`) mostly, sometimes any key name.
fn key_name(keys: &[String]) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        4 => prop::sample::select(keys.to_vec()),
        1 => name(),
    ]
}

/// A field reference to a data key.
fn key(keys: &[String]) -> impl Strategy<Value = String> + use<> {
    key_name(keys).prop_map(|n| format!(".{n}"))
}

/// An expression (a command's operand, parenthesized when it is a call).
fn expr(keys: &[String]) -> impl Strategy<Value = String> + use<> {
    let key = || key(keys);
    let leaf = prop_oneof![
        key(),
        key_name(keys).prop_map(|n| format!(r#"(index . "{n}")"#)),
        key().prop_map(|k| format!("(index . {k})")),
        key().prop_map(|k| format!("(index . ({k}))")),
        key().prop_map(|k| format!("(get . {k})")),
        key().prop_map(|k| format!("(hasKey . {k})")),
        (key(), name()).prop_map(|(k, m)| format!("(fromJson {k}).{m}")),
        (key(), key()).prop_map(|(k, k2)| format!("(index (fromJson {k}) {k2})")),
        (key(), key()).prop_map(|(k, k2)| format!("(index . (index (fromJson {k}) {k2}))")),
        key().prop_map(|k| format!("(index (list 1 2) (fromJson {k}))")),
        key().prop_map(|k| format!("(index {k} (fromJson {k}))")),
        key().prop_map(|k| format!("(index . (b64dec {k}))")),
        key().prop_map(|k| format!("(index . ({k} | upper | lower))")),
        key().prop_map(|k| format!("(index . (trunc 6 {k}))")),
        (key(), key()).prop_map(|(k, k2)| format!("(printf {k} {k2})")),
        key().prop_map(|k| format!("(index . (get (fromJson {k}) \"k\"))")),
        key().prop_map(|k| format!("(index (fromJson {k}) \"inner\" (fromJson {k}).k)")),
        Just("$".to_owned()),
        Just(".".to_owned()),
        Just(r#""lit-kilo""#.to_owned()),
        Just("42".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        let unary = prop::sample::select(
            &[
                "b64dec",
                "b64enc",
                "fromJson",
                "mustFromJson",
                "semver",
                "fromYaml",
                "toJson",
                "toYaml",
                "upper",
                "lower",
                "title",
                "trim",
                "quote",
                "squote",
                "toString",
                "sha256sum",
                "len",
                "nospace",
                "urlquery",
                "empty",
                "not",
                "print",
                "pkcs12key",
                "pkcs12cert",
                "jwkPublicKeyPem",
                "jwkPrivateKeyPem",
                "certSANs",
                "pemTruststoreToPKCS12",
            ][..],
        );
        prop_oneof![
            (inner.clone(), unary.clone()).prop_map(|(e, f)| format!("({e} | {f})")),
            (unary, inner.clone()).prop_map(|(f, e)| format!("({f} {e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(index . {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(get {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(hasKey {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(semverCompare {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(mustToDate {a} {b})")),
            inner
                .clone()
                .prop_map(|a| format!("(mustDateModify {a} now)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(printf \"%d-%s\" {a} {b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(printf \"%q %x %5.2f\" {a} {b} {a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(printf {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(trunc {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(repeat {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(index {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(eq {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(lt {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(default {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(dict {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(list {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(split {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(join {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(replace {a} {b} {a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(indent {a} {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("(ternary {a} {b} {c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(contains {a} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(pkcs12keyPass {a} {b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(pemToPkcs12Pass {a} {b} {a})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(rsaDecrypt \"RSA-OAEP\" \"SHA256\" {a} {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!(
                "(genSelfSignedCertWithKey \"cn\" nil nil 1 {a} | print {b})"
            )),
        ]
    })
}

/// One template piece: an action or a control structure around actions.
fn piece(keys: &[String]) -> impl Strategy<Value = String> + use<> {
    let expr = || expr(keys);
    let key = || key(keys);
    prop_oneof![
        4 => expr().prop_map(|e| format!("{{{{ {e} }}}}")),
        1 => expr().prop_map(|e| format!("{{{{ $v := {e} }}}}{{{{ index . $v }}}}")),
        1 => expr().prop_map(|e| format!("{{{{ $v := {e} }}}}{{{{ $v | upper }}}}")),
        1 => expr().prop_map(|e| format!("{{{{ with {e} }}}}{{{{ index $ . }}}}{{{{ end }}}}")),
        1 => expr().prop_map(|e| format!("{{{{ with $w := {e} }}}}{{{{ $w.kilo }}}}{{{{ end }}}}")),
        1 => expr().prop_map(|e| format!(
            "{{{{ range $k, $x := {e} }}}}{{{{ index $ $k }}}}{{{{ index $ $x }}}}{{{{ end }}}}"
        )),
        1 => expr().prop_map(|e| format!("{{{{ range {e} }}}}{{{{ . | b64dec }}}}{{{{ end }}}}")),
        1 => (expr(), expr()).prop_map(|(c, e)| format!(
            "{{{{ if {c} }}}}{{{{ {e} }}}}{{{{ else }}}}{{{{ index . {c} }}}}{{{{ end }}}}"
        )),
        1 => key().prop_map(|k| format!("{{{{ index . {k} }}}}")),
    ]
}

fn template(keys: &[String]) -> impl Strategy<Value = String> + use<> {
    prop::collection::vec(piece(keys), 1..4).prop_map(|pieces| pieces.join("\n"))
}

/// Data and a template that mostly refers to the keys of that data.
fn case() -> impl Strategy<Value = (BTreeMap<String, Secret>, String)> {
    data().prop_flat_map(|data| {
        let keys: Vec<String> = data.keys().cloned().collect();
        (Just(data), template(&keys))
    })
}

/// Texts of the data that an error must not contain (those written in the template excepted).
fn forbidden(data: &BTreeMap<String, Secret>, template: &str) -> BTreeSet<String> {
    data.values()
        .flat_map(|s| s.derived.iter().cloned())
        .filter(|t| t.len() >= 4 && !template.contains(t.as_str()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn errors_never_contain_secret_values((data, template) in case()) {
        let values: BTreeMap<String, Vec<u8>> =
            data.iter().map(|(k, s)| (k.clone(), s.bytes.clone())).collect();
        if let Err(error) = kseal_template::render("T", &template, &values) {
            let display = error.to_string();
            let debug = format!("{error:?}");
            for text in forbidden(&data, &template) {
                prop_assert!(
                    !display.contains(&text) && !debug.contains(&text),
                    "error quotes {text:?} of the data\n  template: {template}\n  error: {display}\n  debug: {debug}"
                );
            }
        }
    }
}
