//! Security suite: hostile SealedSecrets and ExternalSecrets with canary values, applied to the real
//! `kseal-controller` binary (its own process, its log captured) against the real API server and moto.
//!
//! Every value the objects carry is a canary. Whatever the controller writes where a user or an attacker
//! can read it — every log line, every event, every status condition, every HTTP answer of `/v1/verify`
//! and `/v1/rotate` — is searched for every canary, raw and in base64.

use std::process::{Child, Stdio};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kseal_api::SealedSecret;
use kseal_api::external_secrets::ExternalSecret;
use kseal_core::{PlainSecret, SealOptions, seal_secret};
use kseal_crypto::Certificate;
use kseal_testenv::{AwsAccount, TestEnv, eventually};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, ResourceExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Field manager of what the test applies.
const TEST_MANAGER: &str = "kseal-security-test";

/// The secret values: distinct, at least 4 bytes, each a different shape (a valid key name, a number,
/// base64 text, JSON members) so that every error path that could quote one is exercised.
const CANARIES: &[&str] = &[
    "CANARY-pw-7f3a9c!",
    "canarykey42",
    "4242424242",
    "Q0FOQVJZLWI2NC1kZWNvZGVk",
    "CANARY-user-e1d0",
    "CANARY-json-member",
    "CANARY label value!",
    "CANARY bad key!",
];

/// The text `Q0FOQVJZLWI2NC1kZWNvZGVk` decodes to: a leak of decoded data counts too.
const DECODED_CANARY: &str = "CANARY-b64-decoded";

/// Every form in which a leaked canary could appear.
fn needles() -> Vec<String> {
    let mut needles: Vec<String> = CANARIES.iter().map(|c| (*c).to_owned()).collect();
    needles.push(DECODED_CANARY.to_owned());
    let b64: Vec<String> = needles
        .iter()
        .map(|n| base64::engine::general_purpose::STANDARD.encode(n))
        .collect();
    needles.extend(b64);
    needles
}

/// Records every canary found in `text` (all places are reported together at the end of the test).
fn check_no_canary(leaks: &mut Vec<String>, what: &str, text: &str) {
    for line in text.lines() {
        let found: Vec<String> = needles()
            .into_iter()
            .filter(|needle| line.contains(needle.as_str()))
            .collect();
        if !found.is_empty() {
            leaks.push(format!("{what} contains {found:?}: {line}"));
        }
    }
}

/// The controller process; killed when the test ends.
struct Controller {
    child: Child,
    log: tempfile::NamedTempFile,
    addr: std::net::SocketAddr,
}

