//! The simulated cluster's state: nodes, pods, workloads and the controllers' bookkeeping, with
//! a virtual clock. This file holds the state and its plain data; each mechanism that changes it
//! is a file of its own:
//! - `build.rs`: the world built from a [`ClusterModel`], in its steady state;
//! - `clock.rs`: the clock, timers and the step;
//! - `node.rs`: the node's memory and the kernel OOM killer, the kubelet starved and restarted,
//!   NotReady and taint-based deletion; `eviction.rs`: the kubelet's eviction manager;
//! - `control.rs`: the Deployment and ReplicaSet controllers, the HPA and the scheduler;
//! - `watch.rs`: what the run observes of its target; `injection.rs`: the leaker put in.
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

use super::kubelet::{self, Backoff, EvictionCandidate, eviction_order, oom_badness};
use super::model::{
    ClusterModel, HpaModel, KubeletSettings, LimitRangeModel, MemorySpec, NodeGroup, NodeModel,
    ObservedPod, PdbModel, QosClass, WorkloadModel, admit, oom_score_adj, qos_class,
};
use super::rng::{Rng, hash_str};
use crate::observe::{DisruptionCause, Happening, NodeConditionKind, Observation, PodRef, Time};

mod build;
mod clock;
mod control;
mod eviction;
mod ids;
mod injection;
mod node;
mod watch;

use ids::{Id, Table};
pub(crate) use ids::{NodeId, PdbId, PodId, WorkloadId};

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
    eviction_hard: u64,
    eviction_soft: Option<u64>,
    soft_grace: u64,
    housekeeping: u64,
    transition: u64,
    grace: u64,
    toleration: u64,
    kubelet_mem: u64,
    system_mem: u64,
    kubelet_restart: u64,
    max_pods: u32,
    /// A new pod's creation to its containers' start, in ms (each start varies around it).
    container_start_ms: u64,
    /// `nodeStatusUpdateFrequency` in seconds.
    status_every: u64,
    /// `enforceNodeAllocatable: [pods]`: the hard threshold also applies to the pods' cgroup
    /// (`allocatableMemory.available`).
    allocatable_signal: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    name: String,
    capacity: u64,
    allocatable: u64,
    /// The pods' cgroup limit (capacity − reserved when node allocatable is enforced).
    pods_limit: u64,
    requested: u64,
    nonzero_requested: u64,
    pods: Vec<PodId>,
    pod_usage: u64,
    kubelet_alive: bool,
    kubelet_down_since: u64,
    /// Bumped whenever the kubelet dies or comes back; stale timers carry an old value.
    incarnation: u32,
    /// The control plane's view: Ready=Unknown after the grace period.
    not_ready: bool,
    /// The eviction manager's MemoryPressure: what the kubelet acts on (admission) at once.
    pressure: bool,
    /// MemoryPressure as the API shows it (the condition, and the node lifecycle controller's
    /// `node.kubernetes.io/memory-pressure:NoSchedule` taint): set by the next status post.
    api_pressure: bool,
    /// A status post is scheduled.
    status_pending: bool,
    /// When (internal ms) the last status post cleared MemoryPressure, and the node lifecycle
    /// controller took the taint off: a pod that waited for it is bound only then.
    untainted_ms: u64,
    /// When (internal ms) a threshold was last seen met (`nodeConditionsLastObservedAt`).
    last_observed: Option<u64>,
    soft_since: Option<u64>,
    /// A threshold was met at the last look: a new crossing wakes a memcg-notified kubelet.
    below: bool,
    /// The eviction manager's monitoring tick: seconds `s` with `(s + hk_phase) % period == 0`.
    hk_phase: u64,
    /// The node status loop's phase, the same way.
    status_phase: u64,
    /// Where in its second each loop runs (ms): a status post and a synchronize due in the same
    /// second happen in this order, as a real kubelet's loops do, not always the post first.
    status_ms: u64,
    hk_ms: u64,
    /// The PLEG relist's phase: ms within each second at which this kubelet relists.
    relist_ms: u64,
    /// How long this node takes from a pod's creation to its first container's start (ms):
    /// the model's container start, slower or faster by how busy the node is during the run
    /// (the same for every pod of one run, as the recordings show: a run's rollout steps were
    /// all 1 s or all 2 s apart, with few mixed).
    start_ms: u64,
    /// The pods' working set when this step first changed it: a memcg crossing is placed
    /// between this and the new figure.
    usage_before: u64,
    /// The kernel wakes the eviction manager at a threshold crossing, not only its next tick
    /// (`kernelMemcgNotification`, on a cgroup v1 host: [`NodeGroup::memcg_notified`]).
    memcg: bool,
    watched: bool,
    dirty: bool,
    /// Memory the OS and system daemons use on this node (the model's, or the node's own from
    /// a snapshot).
    system_mem: u64,
    /// Pods on the node the model does not model one by one (a snapshot's `otherPods`): they
    /// count toward `maxPods`; their requests and working set are in `requested` and
    /// `pod_usage` from the start.
    fixed_pods: u32,
    /// Cordoned: the scheduler sends it no new pods.
    cordoned: bool,
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
    /// Created or restarting; starts at `until_ms` (if its kubelet is alive).
    Waiting { until_ms: u64 },
    /// Running since the instant `since_ms` (internal ms: second × 1000 + ms): containers start
    /// within a second, and how far apart leakers started decides what their sum reaches.
    Running { since_ms: u64 },
    /// Exited for good (ephemeral containers are never restarted).
    Done,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leak {
    curve: LeakCurve,
    deadline: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    name: String,
    mem: MemorySpec,
    working_set: u64,
    warmup: u64,
    leak: Option<Leak>,
    leaker: bool,
    ephemeral: bool,
    state: CState,
    usage: u64,
    restarts: u32,
    backoff: Backoff,
    oom_adj: i64,
    epoch: u32,
    /// Since its last exit: when it had been seen ready, and when the kubelet saw it exit (the
    /// pod is Ready in between, though the container is gone: the API lags the runtime).
    last_ready: Option<(u64, u64)>,
    /// Its working set at the pod's last cAdvisor housekeeping: what the eviction manager ranks
    /// by and its message reports.
    seen: u64,
}

