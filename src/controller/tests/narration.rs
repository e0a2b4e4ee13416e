//! One observation reads the same in the CLI's live view, the Markdown report and a LeakRun
//! Event, for every kind of observation the narrator tells.

use crate::cli::run::ProgressView;
use crate::controller::executor::{Narration, RunUpdate};
use crate::controller::status::event_for;
use crate::engine::{ExperimentRef, Progress, RunRecord, Tally};
use crate::observe::{
    AlertState, DisruptionCause, Happening, NodeConditionKind, Observation, PodRef, Timeline,
};
use crate::report::{Format, Report, render};
use crate::spec::{AbortCause, Phase, RunReason};

use crate::testkit::t;

fn pod(name: &str, target: bool) -> PodRef {
    PodRef {
        name: name.into(),
        node: Some("node-7".into()),
        target,
    }
}

/// One observation of every kind that makes a line.
fn every_kind() -> Vec<Happening> {
    vec![
        Happening::RunPhase {
            phase: Phase::Leaking,
            detail: "leaking".into(),
        },
        Happening::LeakerStarted {
            pod: pod("checkout-1", true),
        },
        Happening::OomKilled {
            pod: pod("checkout-1", true),
            container: "app".into(),
            leaker: false,
            restart_count: 2,
        },
        Happening::CrashLoopBackOff {
            pod: pod("checkout-1", true),
            container: "app".into(),
        },
        Happening::PodEvicted {
            pod: pod("cart-3", false),
            cause: DisruptionCause::TerminationByKubelet,
            message: "The node was low on resource: memory.".into(),
        },
        Happening::Baseline {
            nodes: 500,
            nodes_not_ready: 500,
            nodes_under_pressure: 2,
            pods_crash_looping: 50,
            budgets_breached: 0,
        },
        Happening::AdmissionRejected {
            pod: pod("checkout-9", true),
            message: "The node had condition: [MemoryPressure].".into(),
        },
        Happening::NodeCondition {
            node: "node-7".into(),
            condition: NodeConditionKind::MemoryPressure,
            status: true,
            reason: "KubeletHasInsufficientMemory".into(),
        },
        Happening::NodeEvent {
            node: "node-7".into(),
            reason: "SystemOOM".into(),
            message: "System OOM encountered".into(),
        },
        Happening::FailedScheduling {
            pod: "checkout-10".into(),
            insufficient_memory: true,
            message: "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3".into(),
        },
        Happening::workload(4, 1),
        Happening::Budget {
            name: "checkout".into(),
            current_healthy: 1,
            desired_healthy: 3,
            disruptions_allowed: 0,
            expected_pods: 4,
        },
        Happening::Probe {
            name: "health".into(),
            ok: false,
            detail: "HTTP 503".into(),
        },
        Happening::Alert {
            name: "PodMemoryUsageHigh".into(),
            state: AlertState::Firing,
        },
        Happening::AlertCheck {
            ok: false,
            detail: "connection refused".into(),
        },
        Happening::Abort {
            reason: RunReason::AbortRule,
            rule: Some(AbortCause::Bystanders),
            detail: "2 bystander evictions".into(),
        },
        Happening::SteadyProbe {
            name: "health".into(),
            ok: false,
            detail: "HTTP 503".into(),
        },
        Happening::AbortQuery {
            crossed: true,
            detail: "value 0.97, is above 0.9".into(),
        },
        Happening::ObservationFailed {
            detail: "watch pods: 403".into(),
        },
    ]
}

fn exp() -> ExperimentRef {
    ExperimentRef {
        name: "checkout-leak".into(),
        namespace: "shop".into(),
        spec: serde_json::from_value(serde_json::json!({
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
            "duration": "30m"
        }))
        .unwrap_or_else(|e| panic!("spec: {e}")),
    }
}

fn markdown(o: &Observation) -> String {
    let e = exp();
    let mut timeline = Timeline::new();
    timeline.push(o.clone());
    let record = RunRecord {
        run_id: "checkout-leak-1".into(),
        experiment: e.name.clone(),
        namespace: e.namespace.clone(),
        spec: e.spec.clone(),
        cluster: "test".into(),
        simulated: false,
        phase: Phase::Completed,
        reason: None,
        message: None,
        error: None,
        started: t(0),
        injected: Some(t(0)),
        reverted: Some(t(100)),
        recovered: None,
        finished: t(200),
        injection: None,
        defences: None,
        timeline,
    };
    render(&Report::new(record, None), Format::Md)
}

#[test]
fn an_observation_reads_the_same_in_the_cli_the_report_and_a_leak_run_event() {
    let e = exp();
    let tally = Tally::new(t(0));
    for (i, event) in every_kind().into_iter().enumerate() {
        let o = Observation::new(t(10 + i as i64), event);
        let new = [o.clone()];
        let progress = Progress {
            experiment: &e.name,
            run_id: "checkout-leak-1",
            phase: Phase::Leaking,
            started: t(0),
            now: o.at,
            until: None,
            tally: &tally,
            new: &new,
            note: None,
            reason: None,
        };
        let cli = ProgressView::new(&e, false).lines(&progress);
        assert_eq!(cli.len(), 1, "{o:?}: {cli:?}");
        let events: Vec<(bool, &'static str, String)> = Narration::new(&e.spec.target.name)
            .updates(&progress)
            .iter()
            .filter_map(|u| match u {
                RunUpdate::Line(l) => Some(event_for(l)),
                RunUpdate::Phase { .. } => None,
            })
            .collect();
        assert_eq!(events.len(), 1, "{o:?}: {events:?}");
        let (_, reason, note) = &events[0];
        assert_eq!(note, &cli[0], "{o:?}");
        assert!(!reason.is_empty());
        let md = markdown(&o);
        assert!(md.contains(&cli[0]), "{o:?}: {:?} not in\n{md}", cli[0]);
    }
}
