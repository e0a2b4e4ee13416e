use super::*;
use crate::defences::Defences;
use crate::engine::state::Stop;
use crate::observe::{DisruptionCause, Happening, NodeConditionKind, Observation, PodRef};
use crate::spec::{AbortCause, Injected, InjectionMode, TargetKind};
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

fn record() -> Injected {
    Injected {
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
    Observation::new(t(at), Happening::workload(desired, ready))
}

fn budget(at: i64, current: u32, desired: u32) -> Observation {
    Observation::new(
        t(at),
        Happening::Budget {
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
        Happening::NodeCondition {
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
        Happening::PodEvicted {
            pod: pod(name, target),
            cause,
            message: String::new(),
        },
    )
}

fn oom(at: i64, name: &str, target: bool, restart: u32) -> Observation {
    Observation::new(
        t(at),
        Happening::OomKilled {
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
        Happening::ObservationFailed {
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
            Happening::ObservationFailed {
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

fn template(leaker: bool) -> Happening {
    Happening::Workload {
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
            Happening::WorkloadWriter {
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
        Happening::ObservationGap {
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

// ----- the steady-state gate ------------------------------------------------------------------

/// A spec whose gate needs 2m steady within a 10m timeout, with `extra` merged into it.
fn gated(extra: serde_json::Value) -> LeakExperimentSpec {
    let mut gate = json!({"for": "2m", "timeout": "10m"});
    if let (Some(g), Some(e)) = (gate.as_object_mut(), extra.as_object()) {
        g.extend(e.clone());
    }
    let mut s = spec();
    s.steady_state = Some(serde_json::from_value(gate).unwrap());
    s
}

/// After preflight (defences in, the target hosted on n1), with these observations.
fn waiting(obs: &[Observation]) -> RunState {
    let mut st = pending();
    st.defences = Some(Defences {
        nodes: vec!["n1".into()],
        ..Defences::default()
    });
    for o in obs {
        st.record(o);
    }
    st
}

#[test]
fn a_steady_target_is_injected_once_it_held_for_the_window() {
    let spec = gated(json!({}));
    let st = waiting(&[workload(1, 3, 3), budget(1, 3, 2)]);
    // Steady since t(1): watched until t(121), injected then and not before.
    assert_eq!(decide(&spec, &st, t(1)), Step::Observe { until: t(121) });
    assert_eq!(decide(&spec, &st, t(120)), Step::Observe { until: t(121) });
    assert_eq!(decide(&spec, &st, t(121)), Step::Inject);
}

#[test]
fn a_break_restarts_the_window() {
    let spec = gated(json!({}));
    let st = waiting(&[workload(1, 3, 3), workload(60, 3, 2), workload(90, 3, 3)]);
    assert_eq!(decide(&spec, &st, t(121)), Step::Observe { until: t(210) });
    assert_eq!(decide(&spec, &st, t(210)), Step::Inject);
}

#[test]
fn a_target_never_steady_ends_not_steady_at_the_timeout_naming_the_check() {
    let spec = gated(json!({}));
    let st = waiting(&[workload(1, 3, 2)]);
    assert_eq!(decide(&spec, &st, t(300)), Step::Observe { until: t(600) });
    let message = assert_finish(decide(&spec, &st, t(600)), RunReason::NotSteady);
    assert!(message.contains("replicasReady: 2/3 ready"), "{message}");
    assert!(message.contains("nothing was injected"), "{message}");
    assert_eq!(RunReason::NotSteady.final_phase(), Phase::Failed);
}

#[test]
fn each_condition_of_the_target_is_checked_and_can_be_turned_off() {
    let cases: [(&[Observation], &str, &str); 4] = [
        (
            &[Observation::new(
                t(1),
                Happening::Workload {
                    desired: 3,
                    ready: 3,
                    updated: 2,
                    current: 4,
                    observed: true,
                    leaker: false,
                },
            )],
            "rolledOut",
            "rolledOut",
        ),
        (
            &[workload(1, 3, 3), budget(1, 1, 2)],
            "budgetHealthy (PDB checkout)",
            "budgetHealthy",
        ),
        (
            &[
                workload(1, 3, 3),
                node(1, "n1", NodeConditionKind::MemoryPressure, true),
            ],
            "nodesHealthy (node n1 under MemoryPressure)",
            "nodesHealthy",
        ),
        (
            &[
                workload(1, 3, 3),
                node(1, "n1", NodeConditionKind::Ready, false),
            ],
            "nodesHealthy (node n1 NotReady)",
            "nodesHealthy",
        ),
    ];
    for (obs, named, field) in cases {
        let st = waiting(obs);
        let message = assert_finish(decide(&gated(json!({})), &st, t(600)), RunReason::NotSteady);
        assert!(message.contains(named), "{named}: {message}");
        // Turned off, the same target is steady.
        let off = gated(json!({ field: false }));
        assert_eq!(decide(&off, &st, t(600)), Step::Inject, "{field} off");
    }
}

#[test]
fn a_node_not_hosting_the_target_does_not_count() {
    let st = waiting(&[
        workload(1, 3, 3),
        node(1, "n7", NodeConditionKind::Ready, false),
    ]);
    assert_eq!(decide(&gated(json!({})), &st, t(121)), Step::Inject);
}

#[test]
fn steady_only_briefly_at_the_timeout_names_what_last_broke_it() {
    let spec = gated(json!({}));
    let st = waiting(&[workload(1, 3, 3), budget(1, 1, 2), budget(550, 2, 2)]);
    let message = assert_finish(decide(&spec, &st, t(600)), RunReason::NotSteady);
    assert!(
        message.contains("steady for only 50s of the 2m"),
        "{message}"
    );
    assert!(
        message.contains("last broken by budgetHealthy (PDB checkout): 1 healthy, 2 desired"),
        "{message}"
    );
}

#[test]
fn steady_state_probes_must_succeed_when_they_can_be_polled() {
    let spec = gated(json!({"probes": [{"name": "health", "http": {"url": "http://x/"}}]}));
    let probe = |at: i64, ok: bool| {
        Observation::new(
            t(at),
            Happening::SteadyProbe {
                name: "health".into(),
                ok,
                detail: if ok { "HTTP 200" } else { "HTTP 503" }.into(),
            },
        )
    };
    // Never probed: not steady.
    let st = waiting(&[workload(1, 3, 3)]);
    assert_eq!(decide(&spec, &st, t(200)), Step::Observe { until: t(600) });
    let message = assert_finish(decide(&spec, &st, t(600)), RunReason::NotSteady);
    assert!(
        message.contains("probe health: not probed yet"),
        "{message}"
    );
    // Failing, then ok from t(30): injected at t(150).
    let st = waiting(&[
        workload(1, 3, 3),
        probe(5, false),
        probe(30, true),
        probe(35, true),
    ]);
    assert_eq!(decide(&spec, &st, t(149)), Step::Observe { until: t(150) });
    assert_eq!(decide(&spec, &st, t(150)), Step::Inject);
    // Where nothing can be polled (the simulator), the gate judges the target alone.
    let mut st = waiting(&[workload(1, 3, 3)]);
    st.probing = false;
    assert_eq!(decide(&spec, &st, t(121)), Step::Inject);
}

#[test]
fn a_stop_or_a_failed_watch_while_waiting_ends_the_run_without_injecting() {
    let spec = gated(json!({}));
    let mut st = waiting(&[workload(1, 3, 2)]);
    st.request_stop(stop(RunReason::Signal));
    assert_finish(decide(&spec, &st, t(5)), RunReason::Signal);
    let st = waiting(&[
        workload(1, 3, 2),
        Observation::new(
            t(2),
            Happening::ObservationFailed {
                detail: "403".into(),
            },
        ),
    ]);
    assert_finish(decide(&spec, &st, t(5)), RunReason::ObservationFailed);
}

// ----- abort rules that are queries ------------------------------------------------------------

fn alert(at: i64, name: &str, state: crate::observe::AlertState) -> Observation {
    Observation::new(
        t(at),
        Happening::Alert {
            name: name.into(),
            state,
        },
    )
}

fn crossed(at: i64, crossed: bool) -> Observation {
    Observation::new(
        t(at),
        Happening::AbortQuery {
            crossed,
            detail: format!("value {}", if crossed { 0.97 } else { 0.5 }),
        },
    )
}

#[test]
fn a_firing_alert_named_in_abort_alerts_reverts_and_says_which() {
    use crate::observe::AlertState;
    let spec = spec_with(json!({"alerts": ["NodeMemoryHigh"]}), "30m");
    let st = leaking(&[alert(100, "NodeMemoryHigh", AlertState::Pending)]);
    assert_eq!(decide(&spec, &st, t(110)), Step::Observe { until: t(1810) });
    let st = leaking(&[
        alert(100, "OtherAlert", AlertState::Firing),
        alert(120, "NodeMemoryHigh", AlertState::Firing),
    ]);
    match decide(&spec, &st, t(125)) {
        Step::Revert(e) => {
            assert_eq!(e.reason, RunReason::AbortRule);
            assert_eq!(e.rule, Some(AbortCause::Alert("NodeMemoryHigh".into())));
            assert!(
                e.message.contains("alert NodeMemoryHigh is firing"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[test]
fn a_promql_rule_fires_once_its_line_stayed_crossed_for_its_for() {
    let spec = spec_with(
        json!({"promql": {"query": "up", "above": 0.9, "for": "1m"}}),
        "30m",
    );
    // Crossed at t(100): judged again at t(160), and fires then.
    let st = leaking(&[crossed(100, true)]);
    assert_eq!(decide(&spec, &st, t(100)), Step::Observe { until: t(160) });
    match decide(&spec, &st, t(160)) {
        Step::Revert(e) => {
            assert_eq!(e.rule, Some(AbortCause::Promql));
            assert!(e.message.contains("`up` went above 0.9"), "{}", e.message);
        }
        other => panic!("expected a revert, got {other:?}"),
    }
    // Back within its line before `for`: the clock starts again at the next crossing.
    let st = leaking(&[crossed(100, true), crossed(130, false), crossed(150, true)]);
    assert_eq!(decide(&spec, &st, t(160)), Step::Observe { until: t(210) });
}
