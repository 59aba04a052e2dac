//! kseal against the real kubeseal v0.40.0, case by case (tests/kubeseal-corpus/cases.yaml).
//!
//! Each case runs both tools with the same arguments, environment, stdin and files, each in its own
//! directory, and compares: success or failure; the output's format (JSON or YAML); its documents, with
//! every `encryptedData` value replaced by its plaintext (opened with the label its metadata's scope
//! gives, so a wrong scope or namespace shows); and then each tool's `--recovery-unseal` opens the other's
//! SealedSecrets. The suite prints `N agree, M differ`, lists each difference, and fails on one that
//! tests/kubeseal-corpus/known-differences.yaml does not list, or on a listed one that now agrees.
//!
//! kubeseal is built by `tests/env/build kubeseal` (Go required) unless `KSEAL_KUBESEAL` names it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kseal_crypto::{Certificate, KeyOptions, KeyPair, PrivateKey, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

/// A process that runs longer is killed (kubeseal loops forever on some inputs).
const TIMEOUT: Duration = Duration::from_secs(20);
/// Parallel cases.
const WORKERS: usize = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    args: Vec<String>,
    /// Text on stdin.
    #[serde(default)]
    stdin: Option<String>,
    /// Bytes on stdin, base64.
    #[serde(default)]
    stdin_base64: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Extra files in the case's directory; `{{seal SCOPE NAMESPACE NAME VALUE}}` becomes a ciphertext.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Compare this file of the case's directory instead of stdout.
    #[serde(default)]
    output: Option<String>,
    /// `manifest` (default), `raw` (one ciphertext, opened with `label`), `bytes` (exact) or `status`.
    #[serde(default)]
    compare: Option<String>,
    /// The label a `raw` ciphertext must open with: `namespace/name`, `namespace` or empty.
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
struct Known {
    case: String,
    #[allow(dead_code)]
    reason: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kubeseal() -> PathBuf {
    if let Some(path) = std::env::var_os("KSEAL_KUBESEAL") {
        return path.into();
    }
    let out = Command::new("bash")
        .arg(repo().join("tests/env/build"))
        .arg("kubeseal")
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/env/build kubeseal");
    assert!(out.status.success(), "tests/env/build kubeseal failed");
    let path = String::from_utf8(out.stdout).expect("a path");
    PathBuf::from(path.lines().last().expect("kubeseal's path").trim())
}

/// What every case directory holds.
struct Fixtures {
    files: Vec<(String, Vec<u8>)>,
    keys: Vec<PrivateKey>,
    certificate: Certificate,
}

fn fixtures() -> Fixtures {
    let pair = KeyPair::generate(&KeyOptions {
        bits: 2048,
        validity: Duration::from_secs(365 * 24 * 3600),
        common_name: "sealed-secret".into(),
    })
    .expect("a key pair");
    let key_pem = pair.private_key_pem().expect("key PEM").to_string();
    let cert_pem = pair.certificate_pem().to_owned();
    let corpus = repo().join("tests/kubeseal-corpus/fixtures");
    let read = |name: &str| std::fs::read(corpus.join(name)).expect(name);
    let fixture_key = read("fixture-key.pem");
    let key_secret = |name: &str| {
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "kube-system",
                "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
            "data": {"tls.crt": STANDARD.encode(&cert_pem), "tls.key": STANDARD.encode(&key_pem)},
        })
    };
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [key_secret("sealed-secrets-keyabcde")]});
    let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n- name: dev\n  context: {cluster: local, user: dev, namespace: team-a}\n- name: ops\n  context: {cluster: local, user: dev, namespace: team-ops}\n- name: bare\n  context: {cluster: local, user: dev}\nclusters:\n- name: local\n  cluster: {server: \"https://127.0.0.1:1\"}\nusers:\n- name: dev\n  user: {token: not-a-real-token}\n";
    let files = vec![
        ("cert.pem".to_owned(), cert_pem.clone().into_bytes()),
        ("key.pem".to_owned(), key_pem.clone().into_bytes()),
        ("fixture-key.pem".to_owned(), fixture_key.clone()),
        (
            "cert-crlf.pem".to_owned(),
            cert_pem.replace('\n', "\r\n").into_bytes(),
        ),
        (
            "cert-text.pem".to_owned(),
            format!(
                "subject=CN = sealed-secret\nissuer=CN = sealed-secret\n{cert_pem}\nsaved by hand\n"
            )
            .into_bytes(),
        ),
        ("future-cert.pem".to_owned(), read("future-cert.pem")),
        ("expired-cert.pem".to_owned(), read("expired-cert.pem")),
        ("ec-cert.pem".to_owned(), read("ec-cert.pem")),
        (
            "garbage.pem".to_owned(),
            b"this is not a certificate\n".to_vec(),
        ),
        (
            "key-secret.yaml".to_owned(),
            serde_json::to_string_pretty(&key_secret("sealed-secrets-key"))
                .unwrap()
                .into_bytes(),
        ),
        (
            "key-list.json".to_owned(),
            serde_json::to_string_pretty(&list).unwrap().into_bytes(),
        ),
        ("kubeconfig".to_owned(), kubeconfig.as_bytes().to_vec()),
        ("value.txt".to_owned(), b"s3cr3t value\n".to_vec()),
        (
            "binary.bin".to_owned(),
            vec![0, 1, 2, 0xff, 0xfe, b'\n', 0x80],
        ),
    ];
    let keys = vec![
        PrivateKey::from_pem(key_pem.as_bytes()).expect("run key"),
        PrivateKey::from_pem(&fixture_key).expect("fixture key"),
    ];
    Fixtures {
        files,
        keys,
        certificate: pair.certificate().clone(),
    }
}

