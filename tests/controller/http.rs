//! The controller's HTTP API: certificate and health; verification and re-encryption, which answer fixed
//! texts only and whose work is bounded per request and in all.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use kseal_controller::http::{
    BODY_TOO_LARGE_TEXT, BUSY_TEXT, CANNOT_DECRYPT_TEXT, MAX_BODY_BYTES, MAX_VALUES,
    NOT_A_SEALED_SECRET_TEXT, OK_TEXT, RATE_LIMITED_TEXT, TOO_MANY_VALUES_TEXT,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Cluster, certificate_of, eventually, plain_secret, seal};

/// A response: status code, headers (lower-case names) and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// `GET path` over plain HTTP/1.1 (no client library needed for this).
pub(crate) async fn get(cluster: &Cluster, path: &str) -> Response {
    request(cluster, "GET", path, "").await
}

/// `method path` with `body` over plain HTTP/1.1, from 127.0.0.1.
async fn request(cluster: &Cluster, method: &str, path: &str, body: &str) -> Response {
    request_from(cluster, Ipv4Addr::LOCALHOST.into(), method, path, body).await
}

/// A client address of its own (the rate limit is per client address): 127.0.0.`n`, still loopback.
fn client(n: u8) -> IpAddr {
    Ipv4Addr::new(127, 0, 0, n).into()
}

