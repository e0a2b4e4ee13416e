//! Prediction beside outcome: an experiment simulated on a snapshot of the cluster just before
//! it runs for real ([`predict`]), and, after the run, the prediction against what happened,
//! measure by measure, with the error of each ([`Comparison`]).
//!
//! The prediction is the one the simulator's calibration trusts (`tests/sim_calibration.rs`):
//! one run's timing is a draw (where each of the kubelet's loops happens to be), so the
//! experiment is simulated with [`SEEDS`] and each measure predicted as the median over the runs
//! — of the runs where it happens, when most do — with the range the runs spread over; the
//! verdict is the one most runs give. The tolerances a comparison judges by are the
//! calibration's too ([`Measure::tolerance`]).

pub mod calibration;
mod compare;
mod measures;
mod series;

pub use compare::{Comparison, FirstRow, Row};
pub use measures::{Measure, Measures, TargetFirst, Unit};
pub use series::Series;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::ExperimentRef;
use crate::sim::ClusterModel;
use crate::sim::model::{CgroupVersion, SnapshotInfo, Spread};
use crate::spec::Verdict;
use crate::{Error, Result};
use oomsday_core::Quantity;

/// The seeds a prediction simulates, as the calibration does.
pub const SEEDS: std::ops::RangeInclusive<u64> = 1..=21;

/// One measure as predicted over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    pub measure: Measure,
    /// The median of the runs that have it, when more than half do; None: most runs say it
    /// does not happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// The smallest and largest value among the runs that have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// How many runs have it (of [`Prediction::seeds`]).
    pub runs: u32,
    /// When the runs split into two histories far apart (see [`groups`]): each one's span and
    /// how many runs took it. A median alone would hide that the outcome is a coin toss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
}

/// Runs whose values of one measure lie together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub lo: f64,
    pub hi: f64,
    pub runs: u32,
}

impl Group {
    /// Whether `v` belongs to this group: within the measure's tolerance of its span.
    pub fn holds(&self, m: Measure, v: f64) -> bool {
        let tol = m.tolerance(v).unwrap_or(0.0) + 1e-9;
        v >= self.lo - tol && v <= self.hi + tol
    }
}

/// When the runs split into `groups`: how many runs took the history value `v` of measure `m`
/// belongs to (0: neither). None when they did not split.
pub fn history_of(groups: &[Group], m: Measure, v: f64) -> Option<u32> {
    (!groups.is_empty()).then(|| {
        groups
            .iter()
            .filter(|g| g.holds(m, v))
            .map(|g| g.runs)
            .max()
            .unwrap_or(0)
    })
}

