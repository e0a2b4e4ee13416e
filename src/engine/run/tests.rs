use super::*;
use crate::engine::NoProbes;
use crate::engine::testing::{Script, ScriptedCluster};
use crate::observe::{DisruptionCause, PodRef};
use crate::spec::AbortCause;
use serde_json::json;

use crate::testkit::{EPOCH as START, t};

fn exp(abort: serde_json::Value) -> ExperimentRef {
    ExperimentRef {
        name: "black-friday".into(),
        namespace: "shop".into(),
        spec: serde_json::from_value(json!({
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "2Gi"},
            "duration": "30m",
            "recovery": "10m",
            "abort": abort,
        }))
        .unwrap(),
    }
}

fn opts() -> RunOptions {
    RunOptions {
        revert_attempts: 3,
        revert_backoff: StdDuration::ZERO,
        revert_backoff_max: StdDuration::ZERO,
        ..RunOptions::new("black-friday-1")
    }
}

fn obs(at: i64, event: Happening) -> Observation {
    Observation::new(t(at), event)
}

fn bytes(at: i64, b: u64) -> Observation {
    obs(
        at,
        Happening::LeakerBytes {
            pod: "checkout-1".into(),
            bytes: b,
        },
    )
}

fn workload(at: i64, ready: u32) -> Observation {
    obs(at, Happening::workload(4, ready))
}

fn bystander(at: i64, name: &str) -> Observation {
    obs(
        at,
        Happening::PodEvicted {
            pod: PodRef {
                name: name.into(),
                node: Some("n1".into()),
                target: false,
            },
            cause: DisruptionCause::TerminationByKubelet,
            message: "The node was low on resource: memory.".into(),
        },
    )
}

/// A leak that hurts: the workload dips while leaking and is healthy 90 s after the revert
/// at t(1800); two bystanders evicted at t(600) and t(700).
fn story() -> Vec<Observation> {
    vec![
        workload(0, 4),
        obs(
            5,
            Happening::LeakerStarted {
                pod: PodRef {
                    name: "checkout-1".into(),
                    node: Some("n1".into()),
                    target: true,
                },
            },
        ),
        bytes(60, 100 << 20),
        bytes(60, 100 << 20), // a re-list: not new
        workload(500, 2),
        bystander(600, "cart-1"),
        bystander(700, "cart-2"),
        workload(1890, 4),
    ]
}

async fn go(
    cluster: &mut ScriptedCluster,
    exp: &ExperimentRef,
    stop: &mut StopSignal,
) -> (crate::Result<RunRecord>, Vec<Phase>) {
    let mut phases = Vec::new();
    let res = run(cluster, &mut NoProbes, exp, &opts(), stop, &mut |p| {
        if phases.last() != Some(&p.phase) {
            phases.push(p.phase);
        }
    })
    .await;
    (res, phases)
}

fn reverted_once(c: &ScriptedCluster) {
    assert_eq!(c.count("revert"), 1, "{:?}", c.calls);
    assert_eq!(c.reverted[0].run_id, "black-friday-1");
    assert_eq!(c.reverted[0].name, "checkout");
}

#[tokio::test]
async fn duration_elapses_then_recovery_is_measured() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.inject_secs = 30;
    let (res, phases) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(r.reason, Some(RunReason::DurationElapsed));
    assert_eq!(r.injected, Some(t(30)));
    // The deadline is 30m after the inject started.
    assert_eq!(r.reverted, Some(t(1800)));
    assert_eq!(r.recovered, Some(t(1890)));
    assert_eq!(r.finished, t(1890));
    assert_eq!(r.injection.as_ref().unwrap().pods, vec!["checkout-1"]);
    assert!(r.defences.is_some());
    assert_eq!(
        phases,
        [
            Phase::Pending,
            Phase::Injecting,
            Phase::Leaking,
            Phase::Reverting,
            Phase::Recovering,
            Phase::Completed
        ]
    );
    reverted_once(&c);
    let plan = c.plan.unwrap();
    assert_eq!(plan.deadline, t(1800));
    assert_eq!(c.reverted[0].pods, vec!["checkout-1"]);
    // The duplicate LeakerBytes was dropped; oomsday's milestones are in the timeline.
    let n_bytes = r
        .timeline
        .iter()
        .filter(|o| matches!(o.happening, Happening::LeakerBytes { .. }))
        .count();
    assert_eq!(n_bytes, 1);
    assert!(r.timeline.iter().any(|o| matches!(
        o.happening,
        Happening::RunPhase {
            phase: Phase::Reverting,
            ..
        }
    )));
}

