//! The differential suite: every case of `tests/template-corpus/*.yaml` is rendered by kseal and by
//! the Go engines kseal replaces (the oracle `tests/go/tmpl-oracle`: Go `text/template` with sprig
//! v3.3.0 and External Secrets Operator's functions, and `tidwall/gjson` for `property` lookups).
//! A case agrees when both succeed with the same bytes or both fail. The test prints
//! `N agree, M differ`, lists each difference, and fails on a difference that
//! `tests/template-corpus/known-differences.yaml` does not list with its reason, or on a listed case
//! that agrees now (the list must stay true).
//!
//! The oracle is built by `tests/env/build tmpl-oracle` (Go required) unless `KSEAL_TMPL_ORACLE`
//! names a binary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kseal_core::external_secrets::remote::{self, DecodingStrategy, Payload};
use kseal_template::{Flavour, Renderer};
use serde::Deserialize;

/// One corpus file: default data for its cases, which flavours its cases run in, and the cases.
#[derive(Deserialize)]
struct CorpusFile {
    #[serde(default)]
    data: BTreeMap<String, String>,
    /// Values given as base64 (binary data: keystores, invalid UTF-8).
    #[serde(default)]
    data_b64: BTreeMap<String, String>,
    /// `eso`, `sealed` or `property`; a case may name its own.
    #[serde(default = "default_flavours")]
    flavours: Vec<String>,
    cases: Vec<Case>,
}

fn default_flavours() -> Vec<String> {
    vec!["eso".into()]
}

/// A case is a template (or, for `property`, a gjson path), alone or with its own settings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Case {
    Plain(String),
    Full {
        #[serde(default)]
        id: Option<String>,
        t: String,
        #[serde(default)]
        data: Option<BTreeMap<String, String>>,
        #[serde(default)]
        flavours: Option<Vec<String>>,
        /// For `property`: the secret's JSON text.
        #[serde(default)]
        json: Option<String>,
    },
}

#[derive(Deserialize)]
struct Known {
    id: String,
    reason: String,
}

/// One check: a case in one flavour.
struct Check {
    id: String,
    flavour: String,
    template: String,
    data: BTreeMap<String, Vec<u8>>,
}

#[derive(Deserialize)]
struct Answer {
    id: String,
    ok: bool,
    #[serde(default)]
    out: String,
    #[serde(default)]
    err: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle() -> PathBuf {
    if let Some(path) = std::env::var_os("KSEAL_TMPL_ORACLE") {
        return path.into();
    }
    let out = Command::new("bash")
        .arg(repo().join("tests/env/build"))
        .arg("tmpl-oracle")
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/env/build tmpl-oracle");
    assert!(out.status.success(), "tests/env/build tmpl-oracle failed");
    let path = String::from_utf8(out.stdout).expect("a path");
    PathBuf::from(path.lines().last().expect("the oracle's path").trim())
}

fn load() -> (Vec<Check>, usize) {
    let dir = repo().join("tests/template-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/template-corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && p.file_name().is_some_and(|n| n != "known-differences.yaml")
        })
        .collect();
    files.sort();
    let mut checks = Vec::new();
    let mut cases = 0;
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("read corpus file");
        let file: CorpusFile =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut base: BTreeMap<String, Vec<u8>> = file
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        for (k, v) in &file.data_b64 {
            base.insert(k.clone(), STANDARD.decode(v).expect("data_b64 is base64"));
        }
        let mut ids = BTreeSet::new();
        for (i, case) in file.cases.iter().enumerate() {
            cases += 1;
            let (id, template, data, flavours) = match case {
                Case::Plain(t) => (
                    format!("{}", i + 1),
                    t.clone(),
                    base.clone(),
                    &file.flavours,
                ),
                Case::Full {
                    id,
                    t,
                    data,
                    flavours,
                    json,
                } => {
                    let mut d = base.clone();
                    if let Some(extra) = data {
                        d.extend(
                            extra
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
                        );
                    }
                    if let Some(json) = json {
                        d.insert("json".into(), json.clone().into_bytes());
                    }
                    (
                        id.clone().unwrap_or_else(|| format!("{}", i + 1)),
                        t.clone(),
                        d,
                        flavours.as_ref().unwrap_or(&file.flavours),
                    )
                }
            };
            assert!(ids.insert(id.clone()), "{stem}: case id {id} twice");
            for flavour in flavours {
                checks.push(Check {
                    id: format!("{stem}/{id}/{flavour}"),
                    flavour: flavour.clone(),
                    template: template.clone(),
                    data: data.clone(),
                });
            }
        }
    }
    (checks, cases)
}

