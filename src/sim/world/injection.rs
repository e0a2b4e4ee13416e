//! Injection: a new template for a workload (the sidecar, its revert) and ephemeral leakers.

use super::*;

impl World {
    pub fn find_workload(&self, namespace: &str, name: &str) -> Option<WorkloadId> {
        self.workloads
            .position(|w| w.namespace == namespace && w.name == name)
    }

    /// Rolls the workload to a new template (pods are replaced within maxSurge/maxUnavailable).
    /// A template an existing ReplicaSet already has (a rollback, the revert) reuses it, as the
    /// Deployment controller does by pod-template-hash. The controllers act at once: the change
    /// is accepted now, its rollout is observed afterwards.
    pub fn set_template(&mut self, wl: WorkloadId, template: Vec<TplCtr>) {
        let existing = self.workloads[wl]
            .rs
            .iter()
            .find(|(_, rs)| rs.template == template)
            .map(|(r, _)| *r);
        let revision = match existing {
            Some(r) => r,
            None => {
                let r = self.workloads[wl]
                    .rs
                    .keys()
                    .next_back()
                    .map_or(0, |r| r + 1);
                self.workloads[wl].revision = r;
                let hash = self.template_hash(wl);
                self.workloads[wl].rs.insert(
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
        let w = &mut self.workloads[wl];
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
        let t = self.clock;
        let ctr = Ctr {
            name: name.to_string(),
            mem: MemorySpec::default(),
            working_set: LEAKER_BASE,
            warmup: 0,
            leak: Some(leak),
            leaker: true,
            ephemeral: true,
            state: CState::Waiting { until_ms: t * 1000 },
            usage: 0,
            restarts: 0,
            backoff: Backoff::default(),
            last_ready: None,
            seen: 0,
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
        self.start_container(p, c, t * 1000);
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
    pub fn running_pods(&self, wl: WorkloadId) -> Vec<PodId> {
        self.workloads[wl]
            .pods
            .iter()
            .copied()
            .filter(|&p| self.pods[p].phase == PodPhase::Bound)
            .collect()
    }

    /// Total pods that are not gone (for descriptions).
    pub fn live_pods(&self) -> usize {
        self.workloads.iter().map(|w| w.pods.len()).sum()
    }
}
