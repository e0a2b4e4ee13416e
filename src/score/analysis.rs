//! What a run's timeline says, reduced once to the facts the facets, the hypothesis, the summary
//! and the reports all read: who was killed or evicted where, which nodes suffered, how long the
//! workload spent below its budget, when it recovered, which alerts fired.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use crate::defences::Defences;
use crate::engine::RunRecord;
use crate::observe::{AlertState, DisruptionCause, Happening, NodeConditionKind, PodRef, Time};
use crate::spec::RunSummary;

/// Where the availability budget (the number of healthy pods that must stay) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BudgetSource {
    /// The PodDisruptionBudget's observed `status.desiredHealthy`.
    PdbStatus,
    /// The PodDisruptionBudget's spec (minAvailable / maxUnavailable) from the defences snapshot,
    /// when its status was never observed.
    PdbSpec,
    /// The experiment's `spec.minAvailable`.
    MinAvailable,
    /// Nothing stated a budget: every desired replica is expected to stay ready. This is the
    /// strict reading, chosen because a team that never said what it can lose has not said it
    /// can lose anything.
    AllReplicas,
}

impl BudgetSource {
    pub const fn describe(self) -> &'static str {
        match self {
            BudgetSource::PdbStatus => "the PDB's desiredHealthy",
            BudgetSource::PdbSpec => "the PDB's spec",
            BudgetSource::MinAvailable => "the experiment's minAvailable",
            BudgetSource::AllReplicas => "all desired replicas (no PDB, no minAvailable)",
        }
    }
}

/// Something that happened to one pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub at: Time,
    pub pod: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Container name (OOM kills) or cause (evictions).
    pub what: String,
}

/// Time the workload spent at or above its budget during the leak-and-recovery window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStats {
    /// Seconds of the window in which both healthy pods and the budget were known.
    pub known_seconds: f64,
    /// Of those, seconds with healthy pods ≥ budget.
    pub ok_seconds: f64,
    /// Of those, seconds below the budget.
    pub below_seconds: f64,
    /// Fewest healthy pods seen in the window.
    pub min_healthy: Option<u32>,
    /// The budget at the end of the window.
    pub budget: Option<u32>,
}

/// Results of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProbeStats {
    pub ok: u32,
    pub total: u32,
}

/// The facts of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// The leak's start: when the injection was in place, else when the run started.
    pub window_start: Time,
    /// The run's end.
    pub window_end: Time,
    /// The leaker was seen running (started, holding bytes, or OOM-killed).
    pub leaker_ran: bool,
    /// Details of every `ObservationFailed`.
    pub observation_failed: Vec<String>,
    /// Stretches in which the API server could not be watched: what happened then was learned
    /// afterwards from the objects, or (a gap still open at the end) not at all.
    pub gaps: Vec<Gap>,
    /// Terminations known only by a jump in a restart count (times and reasons unknown), as
    /// `(when it was learned, pod, container, how many)`.
    pub restarts_unseen: Vec<(Time, String, String, u32)>,
    pub leaker_oom_kills: Vec<Incident>,
    /// The target's own (non-leaker) containers OOM-killed: the leak hurt its neighbour in the pod.
    pub target_oom_kills: Vec<Incident>,
    pub bystander_oom_kills: Vec<Incident>,
    /// Target pods evicted or otherwise disrupted (not counting deletions by rollouts).
    pub target_evictions: Vec<Incident>,
    pub bystander_evictions: Vec<Incident>,
    /// Pods the kubelet refused at admission (they never ran; not evictions).
    pub admission_rejections: Vec<Incident>,
    /// What was already wrong when the run began: never counted as the leak's doing.
    pub baseline: Baseline,
    /// Nodes that reported MemoryPressure, with the first time.
    pub pressure_nodes: BTreeMap<String, Time>,
    /// Nodes that went NotReady, with the first time.
    pub not_ready_nodes: BTreeMap<String, Time>,
    /// Each stretch a node spent NotReady (Ready False or Unknown), in the order they began.
    pub not_ready_spans: Vec<NodeSpan>,
    /// Most nodes NotReady at one time.
    pub max_concurrent_not_ready: u32,
    /// SystemOOM node events (the node's own OOM killer, outside any pod's limit).
    pub system_ooms: Vec<Incident>,
    pub failed_scheduling: u32,
    /// The first OOM kill or eviction of any pod: damage, for detection lead time.
    pub first_damage: Option<Incident>,
    pub budget_source: BudgetSource,
    /// `None` when healthy pods were never observed.
    pub budget: Option<BudgetStats>,
    pub probes: BTreeMap<String, ProbeStats>,
    /// First time each alert was seen firing (from the run's start on).
    pub alerts_firing: BTreeMap<String, Time>,
    /// When all pods were ready and the budget healthy after the revert: the record's own
    /// `recovered`, else derived from the timeline.
    pub recovered_at: Option<Time>,
    /// Largest leak seen per leaking pod.
    pub leak_peak_by_pod: BTreeMap<String, u64>,
    /// Nodes that hosted a leaking pod.
    pub leak_nodes: BTreeSet<String>,
}

