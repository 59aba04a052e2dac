//! Property: whatever the fetched data and the ExternalSecret, an error of the pure sync pipeline
//! (`data[].remoteRef` lookups, `dataFrom[].extract` with conversion and rewrites, decoding, templates,
//! metadata and the final Secret keys) never shows a fetched value, a JSON member name or value, or a
//! decoded text — in `Display` or `Debug` — unless that text is also written literally in the spec.
//!
//! The pipeline is the one `kseal-externalsecrets` runs between reading AWS and applying the Secret.

use std::collections::BTreeMap;

use base64::Engine as _;
use kseal_api::external_secrets::{ExternalSecret, TemplateTarget};
use kseal_core::external_secrets::desired::{Data, TemplateSource, desired_secret};
use kseal_core::external_secrets::remote::{
    self, DecodingStrategy, KeyConversion, Payload as RemotePayload,
};
use kseal_core::external_secrets::rewrite::{self, Rewrite};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

/// Data text: three capitals, a digit, then 3 to 6 capitals or digits — a shape no message has.
fn token() -> impl Strategy<Value = String> {
    "[A-Z]{3}[0-9][A-Z0-9]{3,6}"
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A JSON value of a fetched secret, with everything it holds that counts as data.
#[derive(Clone, Debug)]
enum J {
    /// A string: a token with a suffix that may make it an invalid key or label.
    Str(String, &'static str),
    /// A token repeated past every length limit.
    Long(String),
    /// A string holding the base64 of a token.
    B64(String),
    /// An integer of eight digits.
    Num(u64),
    Bool(bool),
    Null,
    Obj(Vec<(Name, J)>),
    Arr(Vec<J>),
    /// A string holding a JSON object (ESO's `extract` of a property accepts it).
    Embedded(Vec<(Name, J)>),
}

/// A member name: a token, possibly with characters that key conversion or validation reacts to.
#[derive(Clone, Debug)]
struct Name(String, &'static str, &'static str);

impl Name {
    fn text(&self) -> String {
        format!("{}{}{}", self.1, self.0, self.2)
    }
}

fn name() -> impl Strategy<Value = Name> {
    (
        token(),
        prop_oneof![Just(""), Just("é"), Just(".."), Just("x/")],
        prop_oneof![Just(""), Just(""), Just("/x"), Just("_x"), Just(" y")],
    )
        .prop_map(|(t, pre, post)| Name(t, pre, post))
}

fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        (
            token(),
            prop_oneof![
                Just(""),
                Just(" z"),
                Just("/a/b"),
                Just(": x"),
                Just("-"),
                Just("=="),
            ]
        )
            .prop_map(|(t, s)| J::Str(t, s)),
        token().prop_map(J::Long),
        token().prop_map(J::B64),
        (10_000_000u64..99_999_999).prop_map(J::Num),
        any::<bool>().prop_map(J::Bool),
        Just(J::Null),
    ]
}

fn json_value() -> impl Strategy<Value = J> {
    leaf().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec((name(), inner.clone()), 0..3).prop_map(J::Obj),
            prop::collection::vec(inner.clone(), 0..3).prop_map(J::Arr),
            prop::collection::vec((name(), inner), 1..3).prop_map(J::Embedded),
        ]
    })
}

/// JSON text of `value`; every data text it holds goes into `secrets`.
fn render(value: &J, secrets: &mut Vec<String>) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    match value {
        J::Str(t, s) => {
            secrets.extend([t.clone(), format!("{t}{s}")]);
            quote(&format!("{t}{s}"))
        }
        J::Long(t) => {
            secrets.push(t.clone());
            quote(&t.repeat(8))
        }
        J::B64(t) => {
            secrets.extend([t.clone(), b64(t)]);
            quote(&b64(t))
        }
        J::Num(n) => {
            secrets.push(n.to_string());
            n.to_string()
        }
        J::Bool(b) => b.to_string(),
        J::Null => "null".into(),
        J::Obj(members) => object(members, secrets),
        J::Arr(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| render(v, secrets))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        J::Embedded(members) => quote(&object(members, secrets)),
    }
}

