//! The control plane of the simulated cluster: pods coming and going, the ReplicaSet and
//! Deployment controllers, memory HPAs and the scheduler.

use super::*;
use crate::sim::rollout::{RsCount, fenceposts, new_rs_replicas, scale_down_old};

/// Old ReplicaSets a Deployment keeps (`revisionHistoryLimit`'s default).
const REVISION_HISTORY: usize = 10;

/// Why nodes could not take a pod, as kube-scheduler's FailedScheduling says it; the
/// `UNFIT_*` indexes name them.
const UNFIT: [&str; 5] = [
    "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
    "node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }",
    "Too many pods",
    "Insufficient memory",
    "node(s) were unschedulable",
];
const UNFIT_NOT_READY: usize = 0;
const UNFIT_PRESSURE: usize = 1;
const UNFIT_PODS: usize = 2;
const UNFIT_MEMORY: usize = 3;
const UNFIT_CORDONED: usize = 4;

impl World {
    pub(super) fn template_hash(&self, wl: WorkloadId) -> String {
        let w = &self.workloads[wl];
        token(
            hash_str(&format!("{}/{}/{}", w.namespace, w.name, w.revision)),
            10,
        )
    }

    // ----- pods and controllers --------------------------------------------------------------

    /// Takes a pod off its node and out of its workload.
    pub(super) fn remove_pod(&mut self, p: PodId) {
        if self.pods[p].phase == PodPhase::Gone {
            return;
        }
        for c in 0..self.pods[p].ctrs.len() {
            self.set_usage(p, c, 0);
            self.pods[p].ctrs[c].state = CState::Done;
        }
        let wl = self.pods[p].wl;
        if self.pods[p].deleting {
            self.workloads[wl].deleting.retain(|&q| q != p);
        }
        if let Some(n) = self.pods[p].node
            && self.pods[p].phase == PodPhase::Bound
        {
            let pod = &self.pods[p];
            let node = &mut self.nodes[n];
            node.pods.retain(|&q| q != p);
            node.requested -= pod.request;
            node.nonzero_requested -= pod.nonzero_request;
            if !pod.deleting {
                let cnt = &mut self.workloads[wl].node_counts[n];
                *cnt = cnt.saturating_sub(1);
            }
        }
        if self.pods[p].phase == PodPhase::Pending {
            let key = (-i64::from(self.pods[p].priority), self.pods[p].seq, p);
            self.pending.remove(&key);
        }
        self.pods[p].phase = PodPhase::Gone;
        self.workloads[wl].pods.retain(|&q| q != p);
        self.workloads[wl].dirty = true;
    }

    pub fn pod_ready(&self, p: PodId, t: u64) -> bool {
        self.ready_at(p, t * 1000)
    }

    /// Whether pod `p` is Ready at instant `ms` as the API says: every container seen running
    /// (and past its readiness probe), where one that exited counts until the kubelet saw it.
    fn ready_at(&self, p: PodId, ms: u64) -> bool {
        let pod = &self.pods[p];
        let Some(n) = pod.node else {
            return false;
        };
        if pod.phase != PodPhase::Bound || pod.deleting || self.nodes[n].not_ready {
            return false;
        }
        pod.ctrs
            .iter()
            .filter(|c| !c.ephemeral)
            .all(|c| match (c.state, c.last_ready) {
                (CState::Running { since_ms }, _) => self.ready_from(p, c, since_ms) <= ms,
                (CState::Waiting { .. }, Some((from, until))) => from <= ms && ms < until,
                _ => false,
            })
    }

    /// When container `c` of pod `p`, started at `since_ms`, is seen ready: a container without
    /// a readiness probe (the leaker) once the kubelet sees it running, at its next relist; one
    /// with a probe when the probe passes.
    /// https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes
    pub(super) fn ready_from(&self, p: PodId, c: &Ctr, since_ms: u64) -> u64 {
        let pod = &self.pods[p];
        let relist = pod.node.map_or(0, |n| self.nodes[n].relist_ms);
        if c.leaker || pod.ready_after == 0 {
            crate::sim::kubelet::next_relist(since_ms, relist)
        } else {
            since_ms + pod.ready_after * 1000
        }
    }

