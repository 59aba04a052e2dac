//! `kseal` as a user runs it.
//!
//! Golden transcripts (arguments, output, exit status) live in `tests/cmd/*.md`; ciphertexts, which
//! differ on every run, are elided as `Ag[..]`. The tests below cover what a transcript cannot:
//! round trips, files written or left alone, environment variables and certificates over HTTP.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NO_KUBECONFIG: &str = "/nonexistent/kseal-test-kubeconfig";

#[test]
fn golden_transcripts() {
    trycmd::TestCases::new()
        .env("KUBECONFIG", NO_KUBECONFIG)
        .case("tests/cmd/*.md");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cmd/fixtures")
        .join(name)
}

fn kseal() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kseal"));
    command.env("KUBECONFIG", NO_KUBECONFIG);
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALED_SECRETS_") {
            command.env_remove(key);
        }
    }
    command
}

/// `kseal --cert CERT …`: the usual start of a sealing command.
fn kseal_with_cert(cert: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = kseal();
    command.arg("--cert").arg(cert);
    command
}

fn run(mut command: Command, stdin: &[u8]) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    // kseal may fail (and exit) before reading its input: a closed pipe is not a test failure.
    match child.stdin.take().unwrap().write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        result => result.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "kseal failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn seal(args: &[&str], secret: &str) -> String {
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command.args(args);
    ok(run(command, secret.as_bytes()))
}

fn recover(sealed: &str) -> Output {
    let mut command = kseal();
    command
        .args(["--recovery-unseal", "-o", "json", "--recovery-private-key"])
        .arg(fixture("test-key.pem"));
    run(command, sealed.as_bytes())
}

fn recovered_data(sealed: &str) -> serde_json::Value {
    let secret: serde_json::Value = serde_json::from_str(&ok(recover(sealed))).unwrap();
    secret["data"].clone()
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team-a\nstringData:\n  password: hunter2\n";

#[test]
fn round_trip_in_every_scope_and_moves() {
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = seal(&["--scope", scope, "-o", "yaml"], SECRET);
        assert_eq!(
            recovered_data(&sealed)["password"],
            "aHVudGVyMg==",
            "{scope}"
        );

        let renamed = sealed.replace("name: db", "name: db2");
        let moved = sealed.replace("namespace: team-a", "namespace: team-b");
        let renamed_opens = recover(&renamed).status.success();
        let moved_opens = recover(&moved).status.success();
        match scope {
            "strict" => assert!(!renamed_opens && !moved_opens),
            "namespace-wide" => assert!(renamed_opens && !moved_opens),
            _ => assert!(renamed_opens && moved_opens),
        }
    }
}

#[test]
fn json_input_and_stdin_multi_document_round_trip() {
    let input = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"n"},"data":{"k":"AAEC/w=="}}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"n"},"stringData":{"k":"v"}}"#;
    let sealed = seal(&["-o", "yaml"], input);
    assert_eq!(sealed.matches("kind: SealedSecret").count(), 2);
    let out = ok(recover(&sealed));
    let secrets: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(secrets[0]["data"]["k"], "AAEC/w==", "binary bytes survive");
    assert_eq!(secrets[1]["data"]["k"], "dg==");
}

#[test]
fn output_file_is_written_only_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sealed.yaml");
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command.arg("-w").arg(&out);
    let output = run(command, SECRET.as_bytes());
    assert!(output.status.success());
    assert!(output.stdout.is_empty(), "nothing on stdout with -w");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        written.starts_with("---\napiVersion: bitnami.com/v1alpha1"),
        ".yaml implies yaml"
    );

    // A failing run leaves the existing file exactly as it was.
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command.arg("-w").arg(&out);
    let failed = run(command, b"kind: ConfigMap\nmetadata: {name: x}\n");
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).starts_with("error: "));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // And a failing run never creates the file.
    let absent = dir.path().join("absent.json");
    let mut command = kseal_with_cert(fixture("expired-cert.pem"));
    command.arg("-w").arg(&absent);
    assert_eq!(run(command, SECRET.as_bytes()).status.code(), Some(1));
    assert!(!absent.exists());
}

