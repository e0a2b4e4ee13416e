//! Events, core/v1 and events.k8s.io/v1 alike: evictions, node OOMs and pressure, NotReady,
//! scheduling failures for lack of memory.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::ResourceExt;

use super::{Classifier, Seen, time};
use crate::observe::{Happening, Observation, Time};

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
                    Some(ns) if ns != self.target.workload.namespace => format!("{ns}/{}", v.name),
                    _ => v.name.clone(),
                };
                self.pod_evicted_by_event(v, name, now, out);
            }
            ("FailedScheduling", "Pod") => out.push(Observation::new(
                v.at,
                Happening::FailedScheduling {
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
                        Happening::NodeEvent {
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
mod tests;
