//! The kubelet's eviction manager and its node status posts: MemoryPressure, the ranking, one
//! eviction per synchronize.
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

/// cAdvisor's container housekeeping interval as the kubelet sets it (10 s), before its jitter.
const HOUSEKEEPING_MS: u64 = 10_000;

impl World {
    /// The hard threshold met, on either signal: `(threshold, available)`.
    pub(super) fn hard_met(&self, n: NodeId) -> Option<(u64, u64)> {
        let node = &self.nodes[n];
        let hard = self.settings.eviction_hard;
        let avail = node.available(&self.settings);
        if avail < hard {
            return Some((hard, avail));
        }
        // Hard memory thresholds apply to the pods' cgroup too when allocatable is enforced
        // (kubelet `addAllocatableThresholds`); soft ones do not.
        if self.settings.allocatable_signal {
            let a = node.allocatable_available();
            if a < hard {
                return Some((hard, a));
            }
        }
        None
    }

    pub(super) fn soft_met(&self, n: NodeId) -> bool {
        self.settings
            .eviction_soft
            .is_some_and(|s| self.nodes[n].available(&self.settings) < s)
    }

    pub(super) fn threshold_met(&self, n: NodeId) -> bool {
        self.hard_met(n).is_some() || self.soft_met(n)
    }

