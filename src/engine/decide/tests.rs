use super::*;
use crate::defences::Defences;
use crate::engine::state::Stop;
use crate::observe::{DisruptionCause, Event, NodeConditionKind, Observation, PodRef};
use crate::spec::{InjectionMode, InjectionRecord, TargetKind};
use serde_json::json;

use crate::testkit::t;

fn spec_with(abort: serde_json::Value, duration: &str) -> LeakExperimentSpec {
    serde_json::from_value(json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "2Gi"},
        "duration": duration,
        "recovery": "10m",
        "abort": abort,
    }))
    .unwrap()
}

fn spec() -> LeakExperimentSpec {
    spec_with(
        json!({"availabilityBelow": "75%", "nodesNotReady": 1,
               "nodesUnderPressure": 2, "bystanderEvictions": 2}),
        "30m",
    )
}

fn record() -> InjectionRecord {
    InjectionRecord {
        mode: InjectionMode::Sidecar,
        namespace: "shop".into(),
        kind: TargetKind::Deployment,
        name: "checkout".into(),
        container: "oomsday-leaker".into(),
        image: "leaker".into(),
        run_id: "r1".into(),
        deadline: t(1800).to_string(),
        pods: vec![],
    }
}

fn pending() -> RunState {
    RunState::new(t(0))
}

/// A run leaking since t(10), deadline t(1810), with these observations.
fn leaking(obs: &[Observation]) -> RunState {
    let mut st = pending();
    st.defences = Some(Defences::default());
    st.phase = Phase::Leaking;
    st.injection = Some(record());
    st.injected = Some(t(10));
    st.deadline = Some(t(1810));
    for o in obs {
        st.record(o);
    }
    st
}

/// A run reverted at t(1810) after `reason`, with observations before and after.
fn recovering(reason: RunReason, before: &[Observation], after: &[Observation]) -> RunState {
    let mut st = leaking(before);
    st.ending = Some(Ending {
        rule: None,
        reason,
        message: "why".into(),
    });
    st.mark_reverted(t(1810));
    for o in after {
        st.record(o);
    }
    st
}

fn stop(reason: RunReason) -> Stop {
    Stop {
        reason,
        detail: "SIGINT".into(),
    }
}

fn pod(name: &str, target: bool) -> PodRef {
    PodRef {
        name: name.into(),
        node: Some("n1".into()),
        target,
    }
}

fn workload(at: i64, desired: u32, ready: u32) -> Observation {
    Observation::new(t(at), Event::workload(desired, ready))
}

fn budget(at: i64, current: u32, desired: u32) -> Observation {
    Observation::new(
        t(at),
        Event::Budget {
            name: "checkout".into(),
            current_healthy: current,
            desired_healthy: desired,
            disruptions_allowed: current.saturating_sub(desired),
            expected_pods: 4,
        },
    )
}

fn node(at: i64, name: &str, condition: NodeConditionKind, status: bool) -> Observation {
    Observation::new(
        t(at),
        Event::NodeCondition {
            node: name.into(),
            condition,
            status,
            reason: String::new(),
        },
    )
}

fn evicted(at: i64, name: &str, target: bool, cause: DisruptionCause) -> Observation {
    Observation::new(
        t(at),
        Event::PodEvicted {
            pod: pod(name, target),
            cause,
            message: String::new(),
        },
    )
}

fn oom(at: i64, name: &str, target: bool, restart: u32) -> Observation {
    Observation::new(
        t(at),
        Event::OomKilled {
            pod: pod(name, target),
            container: "app".into(),
            leaker: false,
            restart_count: restart,
        },
    )
}

fn reason(step: &Step) -> Option<RunReason> {
    match step {
        Step::Revert(e) | Step::Finish(e) => Some(e.reason),
        _ => None,
    }
}

fn assert_revert(step: Step, want: RunReason) {
    match step {
        Step::Revert(e) => assert_eq!(e.reason, want, "{}", e.message),
        other => panic!("expected a revert for {want:?}, got {other:?}"),
    }
}

fn assert_finish(step: Step, want: RunReason) -> String {
    match step {
        Step::Finish(e) => {
            assert_eq!(e.reason, want, "{}", e.message);
            e.message
        }
        other => panic!("expected finish with {want:?}, got {other:?}"),
    }
}

