//! The one narrator: where an observation becomes a sentence.
//!
//! Every place a person reads what happened — the CLI's progress, the Markdown and HTML reports,
//! the simulator's story, the LeakRun's Kubernetes Events and status timeline — takes its words
//! from here, so one OOM kill reads the same everywhere. Pure: observations in, [`Line`]s out.
//!
//! - [`Narrator`] turns observations into lines. Discrete facts (an OOM kill, an eviction) each
//!   get a line; state series (ready replicas, a budget, a probe) only when they change in a way
//!   worth telling (a new low, a breach, a probe failing).
//! - [`Folder`] folds bursts: after [`BURST_SHOWN`] lines of one [`Topic`] within [`BURST_GAP`]
//!   of each other, the rest of the burst becomes one line, "… and 38 more like …". It works
//!   live (line by line) and over a whole timeline ([`story`]). Only lines of the same kind fold
//!   together.
//!
//! How the time is shown (wall clock, `T+…`, `MM:SS`) is the front end's choice; the sentence is
//! the same.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::observe::{
    AlertState, DisruptionCause, Happening, NodeConditionKind, Observation, PodRef, Time,
};
use crate::spec::Phase;

/// The reason the node lifecycle controller gives every condition of a node whose kubelet
/// stopped posting status (`pkg/controller/nodelifecycle`).
const NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";

/// Lines of one kind shown in a burst before the rest is folded into one line.
pub const BURST_SHOWN: usize = 3;
/// A gap this long between two lines of a kind ends its burst.
pub const BURST_GAP: Duration = Duration::from_secs(60);

/// What a line is about: lines fold only with lines of the same kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Phase(Phase),
    Baseline,
    LeakerStarted,
    OomKill {
        leaker: bool,
        target: bool,
    },
    CrashLoop,
    Eviction {
        target: bool,
    },
    AdmissionRejected {
        target: bool,
    },
    NodeCondition {
        condition: NodeConditionKind,
        status: bool,
    },
    NodeEvent(String),
    FailedScheduling,
    Workload,
    Budget {
        breached: bool,
    },
    Probe(String),
    Alert(String),
    AlertCheck,
    Abort,
    ObservationFailed,
    ObservationGap {
        open: bool,
    },
    RestartsUnseen,
    RecordedRevert,
}

/// One line of the story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub at: Time,
    pub kind: Topic,
    pub text: String,
    /// Something went wrong for someone (a Warning Event, a red line).
    pub warning: bool,
    /// A short CamelCase reason, as a Kubernetes Event's `reason` ("OOMKilled").
    pub reason: &'static str,
    /// How many lines this one stands for beyond itself (a folded burst), 0 for a plain line.
    pub folded: usize,
}

impl Line {
    fn new(at: Time, kind: Topic, reason: &'static str, warning: bool, text: String) -> Line {
        Line {
            at,
            kind,
            text,
            warning,
            reason,
            folded: 0,
        }
    }
}

fn on_node(node: Option<&str>) -> String {
    node.map(|n| format!(" on {n}")).unwrap_or_default()
}

/// A pod's name and, when known, its node: "web-1 on node-a".
fn pod_place(pod: &PodRef) -> String {
    format!("{}{}", pod.name, on_node(pod.node.as_deref()))
}

/// A container of a pod and, when known, its node: "web-1/app on node-a".
fn container_place(pod: &PodRef, container: &str) -> String {
    format!("{}/{container}{}", pod.name, on_node(pod.node.as_deref()))
}

/// What befell a pod, saying first whether it was the target or a bystander.
fn pod_fate(pod: &PodRef, what: &str) -> String {
    format!("{} {} {what}", who(pod.target), pod_place(pod))
}

fn who(target: bool) -> &'static str {
    if target {
        "target pod"
    } else {
        "BYSTANDER pod"
    }
}

fn cause_words(cause: &DisruptionCause) -> String {
    match cause {
        DisruptionCause::TerminationByKubelet => "by the kubelet (node memory pressure)".into(),
        DisruptionCause::EvictionByEvictionAPI => "through the Eviction API".into(),
        DisruptionCause::DeletionByTaintManager => "by the taint manager (node NotReady)".into(),
        DisruptionCause::PreemptionByScheduler => "by the scheduler (preempted)".into(),
        DisruptionCause::Deleted => "by deletion".into(),
        DisruptionCause::Other(r) => format!("({r})"),
    }
}

