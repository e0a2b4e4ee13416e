//! The node side of the simulated cluster: the kernel OOM killer (node-wide and in the pods'
//! cgroup), the kubelet starved without kube-reserved, NotReady and taint-based deletion, and the
//! kubelet's eviction manager.

use super::*;

impl World {
    // ----- nodes -----------------------------------------------------------------------------

    pub(super) fn check_nodes(&mut self) {
        let t = self.t;
        let dirty = std::mem::take(&mut self.dirty_nodes);
        for &n in &dirty {
            self.nodes[n].dirty = false;
            // Whichever limit the pods reach first: with enough reserved, the pods' cgroup (the
            // kernel kills inside it, the node is fine); without, the node itself runs out before
            // the kubelet could act.
            // https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-out-of-memory-behavior
            if self.nodes[n].kubelet_unprotected(&self.s) {
                self.node_oom(n, t);
                self.cgroup_oom(n, t);
            } else {
                self.cgroup_oom(n, t);
                self.node_oom(n, t);
            }
            self.update_watch(n);
        }
        // Kills above may have dirtied nodes again; they are looked at next step.
    }

    /// The pods' cgroup is over its limit: the kernel OOM killer picks inside it.
    pub(super) fn cgroup_oom(&mut self, n: NodeId, t: u64) {
        while self.nodes[n].pod_usage > self.nodes[n].pods_limit {
            let Some((p, c)) = self.oom_victim(n) else {
                break;
            };
            self.oom_kill(p, c, t, false);
        }
    }

    /// The node is out of memory: the kubelet dies if nothing was reserved for it, and the
    /// kernel OOM killer picks among the containers (SystemOOM).
    pub(super) fn node_oom(&mut self, n: NodeId, t: u64) {
        if self.nodes[n].total(&self.s) <= self.nodes[n].capacity {
            return;
        }
        if self.nodes[n].kubelet_alive && self.nodes[n].kubelet_unprotected(&self.s) {
            self.kubelet_killed(n, t);
        }
        while self.nodes[n].total(&self.s) > self.nodes[n].capacity {
            let Some((p, c)) = self.oom_victim(n) else {
                break;
            };
            self.oom_kill(p, c, t, true);
        }
    }

    pub(super) fn update_watch(&mut self, n: NodeId) {
        let node = &self.nodes[n];
        let threshold = self.s.eviction_hard.max(self.s.eviction_soft.unwrap_or(0));
        let want = node.kubelet_alive && (node.pressure || node.available(&self.s) < threshold);
        if want != node.watched {
            self.nodes[n].watched = want;
            if want {
                self.watched.insert(n);
            } else {
                self.watched.remove(&n);
            }
        }
    }

