//! The controller's HTTP API: the sealing certificate, verification and re-encryption, health and
//! metrics.
//!
//! `/v1/verify` and `/v1/rotate` do private-key work for whoever reaches the port (through the API server's
//! service proxy, or from any pod the NetworkPolicy admits), unauthenticated, as in sealed-secrets. So:
//!
//! - they answer fixed texts only ([`OK_TEXT`], [`CANNOT_DECRYPT_TEXT`], …): nothing built from the body
//!   or from an error reaches the client. `/v1/verify` decrypts every value and renders no template
//!   ([`kseal_core::unseal::open_all`]): `spec.template` is not covered by the encryption, and a template
//!   failing on a value would show that value in its error;
//! - the work of each request is bounded: [`MAX_BODY_BYTES`], [`MAX_VALUES`], [`MAX_RSA_OPERATIONS`];
//! - so is the work of all of them: [`DECRYPT_RATE_PER_SECOND`] per client address (both endpoints
//!   together), [`MAX_CONCURRENT_DECRYPT_REQUESTS`] at once (more are answered 503 at once), and every
//!   decryption takes a slot of the unsealer's decrypt pool, the same semaphore, so requests and the
//!   unsealer together never run more RSA work at once than there are cores;
//! - slow clients are cut off: [`HEADER_READ_TIMEOUT`], [`Limits::read_timeout`],
//!   [`Limits::write_timeout`], and at most [`MAX_CONNECTIONS`] connections are open.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kseal_api::{SealedSecret, annotations};
use kseal_core::unseal::{OpenError, Opened, open_all};
use kseal_crypto::PrivateKey;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use kseal_sealedsecrets::keys::{KeyRing, SharedKeys};

/// Default listen address, as sealed-secrets (`:8080`).
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8080";
/// Content type of `/v1/cert.pem`, as sealed-secrets.
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// 2 requests per second to `/v1/verify` and `/v1/rotate` together, per client address (sealed-secrets'
/// default for verify). Both do the same private-key work, so they share one bucket: a client gets this
/// much of it whichever endpoint it calls. Behind the API server's service proxy every user comes from the
/// API server's address and shares it.
pub const DECRYPT_RATE_PER_SECOND: f64 = 2.0;
/// 2 requests one client may send at once before [`DECRYPT_RATE_PER_SECOND`] applies (sealed-secrets'
/// default burst).
pub const DECRYPT_BURST: f64 = 2.0;
/// 1 MiB: the largest body `/v1/verify` and `/v1/rotate` read; larger ones are answered 413. Clients post
/// one SealedSecret, and Kubernetes itself refuses a Secret over 1 MiB, so no SealedSecret that can be
/// unsealed needs more (256 values of a 4096-bit key take about 180 KiB). Also bounds the memory of a
/// request: [`MAX_CONCURRENT_DECRYPT_REQUESTS`] bodies are read at once.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// 256 values per SealedSecret (`spec.encryptedData` entries, or the deprecated `spec.data`); more are
/// answered 413. Each costs one RSA private-key operation per key tried (about 5 ms of a core with a
/// 4096-bit key). Secrets with more keys than that are rare; they can still be unsealed, just not checked
/// or re-encrypted over HTTP.
pub const MAX_VALUES: usize = 256;
/// 512 RSA private-key operations per request, about 2.5 s of a core with 4096-bit keys; past that the
/// request is answered 413. A SealedSecret of [`MAX_VALUES`] values sealed with one key costs one per value
/// plus one per key tried before that key (a key that opened a value is tried first on the next one), so
/// this fits the largest one with a ring of 257 keys; only values sealed with many different keys, which
/// only an attacker makes, need more.
pub const MAX_RSA_OPERATIONS: u64 = 512;
/// 2 requests to `/v1/verify` and `/v1/rotate` are served at once; one more is answered 503 at once, not
/// queued. kubeseal and kseal send one request at a time. Each of them also waits for a slot of the
/// unsealer's decrypt pool (one per core), behind the unsealer's waiting objects, so a burst of requests
/// never delays unsealing by more than one request's work.
pub const MAX_CONCURRENT_DECRYPT_REQUESTS: usize = 2;
/// 10 s to send a request's headers, for each request of a connection, idle keep-alive time included;
/// the connection is closed after that (slowloris). The API server's proxy, the kubelet's probes and
/// Prometheus send their headers at once.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// 2 minutes, sealed-secrets' `--read-timeout` default: the default of [`Limits::read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// 2 minutes, sealed-secrets' `--write-timeout` default: the default of [`Limits::write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// 1024 open connections; one more is closed as soon as it is accepted. Bounds the memory a flood of
/// connections takes (each of them lives at most [`HEADER_READ_TIMEOUT`] without a request); the API
/// server's proxy, probes and scrapes use a handful.
pub const MAX_CONNECTIONS: usize = 1024;
/// 5 s: at shutdown, how long open connections may take to finish the request they are serving.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// 10 000 client addresses the rate limiter tracks before forgetting idle ones.
const MAX_TRACKED_CLIENTS: usize = 10_000;
/// 100 ms pause after a failed `accept` (e.g. out of file descriptors) before the next one.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// `/v1/verify`: the SealedSecret decrypts with the controller's keys.
pub const OK_TEXT: &str = "OK\n";
/// 409 of `/v1/verify` and `/v1/rotate`: a value does not decrypt with the controller's keys (or the object
/// is malformed). Which value, and why, is never said.
pub const CANNOT_DECRYPT_TEXT: &str =
    "the SealedSecret cannot be decrypted with the controller's keys\n";
