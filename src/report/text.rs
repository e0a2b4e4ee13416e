//! Words shared by the Markdown and HTML reports: the run's story, one line per significant
//! observation, and recommendations tied to what actually happened.

use oomsday_core::human_bytes;

use super::Report;
use crate::audit::{self, Rule};
use crate::defences::Finding;
use crate::engine::RunRecord;
use crate::narrate;
use crate::observe::Time;
use crate::score::{Analysis, Facet};
use crate::spec::{InjectionMode, MemoryLimit, Verdict};

/// The significant observations of a run, oldest first, as sentences (the one narrator's, see
/// [`crate::narrate`]). State samples (leaked bytes, PDB status) are left out; the charts show
/// them.
pub fn story(report: &Report) -> Vec<(Time, String)> {
    narrate::lines(
        report.record.timeline.entries(),
        &report.record.spec.target.name,
    )
    .into_iter()
    .map(|l| (l.at, l.text))
    .collect()
}

/// The story with bursts of lines of the same kind folded ("… and 120 more like …"): a cascade
/// of thousands of events stays readable.
pub fn story_folded(report: &Report) -> Vec<(Time, String)> {
    narrate::story(
        report.record.timeline.entries(),
        &report.record.spec.target.name,
    )
    .into_iter()
    .map(|l| (l.at, l.text))
    .collect()
}