    /// The container the kernel OOM killer picks on node `n`.
    pub(super) fn oom_victim(&self, n: NodeId) -> Option<(PodId, usize)> {
        let cap = self.nodes[n].capacity;
        // (badness, usage, lowest pod first) -> (pod, container)
        type Key = (i64, u64, Reverse<PodId>);
        let mut best: Option<(Key, (PodId, usize))> = None;
        for &p in &self.nodes[n].pods {
            for (c, ctr) in self.pods[p].ctrs.iter().enumerate() {
                if ctr.usage == 0 || !matches!(ctr.state, CState::Running { .. }) {
                    continue;
                }
                let key = (
                    oom_badness(ctr.usage, cap, ctr.oom_adj),
                    ctr.usage,
                    Reverse(p),
                );
                if best.as_ref().is_none_or(|(k, _)| key > *k) {
                    best = Some((key, (p, c)));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    pub(super) fn kubelet_killed(&mut self, n: NodeId, t: u64) {
        let node = &mut self.nodes[n];
        node.kubelet_alive = false;
        node.kubelet_down_since = t;
        node.incarnation += 1;
        let inc = node.incarnation;
        let name = node.name.clone();
        self.update_watch(n);
        self.emit(
            t,
            Event::NodeEvent {
                node: name,
                reason: "KubeletOOMKilled".into(),
                message: "kubelet OOM-killed: node memory exhausted and no kube-reserved headroom"
                    .into(),
            },
        );
        self.timer(t + self.s.grace, Timer::NodeGrace { node: n, inc });
        self.timer(
            t + self.s.kubelet_restart,
            Timer::KubeletRestart { node: n, inc },
        );
    }

    pub(super) fn try_kubelet_restart(&mut self, n: NodeId, t: u64) {
        // The restarted kubelet allocates what it needs; on a full node that allocation is
        // what wakes the kernel OOM killer, which frees room by killing containers (never the
        // kubelet: oom_score_adj -999).
        while self.nodes[n].available(&self.s) < self.s.kubelet_mem {
            let Some((p, c)) = self.oom_victim(n) else {
                // Nothing left to kill: systemd keeps trying.
                let inc = self.nodes[n].incarnation;
                self.timer(t + 10, Timer::KubeletRestart { node: n, inc });
                return;
            };
            self.oom_kill(p, c, t, true);
        }
        let node = &mut self.nodes[n];
        node.kubelet_alive = true;
        node.incarnation += 1;
        let was_not_ready = std::mem::replace(&mut node.not_ready, false);
        let name = node.name.clone();
        if !node.dirty {
            node.dirty = true;
            self.dirty_nodes.push(n);
        }
        self.emit(
            t,
            Event::NodeEvent {
                node: name.clone(),
                reason: "Starting".into(),
                message: "Starting kubelet.".into(),
            },
        );
        if was_not_ready {
            self.emit(
                t,
                Event::NodeCondition {
                    node: name,
                    condition: NodeConditionKind::Ready,
                    status: true,
                    reason: "KubeletReady".into(),
                },
            );
        }
        // The back kubelet stops the pods deleted meanwhile...
        let deleted: Vec<PodId> = self.nodes[n]
            .pods
            .iter()
            .copied()
            .filter(|&p| self.pods[p].deleting)
            .collect();
        for p in deleted {
            self.remove_pod(p, t, None);
        }
        // ...and starts the containers that died or were waiting while it was away.
        for i in 0..self.nodes[n].pods.len() {
            let p = self.nodes[n].pods[i];
            for c in 0..self.pods[p].ctrs.len() {
                if let CState::Waiting { until } = self.pods[p].ctrs[c].state {
                    let epoch = self.pods[p].ctrs[c].epoch;
                    self.timer(
                        until.max(t),
                        Timer::CtrStart {
                            pod: p,
                            ctr: c,
                            epoch,
                        },
                    );
                }
            }
        }
        self.update_watch(n);
    }

    /// The node lifecycle controller stops hearing from the kubelet: Ready becomes Unknown, the
    /// node is tainted unreachable (NoSchedule, NoExecute) and its pods marked not ready; they are
    /// deleted when the default toleration (300 s) runs out.
    /// <https://kubernetes.io/docs/concepts/architecture/nodes/#condition>
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions>
    pub(super) fn node_not_ready(&mut self, n: NodeId, t: u64) {
        self.nodes[n].not_ready = true;
        let name = self.nodes[n].name.clone();
        let inc = self.nodes[n].incarnation;
        self.emit(
            t,
            Event::NodeCondition {
                node: name.clone(),
                condition: NodeConditionKind::Ready,
                status: false,
                reason: "NodeStatusUnknown".into(),
            },
        );
        self.emit(
            t,
            Event::NodeEvent {
                node: name,
                reason: "NodeNotReady".into(),
                message: "Kubelet stopped posting node status: kubelet OOM-killed".into(),
            },
        );
        self.timer(t + self.s.toleration, Timer::TaintEvict { node: n, inc });
    }

    /// The taint manager deletes the pods of a node that stayed NotReady past the toleration.
    /// Their controllers replace them at once, but with the kubelet gone nobody stops their
    /// containers: they keep their memory on the node until its kubelet is back.
    pub(super) fn taint_evict(&mut self, n: NodeId, t: u64) {
        let pods = self.nodes[n].pods.clone();
        for p in pods {
            if self.pods[p].deleting {
                continue;
            }
            let pod = self.pod_ref(p);
            self.emit(
                t,
                Event::PodEvicted {
                    pod,
                    cause: DisruptionCause::DeletionByTaintManager,
                    message: "Taint manager: deleting due to NoExecute taint \
                              node.kubernetes.io/unreachable"
                        .into(),
                },
            );
            self.pods[p].deleting = true;
            let wl = self.pods[p].wl;
            self.wls[wl].pods.retain(|&q| q != p);
            let cnt = &mut self.wls[wl].node_counts[n];
            *cnt = cnt.saturating_sub(1);
            self.wls[wl].dirty = true;
        }
    }

    /// The kubelet's eviction manager, every housekeeping interval, on nodes near a threshold.
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/>
    pub(super) fn housekeeping(&mut self) {
        let t = self.t;
        let hk = self.s.housekeeping;
        let due: Vec<NodeId> = self
            .watched
            .iter()
            .copied()
            .filter(|&n| (t + self.nodes[n].phase).is_multiple_of(hk))
            .collect();
        for n in due {
            if !self.nodes[n].kubelet_alive {
                continue;
            }
            let avail = self.nodes[n].available(&self.s);
            let hard = avail < self.s.eviction_hard;
            let soft = self.s.eviction_soft.is_some_and(|s| avail < s);
            if soft {
                self.nodes[n].soft_since.get_or_insert(t);
            } else {
                self.nodes[n].soft_since = None;
            }
            let soft_due = self.nodes[n]
                .soft_since
                .is_some_and(|s| t.saturating_sub(s) >= self.s.soft_grace);
            let name = self.nodes[n].name.clone();
            if hard || soft {
                self.nodes[n].last_below = t;
                if !self.nodes[n].pressure {
                    self.nodes[n].pressure = true;
                    self.emit(
                        t,
                        Event::NodeCondition {
                            node: name.clone(),
                            condition: NodeConditionKind::MemoryPressure,
                            status: true,
                            reason: "KubeletHasInsufficientMemory".into(),
                        },
                    );
                    self.emit(
                        t,
                        Event::NodeEvent {
                            node: name.clone(),
                            reason: "EvictionThresholdMet".into(),
                            message: "Attempting to reclaim memory".into(),
                        },
                    );
                }
            } else if self.nodes[n].pressure
                && t.saturating_sub(self.nodes[n].last_below) >= self.s.transition
            {
                self.nodes[n].pressure = false;
                self.emit(
                    t,
                    Event::NodeCondition {
                        node: name.clone(),
                        condition: NodeConditionKind::MemoryPressure,
                        status: false,
                        reason: "KubeletHasSufficientMemory".into(),
                    },
                );
            }
            if hard || soft_due {
                let threshold = if hard {
                    self.s.eviction_hard
                } else {
                    self.s.eviction_soft.unwrap_or(self.s.eviction_hard)
                };
                // At most one pod per interval, then the signal is measured again.
                self.evict_one(n, t, threshold, avail);
            }
            self.update_watch(n);
        }
    }

    pub(super) fn evict_one(&mut self, n: NodeId, t: u64, threshold: u64, avail: u64) {
        let mut cands: Vec<(EvictionCandidate, PodId)> = self.nodes[n]
            .pods
            .iter()
            .map(|&p| {
                let pod = &self.pods[p];
                (
                    EvictionCandidate {
                        usage: pod.usage(),
                        request: pod.request,
                        priority: pod.priority,
                        order: pod.seq,
                    },
                    p,
                )
            })
            .collect();
        cands.sort_by(|a, b| eviction_order(&a.0, &b.0));
        let Some(&(_, p)) = cands.first() else {
            return;
        };
        let biggest = self.pods[p]
            .ctrs
            .iter()
            .max_by_key(|c| c.usage)
            .map(|c| (c.name.clone(), c.usage, c.mem.request.unwrap_or(0)));
        let mut message = format!(
            "The node was low on resource: memory. Threshold quantity: {}, available: {}.",
            human_bytes(threshold),
            human_bytes(avail)
        );
        if let Some((name, usage, req)) = biggest {
            message.push_str(&format!(
                " Container {name} was using {}, request is {}, has larger consumption of memory.",
                human_bytes(usage),
                human_bytes(req)
            ));
        }
        self.remove_pod(p, t, Some((DisruptionCause::TerminationByKubelet, message)));
    }
}
