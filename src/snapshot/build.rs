//! The pure half of a snapshot: API objects in, a [`ClusterModel`] out. Each object is reduced
//! as it arrives (a page of pods, one node's Summary), so a large cluster never sits in memory
//! whole; [`Builder::finish`] puts the pieces together.
//!
//! The model is the one the manifests path builds ([`crate::sim::manifests`]'s conversions for
//! Deployments, StatefulSets, PDBs, LimitRanges and HPAs), with the nodes and kubelet settings
//! [`from_kube`] derives, and what the pods really are: where they run and what each container's
//! working set was.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Node, NodeStatus, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use oomsday_core::Quantity;

use crate::objects;
use crate::sim::manifests;
use crate::sim::model::from_kube::{DerivedNode, KubeletConfiguration, Summary, node_from_kube};
use crate::sim::model::{
    CgroupVersion, ClusterModel, ClusterSpec, HpaModel, KubeletSettings, LimitRangeModel,
    MODEL_API_VERSION, MODEL_KIND, MemorySpec, ModelMeta, NodeGroup, NodeModel, ObservedPod,
    ObservedPods, OtherPods, PdbModel, SnapshotInfo, Spread, TaintModel, WorkingSetSource,
    WorkloadModel, admit,
};
use crate::{Error, Result};

/// Which namespaces' workloads, budgets, LimitRanges and HPAs a snapshot models. Nodes are
/// always all of them, and pods elsewhere count as the nodes' load.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    All,
    Namespaces(BTreeSet<String>),
}

impl Scope {
    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(n) => n.contains(namespace),
        }
    }
}

/// What could be read of a node's kubelet.
#[derive(Debug, Clone)]
pub enum Kubelet {
    /// Its running configuration (`configz`) and, if they answered, its Summary API and its
    /// `/metrics` text (read for the host's cgroup version).
    Read {
        // Boxed: the configuration is large and most nodes of a cluster carry one.
        config: Box<KubeletConfiguration>,
        summary: Option<Summary>,
        metrics: Option<String>,
    },
    /// Nothing: why (said in the model's notes); the node gets Kubernetes' defaults.
    Unread(String),
}

/// The kubelet's memory eviction threshold when none is configured (`evictionHard:
/// memory.available<100Mi`).
/// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#hard-eviction-thresholds>
const DEFAULT_EVICTION_HARD: u64 = 100 << 20;

/// The instance type label, used to name node groups.
const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";

/// A pod, reduced to what the model needs.
#[derive(Debug, Clone)]
struct PodFacts {
    namespace: String,
    name: String,
    node: Option<String>,
    /// The Deployment (`Deployment`) or StatefulSet that owns it, by name.
    owner: Option<(&'static str, String)>,
    /// Each container's name, memory request and limit.
    containers: Vec<(String, MemorySpec)>,
    qos: Option<String>,
    priority: Option<i32>,
}

/// A node as listed, and what its kubelet said.
#[derive(Debug, Clone)]
struct NodeEntry {
    node: Node,
    derived: Option<DerivedNode>,
    /// The working set of the pods' cgroup (`kubepods`), from the Summary API.
    pods_cgroup: Option<u64>,
    /// Each pod's containers' working sets, by (namespace, pod).
    usage: HashMap<(String, String), BTreeMap<String, u64>>,
    measured: bool,
}

/// Builds a model from a cluster's objects, as they are listed.
#[derive(Debug, Default)]
pub struct Builder {
    scope: Scope,
    priorities: BTreeMap<String, i32>,
    nodes: Vec<NodeEntry>,
    node_index: HashMap<String, usize>,
    workloads: Vec<(&'static str, WorkloadModel)>,
    pods: Vec<PodFacts>,
    pdbs: Vec<PdbModel>,
    limit_ranges: Vec<LimitRangeModel>,
    hpas: Vec<HpaModel>,
    notes: Vec<String>,
}

/// When and where the snapshot was taken (the caller's clock and kubeconfig).
#[derive(Debug, Clone)]
pub struct Taken {
    pub at: jiff::Timestamp,
    /// `context NAME` or `in-cluster`, as the run's reports name clusters.
    pub context: String,
}

/// A Node without what a snapshot never reads (managed fields, annotations, images other than
/// oomsday's leaker, volumes, addresses): a few hundred bytes instead of tens of kilobytes.
pub(crate) fn slim_node(mut node: Node) -> Node {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(s) = node.status.as_mut() {
        let leaker = crate::spec::DEFAULT_LEAKER_IMAGE;
        s.images = s.images.take().map(|images| {
            images
                .into_iter()
                .filter(|i| i.names.iter().flatten().any(|n| n == leaker))
                .collect()
        });
        *s = NodeStatus {
            allocatable: s.allocatable.take(),
            capacity: s.capacity.take(),
            conditions: s.conditions.take(),
            images: s.images.take(),
            ..NodeStatus::default()
        };
    }
    node
}

/// The Deployment or StatefulSet that owns a pod: a ReplicaSet named after its Deployment and
/// the pod-template-hash (which is how the Deployment controller names them), or a StatefulSet.
fn owner(pod: &Pod) -> Option<(&'static str, String)> {
    let r = pod
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))?;
    match r.kind.as_str() {
        "StatefulSet" => Some(("StatefulSet", r.name.clone())),
        "ReplicaSet" => {
            let hash = pod.metadata.labels.as_ref()?.get("pod-template-hash")?;
            let deployment = r.name.strip_suffix(&format!("-{hash}"))?;
            Some(("Deployment", deployment.to_string()))
        }
        _ => None,
    }
}