/// The first sentence of a long message ("0/1 nodes are available: … . preemption: …").
fn first_sentence(message: &str) -> &str {
    let m = message.trim();
    match m.find(". ") {
        Some(i) => &m[..i],
        None => m.trim_end_matches('.'),
    }
}

fn with_detail(text: String, detail: &str) -> String {
    if detail.trim().is_empty() {
        text
    } else {
        format!("{text}: {}", detail.trim())
    }
}

/// Turns observations into lines, remembering what it needs to tell changes of state.
#[derive(Debug, Clone, Default)]
pub struct Narrator {
    /// The target workload as sentences name it ("checkout").
    target: String,
    /// Lowest ready count so far, and the last sample.
    low: Option<u32>,
    last_ready: Option<(u32, u32)>,
    breached: BTreeMap<String, bool>,
    probes: BTreeMap<String, bool>,
    /// Whether the last alert check could ask Prometheus.
    alert_check: Option<bool>,
}

impl Narrator {
    /// A narrator for a run on `target` (the workload's name).
    pub fn new(target: impl Into<String>) -> Self {
        Narrator {
            target: target.into(),
            ..Narrator::default()
        }
    }

    /// The line for one observation, or None when it is not worth one (a state sample that
    /// changes nothing a person needs to read, leaked bytes the charts show).
    pub fn line(&mut self, o: &Observation) -> Option<Line> {
        let at = o.at;
        if o.baseline && !matches!(o.happening, Happening::Baseline { .. }) {
            // The state the run began in: the Baseline line sums it up once, and the series
            // remember it, so that only changes from it are told.
            self.remember(o);
            return None;
        }
        match &o.happening {
            Happening::Baseline { .. }
            | Happening::RunPhase { .. }
            | Happening::Alert { .. }
            | Happening::Abort { .. }
            | Happening::ObservationFailed { .. }
            | Happening::ObservationGap { .. }
            | Happening::RecordedRevert { .. } => Self::run_line(at, &o.happening),
            Happening::LeakerStarted { .. }
            | Happening::OomKilled { .. }
            | Happening::CrashLoopBackOff { .. }
            | Happening::PodEvicted { .. }
            | Happening::AdmissionRejected { .. }
            | Happening::RestartsUnseen { .. }
            | Happening::FailedScheduling { .. } => Self::pod_line(at, &o.happening),
            Happening::NodeCondition { .. } | Happening::NodeEvent { .. } => {
                Self::node_line(at, &o.happening)
            }
            Happening::Workload { .. }
            | Happening::Budget { .. }
            | Happening::Probe { .. }
            | Happening::AlertCheck { .. } => self.state_line(at, &o.happening),
            Happening::SteadyProbe { .. } | Happening::AbortQuery { .. } => {
                Self::gate_line(at, &o.happening)
            }
            // Who wrote the workload is told with what it did (the run's end, when it took
            // the leaker out).
            Happening::LeakerBytes { .. }
            | Happening::LeakerPods { .. }
            | Happening::WorkloadWriter { .. } => None,
        }
    }

    /// A steady-state probe's result and the `abort.promql` rule crossing its line: state series
    /// the timeline keeps only when they change, so each is news.
    fn gate_line(at: Time, event: &Happening) -> Option<Line> {
        Some(match event {
            Happening::SteadyProbe { name, ok, detail } => Line::new(
                at,
                Topic::Probe(name.clone()),
                if *ok {
                    "SteadyProbeOk"
                } else {
                    "SteadyProbeFailing"
                },
                !*ok,
                with_detail(
                    format!(
                        "steady-state probe {name} {}",
                        if *ok { "ok" } else { "FAILING" }
                    ),
                    detail,
                ),
            ),
            Happening::AbortQuery { crossed, detail } => Line::new(
                at,
                Topic::Probe("abort.promql".into()),
                if *crossed {
                    "AbortQueryCrossed"
                } else {
                    "AbortQueryClear"
                },
                *crossed,
                with_detail(
                    format!(
                        "abort.promql {}",
                        if *crossed {
                            "CROSSED its line"
                        } else {
                            "back within its line"
                        }
                    ),
                    detail,
                ),
            ),
            _ => return None,
        })
    }

