//! The cluster model a simulation runs against: node groups, workloads, budgets, LimitRanges,
//! HPAs and kubelet settings, written as YAML (`kind: ClusterModel`) or imported from plain
//! Kubernetes manifests (see [`super::manifests`]).
//!
//! Quantities use Kubernetes notation and durations humantime, like the experiment spec. Unknown
//! fields are errors. CPU is not modelled: only memory decides what happens in a leak.
//!
//! [`from_kube`] derives a node group and its kubelet settings from what a real node's API says
//! (the Node, the kubelet's `configz`, its Summary API), so that a model can be built from a
//! cluster rather than written by hand.

use std::collections::BTreeMap;
use std::path::Path;

use oomsday_core::{CountOrPercent, Duration, Percent, Quantity};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub mod from_kube;
mod observed;

pub use observed::{
    NodeModel, ObservedPod, ObservedPods, OtherPods, SnapshotInfo, Spread, TaintModel,
    WorkingSetSource,
};

/// `apiVersion` of a cluster model file.
pub const MODEL_API_VERSION: &str = "oomsday.dev/v1alpha1";
/// `kind` of a cluster model file.
pub const MODEL_KIND: &str = "ClusterModel";

/// A cluster model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterModel {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ModelMeta,
    pub spec: ClusterSpec,
}

/// The model's name (shown in reports as "simulated: NAME").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelMeta {
    #[serde(default)]
    pub name: String,
    /// Free text for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Set by `oomsday snapshot`: when and from which cluster the model was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotInfo>,
}

/// What the cluster is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Where the virtual clock starts (RFC 3339). Only changes the absolute times in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<jiff::Timestamp>,
    /// Kubelet and control-plane settings shared by every node.
    #[serde(default)]
    pub kubelet: KubeletSettings,
    pub node_groups: Vec<NodeGroup>,
    #[serde(default)]
    pub workloads: Vec<WorkloadModel>,
    #[serde(default)]
    pub pdbs: Vec<PdbModel>,
    #[serde(default)]
    pub limit_ranges: Vec<LimitRangeModel>,
    #[serde(default)]
    pub hpas: Vec<HpaModel>,
}

/// Kubelet and control-plane settings. Defaults are Kubernetes' own defaults where it has one;
/// the model-only figures (memory the OS and the kubelet use) are marked as such.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletSettings {
    /// `evictionHard: memory.available<…`; Kubernetes' default is 100Mi.
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#hard-eviction-thresholds>
    #[serde(default = "d_eviction_hard")]
    pub eviction_hard: Quantity,
    /// `evictionSoft: memory.available<…`, none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_soft: Option<Quantity>,
    /// `evictionSoftGracePeriod` for memory.available.
    #[serde(default = "d_soft_grace")]
    pub eviction_soft_grace_period: Duration,
    /// How often the kubelet's eviction manager evaluates thresholds when nothing wakes it: the
    /// kubelet's `evictionMonitoringPeriod`, 10 s (pkg/kubelet/kubelet.go; the documentation
    /// calls it the housekeeping interval).
    /// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#eviction-monitoring-interval>
    #[serde(default = "d_housekeeping")]
    pub housekeeping_interval: Duration,
    /// `kernelMemcgNotification` (default false): the kernel wakes the eviction manager the
    /// moment a memory threshold is crossed, instead of it waiting for its next monitoring tick.
    #[serde(default)]
    pub kernel_memcg_notification: bool,
    /// `evictionPressureTransitionPeriod`: how long MemoryPressure stays True after the signal
    /// was last seen below its threshold (5m).
    #[serde(default = "d_transition")]
    pub eviction_pressure_transition_period: Duration,
    /// `nodeStatusUpdateFrequency` (10s): how often the kubelet posts the node's conditions. A
    /// MemoryPressure the eviction manager already acts on reaches the API (and the scheduler,
    /// as the `node.kubernetes.io/memory-pressure` taint) only with the next post.
    #[serde(default = "d_status_update")]
    pub node_status_update_frequency: Duration,
    /// The node lifecycle controller's `node-monitor-grace-period` (40s).
    #[serde(default = "d_grace")]
    pub node_monitor_grace_period: Duration,
    /// `tolerationSeconds` of the default not-ready/unreachable tolerations (300s).
    #[serde(default = "d_toleration")]
    pub not_ready_toleration: Duration,
    /// Model figure: memory the kubelet and container runtime use on each node.
    #[serde(default = "d_kubelet_memory")]
    pub kubelet_memory: Quantity,
    /// Model figure: memory the OS and system daemons use on each node.
    #[serde(default = "d_system_memory")]
    pub system_memory: Quantity,
    /// Model figure: how long a kubelet that was OOM-killed takes to be back posting status once
    /// its node has room for it again (systemd restart, pod resync).
    #[serde(default = "d_kubelet_restart")]
    pub kubelet_restart_delay: Duration,
    /// `maxPods` (110).
    #[serde(default = "d_max_pods")]
    pub max_pods: u32,
    /// Model figure: image pull and container start for a new pod.
    #[serde(default = "d_container_start")]
    pub container_start: Duration,
    /// Whether node allocatable is enforced on the pods' cgroup (`enforceNodeAllocatable:
    /// [pods]`, the default): pods together cannot use more than capacity − reserved.
    #[serde(default = "d_true")]
    pub enforce_node_allocatable: bool,
}

