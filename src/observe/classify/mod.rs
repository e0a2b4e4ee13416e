//! Kubernetes objects → [`Observation`]s: a small, pure index fed by watches (linkerd-style).
//!
//! Watchers call [`Classifier::apply`] / [`Classifier::delete`] with each object they deliver;
//! the index keeps only the little it needs per object (no specs, no managedFields) and returns
//! the observations that are new against what it last saw of that object. Re-lists after a
//! watch reconnect therefore produce nothing new, and [`Classifier::relist_done`] forgets
//! objects that vanished while the watch was down.
//!
//! Timestamps come from the objects (a container's `finishedAt`, a condition's
//! `lastTransitionTime`, an Event's last occurrence). Status-only objects (PodDisruptionBudget,
//! the workload) carry no time for a status change, so those samples take `now`, the moment the
//! watch delivered them; state samples (node conditions, budgets, ready counts) never predate
//! `since`, the start of observation, because before it they only say what the state was then.

mod events;
mod node;
mod pod;
mod status;

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::Selector;

use super::{Happening, Observation, Time};
use crate::spec::TargetKind;

pub use events::{EventView, relevant_reason};

/// The workload whose pods are the target; every other pod is a bystander.
#[derive(Debug, Clone)]
pub struct TargetRef {
    pub workload: crate::spec::WorkloadRef,
    /// The workload's pod selector; pods it matches in its namespace are the target's.
    pub selector: Selector,
    /// The pod template's labels: a PodDisruptionBudget guards the target when its selector
    /// matches them.
    pub template_labels: BTreeMap<String, String>,
}

impl TargetRef {
    /// The target workload `kind namespace/name` with its pod selector and template: its pods
    /// are the ones the selector matches; a budget guards it when it matches the template's
    /// labels.
    pub fn new(
        namespace: &str,
        kind: TargetKind,
        name: &str,
        selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
        template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>,
    ) -> crate::Result<TargetRef> {
        let selector = Selector::try_from(selector).map_err(|e| {
            crate::Error::Invalid(format!(
                "{} {namespace}/{name}: selector: {e}",
                kind.as_str()
            ))
        })?;
        Ok(TargetRef {
            workload: crate::spec::WorkloadRef {
                namespace: namespace.to_string(),
                kind,
                name: name.to_string(),
            },
            selector,
            template_labels: template
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
        })
    }
}

/// One object as a watch delivers it.
#[derive(Debug, Clone)]
pub enum Object {
    Pod(Pod),
    Node(Node),
    Event(CoreEvent),
    EventV1(EventV1),
    Budget(PodDisruptionBudget),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
}

/// The kinds of object the index keeps, for re-list bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Pod,
    Node,
    Event,
    Budget,
    Workload,
}