/// 400: the body is not a SealedSecret (JSON or YAML).
pub const NOT_A_SEALED_SECRET_TEXT: &str = "the body is not a SealedSecret\n";
/// 413: the body is over [`MAX_BODY_BYTES`].
pub const BODY_TOO_LARGE_TEXT: &str = "the body is larger than 1 MiB\n";
/// 413: the SealedSecret has more than [`MAX_VALUES`] values.
pub const TOO_MANY_VALUES_TEXT: &str = "the SealedSecret has more than 256 values\n";
/// 413: opening it takes more than [`MAX_RSA_OPERATIONS`] RSA operations.
pub const TOO_COSTLY_TEXT: &str =
    "the SealedSecret takes more than 512 RSA operations to decrypt\n";
/// 408: the body did not arrive within [`Limits::read_timeout`].
pub const BODY_TIMEOUT_TEXT: &str = "the request body did not arrive in time\n";
/// 429: over [`DECRYPT_RATE_PER_SECOND`].
pub const RATE_LIMITED_TEXT: &str = "rate limited\n";
/// 503: [`MAX_CONCURRENT_DECRYPT_REQUESTS`] requests are being served.
pub const BUSY_TEXT: &str = "busy: too many requests at once, retry later\n";
/// 503: no key is loaded yet.
pub const NO_KEY_TEXT: &str = "no sealing key is loaded yet\n";
/// 500: something that should not happen (a task panicked).
pub const INTERNAL_TEXT: &str = "internal error\n";

/// The timeouts of the HTTP API that can be chosen; the other limits are the constants of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request's headers (and to start a request on an idle connection); the connection is
    /// closed after that.
    pub header_read_timeout: Duration,
    /// Time to send a request's body, from its start (`--read-timeout`); answered 408 after that.
    pub read_timeout: Duration,
    /// Time to answer a request once its headers are read, waiting for a decrypt slot included
    /// (`--write-timeout`); answered 503 with an empty body after that.
    pub write_timeout: Duration,
    /// Requests per second one client address may send to `/v1/verify` and `/v1/rotate` together
    /// (`--rate-limit`, default [`DECRYPT_RATE_PER_SECOND`]).
    pub rate_per_second: u32,
    /// Requests one client address may send at once (`--rate-limit-burst`, default [`DECRYPT_BURST`]).
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            rate_per_second: DECRYPT_RATE_PER_SECOND as u32,
            burst: DECRYPT_BURST as u32,
        }
    }
}

