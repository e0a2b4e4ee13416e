//! Observations: what the cluster did, as typed, timestamped facts, and the run's timeline.
//!
//! Both cluster implementations (kube watches and the simulator) produce [`Observation`]s; the
//! engine, the scorer and the reports only ever read these. Timestamps come from the objects
//! themselves (a container's `finishedAt`, a condition's `lastTransitionTime`), never from when
//! a watch happened to deliver them.

pub mod classify;
pub mod ingest;
mod timeline;

pub use ingest::{Delivery, Ingest};
pub use timeline::Timeline;

use serde::{Deserialize, Serialize};

use crate::spec::{AbortCause, Phase, RunReason};

/// A point in time. Kubernetes' own timestamp type (k8s-openapi's `Time` wraps it).
pub type Time = jiff::Timestamp;

/// One happening in the cluster (a fact or a state sample) at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Observation {
    pub at: Time,
    #[serde(flatten)]
    pub happening: Happening,
    /// The state the cluster was already in when the run began (its watches' first lists):
    /// shown as the baseline, never counted as the leak's doing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
}

impl Observation {
    pub fn new(at: Time, happening: Happening) -> Self {
        Observation {
            at,
            happening,
            baseline: false,
        }
    }

    /// A sample of the state the cluster was in when the run began.
    pub fn baseline(at: Time, happening: Happening) -> Self {
        Observation {
            at,
            happening,
            baseline: true,
        }
    }
}

/// A pod as the timeline sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodRef {
    pub name: String,
    /// The node it ran on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Whether it belongs to the experiment's target workload. Others are bystanders.
    pub target: bool,
}

/// Why a pod was disrupted, from its `DisruptionTarget` condition's reason (or the kubelet's
/// `Evicted` reason/Event when the condition is missing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisruptionCause {
    /// Node-pressure eviction by the kubelet: does not respect PodDisruptionBudgets.
    TerminationByKubelet,
    /// The Eviction API: respects PodDisruptionBudgets.
    EvictionByEvictionAPI,
    /// NoExecute taint, e.g. after a node went NotReady.
    DeletionByTaintManager,
    PreemptionByScheduler,
    /// Deleted by a person or a controller (e.g. a rollout).
    Deleted,
    Other(String),
}

/// A node condition oomsday follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeConditionKind {
    MemoryPressure,
    Ready,
}

/// Alert states from Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