#[test]
fn merge_into_adds_keys_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.json");
    std::fs::write(&file, seal(&["--scope", "namespace-wide"], SECRET)).unwrap();
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();

    let update = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ignored\n  labels: {tier: db}\nstringData:\n  api-key: k3y\n";
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command.arg("--merge-into").arg(&file);
    let output = run(command, update.as_bytes());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with('{'), "the file keeps its JSON format");
    let after: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        after["spec"]["encryptedData"]["password"],
        before["spec"]["encryptedData"]["password"]
    );
    assert_eq!(after["metadata"]["name"], "db");
    assert_eq!(
        after["spec"]["template"]["metadata"]["labels"]["tier"],
        "db"
    );
    let data = recovered_data(&text);
    assert_eq!(data["password"], "aHVudGVyMg==");
    assert_eq!(
        data["api-key"], "azN5",
        "sealed with the existing object's name and scope"
    );
}

#[test]
fn environment_variables_stand_in_for_flags() {
    let mut command = kseal();
    command
        .env("SEALED_SECRETS_CERT", fixture("test-cert.pem"))
        .env("SEALED_SECRETS_FORMAT", "yaml")
        .env("SEALED_SECRETS_SCOPE", "cluster-wide");
    let out = ok(run(command, SECRET.as_bytes()));
    assert!(
        out.contains("sealedsecrets.bitnami.com/cluster-wide: \"true\""),
        "{out}"
    );

    let mut command = kseal();
    command.env("SEALED_SECRETS_RECOVERY_UNSEAL", "true").env(
        "SEALED_SECRETS_RECOVERY_PRIVATE_KEY",
        fixture("test-key.pem"),
    );
    let secret: serde_json::Value =
        serde_json::from_str(&ok(run(command, out.as_bytes()))).unwrap();
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
}

#[test]
fn certificate_over_http() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/cert.pem", listener.local_addr().unwrap());
    let pem = std::fs::read(fixture("test-cert.pem")).unwrap();
    let server = std::thread::spawn(move || {
        // Two requests: --fetch-cert, then a seal.
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                pem.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&pem).unwrap();
        }
    });
    let mut command = kseal();
    command.args(["--fetch-cert", "--cert", &url]);
    assert_eq!(
        ok(run(command, b"")).as_bytes(),
        std::fs::read(fixture("test-cert.pem")).unwrap()
    );
    let mut command = kseal();
    command.args(["--cert", &url]);
    let sealed = ok(run(command, SECRET.as_bytes()));
    server.join().unwrap();
    assert_eq!(recovered_data(&sealed)["password"], "aHVudGVyMg==");
}

#[test]
fn keygen_writes_a_usable_private_key_readable_only_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    let mut command = kseal();
    command
        .args([
            "keygen",
            "--bits",
            "2048",
            "--validity",
            "720h",
            "--key-file",
        ])
        .arg(&key)
        .arg("--cert-file")
        .arg(&cert);
    let output = run(command, b"");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("RSA 2048 bits"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );

    let command = kseal_with_cert(&cert);
    let sealed = ok(run(command, SECRET.as_bytes()));
    let mut command = kseal();
    command
        .args(["--recovery-unseal", "--recovery-private-key"])
        .arg(&key);
    assert!(ok(run(command, sealed.as_bytes())).contains("aHVudGVyMg=="));

    // An existing key is never overwritten without --force.
    let before = std::fs::read(&key).unwrap();
    let mut command = kseal();
    command
        .args(["keygen", "--bits", "2048", "--key-file"])
        .arg(&key)
        .arg("--cert-file")
        .arg(&cert);
    let again = run(command, b"");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let mut command = kseal();
        command.args(["completion", shell]);
        let script = ok(run(command, b""));
        assert!(script.contains("--recovery-unseal"), "{shell}");
    }
}

