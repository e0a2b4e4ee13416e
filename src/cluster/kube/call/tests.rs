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
