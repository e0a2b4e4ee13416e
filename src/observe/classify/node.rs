//! Nodes: MemoryPressure and Ready transitions, at their `lastTransitionTime`.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

use super::{Classifier, time};
use crate::observe::{Happening, NodeConditionKind, Observation};

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
            let event = Happening::NodeCondition {
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
mod tests;
