use super::*;
use crate::spec::RunSummary;
use crate::testkit::ts;

#[test]
fn transition_times_move_only_when_the_status_changes() {
    let t0 = ts("2026-11-24T11:00:00Z");
    let t1 = ts("2026-11-24T11:05:00Z");
    let leaking = LeakRunStatus {
        phase: Phase::Leaking,
        injected_time: Some(t0),
        ..Default::default()
    };
    let first = merge(&[], run_conditions(&leaking), Some(1), t0);
    let again = merge(&first, run_conditions(&leaking), Some(1), t1);
    assert_eq!(first, again, "nothing changed, nothing moves");
    let done = LeakRunStatus {
        phase: Phase::Completed,
        reverted_time: Some(t1),
        verdict: Some(Verdict::Passed),
        score: Some(88),
        grade: Some("B".into()),
        summary: Some(RunSummary {
            recovery_seconds: Some(42.0),
            ..Default::default()
        }),
        ..leaking.clone()
    };
    let after = merge(&again, run_conditions(&done), Some(1), t1);
    let injected = find(&after, INJECTED).expect("Injected");
    assert_eq!(
        (injected.status.as_str(), injected.last_transition_time.0),
        ("True", t0)
    );
    let succeeded = find(&after, SUCCEEDED).expect("Succeeded");
    assert_eq!(
        (
            succeeded.status.as_str(),
            succeeded.reason.as_str(),
            succeeded.last_transition_time.0
        ),
        ("True", "HypothesisHeld", t1)
    );
    assert_eq!(
        find(&after, RECOVERED).map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(
        find(&after, REVERTED).map(|c| c.reason.as_str()),
        Some("Reverted")
    );
    assert!(after.iter().all(|c| c.observed_generation == Some(1)));
}

#[test]
fn a_live_leak_is_never_reverted_and_a_failed_run_never_succeeds() {
    let live = LeakRunStatus {
        phase: Phase::Leaking,
        injected_time: Some(ts("2026-11-24T11:00:00Z")),
        ..Default::default()
    };
    let c = run_conditions(&live);
    let reverted = c.iter().find(|w| w.type_ == REVERTED).expect("Reverted");
    assert_eq!(
        (reverted.state, reverted.reason.as_str()),
        (State::False, "LeakInPlace")
    );
    let failed = LeakRunStatus {
        phase: Phase::Failed,
        reason: Some(RunReason::PreflightFailed),
        message: Some("Deployment shop/checkout not found".into()),
        ..Default::default()
    };
    let c = run_conditions(&failed);
    let by = |t: &str| c.iter().find(|w| w.type_ == t).cloned().expect("condition");
    assert_eq!(by(SUCCEEDED).state, State::False);
    assert_eq!(by(SUCCEEDED).reason, "Failed");
    assert_eq!(by(FINISHED).state, State::True);
    assert_eq!(by(INJECTED).reason, "PreflightFailed");
    assert_eq!(by(REVERTED).reason, "NothingInjected");
}
