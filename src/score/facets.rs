//! The five facets. Each returns points 0–100 or `None` (not measured), a sentence, and the
//! observations behind it.

use std::time::Duration as StdDuration;

use super::analysis::{Analysis, Incident};
use crate::defences::{self, Severity};
use crate::engine::RunRecord;
use crate::observe::Time;

/// A facet's raw result, before weighting.
pub(super) struct Measured {
    pub points: Option<f64>,
    pub explanation: String,
    pub evidence: Vec<String>,
}

impl Measured {
    pub(super) fn not_measured(why: impl Into<String>) -> Self {
        Measured {
            points: None,
            explanation: why.into(),
            evidence: Vec::new(),
        }
    }
}

/// "3m 10s", whole seconds.
pub(crate) fn human_secs(s: f64) -> String {
    let s = if s.is_finite() {
        s.max(0.0).round()
    } else {
        0.0
    };
    if s == 0.0 {
        return "0s".into();
    }
    humantime::format_duration(StdDuration::from_secs(s as u64)).to_string()
}

/// An instant as an offset from the leak's start ("T+3m 10s"), which reads better than clock
/// times in a report about one run.
pub(crate) fn offset(start: Time, at: Time) -> String {
    let d = at.duration_since(start).as_secs_f64();
    if d < 0.0 {
        format!("T-{}", human_secs(-d))
    } else {
        format!("T+{}", human_secs(d))
    }
}

/// Incidents of one kind shown as evidence; the rest are counted. A cascade has thousands, and
/// the analysis and the JSON timeline keep every one.
const EVIDENCE_PER_KIND: usize = 10;

fn capped(out: &mut Vec<String>, start: Time, incidents: &[Incident], what: &str, plural: &str) {
    for i in incidents.iter().take(EVIDENCE_PER_KIND) {
        out.push(incident_line(start, i, what));
    }
    if incidents.len() > EVIDENCE_PER_KIND {
        out.push(format!(
            "… and {} more {plural} (first {}, last {})",
            incidents.len() - EVIDENCE_PER_KIND,
            offset(start, incidents[0].at),
            offset(start, incidents[incidents.len() - 1].at)
        ));
    }
}

fn incident_line(start: Time, i: &Incident, what: &str) -> String {
    let node = i
        .node
        .as_deref()
        .map(|n| format!(" on {n}"))
        .unwrap_or_default();
    if i.pod.is_empty() {
        // A node-level incident: no pod to name.
        return format!("{} {what}{node}", offset(start, i.at));
    }
    format!(
        "{} {what} {}{node} ({})",
        offset(start, i.at),
        i.pod,
        i.what
    )
}

