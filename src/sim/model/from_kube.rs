//! A node group and its kubelet settings from what a real node's API returns, so that a model
//! is derived from a cluster rather than written (and tuned) by hand. The three inputs are the
//! ones any cluster gives to a reader with `nodes` get and `nodes/proxy` get:
//!
//! - the Node (`GET /api/v1/nodes/NAME`): memory capacity and allocatable, `maxPods`, the images
//!   already on the node;
//! - the kubelet's running configuration (`GET /api/v1/nodes/NAME/proxy/configz`):
//!   `systemReserved`, `kubeReserved`, `evictionHard`/`evictionSoft`,
//!   `enforceNodeAllocatable`, `kernelMemcgNotification`, `evictionPressureTransitionPeriod`,
//!   `nodeStatusUpdateFrequency`
//!   (<https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/>);
//! - optionally its Summary API (`GET /api/v1/nodes/NAME/proxy/stats/summary`): what the node
//!   and each container really use;
//! - optionally its metrics (`GET /api/v1/nodes/NAME/proxy/metrics`): the host's cgroup version,
//!   `kubelet_cgroup_version` (v1.31 and later), which `configz` does not say — a kubelet on a
//!   cgroup v2 host reports `kernelMemcgNotification: true` and has no memcg notifier.
//!
//! Pure: parsed objects in, model parts out. `oomsday snapshot` and the calibration fixtures
//! share it.
//!
//! How each figure is derived:
//! - The pods' cgroup limit is capacity − systemReserved − kubeReserved when
//!   `enforceNodeAllocatable` has `pods` (kubelet `getNodeAllocatableAbsoluteImpl`), and the
//!   hard `memory.available` threshold then also applies to it as `allocatableMemory.available`
//!   (kubelet `addAllocatableThresholds`); allocatable for requests is that minus the hard
//!   threshold (<https://kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources/#node-allocatable>).
//!   The Node's own `status.allocatable` is checked against it; a difference is reported in
//!   [`DerivedNode::notes`], never silently preferred.
//! - The eviction manager's monitoring period is a kubelet constant (`evictionMonitoringPeriod`,
//!   10 s), not configurable, so it stays the model's default.
//! - Memory outside the pods (OS, daemons, kubelet) is the node's working set minus the pods'
//!   (Summary API); the kubelet's and the runtime's own share when the Summary lists their
//!   system containers, else the model's figure for them.
//! - A container starts within a second when its image is already on the node (the recordings
//!   show 0.6–0.7 s from pod creation to a running leaker); the node lists its images, and when
//!   oomsday's leaker image is among them no pull is modelled.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use k8s_openapi::api::core::v1::Node;
use oomsday_core::{Duration, Quantity};
use serde::Deserialize;

use super::{CgroupVersion, ClusterModel, KubeletSettings, NodeGroup};
use crate::{Error, Result};

#[cfg(test)]
mod tests;

/// `GET /api/v1/nodes/NAME/proxy/configz`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Configz {
    pub kubeletconfig: KubeletConfiguration,
}

/// The fields of a running KubeletConfiguration that decide what memory does; the rest is
/// ignored. Durations are Go durations (`10s`, `5m0s`), quantities Kubernetes quantities.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    #[serde(default)]
    pub eviction_hard: BTreeMap<String, String>,
    #[serde(default)]
    pub eviction_soft: BTreeMap<String, String>,
    #[serde(default)]
    pub eviction_soft_grace_period: BTreeMap<String, String>,
    #[serde(default)]
    pub eviction_pressure_transition_period: Option<String>,
    #[serde(default)]
    pub node_status_update_frequency: Option<String>,
    #[serde(default)]
    pub system_reserved: BTreeMap<String, String>,
    #[serde(default)]
    pub kube_reserved: BTreeMap<String, String>,
    /// `None`: the kubelet's default, `[pods]`.
    #[serde(default)]
    pub enforce_node_allocatable: Option<Vec<String>>,
    #[serde(default)]
    pub kernel_memcg_notification: Option<bool>,
    #[serde(default)]
    pub max_pods: Option<u32>,
}