/// One run of one tool.
struct Run {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
    /// The compared file (or stdout).
    artifact: Vec<u8>,
}

fn run(program: &Path, case: &Case, fixtures: &Fixtures, args: &[String], stdin: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, content) in &fixtures.files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    for (name, content) in &case.files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, expand(content, fixtures)).unwrap();
    }
    let here = dir.path().display().to_string();
    let mut command = Command::new(program);
    command
        .args(args.iter().map(|a| a.replace("{dir}", &here)))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("kubeconfig"));
    for (key, value) in &case.env {
        command.env(
            key,
            value.replace("{dir}", &dir.path().display().to_string()),
        );
    }
    let (ok, stdout, stderr) = execute(command, stdin);
    let artifact = match &case.output {
        Some(name) => std::fs::read(dir.path().join(name)).unwrap_or_default(),
        None => stdout.clone(),
    };
    Run {
        ok,
        stdout,
        stderr,
        artifact,
    }
}

fn execute(mut command: Command, stdin: &[u8]) -> (bool, Vec<u8>, String) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the tool");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let stdout = reader.join().unwrap();
    let mut stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    if status.is_none() {
        stderr.push_str("(killed after the time limit)");
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

/// Replaces `{{seal SCOPE NAMESPACE NAME VALUE}}` with a ciphertext of VALUE for that scope.
fn expand(content: &str, fixtures: &Fixtures) -> String {
    let mut out = String::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{seal ") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closing }}") + start;
        let parts: Vec<&str> = rest[start + 7..end].split(' ').collect();
        let [scope, namespace, name, value] = parts[..] else {
            panic!("{{{{seal SCOPE NAMESPACE NAME VALUE}}}} expected");
        };
        let scope: Scope = scope.parse().unwrap();
        let label = kseal_crypto::label(scope, namespace, name);
        out.push_str(
            &kseal_crypto::seal_base64(fixtures.certificate.public_key(), &label, value.as_bytes())
                .unwrap(),
        );
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A readable stand-in for a plaintext.
fn plaintext(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(format!("plain:{text}")),
        Err(_) => Value::String(format!("bytes:{}", STANDARD.encode(bytes))),
    }
}

fn scope_of(metadata: &Value) -> Scope {
    let annotation = |name: &str| {
        metadata
            .pointer(&format!("/annotations/{}", name.replace('/', "~1")))
            .and_then(Value::as_str)
            == Some("true")
    };
    if annotation(kseal_crypto::CLUSTER_WIDE_ANNOTATION) {
        Scope::ClusterWide
    } else if annotation(kseal_crypto::NAMESPACE_WIDE_ANNOTATION) {
        Scope::NamespaceWide
    } else {
        Scope::Strict
    }
}

/// Drops what only says how a tool writes, not what it means: `creationTimestamp: null`, empty maps and
/// kseal's key-hint annotation.
fn strip(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|key, v| !(key == "creationTimestamp" && v.is_null()));
        if let Some(Value::Object(annotations)) = map.get_mut("annotations") {
            annotations.remove(kseal_api::annotations::KEY_HINT);
        }
        for v in map.values_mut() {
            strip(v);
        }
        map.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
    } else if let Value::Array(items) = value {
        items.iter_mut().for_each(strip);
    }
}

