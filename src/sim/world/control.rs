//! The control plane of the simulated cluster: pods coming and going, the ReplicaSet and
//! Deployment controllers, memory HPAs and the scheduler.

use super::*;

impl World {
    // ----- pods and controllers --------------------------------------------------------------

    /// Takes a pod off its node and out of its workload; `why` is reported when it was a
    /// disruption (kubelet eviction, taint manager), not for a rollout's routine deletions.
    pub(super) fn remove_pod(&mut self, p: PodId, t: u64, why: Option<(DisruptionCause, String)>) {
        if self.pods[p].phase == PodPhase::Gone {
            return;
        }
        if let Some((cause, message)) = why {
            let pod = self.pod_ref(p);
            self.emit(
                t,
                Event::PodEvicted {
                    pod,
                    cause,
                    message,
                },
            );
        }
        for c in 0..self.pods[p].ctrs.len() {
            self.set_usage(p, c, 0);
            self.pods[p].ctrs[c].state = CState::Done;
        }
        let wl = self.pods[p].wl;
        if let Some(n) = self.pods[p].node {
            let pod = &self.pods[p];
            let node = &mut self.nodes[n];
            node.pods.retain(|&q| q != p);
            node.requested -= pod.request;
            node.nonzero_requested -= pod.nonzero_request;
            if !pod.deleting {
                let cnt = &mut self.wls[wl].node_counts[n];
                *cnt = cnt.saturating_sub(1);
            }
        }
        if self.pods[p].phase == PodPhase::Pending {
            let key = (-i64::from(self.pods[p].priority), self.pods[p].seq, p);
            self.pending.remove(&key);
        }
        self.pods[p].phase = PodPhase::Gone;
        self.wls[wl].pods.retain(|&q| q != p);
        self.wls[wl].dirty = true;
    }

    pub fn pod_ready(&self, p: PodId, t: u64) -> bool {
        let pod = &self.pods[p];
        if pod.phase != PodPhase::Bound
            || pod.deleting
            || pod.node.is_none_or(|n| self.nodes[n].not_ready)
        {
            return false;
        }
        pod.ctrs
            .iter()
            .filter(|c| !c.ephemeral)
            .all(|c| match c.state {
                // A container without a readiness probe (the leaker) is ready once running.
                // https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes
                CState::Running { since } => c.leaker || t >= since + pod.ready_after,
                _ => false,
            })
    }

    pub(super) fn create_pod(&mut self, wl: WlId) {
        let t = self.t;
        let ns = self.wls[wl].namespace.clone();
        let ranges: Vec<&LimitRangeModel> = self
            .limit_ranges
            .iter()
            .filter(|l| l.namespace == ns)
            .collect();
        let mut ctrs = Vec::new();
        let w = &self.wls[wl];
        for tc in &w.template {
            let jitter = if tc.jitter > 0.0 {
                1.0 + tc.jitter * self.rng.signed_unit()
            } else {
                1.0
            };
            let mem = admit(tc.mem, &ranges);
            ctrs.push(Ctr {
                name: tc.name.clone(),
                mem,
                working_set: (tc.working_set as f64 * jitter) as u64,
                warmup: if tc.leaker { 0 } else { w.warmup },
                leak: tc.leak.clone(),
                leaker: tc.leaker,
                ephemeral: false,
                state: CState::Waiting { until: u64::MAX },
                usage: 0,
                restarts: 0,
                backoff: 0,
                oom_adj: 0,
                epoch: 0,
            });
        }
        let specs: Vec<MemorySpec> = ctrs.iter().map(|c| c.mem).collect();
        let qos = qos_class(&specs);
        let request: u64 = specs.iter().filter_map(|m| m.request).sum();
        let nonzero: u64 = specs
            .iter()
            .map(|m| m.request.unwrap_or(NONZERO_DEFAULT_REQUEST))
            .sum();
        let name = loop {
            let n = format!("{}-{}-{}", w.name, w.hash, token(self.rng.next_u64(), 5));
            if !self.names.contains(&n) {
                break n;
            }
        };
        self.names.insert(name.clone());
        self.pod_seq += 1;
        let pod = Pod {
            name,
            wl,
            revision: w.revision,
            node: None,
            phase: PodPhase::Pending,
            ctrs,
            request,
            nonzero_request: nonzero,
            qos,
            priority: w.priority,
            ready_after: w.ready_after,
            seq: self.pod_seq,
            next_try: t,
            unschedulable_reported: false,
            leaker_reported: false,
            in_dynamic: false,
            last_leak_sample: 0,
            deleting: false,
        };
        let p = self.pods.len();
        self.pending.insert((-i64::from(pod.priority), pod.seq, p));
        self.pods.push(pod);
        self.wls[wl].pods.push(p);
    }

