//! Pure builders of what the controller writes: LeakRun objects, their status at each phase
//! and at the end, and the experiment's status derived from its runs.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Resource, ResourceExt};

use crate::engine::{InjectionPlan, RunRecord};
use crate::narrate::{self, Narrator};
use crate::observe::{Observation, Time};
use crate::spec::{
    LeakExperiment, LeakExperimentStatus, LeakRun, LeakRunSpec, LeakRunStatus, Phase, TimelineLine,
    Trigger,
};

use super::decide::{EXPERIMENT_LABEL, RUN_FINALIZER, run_name};
use super::executor::RunUpdate;
use super::schedule::{SkipReason, merge_skipped};

/// Lines kept in `status.timeline`: the first ones and the last ones of a long run.
pub const TIMELINE_HEAD: usize = 40;
pub const TIMELINE_TAIL: usize = 10;

/// A new LeakRun for `exp`, started at `at` (a scheduled run: its fire time): owned by the
/// experiment, carrying a copy of its spec and, from birth, the revert finalizer.
pub fn new_run(
    exp: &LeakExperiment,
    trigger: Trigger,
    at: Time,
    scheduled: Option<Time>,
) -> Result<LeakRun, super::Error> {
    let name = exp
        .metadata
        .name
        .clone()
        .ok_or(super::Error::Missing("metadata.name"))?;
    let namespace = exp
        .metadata
        .namespace
        .clone()
        .ok_or(super::Error::Missing("metadata.namespace"))?;
    let owner = exp
        .controller_owner_ref(&())
        .ok_or(super::Error::Missing("metadata.uid"))?;
    let mut run = LeakRun::new(
        &run_name(&name, at),
        LeakRunSpec {
            experiment: name.clone(),
            experiment_spec: exp.spec.clone(),
            trigger,
            scheduled_time: scheduled.map(|t| t.to_string()),
        },
    );
    run.metadata.namespace = Some(namespace);
    run.metadata.owner_references = Some(vec![owner]);
    run.metadata.finalizers = Some(vec![RUN_FINALIZER.into()]);
    // Label values are limited to 63 characters; spec.experiment always names it.
    if name.len() <= 63 {
        run.metadata.labels = Some([(EXPERIMENT_LABEL.to_string(), name)].into());
    }
    Ok(run)
}

/// The experiment a run belongs to, as an Event's object reference (from its owner reference).
pub fn experiment_ref(run: &LeakRun) -> Option<ObjectReference> {
    let owner = run
        .owner_references()
        .iter()
        .find(|o| o.kind == "LeakExperiment")?;
    Some(ObjectReference {
        api_version: Some(owner.api_version.clone()),
        kind: Some(owner.kind.clone()),
        name: Some(owner.name.clone()),
        namespace: run.namespace(),
        uid: Some(owner.uid.clone()),
        ..Default::default()
    })
}

/// The run's status after an update from the engine.
pub fn apply_update(status: &mut LeakRunStatus, run: &LeakRun, update: &RunUpdate) {
    let RunUpdate::Phase {
        phase, at, until, ..
    } = update
    else {
        return;
    };
    status.phase = *phase;
    match phase {
        Phase::Injecting => {
            if let Some(deadline) = until {
                status.deadline = Some(deadline.to_string());
                // What the engine is about to put in place: written before it exists, so that
                // a controller dying mid-inject leaves enough behind to revert it.
                let plan = InjectionPlan {
                    run_id: run.name_any(),
                    namespace: run.namespace().unwrap_or_default(),
                    spec: run.spec.experiment_spec.clone(),
                    deadline: *deadline,
                };
                status.injection = Some(plan.record());
            }
        }
        Phase::Leaking => status.injected_time = Some(at.to_string()),
        Phase::Recovering => status.reverted_time = Some(at.to_string()),
        _ => {}
    }
    push_line(status, *at, &update_line(update));
}

