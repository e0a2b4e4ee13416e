//! The run's state machine as one pure function: the next step from the spec, what the engine
//! knows and the time. The driver ([`super::run`]) carries steps out and feeds results back in.

use crate::observe::Time;
use crate::spec::{AbortCause, LeakExperimentSpec, Phase, SteadyState};

use super::state::{Ending, RunState};
use super::steady::{Steadiness, steadiness};
use crate::spec::RunReason;

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Check the target and snapshot its defences.
    Preflight,
    /// Put the leaker in place.
    Inject,
    /// Watch the leak until `until` (the deadline) or until something is observed.
    Observe { until: Time },
    /// Take the leaker out, for this reason, before anything else.
    Revert(Ending),
    /// Watch the workload recover until `until` (the end of the recovery window).
    Recover { until: Time },
    /// The run is over: record it with this outcome.
    Finish(Ending),
    /// Nothing left to do.
    Done,
}

/// The next step. Order matters: a revert owed always comes first, then stop requests and
/// failures, then abort rules, then the clock.
pub fn decide(spec: &LeakExperimentSpec, state: &RunState, now: Time) -> Step {
    if state.phase.is_finished() {
        return Step::Done;
    }
    match state.phase {
        Phase::Pending => {
            if let Some(stop) = &state.stop {
                return Step::Finish(Ending {
                    rule: None,
                    reason: stop.reason,
                    message: format!("stopped before anything was injected ({})", stop.detail),
                });
            }
            if let Some(f) = &state.failure {
                return Step::Finish(f.clone());
            }
            match (&state.defences, &spec.steady_state) {
                (None, _) => Step::Preflight,
                (Some(_), Some(gate)) => steady_gate(gate, state, now),
                (Some(_), None) => Step::Inject,
            }
        }
        // Injecting is only seen here after `inject` was interrupted or failed: either way the
        // leaker may be partly in place, so revert.
        Phase::Injecting => Step::Revert(
            stop_ending(state)
                .or_else(|| state.failure.clone())
                .unwrap_or_else(|| Ending {
                    rule: None,
                    reason: RunReason::InjectFailed,
                    message: "injection did not complete".into(),
                }),
        ),
        Phase::Leaking => leaking(spec, state, now),
        // Reverting is only seen here when a revert is still owed (the driver moves on to
        // Recovering or Failed itself).
        Phase::Reverting => Step::Revert(state.ending.clone().unwrap_or_else(|| Ending {
            rule: None,
            reason: RunReason::DurationElapsed,
            message: "revert pending".into(),
        })),
        Phase::Recovering => recovering(spec, state, now),
        Phase::Scoring => Step::Finish(final_ending(state)),
        Phase::Completed | Phase::Aborted | Phase::Failed => Step::Done,
    }
}

fn leaking(spec: &LeakExperimentSpec, state: &RunState, now: Time) -> Step {
    // A replay follows its recording: the recorded revert is a fact of that run.
    if let Some((reason, note)) = state.tally.recorded_revert() {
        return Step::Revert(Ending {
            rule: None,
            reason: reason.unwrap_or(RunReason::Unknown),
            message: format!(
                "as recorded ({note}); today's oomsday had not reverted by then, and the replay \
                 follows the recording"
            ),
        });
    }
    if let Some(e) = stop_ending(state) {
        return Step::Revert(e);
    }
    if let Some(f) = &state.failure {
        return Step::Revert(f.clone());
    }
    if let Some(detail) = state.tally.observation_failed() {
        return Step::Revert(Ending {
            rule: None,
            reason: RunReason::ObservationFailed,
            message: format!("the cluster could not be observed: {detail}"),
        });
    }
    let deadline = state.deadline.unwrap_or(now);
    // While the watches cannot reach the API server, the leak goes on (the leaker stops by
    // itself at its deadline) up to the tolerance; past it, revert.
    let gap_limit = match gap_past_tolerance(spec, state, now) {
        Ok(limit) => limit,
        Err(message) => {
            return Step::Revert(Ending {
                rule: None,
                reason: RunReason::ObservationFailed,
                message,
            });
        }
    };
    if let Some((at, by)) = state.tally.template_lost() {
        let secs = at.duration_since(state.started).as_secs_f64().max(0.0);
        let by = by.map_or_else(
            || "someone else (the API did not name the writer)".to_string(),
            |m| format!("field manager \"{m}\""),
        );
        return Step::Revert(Ending {
            rule: None,
            reason: RunReason::InjectionRemoved,
            message: format!(
                "the leaker was taken out of {} {} at T+{secs:.0}s by {by}, not by oomsday; \
                 the run ends here and is not injected again",
                spec.target.kind.as_str(),
                spec.target.name,
            ),
        });
    }
    if let Some((rule, message)) = abort_rule(spec, state, now) {
        return Step::Revert(Ending {
            rule: Some(rule),
            reason: RunReason::AbortRule,
            message,
        });
    }
    if now >= deadline {
        return Step::Revert(Ending {
            rule: None,
            reason: RunReason::DurationElapsed,
            message: format!("the leak ran its duration ({})", spec.duration),
        });
    }
    Step::Observe {
        until: observe_until(spec, state, deadline, gap_limit),
    }
}

