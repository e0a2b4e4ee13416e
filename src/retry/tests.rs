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
