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

    /// At least `attempts`, and as many more as it takes for the waits between them to add
    /// up to `span`: a retry that must outlast an outage of that length.
    pub fn spanning(first: Duration, max: Duration, attempts: u32, span: Duration) -> Self {
        let mut n = attempts.max(1);
        let (mut waited, mut wait) = (Duration::ZERO, first);
        for _ in 1..n {
            waited += wait;
            wait = (wait * 2).min(max.max(first));
        }
        // Bounded, so that a tiny `first` cannot turn into thousands of attempts.
        let most = n.saturating_add(64);
        while waited < span && n < most && !wait.is_zero() {
            waited += wait;
            wait = (wait * 2).min(max.max(first));
            n += 1;
        }
        Backoff::new(first, max, n)
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
mod tests;
