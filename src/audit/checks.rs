//! The checks themselves. Every check reads objects and returns findings; nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, LimitRange, Node, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oomsday_core::{Quantity, human_bytes};

use super::{Finding, Inventory, Rule, Severity};
use crate::engine::Defences;
use crate::keys::CRITICAL_MARK;

/// A Deployment or StatefulSet as the checks see it.
struct Workload<'a> {
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    replicas: u32,
    template: Option<&'a PodTemplateSpec>,
    critical: bool,
    file: Option<&'a str>,
}

impl Workload<'_> {
    fn object(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
    fn labels(&self) -> BTreeMap<String, String> {
        self.template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }
    fn containers(&self) -> &[Container] {
        self.template
            .and_then(|t| t.spec.as_ref())
            .map_or(&[], |s| s.containers.as_slice())
    }
    fn finding(
        &self,
        rule: Rule,
        severity: Severity,
        object: String,
        message: String,
        fix: String,
    ) -> Finding {
        Finding {
            rule,
            severity,
            object,
            message,
            fix,
            file: self.file.map(str::to_string),
        }
    }
}

fn is_marked(map: Option<&BTreeMap<String, String>>) -> bool {
    map.and_then(|m| m.get(CRITICAL_MARK))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn memory(map: Option<&BTreeMap<String, K8sQuantity>>) -> Option<Option<u64>> {
    // Outer None: not set. Inner None: set but unparseable (still counts as set).
    map.and_then(|m| m.get("memory"))
        .map(|q| Quantity::from_str(&q.0).ok().map(Quantity::bytes))
}

/// A LimitRange's default memory limit for containers, if any.
fn default_memory_limit(lrs: &[&LimitRange]) -> Option<String> {
    lrs.iter()
        .filter_map(|lr| lr.spec.as_ref())
        .flat_map(|s| s.limits.iter())
        .filter(|i| i.type_ == "Container")
        .find_map(|i| i.default.as_ref()?.get("memory").map(|q| q.0.clone()))
}

fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = sel
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let exprs_ok = sel.match_expressions.as_ref().is_none_or(|es| {
        es.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            let v = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| values.contains(v)),
                "NotIn" => v.is_none_or(|v| !values.contains(v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            }
        })
    });
    // An empty selector matches every pod of the namespace (policy/v1 semantics).
    labels_ok && exprs_ok
}

fn pdb_matches(
    pdb: &PodDisruptionBudget,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    pdb.metadata.namespace.as_deref().unwrap_or(namespace) == namespace
        && pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| selector_matches(sel, labels))
}

/// What the audit reads of a Deployment or a StatefulSet: they differ in type, not in that.
fn workload<'a>(
    default_ns: &'a str,
    kind: &'a str,
    meta: &'a ObjectMeta,
    replicas: Option<i32>,
    template: Option<&'a PodTemplateSpec>,
    file: Option<&'a str>,
) -> Workload<'a> {
    Workload {
        kind,
        namespace: ns_of(meta.namespace.as_deref(), default_ns),
        name: meta.name.as_deref().unwrap_or("?"),
        replicas: replicas.map_or(1, |r| r.max(0) as u32),
        template,
        critical: is_marked(meta.labels.as_ref())
            || is_marked(meta.annotations.as_ref())
            || template
                .is_some_and(|t| is_marked(t.metadata.as_ref().and_then(|m| m.labels.as_ref()))),
        file,
    }
}

