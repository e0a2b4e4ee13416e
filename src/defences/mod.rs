//! A workload's defences against a memory leak, and the checks that judge them: memory limits
//! and requests, a LimitRange default, a PodDisruptionBudget that neither blocks drains nor
//! allows everything, an HPA bounded by the nodes' memory, readiness probes, and for critical
//! workloads Guaranteed QoS and a priority class. Pure: it reads k8s-openapi objects and returns
//! findings, each with its severity, the object, what is wrong, and the fix as a YAML snippet.
//!
//! [`crate::audit`] runs the checks over a namespace or a manifest tree; the hygiene facet of a
//! run's score runs them on the target's [`Defences`] snapshot ([`check`]).

mod checks;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use checks::{
    CheckedWorkload, check_namespace, check_pdb, check_workload, ns_of, selector_matches, sort,
};

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::{Deserialize, Serialize};

use crate::spec::TargetKind;

/// What the cluster knows about the target before the leak: the defences the hygiene facet and
/// `audit` judge, and the figures the scorer needs (desired replicas, node sizes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Defences {
    pub namespace: String,
    pub kind: TargetKind,
    pub name: String,
    /// Desired replicas of the workload when the run started.
    pub replicas: u32,
    /// The workload's pod template (containers, resources, probes, priority class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
    /// PDBs whose selector matches the target's pods.
    #[serde(default)]
    pub pdbs: Vec<PodDisruptionBudget>,
    /// LimitRanges of the namespace.
    #[serde(default)]
    pub limit_ranges: Vec<LimitRange>,
    /// HPAs that scale the target.
    #[serde(default)]
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// Allocatable memory of each schedulable node, in bytes.
    #[serde(default)]
    pub node_allocatable: Vec<u64>,
    /// Memory capacity of each schedulable node, in bytes (absent from older records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_capacity: Vec<u64>,
    /// The nodes the target's pods ran on at preflight (the steady-state gate's nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a severity (low, medium, high, critical)"))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The checks, each with a stable id (SARIF rule ids, `-o json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    MemoryLimitMissing,
    MemoryRequestMissing,
    NamespaceWithoutLimitRange,
    WorkloadWithoutPdb,
    PdbBlocksDrain,
    PdbAllowsZeroHealthy,
    HpaExceedsCapacity,
    HpaWithoutMemoryRequest,
    ReadinessProbeMissing,
    CriticalWorkloadQos,
    CriticalWorkloadPriority,
}

impl Rule {
    /// Every rule, for SARIF's rule table.
    pub const ALL: [Rule; 11] = [
        Rule::MemoryLimitMissing,
        Rule::MemoryRequestMissing,
        Rule::NamespaceWithoutLimitRange,
        Rule::WorkloadWithoutPdb,
        Rule::PdbBlocksDrain,
        Rule::PdbAllowsZeroHealthy,
        Rule::HpaExceedsCapacity,
        Rule::HpaWithoutMemoryRequest,
        Rule::ReadinessProbeMissing,
        Rule::CriticalWorkloadQos,
        Rule::CriticalWorkloadPriority,
    ];

    /// The stable id ("memory-limit-missing").
    pub const fn id(self) -> &'static str {
        match self {
            Rule::MemoryLimitMissing => "memory-limit-missing",
            Rule::MemoryRequestMissing => "memory-request-missing",
            Rule::NamespaceWithoutLimitRange => "namespace-without-limitrange",
            Rule::WorkloadWithoutPdb => "workload-without-pdb",
            Rule::PdbBlocksDrain => "pdb-blocks-drain",
            Rule::PdbAllowsZeroHealthy => "pdb-allows-zero-healthy",
            Rule::HpaExceedsCapacity => "hpa-exceeds-capacity",
            Rule::HpaWithoutMemoryRequest => "hpa-without-memory-request",
            Rule::ReadinessProbeMissing => "readiness-probe-missing",
            Rule::CriticalWorkloadQos => "critical-workload-qos",
            Rule::CriticalWorkloadPriority => "critical-workload-priority",
        }
    }

    /// What the rule checks, in one sentence (SARIF shortDescription).
    pub const fn summary(self) -> &'static str {
        match self {
            Rule::MemoryLimitMissing => {
                "A container without a memory limit can take a whole node's memory"
            }
            Rule::MemoryRequestMissing => {
                "A container without a memory request is scheduled as if it used none"
            }
            Rule::NamespaceWithoutLimitRange => {
                "A namespace without a LimitRange gives containers no default memory limit"
            }
            Rule::WorkloadWithoutPdb => {
                "A workload without a PodDisruptionBudget can lose every pod to one drain"
            }
            Rule::PdbBlocksDrain => {
                "A PodDisruptionBudget that never allows a disruption blocks every node drain"
            }
            Rule::PdbAllowsZeroHealthy => {
                "A PodDisruptionBudget that allows zero healthy pods protects nothing"
            }
            Rule::HpaExceedsCapacity => {
                "An HPA whose maxReplicas times the pod's memory request exceeds the nodes"
            }
            Rule::HpaWithoutMemoryRequest => {
                "An HPA scales pods whose memory the scheduler cannot account for"
            }
            Rule::ReadinessProbeMissing => {
                "A container without a readiness probe receives traffic while it is failing"
            }
            Rule::CriticalWorkloadQos => {
                "A critical workload outside Guaranteed QoS is evicted and OOM-killed first"
            }
            Rule::CriticalWorkloadPriority => {
                "A critical workload without a priorityClassName is evicted before others"
            }
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// The object ("Deployment shop/checkout", "container checkout/app").
    pub object: String,
    /// What is wrong, with the figures.
    pub message: String,
    /// The fix, as a YAML snippet to merge into the object.
    pub fix: String,
    /// The file the object came from, for `--manifests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Checks a run target's defences (the hygiene facet): the target workload with the PDBs,
/// LimitRanges and HPAs that apply to it and the nodes' allocatable memory.
pub fn check(d: &Defences) -> Vec<Finding> {
    // A run's snapshot has the pod template only: the mark counts on its labels or annotations.
    let critical = d.template.as_ref().is_some_and(|t| {
        t.metadata.as_ref().is_some_and(|m| {
            checks::is_marked(m.labels.as_ref()) || checks::is_marked(m.annotations.as_ref())
        })
    });
    let w = CheckedWorkload {
        kind: d.kind.as_str(),
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
