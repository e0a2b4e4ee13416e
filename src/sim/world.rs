//! The simulated cluster's state and its clock: nodes, pods, the controllers that act on them,
//! advanced in virtual seconds.
//!
//! One step is one second. Only what can change is visited each step: containers whose memory
//! is still growing (warming up or leaking), nodes whose memory changed, nodes under watch by
//! their kubelet, pods waiting for the scheduler. When nothing can change, the clock jumps to
//! the next timer, so a quiet cluster costs nothing per simulated hour.
//!
//! Every decision is deterministic: indexes and ordered collections only, the simulator's own
//! seeded RNG, no wall clock.
//!
//! Each node's kubelet runs its loops on its own phase, drawn from the seed: the eviction
//! manager's monitoring tick and the node status post. Real kubelets start at different moments,
//! so nodes of one cluster do not tick together.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration as StdDuration;

use oomsday_core::{CountOrPercent, LeakCurve, human_bytes};

use super::kubelet::{Backoff, EvictionCandidate, eviction_order, oom_badness};
use super::model::{
    ClusterModel, KubeletSettings, LimitRangeModel, MemorySpec, NodeGroup, NodeModel, ObservedPod,
    PdbModel, QosClass, WorkloadModel, admit, oom_score_adj, qos_class,
};
use super::rng::{Rng, hash_str};
use crate::observe::{DisruptionCause, Event, NodeConditionKind, Observation, PodRef, Time};

mod build;
mod clock;
mod control;
mod eviction;
mod injection;
mod node;
mod watch;

pub(crate) type NodeId = usize;
pub(crate) type PodId = usize;
pub(crate) type WlId = usize;

/// Internal seconds start here so that "long before the simulation" is representable without
/// signed arithmetic: pods that exist at the start have been running since 0.
pub(crate) const T0: u64 = 1_000_000;

/// The leaker process's own footprint beside what it allocates: its resident set minus its
/// allocated bytes, 1.3–1.4 MiB in the recordings' leaker metrics (`oomsday_leaker_rss_bytes` −
/// `oomsday_leaker_allocated_bytes`).
pub(crate) const LEAKER_BASE: u64 = 1_400 << 10;

/// The scheduler's default memory request for scoring pods that request none
/// (`DefaultMemoryRequest`, 200 MiB, kube-scheduler's pkg/scheduler/util/pod_resources.go). It
/// counts for spreading only: a pod with no request still fits on any node.
const NONZERO_DEFAULT_REQUEST: u64 = 200 << 20;

/// How long an unschedulable pod waits before the scheduler tries it again
/// (`podMaxBackoffSeconds`, 10 s).
const SCHEDULING_RETRY: u64 = 10;

/// Model settings in whole seconds and bytes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub eviction_hard: u64,
    pub eviction_soft: Option<u64>,
    pub soft_grace: u64,
    pub housekeeping: u64,
    pub transition: u64,
    pub grace: u64,
    pub toleration: u64,
    pub kubelet_mem: u64,
    pub system_mem: u64,
    pub kubelet_restart: u64,
    pub max_pods: u32,
    pub container_start: u64,
    /// `nodeStatusUpdateFrequency` in seconds.
    pub status_every: u64,
    /// `enforceNodeAllocatable: [pods]`: the hard threshold also applies to the pods' cgroup
    /// (`allocatableMemory.available`).
    pub allocatable_signal: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub capacity: u64,
    pub allocatable: u64,
    /// The pods' cgroup limit (capacity − reserved when node allocatable is enforced).
    pub pods_limit: u64,
    pub requested: u64,
    pub nonzero_requested: u64,
    pub pods: Vec<PodId>,
    pub pod_usage: u64,
    pub kubelet_alive: bool,
    pub kubelet_down_since: u64,
    /// Bumped whenever the kubelet dies or comes back; stale timers carry an old value.
    pub incarnation: u32,
    /// The control plane's view: Ready=Unknown after the grace period.
    pub not_ready: bool,
    /// The eviction manager's MemoryPressure: what the kubelet acts on (admission) at once.
    pub pressure: bool,
    /// MemoryPressure as the API shows it (the condition, and the node lifecycle controller's
    /// `node.kubernetes.io/memory-pressure:NoSchedule` taint): set by the next status post.
    pub api_pressure: bool,
    /// A status post is scheduled.
    pub status_pending: bool,
    /// When a threshold was last seen met (`nodeConditionsLastObservedAt`).
    pub last_observed: Option<u64>,
    pub soft_since: Option<u64>,
    /// A threshold was met at the last look: a new crossing wakes a memcg-notified kubelet.
    pub below: bool,
    /// The eviction manager's monitoring tick: seconds `s` with `(s + hk_phase) % period == 0`.
    pub hk_phase: u64,
    /// The node status loop's phase, the same way.
    pub status_phase: u64,
    /// Where in its second each loop runs (ms): a status post and a synchronize due in the same
    /// second happen in this order, as a real kubelet's loops do, not always the post first.
    pub status_ms: u64,
    pub hk_ms: u64,
    /// The pods' working set when this step first changed it: a memcg crossing is placed
    /// between this and the new figure.
    pub usage_before: u64,
    /// The kernel wakes the eviction manager at a threshold crossing, not only its next tick
    /// (`kernelMemcgNotification`, on a cgroup v1 host: [`NodeGroup::memcg_notified`]).
    pub memcg: bool,
    pub watched: bool,
    pub dirty: bool,
    /// Memory the OS and system daemons use on this node (the model's, or the node's own from
    /// a snapshot).
    pub system_mem: u64,
    /// Pods on the node the model does not model one by one (a snapshot's `otherPods`): they
    /// count toward `maxPods`; their requests and working set are in `requested` and
    /// `pod_usage` from the start.
    pub fixed_pods: u32,
    /// Cordoned: the scheduler sends it no new pods.
    pub cordoned: bool,
}