/// `method path` with `body` over plain HTTP/1.1, from the loopback address `source`. The body is sent
/// while the answer is read: the server may answer (413) before reading all of it.
async fn request_from(
    cluster: &Cluster,
    source: IpAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Response {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let stream = socket.connect(cluster.http_addr.unwrap()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async move {
        // A server that answered early may close before taking everything.
        let _ = writer.write_all(request.as_bytes()).await;
        writer
    };
    let read = async {
        let mut raw = Vec::new();
        let _ = reader.read_to_end(&mut raw).await;
        raw
    };
    let (_writer, raw) = tokio::join!(write, read);
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {raw:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The value of counter `name` at the controller's `/metrics`.
pub(crate) async fn metric(cluster: &Cluster, name: &str) -> u64 {
    let body = get(cluster, "/metrics").await.body;
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no metric {name} in {body}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn certificate_is_served_and_readiness_follows_the_cache() {
    let cluster = Cluster::with_controller().await;
    let key_secret = cluster.key_secrets().await.remove(0);
    assert_eq!(get(&cluster, "/livez").await.status, 200);
    eventually("/readyz to answer 200", || async {
        (get(&cluster, "/readyz").await.status == 200).then_some(())
    })
    .await;

    let response = get(&cluster, "/v1/cert.pem").await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .contains(&("content-type".into(), "application/x-pem-file".into())),
        "{:?}",
        response.headers
    );
    let served = kseal_crypto::Certificate::from_pem(response.body.as_bytes()).unwrap();
    assert_eq!(
        served.public_key().fingerprint(),
        certificate_of(&key_secret).public_key().fingerprint()
    );
}

#[tokio::test]
async fn verify_answers_whether_a_sealed_secret_opens_and_is_rate_limited() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let good = seal(plain_secret(&cluster.namespace, "v", &[("k", b"x")]), &key);
    let mut moved = good.clone();
    moved.metadata.namespace = Some("elsewhere".into());

    let response = request(
        &cluster,
        "POST",
        "/v1/verify",
        &serde_json::to_string(&good).unwrap(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let response = request(
        &cluster,
        "POST",
        "/v1/verify",
        &serde_json::to_string(&moved).unwrap(),
    )
    .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body, CANNOT_DECRYPT_TEXT);

    // The burst is spent: requests sent right after are refused (2 per second refill, so some of ten
    // quick ones must be).
    let mut limited = Vec::new();
    for _ in 0..10 {
        let response = request(&cluster, "POST", "/v1/verify", "{}").await;
        if response.status == 429 {
            limited.push(response.body);
        }
    }
    assert!(!limited.is_empty(), "no request of ten was rate limited");
    assert!(
        limited.iter().all(|body| body == RATE_LIMITED_TEXT),
        "{limited:?}"
    );
}

#[tokio::test]
async fn rotate_reencrypts_for_the_newest_key() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    let sealed = seal(
        plain_secret(&cluster.namespace, "r", &[("k", b"kept")]),
        &key,
    );

    let response = request(
        &cluster,
        "POST",
        "/v1/rotate",
        &serde_json::to_string(&sealed).unwrap(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let rotated: kseal_api::SealedSecret = serde_json::from_str(&response.body).unwrap();
    assert_ne!(
        rotated.spec.encrypted_data["k"],
        sealed.spec.encrypted_data["k"]
    );

    cluster.create_sealed(&rotated).await;
    cluster.synced("r", "True").await;
    let secret = cluster.secret_with_key("r", "k").await;
    assert_eq!(secret.data.unwrap()["k"].0, b"kept");
}

/// A SealedSecret of `namespace/name` whose `encryptedData` has `count` values that are not ciphertexts
/// (so none costs an RSA operation).
fn junk_values(namespace: &str, name: &str, count: usize) -> String {
    let values: serde_json::Map<String, serde_json::Value> = (0..count)
        .map(|i| (format!("k{i}"), "AgA=".into()))
        .collect();
    serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"encryptedData": values},
    })
    .to_string()
}

#[tokio::test]
async fn verify_renders_no_template_and_failures_are_fixed_texts() {
    let cluster = Cluster::with_controller().await;
    let key = cluster.public_key().await;
    const VALUE: &str = "s3cr3t-hunter2";
    let mut sealed = seal(
        plain_secret(&cluster.namespace, "t", &[("password", VALUE.as_bytes())]),
        &key,
    );
    // A template computing a key from the value (it would render the empty string, as in Go).
    sealed.spec.template.get_or_insert_default().data =
        Some([("leak".to_owned(), "{{ index . .password }}".to_owned())].into());
    let body = serde_json::to_string(&sealed).unwrap();

    let verified = request_from(&cluster, client(2), "POST", "/v1/verify", &body).await;
    assert_eq!(
        (verified.status, verified.body.as_str()),
        (200, OK_TEXT),
        "templates are not verify's business"
    );
    let rotated = request_from(&cluster, client(3), "POST", "/v1/rotate", &body).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(!rotated.body.contains(VALUE), "{}", rotated.body);
    let rotated: kseal_api::SealedSecret = serde_json::from_str(&rotated.body).unwrap();
    assert_eq!(rotated.spec.template, sealed.spec.template);

    // Moved to another namespace: no value opens. Neither the key name nor any cause is said.
    let mut moved = sealed.clone();
    moved.metadata.namespace = Some("elsewhere".into());
    let moved = serde_json::to_string(&moved).unwrap();
    for (n, path) in [(4, "/v1/verify"), (5, "/v1/rotate")] {
        let response = request_from(&cluster, client(n), "POST", path, &moved).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (409, CANNOT_DECRYPT_TEXT),
            "{path}"
        );
    }
    for (n, path) in [(6, "/v1/verify"), (7, "/v1/rotate")] {
        let response = request_from(
            &cluster,
            client(n),
            "POST",
            path,
            "password: s3cr3t-hunter2",
        )
        .await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (400, NOT_A_SEALED_SECRET_TEXT),
            "{path}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_and_too_many_values_are_refused() {
    let cluster = Cluster::with_controller().await;
    cluster.public_key().await;
    let namespace = &cluster.namespace;

    let large = format!("# {}", "x".repeat(MAX_BODY_BYTES));
    let too_many = junk_values(namespace, "many", MAX_VALUES + 1);
    for (n, path) in [(2, "/v1/verify"), (3, "/v1/rotate")] {
        let response = request_from(&cluster, client(n), "POST", path, &large).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (413, BODY_TOO_LARGE_TEXT),
            "{path}"
        );
        let response = request_from(&cluster, client(n), "POST", path, &too_many).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (413, TOO_MANY_VALUES_TEXT),
            "{path}"
        );
    }
    // At the limit it is read and tried (and does not decrypt).
    let at_limit = junk_values(namespace, "many", MAX_VALUES);
    let response = request_from(&cluster, client(4), "POST", "/v1/verify", &at_limit).await;
    assert_eq!(response.status, 409, "{}", response.body);
}

