//! What the run watches: the target's status, its leakers' bytes and its budgets, reported
//! as observations when they change.

use super::*;

impl World {
    /// Makes workload `wl` the run's target, watching its budgets.
    pub fn set_target(&mut self, wl: WorkloadId) {
        let pdbs = self.budgets_of(wl);
        self.target = Some(TargetInfo { wl, pdbs });
    }

    /// The PDBs that select workload `wl`'s pods (an empty selector selects none here).
    pub fn budgets_of(&self, wl: WorkloadId) -> Vec<PdbId> {
        let w = &self.workloads[wl];
        (self.pdbs.ids())
            .filter(|&b| {
                let p = &self.pdbs[b];
                p.namespace == w.namespace
                    && !p.selector.is_empty()
                    && p.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
            })
            .collect()
    }

    /// The state the run begins in, as a real cluster's first lists give it (baseline
    /// observations): the target's status and budgets, and the conditions of the nodes hosting
    /// it that are not healthy (the simulator posts node conditions only when they change).
    pub fn report_baseline(&mut self) {
        let from = self.observations.len();
        self.report_status();
        let t = self.clock;
        let hosts = self
            .target
            .as_ref()
            .map(|target| self.hosts(target.wl))
            .unwrap_or_default();
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
                        Happening::NodeCondition {
                            node,
                            condition,
                            status,
                            reason,
                        },
                    );
                }
            }
        }
        for o in &mut self.observations[from..] {
            o.baseline = true;
        }
    }

    pub(super) fn report_status(&mut self) {
        let t = self.clock;
        let Some(target) = self.target.clone() else {
            return;
        };
        let wl = target.wl;
        // A pod that became Ready within the second is seen when it did (the kubelet's relist),
        // not at the second's end, and so is what the controllers did about it (an old pod
        // deleted). Looked up only when there is something to emit.
        let at = |w: &Self| w.readied_this_step(wl).unwrap_or(t * 1000);
        let sample = self.workload_sample(wl, t);
        let mut ms = None;
        if self.last_workload.as_ref() != Some(&sample) {
            self.last_workload = Some(sample.clone());
            let m = *ms.get_or_insert_with(|| at(self));
            self.emit_ms(m, sample);
        }
        let live = self.leaker_pods(wl);
        if self.last_leaker_pods != Some(live) {
            self.last_leaker_pods = Some(live);
            let m = *ms.get_or_insert_with(|| at(self));
            self.emit_ms(m, Happening::LeakerPods { live });
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
                    Happening::Budget {
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
            let pods = self.workloads[wl].pods.clone();
            for p in pods {
                self.sample_leak(p, t);
            }
        }
    }

    /// The target's Deployment status: `spec.replicas`, `readyReplicas`, `updatedReplicas` (pods
    /// of the current template), `replicas` (every pod not terminating), whether the controller
    /// has seen the latest template, and whether that template carries the leaker: a
    /// `Happening::Workload`.
    pub(super) fn workload_sample(&self, wl: WorkloadId, t: u64) -> Happening {
        let w = &self.workloads[wl];
        let ready = w.pods.iter().filter(|&&p| self.pod_ready(p, t)).count() as u32;
        let updated = w
            .pods
            .iter()
            .filter(|&&p| self.pods[p].revision == w.revision)
            .count() as u32;
        Happening::Workload {
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
    pub(super) fn leaker_pods(&self, wl: WorkloadId) -> u32 {
        let w = &self.workloads[wl];
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
    pub(super) fn sample_leak(&mut self, p: PodId, t: u64) {
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
            self.emit(t, Happening::LeakerBytes { pod, bytes });
        }
    }

    /// A PDB's status as the disruption controller computes it: expected pods from the
    /// controllers' scale, desiredHealthy from minAvailable or maxUnavailable (percentages round
    /// up), disruptionsAllowed = currentHealthy − desiredHealthy.
    /// <https://kubernetes.io/docs/tasks/run-application/configure-pdb/>
    pub fn budget_status(&self, b: PdbId, t: u64) -> (u32, u32, u32, u32) {
        let pdb = &self.pdbs[b];
        let matching: Vec<WorkloadId> = (self.workloads.ids())
            .filter(|&w| {
                self.workloads[w].namespace == pdb.namespace
                    && pdb
                        .selector
                        .iter()
                        .all(|(k, v)| self.workloads[w].labels.get(k) == Some(v))
            })
            .collect();
        let expected: u32 = matching.iter().map(|&w| self.workloads[w].replicas).sum();
        let healthy = matching
            .iter()
            .flat_map(|&w| self.workloads[w].pods.iter())
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
}