fn d_eviction_hard() -> Quantity {
    Quantity::mib(100)
}
fn d_soft_grace() -> Duration {
    Duration::from_secs(90)
}
fn d_housekeeping() -> Duration {
    Duration::from_secs(10)
}
fn d_transition() -> Duration {
    Duration::from_secs(300)
}
fn d_status_update() -> Duration {
    Duration::from_secs(10)
}
fn d_grace() -> Duration {
    Duration::from_secs(40)
}
fn d_toleration() -> Duration {
    Duration::from_secs(300)
}
fn d_kubelet_memory() -> Quantity {
    Quantity::mib(300)
}
fn d_system_memory() -> Quantity {
    Quantity::mib(500)
}
fn d_kubelet_restart() -> Duration {
    Duration::from_secs(60)
}
fn d_max_pods() -> u32 {
    110
}
fn d_container_start() -> Duration {
    Duration::from_secs(5)
}
fn d_true() -> bool {
    true
}

impl Default for KubeletSettings {
    fn default() -> Self {
        KubeletSettings {
            eviction_hard: d_eviction_hard(),
            eviction_soft: None,
            eviction_soft_grace_period: d_soft_grace(),
            housekeeping_interval: d_housekeeping(),
            kernel_memcg_notification: false,
            eviction_pressure_transition_period: d_transition(),
            node_status_update_frequency: d_status_update(),
            node_monitor_grace_period: d_grace(),
            not_ready_toleration: d_toleration(),
            kubelet_memory: d_kubelet_memory(),
            system_memory: d_system_memory(),
            kubelet_restart_delay: d_kubelet_restart(),
            max_pods: d_max_pods(),
            container_start: d_container_start(),
            enforce_node_allocatable: true,
        }
    }
}

/// Identical nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    pub count: u32,
    /// Memory capacity of each node.
    pub capacity: Quantity,
    /// `systemReserved: memory`.
    #[serde(default)]
    pub system_reserved: Quantity,
    /// `kubeReserved: memory`. Without it nothing keeps pods from starving the kubelet.
    #[serde(default)]
    pub kube_reserved: Quantity,
    /// Labels every node of the group has (a snapshot's; for people, not simulated).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The group's nodes one by one (a snapshot's): as many as `count`, see [`NodeModel`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeModel>,
    /// The nodes' cgroup version (`v1`, `v2`; `unknown` where a snapshot could not read it), as
    /// their kubelets export it. It decides whether `kernelMemcgNotification` does anything:
    /// see [`NodeGroup::memcg_notified`]. Absent (a hand-written model, or one written before
    /// the field): the kubelet settings are simulated as written, which is cgroup v1's
    /// behaviour — so every model written before predicts exactly what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_version: Option<CgroupVersion>,
}

/// The cgroup version of a node's host (`kubelet_cgroup_version` on the kubelet's `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
    /// A snapshot could not read it (no `nodes/proxy`, a kubelet before v1.31, `/metrics` did
    /// not answer). Simulated as v1 (as the kubelet is configured); where v2 would differ, a
    /// prediction shows that outcome too ([`ClusterModel::unknown_cgroups_matter`]).
    Unknown,
}