fn ns_of<'a>(ns: Option<&'a str>, default: &'a str) -> &'a str {
    ns.filter(|n| !n.is_empty()).unwrap_or(default)
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn container_fix(kind: &str, container: &str, body: &str) -> String {
    let inner = format!("- name: {container}\n{}", indent(body, 2));
    let path = if kind == "Pod" {
        "spec:\n  containers:\n".to_string()
    } else {
        "spec:\n  template:\n    spec:\n      containers:\n".to_string()
    };
    let depth = if kind == "Pod" { 4 } else { 8 };
    format!("{path}{}\n", indent(&inner, depth))
}

/// Checks of one workload against the PDBs, LimitRanges and HPAs that apply to it.
fn check_workload(
    w: &Workload<'_>,
    pdbs: &[&PodDisruptionBudget],
    lrs: &[&LimitRange],
    hpas: &[&HorizontalPodAutoscaler],
    allocatable: Option<u64>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let lr_default = default_memory_limit(lrs);

    // Containers: memory limits and requests, readiness probes.
    let mut pod_request: Option<u64> = Some(0);
    for c in w.containers() {
        let res = c.resources.as_ref();
        let limit = memory(res.and_then(|r| r.limits.as_ref()));
        let request = memory(res.and_then(|r| r.requests.as_ref()));
        let object = format!("{} container {}", w.object(), c.name);
        let size = request
            .flatten()
            .or(limit.flatten())
            .map(|b| Quantity::from_bytes(b).to_string());
        let suggested = size
            .clone()
            .unwrap_or_else(|| "512Mi  # size to the container's real peak".into());
        if limit.is_none() {
            let fix = container_fix(
                w.kind,
                &c.name,
                &format!("resources:\n  limits:\n    memory: {suggested}"),
            );
            let (severity, message) = match &lr_default {
                Some(d) => (
                    Severity::Low,
                    format!(
                        "container {} has no memory limit; the namespace LimitRange gives it {d} by default",
                        c.name
                    ),
                ),
                None => (
                    if w.critical {
                        Severity::Critical
                    } else {
                        Severity::High
                    },
                    format!(
                        "container {} has no memory limit and no LimitRange default: a leak can take the whole node",
                        c.name
                    ),
                ),
            };
            out.push(w.finding(
                Rule::MemoryLimitMissing,
                severity,
                object.clone(),
                message,
                fix,
            ));
        }
        if request.is_none() && limit.is_none() {
            // Without a request (and no limit to default it from) the scheduler packs the pod as if
            // it used no memory, which is how full nodes get more pods.
            let fix = container_fix(
                w.kind,
                &c.name,
                &format!("resources:\n  requests:\n    memory: {suggested}"),
            );
            out.push(w.finding(
                Rule::MemoryRequestMissing,
                Severity::Medium,
                object.clone(),
                format!(
                    "container {} has no memory request: the scheduler places it as if it used no memory",
                    c.name
                ),
                fix,
            ));
        }
        pod_request = match (pod_request, request.flatten().or(limit.flatten())) {
            (Some(sum), Some(b)) => Some(sum + b),
            _ => None,
        };
        if c.readiness_probe.is_none() {
            let fix = container_fix(
                w.kind,
                &c.name,
                "readinessProbe:\n  httpGet:\n    path: /healthz  # your readiness endpoint\n    port: 8080\n  periodSeconds: 5\n  failureThreshold: 3",
            );
            out.push(w.finding(
                Rule::ReadinessProbeMissing,
                Severity::Medium,
                object,
                format!(
                    "container {} has no readiness probe: it keeps receiving traffic while it is failing",
                    c.name
                ),
                fix,
            ));
        }
    }

    // Disruption budget.
    if pdbs.is_empty() {
        let labels = w.labels();
        let match_labels = if labels.is_empty() {
            "      app: NAME  # the pods' labels".to_string()
        } else {
            labels
                .iter()
                .map(|(k, v)| format!("      {k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let min = if w.replicas > 1 {
            IntOrString::String("50%".into())
        } else {
            IntOrString::Int(1)
        };
        let min = match min {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => format!("\"{s}\""),
        };
        out.push(w.finding(
            Rule::WorkloadWithoutPdb,
            Severity::High,
            w.object(),
            format!(
                "{} has no PodDisruptionBudget: a drain or an eviction storm can take every one of its {} pods",
                w.name, w.replicas
            ),
            format!(
                "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  minAvailable: {min}\n  selector:\n    matchLabels:\n{match_labels}\n",
                w.name, w.namespace
            ),
        ));
    }

    // HPA capacity.
    for hpa in hpas {
        let Some(spec) = hpa.spec.as_ref() else {
            continue;
        };
        let max = u32::try_from(spec.max_replicas).unwrap_or(0);
        let hpa_name = hpa.metadata.name.as_deref().unwrap_or("?");
        let object = format!("HorizontalPodAutoscaler {}/{}", w.namespace, hpa_name);
        match (pod_request, allocatable) {
            (None, _) => out.push(w.finding(
                Rule::HpaWithoutMemoryRequest,
                Severity::Medium,
                object,
                format!(
                    "{hpa_name} scales {} up to {max} pods whose memory request is not set: nothing bounds the memory it can claim",
                    w.name
                ),
                container_fix(w.kind, "CONTAINER", "resources:\n  requests:\n    memory: 512Mi  # every container"),
            )),
            (Some(req), Some(total)) if req > 0 && u64::from(max) * req > total => {
                let fits = (total / req).max(1);
                out.push(w.finding(
                    Rule::HpaExceedsCapacity,
                    Severity::High,
                    object,
                    format!(
                        "{hpa_name} may scale {} to {max} pods × {} = {}, but the nodes hold {} in all: at most {fits} fit",
                        w.name,
                        human_bytes(req),
                        human_bytes(u64::from(max) * req),
                        human_bytes(total)
                    ),
                    format!("spec:\n  maxReplicas: {fits}  # or add node capacity\n"),
                ));
            }
            _ => {}
        }
    }

    // Critical workloads: Guaranteed QoS and a priority class.
    if w.critical {
        let qos = qos_class(w.containers());
        if qos != "Guaranteed" {
            out.push(w.finding(
                Rule::CriticalWorkloadQos,
                if qos == "BestEffort" { Severity::High } else { Severity::Medium },
                w.object(),
                format!(
                    "{} is marked critical but runs in {qos} QoS: the kubelet evicts it and the kernel OOM-kills it before Guaranteed pods",
                    w.name
                ),
                container_fix(
                    w.kind,
                    "CONTAINER",
                    "resources:  # requests equal to limits, cpu and memory, every container\n  requests: {cpu: 500m, memory: 512Mi}\n  limits: {cpu: 500m, memory: 512Mi}",
                ),
            ));
        }
        let has_priority = w
            .template
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.priority_class_name.as_deref())
            .is_some_and(|p| !p.is_empty());
        if !has_priority {
            out.push(w.finding(
                Rule::CriticalWorkloadPriority,
                Severity::Medium,
                w.object(),
                format!(
                    "{} is marked critical but has no priorityClassName: under node pressure it is evicted like any other pod",
                    w.name
                ),
                "spec:\n  template:\n    spec:\n      priorityClassName: business-critical  # a PriorityClass with a high value\n".into(),
            ));
        }
    }
    out
}

/// The pod's QoS class as the kubelet computes it from cpu and memory requests and limits.
fn qos_class(containers: &[Container]) -> &'static str {
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let r = c.resources.as_ref();
        let limits = r.and_then(|r| r.limits.as_ref());
        let requests = r.and_then(|r| r.requests.as_ref());
        for key in ["cpu", "memory"] {
            let l = limits.and_then(|m| m.get(key));
            let q = requests.and_then(|m| m.get(key));
            any |= l.is_some() || q.is_some();
            // A request defaults to its limit; Guaranteed needs both set and equal.
            match (l, q) {
                (Some(l), Some(q)) if l != q => guaranteed = false,
                (None, _) => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Checks of one PDB against the replicas of the workloads it covers (`None`: unknown).
fn check_pdb(
    pdb: &PodDisruptionBudget,
    replicas: Option<u32>,
    file: Option<&str>,
    default_ns: &str,
) -> Vec<Finding> {
    let Some(spec) = pdb.spec.as_ref() else {
        return Vec::new();
    };
    let name = pdb.metadata.name.as_deref().unwrap_or("?");
    let ns = ns_of(pdb.metadata.namespace.as_deref(), default_ns);
    let object = format!("PodDisruptionBudget {ns}/{name}");
    let mut out = Vec::new();
    let finding = |rule, severity, message: String, fix: &str| Finding {
        rule,
        severity,
        object: object.clone(),
        message,
        fix: fix.to_string(),
        file: file.map(str::to_string),
    };
    let pct = |v: &IntOrString| match v {
        IntOrString::String(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<u32>().ok()),
        IntOrString::Int(_) => None,
    };
    let int = |v: &IntOrString| match v {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => s.trim().parse::<i32>().ok(),
    };
    let blocks_fix = "spec:\n  maxUnavailable: 1  # let drains move one pod at a time\n";
    let zero_fix =
        "spec:\n  minAvailable: \"50%\"  # keep at least half the pods through disruptions\n";
    if let Some(min) = &spec.min_available {
        let blocks = pct(min) == Some(100)
            || matches!((int(min), replicas), (Some(n), Some(r)) if n >= 0 && n as u32 >= r);
        let zero = pct(min) == Some(0) || int(min) == Some(0);
        if blocks {
            out.push(finding(
                Rule::PdbBlocksDrain,
                Severity::High,
                format!(
                    "{name} requires minAvailable {} of {} pods: it never allows a disruption, so every node drain blocks on it",
                    show(min),
                    replicas.map_or("its".to_string(), |r| r.to_string())
                ),
                blocks_fix,
            ));
        } else if zero {
            out.push(finding(
                Rule::PdbAllowsZeroHealthy,
                Severity::Medium,
                format!(
                    "{name} has minAvailable {}: it allows every pod to go at once",
                    show(min)
                ),
                zero_fix,
            ));
        }
    }
    if let Some(max) = &spec.max_unavailable {
        let blocks = pct(max) == Some(0) || int(max) == Some(0);
        let zero = pct(max) == Some(100)
            || matches!((int(max), replicas), (Some(n), Some(r)) if n > 0 && n as u32 >= r);
        if blocks {
            out.push(finding(
                Rule::PdbBlocksDrain,
                Severity::High,
                format!("{name} has maxUnavailable {}: it never allows a disruption, so every node drain blocks on it", show(max)),
                blocks_fix,
            ));
        } else if zero {
            out.push(finding(
                Rule::PdbAllowsZeroHealthy,
                Severity::Medium,
                format!(
                    "{name} has maxUnavailable {}: it allows every pod to go at once",
                    show(max)
                ),
                zero_fix,
            ));
        }
    }
    out
}

fn show(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn check_namespace(ns: &str, lrs: &[&LimitRange]) -> Option<Finding> {
    let fix = format!(
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: memory-defaults\n  namespace: {ns}\nspec:\n  limits:\n    - type: Container\n      default:\n        memory: 512Mi\n      defaultRequest:\n        memory: 256Mi\n      max:\n        memory: 4Gi\n"
    );
    if lrs.is_empty() {
        return Some(Finding {
            rule: Rule::NamespaceWithoutLimitRange,
            severity: Severity::Medium,
            object: format!("Namespace {ns}"),
            message: format!(
                "namespace {ns} has no LimitRange: a container that forgets its memory limit gets none"
            ),
            fix,
            file: None,
        });
    }
    if default_memory_limit(lrs).is_none() {
        return Some(Finding {
            rule: Rule::NamespaceWithoutLimitRange,
            severity: Severity::Low,
            object: format!("Namespace {ns}"),
            message: format!(
                "namespace {ns} has a LimitRange but no default container memory limit"
            ),
            fix,
            file: None,
        });
    }
    None
}

fn allocatable_of(inv: &Inventory) -> Option<u64> {
    let total: u64 = node_allocatable(&inv.nodes).into_iter().sum();
    (total > 0).then_some(total)
}

/// Allocatable memory of every schedulable node, in bytes (cordoned nodes take no new pods).
pub fn node_allocatable(nodes: &[Node]) -> Vec<u64> {
    nodes
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .filter_map(|n| n.status.as_ref()?.allocatable.as_ref()?.get("memory"))
        .filter_map(|q| Quantity::from_str(&q.0).ok())
        .map(Quantity::bytes)
        .collect()
}

fn sort(mut v: Vec<Finding>) -> Vec<Finding> {
    // Worst first, then by object: a stable order for tables, diffs and tests.
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    v
}

/// Audits an inventory of objects: every workload, PDB and namespace in it.
pub fn audit(inv: &Inventory) -> Vec<Finding> {
    let default_ns = if inv.default_namespace.is_empty() {
        "default"
    } else {
        inv.default_namespace.as_str()
    };
    let allocatable = allocatable_of(inv);
    let mut workloads: Vec<Workload<'_>> = Vec::new();
    for d in &inv.deployments {
        let spec = d.object.spec.as_ref();
        workloads.push(workload(
            default_ns,
            "Deployment",
            &d.object.metadata,
            spec.and_then(|s| s.replicas),
            spec.map(|s| &s.template),
            d.file.as_deref(),
        ));
    }
    for s in &inv.statefulsets {
        let spec = s.object.spec.as_ref();
        workloads.push(workload(
            default_ns,
            "StatefulSet",
            &s.object.metadata,
            spec.and_then(|s| s.replicas),
            spec.map(|s| &s.template),
            s.file.as_deref(),
        ));
    }

    let mut out = Vec::new();
    let mut namespaces: BTreeSet<&str> = inv.namespaces.iter().map(String::as_str).collect();
    namespaces.extend(workloads.iter().map(|w| w.namespace));
    for ns in &namespaces {
        let lrs: Vec<&LimitRange> = inv
            .limit_ranges
            .iter()
            .filter(|l| ns_of(l.metadata.namespace.as_deref(), default_ns) == *ns)
            .collect();
        out.extend(check_namespace(ns, &lrs));
    }
    for w in &workloads {
        let labels = w.labels();
        let pdbs: Vec<&PodDisruptionBudget> = inv
            .pdbs
            .iter()
            .map(|p| &p.object)
            .filter(|p| {
                pdb_matches(p, w.namespace, &labels) || {
                    // Manifests often leave the PDB's namespace out; match it to the default one.
                    p.metadata.namespace.is_none()
                        && w.namespace == default_ns
                        && p.spec
                            .as_ref()
                            .and_then(|s| s.selector.as_ref())
                            .is_some_and(|s| selector_matches(s, &labels))
                }
            })
            .collect();
        let lrs: Vec<&LimitRange> = inv
            .limit_ranges
            .iter()
            .filter(|l| ns_of(l.metadata.namespace.as_deref(), default_ns) == w.namespace)
            .collect();
        let hpas: Vec<&HorizontalPodAutoscaler> = inv
            .hpas
            .iter()
            .filter(|h| {
                ns_of(h.metadata.namespace.as_deref(), default_ns) == w.namespace
                    && h.spec.as_ref().is_some_and(|s| {
                        s.scale_target_ref.kind == w.kind && s.scale_target_ref.name == w.name
                    })
            })
            .collect();
        out.extend(check_workload(w, &pdbs, &lrs, &hpas, allocatable));
    }
    for sourced in &inv.pdbs {
        let pdb = &sourced.object;
        let ns = ns_of(pdb.metadata.namespace.as_deref(), default_ns);
        let covered: Vec<u32> = workloads
            .iter()
            .filter(|w| {
                w.namespace == ns
                    && pdb
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|s| selector_matches(s, &w.labels()))
            })
            .map(|w| w.replicas)
            .collect();
        let replicas = (!covered.is_empty()).then(|| covered.iter().sum());
        out.extend(check_pdb(
            pdb,
            replicas,
            sourced.file.as_deref(),
            default_ns,
        ));
    }
    sort(out)
}

/// Audits a run target's defences (the hygiene facet): the target workload with the PDBs,
/// LimitRanges and HPAs that apply to it and the nodes' allocatable memory.
pub fn audit_defences(d: &Defences) -> Vec<Finding> {
    let critical = d.template.as_ref().is_some_and(|t| {
        t.metadata
            .as_ref()
            .is_some_and(|m| is_marked(m.labels.as_ref()) || is_marked(m.annotations.as_ref()))
    });
    let w = Workload {
        kind: &d.kind,
        namespace: &d.namespace,
        name: &d.name,
        replicas: d.replicas,
        template: d.template.as_ref(),
        critical,
        file: None,
    };
    let pdbs: Vec<&PodDisruptionBudget> = d.pdbs.iter().collect();
    let lrs: Vec<&LimitRange> = d.limit_ranges.iter().collect();
    let hpas: Vec<&HorizontalPodAutoscaler> = d.hpas.iter().collect();
    let total: u64 = d.node_allocatable.iter().sum();
    let mut out = check_workload(&w, &pdbs, &lrs, &hpas, (total > 0).then_some(total));
    out.extend(check_namespace(&d.namespace, &lrs));
    for pdb in &d.pdbs {
        out.extend(check_pdb(pdb, Some(d.replicas), None, &d.namespace));
    }
    sort(out)
}

#[cfg(test)]
mod tests;