/// What the cluster was like when the run began, as the reports' "Baseline" section: empty
/// when nothing was wrong (or the run recorded no baseline).
pub fn baseline(report: &Report) -> Vec<String> {
    let b = &report.analysis.baseline;
    if b.is_clean() {
        return Vec::new();
    }
    let names = |set: &std::collections::BTreeSet<String>| {
        let shown: Vec<&str> = set.iter().take(10).map(String::as_str).collect();
        let more = set.len().saturating_sub(shown.len());
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut out = Vec::new();
    if let Some(n) = b.nodes {
        out.push(format!(
            "{} watched when the run began",
            narrate::plural(n, "node", "nodes")
        ));
    }
    let states = [
        (&b.not_ready, "node", "nodes", "NotReady"),
        (&b.pressure, "node", "nodes", "under MemoryPressure"),
        (
            &b.crash_looping,
            "container",
            "containers",
            "in CrashLoopBackOff",
        ),
        (
            &b.budgets_breached,
            "budget",
            "budgets",
            "below its minimum",
        ),
    ];
    for (set, one, many, state) in states {
        if !set.is_empty() {
            out.push(format!(
                "{} already {state}: {}",
                narrate::plural(set.len() as u64, one, many),
                names(set)
            ));
        }
    }
    out.push(
        "None of it is counted as the leak's doing: only what changed after the injection is."
            .into(),
    );
    out
}

/// What to change, tied to what happened in this run. Empty when there is nothing to say.
pub fn recommendations(report: &Report) -> Vec<String> {
    let r = &report.record;
    let a = &report.analysis;
    let findings = r
        .defences
        .as_ref()
        .map(crate::defences::check)
        .unwrap_or_default();
    let mut out = Vec::new();
    run_problems(r, a, &mut out);
    limits(r, a, &findings, &mut out);
    memory_numbers(report, &mut out);
    node_damage(r, a, &mut out);
    eviction_order(r, a, &mut out);
    budget(r, a, &mut out);
    audit_findings(&findings, suggested_limit(report).as_deref(), &mut out);
    alerts(r, a, &mut out);
    recovery_and_mode(report, &mut out);
    if let Some(peak) = a.peak_leak()
        && out.is_empty()
        && report.score.verdict == Verdict::Passed
    {
        out.push(format!(
            "The defences held against a leak of up to {} per pod. Try a faster or larger leak next.",
            human_bytes(peak)
        ));
    }
    out
}

/// The run itself went wrong: nothing was proven.
fn run_problems(r: &RunRecord, a: &Analysis, out: &mut Vec<String>) {
    let target = &r.spec.target.name;
    if !a.leaker_ran {
        out.push(format!(
            "The leaker never ran in {target}: check that its image can be pulled and that admission \
             allowed the injection; nothing was proven either way."
        ));
    }
    for g in &a.gaps {
        let to = g.to.map_or_else(
            || "the end of the run".to_string(),
            |t| t.strftime("%H:%M:%S").to_string(),
        );
        out.push(format!(
            "The API server could not be watched from {} to {to} ({}): what happened then was \
             read afterwards from the objects, each fact at the time they give.",
            g.from.strftime("%H:%M:%S"),
            g.detail
        ));
    }
    let unseen: u32 = a.restarts_unseen.iter().map(|(_, _, _, n)| n).sum();
    if unseen > 0 {
        out.push(format!(
            "{unseen} container restart(s) were never seen, only counted (a restart count jumped \
             while the cluster could not be watched): their times and reasons are unknown, and \
             they are not in the OOM kill counts."
        ));
    }
    if let Some(d) = a.observation_failed.first() {
        out.push(format!(
            "Watching the cluster failed ({d}): check oomsday's RBAC (list/watch pods, nodes, events, \
             poddisruptionbudgets) and rerun."
        ));
    }
}

/// A missing memory limit, and what it let the leak do.
fn limits(r: &RunRecord, a: &Analysis, findings: &[Finding], out: &mut Vec<String>) {
    let target = &r.spec.target.name;
    let unlimited = findings
        .iter()
        .any(|f| f.rule == Rule::MemoryLimitMissing && f.severity >= audit::Severity::High);
    let leak_unlimited = r.spec.leak.limit == MemoryLimit::None;
    let nodes = a.affected_nodes().len().max(a.pressure_nodes.len());
    let casualties = a.bystander_casualties();
    let spilled = nodes > 0 || casualties > 0;
    if (unlimited || leak_unlimited) && spilled {
        out.push(format!(
            "{target} has no memory limit: the leak reached {} and evicted or OOM-killed {}. Set \
             resources.limits.memory on every container (and a LimitRange default) so a leak ends \
             in its own container's OOM kill.",
            narrate::plural(nodes as u64, "node", "nodes"),
            narrate::plural(casualties as u64, "bystander pod", "bystander pods")
        ));
    } else if unlimited {
        out.push(format!(
            "{target} has no memory limit. This run stayed contained, but only a limit guarantees \
             that a leak ends in its own container."
        ));
    }
}

/// The memory limit [`memory_numbers`] recommends for the target's first container without
/// one, for the recommendations that need a number to start from.
fn suggested_limit(report: &Report) -> Option<String> {
    report
        .target_memory()
        .iter()
        .find(|c| c.limit.is_none())
        .map(|c| with_margin(c.working_set.max.bytes()))
}

/// `bytes` plus VPA's safety margin, in whole MiB rounded up.
fn with_margin(bytes: u64) -> String {
    let mib = (bytes as f64 * (1.0 + VPA_MARGIN) / 1048576.0).ceil() as u64;
    format!("{mib}Mi")
}

/// VPA's recommender defaults: the target is this percentile of the working set…
const VPA_TARGET_PERCENTILE: &str = "90th";
/// …plus this safety margin (`--recommendation-margin-fraction`, default 0.15).
const VPA_MARGIN: f64 = 0.15;

/// A memory request and limit, with their numbers and formula, for each of the target's
/// containers that lacks one, from the working sets a model knows (the prediction's snapshot
/// and its measurements, or the simulated run's model and its own value, which it says).
fn memory_numbers(report: &Report, out: &mut Vec<String>) {
    let target = &report.record.spec.target.name;
    for c in report
        .target_memory()
        .iter()
        .filter(|c| c.limit.is_none() || c.request.is_none())
    {
        let ws = &c.working_set;
        let seen = if c.pods_measured > 0 {
            format!(
                "over {} measured by the snapshot",
                narrate::plural(c.pods_measured as u64, "pod", "pods")
            )
        } else {
            "the model's own value, not measured".to_string()
        };
        out.push(format!(
            "Set {target}'s container {} to requests.memory: {} and limits.memory: {}: the \
             request as VPA's recommender computes it (the {VPA_TARGET_PERCENTILE} percentile of \
             the working set, {}, plus its {:.0}% safety margin), the limit from the largest \
             working set seen ({}) plus the same margin; {seen}.",
            c.container,
            with_margin(ws.p90.bytes()),
            with_margin(ws.max.bytes()),
            human_bytes(ws.p90.bytes()),
            VPA_MARGIN * 100.0,
            human_bytes(ws.max.bytes()),
        ));
    }
}

/// Nodes that went NotReady, and the node's own OOM killer.
fn node_damage(r: &RunRecord, a: &Analysis, out: &mut Vec<String>) {
    if !a.not_ready_nodes.is_empty() {
        let sizes = r
            .defences
            .as_ref()
            .map(node_reservations)
            .filter(|s| !s.is_empty())
            .map_or_else(
                || "; size them by the node's memory (e.g. GKE's formula)".to_string(),
                |s| format!(": {s}"),
            );
        out.push(format!(
            "{} went NotReady: reserve memory for the kubelet and the system (kubeReserved, \
             systemReserved) and set eviction thresholds with room to act before the kernel \
             does{sizes}",
            narrate::plural(a.not_ready_nodes.len() as u64, "node", "nodes")
        ));
    }
    if !a.system_ooms.is_empty() {
        out.push(format!(
            "The node OOM killer ran {} (SystemOOM): memory was overcommitted beyond what requests \
             promised. Set requests close to real usage.",
            narrate::plural(a.system_ooms.len() as u64, "time", "times")
        ));
    }
}

/// kubeReserved memory for a node of `capacity` bytes by GKE's formula:
/// 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112 and 2% of
/// the rest; 255 MiB on a node under 1 GiB.
/// <https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations>
pub(crate) fn gke_kube_reserved(capacity: u64) -> u64 {
    const GIB: u64 = 1 << 30;
    if capacity < GIB {
        return 255 << 20;
    }
    let tiers = [
        (4 * GIB, 25),
        (4 * GIB, 20),
        (8 * GIB, 10),
        (112 * GIB, 6),
        (u64::MAX, 2),
    ];
    let (mut left, mut reserved) = (capacity, 0u64);
    for (size, percent) in tiers {
        let part = left.min(size);
        reserved += part / 100 * percent;
        left -= part;
        if left == 0 {
            break;
        }
    }
    reserved
}

/// The kubelet's default hard eviction threshold for memory (`memory.available<100Mi`), which
/// GKE keeps beside its reservation.
const DEFAULT_EVICTION_HARD: u64 = 100 << 20;

/// Each node size the run saw, with the reservation GKE's formula gives it and what the node
/// keeps back today (capacity − allocatable: reservations plus the hard threshold).
fn node_reservations(d: &crate::defences::Defences) -> String {
    // Node by node only when both lists hold every node: each drops a node that lacks its
    // own field, so lists of different lengths no longer line up.
    let aligned = d.node_capacity.len() == d.node_allocatable.len();
    let mut sizes: Vec<(u64, Option<u64>)> = d
        .node_capacity
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, aligned.then(|| d.node_allocatable[i])))
        .collect();
    sizes.sort_unstable();
    sizes.dedup_by_key(|(c, _)| *c);
    let mib = |b: u64| format!("{}Mi", b.div_ceil(1 << 20));
    let each: Vec<String> = sizes
        .iter()
        .map(|&(cap, alloc)| {
            let kept = alloc.map_or_else(String::new, |a| {
                format!(" (today {} is kept back)", human_bytes(cap.saturating_sub(a)))
            });
            format!(
                "on nodes of {}, kubeReserved memory: {} and evictionHard memory.available: {}{kept}",
                human_bytes(cap),
                mib(gke_kube_reserved(cap)),
                mib(DEFAULT_EVICTION_HARD),
            )
        })
        .collect();
    if each.is_empty() {
        return String::new();
    }
    format!(
        "{} — GKE's reservation formula (25% of the first 4 GiB, 20% of the next 4, 10% of the \
         next 8, 6% of the next 112, 2% above) and the kubelet's default hard threshold.",
        each.join("; ")
    )
}