    /// The instant pod `p` became Ready, if it is now.
    pub(super) fn ready_since(&self, p: PodId) -> Option<u64> {
        let now = self.clock * 1000;
        if !self.ready_at(p, now) {
            return None;
        }
        self.pods[p]
            .ctrs
            .iter()
            .filter(|c| !c.ephemeral)
            .map(|c| match (c.state, c.last_ready) {
                (CState::Running { since_ms }, _) => self.ready_from(p, c, since_ms),
                (_, Some((from, _))) => from,
                _ => 0,
            })
            .max()
    }

    /// The latest instant within this step at which a pod of workload `wl` became Ready, if
    /// one did: what the controllers react to, and when the run sees it.
    pub(super) fn readied_this_step(&self, wl: WorkloadId) -> Option<u64> {
        let now = self.clock * 1000;
        self.workloads[wl]
            .pods
            .iter()
            .filter_map(|&p| self.ready_since(p))
            .filter(|&ms| ms <= now && ms + 1000 > now)
            .max()
    }

    /// When the ReplicaSet controller creates a pod this step, after `cause`: up to 0.3 s (the
    /// controllers' queues; 0.0–0.38 s, 0.15 s on average, over 26 rollout steps on the bed).
    fn creation_ms(&self, cause: u64, salt: u64) -> u64 {
        cause + self.rng.derive(salt ^ 0x7265_6163) % 301
    }

    /// A new pod of revision `rev`'s ReplicaSet.
    /// `cause`: the instant it reacts to (see [`Self::replica_set_sync`]); `replaces`: it is
    /// created at that very instant, replacing evicted pods, and cannot be placed before it.
    pub(super) fn create_pod(&mut self, wl: WorkloadId, rev: u32, cause: u64, replaces: bool) {
        let t = self.clock;
        let ns = self.workloads[wl].namespace.clone();
        let ranges: Vec<&LimitRangeModel> = self
            .limit_ranges
            .iter()
            .filter(|l| l.namespace == ns)
            .collect();
        let ordinal = self.workloads[wl].created;
        self.workloads[wl].created += 1;
        let w = &self.workloads[wl];
        let Some(rs) = w.rs.get(&rev) else {
            return;
        };
        let measured = (!w.measured.is_empty()).then(|| &w.measured[ordinal % w.measured.len()]);
        let ctrs: Vec<Ctr> = rs
            .template
            .iter()
            .map(|tc| new_ctr(tc, measured, w.warmup, &ranges, &mut self.rng))
            .collect();
        let (qos, request, nonzero) = pod_requests(&ctrs);
        let name = unused_pod_name(&self.names, &mut self.rng, &w.name, &rs.hash);
        self.names.insert(name.clone());
        self.pod_seq += 1;
        let created_ms = if replaces {
            cause
        } else {
            self.creation_ms(cause, self.pod_seq)
        };
        let w = &self.workloads[wl];
        let pod = Pod {
            name,
            wl,
            revision: rev,
            node: None,
            phase: PodPhase::Pending,
            ctrs,
            request,
            nonzero_request: nonzero,
            qos,
            priority: w.priority,
            ready_after: w.ready_after,
            seq: self.pod_seq,
            created_ms,
            next_try: t,
            unschedulable_reported: false,
            in_dynamic: false,
            last_leak_sample: 0,
            deleting: false,
            stats_next_ms: u64::MAX,
            stats_k: 0,
            replaces_evicted: replaces,
        };
        let (priority, seq) = (pod.priority, pod.seq);
        let p = self.pods.push(pod);
        self.pending.insert((-i64::from(priority), seq, p));
        self.workloads[wl].pods.push(p);
    }

    /// The Deployment and ReplicaSet controllers, until neither has anything left to do this
    /// second (the real ones react within milliseconds): the Deployment sets each ReplicaSet's
    /// replicas (rolling within maxSurge/maxUnavailable, see [`crate::sim::rollout`]), each
    /// ReplicaSet creates or deletes pods to match, replacing pods that were lost.
    /// <https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment>
    /// <https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/>
    pub(super) fn reconcile_workloads(&mut self) {
        for wl in self.workloads.ids() {
            if !self.workloads[wl].dirty {
                continue;
            }
            self.workloads[wl].dirty = false;
            // Scale up, then down, then up again into the room that made: at most a few rounds,
            // since new pods are not ready within the same second.
            for _ in 0..4 {
                let changed = self.deployment_sync(wl);
                self.replica_set_sync(wl);
                if !changed {
                    break;
                }
            }
            self.workloads[wl].observed = true;
            // Keep looking while a rollout is in progress: readiness changes move it on.
            let w = &self.workloads[wl];
            let rolling =
                w.rs.iter()
                    .any(|(&r, rs)| r != w.revision && rs.replicas > 0)
                    || w.pods.iter().any(|&p| self.pods[p].revision != w.revision);
            if rolling {
                self.workloads[wl].dirty = true;
            }
        }
    }

