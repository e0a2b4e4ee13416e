//! The resilience score of one run: five facets, a total, a grade, the hypothesis clause by
//! clause, and the verdict a pipeline gates on.
//!
//! Pure and deterministic: [`score`] reads only the [`RunRecord`] (the spec, the milestones, the
//! defences snapshot and the timeline), never the clock, so the same record always gets the same
//! score — on a real cluster and on the simulator alike.
//!
//! A facet that could not be measured (no expected alerts, no defences snapshot, no ready-pod
//! observations...) is reported as such and its weight is shared out among the measured ones; it
//! never earns full marks by default.
//!
//! How each facet earns its points (0–100):
//! - **availability**: over the window from the injection to the end of the run, the share of
//!   time with healthy pods (the workload's ready replicas, else the PDBs' currentHealthy) at or
//!   above the budget. The budget is the PDB's observed `desiredHealthy`, else the PDB's spec from
//!   the defences snapshot, else `spec.minAvailable` of the desired replicas, else every desired
//!   replica (a team that never said what it can lose has not said it can lose anything). With
//!   probes, 60% budget share + 40% probe success (averaged per probe). Time before the first
//!   observation is not counted either way; a run of no length is not measured.
//! - **containment**: 100 minus, per kind of spill (each capped): 8 per bystander pod evicted or
//!   OOM-killed (≤ 48), 25 per node NotReady (≤ 50), 12 per node under MemoryPressure (≤ 36), 8
//!   per SystemOOM (≤ 24), 6 per OOM kill of the target's own containers (≤ 18), 4 per target pod
//!   evicted (≤ 16). The leaker OOM-killed at its own limit costs nothing: that is containment.
//! - **recovery**: full marks up to the target (`scoring.recoveryTarget`, else
//!   `hypothesis.recoveredWithin`, else 5 minutes), then linearly down to 0 at three times the
//!   target; never recovered is 0; never reverted is not measured.
//! - **detection**: per expected alert, by when it first fired: before the first OOM kill or
//!   eviction and within its `within` 100, before but late 70, after the damage but within 35,
//!   after and late 20, never 0; averaged. No `expectAlerts` is not measured.
//! - **hygiene**: 100 minus, per audit finding on the target: critical 30, high 15, medium 7,
//!   low 2.

mod analysis;
mod facets;
mod hypothesis;

pub use analysis::{Analysis, BudgetSource, BudgetStats, Incident, NodeSpan, ProbeStats};
pub(crate) use facets::{human_secs, offset};

use serde::{Deserialize, Serialize};

use crate::engine::RunRecord;
use crate::spec::{RunReason, Verdict, Weights};

/// The facets of the score, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Facet {
    /// Time-weighted share of the run with healthy pods at or above the budget, and probes.
    Availability,
    /// Whether the leak stayed in its own container or spilled onto the node and its neighbours.
    Containment,
    /// Time from the revert to all pods ready and the budget healthy, against the target.
    Recovery,
    /// Whether the expected alerts fired, and before the damage or after.
    Detection,
    /// The target's defences: limits, requests, LimitRange, PDB, bounded HPA, readiness probe.
    Hygiene,
}

impl Facet {
    /// Every facet, in report order.
    pub const ALL: [Facet; 5] = [
        Facet::Availability,
        Facet::Containment,
        Facet::Recovery,
        Facet::Detection,
        Facet::Hygiene,
    ];

    /// The facet's name as written in specs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Facet::Availability => "availability",
            Facet::Containment => "containment",
            Facet::Recovery => "recovery",
            Facet::Detection => "detection",
            Facet::Hygiene => "hygiene",
        }
    }

    fn weight(self, w: &Weights) -> f64 {
        let v = match self {
            Facet::Availability => w.availability,
            Facet::Containment => w.containment,
            Facet::Recovery => w.recovery,
            Facet::Detection => w.detection,
            Facet::Hygiene => w.hygiene,
        };
        // A negative or NaN weight would turn the total upside down; validation rejects them,
        // this only keeps the arithmetic sane if one slips through.
        if v.is_finite() && v > 0.0 { v } else { 0.0 }
    }
}

