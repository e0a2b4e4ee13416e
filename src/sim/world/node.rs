//! The node side of the simulated cluster: the kernel OOM killer (node-wide and in the pods'
//! cgroup), the kubelet starved without kube-reserved, NotReady and taint-based deletion, and the
//! kubelet's eviction manager with its node status posts.
//!
//! The eviction manager (pkg/kubelet/eviction/eviction_manager.go,
//! <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/>):
//! - it synchronizes every monitoring period (10 s) on its own phase, and — with
//!   `kernelMemcgNotification` on a cgroup v1 host — the moment the kernel reports a memory
//!   threshold crossed; on cgroup v2 the kernel has no such notification and the kubelet's
//!   notifier is a disabled one (`NewCgroupNotifier`, threshold_notifier_linux.go), so only the
//!   monitoring period finds a crossing there (`NodeGroup::memcg_notified`);
//! - its signals are `memory.available` (capacity − the node's working set) and, when node
//!   allocatable is enforced on the pods' cgroup, `allocatableMemory.available` (the pods'
//!   cgroup limit − the pods' working set) against the same hard threshold;
//! - a synchronize that finds a threshold met records it (MemoryPressure is on while the last
//!   such observation is younger than `evictionPressureTransitionPeriod`) and evicts at most one
//!   pod; after an eviction from its own loop it waits for the pod's cleanup (polled every
//!   second) and synchronizes again at once, which moves its 10-s phase;
//! - what it decides reaches the API only with the kubelet's next node status post
//!   (`nodeStatusUpdateFrequency`), and the memory-pressure taint with it.

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
            // The kernel's memory threshold notification wakes the eviction manager on a
            // crossing, not for as long as the node stays past it.
            if self.memcg_fires(n) {
                let ms = self.crossing_ms(n);
                self.synchronize(n, t, false, ms);
            }
            self.nodes[n].below = self.threshold_met(n);
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

    /// The hard threshold met, on either signal: `(threshold, available)`.
    pub(super) fn hard_met(&self, n: NodeId) -> Option<(u64, u64)> {
        let node = &self.nodes[n];
        let hard = self.s.eviction_hard;
        let avail = node.available(&self.s);
        if avail < hard {
            return Some((hard, avail));
        }
        // Hard memory thresholds apply to the pods' cgroup too when allocatable is enforced
        // (kubelet `addAllocatableThresholds`); soft ones do not.
        if self.s.allocatable_signal {
            let a = node.allocatable_available();
            if a < hard {
                return Some((hard, a));
            }
        }
        None
    }

    fn soft_met(&self, n: NodeId) -> bool {
        self.s
            .eviction_soft
            .is_some_and(|s| self.nodes[n].available(&self.s) < s)
    }

    pub(super) fn threshold_met(&self, n: NodeId) -> bool {
        self.hard_met(n).is_some() || self.soft_met(n)
    }

    pub(super) fn update_watch(&mut self, n: NodeId) {
        let node = &self.nodes[n];
        let threshold = self.s.eviction_hard.max(self.s.eviction_soft.unwrap_or(0));
        let near = node.available(&self.s) < threshold
            || (self.s.allocatable_signal && node.allocatable_available() < self.s.eviction_hard);
        let want = node.kubelet_alive && (node.pressure || near);
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
        // The node lifecycle controller marks the node NotReady once its last heartbeat (the
        // kubelet renews its Lease every 10 s) is older than the grace period, checking every
        // 5 s (`node-monitor-period`): 30–45 s after the kubelet died, not 40 s on the dot.
        // https://kubernetes.io/docs/concepts/architecture/nodes/#heartbeats
        let grace = (self.s.grace + self.rng.below(6)).saturating_sub(self.rng.below(10));
        self.timer(t + grace.max(1), Timer::NodeGrace { node: n, inc });
        // How long a starved node takes to let its kubelet run again depends on what thrashes
        // there: the model's figure is the typical time, each incident draws from half to one
        // and a half times it. A fixed delay would bring every node that died in one wave back in
        // the same second, to die together again.
        let d = self.s.kubelet_restart;
        let delay = d / 2 + self.rng.below(d + 1);
        self.timer(t + delay.max(1), Timer::KubeletRestart { node: n, inc });
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
        self.mark_dirty(n);
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
        // It posts the node's status again (its MemoryPressure, whatever it was)...
        self.schedule_status(n, t, None);
        // ...stops the pods deleted meanwhile...
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
            self.wls[wl].deleting.push(p);
            let cnt = &mut self.wls[wl].node_counts[n];
            *cnt = cnt.saturating_sub(1);
            self.wls[wl].dirty = true;
        }
    }

    /// The eviction manager's monitoring tick, on the nodes near a threshold (the others have
    /// nothing to find).
    pub(super) fn housekeeping(&mut self) {
        let t = self.t;
        let hk = self.s.housekeeping;
        let due: Vec<NodeId> = self
            .watched
            .iter()
            .copied()
            .filter(|&n| (t + self.nodes[n].hk_phase).is_multiple_of(hk))
            .collect();
        for n in due {
            if self.nodes[n].kubelet_alive {
                let ms = self.nodes[n].hk_ms;
                self.synchronize(n, t, true, ms);
            }
        }
    }

    /// One `synchronize` of the eviction manager: observe the signals, update MemoryPressure,
    /// evict at most one pod. `from_loop`: the monitoring loop (which then waits for the
    /// evicted pod's cleanup), not the memcg notification; `ms`: where in second `t`.
    pub(super) fn synchronize(&mut self, n: NodeId, t: u64, from_loop: bool, ms: u64) {
        let hard = self.hard_met(n);
        let soft = self.soft_met(n);
        if soft {
            self.nodes[n].soft_since.get_or_insert(t);
        } else {
            self.nodes[n].soft_since = None;
        }
        let soft_due = self.nodes[n]
            .soft_since
            .is_some_and(|s| t.saturating_sub(s) >= self.s.soft_grace);
        if hard.is_some() || soft {
            self.nodes[n].last_observed = Some(t);
        }
        // The condition holds while its last observation is younger than the transition period
        // (`nodeConditionsObservedSince`).
        let pressure = self.nodes[n]
            .last_observed
            .is_some_and(|lo| t - lo < self.s.transition.max(1));
        if pressure != self.nodes[n].pressure {
            self.nodes[n].pressure = pressure;
            self.schedule_status(n, t, Some(ms));
        }
        let act = match hard {
            Some(h) => Some(h),
            None if soft_due => self
                .s
                .eviction_soft
                .map(|s| (s, self.nodes[n].available(&self.s))),
            None => None,
        };
        if let Some((threshold, avail)) = act {
            let name = self.nodes[n].name.clone();
            self.emit(
                t,
                Event::NodeEvent {
                    node: name,
                    reason: "EvictionThresholdMet".into(),
                    message: "Attempting to reclaim memory".into(),
                },
            );
            if self.evict_one(n, t, threshold, avail) && from_loop {
                // `waitForPodsCleanup` polls every second, then the loop synchronizes again at
                // once and sleeps its period from there.
                let hk = self.s.housekeeping;
                self.nodes[n].hk_phase = (hk - (t + 1) % hk) % hk;
            }
        }
        self.update_watch(n);
    }

    /// This second's status posts that come before the node's synchronize go now; the others
    /// after the step's scheduling.
    pub(super) fn post_statuses_due(&mut self, t: u64) {
        for n in std::mem::take(&mut self.status_due) {
            match self.first_sync_ms(n, t) {
                Some(ms) if ms < self.nodes[n].status_ms => self.status_late.push(n),
                _ => self.post_node_status(n, t),
            }
        }
    }

    /// Whether the kernel's memory threshold notification wakes node `n`'s eviction manager now:
    /// a threshold met that was not at the last look (a crossing, not the staying past it).
    fn memcg_fires(&self, n: NodeId) -> bool {
        let node = &self.nodes[n];
        node.memcg && node.kubelet_alive && !node.below && self.threshold_met(n)
    }

    /// When in second `t` the eviction manager of node `n` will synchronize, if it does: at the
    /// memcg threshold crossing, or at its monitoring tick.
    fn first_sync_ms(&self, n: NodeId, t: u64) -> Option<u64> {
        let node = &self.nodes[n];
        if !node.kubelet_alive {
            return None;
        }
        if node.dirty && self.memcg_fires(n) {
            return Some(self.crossing_ms(n));
        }
        let tick = (t + node.hk_phase).is_multiple_of(self.s.housekeeping);
        (tick && node.watched).then_some(node.hk_ms)
    }

    /// Where in this step the pods' working set crossed the first threshold it met, in ms,
    /// taking its growth since the last step as linear.
    pub(super) fn crossing_ms(&self, n: NodeId) -> u64 {
        let node = &self.nodes[n];
        let s = &self.s;
        // The pods' usage at which each signal meets its threshold.
        let beside = node.system_mem + if node.kubelet_alive { s.kubelet_mem } else { 0 };
        let mut level = node
            .capacity
            .saturating_sub(s.eviction_hard.max(s.eviction_soft.unwrap_or(0)) + beside);
        if s.allocatable_signal {
            level = level.min(node.pods_limit.saturating_sub(s.eviction_hard));
        }
        let (before, now) = (node.usage_before, node.pod_usage);
        if now <= before || level < before {
            return 0;
        }
        ((level - before) as u128 * 1000 / (now - before) as u128).min(999) as u64
    }

    /// The kubelet's next node status post will carry the eviction manager's MemoryPressure:
    /// this second's, when its loop runs later in it than the change made at `ms`.
    pub(super) fn schedule_status(&mut self, n: NodeId, t: u64, ms: Option<u64>) {
        if self.nodes[n].status_pending {
            return;
        }
        self.nodes[n].status_pending = true;
        let node = &self.nodes[n];
        let ticks_now = (t + node.status_phase).is_multiple_of(self.s.status_every.max(1));
        if ticks_now && ms.is_some_and(|ms| ms < node.status_ms) {
            self.status_late.push(n);
            return;
        }
        let at = crate::sim::kubelet::next_tick(t, self.nodes[n].status_phase, self.s.status_every);
        self.timer(at, Timer::NodeStatus { node: n });
    }

    /// The kubelet posts the node's status: MemoryPressure (and with it the node lifecycle
    /// controller's taint) as the eviction manager sees it now.
    pub(super) fn post_node_status(&mut self, n: NodeId, t: u64) {
        self.nodes[n].status_pending = false;
        if !self.nodes[n].kubelet_alive || self.nodes[n].api_pressure == self.nodes[n].pressure {
            return;
        }
        let on = self.nodes[n].pressure;
        self.nodes[n].api_pressure = on;
        let node = self.nodes[n].name.clone();
        self.emit(
            t,
            Event::NodeCondition {
                node,
                condition: NodeConditionKind::MemoryPressure,
                status: on,
                reason: if on {
                    "KubeletHasInsufficientMemory".into()
                } else {
                    "KubeletHasSufficientMemory".into()
                },
            },
        );
        if !on {
            // The scheduler retries unschedulable pods when a node changes (the taint is gone).
            for &(_, _, p) in &self.pending {
                let pod = &mut self.pods[p];
                pod.next_try = pod.next_try.min(t);
            }
        }
    }

    /// Evicts the first pod of the kubelet's ranking; false when there was none.
    pub(super) fn evict_one(&mut self, n: NodeId, t: u64, threshold: u64, avail: u64) -> bool {
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
            return false;
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
        true
    }
}