/// Token buckets per client address: `/v1/verify` and `/v1/rotate` do private-key work, so they must not
/// be an oracle anyone can query at full speed.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter refilling `rate_per_second` tokens up to `burst`.
    pub fn new(rate_per_second: f64, burst: f64) -> Self {
        RateLimiter {
            rate_per_second,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `client` at `now`; false when its bucket is empty.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS {
            // Clients idle long enough to have a full bucket again need no entry.
            let full_after = Duration::from_secs_f64(self.burst / self.rate_per_second);
            buckets.retain(|_, (_, last)| now.saturating_duration_since(*last) < full_after);
        }
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.rate_per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Readiness: true once the keys are loaded and the SealedSecret cache has synced, false on shutdown.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    /// Sets readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the controller is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The HTTP API's metrics: `kseal_http_rsa_operations_total`, the RSA private-key operations of
/// `/v1/verify` and `/v1/rotate` (one per key tried on each value); and sealed-secrets' own families for
/// `/v1/cert.pem`, `/v1/verify` and `/v1/rotate`, with its names and labels:
/// `sealed_secrets_controller_http_requests_total{path,code,method}` and
/// `sealed_secrets_controller_http_request_duration_seconds{path,method}` (Prometheus' default buckets;
/// methods lowercase, as Go's promhttp writes them).
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    rsa_operations: Counter,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            rsa_operations: Counter::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS)),
        }
    }
}

/// Prometheus' default histogram buckets (Go client's `DefBuckets`), which sealed-secrets uses.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    path: &'static str,
    code: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    path: &'static str,
    method: String,
}

/// Counts a request to `path` and its time in sealed-secrets' HTTP families.
async fn instrumented(
    path: &'static str,
    metrics: ApiMetrics,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().as_str().to_ascii_lowercase();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .durations
        .get_or_create(&RouteLabels {
            path,
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            path,
            code: response.status().as_u16().to_string(),
            method,
        })
        .inc();
    response
}

/// `router` with every request to it counted under `path`.
fn instrument(
    router: Router<AppState>,
    path: &'static str,
    metrics: &ApiMetrics,
) -> Router<AppState> {
    let metrics = metrics.clone();
    router.route_layer(axum::middleware::from_fn(move |request, next| {
        instrumented(path, metrics.clone(), request, next)
    }))
}

impl ApiMetrics {
    /// Registers the API's families in `registry`, the `kseal` component registry.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ApiMetrics::default();
        registry.sub_registry_with_prefix("http").register(
            "rsa_operations",
            "RSA private-key operations of /v1/verify and /v1/rotate: one per key tried on each value",
            metrics.rsa_operations.clone(),
        );
        metrics
    }

    /// Registers sealed-secrets' HTTP families in `root` (their names carry their own prefix).
    pub fn register_compat(&self, root: &mut Registry) {
        let registry = root.sub_registry_with_prefix(kseal_sealedsecrets::compat::PREFIX);
        registry.register(
            "http_requests",
            "A counter for requests to the wrapped handler.",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            self.durations.clone(),
        );
    }
}

/// What the API serves and shares with the rest of the controller.
#[derive(Debug)]
pub struct Api {
    /// The keys: the certificate served, the keys that decrypt.
    pub keys: Arc<SharedKeys>,
    /// Readiness.
    pub health: Arc<Health>,
    /// Every component's metrics, rendered at `/metrics` when `serve_metrics`.
    pub registry: Arc<Registry>,
    /// Serve `/metrics` here: only when there is no metrics listener of its own. With one (the default
    /// `:8081`, as sealed-secrets), the API's port (which the service proxy reaches, for everyone the
    /// chart's proxier Role admits) does not show SealedSecret names.
    pub serve_metrics: bool,
    /// The decrypt pool shared with the unsealer: each decryption of a request holds one slot.
    pub decrypt_slots: Arc<Semaphore>,
    /// The API's own metrics.
    pub metrics: ApiMetrics,
    /// The timeouts.
    pub limits: Limits,
}

#[derive(Clone)]
struct AppState {
    keys: Arc<SharedKeys>,
    health: Arc<Health>,
    registry: Arc<Registry>,
    limiter: Arc<RateLimiter>,
    /// [`MAX_CONCURRENT_DECRYPT_REQUESTS`] permits.
    requests: Arc<Semaphore>,
    decrypt_slots: Arc<Semaphore>,
    metrics: ApiMetrics,
}