fn object(members: &[(Name, J)], secrets: &mut Vec<String>) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(n, v)| {
            secrets.extend([n.0.clone(), n.text()]);
            format!(
                "{}: {}",
                serde_json::to_string(&n.text()).unwrap(),
                render(v, secrets)
            )
        })
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// Every gjson path of `value` (keys and array indexes), to pick existing properties from.
fn paths(value: &J, prefix: &str, out: &mut Vec<String>) {
    let join = |p: &str, k: &str| {
        if p.is_empty() {
            k.to_owned()
        } else {
            format!("{p}.{k}")
        }
    };
    match value {
        J::Obj(members) => {
            for (n, v) in members {
                let path = join(prefix, &n.text().replace('.', "\\."));
                out.push(path.clone());
                paths(v, &path, out);
            }
        }
        J::Arr(items) => {
            out.push(join(prefix, "#"));
            for (i, v) in items.iter().enumerate() {
                let path = join(prefix, &i.to_string());
                out.push(path.clone());
                paths(v, &path, out);
            }
        }
        _ => {}
    }
}

/// One fetched secret.
#[derive(Clone, Debug)]
enum Payload {
    Json(Vec<(Name, J)>),
    Plain(String),
    Base64(String),
    Broken(String),
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        12 => prop::collection::vec((name(), json_value()), 1..5).prop_map(Payload::Json),
        1 => token().prop_map(Payload::Plain),
        1 => token().prop_map(Payload::Base64),
        1 => token().prop_map(Payload::Broken),
    ]
}

/// How a `data[]` item or `dataFrom[].extract` picks its property.
#[derive(Clone, Debug)]
enum Prop {
    None,
    Existing(Index),
    Missing(String),
    Hash,
}

fn prop_choice() -> impl Strategy<Value = Prop> {
    prop_oneof![
        4 => Just(Prop::None),
        4 => any::<Index>().prop_map(Prop::Existing),
        1 => token().prop_map(Prop::Missing),
        1 => Just(Prop::Hash),
    ]
}

const SECRET_KEYS: &[&str] = &["lit-a", "lit_b", "LIT.c", "bad/key", ".."];
const REWRITES: &[(&str, &str)] = &[
    ("^", "p-"),
    ("[^A-Za-z0-9]", "_"),
    ("^.*$", "same"),
    ("^.*$", ""),
    ("(\\w)(\\w*)", "$2$1"),
    ("^", "bad/"),
    ("[0-9]", ""),
    ("(", "x"),
    ("^[A-Z]{3}", ""),
];
const LABEL_KEYS: &[&str] = &["tier", "Bad Key", "app.kubernetes.io/part", "a/b/c", "ok"];
const ANNOTATION_KEYS: &[&str] = &["note", "Bad/Key/x", "Example.com/ok", "-x"];
const DATA_KEYS: &[&str] = &["out", "bad/out", "lit-a", "..x"];
const TEMPLATES: &[&str] = &[
    "static",
    "has space",
    "{{ index . \"lit-a\" }}",
    "{{ index . \"lit_b\" }}-{{ index . \"lit_b\" }}",
    "{{ .missing }}",
    "{{ range $k, $v := . }}{{ $k }}{{ end }}",
    "{{ range $k, $v := . }}{{ $v }}{{ end }}",
    "{{ get . \"lit-a\" | upper }}",
];
const LITERALS: &[&str] = &[
    "{{ get . \"lit_b\" }}: {{ get . \"lit-a\" }}",
    "k: \"{{ get . \"lit_b\" }}\"",
    "{{ range $k, $v := . }}{{ $k }}: {{ $v }}\n{{ end }}",
    "{{ range $k, $v := . }}\"{{ $k }}\": \"{{ $v }}\"\n{{ end }}",
    "{{ get . \"lit-a\" }}",
];

