//! Every API call goes through here: bounded by a timeout, retried with exponential backoff on
//! 429 (throttled) and 5xx (server trouble) and on timeouts, and turned into a clear error.

use std::future::Future;
use std::time::Duration;

use crate::{Error, Result};

/// How hard to try one API call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPolicy {
    /// Bound on one attempt.
    pub timeout: Duration,
    /// Attempts in all (at least one).
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time, capped at 8 × this.
    pub backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(15),
            attempts: 5,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Whether a failed call may succeed if tried again (and is safe to repeat: every call oomsday
/// retries is a read, an SSAR, or an idempotent apply).
pub fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The HTTP status code of an API error.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Why one attempt failed.
enum Attempt {
    Kube(kube::Error),
    TimedOut,
}

impl CallPolicy {
    /// Runs `f` until it succeeds, fails for good, or the attempts are spent, on the one retry
    /// policy ([`crate::retry::Backoff`]). `what` names the call in logs and errors ("patch
    /// Deployment shop/checkout").
    pub async fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let backoff = crate::retry::Backoff::new(self.backoff, self.backoff * 8, self.attempts);
        let limit = self.timeout;
        let once = || {
            let fut = f();
            async move {
                match tokio::time::timeout(limit, fut).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(Attempt::Kube(e)),
                    Err(_) => Err(Attempt::TimedOut),
                }
            }
        };
        let retry_on = |a: &Attempt| match a {
            Attempt::Kube(e) => retryable(e),
            Attempt::TimedOut => true,
        };
        let on_retry = |a: &Attempt, delay: Duration| match a {
            Attempt::Kube(e) => {
                tracing::warn!(%what, error = %e, "API call failed; retrying in {delay:?}")
            }
            Attempt::TimedOut => tracing::warn!(%what, "API call timed out; retrying in {delay:?}"),
        };
        backoff
            .retry(once, retry_on, on_retry)
            .await
            .map_err(|a| match a {
                Attempt::Kube(e) => Error::Kube(e),
                Attempt::TimedOut => Error::Timeout {
                    what: what.to_string(),
                    after: limit,
                },
            })
    }
}

#[cfg(test)]
mod tests;