/// How long to watch the leak before deciding again: to the deadline, or earlier to the end of
/// the outage tolerance, or to when a crossed PromQL rule has held for its `for`.
fn observe_until(
    spec: &LeakExperimentSpec,
    state: &RunState,
    deadline: Time,
    gap_limit: Option<Time>,
) -> Time {
    let query_due = spec
        .abort
        .as_ref()
        .and_then(|a| a.promql.as_ref())
        .zip(state.tally.query_crossed())
        .map(|(q, (since, _))| super::add(since, q.hold.std()));
    [gap_limit, query_due]
        .into_iter()
        .flatten()
        .fold(deadline, Time::min)
}

/// Before injecting: inject once the target has been steady for the gate's `for`; watch it
/// meanwhile; give up (inject nothing) at the gate's timeout, naming what was not steady.
fn steady_gate(gate: &SteadyState, state: &RunState, now: Time) -> Step {
    if let Some(detail) = state.tally.observation_failed() {
        return Step::Finish(Ending {
            rule: None,
            reason: RunReason::ObservationFailed,
            message: format!(
                "the cluster could not be observed while waiting for a steady state: {detail}"
            ),
        });
    }
    let timeout = super::add(state.started, gate.timeout.std());
    let not_steady = |why: String| {
        Step::Finish(Ending {
            rule: None,
            reason: RunReason::NotSteady,
            message: format!(
                "not steady within the steadyState timeout ({}), nothing was injected: {why}",
                gate.timeout
            ),
        })
    };
    match steadiness(gate, state) {
        Steadiness::Since { since, last_broken } => {
            let ready = super::add(since, gate.hold.std());
            if now >= ready {
                Step::Inject
            } else if now >= timeout {
                let held = now.duration_since(since).as_secs_f64().max(0.0);
                let broken = last_broken.map_or_else(String::new, |(check, detail)| {
                    format!("; last broken by {check}: {detail}")
                });
                not_steady(format!(
                    "steady for only {held:.0}s of the {} it must hold{broken}",
                    gate.hold
                ))
            } else {
                Step::Observe {
                    until: ready.min(timeout),
                }
            }
        }
        Steadiness::Failing { check, detail } if now >= timeout => {
            not_steady(format!("{check}: {detail}"))
        }
        Steadiness::Failing { .. } => Step::Observe { until: timeout },
    }
}

/// An open gap in what the watches see: Ok with the moment it runs out of tolerance (None
/// without a gap), or Err with the sentence that ends the run once it has.
fn gap_past_tolerance(
    spec: &LeakExperimentSpec,
    state: &RunState,
    now: Time,
) -> Result<Option<Time>, String> {
    let Some((since, detail)) = state.tally.gap() else {
        return Ok(None);
    };
    let tolerance = spec.outage_tolerance();
    let limit = super::add(since, tolerance);
    if now < limit {
        return Ok(Some(limit));
    }
    Err(format!(
        "the cluster could not be observed: the API server could not be watched from {} for \
         longer than the outage tolerance ({}): {detail}",
        since.strftime("%H:%M:%S"),
        humantime::format_duration(tolerance),
    ))
}