/// What happened: a fact (it carries the object's own time) or a state sample (the time it was
/// received). Not a Kubernetes Event, which is one of the objects the classifier reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Happening {
    /// The run moved to a new phase (oomsday's own milestones: Injecting, Leaking, Reverting...).
    RunPhase { phase: Phase, detail: String },
    /// A leaker container is running in this pod.
    LeakerStarted { pod: PodRef },
    /// Bytes the leaker (or, simulated, the leaking container) held.
    LeakerBytes { pod: String, bytes: u64 },
    /// A container was OOM-killed by the kernel at its cgroup limit or by the node's OOM killer.
    OomKilled {
        pod: PodRef,
        container: String,
        leaker: bool,
        restart_count: u32,
    },
    /// A container restarted more often than its statuses showed: its restart count jumped by
    /// more than one between two deliveries (the watches could not reach the API server, or
    /// the pod came and went unseen). `count` terminations were never seen, so their times and
    /// reasons are unknown; `reason` is that of the one termination its status still shows.
    /// Told at the moment it was learned.
    RestartsUnseen {
        pod: PodRef,
        container: String,
        leaker: bool,
        count: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A container is waiting in CrashLoopBackOff.
    CrashLoopBackOff { pod: PodRef, container: String },
    /// A pod was evicted or otherwise disrupted while it ran (it has a `DisruptionTarget`
    /// condition; the time is the condition's).
    PodEvicted {
        pod: PodRef,
        cause: DisruptionCause,
        message: String,
    },
    /// The kubelet refused a pod at admission ("The node had condition: [MemoryPressure]"):
    /// phase Failed, reason Evicted, but no `DisruptionTarget` condition: it never ran. Not an
    /// eviction (nothing running was lost); the rescheduling storm of a node under pressure.
    AdmissionRejected { pod: PodRef, message: String },
    /// A node condition changed.
    NodeCondition {
        node: String,
        condition: NodeConditionKind,
        status: bool,
        reason: String,
    },
    /// A node-level event: EvictionThresholdMet, SystemOOM, NodeNotReady, KubeletOOMKilled...
    NodeEvent {
        node: String,
        reason: String,
        message: String,
    },
    /// The scheduler could not place a pod.
    FailedScheduling {
        pod: String,
        insufficient_memory: bool,
        message: String,
    },
    /// A PodDisruptionBudget's status.
    Budget {
        name: String,
        current_healthy: u32,
        desired_healthy: u32,
        disruptions_allowed: u32,
        expected_pods: u32,
    },
    /// The target workload's replicas and rollout, as its controller reports them.
    Workload {
        /// `spec.replicas`.
        desired: u32,
        /// `status.readyReplicas`.
        ready: u32,
        /// Replicas on the current template (`status.updatedReplicas`).
        #[serde(default)]
        updated: u32,
        /// Pods the controller counts, old and new (`status.replicas`).
        #[serde(default)]
        current: u32,
        /// The controller has seen the latest template (`observedGeneration >= generation`).
        #[serde(default)]
        observed: bool,
        /// The template carries the leaker container.
        #[serde(default)]
        leaker: bool,
    },
    /// The field manager that last wrote the target workload's spec (from its managedFields):
    /// who took the leaker out when it was not oomsday (`kubectl-replace`, a GitOps tool).
    WorkloadWriter {
        manager: String,
        /// The time of that write, as the entry says (whole seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        written: Option<Time>,
    },
    /// How many of the target's pods still carry a live leaker: a sidecar leaker in a pod that
    /// has not terminated, or an ephemeral leaker that has not exited.
    LeakerPods { live: u32 },
    /// A probe's result.
    Probe {
        name: String,
        ok: bool,
        detail: String,
    },
    /// An alert changed state.
    Alert { name: String, state: AlertState },
    /// What the cluster looked like when the run began, once its first lists were complete:
    /// damage that was already there, never counted as the leak's.
    Baseline {
        nodes: u32,
        nodes_not_ready: u32,
        nodes_under_pressure: u32,
        /// Pods on the watched nodes whose containers were in CrashLoopBackOff.
        pods_crash_looping: u32,
        /// Budgets guarding the target that were below their minimum.
        budgets_breached: u32,
    },
    /// Whether Prometheus could be asked for the alerts (a state series: only changes are
    /// kept). Without one successful check, detection is not measured.
    AlertCheck { ok: bool, detail: String },
    /// The run ended early: an abort rule fired (`rule` says which), or a signal, an
    /// annotation or a failure stopped it. `reason` reads recordings that wrote it as a string.
    Abort {
        reason: RunReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<AbortCause>,
        detail: String,
    },
    /// A steady-state probe's result, while the run waits for a steady target before
    /// injecting (a state series: only changes are kept). Not counted in the score.
    SteadyProbe {
        name: String,
        ok: bool,
        detail: String,
    },
    /// The `abort.promql` expression crossed its line (`crossed`) or came back (a state series:
    /// only changes are kept).
    AbortQuery { crossed: bool, detail: String },
    /// A replay only: the recorded run took its leaker out here, and today's oomsday decided
    /// otherwise (`today`: it had not reverted by then, or it reverted earlier). A replay
    /// follows the recording: the revert is a fact of that run, and recovery is measured from
    /// it. `reason` and `note` are the recorded run's own (`reason` is missing from recordings
    /// made before it was kept).
    RecordedRevert {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<RunReason>,
        note: String,
        today: String,
    },
    /// Watching the cluster failed; the run cannot be trusted.
    ObservationFailed { detail: String },
    /// The watches could not reach the API server (`open`), or reach it again (`!open`): a
    /// stretch of the run seen only afterwards, through what the objects say when the watches
    /// are back. A state series; the engine decides by its length whether the run goes on.
    ObservationGap { open: bool, detail: String },
}

impl Happening {
    /// A workload sample in its steady state: every replica on the current template, the
    /// controller caught up, no leaker in the template.
    pub fn workload(desired: u32, ready: u32) -> Happening {
        Happening::Workload {
            desired,
            ready,
            updated: desired,
            current: desired,
            observed: true,
            leaker: false,
        }
    }

    /// Whether a workload sample shows a finished rollout of a template without the leaker,
    /// every replica ready on it: `kubectl rollout status` done, on the reverted template.
    pub fn rolled_out_clean(&self) -> bool {
        match self {
            Happening::Workload {
                desired,
                ready,
                updated,
                current,
                observed,
                leaker,
            } => {
                *observed
                    && !*leaker
                    && updated == desired
                    && current == desired
                    && ready >= desired
            }
            _ => false,
        }
    }

    /// For state-like events, the series they belong to: a new value in the same series replaces
    /// the old, and an unchanged value (a re-list after a watch reconnect) is not a new fact.
    pub fn series(&self) -> Option<String> {
        match self {
            Happening::NodeCondition {
                node, condition, ..
            } => Some(format!("node/{node}/{condition:?}")),
            Happening::Budget { name, .. } => Some(format!("pdb/{name}")),
            Happening::Workload { .. } => Some("workload".into()),
            Happening::WorkloadWriter { .. } => Some("workload-writer".into()),
            Happening::ObservationGap { .. } => Some("observation-gap".into()),
            Happening::LeakerPods { .. } => Some("leaker-pods".into()),
            Happening::AlertCheck { .. } => Some("alert-check".into()),
            Happening::SteadyProbe { name, .. } => Some(format!("steady-probe/{name}")),
            Happening::AbortQuery { .. } => Some("abort-query".into()),
            Happening::LeakerBytes { pod, .. } => Some(format!("leaker/{pod}")),
            Happening::CrashLoopBackOff { pod, container } => {
                Some(format!("crashloop/{}/{container}", pod.name))
            }
            _ => None,
        }
    }
}
