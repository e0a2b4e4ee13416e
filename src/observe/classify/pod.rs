//! Pods: OOM kills (the leaker's or the app's), CrashLoopBackOff, evictions and other
//! disruptions, the leaker starting; target or bystander.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition};
use kube::ResourceExt;
use kube::core::SelectorExt;

use super::{Classifier, time};
use crate::inject::is_leaker;
use crate::observe::{DisruptionCause, Event, Observation, PodRef, Time};

/// What the index keeps per pod: where it runs, whether it is the target's, and the facts its
/// last status implied (to report only what is new).
#[derive(Debug, Clone)]
pub(super) struct PodState {
    node: Option<Box<str>>,
    target: bool,
    /// The pod's name, when it is the target's and a leaker runs in it (its bytes are read).
    leaker: Option<Box<str>>,
    /// A target pod that carries a live leaker: one that runs or will run (again).
    live_leaker: bool,
    facts: Vec<Observation>,
    pub(super) stamp: super::Stamp,
}

impl PodState {
    /// A container of the pod waits in CrashLoopBackOff.
    pub(super) fn crash_looping(&self) -> bool {
        self.facts
            .iter()
            .any(|f| matches!(f.event, Event::CrashLoopBackOff { .. }))
    }
}

/// A pod's identity: its uid (a StatefulSet's replacement pod reuses the name, not the uid).
pub(super) fn key(p: &Pod) -> String {
    p.uid()
        .unwrap_or_else(|| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
}

pub(super) fn cause(reason: &str) -> DisruptionCause {
    match reason {
        "TerminationByKubelet" => DisruptionCause::TerminationByKubelet,
        "EvictionByEvictionAPI" => DisruptionCause::EvictionByEvictionAPI,
        "DeletionByTaintManager" => DisruptionCause::DeletionByTaintManager,
        "PreemptionByScheduler" => DisruptionCause::PreemptionByScheduler,
        other => DisruptionCause::Other(other.to_string()),
    }
}

fn condition<'a>(p: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Two facts about one pod are the same when they describe the same moment: an OOM kill seen
/// first as the current state and then as `lastState` after the restart differs only in the
/// restart count.
fn same_fact(a: &Observation, b: &Observation) -> bool {
    match (&a.event, &b.event) {
        (Event::OomKilled { container: ca, .. }, Event::OomKilled { container: cb, .. }) => {
            a.at == b.at && ca == cb
        }
        // A rejection's time is when it was first seen: the same rejection seen again later is
        // not a new one.
        (Event::AdmissionRejected { .. }, Event::AdmissionRejected { .. }) => true,
        _ => a == b,
    }
}

/// Whether any container of the pod ever started: a pod the kubelet refused at admission has
/// none.
fn ever_ran(p: &Pod) -> bool {
    let Some(st) = p.status.as_ref() else {
        return false;
    };
    st.container_statuses
        .iter()
        .chain(st.init_container_statuses.iter())
        .flatten()
        .any(|cs| {
            let started = |s: Option<&k8s_openapi::api::core::v1::ContainerState>| {
                s.is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            };
            started(cs.state.as_ref()) || started(cs.last_state.as_ref())
        })
}

/// Whether a pod carries a leaker that runs or will run again: a sidecar leaker in a pod that
/// has not terminated (its containers restart), or an ephemeral leaker that has not exited
/// (ephemeral containers never restart).
fn carries_live_leaker(p: &Pod) -> bool {
    let st = p.status.as_ref();
    let phase = st.and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    let statuses = |list: Option<&Vec<ContainerStatus>>| -> Vec<ContainerStatus> {
        list.cloned().unwrap_or_default()
    };
    let regular = statuses(st.and_then(|s| s.container_statuses.as_ref()));
    let terminated =
        |cs: &ContainerStatus| cs.state.as_ref().is_some_and(|s| s.terminated.is_some());
    // Deleting: the pod still runs until every container has stopped.
    if !regular.is_empty() && regular.iter().all(terminated) {
        return false;
    }
    let spec = p.spec.as_ref();
    let sidecar = spec.is_some_and(|s| s.containers.iter().any(|c| is_leaker(&c.name)))
        || regular.iter().any(|cs| is_leaker(&cs.name));
    if sidecar {
        return true;
    }
    let ephemeral = statuses(st.and_then(|s| s.ephemeral_container_statuses.as_ref()));
    spec.and_then(|s| s.ephemeral_containers.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| is_leaker(&c.name))
        .any(|c| {
            !ephemeral
                .iter()
                .any(|cs| cs.name == c.name && terminated(cs))
        })
}

impl Classifier {
    fn pod_ref(&self, p: &Pod, node: Option<&str>, target: bool) -> PodRef {
        let ns = p.namespace().unwrap_or_default();
        let name = if ns == self.target.namespace {
            p.name_any()
        } else {
            format!("{ns}/{}", p.name_any())
        };
        PodRef {
            name,
            node: node.map(str::to_string),
            target,
        }
    }

    /// Names of the target's pods (in the target's namespace) where a leaker is running.
    pub fn leaker_pods(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pods
            .values()
            .filter_map(|s| s.leaker.as_deref().map(str::to_string))
            .collect();
        v.sort();
        v
    }

    pub(super) fn is_target(&self, p: &Pod) -> bool {
        p.namespace().as_deref() == Some(self.target.namespace.as_str())
            && !self.target.selector.selects_all()
            && self.target.selector.matches(p.labels())
    }

    /// Every fact the pod's current status implies, whatever was seen before. `now` is when
    /// the status was delivered: the time of a fact that carries none of its own.
    fn pod_facts(&self, p: &Pod, pod: &PodRef, now: Time) -> Vec<Observation> {
        let mut facts = Vec::new();
        let Some(status) = p.status.as_ref() else {
            return facts;
        };
        let all = status
            .container_statuses
            .iter()
            .chain(status.init_container_statuses.iter())
            .chain(status.ephemeral_container_statuses.iter())
            .flatten();
        for cs in all {
            // CrashLoopBackOff's waiting state has no time of its own; `since` stands in (it is
            // a state sample, so the timeline keeps it only when it changes).
            container_facts(cs, pod, self.since, &mut facts);
        }
        // Evicted by the kubelet: the DisruptionTarget condition says so and when, whether the
        // pod ended Failed with `reason: Evicted` or (the kubelet's race) Succeeded without it.
        // `reason: Evicted` without the condition is a pod the kubelet refused at admission
        // ("The node had condition: [MemoryPressure]"): it never ran, nothing was lost.
        let disruption = condition(p, "DisruptionTarget").filter(|c| c.status == "True");
        let evicted = status.reason.as_deref() == Some("Evicted");
        let message = |fallback: Option<&PodCondition>| {
            status
                .message
                .clone()
                .filter(|_| evicted)
                .or_else(|| fallback.and_then(|c| c.message.clone()))
                .unwrap_or_default()
                .trim_end()
                .to_string()
        };
        if disruption.is_none() && evicted && !ever_ran(p) {
            facts.push(Observation::new(
                now,
                Event::AdmissionRejected {
                    pod: pod.clone(),
                    message: message(None),
                },
            ));
        } else if evicted || disruption.is_some() {
            let cause = match disruption.and_then(|c| c.reason.as_deref()) {
                Some(r) => cause(r),
                None => DisruptionCause::TerminationByKubelet,
            };
            // Without the condition (kubelets before it existed), the pod's readiness changed
            // when it was evicted.
            let at = disruption
                .and_then(|c| time(c.last_transition_time.as_ref()))
                .or_else(|| {
                    condition(p, "Ready").and_then(|c| time(c.last_transition_time.as_ref()))
                })
                .unwrap_or(now);
            facts.push(Observation::new(
                at,
                Event::PodEvicted {
                    pod: pod.clone(),
                    cause,
                    message: message(disruption),
                },
            ));
        }
        facts
    }

    pub(super) fn apply_pod(&mut self, p: &Pod, now: Time, out: &mut Vec<Observation>) {
        let key = key(p);
        let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let target = self.is_target(p);
        let pod = self.pod_ref(p, node, target);
        let facts = self.pod_facts(p, &pod, now);
        // The pod's status now tells what an Evicted Event about it was.
        if facts.iter().any(|f| {
            matches!(
                f.event,
                Event::PodEvicted { .. } | Event::AdmissionRejected { .. }
            )
        }) {
            self.pending_evictions.remove(key.as_str());
        }
        let stamp = self.stamp();

        let new_target_node = match node {
            Some(n) if target && !self.target_nodes.contains(n) => {
                self.target_nodes.insert(n.into());
                Some(n.to_string())
            }
            _ => None,
        };

        let old = self.pods.get(key.as_str());
        let fresh: Vec<Observation> = facts
            .iter()
            .filter(|f| !old.is_some_and(|o| o.facts.iter().any(|g| same_fact(f, g))))
            .cloned()
            .collect();
        let report = target || node.is_some_and(|n| self.target_nodes.contains(n));
        if report {
            for f in fresh {
                self.report_pod_fact(&key, f, out);
            }
        }
        let leaker = (target && running_leaker(p)).then(|| p.name_any().into());
        self.pods.insert(
            key.into(),
            PodState {
                node: node.map(Into::into),
                target,
                leaker,
                live_leaker: target && carries_live_leaker(p),
                facts,
                stamp,
            },
        );

        // A node that just got its first target pod: bystanders already there that were
        // evicted or OOM-killed during the run are now blast radius.
        if let Some(n) = new_target_node {
            let earlier: Vec<(String, Observation)> = self
                .pods
                .iter()
                .filter(|(_, s)| !s.target && s.node.as_deref() == Some(n.as_str()))
                .flat_map(|(k, s)| s.facts.iter().map(move |f| (k.to_string(), f.clone())))
                .collect();
            for (k, f) in earlier {
                self.report_pod_fact(&k, f, out);
            }
        }
    }

    fn report_pod_fact(&mut self, key: &str, f: Observation, out: &mut Vec<Observation>) {
        match &f.event {
            Event::PodEvicted { .. } | Event::AdmissionRejected { .. } => {
                if self.evicted.insert(key.into()) {
                    self.push_fact(out, f);
                }
            }
            Event::CrashLoopBackOff { .. } => self.push_state(out, f.at, f.event),
            _ => self.push_fact(out, f),
        }
    }

    /// The count of target pods carrying a live leaker, when it changed.
    pub(super) fn report_leaker_pods(&mut self, now: Time, out: &mut Vec<Observation>) {
        let live = self.pods.values().filter(|s| s.live_leaker).count();
        let live = u32::try_from(live).unwrap_or(u32::MAX);
        if self.leaker_pods != live {
            self.leaker_pods = live;
            self.push_state(out, now, Event::LeakerPods { live });
        }
    }

    /// An Evicted Event about a pod. The pod's status (which usually follows within a second)
    /// tells an eviction, at its DisruptionTarget condition's time, from an admission
    /// rejection; so the Event waits for it, unless the status already told.
    pub(super) fn pod_evicted_by_event(
        &mut self,
        view: super::EventView,
        name: String,
        received: Time,
        out: &mut Vec<Observation>,
    ) {
        let Some(uid) = view.object_uid.clone() else {
            return;
        };
        if self.evicted.contains(uid.as_str()) {
            return;
        }
        self.pending_evictions.insert(
            uid.as_str().into(),
            super::PendingEviction {
                view,
                name,
                received,
            },
        );
        // A pod already gone will send no status.
        if !self.pods.contains_key(uid.as_str()) && self.relisted(super::Kind::Pod) {
            self.report_pending_eviction(&uid, out);
        }
    }

    /// Reports an Evicted Event on its own (its pod is gone, or never told): an admission
    /// rejection when its message is the kubelet's admission refusal, else an eviction at the
    /// Event's time. Once per pod, and only when it is blast radius or the target's.
    pub(super) fn report_pending_eviction(&mut self, uid: &str, out: &mut Vec<Observation>) {
        let Some(p) = self.pending_evictions.remove(uid) else {
            return;
        };
        let v = &p.view;
        let (node, target) = match self.pods.get(uid) {
            Some(s) => (s.node.as_deref().map(str::to_string), s.target),
            // A pod never seen (deleted before the watch listed it): its name says whether a
            // Deployment's or StatefulSet's controller made it for the target.
            None => (
                v.host.clone(),
                v.namespace.as_deref() == Some(self.target.namespace.as_str())
                    && v.name
                        .strip_prefix(self.target.name.as_str())
                        .is_some_and(|rest| rest.starts_with('-')),
            ),
        };
        let counts = target
            || node
                .as_deref()
                .is_some_and(|n| self.target_nodes.contains(n));
        if !counts || v.at < self.since_second() || !self.evicted.insert(uid.into()) {
            return;
        }
        let pod = PodRef {
            name: p.name.clone(),
            node,
            target,
        };
        let message = v.message.trim_end().to_string();
        let event = if is_admission_refusal(&message) {
            Event::AdmissionRejected { pod, message }
        } else {
            Event::PodEvicted {
                pod,
                cause: DisruptionCause::TerminationByKubelet,
                message,
            }
        };
        out.push(Observation::new(v.at, event));
    }
}

/// The kubelet's message when it refuses a pod at admission for a node condition
/// (`pkg/kubelet/eviction`'s admit handler: "The node had condition: [MemoryPressure]. ").
fn is_admission_refusal(message: &str) -> bool {
    message.starts_with("The node had condition")
}

/// Whether a leaker container (sidecar or ephemeral) is running in the pod.
fn running_leaker(p: &Pod) -> bool {
    let Some(st) = p.status.as_ref() else {
        return false;
    };
    st.container_statuses
        .iter()
        .chain(st.ephemeral_container_statuses.iter())
        .flatten()
        .any(|cs| is_leaker(&cs.name) && cs.state.as_ref().is_some_and(|s| s.running.is_some()))
}

fn container_facts(cs: &ContainerStatus, pod: &PodRef, now: Time, out: &mut Vec<Observation>) {
    let leaker = is_leaker(&cs.name);
    let restart_count = u32::try_from(cs.restart_count).unwrap_or(0);
    let current = cs.state.as_ref();
    let last = cs.last_state.as_ref();
    let oom = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| {
        (t.reason.as_deref() == Some("OOMKilled"))
            .then(|| time(t.finished_at.as_ref()))
            .flatten()
    };
    for terminated in [
        current.and_then(|s| s.terminated.as_ref()),
        last.and_then(|s| s.terminated.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(at) = oom(terminated) {
            out.push(Observation::new(
                at,
                Event::OomKilled {
                    pod: pod.clone(),
                    container: cs.name.clone(),
                    leaker,
                    restart_count,
                },
            ));
        }
        if leaker && let Some(at) = time(terminated.started_at.as_ref()) {
            out.push(Observation::new(
                at,
                Event::LeakerStarted { pod: pod.clone() },
            ));
        }
    }
    if let Some(w) = current.and_then(|s| s.waiting.as_ref())
        && w.reason.as_deref() == Some("CrashLoopBackOff")
    {
        let at = last
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| time(t.finished_at.as_ref()))
            .unwrap_or(now);
        out.push(Observation::new(
            at,
            Event::CrashLoopBackOff {
                pod: pod.clone(),
                container: cs.name.clone(),
            },
        ));
    }
    if leaker
        && let Some(at) = current
            .and_then(|s| s.running.as_ref())
            .and_then(|r| time(r.started_at.as_ref()))
    {
        out.push(Observation::new(
            at,
            Event::LeakerStarted { pod: pod.clone() },
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::fixtures::{fixture, items, ts};
    use super::super::{Classifier, Kind, Object, TargetRef};
    use super::*;
    use crate::spec::TargetKind;
    use k8s_openapi::api::core::v1::Node;
    use pretty_assertions::assert_eq;

    pub(crate) fn classifier(app: &str) -> Classifier {
        let target = TargetRef {
            namespace: "default".into(),
            kind: TargetKind::Deployment,
            name: app.into(),
            selector: [("app".to_string(), app.to_string())].into_iter().collect(),
            template_labels: [("app".to_string(), app.to_string())].into(),
        };
        let mut c = Classifier::new(target, ts("2026-11-24T13:30:00Z"));
        // The first lists are in: what follows are changes, not the baseline.
        for kind in [
            Kind::Pod,
            Kind::Node,
            Kind::Event,
            Kind::Budget,
            Kind::Workload,
        ] {
            c.relist_done(kind, ts("2026-11-24T13:30:00Z"));
        }
        c
    }

    #[test]
    fn the_first_lists_are_the_baseline_told_once() {
        let target = TargetRef {
            namespace: "default".into(),
            kind: TargetKind::Deployment,
            name: "oom-demo".into(),
            selector: [("app".to_string(), "oom-demo".to_string())]
                .into_iter()
                .collect(),
            template_labels: [("app".to_string(), "oom-demo".to_string())].into(),
        };
        let now = ts("2026-11-24T13:40:00Z");
        let mut c = Classifier::new(target, ts("2026-11-24T13:30:00Z"));
        let pressure: Node = items(fixture!("node-memory-pressure.json")).remove(0);
        let mut crashing = pods(fixture!("pods-oomkilled.json")).remove(0);
        crashing
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1]
            .state = Some(k8s_openapi::api::core::v1::ContainerState {
            waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: None,
            }),
            ..Default::default()
        });
        let mut got = c.apply(&Object::Node(pressure.clone()), now);
        got.extend(c.apply(&Object::Pod(crashing), now));
        let states: Vec<&Observation> = got
            .iter()
            .filter(|o| {
                matches!(
                    o.event,
                    Event::NodeCondition { .. } | Event::CrashLoopBackOff { .. }
                )
            })
            .collect();
        assert!(!states.is_empty());
        assert!(states.iter().all(|o| o.baseline), "{got:#?}");
        // The OOM kill in the pod's past is history either way, not baseline state.
        for kind in [Kind::Pod, Kind::Node, Kind::Event, Kind::Budget] {
            assert!(c.relist_done(kind, now).is_empty());
        }
        let told = c.relist_done(Kind::Workload, now);
        assert_eq!(
            told,
            vec![Observation::baseline(
                now,
                Event::Baseline {
                    nodes: 1,
                    nodes_not_ready: 0,
                    nodes_under_pressure: 1,
                    pods_crash_looping: 1,
                    budgets_breached: 0,
                }
            )]
        );
        // Once told; and later changes are not the baseline.
        assert!(c.relist_done(Kind::Pod, now).is_empty());
        let mut ready: Node = items(fixture!("node-ready.json")).remove(0);
        ready.metadata.name = pressure.metadata.name.clone();
        let later = c.apply(&Object::Node(ready), now);
        assert!(
            later
                .iter()
                .any(|o| !o.baseline && matches!(o.event, Event::NodeCondition { .. })),
            "{later:#?}"
        );
    }

    fn pods(json: &str) -> Vec<Pod> {
        items(json)
    }

    #[test]
    fn oom_killed_container_with_finished_at_and_restarts() {
        let mut c = classifier("oom-demo");
        let p = pods(fixture!("pods-oomkilled.json")).remove(0);
        let got = c.apply(&Object::Pod(p.clone()), ts("2026-11-24T13:40:00Z"));
        let pod = PodRef {
            name: "oom-demo-7bcb47dff6-xqlj4".into(),
            node: Some("node-1".into()),
            target: true,
        };
        assert_eq!(
            got,
            vec![Observation::new(
                ts("2026-11-24T13:31:55Z"),
                Event::OomKilled {
                    pod,
                    container: "leak".into(),
                    leaker: false,
                    restart_count: 2,
                }
            )]
        );
        // The same object again (a re-list) says nothing new.
        assert!(
            c.apply(&Object::Pod(p), ts("2026-11-24T13:41:00Z"))
                .is_empty()
        );
    }

    #[test]
    fn oom_seen_as_current_state_then_as_last_state_is_one_fact() {
        let mut c = classifier("oom-demo");
        let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
        let original = p.clone();
        // Just before the restart: the kill is the current state, the leaker renamed.
        let st = p.status.as_mut().unwrap();
        let cs = &mut st.container_statuses.as_mut().unwrap()[1];
        cs.name = "oomsday-leaker".into();
        let last = cs.last_state.take().unwrap();
        cs.state = Some(last);
        cs.restart_count = 1;
        let first = c.apply(&Object::Pod(p), ts("2026-11-24T13:31:56Z"));
        // The pod still carries the leaker: it restarts (a sidecar in a running pod).
        assert!(
            matches!(&first[..], [o, s, l] if matches!(&o.event, Event::OomKilled { leaker: true, restart_count: 1, .. })
                && matches!(s.event, Event::LeakerStarted { .. })
                && l.event == Event::LeakerPods { live: 1 }),
            "{first:?}"
        );
        assert!(c.leaker_pods().is_empty(), "the leaker is not running yet");
        let mut after = original;
        after
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1]
            .name = "oomsday-leaker".into();
        let second = c.apply(&Object::Pod(after), ts("2026-11-24T13:32:11Z"));
        assert_eq!(c.leaker_pods(), vec!["oom-demo-7bcb47dff6-xqlj4"]);
        // Only the restarted leaker's start is new.
        assert_eq!(second.len(), 1, "{second:?}");
        assert_eq!(second[0].at, ts("2026-11-24T13:32:10Z"));
        assert!(matches!(second[0].event, Event::LeakerStarted { .. }));
    }

    #[test]
    fn kubelet_eviction_with_its_message_and_cause() {
        let mut c = classifier("evict-demo");
        let all = pods(fixture!("pods-evicted.json"));
        let mut got = Vec::new();
        for p in &all {
            got.extend(c.apply(&Object::Pod(p.clone()), ts("2026-11-24T13:34:00Z")));
        }
        assert_eq!(got.len(), 2, "{got:?}");
        let Event::PodEvicted {
            pod,
            cause,
            message,
        } = &got[0].event
        else {
            panic!("{got:?}")
        };
        assert_eq!(pod.name, "evict-demo-75c65956f8-b7kp5");
        assert!(pod.target);
        assert_eq!(*cause, DisruptionCause::TerminationByKubelet);
        assert_eq!(
            message,
            "The node was low on resource: memory. Threshold quantity: 21966Mi, available: \
             21993788Ki. Container leak was using 1996072Ki, request is 32Mi, has larger \
             consumption of memory."
        );
        assert_eq!(got[0].at, ts("2026-11-24T13:33:16Z"));
    }

    #[test]
    fn succeeded_race_is_still_an_eviction_from_the_condition() {
        // The kubelet race the fixture README describes: Succeeded, no `reason: Evicted`.
        let mut c = classifier("evict-demo");
        let mut p = pods(fixture!("pods-evicted.json")).remove(0);
        let st = p.status.as_mut().unwrap();
        st.phase = Some("Succeeded".into());
        st.reason = None;
        st.message = None;
        let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:34:00Z"));
        assert!(
            matches!(&got[..], [o] if matches!(&o.event, Event::PodEvicted { cause: DisruptionCause::TerminationByKubelet, message, .. } if message.starts_with("The node was low on resource: memory")))
        );
    }

    #[test]
    fn container_status_unknown_exit_137_is_not_an_oom_kill() {
        // Evicted pods' containers may read ContainerStatusUnknown with exit 137 (see the
        // fixtures' README): that is the eviction, not the kernel's OOM killer.
        let mut c = classifier("evict-demo");
        let mut p = pods(fixture!("pods-evicted.json")).remove(0);
        let cs = &mut p
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1];
        cs.state = Some(k8s_openapi::api::core::v1::ContainerState {
            terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
                exit_code: 137,
                reason: Some("ContainerStatusUnknown".into()),
                message: Some(
                    "The container could not be located when the pod was terminated".into(),
                ),
                finished_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                    "2026-11-24T13:33:16Z",
                ))),
                ..Default::default()
            }),
            ..Default::default()
        });
        let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:34:00Z"));
        assert!(
            matches!(&got[..], [o] if matches!(o.event, Event::PodEvicted { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn other_disruption_causes_come_from_the_condition() {
        for (reason, want) in [
            (
                "EvictionByEvictionAPI",
                DisruptionCause::EvictionByEvictionAPI,
            ),
            (
                "DeletionByTaintManager",
                DisruptionCause::DeletionByTaintManager,
            ),
            (
                "PreemptionByScheduler",
                DisruptionCause::PreemptionByScheduler,
            ),
            (
                "DeletionByPodGC",
                DisruptionCause::Other("DeletionByPodGC".into()),
            ),
        ] {
            let mut c = classifier("evict-demo");
            let mut p = pods(fixture!("pods-evicted.json")).remove(2);
            let st = p.status.as_mut().unwrap();
            st.conditions.as_mut().unwrap().push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some("drained".into()),
                last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    ts("2026-11-24T13:35:00Z"),
                )),
                ..PodCondition::default()
            });
            let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:36:00Z"));
            assert!(
                matches!(&got[..], [o] if o.at == ts("2026-11-24T13:35:00Z") && matches!(&o.event, Event::PodEvicted { cause, message, .. } if *cause == want && message == "drained")),
                "{reason}: {got:?}"
            );
        }
    }

    #[test]
    fn bystanders_count_only_on_nodes_the_target_runs_on() {
        // evict-demo's pods, seen from an experiment whose target is oom-demo on the same node.
        let mut c = classifier("oom-demo");
        let evicted = pods(fixture!("pods-evicted.json"));
        let now = ts("2026-11-24T13:40:00Z");
        // Before any target pod is known on node-1, a bystander's eviction is not blast radius.
        assert!(c.apply(&Object::Pod(evicted[0].clone()), now).is_empty());
        // The target appears on node-1: the earlier bystander eviction is reported then.
        let target = pods(fixture!("pods-oomkilled.json")).remove(0);
        let got = c.apply(&Object::Pod(target), now);
        let bystander: Vec<_> = got
            .iter()
            .filter_map(|o| match &o.event {
                Event::PodEvicted { pod, .. } => Some(pod.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            bystander,
            vec![PodRef {
                name: "evict-demo-75c65956f8-b7kp5".into(),
                node: Some("node-1".into()),
                target: false
            }]
        );
        // A bystander evicted afterwards on the same node is reported at once.
        let got = c.apply(&Object::Pod(evicted[1].clone()), now);
        assert!(
            matches!(&got[..], [o] if matches!(&o.event, Event::PodEvicted { pod, .. } if !pod.target))
        );
        // A pod on another node is not blast radius.
        let mut elsewhere = evicted[1].clone();
        elsewhere.metadata.uid = Some("other".into());
        elsewhere.spec.as_mut().unwrap().node_name = Some("node-2".into());
        assert!(c.apply(&Object::Pod(elsewhere), now).is_empty());
    }

    #[test]
    fn facts_before_the_run_are_history() {
        let mut c = classifier("oom-demo");
        c.since = ts("2026-11-24T13:32:00Z");
        let p = pods(fixture!("pods-oomkilled.json")).remove(0);
        assert!(
            c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"))
                .is_empty()
        );
    }

    /// A pod the kubelet refused at admission, as `rejectPod` leaves it: Failed, reason
    /// Evicted, "Pod was rejected: …", no DisruptionTarget, no container ever started (built
    /// from a recorded pod of the same Deployment).
    fn rejected(uid: &str) -> Pod {
        let mut p = pods(fixture!("pods-evicted.json")).remove(0);
        p.metadata.uid = Some(uid.into());
        p.metadata.name = Some(format!("evict-demo-75c65956f8-{uid}"));
        let st = p.status.as_mut().unwrap();
        st.phase = Some("Failed".into());
        st.reason = Some("Evicted".into());
        st.message = Some("Pod was rejected: The node had condition: [MemoryPressure]. ".into());
        st.conditions = None;
        st.container_statuses = None;
        st.start_time = None;
        p
    }

    fn evicted_event(uid: &str, name: &str, at: &str, message: &str) -> super::super::EventView {
        super::super::EventView {
            uid: format!("ev-{uid}"),
            reason: "Evicted".into(),
            message: message.into(),
            kind: "Pod".into(),
            name: name.into(),
            namespace: Some("default".into()),
            object_uid: Some(uid.into()),
            host: Some("node-1".into()),
            at: ts(at),
        }
    }

    #[test]
    fn admission_rejections_are_not_evictions() {
        let mut c = classifier("evict-demo");
        let now = ts("2026-11-24T13:34:00Z");
        let got = c.apply(&Object::Pod(rejected("r1")), now);
        assert_eq!(
            got,
            vec![Observation::new(
                now,
                Event::AdmissionRejected {
                    pod: PodRef {
                        name: "evict-demo-75c65956f8-r1".into(),
                        node: Some("node-1".into()),
                        target: true,
                    },
                    message: "Pod was rejected: The node had condition: [MemoryPressure].".into(),
                }
            )]
        );
        // Its Evicted Event (the kubelet records one) and a later status say nothing new.
        let mut out = Vec::new();
        let v = evicted_event(
            "r1",
            "evict-demo-75c65956f8-r1",
            "2026-11-24T13:34:00Z",
            "The node had condition: [MemoryPressure]. ",
        );
        c.pod_evicted_by_event(v, "evict-demo-75c65956f8-r1".into(), now, &mut out);
        c.tick(ts("2026-11-24T13:35:00Z"), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert!(
            c.apply(&Object::Pod(rejected("r1")), ts("2026-11-24T13:34:05Z"))
                .is_empty()
        );
    }

    #[test]
    fn an_evicted_event_waits_for_the_pods_status_and_its_time() {
        let mut c = classifier("evict-demo");
        let all = pods(fixture!("pods-evicted.json"));
        let mut running = all[0].clone();
        let st = running.status.as_mut().unwrap();
        st.phase = Some("Running".into());
        st.reason = None;
        st.message = None;
        st.conditions
            .as_mut()
            .unwrap()
            .retain(|c| c.type_ != "DisruptionTarget");
        let uid = running.metadata.uid.clone().unwrap();
        let name = running.metadata.name.clone().unwrap();
        let t0 = ts("2026-11-24T13:33:00Z");
        assert!(
            !c.apply(&Object::Pod(running), t0)
                .iter()
                .any(|o| matches!(o.event, Event::PodEvicted { .. }))
        );
        // The Event comes first, stamped a second before the condition: nothing yet.
        let mut out = Vec::new();
        let v = evicted_event(
            &uid,
            &name,
            "2026-11-24T13:33:15Z",
            "The node was low on resource: memory. ",
        );
        c.pod_evicted_by_event(v, name.clone(), ts("2026-11-24T13:33:15.2Z"), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // The status with the DisruptionTarget condition: the eviction, at the condition's time.
        let got = c.apply(&Object::Pod(all[0].clone()), ts("2026-11-24T13:33:16.4Z"));
        let evictions: Vec<_> = got
            .iter()
            .filter(|o| matches!(o.event, Event::PodEvicted { .. }))
            .collect();
        assert_eq!(evictions.len(), 1, "{got:?}");
        assert_eq!(evictions[0].at, ts("2026-11-24T13:33:16Z"));
        let mut later = Vec::new();
        c.tick(ts("2026-11-24T13:40:00Z"), &mut later);
        assert!(later.is_empty(), "reported once: {later:?}");
    }

    #[test]
    fn an_evicted_event_whose_pod_never_tells_is_reported_after_a_grace() {
        let mut c = classifier("evict-demo");
        // A pod known to run, whose status never shows the eviction (a kubelet before the
        // DisruptionTarget condition, a watch that missed it).
        let mut running = pods(fixture!("pods-evicted.json")).remove(2);
        running.metadata.uid = Some("quiet".into());
        let name = running.metadata.name.clone().unwrap();
        c.apply(&Object::Pod(running), ts("2026-11-24T13:33:00Z"));
        let mut out = Vec::new();
        let v = evicted_event(
            "quiet",
            &name,
            "2026-11-24T13:33:15Z",
            "The node was low on resource: memory. ",
        );
        c.pod_evicted_by_event(v, name, ts("2026-11-24T13:33:15Z"), &mut out);
        c.tick(ts("2026-11-24T13:33:20Z"), &mut out);
        assert!(out.is_empty(), "{out:?}");
        c.tick(ts("2026-11-24T13:33:25Z"), &mut out);
        assert!(
            matches!(&out[..], [o] if o.at == ts("2026-11-24T13:33:15Z")
                && matches!(&o.event, Event::PodEvicted { pod, .. } if pod.target)),
            "{out:?}"
        );
        // A pod that is gone sends no status: its Event is reported at once.
        let mut gone = Vec::new();
        let v = evicted_event(
            "gone",
            "evict-demo-75c65956f8-gone",
            "2026-11-24T13:34:15Z",
            "The node had condition: [MemoryPressure]. ",
        );
        c.pod_evicted_by_event(
            v,
            "evict-demo-75c65956f8-gone".into(),
            ts("2026-11-24T13:34:15Z"),
            &mut gone,
        );
        assert!(
            matches!(&gone[..], [o] if matches!(&o.event, Event::AdmissionRejected { pod, .. } if pod.target)),
            "{gone:?}"
        );
    }

    #[test]
    fn pods_carrying_a_live_leaker_are_counted() {
        let mut c = classifier("oom-demo");
        let now = ts("2026-11-24T13:40:00Z");
        let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
        p.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1]
            .name = "oomsday-leaker".into();
        let got = c.apply(&Object::Pod(p.clone()), now);
        assert!(
            got.contains(&Observation::new(now, Event::LeakerPods { live: 1 })),
            "{got:?}"
        );
        // Terminated (its containers stopped): no longer carries a live leaker.
        let mut done = p.clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let later = ts("2026-11-24T13:40:03Z");
        assert_eq!(
            c.apply(&Object::Pod(done), later)
                .into_iter()
                .filter(|o| matches!(o.event, Event::LeakerPods { .. }))
                .collect::<Vec<_>>(),
            vec![Observation::new(later, Event::LeakerPods { live: 0 })]
        );
        // An ephemeral leaker counts while it has not exited.
        let mut eph = pods(fixture!("pods-oomkilled.json")).remove(0);
        eph.metadata.uid = Some("eph".into());
        eph.spec.as_mut().unwrap().ephemeral_containers =
            Some(vec![k8s_openapi::api::core::v1::EphemeralContainer {
                name: "oomsday-leaker-c5624e43".into(),
                ..Default::default()
            }]);
        let got = c.apply(&Object::Pod(eph.clone()), later);
        assert!(
            got.iter().any(|o| o.event == Event::LeakerPods { live: 1 }),
            "{got:?}"
        );
        eph.status.as_mut().unwrap().ephemeral_container_statuses = Some(vec![ContainerStatus {
            name: "oomsday-leaker-c5624e43".into(),
            state: Some(k8s_openapi::api::core::v1::ContainerState {
                terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
                    exit_code: 0,
                    reason: Some("Completed".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let got = c.apply(&Object::Pod(eph), ts("2026-11-24T13:40:09Z"));
        assert!(
            got.iter().any(|o| o.event == Event::LeakerPods { live: 0 }),
            "{got:?}"
        );
    }

    #[test]
    fn a_leaker_started_in_the_runs_first_second_is_the_runs() {
        // startedAt is whole seconds: 13:31:51Z may be 13:31:51.9, after a run that began at
        // 13:31:51.3.
        let mut c = classifier("oom-demo");
        c.since = ts("2026-11-24T13:31:51.3Z");
        let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
        let cs = &mut p
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1];
        cs.name = "oomsday-leaker".into();
        let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"));
        assert!(
            got.iter().any(|o| o.at == ts("2026-11-24T13:31:51Z")
                && matches!(o.event, Event::LeakerStarted { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn crash_loop_back_off_is_reported() {
        let mut c = classifier("oom-demo");
        let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
        let cs = &mut p
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[1];
        cs.state = Some(k8s_openapi::api::core::v1::ContainerState {
            waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: Some("back-off 10s restarting failed container".into()),
            }),
            ..Default::default()
        });
        let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"));
        assert!(
            got.iter().any(|o| o.at == ts("2026-11-24T13:31:55Z")
                && matches!(&o.event, Event::CrashLoopBackOff { container, .. } if container == "leak")),
            "{got:?}"
        );
    }
}
