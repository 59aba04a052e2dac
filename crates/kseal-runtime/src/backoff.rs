//! Exponential backoff: per-object retries of a failed reconcile, and API calls retried until the API
//! server answers again.

use std::time::Duration;

/// Delays that double from `base` per consecutive failure, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `base`, doubled per failure, at most `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// Delay before retry number `failures` (1-based; 0 counts as 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(16);
        self.base.saturating_mul(1 << exponent).min(self.max)
    }

    /// Runs `call` until it succeeds or fails with an error `transient` does not accept, sleeping
    /// [`Backoff::delay`] between attempts. The API server may be away for a while (an upgrade, a
    /// restart): a controller waits for it instead of exiting.
    pub async fn retry<T, E, F, Fut>(
        &self,
        what: &str,
        transient: impl Fn(&E) -> bool,
        mut call: F,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut failures = 0u32;
        loop {
            match call().await {
                Err(error) if transient(&error) => {
                    failures = failures.saturating_add(1);
                    let delay = self.delay(failures);
                    tracing::warn!(%error, retry_in = ?delay, "cannot {what}; retrying");
                    tokio::time::sleep(delay).await;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        let delays: Vec<u64> = (1..=11).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff.delay(0), Duration::from_secs(1));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(300));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_repeats_transient_failures_and_returns_the_rest() {
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut calls = 0;
        let result: Result<u32, String> = backoff
            .retry(
                "count",
                |e: &String| e == "away",
                || {
                    calls += 1;
                    let answer = if calls < 4 {
                        Err("away".to_owned())
                    } else {
                        Ok(calls)
                    };
                    async move { answer }
                },
            )
            .await;
        assert_eq!(result, Ok(4));
        let permanent: Result<(), String> = backoff
            .retry(
                "fail",
                |e: &String| e == "away",
                || async { Err("broken".to_owned()) },
            )
            .await;
        assert_eq!(permanent, Err("broken".to_owned()));
    }
}
