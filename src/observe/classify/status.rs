//! PodDisruptionBudgets guarding the target, and the target workload's replicas.
//!
//! Neither status carries the time it changed, so samples take `now`, the moment the watch
//! delivered them (never before the start of observation).

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use super::{Classifier, Seen};
use crate::keys::is_leaker;
use crate::objects::PodController;
use crate::observe::{Happening, Observation, Time};

/// Whether a pod template carries the sidecar leaker.
fn template_has_leaker(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> bool {
    t.and_then(|t| t.spec.as_ref())
        .is_some_and(|s| s.containers.iter().any(|c| is_leaker(&c.name)))
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

impl Classifier {
    /// Whether a PDB's selector matches the target's pod template.
    pub fn guards_target(&self, pdb: &PodDisruptionBudget) -> bool {
        if pdb.namespace().as_deref() != Some(self.target.workload.namespace.as_str()) {
            return false;
        }
        let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.clone()) else {
            return false;
        };
        // An empty selector selects every pod of the namespace (policy/v1 semantics).
        Selector::try_from(sel).is_ok_and(|s| s.matches(&self.target.template_labels))
    }

    pub(super) fn apply_budget(
        &mut self,
        pdb: &PodDisruptionBudget,
        now: Time,
        out: &mut Vec<Observation>,
    ) {
        if !self.guards_target(pdb) {
            return;
        }
        let Some(st) = pdb.status.as_ref() else {
            return;
        };
        let event = Happening::Budget {
            name: pdb.name_any(),
            current_healthy: count(Some(st.current_healthy)),
            desired_healthy: count(Some(st.desired_healthy)),
            disruptions_allowed: count(Some(st.disruptions_allowed)),
            expected_pods: count(Some(st.expected_pods)),
        };
        let stamp = self.stamp();
        let previous = self.budgets.insert(
            pdb.name_any().into(),
            Seen {
                value: event.clone(),
                stamp,
            },
        );
        if previous.is_none_or(|p| p.value != event) {
            self.push_state(out, now, event);
        }
    }

    /// A Deployment's or StatefulSet's replicas, when it is the target.
    pub(super) fn apply_workload<W: PodController + ResourceExt>(
        &mut self,
        w: &W,
        now: Time,
        out: &mut Vec<Observation>,
    ) {
        if W::KIND != self.target.workload.kind
            || w.name_any() != self.target.workload.name
            || w.namespace().as_deref() != Some(self.target.workload.namespace.as_str())
        {
            return;
        }
        // Who wrote the spec goes first: a template that lost the leaker is then told with
        // its writer.
        if let Some((manager, written)) = crate::objects::spec_writer(w.meta())
            && self.writer.as_ref() != Some(&(manager.clone(), written))
        {
            self.writer = Some((manager.clone(), written));
            self.push_state(out, now, Happening::WorkloadWriter { manager, written });
        }
        let rollout = w.rollout();
        // A workload without spec.replicas has one (the API's default).
        let event = Happening::Workload {
            desired: w.replicas().map_or(1, |d| count(Some(d))),
            ready: count(rollout.ready),
            updated: count(rollout.updated),
            current: count(rollout.current),
            observed: rollout.observed_generation.unwrap_or(0) >= w.meta().generation.unwrap_or(0),
            leaker: template_has_leaker(w.template()),
        };
        if self.workload.as_ref() != Some(&event) {
            self.workload = Some(event.clone());
            self.push_state(out, now, event);
        }
    }
}

#[cfg(test)]
mod tests;
