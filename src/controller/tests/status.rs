//! The LeakRun's status timeline keeps what matters.

use crate::observe::{Happening, NodeConditionKind, Observation};
use crate::score::testkit::{leaker_started, pod, record, spec, t};
use crate::spec::Phase;

use super::super::status::{TIMELINE_MAX, final_status};

#[test]
fn a_run_with_a_thousand_baseline_objects_keeps_every_oom_kill() {
    let mut events = vec![
        (
            -30,
            Happening::RunPhase {
                phase: Phase::Pending,
                detail: "run started".into(),
            },
        ),
        (0, leaker_started("checkout-a", "node-0")),
    ];
    // Lines of lesser weight that folding cannot merge: 80 probes, each failing once.
    for i in 0..80 {
        events.push((
            i * 10,
            Happening::Probe {
                name: format!("endpoint-{i}"),
                ok: false,
                detail: String::new(),
            },
        ));
    }
    // 12 OOM kills of the leaker, a few minutes apart (each its own burst).
    for i in 0..12 {
        events.push((
            10 + i * 70,
            Happening::OomKilled {
                pod: pod("checkout-a", "node-0", true),
                container: "oomsday-leaker".into(),
                leaker: true,
                restart_count: u32::try_from(i).unwrap(),
            },
        ));
    }
    let mut r = record(spec(serde_json::json!({})), events);
    r.finished = t(900);
    // 1,000 nodes NotReady before the run began: the baseline, and its summary.
    let mut entries: Vec<Observation> = r.timeline.entries().to_vec();
    for n in 0..1000 {
        entries.push(Observation::baseline(
            t(-30),
            Happening::NodeCondition {
                node: format!("node-{n:04}"),
                condition: NodeConditionKind::Ready,
                status: false,
                reason: "NodeStatusUnknown".into(),
            },
        ));
    }
    entries.push(Observation::baseline(
        t(-30),
        Happening::Baseline {
            nodes: 1000,
            nodes_not_ready: 1000,
            nodes_under_pressure: 0,
            pods_crash_looping: 0,
            budgets_breached: 0,
        },
    ));
    r.timeline = entries.into();
    let status = final_status(&crate::report::Report::new(r, None));
    let lines: Vec<&str> = status.timeline.iter().map(|l| l.message.as_str()).collect();
    assert!(lines.len() <= TIMELINE_MAX, "{}", lines.len());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("baseline: 1000 nodes, 1000 NotReady")),
        "{lines:#?}"
    );
    let ooms = lines
        .iter()
        .filter(|l| l.starts_with("OOM kill (leaker)"))
        .count();
    assert_eq!(ooms, 12, "every OOM kill: {lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("node-0999")),
        "no baseline node is told one by one"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("… ") && last.contains("left out"),
        "the count of what was left out: {last}"
    );
    assert!(
        last.ends_with(" more lines of lesser weight left out (the report has the whole timeline)"),
        "one sentence, no stray spaces: {last:?}"
    );
    // Probes are what gave way.
    assert!(lines.iter().filter(|l| l.starts_with("probe ")).count() < 80);
}
