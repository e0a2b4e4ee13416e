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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("boom", "Boom").with_code(code),
        ))
    }

    fn fast() -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_millis(200),
            attempts: 3,
            backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried() {
        let n = AtomicU32::new(0);
        let got = fast()
            .call("get x", || {
                let i = n.fetch_add(1, Ordering::SeqCst);
                async move {
                    match i {
                        0 => Err(api(429)),
                        1 => Err(api(503)),
                        _ => Ok(7),
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!((got, n.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_attempts_are_bounded() {
        let n = AtomicU32::new(0);
        let e = fast()
            .call("get x", || {
                n.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(api(404)) }
            })
            .await
            .unwrap_err();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert!(matches!(e, Error::Kube(ref k) if status_code(k) == Some(404)));
        let n = AtomicU32::new(0);
        fast()
            .call("get x", || {
                n.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(api(500)) }
            })
            .await
            .unwrap_err();
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_hanging_call_times_out_with_its_name() {
        let e = fast()
            .call("patch Deployment shop/checkout", || {
                std::future::pending::<Result<(), kube::Error>>()
            })
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("patch Deployment shop/checkout"),
            "{e}"
        );
    }
}