/// The Summary API's answer, the parts read here.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Summary {
    pub node: NodeStats,
    #[serde(default)]
    pub pods: Vec<PodStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    #[serde(default)]
    pub system_containers: Vec<ContainerStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    #[serde(default)]
    pub working_set_bytes: Option<u64>,
    #[serde(default)]
    pub available_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    pub pod_ref: PodReference,
    #[serde(default)]
    pub containers: Vec<ContainerStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
}

/// What one container of one pod used when the Summary was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub working_set: u64,
}

/// A node as the simulator models it.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedNode {
    /// One node: `count: 1`, named after it.
    pub group: NodeGroup,
    pub kubelet: KubeletSettings,
    /// Container working sets from the Summary API (empty without one).
    pub usage: Vec<ContainerUsage>,
    /// Where the API's figures disagree with what the configuration implies.
    pub notes: Vec<String>,
}

/// How long a new pod takes from its creation to its first container's start when the images
/// are already on the node. Measured on the bed: in a revert's rollout each new one-container
/// pod was Ready at the kubelet's first relist after its creation, every one of 14 times
/// (creation → Ready 0.84–1.08 s, the next pod created 0.0–0.21 s later), so it started within
/// 0.8 s of its creation; a leaker pod's sidecar, its second container, started 0.67–1.27 s
/// (0.89 s on average) after. 0.6 s ±20% for the first container and 0.25 s for each further
/// one fit both.
const START_WITHOUT_PULL: StdDuration = StdDuration::from_millis(600);

/// The images on a node that mean no pull is needed for the leaker.
fn has_image(node: &Node, image: &str) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.images.as_ref())
        .is_some_and(|images| {
            images
                .iter()
                .any(|i| i.names.iter().flatten().any(|n| n == image))
        })
}

fn quantity(field: &str, v: &str) -> Result<Quantity> {
    v.parse()
        .map_err(|e: oomsday_core::UnitError| Error::Model(format!("{field}: {e}")))
}

/// A threshold as the kubelet writes it: a quantity, or a percentage of `capacity`.
fn threshold(field: &str, v: &str, capacity: u64) -> Result<Quantity> {
    match v.trim().strip_suffix('%') {
        Some(p) => {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| Error::Model(format!("{field}: invalid percentage {v:?}")))?;
            Ok(Quantity::from_bytes(
                (capacity as f64 * p / 100.0).ceil() as u64
            ))
        }
        None => quantity(field, v),
    }
}

/// A Go duration (`10s`, `1m0s`, `2h45m`, `100ms`), as the kubelet's configz writes them.
pub fn parse_go_duration(s: &str) -> Result<StdDuration> {
    let bad = || {
        Error::Model(format!(
            "invalid duration {s:?}: expected a Go duration such as 10s or 5m0s"
        ))
    };
    let t = s.trim();
    if t == "0" {
        return Ok(StdDuration::ZERO);
    }
    let mut rest = t;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(end);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let secs = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = next;
    }
    Ok(StdDuration::from_secs_f64(total))
}

fn duration_or(field: &str, v: Option<&String>, default: Duration) -> Result<Duration> {
    match v {
        Some(v) => parse_go_duration(v)
            .map(Duration)
            .map_err(|e| Error::Model(format!("{field}: {e}"))),
        None => Ok(default),
    }
}

/// The metric a kubelet exports its host's cgroup version as on `/metrics`: `CgroupVersion` in
/// pkg/kubelet/metrics/metrics.go, set at start-up by `cgroupVersionCheck`
/// (pkg/kubelet/kubelet_linux.go); added in v1.31 (kubernetes/kubernetes#125328).
pub const CGROUP_VERSION_METRIC: &str = "kubelet_cgroup_version";