impl std::fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupVersion::V1 => "cgroup v1",
            CgroupVersion::V2 => "cgroup v2",
            CgroupVersion::Unknown => "cgroup version unknown",
        })
    }
}

impl NodeGroup {
    /// Whether the kernel wakes these nodes' eviction managers the moment a memory threshold is
    /// crossed: `kernelMemcgNotification`, except on cgroup v2, where the kubelet's
    /// `NewCgroupNotifier` (pkg/kubelet/eviction/threshold_notifier_linux.go, v1.32) returns a
    /// disabled notifier whatever the configuration says — cgroup v2 has no
    /// `cgroup.event_control` (kubernetes/kubernetes#106331) — so only the 10 s look finds a
    /// crossing there, while `configz` still says `kernelMemcgNotification: true`.
    pub fn memcg_notified(&self, kubelet: &KubeletSettings) -> bool {
        kubelet.kernel_memcg_notification && self.cgroup_version != Some(CgroupVersion::V2)
    }
}

/// A Deployment: its pods' containers, replicas and priority. With `copies: N` the entry
/// stands for N workloads named by replacing `{i}` in `name` with 1..=N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadModel {
    pub name: String,
    #[serde(default = "d_namespace")]
    pub namespace: String,
    pub replicas: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    /// Pod priority (the PriorityClass's value).
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Pod labels; `app: NAME` when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerModel>,
    /// Whether the pods have a readiness probe (the hygiene facet asks).
    #[serde(default = "d_true")]
    pub readiness_probe: bool,
    /// Time from container start to Ready (the readiness probe's initial delay).
    #[serde(default = "d_ready_after")]
    pub ready_after: Duration,
    /// Time a fresh container takes to grow to its working set.
    #[serde(default = "d_warmup")]
    pub warmup: Duration,
    /// Rolling update `maxSurge` (25%).
    #[serde(default = "d_quarter")]
    pub max_surge: CountOrPercent,
    /// Rolling update `maxUnavailable` (25%).
    #[serde(default = "d_quarter")]
    pub max_unavailable: CountOrPercent,
    /// The pods a snapshot saw, see [`ObservedPods`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedPods>,
}

fn d_namespace() -> String {
    "default".into()
}
fn d_ready_after() -> Duration {
    Duration::from_secs(10)
}
fn d_warmup() -> Duration {
    Duration::from_secs(20)
}
/// Kubernetes' default maxSurge and maxUnavailable of a rolling update: 25%.
pub(crate) fn d_quarter() -> CountOrPercent {
    CountOrPercent::Percent(Percent::new(25).expect("25% is a valid percentage"))
}

/// A container's memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerModel {
    pub name: String,
    #[serde(default)]
    pub resources: Resources,
    /// Steady memory use of one container (its working set).
    pub working_set: Quantity,
    /// Pods of the workload differ by up to this share of the working set, drawn from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Percent>,
}

/// `resources:` as in a pod spec; only memory is modelled, `cpu` is accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
}

/// `{memory: 256Mi, cpu: 100m}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<serde_json::Value>,
}

impl Resources {
    pub fn memory_request(&self) -> Option<u64> {
        self.requests.as_ref()?.memory.map(Quantity::bytes)
    }
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.as_ref()?.memory.map(Quantity::bytes)
    }
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PdbModel {
    pub name: String,
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// `selector.matchLabels`.
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<CountOrPercent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<CountOrPercent>,
}

/// A LimitRange's `type: Container` memory defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitRangeModel {
    pub name: String,
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// `default.memory`: the limit of containers that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Quantity>,
    /// `defaultRequest.memory`: the request of containers that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_request: Option<Quantity>,
    /// `max.memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Quantity>,
}

/// A HorizontalPodAutoscaler on memory utilisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaModel {
    pub name: String,
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// The Deployment it scales.
    pub target: String,
    #[serde(default = "d_one")]
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Target average memory utilisation, as a share of the pods' requests.
    pub memory_utilization: Percent,
}

fn d_one() -> u32 {
    1
}

