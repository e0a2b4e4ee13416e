//! What oomsday reads of Kubernetes objects, read one way everywhere: a Deployment or a
//! StatefulSet as a [`PodController`] (its kind, replicas, pod template and rollout status), the
//! memory of a resource list (requests, limits, a node's capacity and allocatable). The audit,
//! the classifier, the simulator's manifest reader, the snapshot and the cluster's preflight all
//! read them from here.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oomsday_core::Quantity;

use crate::spec::TargetKind;

/// A workload's rollout as its status reports it (every field as the API wrote it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    pub ready: Option<i32>,
    pub updated: Option<i32>,
    /// Pods of any revision (`status.replicas`).
    pub current: Option<i32>,
    pub observed_generation: Option<i64>,
}

/// A Deployment or a StatefulSet: they differ in type, not in what oomsday reads of them (the
/// metadata comes from [`kube::Resource`]).
pub trait PodController: kube::Resource {
    const KIND: TargetKind;
    /// `spec.replicas` as written; `None` means the API's default of one.
    fn replicas(&self) -> Option<i32>;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn rollout(&self) -> Rollout;
}

macro_rules! pod_controller {
    ($($ty:ident),*) => {$(
        impl PodController for $ty {
            const KIND: TargetKind = TargetKind::$ty;
            fn replicas(&self) -> Option<i32> {
                self.spec.as_ref()?.replicas
            }
            fn template(&self) -> Option<&PodTemplateSpec> {
                self.spec.as_ref().map(|s| &s.template)
            }
            fn rollout(&self) -> Rollout {
                self.status.as_ref().map_or_else(Rollout::default, |s| Rollout {
                    ready: s.ready_replicas,
                    updated: s.updated_replicas,
                    // Optional in a Deployment's status, required in a StatefulSet's.
                    current: Option::from(s.replicas),
                    observed_generation: s.observed_generation,
                })
            }
        }
    )*};
}

pod_controller!(Deployment, StatefulSet);

/// Whether a label selector (a PDB's, an HPA target's) selects these labels, by the API's own
/// rules (kube's `Selector`); one it cannot read selects nothing. An empty selector selects
/// every pod (policy/v1).
pub fn selector_matches(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    use kube::core::SelectorExt as _;
    kube::core::Selector::try_from(sel.clone()).is_ok_and(|s| s.matches(labels))
}

/// Whether a pod is running and not on its way out: one an ephemeral leaker can attach to.
pub fn is_running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Allocatable memory of every schedulable node, in bytes (cordoned nodes take no new pods).
pub fn node_allocatable(nodes: &[Node]) -> Vec<u64> {
    schedulable_memory(nodes, |m| m.allocatable)
}

/// Memory capacity of every schedulable node, in bytes: what reservations are sized from.
pub fn node_capacity(nodes: &[Node]) -> Vec<u64> {
    schedulable_memory(nodes, |m| m.capacity)
}

fn schedulable_memory(nodes: &[Node], pick: fn(NodeMemory) -> Option<Quantity>) -> Vec<u64> {
    nodes
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .filter_map(|n| pick(node_memory(n).ok()?))
        .map(Quantity::bytes)
        .collect()
}

/// The `memory` entry of a resource list (a container's requests or limits, a LimitRange's
/// defaults, a node's capacity): None when there is none; `field` names it in the error.
pub fn memory(
    list: Option<&BTreeMap<String, KubeQuantity>>,
    field: &str,
) -> crate::Result<Option<Quantity>> {
    list.and_then(|l| l.get("memory"))
        .map(|q| {
            q.0.parse::<Quantity>()
                .map_err(|e| crate::Error::Invalid(format!("{field}: {e}")))
        })
        .transpose()
}

/// A node's memory as its status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeMemory {
    pub capacity: Option<Quantity>,
    pub allocatable: Option<Quantity>,
}

/// `status.capacity.memory` and `status.allocatable.memory` of a node.
pub fn node_memory(node: &Node) -> crate::Result<NodeMemory> {
    let status = node.status.as_ref();
    Ok(NodeMemory {
        capacity: memory(
            status.and_then(|s| s.capacity.as_ref()),
            "status.capacity.memory",
        )?,
        allocatable: memory(
            status.and_then(|s| s.allocatable.as_ref()),
            "status.allocatable.memory",
        )?,
    })
}

/// The field manager that last wrote a workload's spec, with the time of that write, from its
/// `managedFields`: the entry (not a subresource's, such as the controller's `status`) that
/// owns part of `spec`, with the latest time; on a tie, the later entry. None when the API
/// sent no managedFields (a recording made without them). A write that only removed fields
/// owns nothing and leaves no entry: then the latest entry is older than the change (see
/// `tests/fixtures/kubernetes-v1.32/deployment-replaced-removal-only.json`).
pub fn spec_writer(meta: &ObjectMeta) -> Option<(String, Option<jiff::Timestamp>)> {
    meta.managed_fields
        .as_deref()?
        .iter()
        .filter(|e| e.subresource.as_deref().unwrap_or_default().is_empty())
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:spec").is_some())
        })
        .filter_map(|e| Some((e.manager.clone()?, e.time.as_ref().map(|t| t.0))))
        .enumerate()
        .max_by_key(|(i, (_, time))| (*time, *i))
        .map(|(_, writer)| writer)
}

#[cfg(test)]
mod tests;
