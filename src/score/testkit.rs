//! Hand-built runs for tests of the scorer and the reports.

use crate::defences::Defences;
use crate::engine::RunRecord;
use crate::observe::{Happening, Observation, PodRef, Timeline};
use crate::spec::{LeakExperimentSpec, Phase};

/// The one test clock, for the tests of the scorer and the reports.
pub use crate::testkit::t;

/// A spec from the given fields over a minimal valid base (linear leak, 10 min, 5 min recovery).
pub fn spec(extra: serde_json::Value) -> LeakExperimentSpec {
    let mut base = serde_json::json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "start": "64Mi", "max": "2Gi"},
        "duration": "10m",
        "recovery": "5m",
    });
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    serde_json::from_value(base).expect("valid test spec")
}

pub fn pod(name: &str, node: &str, target: bool) -> PodRef {
    PodRef {
        name: name.into(),
        node: Some(node.into()),
        target,
    }
}

/// A run: leak from t(0), reverted at t(600), finished at t(900), with these observations.
pub fn record(spec: LeakExperimentSpec, events: Vec<(i64, Happening)>) -> RunRecord {
    let timeline: Timeline = events
        .into_iter()
        .map(|(s, e)| Observation::new(t(s), e))
        .collect::<Vec<_>>()
        .into();
    RunRecord {
        run_id: "run-1".into(),
        experiment: "checkout-leak".into(),
        namespace: "shop".into(),
        spec,
        cluster: "test".into(),
        simulated: false,
        phase: Phase::Completed,
        reason: Some(crate::spec::RunReason::DurationElapsed),
        message: None,
        error: None,
        started: t(-30),
        injected: Some(t(0)),
        reverted: Some(t(600)),
        recovered: None,
        finished: t(900),
        injection: None,
        defences: None,
        timeline,
    }
}

pub fn leaker_started(pod_name: &str, node: &str) -> Happening {
    Happening::LeakerStarted {
        pod: pod(pod_name, node, true),
    }
}

pub fn workload(desired: u32, ready: u32) -> Happening {
    Happening::workload(desired, ready)
}

/// Defences from YAML of a pod template, with the given PDB/LimitRange/HPA objects as JSON.
pub fn defences(template: serde_json::Value, replicas: u32) -> Defences {
    Defences {
        namespace: "shop".into(),
        kind: crate::spec::TargetKind::Deployment,
        name: "checkout".into(),
        replicas,
        template: Some(serde_json::from_value(template).expect("valid template")),
        ..Defences::default()
    }
}
