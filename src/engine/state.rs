//! What the engine knows about a run in progress: its milestones ([`RunState`]) and a running
//! tally of the timeline ([`Tally`]) that the abort rules, recovery detection and the progress
//! view read. Pure: observations in, state out; no clock, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::observe::{
    AlertState, DisruptionCause, Happening, NodeConditionKind, Observation, PodRef, Time,
};
use crate::spec::{AbortCause, Injected, Phase, RunReason};

use crate::defences::Defences;

/// A request from outside to stop the run: a signal, or the abort annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// [`RunReason::Signal`] or [`RunReason::AbortAnnotation`].
    pub reason: RunReason,
    /// For humans: "SIGINT", "annotation oomsday.dev/abort=...".
    pub detail: String,
}

/// Why and how the run ended, with a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub reason: RunReason,
    pub message: String,
    /// The abort rule that fired, when one did (reason AbortRule).
    pub rule: Option<AbortCause>,
}

/// One check of the steady-state gate (`spec.steadyState`), named in a NotSteady run's message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SteadyCheck {
    /// The workload is fully rolled out.
    RolledOut,
    /// Every desired replica is ready.
    ReplicasReady,
    /// This PodDisruptionBudget has its desired healthy pods.
    Budget(String),
    /// This node is Ready.
    NodeReady(String),
    /// This node is not under MemoryPressure.
    NodeMemory(String),
    /// This steady-state probe succeeds.
    Probe(String),
}

impl std::fmt::Display for SteadyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SteadyCheck::RolledOut => f.write_str("rolledOut"),
            SteadyCheck::ReplicasReady => f.write_str("replicasReady"),
            SteadyCheck::Budget(name) => write!(f, "budgetHealthy (PDB {name})"),
            SteadyCheck::NodeReady(node) => write!(f, "nodesHealthy (node {node} NotReady)"),
            SteadyCheck::NodeMemory(node) => {
                write!(f, "nodesHealthy (node {node} under MemoryPressure)")
            }
            SteadyCheck::Probe(name) => write!(f, "probe {name}"),
        }
    }
}

/// A steady-state check's latest result and since when it has had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub ok: bool,
    /// When the result last changed (the object's or the poll's time).
    pub since: Time,
    /// What the latest sample said ("2/3 ready").
    pub detail: String,
    /// What it said the last time it failed, if it ever did.
    pub last_failure: Option<String>,
}

/// The latest value of a state series, with the object time it was true from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample<T> {
    at: Time,
    value: T,
    /// The state the run began in (the watches' first lists), not a change the run saw.
    baseline: bool,
}

/// A running tally of the timeline: current node, workload and budget state (latest by object
/// time) and counts since the run started. Fed one new observation at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Counted facts (evictions, OOM kills, bystanders) older than this are ignored: a pod that
    /// was evicted last week still carries `reason: Evicted` in a fresh list.
    since: Option<Time>,
    leaker_started: bool,
    leaker_bytes: BTreeMap<String, u64>,
    peak_leak_bytes: u64,
    oom_kills: u32,
    leaker_oom_kills: u32,
    evictions: u32,
    bystanders: BTreeSet<String>,
    node_ready: BTreeMap<String, Sample<bool>>,
    node_pressure: BTreeMap<String, Sample<bool>>,
    /// `(desired, ready)`, and whether the reverted template is fully rolled out.
    workload: Option<Sample<(u32, u32)>>,
    workload_clean: bool,
    /// Target pods carrying a live leaker.
    leaker_pods: Option<Sample<u32>>,
    admission_rejections: u32,
    budgets: BTreeMap<String, Sample<(u32, u32)>>,
    observation_failed: Option<String>,
    /// Since when the watches cannot reach the API server, and why, while they cannot.
    gap: Option<(Time, String)>,
    /// A replay's recorded run reverted before today's oomsday did: its reason and note.
    recorded_revert: Option<(Option<RunReason>, String)>,
    /// Who last wrote the workload's spec, and when, as its managedFields say.
    writer: Option<(String, Option<Time>)>,
    /// When the workload's template was last seen carrying the leaker during the run.
    template_had_leaker: Option<Time>,
    /// The first time the template lost the leaker after carrying it, and who wrote it then.
    template_lost: Option<(Time, Option<String>)>,
    /// Each steady-state check's latest result (the gate reads the ones it needs).
    checks: BTreeMap<SteadyCheck, Held>,
    /// Each alert's latest state, as Prometheus reported it.
    alerts: BTreeMap<String, AlertState>,
    /// Since when the `abort.promql` expression has been across its line, and what it read.
    query_crossed: Option<(Time, String)>,
}

