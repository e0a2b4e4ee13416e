//! The measures a prediction and an outcome are compared on, read from a run's record the same
//! way for both (through the scorer's [`Analysis`]): times in seconds after the leak was
//! injected, counts, durations.

use serde::{Deserialize, Serialize};

use crate::engine::RunRecord;
use crate::observe::Time;
use crate::score::{self, Analysis};
use crate::spec::Verdict;

/// One measure of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Measure {
    FirstOomKill,
    OomKills,
    FirstEviction,
    TargetEvictions,
    BystanderEvictions,
    FirstMemoryPressure,
    NodesUnderPressure,
    FirstNotReady,
    NodesNotReady,
    BelowBudget,
    Recovery,
    Score,
}

/// How a measure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds after the injection; absent when it did not happen.
    Time,
    Count,
    /// Seconds.
    Duration,
    /// 0–100.
    Points,
}

impl Measure {
    pub const ALL: [Measure; 12] = [
        Measure::FirstOomKill,
        Measure::OomKills,
        Measure::FirstEviction,
        Measure::TargetEvictions,
        Measure::BystanderEvictions,
        Measure::FirstMemoryPressure,
        Measure::NodesUnderPressure,
        Measure::FirstNotReady,
        Measure::NodesNotReady,
        Measure::BelowBudget,
        Measure::Recovery,
        Measure::Score,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            Measure::FirstOomKill => "first OOM kill",
            Measure::OomKills => "OOM kills",
            Measure::FirstEviction => "first eviction",
            Measure::TargetEvictions => "evictions of the target",
            Measure::BystanderEvictions => "evictions of bystanders",
            Measure::FirstMemoryPressure => "first MemoryPressure",
            Measure::NodesUnderPressure => "nodes under MemoryPressure",
            Measure::FirstNotReady => "first node NotReady",
            Measure::NodesNotReady => "nodes NotReady",
            Measure::BelowBudget => "time below the budget",
            Measure::Recovery => "recovery",
            Measure::Score => "score",
        }
    }

    pub const fn kind(self) -> Unit {
        match self {
            Measure::FirstOomKill
            | Measure::FirstEviction
            | Measure::FirstMemoryPressure
            | Measure::FirstNotReady => Unit::Time,
            Measure::OomKills
            | Measure::TargetEvictions
            | Measure::BystanderEvictions
            | Measure::NodesUnderPressure
            | Measure::NodesNotReady => Unit::Count,
            Measure::BelowBudget | Measure::Recovery => Unit::Duration,
            Measure::Score => Unit::Points,
        }
    }

    /// The tolerance the simulator's calibration against a real kubelet holds it to
    /// (`tests/sim_calibration.rs`), around the observed value; None for measures it does not
    /// judge.
    pub fn tolerance(self, observed: f64) -> Option<f64> {
        match self {
            Measure::FirstOomKill => Some(3.0),
            Measure::OomKills => Some(0.25 * observed),
            Measure::FirstEviction | Measure::FirstMemoryPressure => Some(5.0),
            Measure::TargetEvictions | Measure::BystanderEvictions => Some(1.0),
            Measure::BelowBudget if observed < 15.0 => Some(5.0),
            Measure::BelowBudget | Measure::Recovery => Some(0.3 * observed),
            _ => None,
        }
    }

    /// The tolerance in words.
    pub const fn tolerance_text(self) -> Option<&'static str> {
        match self {
            Measure::FirstOomKill => Some("±3 s"),
            Measure::OomKills => Some("±25%"),
            Measure::FirstEviction | Measure::FirstMemoryPressure => Some("±5 s"),
            Measure::TargetEvictions | Measure::BystanderEvictions => Some("±1"),
            Measure::BelowBudget => Some("±30% (±5 s under 15 s)"),
            Measure::Recovery => Some("±30%"),
            _ => None,
        }
    }
}

/// What reached the target's pods first: the kernel's OOM kill (a container over its limit, or
/// a node out of memory between two of the kubelet's looks) or the kubelet's eviction. For a
/// container whose limit is close to its node's headroom this can flip from run to run (a
/// Kubernetes e2e test meant to be OOM-killed was evicted instead), so a prediction says how
/// often each comes first over its seeds ([`super::FirstOdds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetFirst {
    OomKill,
    Eviction,
}

