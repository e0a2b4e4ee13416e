//! Pure builders of what the controller writes: LeakRun objects, their status at each phase
//! and at the end (with what was measured and what was not), and the experiment's status
//! derived from its runs. Words come from the one narrator ([`crate::narrate`]).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Resource, ResourceExt};

use crate::engine::{InjectionPlan, RunRecord};
use crate::narrate::{self, Line};
use crate::observe::Time;
use crate::predict::Comparison;
use crate::report::Report;
use crate::score::{Analysis, Score};
use crate::spec::{
    AlertStatus, FacetStatus, LeakExperiment, LeakExperimentStatus, LeakRun, LeakRunSpec,
    LeakRunStatus, Phase, PredictionStatus, ProbeStatus, TimelineLine, Trigger,
};

use super::conditions;
use super::executor::RunUpdate;
use super::lifecycle::run_name;
use super::schedule::{SkipReason, merge_skipped};
use crate::keys::EXPERIMENT;

/// Lines kept in `status.timeline` while the run goes, and at its end (the ones that matter
/// most; the report has the whole timeline).
pub const TIMELINE_HEAD: usize = 40;
pub const TIMELINE_MAX: usize = 50;

/// At most this many recommendations in the status, in the report's order.
pub const RECOMMENDATIONS_MAX: usize = 10;