    /// Ready pods of revision `rev` (its ReplicaSet's available replicas).
    pub(super) fn available(&self, wl: WorkloadId, rev: u32) -> u32 {
        let t = self.clock;
        self.workloads[wl]
            .pods
            .iter()
            .filter(|&&p| self.pods[p].revision == rev && self.pod_ready(p, t))
            .count() as u32
    }

    /// The Deployment controller's rolling update: new ReplicaSet up within the surge, old ones
    /// down as availability allows. Returns whether any ReplicaSet's replicas changed.
    pub(super) fn deployment_sync(&mut self, wl: WorkloadId) -> bool {
        let (replicas, cur) = (self.workloads[wl].replicas, self.workloads[wl].revision);
        let olds: Vec<u32> = self.workloads[wl]
            .rs
            .iter()
            .filter(|(r, rs)| **r != cur && rs.replicas > 0)
            .map(|(r, _)| *r)
            .collect();
        let new = self.workloads[wl].rs.get(&cur).map_or(0, |rs| rs.replicas);
        if olds.is_empty() {
            // Nothing to roll: the Deployment's scale is the ReplicaSet's.
            if let Some(rs) = self.workloads[wl].rs.get_mut(&cur) {
                let changed = rs.replicas != replicas;
                rs.replicas = replicas;
                return changed;
            }
            return false;
        }
        let (surge, unavailable) = fenceposts(
            replicas,
            self.workloads[wl].max_surge,
            self.workloads[wl].max_unavailable,
        );
        let all: u32 = self.workloads[wl].rs.values().map(|rs| rs.replicas).sum();
        let up = new_rs_replicas(replicas, surge, new, all);
        if up != new {
            if let Some(rs) = self.workloads[wl].rs.get_mut(&cur) {
                rs.replicas = up;
            }
            return true;
        }
        let new_count = RsCount {
            replicas: new,
            available: self.available(wl, cur),
        };
        let counts: Vec<RsCount> = olds
            .iter()
            .map(|&r| RsCount {
                replicas: self.workloads[wl].rs[&r].replicas,
                available: self.available(wl, r),
            })
            .collect();
        let down = scale_down_old(replicas, unavailable, new_count, &counts);
        let mut changed = false;
        for (r, d) in olds.iter().zip(down) {
            if d > 0 {
                if let Some(rs) = self.workloads[wl].rs.get_mut(r) {
                    rs.replicas -= d;
                }
                changed = true;
            }
        }
        changed
    }