fn push_line(status: &mut LeakRunStatus, at: Time, message: &str) {
    if status.timeline.len() < TIMELINE_HEAD {
        status.timeline.push(TimelineLine {
            time: at.to_string(),
            message: message.into(),
        });
    }
}

fn update_line(u: &RunUpdate) -> String {
    match u {
        RunUpdate::Phase { phase, note, .. } => match note {
            Some(n) => format!("{phase:?}: {n}"),
            None => format!("{phase:?}"),
        },
        RunUpdate::Notable(o) => describe(o).unwrap_or_default(),
    }
}

/// The one narrator's sentence for an observation worth a timeline line or an Event; `None`
/// for the rest. Judged on its own (a budget sample reads as a breach when it is below).
pub fn describe(o: &Observation) -> Option<String> {
    Narrator::default().line(o).map(|l| l.text)
}

/// The Event (type is Warning when true, reason) for an update, if it deserves one.
pub fn event_for(u: &RunUpdate) -> Option<(bool, &'static str, String)> {
    match u {
        RunUpdate::Phase {
            phase: Phase::Leaking,
            ..
        } => Some((false, "Injected", "the leaker is in place".into())),
        RunUpdate::Phase {
            phase: Phase::Recovering,
            ..
        } => Some((false, "Reverted", "the leaker was taken out".into())),
        RunUpdate::Notable(o) => Narrator::default()
            .line(o)
            .map(|l| (l.warning, l.reason, l.text)),
        _ => None,
    }
}

/// The run's final status from the engine's record and its score.
pub fn final_status(
    record: &RunRecord,
    score: &crate::score::Score,
    summary: crate::spec::RunSummary,
) -> LeakRunStatus {
    let lines: Vec<TimelineLine> =
        narrate::story(record.timeline.entries(), &record.spec.target.name)
            .into_iter()
            .map(|l| TimelineLine {
                time: l.at.to_string(),
                message: l.text,
            })
            .collect();
    let timeline = if lines.len() > TIMELINE_HEAD + TIMELINE_TAIL {
        let mut t = lines[..TIMELINE_HEAD].to_vec();
        t.extend_from_slice(&lines[lines.len() - TIMELINE_TAIL..]);
        t
    } else {
        lines
    };
    LeakRunStatus {
        phase: record.phase,
        start_time: Some(record.started.to_string()),
        injected_time: record.injected.map(|t| t.to_string()),
        reverted_time: record.reverted.map(|t| t.to_string()),
        completion_time: Some(record.finished.to_string()),
        deadline: record.injection.as_ref().map(|i| i.deadline.clone()),
        injection: record.injection.clone(),
        summary: Some(summary),
        score: score.total,
        grade: score.grade.map(|g| g.to_string()),
        verdict: Some(score.verdict),
        reason: record.reason.clone(),
        message: record.message.clone(),
        timeline,
    }
}

/// The status of experiment `name` from its runs (every LeakRun of the namespace may be passed),
/// the schedule's decision and the runs just skipped.
pub fn experiment_status(
    old: &LeakExperimentStatus,
    name: &str,
    runs: &[LeakRun],
    next_run_time: Option<Time>,
    skipped: &[(Time, SkipReason)],
    generation: Option<i64>,
) -> LeakExperimentStatus {
    let mut own: Vec<&LeakRun> = runs.iter().filter(|r| r.spec.experiment == name).collect();
    // Newest first: by creation time, then by name (which ends in the start time).
    own.sort_by(|a, b| {
        let key = |r: &LeakRun| {
            (
                r.metadata.creation_timestamp.as_ref().map(|t| t.0),
                r.metadata.name.clone(),
            )
        };
        key(b).cmp(&key(a))
    });
    let phase = |r: &LeakRun| r.status.as_ref().map(|s| s.phase).unwrap_or_default();
    let newest = own.first();
    let finished = own.iter().find(|r| phase(r).is_finished());
    let fstatus = finished.and_then(|r| r.status.as_ref());
    LeakExperimentStatus {
        last_run: newest.and_then(|r| r.metadata.name.clone()),
        last_run_time: newest.and_then(|r| run_started(r)),
        last_score: fstatus.and_then(|s| s.score),
        last_grade: fstatus.and_then(|s| s.grade.clone()),
        last_verdict: fstatus.and_then(|s| s.verdict),
        next_run_time: next_run_time.map(|t| t.to_string()),
        active_run: own
            .iter()
            .find(|r| !phase(r).is_finished())
            .and_then(|r| r.metadata.name.clone()),
        skipped: merge_skipped(&old.skipped, skipped),
        observed_generation: generation,
    }
}

