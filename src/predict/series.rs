//! What a run's charts need, as step series in seconds after the injection: ready pods and the
//! budget, OOM kills and evictions, nodes under MemoryPressure and NotReady. The report draws a
//! prediction's series and the observed run's on the same charts.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::engine::RunRecord;
use crate::observe::{DisruptionCause, Happening, NodeConditionKind};

/// Step series of one run; each point holds until the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// Seconds from the injection to the run's end.
    pub end: f64,
    /// When the leak was reverted (seconds after the injection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted: Option<f64>,
    /// Ready pods of the target.
    pub ready: Vec<(f64, u32)>,
    /// The budget (the strictest PDB's desiredHealthy).
    pub budget: Vec<(f64, u32)>,
    /// OOM kills and evictions (not a rollout's deletions), when each happened.
    pub disruptions: Vec<f64>,
    /// Nodes under MemoryPressure.
    pub pressure: Vec<(f64, u32)>,
    /// Nodes NotReady.
    pub not_ready: Vec<(f64, u32)>,
}

/// Pushes a step, replacing one at the same time and skipping one that changes nothing.
fn step(v: &mut Vec<(f64, u32)>, t: f64, n: u32) {
    match v.last_mut() {
        Some((_, ln)) if *ln == n => {}
        Some((lt, ln)) if (*lt - t).abs() < 1e-9 => *ln = n,
        _ => v.push((t, n)),
    }
}

impl Series {
    pub fn of(record: &RunRecord) -> Series {
        let start = record.injected.unwrap_or(record.started);
        let at = |t: crate::observe::Time| t.duration_since(start).as_secs_f64();
        let mut s = Series {
            end: at(record.finished),
            reverted: record.reverted.map(at),
            ..Series::default()
        };
        let mut pdbs: BTreeMap<&str, u32> = BTreeMap::new();
        let mut pressure: BTreeSet<&str> = BTreeSet::new();
        let mut not_ready: BTreeSet<&str> = BTreeSet::new();
        for o in record.timeline.iter() {
            let t = at(o.at);
            match &o.happening {
                Happening::Workload { ready, .. } => step(&mut s.ready, t, *ready),
                Happening::Budget {
                    name,
                    desired_healthy,
                    ..
                } => {
                    pdbs.insert(name.as_str(), *desired_healthy);
                    step(&mut s.budget, t, pdbs.values().copied().max().unwrap_or(0));
                }
                Happening::OomKilled { .. } if !o.baseline => s.disruptions.push(t),
                Happening::PodEvicted { cause, .. }
                    if !o.baseline && *cause != DisruptionCause::Deleted =>
                {
                    s.disruptions.push(t)
                }
                Happening::NodeCondition {
                    node,
                    condition,
                    status,
                    ..
                } => {
                    let (set, series, bad) = match condition {
                        NodeConditionKind::MemoryPressure => {
                            (&mut pressure, &mut s.pressure, *status)
                        }
                        NodeConditionKind::Ready => (&mut not_ready, &mut s.not_ready, !*status),
                    };
                    if bad {
                        set.insert(node.as_str());
                    } else {
                        set.remove(node.as_str());
                    }
                    step(series, t, set.len() as u32);
                }
                _ => {}
            }
        }
        s
    }

    /// The earliest time any series starts at (0 at the latest).
    pub fn first(&self) -> f64 {
        self.ready
            .iter()
            .chain(&self.budget)
            .chain(&self.pressure)
            .chain(&self.not_ready)
            .map(|(t, _)| *t)
            .chain(self.disruptions.iter().copied())
            .fold(0.0, f64::min)
    }
}