    pub(super) fn update_watch(&mut self, n: NodeId) {
        let node = &self.nodes[n];
        let threshold = self
            .settings
            .eviction_hard
            .max(self.settings.eviction_soft.unwrap_or(0));
        let near = node.available(&self.settings) < threshold
            || (self.settings.allocatable_signal
                && node.allocatable_available() < self.settings.eviction_hard);
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

    /// The eviction manager's monitoring tick, on the nodes near a threshold (the others have
    /// nothing to find).
    pub(super) fn housekeeping(&mut self) {
        let t = self.clock;
        let hk = self.settings.housekeeping;
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
            .is_some_and(|s| t.saturating_sub(s) >= self.settings.soft_grace);
        // Instants, not seconds: the period runs from one synchronize's clock reading to
        // another's, each within its second (a memcg synchronize handled before a loop tick
        // earlier in the same second counts as now).
        let now_ms = World::in_step(t, ms);
        if hard.is_some() || soft {
            self.nodes[n].last_observed = Some(now_ms);
        }
        // The condition holds while its last observation is younger than the transition period
        // (`nodeConditionsObservedSince`).
        let pressure = self.nodes[n]
            .last_observed
            .is_some_and(|lo| now_ms.saturating_sub(lo) < self.settings.transition.max(1) * 1000);
        if pressure != self.nodes[n].pressure {
            self.nodes[n].pressure = pressure;
            self.schedule_status(n, t, Some(ms));
        }
        let act = match hard {
            Some(h) => Some(h),
            None if soft_due => self
                .settings
                .eviction_soft
                .map(|s| (s, self.nodes[n].available(&self.settings))),
            None => None,
        };
        if let Some((threshold, avail)) = act {
            let name = self.nodes[n].name.clone();
            self.emit_stamped(
                now_ms,
                Happening::NodeEvent {
                    node: name,
                    reason: "EvictionThresholdMet".into(),
                    message: "Attempting to reclaim memory".into(),
                },
            );
            if self.evict_one(n, now_ms, threshold, avail) && from_loop {
                // `waitForPodsCleanup` polls every second, then the loop synchronizes again at
                // once and sleeps its period from there.
                let hk = self.settings.housekeeping;
                self.nodes[n].hk_phase = (hk - (t + 1) % hk) % hk;
            }
        }
        self.update_watch(n);
    }

    /// This second's status posts that come before the node's synchronize go now; the others
    /// later in the step ([`World::step`]): those after its synchronize, and, in a second
    /// without one, those after an evicted pod's replacement reaches the scheduler.
    pub(super) fn post_statuses_due(&mut self, t: u64) {
        if self.status_due.is_empty() {
            return;
        }
        // Looked up once, and only for a node without a synchronize this second.
        let mut replacement: Option<Option<u64>> = None;
        for n in std::mem::take(&mut self.status_due) {
            let status_ms = self.nodes[n].status_ms;
            let late = match self.first_sync_ms(n, t) {
                Some(ms) => ms < status_ms,
                None => (*replacement.get_or_insert_with(|| self.first_replacement_ms(t)))
                    .is_some_and(|r| r < World::in_step(t, status_ms)),
            };
            if late {
                self.status_late.push(n);
            } else {
                self.post_node_status(n, t);
            }
        }
    }

    /// Whether the kernel's memory threshold notification wakes node `n`'s eviction manager now:
    /// a threshold met that was not at the last look (a crossing, not the staying past it).
    pub(super) fn memcg_fires(&self, n: NodeId) -> bool {
        let node = &self.nodes[n];
        node.memcg && node.kubelet_alive && !node.below && self.threshold_met(n)
    }

    /// When in second `t` the eviction manager of node `n` will synchronize, if it does: at the
    /// memcg threshold crossing, or at its monitoring tick.
    pub(super) fn first_sync_ms(&self, n: NodeId, t: u64) -> Option<u64> {
        let node = &self.nodes[n];
        if !node.kubelet_alive {
            return None;
        }
        if node.dirty && self.memcg_fires(n) {
            return Some(self.crossing_ms(n));
        }
        let tick = (t + node.hk_phase).is_multiple_of(self.settings.housekeeping);
        (tick && node.watched).then_some(node.hk_ms)
    }

    /// Where in this step the pods' working set crossed the first threshold it met, in ms,
    /// taking its growth since the last step as linear.
    pub(super) fn crossing_ms(&self, n: NodeId) -> u64 {
        let node = &self.nodes[n];
        let s = &self.settings;
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
        let ticks_now = (t + node.status_phase).is_multiple_of(self.settings.status_every.max(1));
        if ticks_now && ms.is_some_and(|ms| ms < node.status_ms) {
            self.status_late.push(n);
            return;
        }
        let at = crate::sim::kubelet::next_tick(
            t,
            self.nodes[n].status_phase,
            self.settings.status_every,
        );
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
        let at_ms = World::in_step(t, self.nodes[n].status_ms);
        self.emit_stamped(
            at_ms,
            Happening::NodeCondition {
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
            self.nodes[n].untainted_ms = at_ms;
            // The scheduler retries unschedulable pods when a node changes (the taint is gone).
            for &(_, _, p) in &self.pending {
                let pod = &mut self.pods[p];
                pod.next_try = pod.next_try.min(t);
            }
        }
    }

    /// cAdvisor's housekeeping of pod `p`'s cgroup up to instant `now_ms`: each records the
    /// containers' working set then. It comes when the cgroup does, then after
    /// `jitter(housekeepingInterval, 1.0)` each time, 10–20 s with the kubelet's 10 s
    /// (`nextHousekeepingInterval`, vendor/github.com/google/cadvisor/manager/container.go;
    /// `defaultHousekeepingInterval`, pkg/kubelet/cadvisor/cadvisor_linux.go; the dynamic
    /// doubling needs figures that did not change). The eviction manager asks for fresh figures
    /// of the node only (`summaryProvider.Get(ctx, true)` → `GetCgroupStats("/", true)`) and
    /// ranks pods by these cached ones: a leaker is ranked by what it held up to 20 s before,
    /// so the pod evicted first is not always the one holding the most (spill-06 evicted the
    /// second leaker, "using 638768Ki", 12.8 s of its leak, at 20.8 s).
    pub(super) fn housekeep_stats(&mut self, p: PodId, now_ms: u64) {
        let (pods, rng) = (&mut self.pods, &self.rng);
        let pod = &mut pods[p];
        while pod.stats_next_ms <= now_ms {
            let at = pod.stats_next_ms;
            for c in pod.ctrs.iter_mut() {
                c.seen = match c.state {
                    CState::Running { since_ms } if since_ms <= at => {
                        let u = c.usage_at_ms(at);
                        c.mem.limit.map_or(u, |l| u.min(l))
                    }
                    _ => 0,
                };
            }
            pod.stats_k += 1;
            let salt = pod.seq.rotate_left(20) ^ pod.stats_k ^ 0x6361_6476;
            pod.stats_next_ms = at + HOUSEKEEPING_MS + rng.derive(salt) % (HOUSEKEEPING_MS + 1);
        }
    }

    /// Evicts the first pod of the kubelet's ranking; false when there was none. `at_ms`: the
    /// instant of the synchronize that evicts.
    pub(super) fn evict_one(&mut self, n: NodeId, at_ms: u64, threshold: u64, avail: u64) -> bool {
        for i in 0..self.nodes[n].pods.len() {
            let p = self.nodes[n].pods[i];
            self.housekeep_stats(p, at_ms);
        }
        let mut cands: Vec<(EvictionCandidate, PodId)> = self.nodes[n]
            .pods
            .iter()
            .map(|&p| {
                let pod = &self.pods[p];
                (
                    EvictionCandidate {
                        usage: pod.ctrs.iter().map(|c| c.seen).sum(),
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
            .max_by_key(|c| c.seen)
            .map(|c| (c.name.clone(), c.seen, c.mem.request.unwrap_or(0)));
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
        // The kill blocks the eviction manager until the pod worker has killed the containers
        // and set the pod's terminal status: that instant is the `DisruptionTarget`'s, and the
        // ReplicaSet replaces the pod from it. The containers' memory goes at once: the kubelet
        // raises the grace period 0 to its 2-s minimum (`minimumGracePeriodInSeconds`), and a
        // leaker exits on the SIGTERM, well inside it (no recorded kill took 2 s).
        let draw = self.rng.derive(self.pods[p].seq ^ 0x6b69_6c6c) % 1001;
        let killed_ms = at_ms + kubelet::SYNC_TO_KILL_MS + kubelet::eviction_kill_ms(draw);
        let pod = self.pod_ref(p);
        self.kills.push((
            killed_ms,
            Happening::PodEvicted {
                pod,
                cause: DisruptionCause::TerminationByKubelet,
                message,
            },
        ));
        let wl = self.pods[p].wl;
        let replace = killed_ms + control::KILLED_TO_BOUND_MS;
        let w = &mut self.workloads[wl];
        w.evicted_ms = Some(w.evicted_ms.map_or(replace, |ms| ms.max(replace)));
        self.remove_pod(p);
        true
    }
}