impl Controller {
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary for `namespace` (keys, watch and sync), logging at debug level.
async fn start_controller(env: &TestEnv, namespace: &str) -> Controller {
    let binary = tokio::task::spawn_blocking(kseal_testenv::controller_binary)
        .await
        .unwrap();
    let addr: std::net::SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = env
        .command(&binary)
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args(["--namespace", namespace])
        .args(["--watch-namespace", namespace])
        .args(["--listen-addr", &addr.to_string()])
        // No metrics listener: tests run controllers side by side.
        .args(["--listen-metrics-addr", ""])
        // Every log line in one stream.
        .arg("--log-info-stdout=false")
        .args(["--key-size", "2048"])
        .args(["--leader-elect", "false"])
        .env("AWS_ENDPOINT_URL", env.moto_endpoint())
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let controller = Controller { child, log, addr };
    eventually("the controller to be ready", || async {
        let (status, _) = http(addr, "GET", "/readyz", "").await?;
        (status == 200).then_some(())
    })
    .await;
    controller
}

/// One plain HTTP/1.1 request to the controller; (status, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: kseal\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

/// A SealedSecret `name` sealing `values` for `namespace`, with `templates` as `template.data`.
fn sealed(
    certificate: &Certificate,
    namespace: &str,
    name: &str,
    values: &[(&str, &str)],
    templates: &[(&str, &str)],
) -> SealedSecret {
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some(namespace.into());
    for (key, value) in values {
        secret
            .data
            .insert((*key).into(), value.as_bytes().to_vec().into());
    }
    let options = SealOptions {
        key: certificate.public_key(),
        scope: None,
        allow_empty_data: false,
        default_namespace: namespace.into(),
        namespace: None,
        name: None,
    };
    let mut sealed = seal_secret(secret, &options).unwrap();
    sealed.spec.template.get_or_insert_default().data = Some(
        templates
            .iter()
            .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
            .collect(),
    );
    sealed
}

/// Hostile ExternalSecrets over a moto secret whose JSON members are canaries, and the store they use.
fn external_secrets(account: &AwsAccount) -> String {
    let store = account.static_key_store("aws");
    let external = |name: &str, body: &str| {
        format!(
            r#"
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: 1h
  secretStoreRef: {{name: aws, kind: SecretStore}}
{body}"#
        )
    };
    [
        store,
        // A key computed from a fetched value.
        external(
            "es-computed-key",
            r#"  target:
    template:
      data:
        leak: '{{ index . .user }}'
  data:
    - secretKey: user
      remoteRef: {key: app/creds, property: user}
"#,
        ),
        // A templated label whose value the API server refuses (it quotes the value when it does).
        external(
            "es-bad-label",
            r#"  target:
    template:
      metadata:
        labels:
          leaked: '{{ .label }}'
  data:
    - secretKey: label
      remoteRef: {key: app/creds, property: label}
"#,
        ),
        // Fetched JSON members that are not valid Secret keys.
        external(
            "es-bad-keys",
            r#"  dataFrom:
    - extract: {key: app/bad-keys}
"#,
        ),
        // Two fetched members rewritten to the same key.
        external(
            "es-collision",
            r#"  dataFrom:
    - extract: {key: app/creds}
      rewrite:
        - regexp: {source: ".*", target: "same"}
"#,
        ),
        // A fetched value parsed as JSON, and one decoded as base64, when neither is.
        external(
            "es-parse",
            r#"  target:
    template:
      data:
        parsed: '{{ (.user | fromJson).x }}'
        decoded: '{{ .user | b64dec | fromJson }}'
  data:
    - secretKey: user
      remoteRef: {key: app/creds, property: user}
"#,
        ),
        // A property lookup into a value that is not JSON.
        external(
            "es-property",
            r#"  data:
    - secretKey: x
      remoteRef: {key: app/plain, property: member.deep}
"#,
        ),
    ]
    .concat()
}

#[tokio::test]
async fn no_canary_leaves_through_logs_events_statuses_or_http() {
    let env = TestEnv::get().await;
    env.install_crds(&kseal_controller::crd::crds()).await;
    let client = env.client().await;
    let namespace = env.namespace().await;
    let account = env.aws_account();
    let controller = start_controller(env, &namespace).await;

    // The remote secrets, every member a canary.
    let aws = account.secretsmanager_client().await;
    let remote = [
        (
            "app/creds",
            serde_json::json!({
                "user": "CANARY-user-e1d0",
                "label": "CANARY label value!",
                "CANARY-json-member": "4242424242",
            })
            .to_string(),
        ),
        (
            "app/bad-keys",
            serde_json::json!({ "CANARY bad key!": "CANARY-pw-7f3a9c!" }).to_string(),
        ),
        ("app/plain", "CANARY-pw-7f3a9c!".to_owned()),
    ];
    for (name, value) in remote {
        aws.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    // Hostile SealedSecrets: templates whose computed keys, parse errors and conversions meet the values.
    let (status, pem) = http(controller.addr, "GET", "/v1/cert.pem", "")
        .await
        .expect("certificate");
    assert_eq!(status, 200);
    let certificate = Certificate::from_pem(pem.as_bytes()).unwrap();
    let values = [
        ("password", "CANARY-pw-7f3a9c!"),
        ("keyname", "canarykey42"),
        ("number", "4242424242"),
        ("encoded", "Q0FOQVJZLWI2NC1kZWNvZGVk"),
    ];
    let hostile: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("ss-index", vec![("leak", "{{ index . .password }}")]),
        ("ss-index-key", vec![("leak", "{{ index . .keyname }}")]),
        ("ss-field", vec![("leak", "{{ (index . .keyname).x }}")]),
        ("ss-b64", vec![("leak", "{{ .password | b64dec }}")]),
        (
            "ss-json",
            vec![("leak", "{{ .encoded | b64dec | fromJson }}")],
        ),
        ("ss-printf", vec![("leak", "{{ printf \"%d\" .password }}")]),
        ("ss-int", vec![("leak", "{{ add .password 1 }}")]),
        (
            "ss-slice",
            vec![("leak", "{{ index (list 1 2) (atoi .number) }}")],
        ),
        (
            "ss-required",
            vec![("leak", "{{ get . .keyname | required .password }}")],
        ),
        ("ss-fail", vec![("leak", "{{ fail .password }}")]),
    ];
    let sealed_api: Api<SealedSecret> = Api::namespaced(client.clone(), &namespace);
    let mut posted = Vec::new();
    for (name, templates) in &hostile {
        let object = sealed(&certificate, &namespace, name, &values, templates);
        posted.push(serde_json::to_string(&object).unwrap());
        sealed_api
            .create(&Default::default(), &object)
            .await
            .unwrap();
    }
    kseal_testenv::apply_yaml(
        &client,
        &namespace,
        TEST_MANAGER,
        &external_secrets(&account),
    )
    .await;

    // Each hostile object settles on a failure (or, for the ESO cases kseal can serve, success).
    for (name, _) in &hostile {
        eventually(&format!("SealedSecret {name} to report Synced"), || async {
            let object = sealed_api.get(name).await.ok()?;
            object
                .status?
                .conditions
                .iter()
                .any(|c| c.type_ == "Synced")
                .then_some(())
        })
        .await;
    }
    let external_api: Api<ExternalSecret> = Api::namespaced(client.clone(), &namespace);
    for name in [
        "es-computed-key",
        "es-bad-label",
        "es-bad-keys",
        "es-collision",
        "es-parse",
        "es-property",
    ] {
        eventually(
            &format!("ExternalSecret {name} to report Ready"),
            || async {
                let object = external_api.get(name).await.ok()?;
                object
                    .status?
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready")
                    .then_some(())
            },
        )
        .await;
    }
    // No Secret was written for an object that failed, so nothing reached the API server by that path.
    // (`index . .password` renders the empty string, as in Go: `index` ignores missing keys.)
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    assert!(secrets.get_opt("ss-fail").await.unwrap().is_none());

    let mut leaks = Vec::new();
    // The HTTP API: verify and rotate each hostile SealedSecret.
    let mut answers = String::new();
    for body in &posted {
        for path in ["/v1/verify", "/v1/rotate"] {
            // Rate limits answer 429; wait for a real answer.
            let (status, text) = eventually(&format!("an answer from {path}"), || async {
                let answer = http(controller.addr, "POST", path, body).await?;
                (answer.0 != 429).then_some(answer)
            })
            .await;
            answers.push_str(&format!("{path} {status}\n"));
            if path == "/v1/verify" {
                check_no_canary(&mut leaks, &format!("{path} body"), &text);
                answers.push_str(&text);
            } else if status == 200 {
                // A rotated SealedSecret carries its template (not secret) and new ciphertexts only.
                let rotated: SealedSecret = serde_json::from_str(&text).unwrap();
                let ciphertexts: Vec<&String> = rotated.spec.encrypted_data.values().collect();
                let mut rest = text.clone();
                for ciphertext in ciphertexts {
                    rest = rest.replace(ciphertext.as_str(), "");
                }
                check_no_canary(&mut leaks, &format!("{path} body"), &rest);
            } else {
                check_no_canary(&mut leaks, &format!("{path} body"), &text);
                answers.push_str(&text);
            }
        }
    }
    // Verify decrypts; it does not render templates (they are not covered by the encryption).
    let refused = answers.matches("/v1/verify 409").count();
    if refused > 0 {
        leaks.push(format!(
            "/v1/verify refused {refused} SealedSecrets that decrypt:\n{answers}"
        ));
    }

    // Everything a user can read: statuses, events, the log.
    let raw = |kind: &str| {
        let (group, version, plural) = match kind {
            "SealedSecret" => ("bitnami.com", "v1alpha1", "sealedsecrets"),
            "ExternalSecret" => ("external-secrets.io", "v1", "externalsecrets"),
            _ => ("external-secrets.io", "v1", "secretstores"),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &namespace,
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        )
    };
    let mut statuses = String::new();
    for kind in ["SealedSecret", "ExternalSecret", "SecretStore"] {
        for object in raw(kind).list(&ListParams::default()).await.unwrap() {
            let status = object.data.get("status").cloned().unwrap_or_default();
            statuses.push_str(&format!("{kind} {}: {status}\n", object.name_any()));
        }
    }
    check_no_canary(&mut leaks, "a status", &statuses);
    // The failures really are failures with messages (the assertion above searched real text).
    assert!(statuses.contains("ss-index"), "{statuses}");
    assert!(statuses.contains("\"False\""), "{statuses}");

    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let notes: String = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| format!("{:?} {:?}\n", e.reason, e.note))
        .collect();
    assert!(!notes.is_empty(), "no events were published");
    check_no_canary(&mut leaks, "an event", &notes);

    let log = controller.log();
    assert!(
        log.contains("ss-index"),
        "the log names the failing objects:\n{log}"
    );
    check_no_canary(&mut leaks, "the controller log", &log);
    assert!(
        leaks.is_empty(),
        "secret values left the controller:\n{}",
        leaks.join("\n")
    );
}