/// The output as compared: its format and its documents, ciphertexts opened.
fn normalize(text: &[u8], keys: &[PrivateKey]) -> Value {
    let Ok(text) = std::str::from_utf8(text) else {
        return json!({"error": "output is not UTF-8"});
    };
    let format = if text.trim_start().starts_with('{') {
        "json"
    } else {
        "yaml"
    };
    let documents = match kseal_core::manifest::read_documents(text) {
        Ok(documents) => documents,
        Err(error) => return json!({"format": format, "error": error.to_string()}),
    };
    let mut out = Vec::new();
    for document in documents {
        let mut value = document.value;
        if value.get("kind").and_then(Value::as_str) == Some("SealedSecret") {
            let metadata = value.get("metadata").cloned().unwrap_or(Value::Null);
            let scope = scope_of(&metadata);
            let field = |f: &str| metadata.get(f).and_then(Value::as_str).unwrap_or("");
            let label = kseal_crypto::label(scope, field("namespace"), field("name"));
            if let Some(Value::Object(data)) = value.pointer_mut("/spec/encryptedData") {
                for v in data.values_mut() {
                    *v = match v
                        .as_str()
                        .map(|c| kseal_crypto::open_base64(keys, &label, c))
                    {
                        Some(Ok((plain, _))) => plaintext(&plain),
                        _ => Value::String("UNDECRYPTABLE".into()),
                    };
                }
            }
        }
        strip(&mut value);
        out.push(value);
    }
    json!({"format": format, "documents": out})
}

fn open_raw(text: &[u8], keys: &[PrivateKey], label: &str) -> Value {
    let text = String::from_utf8_lossy(text);
    match kseal_crypto::open_base64(keys, label.as_bytes(), &text) {
        Ok((plain, _)) => plaintext(&plain),
        Err(_) => Value::String("UNDECRYPTABLE".into()),
    }
}

fn first_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 700 {
        format!("{}…", &text[..text.floor_char_boundary(700)])
    } else {
        text
    }
}

/// Compares both tools on one case; `None` when they agree, else what differs.
fn compare(case: &Case, kubeseal: &Path, kseal: &Path, fixtures: &Fixtures) -> Option<String> {
    let stdin = match (&case.stdin, &case.stdin_base64) {
        (_, Some(b64)) => STANDARD.decode(b64).expect("stdin_base64"),
        (Some(text), None) => expand(text, fixtures).into_bytes(),
        (None, None) => Vec::new(),
    };
    let theirs = run(kubeseal, case, fixtures, &case.args, &stdin);
    let ours = run(kseal, case, fixtures, &case.args, &stdin);
    if theirs.ok != ours.ok {
        let describe = |run: &Run| {
            if run.ok {
                "succeeds".to_owned()
            } else {
                format!("fails ({})", first_line(&run.stderr))
            }
        };
        return Some(format!(
            "status: kubeseal {}, kseal {}",
            describe(&theirs),
            describe(&ours)
        ));
    }
    if !theirs.ok {
        return None;
    }
    let kind = case.compare.as_deref().unwrap_or("manifest");
    let (a, b) = match kind {
        "status" => return None,
        "bytes" => (
            Value::String(String::from_utf8_lossy(&theirs.artifact).into_owned()),
            Value::String(String::from_utf8_lossy(&ours.artifact).into_owned()),
        ),
        "raw" => {
            let label = case.label.as_deref().unwrap_or_default();
            (
                open_raw(&theirs.artifact, &fixtures.keys, label),
                open_raw(&ours.artifact, &fixtures.keys, label),
            )
        }
        "manifest" => (
            normalize(&theirs.artifact, &fixtures.keys),
            normalize(&ours.artifact, &fixtures.keys),
        ),
        other => panic!("{}: unknown compare {other:?}", case.name),
    };
    if a != b {
        return Some(format!(
            "output:\n    kubeseal {}\n    kseal    {}",
            short(&a),
            short(&b)
        ));
    }
    if kind == "manifest" && String::from_utf8_lossy(&theirs.artifact).contains("SealedSecret") {
        return cross_open(case, kubeseal, kseal, fixtures, &theirs, &ours);
    }
    None
}

