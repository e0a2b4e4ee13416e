use super::super::tests::{fixture, items, ts};
use super::super::{Object, ObjectKind};
use super::*;
use pretty_assertions::assert_eq;

fn cond(node: &str, c: NodeConditionKind, status: bool, reason: &str) -> Happening {
    Happening::NodeCondition {
        node: node.into(),
        condition: c,
        status,
        reason: reason.into(),
    }
}

#[test]
fn memory_pressure_and_ready_transitions() {
    let mut c = super::super::tests::classifier("evict-demo");
    let now = ts("2026-11-24T13:40:00Z");
    let ready: Node = items(fixture!("node-ready.json")).remove(0);
    let pressure: Node = items(fixture!("node-memory-pressure.json")).remove(0);
    let since = ts("2026-11-24T13:30:00Z");
    // Initial state: both conditions, not older than the start of observation.
    let got = c.apply(&Object::Node(ready.clone()), now);
    assert_eq!(
        got,
        vec![
            Observation::new(
                since.max(ts("2026-11-24T13:31:45Z")),
                cond(
                    "node-1",
                    NodeConditionKind::MemoryPressure,
                    false,
                    "KubeletHasSufficientMemory"
                )
            ),
            Observation::new(
                ts("2026-11-24T13:31:45Z"),
                cond("node-1", NodeConditionKind::Ready, true, "KubeletReady")
            ),
        ]
    );
    assert!(c.apply(&Object::Node(ready.clone()), now).is_empty());
    let got = c.apply(&Object::Node(pressure), now);
    assert_eq!(
        got,
        vec![Observation::new(
            ts("2026-11-24T13:32:46Z"),
            cond(
                "node-1",
                NodeConditionKind::MemoryPressure,
                true,
                "KubeletHasInsufficientMemory"
            )
        )]
    );
    // The kubelet stops posting: Ready=Unknown is not ready.
    let mut lost = ready;
    for cd in lost.status.as_mut().unwrap().conditions.as_mut().unwrap() {
        if cd.type_ == "Ready" {
            cd.status = "Unknown".into();
            cd.reason = Some("NodeStatusUnknown".into());
            cd.last_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                ts("2026-11-24T13:36:00Z"),
            ));
        }
    }
    let got = c.apply(&Object::Node(lost), now);
    assert!(got.contains(&Observation::new(
        ts("2026-11-24T13:36:00Z"),
        cond(
            "node-1",
            NodeConditionKind::Ready,
            false,
            "NodeStatusUnknown"
        )
    )));
}

#[test]
fn a_relist_forgets_nodes_that_vanished() {
    let mut c = super::super::tests::classifier("evict-demo");
    let now = ts("2026-11-24T13:40:00Z");
    let n: Node = items(fixture!("node-ready.json")).remove(0);
    c.relist_started(ObjectKind::Node);
    c.apply(&Object::Node(n.clone()), now);
    c.relist_done(ObjectKind::Node, ts("2026-11-24T13:40:00Z"));
    assert_eq!(c.sizes().1, 1);
    c.relist_started(ObjectKind::Node);
    c.relist_done(ObjectKind::Node, ts("2026-11-24T13:40:00Z"));
    assert_eq!(c.sizes().1, 0);
    // Seen again after being forgotten: its state is reported again (the timeline drops
    // the unchanged samples).
    assert_eq!(c.apply(&Object::Node(n), now).len(), 2);
}