/// A stretch in which the API server could not be watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub from: Time,
    /// When the watches were back; None when they never were before the run ended.
    pub to: Option<Time>,
    pub detail: String,
}

/// A stretch a node spent NotReady.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpan {
    pub node: String,
    pub from: Time,
    /// When it was Ready again; None when it still was not at the end of the run.
    pub to: Option<Time>,
}

impl Analysis {
    /// The gap still open when the run ended, if any: what fell in it was never seen.
    pub fn open_gap(&self) -> Option<&Gap> {
        self.gaps.last().filter(|g| g.to.is_none())
    }
}

/// The state the cluster was in when the run began, from its watches' first lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Nodes in the first list, when it was told.
    pub nodes: Option<u32>,
    /// Nodes NotReady, and under MemoryPressure, when the run began.
    pub not_ready: BTreeSet<String>,
    pub pressure: BTreeSet<String>,
    /// Pods (`pod/container`) already in CrashLoopBackOff.
    pub crash_looping: BTreeSet<String>,
    /// Budgets already below their minimum.
    pub budgets_breached: BTreeSet<String>,
}

impl Baseline {
    fn note(&mut self, e: &Happening) {
        match e {
            Happening::Baseline { nodes, .. } => self.nodes = Some(*nodes),
            Happening::NodeCondition {
                node,
                condition,
                status,
                ..
            } => {
                match condition {
                    NodeConditionKind::Ready if !*status => self.not_ready.insert(node.clone()),
                    NodeConditionKind::MemoryPressure if *status => {
                        self.pressure.insert(node.clone())
                    }
                    _ => false,
                };
            }
            Happening::CrashLoopBackOff { pod, container } => {
                self.crash_looping
                    .insert(format!("{}/{container}", pod.name));
            }
            Happening::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } if current_healthy < desired_healthy => {
                self.budgets_breached.insert(name.clone());
            }
            _ => {}
        }
    }

    /// Whether anything was already wrong.
    pub fn is_clean(&self) -> bool {
        self.not_ready.is_empty()
            && self.pressure.is_empty()
            && self.crash_looping.is_empty()
            && self.budgets_breached.is_empty()
    }
}

/// The workload's state as the sweep sees it.
#[derive(Debug, Default, Clone)]
struct State {
    ready: Option<u32>,
    desired: Option<u32>,
    /// PDB name → (currentHealthy, desiredHealthy).
    pdbs: BTreeMap<String, (u32, u32)>,
}

impl State {
    fn apply(&mut self, e: &Happening) {
        match e {
            Happening::Workload { desired, ready, .. } => {
                self.ready = Some(*ready);
                self.desired = Some(*desired);
            }
            Happening::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } => {
                self.pdbs
                    .insert(name.clone(), (*current_healthy, *desired_healthy));
            }
            _ => {}
        }
    }
    /// Healthy target pods: the PDBs' currentHealthy (the budget's own count, kept by the
    /// disruption controller), else the workload's ready count. They agree while the control
    /// plane keeps up; after an API server outage the Deployment's status can lag the pods by
    /// a minute while the budget's is current (seen on the bed).
    fn healthy(&self) -> Option<u32> {
        self.pdbs.values().map(|(c, _)| *c).min().or(self.ready)
    }
}