/// The runs' values of measure `m` as two groups, when they split: the gap between
/// neighbouring values, with two runs or more on each side, that is widest against the
/// measure's tolerance there is wider than twice that tolerance (two predictions that far
/// apart cannot both be right) and than one unit. Measured in tolerances, since a tolerance
/// that grows with the value makes a wide gap among large values no more telling than a
/// narrow one among small values. Empty when the values do not split, or the measure has no
/// tolerance.
pub fn groups(m: Measure, values: &[f64]) -> Vec<Group> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let widest = (1..v.len().saturating_sub(2))
        .filter_map(|i| {
            let (gap, tol) = (v[i + 1] - v[i], m.tolerance(v[i])?);
            // Any gap is wide against no tolerance at all (none OOM-killed vs some).
            let wide = match (tol > 0.0, gap > 0.0) {
                (true, _) => gap / tol,
                (false, true) => f64::INFINITY,
                (false, false) => 0.0,
            };
            Some((i, wide))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
    let Some((i, in_tolerances)) = widest else {
        return Vec::new();
    };
    if in_tolerances <= 2.0 || v[i + 1] - v[i] < 1.0 {
        return Vec::new();
    }
    vec![
        Group {
            lo: v[0],
            hi: v[i],
            runs: i as u32 + 1,
        },
        Group {
            lo: v[i + 1],
            hi: v[v.len() - 1],
            runs: (v.len() - i - 1) as u32,
        },
    ]
}

/// An experiment simulated on a model of the cluster it is about to run on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// The model's name.
    pub model: String,
    /// When and from where the model was taken, and what it assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotInfo>,
    pub seeds: Vec<u64>,
    pub figures: Vec<Figure>,
    /// The verdict most runs give.
    pub verdict: Verdict,
    /// How many runs gave each verdict.
    pub verdicts: BTreeMap<Verdict, u32>,
    /// The run nearest the medians, whose series the report draws.
    pub representative_seed: u64,
    pub series: Series,
    /// What makes the prediction doubtful, said before anything else (a model past the edge,
    /// nodes of unknown cgroup version where v2 would predict otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the simulations assumed of the kubelets' memory notifier: which nodes' eviction
    /// managers the kernel wakes at a threshold crossing, and which find it on their 10 s look
    /// only (cgroup v2). See [`ClusterModel::notifier_assumption`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifier: Option<String>,
    /// Where some nodes' cgroup version is unknown and decides the notifier: the prediction
    /// with those nodes on cgroup v2, beside the one above (which simulates them as v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_cgroup_v2: Option<Alternative>,
    /// The target's containers' memory as the model knows it (working sets a snapshot measured,
    /// requests, limits): what a memory recommendation is computed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_memory: Vec<ContainerMemory>,
    /// How many runs had the kernel's OOM kill reach the target first, and how many the
    /// kubelet's eviction (predictions made before it was kept have none).
    #[serde(default)]
    pub target_first: FirstOdds,
}

/// How often each outcome reached the target first over a prediction's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstOdds {
    pub oom_kill: u32,
    pub eviction: u32,
    /// Runs where neither reached it.
    pub neither: u32,
}

impl FirstOdds {
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a Measures>) -> FirstOdds {
        let mut odds = FirstOdds::default();
        for m in runs {
            match m.target_first {
                Some(TargetFirst::OomKill) => odds.oom_kill += 1,
                Some(TargetFirst::Eviction) => odds.eviction += 1,
                None => odds.neither += 1,
            }
        }
        odds
    }

    pub fn runs(&self) -> u32 {
        self.oom_kill + self.eviction + self.neither
    }

    /// What most runs had first (None: in most runs neither reached the target); on a tie of
    /// the two, the eviction (the outcome a pod's limit was not set to expect).
    pub fn expected(&self) -> Option<TargetFirst> {
        let (o, e) = (self.oom_kill, self.eviction);
        if (o + e) * 2 <= self.runs() {
            return None;
        }
        Some(if o > e {
            TargetFirst::OomKill
        } else {
            TargetFirst::Eviction
        })
    }

    /// `the kubelet's eviction first (19 of 21 runs; the kernel's OOM kill in 2)`.
    pub fn text(&self) -> String {
        let of = self.runs();
        let count = |t: TargetFirst| match t {
            TargetFirst::OomKill => self.oom_kill,
            TargetFirst::Eviction => self.eviction,
        };
        let other = |t: TargetFirst| match t {
            TargetFirst::OomKill => TargetFirst::Eviction,
            TargetFirst::Eviction => TargetFirst::OomKill,
        };
        match self.expected() {
            Some(t) => {
                let mut s = format!("{} first ({} of {of} runs", t.label(), count(t));
                let o = other(t);
                if count(o) > 0 {
                    s.push_str(&format!("; {} in {}", o.label(), count(o)));
                }
                if self.neither > 0 {
                    s.push_str(&format!("; neither in {}", self.neither));
                }
                s + ")"
            }
            None if self.oom_kill + self.eviction == 0 => "neither".into(),
            None => format!(
                "neither in most runs ({} of {of}; {} first in {}, {} in {})",
                self.neither,
                TargetFirst::OomKill.label(),
                self.oom_kill,
                TargetFirst::Eviction.label(),
                self.eviction
            ),
        }
    }
}

