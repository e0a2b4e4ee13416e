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
            format!("the leaker was taken out at {t}"),
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
mod tests {
    use super::*;
    use crate::spec::RunSummary;

    fn ts(s: &str) -> Time {
        s.parse().expect("time")
    }

    #[test]
    fn transition_times_move_only_when_the_status_changes() {
        let t0 = ts("2026-11-24T11:00:00Z");
        let t1 = ts("2026-11-24T11:05:00Z");
        let leaking = LeakRunStatus {
            phase: Phase::Leaking,
            injected_time: Some(t0),
            ..Default::default()
        };
        let first = merge(&[], run_conditions(&leaking), Some(1), t0);
        let again = merge(&first, run_conditions(&leaking), Some(1), t1);
        assert_eq!(first, again, "nothing changed, nothing moves");
        let done = LeakRunStatus {
            phase: Phase::Completed,
            reverted_time: Some(t1),
            verdict: Some(Verdict::Passed),
            score: Some(88),
            grade: Some("B".into()),
            summary: Some(RunSummary {
                recovery_seconds: Some(42.0),
                ..Default::default()
            }),
            ..leaking.clone()
        };
        let after = merge(&again, run_conditions(&done), Some(1), t1);
        let injected = find(&after, INJECTED).expect("Injected");
        assert_eq!(
            (injected.status.as_str(), injected.last_transition_time.0),
            ("True", t0)
        );
        let succeeded = find(&after, SUCCEEDED).expect("Succeeded");
        assert_eq!(
            (
                succeeded.status.as_str(),
                succeeded.reason.as_str(),
                succeeded.last_transition_time.0
            ),
            ("True", "HypothesisHeld", t1)
        );
        assert_eq!(
            find(&after, RECOVERED).map(|c| c.status.as_str()),
            Some("True")
        );
        assert_eq!(
            find(&after, REVERTED).map(|c| c.reason.as_str()),
            Some("Reverted")
        );
        assert!(after.iter().all(|c| c.observed_generation == Some(1)));
    }

    #[test]
    fn a_live_leak_is_never_reverted_and_a_failed_run_never_succeeds() {
        let live = LeakRunStatus {
            phase: Phase::Leaking,
            injected_time: Some(ts("2026-11-24T11:00:00Z")),
            ..Default::default()
        };
        let c = run_conditions(&live);
        let reverted = c.iter().find(|w| w.type_ == REVERTED).expect("Reverted");
        assert_eq!(
            (reverted.state, reverted.reason.as_str()),
            (State::False, "LeakInPlace")
        );
        let failed = LeakRunStatus {
            phase: Phase::Failed,
            reason: Some(RunReason::PreflightFailed),
            message: Some("Deployment shop/checkout not found".into()),
            ..Default::default()
        };
        let c = run_conditions(&failed);
        let by = |t: &str| c.iter().find(|w| w.type_ == t).cloned().expect("condition");
        assert_eq!(by(SUCCEEDED).state, State::False);
        assert_eq!(by(SUCCEEDED).reason, "Failed");
        assert_eq!(by(FINISHED).state, State::True);
        assert_eq!(by(INJECTED).reason, "PreflightFailed");
        assert_eq!(by(REVERTED).reason, "NothingInjected");
    }
}