impl Ctr {
    fn usage_at(&self, t: u64) -> u64 {
        self.usage_at_ms(t * 1000)
    }

    /// The working set at instant `ms`: warming up linearly to its figure, plus the leak.
    fn usage_at_ms(&self, ms: u64) -> u64 {
        let CState::Running { since_ms } = self.state else {
            return 0;
        };
        let el = ms.saturating_sub(since_ms);
        let warmup = self.warmup * 1000;
        let base = if el >= warmup {
            self.working_set
        } else {
            (u128::from(self.working_set) * u128::from(el) / u128::from(warmup.max(1))) as u64
        };
        base.saturating_add(self.leak_bytes_ms(ms))
    }

    /// What the leak holds at second `t`.
    pub fn leak_bytes(&self, t: u64) -> u64 {
        self.leak_bytes_ms(t * 1000)
    }

    /// What the leak holds at instant `ms`: the leaker's curve from its own start, nothing after
    /// its deadline (the leaker frees its memory by itself then).
    fn leak_bytes_ms(&self, ms: u64) -> u64 {
        match (&self.leak, self.state) {
            (Some(l), CState::Running { since_ms }) if ms < l.deadline * 1000 => l
                .curve
                .bytes_at(StdDuration::from_millis(ms.saturating_sub(since_ms))),
            _ => 0,
        }
    }

    /// The instant in `(from, to]` at which the container reaches `limit`, if it does: its
    /// working set only grows while it runs, so a bisection finds the first millisecond.
    fn reaches(&self, limit: u64, from: u64, to: u64) -> Option<u64> {
        first_ms(from, to, |ms| self.usage_at_ms(ms) >= limit)
    }

