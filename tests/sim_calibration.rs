//! The simulator against a real kubelet: every recording in `tests/fixtures/real-runs/` is
//! simulated on the model of the node it ran on, and the prediction is compared with the
//! recording's ground truth (`TRUTH.md`, read by `support::truth`), measure by measure.
//!
//! The table (predicted, real, error) is printed by
//!
//!     cargo test --test sim_calibration -- --nocapture
//!
//! Times are seconds after the run's start: `oomsday run`'s start for the recordings (their
//! object timestamps, whole seconds), the record's `started` for the simulation.

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use oomsday::engine::{ExperimentRef, RunRecord};
use oomsday::observe::{DisruptionCause, Happening, NodeConditionKind};
use oomsday::predict::calibration::{
    self, Campaign, Distribution, GROWTH_TOLERANCE, SHARE_POINTS, Share,
};
use oomsday::predict::{Group, Measure, groups, history_of};
use oomsday::sim::manifests::from_manifests;
use oomsday::sim::model::ModelMeta;
use oomsday::sim::model::from_kube::{Configz, Summary, apply_usage, node_from_kube};
use oomsday::sim::{ClusterModel, run_experiment};
use oomsday::spec::Verdict;
use support::truth::{
    HELD_OUT, RUNS, Truth, every_recording, recorded_experiment, runs_dir, spill_campaign,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The model of the real node the recordings ran on, as checked in.
fn model() -> ClusterModel {
    ClusterModel::load(&root().join("tests/fixtures/real-bed/model.yaml"))
        .expect("the derived model of the real node")
}

fn json<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = root().join("tests/fixtures/real-bed").join(file);
    let text = std::fs::read_to_string(&path).expect("a real-bed file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The model derived from the real node's API objects (Node, kubelet configz, Summary API,
/// metrics) and the recordings' workloads (`setup.yaml`, the same in every recording), with
/// nothing written by hand.
fn derived_model() -> ClusterModel {
    let node: Node = json("node.json");
    let configz: Configz = json("kubelet-configz.json");
    let summary: Summary = json("kubelet-stats-summary.json");
    let metrics =
        std::fs::read_to_string(root().join("tests/fixtures/real-bed/kubelet-metrics.txt"))
            .expect("the real kubelet's metrics");
    let d = node_from_kube(
        &node,
        &configz.kubeletconfig,
        Some(&summary),
        Some(&metrics),
    )
    .expect("the real node derives");
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let setup = runs_dir().join("contained/setup.yaml");
    let mut m = from_manifests(&setup, vec![d.group], d.kubelet).expect("setup.yaml imports");
    let set = apply_usage(&mut m, &d.usage);
    assert_eq!(
        set, 2,
        "both workloads' containers have a working set from the Summary API"
    );
    m.metadata = ModelMeta {
        name: "real-bed".into(),
        description: Some(
            "the single v1.32.13 node of tests/fixtures/real-runs, derived from real-bed/*.json \
             and the recordings' setup.yaml"
                .into(),
        ),
        snapshot: None,
    };
    m
}

#[test]
fn the_real_bed_model_is_derived_not_written() {
    for name in every_recording() {
        let setup = std::fs::read(runs_dir().join(name).join("setup.yaml")).expect("setup");
        let first = std::fs::read(runs_dir().join("contained/setup.yaml")).expect("setup");
        assert_eq!(
            setup, first,
            "{name}: every recording ran on the same setup"
        );
    }
    let derived = derived_model();
    let yaml = serde_saphyr::to_string(&derived).expect("the model serializes");
    assert_eq!(
        model(),
        derived,
        "tests/fixtures/real-bed/model.yaml is not what the real bed derives; derived:\n{yaml}"
    );
}

/// One scenario's figures: times in seconds after the run's start, durations in seconds.
#[derive(Debug, Clone, Default)]
struct Figures {
    first_leaker: Option<f64>,
    /// How fast a leaker grew while leaking, MiB/s.
    growth: Option<f64>,
    first_oom: Option<f64>,
    ooms: usize,
    first_eviction: Option<f64>,
    evictions: usize,
    first_pressure: Option<f64>,
    below_budget: f64,
    recovery: Option<f64>,
    verdict: Option<Verdict>,
}

fn after(start: Timestamp, at: Timestamp) -> f64 {
    at.duration_since(start).as_secs_f64()
}

/// A leaker's growth while leaking: per pod and per incarnation (a restart drops its bytes),
/// from the first sample to the first time the highest value was seen — so a step curve's
/// flat seconds count only between steps, however sparsely they were sampled.
fn growth(samples: &mut [(String, f64, u64)]) -> Option<f64> {
    samples.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut bytes, mut secs) = (0f64, 0f64);
    let mut seg: Option<(&str, f64, u64, f64, u64)> = None; // pod, t0, b0, t_top, b_top
    let mut close = |s: Option<(&str, f64, u64, f64, u64)>| {
        if let Some((_, t0, b0, t1, b1)) = s
            && t1 > t0
        {
            bytes += (b1 - b0) as f64;
            secs += t1 - t0;
        }
    };
    for (pod, t, b) in samples.iter() {
        match seg {
            Some((p, _, _, _, top)) if p == pod && *b >= top => {
                if *b > top {
                    seg = seg.map(|(p, t0, b0, _, _)| (p, t0, b0, *t, *b));
                }
            }
            _ => {
                close(seg);
                seg = Some((pod, *t, *b, *t, *b));
            }
        }
    }
    close(seg);
    (secs > 0.0).then(|| bytes / secs / f64::from(1u32 << 20))
}

/// The recorded leaker's own metrics (`leaker-metrics.jsonl`): `(pod, seconds after start,
/// allocated bytes)` while it was leaking.
fn recorded_leak(dir: &Path, start: Timestamp) -> Vec<(String, f64, u64)> {
    let text = std::fs::read_to_string(dir.join("leaker-metrics.jsonl")).expect("metrics");
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let metrics = v["metrics"].as_str().expect("metrics text");
        let value = |name: &str| {
            metrics
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<f64>().ok())
        };
        if value("oomsday_leaker_phase{phase=\"leaking\"}") != Some(1.0) {
            continue;
        }
        let at: Timestamp = v["received"]
            .as_str()
            .expect("received")
            .parse()
            .expect("time");
        if let Some(b) = value("oomsday_leaker_allocated_bytes") {
            let pod = v["pod"].as_str().expect("pod").to_string();
            out.push((pod, after(start, at), b as u64));
        }
    }
    out
}