#[derive(Clone, Debug)]
struct Template {
    merge: bool,
    labels: Vec<(usize, usize)>,
    annotations: Vec<(usize, usize)>,
    data: Vec<(usize, usize)>,
    literal: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
struct Case {
    payloads: Vec<Payload>,
    data: Vec<(usize, Index, Prop, u8)>,
    data_from: Vec<(Index, Prop, u8, u8, Vec<usize>)>,
    template: Option<Template>,
}

/// Mostly strategies that let the value through, so that later stages see data too.
fn decoding_choice() -> impl Strategy<Value = u8> {
    prop_oneof![4 => Just(0u8), 1 => Just(1), 1 => Just(2), 3 => Just(3)]
}

fn case() -> impl Strategy<Value = Case> {
    let pick = |n: usize| (0..n, 0..TEMPLATES.len());
    let template = (
        any::<bool>(),
        prop::collection::vec(pick(LABEL_KEYS.len()), 0..3),
        prop::collection::vec(pick(ANNOTATION_KEYS.len()), 0..3),
        prop::collection::vec(pick(DATA_KEYS.len()), 0..3),
        prop::option::of((0..3usize, 0..LITERALS.len())),
    )
        .prop_map(|(merge, labels, annotations, data, literal)| Template {
            merge,
            labels,
            annotations,
            data,
            literal,
        });
    (
        prop::collection::vec(payload(), 1..4),
        prop::collection::vec(
            (
                0..SECRET_KEYS.len(),
                any::<Index>(),
                prop_choice(),
                decoding_choice(),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                any::<Index>(),
                prop_choice(),
                0..3u8,
                decoding_choice(),
                prop::collection::vec(0..REWRITES.len(), 0..3),
            ),
            0..3,
        ),
        prop::option::of(template),
    )
        .prop_map(|(payloads, data, data_from, template)| Case {
            payloads,
            data,
            data_from,
            template,
        })
}

fn decoding(n: u8) -> (DecodingStrategy, &'static str) {
    match n {
        0 => (DecodingStrategy::None, "None"),
        1 => (DecodingStrategy::Base64, "Base64"),
        2 => (DecodingStrategy::Base64Url, "Base64URL"),
        _ => (DecodingStrategy::Auto, "Auto"),
    }
}

fn conversion(n: u8) -> (KeyConversion, Option<&'static str>) {
    match n {
        0 => (KeyConversion::Default, None),
        1 => (KeyConversion::Default, Some("Default")),
        _ => (KeyConversion::Unicode, Some("Unicode")),
    }
}

/// The remote secrets (`app/r0`, `app/r1`, …), their properties and the data texts they hold.
struct World {
    payloads: Vec<String>,
    paths: Vec<Vec<String>>,
    secrets: Vec<String>,
}

fn world(case: &Case) -> World {
    let mut secrets = Vec::new();
    let mut all_paths = Vec::new();
    let payloads = case
        .payloads
        .iter()
        .map(|p| {
            let mut found = Vec::new();
            let text = match p {
                Payload::Json(members) => {
                    paths(&J::Obj(members.clone()), "", &mut found);
                    object(members, &mut secrets)
                }
                Payload::Plain(t) => {
                    secrets.push(t.clone());
                    t.clone()
                }
                Payload::Base64(t) => {
                    secrets.extend([t.clone(), b64(t)]);
                    b64(t)
                }
                Payload::Broken(t) => {
                    secrets.push(t.clone());
                    format!("{{\"{t}\": ")
                }
            };
            all_paths.push(found);
            text
        })
        .collect();
    World {
        payloads,
        paths: all_paths,
        secrets,
    }
}

fn property(world: &World, remote: usize, choice: &Prop) -> Option<String> {
    match choice {
        Prop::None => None,
        Prop::Existing(i) if !world.paths[remote].is_empty() => {
            Some(i.get(&world.paths[remote]).clone())
        }
        Prop::Existing(_) => Some("absent".into()),
        Prop::Missing(t) => Some(format!("{t}.deeper")),
        Prop::Hash => Some("#".into()),
    }
}

/// The ExternalSecret of `case` and its resolved `templateFrom` sources.
fn spec(case: &Case, world: &World) -> (ExternalSecret, Vec<TemplateSource>) {
    let remotes = world.payloads.len();
    let remote_ref = |remote: usize, prop: &Prop, dec: u8, conv: Option<u8>| {
        let mut r = json!({"key": format!("app/r{remote}"), "decodingStrategy": decoding(dec).1});
        if let Some(p) = property(world, remote, prop) {
            r["property"] = json!(p);
        }
        if let Some(name) = conv.and_then(|c| conversion(c).1) {
            r["conversionStrategy"] = json!(name);
        }
        r
    };
    let data: Vec<_> = case
        .data
        .iter()
        .map(|(key, remote, prop, dec)| {
            let remote = remote.index(remotes);
            json!({"secretKey": SECRET_KEYS[*key], "remoteRef": remote_ref(remote, prop, *dec, None)})
        })
        .collect();
    let data_from: Vec<_> = case
        .data_from
        .iter()
        .map(|(remote, prop, conv, dec, rewrites)| {
            let remote = remote.index(remotes);
            let rewrite: Vec<_> = rewrites
                .iter()
                .map(|&i| json!({"regexp": {"source": REWRITES[i].0, "target": REWRITES[i].1}}))
                .collect();
            json!({"extract": remote_ref(remote, prop, *dec, Some(*conv)), "rewrite": rewrite})
        })
        .collect();
    let mut target = json!({});
    let mut sources = Vec::new();
    if let Some(t) = &case.template {
        let map = |pairs: &[(usize, usize)], keys: &[&str]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|&(k, v)| (keys[k].to_owned(), TEMPLATES[v].to_owned()))
                .collect()
        };
        let mut template = json!({
            "mergePolicy": if t.merge { "Merge" } else { "Replace" },
            "metadata": {
                "labels": map(&t.labels, LABEL_KEYS),
                "annotations": map(&t.annotations, ANNOTATION_KEYS),
            },
            "data": map(&t.data, DATA_KEYS),
        });
        if let Some((target, literal)) = t.literal {
            let (target, name) = [
                (TemplateTarget::Data, "Data"),
                (TemplateTarget::Labels, "Labels"),
                (TemplateTarget::Annotations, "Annotations"),
            ][target];
            template["templateFrom"] = json!([{"literal": LITERALS[literal], "target": name}]);
            sources.push(TemplateSource::Literal {
                target,
                decoding: kseal_api::external_secrets::DecodingStrategy::None,
                template: LITERALS[literal].to_owned(),
            });
        }
        target = json!({"template": template});
    }
    let es = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "app", "namespace": "team", "uid": "uid-1"},
        "spec": {"data": data, "dataFrom": data_from, "target": target},
    }))
    .unwrap();
    (es, sources)
}

