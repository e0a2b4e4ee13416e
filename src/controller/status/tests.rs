use super::*;
use crate::spec::Verdict;
use crate::testkit::ts;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;

fn exp() -> LeakExperiment {
    let spec = serde_json::from_value(serde_json::json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
        "duration": "30m",
        "schedule": {"cron": "0 0 3 * * *", "timeZone": "UTC"}
    }))
    .expect("spec");
    let mut e = LeakExperiment::new("checkout-leak", spec);
    e.metadata.namespace = Some("shop".into());
    e.metadata.uid = Some("uid-1".into());
    e.metadata.generation = Some(2);
    e
}

#[test]
fn new_run_is_owned_unprotected_and_named_after_its_time() {
    let e = exp();
    let r = new_run(
        &e,
        Trigger::Schedule,
        ts("2026-11-24T03:00:00Z"),
        Some(ts("2026-11-24T03:00:00Z")),
    )
    .expect("run");
    assert_eq!(
        r.metadata.name.as_deref(),
        Some("checkout-leak-20261124-030000")
    );
    assert_eq!(r.metadata.finalizers, None, "nothing of it is live yet");
    let owner = &r.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("LeakExperiment", "uid-1", Some(true))
    );
    assert_eq!(r.spec.experiment_spec, e.spec);
    assert_eq!(r.spec.scheduled_time, Some(ts("2026-11-24T03:00:00Z")));
    let eref = experiment_ref(&r).expect("ref");
    assert_eq!(eref.name.as_deref(), Some("checkout-leak"));
    let mut no_uid = exp();
    no_uid.metadata.uid = None;
    assert!(new_run(&no_uid, Trigger::Manual, ts("2026-11-24T03:00:00Z"), None).is_err());
}

#[test]
fn updates_record_the_injection_before_it_exists() {
    let e = exp();
    let r = new_run(&e, Trigger::Manual, ts("2026-11-24T03:00:00Z"), None).expect("run");
    let mut s = LeakRunStatus::default();
    apply_update(
        &mut s,
        &r,
        &RunUpdate::Phase {
            phase: Phase::Injecting,
            at: ts("2026-11-24T03:00:01Z"),
            until: Some(ts("2026-11-24T03:30:01Z")),
        },
    );
    assert_eq!(s.phase, Phase::Injecting);
    assert_eq!(s.deadline, Some(ts("2026-11-24T03:30:01Z")));
    let inj = s.injection.clone().expect("record");
    assert_eq!(
        (inj.name.as_str(), inj.run_id.as_str()),
        ("checkout", "checkout-leak-20261124-030000")
    );
    apply_update(
        &mut s,
        &r,
        &RunUpdate::Phase {
            phase: Phase::Leaking,
            at: ts("2026-11-24T03:00:20Z"),
            until: None,
        },
    );
    assert_eq!(s.injected_time, Some(ts("2026-11-24T03:00:20Z")));
    let s = with_conditions(s, &r, ts("2026-11-24T03:00:20Z"));
    let injected = conditions::find(&s.conditions, conditions::INJECTED).expect("Injected");
    assert_eq!(injected.status, "True");
    // On the wire, times are RFC 3339.
    let wire = serde_json::to_value(&s).expect("json");
    assert_eq!(wire["injectedTime"], "2026-11-24T03:00:20Z");
    assert_eq!(wire["deadline"], "2026-11-24T03:30:01Z");
}

#[test]
fn experiment_status_from_runs() {
    let e = exp();
    let mk = |at: &str, phase: Phase, score: Option<u32>| {
        let mut r = new_run(&e, Trigger::Schedule, ts(at), None).expect("run");
        r.metadata.creation_timestamp = Some(K8sTime(ts(at)));
        r.status = Some(LeakRunStatus {
            phase,
            start_time: Some(ts(at)),
            score,
            grade: score.map(|_| "B".into()),
            verdict: score.map(|_| Verdict::Passed),
            ..Default::default()
        });
        r
    };
    let runs = vec![
        mk("2026-11-20T03:00:00Z", Phase::Completed, Some(60)),
        mk("2026-11-22T03:00:00Z", Phase::Completed, Some(81)),
        mk("2026-11-24T03:00:00Z", Phase::Leaking, None),
    ];
    let now = ts("2026-11-24T03:00:05Z");
    let s = experiment_status(
        &e,
        &runs,
        &ScheduleOutcome {
            next_run_time: Some(ts("2026-12-01T03:00:00Z")),
            skipped: vec![(ts("2026-11-23T03:00:00Z"), SkipReason::Blackout)],
            error: None,
        },
        now,
    );
    assert_eq!(s.last_run.as_deref(), Some("checkout-leak-20261124-030000"));
    assert_eq!(s.last_run_time, Some(ts("2026-11-24T03:00:00Z")));
    assert_eq!(
        s.active_run.as_deref(),
        Some("checkout-leak-20261124-030000")
    );
    assert_eq!(s.last_score, Some(81));
    assert_eq!(s.last_verdict, Some(Verdict::Passed));
    assert_eq!(s.next_run_time, Some(ts("2026-12-01T03:00:00Z")));
    assert_eq!(s.skipped[0].reason, SkipReason::Blackout);
    assert_eq!(s.observed_generation, Some(2));
    let scheduled = conditions::find(&s.conditions, conditions::SCHEDULED).expect("Scheduled");
    assert_eq!(scheduled.status, "True");
    assert!(scheduled.message.contains("2026-12-01T03:00:00Z"));
    assert_eq!(scheduled.observed_generation, Some(2));
    let ready = conditions::find(&s.conditions, conditions::READY).expect("Ready");
    assert_eq!(ready.status, "True");

    let broken = experiment_status(
        &e,
        &runs,
        &ScheduleOutcome {
            error: Some("schedule.timeZone \"Mars/Olympus\" is not an IANA time zone".into()),
            ..Default::default()
        },
        now,
    );
    let ready = conditions::find(&broken.conditions, conditions::READY).expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidSchedule")
    );
}
