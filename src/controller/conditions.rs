//! The Conditions the controller writes (metav1 Condition shape), derived purely from a status
//! and `now`. They are what `kubectl wait` and pipelines read:
//!
//! - LeakRun: `Injected` (the leaker was put in place), `Reverted` (nothing of the run is live
//!   any more: taken out, or never put in; False while a leak may be live — exactly while the
//!   revert finalizer is on), `Recovered` (the workload was healthy again after the revert),
//!   `Finished` (the run reached Completed, Aborted or Failed) and `Succeeded` (Completed with
//!   every hypothesis clause held). A pipeline waits with
//!   `kubectl wait --for=condition=Finished leakrun/NAME` and then reads `Succeeded`, or waits for
//!   `--for=condition=Succeeded` directly (a run that does not succeed then waits to the timeout).
//! - LeakExperiment: `Ready` (its spec and schedule can be used) and `Scheduled` (a next run is
//!   planned; the reason says why not when it is not).
//!
//! `lastTransitionTime` changes only when a condition's status changes; `observedGeneration` is
//! the object's generation the controller acted on (kubectl wait ignores conditions older than
//! the object's generation).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time as K8sTime};

use crate::observe::Time;
use crate::spec::{LeakExperimentStatus, LeakRunStatus, Phase, RunReason, Verdict};

use super::lifecycle::revert_owed;

pub const INJECTED: &str = "Injected";
pub const REVERTED: &str = "Reverted";
pub const RECOVERED: &str = "Recovered";
pub const FINISHED: &str = "Finished";
pub const SUCCEEDED: &str = "Succeeded";
pub const READY: &str = "Ready";
pub const SCHEDULED: &str = "Scheduled";

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    True,
    False,
    Unknown,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::True => "True",
            State::False => "False",
            State::Unknown => "Unknown",
        }
    }
}

/// One condition as decided, before its transition time is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub type_: &'static str,
    pub state: State,
    pub reason: String,
    pub message: String,
}

fn want(type_: &'static str, state: State, reason: &str, message: impl Into<String>) -> Want {
    Want {
        type_,
        state,
        reason: reason.into(),
        message: message.into(),
    }
}

