//! Words shared by the Markdown and HTML reports: the run's story, one line per significant
//! observation, and recommendations tied to what actually happened.

use oomsday_core::human_bytes;

use super::Report;
use crate::audit::{self, Rule};
use crate::observe::{AlertState, Event, NodeConditionKind, Time};
use crate::score::{Analysis, Facet};
use crate::spec::{InjectionMode, MemoryLimit, Verdict};

fn node_of(p: &crate::observe::PodRef) -> String {
    p.node
        .as_deref()
        .map(|n| format!(" on {n}"))
        .unwrap_or_default()
}

/// The significant observations of a run, oldest first, as sentences. State samples (leaked
/// bytes, PDB status) are left out; the charts show them.
pub fn story(report: &Report) -> Vec<(Time, String)> {
    story_with_kinds(report)
        .into_iter()
        .map(|(at, _, line)| (at, line))
        .collect()
}

/// What kind of line a story line is, for folding bursts of the same kind.
fn kind(e: &Event) -> String {
    match e {
        Event::OomKilled { leaker, pod, .. } => {
            format!("oom/{leaker}/{}", pod.target)
        }
        Event::PodEvicted { pod, .. } => format!("evicted/{}", pod.target),
        Event::NodeCondition {
            condition, status, ..
        } => format!("node/{condition:?}/{status}"),
        Event::NodeEvent { reason, .. } => format!("nodeevent/{reason}"),
        Event::Probe { name, .. } => format!("probe/{name}"),
        Event::Alert { name, .. } => format!("alert/{name}"),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default(),
    }
}

/// Lines of one kind shown in a burst before the rest of the burst is folded into one line.
const BURST_SHOWN: usize = 3;
/// A gap this long (seconds) between two lines of a kind ends its burst.
const BURST_GAP: f64 = 60.0;

/// The story with bursts folded: after a few lines of one kind (bystander evictions, failed
/// scheduling...) within a minute of each other, the rest of the burst becomes one line, "… and
/// 120 more like it". A cascade of thousands of events stays readable.
pub fn story_folded(report: &Report) -> Vec<(Time, String)> {
    struct Burst {
        shown: usize,
        last: Time,
        folded: usize,
        sample: String,
    }
    let start = report.record.injected.unwrap_or(report.record.started);
    let mut bursts: std::collections::HashMap<String, Burst> = Default::default();
    let mut out = Vec::new();
    let flush = |b: &mut Burst, out: &mut Vec<(Time, String)>| {
        if b.folded > 0 {
            out.push((
                b.last,
                format!(
                    "… and {} more like \"{}\" until {}",
                    b.folded,
                    b.sample,
                    crate::score::offset(start, b.last)
                ),
            ));
            b.folded = 0;
        }
    };
    for (at, kind, line) in story_with_kinds(report) {
        let b = bursts.entry(kind).or_insert(Burst {
            shown: 0,
            last: at,
            folded: 0,
            sample: String::new(),
        });
        let in_burst = at.duration_since(b.last).as_secs_f64() <= BURST_GAP;
        if !in_burst {
            flush(b, &mut out);
            b.shown = 0;
        }
        b.last = at;
        if b.shown < BURST_SHOWN {
            b.shown += 1;
            out.push((at, line));
        } else {
            b.folded += 1;
            b.sample = line;
        }
    }
    let mut rest: Vec<&mut Burst> = bursts.values_mut().filter(|b| b.folded > 0).collect();
    rest.sort_by_key(|b| b.last);
    for b in rest {
        flush(b, &mut out);
    }
    // Folded lines are placed when their burst ends; keep the whole in time order.
    out.sort_by_key(|(at, _)| *at);
    out
}