#[test]
fn pending_preflights_then_injects() {
    let mut st = pending();
    assert_eq!(decide(&spec(), &st, t(0)), Step::Preflight);
    st.defences = Some(Defences::default());
    assert_eq!(decide(&spec(), &st, t(1)), Step::Inject);
}

#[test]
fn preflight_failure_finishes_failed_without_revert() {
    let mut st = pending();
    st.fail(
        RunReason::PreflightFailed,
        "deployments.apps \"checkout\" not found",
    );
    let msg = assert_finish(decide(&spec(), &st, t(1)), RunReason::PreflightFailed);
    assert!(msg.contains("not found"));
    assert_eq!(RunReason::PreflightFailed.final_phase(), Phase::Failed);
}

#[test]
fn stop_before_injection_finishes_aborted_without_revert() {
    for r in [RunReason::Signal, RunReason::AbortAnnotation] {
        let mut st = pending();
        st.request_stop(stop(r));
        assert_finish(decide(&spec(), &st, t(1)), r);
        // Also after preflight, before inject.
        st.defences = Some(Defences::default());
        assert_finish(decide(&spec(), &st, t(1)), r);
        assert_eq!(r.final_phase(), Phase::Aborted);
    }
}

#[test]
fn interrupted_or_failed_injection_is_reverted() {
    let mut st = pending();
    st.phase = Phase::Injecting;
    st.injection = Some(record());
    st.fail(RunReason::InjectFailed, "409 conflict");
    assert_revert(decide(&spec(), &st, t(5)), RunReason::InjectFailed);
    // A stop during the inject wins over its failure: the person asked first.
    st.request_stop(stop(RunReason::Signal));
    assert_revert(decide(&spec(), &st, t(5)), RunReason::Signal);
    let mut st = pending();
    st.phase = Phase::Injecting;
    st.request_stop(stop(RunReason::AbortAnnotation));
    assert_revert(decide(&spec(), &st, t(5)), RunReason::AbortAnnotation);
}

#[test]
fn leaking_observes_until_the_deadline_then_reverts() {
    let st = leaking(&[workload(10, 4, 4)]);
    assert_eq!(
        decide(&spec(), &st, t(11)),
        Step::Observe { until: t(1810) }
    );
    assert_eq!(
        decide(&spec(), &st, t(1809)),
        Step::Observe { until: t(1810) }
    );
    assert_revert(decide(&spec(), &st, t(1810)), RunReason::DurationElapsed);
    assert_revert(decide(&spec(), &st, t(5000)), RunReason::DurationElapsed);
}

#[test]
fn zero_length_duration_reverts_at_once() {
    let spec = spec_with(json!({}), "0s");
    let mut st = leaking(&[]);
    st.deadline = Some(t(10));
    assert_revert(decide(&spec, &st, t(10)), RunReason::DurationElapsed);
}

