use super::*;
use crate::spec::{LeakRunSpec, LeakRunStatus};

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
        start_time: start.parse().ok(),
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
