//! Events, core/v1 and events.k8s.io/v1 alike: evictions, node OOMs and pressure, NotReady,
//! scheduling failures for lack of memory.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::ResourceExt;

use super::{Classifier, Seen, time};
use crate::observe::{Event, Observation, Time};

/// Reasons oomsday reports as node events.
const NODE_REASONS: &[&str] = &[
    "EvictionThresholdMet",
    "SystemOOM",
    "OOMKilling",
    "NodeNotReady",
    "NodeHasInsufficientMemory",
];

/// Whether an Event's reason is one the classifier reads (the watch may drop the others).
pub fn relevant_reason(reason: &str) -> bool {
    reason == "Evicted" || reason == "FailedScheduling" || NODE_REASONS.contains(&reason)
}

/// The part of an Event the classifier reads, the same from either API group.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub uid: String,
    pub reason: String,
    pub message: String,
    /// The object the Event is about.
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub object_uid: Option<String>,
    /// The reporting node, for kubelet events.
    pub host: Option<String>,
    /// The last occurrence.
    pub at: Time,
}

impl EventView {
    fn new(
        e_uid: Option<String>,
        reason: Option<&String>,
        message: Option<&String>,
        regarding: Option<&ObjectReference>,
        host: Option<&String>,
        at: Option<Time>,
    ) -> Option<Self> {
        let reason = reason?;
        if !relevant_reason(reason) {
            return None;
        }
        let r = regarding?;
        Some(EventView {
            uid: e_uid?,
            reason: reason.clone(),
            message: message.cloned().unwrap_or_default(),
            kind: r.kind.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            namespace: r.namespace.clone(),
            object_uid: r.uid.clone(),
            host: host.cloned(),
            at: at?,
        })
    }

    /// A core/v1 Event, if it is one the classifier reads.
    pub fn from_core(e: &CoreEvent) -> Option<Self> {
        let at = e
            .series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
            .or_else(|| time(e.last_timestamp.as_ref()))
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| time(e.first_timestamp.as_ref()))
            .or_else(|| time(e.metadata.creation_timestamp.as_ref()));
        let host = e
            .source
            .as_ref()
            .and_then(|s| s.host.as_ref())
            .or(e.reporting_instance.as_ref());
        Self::new(
            e.uid(),
            e.reason.as_ref(),
            e.message.as_ref(),
            Some(&e.involved_object),
            host,
            at,
        )
    }

    /// An events.k8s.io/v1 Event, if it is one the classifier reads.
    pub fn from_v1(e: &EventV1) -> Option<Self> {
        let at = e
            .series
            .as_ref()
            .map(|s| s.last_observed_time.0)
            .or_else(|| time(e.deprecated_last_timestamp.as_ref()))
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| time(e.deprecated_first_timestamp.as_ref()))
            .or_else(|| time(e.metadata.creation_timestamp.as_ref()));
        let host = e
            .deprecated_source
            .as_ref()
            .and_then(|s| s.host.as_ref())
            .or(e.reporting_instance.as_ref());
        Self::new(
            e.uid(),
            e.reason.as_ref(),
            e.note.as_ref(),
            e.regarding.as_ref(),
            host,
            at,
        )
    }
}