    /// The run's own milestones, its baseline, alerts, aborts and observation failures.
    fn run_line(at: Time, event: &Happening) -> Option<Line> {
        Some(match event {
            Happening::Baseline {
                nodes,
                nodes_not_ready,
                nodes_under_pressure,
                pods_crash_looping,
                budgets_breached,
            } => Line::new(
                at,
                Topic::Baseline,
                "Baseline",
                false,
                baseline_text(
                    *nodes,
                    *nodes_not_ready,
                    *nodes_under_pressure,
                    *pods_crash_looping,
                    *budgets_breached,
                ),
            ),
            Happening::RunPhase { phase, detail } => Line::new(
                at,
                Topic::Phase(*phase),
                phase_reason(*phase),
                matches!(phase, Phase::Aborted | Phase::Failed),
                with_detail(format!("run {phase:?}"), detail),
            ),
            Happening::Alert { name, state } => Self::alert_line(at, name, state),
            Happening::Abort {
                reason,
                rule,
                detail,
            } => Line::new(
                at,
                Topic::Abort,
                "Aborted",
                true,
                with_detail(
                    rule.as_ref()
                        .map_or_else(|| format!("ABORT {reason}"), |r| format!("ABORT {r}")),
                    detail,
                ),
            ),
            Happening::ObservationFailed { detail } => Line::new(
                at,
                Topic::ObservationFailed,
                "ObservationFailed",
                true,
                with_detail("observation failed".into(), detail),
            ),
            Happening::ObservationGap { open: true, detail } => Self::gap_opened_line(at, detail),
            Happening::RecordedRevert { note, today, .. } => Line::new(
                at,
                Topic::RecordedRevert,
                "RecordedRevert",
                true,
                format!("the recorded run reverted here ({note}); {today}"),
            ),
            Happening::ObservationGap { open: false, .. } => Line::new(
                at,
                Topic::ObservationGap { open: false },
                "APIServerReachable",
                false,
                format!("API server reachable again at {}", at.strftime("%H:%M:%S")),
            ),
            _ => return None,
        })
    }

    /// An alert's new state; a firing alert is a line to notice.
    fn alert_line(at: Time, name: &str, state: &AlertState) -> Line {
        Line::new(
            at,
            Topic::Alert(name.to_string()),
            "Alert",
            *state == AlertState::Firing,
            format!(
                "alert {name} {}",
                match state {
                    AlertState::Pending => "pending",
                    AlertState::Firing => "FIRING",
                    AlertState::Resolved => "resolved",
                }
            ),
        )
    }

    /// The watches lost the API server: says that the leak goes on, and how the gap is filled.
    fn gap_opened_line(at: Time, detail: &str) -> Line {
        Line::new(
            at,
            Topic::ObservationGap { open: true },
            "APIServerUnreachable",
            true,
            with_detail(
                format!(
                    "API server unreachable since {} — the leak goes on; what happens \
                     meanwhile is read from the objects when it is back",
                    at.strftime("%H:%M:%S")
                ),
                detail,
            ),
        )
    }

    /// What happened to a pod: a leaker started, an OOM kill, an eviction, a rejection.
    fn pod_line(at: Time, event: &Happening) -> Option<Line> {
        Some(match event {
            Happening::RestartsUnseen {
                pod,
                container,
                count,
                reason,
                ..
            } => Self::restarts_unseen_line(at, pod, container, *count, reason.as_deref()),
            Happening::LeakerStarted { pod } => Line::new(
                at,
                Topic::LeakerStarted,
                "LeakerStarted",
                false,
                format!("leaker started in {}", pod_place(pod)),
            ),
            Happening::OomKilled {
                pod,
                container,
                leaker,
                restart_count,
            } => Self::oom_kill_line(at, pod, container, *leaker, *restart_count),
            Happening::CrashLoopBackOff { pod, container } => Line::new(
                at,
                Topic::CrashLoop,
                "CrashLoopBackOff",
                true,
                format!("CrashLoopBackOff {}", container_place(pod, container)),
            ),
            Happening::PodEvicted {
                pod,
                cause,
                message,
            } => Line::new(
                at,
                Topic::Eviction { target: pod.target },
                "Evicted",
                true,
                with_detail(
                    pod_fate(pod, &format!("evicted {}", cause_words(cause))),
                    message,
                ),
            ),
            Happening::AdmissionRejected { pod, message } => Line::new(
                at,
                Topic::AdmissionRejected { target: pod.target },
                "AdmissionRejected",
                true,
                with_detail(
                    pod_fate(pod, "rejected by the kubelet at admission (it never ran)"),
                    message,
                ),
            ),
            Happening::FailedScheduling { pod, message, .. } => Line::new(
                at,
                Topic::FailedScheduling,
                "FailedScheduling",
                true,
                with_detail(
                    format!("pod {pod} could not be scheduled"),
                    first_sentence(message),
                ),
            ),
            _ => return None,
        })
    }