/// One container of the target, as the model knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerMemory {
    pub container: String,
    /// Its working set over the pods a snapshot measured (min, p50, p90, max); a hand-written
    /// model's one value in all four.
    pub working_set: Spread,
    /// How many pods were measured: 0 when the working set is the model's own value.
    pub pods_measured: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Quantity>,
}

impl ContainerMemory {
    /// The containers of `exp`'s target in `model`.
    pub fn of_target(model: &ClusterModel, exp: &ExperimentRef) -> Vec<ContainerMemory> {
        let Some(w) = model
            .workloads()
            .into_iter()
            .find(|w| w.namespace == exp.namespace && w.name == exp.spec.target.name)
        else {
            return Vec::new();
        };
        let pods_measured = w.observed.as_ref().map_or(0, |o| o.pods.len());
        w.containers
            .iter()
            .map(|c| {
                let spread = w.observed.as_ref().and_then(|o| o.spread.get(&c.name));
                let one = c.working_set;
                ContainerMemory {
                    container: c.name.clone(),
                    working_set: spread.copied().unwrap_or(Spread {
                        min: one,
                        p50: one,
                        p90: one,
                        max: one,
                    }),
                    pods_measured: if spread.is_some() { pods_measured } else { 0 },
                    request: c.resources.memory_request().map(Quantity::from_bytes),
                    limit: c.resources.memory_limit().map(Quantity::from_bytes),
                }
            })
            .collect()
    }
}

/// The same experiment predicted on another assumption of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alternative {
    /// What this prediction assumed of the kubelets' memory notifier.
    pub notifier: String,
    pub figures: Vec<Figure>,
    pub verdict: Verdict,
    pub verdicts: BTreeMap<Verdict, u32>,
}

impl Alternative {
    fn of(model: &ClusterModel, p: Prediction) -> Alternative {
        Alternative {
            notifier: model.notifier_assumption(),
            figures: p.figures,
            verdict: p.verdict,
            verdicts: p.verdicts,
        }
    }

    /// The measures (and the verdict) where this prediction says otherwise than `main`, as
    /// `first eviction T+31.0 s (…) instead of T+24.0 s (…)`.
    pub fn differences(&self, main: &Prediction) -> Vec<String> {
        let of = main.seeds.len() as u32;
        let mut out: Vec<String> = self
            .figures
            .iter()
            .filter_map(|f| {
                let here = f.text(of);
                let there = main.figure(f.measure)?.text(of);
                (here != there).then(|| format!("{} {here} instead of {there}", f.measure.label()))
            })
            .collect();
        if self.verdict != main.verdict {
            out.push(format!(
                "verdict {:?} instead of {:?}",
                self.verdict, main.verdict
            ));
        }
        out
    }
}

/// The prediction's median: the middle value (the upper of the two middle ones), None for none.
pub fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

impl Figure {
    /// The figure as the tables show it, `of` runs in all: `T+22.0 s (20.0–25.0)`.
    pub fn text(&self, of: u32) -> String {
        compare::predicted_text(
            self.measure,
            (self.median, self.range),
            &self.groups,
            self.runs,
            of,
        )
    }
}

impl Prediction {
    /// The figure of one measure.
    pub fn figure(&self, m: Measure) -> Option<&Figure> {
        self.figures.iter().find(|f| f.measure == m)
    }

