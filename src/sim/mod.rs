//! The built-in cluster simulator: the engine's [`crate::engine::Cluster`] seam over a model of a
//! Kubernetes cluster under memory pressure, with a virtual clock. The same engine, scorer and
//! reports run on it as on a real cluster; every output says it was simulated.
//!
//! What it models, each from the Kubernetes documentation (cited where it is implemented):
//! node allocatable and reservations, the kubelet's memory eviction (thresholds, monitoring
//! interval, ranking, MemoryPressure and its taint), container OOM kills at the cgroup limit and
//! CrashLoopBackOff, the kernel OOM killer by QoS-derived `oom_score_adj`, a kubelet starved by
//! pods when nothing is reserved for it, NotReady after the node-monitor grace period and
//! taint-based deletion after the not-ready toleration, ReplicaSet replacement and rolling
//! updates, the scheduler's requests-based placement, PDB status and memory HPAs. CPU, disk,
//! networking, preemption and graceful termination are not modelled.

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

use crate::engine::{self, Cluster as _, ExperimentRef, RunOptions, RunRecord, StopSignal};

/// Runs one experiment on a fresh simulated cluster built from `model` with `seed`, through the
/// same driver as a real run; the run id is derived from the seed, so the record is
/// reproducible.
pub async fn run_experiment(
    model: &ClusterModel,
    exp: &ExperimentRef,
    seed: u64,
) -> crate::Result<RunRecord> {
    let mut cluster = SimCluster::new(model, seed)?;
    let opts = RunOptions::new(engine::run_id(&exp.name, cluster.now(), seed));
    engine::run(
        &mut cluster,
        &mut engine::NoProbes,
        exp,
        &opts,
        &mut StopSignal::never(),
        &mut |_| {},
    )
    .await
}