/// Bystanders evicted before the target, whose leak made the pressure: what decides the
/// kubelet's order, and the priority that changes it.
fn eviction_order(r: &RunRecord, a: &Analysis, out: &mut Vec<String>) {
    let first_target = a.target_evictions.iter().map(|i| i.at).min();
    let first: Vec<&str> = a
        .bystander_evictions
        .iter()
        .filter(|i| first_target.is_none_or(|t| i.at < t))
        .map(|i| i.pod.as_str())
        .collect();
    if first.is_empty() {
        return;
    }
    let template = r
        .defences
        .as_ref()
        .and_then(|d| d.template.as_ref())
        .and_then(|t| t.spec.as_ref());
    let priority = template.and_then(|s| s.priority).unwrap_or(0);
    let class = template
        .and_then(|s| s.priority_class_name.as_deref())
        .map_or_else(
            || "no priorityClassName".to_string(),
            |c| format!("priorityClassName {c}"),
        );
    let shown: Vec<&str> = first.iter().take(3).copied().collect();
    let more = first.len().saturating_sub(shown.len());
    out.push(format!(
        "{} ({}{}) {} evicted before {target}, whose leak made the pressure: the kubelet evicts \
         first the pods using more than they request, then by priority, then by usage above the \
         request (Kubernetes docs, Node-pressure Eviction, \"Pod selection for kubelet \
         eviction\"). Give the workloads that must stay a PriorityClass with a value above \
         {target}'s {priority} ({class}), e.g. value: {}, and requests at their real usage.",
        narrate::plural(first.len() as u64, "bystander pod", "bystander pods"),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if first.len() == 1 { "was" } else { "were" },
        priority.saturating_add(1000),
        target = r.spec.target.name,
    ));
}