    /// Restarts that happened while the pod could not be watched: how many, and the reason
    /// of the last one when its status still shows it.
    fn restarts_unseen_line(
        at: Time,
        pod: &PodRef,
        container: &str,
        count: u32,
        reason: Option<&str>,
    ) -> Line {
        Line::new(
            at,
            Topic::RestartsUnseen,
            "RestartsUnseen",
            true,
            format!(
                "{container} in {} restarted {count} more time(s) than oomsday saw (its \
                 restart count jumped while it could not be watched): their times are \
                 unknown{}",
                pod_place(pod),
                reason
                    .map(|r| format!("; the last was {r}"))
                    .unwrap_or_default()
            ),
        )
    }

    /// An OOM kill, naming whose container died: the leaker, the target's own, or a bystander's.
    fn oom_kill_line(
        at: Time,
        pod: &PodRef,
        container: &str,
        leaker: bool,
        restart_count: u32,
    ) -> Line {
        let whose = if leaker {
            "leaker"
        } else if pod.target {
            "target container"
        } else {
            "BYSTANDER"
        };
        Line::new(
            at,
            Topic::OomKill {
                leaker,
                target: pod.target,
            },
            "OOMKilled",
            true,
            format!(
                "OOM kill ({whose}) {} (restarts {restart_count})",
                container_place(pod, container)
            ),
        )
    }

    /// A node's condition or event.
    fn node_line(at: Time, event: &Happening) -> Option<Line> {
        Some(match event {
            Happening::NodeCondition {
                node,
                condition,
                status,
                reason,
            } => {
                let kind = Topic::NodeCondition {
                    condition: *condition,
                    status: *status,
                };
                let (r, warning, text) = match (condition, status) {
                    (NodeConditionKind::MemoryPressure, true) => (
                        "MemoryPressure",
                        true,
                        with_detail(format!("node {node} under MemoryPressure"), reason),
                    ),
                    // The node lifecycle controller sets every condition Unknown when the
                    // kubelet stops posting (reason NodeStatusUnknown): the pressure is not
                    // known to be over.
                    (NodeConditionKind::MemoryPressure, false) if reason == NODE_STATUS_UNKNOWN => {
                        (
                            "MemoryPressureUnknown",
                            true,
                            format!(
                                "node {node} MemoryPressure unknown: the kubelet stopped posting status"
                            ),
                        )
                    }
                    (NodeConditionKind::MemoryPressure, false) => (
                        "MemoryPressureCleared",
                        false,
                        format!("node {node} MemoryPressure cleared"),
                    ),
                    (NodeConditionKind::Ready, false) => (
                        "NodeNotReady",
                        true,
                        with_detail(format!("node {node} NotReady"), reason),
                    ),
                    (NodeConditionKind::Ready, true) => {
                        ("NodeReady", false, format!("node {node} Ready"))
                    }
                };
                Line::new(at, kind, r, warning, text)
            }
            Happening::NodeEvent {
                node,
                reason,
                message,
            } => {
                // The kubelet's restart is routine; the condition lines say the rest.
                if reason == "Starting" {
                    return None;
                }
                let text = match reason.as_str() {
                    "KubeletOOMKilled" => {
                        format!("node {node}: kubelet OOM-killed (nothing reserved for it)")
                    }
                    _ => with_detail(format!("node {node}: {reason}"), message),
                };
                Line::new(
                    at,
                    Topic::NodeEvent(reason.clone()),
                    "NodeEvent",
                    true,
                    text,
                )
            }
            _ => return None,
        })
    }