#[tokio::test]
async fn refresh_wakes_more_often_without_changing_the_record() {
    let mut plain = ScriptedCluster::new(t(0), story());
    let (a, _) = go(&mut plain, &exp(json!(null)), &mut StopSignal::never()).await;
    let mut ticking = ScriptedCluster::new(t(0), story());
    let opts = RunOptions {
        refresh: Some(StdDuration::from_secs(60)),
        ..opts()
    };
    let mut now_seen = Vec::new();
    let b = run(
        &mut ticking,
        &mut NoProbes,
        &exp(json!(null)),
        &opts,
        &mut StopSignal::never(),
        &mut |p| now_seen.push(p.now),
    )
    .await;
    assert_eq!(a.unwrap(), b.unwrap());
    assert!(
        ticking.count("observe") >= 30,
        "{}",
        ticking.count("observe")
    );
    assert!(
        now_seen
            .windows(2)
            .all(|w| w[1].duration_since(w[0]).as_secs() <= 60)
    );
}

/// Probes every 5 minutes; fails while the workload is down in the story.
struct EveryFive {
    next: Option<Time>,
    polled: Vec<Time>,
}

impl Probes for EveryFive {
    fn next_due(&self, _stage: Stage) -> Option<Time> {
        Some(self.next.unwrap_or(Time::MIN))
    }
    async fn poll(&mut self, now: Time, _stage: Stage) -> Vec<Observation> {
        self.polled.push(now);
        self.next = Some(add(now, StdDuration::from_secs(300)));
        let ok = now < t(500) || now >= t(1890);
        vec![obs(
            now.as_second() - START,
            Happening::Probe {
                name: "health".into(),
                ok,
                detail: String::new(),
            },
        )]
    }
}

#[tokio::test]
async fn probes_are_polled_while_leaking_and_recovering() {
    let mut c = ScriptedCluster::new(t(0), story());
    let mut probes = EveryFive {
        next: None,
        polled: Vec::new(),
    };
    let r = run(
        &mut c,
        &mut probes,
        &exp(json!(null)),
        &opts(),
        &mut StopSignal::never(),
        &mut |_| {},
    )
    .await
    .unwrap();
    // From injection (t0) every 5 minutes through the deadline, then in recovery until it
    // is reached at t(1890).
    let want: Vec<Time> = (0..=6).map(|i| t(i * 300)).collect();
    assert_eq!(probes.polled, want);
    let failed = r
        .timeline
        .iter()
        .filter(|o| matches!(o.happening, Happening::Probe { ok: false, .. }))
        .count();
    assert_eq!(failed, 5, "t(600)..t(1800)");
    assert_eq!(r.recovered, Some(t(1890)));
}

#[tokio::test]
async fn abort_rule_reverts_at_once_and_still_watches_recovery() {
    let mut c = ScriptedCluster::new(t(0), story());
    let (res, _) = go(
        &mut c,
        &exp(json!({"bystanderEvictions": 2})),
        &mut StopSignal::never(),
    )
    .await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Aborted);
    assert_eq!(r.reason, Some(RunReason::AbortRule));
    assert!(r.message.as_deref().unwrap().contains("bystander"));
    assert_eq!(r.reverted, Some(t(700)));
    // Still not healthy at the end of the window (ready 2/4 until t(1890) > 700+600).
    assert_eq!(r.recovered, None);
    assert_eq!(r.finished, t(1300));
    reverted_once(&c);
    assert!(r.timeline.iter().any(|o| matches!(
        &o.happening,
        Happening::Abort {
            reason: RunReason::AbortRule,
            rule: Some(AbortCause::Bystanders),
            ..
        }
    )));
}

#[tokio::test]
async fn an_aborted_ephemeral_leak_says_it_runs_on_until_its_deadline() {
    let mut e = exp(json!({"bystanderEvictions": 1}));
    e.spec.injection.mode = InjectionMode::Ephemeral;
    let mut c = ScriptedCluster::new(t(0), story());
    let (res, _) = go(&mut c, &e, &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Aborted);
    let msg = r.message.unwrap();
    assert!(msg.contains("cannot be removed"), "{msg}");
    assert!(msg.contains(&t(1800).to_string()), "{msg}");
    assert_eq!(c.reverted[0].mode, InjectionMode::Ephemeral);
}