/// The host's cgroup version from a kubelet's `/metrics` (the Prometheus text format): None when
/// it exports no `kubelet_cgroup_version` sample, or one that is neither 1 nor 2.
pub fn cgroup_version(metrics: &str) -> Option<CgroupVersion> {
    crate::metrics_text::samples(metrics, CGROUP_VERSION_METRIC).find_map(|(_, v)| match v {
        1.0 => Some(CgroupVersion::V1),
        2.0 => Some(CgroupVersion::V2),
        _ => None,
    })
}

/// The node group (one node) and kubelet settings a node's API objects describe; `metrics` is
/// the kubelet's `/metrics` text, when it was read (without it, the cgroup version is unknown).
pub fn node_from_kube(
    node: &Node,
    config: &KubeletConfiguration,
    summary: Option<&Summary>,
    metrics: Option<&str>,
) -> Result<DerivedNode> {
    let name = node
        .metadata
        .name
        .clone()
        .ok_or_else(|| Error::Model("the Node has no metadata.name".into()))?;
    let memory = crate::objects::node_memory(node)?;
    let capacity = memory
        .capacity
        .ok_or_else(|| Error::Model(format!("node {name}: no status.capacity.memory")))?;
    let reserved = |m: &BTreeMap<String, String>, field: &str| {
        m.get("memory")
            .map(|v| quantity(field, v))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let system_reserved = reserved(&config.system_reserved, "systemReserved.memory")?;
    let kube_reserved = reserved(&config.kube_reserved, "kubeReserved.memory")?;
    let mut notes = Vec::new();

    let defaults = KubeletSettings::default();
    let mut k = kubelet_settings(config, capacity, &mut notes)?;
    let api_pods = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("pods"))
        .and_then(|q| q.0.parse::<u32>().ok());
    k.max_pods = api_pods.or(config.max_pods).unwrap_or(defaults.max_pods);
    if has_image(node, crate::spec::DEFAULT_LEAKER_IMAGE) {
        k.container_start = Duration(START_WITHOUT_PULL);
    }

    // Allocatable as the kubelet computes it, checked against what the Node reports.
    let implied = capacity
        .bytes()
        .saturating_sub(system_reserved.bytes() + kube_reserved.bytes() + k.eviction_hard.bytes());
    if let Some(api) = memory.allocatable
        && api.bytes().abs_diff(implied) > 1 << 20
    {
        notes.push(format!(
            "node {name}: status.allocatable.memory is {api}, the configuration implies {}",
            Quantity::from_bytes(implied)
        ));
    }

    let usage = match summary {
        Some(s) => measured(s, &mut k),
        None => Vec::new(),
    };
    let cgroup_version = node_cgroup_version(metrics, &mut notes);

    Ok(DerivedNode {
        group: NodeGroup {
            name,
            count: 1,
            capacity,
            system_reserved,
            kube_reserved,
            labels: BTreeMap::new(),
            nodes: Vec::new(),
            cgroup_version: Some(cgroup_version),
        },
        kubelet: k,
        usage,
        notes,
    })
}

/// The node's cgroup version from its kubelet's `/metrics` text: unknown without it, and unknown
/// with a note when the kubelet does not export it.
fn node_cgroup_version(metrics: Option<&str>, notes: &mut Vec<String>) -> CgroupVersion {
    match metrics.map(cgroup_version) {
        Some(Some(v)) => v,
        Some(None) => {
            notes.push(format!(
                "its kubelet exports no {CGROUP_VERSION_METRIC} (kubelets before v1.31 do not): \
                 its cgroup version is unknown"
            ));
            CgroupVersion::Unknown
        }
        None => CgroupVersion::Unknown,
    }
}