#[test]
fn availability_below() {
    // 75%: 3 of 4 ready is not below, 2 of 4 is.
    let cases = [
        (4, 4, false),
        (4, 3, false),
        (4, 2, true),
        (4, 0, true),
        (0, 0, false), // scaled to zero: nothing to measure
        (3, 2, true),  // 66%
    ];
    for (desired, ready, fires) in cases {
        let st = leaking(&[workload(20, desired, ready)]);
        let step = decide(&spec(), &st, t(30));
        assert_eq!(
            reason(&step) == Some(RunReason::AbortRule),
            fires,
            "{ready}/{desired}: {step:?}"
        );
    }
    // The latest sample counts: a dip that recovered does not abort.
    let st = leaking(&[workload(20, 4, 1), workload(25, 4, 4)]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
    // A late, older sample does not overwrite the newer one.
    let st = leaking(&[workload(25, 4, 4), workload(20, 4, 1)]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
}

#[test]
fn nodes_not_ready() {
    let st = leaking(&[node(20, "n1", NodeConditionKind::Ready, true)]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
    let st = leaking(&[node(20, "n1", NodeConditionKind::Ready, false)]);
    let step = decide(&spec(), &st, t(30));
    assert_revert(step.clone(), RunReason::AbortRule);
    assert!(format!("{step:?}").contains("nodesNotReady"));
    let st = leaking(&[
        node(20, "n1", NodeConditionKind::Ready, false),
        node(25, "n1", NodeConditionKind::Ready, true),
    ]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
}

#[test]
fn nodes_under_pressure() {
    let p = NodeConditionKind::MemoryPressure;
    let st = leaking(&[node(20, "n1", p, true)]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
    let st = leaking(&[node(20, "n1", p, true), node(21, "n2", p, true)]);
    let step = decide(&spec(), &st, t(30));
    assert!(
        format!("{step:?}").contains("nodesUnderPressure"),
        "{step:?}"
    );
    assert_revert(step, RunReason::AbortRule);
    let st = leaking(&[
        node(20, "n1", p, true),
        node(21, "n2", p, true),
        node(22, "n1", p, false),
    ]);
    assert!(matches!(decide(&spec(), &st, t(30)), Step::Observe { .. }));
}

#[test]
fn bystander_evictions() {
    let k = DisruptionCause::TerminationByKubelet;
    // The same bystander OOM-killed over and over is one pod.
    let st = leaking(&[oom(20, "b1", false, 1), oom(40, "b1", false, 2)]);
    assert!(matches!(decide(&spec(), &st, t(50)), Step::Observe { .. }));
    // Two distinct bystanders, one evicted and one OOM-killed.
    let st = leaking(&[evicted(20, "b1", false, k.clone()), oom(40, "b2", false, 1)]);
    let step = decide(&spec(), &st, t(50));
    assert!(
        format!("{step:?}").contains("bystanderEvictions"),
        "{step:?}"
    );
    assert_revert(step, RunReason::AbortRule);
    // Target pods, plain deletions and facts older than the run do not count.
    let st = leaking(&[
        evicted(20, "t1", true, k.clone()),
        oom(21, "t2", true, 1),
        evicted(22, "b3", false, DisruptionCause::Deleted),
        evicted(-100, "b4", false, k.clone()),
        evicted(23, "b5", false, k),
    ]);
    assert!(matches!(decide(&spec(), &st, t(50)), Step::Observe { .. }));
}

#[test]
fn zero_thresholds_abort_on_the_first() {
    let spec = spec_with(json!({"bystanderEvictions": 0, "nodesNotReady": 0}), "30m");
    let st = leaking(&[]);
    assert!(matches!(decide(&spec, &st, t(50)), Step::Observe { .. }));
    let st = leaking(&[oom(20, "b1", false, 1)]);
    assert_revert(decide(&spec, &st, t(50)), RunReason::AbortRule);
}

#[test]
fn no_abort_rules_only_the_clock() {
    let spec = spec_with(serde_json::Value::Null, "30m");
    let st = leaking(&[
        workload(20, 4, 0),
        node(20, "n1", NodeConditionKind::Ready, false),
        oom(20, "b1", false, 1),
    ]);
    assert!(matches!(decide(&spec, &st, t(50)), Step::Observe { .. }));
    assert_revert(decide(&spec, &st, t(1810)), RunReason::DurationElapsed);
}

#[test]
fn abort_rule_wins_over_the_deadline_and_stop_wins_over_both() {
    let mut st = leaking(&[node(20, "n1", NodeConditionKind::Ready, false)]);
    assert_revert(decide(&spec(), &st, t(1810)), RunReason::AbortRule);
    st.request_stop(stop(RunReason::Signal));
    assert_revert(decide(&spec(), &st, t(1810)), RunReason::Signal);
}

#[test]
fn stop_while_leaking_reverts() {
    for r in [RunReason::Signal, RunReason::AbortAnnotation] {
        let mut st = leaking(&[]);
        st.request_stop(stop(r));
        assert_revert(decide(&spec(), &st, t(20)), r);
    }
    // The first stop wins.
    let mut st = leaking(&[]);
    st.request_stop(stop(RunReason::AbortAnnotation));
    st.request_stop(stop(RunReason::Signal));
    assert_revert(decide(&spec(), &st, t(20)), RunReason::AbortAnnotation);
}

#[test]
fn observation_failure_reverts() {
    let mut st = leaking(&[]);
    st.fail(RunReason::ObservationFailed, "watch pods: 403");
    assert_revert(decide(&spec(), &st, t(20)), RunReason::ObservationFailed);
    // Reported by the cluster itself as an observation.
    let st = leaking(&[Observation::new(
        t(15),
        Event::ObservationFailed {
            detail: "watch nodes ended".into(),
        },
    )]);
    assert_revert(decide(&spec(), &st, t(20)), RunReason::ObservationFailed);
}

#[test]
fn a_revert_owed_is_retried_first() {
    let mut st = leaking(&[]);
    st.phase = Phase::Reverting;
    st.ending = Some(Ending {
        rule: None,
        reason: RunReason::AbortRule,
        message: "x".into(),
    });
    st.request_stop(stop(RunReason::Signal));
    assert_revert(decide(&spec(), &st, t(20)), RunReason::AbortRule);
}

#[test]
fn recovery_reached() {
    // Healthy again at t(1900): recovered 90 s after the revert.
    let st = recovering(
        RunReason::DurationElapsed,
        &[workload(100, 4, 2), budget(100, 2, 3)],
        &[workload(1850, 4, 4), budget(1900, 4, 3)],
    );
    assert_eq!(st.recovered, Some(t(1900)));
    assert_finish(decide(&spec(), &st, t(1901)), RunReason::DurationElapsed);
}

#[test]
fn recovery_healthy_at_the_revert_counts_at_once() {
    let st = recovering(
        RunReason::DurationElapsed,
        &[workload(100, 4, 4), budget(100, 4, 3)],
        &[],
    );
    assert_eq!(st.recovered, Some(t(1810)));
}

#[test]
fn recovery_not_reached() {
    // The budget stays breached: watch until the window ends, then finish saying so.
    let st = recovering(
        RunReason::AbortRule,
        &[workload(100, 4, 1), budget(100, 1, 3)],
        &[workload(1850, 4, 4)],
    );
    assert_eq!(st.recovered, None);
    assert_eq!(
        decide(&spec(), &st, t(1850)),
        Step::Recover { until: t(2410) }
    );
    let msg = assert_finish(decide(&spec(), &st, t(2410)), RunReason::AbortRule);
    assert!(msg.contains("not recovered"), "{msg}");
    assert_eq!(RunReason::AbortRule.final_phase(), Phase::Aborted);
    // Never seen the workload: unknown is not recovered.
    let st = recovering(RunReason::DurationElapsed, &[], &[budget(1850, 4, 3)]);
    assert_eq!(st.recovered, None);
}

#[test]
fn recovery_is_not_watched_after_a_stop_or_a_failure() {
    for r in [
        RunReason::Signal,
        RunReason::AbortAnnotation,
        RunReason::InjectFailed,
        RunReason::ObservationFailed,
    ] {
        let st = recovering(r, &[workload(100, 4, 1)], &[]);
        assert_finish(decide(&spec(), &st, t(1811)), r);
    }
}

#[test]
fn stop_while_recovering_finishes_aborted() {
    let mut st = recovering(RunReason::DurationElapsed, &[workload(100, 4, 1)], &[]);
    st.request_stop(stop(RunReason::Signal));
    let msg = assert_finish(decide(&spec(), &st, t(1820)), RunReason::Signal);
    assert!(msg.contains("watching recovery"), "{msg}");
}

#[test]
fn observation_failure_while_recovering_finishes() {
    let st = recovering(
        RunReason::DurationElapsed,
        &[workload(100, 4, 1)],
        &[Observation::new(
            t(1820),
            Event::ObservationFailed {
                detail: "gone".into(),
            },
        )],
    );
    let msg = assert_finish(decide(&spec(), &st, t(1821)), RunReason::DurationElapsed);
    assert!(msg.contains("could not be observed"), "{msg}");
}

#[test]
fn finished_runs_are_done() {
    for phase in [Phase::Completed, Phase::Aborted, Phase::Failed] {
        let mut st = leaking(&[]);
        st.phase = phase;
        assert_eq!(decide(&spec(), &st, t(20)), Step::Done);
    }
}

#[test]
fn final_phases() {
    assert_eq!(RunReason::DurationElapsed.final_phase(), Phase::Completed);
    assert_eq!(RunReason::RevertFailed.final_phase(), Phase::Failed);
    assert_eq!(RunReason::ObservationFailed.final_phase(), Phase::Failed);
    assert!(RunReason::DurationElapsed.watch_recovery());
    assert!(RunReason::AbortRule.watch_recovery());
    assert!(!RunReason::Signal.watch_recovery());
}

fn template(leaker: bool) -> Event {
    Event::Workload {
        desired: 3,
        ready: 3,
        updated: 3,
        current: 3,
        observed: true,
        leaker,
    }
}

#[test]
fn a_leaker_taken_out_by_someone_else_ends_the_run_and_is_not_injected_again() {
    let writer = |at: i64, m: &str| {
        Observation::new(
            t(at),
            Event::WorkloadWriter {
                manager: m.into(),
                written: Some(t(at)),
            },
        )
    };
    let st = leaking(&[
        writer(10, "oomsday"),
        Observation::new(t(11), template(true)),
        writer(27, "kubectl-replace"),
        Observation::new(t(27), template(false)),
    ]);
    let Step::Revert(ending) = decide(&spec(), &st, t(28)) else {
        panic!("{:?}", decide(&spec(), &st, t(28)));
    };
    assert_eq!(ending.reason, RunReason::InjectionRemoved);
    assert!(
        ending
            .message
            .contains("at T+27s by field manager \"kubectl-replace\""),
        "{}",
        ending.message
    );
    assert_eq!(RunReason::InjectionRemoved.final_phase(), Phase::Aborted);

    // Without a writer newer than the template that had the leaker, nobody is named.
    let st = leaking(&[
        writer(10, "oomsday"),
        Observation::new(t(11), template(true)),
        Observation::new(t(27), template(false)),
    ]);
    let Step::Revert(ending) = decide(&spec(), &st, t(28)) else {
        panic!("reverts");
    };
    assert!(
        ending.message.contains("someone else"),
        "{}",
        ending.message
    );

    // oomsday's own revert takes the leaker out too: while recovering, that is no news.
    let st = recovering(
        RunReason::DurationElapsed,
        &[Observation::new(t(11), template(true))],
        &[Observation::new(t(1811), template(false))],
    );
    let Step::Finish(ending) = decide(&spec(), &st, t(1812)) else {
        panic!("{:?}", decide(&spec(), &st, t(1812)));
    };
    assert_eq!(ending.reason, RunReason::DurationElapsed);
}

#[test]
fn a_template_that_never_had_the_leaker_is_not_a_removal() {
    // An ephemeral run: the template never carries the leaker.
    let st = leaking(&[Observation::new(t(11), template(false))]);
    assert_eq!(
        decide(&spec(), &st, t(12)),
        Step::Observe { until: t(1810) }
    );
}

fn gap(at: i64, open: bool) -> Observation {
    Observation::new(
        t(at),
        Event::ObservationGap {
            open,
            detail: "watching pods failed: connection refused".into(),
        },
    )
}

#[test]
fn an_api_server_outage_is_ridden_out_up_to_the_tolerance() {
    // Default tolerance 2m: the leak goes on, and the engine wakes when it runs out.
    let st = leaking(&[gap(100, true)]);
    assert_eq!(
        decide(&spec(), &st, t(150)),
        Step::Observe { until: t(220) }
    );
    // Back in time: nothing happened to the run.
    let st = leaking(&[gap(100, true), gap(160, false)]);
    assert_eq!(
        decide(&spec(), &st, t(170)),
        Step::Observe { until: t(1810) }
    );
    // Past it: revert, the cluster could not be observed.
    let st = leaking(&[gap(100, true)]);
    let Step::Revert(ending) = decide(&spec(), &st, t(220)) else {
        panic!("reverts");
    };
    assert_eq!(ending.reason, RunReason::ObservationFailed);
    assert!(
        ending.message.contains("outage tolerance (2m)"),
        "{}",
        ending.message
    );
    // The experiment sets its own; the deadline still ends the leak first.
    let mut s = spec_with(json!({}), "30m");
    s.observation = Some(crate::spec::ObservationSettings {
        outage_tolerance: oomsday_core::Duration::from_secs(3600),
    });
    let st = leaking(&[gap(100, true)]);
    assert_eq!(decide(&s, &st, t(150)), Step::Observe { until: t(1810) });
}

#[test]
fn an_outage_past_the_tolerance_while_recovering_ends_the_watch() {
    let st = recovering(RunReason::DurationElapsed, &[], &[gap(1811, true)]);
    assert_eq!(
        decide(&spec(), &st, t(1820)),
        Step::Recover { until: t(1931) }
    );
    let Step::Finish(ending) = decide(&spec(), &st, t(1931)) else {
        panic!("finishes");
    };
    assert!(
        ending.message.contains("during recovery"),
        "{}",
        ending.message
    );
}
