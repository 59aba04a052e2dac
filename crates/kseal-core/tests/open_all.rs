//! `open_all`: every value of a SealedSecret opened with the keys, templates never rendered, the RSA work
//! counted and bounded.

use std::sync::OnceLock;

use kseal_api::SealedSecret;
use kseal_core::unseal::{OpenError, open_all};
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::{KeyOptions, KeyPair, PublicKey};

fn keys() -> &'static [KeyPair; 3] {
    static KEYS: OnceLock<[KeyPair; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        std::array::from_fn(|_| {
            KeyPair::generate(&KeyOptions {
                bits: 2048,
                ..Default::default()
            })
            .unwrap()
        })
    })
}

fn public(i: usize) -> &'static PublicKey {
    keys()[i].certificate().public_key()
}

fn sealed_with(key: &PublicKey, data: &[(&str, &[u8])]) -> SealedSecret {
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some("s".into());
    secret.metadata.namespace = Some("ns".into());
    for (k, v) in data {
        secret.data.insert((*k).to_owned(), v.to_vec().into());
    }
    let options = SealOptions {
        key,
        scope: None,
        allow_empty_data: false,
        default_namespace: "ns".into(),
        namespace: None,
        name: None,
    };
    seal_secret(secret, &options).unwrap()
}

#[test]
fn opens_every_value_and_never_renders_the_template() {
    let mut sealed = sealed_with(public(0), &[("password", b"hunter2"), ("user", b"admin")]);
    // A template that fails when rendered (Go's `fail` would put the password into its error).
    sealed.spec.template.get_or_insert_default().data =
        Some([("leak".to_owned(), "{{ fail .password }}".to_owned())].into());
    assert!(kseal_core::unseal(&sealed, &[keys()[0].private_key()]).is_err());

    let opening = open_all(&sealed, &[keys()[0].private_key()], 100);
    let opened = opening.result.unwrap();
    assert_eq!(opened.encrypted_data["password"].as_slice(), b"hunter2");
    assert_eq!(opened.encrypted_data["user"].as_slice(), b"admin");
    assert_eq!(opened.encrypted_data.len(), 2);
    assert!(opened.data.is_none());
    assert_eq!(
        opened.keys_used.iter().collect::<Vec<_>>(),
        [keys()[0].private_key().fingerprint()]
    );
    assert_eq!(opening.rsa_operations, 2);
}

#[test]
fn a_key_that_opened_a_value_is_tried_first_on_the_next() {
    let sealed = sealed_with(public(2), &[("a", b"1"), ("b", b"2"), ("c", b"3")]);
    let ring = [
        keys()[0].private_key(),
        keys()[1].private_key(),
        keys()[2].private_key(),
    ];
    let opening = open_all(&sealed, &ring, 100);
    assert!(opening.result.is_ok());
    // Three tries for the first value, then one each.
    assert_eq!(opening.rsa_operations, 3 + 1 + 1);
}

#[test]
fn the_first_value_that_does_not_open_ends_the_search_without_showing_a_value() {
    let mut sealed = sealed_with(public(0), &[("a", b"secret-a"), ("b", b"secret-b")]);
    // Moved to another namespace: no value opens under the new label.
    sealed.metadata.namespace = Some("elsewhere".into());
    let ring = [keys()[1].private_key(), keys()[0].private_key()];
    let opening = open_all(&sealed, &ring, 100);
    let error = opening.result.unwrap_err();
    assert!(matches!(error, OpenError::Failed(_)), "{error}");
    assert!(!error.to_string().contains("secret-"), "{error}");
    // Both keys tried on the first value; the second value is not tried.
    assert_eq!(opening.rsa_operations, 2);
}

#[test]
fn work_past_the_budget_is_refused() {
    let sealed = sealed_with(public(1), &[("a", b"1"), ("b", b"2")]);
    let ring = [keys()[0].private_key(), keys()[1].private_key()];
    // 2 tries for the first value and 1 for the second: 3 in all.
    assert!(open_all(&sealed, &ring, 3).result.is_ok());
    let opening = open_all(&sealed, &ring, 2);
    assert!(
        matches!(opening.result, Err(OpenError::TooCostly(2))),
        "{:?}",
        opening.result
    );
    assert_eq!(opening.rsa_operations, 2);
}

#[test]
fn the_deprecated_data_field_must_hold_a_secret() {
    use base64::Engine as _;
    let label = kseal_crypto::label(kseal_crypto::Scope::Strict, "ns", "s");
    let seal = |plain: &[u8]| kseal_crypto::seal_base64(public(0), &label, plain).unwrap();
    let mut sealed = sealed_with(public(0), &[("k", b"v")]);
    sealed.spec.encrypted_data.clear();
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "data": {"k": base64::engine::general_purpose::STANDARD.encode("legacy")},
    });
    sealed.spec.data = Some(seal(secret.to_string().as_bytes()));
    let opening = open_all(&sealed, &[keys()[0].private_key()], 10);
    let data = opening.result.unwrap().data.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        secret
    );
    assert_eq!(opening.rsa_operations, 1);

    sealed.spec.data = Some(seal(b"not json"));
    let error = open_all(&sealed, &[keys()[0].private_key()], 10)
        .result
        .unwrap_err();
    assert!(matches!(error, OpenError::Failed(_)), "{error}");
    assert!(!error.to_string().contains("not json"), "{error}");

    // Both formats at once is refused, as the unsealer does.
    sealed.spec.encrypted_data.insert("k".into(), seal(b"v"));
    assert!(matches!(
        open_all(&sealed, &[keys()[0].private_key()], 10).result,
        Err(OpenError::Failed(_))
    ));
}