/// The routes: `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`, `/healthz`, `/livez`, `/readyz`, and
/// `/metrics`, which renders every family of the registry (the unsealer's and any other component's).
pub fn router(api: Api) -> Router {
    let state = AppState {
        keys: api.keys,
        health: api.health,
        registry: api.registry,
        limiter: Arc::new(RateLimiter::new(
            f64::from(api.limits.rate_per_second),
            f64::from(api.limits.burst),
        )),
        requests: Arc::new(Semaphore::new(MAX_CONCURRENT_DECRYPT_REQUESTS)),
        decrypt_slots: api.decrypt_slots,
        metrics: api.metrics,
    };
    let metrics = state.metrics.clone();
    let decrypting = instrument(
        Router::new().route("/v1/verify", post(verify)),
        "/v1/verify",
        &metrics,
    )
    .merge(instrument(
        Router::new().route("/v1/rotate", post(rotate)),
        "/v1/rotate",
        &metrics,
    ))
    .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
        api.limits.read_timeout,
    ));
    instrument(
        Router::new().route("/v1/cert.pem", get(certificate)),
        "/v1/cert.pem",
        &metrics,
    )
    .route("/healthz", get(live))
    .route("/livez", get(live))
    .route("/readyz", get(ready))
    .merge(if api.serve_metrics {
        Router::new().route("/metrics", get(render_metrics))
    } else {
        Router::new()
    })
    .merge(decrypting)
    .layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        api.limits.write_timeout,
    ))
    .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes: HTTP/1.1, each connection closed when a
/// request's headers take longer than `limits.header_read_timeout`, at most [`MAX_CONNECTIONS`] at once.
/// At shutdown it stops accepting and gives open connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // A connection reset before it was accepted, or no file descriptor left: go on.
                    tracing::debug!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Full: closed at once rather than queued.
            drop(stream);
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                router.clone().oneshot(request)
            },
        );
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closed.wait_for(|closed| *closed) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    let _ = closing.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connections.acquire_many(all)).await;
    Ok(())
}

/// The newest certificate, which `kseal`/`kubeseal` seal with.
async fn certificate(State(state): State<AppState>) -> Response {
    match state.keys.get().sealing_key() {
        Some(key) => (
            [(header::CONTENT_TYPE, PEM_CONTENT_TYPE)],
            key.certificate.to_pem().to_owned(),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, NO_KEY_TEXT).into_response(),
    }
}

/// Why a decrypting request was not served; each is answered with its status and fixed text only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    RateLimited,
    Busy,
    BodyTooLarge,
    BodyTimeout,
    NotASealedSecret,
    TooManyValues,
    TooCostly,
    CannotDecrypt,
    NoKey,
    Internal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refusal::RateLimited => (StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED_TEXT),
            Refusal::Busy => (StatusCode::SERVICE_UNAVAILABLE, BUSY_TEXT),
            Refusal::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE_TEXT),
            Refusal::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, BODY_TIMEOUT_TEXT),
            Refusal::NotASealedSecret => (StatusCode::BAD_REQUEST, NOT_A_SEALED_SECRET_TEXT),
            Refusal::TooManyValues => (StatusCode::PAYLOAD_TOO_LARGE, TOO_MANY_VALUES_TEXT),
            Refusal::TooCostly => (StatusCode::PAYLOAD_TOO_LARGE, TOO_COSTLY_TEXT),
            Refusal::CannotDecrypt => (StatusCode::CONFLICT, CANNOT_DECRYPT_TEXT),
            Refusal::NoKey => (StatusCode::SERVICE_UNAVAILABLE, NO_KEY_TEXT),
            Refusal::Internal => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_TEXT),
        };
        (status, text).into_response()
    }
}

