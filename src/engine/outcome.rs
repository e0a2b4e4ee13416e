//! One run's outcome for a pipeline: what the CLI (`run`, `simulate`) and the controller turn
//! into exit codes and summaries, so they all agree.

use serde::{Deserialize, Serialize};

use crate::spec::{Phase, Verdict};

/// The outcome of a run, from its phase, its verdict and its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Every hypothesis clause held and the score reached `--min-score`.
    Passed,
    /// The score was under `--min-score`, though the hypothesis held.
    BelowMinScore,
    /// A hypothesis clause failed.
    HypothesisFailed,
    /// Nothing was proven: the leaker never ran, or the cluster could not be observed.
    Inconclusive,
    /// An abort rule, a signal or the abort annotation stopped the run (after reverting).
    Aborted,
    /// The revert failed: the leaker may still be in place.
    RevertFailed,
}

impl Outcome {
    /// The outcome of a finished run. An aborted run is reported as aborted whatever its verdict
    /// (the pipeline must notice); a run that Failed (preflight, inject, observation) can never
    /// pass; the score threshold applies only to runs that otherwise pass.
    pub fn of(
        phase: Phase,
        verdict: Verdict,
        total: Option<u32>,
        min_score: Option<u32>,
    ) -> Outcome {
        match (phase, verdict) {
            (Phase::Aborted, _) => Outcome::Aborted,
            (_, Verdict::Failed) => Outcome::HypothesisFailed,
            (_, Verdict::Inconclusive) | (Phase::Failed, Verdict::Passed) => Outcome::Inconclusive,
            (_, Verdict::Passed) if min_score.zip(total).is_some_and(|(m, t)| t < m) => {
                Outcome::BelowMinScore
            }
            (_, Verdict::Passed) => Outcome::Passed,
        }
    }

    /// How bad it is, for a suite's overall outcome: the worst run decides.
    const fn severity(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Inconclusive => 1,
            Outcome::BelowMinScore => 2,
            Outcome::HypothesisFailed => 3,
            Outcome::Aborted => 4,
            Outcome::RevertFailed => 5,
        }
    }

    /// The worse of two outcomes.
    pub fn worst(self, other: Outcome) -> Outcome {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// A word for summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::BelowMinScore => "below minimum score",
            Outcome::HypothesisFailed => "hypothesis failed",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Aborted => "aborted",
            Outcome::RevertFailed => "revert failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