impl Object {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Object::Pod(_) => ObjectKind::Pod,
            Object::Node(_) => ObjectKind::Node,
            Object::Event(_) | Object::EventV1(_) => ObjectKind::Event,
            Object::Budget(_) => ObjectKind::Budget,
            Object::Deployment(_) | Object::StatefulSet(_) => ObjectKind::Workload,
        }
    }

    /// Drops what the classifier never reads, so a watch buffer stays small.
    pub fn strip(&mut self) {
        use kube::ResourceExt;
        match self {
            Object::Pod(p) => {
                p.managed_fields_mut().clear();
                p.annotations_mut().clear();
                // The classifier reads nodeName and the containers' names (does the pod carry a
                // leaker?) from the spec.
                if let Some(spec) = p.spec.as_mut() {
                    let names = |cs: &mut Vec<k8s_openapi::api::core::v1::Container>| {
                        for c in cs.iter_mut() {
                            *c = k8s_openapi::api::core::v1::Container {
                                name: std::mem::take(&mut c.name),
                                ..Default::default()
                            };
                        }
                    };
                    names(&mut spec.containers);
                    let ephemeral: Option<Vec<String>> = spec
                        .ephemeral_containers
                        .as_ref()
                        .map(|e| e.iter().map(|c| c.name.clone()).collect());
                    *spec = k8s_openapi::api::core::v1::PodSpec {
                        node_name: spec.node_name.take(),
                        containers: std::mem::take(&mut spec.containers),
                        ephemeral_containers: ephemeral.map(|names| {
                            names
                                .into_iter()
                                .map(|name| k8s_openapi::api::core::v1::EphemeralContainer {
                                    name,
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        ..Default::default()
                    };
                }
            }
            Object::Node(n) => {
                n.managed_fields_mut().clear();
                n.annotations_mut().clear();
                n.labels_mut().clear();
                if let Some(s) = n.status.as_mut() {
                    s.images = None;
                    s.volumes_attached = None;
                    s.volumes_in_use = None;
                    s.node_info = None;
                    s.addresses = None;
                    s.daemon_endpoints = None;
                }
            }
            Object::Event(e) => e.managed_fields_mut().clear(),
            Object::EventV1(e) => e.managed_fields_mut().clear(),
            Object::Budget(b) => b.managed_fields_mut().clear(),
            // A workload keeps its managedFields: they name who last wrote its spec.
            Object::Deployment(_) | Object::StatefulSet(_) => {}
        }
    }
}

/// The pure index: last-seen state per object, and what has already been reported.
#[derive(Debug)]
pub struct Classifier {
    target: TargetRef,
    since: Time,
    pods: HashMap<Box<str>, pod::PodState>,
    /// Nodes a target pod has run on during the run: bystanders there are blast radius.
    target_nodes: HashSet<Box<str>>,
    /// Pods (by uid) whose eviction or admission rejection was reported: once each.
    evicted: HashSet<Box<str>>,
    /// Evicted Events waiting for their pod's status to say what they were (an eviction at its
    /// DisruptionTarget condition's time, or an admission rejection), by pod uid.
    pending_evictions: BTreeMap<Box<str>, PendingEviction>,
    /// The last count of target pods carrying a live leaker that was reported (none before the
    /// first leaker: nothing to say until one appears).
    leaker_pods: u32,
    nodes: HashMap<Box<str>, node::NodeState>,
    /// Relevant Events by uid → the last occurrence reported.
    events: HashMap<Box<str>, Seen<Time>>,
    budgets: HashMap<Box<str>, Seen<Happening>>,
    workload: Option<Happening>,
    /// The workload's last spec writer reported.
    writer: Option<(String, Option<Time>)>,
    /// Per watch stream, its id and the generation of its current (re-)list; entries it
    /// stamped with an older one at `relist_done` vanished while the watch was away.
    streams: HashMap<Box<str>, Stamp>,
    /// The stream whose delivery is being classified, and whether it is still in its first
    /// list (its state samples are then the baseline); None: by kind (tests, one watch per
    /// kind).
    current: Stamp,
    current_baseline: Option<bool>,
    /// Kinds whose first list completed: an object not known then is gone, not yet to come.
    listed: HashSet<ObjectKind>,
    baseline_told: bool,
}

/// Which watch delivered an object, and in which of its (re-)lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stamp {
    stream: u16,
    generation: u32,
}

/// An Evicted Event whose pod's status has not told yet what it was.
#[derive(Debug, Clone)]
struct PendingEviction {
    view: EventView,
    /// The pod as sentences name it (namespace-qualified outside the target's namespace).
    name: String,
    /// When the Event was delivered: after [`EVICTION_EVENT_GRACE`] it is reported on its own.
    received: Time,
}

/// How long an Evicted Event waits for its pod's status (which carries the eviction's own time
/// and tells an eviction from an admission rejection) before it is reported from the Event
/// alone. The kubelet writes both within a second in the recordings.
const EVICTION_EVENT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Seen<T> {
    value: T,
    stamp: Stamp,
}

impl Classifier {
    /// An empty index for `target`; facts that happened before `since` are history, not the run's.
    pub fn new(target: TargetRef, since: Time) -> Self {
        Classifier {
            target,
            since,
            pods: HashMap::new(),
            target_nodes: HashSet::new(),
            evicted: HashSet::new(),
            pending_evictions: BTreeMap::new(),
            leaker_pods: 0,
            nodes: HashMap::new(),
            events: HashMap::new(),
            budgets: HashMap::new(),
            workload: None,
            writer: None,
            streams: HashMap::new(),
            current: Stamp::default(),
            current_baseline: None,
            listed: HashSet::new(),
            baseline_told: false,
        }
    }

    pub fn target(&self) -> &TargetRef {
        &self.target
    }

    /// Nodes a target pod has run on during the run (their other pods are blast radius).
    pub fn target_nodes(&self) -> impl Iterator<Item = &str> {
        self.target_nodes.iter().map(|n| &**n)
    }

    /// Number of pods and nodes held (for the benchmark and for logs).
    pub fn sizes(&self) -> (usize, usize) {
        (self.pods.len(), self.nodes.len())
    }

    /// Whether the first list of `kind` completed.
    fn relisted(&self, kind: ObjectKind) -> bool {
        self.listed.contains(&kind)
    }

    /// What follows comes from the watch `stream`; `first_list`: from its first list, so its
    /// state samples are the state the run began in (the baseline).
    pub fn from_stream(&mut self, stream: &str, first_list: bool) {
        let next = u16::try_from(self.streams.len() + 1).unwrap_or(u16::MAX);
        self.current = *self.streams.entry(stream.into()).or_insert(Stamp {
            stream: next,
            generation: 0,
        });
        self.current_baseline = Some(first_list);
    }

    /// The stamp of what is being classified.
    fn stamp(&self) -> Stamp {
        self.current
    }

    /// An object was added or changed (or re-listed): the observations it adds.
    /// `now` is when the watch delivered the object: the time of state samples that carry no
    /// time of their own (a budget's status, a workload's replicas).
    pub fn apply(&mut self, obj: &Object, now: Time) -> Vec<Observation> {
        let mut out = Vec::new();
        match obj {
            Object::Pod(p) => {
                self.apply_pod(p, now, &mut out);
                self.report_leaker_pods(now, &mut out);
            }
            Object::Node(n) => self.apply_node(n, &mut out),
            Object::Event(e) => {
                if let Some(v) = EventView::from_core(e) {
                    self.apply_event(v, now, &mut out);
                }
            }
            Object::EventV1(e) => {
                if let Some(v) = EventView::from_v1(e) {
                    self.apply_event(v, now, &mut out);
                }
            }
            Object::Budget(b) => self.apply_budget(b, now, &mut out),
            Object::Deployment(d) => self.apply_workload(d, now, &mut out),
            Object::StatefulSet(s) => self.apply_workload(s, now, &mut out),
        }
        out
    }

    /// Time passed (`now`, by the watches' delivery): Evicted Events whose pod never told what
    /// they were are reported from the Event alone.
    pub fn tick(&mut self, now: Time, out: &mut Vec<Observation>) {
        let due: Vec<Box<str>> = self
            .pending_evictions
            .iter()
            .filter(|(_, p)| now.duration_since(p.received).unsigned_abs() >= EVICTION_EVENT_GRACE)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in due {
            self.report_pending_eviction(&uid, out);
        }
    }

    /// An object was deleted at `now`: forgets it. Deletions themselves are not facts here: a
    /// target pod's disappearance shows in the workload's ready count, its cause in its
    /// condition; what it changes (the pods carrying a leaker, an Evicted Event that now cannot
    /// be matched to a status) is returned.
    pub fn delete(&mut self, obj: &Object, now: Time) -> Vec<Observation> {
        use kube::ResourceExt;
        let mut out = Vec::new();
        match obj {
            Object::Pod(p) => {
                let key = pod::key(p);
                self.pods.remove(key.as_str());
                self.report_pending_eviction(&key, &mut out);
                self.report_leaker_pods(now, &mut out);
            }
            Object::Node(n) => {
                self.nodes.remove(n.name_any().as_str());
            }
            Object::Event(e) => {
                self.events.remove(e.uid().unwrap_or_default().as_str());
            }
            Object::EventV1(e) => {
                self.events.remove(e.uid().unwrap_or_default().as_str());
            }
            Object::Budget(b) => {
                self.budgets.remove(b.name_any().as_str());
            }
            Object::Deployment(_) | Object::StatefulSet(_) => self.workload = None,
        }
        out
    }

    /// The current stream (re-)started listing `kind`: objects it applies from now on are
    /// stamped with a new generation.
    pub fn relist_started(&mut self, _kind: ObjectKind) {
        self.current.generation = self.current.generation.wrapping_add(1);
        if let Some(s) = self
            .streams
            .values_mut()
            .find(|s| s.stream == self.current.stream)
        {
            *s = self.current;
        }
    }

    /// The current stream's (re-)list of `kind` is complete at `now`: whatever it listed
    /// before and not this time was deleted meanwhile. Other watches' objects are theirs.
    pub fn relist_done(&mut self, kind: ObjectKind, now: Time) -> Vec<Observation> {
        let cur = self.current;
        let keep = |s: &Stamp| s.stream != cur.stream || s.generation == cur.generation;
        self.listed.insert(kind);
        let mut out = Vec::new();
        match kind {
            ObjectKind::Pod => {
                self.pods.retain(|_, p| keep(&p.stamp));
                self.report_leaker_pods(now, &mut out);
            }
            ObjectKind::Node => self.nodes.retain(|_, n| keep(&n.stamp)),
            ObjectKind::Event => self.events.retain(|_, e| keep(&e.stamp)),
            ObjectKind::Budget => self.budgets.retain(|_, b| keep(&b.stamp)),
            ObjectKind::Workload => {}
        }
        self.report_baseline(now, &mut out);
        out
    }

    /// The start of observation as object timestamps can tell it. Kubernetes writes
    /// `startedAt`, `finishedAt`, `lastTransitionTime` and `lastTimestamp` in whole seconds,
    /// truncated: a container that started 0.3 s after the run began reads as the run's own
    /// second, so facts of that second count as the run's.
    fn since_second(&self) -> Time {
        Time::from_second(self.since.as_second()).unwrap_or(self.since)
    }

    /// Event-like facts before `since` are history; state samples are moved up to `since`.
    fn push_fact(&self, out: &mut Vec<Observation>, obs: Observation) {
        if obs.at >= self.since_second() {
            out.push(obs);
        }
    }

    /// A state sample; one delivered by its watch's first list is the baseline.
    fn push_state(&self, out: &mut Vec<Observation>, at: Time, event: Happening) {
        let kind = match &event {
            Happening::NodeCondition { .. } => ObjectKind::Node,
            Happening::Budget { .. } => ObjectKind::Budget,
            Happening::Workload { .. } | Happening::WorkloadWriter { .. } => ObjectKind::Workload,
            _ => ObjectKind::Pod,
        };
        let at = at.max(self.since);
        let baseline = self
            .current_baseline
            .unwrap_or(!self.listed.contains(&kind));
        out.push(if baseline {
            Observation::baseline(at, event)
        } else {
            Observation::new(at, event)
        });
    }

    /// Once the first lists of pods, nodes, budgets and the workload are in: what the cluster
    /// already looked like, in one observation.
    fn report_baseline(&mut self, now: Time, out: &mut Vec<Observation>) {
        let all = [
            ObjectKind::Pod,
            ObjectKind::Node,
            ObjectKind::Budget,
            ObjectKind::Workload,
        ];
        if self.baseline_told || !all.iter().all(|k| self.listed.contains(k)) {
            return;
        }
        self.baseline_told = true;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let nodes = self.nodes.values();
        out.push(Observation::baseline(
            now.max(self.since),
            Happening::Baseline {
                nodes: count(self.nodes.len()),
                nodes_not_ready: count(nodes.clone().filter(|n| n.not_ready()).count()),
                nodes_under_pressure: count(nodes.filter(|n| n.under_pressure()).count()),
                pods_crash_looping: count(self.pods.values().filter(|p| p.crash_looping()).count()),
                budgets_breached: count(
                    self.budgets
                        .values()
                        .filter(|b| {
                            matches!(b.value, Happening::Budget { current_healthy, desired_healthy, .. }
                                if current_healthy < desired_healthy)
                        })
                        .count(),
                ),
            },
        ));
    }
}

/// Reads a k8s-openapi `Time` (which wraps jiff).
fn time(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<Time> {
    t.map(|t| t.0)
}

#[cfg(test)]
pub(crate) mod tests;
