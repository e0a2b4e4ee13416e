//! PodDisruptionBudgets guarding the target, and the target workload's replicas.
//!
//! Neither status carries the time it changed, so samples take `now`, the moment the watch
//! delivered them (never before the start of observation).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use super::{Classifier, Seen};
use crate::observe::{Event, Observation, Time};
use crate::spec::TargetKind;

/// The replicas of a Deployment or StatefulSet, as read from it.
struct WorkloadStatus {
    kind: TargetKind,
    name: String,
    namespace: Option<String>,
    desired: Option<i32>,
    ready: Option<i32>,
    updated: Option<i32>,
    current: Option<i32>,
    generation: Option<i64>,
    observed_generation: Option<i64>,
    leaker: bool,
}

/// Whether a pod template carries the sidecar leaker.
fn template_has_leaker(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> bool {
    t.and_then(|t| t.spec.as_ref()).is_some_and(|s| {
        s.containers
            .iter()
            .any(|c| crate::inject::is_leaker(&c.name))
    })
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

impl Classifier {
    /// Whether a PDB's selector matches the target's pod template.
    pub fn guards_target(&self, pdb: &PodDisruptionBudget) -> bool {
        if pdb.namespace().as_deref() != Some(self.target.namespace.as_str()) {
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
        let event = Event::Budget {
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

    fn apply_workload(&mut self, w: WorkloadStatus, now: Time, out: &mut Vec<Observation>) {
        let WorkloadStatus {
            kind,
            name,
            namespace,
            desired,
            ready,
            updated,
            current,
            generation,
            observed_generation,
            leaker,
        } = w;
        if kind != self.target.kind
            || name != self.target.name
            || namespace.as_deref() != Some(self.target.namespace.as_str())
        {
            return;
        }
        // A workload without spec.replicas has one (the API's default).
        let event = Event::Workload {
            desired: desired.map_or(1, |d| count(Some(d))),
            ready: count(ready),
            updated: count(updated),
            current: count(current),
            observed: observed_generation.unwrap_or(0) >= generation.unwrap_or(0),
            leaker,
        };
        if self.workload.as_ref() != Some(&event) {
            self.workload = Some(event.clone());
            self.push_state(out, now, event);
        }
    }

    pub(super) fn apply_deployment(
        &mut self,
        d: &Deployment,
        now: Time,
        out: &mut Vec<Observation>,
    ) {
        let st = d.status.as_ref();
        self.apply_workload(
            WorkloadStatus {
                kind: TargetKind::Deployment,
                name: d.name_any(),
                namespace: d.namespace(),
                desired: d.spec.as_ref().and_then(|s| s.replicas),
                ready: st.and_then(|s| s.ready_replicas),
                updated: st.and_then(|s| s.updated_replicas),
                current: st.and_then(|s| s.replicas),
                generation: d.metadata.generation,
                observed_generation: st.and_then(|s| s.observed_generation),
                leaker: template_has_leaker(d.spec.as_ref().map(|s| &s.template)),
            },
            now,
            out,
        );
    }

    pub(super) fn apply_statefulset(
        &mut self,
        s: &StatefulSet,
        now: Time,
        out: &mut Vec<Observation>,
    ) {
        let st = s.status.as_ref();
        self.apply_workload(
            WorkloadStatus {
                kind: TargetKind::StatefulSet,
                name: s.name_any(),
                namespace: s.namespace(),
                desired: s.spec.as_ref().and_then(|s| s.replicas),
                ready: st.and_then(|s| s.ready_replicas),
                updated: st.and_then(|s| s.updated_replicas),
                current: st.map(|s| s.replicas),
                generation: s.metadata.generation,
                observed_generation: st.and_then(|s| s.observed_generation),
                leaker: template_has_leaker(s.spec.as_ref().map(|s| &s.template)),
            },
            now,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::Object;
    use super::super::fixtures::{fixture, items, ts};
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn budget_status_over_time() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        let before: PodDisruptionBudget = items(fixture!("pdb-before.json")).remove(0);
        let during: PodDisruptionBudget = items(fixture!("pdb-during-evictions.json")).remove(0);
        let t1 = ts("2026-11-24T13:32:30Z");
        let t2 = ts("2026-11-24T13:33:20Z");
        let a = c.apply(&Object::Budget(before.clone()), t1);
        let b = c.apply(&Object::Budget(during.clone()), t2);
        assert_eq!(a.len(), 1);
        let st = before.status.as_ref().unwrap();
        assert_eq!(
            a[0],
            Observation::new(
                t1,
                Event::Budget {
                    name: "evict-demo".into(),
                    current_healthy: count(Some(st.current_healthy)),
                    desired_healthy: 1,
                    disruptions_allowed: count(Some(st.disruptions_allowed)),
                    expected_pods: count(Some(st.expected_pods)),
                }
            )
        );
        if before.status != during.status {
            assert_eq!(
                b,
                vec![Observation::new(
                    t2,
                    Event::Budget {
                        name: "evict-demo".into(),
                        current_healthy: 1,
                        desired_healthy: 1,
                        disruptions_allowed: 0,
                        expected_pods: 3,
                    }
                )]
            );
        }
        assert!(c.apply(&Object::Budget(during), t2).is_empty());
        // A PDB for other pods is not the target's.
        let mut other = before;
        other
            .spec
            .as_mut()
            .unwrap()
            .selector
            .as_mut()
            .unwrap()
            .match_labels = Some([("app".to_string(), "other".to_string())].into());
        other.metadata.name = Some("other".into());
        assert!(c.apply(&Object::Budget(other), t2).is_empty());
    }

    #[test]
    fn workload_ready_replicas() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "evict-demo", "namespace": "default", "generation": 2},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "evict-demo"}},
                     "template": {"metadata": {"labels": {"app": "evict-demo"}},
                                  "spec": {"containers": [{"name": "app"}, {"name": "oomsday-leaker"}]}}},
            "status": {"replicas": 4, "readyReplicas": 2, "updatedReplicas": 1, "observedGeneration": 2}
        }))
        .unwrap();
        let now = ts("2026-11-24T13:33:00Z");
        assert_eq!(
            c.apply(&Object::Deployment(d.clone()), now),
            vec![Observation::new(
                now,
                Event::Workload {
                    desired: 3,
                    ready: 2,
                    updated: 1,
                    current: 4,
                    observed: true,
                    leaker: true,
                }
            )]
        );
        assert!(c.apply(&Object::Deployment(d.clone()), now).is_empty());
        let mut other = d;
        other.metadata.name = Some("unrelated".into());
        assert!(c.apply(&Object::Deployment(other), now).is_empty());
    }
}