/// Per node, by index: the pods the model does not model one by one and their load.
struct NodeLoads {
    others: Vec<OtherPods>,
    /// The other pods' working set, measured or estimated from their requests.
    estimated: Vec<u64>,
    /// The modelled pods' measured working set.
    modelled_ws: Vec<u64>,
}

impl NodeLoads {
    /// Node `i`'s other pods with their working set.
    fn other_pods(&self, i: usize, pods_cgroup: Option<u64>) -> OtherPods {
        // Everything outside the modelled pods in the pods' cgroup is the other pods' load
        // (with every pod's own overhead); without a Summary, their requests' estimate.
        let mut other = self.others[i];
        other.working_set = Quantity::from_bytes(match pods_cgroup {
            Some(all) => all.saturating_sub(self.modelled_ws[i]),
            None => self.estimated[i],
        });
        other
    }
}

/// A pod's working set estimated from its containers' requests and limits.
fn estimated_working_set(pod: &PodFacts) -> u64 {
    pod.containers
        .iter()
        .map(|(_, m)| {
            manifests::estimated_working_set(
                m.request.map(Quantity::from_bytes),
                m.limit.map(Quantity::from_bytes),
            )
            .bytes()
        })
        .sum()
}

/// One node as the API showed it, with the other pods on it.
fn node_model(e: &NodeEntry, d: &DerivedNode, other: OtherPods) -> NodeModel {
    let status = e.node.status.as_ref();
    let spec = e.node.spec.as_ref();
    NodeModel {
        name: d.group.name.clone(),
        labels: e.node.metadata.labels.clone().unwrap_or_default(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| TaintModel {
                key: t.key.clone(),
                value: t.value.clone().filter(|v| !v.is_empty()),
                effect: t.effect.clone(),
            })
            .collect(),
        conditions: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        // A malformed figure was refused when the node was derived (node_from_kube).
        allocatable: objects::node_memory(&e.node)
            .ok()
            .and_then(|m| m.allocatable),
        system_memory: e.measured.then_some(d.kubelet.system_memory),
        other_pods: (other.pods > 0 || other.working_set.bytes() > 0).then_some(other),
    }
}

/// Whether a node belongs in group `g`: the same size, reservations and cgroup version, and the
/// same instance type as the group's first node.
fn same_group(g: &NodeGroup, first: &NodeEntry, d: &DerivedNode, itype: Option<&String>) -> bool {
    // The cgroup version is the group's (it decides what the kubelet's memcg notification does).
    g.cgroup_version == d.group.cgroup_version
        && g.capacity == d.group.capacity
        && g.system_reserved == d.group.system_reserved
        && g.kube_reserved == d.group.kube_reserved
        && first
            .node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_TYPE))
            == itype
}

