//! A prediction against what happened: each measure predicted (median and range over the
//! seeds) and observed, the error, and whether it is within the calibration's tolerance.

use serde::{Deserialize, Serialize};

use super::{FirstOdds, Group, Measure, Measures, Prediction, TargetFirst, Unit};
use crate::engine::RunRecord;
use crate::spec::Verdict;

/// One measure, predicted and observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub measure: Measure,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
    /// The range over the simulated runs that have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// Simulated runs that have it, of `of` runs.
    pub runs: u32,
    pub of: u32,
    /// The two histories the runs split into, when they do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// When they split: how many runs took the history the observed value belongs to (0: it
    /// is in neither). Whether it happened at all is such a split when the runs disagree on
    /// it: an outcome without it is in the history of the runs without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_in: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// Predicted − observed, when both are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<f64>,
    /// Whether the prediction is within the calibration's tolerance (None: not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<bool>,
}

/// A prediction and the outcome, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub observed: Measures,
    pub rows: Vec<Row>,
    pub predicted_verdict: Verdict,
    pub observed_verdict: Verdict,
    /// What reached the target first, predicted and observed (reports made before it was kept
    /// have an empty one).
    #[serde(default)]
    pub target_first: FirstRow,
    /// Measures judged, and of those within tolerance (the verdict counts as one, and so does
    /// what reached the target first when either side had one).
    pub judged: u32,
    pub within: u32,
}

/// What reached the target first: how often each did over the seeds, and which did in the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstRow {
    pub predicted: FirstOdds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<TargetFirst>,
    /// Whether the run had what most seeds had first (None: neither side had either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<bool>,
}

impl FirstRow {
    pub fn new(predicted: FirstOdds, observed: Option<TargetFirst>) -> FirstRow {
        let expected = predicted.expected();
        FirstRow {
            predicted,
            observed,
            within: (expected.is_some() || observed.is_some()).then_some(expected == observed),
        }
    }

    pub const LABEL: &'static str = "what reached the target first";

    pub fn predicted_text(&self) -> String {
        self.predicted.text()
    }

    pub fn observed_text(&self) -> String {
        self.observed
            .map_or("neither".into(), |t| format!("{} first", t.label()))
    }

    /// `yes`, `no`, and how many seeds had what the run had: `no (4 of 21 runs had it)`.
    pub fn within_text(&self) -> String {
        let had = match self.observed {
            Some(TargetFirst::OomKill) => self.predicted.oom_kill,
            Some(TargetFirst::Eviction) => self.predicted.eviction,
            None => self.predicted.neither,
        };
        match self.within {
            Some(true) => "yes".into(),
            Some(false) => format!("no ({had} of {} runs had it)", self.predicted.runs()),
            None => "—".into(),
        }
    }

    /// One sentence for a report's story: which the prediction expected, how often, and which
    /// came in the run.
    pub fn sentence(&self) -> Option<String> {
        self.within?;
        let said = match self.predicted.expected() {
            Some(t) => format!(
                "The simulator expected {} to reach the target first ({} of {} runs)",
                t.label(),
                match t {
                    TargetFirst::OomKill => self.predicted.oom_kill,
                    TargetFirst::Eviction => self.predicted.eviction,
                },
                self.predicted.runs()
            ),
            None => format!(
                "The simulator expected neither an OOM kill nor an eviction of the target ({} of \
                 {} runs)",
                self.predicted.neither,
                self.predicted.runs()
            ),
        };
        let came = match self.observed {
            Some(t) => format!("{} came first", t.label()),
            None => "neither came".into(),
        };
        Some(format!("{said}; in the run, {came}."))
    }
}

impl Row {
    fn new(measure: Measure, p: &Prediction, observed: Option<f64>) -> Row {
        let f = p.figure(measure);
        let predicted = f.and_then(|f| f.median);
        let error = predicted.zip(observed).map(|(p, o)| p - o);
        let within = match (predicted, observed) {
            (Some(pr), Some(o)) => measure.tolerance(o).map(|t| (pr - o).abs() <= t + 1e-9),
            // Both say it did not happen.
            (None, None) => measure.tolerance_text().map(|_| true),
            _ => measure.tolerance_text().map(|_| false),
        };
        let groups = f.map(|f| f.groups.clone()).unwrap_or_default();
        let (runs, of) = (f.map_or(0, |f| f.runs), p.seeds.len() as u32);
        let observed_in = match observed {
            Some(o) if !groups.is_empty() => super::history_of(&groups, measure, o),
            // Where the runs split on whether it happened at all (an eviction in 12 of 21
            // runs), that is a history too, and the outcome took one side of it.
            Some(_) if predicted.is_none() && runs > 0 => Some(runs),
            None if predicted.is_some() && runs < of => Some(of - runs),
            _ => None,
        };
        Row {
            measure,
            predicted,
            range: f.and_then(|f| f.range),
            runs,
            of,
            groups,
            observed_in,
            observed,
            error,
            within,
        }
    }

