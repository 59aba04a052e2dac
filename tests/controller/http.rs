//! The controller's HTTP API: certificate and health.

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

/// `method path` with `body` over plain HTTP/1.1.
async fn request(cluster: &Cluster, method: &str, path: &str, body: &str) -> Response {
    let mut stream = tokio::net::TcpStream::connect(cluster.http_addr.unwrap())
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
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
    assert!(response.body.contains("key k"), "{}", response.body);

    // The burst is spent: requests sent right after are refused (2 per second refill, so some of ten
    // quick ones must be).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(request(&cluster, "POST", "/v1/verify", "{}").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
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
