//! Smoke suite: proves the test environment (tests/env) is real and usable —
//! the API server, RBAC, TokenRequest, server-side apply, CRDs from kseal-api,
//! moto with exact call counts, a watch that survives an API server restart,
//! and kubeseal as the interoperability peer.

mod aws;
mod kubernetes;
mod restart;
mod tools;

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a polled condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