    /// A state series, told only when it changes in a way worth a line.
    fn state_line(&mut self, at: Time, event: &Happening) -> Option<Line> {
        Some(match event {
            Happening::Workload { desired, ready, .. } => {
                return self.workload(at, *desired, *ready);
            }
            Happening::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } => {
                let below = current_healthy < desired_healthy;
                let was = self.breached.insert(name.clone(), below).unwrap_or(false);
                if below == was {
                    return None;
                }
                Line::new(
                    at,
                    Topic::Budget { breached: below },
                    if below {
                        "BudgetBreached"
                    } else {
                        "BudgetHealthy"
                    },
                    below,
                    format!(
                        "PDB {name} {}: {current_healthy} healthy, {desired_healthy} desired",
                        if below { "BREACHED" } else { "healthy again" }
                    ),
                )
            }
            Happening::Probe { name, ok, detail } => {
                // Only a change of a probe's result is news.
                if self.probes.insert(name.clone(), *ok) == Some(*ok) {
                    return None;
                }
                Line::new(
                    at,
                    Topic::Probe(name.clone()),
                    if *ok { "ProbeOk" } else { "ProbeFailing" },
                    !*ok,
                    with_detail(
                        format!("probe {name} {}", if *ok { "ok" } else { "FAILING" }),
                        detail,
                    ),
                )
            }
            Happening::AlertCheck { ok, detail } => {
                // A failing check is news; a working one only after failures.
                let was = self.alert_check.replace(*ok);
                if *ok && was != Some(false) || was == Some(*ok) {
                    return None;
                }
                let text = if *ok {
                    "alert checks answered again".to_string()
                } else {
                    with_detail("alert checks FAILING".into(), detail)
                };
                Line::new(at, Topic::AlertCheck, "AlertCheck", !*ok, text)
            }
            _ => return None,
        })
    }

    /// Takes in a baseline sample without telling it.
    fn remember(&mut self, o: &Observation) {
        match &o.happening {
            Happening::Workload { desired, ready, .. } => {
                self.last_ready = Some((*desired, *ready));
                self.low = Some(*ready);
            }
            Happening::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } => {
                self.breached
                    .insert(name.clone(), current_healthy < desired_healthy);
            }
            _ => {}
        }
    }

    /// The target's ready count when it reaches a new low or comes back to full.
    fn workload(&mut self, at: Time, desired: u32, ready: u32) -> Option<Line> {
        let first = self.last_ready.is_none();
        let new_low = self.low.is_none_or(|l| ready < l);
        let back = self.last_ready.is_some_and(|(_, r)| r < desired) && ready >= desired;
        let changed = self.last_ready != Some((desired, ready));
        if new_low || back {
            self.low = Some(ready);
        }
        self.last_ready = Some((desired, ready));
        ((first || new_low || back) && changed).then(|| {
            Line::new(
                at,
                Topic::Workload,
                "Replicas",
                ready < desired,
                format!("{} ready {ready}/{desired}", self.target),
            )
        })
    }
}

/// "1 node", "3 nodes": a count and its noun. The one such helper: the reports and the CLI
/// use it too.
pub(crate) fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "baseline: 500 nodes, 500 NotReady, 2 under MemoryPressure; 50 pods in CrashLoopBackOff;
/// nothing of it counts as the leak's doing".
fn baseline_text(nodes: u32, not_ready: u32, pressure: u32, crash: u32, breached: u32) -> String {
    let mut parts = vec![plural(nodes, "node", "nodes")];
    if not_ready > 0 {
        parts.push(format!("{not_ready} NotReady"));
    }
    if pressure > 0 {
        parts.push(format!("{pressure} under MemoryPressure"));
    }
    let mut text = format!("baseline: {}", parts.join(", "));
    if crash > 0 {
        text.push_str(&format!(
            "; {} in CrashLoopBackOff",
            plural(crash, "pod", "pods")
        ));
    }
    if breached > 0 {
        text.push_str(&format!(
            "; {} below its minimum",
            plural(breached, "budget", "budgets")
        ));
    }
    if not_ready + pressure + crash + breached > 0 {
        text.push_str(" — already so before the leak, not counted as its doing");
    } else {
        text.push_str(", all healthy");
    }
    text
}

fn phase_reason(p: Phase) -> &'static str {
    match p {
        Phase::Pending => "Pending",
        Phase::Injecting => "Injecting",
        Phase::Leaking => "Leaking",
        Phase::Reverting => "Reverting",
        Phase::Recovering => "Recovering",
        Phase::Scoring => "Scoring",
        Phase::Completed => "Completed",
        Phase::Aborted => "Aborted",
        Phase::Failed => "Failed",
    }
}

