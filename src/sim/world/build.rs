//! Building the simulated cluster from its model: nodes, workloads and their first pods, placed and
//! running in the steady state before the clock starts.

use super::*;

impl Settings {
    pub(super) fn from(k: &KubeletSettings) -> Self {
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
            container_start_ms: k.container_start.std().as_millis() as u64,
            status_every: s(k.node_status_update_frequency).max(1),
            allocatable_signal: k.enforce_node_allocatable,
        }
    }
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
        untainted_ms: 0,
        last_observed: None,
        soft_since: None,
        below: false,
        hk_phase: rng.below(s.housekeeping),
        status_phase: rng.below(s.status_every),
        // Derived, not drawn: the seeds' other draws (and so their histories) stay as they were.
        status_ms: rng.derive(0x5747) % 1000,
        hk_ms: rng.derive(0x686b) % 1000,
        relist_ms: rng.derive(0x706c_6567) % 1000,
        // 0.75–1.25 × the model's start, drawn once per node and seed.
        start_ms: s.container_start_ms * (750 + rng.derive(0x7374_6d73) % 501) / 1000,
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
fn placement_hints(
    workloads: &[WorkloadModel],
    nodes: &Table<NodeId, Node>,
) -> Table<WorkloadId, Vec<Option<NodeId>>> {
    let node_ids: BTreeMap<&str, NodeId> = nodes
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
        node_counts: vec![0; n_nodes].into(),
        max_surge: w.max_surge,
        max_unavailable: w.max_unavailable,
        ready_after: w.ready_after.std().as_secs(),
        warmup: w.warmup.std().as_secs(),
        readiness_probe: w.readiness_probe,
        dirty: true,
        measured: measured_working_sets(observed_pods(w)),
        created: 0,
        evicted_ms: None,
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
        let settings = Settings::from(&model.spec.kubelet);
        let mut rng = Rng::new(seed);
        let nodes: Table<NodeId, Node> = build_nodes(model, &settings, &mut rng).into();
        let workloads = model.workloads();
        let hints = placement_hints(&workloads, &nodes);
        let workload_states = workloads
            .iter()
            .map(|w| fresh_workload(w, nodes.len()))
            .collect();
        let start = start_time(model)?;
        let mut w = World::empty(model, settings, start, rng, nodes, workload_states);
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
    pub(super) fn empty(
        model: &ClusterModel,
        settings: Settings,
        start: Time,
        rng: Rng,
        nodes: Table<NodeId, Node>,
        workloads: Table<WorkloadId, Workload>,
    ) -> Self {
        World {
            settings,
            clock: 0,
            start,
            rng,
            nodes,
            pods: Table::default(),
            workloads,
            pdbs: model.spec.pdbs.clone().into(),
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
            kills: Vec::new(),
            step_from: 0,
            instants: Vec::new(),
            next_start: 0,
            pod_seq: 0,
            names: BTreeSet::new(),
            target: None,
            observations: Vec::new(),
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
    pub(super) fn create_first_replica_sets(&mut self) {
        for i in self.workloads.ids() {
            let hash = self.template_hash(i);
            let template = self.workloads[i].template.clone();
            self.workloads[i].hash = hash.clone();
            self.workloads[i].rs.insert(
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
    pub(super) fn place_initial_pods(&mut self, hints: &Table<WorkloadId, Vec<Option<NodeId>>>) {
        // A real cluster's pods arrived over months in no particular order: place the initial
        // pods in a seeded random order, not workload by workload.
        let mut initial: Vec<PodId> = self.pending.iter().map(|&(_, _, p)| p).collect();
        self.rng.shuffle(&mut initial);
        let (node_count, to_find) = (self.nodes.len(), self.nodes_to_find());
        for p in initial {
            let wl = self.pods[p].wl;
            let ordinal = self.workloads[wl].pods.iter().position(|&q| q == p);
            match ordinal.and_then(|k| hints[wl].get(k).copied().flatten()) {
                // A snapshot's pod goes back where it was.
                Some(node) => self.bind(p, node),
                None => self.schedule_pod(p, node_count, to_find),
            }
        }
    }

    /// Starts every bound pod's containers at time 0, long before the clock starts.
    pub(super) fn start_initial_containers(&mut self) {
        for p in self.pods.ids() {
            if self.pods[p].phase != PodPhase::Bound {
                continue;
            }
            for c in 0..self.pods[p].ctrs.len() {
                self.start_container(p, c, 0);
            }
        }
    }

    /// Starts the clock at T0 and lets the world emit from then on.
    pub(super) fn start_clock(&mut self) {
        self.timers.clear();
        self.clock = T0;
        // The pods running before the clock starts: cAdvisor's housekeeping of each is
        // somewhere in its 10–20 s interval.
        for p in self.pods.ids() {
            if self.pods[p].phase == PodPhase::Bound {
                let phase = self.rng.derive(self.pods[p].seq ^ 0x6864_7068) % 20_001;
                self.pods[p].stats_next_ms = (T0 * 1000).saturating_sub(phase);
            }
        }
        self.update_dynamic();
        self.past_edge = self
            .nodes
            .ids()
            .filter(|&n| self.threshold_met(n))
            .collect();
        self.check_nodes();
        // Pods that did not fit at the start show up as FailedScheduling in the first step.
        for &(_, _, p) in &self.pending {
            self.pods[p].next_try = T0;
        }
        self.quiet = false;
    }
}