impl ClusterModel {
    /// Parses a cluster model from YAML and checks it.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let m: ClusterModel =
            serde_saphyr::from_str(text).map_err(|e| Error::Model(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    /// Reads and parses a cluster model file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading cluster model {}", path.display()),
            source,
        })?;
        Self::from_yaml(&text).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
    }

    /// Semantic checks serde cannot do.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Model(m));
        if self.api_version != MODEL_API_VERSION || self.kind != MODEL_KIND {
            return bad(format!(
                "expected apiVersion {MODEL_API_VERSION} and kind {MODEL_KIND}, found {} {}",
                self.api_version, self.kind
            ));
        }
        if self.spec.node_groups.iter().all(|g| g.count == 0) {
            return bad("spec.nodeGroups: the model has no nodes".into());
        }
        let mut node_names = std::collections::BTreeSet::new();
        for g in &self.spec.node_groups {
            if !g.nodes.is_empty() && g.nodes.len() != g.count as usize {
                return bad(format!(
                    "spec.nodeGroups.{}: count is {} but {} nodes are listed: list them all, or \
                     drop `nodes`",
                    g.name,
                    g.count,
                    g.nodes.len()
                ));
            }
            if let Some(n) = g.nodes.iter().find(|n| !node_names.insert(n.name.as_str())) {
                return bad(format!(
                    "spec.nodeGroups.{}.nodes: {} is listed twice",
                    g.name, n.name
                ));
            }
            let reserved = g.system_reserved.bytes() + g.kube_reserved.bytes();
            if g.capacity.bytes() <= reserved + self.spec.kubelet.eviction_hard.bytes() {
                return bad(format!(
                    "spec.nodeGroups.{}: capacity {} leaves nothing allocatable after reservations",
                    g.name, g.capacity
                ));
            }
        }
        if self.spec.kubelet.housekeeping_interval.std().as_secs() == 0 {
            return bad("spec.kubelet.housekeepingInterval must be at least 1s".into());
        }
        if self
            .spec
            .kubelet
            .node_status_update_frequency
            .std()
            .as_secs()
            == 0
        {
            return bad("spec.kubelet.nodeStatusUpdateFrequency must be at least 1s".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for w in self.workloads() {
            if w.containers.is_empty() {
                return bad(format!("spec.workloads.{}: no containers", w.name));
            }
            if !names.insert((w.namespace.clone(), w.name.clone())) {
                return bad(format!(
                    "spec.workloads: {}/{} is defined twice",
                    w.namespace, w.name
                ));
            }
        }
        for p in &self.spec.pdbs {
            if p.min_available.is_some() == p.max_unavailable.is_some() {
                return bad(format!(
                    "spec.pdbs.{}: set exactly one of minAvailable and maxUnavailable",
                    p.name
                ));
            }
        }
        for h in &self.spec.hpas {
            if h.min_replicas == 0 || h.max_replicas < h.min_replicas {
                return bad(format!(
                    "spec.hpas.{}: need 1 <= minReplicas <= maxReplicas",
                    h.name
                ));
            }
        }
        Ok(())
    }

    /// Workloads with `copies` expanded, in file order.
    pub fn workloads(&self) -> Vec<WorkloadModel> {
        let mut out = Vec::new();
        for w in &self.spec.workloads {
            match w.copies {
                None => out.push(with_default_labels(w.clone())),
                Some(n) => {
                    for i in 1..=n {
                        let mut c = w.clone();
                        c.copies = None;
                        c.name = w.name.replace("{i}", &format!("{i:02}"));
                        if c.name == w.name {
                            c.name = format!("{}-{i:02}", w.name);
                        }
                        c.labels = BTreeMap::new();
                        out.push(with_default_labels(c));
                    }
                }
            }
        }
        out
    }
}

impl ClusterModel {
    /// Whether some nodes' cgroup version is unknown where it changes what the kubelet does:
    /// their kubelets are configured with `kernelMemcgNotification`, which works on v1 and does
    /// nothing on v2. A prediction then shows both outcomes.
    pub fn unknown_cgroups_matter(&self) -> bool {
        self.spec.kubelet.kernel_memcg_notification
            && self
                .spec
                .node_groups
                .iter()
                .any(|g| g.cgroup_version == Some(CgroupVersion::Unknown))
    }

    /// The model with the nodes of unknown cgroup version on `version`.
    pub fn with_unknown_cgroups_as(&self, version: CgroupVersion) -> ClusterModel {
        let mut m = self.clone();
        for g in &mut m.spec.node_groups {
            if g.cgroup_version == Some(CgroupVersion::Unknown) {
                g.cgroup_version = Some(version);
            }
        }
        m
    }