/// What the recording says happened.
fn real(t: &Truth, exp: &ExperimentRef) -> Figures {
    let start = t.run_started;
    let first =
        |v: &[support::truth::PodFact]| v.iter().map(|f| f.at).min().map(|at| after(start, at));
    let ooms = t.oom_kills();
    let evictions = t.evictions();
    let (below, _) = t.below_budget();
    let recovery = t.recovery();
    // The real verdict: the experiment's hypothesis judged on the recording's own figures, as
    // the scorer judges it (Inconclusive when the leaker never ran).
    let verdict = if t.leaker_starts().is_empty() {
        Verdict::Inconclusive
    } else {
        let mut held = true;
        if let Some(h) = &exp.spec.hypothesis {
            if h.pdb_holds == Some(true) {
                held &= below == 0.0;
            }
            if let Some(max) = h.max_bystander_evictions {
                let n = evictions.iter().filter(|e| !e.target).count()
                    + ooms.iter().filter(|e| !e.target).count();
                held &= n as u64 <= u64::from(max);
            }
            if let Some(within) = h.recovered_within {
                held &= recovery.is_some_and(|r| r <= within.std().as_secs_f64());
            }
            assert!(
                h.max_nodes_not_ready.is_none()
                    && h.no_node_pressure.is_none()
                    && h.alerts_fire.is_none(),
                "a hypothesis clause the calibration does not judge"
            );
        }
        if held {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    };
    Figures {
        first_leaker: first(&t.leaker_starts()),
        growth: growth(&mut recorded_leak(&runs_dir().join(&t.name), start)),
        first_oom: first(&ooms),
        ooms: ooms.len(),
        first_eviction: first(&evictions),
        evictions: evictions.len(),
        first_pressure: t
            .memory_pressure()
            .iter()
            .filter(|(_, on, at)| *on && *at >= start)
            .map(|(_, _, at)| after(start, *at))
            .next(),
        below_budget: below,
        recovery,
        verdict: Some(verdict),
    }
}

/// What one simulated run predicted.
fn predicted(r: &RunRecord) -> Figures {
    let start = r.started;
    let mut f = Figures::default();
    let max = r.spec.leak.max.map(|q| q.bytes());
    let mut leak = Vec::new();
    // Time below the budget, as the truth measures it: PDB currentHealthy < desiredHealthy,
    // from the run's start to its end.
    let mut below_since: Option<Timestamp> = None;
    for o in r.timeline.iter() {
        if o.at < start {
            continue;
        }
        let t = after(start, o.at);
        match &o.happening {
            Happening::LeakerStarted { .. } => {
                f.first_leaker.get_or_insert(t);
            }
            // Leaking, as the real leaker's phase says: not yet holding at the curve's max.
            Happening::LeakerBytes { pod, bytes } if *bytes > 0 && Some(*bytes) != max => {
                leak.push((pod.clone(), t, *bytes));
            }
            Happening::OomKilled { .. } => {
                f.ooms += 1;
                f.first_oom.get_or_insert(t);
            }
            Happening::PodEvicted { cause, .. } if *cause != DisruptionCause::Deleted => {
                f.evictions += 1;
                f.first_eviction.get_or_insert(t);
            }
            Happening::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => {
                f.first_pressure.get_or_insert(t);
            }
            Happening::Budget {
                current_healthy,
                desired_healthy,
                ..
            } => {
                let below = current_healthy < desired_healthy;
                match (below, below_since) {
                    (true, None) => below_since = Some(o.at),
                    (false, Some(s)) => {
                        f.below_budget += after(s, o.at);
                        below_since = None;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(s) = below_since {
        f.below_budget += after(s, r.finished);
    }
    f.growth = growth(&mut leak);
    f.recovery = r
        .reverted
        .zip(r.recovered)
        .map(|(rev, rec)| after(rev, rec));
    f.verdict = Some(oomsday::score::score(r).verdict);
    f
}

/// The seeds every recording is simulated with. A run's timing depends on where each loop of
/// the kubelet happens to be (its monitoring tick, its status post, the pod worker's jitter),
/// which the seed draws as a real node's start draws it; the prediction is the median over
/// these runs, and the table shows their spread. The same seeds `run --predict` uses.
const SEEDS: std::ops::RangeInclusive<u64> = oomsday::predict::SEEDS;

/// Measures the simulator does not meet, each with why. The test fails if one of these is met
/// (remove it) or if any other is missed.
///
/// A known miss is only one where the seeds split into two histories and the real value lies
/// in one that at least [`MIN_SHARE`] of them take: reality drew the less likely side of a
/// coin the simulator also tosses. The median of such a toss is no prediction, which is why
/// `run --predict` and `simulate --seeds` show both histories.
const KNOWN_MISSES: &[(&str, &str)] = &[
    // Whether the node's first MemoryPressure post comes before or after the second eviction
    // (7.6 s after the first; the post lands 0–10 s after it) decides the rest: after it, as
    // for real (by 0.15 s), the replacement is placed before the taint, and the revert comes in
    // a quiet moment: 3 s. Before it, the replacement waits, the node is under pressure again
    // at the revert, and the reverted pods wait for the taint to go: 7–23 s. About 1 run in 4
    // takes the recorded history (`spill_runs_that_took_the_recorded_history_recover_as_it_did`),
    // and the seeds' recoveries split there (2.9–4.0 s in 6, 7.3–23.2 s in 15).
    ("spill", "recovery (±30%)"),
];

fn share_enough(k: usize, of: usize) -> bool {
    calibration::share_enough(k as u32, of as u32)
}

/// Fails unless the measures outside tolerance are exactly the known misses, each in a
/// history at least [`MIN_SHARE`] of the seeds take.
fn assert_known_misses(misses: &[Miss], table: &str) {
    let names: Vec<(&str, &str)> = misses
        .iter()
        .map(|(r, m, _)| (r.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        names, KNOWN_MISSES,
        "outside tolerance (left) vs the known misses (right)\n\n{table}"
    );
    let seeds = SEEDS.count() as u32;
    for (r, m, share) in misses {
        assert!(
            share.is_some_and(|k| share_enough(k as usize, seeds as usize)),
            "{r}: {m}: a known miss must be a split the real value took with at least one in five \
             of the seeds; took {share:?} of {seeds}\n\n{table}"
        );
    }
}

/// The median as the prediction takes it, of values there are.
fn median(mut v: Vec<f64>) -> f64 {
    oomsday::predict::median(&mut v).expect("values to take the median of")
}

/// The prediction of a set of runs: the median of each measure (of the runs that have it,
/// when most do), its spread, and the verdict most runs give.
fn summarize(runs: &[Figures]) -> (Figures, Spread) {
    let opt = |f: &dyn Fn(&Figures) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(f).collect();
        ((v.len() * 2 > runs.len()).then(|| median(v.clone())), v)
    };
    let num = |f: &dyn Fn(&Figures) -> f64| opt(&|r| Some(f(r)));
    let mut verdicts: Vec<Verdict> = runs.iter().filter_map(|r| r.verdict).collect();
    verdicts.sort_by_key(|v| format!("{v:?}"));
    let verdict = verdicts
        .iter()
        .max_by_key(|v| verdicts.iter().filter(|w| w == v).count())
        .copied();
    let (first_leaker, s_leaker) = opt(&|r| r.first_leaker);
    let (growth, s_growth) = opt(&|r| r.growth);
    let (first_oom, s_oom) = opt(&|r| r.first_oom);
    let (ooms, s_ooms) = num(&|r| r.ooms as f64);
    let (first_eviction, s_ev) = opt(&|r| r.first_eviction);
    let (evictions, s_evs) = num(&|r| r.evictions as f64);
    let (first_pressure, s_mp) = opt(&|r| r.first_pressure);
    let (below, s_below) = num(&|r| r.below_budget);
    let (recovery, s_rec) = opt(&|r| r.recovery);
    (
        Figures {
            first_leaker,
            growth,
            first_oom,
            ooms: ooms.unwrap_or(0.0) as usize,
            first_eviction,
            evictions: evictions.unwrap_or(0.0) as usize,
            first_pressure,
            below_budget: below.unwrap_or(0.0),
            recovery,
            verdict,
        },
        Spread([
            s_leaker, s_growth, s_oom, s_ooms, s_ev, s_evs, s_mp, s_below, s_rec,
        ]),
    )
}

/// The runs' values of each measure, in the order of [`rows`].
struct Spread([Vec<f64>; 9]);

/// The prediction's measure of each row of [`rows`], where there is one: the runs' groups are
/// found as `run --predict` finds them.
const ROW_MEASURES: [Option<Measure>; 9] = [
    None,
    None,
    Some(Measure::FirstOomKill),
    Some(Measure::OomKills),
    Some(Measure::FirstEviction),
    Some(Measure::TargetEvictions),
    Some(Measure::FirstMemoryPressure),
    Some(Measure::BelowBudget),
    Some(Measure::Recovery),
];

/// The seeds' spread as the table shows it: the range, or the two histories they split into.
fn spread_text(m: Option<Measure>, v: &[f64]) -> (String, Vec<Group>) {
    let groups = m.map(|m| groups(m, v)).unwrap_or_default();
    let span = |lo: f64, hi: f64| {
        if lo == hi {
            format!("{lo:.1}")
        } else {
            format!("{lo:.1}–{hi:.1}")
        }
    };
    let lo = v.iter().copied().reduce(f64::min);
    let hi = v.iter().copied().reduce(f64::max);
    let text = match (lo.zip(hi), groups.as_slice()) {
        (_, [a, b]) => format!(
            "{} in {}, {} in {}",
            span(a.lo, a.hi),
            a.runs,
            span(b.lo, b.hi),
            b.runs
        ),
        (Some((lo, hi)), _) => span(lo, hi),
        (None, _) => "—".into(),
    };
    (text, groups)
}

/// One row of the table: a measure, both figures and whether the prediction is within the
/// issue's tolerance for it (None: shown, not judged).
struct Row {
    measure: &'static str,
    real: String,
    predicted: String,
    error: String,
    ok: Option<bool>,
}

fn secs(v: Option<f64>) -> String {
    v.map_or("none".into(), |s| format!("T{s:+.1}"))
}

/// Whether `pred` is within the tolerance `run --predict` and `oomsday calibrate` judge
/// measure `m` by, around `real`.
fn within(m: Measure, real: f64, pred: f64) -> bool {
    assert!(m.tolerance(real).is_some(), "{m:?} has a tolerance");
    calibration::within(m, real, pred)
}

fn time_row(measure: &'static str, m: Measure, real: Option<f64>, pred: Option<f64>) -> Row {
    let (error, ok) = match (real, pred) {
        (None, None) => ("—".into(), true),
        (Some(r), Some(p)) => (format!("{:+.1} s", p - r), within(m, r, p)),
        _ => ("missing".into(), false),
    };
    Row {
        measure,
        real: secs(real),
        predicted: secs(pred),
        error,
        ok: Some(ok),
    }
}

fn count_row(measure: &'static str, m: Measure, real: usize, pred: usize) -> Row {
    Row {
        measure,
        real: real.to_string(),
        predicted: pred.to_string(),
        error: format!("{:+}", pred as i64 - real as i64),
        ok: Some(within(m, real as f64, pred as f64)),
    }
}

fn rows(real: &Figures, pred: &Figures) -> Vec<Row> {
    let rate = |v: Option<f64>| v.map_or("—".into(), |r| format!("{r:.1} MiB/s"));
    let mut v = vec![
        Row {
            measure: "first leaker start (whole s, shown)",
            real: secs(real.first_leaker),
            predicted: secs(pred.first_leaker),
            error: match (real.first_leaker, pred.first_leaker) {
                (Some(r), Some(p)) => format!("{:+.1} s", p - r),
                _ => "—".into(),
            },
            ok: None,
        },
        Row {
            measure: "leak growth while leaking (±5%)",
            real: rate(real.growth),
            predicted: rate(pred.growth),
            error: match (real.growth, pred.growth) {
                (Some(r), Some(p)) => format!("{:+.0}%", (p - r) / r * 100.0),
                _ => "—".into(),
            },
            ok: match (real.growth, pred.growth) {
                (Some(r), Some(p)) => Some((p - r).abs() <= GROWTH_TOLERANCE * r),
                (None, None) => None,
                _ => Some(false),
            },
        },
        time_row(
            "first OOM kill (±3 s)",
            Measure::FirstOomKill,
            real.first_oom,
            pred.first_oom,
        ),
        count_row("OOM kills (±25%)", Measure::OomKills, real.ooms, pred.ooms),
        time_row(
            "first eviction (±5 s)",
            Measure::FirstEviction,
            real.first_eviction,
            pred.first_eviction,
        ),
        count_row(
            "evictions (±1)",
            Measure::TargetEvictions,
            real.evictions,
            pred.evictions,
        ),
        time_row(
            "first MemoryPressure (±5 s)",
            Measure::FirstMemoryPressure,
            real.first_pressure,
            pred.first_pressure,
        ),
    ];
    let (r, p) = (real.below_budget, pred.below_budget);
    v.push(Row {
        measure: "below the budget (±30%, ±5 s under 15 s)",
        real: format!("{r:.1} s"),
        predicted: format!("{p:.1} s"),
        error: if r > 0.0 {
            format!("{:+.1} s ({:+.0}%)", p - r, (p - r) / r * 100.0)
        } else {
            format!("{:+.1} s", p - r)
        },
        ok: Some(within(Measure::BelowBudget, r, p)),
    });
    v.push(match (real.recovery, pred.recovery) {
        (Some(r), Some(p)) => Row {
            measure: "recovery (±30%)",
            real: format!("{r:.1} s"),
            predicted: format!("{p:.1} s"),
            error: format!("{:+.1} s ({:+.0}%)", p - r, (p - r) / r * 100.0),
            ok: Some(within(Measure::Recovery, r, p)),
        },
        (None, p) => Row {
            measure: "recovery (±30%)",
            real: "no rollout".into(),
            predicted: p.map_or("none".into(), |p| format!("{p:.1} s")),
            error: "—".into(),
            ok: None,
        },
        (Some(r), None) => Row {
            measure: "recovery (±30%)",
            real: format!("{r:.1} s"),
            predicted: "never".into(),
            error: "missing".into(),
            ok: Some(false),
        },
    });
    let verdict = |v: Option<Verdict>| v.map_or("—".into(), |v| format!("{v:?}"));
    v.push(Row {
        measure: "verdict",
        real: verdict(real.verdict),
        predicted: verdict(pred.verdict),
        error: "—".into(),
        ok: Some(real.verdict == pred.verdict),
    });
    v
}

/// The calibration table, and the measures outside tolerance as `(recording, measure)`.
/// A measure outside tolerance: the recording, the measure, and — when the seeds split into
/// two histories — how many of them took the one the real value is in (0: neither).
type Miss = (String, String, Option<u32>);

/// The real figures in the order of [`rows`]' first nine.
fn real_values(f: &Figures) -> [Option<f64>; 9] {
    [
        f.first_leaker,
        f.growth,
        f.first_oom,
        Some(f.ooms as f64),
        f.first_eviction,
        Some(f.evictions as f64),
        f.first_pressure,
        Some(f.below_budget),
        f.recovery,
    ]
}

async fn calibrate(model: &ClusterModel, names: &[&str]) -> (String, Vec<Miss>) {
    let mut table = format!(
        "| recording | measure | real | predicted (median of {n} seeds) | seeds' range | error | within |\n\
         | --- | --- | ---: | ---: | ---: | ---: | :---: |\n",
        n = SEEDS.count()
    );
    let mut misses = Vec::new();
    // Recordings of one experiment share its simulations.
    let mut simulated: std::collections::BTreeMap<String, Vec<Figures>> = Default::default();
    for &name in names {
        let truth = Truth::load(name);
        let exp = recorded_experiment(name);
        let key = format!("{:?}", exp.spec);
        if !simulated.contains_key(&key) {
            let mut runs = Vec::new();
            for seed in SEEDS {
                let record = run_experiment(model, &exp, seed)
                    .await
                    .expect("the simulation completes");
                runs.push(predicted(&record));
            }
            simulated.insert(key.clone(), runs);
        }
        let (pred, spread) = summarize(&simulated[&key]);
        let real = real(&truth, &exp);
        let reals = real_values(&real);
        for (i, row) in rows(&real, &pred).into_iter().enumerate() {
            // Spread is in the order of the rows; the verdict row (the last) has none.
            let (range, groups) = spread.0.get(i).map_or(("—".into(), Vec::new()), |v| {
                spread_text(ROW_MEASURES[i], v)
            });
            let mark = match row.ok {
                Some(true) => "yes",
                Some(false) => {
                    let share = ROW_MEASURES[i]
                        .zip(reals[i])
                        .and_then(|(m, r)| history_of(&groups, m, r));
                    misses.push((name.to_string(), row.measure.to_string(), share));
                    "**no**"
                }
                None => "n/a",
            };
            writeln!(
                table,
                "| {name} | {} | {} | {} | {range} | {} | {mark} |",
                row.measure, row.real, row.predicted, row.error
            )
            .expect("writing to a String");
        }
    }
    (table, misses)
}

/// The model of the real bed as `oomsday snapshot` takes it from a mock API server that serves
/// the real-bed API responses (Node, kubelet configz, Summary API) and the recordings' pods,
/// Deployments and PDBs (`support::bed`): nothing written or derived by hand.
async fn snapshot_model() -> ClusterModel {
    let client = support::bed::recorded("contained").client();
    let taken = oomsday::snapshot::Taken {
        at: "2026-11-30T07:29:29Z".parse().expect("a time"),
        context: "context real-bed (mock API)".into(),
    };
    oomsday::snapshot::take(&client, &Default::default(), &taken, &mut |_| {})
        .await
        .expect("the snapshot of the mock cluster")
}

#[tokio::test]
async fn a_snapshot_of_the_mock_cluster_predicts_every_recording_within_tolerance() {
    let model = snapshot_model().await;
    let notes = &model
        .metadata
        .snapshot
        .as_ref()
        .expect("snapshot info")
        .notes;
    assert!(notes.is_empty(), "{notes:?}");
    let (table, misses) = calibrate(&model, &RUNS).await;
    println!("SIMULATED on a snapshot of the mock cluster vs a real kubelet v1.32.13\n\n{table}");
    assert_known_misses(&misses, &table);
}

#[tokio::test]
async fn every_recording_is_predicted_within_tolerance() {
    let (table, misses) = calibrate(&model(), &RUNS).await;
    println!("SIMULATED vs a real kubelet v1.32.13\n\n{table}");
    assert_known_misses(&misses, &table);
}

/// Where the spill runs split: the recording's node posted its first MemoryPressure 0.15 s
/// after the second eviction, so that eviction's replacement was placed before the taint. The
/// seeds whose history did the same must recover as the recording did, and they must be a
/// real share of the seeds, not a stray one.
#[tokio::test]
async fn spill_runs_that_took_the_recorded_history_recover_as_it_did() {
    let truth = Truth::load("spill");
    let evicted: Vec<Timestamp> = truth
        .table("Evictions")
        .iter()
        .map(|r| truth.received(&r["received"]))
        .collect();
    let pressure = truth
        .fact_received("node real-1 MemoryPressure=True")
        .expect("the recorded MemoryPressure");
    assert!(
        evicted.len() >= 2 && evicted[1] < pressure && pressure < evicted[1] + SECOND,
        "the recording: MemoryPressure {pressure} just after the second eviction {evicted:?}"
    );
    let real = truth.recovery().expect("the recorded recovery");
    let exp = recorded_experiment("spill");
    let (mut took, mut other) = (Vec::new(), Vec::new());
    for seed in SEEDS {
        let r = run_experiment(&model(), &exp, seed)
            .await
            .expect("the simulation completes");
        let recovery = predicted(&r).recovery.expect("every spill run recovers");
        match pressure_after_second_eviction(&r) {
            true => took.push(recovery),
            false => other.push(recovery),
        }
    }
    println!("recorded history: {took:?}; the other: {other:?}; real {real:.1} s");
    assert!(
        share_enough(took.len(), SEEDS.count()),
        "one in five of the seeds or more take the recorded history: {took:?} of {}",
        SEEDS.count()
    );
    let m = median(took.clone());
    assert!(
        within(Measure::Recovery, real, m),
        "the recorded history recovers in {m:.1} s (runs {took:?}), the recording in {real:.1} s"
    );
    let o = median(other.clone());
    assert!(
        o > 1.3 * real,
        "the other history is what misses: {o:.1} s (runs {other:?})"
    );
}

const SECOND: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

/// Which of spill's two histories a simulated run took: whether the node's first MemoryPressure
/// post came after the second eviction, in the order the observations were made (as the watch
/// would see them).
fn pressure_after_second_eviction(r: &RunRecord) -> bool {
    let second_eviction = r
        .timeline
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            matches!(&o.happening, Happening::PodEvicted { cause, .. } if *cause != DisruptionCause::Deleted)
        })
        .nth(1)
        .map(|(i, _)| i);
    let first_pressure = r.timeline.iter().position(|o| {
        matches!(
            o.happening,
            Happening::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            }
        )
    });
    matches!((second_eviction, first_pressure), (Some(e), Some(p)) if p > e)
}

/// The same of a recording, by when the recorder received each (`SUMMARY.md`'s history).
fn recorded_pressure_after_second_eviction(t: &Truth) -> bool {
    let mut evicted: Vec<Timestamp> = t
        .table("Evictions")
        .iter()
        .map(|r| t.received(&r["received"]))
        .collect();
    evicted.sort();
    let pressure = t.fact_received("node real-1 MemoryPressure=True");
    matches!((evicted.get(1), pressure), (Some(e), Some(p)) if p > *e)
}

/// Whether a simulated run's first eviction's replacement was turned away by the taint: the
/// status post that carried MemoryPressure came during that eviction's kill, before the
/// replacement reached the scheduler (a FailedScheduling within a second of the eviction).
fn first_replacement_turned_away(r: &RunRecord) -> bool {
    let at = |f: fn(&Happening) -> bool| r.timeline.iter().find(|o| f(&o.happening)).map(|o| o.at);
    let evicted = at(
        |h| matches!(h, Happening::PodEvicted { cause, .. } if *cause != DisruptionCause::Deleted),
    );
    let refused = at(|h| matches!(h, Happening::FailedScheduling { .. }));
    matches!((evicted, refused), (Some(e), Some(f)) if f >= e && f <= e + SECOND)
}

/// The same of a recording, by when the recorder received each.
fn recorded_first_replacement_turned_away(t: &Truth) -> bool {
    let first = |section: &str| {
        t.table(section)
            .iter()
            .map(|r| t.received(&r["received"]))
            .min()
    };
    matches!(
        (first("Evictions"), first("FailedScheduling")),
        (Some(e), Some(f)) if f >= e && f <= e + SECOND
    )
}

/// One run of the campaign, real or simulated: its figures and the two histories the truth
/// names beside them.
struct CampaignRun {
    figures: Figures,
    pressure_after_second_eviction: bool,
    first_replacement_turned_away: bool,
}

/// The spill campaigns: the same experiment recorded 40 times on the same node (`spill`,
/// `campaign-spill/*` and `campaign-spill-random/*`), against the simulator's 21 seeds of it.
fn campaign() -> Vec<&'static str> {
    spill_campaign().collect()
}

/// Shares that miss by more than [`SHARE_POINTS`], each with why. The test fails if one of these
/// is met (remove it) or if any other misses.
///
/// A known share miss is only one where the real count is a plausible draw of the simulated
/// share ([`Share::plausible`]): eight runs cannot then tell the two apart, and only more recordings
/// can settle it.
const KNOWN_SHARE_MISSES: &[(&str, &str)] = &[
    // None. Over the first eight runs, "after" (4 of 8), the short recovery (4 of 8) and
    // Passed (2 of 8) were each more than 15 points off the seeds' 5, 5 and 2 of 21, though
    // plausible draws of them (the kubelet's status post lands 0–10 s after the first
    // eviction, independent of the second, 7–8 s later: ~27% "after"). Eight more runs
    // (spill-08..15, recorded under load) settled it: with `spill`, 5 of 16 "after", 6 of 16
    // short recoveries, 3 of 16 Passed.
];

/// Shares that miss by more than [`SHARE_POINTS`] where the runs are no plausible draw of the
/// 21 seeds' share ([`Share::plausible`]): what the recordings say against the prediction as it
/// ships. Each with what is known of why. The test fails if one of these is met (remove it).
const IMPLAUSIBLE_SHARE_MISSES: &[(&str, &str)] = &[
    // None now. "MemoryPressure after the 2nd eviction" was one (7 of 40 real runs against 7
    // of 21 seeds, two-sided p = 0.04) until the kill of an evicted pod took its time: the
    // kubelet's `evictPod` blocks 0.28–1.39 s (median 0.40) until the pod worker has killed
    // it, and only then does the ReplicaSet replace it. A status post inside that window
    // carries MemoryPressure to the API before the eviction is seen and before the
    // replacement is placed; the simulator had the eviction and its replacement at the
    // synchronize's instant, so every such post came "after". Now 6 of 21.
];

/// Campaign medians that miss, each with why. The test fails if one of these is met (remove
/// it) or if any other misses.
///
/// A known median miss is only one whose runs split into two histories (its share row, "M: the
/// shorter history", is there) with the real share within [`SHARE_POINTS`] of the seeds': the
/// odds of each history are right, and the median of a coin toss falls in whichever history
/// holds the middle run.
const KNOWN_MEDIAN_MISSES: &[Measure] = &[
    // None now. Spill's recovery is the one to watch: 7 of 21 seeds take its short history and
    // 9 of 40 real runs, so the middle seed is the long history's shortest, 9.2 s, against the
    // middle real run's 12.8 s; one more seed on the short side puts the median at 7.4 s, a
    // miss, with the odds as right as they are now. The long history itself recovers 7.3–23.2 s
    // in the seeds against 11.3–28.2 s for real: where only one eviction comes in the last 30 s
    // before the revert, it comes at T+75–81 in the seeds and T+76–86 in the real runs, and the
    // taint goes a status post after the transition period that follows it.
];

#[tokio::test]
async fn the_spill_campaign_is_predicted_as_a_distribution() {
    let exp = recorded_experiment("spill");
    let names = campaign();
    let real_runs: Vec<CampaignRun> = names
        .iter()
        .map(|n| {
            let t = Truth::load(n);
            CampaignRun {
                figures: real(&t, &exp),
                pressure_after_second_eviction: recorded_pressure_after_second_eviction(&t),
                first_replacement_turned_away: recorded_first_replacement_turned_away(&t),
            }
        })
        .collect();
    let mut sims = Vec::new();
    for seed in SEEDS {
        let r = run_experiment(&model(), &exp, seed)
            .await
            .expect("the simulation completes");
        sims.push(CampaignRun {
            figures: predicted(&r),
            pressure_after_second_eviction: pressure_after_second_eviction(&r),
            first_replacement_turned_away: first_replacement_turned_away(&r),
        });
    }
    let (nr, ns) = (real_runs.len() as u32, sims.len() as u32);
    type Get = fn(&Figures) -> Option<f64>;
    let measures: [(Measure, Get); 5] = [
        (Measure::FirstEviction, |f| f.first_eviction),
        (Measure::TargetEvictions, |f| Some(f.evictions as f64)),
        (Measure::FirstMemoryPressure, |f| f.first_pressure),
        (Measure::BelowBudget, |f| Some(f.below_budget)),
        (Measure::Recovery, |f| f.recovery),
    ];
    let values: Vec<(Measure, Vec<f64>, Vec<f64>)> = measures
        .iter()
        .map(|(m, get)| {
            let of = |v: &[CampaignRun]| v.iter().filter_map(|r| get(&r.figures)).collect();
            (*m, of(&real_runs), of(&sims))
        })
        .collect();
    let verdicts = |v: &[CampaignRun]| {
        v.iter()
            .map(|r| r.figures.verdict.expect("a verdict"))
            .collect::<Vec<_>>()
    };
    // The distribution as `oomsday calibrate` sets it out, with two more histories the truth
    // names: whether the node's first MemoryPressure post came after the second eviction, and
    // whether it came during the first eviction's kill, turning that eviction's replacement away.
    let mut distribution =
        Distribution::of_values(&values, (&verdicts(&real_runs), &verdicts(&sims)));
    let share = |what: &str, f: fn(&CampaignRun) -> bool| Share {
        what: what.into(),
        real: real_runs.iter().filter(|r| f(r)).count() as u32,
        of_real: nr,
        sim: sims.iter().filter(|r| f(r)).count() as u32,
        of_sim: ns,
    };
    distribution.shares.splice(
        0..0,
        [
            share("MemoryPressure after the 2nd eviction", |r| {
                r.pressure_after_second_eviction
            }),
            share("the 1st eviction's replacement turned away", |r| {
                r.first_replacement_turned_away
            }),
        ],
    );
    let medians_off: Vec<Measure> = distribution
        .rows
        .iter()
        .filter(|r| r.within != Some(true))
        .map(|r| r.measure)
        .collect();
    let share_misses: Vec<&Share> = distribution.shares.iter().filter(|s| !s.within()).collect();
    let missed: Vec<(&str, &str)> = share_misses
        .iter()
        .map(|s| (s.what.as_str(), "share"))
        .collect();
    let campaign = Campaign {
        experiment: "bf/spill".into(),
        recordings: names.iter().map(|n| n.to_string()).collect(),
        seeds: ns,
        distribution: distribution.clone(),
    };
    let table = oomsday::report::calibration::campaign(&campaign);
    println!("SIMULATED vs {nr} real runs of spill on one node\n\n{table}");
    assert_eq!(
        medians_off, KNOWN_MEDIAN_MISSES,
        "medians off (left) vs the known ones (right)\n\n{table}"
    );
    for m in KNOWN_MEDIAN_MISSES {
        let split = format!("{}: the shorter history", m.label());
        let share = (distribution.shares.iter())
            .find(|s| s.what == split)
            .unwrap_or_else(|| panic!("{m:?}: a known median miss must split\n\n{table}"));
        assert!(
            share.within(),
            "{m:?}: a known median miss must have the odds of its histories right\n\n{table}"
        );
    }
    let known: Vec<(&str, &str)> = (IMPLAUSIBLE_SHARE_MISSES.iter())
        .chain(KNOWN_SHARE_MISSES)
        .copied()
        .collect();
    assert_eq!(
        missed, known,
        "shares off by more than {SHARE_POINTS} points (left) vs the known ones (right)\n\n{table}"
    );
    for s in share_misses {
        if IMPLAUSIBLE_SHARE_MISSES.iter().any(|m| m.0 == s.what) {
            continue;
        }
        assert!(
            s.plausible(),
            "{}: {} of {} real runs is no plausible draw of {} of {} seeds\n\n{table}",
            s.what,
            s.real,
            s.of_real,
            s.sim,
            s.of_sim
        );
    }
}

/// `spill-fast` was recorded after the simulator predicted it (`HELD_OUT`): a 512 Mi/s leak,
/// faster than cAdvisor's 10–20 s housekeeping. The kubelet ranks pods by what cAdvisor last
/// saw of them, which for the new leaker pods is their start, so it evicts a BestEffort
/// bystander first, and the kernel OOM-kills a leaker in the pods' cgroup. Ranked by what they
/// held then, as the simulator did before, the leakers would have been evicted in every seed.
#[tokio::test]
async fn a_leak_faster_than_cadvisor_evicts_a_bystander_first_as_on_the_bed() {
    let [name] = HELD_OUT;
    let truth = Truth::load(name);
    let evicted = truth.evictions();
    assert!(
        !evicted.is_empty() && evicted.iter().all(|e| !e.target),
        "the recording: bystanders evicted, no target pod {evicted:?}"
    );
    let leaker_killed = truth.oom_kills().iter().any(|k| k.target);
    assert!(
        leaker_killed,
        "the recording: the kernel OOM-killed a leaker"
    );

    let exp = recorded_experiment(name);
    let p = oomsday::predict::predict(&model(), &exp, SEEDS)
        .await
        .expect("the prediction");
    let median = |m: Measure| p.figure(m).and_then(|f| f.median);
    assert_eq!(
        median(Measure::TargetEvictions),
        Some(0.0),
        "{:?}",
        p.figures
    );
    assert!(
        median(Measure::BystanderEvictions).is_some_and(|n| n >= 1.0),
        "{:?}",
        p.figures
    );
    assert_eq!(
        p.target_first.expected(),
        Some(oomsday::predict::TargetFirst::OomKill),
        "{:?}",
        p.target_first
    );
}