/// What `kseal-externalsecrets` does with the fetched payloads; an error as its `Display` and `Debug`.
fn run(es: &ExternalSecret, world: &World, sources: &[TemplateSource]) -> Result<(), String> {
    fn shown<E: std::fmt::Display + std::fmt::Debug>(e: E) -> String {
        format!("{e}\n{e:?}")
    }
    let secret = |key: &str| {
        let i: usize = key.trim_start_matches("app/r").parse().unwrap();
        RemotePayload::String(&world.payloads[i])
    };
    let decoding = |d: Option<kseal_api::external_secrets::DecodingStrategy>| {
        use kseal_api::external_secrets::DecodingStrategy as D;
        match d.unwrap_or_default() {
            D::None => DecodingStrategy::None,
            D::Base64 => DecodingStrategy::Base64,
            D::Base64Url => DecodingStrategy::Base64Url,
            D::Auto => DecodingStrategy::Auto,
        }
    };
    let mut data = Data::new();
    for from in &es.spec.data_from {
        let extract = from.extract.as_ref().unwrap();
        let rewrites = Rewrite::list(&from.rewrite);
        let conversion = if !rewrites.is_empty() {
            KeyConversion::Keep
        } else if extract.conversion_strategy
            == Some(kseal_api::external_secrets::ConversionStrategy::Unicode)
        {
            KeyConversion::Unicode
        } else {
            KeyConversion::Default
        };
        let map = remote::extract(
            secret(&extract.key),
            &extract.key,
            extract.property.as_deref(),
            conversion,
            decoding(extract.decoding_strategy),
        )
        .map_err(shown)?;
        data.extend(rewrite::apply(map, &rewrites).map_err(shown)?);
    }
    for item in &es.spec.data {
        let r = &item.remote_ref;
        let value = remote::value(
            secret(&r.key),
            &r.key,
            r.property.as_deref(),
            decoding(r.decoding_strategy),
        )
        .map_err(shown)?;
        data.insert(item.secret_key.clone(), value);
    }
    desired_secret(es, data, sources).map(drop).map_err(shown)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn errors_never_show_fetched_data(case in case()) {
        let world = world(&case);
        let (es, sources) = spec(&case, &world);
        if let Err(message) = run(&es, &world, &sources) {
            // What the spec says literally may be quoted (a property, a key, a regexp).
            let literal = format!("{}{:?}", serde_json::to_string(&es).unwrap(), sources);
            for secret in world.secrets.iter().filter(|s| s.len() >= 4) {
                prop_assert!(
                    literal.contains(secret.as_str()) || !message.contains(secret.as_str()),
                    "the error shows {secret:?}: {message}"
                );
            }
        }
    }
}
