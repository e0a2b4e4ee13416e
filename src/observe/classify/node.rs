//! Nodes: MemoryPressure and Ready transitions, at their `lastTransitionTime`.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

use super::{Classifier, time};
use crate::observe::{Event, NodeConditionKind, Observation};

/// The two conditions oomsday follows, as last reported.
#[derive(Debug, Clone, Default)]
pub(super) struct NodeState {
    memory_pressure: Option<(bool, Box<str>)>,
    ready: Option<(bool, Box<str>)>,
    pub(super) stamp: super::Stamp,
}

impl NodeState {
    /// Ready is not True (False, or Unknown when the kubelet stopped posting).
    pub(super) fn not_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(|(s, _)| !*s)
    }
    pub(super) fn under_pressure(&self) -> bool {
        self.memory_pressure.as_ref().is_some_and(|(s, _)| *s)
    }
}

impl Classifier {
    pub(super) fn apply_node(&mut self, n: &Node, out: &mut Vec<Observation>) {
        let name = n.name_any();
        let mut state = self.nodes.remove(name.as_str()).unwrap_or_default();
        state.stamp = self.stamp();
        let conditions = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        for c in conditions {
            let (kind, slot) = match c.type_.as_str() {
                "MemoryPressure" => (
                    NodeConditionKind::MemoryPressure,
                    &mut state.memory_pressure,
                ),
                "Ready" => (NodeConditionKind::Ready, &mut state.ready),
                _ => continue,
            };
            // Ready=Unknown (the kubelet stopped posting) counts as not ready.
            let status = c.status == "True";
            let reason = c.reason.clone().unwrap_or_default();
            if slot
                .as_ref()
                .is_some_and(|(s, r)| *s == status && **r == *reason)
            {
                continue;
            }
            *slot = Some((status, reason.as_str().into()));
            let at = time(c.last_transition_time.as_ref()).unwrap_or(self.since);
            let event = Event::NodeCondition {
                node: name.clone(),
                condition: kind,
                status,
                reason,
            };
            self.push_state(out, at, event);
        }
        self.nodes.insert(name.into(), state);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{fixture, items, ts};
    use super::super::{Kind, Object};
    use super::*;
    use pretty_assertions::assert_eq;

    fn cond(node: &str, c: NodeConditionKind, status: bool, reason: &str) -> Event {
        Event::NodeCondition {
            node: node.into(),
            condition: c,
            status,
            reason: reason.into(),
        }
    }

    #[test]
    fn memory_pressure_and_ready_transitions() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
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
                cd.last_transition_time =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                        "2026-11-24T13:36:00Z",
                    )));
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
        let mut c = super::super::pod::tests::classifier("evict-demo");
        let now = ts("2026-11-24T13:40:00Z");
        let n: Node = items(fixture!("node-ready.json")).remove(0);
        c.relist_started(Kind::Node);
        c.apply(&Object::Node(n.clone()), now);
        c.relist_done(Kind::Node, ts("2026-11-24T13:40:00Z"));
        assert_eq!(c.sizes().1, 1);
        c.relist_started(Kind::Node);
        c.relist_done(Kind::Node, ts("2026-11-24T13:40:00Z"));
        assert_eq!(c.sizes().1, 0);
        // Seen again after being forgotten: its state is reported again (the timeline drops
        // the unchanged samples).
        assert_eq!(c.apply(&Object::Node(n), now).len(), 2);
    }
}
