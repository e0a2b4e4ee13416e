//! The built-in cluster simulator: the engine's [`crate::engine::Cluster`] seam over a model of a
//! Kubernetes cluster under memory pressure, with a virtual clock. The same engine, scorer and
//! reports run on it as on a real cluster; every output says it was simulated.
//!
//! What it models, each from the Kubernetes documentation or the kubelet's and controllers'
//! source (cited where it is implemented):
//! - node allocatable and reservations, and a model of a real node derived from its API objects
//!   ([`model::from_kube`]);
//! - the kubelet's eviction manager (`world/eviction.rs`): its 10 s monitoring tick and
//!   `kernelMemcgNotification`, `memory.available` and `allocatableMemory.available`, one
//!   eviction per synchronize and the wait for the pod's cleanup, the ranking, MemoryPressure
//!   with `evictionPressureTransitionPeriod`, posted to the API (with its NoSchedule taint)
//!   only with the next node status update, admission rejections meanwhile;
//! - container OOM kills at the cgroup limit and the kubelet's restart back-off
//!   (`kubelet`), the kernel OOM killer by QoS-derived `oom_score_adj`, a kubelet starved by
//!   pods when nothing is reserved for it, NotReady after the node-monitor grace period and
//!   taint-based deletion after the not-ready toleration;
//! - the ReplicaSet and Deployment controllers' rolling updates (`rollout`), the scheduler's
//!   requests-based placement and taints, PDB status and memory HPAs.
//!
//! Each kubelet loop runs on its own seeded phase per node, so runs with different seeds differ
//! as real runs do; `tests/sim_calibration.rs` compares the simulation of real recorded runs
//! with what the real kubelet did. CPU, disk, networking, preemption, graceful termination and
//! an API server that stops answering are not modelled.

mod cluster;
mod kubelet;
pub mod manifests;
pub mod model;
mod rng;
mod rollout;
mod world;

pub use cluster::SimCluster;
pub use model::ClusterModel;

#[cfg(test)]
mod tests;

use crate::engine::{self, Cluster as _, ExperimentRef, RunOptions, RunRecord};
use crate::spec::LeakExperimentSpec;

/// What of `spec` the simulator cannot model, one sentence each: it has no endpoints to probe
/// and no Prometheus to ask. Its steady-state gate judges the target's conditions (rollout,
/// ready replicas, budgets, nodes) alone; query abort rules never fire.
pub fn unmodelled(spec: &LeakExperimentSpec) -> Vec<String> {
    let mut out = Vec::new();
    let names = |probes: &[crate::spec::Probe]| {
        probes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(gate) = spec.steady_state.as_ref().filter(|g| !g.probes.is_empty()) {
        out.push(format!(
            "steadyState.probes ({}) are not modelled: the simulator has no endpoints to \
             reach; its steady-state gate judges the target's conditions alone",
            names(&gate.probes)
        ));
    }
    if let Some(a) = &spec.abort {
        if !a.alerts.is_empty() {
            out.push(format!(
                "abort.alerts ({}) are not modelled: the simulator has no Prometheus, so they \
                 never fire",
                a.alerts.join(", ")
            ));
        }
        if let Some(q) = &a.promql {
            out.push(format!(
                "abort.promql (`{}`) is not modelled: the simulator has no Prometheus, so it \
                 never fires",
                q.query
            ));
        }
    }
    out
}

/// Runs one experiment on a fresh simulated cluster built from `model` with `seed`, through the
/// same driver as a real run; the run id is derived from the seed, so the record is
/// reproducible.
pub async fn run_experiment(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seed: u64,
) -> crate::Result<RunRecord> {
    run_on(&mut SimCluster::new(model, seed)?, exp, seed).await
}

/// [`run_experiment`] on a cluster already built (with `seed`), for a caller that looks at it
/// first (its description, a model past the edge).
pub async fn run_on(
    cluster: &mut SimCluster,
    exp: &ExperimentRef,
    seed: u64,
) -> crate::Result<RunRecord> {
    let opts = RunOptions::new(engine::run_id(&exp.name, cluster.now(), seed));
    engine::run_unattended(cluster, exp, &opts).await
}
