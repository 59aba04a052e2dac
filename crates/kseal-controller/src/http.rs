//! The controller's HTTP API (SPEC §2.5): the sealing certificate, verification and re-encryption, health
//! and metrics.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use kseal_api::SealedSecret;
use kseal_crypto::PrivateKey;

use crate::keys::SharedKeys;
use prometheus_client::registry::Registry;

/// Default listen address, as sealed-secrets (`:8080`).
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8080";
/// Content type of `/v1/cert.pem`, as sealed-secrets.
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";
/// `/v1/verify` requests per second allowed to one client address, as sealed-secrets' default.
pub const VERIFY_RATE_PER_SECOND: f64 = 2.0;
/// Requests one client may send at once before [`VERIFY_RATE_PER_SECOND`] applies.
pub const VERIFY_BURST: f64 = 2.0;

/// Client addresses the verify rate limiter tracks before forgetting idle ones.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Token buckets per client address: `/v1/verify` does private-key work, so it must not be an oracle
/// anyone can query at full speed.
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
            let full_after = std::time::Duration::from_secs_f64(self.burst / self.rate_per_second);
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

#[derive(Clone)]
struct AppState {
    keys: Arc<SharedKeys>,
    health: Arc<Health>,
    registry: Arc<Registry>,
    verify_limiter: Arc<RateLimiter>,
}

/// The routes: `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`, `/healthz`, `/livez`, `/readyz`, and
/// `/metrics`, which renders every family of `registry` (the unsealer's and any other component's).
pub fn router(keys: Arc<SharedKeys>, health: Arc<Health>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v1/cert.pem", get(certificate))
        .route("/healthz", get(live))
        .route("/livez", get(live))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .route("/v1/verify", axum::routing::post(verify))
        .route("/v1/rotate", axum::routing::post(rotate))
        .with_state(AppState {
            keys,
            health,
            registry,
            verify_limiter: Arc::new(RateLimiter::new(VERIFY_RATE_PER_SECOND, VERIFY_BURST)),
        })
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The newest certificate, which `kseal`/`kubeseal` seal with.
async fn certificate(State(state): State<AppState>) -> Response {
    match state.keys.get().sealing_key() {
        Some(key) => (
            [(header::CONTENT_TYPE, PEM_CONTENT_TYPE)],
            key.certificate.to_pem().to_owned(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no sealing key is loaded yet\n",
        )
            .into_response(),
    }
}

/// 200 when the posted SealedSecret (JSON or YAML) decrypts with the controller's keys, 409 when not.
async fn verify(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: String,
) -> Response {
    if !state.verify_limiter.allow(client.ip(), Instant::now()) {
        return (StatusCode::TOO_MANY_REQUESTS, "rate limited\n").into_response();
    }
    let Some(sealed) = parse_sealed_secret(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not a SealedSecret\n").into_response();
    };
    let ring = state.keys.get();
    let result = tokio::task::spawn_blocking(move || {
        let keys: Vec<&PrivateKey> = ring.keys().iter().map(|k| &k.private).collect();
        kseal_core::unseal(&sealed, &keys).map(|_| ())
    })
    .await;
    match result {
        Ok(Ok(())) => "OK\n".into_response(),
        Ok(Err(error)) => (StatusCode::CONFLICT, format!("{error}\n")).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A posted SealedSecret, JSON or YAML (a superset of JSON, so one parser reads both). The caller
/// answers 400 otherwise, without echoing the body.
fn parse_sealed_secret(body: &str) -> Option<SealedSecret> {
    serde_saphyr::from_str(body).ok()
}

/// The posted SealedSecret (JSON or YAML) re-encrypted with the newest key, as JSON; 409 when it does not
/// decrypt.
async fn rotate(State(state): State<AppState>, body: String) -> Response {
    let Some(sealed) = parse_sealed_secret(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not a SealedSecret\n").into_response();
    };
    let ring = state.keys.get();
    let result = tokio::task::spawn_blocking(move || {
        let newest = ring.sealing_key()?.certificate.public_key().clone();
        let keys: Vec<&PrivateKey> = ring.keys().iter().map(|k| &k.private).collect();
        Some(crate::rotate::reencrypt(&sealed, &keys, &newest))
    })
    .await;
    match result {
        Ok(Some(Ok(rotated))) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&rotated).unwrap_or_default(),
        )
            .into_response(),
        Ok(Some(Err(error))) => (StatusCode::CONFLICT, format!("{error}\n")).into_response(),
        Ok(None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no sealing key is loaded yet\n",
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&state.registry),
    )
        .into_response()
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
    use std::time::Duration;

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
}
