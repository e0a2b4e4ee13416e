//! The hypothesis, clause by clause: pass or fail each, apart from the score.

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
        out.push(match a.budget {
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
        });
    }
    if let Some(max) = h.max_bystander_evictions {
        let n = a.bystander_casualties();
        out.push(clause(
            format!("maxBystanderEvictions: {max}"),
            n as u64 <= u64::from(max),
            format!(
                "{n} bystander pod(s) evicted or OOM-killed ({} evictions, {} OOM kills)",
                a.bystander_evictions.len(),
                a.bystander_oom_kills.len()
            ),
        ));
    }
    if let Some(within) = h.recovered_within {
        let c = format!("recoveredWithin: {within}");
        out.push(match (record.reverted, a.recovery_seconds(record)) {
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
        });
    }
    if let Some(max) = h.max_nodes_not_ready {
        out.push(clause(
            format!("maxNodesNotReady: {max}"),
            a.max_concurrent_not_ready <= max,
            format!(
                "at most {} node(s) NotReady at once ({} in all)",
                a.max_concurrent_not_ready,
                a.not_ready_nodes.len()
            ),
        ));
    }
    if h.no_node_pressure == Some(true) {
        let nodes: Vec<&str> = a.pressure_nodes.keys().map(String::as_str).collect();
        out.push(clause(
            "noNodePressure: true".into(),
            nodes.is_empty(),
            if nodes.is_empty() {
                "no node reported MemoryPressure".into()
            } else {
                format!("MemoryPressure on {}", nodes.join(", "))
            },
        ));
    }
    if h.alerts_fire == Some(true) {
        let late: Vec<String> = record
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
            .collect();
        let n = record.spec.expect_alerts.len();
        out.push(if n == 0 {
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
        });
    }
    out
}
