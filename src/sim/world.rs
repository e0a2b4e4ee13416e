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

mod control;
mod node;

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

impl Settings {
    fn from(k: &KubeletSettings) -> Self {
        let s = |d: oomsday_core::Duration| d.std().as_secs();
        Settings {
            eviction_hard: k.eviction_hard.bytes(),
            eviction_soft: k.eviction_soft.map(|q| q.bytes()),
            soft_grace: s(k.eviction_soft_grace_period),
            housekeeping: s(k.housekeeping_interval).max(1),
            transition: s(k.eviction_pressure_transition_period),
            grace: s(k.node_monitor_grace_period),
            toleration: s(k.not_ready_toleration),
            kubelet_mem: k.kubelet_memory.bytes(),
            system_mem: k.system_memory.bytes(),
            kubelet_restart: s(k.kubelet_restart_delay).max(1),
            max_pods: k.max_pods,
            container_start: s(k.container_start),
            status_every: s(k.node_status_update_frequency).max(1),
            allocatable_signal: k.enforce_node_allocatable,
        }
    }
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

const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn token(mut x: u64, len: usize) -> String {
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        s.push(NAME_ALPHABET[(x % NAME_ALPHABET.len() as u64) as usize] as char);
        x /= NAME_ALPHABET.len() as u64;
    }
    s
}

/// Every group's nodes, in group order.
fn build_nodes(model: &ClusterModel, s: &Settings, rng: &mut Rng) -> Vec<Node> {
    let kubelet = &model.spec.kubelet;
    let mut nodes = Vec::new();
    for (gi, g) in model.spec.node_groups.iter().enumerate() {
        nodes.extend(group_nodes(gi, g, kubelet, s, rng));
    }
    nodes
}

/// One group's nodes, named after a snapshot's or in the group's own /20.
fn group_nodes(
    gi: usize,
    g: &NodeGroup,
    kubelet: &KubeletSettings,
    s: &Settings,
    rng: &mut Rng,
) -> Vec<Node> {
    let enforce = kubelet.enforce_node_allocatable;
    let memcg = g.memcg_notified(kubelet);
    let reserved = g.system_reserved.bytes() + g.kube_reserved.bytes();
    // Node allocatable = capacity − kube-reserved − system-reserved − hard eviction.
    // https://kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources/#node-allocatable
    let allocatable = g
        .capacity
        .bytes()
        .saturating_sub(reserved + s.eviction_hard);
    let pods_limit = if enforce {
        g.capacity.bytes().saturating_sub(reserved)
    } else {
        g.capacity.bytes()
    };
    // AWS-style names, shuffled within each /24 by the seed so that runs with different
    // seeds do not all start on "the first node".
    let mut octets: Vec<u32> = (10..=250).collect();
    rng.shuffle(&mut octets);
    (0..g.count)
        .map(|i| {
            let subnet = gi as u32 * 16 + i / 241 + 1;
            let host = octets[(i % 241) as usize];
            let known = g.nodes.get(i as usize);
            let name = known.map_or_else(|| format!("ip-10-0-{subnet}-{host}"), |n| n.name.clone());
            let sizes = (g.capacity.bytes(), allocatable, pods_limit);
            let mut node = fresh_node(name, sizes, known, s, rng);
            node.memcg = memcg;
            node
        })
        .collect()
}