/// A new LeakRun for `exp`, started at `at` (a scheduled run: its fire time): owned by the
/// experiment and carrying a copy of its spec. It has no finalizer: nothing of it is in the
/// cluster until the controller protects it right before the engine may inject.
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
            scheduled_time: scheduled,
        },
    );
    run.metadata.namespace = Some(namespace);
    run.metadata.owner_references = Some(vec![owner]);
    // Label values are limited to 63 characters; spec.experiment always names it.
    if name.len() <= 63 {
        run.metadata.labels = Some([(EXPERIMENT.to_string(), name)].into());
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

/// The run's status after an update from the engine: a phase change moves the phase and its
/// time; a narrated line joins the timeline. The end (Completed, Aborted, Failed) is not taken
/// from progress: it is written once, with the score, by the final status — so `Finished`
/// never turns True before the score is there.
pub fn apply_update(status: &mut LeakRunStatus, run: &LeakRun, update: &RunUpdate) {
    match update {
        RunUpdate::Phase { phase, .. } if phase.is_finished() => {}
        RunUpdate::Phase { phase, at, until } => {
            status.phase = *phase;
            match phase {
                Phase::Injecting => {
                    if let Some(deadline) = until {
                        status.deadline = Some(*deadline);
                        // What the engine is about to put in place: written before it exists,
                        // so that a controller dying mid-inject leaves enough to revert it.
                        let plan = InjectionPlan {
                            run_id: run.name_any(),
                            namespace: run.namespace().unwrap_or_default(),
                            spec: run.spec.experiment_spec.clone(),
                            deadline: *deadline,
                            started: *at,
                        };
                        status.injection = Some(plan.record());
                    }
                }
                Phase::Leaking => status.injected_time = Some(*at),
                Phase::Recovering => status.reverted_time = Some(*at),
                _ => {}
            }
        }
        RunUpdate::Line(line) => {
            if status.timeline.len() < TIMELINE_HEAD {
                status.timeline.push(TimelineLine {
                    time: line.at,
                    message: line.text.clone(),
                });
            }
        }
    }
}

/// The Event for a narrated line: Warning when the line is one, the narrator's reason and its
/// very words.
pub fn event_for(line: &Line) -> (bool, &'static str, String) {
    (line.warning, line.reason, line.text.clone())
}

/// The run's final status from its report (the record, the analysis and score made of it once):
/// what happened, the score facet by facet (what was measured and what was not), the probes,
/// the expected alerts and the prediction beside the outcome.
pub fn final_status(report: &Report) -> LeakRunStatus {
    let (record, score, analysis) = (&report.record, &report.score, &report.analysis);
    let story = narrate::story(record.timeline.entries(), &record.spec.target.name);
    // The run's phases and what the leak did come first; the count of the rest is said.
    let (kept, left_out) = narrate::keep_what_matters(story, TIMELINE_MAX - 1);
    let mut timeline: Vec<TimelineLine> = kept
        .into_iter()
        .map(|l| TimelineLine {
            time: l.at,
            message: l.text,
        })
        .collect();
    if left_out > 0 {
        timeline.push(TimelineLine {
            time: record.finished,
            message: format!(
                "… {left_out} more lines of lesser weight left out (the report has the whole \
                 timeline)"
            ),
        });
    }
    LeakRunStatus {
        phase: record.phase,
        start_time: Some(record.started),
        injected_time: record.injected,
        reverted_time: record.reverted,
        // Who reverted is the caller's to say: the replica that ran it.
        reverted_by: None,
        completion_time: Some(record.finished),
        deadline: record
            .injection
            .as_ref()
            .and_then(|i| i.deadline.parse().ok()),
        injection: record.injection.clone(),
        summary: Some(analysis.summary(record)),
        score: score.total,
        grade: score.grade.map(|g| g.to_string()),
        verdict: Some(score.verdict),
        reason: record.reason,
        message: record.message.clone(),
        timeline,
        facets: facets(score),
        probes: analysis
            .probes
            .iter()
            .map(|(name, p)| ProbeStatus {
                name: name.clone(),
                ok: p.ok,
                total: p.total,
            })
            .collect(),
        alerts: alerts(record, analysis),
        prediction: report
            .comparison
            .as_ref()
            .map(prediction)
            .unwrap_or_default(),
        prediction_warnings: report
            .prediction
            .as_ref()
            .map(|p| p.warnings.clone())
            .unwrap_or_default(),
        recommendations: crate::report::recommendations(report)
            .into_iter()
            .take(RECOMMENDATIONS_MAX)
            .collect(),
        conditions: Vec::new(),
    }
}

/// The prediction beside the outcome, one line per measure and the verdict.
fn prediction(c: &Comparison) -> Vec<PredictionStatus> {
    let mut rows: Vec<PredictionStatus> = c
        .rows
        .iter()
        .map(|r| PredictionStatus {
            measure: r.measure.label().into(),
            predicted: r.predicted_text(),
            observed: r.observed_text(),
            error: r.error_text(),
            within: r.within,
        })
        .collect();
    let first = &c.target_first;
    rows.push(PredictionStatus {
        measure: crate::predict::FirstRow::LABEL.into(),
        predicted: first.predicted_text(),
        observed: first.observed_text(),
        error: "—".into(),
        within: first.within,
    });
    rows.push(PredictionStatus {
        measure: "verdict".into(),
        predicted: format!("{:?}", c.predicted_verdict),
        observed: format!("{:?}", c.observed_verdict),
        error: "—".into(),
        within: Some(c.predicted_verdict == c.observed_verdict),
    });
    rows
}

/// Each facet's points, or why it was not measured.
pub fn facets(score: &Score) -> Vec<FacetStatus> {
    score
        .facets
        .iter()
        .map(|f| FacetStatus {
            name: f.facet.name().into(),
            points: f.points.filter(|_| f.measured).map(|p| p.round() as u32),
            measured: f.measured,
            explanation: f.explanation.clone(),
        })
        .collect()
}

/// Each expected alert: when it fired, and its lead time on the first damage.
pub fn alerts(record: &RunRecord, a: &Analysis) -> Vec<AlertStatus> {
    let secs = |from: Time, to: Time| to.duration_since(from).as_millis() as f64 / 1000.0;
    record
        .spec
        .expect_alerts
        .iter()
        .map(|e| {
            let fired = a.alerts_firing.get(&e.name).copied();
            AlertStatus {
                name: e.name.clone(),
                fired_time: fired,
                fired_after_seconds: fired.map(|at| secs(a.window_start, at)),
                lead_seconds: fired
                    .zip(a.first_damage.as_ref())
                    .map(|(at, d)| secs(at, d.at)),
            }
        })
        .collect()
}

/// A run's status with its conditions brought up to date (`now` dates the changed ones).
pub fn with_conditions(mut s: LeakRunStatus, run: &LeakRun, now: Time) -> LeakRunStatus {
    s.conditions = conditions::merge(
        &s.conditions,
        conditions::run_conditions(&s),
        run.metadata.generation,
        now,
    );
    s
}

/// What the schedule decision said about an experiment, for its status.
#[derive(Debug, Clone, Default)]
pub struct ScheduleOutcome {
    pub next_run_time: Option<Time>,
    pub skipped: Vec<(Time, SkipReason)>,
    /// Why the schedule cannot be used, when it cannot.
    pub error: Option<String>,
}

/// The status of `exp` from its runs (every LeakRun of the namespace may be passed) and the
/// schedule's decision, with its conditions (`now` dates the changed ones).
pub fn experiment_status(
    exp: &LeakExperiment,
    runs: &[LeakRun],
    schedule: &ScheduleOutcome,
    now: Time,
) -> LeakExperimentStatus {
    let name = exp.name_any();
    let old = exp.status.clone().unwrap_or_default();
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
    let mut s = LeakExperimentStatus {
        last_run: newest.and_then(|r| r.metadata.name.clone()),
        last_run_time: newest.and_then(|r| run_started(r)),
        last_score: fstatus.and_then(|s| s.score),
        last_grade: fstatus.and_then(|s| s.grade.clone()),
        last_verdict: fstatus.and_then(|s| s.verdict),
        next_run_time: schedule.next_run_time,
        active_run: own
            .iter()
            .find(|r| !phase(r).is_finished())
            .and_then(|r| r.metadata.name.clone()),
        skipped: merge_skipped(&old.skipped, &schedule.skipped),
        observed_generation: exp.metadata.generation,
        conditions: Vec::new(),
    };
    let sched = exp.spec.schedule.as_ref();
    let wanted = conditions::experiment_conditions(
        &s,
        sched.is_some(),
        sched.is_some_and(|s| s.suspend),
        schedule.error.as_deref(),
    );
    s.conditions = conditions::merge(&old.conditions, wanted, exp.metadata.generation, now);
    s
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
/// LeakRun was created.
pub fn run_started(r: &LeakRun) -> Option<Time> {
    r.status
        .as_ref()
        .and_then(|s| s.start_time)
        .or(r.spec.scheduled_time)
        .or_else(|| r.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests;
