//! The steady-state gate (`spec.steadyState`): whether the target has been steady long enough
//! to inject into, judged from what the run has observed so far. Pure: the checks' results come
//! from the [`super::Tally`], the time from the caller.

use crate::observe::Time;
use crate::spec::SteadyState;

use super::state::{Held, RunState, SteadyCheck};

/// Where the gate stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steadiness {
    /// Every check holds, and has since `since`. `last_broken` is the check whose recovery
    /// started that stretch, when one had failed, with what it said then.
    Since {
        since: Time,
        last_broken: Option<(SteadyCheck, String)>,
    },
    /// This check fails now (or was never sampled), and why.
    Failing { check: SteadyCheck, detail: String },
}

/// Judges the gate's checks on what `state` has observed. The structural checks read the
/// target's workload, its budgets and the nodes hosting it (the nodes preflight found its pods
/// on; every watched node when it found none); the probes count only when the run can poll
/// them (`state.probing`).
pub fn steadiness(gate: &SteadyState, state: &RunState) -> Steadiness {
    let t = &state.tally;
    let mut required: Vec<SteadyCheck> = Vec::new();
    if gate.rolled_out {
        required.push(SteadyCheck::RolledOut);
    }
    if gate.replicas_ready {
        required.push(SteadyCheck::ReplicasReady);
    }
    if state.probing {
        required.extend(
            gate.probes
                .iter()
                .map(|p| SteadyCheck::Probe(p.name.clone())),
        );
    }
    let hosts = state
        .defences
        .as_ref()
        .map(|d| d.nodes.as_slice())
        .unwrap_or_default();
    let sampled = t.checks().filter(|(c, _)| match c {
        SteadyCheck::Budget(_) => gate.budget_healthy,
        SteadyCheck::NodeReady(n) | SteadyCheck::NodeMemory(n) => {
            gate.nodes_healthy && (hosts.is_empty() || hosts.contains(n))
        }
        _ => false,
    });
    let mut held: Vec<(&SteadyCheck, &Held)> = Vec::new();
    for check in &required {
        match t.check(check) {
            Some(h) => held.push((check, h)),
            None => {
                return Steadiness::Failing {
                    check: check.clone(),
                    detail: not_sampled(check),
                };
            }
        }
    }
    held.extend(sampled);
    if let Some((check, h)) = held.iter().find(|(_, h)| !h.ok) {
        return Steadiness::Failing {
            check: (*check).clone(),
            detail: h.detail.clone(),
        };
    }
    // The stretch is as old as its newest check: a state first sampled by the watches' lists
    // counts from then (how long it held before is unknown).
    let latest = held.iter().max_by_key(|(_, h)| h.since);
    match latest {
        Some((check, h)) => Steadiness::Since {
            since: h.since,
            last_broken: h
                .last_failure
                .as_ref()
                .map(|f| ((*check).clone(), f.clone())),
        },
        None => Steadiness::Since {
            since: state.started,
            last_broken: None,
        },
    }
}

fn not_sampled(check: &SteadyCheck) -> String {
    match check {
        SteadyCheck::Probe(_) => "not probed yet".into(),
        _ => "the workload's status was not observed yet".into(),
    }
}
