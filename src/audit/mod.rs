//! The static resilience audit: the defences the Black Friday story lacked, checked on live
//! objects or on manifests. The objects of a namespace ([`inventory`]) or of a manifest tree
//! ([`load_manifests`]) become an [`Inventory`]; [`audit`] pairs each workload with the PDBs,
//! LimitRanges and HPAs that apply to it and runs the [`crate::defences`] checks on it; the
//! findings print as a table, JSON or SARIF.

mod live;
mod manifests;
mod output;

pub use crate::defences::{Finding, Rule, Severity};
pub use live::inventory;
pub use manifests::{load_manifests, parse_manifests};
pub use output::{to_json, to_sarif, to_table};

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Node};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::defences::{
    CheckedWorkload, check_namespace, check_pdb, check_workload, ns_of, selector_matches, sort,
};
use crate::objects::node_allocatable;

/// Everything the audit reads: the objects of one namespace (live) or of a manifest tree.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub deployments: Vec<Sourced<Deployment>>,
    pub statefulsets: Vec<Sourced<StatefulSet>>,
    pub pdbs: Vec<Sourced<PodDisruptionBudget>>,
    pub limit_ranges: Vec<LimitRange>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// Nodes, for the HPA capacity check; empty for manifests (the check is then skipped).
    pub nodes: Vec<Node>,
    /// Namespaces the audit covers, even those with no workloads in them.
    pub namespaces: BTreeSet<String>,
    /// Namespace to assume for manifests that do not say (kubectl's default).
    pub default_namespace: String,
}

/// An object and the file it came from.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub object: T,
    pub file: Option<String>,
}

impl<T> Sourced<T> {
    pub fn live(object: T) -> Self {
        Sourced { object, file: None }
    }
}

/// Findings at or above `severity`.
pub fn at_or_above(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity >= severity).count()
}

/// Audits an inventory of objects: every workload, PDB and namespace in it.
pub fn audit(inv: &Inventory) -> Vec<Finding> {
    let default_ns = if inv.default_namespace.is_empty() {
        "default"
    } else {
        inv.default_namespace.as_str()
    };
    let total: u64 = node_allocatable(&inv.nodes).into_iter().sum();
    let allocatable = (total > 0).then_some(total);
    let workloads: Vec<CheckedWorkload<'_>> = inv
        .deployments
        .iter()
        .map(|d| CheckedWorkload::of(&d.object, default_ns, d.file.as_deref()))
        .chain(
            inv.statefulsets
                .iter()
                .map(|s| CheckedWorkload::of(&s.object, default_ns, s.file.as_deref())),
        )
        .collect();

    let mut out = Vec::new();
    let mut namespaces: BTreeSet<&str> = inv.namespaces.iter().map(String::as_str).collect();
    namespaces.extend(workloads.iter().map(|w| w.namespace));
    for ns in namespaces {
        out.extend(check_namespace(ns, &limit_ranges_in(inv, ns, default_ns)));
    }
    for w in &workloads {
        let pdbs = pdbs_of(inv, w, default_ns);
        let lrs = limit_ranges_in(inv, w.namespace, default_ns);
        let hpas = hpas_of(inv, w, default_ns);
        out.extend(check_workload(w, &pdbs, &lrs, &hpas, allocatable));
    }
    for sourced in &inv.pdbs {
        let pdb = &sourced.object;
        let covered: Vec<u32> = workloads
            .iter()
            .filter(|w| covers(pdb, w, default_ns))
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

/// Whether a PDB's selector selects pods with these labels.
fn selects(pdb: &PodDisruptionBudget, labels: &BTreeMap<String, String>) -> bool {
    pdb.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| selector_matches(s, labels))
}

/// Whether a PDB covers a workload's pods: the same namespace (a manifest that names none is
/// applied to the default one, as the workload's is) and a selector that selects them.
fn covers(pdb: &PodDisruptionBudget, w: &CheckedWorkload<'_>, default_ns: &str) -> bool {
    ns_of(pdb.metadata.namespace.as_deref(), default_ns) == w.namespace && selects(pdb, &w.labels())
}

/// The PDBs that cover a workload's pods.
fn pdbs_of<'a>(
    inv: &'a Inventory,
    w: &CheckedWorkload<'_>,
    default_ns: &str,
) -> Vec<&'a PodDisruptionBudget> {
    inv.pdbs
        .iter()
        .map(|p| &p.object)
        .filter(|p| covers(p, w, default_ns))
        .collect()
}

/// The LimitRanges of a namespace.
fn limit_ranges_in<'a>(inv: &'a Inventory, ns: &str, default_ns: &str) -> Vec<&'a LimitRange> {
    inv.limit_ranges
        .iter()
        .filter(|l| ns_of(l.metadata.namespace.as_deref(), default_ns) == ns)
        .collect()
}

/// The HPAs that scale a workload.
fn hpas_of<'a>(
    inv: &'a Inventory,
    w: &CheckedWorkload<'_>,
    default_ns: &str,
) -> Vec<&'a HorizontalPodAutoscaler> {
    inv.hpas
        .iter()
        .filter(|h| {
            ns_of(h.metadata.namespace.as_deref(), default_ns) == w.namespace
                && h.spec.as_ref().is_some_and(|s| {
                    s.scale_target_ref.kind == w.kind && s.scale_target_ref.name == w.name
                })
        })
        .collect()
}

#[cfg(test)]
mod tests;