    /// The ReplicaSet and Deployment controllers: replace lost pods, roll to a new template
    /// within maxSurge/maxUnavailable.
    /// <https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment>
    pub(super) fn reconcile_workloads(&mut self) {
        let t = self.t;
        for wl in 0..self.wls.len() {
            if !self.wls[wl].dirty {
                continue;
            }
            self.wls[wl].dirty = false;
            let revision = self.wls[wl].revision;
            let replicas = self.wls[wl].replicas as usize;
            let pods = self.wls[wl].pods.clone();
            let (new, old): (Vec<PodId>, Vec<PodId>) = pods
                .iter()
                .partition(|&&p| self.pods[p].revision == revision);
            if old.is_empty() {
                if new.len() < replicas {
                    for _ in new.len()..replicas {
                        self.create_pod(wl);
                    }
                } else if new.len() > replicas {
                    // Scale down: unscheduled first, then not ready, then the newest.
                    let mut v: Vec<(u8, Reverse<u64>, PodId)> = new
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
                    for &(_, _, p) in v.iter().take(new.len() - replicas) {
                        self.remove_pod(p, t, None);
                    }
                }
                continue;
            }
            // Rolling update. maxSurge rounds up, maxUnavailable down; both zero means one.
            let surge = self.wls[wl].max_surge.of(replicas as u32) as usize;
            let mut unavailable = match self.wls[wl].max_unavailable {
                CountOrPercent::Count(n) => n as usize,
                CountOrPercent::Percent(p) => replicas * usize::from(p.get()) / 100,
            };
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total = new.len() + old.len();
            let room = (replicas + surge).saturating_sub(total);
            for _ in 0..room.min(replicas.saturating_sub(new.len())) {
                self.create_pod(wl);
            }
            let min_available = replicas.saturating_sub(unavailable);
            // Count the pods just created too: they are new and not available yet.
            let new_unavailable = self.wls[wl]
                .pods
                .iter()
                .filter(|&&p| self.pods[p].revision == revision && !self.pod_ready(p, t))
                .count();
            let all = self.wls[wl].pods.len();
            let mut can_remove = all.saturating_sub(min_available + new_unavailable);
            let mut old_sorted: Vec<(bool, u64, PodId)> = old
                .iter()
                .map(|&p| (self.pod_ready(p, t), self.pods[p].seq, p))
                .collect();
            old_sorted.sort();
            for (ready, _, p) in old_sorted {
                if ready && can_remove == 0 {
                    break;
                }
                // Old pods that are not ready go first and always may (they are not available).
                if ready {
                    can_remove -= 1;
                }
                self.remove_pod(p, t, None);
            }
            // Keep reconciling while the rollout is in progress.
            self.wls[wl].dirty = true;
        }
    }

