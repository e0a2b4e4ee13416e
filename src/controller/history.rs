//! `oomsday history EXPERIMENT`: the scores of an experiment's past runs, oldest first, with
//! the change from one scored run to the next — the trend a team watches across game days.

use std::fmt::Write as _;

use crate::observe::Time;
use crate::spec::{LeakRun, Phase, RunReason, Trigger, Verdict};

/// One run in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub run: String,
    pub started: Option<Time>,
    pub trigger: Trigger,
    pub phase: Phase,
    pub score: Option<u32>,
    pub grade: Option<String>,
    pub verdict: Option<Verdict>,
    /// Score change from the previous scored run.
    pub delta: Option<i64>,
    pub reason: Option<RunReason>,
}

/// The runs of `experiment`, oldest first.
pub fn history_rows(runs: &[LeakRun], experiment: &str) -> Vec<HistoryRow> {
    let mut own: Vec<&LeakRun> = runs
        .iter()
        .filter(|r| r.spec.experiment == experiment)
        .collect();
    let started = super::status::run_started;
    own.sort_by_key(|r| (started(r), r.metadata.name.clone()));
    let mut prev: Option<u32> = None;
    own.into_iter()
        .map(|r| {
            let s = r.status.clone().unwrap_or_default();
            let delta = match (s.score, prev) {
                (Some(now), Some(before)) => Some(i64::from(now) - i64::from(before)),
                _ => None,
            };
            if s.score.is_some() {
                prev = s.score;
            }
            HistoryRow {
                run: r.metadata.name.clone().unwrap_or_default(),
                started: started(r),
                trigger: r.spec.trigger,
                phase: s.phase,
                score: s.score,
                grade: s.grade,
                verdict: s.verdict,
                delta,
                reason: s.reason,
            }
        })
        .collect()
}

/// A plain-text table of the rows.
pub fn render_history(experiment: &str, rows: &[HistoryRow]) -> String {
    let mut o = String::new();
    if rows.is_empty() {
        let _ = writeln!(
            o,
            "no runs of {experiment} (finished runs beyond historyLimit are deleted)"
        );
        return o;
    }
    let header = [
        "RUN", "STARTED", "TRIGGER", "PHASE", "SCORE", "GRADE", "VERDICT", "REASON",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let score = match (r.score, r.delta) {
                (Some(s), Some(d)) if d != 0 => format!("{s} ({d:+})"),
                (Some(s), _) => s.to_string(),
                (None, _) => "-".into(),
            };
            [
                r.run.clone(),
                r.started.map(|t| t.to_string()).unwrap_or_default(),
                format!("{:?}", r.trigger),
                format!("{:?}", r.phase),
                score,
                r.grade.clone().unwrap_or_else(|| "-".into()),
                r.verdict
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "-".into()),
                r.reason.map(|r| r.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |o: &mut String, row: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        let _ = writeln!(o, "{}", l.trim_end());
    };
    line(&mut o, &header);
    for row in &cells {
        line(&mut o, &row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    o
}

#[cfg(test)]
mod tests;