fn go_results(checks: &[Check]) -> BTreeMap<String, Result<Vec<u8>, String>> {
    let mut child = Command::new(oracle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oracle");
    let mut input = Vec::new();
    for c in checks {
        let data: BTreeMap<&str, String> = c
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), STANDARD.encode(v)))
            .collect();
        let line = serde_json::json!({"id": c.id, "flavour": c.flavour, "template": c.template, "data": data});
        input.extend(serde_json::to_vec(&line).unwrap());
        input.push(b'\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).expect("feed the oracle"));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().unwrap();
    assert!(out.status.success(), "the oracle failed");
    String::from_utf8(out.stdout)
        .expect("oracle output is UTF-8")
        .lines()
        .map(|l| {
            let a: Answer = serde_json::from_str(l).expect("oracle answer");
            let r = if a.ok {
                Ok(STANDARD.decode(a.out).expect("base64"))
            } else {
                Err(a.err)
            };
            (a.id, r)
        })
        .collect()
}

fn kseal_result(c: &Check) -> Result<Vec<u8>, String> {
    match c.flavour.as_str() {
        "property" => {
            let json = c.data.get("json").map(Vec::as_slice).unwrap_or_default();
            let json = std::str::from_utf8(json).expect("property secrets are text");
            remote::value(
                Payload::String(json),
                "secret",
                Some(&c.template),
                DecodingStrategy::None,
            )
            .map(|v| v.to_vec())
            .map_err(|e| e.to_string())
        }
        flavour => {
            let flavour = match flavour {
                "eso" => Flavour::Eso,
                "sealed" => Flavour::SealedSecrets,
                other => panic!("unknown flavour {other}"),
            };
            Renderer::with_flavour(&c.data, flavour)
                .render("case", &c.template)
                .map_err(|e| e.to_string())
        }
    }
}

fn show(r: &Result<Vec<u8>, String>) -> String {
    let cut = |s: String| {
        if s.chars().count() > 300 {
            format!("{}…", s.chars().take(300).collect::<String>())
        } else {
            s
        }
    };
    match r {
        Ok(b) => format!("ok {:?}", cut(String::from_utf8_lossy(b).into_owned())),
        Err(e) => format!("error {}", cut(e.clone())),
    }
}

#[test]
fn kseal_agrees_with_the_go_engines() {
    let (checks, cases) = load();
    assert!(cases >= 600, "the corpus has {cases} cases, fewer than 600");
    let known: Vec<Known> = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join("tests/template-corpus/known-differences.yaml"))
            .expect("known-differences.yaml"),
    )
    .expect("known-differences.yaml parses");
    let known: BTreeMap<String, String> = known.into_iter().map(|k| (k.id, k.reason)).collect();
    let go = go_results(&checks);
    let mut agree = 0;
    let mut differ = Vec::new();
    for c in &checks {
        let theirs = go.get(&c.id).expect("the oracle answered every case");
        let ours = kseal_result(c);
        let same = match (&ours, theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if same {
            agree += 1;
        } else {
            differ.push((c, ours, theirs));
        }
    }
    println!(
        "{agree} agree, {} differ ({} checks of {cases} cases)",
        differ.len(),
        checks.len()
    );
    let mut unexplained = 0;
    for (c, ours, theirs) in &differ {
        let reason = known.get(&c.id);
        if reason.is_none() {
            unexplained += 1;
        }
        println!(
            "DIFFER {}{}\n  template: {:?}\n  go:    {}\n  kseal: {}",
            c.id,
            reason.map_or(String::new(), |r| format!(" (known: {r})")),
            c.template,
            show(theirs),
            show(ours)
        );
    }
    let differing: BTreeSet<&str> = differ.iter().map(|(c, _, _)| c.id.as_str()).collect();
    let stale: Vec<&String> = known
        .keys()
        .filter(|id| !differing.contains(id.as_str()))
        .collect();
    for id in &stale {
        println!(
            "STALE known difference {id}: the case agrees (or is gone); remove it from the list"
        );
    }
    assert!(
        unexplained == 0 && stale.is_empty(),
        "{unexplained} differences are not in tests/template-corpus/known-differences.yaml, {} listed ones do not differ",
        stale.len()
    );
}