/// Time below the PodDisruptionBudget, or no budget at all.
fn budget(r: &RunRecord, a: &Analysis, out: &mut Vec<String>) {
    let target = &r.spec.target.name;
    let has_pdb = r.defences.as_ref().is_some_and(|d| !d.pdbs.is_empty());
    if let Some(b) = a.budget.filter(|b| b.below_seconds > 0.0) {
        let min = b.min_healthy.map_or("?".into(), |n| n.to_string());
        let desired = r.defences.as_ref().map_or(0, |d| d.replicas);
        if has_pdb {
            out.push(format!(
                "{target} spent {} below its PodDisruptionBudget (down to {min} healthy of {desired}): \
                 node-pressure evictions do not respect PDBs, so limits and requests are what keep pods alive.",
                crate::score::human_secs(b.below_seconds)
            ));
        } else {
            out.push(format!(
                "{target} has no PodDisruptionBudget and fell to {min} ready pods of {desired}: add \
                 one so drains and the Eviction API keep enough pods running: {}",
                budget_for(desired)
            ));
        }
    }
}

/// A PodDisruptionBudget for `replicas`, with the number and its source: one pod at a time may
/// go (maxUnavailable: 1, the Kubernetes docs' advice for a stateless Deployment in "Specifying
/// a Disruption Budget for your Application"); a single replica cannot be protected without
/// blocking every drain.
pub(crate) fn budget_for(replicas: u32) -> String {
    if replicas >= 2 {
        format!(
            "maxUnavailable: 1 (minAvailable: {} of {replicas}; one pod at a time, as the \
             Kubernetes docs advise for a replicated stateless workload).",
            replicas - 1
        )
    } else {
        "run at least 2 replicas first: a budget on one replica either blocks every drain \
         (minAvailable: 1) or protects nothing."
            .to_string()
    }
}

/// What the static checks found that a run makes urgent.
fn audit_findings(findings: &[Finding], limit: Option<&str>, out: &mut Vec<String>) {
    for f in findings {
        match f.rule {
            Rule::NamespaceWithoutLimitRange if f.severity >= audit::Severity::Medium => {
                out.push(format!(
                    "{}: add a LimitRange with a default memory limit{}.",
                    f.message,
                    limit.map_or_else(String::new, |l| format!(
                        " (default: {l}, the limit above, fits this workload; size it for the \
                         namespace's largest container)"
                    ))
                ))
            }
            Rule::HpaExceedsCapacity => out.push(format!("{}.", f.message)),
            Rule::PdbBlocksDrain => out.push(format!("{}.", f.message)),
            _ => {}
        }
    }
}

/// Expected alerts that never fired, or fired late.
fn alerts(r: &RunRecord, a: &Analysis, out: &mut Vec<String>) {
    for e in &r.spec.expect_alerts {
        match a.alerts_firing.get(&e.name) {
            None => out.push(format!(
                "Alert {} never fired: check the rule exists and matches this workload \
                 (deploy/prometheus-rules.yaml ships memory-near-limit and leak-rate alerts).",
                e.name
            )),
            Some(at) if a.first_damage.as_ref().is_some_and(|d| d.at <= *at) => out.push(format!(
                "Alert {} fired only after the damage had started: alert on the leak's rate \
                     (predict_linear of the working set) rather than on its consequences.",
                e.name
            )),
            Some(_) => {}
        }
    }
}

/// Slow recovery, and what an ephemeral injection cannot do.
fn recovery_and_mode(report: &Report, out: &mut Vec<String>) {
    let r = &report.record;
    if let Some(f) = report.score.facet(Facet::Recovery)
        && f.points.is_some_and(|p| p < 100.0)
    {
        out.push(format!(
            "Recovery was slow ({}): check readiness probes, image pull times and that replacement \
             pods have somewhere to schedule.",
            f.explanation
        ));
    }
    if r.spec.injection.mode == InjectionMode::Ephemeral {
        out.push(
            "This run used ephemeral containers: they cannot have a memory limit and cannot be \
             removed, so their memory was charged to the pod and only the leaker's own deadline \
             ended the leak."
                .into(),
        );
    }
}
