//! [`SimCluster`]: the simulated cluster behind the engine's [`Cluster`] seam.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, LimitRange, LimitRangeItem, LimitRangeSpec, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements,
};
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oomsday_core::{CountOrPercent, Quantity};

use super::model::{ClusterModel, HpaModel, LimitRangeModel, MemorySpec};
use super::world::{Leak, PdbId, TplCtr, Workload, WorkloadId, World};
use crate::defences::Defences;
use crate::engine::{Cluster, InjectionPlan};
use crate::keys::LEAKER_CONTAINER;
use crate::observe::{Observation, Time};
use crate::spec::{Injected, InjectionMode, TargetKind};
use crate::{Error, Result};

/// A simulated Kubernetes cluster with a virtual clock. Same model and seed, same timeline.
#[derive(Debug, Clone)]
pub struct SimCluster {
    name: String,
    world: World,
}

impl SimCluster {
    /// Builds the cluster from its model, in its steady state, with the clock at the model's
    /// start.
    pub fn new(model: &ClusterModel, seed: u64) -> Result<Self> {
        let name = if model.metadata.name.is_empty() {
            "cluster".to_string()
        } else {
            model.metadata.name.clone()
        };
        Ok(SimCluster {
            name,
            world: World::new(model, seed)?,
        })
    }

    /// The nodes whose eviction threshold is met before any experiment (the model is past the
    /// edge there: it would evict, or lose the node, with no leak at all).
    pub fn past_the_edge(&self) -> Vec<&str> {
        self.world.past_edge_nodes().collect()
    }

    /// The warning for a model that fails by itself, when it does: what a run shows then
    /// would happen without the leak too.
    pub fn edge_warning(&self) -> Option<String> {
        let past = self.past_the_edge();
        let (first, rest) = past.split_first()?;
        let more = match rest.len() {
            0 => String::new(),
            k => format!(" and {k} more"),
        };
        Some(format!(
            "the model is past the edge before the experiment: {} of {} nodes ({first}{more}) \
             meet their eviction threshold with nothing injected; what follows would happen \
             without the leak too",
            past.len(),
            self.node_count()
        ))
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.world.node_count()
    }

    /// Number of pods that exist now.
    pub fn pod_count(&self) -> usize {
        self.world.live_pods()
    }

    /// Pods that are Pending (not scheduled), in the whole cluster.
    pub fn pending_pods(&self) -> usize {
        self.world.pending_pods()
    }

    /// The ready pods of a workload now, if it exists.
    pub fn ready_pods(&self, namespace: &str, name: &str) -> Option<u32> {
        let wl = self.world.find_workload(namespace, name)?;
        Some(self.world.ready_pods(wl))
    }

    fn leak_of(&self, plan: &InjectionPlan) -> Result<Leak> {
        let curve = plan.spec.leak.curve().map_err(|field| {
            Error::Invalid(format!("spec.leak.{field} is required for this pattern"))
        })?;
        Ok(Leak::new(curve, self.world.second_of(plan.deadline)))
    }

    fn target(&self, namespace: &str, name: &str) -> Result<WorkloadId> {
        self.world.find_workload(namespace, name).ok_or_else(|| {
            Error::Invalid(format!(
                "the simulated cluster {:?} has no workload {namespace}/{name}",
                self.name
            ))
        })
    }

    /// The defences of a workload as the Kubernetes objects a real cluster would return.
    /// (`kind` is the experiment's: the simulator rolls every workload out alike.)
    fn defences(&self, wl: WorkloadId, kind: TargetKind) -> Defences {
        let w = self.world.workload(wl);
        let t = self.world.clock();
        Defences {
            namespace: w.namespace().to_string(),
            kind,
            name: w.name().to_string(),
            replicas: w.replicas(),
            template: Some(pod_template(w)),
            pdbs: self
                .world
                .budgets_of(wl)
                .into_iter()
                .map(|b| self.pdb_object(b, t))
                .collect(),
            limit_ranges: self
                .world
                .limit_ranges()
                .iter()
                .filter(|l| l.namespace == w.namespace())
                .map(limit_range_object)
                .collect(),
            hpas: self
                .world
                .hpas()
                .iter()
                .filter(|h| h.namespace == w.namespace() && h.target == w.name())
                .map(hpa_object)
                .collect(),
            node_allocatable: self.world.ready_nodes().map(|n| n.allocatable()).collect(),
            node_capacity: self.world.ready_nodes().map(|n| n.capacity()).collect(),
            nodes: self.target_nodes(wl),
        }
    }