    /// Sums up runs of one experiment: the median rule, the spread, the verdict most give, and
    /// the run nearest the medians.
    pub fn of_runs(model: &ClusterModel, runs: &[(u64, Measures, Series)]) -> Result<Prediction> {
        if runs.is_empty() {
            return Err(Error::Internal(
                "a prediction needs at least one run".into(),
            ));
        }
        let figures = figures_of(runs);
        let mut verdicts: BTreeMap<Verdict, u32> = BTreeMap::new();
        for (_, r, _) in runs {
            *verdicts.entry(r.verdict).or_default() += 1;
        }
        // Most runs' verdict; on a tie, the worse (Failed, then Inconclusive, then Passed).
        let rank = |v: Verdict| match v {
            Verdict::Failed => 2,
            Verdict::Inconclusive => 1,
            Verdict::Passed => 0,
        };
        let verdict = [Verdict::Failed, Verdict::Inconclusive, Verdict::Passed]
            .into_iter()
            .max_by_key(|v| (verdicts.get(v).copied().unwrap_or(0), rank(*v)))
            .unwrap_or(Verdict::Inconclusive);
        // The run nearest the medians: relative distance on each measure, a whole 1 where one
        // has it and the other not.
        let distance = |r: &Measures| -> f64 {
            figures
                .iter()
                .map(|f| match (f.median, r.get(f.measure)) {
                    (Some(m), Some(x)) => (x - m).abs() / m.abs().max(1.0),
                    (None, None) => 0.0,
                    _ => 1.0,
                })
                .sum::<f64>()
                + f64::from(u8::from(r.verdict != verdict))
        };
        let best = runs
            .iter()
            .min_by(|a, b| {
                distance(&a.1)
                    .total_cmp(&distance(&b.1))
                    .then(a.0.cmp(&b.0))
            })
            .ok_or_else(|| Error::Internal("a prediction needs at least one run".into()))?;
        Ok(Prediction {
            model: model.metadata.name.clone(),
            snapshot: model.metadata.snapshot.clone(),
            seeds: runs.iter().map(|(s, _, _)| *s).collect(),
            figures,
            verdict,
            verdicts,
            representative_seed: best.0,
            series: best.2.clone(),
            warnings: Vec::new(),
            notifier: Some(model.notifier_assumption()),
            if_cgroup_v2: None,
            target_memory: Vec::new(),
            target_first: FirstOdds::of(runs.iter().map(|(_, m, _)| m)),
        })
    }
}

/// Each measure over the runs: its median when most runs have it, its range and its groups.
fn figures_of(runs: &[(u64, Measures, Series)]) -> Vec<Figure> {
    let n = runs.len();
    Measure::ALL
        .iter()
        .map(|&m| {
            let mut v: Vec<f64> = runs.iter().filter_map(|(_, r, _)| r.get(m)).collect();
            let range = v.iter().fold(None, |acc: Option<(f64, f64)>, &x| {
                Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
            });
            let runs_with = v.len();
            let groups = groups(m, &v);
            let median = if runs_with * 2 > n {
                median(&mut v)
            } else {
                None
            };
            Figure {
                measure: m,
                median,
                range,
                runs: runs_with as u32,
                groups,
            }
        })
        .collect()
}

/// A prediction with the model it was made on: a recording of the run keeps the model, so that
/// `oomsday calibrate` can simulate the run again on the cluster as it was just before it.
#[derive(Debug, Clone)]
pub struct Predicted {
    pub model: ClusterModel,
    pub prediction: Prediction,
}

impl Predicted {
    /// Writes the model into the run's recording, at the time it was taken (now, for a model
    /// that does not say).
    pub fn record(&self, recorder: &crate::recording::Recorder, now: crate::observe::Time) {
        let at = self
            .model
            .metadata
            .snapshot
            .as_ref()
            .map_or(now, |s| s.taken_at);
        recorder.model(at, &self.model);
    }
}