    /// Each ReplicaSet's controller: create the pods it lacks (replacing evicted or rejected
    /// ones), delete the ones it has too many of — unscheduled first, then not ready, then the
    /// newest (`getPodsToDelete`'s ranking). Empty old ReplicaSets are forgotten.
    pub(super) fn replica_set_sync(&mut self, wl: WorkloadId) {
        let t = self.clock;
        let evicted = self.workloads[wl].evicted_ms.take();
        let revisions: Vec<(u32, u32)> = self.workloads[wl]
            .rs
            .iter()
            .map(|(r, rs)| (*r, rs.replicas))
            .collect();
        for (rev, want) in revisions {
            let have: Vec<PodId> = self.workloads[wl]
                .pods
                .iter()
                .copied()
                .filter(|&p| self.pods[p].revision == rev)
                .collect();
            let want = want as usize;
            if have.len() < want {
                // What made the pods: the kubelet's evictions, whose replacements come when the
                // kill ends; a pod of the workload becoming Ready within the step (a rollout's
                // next step); else the step's own instant (a template change, a deletion).
                // Once per sync: the new pods are not Ready.
                let cause = evicted
                    .or_else(|| self.readied_this_step(wl))
                    .unwrap_or(t * 1000);
                for _ in have.len()..want {
                    self.create_pod(wl, rev, cause, evicted.is_some());
                }
            } else if have.len() > want {
                let mut v: Vec<(u8, Reverse<u64>, PodId)> = have
                    .iter()
                    .map(|&p| {
                        let rank = if self.pods[p].phase == PodPhase::Pending {
                            0
                        } else if !self.pod_ready(p, t) {
                            1
                        } else {
                            2
                        };
                        (rank, Reverse(self.pods[p].seq), p)
                    })
                    .collect();
                v.sort();
                for &(_, _, p) in v.iter().take(have.len() - want) {
                    self.remove_pod(p);
                }
            }
        }
        // Old ReplicaSets stay, scaled to 0, for a rollback to reuse (`revisionHistoryLimit`,
        // 10): beyond that the oldest empty ones go.
        let (cur, w) = (self.workloads[wl].revision, &self.workloads[wl]);
        let empty: Vec<u32> =
            w.rs.iter()
                .filter(|(r, rs)| {
                    **r != cur
                        && rs.replicas == 0
                        && !w.pods.iter().any(|&p| self.pods[p].revision == **r)
                })
                .map(|(r, _)| *r)
                .collect();
        let extra = empty.len().saturating_sub(REVISION_HISTORY);
        for r in empty.into_iter().take(extra) {
            self.workloads[wl].rs.remove(&r);
        }
    }

    /// Memory-based HorizontalPodAutoscalers: desired = ceil(current × utilisation / target),
    /// a 10% tolerance, and a 5-minute stabilisation window before scaling down.
    /// <https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details>
    pub(super) fn autoscale(&mut self) {
        let t = self.clock;
        for h in 0..self.hpas.len() {
            let hpa = self.hpas[h].clone();
            let Some(wl) = self
                .workloads
                .position(|w| w.name == hpa.target && w.namespace == hpa.namespace)
            else {
                continue;
            };
            let ready: Vec<PodId> = self.workloads[wl]
                .pods
                .iter()
                .copied()
                .filter(|&p| self.pod_ready(p, t) && self.pods[p].request > 0)
                .collect();
            if ready.is_empty() {
                continue;
            }
            let usage: u64 = ready.iter().map(|&p| self.pods[p].usage()).sum();
            let request: u64 = ready.iter().map(|&p| self.pods[p].request).sum();
            let ratio = usage as f64 / request as f64 / hpa.memory_utilization.fraction().max(0.01);
            let current = self.workloads[wl].replicas;
            let mut desired = current;
            if (ratio - 1.0).abs() > 0.1 {
                desired = (f64::from(current) * ratio).ceil() as u32;
            }
            desired = desired.clamp(hpa.min_replicas, hpa.max_replicas);
            let (since, high) = &mut self.hpa_state[h];
            if desired >= current {
                *since = t;
                *high = desired;
            } else if t.saturating_sub(*since) < 300 {
                // Within the stabilisation window: keep the highest recent recommendation.
                desired = current.max((*high).min(current));
            }
            if desired != current {
                self.workloads[wl].replicas = desired;
                self.workloads[wl].dirty = true;
            }
        }
    }

    /// The earliest instant in step `t` at which a replacement for an evicted pod comes to the
    /// scheduler ([`Pod::replaces_evicted`]), if one does: status posts before it reach the API
    /// first.
    pub(super) fn first_replacement_ms(&self, t: u64) -> Option<u64> {
        let step = World::in_step(t, 0)..t * 1000;
        self.pending
            .iter()
            .map(|&(_, _, p)| &self.pods[p])
            .filter(|p| p.replaces_evicted && p.next_try <= t && step.contains(&p.created_ms))
            .map(|p| p.created_ms)
            .min()
    }