/// Share of probe attempts that succeeded, averaged over probes so a chatty probe does not drown
/// out a quiet one.
fn probe_share(a: &Analysis) -> Option<f64> {
    let shares: Vec<f64> = a
        .probes
        .values()
        .filter(|p| p.total > 0)
        .map(|p| f64::from(p.ok) / f64::from(p.total))
        .collect();
    (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
}

/// A share as a percentage that never rounds a loss away: 99.6%, not 100%.
fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p == p.round() {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Weight of the budget share when probes are there too: the budget is what the cluster kept,
/// probes are what users saw; both matter, the budget is the steadier signal.
const BUDGET_SHARE: f64 = 0.6;

pub(super) fn availability(_record: &RunRecord, a: &Analysis) -> Measured {
    let mut evidence = Vec::new();
    let budget_share = match a.budget {
        Some(b) if b.known_seconds > 0.0 => {
            evidence.push(format!(
                "healthy pods ≥ budget {} ({}) for {} of {} observed",
                b.budget.map_or("?".into(), |n| n.to_string()),
                a.budget_source.describe(),
                human_secs(b.ok_seconds),
                human_secs(b.known_seconds)
            ));
            if b.below_seconds > 0.0 {
                evidence.push(format!(
                    "below budget for {}; fewest healthy pods {}",
                    human_secs(b.below_seconds),
                    b.min_healthy.map_or("?".into(), |n| n.to_string())
                ));
            }
            Some(b.ok_seconds / b.known_seconds)
        }
        _ => None,
    };
    for (name, p) in &a.probes {
        evidence.push(format!("probe {name}: {}/{} ok", p.ok, p.total));
    }
    let probes = probe_share(a);
    let (share, how) = match (budget_share, probes) {
        (Some(b), Some(p)) => (
            BUDGET_SHARE * b + (1.0 - BUDGET_SHARE) * p,
            format!(
                "{} of the time at or above budget, {} probe success",
                pct(b),
                pct(p)
            ),
        ),
        (Some(b), None) => (
            b,
            format!(
                "{:.0}% of the time at or above budget (no probes)",
                b * 100.0
            ),
        ),
        (None, Some(p)) => (
            p,
            format!(
                "{} probe success (ready pods not observed over time)",
                pct(p)
            ),
        ),
        (None, None) => {
            let why = if a.window_end <= a.window_start {
                "not measured: the run had no length and no probes ran"
            } else {
                "not measured: ready pods were never observed and no probes ran"
            };
            return Measured::not_measured(why);
        }
    };
    Measured {
        points: Some(share * 100.0),
        explanation: how,
        evidence,
    }
}

/// Each kind of spill (said of one, said of many), the points it costs each time, and the most
/// it can cost.
const SPILLS: [(&str, &str, f64, f64); 6] = [
    (
        "bystander pod evicted or OOM-killed",
        "bystander pods evicted or OOM-killed",
        8.0,
        48.0,
    ),
    ("node NotReady", "nodes NotReady", 25.0, 50.0),
    (
        "node under MemoryPressure",
        "nodes under MemoryPressure",
        12.0,
        36.0,
    ),
    (
        "SystemOOM event (the node's OOM killer)",
        "SystemOOM events (the node's OOM killer)",
        8.0,
        24.0,
    ),
    (
        "OOM kill of the target's own containers",
        "OOM kills of the target's own containers",
        6.0,
        18.0,
    ),
    ("target pod evicted", "target pods evicted", 4.0, 16.0),
];

/// How far the leak spilled beyond the leaking container: points lost per kind of spill.
pub(super) fn containment(record: &RunRecord, a: &Analysis) -> Measured {
    // Without its own limit the leaker is killed by the node's OOM killer, not at a limit.
    let limited = record.spec.leak.limit.bytes().is_some();
    if !a.leaker_ran {
        return Measured::not_measured("not measured: the leaker never ran, so nothing leaked");
    }
    let (points, spills) = spill_points(a);
    Measured {
        points: Some(points.max(0.0)),
        explanation: containment_explanation(a, limited, &spills),
        evidence: containment_evidence(a, limited),
    }
}

/// The points left after every kind of spill, and each kind that happened, counted.
fn spill_points(a: &Analysis) -> (f64, Vec<String>) {
    let counts = [
        a.bystander_casualties(),
        a.not_ready_nodes.len(),
        a.pressure_nodes.len(),
        a.system_ooms.len(),
        a.target_oom_kills.len(),
        a.target_evictions.len(),
    ];
    let mut points = 100.0;
    let mut spills = Vec::new();
    for ((one, many, each, cap), n) in SPILLS.iter().zip(counts) {
        if n > 0 {
            points -= (each * n as f64).min(*cap);
            spills.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    (points, spills)
}

/// The leaker's kills, the nodes that suffered, then every pod hurt, by kind.
fn containment_evidence(a: &Analysis, limited: bool) -> Vec<String> {
    let s = a.window_start;
    let leaker_killed = if limited {
        "leaker OOM-killed at its limit in"
    } else {
        "leaker (no limit) OOM-killed in"
    };
    let mut evidence = Vec::new();
    capped(
        &mut evidence,
        s,
        &a.leaker_oom_kills,
        leaker_killed,
        "leaker OOM kills",
    );
    node_condition_lines(&mut evidence, a);
    let kinds: [(&[Incident], &str, &str); 6] = [
        (&a.system_ooms, "SystemOOM", "SystemOOM events"),
        (
            &a.bystander_evictions,
            "bystander evicted:",
            "bystander evictions",
        ),
        (
            &a.bystander_oom_kills,
            "bystander OOM-killed:",
            "bystander OOM kills",
        ),
        (
            &a.target_oom_kills,
            "target container OOM-killed:",
            "OOM kills of target containers",
        ),
        (
            &a.target_evictions,
            "target pod evicted:",
            "target evictions",
        ),
        // Refused at admission, they never ran: no points lost for them (the pressure that
        // caused them already costs), but they are the rescheduling storm and are shown as such.
        (
            &a.admission_rejections,
            "refused at admission by the kubelet (never ran):",
            "admission rejections",
        ),
    ];
    for (incidents, what, plural) in kinds {
        capped(&mut evidence, s, incidents, what, plural);
    }
    evidence
}

/// Nodes under MemoryPressure or NotReady, in the order they went down, not by name; the rest
/// counted.
fn node_condition_lines(out: &mut Vec<String>, a: &Analysis) {
    let s = a.window_start;
    let mut nodes: Vec<(Time, String)> = a
        .pressure_nodes
        .iter()
        .map(|(n, at)| (*at, format!("{} node {n} MemoryPressure", offset(s, *at))))
        .chain(a.not_ready_spans.iter().map(|span| {
            let how_long = match span.to {
                Some(to) => format!(
                    " for {} (Ready again at {})",
                    human_secs(to.duration_since(span.from).as_secs_f64()),
                    offset(s, to)
                ),
                None => ", still at the end".to_string(),
            };
            (
                span.from,
                format!(
                    "{} node {} NotReady{how_long}",
                    offset(s, span.from),
                    span.node
                ),
            )
        }))
        .collect();
    nodes.sort();
    let n_nodes = nodes.len();
    out.extend(
        nodes
            .into_iter()
            .take(EVIDENCE_PER_KIND)
            .map(|(_, line)| line),
    );
    if n_nodes > EVIDENCE_PER_KIND {
        out.push(format!(
            "… and {} more node conditions",
            n_nodes - EVIDENCE_PER_KIND
        ));
    }
}

/// Contained (and how the leaker was stopped), or what spilled.
fn containment_explanation(a: &Analysis, limited: bool, spills: &[String]) -> String {
    if spills.is_empty() {
        if a.leaker_oom_kills.is_empty() || !limited {
            "contained: nothing outside the leaking container was hurt".to_string()
        } else {
            format!(
                "contained: the leaker was OOM-killed at its own limit {} time(s) and nothing else was hurt",
                a.leaker_oom_kills.len()
            )
        }
    } else {
        format!("the leak spilled: {}", spills.join(", "))
    }
}

/// The recovery time that earns full marks: scoring.recoveryTarget, else
/// hypothesis.recoveredWithin, else 5 minutes.
pub(crate) fn recovery_target(record: &RunRecord) -> StdDuration {
    record
        .spec
        .scoring
        .as_ref()
        .and_then(|s| s.recovery_target)
        .or_else(|| {
            record
                .spec
                .hypothesis
                .as_ref()
                .and_then(|h| h.recovered_within)
        })
        .map_or(StdDuration::from_secs(300), |d| d.std())
}

/// Full marks up to the target, then linearly down to zero at three times the target.
fn recovery_points(secs: f64, target: f64) -> f64 {
    if secs <= target {
        100.0
    } else if target <= 0.0 {
        0.0
    } else {
        (100.0 * (1.0 - (secs - target) / (2.0 * target))).max(0.0)
    }
}

pub(super) fn recovery(record: &RunRecord, a: &Analysis) -> Measured {
    let target = recovery_target(record).as_secs_f64();
    let Some(reverted) = record.reverted else {
        return Measured::not_measured("not measured: the leak was never reverted");
    };
    let s = a.window_start;
    let mut evidence = vec![format!("{} reverted", offset(s, reverted))];
    match a.recovery_seconds(record) {
        Some(t) => {
            if let Some(r) = a.recovered_at {
                evidence.push(format!(
                    "{} all pods ready and the budget healthy",
                    offset(s, r)
                ));
            }
            Measured {
                points: Some(recovery_points(t, target)),
                explanation: format!(
                    "recovered {} after the revert (target {})",
                    human_secs(t),
                    human_secs(target)
                ),
                evidence,
            }
        }
        None if record.reason.is_some_and(|r| !r.watch_recovery()) => {
            Measured::not_measured(format!(
                "not measured: recovery was not watched (the run ended {})",
                record.reason.map_or("early", |r| r.as_str())
            ))
        }
        None if let Some(g) = a.open_gap() => Measured::not_measured(format!(
            "not measured: the API server could not be watched from {} to the end of the run \
             ({}), so recovery could not be seen",
            offset(s, g.from),
            g.detail
        )),
        None => Measured {
            points: Some(0.0),
            explanation: format!(
                "never recovered: not all pods were ready and the budget healthy {} after the revert",
                human_secs(record.finished.duration_since(reverted).as_secs_f64())
            ),
            evidence,
        },
    }
}

/// Points for one expected alert: before any damage is worth far more than after.
pub(crate) fn alert_points(fired_before_damage: bool, within: bool) -> f64 {
    match (fired_before_damage, within) {
        (true, true) => 100.0,
        (true, false) => 70.0,
        (false, true) => 35.0,
        (false, false) => 20.0,
    }
}

pub(super) fn detection(record: &RunRecord, a: &Analysis) -> Measured {
    let expected = &record.spec.expect_alerts;
    if expected.is_empty() {
        return Measured::not_measured("not measured: the experiment expects no alerts");
    }
    let saw_alerts = record
        .timeline
        .iter()
        .any(|o| matches!(o.happening, crate::observe::Happening::Alert { .. }));
    if record.spec.prometheus.is_none() && !saw_alerts {
        return Measured::not_measured(
            "not measured: expectAlerts is set but there is no prometheus to ask",
        );
    }
    // Prometheus configured but never answered: silence is not "the alert never fired".
    let checks = || {
        record.timeline.iter().filter_map(|o| match &o.happening {
            crate::observe::Happening::AlertCheck { ok, detail } => Some((*ok, detail)),
            _ => None,
        })
    };
    if !saw_alerts
        && !checks().any(|(ok, _)| ok)
        && let Some((_, why)) = checks().last()
    {
        return Measured::not_measured(format!(
            "not measured: Prometheus could not be asked for the alerts ({why})"
        ));
    }
    let s = a.window_start;
    let mut total = 0.0;
    let mut evidence = Vec::new();
    let mut fired = 0;
    for e in expected {
        match a.alerts_firing.get(&e.name) {
            None => evidence.push(format!("{} never fired", e.name)),
            Some(at) => {
                fired += 1;
                let after_start = at.duration_since(s).as_secs_f64();
                let within = after_start <= e.within.std().as_secs_f64();
                let before_damage = a.first_damage.as_ref().is_none_or(|d| *at < d.at);
                total += alert_points(before_damage, within);
                let lead = match &a.first_damage {
                    Some(d) if *at < d.at => format!(
                        ", {} before the first damage ({})",
                        human_secs(d.at.duration_since(*at).as_secs_f64()),
                        d.what
                    ),
                    Some(d) => format!(
                        ", {} AFTER the first damage ({})",
                        human_secs(at.duration_since(d.at).as_secs_f64()),
                        d.what
                    ),
                    None => ", no damage followed".into(),
                };
                evidence.push(format!(
                    "{} {} firing{}{lead}",
                    offset(s, *at),
                    e.name,
                    if within {
                        format!(" (within {})", e.within)
                    } else {
                        format!(" (later than its {})", e.within)
                    }
                ));
            }
        }
    }
    Measured {
        points: Some(total / expected.len() as f64),
        explanation: format!("{fired} of {} expected alerts fired", expected.len()),
        evidence,
    }
}

/// Points lost per audit finding, by severity.
pub(crate) fn hygiene_penalty(s: Severity) -> f64 {
    match s {
        Severity::Critical => 30.0,
        Severity::High => 15.0,
        Severity::Medium => 7.0,
        Severity::Low => 2.0,
    }
}

pub(super) fn hygiene(record: &RunRecord) -> Measured {
    let Some(d) = record.defences.as_ref() else {
        return Measured::not_measured("not measured: the target's defences were not captured");
    };
    if d.template.is_none() {
        return Measured::not_measured("not measured: the target's pod template was not captured");
    }
    let findings = defences::check(d);
    let points: f64 = 100.0
        - findings
            .iter()
            .map(|f| hygiene_penalty(f.severity))
            .sum::<f64>();
    let explanation = if findings.is_empty() {
        "every defence in place: limits, requests, LimitRange, PDB, bounded HPA, readiness".into()
    } else {
        format!("{} audit finding(s) on the target", findings.len())
    };
    Measured {
        points: Some(points.max(0.0)),
        explanation,
        evidence: findings
            .iter()
            .map(|f| format!("{}: {}", f.severity, f.message))
            .collect(),
    }
}