/// How the budget is computed when no PDB status has been observed.
struct StaticBudget {
    source: BudgetSource,
    rule: Box<dyn Fn(u32) -> u32>,
}

fn static_budget(record: &RunRecord) -> StaticBudget {
    if let Some(pdb) = record.defences.as_ref().and_then(|d| d.pdbs.first()) {
        let spec = pdb.spec.clone().unwrap_or_default();
        if let Some(min) = spec.min_available {
            return StaticBudget {
                source: BudgetSource::PdbSpec,
                rule: Box::new(move |desired| scaled(&min, desired)),
            };
        }
        if let Some(max) = spec.max_unavailable {
            return StaticBudget {
                source: BudgetSource::PdbSpec,
                rule: Box::new(move |desired| desired.saturating_sub(scaled(&max, desired))),
            };
        }
    }
    if let Some(min) = record.spec.min_available {
        return StaticBudget {
            source: BudgetSource::MinAvailable,
            rule: Box::new(move |desired| min.of(desired)),
        };
    }
    StaticBudget {
        source: BudgetSource::AllReplicas,
        rule: Box::new(|desired| desired),
    }
}

/// An IntOrString scaled against `total`, rounding percentages up as the disruption
/// controller does. An unparseable string counts as 0 (the audit reports it).
pub(crate) fn scaled(v: &IntOrString, total: u32) -> u32 {
    match v {
        IntOrString::Int(n) => u32::try_from(*n).unwrap_or(0),
        IntOrString::String(s) => match s.trim().strip_suffix('%').map(str::trim) {
            Some(p) => p
                .parse::<u64>()
                .map(|p| (u64::from(total) * p).div_ceil(100).min(u64::from(total)) as u32)
                .unwrap_or(0),
            None => s.trim().parse::<u32>().unwrap_or(0),
        },
    }
}

fn secs(from: Time, to: Time) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

impl Incident {
    /// What happened to `pod` at `at`.
    fn of(at: Time, pod: &PodRef, what: String) -> Incident {
        Incident {
            at,
            pod: pod.name.clone(),
            node: pod.node.clone(),
            what,
        }
    }
}

/// The sweep over the timeline for the budget: time at or below it in the window, the fewest
/// healthy pods, and since when every pod has been healthy.
struct BudgetSweep {
    sb: StaticBudget,
    /// The defences' replicas, for when no workload status was observed.
    defaults_desired: Option<u32>,
    window_start: Time,
    window_end: Time,
    state: State,
    stats: BudgetStats,
    any_healthy_known: bool,
    /// The state before an observation holds until it: swept up to here so far.
    cursor: Time,
    healthy_since: Option<Time>,
    saw_pdb_status: bool,
}

impl BudgetSweep {
    fn new(record: &RunRecord, window_start: Time, window_end: Time) -> Self {
        BudgetSweep {
            sb: static_budget(record),
            defaults_desired: record.defences.as_ref().map(|d: &Defences| d.replicas),
            window_start,
            window_end,
            state: State::default(),
            stats: BudgetStats::default(),
            any_healthy_known: false,
            cursor: window_start,
            healthy_since: None,
            saw_pdb_status: false,
        }
    }

    /// The budget in force for a state: the PDBs' observed desiredHealthy (the strictest, when
    /// several PDBs match), else the static rule over the desired replicas.
    fn budget_of(&self, s: &State) -> Option<u32> {
        if let Some(b) = s.pdbs.values().map(|(_, d)| *d).max() {
            return Some(b);
        }
        s.desired
            .or(self.defaults_desired)
            .map(|d| (self.sb.rule)(d))
    }

    /// Whether the current state is healthy: the budget met and every desired pod healthy.
    fn all_healthy(&self) -> bool {
        let s = &self.state;
        match (s.healthy(), self.budget_of(s)) {
            (Some(h), Some(b)) => {
                h >= b && s.desired.or(self.defaults_desired).is_none_or(|d| h >= d)
            }
            _ => false,
        }
    }

