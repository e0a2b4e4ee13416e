//! The LeakExperiment reconciler against the mock API server.

use super::*;
use crate::controller::lifecycle::LEGACY_EXPERIMENT_FINALIZER;
use crate::controller::reconcile::reconcile_experiment;

/// Reconciles `exp` as the leader while the mock API server plays `expects`, and proves every
/// expected call was made.
async fn reconcile_against(exp: &LeakExperiment, expects: Vec<Expect>) {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let v = ApiServerVerifier { handle, log }.run(expects);
    reconcile_experiment(Arc::new(exp.clone()), ctx)
        .await
        .expect("reconcile");
    verified(v).await;
}

fn no_runs() -> Expect {
    expect("GET", RUNS, vec![], |_| run_list(&[]))
}

#[tokio::test]
async fn an_experiment_gets_no_finalizer_and_an_old_one_loses_it() {
    let mut exp = experiment(None);
    exp.meta_mut().finalizers = Some(vec![LEGACY_EXPERIMENT_FINALIZER.into()]);
    let e = exp.clone();
    reconcile_against(
        &exp,
        vec![
            finalizer_removed(
                format!("{EXPS}/checkout-leak"),
                LEGACY_EXPERIMENT_FINALIZER,
                to_value(&exp),
            ),
            no_runs(),
            experiment_status(e, |s| {
                assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
                assert_eq!(condition(s, "Ready")["status"], "True");
                let sched = condition(s, "Scheduled");
                assert_eq!(sched["status"], "True");
                assert_eq!(sched["message"], "next run at 2026-11-24T12:00:00Z");
                assert_eq!(sched["lastTransitionTime"], "2026-11-24T11:00:01Z");
                assert_eq!(sched["observedGeneration"], 1);
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_deleted_experiment_only_loses_the_old_finalizer() {
    // Its runs are garbage-collected (owner references); a run whose leak may be live keeps
    // its own finalizer until the revert. Nothing is listed, annotated or written here.
    let mut exp = experiment(Some("2026-11-24T11:00:00Z"));
    exp.meta_mut().finalizers = Some(vec![LEGACY_EXPERIMENT_FINALIZER.into()]);
    exp.meta_mut().deletion_timestamp = Some(K8sTime(now()));
    reconcile_against(
        &exp,
        vec![finalizer_removed(
            format!("{EXPS}/checkout-leak"),
            LEGACY_EXPERIMENT_FINALIZER,
            to_value(&exp),
        )],
    )
    .await;
}

#[tokio::test]
async fn due_schedule_creates_an_unprotected_leak_run() {
    let exp = experiment(Some("2026-11-24T11:00:00Z"));
    reconcile_against(
        &exp,
        vec![
            no_runs(),
            expect("POST", RUNS, vec![], |b| {
                assert_eq!(b["metadata"]["name"], "checkout-leak-20261124-110000");
                assert!(
                    b["metadata"].get("finalizers").is_none(),
                    "nothing is live yet: {b}"
                );
                assert_eq!(b["metadata"]["ownerReferences"][0]["uid"], "uid-exp");
                assert_eq!(b["metadata"]["ownerReferences"][0]["controller"], true);
                assert_eq!(b["spec"]["trigger"], "Schedule");
                assert_eq!(b["spec"]["scheduledTime"], "2026-11-24T11:00:00Z");
                assert_eq!(b["spec"]["experimentSpec"]["target"]["name"], "checkout");
                let mut created = b.clone();
                created["metadata"]["creationTimestamp"] = json!("2026-11-24T11:00:01Z");
                created["metadata"]["uid"] = json!("uid-new");
                created
            }),
            event("RunCreated", "checkout-leak"),
            experiment_status(exp.clone(), |s| {
                assert_eq!(s["lastRun"], "checkout-leak-20261124-110000");
                assert_eq!(s["activeRun"], "checkout-leak-20261124-110000");
                assert_eq!(s["lastRunTime"], "2026-11-24T11:00:00Z");
                assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
                assert_eq!(s["observedGeneration"], 1);
                assert_eq!(condition(s, "Scheduled")["status"], "True");
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_invalid_schedule_is_not_ready() {
    let mut exp = experiment(None);
    if let Some(s) = exp.spec.schedule.as_mut() {
        s.time_zone = "Mars/Olympus_Mons".into();
    }
    reconcile_against(
        &exp,
        vec![
            no_runs(),
            event("InvalidSchedule", "checkout-leak"),
            experiment_status(exp.clone(), |s| {
                let ready = condition(s, "Ready");
                assert_eq!(
                    (ready["status"].as_str(), ready["reason"].as_str()),
                    (Some("False"), Some("InvalidSchedule"))
                );
                assert!(
                    ready["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("Mars/Olympus_Mons")
                );
                assert_eq!(condition(s, "Scheduled")["status"], "False");
                assert!(s.get("nextRunTime").is_none(), "{s}");
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn run_now_annotation_starts_a_manual_run_and_is_removed() {
    let mut exp = experiment(Some("2026-11-24T12:00:00Z"));
    exp.meta_mut().annotations =
        Some([("oomsday.dev/run-now".to_string(), "now".to_string())].into());
    let e = exp.clone();
    reconcile_against(
        &exp,
        vec![
            no_runs(),
            expect("POST", RUNS, vec![], |b| {
                assert_eq!(b["metadata"]["name"], "checkout-leak-20261124-110001");
                assert_eq!(b["spec"]["trigger"], "Manual");
                assert!(b["spec"].get("scheduledTime").is_none(), "{b}");
                b.clone()
            }),
            event("RunCreated", "checkout-leak"),
            expect("PATCH", format!("{EXPS}/checkout-leak"), vec![], move |b| {
                assert_eq!(
                    b,
                    &json!({"metadata": {"annotations": {"oomsday.dev/run-now": null}}})
                );
                to_value(&e)
            }),
            experiment_status(exp.clone(), |s| {
                assert_eq!(s["lastRun"], "checkout-leak-20261124-110001");
                assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn replace_aborts_the_running_run_before_starting_the_next() {
    let exp = experiment_with(Some("2026-11-24T11:00:00Z"), "Replace");
    let old = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", false);
    let listed = old.clone();
    reconcile_against(
        &exp,
        vec![
            expect("GET", RUNS, vec![], move |_| {
                run_list(std::slice::from_ref(&listed))
            }),
            expect("PATCH", format!("{RUNS}/{RUN_NAME}"), vec![], move |b| {
                assert_eq!(
                    b,
                    &json!({"metadata": {"annotations": {"oomsday.dev/abort": "replaced by the next scheduled run"}}})
                );
                to_value(&old)
            }),
            experiment_status(exp.clone(), |s| {
                assert_eq!(s["activeRun"], RUN_NAME);
                assert_eq!(
                    s["nextRunTime"], "2026-11-24T11:00:00Z",
                    "held until the old run ends"
                );
                assert!(s.get("skipped").is_none(), "{s}");
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn forbid_skips_and_records_while_the_previous_run_leaks() {
    let exp = experiment_with(Some("2026-11-24T11:00:00Z"), "Forbid");
    let old = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", false);
    reconcile_against(
        &exp,
        vec![
            expect("GET", RUNS, vec![], move |_| {
                run_list(std::slice::from_ref(&old))
            }),
            event("RunSkipped", "checkout-leak"),
            experiment_status(exp.clone(), |s| {
                assert_eq!(
                    s["skipped"],
                    json!([{"due": "2026-11-24T11:00:00Z", "reason": "ConcurrencyForbid"}])
                );
                assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_follower_makes_no_call() {
    let Setup {
        ctx, mut handle, ..
    } = setup(false, false);
    reconcile_experiment(Arc::new(experiment(Some("2026-11-24T11:00:00Z"))), ctx)
        .await
        .expect("reconcile");
    no_more_calls(&mut handle).await;
}
