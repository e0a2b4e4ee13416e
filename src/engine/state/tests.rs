use super::*;
use crate::observe::PodRef;

use crate::testkit::t;

fn pod(name: &str, target: bool) -> PodRef {
    PodRef {
        name: name.into(),
        node: Some("n1".into()),
        target,
    }
}

#[test]
fn bystanders_counted_once_per_pod_and_only_since_start() {
    let mut tally = Tally::new(t(100));
    let oom = |at, name: &str, restart| {
        Observation::new(
            t(at),
            Happening::OomKilled {
                pod: pod(name, false),
                container: "app".into(),
                leaker: false,
                restart_count: restart,
            },
        )
    };
    tally.record(&oom(50, "old", 1));
    tally.record(&oom(110, "b", 1));
    tally.record(&oom(120, "b", 2));
    tally.record(&Observation::new(
        t(130),
        Happening::PodEvicted {
            pod: pod("c", false),
            cause: DisruptionCause::TerminationByKubelet,
            message: String::new(),
        },
    ));
    tally.record(&Observation::new(
        t(130),
        Happening::PodEvicted {
            pod: pod("d", false),
            cause: DisruptionCause::Deleted,
            message: String::new(),
        },
    ));
    assert_eq!(tally.bystander_pods(), 2);
    assert_eq!(tally.oom_kills(), 2);
    assert_eq!(tally.evictions(), 1);
}

#[test]
fn latest_state_wins_by_object_time() {
    let mut tally = Tally::new(t(0));
    let ready = |at, node: &str, status| {
        Observation::new(
            t(at),
            Happening::NodeCondition {
                node: node.into(),
                condition: NodeConditionKind::Ready,
                status,
                reason: String::new(),
            },
        )
    };
    tally.record(&ready(10, "n1", false));
    tally.record(&ready(5, "n1", true)); // late and older: ignored
    tally.record(&ready(10, "n2", false));
    assert_eq!(tally.nodes_not_ready(), 2);
    tally.record(&ready(20, "n2", true));
    assert_eq!(tally.nodes_not_ready(), 1);
}

#[test]
fn leaked_bytes_sum_latest_per_pod() {
    let mut tally = Tally::new(t(0));
    let bytes = |at, p: &str, b| {
        Observation::new(
            t(at),
            Happening::LeakerBytes {
                pod: p.into(),
                bytes: b,
            },
        )
    };
    assert!(!tally.leaker_started());
    tally.record(&bytes(1, "a", 100));
    tally.record(&bytes(2, "b", 50));
    tally.record(&bytes(3, "a", 300));
    assert!(tally.leaker_started());
    assert_eq!(tally.leaked_bytes(), 350);
    assert_eq!(tally.peak_leak_bytes(), 300);
    tally.record(&Observation::new(
        t(4),
        Happening::OomKilled {
            pod: pod("a", true),
            container: "oomsday-leaker".into(),
            leaker: true,
            restart_count: 1,
        },
    ));
    assert_eq!(tally.leaked_bytes(), 50);
    assert_eq!(tally.leaker_oom_kills(), 1);
    assert_eq!(tally.bystander_pods(), 0);
}