/// Keystores kseal writes (`pemToPkcs12Pass`, `fullPemToPkcs12Pass`, `pemTruststoreToPKCS12Pass`)
/// open in Go: the oracle decodes each with go-pkcs12 (through ESO's `pkcs12certPass` and
/// `pkcs12keyPass`) and gets what kseal put in; a truststore, which has no key, gets as far as
/// go-pkcs12's "private key missing" (its MAC and encryption were accepted).
#[test]
fn kseal_keystores_open_in_go() {
    let text =
        std::fs::read_to_string(repo().join("tests/template-corpus/pki.yaml")).expect("pki.yaml");
    let file: CorpusFile = serde_saphyr::from_str(&text).expect("pki.yaml parses");
    let data: BTreeMap<String, Vec<u8>> = file
        .data
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let render = |t: &str| -> Vec<u8> {
        Renderer::with_flavour(&data, Flavour::Eso)
            .render("case", t)
            .unwrap_or_else(|e| panic!("kseal renders {t}: {e}"))
    };
    let made = [
        ("rsa", r#"{{ pemToPkcs12Pass .leaf .leafkey "changeit" }}"#),
        (
            "ec",
            r#"{{ pemToPkcs12Pass .int .intkey_sec1 "pässwörd" }}"#,
        ),
        (
            "chain",
            r#"{{ fullPemToPkcs12Pass .chain_unordered .leafkey "changeit" }}"#,
        ),
        ("empty-password", r#"{{ fullPemToPkcs12 .chain .leafkey }}"#),
        (
            "truststore",
            r#"{{ pemTruststoreToPKCS12Pass .chain "changeit" }}"#,
        ),
    ];
    let password = |name: &str| match name {
        "ec" => "pässwörd",
        "empty-password" => "",
        _ => "changeit",
    };
    let mut checks = Vec::new();
    for (name, t) in made {
        let keystore = STANDARD.decode(render(t)).expect("kseal writes base64");
        for what in ["cert", "key"] {
            checks.push(Check {
                id: format!("{name}/{what}"),
                flavour: "eso".into(),
                template: format!("{{{{ .ks | pkcs12{what}Pass {:?} }}}}", password(name)),
                data: BTreeMap::from([("ks".to_owned(), keystore.clone())]),
            });
        }
    }
    let go = go_results(&checks);
    for c in &checks {
        let theirs = go.get(&c.id).expect("the oracle answered");
        if c.id.starts_with("truststore/") {
            let err = theirs.as_ref().expect_err("a truststore has no key");
            assert!(
                err.contains("private key missing"),
                "{}: Go says {err}",
                c.id
            );
            continue;
        }
        let theirs = theirs
            .as_ref()
            .unwrap_or_else(|e| panic!("Go cannot open kseal's keystore {}: {e}", c.id));
        let ours = Renderer::with_flavour(&c.data, Flavour::Eso)
            .render("case", &c.template)
            .unwrap_or_else(|e| panic!("kseal cannot open its keystore {}: {e}", c.id));
        assert_eq!(&ours, theirs, "{}: Go reads another content", c.id);
    }
    // What Go read is what went in: the key and the leaf-first chain.
    let key = go["chain/key"].as_ref().unwrap();
    assert_eq!(key, &render(r#"{{ .leafkey | printf "%s\n" }}"#));
    let chain = go["chain/cert"].as_ref().unwrap();
    assert_eq!(chain, &render(r#"{{ .chain | filterPEM "CERTIFICATE" }}"#));
}
