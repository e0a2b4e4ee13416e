//! The node's memory: what its containers use (warming up, leaking), the kernel OOM killer
//! (at a container's limit, in the pods' cgroup, node-wide), the kubelet starved without
//! kube-reserved and brought back, NotReady after the grace period and taint-based deletion.
//! The kubelet's eviction manager, which acts before the kernel has to, is `eviction.rs`.

use super::*;

impl World {
    /// Container `c` of pod `p` starts at instant `at_ms`, within second `t`.
    pub(super) fn start_container(&mut self, p: PodId, c: usize, at_ms: u64) {
        let ctr = &mut self.pods[p].ctrs[c];
        ctr.state = CState::Running { since_ms: at_ms };
        ctr.last_ready = None;
        ctr.epoch += 1;
        if !self.pods[p].in_dynamic {
            self.pods[p].in_dynamic = true;
            self.dynamic.push(p);
        }
        // Every start of a leaker container, restarts included, as the real watch reports each
        // new `startedAt`.
        if self.pods[p].ctrs[c].leaker {
            let pod = self.pod_ref(p);
            self.emit_stamped(at_ms, Happening::LeakerStarted { pod });
        }
    }

    pub(super) fn set_usage(&mut self, p: PodId, c: usize, usage: u64) {
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
    pub(super) fn mark_dirty(&mut self, n: NodeId) {
        let node = &mut self.nodes[n];
        if !node.dirty {
            node.dirty = true;
            node.usage_before = node.pod_usage;
            self.dirty_nodes.push(n);
        }
    }

    /// Recomputes the memory of containers that are still changing; kills those that reached
    /// their limit during the step, in the order they reached it.
    pub(super) fn update_dynamic(&mut self) {
        let t = self.clock;
        let list = std::mem::take(&mut self.dynamic);
        let mut keep = Vec::with_capacity(list.len());
        let mut at_limit: Vec<(u64, PodId, usize)> = Vec::new();
        for p in list {
            if self.pods[p].phase == PodPhase::Gone {
                self.pods[p].in_dynamic = false;
                continue;
            }
            // What cAdvisor records of a changing pod must be taken when it does, before a
            // kill or a restart changes the container under it: each step catches up to the
            // step's start (the eviction manager, ranking within the step, catches up to its
            // own instant, and sees no housekeeping after it).
            if self.pods[p].stats_next_ms <= (t - 1) * 1000 {
                self.housekeep_stats(p, (t - 1) * 1000);
            }
            let mut still = false;
            for c in 0..self.pods[p].ctrs.len() {
                let ctr = &self.pods[p].ctrs[c];
                let CState::Running { since_ms } = ctr.state else {
                    continue;
                };
                // An ephemeral leaker exits by itself at its deadline (exit 0, `Completed`, and
                // never restarted); a sidecar one frees its memory and idles until reverted.
                if ctr.ephemeral && ctr.leak.as_ref().is_some_and(|l| t >= l.deadline) {
                    self.set_usage(p, c, 0);
                    let ctr = &mut self.pods[p].ctrs[c];
                    ctr.state = CState::Done;
                    ctr.epoch += 1;
                    continue;
                }
                // The cgroup limit: a container that reaches it is OOM-killed by the kernel.
                // https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#memory-limits
                let from = since_ms.max((t - 1) * 1000);
                if let Some(kill_ms) = ctr.mem.limit.and_then(|l| ctr.reaches(l, from, t * 1000)) {
                    at_limit.push((kill_ms, p, c));
                    still = true;
                    continue;
                }
                let u = ctr.usage_at(t);
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
        at_limit.sort_unstable();
        for (kill_ms, p, c) in at_limit {
            self.kill_at_limit(p, c, kill_ms);
        }
        // Containers started during this pass were pushed onto the (now empty) list.
        keep.append(&mut self.dynamic);
        self.dynamic = keep;
    }

    /// The kernel kills container `c` of pod `p`, which reached its limit at instant `kill_ms`
    /// of this step. On a node whose kubelet is woken by the kernel's memory threshold
    /// notification, the pods' working set just before the kill (the container at its limit,
    /// the others where they were then) may cross the eviction threshold: the eviction manager
    /// synchronizes at that crossing and sees the container still holding its memory, so it
    /// may evict its pod (the recordings' "OOM-killed and evicted" status) or another one.
    fn kill_at_limit(&mut self, p: PodId, c: usize, kill_ms: u64) {
        let t = self.clock;
        let ctr = &self.pods[p].ctrs[c];
        let (Some(limit), CState::Running { .. }) = (ctr.mem.limit, ctr.state) else {
            return;
        };
        if self.pods[p].phase != PodPhase::Bound {
            return;
        }
        let Some(n) = self.pods[p].node else {
            return;
        };
        if !(self.nodes[n].memcg && self.nodes[n].kubelet_alive) {
            self.set_usage(p, c, limit);
            self.oom_kill(p, c, kill_ms, false);
            return;
        }
        self.node_at(n, kill_ms);
        self.set_usage(p, c, limit);
        if self.memcg_fires(n) {
            self.synchronize(n, t, false, kill_ms % 1000);
        }
        self.nodes[n].below = self.threshold_met(n);
        if self.pods[p].phase == PodPhase::Gone {
            // Evicted at the crossing: the kernel's kill still comes, and the pod's last status
            // shows both; it is not restarted.
            let ctr = &self.pods[p].ctrs[c];
            let (container, leaker, restart_count) = (ctr.name.clone(), ctr.leaker, ctr.restarts);
            let pod = self.pod_ref(p);
            self.emit_stamped(
                kill_ms,
                Happening::OomKilled {
                    pod,
                    container,
                    leaker,
                    restart_count,
                },
            );
        } else {
            self.oom_kill(p, c, kill_ms, false);
        }
        // Back to the end of the step for everything else on the node.
        self.node_at(n, t * 1000);
    }

    /// Sets every running container on node `n` below its limit to its working set at `ms`.
    fn node_at(&mut self, n: NodeId, ms: u64) {
        for i in 0..self.nodes[n].pods.len() {
            let q = self.nodes[n].pods[i];
            for k in 0..self.pods[q].ctrs.len() {
                let ctr = &self.pods[q].ctrs[k];
                if !matches!(ctr.state, CState::Running { .. }) {
                    continue;
                }
                let u = ctr.usage_at_ms(ms);
                let u = ctr.mem.limit.map_or(u, |l| u.min(l));
                self.set_usage(q, k, u);
            }
        }
    }

    /// While container `c` of pod `p`, exiting at `at_ms`, still counts as ready: from when it
    /// was seen ready until the kubelet's relist sees the exit (the API lags the runtime).
    fn ready_until_seen(&self, p: PodId, c: usize, at_ms: u64) -> Option<(u64, u64)> {
        let CState::Running { since_ms } = self.pods[p].ctrs[c].state else {
            return None;
        };
        let relist = self.pods[p].node.map_or(0, |n| self.nodes[n].relist_ms);
        let from = self.ready_from(p, &self.pods[p].ctrs[c], since_ms);
        let until = crate::sim::kubelet::exit_seen(at_ms, relist);
        (from < until).then_some((from, until))
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
    pub(super) fn oom_kill(&mut self, p: PodId, c: usize, at_ms: u64, system: bool) {
        let t = at_ms.div_ceil(1000);
        self.set_usage(p, c, 0);
        let relist = self.pods[p].node.map_or(0, |n| self.nodes[n].relist_ms);
        self.pods[p].ctrs[c].last_ready = self.ready_until_seen(p, c, at_ms);
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
                let (at, b, waited) =
                    crate::sim::kubelet::restart_at(ctr.backoff, at_ms, relist, || {
                        crate::sim::kubelet::pod_worker_requeue(rng.below(5_001))
                    });
                backing_off = waited;
                ctr.backoff = b;
                ctr.state = CState::Waiting { until_ms: at };
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
                Happening::NodeEvent {
                    node,
                    reason: "SystemOOM".into(),
                    message: format!(
                        "System OOM encountered, victim process: {name} (pod {})",
                        pod.name
                    ),
                },
            );
        }
        self.emit_stamped(
            at_ms,
            Happening::OomKilled {
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
                    Happening::CrashLoopBackOff {
                        pod,
                        container: name,
                    },
                );
            }
            if let CState::Waiting { until_ms } = self.pods[p].ctrs[c].state {
                let epoch = self.pods[p].ctrs[c].epoch;
                self.timer(
                    until_ms.div_ceil(1000),
                    Timer::CtrStart {
                        pod: p,
                        ctr: c,
                        epoch,
                    },
                );
            }
        }
    }

    pub(super) fn check_nodes(&mut self) {
        let t = self.clock;
        let dirty = std::mem::take(&mut self.dirty_nodes);
        for &n in &dirty {
            self.nodes[n].dirty = false;
            // Whichever limit the pods reach first: with enough reserved, the pods' cgroup (the
            // kernel kills inside it, the node is fine); without, the node itself runs out before
            // the kubelet could act.
            // https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-out-of-memory-behavior
            if self.nodes[n].kubelet_unprotected(&self.settings) {
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

    /// The pods' cgroup is over its limit: the kernel OOM killer picks inside it, at the instant
    /// the pods reached the limit (a charge past it reclaims, then kills), among the containers
    /// as they were then. Later kills in the same step, if the first did not free enough, come
    /// at its end.
    pub(super) fn cgroup_oom(&mut self, n: NodeId, t: u64) {
        let limit = self.nodes[n].pods_limit;
        if self.nodes[n].pod_usage <= limit {
            return;
        }
        if let Some(at) = self.pods_reach_ms(n, limit).filter(|&at| at < t * 1000) {
            self.node_at(n, at);
            if let Some((p, c)) = self.oom_victim(n) {
                self.oom_kill(p, c, at, false);
            }
            self.node_at(n, t * 1000);
        }
        while self.nodes[n].pod_usage > limit {
            let Some((p, c)) = self.oom_victim(n) else {
                break;
            };
            self.oom_kill(p, c, t * 1000, false);
        }
    }

    /// The first instant of this step at which the pods on node `n` used `limit` bytes, if they
    /// do by its end: each running container's usage is known at any instant
    /// (`Ctr::usage_at_ms`, held to its own limit), the rest of the pods' usage stays as it is.
    fn pods_reach_ms(&self, n: NodeId, limit: u64) -> Option<u64> {
        let running = || {
            self.nodes[n]
                .pods
                .iter()
                .flat_map(|&q| self.pods[q].ctrs.iter())
                .filter(|c| matches!(c.state, CState::Running { .. }))
        };
        let fixed = self.nodes[n]
            .pod_usage
            .saturating_sub(running().map(|c| c.usage).sum());
        let end = self.clock * 1000;
        first_ms(end.saturating_sub(1000), end, |ms| {
            let usage: u64 = running()
                .map(|c| {
                    let u = c.usage_at_ms(ms);
                    c.mem.limit.map_or(u, |l| u.min(l))
                })
                .sum();
            fixed + usage >= limit
        })
    }

    /// The node is out of memory: the kubelet dies if nothing was reserved for it, and the
    /// kernel OOM killer picks among the containers (SystemOOM).
    pub(super) fn node_oom(&mut self, n: NodeId, t: u64) {
        if self.nodes[n].total(&self.settings) <= self.nodes[n].capacity {
            return;
        }
        if self.nodes[n].kubelet_alive && self.nodes[n].kubelet_unprotected(&self.settings) {
            self.kubelet_killed(n, t);
        }
        while self.nodes[n].total(&self.settings) > self.nodes[n].capacity {
            let Some((p, c)) = self.oom_victim(n) else {
                break;
            };
            self.oom_kill(p, c, t * 1000, true);
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
            Happening::NodeEvent {
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
        let grace = (self.settings.grace + self.rng.below(6)).saturating_sub(self.rng.below(10));
        self.timer(t + grace.max(1), Timer::NodeGrace { node: n, inc });
        // How long a starved node takes to let its kubelet run again depends on what thrashes
        // there: the model's figure is the typical time, each incident draws from half to one
        // and a half times it. A fixed delay would bring every node that died in one wave back in
        // the same second, to die together again.
        let d = self.settings.kubelet_restart;
        let delay = d / 2 + self.rng.below(d + 1);
        self.timer(t + delay.max(1), Timer::KubeletRestart { node: n, inc });
    }

    pub(super) fn try_kubelet_restart(&mut self, n: NodeId, t: u64) {
        // The restarted kubelet allocates what it needs; on a full node that allocation is
        // what wakes the kernel OOM killer, which frees room by killing containers (never the
        // kubelet: oom_score_adj -999).
        while self.nodes[n].available(&self.settings) < self.settings.kubelet_mem {
            let Some((p, c)) = self.oom_victim(n) else {
                // Nothing left to kill: systemd keeps trying.
                let inc = self.nodes[n].incarnation;
                self.timer(t + 10, Timer::KubeletRestart { node: n, inc });
                return;
            };
            self.oom_kill(p, c, t * 1000, true);
        }
        let node = &mut self.nodes[n];
        node.kubelet_alive = true;
        node.incarnation += 1;
        let was_not_ready = std::mem::replace(&mut node.not_ready, false);
        let name = node.name.clone();
        self.mark_dirty(n);
        self.emit(
            t,
            Happening::NodeEvent {
                node: name.clone(),
                reason: "Starting".into(),
                message: "Starting kubelet.".into(),
            },
        );
        if was_not_ready {
            self.emit(
                t,
                Happening::NodeCondition {
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
            self.remove_pod(p);
        }
        // ...and starts the containers that died or were waiting while it was away.
        for i in 0..self.nodes[n].pods.len() {
            let p = self.nodes[n].pods[i];
            for c in 0..self.pods[p].ctrs.len() {
                if let CState::Waiting { until_ms } = self.pods[p].ctrs[c].state {
                    let epoch = self.pods[p].ctrs[c].epoch;
                    self.timer(
                        until_ms.div_ceil(1000).max(t),
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
            Happening::NodeCondition {
                node: name.clone(),
                condition: NodeConditionKind::Ready,
                status: false,
                reason: "NodeStatusUnknown".into(),
            },
        );
        self.emit(
            t,
            Happening::NodeEvent {
                node: name,
                reason: "NodeNotReady".into(),
                message: "Kubelet stopped posting node status: kubelet OOM-killed".into(),
            },
        );
        self.timer(
            t + self.settings.toleration,
            Timer::TaintEvict { node: n, inc },
        );
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
                Happening::PodEvicted {
                    pod,
                    cause: DisruptionCause::DeletionByTaintManager,
                    message: "Taint manager: deleting due to NoExecute taint \
                              node.kubernetes.io/unreachable"
                        .into(),
                },
            );
            self.pods[p].deleting = true;
            let wl = self.pods[p].wl;
            self.workloads[wl].pods.retain(|&q| q != p);
            self.workloads[wl].deleting.push(p);
            let cnt = &mut self.workloads[wl].node_counts[n];
            *cnt = cnt.saturating_sub(1);
            self.workloads[wl].dirty = true;
        }
    }
}