#[test]
fn garbage_on_stdin_never_crashes() {
    for input in [
        &b"\xff\xfe\x00garbage"[..],
        b"{",
        b"---\n- 1\n",
        b"kind: Secret\nmetadata: 7\n",
        b"",
    ] {
        let command = kseal_with_cert(fixture("test-cert.pem"));
        let output = run(command, input);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "));
    }
}

/// Runs `kseal` with `env` set and `args`, sealing `secret` with the test certificate.
fn seal_with_env(args: &[&str], env: &[(&str, &str)], secret: &str) -> Output {
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    run(command, secret.as_bytes())
}

#[test]
fn name_renames_and_fills_a_missing_name_as_kubeseal() {
    let sealed = seal(&["--name", "renamed", "-o", "yaml"], SECRET);
    assert!(sealed.contains("name: renamed"), "{sealed}");
    assert!(!sealed.contains("name: db"), "{sealed}");
    assert_eq!(
        recovered_data(&sealed)["password"],
        "aHVudGVyMg==",
        "sealed for the new name"
    );
    let nameless = "kind: Secret\nmetadata: {namespace: team-a}\nstringData: {k: v}\n";
    let sealed = seal(&["--name", "filled"], nameless);
    let object: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    assert_eq!(object["metadata"]["name"], "filled");
    assert_eq!(recovered_data(&sealed)["k"], "dg==");
}

#[test]
fn boolean_variables_read_as_go_and_empty_variables_are_unset() {
    let empty = "kind: Secret\nmetadata: {name: e, namespace: n}\ndata: {}\n";
    for value in ["1", "t", "T", "TRUE", "true", "True"] {
        let output = seal_with_env(&[], &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", value)], empty);
        assert!(output.status.success(), "{value}: {output:?}");
    }
    for value in ["0", "f", "F", "FALSE", "false", "False", ""] {
        let output = seal_with_env(&[], &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", value)], empty);
        assert_eq!(output.status.code(), Some(1), "{value:?}");
    }
    // A value Go does not read is ignored, as kubeseal ignores it, but kseal says so.
    let output = seal_with_env(&[], &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", "yes")], empty);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("warning: ignoring SEALED_SECRETS_ALLOW_EMPTY_DATA: not a boolean"),
        "{output:?}"
    );
    // The command line wins, also `--flag=false` over a true variable.
    let output = seal_with_env(
        &["--allow-empty-data=false"],
        &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", "true")],
        empty,
    );
    assert_eq!(output.status.code(), Some(1));
    // Empty FORMAT and SCOPE are unset: JSON, strict.
    let out = ok(seal_with_env(
        &[],
        &[("SEALED_SECRETS_FORMAT", ""), ("SEALED_SECRETS_SCOPE", "")],
        SECRET,
    ));
    let object: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(object["metadata"].get("annotations").is_some_and(|a| {
        a.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("sealedsecrets.bitnami.com/"))
    }));
}

#[test]
fn wrapped_base64_and_null_values_seal_as_the_api_server_reads_them() {
    let wrapped = "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"w\",\"namespace\":\"n\"},\"data\":{\"k\":\"aHVu\\r\\ndGVy\\nMg==\\n\",\"gone\":null},\"stringData\":{\"s\":null}}";
    let data = recovered_data(&seal(&[], wrapped));
    assert_eq!(data["k"], "aHVudGVyMg==");
    assert_eq!(data["gone"], "", "null data is an empty value");
    assert_eq!(data["s"], "", "null stringData is an empty value");
    let literal =
        "kind: Secret\nmetadata: {name: w, namespace: n}\ndata:\n  k: |\n    aHVu\n    dGVyMg==\n";
    assert_eq!(recovered_data(&seal(&[], literal))["k"], "aHVudGVyMg==");
}

#[test]
fn fetch_cert_passes_the_certificate_through_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let pem = std::fs::read_to_string(fixture("test-cert.pem")).unwrap();
    for content in [
        format!("saved from the cluster\n{pem}\ntrailing note\n"),
        pem.replace('\n', "\r\n"),
    ] {
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, &content).unwrap();
        let mut command = kseal_with_cert(&path);
        command.arg("--fetch-cert");
        assert_eq!(ok(run(command, b"")), content);
        // And seals with it.
        let sealed = ok(run(kseal_with_cert(&path), SECRET.as_bytes()));
        assert_eq!(recovered_data(&sealed)["password"], "aHVudGVyMg==");
    }
}