impl Node {
    fn total(&self, s: &Settings) -> u64 {
        self.system_mem + if self.kubelet_alive { s.kubelet_mem } else { 0 } + self.pod_usage
    }
    fn available(&self, s: &Settings) -> u64 {
        self.capacity.saturating_sub(self.total(s))
    }
    /// `allocatableMemory.available`: the pods' cgroup limit minus the pods' working set.
    fn allocatable_available(&self) -> u64 {
        self.pods_limit.saturating_sub(self.pod_usage)
    }
    /// Whether pods can squeeze the kubelet out: nothing reserved between the pods' cgroup limit
    /// and what the OS and the kubelet need.
    fn kubelet_unprotected(&self, s: &Settings) -> bool {
        self.pods_limit + self.system_mem + s.kubelet_mem > self.capacity
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CState {
    /// Created or restarting; starts at `until` (if its kubelet is alive).
    Waiting {
        until: u64,
    },
    Running {
        since: u64,
    },
    /// Exited for good (ephemeral containers are never restarted).
    Done,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leak {
    pub curve: LeakCurve,
    pub deadline: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    pub name: String,
    pub mem: MemorySpec,
    pub working_set: u64,
    pub warmup: u64,
    pub leak: Option<Leak>,
    pub leaker: bool,
    pub ephemeral: bool,
    pub state: CState,
    pub usage: u64,
    pub restarts: u32,
    pub backoff: Backoff,
    pub oom_adj: i64,
    pub epoch: u32,
}

impl Ctr {
    fn usage_at(&self, t: u64) -> u64 {
        let CState::Running { since } = self.state else {
            return 0;
        };
        let el = t.saturating_sub(since);
        let base = if el >= self.warmup {
            self.working_set
        } else {
            (u128::from(self.working_set) * u128::from(el) / u128::from(self.warmup.max(1))) as u64
        };
        base.saturating_add(self.leak_bytes(t))
    }

    /// What the leak holds at `t`: the leaker's curve from its own start, nothing after its
    /// deadline (the leaker frees its memory by itself then).
    pub fn leak_bytes(&self, t: u64) -> u64 {
        match (&self.leak, self.state) {
            (Some(l), CState::Running { since }) if t < l.deadline => l
                .curve
                .bytes_at(StdDuration::from_secs(t.saturating_sub(since))),
            _ => 0,
        }
    }

    fn is_dynamic(&self, t: u64) -> bool {
        match self.state {
            CState::Running { since } => {
                t.saturating_sub(since) < self.warmup
                    || self.leak.as_ref().is_some_and(|l| t <= l.deadline)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodPhase {
    Pending,
    Bound,
    Gone,
}

#[derive(Debug, Clone)]
pub(crate) struct Pod {
    pub name: String,
    pub wl: WlId,
    pub revision: u32,
    pub node: Option<NodeId>,
    pub phase: PodPhase,
    pub ctrs: Vec<Ctr>,
    pub request: u64,
    pub nonzero_request: u64,
    pub qos: QosClass,
    pub priority: i32,
    pub ready_after: u64,
    pub seq: u64,
    pub next_try: u64,
    pub unschedulable_reported: bool,
    pub in_dynamic: bool,
    pub last_leak_sample: u64,
    /// Deleted by the control plane while its kubelet was away: still running on its node.
    pub deleting: bool,
}

impl Pod {
    fn usage(&self) -> u64 {
        self.ctrs.iter().map(|c| c.usage).sum()
    }
}

/// A container of a workload's pod template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TplCtr {
    pub name: String,
    pub mem: MemorySpec,
    pub working_set: u64,
    pub jitter: f64,
    pub leak: Option<Leak>,
    pub leaker: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub replicas: u32,
    pub priority: i32,
    pub priority_class_name: Option<String>,
    /// The Deployment's pod template: its ReplicaSet is `rs[revision]`.
    pub template: Vec<TplCtr>,
    pub revision: u32,
    /// The ReplicaSets by revision: old ones stay while they have replicas (a rollback to an
    /// earlier template reuses its ReplicaSet, as the Deployment controller does).
    pub rs: BTreeMap<u32, ReplicaSet>,
    /// The controller has acted on the latest template (`observedGeneration >= generation`).
    pub observed: bool,
    pub pods: Vec<PodId>,
    /// Pods deleted while their kubelet was away: still running until it is back.
    pub deleting: Vec<PodId>,
    pub node_counts: Vec<u16>,
    pub max_surge: CountOrPercent,
    pub max_unavailable: CountOrPercent,
    pub ready_after: u64,
    pub warmup: u64,
    pub readiness_probe: bool,
    pub dirty: bool,
    pub hash: String,
    /// Each observed pod's containers' working sets (a snapshot's): the k-th pod created takes
    /// the (k mod n)-th, in place of the template's figure and its jitter.
    pub measured: Vec<BTreeMap<String, u64>>,
    /// Pods created so far.
    pub created: usize,
}

/// A ReplicaSet of a workload: its `spec.replicas`, its pod template and pod-template-hash.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaSet {
    pub replicas: u32,
    pub template: Vec<TplCtr>,
    pub hash: String,
}

/// The target workload as its Deployment status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WorkloadSample {
    desired: u32,
    ready: u32,
    updated: u32,
    current: u32,
    observed: bool,
    leaker: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    CtrStart {
        pod: PodId,
        ctr: usize,
        epoch: u32,
    },
    KubeletRestart {
        node: NodeId,
        inc: u32,
    },
    NodeGrace {
        node: NodeId,
        inc: u32,
    },
    TaintEvict {
        node: NodeId,
        inc: u32,
    },
    /// The kubelet posts the node's status (conditions) to the API.
    NodeStatus {
        node: NodeId,
    },
}

/// Where the run's target is.
#[derive(Debug, Clone)]
pub(crate) struct TargetInfo {
    pub wl: WlId,
    pub pdbs: Vec<usize>,
}

/// The simulated cluster.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub s: Settings,
    pub t: u64,
    pub start: Time,
    pub rng: Rng,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub wls: Vec<Workload>,
    pub pdbs: Vec<PdbModel>,
    pub limit_ranges: Vec<LimitRangeModel>,
    pub hpas: Vec<super::model::HpaModel>,
    timers: BinaryHeap<Reverse<(u64, u64, Timer)>>,
    timer_seq: u64,
    pending: BTreeSet<(i64, u64, PodId)>,
    dynamic: Vec<PodId>,
    watched: BTreeSet<NodeId>,
    dirty_nodes: Vec<NodeId>,
    /// Status posts due this second, and those that come after the step's synchronize.
    status_due: Vec<NodeId>,
    status_late: Vec<NodeId>,
    next_start: usize,
    pod_seq: u64,
    names: BTreeSet<String>,
    pub target: Option<TargetInfo>,
    pub out: Vec<Observation>,
    last_workload: Option<WorkloadSample>,
    last_leaker_pods: Option<u32>,
    /// How often the leaker's bytes are sampled, and from when: see [`World::sample_leaks_every`].
    leak_every: u64,
    leak_from: u64,
    last_budget: Vec<Option<(u32, u32, u32, u32)>>,
    /// Emit nothing while the initial pods are placed.
    quiet: bool,
    /// Nodes whose eviction threshold is met in the steady state, before any experiment: a
    /// model past the edge fails by itself, and what a run then shows is not the leak's doing.
    pub past_edge: Vec<NodeId>,
    hpa_state: Vec<(u64, u32)>,
}

impl World {
    pub fn pod_ref(&self, p: PodId) -> PodRef {
        let pod = &self.pods[p];
        PodRef {
            name: pod.name.clone(),
            node: pod.node.map(|n| self.nodes[n].name.clone()),
            target: self.target.as_ref().is_some_and(|t| t.wl == pod.wl),
        }
    }
}

#[cfg(test)]
mod tests;