/// The conditions `wanted`, keeping each one's `lastTransitionTime` from `old` while its status
/// is unchanged, else `now`.
pub fn merge(
    old: &[Condition],
    wanted: Vec<Want>,
    generation: Option<i64>,
    now: Time,
) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|w| {
            let status = w.state.as_str().to_string();
            let since = old
                .iter()
                .find(|c| c.type_ == w.type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or(K8sTime(now));
            Condition {
                type_: w.type_.into(),
                status,
                reason: w.reason,
                message: w.message,
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn reason_or(status: &LeakRunStatus, fallback: &str) -> String {
    status
        .reason
        .map(|r| r.as_str().to_string())
        .unwrap_or_else(|| fallback.to_string())
}

/// What a LeakRun's status says, as conditions.
pub fn run_conditions(s: &LeakRunStatus) -> Vec<Want> {
    vec![
        injected(s),
        reverted(s),
        recovered(s),
        finished(s),
        succeeded(s),
    ]
}

fn injected(s: &LeakRunStatus) -> Want {
    match s.injected_time {
        Some(t) => want(
            INJECTED,
            State::True,
            "LeakerInPlace",
            format!("the leaker was in place at {t}"),
        ),
        None if s.phase.is_finished() => want(
            INJECTED,
            State::False,
            &reason_or(s, "NotInjected"),
            "the leaker was never put in place",
        ),
        None if s.phase == Phase::Injecting => want(
            INJECTED,
            State::Unknown,
            "Injecting",
            "the leaker is being put in place",
        ),
        None => want(INJECTED, State::False, "NotInjected", "not injected yet"),
    }
}

/// True exactly when nothing of the run is live: the revert finalizer's condition.
fn reverted(s: &LeakRunStatus) -> Want {
    if let Some(t) = s.reverted_time {
        want(
            REVERTED,
            State::True,
            "Reverted",
            match &s.reverted_by {
                Some(by) => format!("the leaker was taken out at {t} by {by}"),
                None => format!("the leaker was taken out at {t}"),
            },
        )
    } else if revert_owed(s) && s.reason == Some(RunReason::RevertFailed) {
        let message = s.message.clone().unwrap_or_default();
        want(REVERTED, State::False, "RevertFailed", message)
    } else if revert_owed(s) {
        want(
            REVERTED,
            State::False,
            "LeakInPlace",
            "the leaker may be in place",
        )
    } else if s.phase.is_finished() {
        want(
            REVERTED,
            State::True,
            "NothingInjected",
            "nothing was put in place, so nothing is left",
        )
    } else {
        want(REVERTED, State::Unknown, "NotInjected", "not injected yet")
    }
}

fn recovered(s: &LeakRunStatus) -> Want {
    let secs = s.summary.as_ref().and_then(|m| m.recovery_seconds);
    match (secs, s.phase.is_finished()) {
        (Some(secs), _) => want(
            RECOVERED,
            State::True,
            "Recovered",
            format!("all pods ready and the budget healthy {secs:.0}s after the revert"),
        ),
        (None, false) => want(
            RECOVERED,
            State::Unknown,
            "NotYetRecovered",
            "the run is not over",
        ),
        (None, true) if s.phase == Phase::Completed && s.reverted_time.is_some() => want(
            RECOVERED,
            State::False,
            "NotRecovered",
            "the workload was not healthy again by the end of the recovery window",
        ),
        (None, true) => want(
            RECOVERED,
            State::False,
            "NotWatched",
            format!(
                "recovery was not watched: the run ended {:?} ({})",
                s.phase,
                reason_or(s, "unknown")
            ),
        ),
    }
}

fn finished(s: &LeakRunStatus) -> Want {
    let phase = format!("{:?}", s.phase);
    if s.phase.is_finished() {
        let message = s.message.clone().unwrap_or_default();
        want(FINISHED, State::True, &phase, message)
    } else {
        want(
            FINISHED,
            State::False,
            &phase,
            format!("the run is {phase}"),
        )
    }
}

fn succeeded(s: &LeakRunStatus) -> Want {
    match (s.phase.is_finished(), s.phase, s.verdict) {
        (false, p, _) => want(
            SUCCEEDED,
            State::Unknown,
            "Running",
            format!("the run is {p:?}"),
        ),
        (true, Phase::Completed, Some(Verdict::Passed)) => {
            want(SUCCEEDED, State::True, "HypothesisHeld", score_line(s))
        }
        (true, Phase::Completed, Some(Verdict::Failed)) => {
            want(SUCCEEDED, State::False, "HypothesisFailed", score_line(s))
        }
        (true, Phase::Completed, _) => want(SUCCEEDED, State::False, "Inconclusive", score_line(s)),
        (true, p, _) => {
            let message = s.message.clone().unwrap_or_default();
            want(SUCCEEDED, State::False, &format!("{p:?}"), message)
        }
    }
}

fn score_line(s: &LeakRunStatus) -> String {
    match (s.score, s.grade.as_deref(), s.verdict) {
        (Some(score), Some(grade), Some(v)) => format!("score {score} ({grade}), verdict {v:?}"),
        _ => "not scored".into(),
    }
}

/// What the experiment's status and schedule check say, as conditions. `schedule_error` is the
/// reason the schedule cannot be used, when it cannot.
pub fn experiment_conditions(
    s: &LeakExperimentStatus,
    scheduled: bool,
    suspended: bool,
    schedule_error: Option<&str>,
) -> Vec<Want> {
    let ready = match schedule_error {
        Some(e) => want(READY, State::False, "InvalidSchedule", e),
        None => want(
            READY,
            State::True,
            "Valid",
            "the spec and its schedule can be used",
        ),
    };
    let sched = match (schedule_error, s.next_run_time) {
        (Some(e), _) => want(SCHEDULED, State::False, "InvalidSchedule", e),
        (None, Some(t)) => want(
            SCHEDULED,
            State::True,
            "Scheduled",
            format!("next run at {t}"),
        ),
        (None, None) if suspended => want(
            SCHEDULED,
            State::False,
            "Suspended",
            "spec.schedule.suspend is true",
        ),
        (None, None) if !scheduled => want(
            SCHEDULED,
            State::False,
            "NoSchedule",
            "no spec.schedule: runs start only when triggered (oomsday trigger NAME)",
        ),
        (None, None) => want(
            SCHEDULED,
            State::False,
            "NoNextTime",
            "no next fire time could be computed",
        ),
    };
    vec![ready, sched]
}

#[cfg(test)]
mod tests;