/// Labels every node of the group has go to the group.
fn hoist_common_labels(g: &mut NodeGroup) {
    let mut common = g.nodes[0].labels.clone();
    common.retain(|k, v| g.nodes.iter().all(|n| n.labels.get(k) == Some(v)));
    for n in &mut g.nodes {
        n.labels.retain(|k, _| !common.contains_key(k));
    }
    g.labels = common;
}

/// A node's system memory equal to the model's says nothing.
fn forget_default_system_memory(g: &mut NodeGroup, kubelet: &KubeletSettings) {
    for n in &mut g.nodes {
        if n.system_memory == Some(kubelet.system_memory) {
            n.system_memory = None;
        }
    }
}

/// The group's name, not yet in `names`: its one node's, its instance type or its size, with
/// a number after it when taken.
fn unique_group_name(g: &NodeGroup, names: &mut BTreeSet<String>) -> String {
    let base = if g.count == 1 {
        g.nodes[0].name.clone()
    } else if !g.name.is_empty() {
        g.name.clone()
    } else {
        format!("{}-nodes", g.capacity)
    };
    let mut name = base.clone();
    let mut k = 2;
    while !names.insert(name.clone()) {
        name = format!("{base}-{k}");
        k += 1;
    }
    name
}

impl Builder {
    pub fn new(scope: Scope) -> Self {
        Builder {
            scope,
            ..Builder::default()
        }
    }

    /// Something the model's reader should know, said once.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// A PriorityClass: pod templates name them. Give these before the workloads.
    pub fn priority_class(&mut self, pc: &PriorityClass) {
        self.priorities.extend(manifests::priority_class(pc));
    }