    /// Counts the current state's time from the cursor to `to`, when healthy pods and the
    /// budget are known.
    fn accumulate(&mut self, to: Time) {
        let (Some(h), Some(b)) = (self.state.healthy(), self.budget_of(&self.state)) else {
            return;
        };
        let d = secs(self.cursor, to);
        let stats = &mut self.stats;
        stats.known_seconds += d;
        if h >= b {
            stats.ok_seconds += d;
        } else {
            stats.below_seconds += d;
        }
        stats.min_healthy = Some(stats.min_healthy.map_or(h, |m| m.min(h)));
        stats.budget = Some(b);
        self.any_healthy_known = true;
    }

    /// Sweeps up to an observation and takes it in.
    fn observe(&mut self, at: Time, event: &Happening) {
        if at > self.window_start && at <= self.window_end && self.cursor < at {
            self.accumulate(at);
            self.cursor = at;
        }
        self.state.apply(event);
        if matches!(event, Happening::Budget { .. }) {
            self.saw_pdb_status = true;
        }
        if (self.window_start..=self.window_end).contains(&at) {
            // A state reached inside the window counts toward the minimum even if it lasted
            // no time at all (a zero-length run, or a dip replaced at the same instant).
            if let Some(h) = self.state.healthy() {
                self.stats.min_healthy = Some(self.stats.min_healthy.map_or(h, |m| m.min(h)));
                self.any_healthy_known = true;
            }
        }
        if self.all_healthy() {
            self.healthy_since.get_or_insert(at);
        } else if self.state.healthy().is_some() {
            self.healthy_since = None;
        }
    }

    /// Sweeps to the window's end: the budget's stats (none if healthy pods were never known),
    /// where the budget came from, and since when every pod has been healthy.
    fn finish(mut self) -> (Option<BudgetStats>, BudgetSource, Option<Time>) {
        if self.cursor < self.window_end {
            self.accumulate(self.window_end);
        }
        if self.stats.budget.is_none() {
            self.stats.budget = self.budget_of(&self.state);
        }
        let source = if self.saw_pdb_status {
            BudgetSource::PdbStatus
        } else {
            self.sb.source
        };
        let budget = self.any_healthy_known.then_some(self.stats);
        (budget, source, self.healthy_since)
    }
}
impl Analysis {
    /// Reduces a run record to its facts.
    pub fn of(record: &RunRecord) -> Analysis {
        let window_start = record.injected.unwrap_or(record.started);
        let window_end = record.finished.max(window_start);
        let mut sweep = BudgetSweep::new(record, window_start, window_end);
        let mut a = Analysis::empty(window_start, window_end, sweep.sb.source);
        let mut not_ready_now: BTreeSet<String> = BTreeSet::new();
        for obs in record.timeline.entries() {
            sweep.observe(obs.at, &obs.happening);
            if obs.baseline {
                a.baseline.note(&obs.happening);
            } else {
                a.note(obs.at, &obs.happening, record.started, &mut not_ready_now);
            }
        }
        let (budget, source, healthy_since) = sweep.finish();
        a.budget = budget;
        a.budget_source = source;
        // Derived from the timeline only where the engine watched recovery: a run stopped by
        // a signal never did, and a budget healthy at its revert says nothing of the rollout
        // that followed (seen on the bed: 0 s claimed, 2.6 s real).
        let watched = record.reason.is_none_or(|r| r.watch_recovery());
        a.recovered_at = record.recovered.or_else(|| {
            let reverted = record.reverted?;
            let since = healthy_since.filter(|_| watched)?;
            Some(since.max(reverted))
        });
        a
    }

    /// The facts of a run before its timeline is read: nothing happened yet.
    fn empty(window_start: Time, window_end: Time, budget_source: BudgetSource) -> Analysis {
        Analysis {
            window_start,
            window_end,
            leaker_ran: false,
            observation_failed: Vec::new(),
            gaps: Vec::new(),
            restarts_unseen: Vec::new(),
            leaker_oom_kills: Vec::new(),
            target_oom_kills: Vec::new(),
            bystander_oom_kills: Vec::new(),
            target_evictions: Vec::new(),
            bystander_evictions: Vec::new(),
            admission_rejections: Vec::new(),
            baseline: Baseline::default(),
            pressure_nodes: BTreeMap::new(),
            not_ready_nodes: BTreeMap::new(),
            not_ready_spans: Vec::new(),
            max_concurrent_not_ready: 0,
            system_ooms: Vec::new(),
            failed_scheduling: 0,
            first_damage: None,
            budget_source,
            budget: None,
            probes: BTreeMap::new(),
            alerts_firing: BTreeMap::new(),
            recovered_at: None,
            leak_peak_by_pod: BTreeMap::new(),
            leak_nodes: BTreeSet::new(),
        }
    }