    /// kube-scheduler: filter by taints, pod count and requests against allocatable; score by
    /// least-allocated requests and spreading; among the best, pick at random (seeded). Large
    /// clusters only look at a share of nodes (`percentageOfNodesToScore`, adaptive).
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/>
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/scheduler-perf-tuning/>
    pub(super) fn schedule(&mut self) {
        let t = self.clock;
        if self.pending.is_empty() {
            return;
        }
        let queue: Vec<PodId> = self
            .pending
            .iter()
            .map(|&(_, _, p)| p)
            .filter(|&p| {
                let pod = &self.pods[p];
                pod.next_try <= t && !(pod.replaces_evicted && pod.created_ms >= t * 1000)
            })
            .collect();
        if queue.is_empty() {
            return;
        }
        let node_count = self.nodes.len();
        let to_find = self.nodes_to_find();
        // Every node unreachable: no pod can go anywhere, no need to look at each node for each.
        if self.nodes.iter().all(|node| node.not_ready) {
            for p in queue {
                self.pods[p].next_try = t + SCHEDULING_RETRY;
                if !self.pods[p].unschedulable_reported {
                    self.pods[p].unschedulable_reported = true;
                    let pod = self.pods[p].name.clone();
                    self.emit(
                        t,
                        Happening::FailedScheduling {
                            pod,
                            insufficient_memory: false,
                            message: format!(
                                "0/{node_count} nodes are available: {node_count} node(s) had untolerated taint \
                                 {{node.kubernetes.io/unreachable: }}."
                            ),
                        },
                    );
                }
            }
            return;
        }
        for p in queue {
            self.schedule_pod(p, node_count, to_find);
        }
    }

    pub(super) fn nodes_to_find(&self) -> usize {
        let n = self.nodes.len();
        if n <= 100 {
            n
        } else {
            let pct = (50usize.saturating_sub(n / 125)).max(5);
            (n * pct / 100).max(100)
        }
    }

    /// Places a pending pod on the best node that takes it, or says why none would.
    pub(super) fn schedule_pod(&mut self, p: PodId, node_count: usize, to_find: usize) {
        let (best, reasons) = self.find_node(p, node_count, to_find);
        match best {
            Some(id) => self.bind(p, id),
            None => self.unschedulable(p, node_count, &reasons),
        }
    }

    /// The scheduler's pick for a pod: from where the last search stopped, the first `to_find`
    /// nodes that take it are scored; the best wins, ties broken at random (seeded). With it,
    /// how many nodes each reason ruled out (see [`UNFIT`]).
    pub(super) fn find_node(
        &mut self,
        p: PodId,
        node_count: usize,
        to_find: usize,
    ) -> (Option<NodeId>, [u32; 5]) {
        let (pod_req, pod_nz, wl) = {
            let pod = &self.pods[p];
            (pod.request, pod.nonzero_request, pod.wl)
        };
        // The hottest loop of a large cluster's construction (every initial pod looks at
        // hundreds of nodes): the fields it reads, borrowed once.
        let World {
            nodes,
            workloads,
            rng,
            settings,
            ..
        } = self;
        let counts = &workloads[wl].node_counts;
        let mut found = 0usize;
        let mut best: Option<(u64, NodeId)> = None;
        let mut ties = 0u64;
        let mut reasons = [0u32; 5];
        let start = self.next_start;
        let mut visited = 0;
        // From where the last search stopped, round the ring once.
        for i in (start..node_count).chain(0..start.min(node_count)) {
            let id = NodeId::from_index(i);
            visited += 1;
            let node = &nodes[id];
            if let Some(r) = unfit(node, settings, pod_req) {
                reasons[r] += 1;
                continue;
            }
            let score = node_score(node, pod_nz, counts[id]);
            match best {
                Some((b, _)) if score < b => {}
                Some((b, _)) if score == b => {
                    ties += 1;
                    if rng.below(ties + 1) == 0 {
                        best = Some((score, id));
                    }
                }
                _ => {
                    best = Some((score, id));
                    ties = 0;
                }
            }
            found += 1;
            if found >= to_find {
                break;
            }
        }
        self.next_start = (start + visited) % node_count.max(1);
        (best.map(|(_, id)| id), reasons)
    }

    /// No node took the pod: it waits for the next try, and the first time it says why, as
    /// kube-scheduler's FailedScheduling does.
    pub(super) fn unschedulable(&mut self, p: PodId, node_count: usize, reasons: &[u32; 5]) {
        let t = self.clock;
        self.pods[p].next_try = t + SCHEDULING_RETRY;
        if self.pods[p].unschedulable_reported {
            return;
        }
        self.pods[p].unschedulable_reported = true;
        let detail: Vec<String> = reasons
            .iter()
            .zip(UNFIT)
            .filter(|(c, _)| **c > 0)
            .map(|(c, l)| format!("{c} {l}"))
            .collect();
        let name = self.pods[p].name.clone();
        self.emit(
            t,
            Happening::FailedScheduling {
                pod: name,
                insufficient_memory: reasons[UNFIT_MEMORY] > 0,
                message: format!("0/{node_count} nodes are available: {}.", detail.join(", ")),
            },
        );
    }