    /// The nodes the workload's pods run on, by name, each once.
    fn target_nodes(&self, wl: WorkloadId) -> Vec<String> {
        let nodes: std::collections::BTreeSet<&str> = self
            .world
            .hosts(wl)
            .into_iter()
            .map(|n| self.world.node_name(n))
            .collect();
        nodes.into_iter().map(str::to_string).collect()
    }

    /// PDB `b` as the API would return it, with its status at internal second `t`.
    fn pdb_object(&self, b: PdbId, t: u64) -> PodDisruptionBudget {
        let pdb = self.world.pdb(b);
        let (current, desired, allowed, expected) = self.world.budget_status(b, t);
        PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some(pdb.name.clone()),
                namespace: Some(pdb.namespace.clone()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                min_available: pdb.min_available.map(int_or_string),
                max_unavailable: pdb.max_unavailable.map(int_or_string),
                selector: Some(LabelSelector {
                    match_labels: Some(pdb.selector.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus {
                current_healthy: current as i32,
                desired_healthy: desired as i32,
                disruptions_allowed: allowed as i32,
                expected_pods: expected as i32,
                ..Default::default()
            }),
        }
    }
}

/// The workload's pod template: its labels, priority and containers.
fn pod_template(w: &Workload) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(w.labels().clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: w.template().iter().map(|c| container(w, c)).collect(),
            priority: Some(w.priority()),
            priority_class_name: w.priority_class_name().map(str::to_string),
            ..Default::default()
        }),
    }
}

/// A template container with its memory and, when the workload has one (never the leaker), a
/// readiness probe that passes after the workload's start-up time.
fn container(w: &Workload, c: &TplCtr) -> Container {
    Container {
        name: c.name().to_string(),
        image: Some(format!("simulated/{}", c.name())),
        resources: resources(c.memory()),
        readiness_probe: (w.readiness_probe() && !c.is_leaker()).then(|| Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(8080),
                ..Default::default()
            }),
            initial_delay_seconds: Some(w.ready_after() as i32),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A LimitRange as the API would return it: its container memory default, request and max.
fn limit_range_object(l: &LimitRangeModel) -> LimitRange {
    let mem = |q: Option<Quantity>| {
        q.map(|q| BTreeMap::from([("memory".to_string(), KQuantity(q.to_string()))]))
    };
    LimitRange {
        metadata: ObjectMeta {
            name: Some(l.name.clone()),
            namespace: Some(l.namespace.clone()),
            ..Default::default()
        },
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: mem(l.default),
                default_request: mem(l.default_request),
                max: mem(l.max),
                ..Default::default()
            }],
        }),
    }
}

/// An HPA as the API would return it: scaling its Deployment on memory utilisation.
fn hpa_object(h: &HpaModel) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(h.name.clone()),
            namespace: Some(h.namespace.clone()),
            ..Default::default()
        },
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: h.target.clone(),
            },
            min_replicas: Some(h.min_replicas as i32),
            max_replicas: h.max_replicas as i32,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "memory".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(i32::from(h.memory_utilization.get())),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

fn resources(m: MemorySpec) -> Option<ResourceRequirements> {
    let list = |v: Option<u64>| {
        v.map(|b| {
            BTreeMap::from([(
                "memory".to_string(),
                KQuantity(Quantity::from_bytes(b).to_string()),
            )])
        })
    };
    if m.request.is_none() && m.limit.is_none() {
        return None;
    }
    Some(ResourceRequirements {
        requests: list(m.request),
        limits: list(m.limit),
        ..Default::default()
    })
}

