//! Calibration: how far to trust the simulator on a cluster, from runs recorded on it
//! (`oomsday calibrate`, and `tests/sim_calibration.rs` on the real bed's recordings).
//!
//! Each recorded run is set beside the prediction of it made on the model taken just before
//! it, measure by measure with [`Measure::tolerance`]; where several recordings ran the same
//! experiment, their distribution is set beside the seeds' ([`Distribution`]): medians and
//! ranges, and where the seeds split into two histories, the share of real runs in the shorter
//! one beside the seeds' share, and the verdict's share, within [`SHARE_POINTS`]. Every
//! tolerance the calibration judges by is here or on [`Measure`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Comparison, Measure, Measures, Prediction, groups, median};
use crate::engine::RunRecord;
use crate::spec::Verdict;

/// The most a history's or a verdict's share may differ, real runs vs seeds: 15 points.
pub const SHARE_POINTS: f64 = 15.0;

/// The least share of the seeds a history must have for a measure outside tolerance to count
/// as reality drawing the less likely side of a coin the simulator also tosses: one in five.
pub const MIN_SHARE: (u32, u32) = (1, 5);

/// How far a simulated leaker's growth may be from a recorded one's: 5%.
pub const GROWTH_TOLERANCE: f64 = 0.05;

/// Whether `k` of `of` runs is at least [`MIN_SHARE`].
pub fn share_enough(k: u32, of: u32) -> bool {
    k * MIN_SHARE.1 >= of * MIN_SHARE.0
}

/// Whether `pred` is within the tolerance measure `m` is judged by, around `real`.
pub fn within(m: Measure, real: f64, pred: f64) -> bool {
    m.tolerance(real)
        .is_some_and(|tol| (pred - real).abs() <= tol + 1e-9)
}

/// Whether `k` of `n` real runs is a plausible draw of a simulated share `p`: the two-sided
/// binomial probability of a count at least that far out is 5% or more. A share that misses
/// by more than [`SHARE_POINTS`] but is plausible cannot be told apart by so few runs.
pub fn plausible(k: u32, n: u32, p: f64) -> bool {
    let pmf = |i: u32| {
        let mut c = 1f64;
        for j in 0..i {
            c = c * f64::from(n - j) / f64::from(j + 1);
        }
        c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32)
    };
    let tail: f64 = if f64::from(k) >= p * f64::from(n) {
        (k..=n).map(pmf).sum()
    } else {
        (0..=k).map(pmf).sum()
    };
    (2.0 * tail).min(1.0) >= 0.05
}

/// A share: how many of the real runs, and of the seeds, did something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub what: String,
    pub real: u32,
    pub of_real: u32,
    pub sim: u32,
    pub of_sim: u32,
}

impl Share {
    /// The difference in percentage points.
    pub fn points(&self) -> f64 {
        (f64::from(self.real) / f64::from(self.of_real.max(1))
            - f64::from(self.sim) / f64::from(self.of_sim.max(1)))
        .abs()
            * 100.0
    }

    pub fn within(&self) -> bool {
        self.points() <= SHARE_POINTS + 1e-9
    }

    /// Whether the real count is a plausible draw of the seeds' share ([`plausible`]).
    pub fn plausible(&self) -> bool {
        plausible(
            self.real,
            self.of_real,
            f64::from(self.sim) / f64::from(self.of_sim.max(1)),
        )
    }
}

/// Some runs' values of one measure: median (as a prediction takes it), range, how many.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    pub runs: u32,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v = values.to_vec();
        let m = median(&mut v)?;
        Some(Spread {
            median: m,
            lo: v[0],
            hi: v[v.len() - 1],
            runs: v.len() as u32,
        })
    }
}

/// One measure over the real runs and over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistRow {
    pub measure: Measure,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<Spread>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<Spread>,
    /// Whether the medians are within the measure's tolerance (None: neither side has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<bool>,
}

/// Runs of one experiment against the seeds' distribution of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    pub rows: Vec<DistRow>,
    pub shares: Vec<Share>,
}

impl Distribution {
    /// `values`: per measure, the real runs' values and the seeds' (of the runs that have it);
    /// `verdicts`: the real runs' and the seeds'. Where the seeds split into two histories
    /// ([`groups`]), a real run belongs to the history whose span it is within tolerance of,
    /// else to the nearer.
    pub fn of_values(
        values: &[(Measure, Vec<f64>, Vec<f64>)],
        verdicts: (&[Verdict], &[Verdict]),
    ) -> Distribution {
        let (of_real, of_sim) = (verdicts.0.len() as u32, verdicts.1.len() as u32);
        let mut rows = Vec::new();
        let mut shares = Vec::new();
        for (m, real, sim) in values {
            let (r, s) = (Spread::of(real), Spread::of(sim));
            let within = match (r, s) {
                (None, None) => None,
                (Some(r), Some(s)) => Some(self::within(*m, r.median, s.median)),
                _ => Some(false),
            };
            rows.push(DistRow {
                measure: *m,
                real: r,
                simulated: s,
                within,
            });
            if let [low, high] = groups(*m, sim).as_slice() {
                let shorter =
                    |v: f64| low.holds(*m, v) || (!high.holds(*m, v) && v - low.hi < high.lo - v);
                shares.push(Share {
                    what: format!("{}: the shorter history", m.label()),
                    real: real.iter().filter(|&&v| shorter(v)).count() as u32,
                    of_real,
                    sim: low.runs,
                    of_sim,
                });
            }
        }
        let passed = |v: &[Verdict]| v.iter().filter(|&&v| v == Verdict::Passed).count() as u32;
        shares.push(Share {
            what: "verdict Passed".into(),
            real: passed(verdicts.0),
            of_real,
            sim: passed(verdicts.1),
            of_sim,
        });
        Distribution { rows, shares }
    }

