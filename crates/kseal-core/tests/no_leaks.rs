//! Errors of the external-secret builders and of the manifest reader never quote a fetched or decrypted
//! value: each test plants a canary in the data, triggers one error path and checks that the message
//! (`Display` and `Debug`) names the object or manifest path but does not contain the canary.

use std::collections::BTreeMap;

use base64::Engine as _;
use kseal_api::external_secrets::{ExternalSecret, TemplateScope, TemplateTarget};
use kseal_core::PlainSecret;
use kseal_core::external_secrets::desired::{Data, TemplateSource, desired_secret};
use kseal_core::external_secrets::remote::{
    self, DecodingStrategy, KeyConversion, Payload, convert_keys, extract, value,
};
use kseal_core::external_secrets::rewrite::{self, Rewrite};
use kseal_core::manifest::read_documents;
use serde_json::json;
use zeroize::Zeroizing;

const CANARY: &str = "CANARY-7f3a9c";

/// `Display` and `Debug` of `error`, checked to contain `wanted` (each) and no canary.
fn check<E: std::fmt::Display + std::fmt::Debug>(error: &E, wanted: &[&str]) -> String {
    let shown = error.to_string();
    let debug = format!("{error:?}");
    for text in [&shown, &debug] {
        assert!(!text.contains("CANARY"), "leaks the canary: {text}");
        assert!(!text.contains("7f3a9c"), "leaks part of the canary: {text}");
    }
    for part in wanted {
        assert!(shown.contains(part), "{shown:?} does not name {part:?}");
    }
    shown
}

fn es(spec: serde_json::Value) -> ExternalSecret {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": "team", "uid": "uid-1"},
        "spec": spec,
    }))
    .unwrap()
}