impl Tally {
    /// A tally that counts events at or after `since` (the run's start).
    pub fn new(since: Time) -> Self {
        Tally {
            since: Some(since),
            ..Tally::default()
        }
    }

    /// Takes one (new, deduplicated) observation into account.
    pub fn record(&mut self, obs: &Observation) {
        let counts = self.since.is_none_or(|s| obs.at >= s);
        match &obs.happening {
            Happening::LeakerStarted { .. } => self.leaker_started = true,
            Happening::LeakerBytes { pod, bytes } => {
                self.leaker_started = true;
                self.leaker_bytes.insert(pod.clone(), *bytes);
                self.peak_leak_bytes = self.peak_leak_bytes.max(*bytes);
            }
            Happening::OomKilled { pod, leaker, .. } if counts => {
                self.record_oom_kill(pod, *leaker)
            }
            // A rollout or a person deleting a pod is not blast radius.
            Happening::PodEvicted { pod, cause, .. }
                if counts && *cause != DisruptionCause::Deleted =>
            {
                self.record_eviction(pod)
            }
            Happening::NodeCondition {
                node,
                condition,
                status,
                reason,
            } => self.record_node_condition(obs, node, condition, *status, reason),
            Happening::Workload {
                desired,
                ready,
                leaker,
                ..
            } if self.workload.is_none_or(|s| obs.at >= s.at) => {
                self.record_workload(obs, *desired, *ready, *leaker)
            }
            Happening::SteadyProbe { .. }
            | Happening::Alert { .. }
            | Happening::AbortQuery { .. } => self.record_query(obs),
            Happening::LeakerPods { live } if self.leaker_pods.is_none_or(|s| obs.at >= s.at) => {
                self.leaker_pods = Some(Sample {
                    at: obs.at,
                    value: *live,
                    baseline: obs.baseline,
                });
            }
            // Refused at admission: never ran, so not an eviction and not blast radius.
            Happening::AdmissionRejected { .. } if counts => self.admission_rejections += 1,
            Happening::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } => {
                update(
                    &mut self.budgets,
                    name,
                    obs,
                    (*current_healthy, *desired_healthy),
                );
                self.hold(
                    SteadyCheck::Budget(name.clone()),
                    current_healthy >= desired_healthy,
                    obs.at,
                    format!("{current_healthy} healthy, {desired_healthy} desired"),
                );
            }
            Happening::WorkloadWriter { manager, written } => {
                self.writer = Some((manager.clone(), *written));
            }
            Happening::RecordedRevert { reason, note, .. } if self.recorded_revert.is_none() => {
                self.recorded_revert = Some((*reason, note.clone()));
            }
            Happening::ObservationGap { open, detail } => self.record_gap(obs, *open, detail),
            Happening::ObservationFailed { detail } if self.observation_failed.is_none() => {
                self.observation_failed = Some(detail.clone());
            }
            _ => {}
        }
    }

    /// What the prober asked: a steady-state probe's result, an alert's state, the
    /// `abort.promql` expression crossing its line or coming back.
    fn record_query(&mut self, obs: &Observation) {
        match &obs.happening {
            Happening::SteadyProbe { name, ok, detail } => {
                self.hold(
                    SteadyCheck::Probe(name.clone()),
                    *ok,
                    obs.at,
                    detail.clone(),
                );
            }
            Happening::Alert { name, state } => {
                self.alerts.insert(name.clone(), *state);
            }
            Happening::AbortQuery { crossed, detail } => {
                self.query_crossed = match (&self.query_crossed, crossed) {
                    (_, false) => None,
                    (Some(c), true) => Some(c.clone()),
                    (None, true) => Some((obs.at, detail.clone())),
                };
            }
            _ => {}
        }
    }

    /// A counted OOM kill: a kill, a leaker's kill (whose memory went with it), and blast
    /// radius when the pod is not a target.
    fn record_oom_kill(&mut self, pod: &PodRef, leaker: bool) {
        self.oom_kills += 1;
        if leaker {
            self.leaker_oom_kills += 1;
            // The leaker's memory went with it; its next incarnation reports again.
            self.leaker_bytes.remove(&pod.name);
        }
        if !pod.target {
            self.bystanders.insert(pod.name.clone());
        }
    }

    /// A counted eviction: blast radius when the pod is not a target, and whatever a leaker
    /// held there is gone.
    fn record_eviction(&mut self, pod: &PodRef) {
        self.evictions += 1;
        if !pod.target {
            self.bystanders.insert(pod.name.clone());
        }
        self.leaker_bytes.remove(&pod.name);
    }

    /// A node's Ready or MemoryPressure condition, kept as "bad" (not ready, under pressure).
    fn record_node_condition(
        &mut self,
        obs: &Observation,
        node: &str,
        condition: &NodeConditionKind,
        status: bool,
        reason: &str,
    ) {
        let (map, bad, check) = match condition {
            NodeConditionKind::Ready => (
                &mut self.node_ready,
                !status,
                SteadyCheck::NodeReady(node.to_string()),
            ),
            NodeConditionKind::MemoryPressure => (
                &mut self.node_pressure,
                status,
                SteadyCheck::NodeMemory(node.to_string()),
            ),
        };
        update(map, node, obs, bad);
        let detail = format!(
            "{condition:?}={} ({reason})",
            if status { "True" } else { "False" }
        );
        self.hold(check, !bad, obs.at, detail);
    }

    /// A steady-state check's new result at `at`: its `since` moves only when it changes, and
    /// a late arrival older than what is held changes nothing.
    fn hold(&mut self, check: SteadyCheck, ok: bool, at: Time, detail: String) {
        let last_failure = (!ok).then(|| detail.clone());
        match self.checks.get_mut(&check) {
            Some(h) if h.since > at => {}
            Some(h) => {
                if h.ok != ok {
                    h.since = at;
                }
                h.ok = ok;
                h.detail = detail;
                if last_failure.is_some() {
                    h.last_failure = last_failure;
                }
            }
            None => {
                self.checks.insert(
                    check,
                    Held {
                        ok,
                        since: at,
                        detail,
                        last_failure,
                    },
                );
            }
        }
    }

    /// The workload's newest replicas, and whether its template still carries the leaker: the
    /// first time it loses it after carrying it is noted with who wrote the workload then.
    fn record_workload(&mut self, obs: &Observation, desired: u32, ready: u32, leaker: bool) {
        if leaker {
            self.template_had_leaker = Some(obs.at);
        } else if let Some(had) = self.template_had_leaker
            && self.template_lost.is_none()
        {
            self.template_lost = Some((obs.at, self.remover(had)));
        }
        self.workload = Some(Sample {
            at: obs.at,
            value: (desired, ready),
            baseline: obs.baseline,
        });
        self.workload_clean = obs.happening.rolled_out_clean();
        if let Happening::Workload {
            updated,
            current,
            observed,
            ..
        } = &obs.happening
        {
            let rolled_out = *observed && *updated == desired && *current == desired;
            let detail = if *observed {
                format!("{updated} of {desired} replicas on the current template, {current} in all")
            } else {
                "its controller has not seen the latest template yet".to_string()
            };
            self.hold(SteadyCheck::RolledOut, rolled_out, obs.at, detail);
        }
        self.hold(
            SteadyCheck::ReplicasReady,
            ready >= desired,
            obs.at,
            format!("{ready}/{desired} ready"),
        );
    }

    /// The watches lost (`open`) or regained the API server: the first loss's time and detail
    /// are kept until it is regained.
    fn record_gap(&mut self, obs: &Observation, open: bool, detail: &str) {
        if !open {
            self.gap = None;
        } else if self.gap.is_none() {
            self.gap = Some((obs.at, detail.to_string()));
        }
    }

    /// Whether a leaker was ever seen running (a `LeakerStarted` or `LeakerBytes`).
    pub fn leaker_started(&self) -> bool {
        self.leaker_started
    }
    /// Bytes the leakers hold right now, summed over pods.
    pub fn leaked_bytes(&self) -> u64 {
        self.leaker_bytes.values().sum()
    }
    /// The most one leaker was seen holding.
    pub fn peak_leak_bytes(&self) -> u64 {
        self.peak_leak_bytes
    }
    pub fn oom_kills(&self) -> u32 {
        self.oom_kills
    }
    pub fn leaker_oom_kills(&self) -> u32 {
        self.leaker_oom_kills
    }
    /// Evictions and other disruptions, excluding plain deletions (rollouts).
    pub fn evictions(&self) -> u32 {
        self.evictions
    }
    /// Pods the kubelet refused at admission (they never ran).
    pub fn admission_rejections(&self) -> u32 {
        self.admission_rejections
    }
    /// Pods that are not the target and were evicted or OOM-killed, each counted once.
    pub fn bystander_pods(&self) -> u32 {
        u32::try_from(self.bystanders.len()).unwrap_or(u32::MAX)
    }
    /// Nodes whose latest Ready condition is not True.
    pub fn nodes_not_ready(&self) -> u32 {
        count_true(&self.node_ready)
    }
    /// Nodes whose latest MemoryPressure condition is True.
    pub fn nodes_under_pressure(&self) -> u32 {
        count_true(&self.node_pressure)
    }
    /// The target's latest `(desired, ready)` replicas, when seen.
    pub fn workload(&self) -> Option<(u32, u32)> {
        self.workload.map(|s| s.value)
    }
    /// The target's latest `(desired, ready)` replicas once they changed during the run (not
    /// the state it began in).
    pub fn workload_changed(&self) -> Option<(u32, u32)> {
        self.workload.filter(|s| !s.baseline).map(|s| s.value)
    }
    /// The most demanding budget's latest `(current_healthy, desired_healthy)`: the one with
    /// the least headroom.
    pub fn tightest_budget(&self) -> Option<(u32, u32)> {
        self.budgets
            .values()
            .map(|s| s.value)
            .min_by_key(|(cur, des)| i64::from(*cur) - i64::from(*des))
    }
    /// When the workload's template lost the leaker after carrying it, and the field manager
    /// that wrote it then (None when the API did not say). While the leak runs, that is
    /// someone else's doing: oomsday's own revert comes after.
    pub fn template_lost(&self) -> Option<(Time, Option<&str>)> {
        self.template_lost
            .as_ref()
            .map(|(at, by)| (*at, by.as_deref()))
    }
    /// Who took the leaker out of the template, last seen in it at `had`: the latest writer of
    /// the spec when it wrote after that (its entry has whole seconds) and is not oomsday. An
    /// update that only removed fields leaves no entry, so nobody is named then.
    fn remover(&self, had: Time) -> Option<String> {
        let (manager, written) = self.writer.as_ref()?;
        let had_second = Time::from_second(had.as_second()).unwrap_or(had);
        (manager != crate::inject::FIELD_MANAGER && written.is_some_and(|w| w >= had_second))
            .then(|| manager.clone())
    }

    /// In a replay: the recorded run reverted (its reason, when recorded, and its note) before
    /// today's oomsday did.
    pub fn recorded_revert(&self) -> Option<(Option<RunReason>, &str)> {
        self.recorded_revert.as_ref().map(|(r, n)| (*r, n.as_str()))
    }
    /// Since when, and why, the watches cannot reach the API server, while they cannot.
    pub fn gap(&self) -> Option<(Time, &str)> {
        self.gap.as_ref().map(|(at, d)| (*at, d.as_str()))
    }
    /// A steady-state check's latest result, when it was ever sampled.
    pub fn check(&self, check: &SteadyCheck) -> Option<&Held> {
        self.checks.get(check)
    }
    /// Every steady-state check sampled so far, in order.
    pub fn checks(&self) -> impl Iterator<Item = (&SteadyCheck, &Held)> {
        self.checks.iter()
    }
    /// Whether Prometheus last reported this alert firing.
    pub fn alert_firing(&self, name: &str) -> bool {
        self.alerts.get(name) == Some(&AlertState::Firing)
    }
    /// Since when the `abort.promql` expression has been across its line, and what it read
    /// then, while it is.
    pub fn query_crossed(&self) -> Option<(Time, &str)> {
        self.query_crossed.as_ref().map(|(t, d)| (*t, d.as_str()))
    }

    /// The first watch failure reported, if any.
    pub fn observation_failed(&self) -> Option<&str> {
        self.observation_failed.as_deref()
    }

    /// Recovered, by the latest samples: the workload's template without the leaker is fully
    /// rolled out (its controller caught up, every replica updated and ready), no target pod
    /// carries a live leaker any more, and every budget is healthy. Unknown (no workload
    /// sample yet) is not healthy.
    pub fn healthy(&self) -> bool {
        let workload_ok =
            self.workload_clean && self.workload.is_some_and(|s| s.value.1 >= s.value.0);
        let leakers_gone = self.leaker_pods.is_none_or(|s| s.value == 0);
        workload_ok && leakers_gone && self.budgets.values().all(|s| s.value.0 >= s.value.1)
    }

    /// When the current healthy state became true: the newest sample it rests on.
    fn healthy_since(&self) -> Option<Time> {
        if !self.healthy() {
            return None;
        }
        let w = self.workload.map(|s| s.at);
        let l = self.leaker_pods.map(|s| s.at);
        self.budgets.values().map(|s| s.at).chain(w).chain(l).max()
    }
}