    /// Takes in one observation made after the run's first lists.
    fn note(
        &mut self,
        at: Time,
        event: &Happening,
        run_start: Time,
        not_ready_now: &mut BTreeSet<String>,
    ) {
        match event {
            Happening::LeakerStarted { pod } => self.leaker_seen(pod),
            Happening::LeakerBytes { pod, bytes } => {
                self.leaker_ran = true;
                let peak = self.leak_peak_by_pod.entry(pod.clone()).or_insert(0);
                *peak = (*peak).max(*bytes);
            }
            Happening::OomKilled {
                pod,
                container,
                leaker,
                ..
            } => self.note_oom_kill(at, pod, container, *leaker),
            Happening::PodEvicted { pod, cause, .. } => self.note_eviction(at, pod, cause),
            // The rescheduling storm: told as what it is, not counted as damage.
            Happening::AdmissionRejected { pod, .. } if at >= run_start => self
                .admission_rejections
                .push(Incident::of(at, pod, "rejected at admission".into())),
            Happening::NodeCondition {
                node,
                condition,
                status,
                ..
            } => self.note_node_condition(at, node, *condition, *status, not_ready_now),
            Happening::NodeEvent { node, reason, .. } if reason == "SystemOOM" => {
                self.system_ooms.push(Incident {
                    at,
                    pod: String::new(),
                    node: Some(node.clone()),
                    what: reason.clone(),
                });
            }
            Happening::FailedScheduling { .. } => self.failed_scheduling += 1,
            Happening::Probe { name, ok, .. } => {
                let p = self.probes.entry(name.clone()).or_default();
                p.total += 1;
                if *ok {
                    p.ok += 1;
                }
            }
            Happening::Alert { name, state } if *state == AlertState::Firing && at >= run_start => {
                self.alerts_firing.entry(name.clone()).or_insert(at);
            }
            Happening::ObservationFailed { detail } => self.observation_failed.push(detail.clone()),
            Happening::ObservationGap { open: true, detail } => self.gaps.push(Gap {
                from: at,
                to: None,
                detail: detail.clone(),
            }),
            Happening::RestartsUnseen {
                pod,
                container,
                count,
                ..
            } => self
                .restarts_unseen
                .push((at, pod.name.clone(), container.clone(), *count)),
            Happening::ObservationGap { open: false, .. } => {
                if let Some(g) = self.gaps.last_mut().filter(|g| g.to.is_none()) {
                    g.to = Some(at);
                }
            }
            _ => {}
        }
    }

    /// The leaker ran, in `pod`: its node hosted the leak.
    fn leaker_seen(&mut self, pod: &PodRef) {
        self.leaker_ran = true;
        if let Some(n) = &pod.node {
            self.leak_nodes.insert(n.clone());
        }
    }

    /// An OOM kill: the leaker's, the target's own other container's, or a bystander's.
    fn note_oom_kill(&mut self, at: Time, pod: &PodRef, container: &str, leaker: bool) {
        let i = Incident::of(at, pod, container.to_string());
        self.damage(&i, format!("OOM kill of {}/{}", pod.name, container));
        if leaker {
            self.leaker_seen(pod);
            self.leaker_oom_kills.push(i);
        } else if pod.target {
            self.target_oom_kills.push(i);
        } else {
            self.bystander_oom_kills.push(i);
        }
    }

    /// An eviction or other disruption of a target's or a bystander's pod.
    fn note_eviction(&mut self, at: Time, pod: &PodRef, cause: &DisruptionCause) {
        // A rollout's deletions are not damage.
        if *cause == DisruptionCause::Deleted {
            return;
        }
        let i = Incident::of(at, pod, cause_name(cause));
        self.damage(&i, format!("eviction of {}", pod.name));
        if pod.target {
            self.target_evictions.push(i);
        } else {
            self.bystander_evictions.push(i);
        }
    }