    /// The predicted cell: `T+22.0 s (20.0–25.0)`, `4 (3–5)`, `none (2 of 21 runs: T+40.0–52.0 s)`.
    pub fn predicted_text(&self) -> String {
        predicted_text(
            self.measure,
            (self.predicted, self.range),
            &self.groups,
            self.runs,
            self.of,
        )
    }

    pub fn observed_text(&self) -> String {
        self.observed
            .map_or("none".into(), |v| value(self.measure.kind(), v))
    }

    pub fn error_text(&self) -> String {
        match (self.error, self.predicted, self.observed) {
            (Some(e), _, Some(o)) => {
                let unit = match self.measure.kind() {
                    Unit::Time | Unit::Duration => format!("{e:+.1} s"),
                    Unit::Count | Unit::Points => format!("{e:+.0}"),
                };
                if self.measure.kind() == Unit::Time || o == 0.0 {
                    unit
                } else {
                    format!("{unit} ({:+.0}%)", e / o * 100.0)
                }
            }
            (None, None, None) => "—".into(),
            (None, Some(_), None) => "predicted, did not happen".into(),
            _ => "happened, not predicted".into(),
        }
    }

    /// `yes`, `no`, and when the runs split, which share of them the outcome was in:
    /// `no (the history of 8 of 21 runs)`.
    pub fn within_text(&self) -> String {
        let judged = match self.within {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        };
        match self.observed_in {
            Some(0) => format!("{judged} (in neither history the runs split into)"),
            Some(k) => format!("{judged} (the history of {k} of {} runs)", self.of),
            None => judged.into(),
        }
    }
}

/// A prediction as a table shows it: the median and the range, or how few runs had it; when
/// the runs split, each history with its runs: `8.0 s (3.0 s in 8 runs, 8.0–23.0 s in 13)`,
/// and those without it: `T+82.0 s (T+24.0 s in 6, T+82.0 s in 6 runs, none in 9)`.
pub(super) fn predicted_text(
    m: Measure,
    (median, range): (Option<f64>, Option<(f64, f64)>),
    groups: &[Group],
    runs: u32,
    of: u32,
) -> String {
    let k = m.kind();
    let span = |(lo, hi): (f64, f64)| {
        if (hi - lo).abs() < 1e-9 {
            value(k, lo)
        } else {
            format!("{}–{}", value(k, lo), value(k, hi))
        }
    };
    let split = groups
        .iter()
        .map(|g| format!("{} in {}", span((g.lo, g.hi)), g.runs))
        .collect::<Vec<_>>()
        .join(", ");
    match (median, range) {
        // The runs without it are a history too: say how many.
        (Some(v), _) if !groups.is_empty() && runs < of => {
            format!("{} ({split} runs, none in {})", value(k, v), of - runs)
        }
        (Some(v), _) if !groups.is_empty() => format!("{} ({split} runs)", value(k, v)),
        (None, _) if !groups.is_empty() => format!("none ({runs} of {of} runs: {split})"),
        (Some(v), Some(r)) if (r.1 - r.0).abs() > 1e-9 => format!("{} ({})", value(k, v), span(r)),
        (Some(v), _) => value(k, v),
        (None, Some(r)) => format!("none ({runs} of {of} runs: {})", span(r)),
        (None, None) => "none".into(),
    }
}

/// A value as a table shows it.
fn value(k: Unit, v: f64) -> String {
    match k {
        Unit::Time => format!("T{v:+.1} s"),
        Unit::Duration => format!("{v:.1} s"),
        Unit::Count | Unit::Points => format!("{v:.0}"),
    }
}

impl Comparison {
    /// The prediction against the run's `observed` measures ([`Measures::of`] the record).
    pub fn new(prediction: &Prediction, record: &RunRecord, observed: Measures) -> Comparison {
        // An ephemeral leak rolls nothing out: there is no recovery to judge (the calibration
        // does not judge it either).
        let no_rollout = record.spec.injection.mode == crate::spec::InjectionMode::Ephemeral;
        let rows: Vec<Row> = Measure::ALL
            .iter()
            .map(|&m| {
                let mut r = Row::new(m, prediction, observed.get(m));
                if m == Measure::Recovery && no_rollout {
                    r.within = None;
                }
                r
            })
            .collect();
        let target_first = FirstRow::new(prediction.target_first, observed.target_first);
        let judged = rows.iter().filter(|r| r.within.is_some()).count() as u32
            + 1
            + u32::from(target_first.within.is_some());
        let within = rows.iter().filter(|r| r.within == Some(true)).count() as u32
            + u32::from(prediction.verdict == observed.verdict)
            + u32::from(target_first.within == Some(true));
        Comparison {
            target_first,
            predicted_verdict: prediction.verdict,
            observed_verdict: observed.verdict,
            observed,
            rows,
            judged,
            within,
        }
    }

    /// One line: `7 of 9 measures within the calibration's tolerances`.
    pub fn headline(&self) -> String {
        format!(
            "{} of {} measures within the simulator's calibration tolerances; verdict predicted \
             {:?}, observed {:?}",
            self.within, self.judged, self.predicted_verdict, self.observed_verdict
        )
    }
}
