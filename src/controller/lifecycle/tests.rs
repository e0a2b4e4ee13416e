use super::*;
use crate::spec::{LeakExperimentSpec, LeakRunSpec, Trigger};
use crate::testkit::ts;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;

pub(crate) fn spec() -> LeakExperimentSpec {
    serde_json::from_value(serde_json::json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
        "duration": "30m"
    }))
    .expect("spec")
}

fn run(name: &str, phase: Phase) -> LeakRun {
    let mut r = LeakRun::new(
        name,
        LeakRunSpec {
            experiment: "lx".into(),
            experiment_spec: spec(),
            trigger: Trigger::Schedule,
            scheduled_time: None,
        },
    );
    r.metadata.namespace = Some("shop".into());
    r.status = Some(LeakRunStatus {
        phase,
        ..Default::default()
    });
    r
}

#[test]
fn namespace_gate() {
    let p = TargetPolicy::default();
    let allowed: BTreeMap<String, String> = [(ALLOW_LABEL.to_string(), "true".to_string())].into();
    let none = BTreeMap::new();
    assert!(decide_target_allowed(&p, "shop", &allowed, false).is_ok());
    assert!(decide_target_allowed(&p, "shop", &none, false).is_err());
    let no_label = TargetPolicy {
        require_allow_label: false,
        ..p.clone()
    };
    assert!(decide_target_allowed(&no_label, "shop", &none, false).is_ok());
    // System namespaces need both consents.
    assert!(decide_target_allowed(&p, "kube-system", &allowed, true).is_err());
    let sys = TargetPolicy {
        allow_system_namespaces: true,
        ..p.clone()
    };
    assert!(decide_target_allowed(&sys, "kube-system", &allowed, false).is_err());
    assert!(decide_target_allowed(&sys, "kube-system", &allowed, true).is_ok());
    // ...and still the label.
    assert!(decide_target_allowed(&sys, "kube-system", &none, true).is_err());
}

fn with_finalizer(mut r: LeakRun) -> LeakRun {
    r.metadata.finalizers = Some(vec![RUN_FINALIZER.into()]);
    r
}