fn update<T>(map: &mut BTreeMap<String, Sample<T>>, key: &str, obs: &Observation, value: T) {
    let sample = Sample {
        at: obs.at,
        value,
        baseline: obs.baseline,
    };
    // A late arrival older than what we hold does not overwrite the newer state.
    match map.get_mut(key) {
        Some(s) if s.at > obs.at => {}
        Some(s) => *s = sample,
        None => {
            map.insert(key.to_string(), sample);
        }
    }
}

/// Samples that are true now and got so during the run: a node that was NotReady when the run
/// began and still is adds nothing.
fn count_true(map: &BTreeMap<String, Sample<bool>>) -> u32 {
    u32::try_from(map.values().filter(|s| s.value && !s.baseline).count()).unwrap_or(u32::MAX)
}

/// Everything the engine knows about one run: its milestones and the tally of what it saw.
/// [`super::decide`] reads it; the driver updates it as steps complete.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub phase: Phase,
    pub started: Time,
    /// The target's defences, once preflight succeeded.
    pub defences: Option<Defences>,
    /// When the leaker was in place (inject returned).
    pub injected: Option<Time>,
    /// When the leak ends: the leaker's own absolute deadline.
    pub deadline: Option<Time>,
    /// What was (or, after a failed or interrupted injection, may have been) put in place.
    pub injection: Option<Injected>,
    /// Why the leak ended (or never began), once known.
    pub ending: Option<Ending>,
    pub reverted: Option<Time>,
    /// When all target pods were ready and every budget healthy after the revert.
    pub recovered: Option<Time>,
    /// A stop requested from outside (signal, annotation), the first one wins.
    pub stop: Option<Stop>,
    /// A failed step (preflight, inject, observe) with its error, before the driver reverts.
    pub failure: Option<Ending>,
    /// The kind of the error behind `failure`, when a step failed with one.
    pub failure_kind: Option<crate::ErrorKind>,
    /// Whether the run's probes can be polled (false in the simulator, which has no endpoints
    /// to reach): without them the steady-state gate judges the target's conditions alone.
    pub probing: bool,
    pub tally: Tally,
}