    /// Memory-based HorizontalPodAutoscalers: desired = ceil(current × utilisation / target),
    /// a 10% tolerance, and a 5-minute stabilisation window before scaling down.
    /// <https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details>
    pub(super) fn autoscale(&mut self) {
        let t = self.t;
        for h in 0..self.hpas.len() {
            let hpa = self.hpas[h].clone();
            let Some(wl) = self
                .wls
                .iter()
                .position(|w| w.name == hpa.target && w.namespace == hpa.namespace)
            else {
                continue;
            };
            let ready: Vec<PodId> = self.wls[wl]
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
            let current = self.wls[wl].replicas;
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
                self.wls[wl].replicas = desired;
                self.wls[wl].dirty = true;
            }
        }
    }

    /// kube-scheduler: filter by taints, pod count and requests against allocatable; score by
    /// least-allocated requests and spreading; among the best, pick at random (seeded). Large
    /// clusters only look at a share of nodes (`percentageOfNodesToScore`, adaptive).
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/>
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/scheduler-perf-tuning/>
    pub(super) fn schedule(&mut self) {
        let t = self.t;
        if self.pending.is_empty() {
            return;
        }
        let queue: Vec<PodId> = self
            .pending
            .iter()
            .map(|&(_, _, p)| p)
            .filter(|&p| self.pods[p].next_try <= t)
            .collect();
        if queue.is_empty() {
            return;
        }
        let n = self.nodes.len();
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
                        Event::FailedScheduling {
                            pod,
                            insufficient_memory: false,
                            message: format!(
                                "0/{n} nodes are available: {n} node(s) had untolerated taint \
                                 {{node.kubernetes.io/unreachable: }}."
                            ),
                        },
                    );
                }
            }
            return;
        }
        for p in queue {
            self.schedule_pod(p, n, to_find);
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

    pub(super) fn schedule_pod(&mut self, p: PodId, n: usize, to_find: usize) {
        let t = self.t;
        {
            let (pod_req, pod_nz, best_effort, wl) = {
                let pod = &self.pods[p];
                (
                    pod.request,
                    pod.nonzero_request,
                    pod.qos == QosClass::BestEffort,
                    pod.wl,
                )
            };
            let mut found = 0usize;
            let mut best: Option<(u64, NodeId)> = None;
            let mut ties = 0u64;
            let mut reasons = [0u32; 4];
            let start = self.next_start;
            let mut visited = 0;
            for i in 0..n {
                let id = (start + i) % n;
                visited += 1;
                let node = &self.nodes[id];
                if node.not_ready {
                    reasons[0] += 1;
                    continue;
                }
                // The memory-pressure taint is tolerated by every pod but BestEffort ones.
                // https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-nodes-by-condition
                if node.pressure && best_effort {
                    reasons[1] += 1;
                    continue;
                }
                if node.pods.len() as u32 >= self.s.max_pods {
                    reasons[2] += 1;
                    continue;
                }
                if node.requested + pod_req > node.allocatable {
                    reasons[3] += 1;
                    continue;
                }
                let used = (node.nonzero_requested + pod_nz).min(node.allocatable);
                let least = (node.allocatable - used) * 100 / node.allocatable.max(1);
                let same = u64::from(self.wls[wl].node_counts[id]);
                let spread = 100 / (1 + same);
                let score = least + 2 * spread;
                match best {
                    Some((b, _)) if score < b => {}
                    Some((b, _)) if score == b => {
                        ties += 1;
                        if self.rng.below(ties + 1) == 0 {
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
            self.next_start = (start + visited) % n.max(1);
            match best {
                Some((_, id)) => self.bind(p, id),
                None => {
                    self.pods[p].next_try = t + SCHEDULING_RETRY;
                    if !self.pods[p].unschedulable_reported {
                        self.pods[p].unschedulable_reported = true;
                        let labels = [
                            "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
                            "node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }",
                            "Too many pods",
                            "Insufficient memory",
                        ];
                        let detail: Vec<String> = reasons
                            .iter()
                            .zip(labels)
                            .filter(|(c, _)| **c > 0)
                            .map(|(c, l)| format!("{c} {l}"))
                            .collect();
                        let name = self.pods[p].name.clone();
                        self.emit(
                            t,
                            Event::FailedScheduling {
                                pod: name,
                                insufficient_memory: reasons[3] > 0,
                                message: format!(
                                    "0/{n} nodes are available: {}.",
                                    detail.join(", ")
                                ),
                            },
                        );
                    }
                }
            }
        }
    }

    pub(super) fn bind(&mut self, p: PodId, n: NodeId) {
        let t = self.t;
        let key = (-i64::from(self.pods[p].priority), self.pods[p].seq, p);
        self.pending.remove(&key);
        let cap = self.nodes[n].capacity;
        let wl = self.pods[p].wl;
        {
            let pod = &mut self.pods[p];
            pod.node = Some(n);
            pod.phase = PodPhase::Bound;
            let qos = pod.qos;
            for c in &mut pod.ctrs {
                c.oom_adj = oom_score_adj(qos, c.mem.request, cap);
                c.state = CState::Waiting {
                    until: t + self.s.container_start,
                };
                c.epoch += 1;
            }
        }
        let node = &mut self.nodes[n];
        node.pods.push(p);
        node.requested += self.pods[p].request;
        node.nonzero_requested += self.pods[p].nonzero_request;
        self.wls[wl].node_counts[n] += 1;
        if self.nodes[n].kubelet_alive {
            for c in 0..self.pods[p].ctrs.len() {
                let epoch = self.pods[p].ctrs[c].epoch;
                self.timer(
                    t + self.s.container_start,
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
