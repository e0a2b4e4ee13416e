//! The LeakRun reconciler against the mock API server: the revert finalizer exactly while an
//! injection may be live, orphans reverted, refusals recorded.

use super::*;
use crate::controller::reconcile::reconcile_run;

fn run_path() -> String {
    format!("{RUNS}/{RUN_NAME}")
}

#[tokio::test]
async fn a_pending_run_is_protected_before_it_may_inject() {
    let Setup {
        ctx,
        handle,
        log,
        executed,
        ..
    } = setup(true, false);
    let mut run = leak_run(Phase::Pending, "2026-11-24T11:30:00Z", false);
    run.meta_mut().finalizers = None;
    let stored = to_value(&run);
    let v = ApiServerVerifier { handle, log }.run(vec![expect(
        "PATCH",
        run_path(),
        vec![],
        move |b| {
            assert_eq!(
                b,
                &json!([
                    {"op": "test", "path": "/metadata/finalizers", "value": null},
                    {"op": "add", "path": "/metadata/finalizers", "value": [RUN_FINALIZER]}
                ])
            );
            let mut r = stored.clone();
            r["metadata"]["finalizers"] = json!([RUN_FINALIZER]);
            r
        },
    )]);
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
    assert!(
        executed.lock().map(|e| e.is_empty()).unwrap_or(false),
        "not started yet"
    );
}

#[tokio::test]
async fn restart_with_a_run_leaking_past_its_deadline_reverts_completes_and_releases() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let run = leak_run(Phase::Leaking, "2026-11-24T10:30:00Z", false);
    let v = ApiServerVerifier {
        handle,
        log: log.clone(),
    }
    .run(vec![
        run_status(run.clone(), |s| {
            assert_eq!(s["phase"], "Failed");
            assert_eq!(s["reason"], "DeadlineExceeded");
            assert_eq!(s["revertedTime"], "2026-11-24T11:00:01Z");
            assert_eq!(s["completionTime"], "2026-11-24T11:00:01Z");
            assert_eq!(condition(s, "Reverted")["status"], "True");
            // The replica that reverted another's run says so.
            assert_eq!(s["revertedBy"], "oomsday-controller-test");
            assert_eq!(
                condition(s, "Reverted")["message"],
                "the leaker was taken out at 2026-11-24T11:00:01Z by oomsday-controller-test"
            );
            assert_eq!(condition(s, "Finished")["status"], "True");
            assert_eq!(condition(s, "Succeeded")["status"], "False");
        }),
        event("Reverted", RUN_NAME),
        event("Reverted", "checkout-leak"),
        finalizer_removed(run_path(), RUN_FINALIZER, to_value(&run)),
    ]);
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
    let l = logged(&log);
    assert_eq!(
        l[0], "revert shop/checkout",
        "the revert comes first: {l:?}"
    );
    assert_eq!(l[1], format!("PATCH {RUNS}/{RUN_NAME}/status"));
    assert_eq!(l.last(), Some(&format!("PATCH {}", run_path())), "{l:?}");
}

#[tokio::test]
async fn deleting_a_running_leak_run_reverts_then_removes_the_finalizer() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let run = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", true);
    let v = ApiServerVerifier {
        handle,
        log: log.clone(),
    }
    .run(vec![
        run_status(run.clone(), |s| {
            assert_eq!(s["phase"], "Aborted");
            assert_eq!(s["reason"], "Deleted");
        }),
        event("Reverted", RUN_NAME),
        event("Reverted", "checkout-leak"),
        finalizer_removed(run_path(), RUN_FINALIZER, to_value(&run)),
    ]);
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
    let l = logged(&log);
    assert_eq!(l.first().map(String::as_str), Some("revert shop/checkout"));
    assert_eq!(l.last(), Some(&format!("PATCH {}", run_path())));
}