fn int_or_string(v: CountOrPercent) -> IntOrString {
    match v {
        CountOrPercent::Count(n) => IntOrString::Int(n as i32),
        CountOrPercent::Percent(p) => IntOrString::String(p.to_string()),
    }
}

impl Cluster for SimCluster {
    fn describe(&self) -> String {
        format!(
            "simulated: {} ({} nodes, {} pods)",
            self.name,
            self.node_count(),
            self.pod_count()
        )
    }

    fn simulated(&self) -> bool {
        true
    }

    fn now(&self) -> Time {
        self.world.now()
    }

    async fn preflight(&mut self, plan: &InjectionPlan) -> Result<Defences> {
        let wl = self.target(&plan.namespace, &plan.spec.target.name)?;
        self.world.set_target(wl);
        if plan.spec.steady_state.is_some() {
            // The steady-state gate judges the state before anything is injected; a run
            // without one reads the target's state from the first sample after the injection.
            self.world.report_baseline();
        }
        Ok(self.defences(wl, plan.spec.target.kind))
    }

    async fn inject(&mut self, plan: &InjectionPlan) -> Result<Injected> {
        let wl = self.target(&plan.namespace, &plan.spec.target.name)?;
        self.world.set_target(wl);
        let leak = self.leak_of(plan)?;
        let mut record = plan.record();
        // The real leaker reports every second; over a long leak, a few hundred samples per pod
        // draw the same curve.
        let now = self.world.clock();
        let every = (leak.deadline().saturating_sub(now) / 600).clamp(1, 30);
        self.world.sample_leaks_every(every, now);
        match plan.spec.injection.mode {
            InjectionMode::Sidecar => {
                let mut template = self.world.workload(wl).template().to_vec();
                template.retain(|c| !c.is_leaker());
                let mem = MemorySpec {
                    request: plan.spec.leak.request.map(|q| q.bytes()),
                    limit: plan.spec.leak.limit.bytes(),
                };
                template.push(World::leaker_template(LEAKER_CONTAINER, mem, leak));
                self.world.set_template(wl, template);
            }
            InjectionMode::Ephemeral => {
                let mut pods = self.world.running_pods(wl);
                if pods.is_empty() {
                    return Err(Error::Invalid(format!(
                        "no running pods of {}/{} to attach to",
                        plan.namespace, plan.spec.target.name
                    )));
                }
                // The same reproducible choice as on a real cluster: one definition of it.
                let names: Vec<String> = pods
                    .iter()
                    .map(|&p| self.world.pod_name(p).to_string())
                    .collect();
                let chosen =
                    crate::inject::choose_pods(&plan.run_id, &names, plan.spec.injection.pods);
                pods.retain(|&p| chosen.iter().any(|c| c == self.world.pod_name(p)));
                let n = pods.len();
                for &p in pods.iter().take(n) {
                    self.world
                        .attach_ephemeral(p, LEAKER_CONTAINER, leak.clone());
                    record.pods.push(self.world.pod_name(p).to_string());
                }
            }
        }
        Ok(record)
    }

    async fn revert(&mut self, record: &Injected) -> Result<()> {
        let wl = self.target(&record.namespace, &record.name)?;
        match record.mode {
            InjectionMode::Sidecar => {
                let template = self.world.workload(wl).template();
                if template.iter().any(|c| c.is_leaker()) {
                    let kept = template
                        .iter()
                        .filter(|c| !c.is_leaker())
                        .cloned()
                        .collect();
                    self.world.set_template(wl, kept);
                }
            }
            // Ephemeral containers cannot be removed; the leaker's own deadline ends the leak.
            InjectionMode::Ephemeral => {}
        }
        Ok(())
    }

    async fn observe(&mut self, until: Time) -> Result<Vec<Observation>> {
        let until = self.world.second_of(until);
        self.world.advance(until);
        Ok(self.world.take_observations())
    }
}
