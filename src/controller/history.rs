//! `oomsday history EXPERIMENT`: the scores of an experiment's past runs, oldest first, with
//! the change from one scored run to the next — the trend a team watches across game days.

use std::fmt::Write as _;

use crate::spec::LeakRun;

/// One run in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub run: String,
    pub started: String,
    pub trigger: String,
    pub phase: String,
    pub score: Option<u32>,
    pub grade: Option<String>,
    pub verdict: Option<String>,
    /// Score change from the previous scored run.
    pub delta: Option<i64>,
    pub reason: Option<String>,
}

/// The runs of `experiment`, oldest first.
pub fn history_rows(runs: &[LeakRun], experiment: &str) -> Vec<HistoryRow> {
    let mut own: Vec<&LeakRun> = runs
        .iter()
        .filter(|r| r.spec.experiment == experiment)
        .collect();
    let started = |r: &LeakRun| super::status::run_started(r).unwrap_or_default();
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
                trigger: format!("{:?}", r.spec.trigger),
                phase: format!("{:?}", s.phase),
                score: s.score,
                grade: s.grade,
                verdict: s.verdict.map(|v| format!("{v:?}")),
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
                r.started.clone(),
                r.trigger.clone(),
                r.phase.clone(),
                score,
                r.grade.clone().unwrap_or_else(|| "-".into()),
                r.verdict.clone().unwrap_or_else(|| "-".into()),
                r.reason.clone().unwrap_or_default(),
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
mod tests {
    use super::*;
    use crate::spec::{LeakRunSpec, LeakRunStatus, Phase, Trigger, Verdict};

    fn run(name: &str, exp: &str, start: &str, phase: Phase, score: Option<u32>) -> LeakRun {
        let spec = serde_json::from_value(serde_json::json!({
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
            "duration": "30m"
        }))
        .expect("spec");
        let mut r = LeakRun::new(
            name,
            LeakRunSpec {
                experiment: exp.into(),
                experiment_spec: spec,
                trigger: Trigger::Schedule,
                scheduled_time: None,
            },
        );
        r.status = Some(LeakRunStatus {
            phase,
            start_time: Some(start.into()),
            score,
            grade: score.map(|s| crate::score::Grade::of(s).to_string()),
            verdict: score.map(|_| Verdict::Passed),
            ..Default::default()
        });
        r
    }

    #[test]
    fn oldest_first_with_deltas() {
        let runs = vec![
            run(
                "lx-3",
                "lx",
                "2026-11-17T03:00:00Z",
                Phase::Completed,
                Some(74),
            ),
            run(
                "lx-1",
                "lx",
                "2026-11-03T03:00:00Z",
                Phase::Completed,
                Some(41),
            ),
            run(
                "other-1",
                "other",
                "2026-11-04T03:00:00Z",
                Phase::Completed,
                Some(99),
            ),
            run("lx-2", "lx", "2026-11-10T03:00:00Z", Phase::Aborted, None),
            run("lx-4", "lx", "2026-11-24T03:00:00Z", Phase::Leaking, None),
        ];
        let rows = history_rows(&runs, "lx");
        let names: Vec<&str> = rows.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(names, ["lx-1", "lx-2", "lx-3", "lx-4"]);
        assert_eq!(rows[2].delta, Some(33), "compared with the last scored run");
        assert_eq!(rows[1].delta, None);
        let text = render_history("lx", &rows);
        assert!(text.starts_with("RUN "), "{text}");
        assert!(text.contains("74 (+33)"), "{text}");
        assert!(
            text.lines().nth(4).is_some_and(|l| l.contains("Leaking")),
            "{text}"
        );
        assert!(render_history("lx", &[]).contains("no runs of lx"));
    }
}
