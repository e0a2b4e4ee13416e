use super::*;
use crate::observe::{NodeConditionKind, PodRef};

use crate::testkit::t;

fn oom(at: i64, pod: &str) -> Observation {
    Observation::new(
        t(at),
        Happening::OomKilled {
            pod: PodRef {
                name: pod.into(),
                node: Some("n1".into()),
                target: true,
            },
            container: "oomsday-leaker".into(),
            leaker: true,
            restart_count: 1,
        },
    )
}

#[test]
fn relisted_facts_are_not_duplicated() {
    let mut tl = Timeline::new();
    assert!(tl.push(oom(10, "a")));
    assert!(!tl.push(oom(10, "a")));
    assert!(tl.push(oom(20, "a")));
    assert_eq!(tl.len(), 2);
}

#[test]
fn unchanged_state_samples_are_dropped() {
    let mut tl = Timeline::new();
    let w = |at, ready| Observation::new(t(at), Happening::workload(3, ready));
    assert!(tl.push(w(0, 3)));
    assert!(!tl.push(w(5, 3)));
    assert!(tl.push(w(6, 2)));
    assert!(tl.push(w(9, 3)));
    let p = |at, status| {
        Observation::new(
            t(at),
            Happening::NodeCondition {
                node: "n1".into(),
                condition: NodeConditionKind::MemoryPressure,
                status,
                reason: String::new(),
            },
        )
    };
    assert!(tl.push(p(1, true)));
    assert!(!tl.push(p(1, true)));
    assert_eq!(tl.len(), 4);
}

#[test]
fn late_arrivals_are_ordered_by_their_own_time() {
    let mut tl = Timeline::new();
    tl.push(oom(30, "a"));
    tl.push(oom(10, "b"));
    tl.push(oom(20, "c"));
    let times: Vec<_> = tl.iter().map(|o| o.at).collect();
    assert_eq!(times, vec![t(10), t(20), t(30)]);
    assert_eq!(tl.between(t(15), t(30)).len(), 1);
}

#[test]
fn serde_round_trip() {
    let mut tl = Timeline::new();
    tl.push(oom(1, "a"));
    tl.push(Observation::new(t(2), Happening::workload(3, 2)));
    let json = serde_json::to_string(&tl).unwrap();
    assert!(json.contains("\"type\":\"oomKilled\""), "{json}");
    let back: Timeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back.entries(), tl.entries());
}
