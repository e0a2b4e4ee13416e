//! What a model taken from a live cluster (`oomsday snapshot`) knows beyond a hand-written one:
//! when and from where it was taken, each node as the API showed it (its labels, taints,
//! conditions, the memory the OS and the pods outside the modelled workloads used), and each
//! workload's pods as they were (their node, their measured working sets, the spread).
//!
//! All of it is optional, so hand-written models stay as they are. What the simulator does with
//! it:
//! - a group's `nodes` name its nodes (instead of made-up names), give each its own
//!   `systemMemory` and the load of `otherPods` (pods the model does not model as workloads:
//!   DaemonSets, Jobs, bare pods, namespaces left out of the snapshot), and keep new pods off
//!   `unschedulable` (cordoned) nodes; labels, taints and conditions are for people: the
//!   simulator models no node selectors or tolerations;
//! - a workload's `observed.pods` place its first pods where they were and give each pod its
//!   own measured working sets; pods created later take the measured figures in turn.

use std::collections::BTreeMap;

use oomsday_core::Quantity;
use serde::{Deserialize, Serialize};

/// When and from where a model was taken, and what the snapshot could not measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotInfo {
    /// When the snapshot was taken (RFC 3339).
    pub taken_at: jiff::Timestamp,
    /// The cluster it was taken from: the kubeconfig context, or `in-cluster`.
    pub context: String,
    /// The namespaces whose workloads are modelled; empty: all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Where the working sets come from.
    pub working_sets: WorkingSetSource,
    /// Nodes and pods (not terminated) seen.
    pub nodes: u32,
    pub pods: u32,
    /// What the snapshot could not read or had to assume, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where a snapshot's working sets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkingSetSource {
    /// Every node's kubelet Summary API (`nodes/proxy` get).
    Measured,
    /// Some nodes' Summary API; the others' pods are estimated.
    Partly,
    /// No Summary API could be read: each container's request, else its limit, else 256Mi.
    Estimated,
}

/// One node of a group, as the API showed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeModel {
    pub name: String,
    /// Labels not shared by every node of the group (those are the group's `labels`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<TaintModel>,
    /// Each condition's status (`Ready: "True"`, `MemoryPressure: "False"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, String>,
    /// Cordoned (`spec.unschedulable`): the scheduler sends it no new pods.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unschedulable: bool,
    /// `status.allocatable.memory` as the Node reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<Quantity>,
    /// Memory the OS and system daemons used outside the pods and the kubelet (Summary API);
    /// without it, the model's `kubelet.systemMemory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_memory: Option<Quantity>,
    /// Pods on this node that are not replicas of a modelled workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_pods: Option<OtherPods>,
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaintModel {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

/// The fixed load of pods the model does not model one by one (DaemonSets, Jobs, bare and
/// static pods, namespaces left out): they count toward the node's pods, requests and the pods'
/// cgroup, and are never evicted in the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OtherPods {
    pub pods: u32,
    /// Their memory requests, together.
    pub requests: Quantity,
    /// Their working set, together: measured (the pods' cgroup minus the modelled pods, which
    /// includes every pod's own overhead) or estimated from their requests.
    pub working_set: Quantity,
}

/// A workload's pods as a snapshot saw them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedPods {
    /// The QoS class the API gave the pods (`status.qosClass`; CPU counts there, not in the
    /// simulator), or the classes, comma-separated, when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// Per container: the spread of its measured working set over the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spread: BTreeMap<String, Spread>,
    /// Each pod, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<ObservedPod>,
}

/// The spread of one container's working set over a workload's pods (nearest-rank
/// percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spread {
    pub min: Quantity,
    pub p50: Quantity,
    pub p90: Quantity,
    pub max: Quantity,
}

impl Spread {
    /// The spread of `values` (None when empty).
    pub fn of(values: &[u64]) -> Option<Spread> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = |p: usize| -> Quantity {
            // Nearest rank: the smallest value with at least p% of the values at or below it.
            let i = (p * v.len()).div_ceil(100).clamp(1, v.len()) - 1;
            Quantity::from_bytes(v[i])
        };
        let (first, last) = (*v.first()?, *v.last()?);
        Some(Spread {
            min: Quantity::from_bytes(first),
            p50: rank(50),
            p90: rank(90),
            max: Quantity::from_bytes(last),
        })
    }
}

/// One pod of a workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedPod {
    pub name: String,
    /// The node it ran on; none while Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Each container's working set (Summary API); empty when it could not be measured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub working_sets: BTreeMap<String, Quantity>,
}