#[tokio::test]
async fn signal_while_leaking_reverts_and_does_not_wait_for_recovery() {
    let mut c = ScriptedCluster::new(t(0), story());
    let (handle, mut stop) = stop_channel();
    let mut phases = Vec::new();
    let r = run(
        &mut c,
        &mut NoProbes,
        &exp(json!(null)),
        &opts(),
        &mut stop,
        &mut |p| {
            phases.push(p.phase);
            if p.tally.bystander_pods() >= 1 {
                handle.stop(RunReason::Signal, "SIGINT");
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(r.phase, Phase::Aborted);
    assert_eq!(r.reason, Some(RunReason::Signal));
    assert_eq!(r.reverted, Some(t(600)));
    assert_eq!(r.finished, t(600));
    reverted_once(&c);
}

#[tokio::test]
async fn signal_while_observe_is_waiting_reverts() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.observe_hangs_at = Some(t(100));
    let (handle, mut stop) = stop_channel();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        handle.stop(RunReason::AbortAnnotation, "oomsday.dev/abort=please");
    });
    let (res, _) = go(&mut c, &exp(json!(null)), &mut stop).await;
    stopper.await.unwrap();
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Aborted);
    assert_eq!(r.reason, Some(RunReason::AbortAnnotation));
    assert_eq!(r.reverted, Some(t(100)));
    reverted_once(&c);
}

#[tokio::test]
async fn signal_during_inject_reverts_what_may_have_been_applied() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.inject = Script::Hang;
    let (handle, mut stop) = stop_channel();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        handle.stop(RunReason::Signal, "SIGTERM");
    });
    let (res, _) = go(&mut c, &exp(json!(null)), &mut stop).await;
    stopper.await.unwrap();
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Aborted);
    assert_eq!(r.injected, None);
    reverted_once(&c);
    assert_eq!(c.reverted[0].container, crate::keys::LEAKER_CONTAINER);
}

#[tokio::test]
async fn observe_error_reverts_and_fails() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.observe_fails_at = Some(t(650));
    let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Failed);
    assert_eq!(r.reason, Some(RunReason::ObservationFailed));
    assert!(r.message.as_deref().unwrap().contains("connection reset"));
    assert_eq!(r.reverted, Some(t(650)));
    assert!(
        r.timeline
            .iter()
            .any(|o| matches!(o.happening, Happening::ObservationFailed { .. }))
    );
    reverted_once(&c);
}

#[tokio::test]
async fn inject_error_is_reverted_and_recorded() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.inject = Script::Fail("admission webhook denied the request".into());
    let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Failed);
    assert_eq!(r.reason, Some(RunReason::InjectFailed));
    assert!(r.message.as_deref().unwrap().contains("webhook"));
    assert_eq!(r.injected, None);
    reverted_once(&c);
    assert_eq!(c.count("observe"), 0);
}

#[tokio::test]
async fn preflight_error_touches_nothing() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.preflight = Script::Fail("deployments.apps \"checkout\" not found".into());
    let (res, phases) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Failed);
    assert_eq!(r.reason, Some(RunReason::PreflightFailed));
    assert_eq!(r.injection, None);
    assert_eq!(r.reverted, None);
    assert_eq!(c.calls.names(), ["preflight"]);
    assert_eq!(phases, [Phase::Pending, Phase::Failed]);
}

#[tokio::test]
async fn revert_is_retried() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.reverts = [Script::Fail("429".into()), Script::Fail("503".into())].into();
    let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(c.count("revert"), 3);
}

#[tokio::test]
async fn revert_failure_is_an_error_that_carries_the_record() {
    let mut c = ScriptedCluster::new(t(0), story());
    c.reverts = std::iter::repeat_n(Script::Fail("403 forbidden".into()), 5).collect();
    let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let err = res.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("oomsday cleanup -n shop"), "{text}");
    assert!(text.contains("403 forbidden"), "{text}");
    let crate::Error::RevertFailed { record, .. } = err else {
        panic!("not RevertFailed: {err}");
    };
    assert_eq!(record.phase, Phase::Failed);
    assert_eq!(record.reason, Some(RunReason::RevertFailed));
    assert_eq!(c.count("revert"), 3);
}