    pub(super) fn bind(&mut self, p: PodId, n: NodeId) {
        let t = self.clock;
        let key = (-i64::from(self.pods[p].priority), self.pods[p].seq, p);
        self.pending.remove(&key);
        // The kubelet admits the pod: while its eviction manager sees MemoryPressure — before
        // the condition and taint reach the API, the scheduler keeps sending pods — it refuses
        // BestEffort ones, which end Failed without ever running; their ReplicaSet replaces
        // them. https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-conditions
        if self.nodes[n].kubelet_alive
            && self.nodes[n].pressure
            && !crate::sim::kubelet::admits_under_memory_pressure(self.pods[p].qos)
        {
            self.pods[p].node = Some(n);
            let pod = self.pod_ref(p);
            self.emit(
                t,
                Happening::AdmissionRejected {
                    pod,
                    message: "The node had condition: [MemoryPressure]. ".into(),
                },
            );
            self.pods[p].phase = PodPhase::Gone;
            let wl = self.pods[p].wl;
            self.workloads[wl].pods.retain(|&q| q != p);
            self.workloads[wl].dirty = true;
            return;
        }
        let cap = self.nodes[n].capacity;
        let wl = self.pods[p].wl;
        let start_ms = self.start_ms(p, n);
        {
            let pod = &mut self.pods[p];
            pod.node = Some(n);
            pod.phase = PodPhase::Bound;
            pod.stats_next_ms = start_ms;
            pod.stats_k = 0;
            let qos = pod.qos;
            // The kubelet starts a pod's containers one after another (`SyncPod`), the
            // injected sidecar last.
            for (i, c) in pod.ctrs.iter_mut().enumerate() {
                c.oom_adj = oom_score_adj(qos, c.mem.request, cap);
                c.state = CState::Waiting {
                    until_ms: start_ms + i as u64 * NEXT_CONTAINER_MS,
                };
                c.epoch += 1;
            }
        }
        let node = &mut self.nodes[n];
        node.pods.push(p);
        node.requested += self.pods[p].request;
        node.nonzero_requested += self.pods[p].nonzero_request;
        self.workloads[wl].node_counts[n] += 1;
        if self.nodes[n].kubelet_alive {
            for c in 0..self.pods[p].ctrs.len() {
                let epoch = self.pods[p].ctrs[c].epoch;
                self.timer(
                    (start_ms + c as u64 * NEXT_CONTAINER_MS).div_ceil(1000),
                    Timer::CtrStart {
                        pod: p,
                        ctr: c,
                        epoch,
                    },
                );
            }
        }
    }
}

/// How long after a container of a pod the next one starts: the runtime's create and start of
/// one more container. A leaker pod's sidecar (its second container) started 0.67–1.27 s,
/// 0.89 s on average, after the pod's creation on the bed; a one-container pod within 0.7 s
/// (see `from_kube::START_WITHOUT_PULL`).
const NEXT_CONTAINER_MS: u64 = 250;

/// From the end of an evicted pod's kill to its replacement's binding: the ReplicaSet
/// controller sees the pod's terminal status and creates one, the scheduler binds it. 30–123 ms,
/// median 53, over 102 evictions on the bed (`campaign-spill-random`: the kubelet's "pod is
/// evicted successfully" to the replacement's `PodScheduled`).
pub(super) const KILLED_TO_BOUND_MS: u64 = 53;

/// From the status post that clears a node's MemoryPressure to the binding of a pod that waited
/// for its taint to go: the node lifecycle controller removes the taint, the scheduler requeues
/// the pod on that node update and binds it. 9–10 ms on the bed (spill-06: condition 31.571,
/// taint gone 31.576, `Scheduled` 31.580); its container started 0.55 s later, Ready at the next
/// relist, 1.39 s after the post.
const UNTAINTED_TO_BOUND_MS: u64 = 10;