/// 200 when every value of the posted SealedSecret (JSON or YAML) decrypts with the controller's keys,
/// 409 when not. Templates are not rendered.
async fn verify(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    match decrypt_posted(&state, client.ip(), body, |_, _, _| Ok(())).await {
        Ok(()) => OK_TEXT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The posted SealedSecret (JSON or YAML) re-encrypted with the newest key, as JSON; 409 when it does not
/// decrypt.
async fn rotate(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    let rotated = decrypt_posted(&state, client.ip(), body, |sealed, opened, ring| {
        let newest = ring.sealing_key().ok_or(Refusal::NoKey)?;
        let rotated = kseal_sealedsecrets::rotate::reencrypt(
            &sealed,
            &opened,
            newest.certificate.public_key(),
        )
        .map_err(|_| Refusal::Internal)?;
        serde_json::to_string(&rotated).map_err(|_| Refusal::Internal)
    })
    .await;
    match rotated {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// What `/v1/verify` and `/v1/rotate` share: the rate limit, the concurrency limit, the body read within
/// its limits, then, on the blocking pool with a decrypt slot held, the parse, the value cap and the
/// decryption, and `then` with what was opened.
async fn decrypt_posted<T: Send + 'static>(
    state: &AppState,
    client: IpAddr,
    body: Body,
    then: impl FnOnce(SealedSecret, Opened, &KeyRing) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    if !state.limiter.allow(client, Instant::now()) {
        return Err(Refusal::RateLimited);
    }
    let request = state
        .requests
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refusal::Busy)?;
    let body = read_body(body).await?;
    // Behind the unsealer's waiting objects (the semaphore is fair); bounded by the write timeout.
    let slot = state
        .decrypt_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Refusal::Internal)?;
    let ring = state.keys.get();
    let metrics = state.metrics.clone();
    // Both permits stay held until the work is done, even when the client is gone.
    tokio::task::spawn_blocking(move || {
        let _permits = (request, slot);
        let sealed = parse_sealed_secret(&body).ok_or(Refusal::NotASealedSecret)?;
        let values = sealed.spec.encrypted_data.len() + usize::from(sealed.spec.data.is_some());
        if values > MAX_VALUES {
            return Err(Refusal::TooManyValues);
        }
        if ring.is_empty() {
            return Err(Refusal::NoKey);
        }
        let hint = sealed
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::KEY_HINT))
            .map(String::as_str);
        let keys = ring.ordered(hint.as_slice());
        let private: Vec<&PrivateKey> = keys.iter().map(|k| &k.private).collect();
        let opening = open_all(&sealed, &private, MAX_RSA_OPERATIONS);
        metrics.rsa_operations.inc_by(opening.rsa_operations);
        let opened = match opening.result {
            Ok(opened) => opened,
            Err(OpenError::TooCostly(_)) => return Err(Refusal::TooCostly),
            Err(OpenError::Failed(_)) => return Err(Refusal::CannotDecrypt),
        };
        then(sealed, opened, &ring)
    })
    .await
    .map_err(|_| Refusal::Internal)?
}

/// The request body, at most [`MAX_BODY_BYTES`].
async fn read_body(body: Body) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            let mut causes =
                std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source());
            if causes.any(|e| e.is::<http_body_util::LengthLimitError>()) {
                Refusal::BodyTooLarge
            } else {
                // The read deadline passed (or the client went away).
                Refusal::BodyTimeout
            }
        })
}

/// A posted SealedSecret, JSON or YAML (a superset of JSON, so one parser reads both). The caller
/// answers 400 otherwise, without echoing the body.
fn parse_sealed_secret(body: &[u8]) -> Option<SealedSecret> {
    serde_saphyr::from_str(std::str::from_utf8(body).ok()?).ok()
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    metrics_response(&state.registry)
}

fn metrics_response(registry: &Registry) -> Response {
    (
        [(header::CONTENT_TYPE, kseal_runtime::metrics::CONTENT_TYPE)],
        kseal_runtime::metrics::render(registry),
    )
        .into_response()
}

/// The metrics listener's routes (sealed-secrets' `--listen-metrics-addr`): `/metrics` only.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move { metrics_response(&registry) }
        }),
    )
}

async fn live() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.health.is_ready() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_a_burst_then_refills_per_client() {
        let limiter = RateLimiter::new(2.0, 2.0);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let start = Instant::now();
        assert!(limiter.allow(a, start));
        assert!(limiter.allow(a, start));
        assert!(!limiter.allow(a, start));
        // Another client has its own bucket.
        assert!(limiter.allow(b, start));
        // Half a second refills one token at 2/s.
        assert!(limiter.allow(a, start + Duration::from_millis(500)));
        assert!(!limiter.allow(a, start + Duration::from_millis(500)));
    }

    #[test]
    fn fixed_texts_state_the_limits() {
        assert_eq!(MAX_BODY_BYTES, 1 << 20);
        assert!(BODY_TOO_LARGE_TEXT.contains("1 MiB"));
        assert!(TOO_MANY_VALUES_TEXT.contains(&MAX_VALUES.to_string()));
        assert!(TOO_COSTLY_TEXT.contains(&MAX_RSA_OPERATIONS.to_string()));
    }
}