    /// A node, as listed (slimmed here).
    pub fn node(&mut self, node: Node) -> Result<()> {
        let name = node
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::Model("a Node has no metadata.name".into()))?;
        if self.node_index.contains_key(&name) {
            return Ok(());
        }
        self.node_index.insert(name, self.nodes.len());
        self.nodes.push(NodeEntry {
            node: slim_node(node),
            derived: None,
            pods_cgroup: None,
            usage: HashMap::new(),
            measured: false,
        });
        Ok(())
    }

    /// The names of the nodes given so far, in order.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| n.node.metadata.name.clone())
            .collect()
    }

    /// What a node's kubelet said; the Summary is reduced to per-container working sets here.
    pub fn kubelet(&mut self, node: &str, kubelet: Kubelet) -> Result<()> {
        let i = *self
            .node_index
            .get(node)
            .ok_or_else(|| Error::Model(format!("kubelet of node {node}: no such node")))?;
        let mut notes = Vec::new();
        let entry = &mut self.nodes[i];
        match kubelet {
            Kubelet::Read {
                config,
                summary,
                metrics,
            } => {
                let d = node_from_kube(&entry.node, &config, summary.as_ref(), metrics.as_deref())
                    .map_err(|e| Error::Model(format!("node {node}: configz: {e}")))?;
                if metrics.is_none() {
                    notes.push(format!(
                        "node {node}: its kubelet's /metrics did not answer: its cgroup version \
                         is unknown"
                    ));
                }
                match &summary {
                    Some(s) => {
                        entry.pods_cgroup = s
                            .node
                            .system_containers
                            .iter()
                            .find(|c| c.name == "pods")
                            .and_then(|c| c.memory.as_ref())
                            .and_then(|m| m.working_set_bytes);
                        entry.measured = true;
                    }
                    None => notes.push(format!(
                        "node {node}: the Summary API did not answer: its pods' working sets are \
                         estimated"
                    )),
                }
                for u in &d.usage {
                    entry
                        .usage
                        .entry((u.namespace.clone(), u.pod.clone()))
                        .or_default()
                        .insert(u.container.clone(), u.working_set);
                }
                notes.extend(d.notes.iter().map(|n| format!("node {node}: {n}")));
                entry.derived = Some(DerivedNode {
                    usage: Vec::new(),
                    ..d
                });
            }
            Kubelet::Unread(why) => {
                entry.derived = Some(default_kubelet(&entry.node)?);
                notes.push(format!(
                    "node {node}: {why}: Kubernetes' default kubelet settings (evictionHard \
                     memory.available 100Mi, kernelMemcgNotification off, 5m pressure \
                     transition), reservations from status.allocatable, cgroup version unknown"
                ));
            }
        }
        for n in notes {
            self.note(n);
        }
        Ok(())
    }

    /// A Deployment (modelled when its namespace is in scope).
    pub fn deployment(&mut self, dep: &Deployment) -> Result<()> {
        if !self
            .scope
            .includes(dep.metadata.namespace.as_deref().unwrap_or("default"))
        {
            return Ok(());
        }
        let w = manifests::deployment_workload(dep, &self.priorities)?;
        self.workloads.push(("Deployment", w));
        Ok(())
    }

    /// A StatefulSet (modelled when its namespace is in scope).
    pub fn statefulset(&mut self, sts: &StatefulSet) -> Result<()> {
        if !self
            .scope
            .includes(sts.metadata.namespace.as_deref().unwrap_or("default"))
        {
            return Ok(());
        }
        let w = manifests::statefulset_workload(sts, &self.priorities)?;
        self.workloads.push(("StatefulSet", w));
        Ok(())
    }

    /// A pod, any namespace: a replica of a modelled workload, or load on its node. Pods that
    /// have ended (Succeeded, Failed: evicted ones stay listed) use no memory and are skipped.
    pub fn pod(&mut self, pod: &Pod) -> Result<()> {
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name =
            pod.metadata.name.clone().ok_or_else(|| {
                Error::Model(format!("a Pod in {namespace} has no metadata.name"))
            })?;
        let status = pod.status.as_ref();
        if matches!(
            status.and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        ) {
            return Ok(());
        }
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| Error::Model(format!("Pod {namespace}/{name} has no spec")))?;
        let mut containers = Vec::with_capacity(spec.containers.len());
        for c in &spec.containers {
            let res = c.resources.as_ref();
            let what = |f: &str| format!("Pod {namespace}/{name}: container {}: {f}", c.name);
            let bytes = |list, field: &str| {
                objects::memory(list, &what(field)).map(|q| q.map(Quantity::bytes))
            };
            let request = bytes(
                res.and_then(|r| r.requests.as_ref()),
                "resources.requests.memory",
            )?;
            let limit = bytes(
                res.and_then(|r| r.limits.as_ref()),
                "resources.limits.memory",
            )?;
            containers.push((c.name.clone(), MemorySpec { request, limit }));
        }
        self.pods.push(PodFacts {
            owner: owner(pod),
            node: spec.node_name.clone(),
            containers,
            qos: status.and_then(|s| s.qos_class.clone()),
            priority: spec.priority,
            namespace,
            name,
        });
        Ok(())
    }

    /// A PodDisruptionBudget (in scope).
    pub fn pdb(&mut self, pdb: &PodDisruptionBudget) -> Result<()> {
        if self
            .scope
            .includes(pdb.metadata.namespace.as_deref().unwrap_or("default"))
        {
            self.pdbs.push(manifests::pdb_model(pdb)?);
        }
        Ok(())
    }

    /// A LimitRange (in scope).
    pub fn limit_range(&mut self, lr: &LimitRange) -> Result<()> {
        if self
            .scope
            .includes(lr.metadata.namespace.as_deref().unwrap_or("default"))
        {
            self.limit_ranges.extend(manifests::limit_range_models(lr)?);
        }
        Ok(())
    }

    /// A HorizontalPodAutoscaler (in scope; only memory ones are modelled).
    pub fn hpa(&mut self, hpa: &HorizontalPodAutoscaler) -> Result<()> {
        if self
            .scope
            .includes(hpa.metadata.namespace.as_deref().unwrap_or("default"))
        {
            self.hpas.extend(manifests::hpa_model(hpa)?);
        }
        Ok(())
    }

    /// The model.
    pub fn finish(mut self, taken: &Taken) -> Result<ClusterModel> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].derived.is_none() {
                let name = self.nodes[i].node.metadata.name.clone().unwrap_or_default();
                self.kubelet(&name, Kubelet::Unread("its kubelet was not read".into()))?;
            }
        }
        let kubelet = self.kubelet_settings();
        let (workloads, modelled) = self.workloads_with_pods();
        let node_groups = self.node_groups(&modelled, &kubelet);
        let measured = self.nodes.iter().filter(|n| n.measured).count();
        let working_sets = match measured {
            0 => WorkingSetSource::Estimated,
            m if m == self.nodes.len() => WorkingSetSource::Measured,
            _ => WorkingSetSource::Partly,
        };
        if working_sets != WorkingSetSource::Measured {
            self.note(
                "working sets are estimates (each container's memory request, else its limit, \
                 else 256Mi) where no kubelet Summary API could be read: grant nodes/proxy get \
                 (deploy/rbac-node-proxy.yaml) to measure them",
            );
        }
        self.conditions_notes();
        self.cgroup_notes(&node_groups, &kubelet);
        let namespaces = match &self.scope {
            Scope::All => Vec::new(),
            Scope::Namespaces(n) => n.iter().cloned().collect(),
        };
        let name = taken
            .context
            .strip_prefix("context ")
            .unwrap_or(&taken.context)
            .to_string();
        let model = ClusterModel {
            api_version: MODEL_API_VERSION.into(),
            kind: MODEL_KIND.into(),
            metadata: ModelMeta {
                name,
                description: Some(format!(
                    "a snapshot of {} taken {}",
                    taken.context,
                    taken.at.strftime("%Y-%m-%d %H:%M:%S UTC")
                )),
                snapshot: Some(SnapshotInfo {
                    taken_at: taken.at,
                    context: taken.context.clone(),
                    namespaces,
                    working_sets,
                    nodes: self.nodes.len() as u32,
                    pods: self.pods.len() as u32,
                    notes: self.notes.clone(),
                }),
            },
            spec: ClusterSpec {
                start: Some(taken.at),
                kubelet,
                node_groups,
                workloads,
                pdbs: self.pdbs,
                limit_ranges: self.limit_ranges,
                hpas: self.hpas,
            },
        };
        if model.spec.node_groups.is_empty() {
            return Err(Error::Model("the cluster has no nodes".into()));
        }
        model.check()?;
        Ok(model)
    }

    /// The settings most nodes' kubelets run with (the model has one set), with the nodes
    /// whose kubelet differs said in the notes; the memory the kubelet and the OS use is the
    /// median over the measured nodes.
    fn kubelet_settings(&mut self) -> KubeletSettings {
        let configured = |k: &KubeletSettings| {
            let mut v = serde_json::to_value(k).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.remove("kubeletMemory");
                o.remove("systemMemory");
            }
            v
        };
        let mut counts: Vec<(serde_json::Value, usize, KubeletSettings)> = Vec::new();
        for d in self.nodes.iter().filter_map(|n| n.derived.as_ref()) {
            let key = configured(&d.kubelet);
            match counts.iter_mut().find(|(k, _, _)| *k == key) {
                Some(c) => c.1 += 1,
                None => counts.push((key, 1, d.kubelet.clone())),
            }
        }
        // Most nodes; on a tie, the first listed.
        let Some(best) = counts
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (c.1, std::cmp::Reverse(*i)))
            .map(|(_, c)| c.clone())
        else {
            return KubeletSettings::default();
        };
        let (best_key, n, mut k) = best;
        let total = self.nodes.len();
        let mut differing = Vec::new();
        for e in &self.nodes {
            let Some(d) = &e.derived else { continue };
            let key = configured(&d.kubelet);
            if key == best_key {
                continue;
            }
            let fields: Vec<String> = match (key.as_object(), best_key.as_object()) {
                (Some(a), Some(b)) => a
                    .iter()
                    .filter(|(f, v)| b.get(*f) != Some(*v))
                    .map(|(f, v)| format!("{f} {}", v.to_string().trim_matches('"')))
                    .collect(),
                _ => Vec::new(),
            };
            differing.push(format!("{} ({})", d.group.name, fields.join(", ")));
        }
        if !differing.is_empty() {
            self.notes.push(format!(
                "kubelet settings are those of {n} of {total} nodes; the model gives them to \
                 every node, but these differ: {}",
                differing.join("; ")
            ));
        }
        let measured: Vec<&DerivedNode> = self
            .nodes
            .iter()
            .filter(|e| e.measured)
            .filter_map(|e| e.derived.as_ref())
            .collect();
        if !measured.is_empty() {
            let median = |f: &dyn Fn(&DerivedNode) -> u64| {
                let mut v: Vec<u64> = measured.iter().map(|d| f(d)).collect();
                v.sort_unstable();
                Quantity::from_bytes(v[v.len() / 2])
            };
            k.kubelet_memory = median(&|d| d.kubelet.kubelet_memory.bytes());
            k.system_memory = median(&|d| d.kubelet.system_memory.bytes());
        }
        k
    }

    /// Which pods each modelled workload owns (indices into `self.pods`, per workload in
    /// `self.workloads`' order), and for each pod whether a modelled workload owns it.
    fn pods_by_workload(&self) -> (Vec<Vec<usize>>, Vec<bool>) {
        let index: HashMap<(&str, &str, &str), usize> = self
            .workloads
            .iter()
            .enumerate()
            .map(|(i, (kind, w))| ((*kind, w.namespace.as_str(), w.name.as_str()), i))
            .collect();
        let mut owned: Vec<Vec<usize>> = vec![Vec::new(); self.workloads.len()];
        let mut modelled = vec![false; self.pods.len()];
        for (p, pod) in self.pods.iter().enumerate() {
            if let Some((kind, name)) = &pod.owner
                && let Some(&w) = index.get(&(*kind, pod.namespace.as_str(), name.as_str()))
            {
                owned[w].push(p);
                modelled[p] = true;
            }
        }
        (owned, modelled)
    }

    /// The modelled workloads with their observed pods, and which pods they own (by index).
    fn workloads_with_pods(&mut self) -> (Vec<WorkloadModel>, Vec<bool>) {
        let (owned, modelled) = self.pods_by_workload();
        let mut notes = Vec::new();
        let mut out = Vec::with_capacity(self.workloads.len());
        for ((_, mut w), pods) in std::mem::take(&mut self.workloads).into_iter().zip(owned) {
            let mut pods: Vec<&PodFacts> = pods.iter().map(|&p| &self.pods[p]).collect();
            pods.sort_by(|a, b| a.name.cmp(&b.name));
            if pods.is_empty() {
                out.push(w);
                continue;
            }
            let observed: Vec<ObservedPod> = pods
                .iter()
                .map(|p| ObservedPod {
                    name: p.name.clone(),
                    node: p.node.clone(),
                    working_sets: self
                        .usage_of(p)
                        .map(|u| {
                            u.iter()
                                .map(|(c, b)| (c.clone(), Quantity::from_bytes(*b)))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect();
            let mut spread = BTreeMap::new();
            for c in &mut w.containers {
                let values: Vec<u64> = observed
                    .iter()
                    .filter_map(|p| p.working_sets.get(&c.name).map(|q| q.bytes()))
                    .collect();
                if let Some(s) = Spread::of(&values) {
                    // The container's figure is the most any of its pods used, as for a model
                    // derived from manifests and a Summary (`from_kube::apply_usage`).
                    c.working_set = s.max;
                    c.jitter = None;
                    spread.insert(c.name.clone(), s);
                }
            }
            let qos: BTreeSet<&str> = pods.iter().filter_map(|p| p.qos.as_deref()).collect();
            let priorities: BTreeSet<i32> = pods.iter().filter_map(|p| p.priority).collect();
            match priorities.len() {
                0 => {}
                1 => w.priority = priorities.into_iter().next().unwrap_or(w.priority),
                _ => notes.push(format!(
                    "{}/{}: its pods run with different priorities {priorities:?}; the model \
                     gives them {}",
                    w.namespace, w.name, w.priority
                )),
            }
            if let Some(n) = self.resources_differ(&w, &pods) {
                notes.push(n);
            }
            w.observed = Some(ObservedPods {
                qos: (!qos.is_empty()).then(|| qos.into_iter().collect::<Vec<_>>().join(", ")),
                spread,
                pods: observed,
            });
            out.push(w);
        }
        for n in notes {
            self.note(n);
        }
        (out, modelled)
    }

    /// What the Summary API said of a pod's containers, if its node's was read.
    fn usage_of(&self, p: &PodFacts) -> Option<&BTreeMap<String, u64>> {
        let node = &self.nodes[*self.node_index.get(p.node.as_deref()?)?];
        node.usage.get(&(p.namespace.clone(), p.name.clone()))
    }

    /// A note when a workload's pods run with other memory requests or limits than its template
    /// and LimitRanges give them (a vertical autoscaler, a mutating webhook): the model keeps
    /// the template's.
    fn resources_differ(&self, w: &WorkloadModel, pods: &[&PodFacts]) -> Option<String> {
        let ranges: Vec<&LimitRangeModel> = self
            .limit_ranges
            .iter()
            .filter(|l| l.namespace == w.namespace)
            .collect();
        let expected: BTreeMap<&str, MemorySpec> = w
            .containers
            .iter()
            .map(|c| {
                let spec = MemorySpec {
                    request: c.resources.memory_request(),
                    limit: c.resources.memory_limit(),
                };
                (c.name.as_str(), admit(spec, &ranges))
            })
            .collect();
        let differ = pods.iter().find(|p| {
            p.containers.iter().any(|(c, m)| {
                expected
                    .get(c.as_str())
                    .is_some_and(|e| admit(*m, &ranges) != *e)
            })
        })?;
        Some(format!(
            "{}/{}: pod {} runs with other memory requests or limits than its template (a \
             vertical autoscaler or a webhook?); the model keeps the template's",
            w.namespace, w.name, differ.name
        ))
    }

    /// The nodes, grouped by size and reservations (and instance type, when labelled).
    fn node_groups(&self, modelled: &[bool], kubelet: &KubeletSettings) -> Vec<NodeGroup> {
        let loads = self.node_loads(modelled);
        let mut groups: Vec<(NodeGroup, Vec<usize>)> = Vec::new();
        for i in self.nodes_by_name() {
            let e = &self.nodes[i];
            let Some(d) = &e.derived else { continue };
            let model = node_model(e, d, loads.other_pods(i, e.pods_cgroup));
            self.join_group(&mut groups, i, d, model);
        }
        let mut names = BTreeSet::new();
        groups
            .into_iter()
            .map(|(mut g, _)| {
                hoist_common_labels(&mut g);
                forget_default_system_memory(&mut g, kubelet);
                g.name = unique_group_name(&g, &mut names);
                g
            })
            .collect()
    }

    /// Per node: the pods the model does not model, and the modelled pods' measured use.
    fn node_loads(&self, modelled: &[bool]) -> NodeLoads {
        let mut loads = NodeLoads {
            others: vec![OtherPods::default(); self.nodes.len()],
            estimated: vec![0; self.nodes.len()],
            modelled_ws: vec![0; self.nodes.len()],
        };
        for (p, pod) in self.pods.iter().enumerate() {
            let Some(&n) = pod.node.as_deref().and_then(|n| self.node_index.get(n)) else {
                continue;
            };
            let measured = self.usage_of(pod).map(|u| u.values().sum::<u64>());
            if modelled[p] {
                loads.modelled_ws[n] += measured.unwrap_or(0);
                continue;
            }
            let o = &mut loads.others[n];
            o.pods += 1;
            let requests: u64 = pod.containers.iter().filter_map(|(_, m)| m.request).sum();
            o.requests = Quantity::from_bytes(o.requests.bytes() + requests);
            loads.estimated[n] += measured.unwrap_or_else(|| estimated_working_set(pod));
        }
        loads
    }

    /// The nodes' indexes in order of name, so that groups and their nodes come out sorted.
    fn nodes_by_name(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by(|&a, &b| {
            self.nodes[a]
                .node
                .metadata
                .name
                .cmp(&self.nodes[b].node.metadata.name)
        });
        order
    }

    /// Adds node `i` to the first group it matches, or starts a group of its own.
    fn join_group(
        &self,
        groups: &mut Vec<(NodeGroup, Vec<usize>)>,
        i: usize,
        d: &DerivedNode,
        model: NodeModel,
    ) {
        let itype = model.labels.get(INSTANCE_TYPE).cloned();
        match groups
            .iter_mut()
            .find(|(g, members)| same_group(g, &self.nodes[members[0]], d, itype.as_ref()))
        {
            Some((g, members)) => {
                g.count += 1;
                g.nodes.push(model);
                members.push(i);
            }
            None => groups.push((
                NodeGroup {
                    name: itype.unwrap_or_default(),
                    count: 1,
                    nodes: vec![model],
                    ..d.group.clone()
                },
                vec![i],
            )),
        }
    }

    /// A note when nodes run cgroup v2 while their kubelets are configured with
    /// `kernelMemcgNotification`: configz says it is on, and it does nothing there.
    fn cgroup_notes(&mut self, groups: &[NodeGroup], kubelet: &KubeletSettings) {
        let v2: Vec<&str> = groups
            .iter()
            .filter(|g| g.cgroup_version == Some(CgroupVersion::V2))
            .map(|g| g.name.as_str())
            .collect();
        if kubelet.kernel_memcg_notification && !v2.is_empty() {
            self.note(format!(
                "node groups {} run cgroup v2: their kubelets' configz says \
                 kernelMemcgNotification: true, but cgroup v2 has no memcg threshold \
                 notification (the kubelet's notifier is a disabled one there): the simulator's \
                 eviction managers find a crossing on their 10 s look only",
                v2.join(", ")
            ));
        }
    }

    /// Notes for nodes that were not healthy or took no pods when the snapshot was taken: the
    /// simulation starts every node Ready and without pressure.
    fn conditions_notes(&mut self) {
        let mut notes = Vec::new();
        for e in &self.nodes {
            let name = e.node.metadata.name.clone().unwrap_or_default();
            let conditions = e.node.status.as_ref().and_then(|s| s.conditions.as_ref());
            for c in conditions.into_iter().flatten() {
                let bad = match c.type_.as_str() {
                    "Ready" => c.status != "True",
                    _ => c.status == "True",
                };
                if bad {
                    notes.push(format!(
                        "node {name} was {}={} when the snapshot was taken; the simulation \
                         starts it healthy",
                        c.type_, c.status
                    ));
                }
            }
            if e.node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
            {
                notes.push(format!(
                    "node {name} is cordoned: the simulated scheduler sends it no new pods"
                ));
            }
        }
        let unplaced = self.pods.iter().filter(|p| p.node.is_none()).count();
        if unplaced > 0 {
            notes.push(format!(
                "{unplaced} pods were Pending (on no node) when the snapshot was taken"
            ));
        }
        for n in notes {
            self.note(n);
        }
    }
}

/// A node whose kubelet could not be read: Kubernetes' defaults, and the reservations the Node's
/// own `status.allocatable` implies (capacity − allocatable − the default hard threshold),
/// taken as kube-reserved since the split is unknown.
fn default_kubelet(node: &Node) -> Result<DerivedNode> {
    // A malformed figure is node_from_kube's to refuse, with its field.
    let memory = objects::node_memory(node).unwrap_or_default();
    let mut config = KubeletConfiguration {
        eviction_hard: BTreeMap::from([(
            "memory.available".to_string(),
            Quantity::from_bytes(DEFAULT_EVICTION_HARD).to_string(),
        )]),
        ..KubeletConfiguration::default()
    };
    if let (Some(c), Some(a)) = (memory.capacity, memory.allocatable) {
        let reserved = c
            .bytes()
            .saturating_sub(a.bytes())
            .saturating_sub(DEFAULT_EVICTION_HARD);
        config.kube_reserved = BTreeMap::from([(
            "memory".to_string(),
            Quantity::from_bytes(reserved).to_string(),
        )]);
    }
    node_from_kube(node, &config, None, None)
}

#[cfg(test)]
mod tests;
