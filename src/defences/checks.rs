//! The checks themselves. Every check reads objects and returns findings; nothing here does I/O.

use std::collections::BTreeMap;
use std::str::FromStr;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, LimitRange, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oomsday_core::{Quantity, human_bytes};

use super::{Finding, Rule, Severity};
use crate::keys::CRITICAL_MARK;
use crate::objects::PodController;

/// A Deployment or StatefulSet as the checks see it.
pub(crate) struct CheckedWorkload<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub replicas: u32,
    pub template: Option<&'a PodTemplateSpec>,
    /// Marked with [`CRITICAL_MARK`]: stricter QoS and priority checks.
    pub critical: bool,
    /// The manifest it came from, for `--manifests`.
    pub file: Option<&'a str>,
}

impl<'a> CheckedWorkload<'a> {
    /// A Deployment or StatefulSet of an inventory, critical when its own labels or annotations
    /// or its pod template's labels carry the mark.
    pub fn of<W: PodController>(w: &'a W, default_ns: &'a str, file: Option<&'a str>) -> Self {
        let meta = w.meta();
        let template = w.template();
        CheckedWorkload {
            kind: W::KIND.as_str(),
            namespace: ns_of(meta.namespace.as_deref(), default_ns),
            name: meta.name.as_deref().unwrap_or("?"),
            replicas: w.replicas().map_or(1, |r| r.max(0) as u32),
            template,
            critical: is_marked(meta.labels.as_ref())
                || is_marked(meta.annotations.as_ref())
                || template.is_some_and(|t| {
                    is_marked(t.metadata.as_ref().and_then(|m| m.labels.as_ref()))
                }),
            file,
        }
    }

