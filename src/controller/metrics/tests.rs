use super::*;

pub(crate) fn sample() -> Metrics {
    let m = Metrics::default();
    let summary = crate::spec::RunSummary {
        oom_kills: 3,
        evictions: 2,
        budget_breached_seconds: 42.5,
        ..Default::default()
    };
    let done = |score, summary| Finished {
        phase: "Completed",
        verdict: "Passed",
        reason: "DurationElapsed",
        score,
        summary,
    };
    m.run_finished("shop", "lx", &done(Some(82), None));
    m.run_finished("shop", "lx", &done(Some(71), Some(&summary)));
    let aborted = Finished {
        phase: "Aborted",
        verdict: "Inconclusive",
        reason: "Signal",
        ..done(None, None)
    };
    m.run_finished("shop", "lx", &aborted);
    let failed = Finished {
        phase: "Failed",
        verdict: "Failed",
        reason: "AbortRule",
        ..done(Some(3), None)
    };
    m.run_finished("shop", "a \"quoted\"\\name", &failed);
    m.set_active_injections(1);
    m.reconcile_error("LeakExperiment", "kube");
    m.reconcile_duration("LeakExperiment", Duration::from_millis(30));
    m.set_leader(true);
    m
}

#[test]
fn renders_every_family() {
    let t = sample().render();
    assert!(t.contains(
        "oomsday_runs_total{namespace=\"shop\",experiment=\"lx\",phase=\"Completed\",verdict=\"Passed\",reason=\"DurationElapsed\"} 2"
    ), "{t}");
    assert!(t.contains("oomsday_last_score{namespace=\"shop\",experiment=\"lx\"} 71"));
    assert!(t.contains("oomsday_active_injections 1"));
    assert!(
        t.contains("oomsday_last_run_oom_kills{namespace=\"shop\",experiment=\"lx\"} 3"),
        "{t}"
    );
    assert!(t.contains("oomsday_last_run_evictions{namespace=\"shop\",experiment=\"lx\"} 2"));
    assert!(t.contains(
        "oomsday_last_run_below_budget_seconds{namespace=\"shop\",experiment=\"lx\"} 42.5"
    ));
    assert!(t.contains("oomsday_leader 1"));
    assert!(t.contains(
        "oomsday_reconcile_errors_total{controller=\"LeakExperiment\",error=\"kube\"} 1"
    ));
    assert!(t.contains(
        "oomsday_reconcile_duration_seconds_bucket{le=\"0.025\",controller=\"LeakExperiment\"} 0"
    ), "{t}");
    assert!(t.contains(
        "oomsday_reconcile_duration_seconds_bucket{le=\"0.05\",controller=\"LeakExperiment\"} 1"
    ));
    assert!(t.ends_with("# EOF\n"));
    let m = sample();
    m.forget("shop", "lx");
    let t = m.render();
    assert!(!t.contains("oomsday_last_score{namespace=\"shop\",experiment=\"lx\"}"));
    assert!(!t.contains("oomsday_last_run_oom_kills{namespace=\"shop\",experiment=\"lx\"}"));
}
