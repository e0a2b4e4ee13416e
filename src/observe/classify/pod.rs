//! Pods: OOM kills (the leaker's or the app's), CrashLoopBackOff, evictions and other
//! disruptions, the leaker starting; target or bystander.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition};
use kube::ResourceExt;
use kube::core::SelectorExt;

use super::{Classifier, time};
use crate::keys::is_leaker;
use crate::observe::{DisruptionCause, Happening, Observation, PodRef, Time};

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
    /// OOM kills reported for this pod, ever, as (time, container): a status that no longer
    /// shows one (`lastState` cleared) followed by an older one from the other pod watch must
    /// not tell it again (seen on the bed: the same kill twice, with restart counts 0 and 1).
    ooms: Vec<(Time, String)>,
    /// Each container's terminations, as last delivered.
    restarts: Vec<Terminations>,
    pub(super) stamp: super::Stamp,
}

impl PodState {
    /// A container of the pod waits in CrashLoopBackOff.
    pub(super) fn crash_looping(&self) -> bool {
        self.facts
            .iter()
            .any(|f| matches!(f.happening, Happening::CrashLoopBackOff { .. }))
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
    match (&a.happening, &b.happening) {
        (
            Happening::OomKilled { container: ca, .. },
            Happening::OomKilled { container: cb, .. },
        ) => a.at == b.at && ca == cb,
        // A rejection's time is when it was first seen: the same rejection seen again later is
        // not a new one.
        (Happening::AdmissionRejected { .. }, Happening::AdmissionRejected { .. }) => true,
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
        let name = if ns == self.target.workload.namespace {
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
        p.namespace().as_deref() == Some(self.target.workload.namespace.as_str())
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
                Happening::AdmissionRejected {
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
                Happening::PodEvicted {
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
                f.happening,
                Happening::PodEvicted { .. } | Happening::AdmissionRejected { .. }
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
        let (fresh, ooms) = fresh_facts(old, &facts);
        let report = target || node.is_some_and(|n| self.target_nodes.contains(n));
        let restarts = restart_counts(p);
        let unseen = old.map_or_else(Vec::new, |o| unseen_restarts(p, &o.restarts));
        if report {
            for f in fresh {
                self.report_pod_fact(&key, f, out);
            }
            for (container, leaker, count, reason) in unseen {
                self.push_fact(
                    out,
                    Observation::new(
                        now,
                        Happening::RestartsUnseen {
                            pod: pod.clone(),
                            container,
                            leaker,
                            count,
                            reason,
                        },
                    ),
                );
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
                ooms,
                restarts,
                stamp,
            },
        );

        if let Some(n) = new_target_node {
            self.report_earlier_on(&n, out);
        }
    }

    /// A node that just got its first target pod: bystanders already there that were
    /// evicted or OOM-killed during the run are now blast radius.
    fn report_earlier_on(&mut self, node: &str, out: &mut Vec<Observation>) {
        let earlier: Vec<(String, Observation)> = self
            .pods
            .iter()
            .filter(|(_, s)| !s.target && s.node.as_deref() == Some(node))
            .flat_map(|(k, s)| s.facts.iter().map(move |f| (k.to_string(), f.clone())))
            .collect();
        for (k, f) in earlier {
            self.report_pod_fact(&k, f, out);
        }
    }

    fn report_pod_fact(&mut self, key: &str, f: Observation, out: &mut Vec<Observation>) {
        match &f.happening {
            Happening::PodEvicted { .. } | Happening::AdmissionRejected { .. } => {
                if self.evicted.insert(key.into()) {
                    self.push_fact(out, f);
                }
            }
            Happening::CrashLoopBackOff { .. } => self.push_state(out, f.at, f.happening),
            _ => self.push_fact(out, f),
        }
    }

    /// The count of target pods carrying a live leaker, when it changed.
    pub(super) fn report_leaker_pods(&mut self, now: Time, out: &mut Vec<Observation>) {
        let live = self.pods.values().filter(|s| s.live_leaker).count();
        let live = u32::try_from(live).unwrap_or(u32::MAX);
        if self.leaker_pods != live {
            self.leaker_pods = live;
            self.push_state(out, now, Happening::LeakerPods { live });
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
        if !self.pods.contains_key(uid.as_str()) && self.relisted(super::ObjectKind::Pod) {
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
                v.namespace.as_deref() == Some(self.target.workload.namespace.as_str())
                    && v.name
                        .strip_prefix(self.target.workload.name.as_str())
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
            Happening::AdmissionRejected { pod, message }
        } else {
            Happening::PodEvicted {
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

/// What a container's status says of its terminations: how many it has had, and the times of
/// the ones it still shows (`state.terminated`, `lastState.terminated`: at most two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Terminations {
    name: Box<str>,
    count: u32,
    shown: Vec<Option<Time>>,
}

impl Terminations {
    /// `restartCount` counts starts after the first; a container lying terminated, or waiting to
    /// start again after one (CrashLoopBackOff), has died once more than that.
    fn of(cs: &ContainerStatus) -> Self {
        let state = cs.state.as_ref();
        let dead_now = state.is_some_and(|s| s.terminated.is_some())
            || (state.is_some_and(|s| s.waiting.is_some())
                && cs
                    .last_state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some()));
        let shown = [state, cs.last_state.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| s.terminated.as_ref())
            .map(|t| time(t.finished_at.as_ref()))
            .collect();
        Terminations {
            name: cs.name.as_str().into(),
            count: u32::try_from(cs.restart_count)
                .unwrap_or(0)
                .saturating_add(u32::from(dead_now)),
            shown,
        }
    }
}

/// Every container's [`Terminations`].
fn restart_counts(p: &Pod) -> Vec<Terminations> {
    p.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .map(Terminations::of)
        .collect()
}

/// Terminations a status implies that no delivery showed: its count went up by more than the
/// terminations it shows that the last delivery of the pod (`before`) did not. (A pod first
/// seen now is judged from then on: one that came and went inside a gap is not known at all.)
/// Per container: its name, whether it is a leaker, how many, and the reason of the latest
/// termination it still shows.
fn unseen_restarts(p: &Pod, before: &[Terminations]) -> Vec<(String, bool, u32, Option<String>)> {
    let mut out = Vec::new();
    let statuses = p
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten());
    for cs in statuses {
        let now = Terminations::of(cs);
        let then = before.iter().find(|t| t.name == now.name);
        let known = then.map_or(0, |t| t.count);
        let shown_new = now
            .shown
            .iter()
            .filter(|at| !then.is_some_and(|t| t.shown.contains(at)))
            .count();
        let unseen = now
            .count
            .saturating_sub(known)
            .saturating_sub(u32::try_from(shown_new).unwrap_or(u32::MAX));
        if unseen > 0 {
            let reason = [cs.state.as_ref(), cs.last_state.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|s| s.terminated.as_ref()?.reason.clone());
            out.push((cs.name.clone(), is_leaker(&cs.name), unseen, reason));
        }
    }
    out
}

/// Whether a terminated container was killed by the kernel's OOM killer: reason `OOMKilled`
/// and the SIGKILL's exit code, 137. The reason alone is not enough on cgroup v1: the kernel's OOM
/// notification reaches every cgroup below the one that ran out (`mem_cgroup_oom_notify` walks
/// the subtree), and containerd keeps `OOMKilled` for every container that got one, however it
/// later ends. An evicted bystander that stopped on its SIGTERM read `OOMKilled`, exit 0, on the
/// bed (`pod-evicted-flagged-oomkilled.json`): an eviction, not a second fault.
fn killed_by_the_kernel(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> bool {
    const SIGKILL_EXIT: i32 = 128 + 9;
    t.reason.as_deref() == Some("OOMKilled") && t.exit_code == SIGKILL_EXIT
}

fn container_facts(cs: &ContainerStatus, pod: &PodRef, now: Time, out: &mut Vec<Observation>) {
    let leaker = is_leaker(&cs.name);
    let restart_count = u32::try_from(cs.restart_count).unwrap_or(0);
    let current = cs.state.as_ref();
    let last = cs.last_state.as_ref();
    let oom = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| {
        killed_by_the_kernel(t)
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
                Happening::OomKilled {
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
                Happening::LeakerStarted { pod: pod.clone() },
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
            Happening::CrashLoopBackOff {
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
            Happening::LeakerStarted { pod: pod.clone() },
        ));
    }
}

#[cfg(test)]
mod tests;

/// Of a pod's facts now, those not told before (an OOM kill counts as told when its time and
/// container were seen, whatever else changed), and every OOM kill seen so far.
fn fresh_facts(
    old: Option<&PodState>,
    facts: &[Observation],
) -> (Vec<Observation>, Vec<(Time, String)>) {
    let told_oom = |f: &Observation| match &f.happening {
        Happening::OomKilled { container, .. } => {
            old.is_some_and(|o| o.ooms.iter().any(|(at, c)| *at == f.at && c == container))
        }
        _ => false,
    };
    let fresh = facts
        .iter()
        .filter(|f| !old.is_some_and(|o| o.facts.iter().any(|g| same_fact(f, g))))
        .filter(|f| !told_oom(f))
        .cloned()
        .collect();
    let mut ooms = old.map(|o| o.ooms.clone()).unwrap_or_default();
    for f in facts {
        if let Happening::OomKilled { container, .. } = &f.happening
            && !ooms.iter().any(|(at, c)| *at == f.at && c == container)
        {
            ooms.push((f.at, container.clone()));
        }
    }
    (fresh, ooms)
}