impl std::fmt::Display for Facet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One facet's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacetScore {
    pub facet: Facet,
    /// The weight from the spec (or the default), before sharing out unmeasured facets.
    pub weight: f64,
    /// The weight this facet actually carries in the total (0 when not measured).
    pub effective_weight: f64,
    /// 0–100, or `None` when the facet could not be measured.
    pub points: Option<f64>,
    pub measured: bool,
    /// One sentence: how the points came about, or why the facet was not measured.
    pub explanation: String,
    /// The observations behind the points ("12:03:10 node n2 MemoryPressure").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// One hypothesis clause, judged on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClauseResult {
    /// The clause as written in the spec ("maxBystanderEvictions: 0").
    pub clause: String,
    pub passed: bool,
    /// False when the run never got to test the clause (nothing was injected): neither held
    /// nor failed.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub judged: bool,
    /// What was observed against it.
    pub detail: String,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl ClauseResult {
    /// Judged and not held.
    pub fn failed(&self) -> bool {
        self.judged && !self.passed
    }

    /// "held", "FAILED" or "not judged", for reports.
    pub fn outcome(&self) -> &'static str {
        match (self.judged, self.passed) {
            (false, _) => "not judged",
            (true, true) => "held",
            (true, false) => "FAILED",
        }
    }
}

/// A letter for a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
    D,
    F,
}

impl Grade {
    /// A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, else F.
    pub const fn of(total: u32) -> Grade {
        match total {
            90.. => Grade::A,
            80..=89 => Grade::B,
            70..=79 => Grade::C,
            60..=69 => Grade::D,
            _ => Grade::F,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::F => "F",
        }
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// 0–100; `None` when the run never injected anything (there is nothing to score).
    pub total: Option<u32>,
    /// The total's letter.
    pub grade: Option<Grade>,
    pub facets: Vec<FacetScore>,
    pub hypothesis: Vec<ClauseResult>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, in one sentence.
    pub verdict_reason: String,
    /// Scored from a simulated cluster: a model, not a measurement.
    pub simulated: bool,
}

impl Score {
    /// The facet's result.
    pub fn facet(&self, facet: Facet) -> Option<&FacetScore> {
        self.facets.iter().find(|f| f.facet == facet)
    }
    /// Clauses that failed (judged and not held).
    pub fn failed_clauses(&self) -> impl Iterator<Item = &ClauseResult> {
        self.hypothesis.iter().filter(|c| c.failed())
    }