    fn is_dynamic(&self, t: u64) -> bool {
        match self.state {
            CState::Running { since_ms } => {
                (t * 1000).saturating_sub(since_ms) < self.warmup * 1000
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
    name: String,
    wl: WorkloadId,
    revision: u32,
    node: Option<NodeId>,
    phase: PodPhase,
    ctrs: Vec<Ctr>,
    request: u64,
    nonzero_request: u64,
    qos: QosClass,
    priority: i32,
    ready_after: u64,
    seq: u64,
    /// The instant (internal ms) its ReplicaSet created it.
    created_ms: u64,
    /// A replacement for a pod the kubelet evicted, created when the kill had ended: the
    /// scheduler cannot place it before `created_ms`. The others it places in the step that
    /// made them.
    replaces_evicted: bool,
    next_try: u64,
    unschedulable_reported: bool,
    in_dynamic: bool,
    last_leak_sample: u64,
    /// Deleted by the control plane while its kubelet was away: still running on its node.
    deleting: bool,
    /// cAdvisor's next housekeeping of the pod's cgroup (internal ms), whose figures the
    /// eviction manager ranks pods by (see [`World::housekeep_stats`]), and how many came before.
    stats_next_ms: u64,
    stats_k: u64,
}

impl Pod {
    fn usage(&self) -> u64 {
        self.ctrs.iter().map(|c| c.usage).sum()
    }
}

/// A container of a workload's pod template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TplCtr {
    name: String,
    mem: MemorySpec,
    working_set: u64,
    jitter: f64,
    leak: Option<Leak>,
    leaker: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Workload {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    replicas: u32,
    priority: i32,
    priority_class_name: Option<String>,
    /// The Deployment's pod template: its ReplicaSet is `rs[revision]`.
    template: Vec<TplCtr>,
    revision: u32,
    /// The ReplicaSets by revision: old ones stay while they have replicas (a rollback to an
    /// earlier template reuses its ReplicaSet, as the Deployment controller does).
    rs: BTreeMap<u32, ReplicaSet>,
    /// The controller has acted on the latest template (`observedGeneration >= generation`).
    observed: bool,
    pods: Vec<PodId>,
    /// Pods deleted while their kubelet was away: still running until it is back.
    deleting: Vec<PodId>,
    node_counts: Table<NodeId, u16>,
    max_surge: CountOrPercent,
    max_unavailable: CountOrPercent,
    ready_after: u64,
    warmup: u64,
    readiness_probe: bool,
    dirty: bool,
    hash: String,
    /// Each observed pod's containers' working sets (a snapshot's): the k-th pod created takes
    /// the (k mod n)-th, in place of the template's figure and its jitter.
    measured: Vec<BTreeMap<String, u64>>,
    /// Pods created so far.
    created: usize,
    /// When this step's evictions of its pods ended (the last kill's end, internal ms): the
    /// instant its ReplicaSet replaces them.
    evicted_ms: Option<u64>,
}

/// A ReplicaSet of a workload: its `spec.replicas`, its pod template and pod-template-hash.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaSet {
    replicas: u32,
    template: Vec<TplCtr>,
    hash: String,
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
    wl: WorkloadId,
    pdbs: Vec<PdbId>,
}

/// The simulated cluster: its objects, its clock and what it has observed. The mechanisms that
/// change it are this module's files (`node.rs`, `eviction.rs`, `control.rs`, ...); the rest of
/// the simulator reads it through the accessors below.
#[derive(Debug, Clone)]
pub(crate) struct World {
    settings: Settings,
    /// The current internal second (see [`T0`]).
    clock: u64,
    /// The virtual time of [`T0`].
    start: Time,
    rng: Rng,
    nodes: Table<NodeId, Node>,
    pods: Table<PodId, Pod>,
    workloads: Table<WorkloadId, Workload>,
    pdbs: Table<PdbId, PdbModel>,
    limit_ranges: Vec<LimitRangeModel>,
    hpas: Vec<HpaModel>,
    /// (when, order of arming, what): the earliest first, ties in the order they were set.
    timers: BinaryHeap<Reverse<(u64, u64, Timer)>>,
    timer_seq: u64,
    /// The scheduler's queue: (−priority, creation order, pod).
    pending: BTreeSet<(i64, u64, PodId)>,
    /// Pods with a container whose memory is still changing (warming up or leaking).
    dynamic: Vec<PodId>,
    /// Nodes near a threshold, which the eviction manager's tick looks at.
    watched: BTreeSet<NodeId>,
    dirty_nodes: Vec<NodeId>,
    /// Status posts due this second, and those that come after the step's synchronize.
    status_due: Vec<NodeId>,
    status_late: Vec<NodeId>,
    /// Evictions whose kill has not ended (internal ms, the fact): seen in the step it ends in.
    kills: Vec<(u64, Happening)>,
    /// Where this step's observations begin, and the instant each of them happened (a stamped
    /// one's before its truncation): the step puts facts of the same stamp in the order they
    /// happened.
    step_from: usize,
    instants: Vec<u64>,
    /// Where the scheduler's last search for a node stopped.
    next_start: usize,
    pod_seq: u64,
    /// Pod names in use.
    names: BTreeSet<String>,
    target: Option<TargetInfo>,
    /// What happened since the caller last took them.
    observations: Vec<Observation>,
    last_workload: Option<Happening>,
    last_leaker_pods: Option<u32>,
    /// How often the leaker's bytes are sampled, and from when: see [`World::sample_leaks_every`].
    leak_every: u64,
    leak_from: u64,
    last_budget: Vec<Option<(u32, u32, u32, u32)>>,
    /// Emit nothing while the initial pods are placed.
    quiet: bool,
    /// Nodes whose eviction threshold is met in the steady state, before any experiment: a
    /// model past the edge fails by itself, and what a run then shows is not the leak's doing.
    past_edge: Vec<NodeId>,
    hpa_state: Vec<(u64, u32)>,
}

impl World {
    /// The current internal second.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// What was observed since the last call.
    pub fn take_observations(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.observations)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node_name(&self, n: NodeId) -> &str {
        &self.nodes[n].name
    }

    /// The nodes the control plane sees Ready.
    pub fn ready_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| !n.not_ready)
    }