impl World {
    /// When pod `p`, bound on node `n` now, has its first container running: the node's
    /// container start after the pod's creation (or after now, for a pod that waited for room,
    /// or after the node's taint went, for one that waited for that), ±50 ms from pod to pod.
    fn start_ms(&self, p: PodId, n: NodeId) -> u64 {
        let pod = &self.pods[p];
        let from = (pod.created_ms)
            .max((self.clock * 1000).saturating_sub(999))
            .max(self.nodes[n].untainted_ms + UNTAINTED_TO_BOUND_MS);
        let jitter = self.rng.derive(pod.seq ^ 0x7374_6172) % 101;
        (from + self.nodes[n].start_ms + jitter).saturating_sub(50)
    }
}

/// Why `node` cannot take a pod requesting `pod_req` bytes, as an index into [`UNFIT`]; `None`
/// when it can.
fn unfit(node: &Node, s: &Settings, pod_req: u64) -> Option<usize> {
    if node.not_ready {
        return Some(UNFIT_NOT_READY);
    }
    // The node lifecycle controller taints a node whose API condition says MemoryPressure
    // (`node.kubernetes.io/memory-pressure:NoSchedule`), and the scheduler refuses every pod
    // that does not tolerate it — Burstable ones too, as the recordings show; only DaemonSet
    // pods get the toleration, and they are not modelled. The kubelet itself refuses BestEffort
    // pods earlier (see `bind`).
    // https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-nodes-by-condition
    if node.api_pressure {
        return Some(UNFIT_PRESSURE);
    }
    // A cordoned node takes no new pods.
    if node.cordoned {
        return Some(UNFIT_CORDONED);
    }
    if node.pods.len() as u32 + node.fixed_pods >= s.max_pods {
        return Some(UNFIT_PODS);
    }
    if node.requested + pod_req > node.allocatable {
        return Some(UNFIT_MEMORY);
    }
    None
}

/// A node's score for a pod: least-allocated requests, plus twice the spreading score (fewer of
/// the workload's pods there, `same`, is better).
fn node_score(node: &Node, pod_nz: u64, same: u16) -> u64 {
    let used = (node.nonzero_requested + pod_nz).min(node.allocatable);
    let least = (node.allocatable - used) * 100 / node.allocatable.max(1);
    let spread = 100 / (1 + u64::from(same));
    least + 2 * spread
}

/// A new container from its template, its memory as the namespace's LimitRanges admit it.
fn new_ctr(
    tc: &TplCtr,
    measured: Option<&BTreeMap<String, u64>>,
    warmup: u64,
    ranges: &[&LimitRangeModel],
    rng: &mut Rng,
) -> Ctr {
    // A measured pod's own figure, else the template's with its jitter.
    let working_set = match measured.and_then(|m| m.get(&tc.name)) {
        Some(&ws) => ws,
        None => {
            let jitter = if tc.jitter > 0.0 {
                1.0 + tc.jitter * rng.signed_unit()
            } else {
                1.0
            };
            (tc.working_set as f64 * jitter) as u64
        }
    };
    Ctr {
        name: tc.name.clone(),
        mem: admit(tc.mem, ranges),
        working_set,
        warmup: if tc.leaker { 0 } else { warmup },
        leak: tc.leak.clone(),
        leaker: tc.leaker,
        ephemeral: false,
        state: CState::Waiting { until_ms: u64::MAX },
        usage: 0,
        restarts: 0,
        backoff: Backoff::default(),
        last_ready: None,
        seen: 0,
        oom_adj: 0,
        epoch: 0,
    }
}

/// A pod's QoS class, its memory request, and the request the scheduler counts (a default for
/// containers without one).
fn pod_requests(ctrs: &[Ctr]) -> (QosClass, u64, u64) {
    let specs: Vec<MemorySpec> = ctrs.iter().map(|c| c.mem).collect();
    let qos = qos_class(&specs);
    let request: u64 = specs.iter().filter_map(|m| m.request).sum();
    let nonzero: u64 = specs
        .iter()
        .map(|m| m.request.unwrap_or(NONZERO_DEFAULT_REQUEST))
        .sum();
    (qos, request, nonzero)
}

/// A pod name `workload-hash-xxxxx` no pod has had yet in this run.
fn unused_pod_name(names: &BTreeSet<String>, rng: &mut Rng, workload: &str, hash: &str) -> String {
    loop {
        let n = format!("{workload}-{hash}-{}", token(rng.next_u64(), 5));
        if !names.contains(&n) {
            return n;
        }
    }
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