#[tokio::test]
async fn leaker_that_never_started_leaves_the_facts() {
    // Nothing but workload samples: the record shows an injection but no leaker, so the
    // scorer can call the run inconclusive.
    let mut c = ScriptedCluster::new(t(0), vec![workload(0, 4)]);
    let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
    let r = res.unwrap();
    assert_eq!(r.phase, Phase::Completed);
    assert!(r.injected.is_some());
    assert!(!r.timeline.iter().any(|o| matches!(
        o.happening,
        Happening::LeakerStarted { .. } | Happening::LeakerBytes { .. }
    )));
    assert_eq!(r.recovered, Some(t(1800)));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Case {
        preflight_fails: bool,
        inject_fails: bool,
        observe_fails_at: Option<i64>,
        revert_failures: usize,
        stop_after: Option<usize>,
        bystander_limit: Option<u32>,
        events: Vec<(i64, u8, u32)>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0i64..4000),
            0usize..5,
            proptest::option::of(0usize..40),
            proptest::option::of(1u32..4),
            proptest::collection::vec((0i64..4000, 0u8..4, 0u32..5), 0..40),
        )
            .prop_map(|(p, i, o, r, s, b, e)| Case {
                preflight_fails: p && i, // rarer than inject failures
                inject_fails: i && !p,
                observe_fails_at: o,
                revert_failures: r,
                stop_after: s,
                bystander_limit: b,
                events: e,
            })
    }

    fn event(at: i64, kind: u8, n: u32) -> Observation {
        match kind {
            0 => workload(at, n),
            1 => bystander(at, &format!("b{n}")),
            2 => obs(
                at,
                Happening::NodeCondition {
                    node: format!("n{n}"),
                    condition: crate::observe::NodeConditionKind::Ready,
                    status: n.is_multiple_of(2),
                    reason: String::new(),
                },
            ),
            _ => bytes(at, u64::from(n) << 20),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever happens, anything that may have been injected is reverted, a run
        /// never injects twice, and the record is finished and consistent.
        #[test]
        fn nothing_is_left_injected(c in case()) {
            let script = c.events.iter().map(|&(at, k, n)| event(at, k, n)).collect();
            let mut cluster = ScriptedCluster::new(t(0), script);
            if c.preflight_fails {
                cluster.preflight = Script::Fail("nope".into());
            }
            if c.inject_fails {
                cluster.inject = Script::Fail("nope".into());
            }
            cluster.observe_fails_at = c.observe_fails_at.map(t);
            cluster.reverts = (0..c.revert_failures).map(|_| Script::Fail("503".into())).collect();
            let abort = match c.bystander_limit {
                Some(n) => json!({"bystanderEvictions": n}),
                None => json!(null),
            };
            let exp = exp(abort);
            let (handle, mut stop) = stop_channel();
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let mut calls = 0usize;
            let res = rt.block_on(run(&mut cluster, &mut NoProbes, &exp, &opts(), &mut stop, &mut |_| {
                calls += 1;
                if Some(calls) == c.stop_after {
                    handle.stop(RunReason::Signal, "SIGINT");
                }
            }));
            let injected = cluster.count("inject");
            prop_assert!(injected <= 1);
            if c.preflight_fails {
                prop_assert_eq!(injected, 0);
            }
            if injected == 1 {
                prop_assert!(cluster.count("revert") >= 1, "{:?}", cluster.calls);
                // Nothing is observed or injected between the reverts and after a failed one.
                let calls = cluster.calls.names();
                let first = calls.iter().position(|c| *c == "revert").unwrap();
                let reverts = calls[first..].iter().take_while(|c| **c == "revert").count();
                prop_assert_eq!(reverts, cluster.count("revert"));
            } else {
                prop_assert_eq!(cluster.count("revert"), 0);
            }
            let revert_failed = injected == 1 && c.revert_failures >= 3;
            let record = match res {
                Ok(r) => { prop_assert!(!revert_failed); r }
                Err(crate::Error::RevertFailed { record, .. }) => {
                    prop_assert!(revert_failed);
                    *record
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            prop_assert!(record.phase.is_finished());
            prop_assert!(record.reason.is_some());
            prop_assert_eq!(record.reverted.is_some(), injected == 1 && !revert_failed);
            if let (Some(rv), Some(rc)) = (record.reverted, record.recovered) {
                prop_assert!(rc >= rv);
            }
            if let Some(rv) = record.reverted {
                prop_assert!(rv <= t(1800));
            }
            prop_assert!(record.finished >= record.started);
        }
    }
}

#[test]
fn run_ids_are_reproducible_and_valid_names() {
    let a = run_id("Black_Friday", t(0), 7);
    assert_eq!(a, run_id("Black_Friday", t(0), 7));
    assert_ne!(a, run_id("Black_Friday", t(0), 8));
    assert_ne!(a, run_id("Black_Friday", t(1), 7));
    assert!(a.starts_with("black-friday-20270115080000-"), "{a}");
    let long = run_id(&"x".repeat(200), t(0), 0);
    assert!(long.len() <= 63, "{long}");
    for id in [a, long, run_id("--", t(0), 0)] {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{id}"
        );
        assert!(!id.starts_with('-') && !id.ends_with('-'), "{id}");
    }
}

/// Probes that answer only while the run waits for a steady target: failing, as a dead
/// dependency would.
struct FailingGate {
    polled: Vec<(Time, Stage)>,
}

impl Probes for FailingGate {
    fn next_due(&self, stage: Stage) -> Option<Time> {
        (stage == Stage::Steady).then(|| {
            self.polled
                .last()
                .map_or(Time::MIN, |(at, _)| add(*at, StdDuration::from_secs(10)))
        })
    }
    async fn poll(&mut self, now: Time, stage: Stage) -> Vec<Observation> {
        self.polled.push((now, stage));
        vec![obs(
            now.as_second() - START,
            Happening::SteadyProbe {
                name: "payments".into(),
                ok: false,
                detail: "HTTP 503".into(),
            },
        )]
    }
}

fn gated(gate: serde_json::Value) -> ExperimentRef {
    let mut e = exp(json!(null));
    e.spec.steady_state = Some(serde_json::from_value(gate).unwrap());
    e
}

#[tokio::test]
async fn a_target_that_is_not_steady_is_never_injected() {
    // One replica of four never gets ready.
    let mut c = ScriptedCluster::new(t(0), vec![workload(0, 3), workload(200, 3)]);
    let (res, _) = go(
        &mut c,
        &gated(json!({"for": "1m", "timeout": "5m"})),
        &mut StopSignal::never(),
    )
    .await;
    let r = res.unwrap();
    assert_eq!(c.count("inject"), 0, "{:?}", c.calls);
    assert_eq!(c.count("revert"), 0);
    assert_eq!(r.reason, Some(RunReason::NotSteady));
    assert_eq!(r.phase, Phase::Failed);
    assert_eq!((r.injected, r.injection.as_ref()), (None, None));
    assert_eq!(r.finished, t(300));
    let message = r.message.unwrap();
    assert!(message.contains("replicasReady: 3/4 ready"), "{message}");
    assert!(r.timeline.iter().all(|o| !matches!(
        o.happening,
        Happening::Abort { .. } | Happening::LeakerStarted { .. }
    )));
}

#[tokio::test]
async fn a_steady_target_is_injected_after_the_window_and_the_gate_probes_stop_then() {
    let mut c = ScriptedCluster::new(t(0), story());
    let (res, _) = go(
        &mut c,
        &gated(json!({"for": "90s", "timeout": "5m"})),
        &mut StopSignal::never(),
    )
    .await;
    let r = res.unwrap();
    assert_eq!(c.count("inject"), 1);
    assert_eq!(r.injected, Some(t(90)));
    assert_eq!(r.reason, Some(RunReason::DurationElapsed));
    // A failing gate probe keeps the same target out.
    let mut c = ScriptedCluster::new(t(0), story());
    let mut probes = FailingGate { polled: Vec::new() };
    let r = run(
        &mut c,
        &mut probes,
        &gated(json!({"for": "90s", "timeout": "2m",
                      "probes": [{"name": "payments", "http": {"url": "http://payments/"}}]})),
        &opts(),
        &mut StopSignal::never(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(c.count("inject"), 0);
    assert_eq!(r.reason, Some(RunReason::NotSteady));
    assert!(r.message.unwrap().contains("probe payments: HTTP 503"));
    assert!(probes.polled.iter().all(|(_, s)| *s == Stage::Steady));
    // Every 10 s from t(0) until the timeout at t(120) ends the wait.
    let want: Vec<Time> = (0..12).map(|i| t(i * 10)).collect();
    assert_eq!(
        probes.polled.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        want
    );
}
