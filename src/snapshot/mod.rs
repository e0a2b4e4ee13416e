//! `oomsday snapshot`: a [`ClusterModel`] of a live cluster, the same model the manifests path
//! builds ([`crate::sim::manifests`]) but from live objects, with each node as its kubelet runs
//! it and each pod's measured working set — what a team does not know by heart and the cluster
//! does.
//!
//! - **Nodes**: capacity, allocatable, labels, taints, conditions, the kubelet's eviction
//!   settings from its `configz` and the host's cgroup version from its `/metrics`
//!   ([`crate::sim::model::from_kube`]) when the caller may get `nodes/proxy` (asked with a
//!   SelfSubjectAccessReview); else Kubernetes' defaults and an unknown version, with a note in
//!   the model.
//! - **Pods**: requests, limits, QoS, priority, node, and each container's working set from the
//!   kubelet's Summary API, rolled up per Deployment and StatefulSet with the spread kept (each
//!   pod's figures and percentiles). Without `nodes/proxy`, working sets are estimated from
//!   requests and the model says so. Pods that are no workload's replica (DaemonSets, Jobs,
//!   namespaces outside `-n`) become their node's load.
//! - PodDisruptionBudgets, LimitRanges, memory HPAs, PriorityClasses.
//!
//! [`build`] is pure (objects in, model out; each object reduced as it arrives), [`fetch`] the
//! I/O: pages of objects, and the kubelets a few nodes at a time, so memory stays bounded on
//! large clusters. The time the snapshot is taken comes from the caller.

pub mod build;
mod fetch;

pub use build::{Builder, Kubelet, Scope, Taken};
pub use fetch::{Options, Progress, take};

use crate::sim::ClusterModel;
use crate::sim::model::WorkingSetSource;
use crate::{Error, Result};

/// A prediction of `exp` on a snapshot taken now (what `spec.predict` runs before each
/// scheduled run): the whole cluster, no progress view.
pub async fn predict(
    client: &kube::Client,
    taken: &Taken,
    exp: &crate::engine::ExperimentRef,
) -> Result<crate::predict::Predicted> {
    let model = take(client, &Options::default(), taken, &mut |_| {}).await?;
    let prediction = crate::predict::predict(&model, exp, crate::predict::SEEDS).await?;
    Ok(crate::predict::Predicted { model, prediction })
}

/// The model as the file `oomsday snapshot -o` writes: a comment saying what it is, where and
/// when it was taken and how to use it, then the model.
pub fn to_yaml(model: &ClusterModel) -> Result<String> {
    let body = serde_saphyr::to_string(model)
        .map_err(|e| Error::Internal(format!("writing the model as YAML: {e}")))?;
    let mut head = String::from("# A ClusterModel taken by `oomsday snapshot`");
    if let Some(s) = &model.metadata.snapshot {
        let workloads = model.spec.workloads.len();
        head.push_str(&format!(
            " of {} at {}.\n# {} nodes, {} pods, {workloads} workloads modelled ({}); working sets {}.\n",
            s.context,
            s.taken_at,
            s.nodes,
            s.pods,
            if s.namespaces.is_empty() {
                "all namespaces".to_string()
            } else {
                format!("namespaces {}", s.namespaces.join(", "))
            },
            match s.working_sets {
                WorkingSetSource::Measured => "measured by the kubelets' Summary API",
                WorkingSetSource::Partly => "measured on some nodes, estimated on the others",
                WorkingSetSource::Estimated => "estimated from requests (no nodes/proxy access)",
            }
        ));
        if !s.notes.is_empty() {
            head.push_str("# metadata.snapshot.notes says what was assumed.\n");
        }
    } else {
        head.push_str(".\n");
    }
    head.push_str(
        "# Simulate an experiment on it: oomsday simulate EXPERIMENT.yaml --cluster THIS_FILE\n\
         # Edit it as any model: workloads' replicas and resources, nodeGroups' count (drop their\n\
         # `nodes` list then), kubelet settings. observed.pods are the pods as they were.\n",
    );
    Ok(head + &body)
}

#[cfg(test)]
mod tests;