#[test]
fn run_decisions() {
    let now = ts("2026-11-24T12:00:00Z");
    // Running here: nothing, unless aborted or deleted.
    let mut r = with_finalizer(run("lx-1", Phase::Leaking));
    assert_eq!(decide_run(&r, true, true, now), RunAction::Nothing);
    r.metadata.annotations = Some([(ABORT_ANNOTATION.into(), "enough".into())].into());
    assert!(matches!(
        decide_run(&r, true, true, now),
        RunAction::Stop {
            reason: RunReason::AbortAnnotation,
            ..
        }
    ));
    // Not the leader: never touches anything.
    assert_eq!(decide_run(&r, false, false, now), RunAction::Nothing);

    // Pending: protected by the finalizer first, then started (also when orphaned).
    let p = run("lx-2", Phase::Pending);
    assert_eq!(decide_run(&p, false, true, now), RunAction::Protect);
    assert_eq!(
        decide_run(&with_finalizer(p), false, true, now),
        RunAction::Start
    );

    // Orphaned Leaking past its deadline: revert + Failed(DeadlineExceeded).
    let mut l = with_finalizer(run("lx-3", Phase::Leaking));
    if let Some(s) = l.status.as_mut() {
        s.deadline = Some(ts("2026-11-24T11:30:00Z"));
    }
    match decide_run(&l, false, true, now) {
        RunAction::RevertAndFinish {
            record,
            phase,
            reason,
            ..
        } => {
            assert_eq!(phase, Phase::Failed);
            assert_eq!(reason, RunReason::DeadlineExceeded);
            assert_eq!(record.run_id, "lx-3");
            assert_eq!(record.name, "checkout");
            assert_eq!(record.deadline, "2026-11-24T11:30:00Z");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Orphaned Leaking before its deadline: reverted anyway, not resumed unwatched.
    if let Some(s) = l.status.as_mut() {
        s.deadline = Some(ts("2026-11-24T12:30:00Z"));
    }
    assert!(matches!(
        decide_run(&l, false, true, now),
        RunAction::RevertAndFinish {
            reason: RunReason::ControllerRestarted,
            phase: Phase::Aborted,
            ..
        }
    ));
    // Deleted while leaking and nobody runs it: revert first.
    l.metadata.deletion_timestamp = Some(K8sTime(now));
    assert!(matches!(
        decide_run(&l, false, true, now),
        RunAction::RevertAndFinish {
            reason: RunReason::Deleted,
            ..
        }
    ));
}

#[test]
fn finalizers_end_with_their_purpose() {
    let now = ts("2026-11-24T12:00:00Z");
    // Finished (and reverted) with the finalizer an older version left: released, deleted
    // or not. Without it: nothing at all.
    let mut done = with_finalizer(run("lx-4", Phase::Completed));
    assert_eq!(decide_run(&done, false, true, now), RunAction::Release);
    done.metadata.deletion_timestamp = Some(K8sTime(now));
    assert_eq!(decide_run(&done, false, true, now), RunAction::Release);
    let bare = run("lx-4b", Phase::Completed);
    assert_eq!(decide_run(&bare, false, true, now), RunAction::Nothing);
    // Pending with an abort annotation: finished without starting.
    let mut pa = run("lx-5", Phase::Pending);
    pa.metadata.annotations = Some([(ABORT_ANNOTATION.into(), "no".into())].into());
    assert!(matches!(
        decide_run(&pa, false, true, now),
        RunAction::Finish {
            phase: Phase::Aborted,
            reason: RunReason::AbortAnnotation,
            ..
        }
    ));
    // Ended with a failed revert: retried, the run keeps its Failed phase and its finalizer.
    let mut rf = with_finalizer(run("lx-7", Phase::Failed));
    let record = injection_record(&rf, None);
    if let Some(s) = rf.status.as_mut() {
        s.reason = Some(RunReason::RevertFailed);
        s.injection = Some(record);
    }
    assert!(revert_owed(rf.status.as_ref().expect("status")));
    assert!(matches!(
        decide_run(&rf, false, true, now),
        RunAction::RevertAndFinish {
            phase: Phase::Failed,
            reason: RunReason::RevertFailed,
            ..
        }
    ));
    // ...but once reverted the finalizer goes; a run that failed before injecting
    // anything owes nothing.
    if let Some(s) = rf.status.as_mut() {
        s.reverted_time = Some(ts("2026-11-24T11:59:00Z"));
    }
    assert_eq!(decide_run(&rf, false, true, now), RunAction::Release);
    let mut pf = run("lx-8", Phase::Failed);
    if let Some(s) = pf.status.as_mut() {
        s.reason = Some(RunReason::PreflightFailed);
    }
    assert_eq!(decide_run(&pf, false, true, now), RunAction::Nothing);
    // Reverted but never finished: finished without another revert.
    let mut rec = with_finalizer(run("lx-6", Phase::Recovering));
    if let Some(s) = rec.status.as_mut() {
        s.reverted_time = Some(ts("2026-11-24T11:00:00Z"));
    }
    assert!(matches!(
        decide_run(&rec, false, true, now),
        RunAction::Finish {
            reason: RunReason::ControllerRestarted,
            ..
        }
    ));
}

#[test]
fn run_reasons_serialize_to_their_strings() {
    for r in RunReason::ALL {
        assert_eq!(
            serde_json::to_value(r).expect("json"),
            serde_json::json!(r.as_str())
        );
        assert_eq!(RunReason::parse(r.as_str()), r);
    }
}

#[test]
fn names() {
    assert_eq!(
        run_name("checkout-leak", ts("2026-11-24T03:00:00Z")),
        "checkout-leak-20261124-030000"
    );
    let long = run_name(&"a".repeat(80), ts("2026-11-24T03:00:00Z"));
    assert_eq!(long.len(), 63);
    assert!(crate::inject::check_run_id(&long).is_ok());
    assert_eq!(
        // Cut right after a dash: the dash goes too.
        run_name(&format!("{}-x", "b".repeat(46)), ts("2026-11-24T03:00:00Z")),
        format!("{}-20261124-030000", "b".repeat(46))
    );
    let r = run("x", Phase::Leaking);
    assert!(active_run(&r).is_some());
    assert!(active_run(&run("y", Phase::Aborted)).is_none());
}