    /// Real runs' measures against the seeds' measures, on every measure the calibration
    /// judges.
    pub fn of(real: &[Measures], sim: &[Measures]) -> Distribution {
        let values: Vec<(Measure, Vec<f64>, Vec<f64>)> = Measure::ALL
            .iter()
            .filter(|m| m.tolerance_text().is_some())
            .map(|&m| {
                let of = |v: &[Measures]| v.iter().filter_map(|r| r.get(m)).collect::<Vec<_>>();
                (m, of(real), of(sim))
            })
            .collect();
        let verdicts = |v: &[Measures]| v.iter().map(|r| r.verdict).collect::<Vec<_>>();
        Distribution::of_values(&values, (&verdicts(real), &verdicts(sim)))
    }
}

/// One recorded run against the prediction of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calibrated {
    /// The recording, as it was named.
    pub recording: String,
    /// The experiment (`namespace/name`).
    pub experiment: String,
    /// The model it was simulated on, and where it came from.
    pub model: String,
    pub comparison: Comparison,
}

/// Recordings of one experiment, as a distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub experiment: String,
    pub recordings: Vec<String>,
    /// The seeds the runs are set beside (every prediction's, when the runs had models of
    /// their own).
    pub seeds: u32,
    pub distribution: Distribution,
}

/// Recorded runs against the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calibration {
    pub recordings: Vec<Calibrated>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<Campaign>,
    /// Measures judged over every recording (the verdict and what reached the target first
    /// included), and of those within tolerance.
    pub judged: u32,
    pub within: u32,
}

/// One recorded run to calibrate on: its name, the run as replayed from it, the prediction of
/// it (and each seed's measures) and where that prediction's model came from.
pub struct Recorded {
    pub name: String,
    pub record: RunRecord,
    pub prediction: Prediction,
    pub seeds: Vec<Measures>,
    pub model_source: String,
}

impl Calibration {
    /// Sets each run beside its prediction; recordings of the same experiment (name, namespace
    /// and spec) also as a distribution.
    pub fn new(runs: Vec<Recorded>) -> Calibration {
        let mut by_experiment: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in runs.iter().enumerate() {
            by_experiment
                .entry(experiment_key(&r.record))
                .or_default()
                .push(i);
        }
        let mut campaigns: Vec<(usize, Campaign)> = by_experiment
            .values()
            .filter(|ix| ix.len() > 1)
            .map(|ix| (ix[0], campaign(&runs, ix)))
            .collect();
        // In the order of the recordings given.
        campaigns.sort_by_key(|(first, _)| *first);
        let recordings: Vec<Calibrated> = runs
            .into_iter()
            .map(|r| Calibrated {
                comparison: Comparison::new(&r.prediction, &r.record, Measures::of(&r.record)),
                experiment: format!("{}/{}", r.record.namespace, r.record.experiment),
                recording: r.name,
                model: r.model_source,
            })
            .collect();
        Calibration {
            judged: recordings.iter().map(|c| c.comparison.judged).sum(),
            within: recordings.iter().map(|c| c.comparison.within).sum(),
            recordings,
            campaigns: campaigns.into_iter().map(|(_, c)| c).collect(),
        }
    }

    /// The share of the judged measures within tolerance, in percent.
    pub fn share(&self) -> f64 {
        f64::from(self.within) * 100.0 / f64::from(self.judged.max(1))
    }

    /// `52 of 56 measures (93%) within the simulator's calibration tolerances, over 4 recordings`.
    pub fn headline(&self) -> String {
        format!(
            "{} of {} measures ({:.0}%) within the simulator's calibration tolerances, over {} \
             recording{}",
            self.within,
            self.judged,
            self.share(),
            self.recordings.len(),
            if self.recordings.len() == 1 { "" } else { "s" }
        )
    }
}

/// What makes two recordings runs of the same experiment.
fn experiment_key(r: &RunRecord) -> String {
    format!(
        "{}/{} {}",
        r.namespace,
        r.experiment,
        serde_json::to_string(&r.spec).unwrap_or_default()
    )
}

/// The recordings `ix` of one experiment against their predictions' seeds (each distinct
/// prediction's once: recordings simulated on one model share it).
fn campaign(runs: &[Recorded], ix: &[usize]) -> Campaign {
    let real: Vec<Measures> = ix.iter().map(|&i| Measures::of(&runs[i].record)).collect();
    let mut predictions: Vec<&Recorded> = Vec::new();
    for &i in ix {
        if !predictions
            .iter()
            .any(|p| p.prediction == runs[i].prediction)
        {
            predictions.push(&runs[i]);
        }
    }
    let sim: Vec<Measures> = predictions.iter().flat_map(|p| p.seeds.clone()).collect();
    let first = &runs[ix[0]].record;
    Campaign {
        experiment: format!("{}/{}", first.namespace, first.experiment),
        recordings: ix.iter().map(|&i| runs[i].name.clone()).collect(),
        seeds: sim.len() as u32,
        distribution: Distribution::of(&real, &sim),
    }
}

#[cfg(test)]
mod tests;