#[tokio::test]
async fn a_failing_revert_is_reported_and_keeps_the_finalizer() {
    let Setup {
        ctx,
        mut handle,
        log,
        ..
    } = setup(true, true);
    let run = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", true);
    let expects = vec![
        run_status(run.clone(), |s| {
            assert_eq!(s["phase"], "Leaking", "the phase stays until reverted");
            assert_eq!(s["reason"], "RevertFailed");
            let m = s["message"].as_str().unwrap_or_default();
            assert!(m.contains("oomsday cleanup -n shop"), "{m}");
            assert_eq!(condition(s, "Reverted")["reason"], "RevertFailed");
        }),
        event("RevertFailed", RUN_NAME),
        event("RevertFailed", "checkout-leak"),
    ];
    let ctx2 = ctx.clone();
    let reconcile = tokio::spawn(async move { reconcile_run(Arc::new(run), ctx2).await });
    for e in expects {
        play(&mut handle, &log, e).await;
    }
    // The error goes to the error policy, which retries with a delay; no finalizer patch.
    let err = reconcile.await.expect("task").expect_err("must fail");
    assert_eq!(err.metric_label(), "revert");
    no_more_calls(&mut handle).await;
}

/// Answers one expected call on `handle` (the verifier's step, inline).
async fn play(handle: &mut Handle, log: &Log, e: Expect) {
    let (req, send) = tokio::time::timeout(StdDuration::from_secs(1), handle.next_request())
        .await
        .expect("timeout: an expected call was not made")
        .expect("an expected call was not made");
    assert_eq!(
        (req.method().as_str(), req.uri().path()),
        (e.method, e.path.as_str())
    );
    note(log, format!("{} {}", req.method(), req.uri().path()));
    let bytes = req.into_body().collect_bytes().await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    send.send_response(respond(e.status, &(e.body)(&body)));
}

#[tokio::test]
async fn a_namespace_without_the_allow_label_is_never_leaked_into() {
    let Setup {
        ctx,
        handle,
        log,
        executed,
        ..
    } = setup(true, false);
    let run = leak_run(Phase::Pending, "2026-11-24T11:30:00Z", false);
    let v = ApiServerVerifier { handle, log }.run(vec![
        expect("GET", "/api/v1/namespaces/shop", vec![], |_| {
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "shop", "labels": {"team": "checkout"}}})
        }),
        run_status(run.clone(), |s| {
            assert_eq!(s["phase"], "Failed");
            assert_eq!(s["reason"], "TargetNotAllowed");
            assert_eq!(condition(s, "Injected")["reason"], "TargetNotAllowed");
        }),
        event("TargetNotAllowed", RUN_NAME),
        event("TargetNotAllowed", "checkout-leak"),
        // Nothing was injected: nothing to protect.
        finalizer_removed(run_path(), RUN_FINALIZER, to_value(&run)),
    ]);
    reconcile_run(Arc::new(run), ctx.clone())
        .await
        .expect("reconcile");
    verified(v).await;
    assert!(executed.lock().map(|e| e.is_empty()).unwrap_or(false));
    assert!(ctx.registry.is_empty());
}

#[tokio::test]
async fn a_finished_run_from_an_older_version_loses_its_finalizer() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let mut run = leak_run(Phase::Completed, "2026-11-24T10:30:00Z", false);
    if let Some(s) = run.status.as_mut() {
        s.reverted_time = Some(ts("2026-11-24T10:30:00Z"));
    }
    let v = ApiServerVerifier { handle, log }.run(vec![finalizer_removed(
        run_path(),
        RUN_FINALIZER,
        to_value(&run),
    )]);
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
}

#[tokio::test]
async fn a_follower_never_touches_a_run() {
    let Setup {
        ctx,
        mut handle,
        executed,
        ..
    } = setup(false, false);
    for run in [
        leak_run(Phase::Pending, "2026-11-24T11:30:00Z", false),
        leak_run(Phase::Leaking, "2026-11-24T10:30:00Z", true),
        leak_run(Phase::Completed, "2026-11-24T10:30:00Z", false),
    ] {
        reconcile_run(Arc::new(run), ctx.clone())
            .await
            .expect("reconcile");
    }
    no_more_calls(&mut handle).await;
    assert!(executed.lock().map(|e| e.is_empty()).unwrap_or(false));
}