impl RunState {
    /// A run that has just started, at `started`.
    pub fn new(started: Time) -> Self {
        RunState {
            phase: Phase::Pending,
            started,
            defences: None,
            injected: None,
            deadline: None,
            injection: None,
            ending: None,
            reverted: None,
            recovered: None,
            stop: None,
            failure: None,
            failure_kind: None,
            probing: true,
            tally: Tally::new(started),
        }
    }

    /// Takes a new observation into account; detects recovery after the revert.
    pub fn record(&mut self, obs: &Observation) {
        self.tally.record(obs);
        self.check_recovered();
    }

    /// Records a stop request; the first one wins.
    pub fn request_stop(&mut self, stop: Stop) {
        if self.stop.is_none() {
            self.stop = Some(stop);
        }
    }

    /// Records a failed step; the first failure wins (a later one is usually a consequence).
    pub fn fail(&mut self, reason: RunReason, message: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(Ending {
                rule: None,
                reason,
                message: message.into(),
            });
        }
    }

    /// Records a step that failed with `error`, keeping its kind; the first failure wins.
    pub fn fail_with(&mut self, reason: RunReason, error: &crate::Error) {
        if self.failure.is_none() {
            self.failure_kind = Some(error.kind());
        }
        self.fail(reason, error.to_string());
    }

    /// The revert completed at `at`: recovery is measured from here.
    pub fn mark_reverted(&mut self, at: Time) {
        self.reverted = Some(at);
        self.phase = Phase::Recovering;
        self.check_recovered();
    }

    fn check_recovered(&mut self) {
        if let (Some(reverted), None) = (self.reverted, self.recovered)
            && let Some(since) = self.tally.healthy_since()
        {
            // Healthy already at the revert counts as recovered at once.
            self.recovered = Some(since.max(reverted));
        }
    }
}

#[cfg(test)]
mod tests;