fn story_with_kinds(report: &Report) -> Vec<(Time, String, String)> {
    let mut out = Vec::new();
    let mut last_probe: std::collections::BTreeMap<&str, bool> = Default::default();
    for o in report.record.timeline.iter() {
        let line = match &o.event {
            Event::RunPhase { phase, detail } => Some(if detail.is_empty() {
                format!("run {phase:?}")
            } else {
                format!("run {phase:?}: {detail}")
            }),
            Event::LeakerStarted { pod } => {
                Some(format!("leaker started in {}{}", pod.name, node_of(pod)))
            }
            Event::OomKilled {
                pod,
                container,
                leaker,
                restart_count,
            } => {
                let who = if *leaker {
                    "leaker"
                } else if pod.target {
                    "target container"
                } else {
                    "BYSTANDER"
                };
                Some(format!(
                    "OOM kill ({who}) {}/{container}{} (restarts {restart_count})",
                    pod.name,
                    node_of(pod)
                ))
            }
            Event::CrashLoopBackOff { pod, container } => Some(format!(
                "CrashLoopBackOff {}/{container}{}",
                pod.name,
                node_of(pod)
            )),
            Event::PodEvicted {
                pod,
                cause,
                message,
            } => Some(format!(
                "{} {}{} evicted ({cause:?}){}",
                if pod.target {
                    "target pod"
                } else {
                    "BYSTANDER pod"
                },
                pod.name,
                node_of(pod),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            )),
            Event::NodeCondition {
                node,
                condition,
                status,
                reason,
            } => Some(match (condition, status) {
                (NodeConditionKind::MemoryPressure, true) => {
                    format!("node {node} under MemoryPressure ({reason})")
                }
                (NodeConditionKind::MemoryPressure, false) => {
                    format!("node {node} MemoryPressure cleared")
                }
                (NodeConditionKind::Ready, false) => format!("node {node} NotReady ({reason})"),
                (NodeConditionKind::Ready, true) => format!("node {node} Ready"),
            }),
            Event::NodeEvent {
                node,
                reason,
                message,
            } => Some(format!("node {node}: {reason} {message}")),
            Event::FailedScheduling {
                pod,
                insufficient_memory,
                ..
            } => Some(format!(
                "pod {pod} could not be scheduled{}",
                if *insufficient_memory {
                    ": insufficient memory"
                } else {
                    ""
                }
            )),
            Event::Workload { desired, ready } => Some(format!("workload ready {ready}/{desired}")),
            Event::Probe { name, ok, detail } => {
                // Only changes of a probe's result are news.
                let changed = last_probe.insert(name.as_str(), *ok) != Some(*ok);
                changed.then(|| {
                    format!(
                        "probe {name} {}{}",
                        if *ok { "ok" } else { "FAILING" },
                        if detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {detail}")
                        }
                    )
                })
            }
            Event::Alert { name, state } => Some(format!(
                "alert {name} {}",
                match state {
                    AlertState::Pending => "pending",
                    AlertState::Firing => "FIRING",
                    AlertState::Resolved => "resolved",
                }
            )),
            Event::Abort { reason, detail } => Some(format!("ABORT {reason}: {detail}")),
            Event::ObservationFailed { detail } => Some(format!("observation failed: {detail}")),
            Event::LeakerBytes { .. } | Event::Budget { .. } => None,
        };
        if let Some(l) = line {
            out.push((o.at, kind(&o.event), l));
        }
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What to change, tied to what happened in this run. Empty when there is nothing to say.
pub fn recommendations(report: &Report) -> Vec<String> {
    let r = &report.record;
    let a = Analysis::of(r);
    let target = &r.spec.target.name;
    let mut out = Vec::new();

    if !a.leaker_ran {
        out.push(format!(
            "The leaker never ran in {target}: check that its image can be pulled and that admission \
             allowed the injection; nothing was proven either way."
        ));
    }
    if let Some(d) = a.observation_failed.first() {
        out.push(format!(
            "Watching the cluster failed ({d}): check oomsday's RBAC (list/watch pods, nodes, events, \
             poddisruptionbudgets) and rerun."
        ));
    }

    let findings = r
        .defences
        .as_ref()
        .map(audit::audit_defences)
        .unwrap_or_default();
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
            plural(nodes, "node", "nodes"),
            plural(casualties, "bystander pod", "bystander pods")
        ));
    } else if unlimited {
        out.push(format!(
            "{target} has no memory limit. This run stayed contained, but only a limit guarantees \
             that a leak ends in its own container."
        ));
    }
    if !a.not_ready_nodes.is_empty() {
        out.push(format!(
            "{} went NotReady: reserve memory for the kubelet and the system (kubeReserved, \
             systemReserved) and set eviction thresholds with room to act before the kernel does.",
            plural(a.not_ready_nodes.len(), "node", "nodes")
        ));
    }
    if !a.system_ooms.is_empty() {
        out.push(format!(
            "The node OOM killer ran {} (SystemOOM): memory was overcommitted beyond what requests \
             promised. Set requests close to real usage.",
            plural(a.system_ooms.len(), "time", "times")
        ));
    }
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
                "{target} has no PodDisruptionBudget and fell to {min} ready pods of {desired}: add one \
                 (minAvailable) so drains and the Eviction API keep enough pods running."
            ));
        }
    }
    for f in &findings {
        match f.rule {
            Rule::NamespaceWithoutLimitRange if f.severity >= audit::Severity::Medium => {
                out.push(format!(
                    "{}: add a LimitRange with a default memory limit.",
                    f.message
                ))
            }
            Rule::HpaExceedsCapacity => out.push(format!("{}.", f.message)),
            Rule::PdbBlocksDrain => out.push(format!("{}.", f.message)),
            _ => {}
        }
    }
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