impl TargetFirst {
    pub const fn label(self) -> &'static str {
        match self {
            TargetFirst::OomKill => "the kernel's OOM kill",
            TargetFirst::Eviction => "the kubelet's eviction",
        }
    }

    /// Which came first, of the target's first OOM kill (its leaker's or its own containers')
    /// and its first eviction. At the same instant, the OOM kill: the kernel does not wait for
    /// the kubelet's look, and an eviction stamped the same second found the pod killed.
    pub fn of(first_oom_kill: Option<Time>, first_eviction: Option<Time>) -> Option<TargetFirst> {
        match (first_oom_kill, first_eviction) {
            (Some(o), Some(e)) if e < o => Some(TargetFirst::Eviction),
            (Some(_), _) => Some(TargetFirst::OomKill),
            (None, Some(_)) => Some(TargetFirst::Eviction),
            (None, None) => None,
        }
    }
}

/// A run's figures on every [`Measure`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_oom_kill: Option<f64>,
    pub oom_kills: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_eviction: Option<f64>,
    pub target_evictions: u32,
    pub bystander_evictions: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_memory_pressure: Option<f64>,
    pub nodes_under_pressure: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_not_ready: Option<f64>,
    pub nodes_not_ready: u32,
    /// Seconds the workload spent below its budget (unknown when its pods were never seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_budget: Option<f64>,
    /// Seconds from the revert to all pods ready on the reverted template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    pub verdict: Verdict,
    /// What reached the target first (None: neither an OOM kill nor an eviction did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_first: Option<TargetFirst>,
}

fn after(start: Time, at: Time) -> f64 {
    at.duration_since(start).as_secs_f64()
}

impl Measures {
    /// Reads a run's measures; times are seconds after its injection (its start when nothing
    /// was injected).
    pub fn of(record: &RunRecord) -> Measures {
        let a = Analysis::of(record);
        Measures::with(record, &a, &score::score_with(record, &a))
    }

    /// The same, from the analysis and the score already made of the run.
    pub fn with(record: &RunRecord, a: &Analysis, s: &score::Score) -> Measures {
        let start = a.window_start;
        let first = |v: &mut dyn Iterator<Item = Time>| v.min().map(|t| after(start, t));
        let ooms = || {
            a.leaker_oom_kills
                .iter()
                .chain(&a.target_oom_kills)
                .chain(&a.bystander_oom_kills)
        };
        let evictions = || a.target_evictions.iter().chain(&a.bystander_evictions);
        Measures {
            first_oom_kill: first(&mut ooms().map(|i| i.at)),
            oom_kills: ooms().count() as u32,
            first_eviction: first(&mut evictions().map(|i| i.at)),
            target_evictions: a.target_evictions.len() as u32,
            bystander_evictions: a.bystander_evictions.len() as u32,
            first_memory_pressure: first(&mut a.pressure_nodes.values().copied()),
            nodes_under_pressure: a.pressure_nodes.len() as u32,
            first_not_ready: first(&mut a.not_ready_nodes.values().copied()),
            nodes_not_ready: a.not_ready_nodes.len() as u32,
            below_budget: a.budget.map(|b| b.below_seconds),
            recovery: a.recovery_seconds(record),
            score: s.total,
            verdict: s.verdict,
            target_first: TargetFirst::of(
                a.leaker_oom_kills
                    .iter()
                    .chain(&a.target_oom_kills)
                    .map(|i| i.at)
                    .min(),
                a.target_evictions.iter().map(|i| i.at).min(),
            ),
        }
    }

    /// The figure of one measure, as a number (None: it did not happen, or is unknown).
    pub fn get(&self, m: Measure) -> Option<f64> {
        let n = |v: u32| Some(f64::from(v));
        match m {
            Measure::FirstOomKill => self.first_oom_kill,
            Measure::OomKills => n(self.oom_kills),
            Measure::FirstEviction => self.first_eviction,
            Measure::TargetEvictions => n(self.target_evictions),
            Measure::BystanderEvictions => n(self.bystander_evictions),
            Measure::FirstMemoryPressure => self.first_memory_pressure,
            Measure::NodesUnderPressure => n(self.nodes_under_pressure),
            Measure::FirstNotReady => self.first_not_ready,
            Measure::NodesNotReady => n(self.nodes_not_ready),
            Measure::BelowBudget => self.below_budget,
            Measure::Recovery => self.recovery,
            Measure::Score => self.score.map(f64::from),
        }
    }
}
