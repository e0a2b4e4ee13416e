//! The one retry policy and the one timeout helper. Every place that tries something again —
//! an API call ([`crate::cluster::kube`]), the engine's revert, the controller's final status
//! write — uses [`Backoff`] (exponential, on the `backon` crate kube-runtime uses), and every
//! bounded wait uses [`timeout`].

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Exponential backoff: `first` after the first failure, doubling up to `max`, `attempts` in
/// all (at least one). No jitter, so tests are deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration, attempts: u32) -> Self {
        Backoff {
            first,
            max,
            attempts,
        }
    }

    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.max.max(self.first))
            .with_factor(2.0)
            .with_max_times(self.attempts.max(1).saturating_sub(1) as usize)
    }

    /// Runs `f` until it succeeds, fails with an error `retry_on` refuses, or the attempts are
    /// spent (the last error is returned). `on_retry` hears each failure that is retried, and
    /// the wait before the next attempt.
    pub async fn retry<T, E, F, Fut>(
        &self,
        f: F,
        retry_on: impl FnMut(&E) -> bool,
        on_retry: impl FnMut(&E, Duration),
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        f.retry(self.builder())
            .sleep(tokio::time::sleep)
            .when(retry_on)
            .notify(on_retry)
            .await
    }
}

/// `fut`, bounded by `limit`: [`crate::Error::Timeout`] naming `what` when it takes longer.
pub async fn timeout<T, E>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> crate::Result<T>
where
    crate::Error: From<E>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(crate::Error::from),
        Err(_) => Err(crate::Error::Timeout {
            what: what.to_string(),
            after: limit,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_the_cap_and_stops_after_the_attempts() {
        let waits = Mutex::new(Vec::new());
        let calls = Mutex::new(0u32);
        let policy = Backoff::new(Duration::from_secs(1), Duration::from_secs(3), 4);
        let r: Result<(), &str> = policy
            .retry(
                || async {
                    *calls.lock().expect("lock") += 1;
                    Err("boom")
                },
                |_| true,
                |_, d| waits.lock().expect("lock").push(d),
            )
            .await;
        assert_eq!(r, Err("boom"));
        assert_eq!(*calls.lock().expect("lock"), 4);
        assert_eq!(
            *waits.lock().expect("lock"),
            [1, 2, 3].map(Duration::from_secs)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_not_worth_retrying_ends_at_once() {
        let calls = Mutex::new(0u32);
        let policy = Backoff::new(Duration::from_secs(1), Duration::from_secs(3), 4);
        let r: Result<(), u16> = policy
            .retry(
                || async {
                    *calls.lock().expect("lock") += 1;
                    Err(404)
                },
                |code| *code >= 500,
                |_, _| {},
            )
            .await;
        assert_eq!((r, *calls.lock().expect("lock")), (Err(404), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_names_what_took_too_long() {
        let e = timeout(
            Duration::from_secs(2),
            "get Lease oomsday-system/oomsday-controller",
            std::future::pending::<Result<(), crate::Error>>(),
        )
        .await
        .expect_err("times out");
        assert!(
            e.to_string()
                .contains("get Lease oomsday-system/oomsday-controller"),
            "{e}"
        );
    }
}
