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

fn evicted(at: i64, name: &str, target: bool) -> Observation {
    Observation::new(
        t(at),
        Happening::PodEvicted {
            pod: pod(name, target),
            cause: DisruptionCause::TerminationByKubelet,
            message: "The node was low on resource: memory. ".into(),
        },
    )
}

fn phase(at: i64, phase: Phase, detail: &str) -> Observation {
    Observation::new(
        t(at),
        Happening::RunPhase {
            phase,
            detail: detail.into(),
        },
    )
}

#[test]
fn clock_is_relative() {
    assert_eq!(clock(t(0), t(167)), "02:47");
    assert_eq!(clock(t(0), t(3600 + 61)), "1:01:01");
}

#[test]
fn sentences_name_what_happened() {
    let mut n = Narrator::new("checkout");
    let l = n.line(&evicted(5, "cart-1", false)).unwrap();
    assert_eq!(
        l.text,
        "BYSTANDER pod cart-1 on n1 evicted by the kubelet (node memory pressure): The node was \
         low on resource: memory."
    );
    assert_eq!((l.reason, l.warning), ("Evicted", true));
    let rejected = Observation::new(
        t(6),
        Happening::AdmissionRejected {
            pod: pod("checkout-x", true),
            message: "The node had condition: [MemoryPressure]. ".into(),
        },
    );
    let l = n.line(&rejected).unwrap();
    assert_eq!(
        l.text,
        "target pod checkout-x on n1 rejected by the kubelet at admission (it never ran): The \
         node had condition: [MemoryPressure]."
    );
    assert_eq!(l.kind, Topic::AdmissionRejected { target: true });
    let sched = Observation::new(
        t(7),
        Happening::FailedScheduling {
            pod: "checkout-y".into(),
            insufficient_memory: false,
            message: "0/1 nodes are available: 1 node(s) had untolerated taint \
                      {node.kubernetes.io/memory-pressure: }. preemption: 0/1 nodes are \
                      available: 1 Preemption is not helpful for scheduling."
                .into(),
        },
    );
    assert_eq!(
        n.line(&sched).unwrap().text,
        "pod checkout-y could not be scheduled: 0/1 nodes are available: 1 node(s) had \
         untolerated taint {node.kubernetes.io/memory-pressure: }"
    );
}

/// The node lifecycle controller sets MemoryPressure Unknown when the kubelet stops posting:
/// not known to be over, so not "cleared" (seen on the bed with the kubelet stopped).
#[test]
fn memory_pressure_unknown_is_not_cleared() {
    let mut n = Narrator::new("checkout");
    let cond = |at, reason: &str| {
        Observation::new(
            t(at),
            Happening::NodeCondition {
                node: "real-1".into(),
                condition: NodeConditionKind::MemoryPressure,
                status: false,
                reason: reason.into(),
            },
        )
    };
    let l = n.line(&cond(54, "NodeStatusUnknown")).unwrap();
    assert_eq!(
        l.text,
        "node real-1 MemoryPressure unknown: the kubelet stopped posting status"
    );
    assert_eq!((l.reason, l.warning), ("MemoryPressureUnknown", true));
    let l = n.line(&cond(104, "KubeletHasSufficientMemory")).unwrap();
    assert_eq!(l.text, "node real-1 MemoryPressure cleared");
}

#[test]
fn state_series_are_told_when_they_change() {
    let mut n = Narrator::new("checkout");
    let w = |at, ready| Observation::new(t(at), Happening::workload(3, ready));
    assert_eq!(n.line(&w(0, 3)).unwrap().text, "checkout ready 3/3");
    assert!(n.line(&w(1, 3)).is_none());
    assert_eq!(n.line(&w(2, 2)).unwrap().text, "checkout ready 2/3");
    assert!(n.line(&w(3, 2)).is_none());
    assert_eq!(n.line(&w(4, 1)).unwrap().text, "checkout ready 1/3");
    assert!(n.line(&w(5, 2)).is_none(), "on the way back");
    assert_eq!(n.line(&w(6, 3)).unwrap().text, "checkout ready 3/3");
    let b = |at, cur| {
        Observation::new(
            t(at),
            Happening::Budget {
                name: "checkout".into(),
                current_healthy: cur,
                desired_healthy: 2,
                disruptions_allowed: 0,
                expected_pods: 3,
            },
        )
    };
    assert!(n.line(&b(0, 3)).is_none());
    let breach = n.line(&b(1, 1)).unwrap();
    assert_eq!(breach.text, "PDB checkout BREACHED: 1 healthy, 2 desired");
    assert_eq!(breach.reason, "BudgetBreached");
    assert!(n.line(&b(2, 0)).is_none(), "still breached");
    assert_eq!(
        n.line(&b(3, 2)).unwrap().text,
        "PDB checkout healthy again: 2 healthy, 2 desired"
    );
}

#[test]
fn only_lines_of_the_same_kind_fold() {
    // Reverting, Recovering and Completed follow each other within a second: three kinds,
    // three lines, never "… and 2 more like \"run Reverting\"".
    let mut timeline = vec![
        phase(0, Phase::Reverting, "reverting: the leak ran its duration"),
        phase(0, Phase::Recovering, "reverted; watching recovery"),
        phase(1, Phase::Completed, "the leak ran its duration"),
    ];
    // 41 bystander evictions within seconds of each other, and 2 of the target between them.
    for i in 0..41 {
        timeline.push(evicted(100 + i, &format!("cart-{i}"), false));
    }
    timeline.push(evicted(120, "checkout-1", true));
    timeline.push(evicted(121, "checkout-2", true));
    timeline.sort_by_key(|o| o.at);
    let story = story(&timeline, "checkout");
    let texts: Vec<&str> = story.iter().map(|l| l.text.as_str()).collect();
    assert!(
        texts[..3].iter().all(|l| l.starts_with("run ")),
        "{texts:#?}"
    );
    let bystanders = story
        .iter()
        .filter(|l| l.kind == Topic::Eviction { target: false })
        .collect::<Vec<_>>();
    assert_eq!(bystanders.len(), 4, "3 shown and one fold: {texts:#?}");
    let fold = bystanders[3];
    assert_eq!(fold.folded, 38);
    assert!(
        fold.text
            .starts_with("… and 38 more like \"BYSTANDER pod cart-40")
    );
    assert_eq!(fold.at, t(140));
    let targets = story
        .iter()
        .filter(|l| l.kind == Topic::Eviction { target: true })
        .count();
    assert_eq!(
        targets, 2,
        "target evictions are not folded into bystanders"
    );
    assert!(story.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn a_burst_ends_after_a_quiet_minute() {
    let mut f = Folder::new();
    let mut n = Narrator::new("checkout");
    let mut shown = Vec::new();
    for at in [0, 1, 2, 3, 4, 200, 201] {
        let line = n.line(&evicted(at, &format!("p{at}"), false)).unwrap();
        shown.extend(f.push(line));
    }
    shown.extend(f.finish());
    let texts: Vec<String> = shown.into_iter().map(|l| l.text).collect();
    assert_eq!(texts.len(), 6, "{texts:#?}");
    assert!(
        texts[3].starts_with("… and 2 more like \"BYSTANDER pod p4"),
        "{texts:#?}"
    );
    assert!(texts[4].contains("p200") && texts[5].contains("p201"));
}