fn data(pairs: &[(&str, &str)]) -> Data {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

// ---- property lookups and JSON -------------------------------------------------------------------

#[test]
fn a_missing_property_names_the_property_not_the_document() {
    let doc = format!(r#"{{"{CANARY}": {{"inner": "{CANARY}"}}, "user": "{CANARY}"}}"#);
    for property in ["absent", "user.deeper", "CANARY-7f3a9c.missing"] {
        let e = value(
            Payload::String(&doc),
            "prod/db",
            Some(property),
            DecodingStrategy::None,
        )
        .unwrap_err();
        if property.contains("CANARY") {
            // The property is literal manifest text: naming it is fine.
            assert!(e.to_string().contains(property), "{e}");
            continue;
        }
        check(&e, &["prod/db", property]);
    }
}

#[test]
fn a_fetched_value_that_is_not_json_is_not_quoted() {
    for doc in [
        CANARY.to_owned(),
        format!(r#"{{"a": "{CANARY}"}} {CANARY}"#),
        format!(r#"{{"a": "{CANARY}", }}"#),
        format!(r#"{{"a": {CANARY}}}"#),
        format!("[\"{CANARY}\n"),
    ] {
        // gjson reads malformed JSON leniently (as ESO does): a property it cannot find reports where
        // the secret stops being JSON.
        let e = value(
            Payload::String(&doc),
            "prod/db",
            Some("missing"),
            DecodingStrategy::None,
        )
        .unwrap_err();
        check(&e, &["prod/db", "line", "column"]);
        let e = extract(
            Payload::Binary(doc.as_bytes()),
            "prod/db",
            None,
            KeyConversion::Default,
            DecodingStrategy::None,
        )
        .unwrap_err();
        check(&e, &["prod/db"]);
    }
}

#[test]
fn extract_of_a_non_object_names_the_remote_secret_only() {
    for (doc, property) in [
        (format!(r#"["{CANARY}"]"#), None),
        (format!(r#""{CANARY}""#), None),
        (format!(r#"{{"p": "{CANARY}"}}"#), Some("p")),
        (format!(r#"{{"p": "{{\"{CANARY}\": 1"}}"#), Some("p")),
    ] {
        let e = extract(
            Payload::String(&doc),
            "prod/db",
            property,
            KeyConversion::Default,
            DecodingStrategy::None,
        )
        .unwrap_err();
        check(&e, &["prod/db"]);
    }
}

// ---- decoding strategies -------------------------------------------------------------------------

#[test]
fn decoding_errors_never_show_the_value() {
    let bad = format!("{CANARY}!!");
    for strategy in [DecodingStrategy::Base64, DecodingStrategy::Base64Url] {
        let e = value(Payload::String(&bad), "prod/db", None, strategy).unwrap_err();
        check(&e, &["prod/db", "decodingStrategy"]);
        let doc = format!(r#"{{"token": "{bad}"}}"#);
        let e = value(Payload::String(&doc), "prod/db", Some("token"), strategy).unwrap_err();
        check(&e, &["prod/db", "decodingStrategy"]);
        let e = remote::decode(bad.as_bytes(), strategy, "dataFrom[0].find").unwrap_err();
        check(&e, &["dataFrom[0].find"]);
    }
}

#[test]
fn a_member_that_does_not_decode_is_named_by_position_not_by_name() {
    // Member names of a fetched JSON secret are data.
    let doc = format!(r#"{{"ok": "{}", "{CANARY}": "{CANARY}!!"}}"#, b64("fine"));
    for strategy in [DecodingStrategy::Base64, DecodingStrategy::Base64Url] {
        let e = extract(
            Payload::String(&doc),
            "prod/db",
            None,
            KeyConversion::Default,
            strategy,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "decode");
        check(&e, &["prod/db", "member 2", "decodingStrategy"]);
    }
}

// ---- key conversion and rewrites -----------------------------------------------------------------

#[test]
fn key_conversion_collisions_do_not_name_member_keys() {
    let doc = format!(r#"{{"{CANARY}/x": "1", "{CANARY}_x": "2", "other": "3"}}"#);
    let e = extract(
        Payload::String(&doc),
        "prod/db",
        None,
        KeyConversion::Default,
        DecodingStrategy::None,
    )
    .unwrap_err();
    assert_eq!(e.reason(), "key_collision");
    check(&e, &["prod/db", "members 1 and 2"]);

    // `find` results: the keys are names of remote secrets, found, not written in the manifest.
    let found: BTreeMap<String, u8> = [
        (format!("{CANARY}/a"), 1),
        (format!("{CANARY}_a"), 2),
        ("b".to_owned(), 3),
    ]
    .into();
    let e = convert_keys(found, KeyConversion::Unicode, "dataFrom[1].find");
    assert!(e.is_ok(), "Unicode keeps them apart");
    let found: BTreeMap<String, u8> = [
        (format!("{CANARY}/a"), 1),
        (format!("{CANARY}_a"), 2),
        ("b".to_owned(), 3),
    ]
    .into();
    let e = convert_keys(found, KeyConversion::Default, "dataFrom[1].find").unwrap_err();
    check(&e, &["dataFrom[1].find", "2 of 3 keys"]);
}

fn map(keys: &[String]) -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    keys.iter()
        .map(|k| (k.clone(), Zeroizing::new(CANARY.as_bytes().to_vec())))
        .collect()
}

fn regexp(source: &str, target: &str) -> Rewrite {
    Rewrite::Regexp {
        source: source.to_owned(),
        target: target.to_owned(),
    }
}

#[test]
fn rewrite_collisions_and_empty_keys_do_not_name_keys() {
    let keys = [
        format!("{CANARY}-a"),
        format!("{CANARY}-b"),
        "plain".to_owned(),
    ];
    let e = rewrite::apply(map(&keys), &[regexp("x", "y"), regexp("-[ab]$", "")]).unwrap_err();
    assert_eq!(e.reason(), "rewrite_collision");
    check(
        &e,
        &["rewrite[1]", "-[ab]$", "two keys rewrite to the same name"],
    );

    let e = rewrite::apply(map(&keys), &[regexp("^CANARY.*$", "")]).unwrap_err();
    assert_eq!(e.reason(), "rewrite_empty_key");
    // The pattern is manifest text, but this test's canary is in it: check the rest by hand.
    let shown = e.to_string();
    assert!(
        shown.contains("rewrite[0]") && shown.contains("2 of 3 keys"),
        "{shown}"
    );
    assert!(
        !shown.contains(&keys[0]) && !shown.contains(&keys[1]),
        "{shown}"
    );

    let e = rewrite::apply(map(&keys), &[regexp("[a-z-]", "")]).unwrap_err();
    check(&e, &["rewrite[0]", "[a-z-]"]);
}

#[test]
fn an_invalid_key_read_through_data_from_is_not_named() {
    // What `dataFrom[0].extract` with a rewrite gives: a key derived from the secret's members.
    let spec = json!({
        "dataFrom": [{"extract": {"key": "prod/db"}, "rewrite": [{"regexp": {"source": "^", "target": "x/"}}]}],
    });
    let rewritten = rewrite::apply(map(&[CANARY.to_owned()]), &[regexp("^", "x/")]).unwrap();
    let e = desired_secret(&es(spec), rewritten, &[]).unwrap_err();
    assert_eq!(e.reason(), "invalid_key");
    check(
        &e,
        &["dataFrom[0]", "rewritten key", "not a valid Secret key"],
    );

    // A key written in the manifest is named.
    let spec = json!({"data": [{"secretKey": "bad/key", "remoteRef": {"key": "prod/db"}}]});
    let e = desired_secret(&es(spec), data(&[("bad/key", CANARY)]), &[]).unwrap_err();
    check(&e, &["data[0].secretKey", "\"bad/key\""]);
    let spec = json!({"target": {"template": {"data": {"also/bad": "{{ .v }}"}}}});
    let e = desired_secret(&es(spec), data(&[("v", CANARY)]), &[]).unwrap_err();
    check(&e, &["template.data", "\"also/bad\""]);
}

// ---- templates -----------------------------------------------------------------------------------

fn template_from(target: &str) -> serde_json::Value {
    json!({"target": {"template": {"templateFrom": [{"literal": "x", "target": target}]}}})
}

#[test]
fn keys_and_values_templates_that_render_invalid_keys_name_the_template() {
    let sources = [TemplateSource::Items {
        origin: "configmap/tpl".into(),
        target: TemplateTarget::Data,
        decoding: kseal_api::external_secrets::DecodingStrategy::None,
        items: vec![(
            "kv".into(),
            TemplateScope::KeysAndValues,
            "{{ .k }}: {{ .k }}".into(),
        )],
    }];
    let values = data(&[("k", &format!("{CANARY} x"))]);
    let e = desired_secret(&es(template_from("Data")), values, &sources).unwrap_err();
    check(&e, &["configmap/tpl/kv", "Secret key"]);

    let literal = [TemplateSource::Literal {
        target: TemplateTarget::Data,
        decoding: kseal_api::external_secrets::DecodingStrategy::None,
        template: "{{ .k }}: v".into(),
    }];
    let values = data(&[("k", &format!("{CANARY}/x"))]);
    let e = desired_secret(&es(template_from("Data")), values, &literal).unwrap_err();
    check(&e, &["templateFrom.literal", "Secret key"]);
}

#[test]
fn rendered_yaml_that_is_not_a_map_is_not_quoted() {
    for rendered in [
        CANARY.to_owned(),
        format!("a: [{CANARY}]"),
        format!("a: {CANARY}\n a: b"),
        format!("a: \"{CANARY}"),
        format!("a: 1\na: {CANARY}"),
        format!("- {CANARY}"),
        format!("a: *{CANARY}"),
    ] {
        let literal = [TemplateSource::Literal {
            target: TemplateTarget::Annotations,
            decoding: kseal_api::external_secrets::DecodingStrategy::None,
            template: "{{ .k }}".into(),
        }];
        let e = desired_secret(
            &es(template_from("Annotations")),
            data(&[("k", &rendered)]),
            &literal,
        )
        .unwrap_err();
        check(&e, &["templateFrom.literal"]);
    }
}

fn with_metadata(labels: serde_json::Value, annotations: serde_json::Value) -> ExternalSecret {
    es(json!({"target": {"template": {
        "metadata": {"labels": labels, "annotations": annotations},
        "data": {"out": "x"},
    }}}))
}

#[test]
fn invalid_templated_label_values_name_the_label_not_the_value() {
    for value in [
        format!("{CANARY} with space"),
        format!("{CANARY}-"),
        format!("{CANARY}{}", "x".repeat(60)),
        format!("{CANARY}/x"),
    ] {
        let e = desired_secret(
            &with_metadata(json!({"tier": "{{ .v }}"}), json!({})),
            data(&[("v", &value)]),
            &[],
        )
        .unwrap_err();
        check(&e, &["template.metadata.labels.tier", "label value"]);
    }
    let ok = desired_secret(
        &with_metadata(json!({"tier": "{{ .v }}", "empty": ""}), json!({})),
        data(&[("v", "a-Valid_label.value9")]),
        &[],
    )
    .unwrap();
    assert_eq!(ok.labels["tier"], "a-Valid_label.value9");
    assert_eq!(ok.labels["empty"], "");
}

#[test]
fn invalid_label_and_annotation_keys_are_refused() {
    // Written in the manifest: the key is named.
    let e = desired_secret(
        &with_metadata(json!({"Bad Key": "v"}), json!({})),
        data(&[]),
        &[],
    )
    .unwrap_err();
    check(&e, &["Bad Key", "label key"]);
    let e = desired_secret(
        &with_metadata(json!({}), json!({"a/b/c": "v"})),
        data(&[]),
        &[],
    )
    .unwrap_err();
    check(&e, &["a/b/c", "annotation key"]);
    // Upper-case prefixes are fine in annotation keys, not in label keys.
    assert!(
        desired_secret(
            &with_metadata(json!({}), json!({"Example.com/Note": "v"})),
            data(&[]),
            &[],
        )
        .is_ok()
    );
    assert!(
        desired_secret(
            &with_metadata(json!({"Example.com/tier": "v"}), json!({})),
            data(&[]),
            &[],
        )
        .is_err()
    );

    // Rendered from data: only the template is named.
    for target in [TemplateTarget::Labels, TemplateTarget::Annotations] {
        let literal = [TemplateSource::Literal {
            target,
            decoding: kseal_api::external_secrets::DecodingStrategy::None,
            template: "{{ .k }}: v".into(),
        }];
        let name = format!("{target:?}");
        let e = desired_secret(
            &es(template_from(&name)),
            data(&[("k", &format!("{CANARY}/x/y"))]),
            &literal,
        )
        .unwrap_err();
        check(&e, &["templateFrom.literal", "key"]);
    }
    let literal = [TemplateSource::Literal {
        target: TemplateTarget::Labels,
        decoding: kseal_api::external_secrets::DecodingStrategy::None,
        template: "tier: \"{{ .k }}\"".into(),
    }];
    let e = desired_secret(
        &es(template_from("Labels")),
        data(&[("k", &format!("{CANARY} !"))]),
        &literal,
    )
    .unwrap_err();
    check(&e, &["templateFrom.literal", "label value"]);
}

#[test]
fn annotations_larger_than_256_kib_are_refused() {
    let big = format!("{CANARY}{}", "x".repeat(256 * 1024));
    let e = desired_secret(
        &with_metadata(json!({}), json!({"note": "{{ .v }}"})),
        data(&[("v", &big)]),
        &[],
    )
    .unwrap_err();
    check(&e, &["annotations", "256 KiB", "annotations.note"]);
    let fits = "x".repeat(200 * 1024);
    assert!(
        desired_secret(
            &with_metadata(json!({}), json!({"note": "{{ .v }}"})),
            data(&[("v", &fits)]),
            &[],
        )
        .is_ok()
    );
}

// ---- the CLI's manifest reader -------------------------------------------------------------------

fn read_secret(yaml: &str) -> Result<PlainSecret, kseal_core::Error> {
    let docs = read_documents(yaml)?;
    PlainSecret::from_document(&docs[0])
}

#[test]
fn manifest_errors_name_object_and_key_never_the_value() {
    let cases = [
        // (input, what the message must name)
        (
            format!(
                "kind: Secret\nmetadata: {{name: s, namespace: n}}\ndata: {{PASSWORD: '{CANARY}%'}}\n"
            ),
            vec!["Secret n/s", "data.PASSWORD"],
        ),
        (
            format!(
                "kind: Secret\nmetadata: {{name: s, generation: '{CANARY}'}}\nstringData: {{a: b}}\n"
            ),
            vec!["Secret s", "metadata.generation"],
        ),
        (
            format!("kind: Secret\nmetadata: {{name: s, labels: {{app: [{CANARY}]}}}}\n"),
            vec!["Secret s", "metadata.labels.app"],
        ),
        (
            format!("kind: Secret\nmetadata: {{name: s, creationTimestamp: '{CANARY}'}}\n"),
            vec!["Secret s", "metadata.creationTimestamp"],
        ),
        (
            format!("kind: Secret\nmetadata: {{name: s}}\nstringData: {{k: [{CANARY}]}}\n"),
            vec!["Secret s", "stringData.k"],
        ),
    ];
    for (yaml, wanted) in cases {
        let e = read_secret(&yaml).unwrap_err();
        check(&e, &wanted);
    }
}

#[test]
fn yaml_syntax_errors_give_the_place_not_the_text() {
    for yaml in [
        format!("kind: Secret\nstringData:\n  a: \"{CANARY}\\q\"\n"),
        format!("kind: Secret\nstringData:\n  a: {CANARY}\n  a: {CANARY}\n"),
        format!("kind: Secret\nstringData: {{a: [{CANARY}}}\n"),
        format!("kind: Secret\nstringData:\n  a: *{CANARY}\n"),
        format!("kind: Secret\nstringData:\n  ? {CANARY}\n  : x\n  ? {CANARY}\n  : y\n"),
        format!("kind: Secret\nstringData:\n  a: .nan\n  b: {CANARY}\n"),
        format!("kind: Secret\nstringData:\n  a: '{CANARY}\n"),
        format!("kind: Secret\nstringData:\n  a: {CANARY}\n b: {CANARY}\n"),
        format!("kind: Secret\nstringData:\n  a: |\n {CANARY}\n  b\n"),
        format!("kind: Secret\nstringData:\n  a: {CANARY}: x\n"),
        format!("kind: Secret\nstringData:\n  a: @{CANARY}\n"),
        format!("kind: Secret\nstringData:\n  a: `{CANARY}\n"),
        format!("kind: Secret\nstringData:\n  {CANARY}\n  a: b\n"),
        format!("kind: Secret\n---\n{CANARY}: [\n"),
        format!("{{\"kind\": \"Secret\", \"stringData\": {{\"a\": {CANARY}}}}}"),
    ] {
        let e = read_secret(&yaml).unwrap_err();
        check(&e, &["line"]);
    }
}

#[test]
fn a_document_of_another_kind_is_named_by_kind_and_name() {
    let e = read_secret("kind: ConfigMap\nmetadata: {name: c, namespace: n}\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "ConfigMap n/c: expected kind Secret, found ConfigMap"
    );
    let e = read_secret(&format!("kind: '{CANARY} x'\nmetadata: {{name: c}}\n")).unwrap_err();
    check(&e, &["expected kind Secret"]);
}