    fn object(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
    pub fn labels(&self) -> BTreeMap<String, String> {
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

/// The namespace an object is in: its own, else the one manifests default to.
pub(crate) fn ns_of<'a>(ns: Option<&'a str>, default: &'a str) -> &'a str {
    ns.filter(|n| !n.is_empty()).unwrap_or(default)
}

pub(super) fn is_marked(map: Option<&BTreeMap<String, String>>) -> bool {
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

pub(crate) use crate::objects::selector_matches;

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

/// Checks of one workload against the PDBs, LimitRanges and HPAs that apply to it; `allocatable`
/// is the nodes' memory in all, when known.
pub(crate) fn check_workload(
    w: &CheckedWorkload<'_>,
    pdbs: &[&PodDisruptionBudget],
    lrs: &[&LimitRange],
    hpas: &[&HorizontalPodAutoscaler],
    allocatable: Option<u64>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let lr_default = default_memory_limit(lrs);
    // The memory the scheduler accounts for one pod; unknown once a container sets none.
    let mut pod_request: Option<u64> = Some(0);
    for c in w.containers() {
        let sized = check_container(w, c, lr_default.as_deref(), &mut out);
        pod_request = pod_request.zip(sized).map(|(sum, b)| sum + b);
    }
    if pdbs.is_empty() {
        out.push(missing_pdb(w));
    }
    out.extend(
        hpas.iter()
            .filter_map(|hpa| check_hpa(w, hpa, pod_request, allocatable)),
    );
    if w.critical {
        out.extend(check_critical(w));
    }
    out
}

/// A container's memory limit, memory request and readiness probe. Returns the memory the
/// scheduler accounts for it (its request, else its limit), `None` when it sets neither.
fn check_container(
    w: &CheckedWorkload<'_>,
    c: &Container,
    lr_default: Option<&str>,
    out: &mut Vec<Finding>,
) -> Option<u64> {
    let res = c.resources.as_ref();
    let limit = memory(res.and_then(|r| r.limits.as_ref()));
    let request = memory(res.and_then(|r| r.requests.as_ref()));
    let sized = request.flatten().or(limit.flatten());
    let object = format!("{} container {}", w.object(), c.name);
    let suggested = sized.map_or_else(
        || "512Mi  # size to the container's real peak".to_string(),
        |b| Quantity::from_bytes(b).to_string(),
    );
    let fix = |body: &str| container_fix(w.kind, &c.name, body);
    if limit.is_none() {
        let (severity, message) = match lr_default {
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
        let fix = fix(&format!("resources:\n  limits:\n    memory: {suggested}"));
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
        out.push(w.finding(
            Rule::MemoryRequestMissing,
            Severity::Medium,
            object.clone(),
            format!(
                "container {} has no memory request: the scheduler places it as if it used no memory",
                c.name
            ),
            fix(&format!("resources:\n  requests:\n    memory: {suggested}")),
        ));
    }
    if c.readiness_probe.is_none() {
        out.push(w.finding(
            Rule::ReadinessProbeMissing,
            Severity::Medium,
            object,
            format!(
                "container {} has no readiness probe: it keeps receiving traffic while it is failing",
                c.name
            ),
            fix("readinessProbe:\n  httpGet:\n    path: /healthz  # your readiness endpoint\n    port: 8080\n  periodSeconds: 5\n  failureThreshold: 3"),
        ));
    }
    sized
}

/// A workload no PodDisruptionBudget covers, with a PDB over its pods' labels as the fix.
fn missing_pdb(w: &CheckedWorkload<'_>) -> Finding {
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
    let min = if w.replicas > 1 { "\"50%\"" } else { "1" };
    w.finding(
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
    )
}

/// An HPA of the workload: whether the memory it may scale to is bounded, and fits the nodes.
fn check_hpa(
    w: &CheckedWorkload<'_>,
    hpa: &HorizontalPodAutoscaler,
    pod_request: Option<u64>,
    allocatable: Option<u64>,
) -> Option<Finding> {
    let spec = hpa.spec.as_ref()?;
    let max = u32::try_from(spec.max_replicas).unwrap_or(0);
    let hpa_name = hpa.metadata.name.as_deref().unwrap_or("?");
    let object = format!("HorizontalPodAutoscaler {}/{}", w.namespace, hpa_name);
    match (pod_request, allocatable) {
        (None, _) => Some(w.finding(
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
            Some(w.finding(
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
            ))
        }
        _ => None,
    }
}

/// A critical workload: Guaranteed QoS and a priority class.
fn check_critical(w: &CheckedWorkload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
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
pub(crate) fn check_pdb(
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
    let min = spec.min_available.as_ref().and_then(|min| {
        let blocks = percent(min) == Some(100)
            || matches!((int_value(min), replicas), (Some(n), Some(r)) if n >= 0 && n as u32 >= r);
        let zero = percent(min) == Some(0) || int_value(min) == Some(0);
        budget_field_finding(blocks, zero, name, "minAvailable", min, || {
            format!(
                "requires minAvailable {} of {} pods",
                show(min),
                replicas.map_or("its".to_string(), |r| r.to_string())
            )
        })
    });
    let max = spec.max_unavailable.as_ref().and_then(|max| {
        let blocks = percent(max) == Some(0) || int_value(max) == Some(0);
        let zero = percent(max) == Some(100)
            || matches!((int_value(max), replicas), (Some(n), Some(r)) if n > 0 && n as u32 >= r);
        budget_field_finding(blocks, zero, name, "maxUnavailable", max, || {
            format!("has maxUnavailable {}", show(max))
        })
    });
    [min, max]
        .into_iter()
        .flatten()
        .map(|(rule, severity, message, fix)| Finding {
            rule,
            severity,
            object: object.clone(),
            message,
            fix: fix.to_string(),
            file: file.map(str::to_string),
        })
        .collect()
}

/// A budget field that blocks every drain (High, said by `blocking`) or lets every pod go at
/// once (Medium); blocking wins when both hold.
fn budget_field_finding(
    blocks: bool,
    zero: bool,
    name: &str,
    field: &str,
    value: &IntOrString,
    blocking: impl FnOnce() -> String,
) -> Option<(Rule, Severity, String, &'static str)> {
    if blocks {
        Some((
            Rule::PdbBlocksDrain,
            Severity::High,
            format!(
                "{name} {}: it never allows a disruption, so every node drain blocks on it",
                blocking()
            ),
            "spec:\n  maxUnavailable: 1  # let drains move one pod at a time\n",
        ))
    } else if zero {
        Some((
            Rule::PdbAllowsZeroHealthy,
            Severity::Medium,
            format!(
                "{name} has {field} {}: it allows every pod to go at once",
                show(value)
            ),
            "spec:\n  minAvailable: \"50%\"  # keep at least half the pods through disruptions\n",
        ))
    } else {
        None
    }
}

/// A percentage ("25%") as its number; None for an integer or anything else.
fn percent(v: &IntOrString) -> Option<u32> {
    match v {
        IntOrString::String(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<u32>().ok()),
        IntOrString::Int(_) => None,
    }
}

/// An integer, also one written as a string ("2"); None for a percentage.
fn int_value(v: &IntOrString) -> Option<i32> {
    match v {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => s.trim().parse::<i32>().ok(),
    }
}

fn show(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

pub(crate) fn check_namespace(ns: &str, lrs: &[&LimitRange]) -> Option<Finding> {
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

/// Worst first, then by object: a stable order for tables, diffs and tests.
pub(crate) fn sort(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    v
}

#[cfg(test)]
mod tests;