/// Simulates `exp` on `model` once per seed and sums the runs up.
pub async fn predict(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<Prediction> {
    predict_with_runs(model, exp, seeds).await.map(|(p, _)| p)
}

/// The same, with each seed's measures in the seeds' order: what a calibration over several
/// recordings of one experiment sets beside their distribution.
pub async fn predict_with_runs(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<(Prediction, Vec<Measures>)> {
    let target = &exp.spec.target.name;
    if !model
        .workloads()
        .iter()
        .any(|w| w.namespace == exp.namespace && &w.name == target)
    {
        return Err(Error::Model(format!(
            "the model {} has no workload {}/{target} to predict the experiment {} on",
            model.metadata.name, exp.namespace, exp.name
        )));
    }
    // The simulations only compute: off the async workers, so that a controller's other tasks
    // (its Lease, other runs) go on meanwhile.
    let (model, exp) = (model.clone(), exp.clone());
    let seeds: Vec<u64> = seeds.into_iter().collect();
    tokio::task::spawn_blocking(move || {
        let workers = workers();
        let (mut p, runs) = simulate(&model, &exp, &seeds, workers)?;
        p.target_memory = ContainerMemory::of_target(&model, &exp);
        // Nodes of unknown cgroup version are simulated as v1 (as configured); where that
        // decides the kubelet's memory notifier, the v2 outcome is predicted too and said.
        if model.unknown_cgroups_matter() {
            let v2 = model.with_unknown_cgroups_as(CgroupVersion::V2);
            let alt = Alternative::of(&v2, simulate(&v2, &exp, &seeds, workers)?.0);
            let differ = alt.differences(&p);
            if !differ.is_empty() {
                p.warnings.push(format!(
                    "the cgroup version of some nodes is unknown, and it decides whether \
                     their kubelets' memory notifier exists: this prediction simulates them \
                     as cgroup v1 (evictions at the threshold crossing); on cgroup v2 (the \
                     10 s look only) it would be: {}",
                    differ.join("; ")
                ));
            }
            p.if_cgroup_v2 = Some(alt);
        }
        Ok((p, runs))
    })
    .await
    .map_err(|e| Error::Internal(format!("the prediction's simulations stopped: {e}")))?
}

/// How many seeds are simulated at once: one per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// One seed's run: its measures and series, and the model's past-the-edge warning.
type SeedRun = (Measures, Series, Option<String>);

/// The experiment simulated on `model` once per seed, summed up. The seeds are independent
/// runs, each on its own cluster: `workers` threads take the next seed until none is left, and
/// the runs are summed up in the seeds' order, so the prediction is the same however many
/// threads ran it.
fn simulate(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seeds: &[u64],
    workers: usize,
) -> Result<(Prediction, Vec<Measures>)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<Option<Result<SeedRun>>> = seeds.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..workers.clamp(1, seeds.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&seed) = seeds.get(i) else {
                            return mine;
                        };
                        mine.push((i, simulate_seed(model, exp, seed, i == 0)));
                    }
                })
            })
            .collect();
        for t in threads {
            // A panicking simulation is a bug: it panics here as it would have sequentially.
            let mine = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (i, run) in mine {
                done[i] = Some(run);
            }
        }
    });
    let mut runs = Vec::with_capacity(seeds.len());
    let mut warnings = Vec::new();
    for (&seed, run) in seeds.iter().zip(done) {
        let (measures, series, warning) = run.ok_or_else(|| {
            Error::Internal(format!("the simulation of seed {seed} did not run"))
        })??;
        // Said once, from the first seed's cluster: the model is past the edge or not.
        warnings.extend(warning);
        runs.push((seed, measures, series));
    }
    let mut p = Prediction::of_runs(model, &runs)?;
    warnings.extend(crate::sim::unmodelled(&exp.spec));
    p.warnings = warnings;
    Ok((p, runs.into_iter().map(|(_, m, _)| m).collect()))
}

/// One seed simulated on its own cluster (with `warn`, whether the model is past the edge).
/// The simulator's clock is virtual and nothing in a simulated run waits on I/O, so a plain
/// executor on this thread drives it.
fn simulate_seed(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seed: u64,
    warn: bool,
) -> Result<SeedRun> {
    let mut cluster = crate::sim::SimCluster::new(model, seed)?;
    let warning = warn.then(|| cluster.edge_warning()).flatten();
    let record = futures::executor::block_on(crate::sim::run_on(&mut cluster, exp, seed))?;
    Ok((Measures::of(&record), Series::of(&record), warning))
}

#[cfg(test)]
mod tests;