fn recovering(spec: &LeakExperimentSpec, state: &RunState, now: Time) -> Step {
    let ending = final_ending(state);
    if state.recovered.is_some() || !ending.reason.watch_recovery() {
        return Step::Finish(ending);
    }
    if let Some(stop) = &state.stop {
        // The leak is gone; whoever asked to stop does not want to wait for recovery.
        return Step::Finish(Ending {
            rule: None,
            reason: stop.reason,
            message: format!(
                "{}; stopped while watching recovery ({})",
                ending.message, stop.detail
            ),
        });
    }
    if let Some(detail) = state.tally.observation_failed() {
        return Step::Finish(Ending {
            rule: None,
            reason: ending.reason,
            message: format!(
                "{}; recovery could not be observed: {detail}",
                ending.message
            ),
        });
    }
    let gap_limit = match gap_past_tolerance(spec, state, now) {
        Ok(limit) => limit,
        Err(message) => {
            return Step::Finish(Ending {
                rule: None,
                reason: ending.reason,
                message: format!("{}; during recovery, {message}", ending.message),
            });
        }
    };
    let reverted = state.reverted.unwrap_or(now);
    let until = super::add(reverted, spec.recovery.std());
    if now >= until {
        return Step::Finish(Ending {
            rule: None,
            reason: ending.reason,
            message: format!(
                "{}; not recovered within the recovery window ({})",
                ending.message, spec.recovery
            ),
        });
    }
    Step::Recover {
        until: gap_limit.map_or(until, |l| l.min(until)),
    }
}

fn stop_ending(state: &RunState) -> Option<Ending> {
    state.stop.as_ref().map(|s| Ending {
        rule: None,
        reason: s.reason,
        message: format!("stop requested: {}", s.detail),
    })
}

/// Why the run ended, once the leak is over: the revert's reason, else a failure.
fn final_ending(state: &RunState) -> Ending {
    state
        .ending
        .clone()
        .or_else(|| state.failure.clone())
        .unwrap_or_else(|| Ending {
            rule: None,
            reason: RunReason::DurationElapsed,
            message: "the leak ran its duration".into(),
        })
}

/// A threshold of 0 means "the first one": never abort on nothing.
fn at_least_one(n: u32) -> u32 {
    n.max(1)
}

/// The first abort rule that fires at `now`: which one, and a sentence; or None.
pub fn abort_rule(
    spec: &LeakExperimentSpec,
    state: &RunState,
    now: Time,
) -> Option<(AbortCause, String)> {
    let rules = spec.abort.as_ref()?;
    let t = &state.tally;
    // Judged on changes: a target already short of replicas when the run began is the
    // baseline, not the leak's doing.
    if let (Some(min), Some((desired, ready))) = (rules.availability_below, t.workload_changed())
        && desired > 0
        && u64::from(ready) * 100 < u64::from(min.get()) * u64::from(desired)
    {
        return Some((
            AbortCause::Availability,
            format!(
                "availability {ready}/{desired} ready fell below {min} (abort.availabilityBelow)"
            ),
        ));
    }
    if let Some(max) = rules.nodes_not_ready.map(at_least_one)
        && t.nodes_not_ready() >= max
    {
        return Some((
            AbortCause::NodesNotReady,
            format!(
                "{} node(s) NotReady, limit {max} (abort.nodesNotReady)",
                t.nodes_not_ready()
            ),
        ));
    }
    if let Some(max) = rules.nodes_under_pressure.map(at_least_one)
        && t.nodes_under_pressure() >= max
    {
        return Some((
            AbortCause::NodesUnderPressure,
            format!(
                "{} node(s) under MemoryPressure, limit {max} (abort.nodesUnderPressure)",
                t.nodes_under_pressure()
            ),
        ));
    }
    if let Some(max) = rules.bystander_evictions.map(at_least_one)
        && t.bystander_pods() >= max
    {
        return Some((
            AbortCause::Bystanders,
            format!(
                "{} bystander pod(s) evicted or OOM-killed, limit {max} (abort.bystanderEvictions)",
                t.bystander_pods()
            ),
        ));
    }
    query_rule(rules, state, now)
}

/// The abort rules that are queries: an alert firing, a PromQL expression across its line
/// for its `for`.
fn query_rule(
    rules: &crate::spec::AbortRules,
    state: &RunState,
    now: Time,
) -> Option<(AbortCause, String)> {
    let t = &state.tally;
    if let Some(name) = rules.alerts.iter().find(|a| t.alert_firing(a)) {
        return Some((
            AbortCause::Alert(name.clone()),
            format!("alert {name} is firing (abort.alerts)"),
        ));
    }
    let q = rules.promql.as_ref()?;
    let (since, detail) = t.query_crossed()?;
    (now >= super::add(since, q.hold.std())).then(|| {
        (
            AbortCause::Promql,
            format!(
                "`{}` went {} at {} ({detail}) and stayed there for {} (abort.promql)",
                q.query,
                q.line(),
                since.strftime("%H:%M:%S"),
                q.hold
            ),
        )
    })
}

#[cfg(test)]
mod tests;
