//! A cluster model from a team's own Kubernetes manifests: Deployments and StatefulSets,
//! PodDisruptionBudgets, LimitRanges, HorizontalPodAutoscalers and PriorityClasses, plus node
//! groups given on the command line (`--nodes 120x32Gi`). Other kinds are skipped.
//!
//! Manifests do not say how much memory a container really uses. The annotation
//! `sim.oomsday.dev/working-set` on the pod template (all containers) or
//! `sim.oomsday.dev/working-set.<container>` says it; without one, the container's memory
//! request is taken, else its limit, else 256Mi.
//!
//! Each kind has its own conversion ([`deployment_workload`], [`pdb_model`], ...), shared with
//! `oomsday snapshot`, which builds the same model from the live objects.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, LimitRange, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oomsday_core::{CountOrPercent, Percent, Quantity};

use super::model::{
    ClusterModel, ClusterSpec, ContainerModel, HpaModel, KubeletSettings, LimitRangeModel,
    MODEL_API_VERSION, MODEL_KIND, ModelMeta, NodeGroup, PdbModel, ResourceList, Resources,
    WorkloadModel,
};
use crate::keys::SIM_WORKING_SET_ANNOTATION;
use crate::objects::memory;
use crate::{Error, Result};

/// Parses `COUNTxCAPACITY` (`120x32Gi`), optionally `:KUBE_RESERVED` (`120x32Gi:1Gi`).
pub fn parse_node_group(s: &str, index: usize) -> Result<NodeGroup> {
    let bad = || {
        Error::Model(format!(
            "--nodes {s:?}: expected COUNTxCAPACITY[:KUBE_RESERVED], e.g. 120x32Gi or 120x32Gi:1Gi"
        ))
    };
    let (sizes, reserved) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let (count, capacity) = sizes.split_once('x').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let capacity: Quantity = capacity.trim().parse().map_err(|_| bad())?;
    let kube_reserved = match reserved {
        Some(r) => r.trim().parse().map_err(|_| bad())?,
        None => Quantity::ZERO,
    };
    Ok(NodeGroup {
        name: format!("group-{}", index + 1),
        count,
        capacity,
        system_reserved: Quantity::ZERO,
        kube_reserved,
        labels: BTreeMap::new(),
        nodes: Vec::new(),
        cgroup_version: None,
    })
}

fn count_or_percent(v: &IntOrString) -> Result<CountOrPercent> {
    match v {
        IntOrString::Int(n) => Ok(CountOrPercent::Count((*n).max(0) as u32)),
        IntOrString::String(s) => s
            .parse()
            .map_err(|e: oomsday_core::UnitError| Error::Model(e.to_string())),
    }
}

/// What a container is taken to use when nothing measured it: its memory request, else its
/// limit, else 256Mi. The manifests path and a snapshot without the Summary API both use it.
pub fn estimated_working_set(request: Option<Quantity>, limit: Option<Quantity>) -> Quantity {
    request.or(limit).unwrap_or(Quantity::mib(256))
}