    /// "72 (C)", or "not scored".
    pub fn headline(&self) -> String {
        match (self.total, self.grade) {
            (Some(t), Some(g)) => format!("{t} ({g})"),
            _ => "not scored".into(),
        }
    }
}

/// Scores a run. Pure: the same record always gets the same score.
pub fn score(record: &RunRecord) -> Score {
    let analysis = Analysis::of(record);
    score_with(record, &analysis)
}

/// Scores a run from an analysis already made of it (reports use the analysis too). A run that
/// never injected anything has no score: its facets are not measured, its clauses not judged,
/// and the verdict says why.
pub fn score_with(record: &RunRecord, a: &Analysis) -> Score {
    if record.injected.is_none() {
        return not_run(record);
    }
    if let Some(detail) = a.observation_failed.first() {
        return not_observed(record, a, detail);
    }
    let weights = weights(record);
    let mut facets: Vec<FacetScore> = Facet::ALL
        .iter()
        .map(|&f| {
            let m = match f {
                Facet::Availability => facets::availability(record, a),
                Facet::Containment => facets::containment(record, a),
                Facet::Recovery => facets::recovery(record, a),
                Facet::Detection => facets::detection(record, a),
                Facet::Hygiene => facets::hygiene(record),
            };
            facet_score(f, &weights, m)
        })
        .collect();

    // Share out the weight of unmeasured facets in proportion to the measured ones' weights.
    let measured_weight: f64 = facets.iter().filter(|f| f.measured).map(|f| f.weight).sum();
    let total_weight: f64 = facets.iter().map(|f| f.weight).sum();
    let mut total = 0.0;
    if measured_weight > 0.0 {
        for f in facets.iter_mut().filter(|f| f.measured) {
            f.effective_weight = f.weight / measured_weight * total_weight;
            total += f.points.unwrap_or(0.0) * f.weight / measured_weight;
        }
    }
    let total = total.round().clamp(0.0, 100.0) as u32;

    let hypothesis = hypothesis::judge(record, a);
    let (verdict, verdict_reason) = verdict(a, &hypothesis);
    let (total, verdict, verdict_reason) = match record.reason {
        // What each facet saw is kept (how far it got), but no total: a history of scores
        // would otherwise trend runs that never ran their course.
        Some(r) if r.stopped_early() => (
            None,
            Verdict::Inconclusive,
            stopped_early(record, r, &hypothesis),
        ),
        // The cluster crossed a line the team drew, whatever the hypothesis says.
        Some(RunReason::AbortRule) => (
            Some(total),
            Verdict::Failed,
            format!(
                "an abort rule fired: {}",
                record.message.as_deref().unwrap_or("spec.abort")
            ),
        ),
        _ => (Some(total), verdict, verdict_reason),
    };
    Score {
        total,
        grade: total.map(Grade::of),
        facets,
        hypothesis,
        verdict,
        verdict_reason,
        simulated: record.simulated,
    }
}

/// One facet's result as the score shows it (its weight shared out later).
fn facet_score(facet: Facet, weights: &Weights, m: facets::Measured) -> FacetScore {
    FacetScore {
        facet,
        weight: facet.weight(weights),
        effective_weight: 0.0,
        measured: m.points.is_some(),
        points: m.points.map(|p| p.clamp(0.0, 100.0)),
        explanation: m.explanation,
        evidence: m.evidence,
    }
}

/// The experiment's facet weights, or the defaults.
fn weights(record: &RunRecord) -> Weights {
    record
        .spec
        .scoring
        .as_ref()
        .map(|s| s.weights.clone())
        .unwrap_or_default()
}

/// The score of a run whose cluster could not be observed: no total (never a score as if it had
/// been measured), every facet that reads the timeline not measured, the hygiene facet (the
/// defences read before the leak) as measured; the verdict is Inconclusive.
fn not_observed(record: &RunRecord, a: &Analysis, detail: &str) -> Score {
    let weights = weights(record);
    let facets = Facet::ALL
        .iter()
        .map(|&f| {
            let m = match f {
                Facet::Hygiene => facets::hygiene(record),
                _ => facets::Measured::not_measured(format!(
                    "not measured: the cluster could not be observed ({detail})"
                )),
            };
            facet_score(f, &weights, m)
        })
        .collect();
    let hypothesis = hypothesis::judge(record, a);
    let (verdict, verdict_reason) = verdict(a, &hypothesis);
    Score {
        total: None,
        grade: None,
        facets,
        hypothesis,
        verdict,
        verdict_reason,
        simulated: record.simulated,
    }
}

/// The score of a run that never injected anything.
fn not_run(record: &RunRecord) -> Score {
    let why = record
        .message
        .clone()
        .unwrap_or_else(|| "the run ended before anything was injected".into());
    let weights = weights(record);
    Score {
        total: None,
        grade: None,
        facets: Facet::ALL
            .iter()
            .map(|&f| FacetScore {
                facet: f,
                weight: f.weight(&weights),
                effective_weight: 0.0,
                points: None,
                measured: false,
                explanation: "not measured: nothing was injected".into(),
                evidence: Vec::new(),
            })
            .collect(),
        hypothesis: hypothesis::clauses(&record.spec)
            .into_iter()
            .map(|clause| ClauseResult {
                clause,
                passed: false,
                judged: false,
                detail: "not judged: nothing was injected".into(),
            })
            .collect(),
        verdict: Verdict::Inconclusive,
        verdict_reason: format!("nothing was injected, nothing to score: {why}"),
        simulated: record.simulated,
    }
}

/// Why a run stopped early is Inconclusive: how far it got, who stopped it, and any clause it
/// had already failed by then (a fact, though the run proves nothing more).
fn stopped_early(record: &RunRecord, reason: RunReason, clauses: &[ClauseResult]) -> String {
    let ran = record
        .injected
        .map(|i| record.reverted.unwrap_or(record.finished).duration_since(i))
        .unwrap_or_default();
    let mut why = format!(
        "stopped after {} of its {} leak ({reason}{}): a run stopped early proves nothing about \
         the hypothesis",
        facets::human_secs(ran.as_secs_f64()),
        facets::human_secs(record.spec.duration.0.as_secs_f64()),
        record
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    let failed: Vec<&str> = clauses
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.clause.as_str())
        .collect();
    if !failed.is_empty() {
        why.push_str(&format!(
            "; already failed before the stop: {}",
            failed.join(", ")
        ));
    }
    why
}

fn verdict(a: &Analysis, clauses: &[ClauseResult]) -> (Verdict, String) {
    if let Some(detail) = a.observation_failed.first() {
        return (
            Verdict::Inconclusive,
            format!("the cluster could not be observed: {detail}"),
        );
    }
    if !a.leaker_ran {
        return (
            Verdict::Inconclusive,
            "the leaker never ran: nothing was proven either way".into(),
        );
    }
    let failed: Vec<&str> = clauses
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.clause.as_str())
        .collect();
    if failed.is_empty() {
        let why = if clauses.is_empty() {
            "the leaker ran and the experiment states no hypothesis".to_string()
        } else {
            format!("all {} hypothesis clauses held", clauses.len())
        };
        (Verdict::Passed, why)
    } else {
        (
            Verdict::Failed,
            format!("hypothesis failed: {}", failed.join(", ")),
        )
    }
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;