    /// A node's MemoryPressure or Ready condition, counting the nodes NotReady at once.
    fn note_node_condition(
        &mut self,
        at: Time,
        node: &str,
        condition: NodeConditionKind,
        status: bool,
        not_ready_now: &mut BTreeSet<String>,
    ) {
        match condition {
            NodeConditionKind::MemoryPressure if status => {
                self.pressure_nodes.entry(node.to_string()).or_insert(at);
            }
            NodeConditionKind::Ready if !status => {
                self.not_ready_nodes.entry(node.to_string()).or_insert(at);
                // False after Unknown (or a new reason) is the same stretch.
                if not_ready_now.insert(node.to_string()) {
                    self.not_ready_spans.push(NodeSpan {
                        node: node.to_string(),
                        from: at,
                        to: None,
                    });
                }
                self.max_concurrent_not_ready = self
                    .max_concurrent_not_ready
                    .max(not_ready_now.len() as u32);
            }
            NodeConditionKind::Ready => {
                if not_ready_now.remove(node)
                    && let Some(span) = self
                        .not_ready_spans
                        .iter_mut()
                        .rev()
                        .find(|s| s.node == node)
                {
                    span.to = Some(at);
                }
            }
            NodeConditionKind::MemoryPressure => {}
        }
    }

    fn damage(&mut self, i: &Incident, what: String) {
        if self.first_damage.is_none() {
            self.first_damage = Some(Incident { what, ..i.clone() });
        }
    }

    /// Bystander pods evicted or OOM-killed (distinct pods).
    pub fn bystander_casualties(&self) -> usize {
        self.bystander_evictions
            .iter()
            .chain(&self.bystander_oom_kills)
            .map(|i| i.pod.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Nodes that suffered in any way: pressure, NotReady, SystemOOM, or an eviction or OOM kill
    /// of a bystander on them.
    pub fn affected_nodes(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.pressure_nodes.keys().cloned().collect();
        s.extend(self.not_ready_nodes.keys().cloned());
        s.extend(self.system_ooms.iter().filter_map(|i| i.node.clone()));
        s.extend(
            self.bystander_evictions
                .iter()
                .chain(&self.bystander_oom_kills)
                .filter_map(|i| i.node.clone()),
        );
        s
    }

    /// Seconds from the revert to recovery.
    pub fn recovery_seconds(&self, record: &RunRecord) -> Option<f64> {
        Some(secs(record.reverted?, self.recovered_at?))
    }

    /// The largest leak seen in one pod.
    pub fn peak_leak(&self) -> Option<u64> {
        self.leak_peak_by_pod.values().copied().max()
    }

    /// The counts a LeakRun's status records.
    pub fn summary(&self, record: &RunRecord) -> RunSummary {
        let oom_kills = self.leaker_oom_kills.len()
            + self.target_oom_kills.len()
            + self.bystander_oom_kills.len();
        RunSummary {
            oom_kills: oom_kills as u32,
            leaker_oom_kills: self.leaker_oom_kills.len() as u32,
            evictions: (self.target_evictions.len() + self.bystander_evictions.len()) as u32,
            bystander_evictions: self.bystander_evictions.len() as u32,
            bystander_oom_kills: self.bystander_oom_kills.len() as u32,
            nodes_under_pressure: self.pressure_nodes.len() as u32,
            nodes_not_ready: self.not_ready_nodes.len() as u32,
            failed_scheduling: self.failed_scheduling,
            admission_rejections: self.admission_rejections.len() as u32,
            budget_breached_seconds: self.budget.map_or(0.0, |b| b.below_seconds),
            min_ready: self.budget.and_then(|b| b.min_healthy),
            recovery_seconds: self.recovery_seconds(record),
            peak_leak_bytes: self.peak_leak(),
        }
    }
}

fn cause_name(c: &DisruptionCause) -> String {
    match c {
        DisruptionCause::Other(s) => s.clone(),
        other => format!("{other:?}"),
    }
}