/// Unsealed Secrets as compared across tools: without kubeseal's owner reference to the SealedSecret
/// (a deliberate difference the `unseal-*` cases show) and with an empty value however it is written
/// (kubeseal writes `null`, kseal `""`).
fn unsealed(mut value: Value) -> Value {
    if let Some(Value::Array(documents)) = value.get_mut("documents") {
        for document in documents {
            if let Some(Value::Object(metadata)) = document.get_mut("metadata") {
                metadata.remove("ownerReferences");
            }
            if let Some(Value::Object(data)) = document.get_mut("data") {
                for v in data.values_mut() {
                    if v.is_null() {
                        *v = Value::String(String::new());
                    }
                }
            }
        }
    }
    value
}

/// kseal opens kubeseal's SealedSecrets and kubeseal opens kseal's; both must succeed and agree.
fn cross_open(
    case: &Case,
    kubeseal: &Path,
    kseal: &Path,
    fixtures: &Fixtures,
    theirs: &Run,
    ours: &Run,
) -> Option<String> {
    let args: Vec<String> = [
        "--recovery-unseal",
        "-o",
        "json",
        "--recovery-private-key",
        "key.pem,fixture-key.pem",
    ]
    .map(str::to_owned)
    .to_vec();
    let plain = Case {
        name: case.name.clone(),
        args: Vec::new(),
        stdin: None,
        stdin_base64: None,
        env: BTreeMap::new(),
        files: BTreeMap::new(),
        output: None,
        compare: None,
        label: None,
    };
    let by_kseal = run(kseal, &plain, fixtures, &args, &theirs.artifact);
    let by_kubeseal = run(kubeseal, &plain, fixtures, &args, &ours.artifact);
    if by_kseal.ok != by_kubeseal.ok {
        return Some(format!(
            "cross-open: kseal {} kubeseal's output, kubeseal {} kseal's ({})",
            if by_kseal.ok { "opens" } else { "cannot open" },
            if by_kubeseal.ok {
                "opens"
            } else {
                "cannot open"
            },
            first_line(if by_kseal.ok {
                &by_kubeseal.stderr
            } else {
                &by_kseal.stderr
            })
        ));
    }
    let a = unsealed(normalize(&by_kubeseal.stdout, &fixtures.keys));
    let b = unsealed(normalize(&by_kseal.stdout, &fixtures.keys));
    (a != b).then(|| {
        format!(
            "cross-open:\n    kubeseal opens kseal's  {}\n    kseal opens kubeseal's {}",
            short(&a),
            short(&b)
        )
    })
}

#[test]
fn kseal_agrees_with_kubeseal() {
    let kubeseal = kubeseal();
    let kseal = PathBuf::from(env!("CARGO_BIN_EXE_kseal"));
    let dir = repo().join("tests/kubeseal-corpus");
    let cases: Vec<Case> =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("cases.yaml")).unwrap())
            .expect("tests/kubeseal-corpus/cases.yaml");
    let known: Vec<Known> = serde_saphyr::from_str(
        &std::fs::read_to_string(dir.join("known-differences.yaml")).unwrap(),
    )
    .expect("tests/kubeseal-corpus/known-differences.yaml");
    let mut names = BTreeSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case {}",
            case.name
        );
    }
    let known: BTreeSet<String> = known.into_iter().map(|k| k.case).collect();
    for name in &known {
        assert!(names.contains(name), "known difference for no case: {name}");
    }
    let fixtures = fixtures();
    let next = Mutex::new(0usize);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut next = next.lock().unwrap();
                        let i = *next;
                        *next += 1;
                        i
                    };
                    let Some(case) = cases.get(i) else { break };
                    let result = compare(case, &kubeseal, &kseal, &fixtures);
                    results.lock().unwrap().insert(i, result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let (mut agree, mut differ) = (0, 0);
    let mut failures = Vec::new();
    for (i, result) in &results {
        let case = &cases[*i];
        match result {
            None => {
                agree += 1;
                if known.contains(&case.name) {
                    println!(
                        "STALE {}: listed as a known difference but agrees",
                        case.name
                    );
                    failures.push(case.name.clone());
                }
            }
            Some(difference) => {
                differ += 1;
                let listed = known.contains(&case.name);
                println!(
                    "DIFFER{} {}: {difference}",
                    if listed { " (known)" } else { "" },
                    case.name
                );
                if !listed {
                    failures.push(case.name.clone());
                }
            }
        }
    }
    println!("{agree} agree, {differ} differ");
    assert!(
        failures.is_empty(),
        "unlisted differences or stale known differences: {failures:?}"
    );
}
