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

#[test]
fn a_retry_spanning_an_outage_has_the_attempts_to_outlast_it() {
    let s = Duration::from_secs;
    // 1 s doubling to 30 s: 5 attempts wait 15 s; two minutes take 9 (1+2+4+8+16+30+30+30).
    assert_eq!(Backoff::spanning(s(1), s(30), 5, s(0)).attempts, 5);
    assert_eq!(Backoff::spanning(s(1), s(30), 5, s(120)).attempts, 9);
    // No wait between attempts: nothing to span.
    assert_eq!(
        Backoff::spanning(Duration::ZERO, Duration::ZERO, 3, s(120)).attempts,
        3
    );
    // A tiny wait is bounded, not thousands of attempts.
    assert_eq!(
        Backoff::spanning(
            Duration::from_millis(1),
            Duration::from_millis(1),
            3,
            s(120)
        )
        .attempts,
        67
    );
}
