//! Types that hold decrypted or fetched values never print them through `Debug` (a stray `{:?}` in a log
//! line must not leak): they show key names only.

use kseal_core::external_secrets::desired::{Data, desired_secret};
use kseal_core::unseal::open_all;
use kseal_core::{PlainSecret, SealOptions, seal_secret, unseal};
use kseal_crypto::{KeyOptions, KeyPair};
use zeroize::Zeroizing;

const CANARY: &str = "CANARY-debug-5e1f";

fn assert_redacted(what: &str, debug: String) {
    assert!(
        debug.contains("password"),
        "{what} does not name its key: {debug}"
    );
    assert!(!debug.contains(CANARY), "{what} prints a value: {debug}");
    // Nor as the bytes `{:?}` of a Vec<u8> would show.
    let bytes = format!("{:?}", CANARY.as_bytes());
    let bytes = bytes.trim_matches(|c| c == '[' || c == ']');
    assert!(
        !debug.contains(bytes),
        "{what} prints a value's bytes: {debug}"
    );
}

#[test]
fn values_never_appear_in_debug_output() {
    let key = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some("s".into());
    secret.metadata.namespace = Some("ns".into());
    secret
        .data
        .insert("password".into(), CANARY.as_bytes().to_vec().into());
    assert_redacted("PlainSecret", format!("{secret:?}"));

    let options = SealOptions {
        key: key.certificate().public_key(),
        scope: None,
        allow_empty_data: false,
        default_namespace: "ns".into(),
        namespace: None,
        name: None,
    };
    let sealed = seal_secret(secret, &options).unwrap();
    let unsealed = unseal(&sealed, &[key.private_key()]).unwrap();
    assert_eq!(unsealed.data["password"].as_slice(), CANARY.as_bytes());
    assert_redacted("Unsealed", format!("{unsealed:?}"));
    assert_redacted("SecretBody", format!("{:?}", unsealed.body()));

    let opened = open_all(&sealed, &[key.private_key()], 10);
    assert_redacted("Opening", format!("{opened:?}"));

    let es = serde_json::from_value(serde_json::json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": "team", "uid": "uid-1"},
        "spec": {"secretStoreRef": {"name": "aws"}},
    }))
    .unwrap();
    let data: Data = [(
        "password".to_owned(),
        Zeroizing::new(CANARY.as_bytes().to_vec()),
    )]
    .into();
    let desired = desired_secret(&es, data, &[]).unwrap();
    assert_redacted("Desired", format!("{desired:?}"));
}
