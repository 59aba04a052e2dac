//! Keystores made by Go (go-pkcs12's LegacyRC2, LegacyDES, Passwordless and Modern encoders) and by
//! OpenSSL 3 (PBES2 with AES-128/256 and a SHA-1 MAC over 10000 iterations; `-legacy`), kept in
//! `tests/template-corpus/pki.yaml`, open in kseal and give back the certificates (leaf first) and
//! the key that went in. The differential suite checks the same against Go; this runs without it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kseal_template::{Flavour, Renderer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    data: BTreeMap<String, String>,
    data_b64: BTreeMap<String, String>,
}

fn data() -> BTreeMap<String, Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/template-corpus/pki.yaml"
    );
    let corpus: Corpus = serde_saphyr::from_str(&std::fs::read_to_string(path).expect("pki.yaml"))
        .expect("pki.yaml parses");
    let mut data: BTreeMap<String, Vec<u8>> = corpus
        .data
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (k, v) in corpus.data_b64 {
        data.insert(k, STANDARD.decode(v).expect("base64"));
    }
    data
}

fn render(data: &BTreeMap<String, Vec<u8>>, template: &str) -> Result<String, String> {
    Renderer::with_flavour(data, Flavour::Eso)
        .render("t", template)
        .map(|b| String::from_utf8(b).expect("text"))
        .map_err(|e| e.to_string())
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    format!("{}\n", String::from_utf8(data[key].clone()).unwrap())
}

#[test]
fn go_and_openssl_keystores_open() {
    let d = data();
    let leaf_first = format!(
        "{}{}{}",
        text(&d, "leaf"),
        text(&d, "int"),
        text(&d, "root")
    );
    // LegacyRC2 stored the chain as leaf, root, intermediate: ESO orders it.
    assert_eq!(
        render(&d, r#"{{ .keystore_rc2 | pkcs12certPass "legacy" }}"#).unwrap(),
        leaf_first
    );
    assert_eq!(
        render(&d, r#"{{ .keystore_rc2 | pkcs12keyPass "legacy" }}"#).unwrap(),
        text(&d, "leafkey")
    );
    assert_eq!(
        render(&d, r#"{{ .keystore_des | pkcs12keyPass "legacy" }}"#).unwrap(),
        text(&d, "leafkey")
    );
    // No MAC, no encryption: opens with the empty passphrase only.
    assert_eq!(
        render(&d, "{{ .keystore_plain | pkcs12key }}").unwrap(),
        text(&d, "intkey")
    );
    assert!(render(&d, r#"{{ .keystore_plain | pkcs12keyPass "x" }}"#).is_err());
    assert_eq!(
        render(&d, "{{ .keystore_ec | pkcs12key }}").unwrap(),
        text(&d, "intkey")
    );
    assert_eq!(
        render(&d, r#"{{ .keystore_openssl | pkcs12certPass "s3cret" }}"#).unwrap(),
        leaf_first
    );
    assert_eq!(
        render(&d, r#"{{ .keystore_openssl | pkcs12keyPass "s3cret" }}"#).unwrap(),
        text(&d, "leafkey")
    );
    assert_eq!(
        render(
            &d,
            r#"{{ .keystore_openssl_legacy | pkcs12keyPass "s3cret" }}"#
        )
        .unwrap(),
        text(&d, "leafkey")
    );
}

#[test]
fn a_wrong_passphrase_is_an_error_that_names_neither() {
    let d = data();
    let err = render(
        &d,
        r#"{{ .keystore_openssl | pkcs12keyPass "S3cret-wrong" }}"#,
    )
    .unwrap_err();
    assert!(err.contains("incorrect"), "{err}");
    assert!(!err.contains("S3cret") && !err.contains("s3cret"), "{err}");
}

#[test]
fn kseal_keystores_round_trip() {
    let d = data();
    let key = render(
        &d,
        r#"{{ pemToPkcs12Pass .leaf .leafkey "pässwörd" | b64dec | pkcs12keyPass "pässwörd" }}"#,
    );
    assert_eq!(key.unwrap(), text(&d, "leafkey"));
    let chain = render(
        &d,
        r#"{{ fullPemToPkcs12 .chain_unordered .leafkey | b64dec | pkcs12cert }}"#,
    );
    assert_eq!(
        chain.unwrap(),
        format!(
            "{}{}{}",
            text(&d, "leaf"),
            text(&d, "int"),
            text(&d, "root")
        )
    );
    // A SEC 1 EC key goes in; Go's PKCS#8 form of it comes out.
    let ec = render(
        &d,
        "{{ pemToPkcs12 .int .intkey_sec1 | b64dec | pkcs12key }}",
    );
    assert_eq!(ec.unwrap(), text(&d, "intkey"));
}