#[test]
fn keygen_writes_pem_with_lf_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = kseal();
    command
        .current_dir(dir.path())
        .args(["keygen", "--bits", "2048"]);
    ok(run(command, b""));
    for file in ["kseal-key.pem", "kseal-cert.pem"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(!text.contains('\r'), "{file} has CR");
        assert!(text.starts_with("-----BEGIN ") && text.ends_with("-----\n"));
    }
}

#[test]
fn merge_into_refuses_a_scope_that_contradicts_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.yaml");
    let original = seal(&["-o", "yaml"], SECRET);
    std::fs::write(&file, &original).unwrap();
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command
        .args(["--scope", "cluster-wide", "--merge-into"])
        .arg(&file);
    let output = run(
        command,
        b"kind: Secret\nmetadata: {name: db}\nstringData: {k: v}\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--scope cluster-wide contradicts the scope of")
            && stderr.contains("(strict)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    // The target's own scope is fine.
    let mut command = kseal_with_cert(fixture("test-cert.pem"));
    command
        .args(["--scope", "strict", "--merge-into"])
        .arg(&file);
    ok(run(
        command,
        b"kind: Secret\nmetadata: {name: db}\nstringData: {k: v}\n",
    ));
    assert_eq!(
        recovered_data(&std::fs::read_to_string(&file).unwrap())["k"],
        "dg=="
    );
}

#[test]
fn a_certificate_not_valid_yet_seals_with_a_warning() {
    let output = run(
        kseal_with_cert(fixture("future-cert.pem")),
        SECRET.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("warning: certificate is not valid before 2040-01-01"),
        "{stderr}"
    );
    let sealed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(recovered_data(&sealed)["password"], "aHVudGVyMg==");
}

/// A one-request HTTP server: answers `status` and `body`, returns the request it read.
fn one_request_server(
    status: &str,
    body: &'static str,
) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_owned();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (url, handle)
}

#[test]
fn kubectl_flags_reach_the_api_server() {
    let pem: &'static str = Box::leak(
        std::fs::read_to_string(fixture("test-cert.pem"))
            .unwrap()
            .into_boxed_str(),
    );
    let (url, server) = one_request_server("200 OK", pem);
    let mut command = kseal();
    command.args([
        "--fetch-cert",
        "--server",
        &url,
        "--token",
        "t0k3n",
        "--as",
        "jane",
        "--as-group",
        "devs",
        "--request-timeout",
        "5s",
        "-v",
        "4",
        "--controller-namespace",
        "sealed",
        "--controller-name",
        "ctrl",
    ]);
    assert_eq!(ok(run(command, b"")), pem);
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(
        request
            .starts_with("get /api/v1/namespaces/sealed/services/http:ctrl:http/proxy/v1/cert.pem"),
        "{request}"
    );
    assert!(request.contains("authorization: bearer t0k3n"), "{request}");
    assert!(request.contains("impersonate-user: jane"), "{request}");
    assert!(request.contains("impersonate-group: devs"), "{request}");

    // The same through SEALED_SECRETS_* variables, and --rotate as --re-encrypt.
    let (url, server) = one_request_server("200 OK", "{}");
    let mut command = kseal();
    command
        .env("SEALED_SECRETS_SERVER", &url)
        .env("SEALED_SECRETS_TOKEN", "from-env")
        .args(["--rotate", "-o", "json"]);
    let sealed = seal(&[], SECRET);
    let output = run(command, sealed.as_bytes());
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with("post /api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/rotate"),
        "{request}"
    );
    assert!(
        request.contains("authorization: bearer from-env"),
        "{request}"
    );
    assert!(output.status.success(), "{output:?}");
}