/// The kubelet's eviction and status settings from its configuration, defaults where unset.
fn kubelet_settings(
    config: &KubeletConfiguration,
    capacity: Quantity,
    notes: &mut Vec<String>,
) -> Result<KubeletSettings> {
    let defaults = KubeletSettings::default();
    Ok(KubeletSettings {
        eviction_hard: match config.eviction_hard.get("memory.available") {
            Some(v) => threshold("evictionHard.memory.available", v, capacity.bytes())?,
            None => {
                notes.push("evictionHard has no memory.available: no hard memory threshold".into());
                Quantity::ZERO
            }
        },
        eviction_soft: config
            .eviction_soft
            .get("memory.available")
            .map(|v| threshold("evictionSoft.memory.available", v, capacity.bytes()))
            .transpose()?,
        eviction_soft_grace_period: duration_or(
            "evictionSoftGracePeriod.memory.available",
            config.eviction_soft_grace_period.get("memory.available"),
            defaults.eviction_soft_grace_period,
        )?,
        kernel_memcg_notification: config.kernel_memcg_notification.unwrap_or(false),
        eviction_pressure_transition_period: duration_or(
            "evictionPressureTransitionPeriod",
            config.eviction_pressure_transition_period.as_ref(),
            defaults.eviction_pressure_transition_period,
        )?,
        node_status_update_frequency: duration_or(
            "nodeStatusUpdateFrequency",
            config.node_status_update_frequency.as_ref(),
            defaults.node_status_update_frequency,
        )?,
        enforce_node_allocatable: config
            .enforce_node_allocatable
            .as_ref()
            .is_none_or(|v| v.iter().any(|e| e == "pods")),
        ..defaults.clone()
    })
}

/// Each container's working set from the Summary API; the kubelet's and the system's own
/// memory into `k`.
fn measured(s: &Summary, k: &mut KubeletSettings) -> Vec<ContainerUsage> {
    let mut usage = Vec::new();
    let ws = |c: &ContainerStats| c.memory.as_ref().and_then(|m| m.working_set_bytes);
    let system = |n: &str| {
        s.node
            .system_containers
            .iter()
            .find(|c| c.name == n)
            .and_then(ws)
    };
    for p in &s.pods {
        for c in &p.containers {
            if let Some(b) = ws(c) {
                usage.push(ContainerUsage {
                    namespace: p.pod_ref.namespace.clone(),
                    pod: p.pod_ref.name.clone(),
                    container: c.name.clone(),
                    working_set: b,
                });
            }
        }
    }
    let node_ws = s.node.memory.as_ref().and_then(|m| m.working_set_bytes);
    let pods_ws = system("pods").unwrap_or_else(|| usage.iter().map(|u| u.working_set).sum());
    let own = match (system("kubelet"), system("runtime")) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    if let Some(own) = own {
        k.kubelet_memory = Quantity::from_bytes(own);
    }
    if let Some(node_ws) = node_ws {
        k.system_memory = Quantity::from_bytes(
            node_ws
                .saturating_sub(pods_ws)
                .saturating_sub(k.kubelet_memory.bytes()),
        );
    }
    usage
}

/// Whether `pod` is a pod of the Deployment or StatefulSet `workload`: `NAME-HASH-SUFFIX` or
/// `NAME-ORDINAL`.
fn owned_by(pod: &str, workload: &str) -> bool {
    let Some(rest) = pod.strip_prefix(workload).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    match parts.as_slice() {
        [hash, suffix] => !hash.is_empty() && !suffix.is_empty(),
        [ordinal] => !ordinal.is_empty() && ordinal.chars().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Sets each workload container's working set to the most any of its pods used in `usage`
/// (the Summary API's figures). Returns how many containers got a figure.
pub fn apply_usage(model: &mut ClusterModel, usage: &[ContainerUsage]) -> usize {
    let mut set = 0;
    for w in &mut model.spec.workloads {
        if w.copies.is_some() {
            continue;
        }
        for c in &mut w.containers {
            let most = usage
                .iter()
                .filter(|u| {
                    u.namespace == w.namespace && u.container == c.name && owned_by(&u.pod, &w.name)
                })
                .map(|u| u.working_set)
                .max();
            if let Some(b) = most {
                c.working_set = Quantity::from_bytes(b);
                set += 1;
            }
        }
    }
    set
}