    /// The names of the nodes past the edge before any experiment (see `past_edge`).
    pub fn past_edge_nodes(&self) -> impl Iterator<Item = &str> {
        self.past_edge.iter().map(|&n| self.node_name(n))
    }

    /// The nodes a workload's pods run on, each once.
    pub fn hosts(&self, wl: WorkloadId) -> BTreeSet<NodeId> {
        self.workloads[wl]
            .pods
            .iter()
            .filter_map(|&p| self.pods[p].node)
            .collect()
    }

    pub fn pod_name(&self, p: PodId) -> &str {
        &self.pods[p].name
    }

    /// Pods that are Pending (not scheduled), in the whole cluster.
    pub fn pending_pods(&self) -> usize {
        self.pods
            .iter()
            .filter(|p| p.phase == PodPhase::Pending)
            .count()
    }

    /// The ready pods of a workload now.
    pub fn ready_pods(&self, wl: WorkloadId) -> u32 {
        let t = self.clock;
        self.workloads[wl]
            .pods
            .iter()
            .filter(|&&p| self.pod_ready(p, t))
            .count() as u32
    }

    pub fn workload(&self, wl: WorkloadId) -> &Workload {
        &self.workloads[wl]
    }

    pub fn pdb(&self, b: PdbId) -> &PdbModel {
        &self.pdbs[b]
    }

    pub fn limit_ranges(&self) -> &[LimitRangeModel] {
        &self.limit_ranges
    }

    pub fn hpas(&self) -> &[HpaModel] {
        &self.hpas
    }

    pub fn pod_ref(&self, p: PodId) -> PodRef {
        let pod = &self.pods[p];
        PodRef {
            name: pod.name.clone(),
            node: pod.node.map(|n| self.nodes[n].name.clone()),
            target: self.target.as_ref().is_some_and(|t| t.wl == pod.wl),
        }
    }
}

impl Node {
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn allocatable(&self) -> u64 {
        self.allocatable
    }
}

impl Leak {
    pub fn new(curve: LeakCurve, deadline: u64) -> Self {
        Leak { curve, deadline }
    }

    /// The internal second the leaker frees its memory (and an ephemeral one exits).
    pub fn deadline(&self) -> u64 {
        self.deadline
    }
}

/// The first millisecond in `(from, to]` at which `reached` holds, for a `reached` that, once
/// true, stays true (memory that only grows): by bisection. `None` if it does not hold at `to`.
fn first_ms(from: u64, to: u64, reached: impl Fn(u64) -> bool) -> Option<u64> {
    if !reached(to) {
        return None;
    }
    let (mut lo, mut hi) = (from, to);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

impl TplCtr {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn memory(&self) -> MemorySpec {
        self.mem
    }

    pub fn is_leaker(&self) -> bool {
        self.leaker
    }
}

impl Workload {
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub fn priority_class_name(&self) -> Option<&str> {
        self.priority_class_name.as_deref()
    }

    /// The Deployment's pod template.
    pub fn template(&self) -> &[TplCtr] {
        &self.template
    }

    pub fn readiness_probe(&self) -> bool {
        self.readiness_probe
    }

    /// Seconds from a container's start to its readiness probe passing.
    pub fn ready_after(&self) -> u64 {
        self.ready_after
    }
}

#[cfg(test)]
mod tests;
