//! The hypothesis, clause by clause: pass or fail each, apart from the score.

use oomsday_core::Duration;

use super::ClauseResult;
use super::analysis::Analysis;
use super::facets::human_secs;
use crate::engine::RunRecord;

fn clause(clause: String, passed: bool, detail: String) -> ClauseResult {
    ClauseResult {
        clause,
        passed,
        judged: true,
        detail,
    }
}

/// The clauses the spec states, as written, in the order they are judged.
pub(super) fn clauses(spec: &crate::spec::LeakExperimentSpec) -> Vec<String> {
    let Some(h) = spec.hypothesis.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if h.pdb_holds == Some(true) {
        out.push("pdbHolds: true".to_string());
    }
    if let Some(max) = h.max_bystander_evictions {
        out.push(format!("maxBystanderEvictions: {max}"));
    }
    if let Some(within) = h.recovered_within {
        out.push(format!("recoveredWithin: {within}"));
    }
    if let Some(max) = h.max_nodes_not_ready {
        out.push(format!("maxNodesNotReady: {max}"));
    }
    if h.no_node_pressure == Some(true) {
        out.push("noNodePressure: true".to_string());
    }
    if h.alerts_fire == Some(true) {
        out.push("alertsFire: true".to_string());
    }
    out
}

/// Judges every clause the spec states. A clause that cannot be judged (nothing observed to
/// judge it by) fails, with a detail saying so: an unproven clause is not a held one.
pub(super) fn judge(record: &RunRecord, a: &Analysis) -> Vec<ClauseResult> {
    let Some(h) = record.spec.hypothesis.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if h.pdb_holds == Some(true) {
        out.push(pdb_holds(a));
    }
    if let Some(max) = h.max_bystander_evictions {
        out.push(max_bystander_evictions(a, max));
    }
    if let Some(within) = h.recovered_within {
        out.push(recovered_within(record, a, within));
    }
    if let Some(max) = h.max_nodes_not_ready {
        out.push(max_nodes_not_ready(a, max));
    }
    if h.no_node_pressure == Some(true) {
        out.push(no_node_pressure(a));
    }
    if h.alerts_fire == Some(true) {
        out.push(alerts_fire(record, a));
    }
    out
}

/// `pdbHolds`: healthy pods never below the budget, for any time or at any sample.
fn pdb_holds(a: &Analysis) -> ClauseResult {
    match a.budget {
        Some(b) if b.below_seconds > 0.0 => clause(
            "pdbHolds: true".into(),
            false,
            format!(
                "below the budget of {} ({}) for {}; fewest healthy pods {}",
                b.budget.map_or("?".into(), |n| n.to_string()),
                a.budget_source.describe(),
                human_secs(b.below_seconds),
                b.min_healthy.map_or("?".into(), |n| n.to_string())
            ),
        ),
        Some(b) if b.min_healthy.zip(b.budget).is_some_and(|(m, bud)| m < bud) => clause(
            "pdbHolds: true".into(),
            false,
            format!(
                "healthy pods dipped to {} below the budget of {}",
                b.min_healthy.unwrap_or(0),
                b.budget.unwrap_or(0)
            ),
        ),
        Some(b) => clause(
            "pdbHolds: true".into(),
            true,
            format!(
                "never below the budget of {} ({}); fewest healthy pods {}",
                b.budget.map_or("?".into(), |n| n.to_string()),
                a.budget_source.describe(),
                b.min_healthy.map_or("?".into(), |n| n.to_string())
            ),
        ),
        None => clause(
            "pdbHolds: true".into(),
            false,
            "could not be judged: healthy pods were never observed".into(),
        ),
    }
}

/// `maxBystanderEvictions`: bystander pods evicted or OOM-killed, at most `max`.
fn max_bystander_evictions(a: &Analysis, max: u32) -> ClauseResult {
    let n = a.bystander_casualties();
    clause(
        format!("maxBystanderEvictions: {max}"),
        n as u64 <= u64::from(max),
        format!(
            "{n} bystander pod(s) evicted or OOM-killed ({} evictions, {} OOM kills)",
            a.bystander_evictions.len(),
            a.bystander_oom_kills.len()
        ),
    )
}

/// `recoveredWithin`: recovered within `within` of the revert; unjudged without a revert.
fn recovered_within(record: &RunRecord, a: &Analysis, within: Duration) -> ClauseResult {
    let c = format!("recoveredWithin: {within}");
    match (record.reverted, a.recovery_seconds(record)) {
        (None, _) => clause(
            c,
            false,
            "could not be judged: the leak was never reverted".into(),
        ),
        (Some(_), None) => clause(c, false, "never recovered before the run ended".into()),
        (Some(_), Some(t)) => clause(
            c,
            t <= within.std().as_secs_f64(),
            format!("recovered {} after the revert", human_secs(t)),
        ),
    }
}

/// `maxNodesNotReady`: at most `max` nodes NotReady at the same time.
fn max_nodes_not_ready(a: &Analysis, max: u32) -> ClauseResult {
    clause(
        format!("maxNodesNotReady: {max}"),
        a.max_concurrent_not_ready <= max,
        format!(
            "at most {} node(s) NotReady at once ({} in all)",
            a.max_concurrent_not_ready,
            a.not_ready_nodes.len()
        ),
    )
}

/// `noNodePressure`: no node reported MemoryPressure.
fn no_node_pressure(a: &Analysis) -> ClauseResult {
    let nodes: Vec<&str> = a.pressure_nodes.keys().map(String::as_str).collect();
    clause(
        "noNodePressure: true".into(),
        nodes.is_empty(),
        if nodes.is_empty() {
            "no node reported MemoryPressure".into()
        } else {
            format!("MemoryPressure on {}", nodes.join(", "))
        },
    )
}

/// `alertsFire`: every expected alert fired within its time; unjudged when none are expected.
fn alerts_fire(record: &RunRecord, a: &Analysis) -> ClauseResult {
    let late = late_alerts(record, a);
    let n = record.spec.expect_alerts.len();
    if n == 0 {
        clause(
            "alertsFire: true".into(),
            false,
            "could not be judged: the experiment lists no expectAlerts".into(),
        )
    } else if late.is_empty() {
        clause(
            "alertsFire: true".into(),
            true,
            format!("all {n} expected alert(s) fired in time"),
        )
    } else {
        clause("alertsFire: true".into(), false, late.join("; "))
    }
}

/// Each expected alert that never fired or fired later than its `within`, said why.
fn late_alerts(record: &RunRecord, a: &Analysis) -> Vec<String> {
    record
        .spec
        .expect_alerts
        .iter()
        .filter_map(|e| match a.alerts_firing.get(&e.name) {
            None => Some(format!("{} never fired", e.name)),
            Some(at)
                if at.duration_since(a.window_start).as_secs_f64()
                    > e.within.std().as_secs_f64() =>
            {
                Some(format!("{} fired later than {}", e.name, e.within))
            }
            Some(_) => None,
        })
        .collect()
}