#[tokio::test]
async fn rotate_is_rate_limited_together_with_verify() {
    let cluster = Cluster::with_controller().await;
    cluster.public_key().await;

    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            request_from(&cluster, client(2), "POST", "/v1/rotate", "{}")
                .await
                .status,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another client has its own bucket.
    let other = request_from(&cluster, client(3), "POST", "/v1/rotate", "{}").await;
    assert_ne!(other.status, 429, "{}", other.body);

    // One bucket for both endpoints: verify's burst leaves none for rotate.
    let mut statuses = Vec::new();
    for path in [
        "/v1/verify",
        "/v1/verify",
        "/v1/rotate",
        "/v1/rotate",
        "/v1/rotate",
    ] {
        let response = request_from(&cluster, client(4), "POST", path, "{}").await;
        statuses.push((path, response.status));
    }
    assert!(
        statuses.contains(&("/v1/rotate", 429)),
        "rotate after verify's burst: {statuses:?}"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_header_read_timeout() {
    const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    config.http_limits.header_read_timeout = HEADER_READ_TIMEOUT;
    cluster.start_controller_with(config);
    eventually("/v1/cert.pem to answer", || async {
        (get(&cluster, "/v1/cert.pem").await.status == 200).then_some(())
    })
    .await;

    // Half a request line each, then nothing.
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(cluster.http_addr.unwrap())
            .await
            .unwrap();
        stream.write_all(b"POST /v1/verify HT").await.unwrap();
        slow.push(stream);
    }
    // Meanwhile the certificate is served.
    let response = get(&cluster, "/v1/cert.pem").await;
    assert_eq!(response.status, 200, "{}", response.body);

    // Each is closed by the server (end of stream, or a reset) once its headers are late.
    let deadline = started + HEADER_READ_TIMEOUT + Duration::from_secs(5);
    for (i, stream) in slow.iter_mut().enumerate() {
        let mut buffer = [0; 1024];
        loop {
            match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => continue,
                Err(_) => panic!(
                    "connection {i} still open {:?} after it stalled",
                    started.elapsed()
                ),
            }
        }
    }
}

#[tokio::test]
async fn concurrent_verifies_over_the_limit_are_refused_at_once_and_cost_nothing() {
    const REQUESTS: u8 = 8;
    let mut cluster = Cluster::new().await;
    let mut config = cluster.controller_config();
    // 4096-bit keys: each verify of MAX_VALUES values takes long enough to overlap the others.
    config.key_options.bits = 4096;
    cluster.start_controller_with(config);
    let key = cluster.public_key().await;
    let data: Vec<(String, Vec<u8>)> = (0..MAX_VALUES)
        .map(|i| (format!("k{i}"), format!("value {i}").into_bytes()))
        .collect();
    let data: Vec<(&str, &[u8])> = data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let sealed = seal(plain_secret(&cluster.namespace, "big", &data), &key);
    let body = serde_json::to_string(&sealed).unwrap();

    let requests = (0..REQUESTS).map(|n| {
        let (cluster, body) = (&cluster, &body);
        async move {
            let started = Instant::now();
            let response = request_from(cluster, client(2 + n), "POST", "/v1/verify", body).await;
            (response.status, response.body, started.elapsed())
        }
    });
    let answers = futures::future::join_all(requests).await;
    let served: Vec<Duration> = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .map(|(_, _, took)| *took)
        .collect();
    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(status, _, _)| *status == 503)
        .map(|(_, _, took)| *took)
        .collect();
    let summary: Vec<(u16, Duration)> = answers.iter().map(|(s, _, t)| (*s, *t)).collect();
    assert_eq!(served.len() + refused.len(), answers.len(), "{summary:?}");
    assert!(!served.is_empty() && !refused.is_empty(), "{summary:?}");
    assert!(
        answers
            .iter()
            .all(|(status, body, _)| *status != 503 || body == BUSY_TEXT)
    );
    // Refused at once, not queued behind the decrypting ones.
    let fastest_served = served.iter().min().unwrap();
    assert!(
        refused.iter().all(|took| took < fastest_served),
        "{summary:?}"
    );
    // One RSA operation per value of each verify served (the key hint names the one key); none for the
    // refused ones.
    let operations = metric(&cluster, "kseal_http_rsa_operations_total").await;
    assert_eq!(
        operations,
        (served.len() * MAX_VALUES) as u64,
        "{summary:?}"
    );
}