    /// What a simulation of this model assumes of the kubelets' memory notifier, in a
    /// sentence: which nodes' eviction managers are woken at a threshold crossing, which look
    /// every 10 s only, and why.
    pub fn notifier_assumption(&self) -> String {
        let k = &self.spec.kubelet;
        let look = k.housekeeping_interval;
        if !k.kernel_memcg_notification {
            return format!(
                "kubelet memory notifier: off on every node (kernelMemcgNotification: false): \
                 evictions on the eviction manager's {look} look"
            );
        }
        // Group names by what each assumes (groups keep the model's order within each).
        let mut by: BTreeMap<Option<CgroupVersion>, Vec<&str>> = BTreeMap::new();
        for g in &self.spec.node_groups {
            by.entry(g.cgroup_version).or_default().push(&g.name);
        }
        let parts: Vec<String> = by
            .iter()
            .map(|(v, groups)| {
                let groups = groups.join(", ");
                match v {
                    Some(CgroupVersion::V2) => format!(
                        "none on {groups} (cgroup v2: the kernel has no memcg threshold \
                         notification there, whatever configz says; evictions on the {look} look \
                         only)"
                    ),
                    Some(CgroupVersion::V1) => {
                        format!("on for {groups} (cgroup v1: evictions at the threshold crossing)")
                    }
                    Some(CgroupVersion::Unknown) => format!(
                        "assumed on for {groups} (cgroup version unknown: simulated as v1, \
                         evictions at the crossing; on v2 there would be none)"
                    ),
                    None => format!(
                        "on for {groups} (cgroup version not stated: as configured, \
                         evictions at the threshold crossing)"
                    ),
                }
            })
            .collect();
        format!(
            "kubelet memory notifier (kernelMemcgNotification: true): {}",
            parts.join("; ")
        )
    }
}

fn with_default_labels(mut w: WorkloadModel) -> WorkloadModel {
    if w.labels.is_empty() {
        w.labels.insert("app".into(), w.name.clone());
    }
    w
}

/// The QoS class of a pod.
/// <https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// A container's memory request and limit after admission. CPU is not modelled, so a pod whose
/// every container has memory request == limit is taken as Guaranteed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemorySpec {
    pub request: Option<u64>,
    pub limit: Option<u64>,
}

/// The pod's QoS class from its containers (pod-qos page: Guaranteed when every container has
/// equal requests and limits, BestEffort when none has any, Burstable otherwise).
pub fn qos_class(containers: &[MemorySpec]) -> QosClass {
    if containers
        .iter()
        .all(|c| c.request.is_none() && c.limit.is_none())
    {
        QosClass::BestEffort
    } else if containers
        .iter()
        .all(|c| c.limit.is_some() && c.request == c.limit)
    {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// The `oom_score_adj` the kubelet gives a container.
/// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-out-of-memory-behavior>
pub fn oom_score_adj(qos: QosClass, request: Option<u64>, node_capacity: u64) -> i64 {
    match qos {
        QosClass::Guaranteed => -997,
        QosClass::BestEffort => 1000,
        QosClass::Burstable => {
            let req = request.unwrap_or(0) as i128;
            let cap = node_capacity.max(1) as i128;
            (1000 - (1000 * req) / cap).clamp(2, 999) as i64
        }
    }
}

/// What the LimitRanger admission plugin does to a container's memory: a container without a
/// limit gets `default`, one without a request gets `defaultRequest` (or `default` when only that
/// is set); the API server then defaults a missing request to the limit.
/// <https://kubernetes.io/docs/concepts/policy/limit-range/>
pub fn admit(mut c: MemorySpec, ranges: &[&LimitRangeModel]) -> MemorySpec {
    // API defaulting runs before admission: a limit without a request makes the request equal
    // to the limit.
    if c.request.is_none() {
        c.request = c.limit;
    }
    for lr in ranges {
        if c.limit.is_none() {
            c.limit = lr.default.map(Quantity::bytes);
        }
        if c.request.is_none() {
            c.request = lr.default_request.or(lr.default).map(Quantity::bytes);
        }
    }
    c
}

#[cfg(test)]
mod tests;