/// A healthy node with its kubelet's loops phased by the seed; `sizes` is its capacity,
/// allocatable and pods' cgroup limit. A snapshot's node brings its other pods, system memory
/// and cordon.
fn fresh_node(
    name: String,
    (capacity, allocatable, pods_limit): (u64, u64, u64),
    known: Option<&NodeModel>,
    s: &Settings,
    rng: &mut Rng,
) -> Node {
    let other = known.and_then(|n| n.other_pods).unwrap_or_default();
    Node {
        name,
        capacity,
        allocatable,
        pods_limit,
        requested: other.requests.bytes(),
        nonzero_requested: other.requests.bytes(),
        pods: Vec::new(),
        pod_usage: other.working_set.bytes(),
        kubelet_alive: true,
        kubelet_down_since: 0,
        incarnation: 0,
        not_ready: false,
        pressure: false,
        api_pressure: false,
        status_pending: false,
        last_observed: None,
        soft_since: None,
        below: false,
        hk_phase: rng.below(s.housekeeping),
        status_phase: rng.below(s.status_every),
        // Derived, not drawn: the seeds' other draws (and so their histories) stay as they were.
        status_ms: rng.derive(0x5747) % 1000,
        hk_ms: rng.derive(0x686b) % 1000,
        usage_before: other.working_set.bytes(),
        memcg: false,
        watched: false,
        dirty: false,
        system_mem: known
            .and_then(|n| n.system_memory)
            .map_or(s.system_mem, |q| q.bytes()),
        fixed_pods: other.pods,
        cordoned: known.is_some_and(|n| n.unschedulable),
    }
}

/// A workload's observed pods (a snapshot's), none for a hand-written model.
fn observed_pods(w: &WorkloadModel) -> &[ObservedPod] {
    w.observed.as_ref().map(|o| &o.pods[..]).unwrap_or_default()
}

/// Where each workload's observed pods ran, in order: the first pods go there.
fn placement_hints(workloads: &[WorkloadModel], nodes: &[Node]) -> Vec<Vec<Option<NodeId>>> {
    let node_ids: BTreeMap<&str, NodeId> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    workloads
        .iter()
        .map(|w| {
            observed_pods(w)
                .iter()
                .map(|p| p.node.as_deref().and_then(|n| node_ids.get(n).copied()))
                .collect()
        })
        .collect()
}

/// A workload at revision 0 with no pods yet, for the controller to reconcile.
fn fresh_workload(w: &WorkloadModel, n_nodes: usize) -> Workload {
    Workload {
        hash: String::new(),
        rs: BTreeMap::new(),
        observed: true,
        deleting: Vec::new(),
        name: w.name.clone(),
        namespace: w.namespace.clone(),
        labels: w.labels.clone(),
        replicas: w.replicas,
        priority: w.priority,
        priority_class_name: w.priority_class_name.clone(),
        template: template_of(w),
        revision: 0,
        pods: Vec::new(),
        node_counts: vec![0; n_nodes],
        max_surge: w.max_surge,
        max_unavailable: w.max_unavailable,
        ready_after: w.ready_after.std().as_secs(),
        warmup: w.warmup.std().as_secs(),
        readiness_probe: w.readiness_probe,
        dirty: true,
        measured: measured_working_sets(observed_pods(w)),
        created: 0,
    }
}

/// The workload's pod template as the model gives it: no leak until the run adds one.
fn template_of(w: &WorkloadModel) -> Vec<TplCtr> {
    w.containers
        .iter()
        .map(|c| TplCtr {
            name: c.name.clone(),
            mem: MemorySpec {
                request: c.resources.memory_request(),
                limit: c.resources.memory_limit(),
            },
            working_set: c.working_set.bytes(),
            jitter: c.jitter.map_or(0.0, |p| p.fraction()),
            leak: None,
            leaker: false,
        })
        .collect()
}

/// The observed pods' containers' working sets, for the pods that have them.
fn measured_working_sets(observed: &[ObservedPod]) -> Vec<BTreeMap<String, u64>> {
    observed
        .iter()
        .filter(|p| !p.working_sets.is_empty())
        .map(|p| {
            p.working_sets
                .iter()
                .map(|(c, q)| (c.clone(), q.bytes()))
                .collect()
        })
        .collect()
}

/// The virtual start: the model's, or a fixed instant.
fn start_time(model: &ClusterModel) -> crate::Result<Time> {
    match model.spec.start {
        Some(t) => Ok(t),
        // Black Friday 2026, 06:00 UTC: any fixed instant will do, the wall clock never.
        None => Time::from_second(1_795_759_200)
            .map_err(|e| crate::Error::Internal(format!("simulator start time out of range: {e}"))),
    }
}