/// A server-side-apply body for a status: only `status`, with the type's identity.
pub fn status_patch<S: serde::Serialize>(kind: &str, status: &S) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": crate::spec::API_VERSION,
        "kind": kind,
        "status": status,
    })
}

/// When a run started: its recorded start, else when the schedule wanted it, else when the
/// LeakRun was created (RFC 3339).
pub fn run_started(r: &LeakRun) -> Option<String> {
    r.status
        .as_ref()
        .and_then(|s| s.start_time.clone())
        .or_else(|| r.spec.scheduled_time.clone())
        .or_else(|| {
            r.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LeakRunStatus, Verdict};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;

    fn ts(s: &str) -> Time {
        s.parse().expect("time")
    }

    fn exp() -> LeakExperiment {
        let spec = serde_json::from_value(serde_json::json!({
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
            "duration": "30m"
        }))
        .expect("spec");
        let mut e = LeakExperiment::new("checkout-leak", spec);
        e.metadata.namespace = Some("shop".into());
        e.metadata.uid = Some("uid-1".into());
        e
    }

    #[test]
    fn new_run_is_owned_finalized_and_named_after_its_time() {
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
        assert_eq!(r.metadata.finalizers, Some(vec![RUN_FINALIZER.to_string()]));
        let owner = &r.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("LeakExperiment", "uid-1", Some(true))
        );
        assert_eq!(r.spec.experiment_spec, e.spec);
        assert_eq!(
            r.spec.scheduled_time.as_deref(),
            Some("2026-11-24T03:00:00Z")
        );
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
                note: Some("injecting".into()),
            },
        );
        assert_eq!(s.phase, Phase::Injecting);
        assert_eq!(s.deadline.as_deref(), Some("2026-11-24T03:30:01Z"));
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
                note: None,
            },
        );
        assert_eq!(s.injected_time.as_deref(), Some("2026-11-24T03:00:20Z"));
        assert_eq!(s.timeline.len(), 2);
    }

    #[test]
    fn experiment_status_from_runs() {
        let e = exp();
        let mk = |at: &str, phase: Phase, score: Option<u32>| {
            let mut r = new_run(&e, Trigger::Schedule, ts(at), None).expect("run");
            r.metadata.creation_timestamp = Some(K8sTime(ts(at)));
            r.status = Some(LeakRunStatus {
                phase,
                start_time: Some(at.into()),
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
        let s = experiment_status(
            &LeakExperimentStatus::default(),
            "checkout-leak",
            &runs,
            Some(ts("2026-12-01T03:00:00Z")),
            &[(ts("2026-11-23T03:00:00Z"), SkipReason::Blackout)],
            Some(2),
        );
        assert_eq!(s.last_run.as_deref(), Some("checkout-leak-20261124-030000"));
        assert_eq!(s.last_run_time.as_deref(), Some("2026-11-24T03:00:00Z"));
        assert_eq!(
            s.active_run.as_deref(),
            Some("checkout-leak-20261124-030000")
        );
        assert_eq!(s.last_score, Some(81));
        assert_eq!(s.last_verdict, Some(Verdict::Passed));
        assert_eq!(s.next_run_time.as_deref(), Some("2026-12-01T03:00:00Z"));
        assert_eq!(s.skipped[0].reason, "Blackout");
        assert_eq!(s.observed_generation, Some(2));
    }
}