#[derive(Debug, Clone)]
struct Burst {
    shown: usize,
    last: Time,
    folded: usize,
    sample: Option<Line>,
}

/// Folds bursts of lines of the same kind, live or over a whole story.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    bursts: HashMap<Topic, Burst>,
}

impl Folder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next line (in time order); returns what to show now: the line itself while its
    /// burst is young, and the fold of an earlier burst of its kind that just ended. The target's
    /// ready count and budget breaches are never folded: each line says a different number.
    pub fn push(&mut self, line: Line) -> Vec<Line> {
        if matches!(line.kind, Topic::Workload | Topic::Budget { .. }) {
            return vec![line];
        }
        let mut out = Vec::new();
        let b = self.bursts.entry(line.kind.clone()).or_insert(Burst {
            shown: 0,
            last: line.at,
            folded: 0,
            sample: None,
        });
        let gap = line.at.duration_since(b.last).unsigned_abs();
        if gap > BURST_GAP {
            out.extend(fold(b));
            b.shown = 0;
        }
        b.last = line.at;
        if b.shown < BURST_SHOWN {
            b.shown += 1;
            out.push(line);
        } else {
            b.folded += 1;
            b.sample = Some(line);
        }
        out
    }

    /// The folds of every burst still open, oldest first.
    pub fn finish(&mut self) -> Vec<Line> {
        let mut out: Vec<Line> = self.bursts.values_mut().filter_map(fold).collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.kind.cmp(&b.kind)));
        out
    }
}

/// The line standing for the folded rest of a burst, placed at its last line's time; a rest of
/// one line is that line.
fn fold(b: &mut Burst) -> Option<Line> {
    let n = std::mem::take(&mut b.folded);
    let sample = b.sample.take()?;
    match n {
        0 => None,
        1 => Some(sample),
        _ => Some(Line {
            text: format!("… and {n} more like \"{}\"", sample.text),
            folded: n,
            ..sample
        }),
    }
}

/// Every line of a timeline, unfolded, oldest first.
pub fn lines(timeline: &[Observation], target: &str) -> Vec<Line> {
    let mut n = Narrator::new(target);
    timeline.iter().filter_map(|o| n.line(o)).collect()
}

/// The story of a timeline: its lines with bursts folded, in time order.
pub fn story(timeline: &[Observation], target: &str) -> Vec<Line> {
    let mut folder = Folder::new();
    let mut out: Vec<Line> = lines(timeline, target)
        .into_iter()
        .flat_map(|l| folder.push(l))
        .collect();
    out.extend(folder.finish());
    // A fold is placed at the end of its burst; keep the whole in time order (stable).
    out.sort_by_key(|l| l.at);
    out
}

impl Topic {
    /// How much a line of this kind matters when only a few can be kept (a LeakRun's status):
    /// 0 the run's own milestones and its baseline, 1 what the leak did (OOM kills, evictions,
    /// rejections, pressure, NotReady, budget breaches, aborts), 2 the rest.
    pub fn weight(&self) -> u8 {
        match self {
            Topic::Phase(_) | Topic::Baseline | Topic::Abort | Topic::ObservationFailed => 0,
            Topic::OomKill { .. }
            | Topic::Eviction { .. }
            | Topic::AdmissionRejected { .. }
            | Topic::NodeCondition { .. }
            | Topic::Budget { .. } => 1,
            _ => 2,
        }
    }
}

/// At most `max` lines of a story, the ones that matter most first (by [`Topic::weight`], then
/// in time order), kept in time order; and how many were left out.
pub fn keep_what_matters(lines: Vec<Line>, max: usize) -> (Vec<Line>, usize) {
    if lines.len() <= max {
        return (lines, 0);
    }
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].kind.weight(), i));
    let mut keep: Vec<usize> = order.into_iter().take(max).collect();
    keep.sort_unstable();
    let left_out = lines.len() - keep.len();
    let mut lines: Vec<Option<Line>> = lines.into_iter().map(Some).collect();
    let kept = keep.into_iter().filter_map(|i| lines[i].take()).collect();
    (kept, left_out)
}

/// `MM:SS` from `start`, `H:MM:SS` past the first hour (the simulator's story clock).
pub fn clock(start: Time, at: Time) -> String {
    let s = at.duration_since(start).as_secs().max(0);
    if s < 3600 {
        format!("{:02}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    }
}

#[cfg(test)]
mod tests;