impl World {
    /// Builds the cluster in its steady state: every pod scheduled and running since long ago.
    pub fn new(model: &ClusterModel, seed: u64) -> crate::Result<Self> {
        let s = Settings::from(&model.spec.kubelet);
        let mut rng = Rng::new(seed);
        let nodes = build_nodes(model, &s, &mut rng);
        let workloads = model.workloads();
        let hints = placement_hints(&workloads, &nodes);
        let wls = workloads
            .iter()
            .map(|w| fresh_workload(w, nodes.len()))
            .collect();
        let start = start_time(model)?;
        let mut w = World::empty(model, s, start, rng, nodes, wls);
        w.create_first_replica_sets();
        // Steady state: place everything at time 0 with containers long since running, then
        // start the clock at T0.
        w.reconcile_workloads();
        w.place_initial_pods(&hints);
        w.drain_timers(0);
        w.start_initial_containers();
        w.start_clock();
        Ok(w)
    }

    /// A world with its nodes and workloads but no pods, timers or observations yet.
    fn empty(
        model: &ClusterModel,
        s: Settings,
        start: Time,
        rng: Rng,
        nodes: Vec<Node>,
        wls: Vec<Workload>,
    ) -> Self {
        World {
            s,
            t: 0,
            start,
            rng,
            nodes,
            pods: Vec::new(),
            wls,
            pdbs: model.spec.pdbs.clone(),
            limit_ranges: model.spec.limit_ranges.clone(),
            hpas: model.spec.hpas.clone(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            pending: BTreeSet::new(),
            dynamic: Vec::new(),
            watched: BTreeSet::new(),
            dirty_nodes: Vec::new(),
            status_due: Vec::new(),
            status_late: Vec::new(),
            next_start: 0,
            pod_seq: 0,
            names: BTreeSet::new(),
            target: None,
            out: Vec::new(),
            last_workload: None,
            last_leaker_pods: None,
            leak_every: 30,
            leak_from: 0,
            last_budget: Vec::new(),
            quiet: true,
            past_edge: Vec::new(),
            hpa_state: vec![(0, 0); model.spec.hpas.len()],
        }
    }

    /// Gives every workload its first ReplicaSet (revision 0) and pod-template-hash.
    fn create_first_replica_sets(&mut self) {
        for i in 0..self.wls.len() {
            let hash = self.template_hash(i);
            let template = self.wls[i].template.clone();
            self.wls[i].hash = hash.clone();
            self.wls[i].rs.insert(
                0,
                ReplicaSet {
                    replicas: 0,
                    template,
                    hash,
                },
            );
        }
    }

    /// Places the pending initial pods: a snapshot's pods where they ran, the rest by the
    /// scheduler.
    fn place_initial_pods(&mut self, hints: &[Vec<Option<NodeId>>]) {
        // A real cluster's pods arrived over months in no particular order: place the initial
        // pods in a seeded random order, not workload by workload.
        let mut initial: Vec<PodId> = self.pending.iter().map(|&(_, _, p)| p).collect();
        self.rng.shuffle(&mut initial);
        let (n, to_find) = (self.nodes.len(), self.nodes_to_find());
        for p in initial {
            let wl = self.pods[p].wl;
            let ordinal = self.wls[wl].pods.iter().position(|&q| q == p);
            match ordinal.and_then(|k| hints[wl].get(k).copied().flatten()) {
                // A snapshot's pod goes back where it was.
                Some(node) => self.bind(p, node),
                None => self.schedule_pod(p, n, to_find),
            }
        }
    }

    /// Starts every bound pod's containers at time 0, long before the clock starts.
    fn start_initial_containers(&mut self) {
        for p in 0..self.pods.len() {
            if self.pods[p].phase != PodPhase::Bound {
                continue;
            }
            for c in 0..self.pods[p].ctrs.len() {
                self.start_container(p, c, 0);
            }
        }
    }

    /// Starts the clock at T0 and lets the world emit from then on.
    fn start_clock(&mut self) {
        self.timers.clear();
        self.t = T0;
        self.update_dynamic();
        self.past_edge = (0..self.nodes.len())
            .filter(|&n| self.threshold_met(n))
            .collect();
        self.check_nodes();
        // Pods that did not fit at the start show up as FailedScheduling in the first step.
        for &(_, _, p) in &self.pending {
            self.pods[p].next_try = T0;
        }
        self.quiet = false;
    }

    fn template_hash(&self, wl: WlId) -> String {
        let w = &self.wls[wl];
        token(
            hash_str(&format!("{}/{}/{}", w.namespace, w.name, w.revision)),
            10,
        )
    }

    /// The virtual time of internal second `t`.
    pub fn time_of(&self, t: u64) -> Time {
        let secs = t.saturating_sub(T0).min(i64::MAX as u64 / 2) as i64;
        self.start
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(self.start)
    }

    /// The internal second of a virtual time (rounded up, never before now).
    pub fn second_of(&self, at: Time) -> u64 {
        let d = at.duration_since(self.start);
        let secs = d.as_secs() + i64::from(d.subsec_nanos() > 0);
        T0.saturating_add_signed(secs.max(0))
    }

    pub fn now(&self) -> Time {
        self.time_of(self.t)
    }

    fn emit(&mut self, t: u64, event: Event) {
        if !self.quiet {
            let at = self.time_of(t);
            self.out.push(Observation::new(at, event));
        }
    }

    fn timer(&mut self, at: u64, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    pub fn pod_ref(&self, p: PodId) -> PodRef {
        let pod = &self.pods[p];
        PodRef {
            name: pod.name.clone(),
            node: pod.node.map(|n| self.nodes[n].name.clone()),
            target: self.target.as_ref().is_some_and(|t| t.wl == pod.wl),
        }
    }

    // ----- the clock -------------------------------------------------------------------------

    /// Runs until something was observed or `until` (an internal second) is reached.
    pub fn advance(&mut self, until: u64) {
        while self.out.is_empty() && self.t < until {
            if self.quiescent() {
                let next = self
                    .timers
                    .peek()
                    .map_or(until, |Reverse((at, _, _))| *at)
                    .min(until);
                if next > self.t + 1 {
                    self.t = next - 1;
                }
            }
            self.step();
        }
    }

    fn quiescent(&self) -> bool {
        self.dynamic.is_empty()
            && self.watched.is_empty()
            && self.pending.is_empty()
            && self.wls.iter().all(|w| !w.dirty)
            && self.hpas.is_empty()
    }

    fn step(&mut self) {
        self.t += 1;
        let t = self.t;
        self.drain_timers(t);
        self.update_dynamic();
        self.post_statuses_due(t);
        self.check_nodes();
        self.housekeeping();
        if !self.hpas.is_empty() && t.is_multiple_of(15) {
            self.autoscale();
        }
        self.reconcile_workloads();
        self.schedule();
        // A post later in the second than the node's synchronize carries what that decided,
        // after the scheduler placed this second's pods (as the recorded replacement was,
        // 150 ms before the taint).
        for n in std::mem::take(&mut self.status_late) {
            self.post_node_status(n, t);
        }
        self.report_status();
    }

    fn drain_timers(&mut self, t: u64) {
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > t {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::CtrStart { pod, ctr, epoch } => {
                    let p = &self.pods[pod];
                    let ok = p.phase == PodPhase::Bound
                        && p.ctrs[ctr].epoch == epoch
                        && matches!(p.ctrs[ctr].state, CState::Waiting { .. })
                        && p.node.is_some_and(|n| self.nodes[n].kubelet_alive);
                    if ok {
                        self.start_container(pod, ctr, at);
                    }
                }
                Timer::KubeletRestart { node, inc } => {
                    if self.nodes[node].incarnation == inc {
                        self.try_kubelet_restart(node, at);
                    }
                }
                Timer::NodeGrace { node, inc } => {
                    if self.nodes[node].incarnation == inc && !self.nodes[node].kubelet_alive {
                        self.node_not_ready(node, at);
                    }
                }
                Timer::TaintEvict { node, inc } => {
                    if self.nodes[node].incarnation == inc && self.nodes[node].not_ready {
                        self.taint_evict(node, at);
                    }
                }
                Timer::NodeStatus { node } => self.status_due.push(node),
            }
        }
    }

    // ----- containers ------------------------------------------------------------------------

    fn start_container(&mut self, p: PodId, c: usize, t: u64) {
        let ctr = &mut self.pods[p].ctrs[c];
        ctr.state = CState::Running { since: t };
        ctr.epoch += 1;
        if !self.pods[p].in_dynamic {
            self.pods[p].in_dynamic = true;
            self.dynamic.push(p);
        }
        // Every start of a leaker container, restarts included, as the real watch reports each
        // new `startedAt`.
        if self.pods[p].ctrs[c].leaker {
            let pod = self.pod_ref(p);
            self.emit(t, Event::LeakerStarted { pod });
        }
    }

    fn set_usage(&mut self, p: PodId, c: usize, usage: u64) {
        let old = self.pods[p].ctrs[c].usage;
        if old == usage {
            return;
        }
        self.pods[p].ctrs[c].usage = usage;
        if let Some(n) = self.pods[p].node {
            self.mark_dirty(n);
            let node = &mut self.nodes[n];
            node.pod_usage = node.pod_usage + usage - old;
        }
    }

    /// Node `n` changed this step: the next check looks at it.
    fn mark_dirty(&mut self, n: NodeId) {
        let node = &mut self.nodes[n];
        if !node.dirty {
            node.dirty = true;
            node.usage_before = node.pod_usage;
            self.dirty_nodes.push(n);
        }
    }

    /// Recomputes the memory of containers that are still changing; kills those at their limit.
    fn update_dynamic(&mut self) {
        let t = self.t;
        let list = std::mem::take(&mut self.dynamic);
        let mut keep = Vec::with_capacity(list.len());
        for p in list {
            if self.pods[p].phase == PodPhase::Gone {
                self.pods[p].in_dynamic = false;
                continue;
            }
            let mut still = false;
            for c in 0..self.pods[p].ctrs.len() {
                let ctr = &self.pods[p].ctrs[c];
                if !matches!(ctr.state, CState::Running { .. }) {
                    continue;
                }
                // An ephemeral leaker exits by itself at its deadline (exit 0, `Completed`, and
                // never restarted); a sidecar one frees its memory and idles until reverted.
                if ctr.ephemeral && ctr.leak.as_ref().is_some_and(|l| t >= l.deadline) {
                    self.set_usage(p, c, 0);
                    let ctr = &mut self.pods[p].ctrs[c];
                    ctr.state = CState::Done;
                    ctr.epoch += 1;
                    continue;
                }
                let u = ctr.usage_at(t);
                // The cgroup limit: a container that reaches it is OOM-killed by the kernel.
                // https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#memory-limits
                if let Some(limit) = ctr.mem.limit
                    && u >= limit
                {
                    self.set_usage(p, c, limit);
                    self.oom_kill(p, c, t, false);
                    continue;
                }
                self.set_usage(p, c, u);
                still |= self.pods[p].ctrs[c].is_dynamic(t);
            }
            if still {
                keep.push(p);
            } else {
                self.pods[p].in_dynamic = false;
                self.sample_leak(p, t);
            }
        }
        // Containers started during this pass were pushed onto the (now empty) list.
        keep.append(&mut self.dynamic);
        self.dynamic = keep;
    }

    /// The kernel killed container `c` of pod `p`: at its own limit, or as the node's (or the
    /// pods' cgroup's) OOM victim when `system`.
    ///
    /// The whole container dies, on either cgroup version. On v2 the kubelet sets
    /// `memory.oom.group` on every container (`calculateLinuxResources`,
    /// pkg/kubelet/kuberuntime/kuberuntime_container_linux.go, unless `singleProcessOOMKill`,
    /// which defaults to false on v2: `NewMainKubelet`, pkg/kubelet/kubelet.go), so the kernel
    /// kills every process of the container's cgroup. On v1 it kills the one process it picked,
    /// which is the whole container for a single-process one such as the leaker; the model has no
    /// processes, so a multi-process container on v1 is where it is wrong (one worker would die
    /// and the container live on).
    fn oom_kill(&mut self, p: PodId, c: usize, t: u64, system: bool) {
        self.set_usage(p, c, 0);
        let (name, leaker, restarts, ephemeral, backing_off) = {
            let rng = &mut self.rng;
            let ctr = &mut self.pods[p].ctrs[c];
            ctr.epoch += 1;
            let mut backing_off = false;
            if ctr.ephemeral {
                // Ephemeral containers are never restarted.
                // https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/
                ctr.state = CState::Done;
            } else {
                ctr.restarts += 1;
                let (at, b) = super::kubelet::restart_at(ctr.backoff, t, || {
                    super::kubelet::pod_worker_requeue(rng.below(6))
                });
                backing_off = at > t + 1;
                ctr.backoff = b;
                ctr.state = CState::Waiting { until: at };
            }
            (
                ctr.name.clone(),
                ctr.leaker,
                ctr.restarts,
                ctr.ephemeral,
                backing_off,
            )
        };
        let pod = self.pod_ref(p);
        if system && let Some(n) = self.pods[p].node {
            let node = self.nodes[n].name.clone();
            self.emit(
                t,
                Event::NodeEvent {
                    node,
                    reason: "SystemOOM".into(),
                    message: format!(
                        "System OOM encountered, victim process: {name} (pod {})",
                        pod.name
                    ),
                },
            );
        }
        self.emit(
            t,
            Event::OomKilled {
                pod: pod.clone(),
                container: name.clone(),
                leaker,
                restart_count: restarts,
            },
        );
        if !ephemeral {
            // The first restart comes at once; later ones wait in CrashLoopBackOff.
            if backing_off {
                self.emit(
                    t,
                    Event::CrashLoopBackOff {
                        pod,
                        container: name,
                    },
                );
            }
            if let CState::Waiting { until } = self.pods[p].ctrs[c].state {
                let epoch = self.pods[p].ctrs[c].epoch;
                self.timer(
                    until,
                    Timer::CtrStart {
                        pod: p,
                        ctr: c,
                        epoch,
                    },
                );
            }
        }
    }

    // ----- what the run watches --------------------------------------------------------------

    /// The state the run begins in, as a real cluster's first lists give it (baseline
    /// observations): the target's status and budgets, and the conditions of the nodes hosting
    /// it that are not healthy (the simulator posts node conditions only when they change).
    pub fn report_baseline(&mut self) {
        let from = self.out.len();
        self.report_status();
        let t = self.t;
        let hosts: std::collections::BTreeSet<usize> = self
            .target
            .iter()
            .flat_map(|target| self.wls[target.wl].pods.iter())
            .filter_map(|&p| self.pods[p].node)
            .collect();
        for n in hosts {
            let (name, not_ready, pressure) = {
                let node = &self.nodes[n];
                (node.name.clone(), node.not_ready, node.api_pressure)
            };
            for (condition, status, bad) in [
                (NodeConditionKind::Ready, !not_ready, not_ready),
                (NodeConditionKind::MemoryPressure, pressure, pressure),
            ] {
                if bad {
                    let node = name.clone();
                    let reason = "as the run began".to_string();
                    self.emit(
                        t,
                        Event::NodeCondition {
                            node,
                            condition,
                            status,
                            reason,
                        },
                    );
                }
            }
        }
        for o in &mut self.out[from..] {
            o.baseline = true;
        }
    }

    fn report_status(&mut self) {
        let t = self.t;
        let Some(target) = self.target.clone() else {
            return;
        };
        let wl = target.wl;
        let sample = self.workload_sample(wl, t);
        if self.last_workload != Some(sample) {
            self.last_workload = Some(sample);
            let WorkloadSample {
                desired,
                ready,
                updated,
                current,
                observed,
                leaker,
            } = sample;
            self.emit(
                t,
                Event::Workload {
                    desired,
                    ready,
                    updated,
                    current,
                    observed,
                    leaker,
                },
            );
        }
        let live = self.leaker_pods(wl);
        if self.last_leaker_pods != Some(live) {
            self.last_leaker_pods = Some(live);
            self.emit(t, Event::LeakerPods { live });
        }
        if self.last_budget.len() != target.pdbs.len() {
            self.last_budget = vec![None; target.pdbs.len()];
        }
        for (i, &b) in target.pdbs.iter().enumerate() {
            let st = self.budget_status(b, t);
            if self.last_budget[i] != Some(st) {
                self.last_budget[i] = Some(st);
                let (current_healthy, desired_healthy, disruptions_allowed, expected_pods) = st;
                let name = self.pdbs[b].name.clone();
                self.emit(
                    t,
                    Event::Budget {
                        name,
                        current_healthy,
                        desired_healthy,
                        disruptions_allowed,
                        expected_pods,
                    },
                );
            }
        }
        if t >= self.leak_from && (t - self.leak_from).is_multiple_of(self.leak_every) {
            let pods = self.wls[wl].pods.clone();
            for p in pods {
                self.sample_leak(p, t);
            }
        }
    }

    /// The target's Deployment status: `spec.replicas`, `readyReplicas`, `updatedReplicas` (pods
    /// of the current template), `replicas` (every pod not terminating), whether the controller
    /// has seen the latest template, and whether that template carries the leaker.
    fn workload_sample(&self, wl: WlId, t: u64) -> WorkloadSample {
        let w = &self.wls[wl];
        let ready = w.pods.iter().filter(|&&p| self.pod_ready(p, t)).count() as u32;
        let updated = w
            .pods
            .iter()
            .filter(|&&p| self.pods[p].revision == w.revision)
            .count() as u32;
        WorkloadSample {
            desired: w.replicas,
            ready,
            updated,
            current: w.pods.len() as u32,
            observed: w.observed,
            leaker: w.template.iter().any(|c| c.leaker),
        }
    }

    /// Target pods that still carry a live leaker: a sidecar leaker in a pod that has not
    /// terminated (whatever the container's state), an ephemeral one that has not exited.
    fn leaker_pods(&self, wl: WlId) -> u32 {
        let w = &self.wls[wl];
        w.pods
            .iter()
            .chain(&w.deleting)
            .filter(|&&p| {
                self.pods[p]
                    .ctrs
                    .iter()
                    .any(|c| c.leaker && (!c.ephemeral || c.state != CState::Done))
            })
            .count() as u32
    }

    /// Samples what each target leaker holds every `every` seconds from `from`: the real
    /// leaker reports every second; long runs are sampled more sparsely so that the timeline
    /// stays a few hundred samples per pod.
    pub fn sample_leaks_every(&mut self, every: u64, from: u64) {
        self.leak_every = every.max(1);
        self.leak_from = from;
    }

    /// Reports what the leaker of a target pod holds, when it changed since the last sample.
    fn sample_leak(&mut self, p: PodId, t: u64) {
        let is_target = self
            .target
            .as_ref()
            .is_some_and(|x| x.wl == self.pods[p].wl);
        if !is_target || !self.pods[p].ctrs.iter().any(|c| c.leaker) {
            return;
        }
        let bytes: u64 = self.pods[p].ctrs.iter().map(|c| c.leak_bytes(t)).sum();
        if bytes != self.pods[p].last_leak_sample {
            self.pods[p].last_leak_sample = bytes;
            let pod = self.pods[p].name.clone();
            self.emit(t, Event::LeakerBytes { pod, bytes });
        }
    }

    /// A PDB's status as the disruption controller computes it: expected pods from the
    /// controllers' scale, desiredHealthy from minAvailable or maxUnavailable (percentages round
    /// up), disruptionsAllowed = currentHealthy − desiredHealthy.
    /// <https://kubernetes.io/docs/tasks/run-application/configure-pdb/>
    pub fn budget_status(&self, b: usize, t: u64) -> (u32, u32, u32, u32) {
        let pdb = &self.pdbs[b];
        let matching: Vec<WlId> = (0..self.wls.len())
            .filter(|&w| {
                self.wls[w].namespace == pdb.namespace
                    && pdb
                        .selector
                        .iter()
                        .all(|(k, v)| self.wls[w].labels.get(k) == Some(v))
            })
            .collect();
        let expected: u32 = matching.iter().map(|&w| self.wls[w].replicas).sum();
        let healthy = matching
            .iter()
            .flat_map(|&w| self.wls[w].pods.iter())
            .filter(|&&p| self.pod_ready(p, t))
            .count() as u32;
        let desired = match (pdb.min_available, pdb.max_unavailable) {
            (Some(m), _) => match m {
                CountOrPercent::Count(c) => c,
                CountOrPercent::Percent(_) => m.of(expected),
            },
            (None, Some(u)) => expected.saturating_sub(u.of(expected)),
            (None, None) => 0,
        };
        (healthy, desired, healthy.saturating_sub(desired), expected)
    }

    // ----- injection -------------------------------------------------------------------------

    pub fn find_workload(&self, namespace: &str, name: &str) -> Option<WlId> {
        self.wls
            .iter()
            .position(|w| w.namespace == namespace && w.name == name)
    }

    /// Rolls the workload to a new template (pods are replaced within maxSurge/maxUnavailable).
    /// A template an existing ReplicaSet already has (a rollback, the revert) reuses it, as the
    /// Deployment controller does by pod-template-hash. The controllers act at once: the change
    /// is accepted now, its rollout is observed afterwards.
    pub fn set_template(&mut self, wl: WlId, template: Vec<TplCtr>) {
        let existing = self.wls[wl]
            .rs
            .iter()
            .find(|(_, rs)| rs.template == template)
            .map(|(r, _)| *r);
        let revision = match existing {
            Some(r) => r,
            None => {
                let r = self.wls[wl].rs.keys().next_back().map_or(0, |r| r + 1);
                self.wls[wl].revision = r;
                let hash = self.template_hash(wl);
                self.wls[wl].rs.insert(
                    r,
                    ReplicaSet {
                        replicas: 0,
                        template: template.clone(),
                        hash,
                    },
                );
                r
            }
        };
        let w = &mut self.wls[wl];
        w.revision = revision;
        w.hash = w.rs[&revision].hash.clone();
        w.template = template;
        w.dirty = true;
        w.observed = false;
        // The new generation, before the controller has seen it...
        self.report_status();
        // ...and what it does within the second.
        self.reconcile_workloads();
        self.schedule();
        self.report_status();
    }

    /// Attaches an ephemeral leaker to a running pod: no resources, charged to the pod, never
    /// restarted. <https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/>
    pub fn attach_ephemeral(&mut self, p: PodId, name: &str, leak: Leak) {
        let t = self.t;
        let ctr = Ctr {
            name: name.to_string(),
            mem: MemorySpec::default(),
            working_set: LEAKER_BASE,
            warmup: 0,
            leak: Some(leak),
            leaker: true,
            ephemeral: true,
            state: CState::Waiting { until: t },
            usage: 0,
            restarts: 0,
            backoff: Backoff::default(),
            oom_adj: 0,
            epoch: 0,
        };
        let adj = match self.pods[p].node {
            Some(n) => oom_score_adj(self.pods[p].qos, None, self.nodes[n].capacity),
            None => 1000,
        };
        self.pods[p].ctrs.push(Ctr {
            oom_adj: adj,
            ..ctr
        });
        let c = self.pods[p].ctrs.len() - 1;
        self.start_container(p, c, t);
        self.report_status();
    }

    /// The leaker container a sidecar injection adds to the template.
    pub fn leaker_template(name: &str, mem: MemorySpec, leak: Leak) -> TplCtr {
        TplCtr {
            name: name.to_string(),
            mem,
            working_set: LEAKER_BASE,
            jitter: 0.0,
            leak: Some(leak),
            leaker: true,
        }
    }

    /// Pods of a workload that are running, in a stable order.
    pub fn running_pods(&self, wl: WlId) -> Vec<PodId> {
        self.wls[wl]
            .pods
            .iter()
            .copied()
            .filter(|&p| self.pods[p].phase == PodPhase::Bound)
            .collect()
    }

    /// Total pods that are not gone (for descriptions).
    pub fn live_pods(&self) -> usize {
        self.wls.iter().map(|w| w.pods.len()).sum()
    }
}

#[cfg(test)]
mod tests;