fn object_name(
    kind: &str,
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<(String, String)> {
    let namespace = m.namespace.clone().unwrap_or_else(|| "default".into());
    let name = m
        .name
        .clone()
        .ok_or_else(|| Error::Model(format!("a {kind} in {namespace} has no metadata.name")))?;
    Ok((namespace, name))
}

/// One container of the workload `namespace/name`: its memory requests and limits, and the
/// working set its template's annotation gives (per container, or for all), else an estimate.
fn container(
    namespace: &str,
    name: &str,
    c: &Container,
    annotations: &BTreeMap<String, String>,
) -> Result<ContainerModel> {
    let field = |what: &str| format!("{namespace}/{name}: container {}: {what}", c.name);
    let res = c.resources.clone().unwrap_or_default();
    let request = memory(res.requests.as_ref(), &field("requests.memory"))?;
    let limit = memory(res.limits.as_ref(), &field("limits.memory"))?;
    let annotated = annotations
        .get(&format!("{SIM_WORKING_SET_ANNOTATION}.{}", c.name))
        .or_else(|| annotations.get(SIM_WORKING_SET_ANNOTATION));
    let working_set = match annotated {
        Some(s) => s.parse().map_err(|e: oomsday_core::UnitError| {
            Error::Model(format!("{namespace}/{name}: {e}"))
        })?,
        None => estimated_working_set(request, limit),
    };
    Ok(ContainerModel {
        name: c.name.clone(),
        resources: Resources {
            requests: request.map(|m| ResourceList {
                memory: Some(m),
                cpu: None,
            }),
            limits: limit.map(|m| ResourceList {
                memory: Some(m),
                cpu: None,
            }),
        },
        working_set,
        jitter: None,
    })
}

/// A workload from a pod template and its controller's figures.
fn workload(
    name: String,
    namespace: String,
    replicas: u32,
    template: &PodTemplateSpec,
    strategy: Option<(CountOrPercent, CountOrPercent)>,
    priorities: &BTreeMap<String, i32>,
) -> Result<WorkloadModel> {
    let spec = template
        .spec
        .as_ref()
        .ok_or_else(|| Error::Model(format!("{namespace}/{name}: the pod template has no spec")))?;
    let meta = template.metadata.clone().unwrap_or_default();
    let annotations = meta.annotations.unwrap_or_default();
    let mut containers = Vec::new();
    for c in &spec.containers {
        containers.push(container(&namespace, &name, c, &annotations)?);
    }
    let priority = spec
        .priority
        .or_else(|| {
            spec.priority_class_name
                .as_ref()
                .and_then(|p| priorities.get(p).copied())
        })
        .unwrap_or(0);
    let (max_surge, max_unavailable) =
        strategy.unwrap_or((super::model::d_quarter(), super::model::d_quarter()));
    // Ready when the readiness probe first passes (its initial delay), or as soon as the
    // containers run when there is none.
    // https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes
    let ready_after = spec
        .containers
        .iter()
        .filter_map(|c| c.readiness_probe.as_ref())
        .map(|p| p.initial_delay_seconds.unwrap_or(0).max(0) as u64)
        .max()
        .unwrap_or(0);
    Ok(WorkloadModel {
        name,
        namespace,
        replicas,
        copies: None,
        priority,
        priority_class_name: spec.priority_class_name.clone(),
        labels: meta.labels.unwrap_or_default(),
        readiness_probe: spec.containers.iter().any(|c| c.readiness_probe.is_some()),
        containers,
        ready_after: oomsday_core::Duration::from_secs(ready_after),
        warmup: oomsday_core::Duration::from_secs(20),
        max_surge,
        max_unavailable,
        observed: None,
    })
}

/// The workload a Deployment describes; `priorities` maps PriorityClass names to values.
pub fn deployment_workload(
    dep: &Deployment,
    priorities: &BTreeMap<String, i32>,
) -> Result<WorkloadModel> {
    let (namespace, name) = object_name("Deployment", &dep.metadata)?;
    let s = dep.spec.clone().unwrap_or_default();
    let strategy = s
        .strategy
        .and_then(|st| st.rolling_update)
        .map(|ru| -> Result<_> {
            Ok((
                ru.max_surge
                    .as_ref()
                    .map(count_or_percent)
                    .transpose()?
                    .unwrap_or_else(super::model::d_quarter),
                ru.max_unavailable
                    .as_ref()
                    .map(count_or_percent)
                    .transpose()?
                    .unwrap_or_else(super::model::d_quarter),
            ))
        })
        .transpose()
        .map_err(|e| Error::Model(format!("Deployment {namespace}/{name}: {e}")))?;
    workload(
        name,
        namespace,
        s.replicas.unwrap_or(1).max(0) as u32,
        &s.template,
        strategy,
        priorities,
    )
}

/// The workload a StatefulSet describes.
pub fn statefulset_workload(
    sts: &StatefulSet,
    priorities: &BTreeMap<String, i32>,
) -> Result<WorkloadModel> {
    let (namespace, name) = object_name("StatefulSet", &sts.metadata)?;
    let s = sts.spec.clone().unwrap_or_default();
    workload(
        name,
        namespace,
        s.replicas.unwrap_or(1).max(0) as u32,
        &s.template,
        None,
        priorities,
    )
}

/// A PodDisruptionBudget as the model has it.
pub fn pdb_model(pdb: &PodDisruptionBudget) -> Result<PdbModel> {
    let (namespace, name) = object_name("PodDisruptionBudget", &pdb.metadata)?;
    let s = pdb.spec.clone().unwrap_or_default();
    let bad = |e: Error| Error::Model(format!("PodDisruptionBudget {namespace}/{name}: {e}"));
    Ok(PdbModel {
        selector: s.selector.and_then(|l| l.match_labels).unwrap_or_default(),
        min_available: s
            .min_available
            .as_ref()
            .map(count_or_percent)
            .transpose()
            .map_err(bad)?,
        max_unavailable: s
            .max_unavailable
            .as_ref()
            .map(count_or_percent)
            .transpose()
            .map_err(bad)?,
        name,
        namespace,
    })
}

/// A LimitRange's `type: Container` items (the only ones that set container memory).
pub fn limit_range_models(lr: &LimitRange) -> Result<Vec<LimitRangeModel>> {
    let (namespace, name) = object_name("LimitRange", &lr.metadata)?;
    let mut out = Vec::new();
    for item in lr.spec.clone().map(|s| s.limits).unwrap_or_default() {
        if item.type_ != "Container" {
            continue;
        }
        let mem = |m: &Option<BTreeMap<String, _>>, field: &str| {
            memory(
                m.as_ref(),
                &format!("LimitRange {namespace}/{name}: {field}.memory"),
            )
        };
        out.push(LimitRangeModel {
            name: name.clone(),
            namespace: namespace.clone(),
            default: mem(&item.default, "default")?,
            default_request: mem(&item.default_request, "defaultRequest")?,
            max: mem(&item.max, "max")?,
        });
    }
    Ok(out)
}

/// A HorizontalPodAutoscaler on memory utilisation; None for the others (only memory-based
/// HPAs matter to a leak).
pub fn hpa_model(hpa: &HorizontalPodAutoscaler) -> Result<Option<HpaModel>> {
    let (namespace, name) = object_name("HorizontalPodAutoscaler", &hpa.metadata)?;
    let s = hpa.spec.clone().unwrap_or_default();
    let memory = s.metrics.unwrap_or_default().into_iter().find_map(|m| {
        let r = m.resource?;
        (r.name == "memory").then_some(r.target.average_utilization?)
    });
    Ok(memory.map(|util| HpaModel {
        name,
        namespace,
        target: s.scale_target_ref.name,
        min_replicas: s.min_replicas.unwrap_or(1).max(1) as u32,
        max_replicas: s.max_replicas.max(1) as u32,
        memory_utilization: Percent::new(util.clamp(0, 100) as u8)
            .unwrap_or(Percent::new(100).expect("100% is valid")),
    }))
}

/// A PriorityClass's name and value.
pub fn priority_class(pc: &PriorityClass) -> Option<(String, i32)> {
    pc.metadata.name.clone().map(|n| (n, pc.value))
}

/// A cluster model from the manifests in `path` (a file or a directory) on `nodes`.
pub fn from_manifests(
    path: &Path,
    nodes: Vec<NodeGroup>,
    kubelet: KubeletSettings,
) -> Result<ClusterModel> {
    let files = crate::spec::collect_files(path).map_err(|d| Error::Model(d.to_string()))?;
    let mut docs = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Io {
            context: format!("reading {}", f.display()),
            source,
        })?;
        let values: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| Error::Model(format!("{}: {e}", f.display())))?;
        docs.extend(values.into_iter().filter(|v| !v.is_null()));
    }
    let kind = |v: &serde_json::Value| {
        v.get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string()
    };
    let mut priorities = BTreeMap::new();
    for d in docs.iter().filter(|d| kind(d) == "PriorityClass") {
        let pc: PriorityClass = serde_json::from_value(d.clone())?;
        priorities.extend(priority_class(&pc));
    }
    let mut spec = ClusterSpec {
        kubelet,
        node_groups: nodes,
        ..ClusterSpec::default()
    };
    for d in &docs {
        match kind(d).as_str() {
            "Deployment" => {
                let dep: Deployment = serde_json::from_value(d.clone())?;
                spec.workloads.push(deployment_workload(&dep, &priorities)?);
            }
            "StatefulSet" => {
                let sts: StatefulSet = serde_json::from_value(d.clone())?;
                spec.workloads
                    .push(statefulset_workload(&sts, &priorities)?);
            }
            "PodDisruptionBudget" => {
                let pdb: PodDisruptionBudget = serde_json::from_value(d.clone())?;
                spec.pdbs.push(pdb_model(&pdb)?);
            }
            "LimitRange" => {
                let lr: LimitRange = serde_json::from_value(d.clone())?;
                spec.limit_ranges.extend(limit_range_models(&lr)?);
            }
            "HorizontalPodAutoscaler" => {
                let hpa: HorizontalPodAutoscaler = serde_json::from_value(d.clone())?;
                spec.hpas.extend(hpa_model(&hpa)?);
            }
            _ => {}
        }
    }
    let model = ClusterModel {
        api_version: MODEL_API_VERSION.into(),
        kind: MODEL_KIND.into(),
        metadata: ModelMeta {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "manifests".into()),
            description: None,
            snapshot: None,
        },
        spec,
    };
    if model.spec.workloads.is_empty() {
        return Err(Error::Model(format!(
            "{}: no Deployment or StatefulSet found",
            path.display()
        )));
    }
    model.check()?;
    Ok(model)
}

#[cfg(test)]
mod tests;