impl Classifier {
    pub(super) fn apply_event(&mut self, v: EventView, now: Time, out: &mut Vec<Observation>) {
        let stamp = self.stamp();
        // A repeated Event (count 2, 3...) is a new occurrence at its new last time.
        let seen = self.events.get(v.uid.as_str()).map(|s| s.value);
        self.events
            .insert(v.uid.as_str().into(), Seen { value: v.at, stamp });
        if seen == Some(v.at) || v.at < self.since_second() {
            return;
        }
        match (v.reason.as_str(), v.kind.as_str()) {
            ("Evicted", "Pod") => {
                let name = match v.namespace.as_deref() {
                    Some(ns) if ns != self.target.namespace => format!("{ns}/{}", v.name),
                    _ => v.name.clone(),
                };
                self.pod_evicted_by_event(v, name, now, out);
            }
            ("FailedScheduling", "Pod") => out.push(Observation::new(
                v.at,
                Event::FailedScheduling {
                    pod: v.name,
                    insufficient_memory: v.message.contains("Insufficient memory"),
                    message: v.message,
                },
            )),
            (reason, kind) if NODE_REASONS.contains(&reason) => {
                // Node events name the node; a pod's NodeNotReady repeats its node's.
                let node = match kind {
                    "Node" => Some(v.name),
                    _ if reason == "NodeNotReady" => None,
                    _ => v.host,
                };
                if let Some(node) = node {
                    out.push(Observation::new(
                        v.at,
                        Event::NodeEvent {
                            node,
                            reason: v.reason,
                            message: v.message,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{fixture, items, ts};
    use super::super::{Kind, Object};
    use super::*;
    use crate::observe::{DisruptionCause, PodRef, Timeline};
    use pretty_assertions::assert_eq;

    fn core_events() -> Vec<Object> {
        items::<CoreEvent>(fixture!("events-core-all.json"))
            .into_iter()
            .map(Object::Event)
            .collect()
    }

    fn v1_events() -> Vec<Object> {
        items::<EventV1>(fixture!("events-v1-all.json"))
            .into_iter()
            .map(Object::EventV1)
            .collect()
    }

    fn run(c: &mut Classifier, objs: &[Object]) -> Vec<Observation> {
        let now = ts("2026-11-24T13:40:00Z");
        objs.iter().flat_map(|o| c.apply(o, now)).collect()
    }

    #[test]
    fn evictions_and_node_events_from_real_events() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        // The target's pods are known first, as the pod watch lists them.
        let pods: Vec<Object> = items(fixture!("pods-evicted.json"))
            .into_iter()
            .map(Object::Pod)
            .collect();
        let from_pods = run(&mut c, &pods);
        assert_eq!(from_pods.len(), 2);
        // The Evicted Events describe the same two evictions: nothing new.
        let got = run(&mut c, &core_events());
        let summary: Vec<(String, String)> = got
            .iter()
            .map(|o| match &o.event {
                Event::NodeEvent { reason, .. } => (o.at.to_string(), reason.clone()),
                other => (o.at.to_string(), format!("{other:?}")),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("2026-11-24T13:33:16Z".into(), "EvictionThresholdMet".into()),
                (
                    "2026-11-24T13:33:17Z".into(),
                    "NodeHasInsufficientMemory".into()
                ),
            ]
        );
    }

    #[test]
    fn evicted_event_alone_reports_the_eviction() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        // The evicted pods themselves were never seen (deleted before the watch listed them):
        // their names still say they were the target's.
        let running: Vec<Object> = items(fixture!("pods-evicted.json"))
            .into_iter()
            .skip(2)
            .map(Object::Pod)
            .collect();
        run(&mut c, &running);
        // The pods' list is complete: a pod not in it is gone and will send no status.
        c.relist_done(Kind::Pod, ts("2026-11-24T13:40:00Z"));
        let got = run(&mut c, &core_events());
        let evictions: Vec<_> = got
            .iter()
            .filter(|o| matches!(o.event, Event::PodEvicted { .. }))
            .collect();
        assert_eq!(evictions.len(), 2, "{got:?}");
        assert_eq!(
            evictions[0].event,
            Event::PodEvicted {
                pod: PodRef {
                    name: "evict-demo-75c65956f8-b7kp5".into(),
                    node: Some("node-1".into()),
                    target: true,
                },
                cause: DisruptionCause::TerminationByKubelet,
                message: "The node was low on resource: memory. Threshold quantity: 21966Mi, \
                          available: 21993788Ki. Container leak was using 1996072Ki, request \
                          is 32Mi, has larger consumption of memory."
                    .into(),
            }
        );
    }

    #[test]
    fn both_event_apis_give_the_same_timeline() {
        let mut a = super::super::pod::tests::classifier("evict-demo");
        let mut b = super::super::pod::tests::classifier("evict-demo");
        let ta: Timeline = run(&mut a, &core_events()).into();
        let tb: Timeline = run(&mut b, &v1_events()).into();
        assert!(!ta.is_empty());
        assert_eq!(ta.entries(), tb.entries());
        // Fed both (a cluster where both are watched): nothing is doubled.
        let mut both = Timeline::new();
        let mut c = super::super::pod::tests::classifier("evict-demo");
        both.extend(run(&mut c, &core_events()));
        both.extend(run(&mut c, &v1_events()));
        assert_eq!(both.entries(), ta.entries());
    }

    #[test]
    fn a_relist_adds_nothing_and_a_repeat_is_a_new_occurrence() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        let evs = core_events();
        let first = run(&mut c, &evs);
        c.relist_started(Kind::Event);
        assert!(run(&mut c, &evs).is_empty());
        c.relist_done(Kind::Event, ts("2026-11-24T13:40:00Z"));
        assert!(!first.is_empty());
        // EvictionThresholdMet happens a third time.
        let mut again = items::<CoreEvent>(fixture!("events-core-all.json"))
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("EvictionThresholdMet"))
            .unwrap();
        again.count = Some(3);
        again.last_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
            "2026-11-24T13:34:02Z",
        )));
        let got = run(&mut c, &[Object::Event(again)]);
        assert!(matches!(&got[..], [o] if o.at == ts("2026-11-24T13:34:02Z")
                && matches!(&o.event, Event::NodeEvent { node, reason, .. } if node == "node-1" && reason == "EvictionThresholdMet")));
    }

    #[test]
    fn failed_scheduling_for_memory() {
        let mut c = super::super::pod::tests::classifier("evict-demo");
        let mut e = items::<CoreEvent>(fixture!("events-core-all.json"))
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
            .unwrap();
        e.reason = Some("FailedScheduling".into());
        e.message = Some(
            "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are \
             available: 1 No preemption victims found for incoming pod."
                .into(),
        );
        let got = run(&mut c, &[Object::Event(e)]);
        assert!(
            matches!(&got[..], [o] if matches!(&o.event, Event::FailedScheduling { insufficient_memory: true, pod, .. } if pod == "evict-demo-75c65956f8-b7kp5"))
        );
    }
}
