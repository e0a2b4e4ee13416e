//! The experiment and run API (`oomsday.dev/v1alpha1`): what teams write in YAML and what the
//! controller records. Every field's `///` doc becomes its CRD description, so `kubectl explain
//! leakexperiment.spec.leak` teaches the field.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use oomsday_core::{CountOrPercent, Duration, LeakCurve, Pattern, Percent, Quantity, Rate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "oomsday.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "oomsday.dev/v1alpha1";

/// The default leaker image; `spec.injection.image` overrides it (air-gapped registries).
pub const DEFAULT_LEAKER_IMAGE: &str =
    concat!("ghcr.io/oomsday/oomsday-leaker:", env!("CARGO_PKG_VERSION"));

/// A rehearsal of a memory leak: which workload leaks, how, for how long, what must hold, and
/// (optionally) when to run it again.
// kube's printcolumn(...) repeats `type_ = "string"`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "oomsday.dev",
    version = "v1alpha1",
    kind = "LeakExperiment",
    namespaced,
    status = "LeakExperimentStatus",
    shortname = "lx",
    category = "oomsday",
    derive = "PartialEq",
    doc = "A rehearsal of a memory leak in a workload, optionally on a schedule.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target.name"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule.cron"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Next Run", type_ = "string", json_path = ".status.nextRunTime"),
    printcolumn(name = "Last Run", type_ = "string", json_path = ".status.lastRun"),
    printcolumn(
        name = "Last Score",
        type_ = "integer",
        json_path = ".status.lastScore"
    ),
    printcolumn(name = "Grade", type_ = "string", json_path = ".status.lastGrade"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeakExperimentSpec {
    /// The workload that gets the leak. Its namespace is the experiment's namespace.
    pub target: Target,
    /// Allow a target in kube-system, kube-public or kube-node-lease. Off by default: leaking
    /// into the control plane's own namespaces is almost never what a game day wants.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_system_namespaces: bool,
    /// How the leaker gets into the target's pods.
    #[serde(default)]
    pub injection: Injection,
    /// The shape and size of the leak.
    pub leak: Leak,
    /// How long the leak runs before oomsday reverts it (humantime: 30m, 1h 30m). The leaker also
    /// stops by itself at this deadline, so a dead controller never leaves a leak running.
    pub duration: Duration,
    /// How long to watch the workload recover after the revert before scoring.
    #[serde(default = "default_recovery")]
    pub recovery: Duration,
    /// Healthy pods the workload must keep when it has no PodDisruptionBudget (a count or a
    /// percentage of desired replicas). The PDB's desiredHealthy wins when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<CountOrPercent>,
    /// Run the experiment on a schedule (controller only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Checks run during the experiment; their success counts toward availability.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
    /// The Prometheus that alerts and PromQL probes are read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// Alerts that should fire during the experiment, and how soon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_alerts: Vec<ExpectedAlert>,
    /// Inject only into a steady target: what must hold, without a break, for a while before
    /// anything is injected. A run that never gets there injects nothing and ends Inconclusive
    /// (NotSteady), naming the check that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<SteadyState>,
    /// Stop the leak early, and revert, when any of these is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortRules>,
    /// What the team expects to hold; each clause passes or fails on its own, apart from the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<Hypothesis>,
    /// How the score is weighted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<Scoring>,
    /// Settings used only by `oomsday simulate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Simulation>,
    /// Predict each run before it starts: simulate the experiment on a fresh snapshot of the
    /// cluster (as `oomsday snapshot` takes it) and report the prediction beside what happened,
    /// measure by measure, with the error of each. Working sets are measured when oomsday may
    /// get nodes/proxy (deploy/rbac-node-proxy.yaml), else estimated from requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub predict: bool,
    /// How the run rides out a control plane it cannot watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<ObservationSettings>,
}

impl LeakExperimentSpec {
    /// How long the run goes on while the cluster cannot be watched: `observation.outageTolerance`,
    /// else [`DEFAULT_OUTAGE_TOLERANCE`].
    pub fn outage_tolerance(&self) -> std::time::Duration {
        self.observation
            .as_ref()
            .map_or(DEFAULT_OUTAGE_TOLERANCE, |o| o.outage_tolerance)
            .std()
    }
}

/// How long a run goes on, by default, while it cannot watch the cluster: an API server
/// restarted for an upgrade is back well within it.
pub const DEFAULT_OUTAGE_TOLERANCE: Duration = Duration::from_secs(120);

fn default_outage_tolerance() -> Duration {
    DEFAULT_OUTAGE_TOLERANCE
}

/// How the run rides out a control plane it cannot watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservationSettings {
    /// How long the run goes on while the API server cannot be watched (a restart for an
    /// upgrade, a load balancer dropping connections), as Kubernetes clients do: the leak
    /// continues, what happened meanwhile is read from the objects when the watches are back.
    /// Past it, oomsday reverts as soon as the API server answers (the leaker stops by itself
    /// at its deadline) and the run is Inconclusive. Default 2m.
    #[serde(default = "default_outage_tolerance")]
    pub outage_tolerance: Duration,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_recovery() -> Duration {
    Duration::from_secs(600)
}

/// The workload that gets the leak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// Deployment or StatefulSet.
    pub kind: TargetKind,
    /// The workload's name, in the experiment's namespace.
    pub name: String,
}

/// A workload in the cluster by namespace, kind and name: what the scheduler allows one run
/// on at a time, and the workload of the classifier's target. (The spec's [`Target`] has no
/// namespace: it is the experiment's.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkloadRef {
    pub namespace: String,
    pub kind: TargetKind,
    pub name: String,
}

/// Kinds of workload oomsday can inject into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TargetKind {
    /// apps/v1 Deployment.
    #[default]
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
}

impl TargetKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetKind::Deployment => "Deployment",
            TargetKind::StatefulSet => "StatefulSet",
        }
    }
}

/// How the leaker gets into the target's pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Injection {
    /// sidecar: add a leaker container to the pod template (pods roll); ephemeral: attach an
    /// ephemeral container to running pods, no restart. Ephemeral containers can have no memory
    /// limit and cannot be removed: their memory is charged to the pod and only the leaker's own
    /// deadline ends the leak.
    #[serde(default)]
    pub mode: InjectionMode,
    /// ephemeral mode: how many running pods get a leaker, a count (3) or a share (50%). Pods are
    /// chosen reproducibly from the run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<CountOrPercent>,
    /// The leaker image. Defaults to the oomsday release's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Injection {
    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or(DEFAULT_LEAKER_IMAGE)
    }
}

/// sidecar or ephemeral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub enum InjectionMode {
    /// A leaker container in the pod template; the pods roll.
    #[default]
    Sidecar,
    /// An ephemeral container in running pods; no restart, no resources, cannot be removed.
    Ephemeral,
}

/// Leak patterns, each with its own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PatternKind {
    /// Grows by `rate`.
    Linear,
    /// Doubles every `doubling`.
    Exponential,
    /// Grows by `step` every `every`.
    Step,
    /// Grows by `rate`, drops back to `start` every `gcEvery`.
    Sawtooth,
}

/// The shape and size of the leak. Which parameters apply depends on `pattern`: linear takes
/// `rate`; exponential `doubling`; step `step` and `every`; sawtooth `rate` and `gcEvery`.
///
/// On the wire the parameters sit beside `pattern` (a CRD schema must be structural); in Rust
/// they are checked into [`oomsday_core::Pattern`], an enum carrying exactly its own parameters,
/// by [`Leak::curve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Leak {
    /// linear | exponential | step | sawtooth.
    pub pattern: PatternKind,
    /// linear, sawtooth: growth per unit of time (40Mi/min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// exponential: how long the leak takes to double (5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubling: Option<Duration>,
    /// step: how much each step adds (256Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Quantity>,
    /// step: time between steps (2m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// sawtooth: how often the leak is given back, down to `start` (10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_every: Option<Duration>,
    /// Allocated at once when the leaker starts.
    #[serde(default)]
    pub start: Quantity,
    /// The leak holds here once reached. Required unless `unbounded: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Quantity>,
    /// Grow without a ceiling until the duration ends or something kills it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unbounded: bool,
    /// The leaking container's memory limit: a quantity, or `none` to reproduce a pod with no
    /// limit (the Black Friday story).
    #[serde(default)]
    pub limit: MemoryLimit,
    /// The leaking container's memory request. None by default, as in the story.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Quantity>,
}

impl Leak {
    /// The typed curve, or the first missing parameter's name. Validation reports every problem
    /// with its position; this is for code that runs after validation passed.
    pub fn curve(&self) -> Result<LeakCurve, &'static str> {
        let pattern = match self.pattern {
            PatternKind::Linear => Pattern::Linear {
                rate: self.rate.ok_or("rate")?,
            },
            PatternKind::Exponential => Pattern::Exponential {
                doubling: self.doubling.ok_or("doubling")?,
            },
            PatternKind::Step => Pattern::Step {
                step: self.step.ok_or("step")?,
                every: self.every.ok_or("every")?,
            },
            PatternKind::Sawtooth => Pattern::Sawtooth {
                rate: self.rate.ok_or("rate")?,
                gc_every: self.gc_every.ok_or("gcEvery")?,
            },
        };
        Ok(LeakCurve {
            pattern,
            start: self.start,
            max: if self.unbounded { None } else { self.max },
        })
    }
}

/// A container memory limit, or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryLimit {
    #[default]
    None,
    Bytes(Quantity),
}

impl MemoryLimit {
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryLimit::None => None,
            MemoryLimit::Bytes(q) => Some(q.bytes()),
        }
    }
}

impl Serialize for MemoryLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MemoryLimit::None => s.serialize_str("none"),
            MemoryLimit::Bytes(q) => q.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for MemoryLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::String(s) if s == "none" => Ok(MemoryLimit::None),
            serde_json::Value::Null => Ok(MemoryLimit::None),
            _ => Quantity::deserialize(v)
                .map(MemoryLimit::Bytes)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for MemoryLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MemoryLimit".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A memory quantity (512Mi) or `none`."
        })
    }
}

/// When to run the experiment again (controller only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schedule {
    /// Cron with seconds: `sec min hour day-of-month month day-of-week` ("0 0 3 * * Tue").
    pub cron: String,
    /// IANA time zone the cron is read in (Europe/Berlin). Daylight-saving changes are handled.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Date ranges (inclusive, in the time zone) when no run starts: "2026-11-26/2026-11-30",
    /// or a single day "2026-12-24".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blackout: Vec<String>,
    /// Forbid: skip a run while the previous one is active. Replace: abort it first. Allow: run
    /// side by side (never two leaks on one workload).
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// How many finished LeakRuns to keep.
    #[serde(default = "default_history_limit")]
    pub history_limit: u32,
    /// A run missed while the controller was down still starts if it is at most this late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline: Option<Duration>,
    /// Stop scheduling without deleting the experiment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,
}

fn default_time_zone() -> String {
    "UTC".into()
}

fn default_history_limit() -> u32 {
    10
}

/// What to do when a scheduled run comes due while another is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum ConcurrencyPolicy {
    /// Skip the new run while the previous one is active.
    #[default]
    Forbid,
    /// Abort (and revert) the active run, then start the new one.
    Replace,
    /// Run side by side (never two leaks on one workload).
    Allow,
}

/// A check run during the experiment. Exactly one of `http` or `query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Shown in reports.
    pub name: String,
    /// An HTTP GET that must answer 2xx within the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// A PromQL expression whose value must stay within bounds (needs spec.prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryProbe>,
    /// How often the probe runs.
    #[serde(default = "default_probe_interval")]
    pub interval: Duration,
    /// How long one attempt may take.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}

/// An HTTP GET probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpProbe {
    /// http:// or https:// URL.
    pub url: String,
}

/// A PromQL probe: succeeds while the first sample's value is within `min`..`max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryProbe {
    /// PromQL, evaluated as an instant query.
    pub expr: String,
    /// Lowest healthy value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest healthy value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Where alerts and PromQL probes are read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the Prometheus HTTP API (http://prometheus.monitoring.svc:9090).
    pub url: String,
}

/// An alert that should fire during the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedAlert {
    /// The alertname.
    pub name: String,
    /// It should be firing at most this long after the leak starts.
    pub within: Duration,
    /// Labels the alert must carry (e.g. namespace: shop).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What must hold before anything is injected: conditions on the target (each on unless set to
/// false) and probes, all of them without a break for `for`, within `timeout` of the run's
/// start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SteadyState {
    /// How long every check must hold without a break before the leak is injected (2m).
    #[serde(rename = "for", default = "default_steady_for")]
    pub hold: Duration,
    /// Give up, inject nothing and end the run Inconclusive (NotSteady) when the target has
    /// not been steady for `for` this long after the run started (10m).
    #[serde(default = "default_steady_timeout")]
    pub timeout: Duration,
    /// The workload is fully rolled out: its controller saw the latest template and every
    /// replica runs it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub rolled_out: bool,
    /// Every desired replica is ready.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub replicas_ready: bool,
    /// Every PodDisruptionBudget guarding the target has its desired healthy pods.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub budget_healthy: bool,
    /// No node hosting the target's pods is NotReady or under MemoryPressure.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub nodes_healthy: bool,
    /// Probes (the kinds of spec.probes: http or query) that must succeed; they run only while
    /// the run waits for a steady state and do not count toward the score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
}

fn default_steady_for() -> Duration {
    Duration::from_secs(120)
}

fn default_steady_timeout() -> Duration {
    Duration::from_secs(600)
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Revert early when any of these is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbortRules {
    /// Abort when the target's ready pods fall below this share of desired replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_below: Option<Percent>,
    /// Abort when this many nodes are NotReady.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_not_ready: Option<u32>,
    /// Abort when this many nodes report MemoryPressure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_under_pressure: Option<u32>,
    /// Abort when this many pods that are not the target were evicted or OOM-killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bystander_evictions: Option<u32>,
    /// Abort when any of these alerts is firing in Prometheus (needs spec.prometheus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// Abort when a PromQL expression crosses a line for a while (needs spec.prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<QueryAbort>,
}

/// A PromQL abort rule: fires when the expression's first sample is above `above` (or below
/// `below`) at every evaluation for `for`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryAbort {
    /// PromQL, evaluated as an instant query every 5 seconds while the leak runs.
    pub query: String,
    /// Fires when the value is above this. Exactly one of `above` or `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Fires when the value is below this. Exactly one of `above` or `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// How long the line must stay crossed before the rule fires (0s: at once).
    #[serde(rename = "for", default)]
    pub hold: Duration,
}

impl QueryAbort {
    /// Whether `value` is across the line; NaN never is.
    pub fn crossed(&self, value: f64) -> bool {
        !value.is_nan()
            && (self.above.is_some_and(|a| value > a) || self.below.is_some_and(|b| value < b))
    }

    /// "above 0.9", "below 2".
    pub fn line(&self) -> String {
        match (self.above, self.below) {
            (Some(a), _) => format!("above {a}"),
            (None, Some(b)) => format!("below {b}"),
            (None, None) => "without a threshold".into(),
        }
    }
}

/// Which abort rule fired: the typed reason of an abort, kept in the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AbortCause {
    /// `abort.availabilityBelow`.
    Availability,
    /// `abort.nodesNotReady`.
    NodesNotReady,
    /// `abort.nodesUnderPressure`.
    NodesUnderPressure,
    /// `abort.bystanderEvictions`.
    Bystanders,
    /// `abort.alerts`: this alert was firing.
    Alert(String),
    /// `abort.promql`.
    Promql,
}

impl AbortCause {
    /// The spec field of the rule (`abort.alerts`).
    pub const fn field(&self) -> &'static str {
        match self {
            AbortCause::Availability => "abort.availabilityBelow",
            AbortCause::NodesNotReady => "abort.nodesNotReady",
            AbortCause::NodesUnderPressure => "abort.nodesUnderPressure",
            AbortCause::Bystanders => "abort.bystanderEvictions",
            AbortCause::Alert(_) => "abort.alerts",
            AbortCause::Promql => "abort.promql",
        }
    }
}

impl std::fmt::Display for AbortCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbortCause::Alert(name) => write!(f, "alert {name}"),
            AbortCause::Availability => f.write_str("availability"),
            AbortCause::NodesNotReady => f.write_str("nodes NotReady"),
            AbortCause::NodesUnderPressure => f.write_str("nodes under pressure"),
            AbortCause::Bystanders => f.write_str("bystanders"),
            AbortCause::Promql => f.write_str("promql"),
        }
    }
}

/// What the team expects to hold. Each clause is judged on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hypothesis {
    /// The workload never spent time below its budget (the PDB's desiredHealthy, else minAvailable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb_holds: Option<bool>,
    /// At most this many bystander pods evicted or OOM-killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bystander_evictions: Option<u32>,
    /// All pods ready and the budget healthy within this long after the revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_within: Option<Duration>,
    /// At most this many nodes NotReady at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes_not_ready: Option<u32>,
    /// The leak stays in its own container: no node reaches MemoryPressure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_node_pressure: Option<bool>,
    /// Every expected alert fires within its `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts_fire: Option<bool>,
}

/// How the score is weighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scoring {
    /// Relative weight of each facet; any that are left out keep their default.
    #[serde(default)]
    pub weights: Weights,
    /// Recovery time that earns full recovery marks (defaults to hypothesis.recoveredWithin, else 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_target: Option<Duration>,
}

/// Relative weights of the score's facets (defaults 35/25/20/10/10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Weights {
    /// Time-weighted share of the run with healthy pods at or above the budget, and probe
    /// success (default 35).
    #[serde(default = "w_availability")]
    pub availability: f64,
    /// Whether the leak stayed in its own container or spilled onto the node and its
    /// neighbours (default 25).
    #[serde(default = "w_containment")]
    pub containment: f64,
    /// Time from the revert to all pods ready and the budget healthy (default 20).
    #[serde(default = "w_recovery")]
    pub recovery: f64,
    /// Whether the expected alerts fired, and how long before the first OOM kill or eviction
    /// (default 10).
    #[serde(default = "w_detection")]
    pub detection: f64,
    /// The target's defences: memory limits and requests, LimitRange, PDB, bounded HPA,
    /// readiness probe (default 10).
    #[serde(default = "w_hygiene")]
    pub hygiene: f64,
}

fn w_availability() -> f64 {
    35.0
}
fn w_containment() -> f64 {
    25.0
}
fn w_recovery() -> f64 {
    20.0
}
fn w_detection() -> f64 {
    10.0
}
fn w_hygiene() -> f64 {
    10.0
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            availability: w_availability(),
            containment: w_containment(),
            recovery: w_recovery(),
            detection: w_detection(),
            hygiene: w_hygiene(),
        }
    }
}

/// Settings for `oomsday simulate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Simulation {
    /// The cluster model to simulate against, relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Seed for the simulator's choices; same seed, same timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// What the controller last saw of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LeakExperimentStatus {
    /// Name of the most recent LeakRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// When the most recent run started (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub last_run_time: Option<Timestamp>,
    /// Score of the most recent finished run, 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_score: Option<u32>,
    /// Grade of the most recent finished run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_grade: Option<String>,
    /// Verdict of the most recent finished run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verdict: Option<Verdict>,
    /// Next scheduled run (RFC 3339), if scheduled and not suspended.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub next_run_time: Option<Timestamp>,
    /// The LeakRun in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_run: Option<String>,
    /// Scheduled runs that were skipped or missed, most recent first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRun>,
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the spec and its schedule can be used) and `Scheduled` (a next run is
    /// planned), in the metav1 Condition shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// A scheduled run that did not start, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRun {
    /// When it was due (RFC 3339).
    #[schemars(with = "String")]
    pub due: Timestamp,
    /// Why it did not start.
    pub reason: SkipReason,
}

/// Why a due scheduled run did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SkipReason {
    /// The fire time fell on a blackout date.
    Blackout,
    /// concurrencyPolicy Forbid and a run of the experiment was still active.
    ConcurrencyForbid,
    /// Another run leaked into the same workload.
    TargetBusy,
    /// The controller was not running when it was due, beyond startingDeadline.
    MissedDeadline,
    /// The schedule was suspended.
    Suspended,
}

impl SkipReason {
    /// The machine-readable reason, as written to status and Events.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::Blackout => "Blackout",
            SkipReason::ConcurrencyForbid => "ConcurrencyForbid",
            SkipReason::TargetBusy => "TargetBusy",
            SkipReason::MissedDeadline => "MissedDeadline",
            SkipReason::Suspended => "Suspended",
        }
    }
}

/// One execution of a LeakExperiment.
// kube's printcolumn(...) repeats `type_ = "string"`, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "oomsday.dev",
    version = "v1alpha1",
    kind = "LeakRun",
    namespaced,
    status = "LeakRunStatus",
    shortname = "lr",
    category = "oomsday",
    derive = "PartialEq",
    doc = "One execution of a LeakExperiment: phase, what was injected, what happened, and the score.",
    printcolumn(name = "Experiment", type_ = "string", json_path = ".spec.experiment"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Score", type_ = "integer", json_path = ".status.score"),
    printcolumn(name = "Grade", type_ = "string", json_path = ".status.grade"),
    printcolumn(name = "Verdict", type_ = "string", json_path = ".status.verdict"),
    printcolumn(
        name = "Succeeded",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeakRunSpec {
    /// The LeakExperiment this run belongs to.
    pub experiment: String,
    /// The experiment's spec as it was when the run started.
    pub experiment_spec: LeakExperimentSpec,
    /// What started the run.
    pub trigger: Trigger,
    /// When the schedule wanted it to start (RFC 3339), for scheduled runs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub scheduled_time: Option<Timestamp>,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Trigger {
    /// The experiment's schedule came due.
    Schedule,
    /// Someone asked for a run (the oomsday.dev/run-now annotation or a LeakRun created by hand).
    Manual,
    /// `oomsday run` from a terminal or a pipeline.
    Cli,
}

/// A run's phase: Pending → Injecting → Leaking → Reverting → Recovering → Scoring → Completed,
/// or Aborted / Failed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    Default,
)]
pub enum Phase {
    #[default]
    Pending,
    Injecting,
    Leaking,
    Reverting,
    Recovering,
    Scoring,
    Completed,
    Aborted,
    Failed,
}

impl Phase {
    pub const fn is_finished(self) -> bool {
        matches!(self, Phase::Completed | Phase::Aborted | Phase::Failed)
    }
    /// Whether an injection may be in place in this phase (a revert is owed).
    pub const fn may_be_injected(self) -> bool {
        matches!(self, Phase::Injecting | Phase::Leaking | Phase::Reverting)
    }
}

/// Pass/fail for CI, apart from the score.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Verdict {
    /// Every hypothesis clause held.
    Passed,
    /// At least one clause failed.
    Failed,
    /// The leaker never ran or the cluster could not be observed: nothing was proven either way.
    Inconclusive,
}

/// What the controller recorded about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LeakRunStatus {
    #[serde(default)]
    pub phase: Phase,
    /// When the run started (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub start_time: Option<Timestamp>,
    /// When the leaker was in place (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub injected_time: Option<Timestamp>,
    /// When the injection was taken out again (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub reverted_time: Option<Timestamp>,
    /// The controller replica (its pod name) that took the leaker out: the one that ran the
    /// run, or the leader that reverted it after that one was gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_by: Option<String>,
    /// When the run finished (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub completion_time: Option<Timestamp>,
    /// The absolute time the leak ends, whatever happens to the controller (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Timestamp>,
    /// What was injected, so that it can be reverted by anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<Injected>,
    /// Counts of what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<RunSummary>,
    /// Resilience score, 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    /// A-F.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why the run ended the way it did (machine-readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RunReason>,
    /// A sentence for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The most significant moments of the run, oldest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineLine>,
    /// Each score facet: its points, or why it was not measured (never a zero for what could
    /// not be measured: no Prometheus configured, Prometheus unreachable...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<FacetStatus>,
    /// The results of the experiment's probes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeStatus>,
    /// The expected alerts: when each fired, and its lead time on the first damage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertStatus>,
    /// The prediction made before the run (`spec.predict`) beside what happened, measure by
    /// measure; the JSON report has the whole of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prediction: Vec<PredictionStatus>,
    /// What makes that prediction doubtful (a model past the edge before the experiment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prediction_warnings: Vec<String>,
    /// What to change, each with its number and where the number comes from (bounded; the
    /// report has them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<String>,
    /// `Injected`, `Reverted`, `Recovered`, `Finished` and `Succeeded`, in the metav1 Condition
    /// shape: `kubectl wait --for=condition=Finished leakrun/NAME` waits for the end of a run,
    /// `--for=condition=Succeeded` for a run that completed with its hypothesis held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// An optional RFC 3339 time from status; one that cannot be read is treated as absent (and
/// recomputed) rather than making the whole object unreadable to the controller.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.and_then(|s| s.parse().ok()))
}

/// One score facet of a run, as recorded in its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FacetStatus {
    /// availability, containment, recovery, detection or hygiene.
    pub name: String,
    /// 0-100; absent when the facet was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// Whether the facet could be measured (its weight is shared out when not).
    pub measured: bool,
    /// How the points came about, or why the facet was not measured.
    pub explanation: String,
}

/// How a probe fared during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStatus {
    /// The probe's name in the spec.
    pub name: String,
    /// Checks that succeeded.
    pub ok: u32,
    /// Checks made.
    pub total: u32,
}

/// One measure of a run, predicted (on a snapshot, before it ran) and observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictionStatus {
    /// What is measured (first OOM kill, evictions of bystanders, score, verdict...).
    pub measure: String,
    /// The median over the simulated runs, with their range.
    pub predicted: String,
    /// What the run measured.
    pub observed: String,
    /// Predicted − observed.
    pub error: String,
    /// Whether the prediction is within the simulator's calibration tolerance; absent when the
    /// measure has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<bool>,
}

/// An expected alert during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// The alert's name in spec.expectAlerts.
    pub name: String,
    /// When it first fired (RFC 3339, dated by Prometheus); absent when it never fired.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_time"
    )]
    #[schemars(with = "Option<String>")]
    pub fired_time: Option<Timestamp>,
    /// Seconds from the start of the leak to the alert firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_after_seconds: Option<f64>,
    /// Seconds the alert fired before the first damage (OOM kill, eviction); negative when it
    /// fired after it; absent when it never fired or no damage followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_seconds: Option<f64>,
}

/// Why a run ended the way it did: the engine's reasons and the controller's own, one
/// vocabulary for records, LeakRun status and Events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RunReason {
    /// The experiment's duration elapsed: the normal ending.
    DurationElapsed,
    /// One of `spec.abort` fired.
    AbortRule,
    /// SIGINT or SIGTERM (of the CLI or the controller).
    Signal,
    /// `oomsday.dev/abort` was set on the run.
    AbortAnnotation,
    /// The target could not be leaked into.
    PreflightFailed,
    /// Putting the leaker in place failed.
    InjectFailed,
    /// The cluster could not be watched.
    ObservationFailed,
    /// Taking the leaker out failed: `oomsday cleanup` is needed.
    RevertFailed,
    /// The engine could not run at all (its cluster could not be built).
    EngineFailed,
    /// The LeakRun was deleted while its leak was in place.
    Deleted,
    /// Nobody ran it when its deadline passed.
    DeadlineExceeded,
    /// The controller restarted (or the leader changed) while it leaked.
    ControllerRestarted,
    /// The namespace may not be leaked into (label, system namespace).
    TargetNotAllowed,
    /// Another run leaks into the workload.
    TargetBusy,
    /// Someone else (a person, a GitOps sync) rewrote the workload and took the leaker out
    /// while it ran: the run ends, it is never injected again.
    InjectionRemoved,
    /// The target was not steady (spec.steadyState) within the timeout: nothing was injected.
    NotSteady,
    /// A reason this version does not know (written by a newer controller).
    #[serde(other)]
    Unknown,
}

impl RunReason {
    pub const ALL: [RunReason; 17] = [
        RunReason::DurationElapsed,
        RunReason::AbortRule,
        RunReason::Signal,
        RunReason::AbortAnnotation,
        RunReason::PreflightFailed,
        RunReason::InjectFailed,
        RunReason::ObservationFailed,
        RunReason::RevertFailed,
        RunReason::EngineFailed,
        RunReason::Deleted,
        RunReason::DeadlineExceeded,
        RunReason::ControllerRestarted,
        RunReason::TargetNotAllowed,
        RunReason::TargetBusy,
        RunReason::InjectionRemoved,
        RunReason::NotSteady,
        RunReason::Unknown,
    ];

    /// The machine-readable reason, as written to status and Events.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunReason::DurationElapsed => "DurationElapsed",
            RunReason::AbortRule => "AbortRule",
            RunReason::Signal => "Signal",
            RunReason::AbortAnnotation => "AbortAnnotation",
            RunReason::PreflightFailed => "PreflightFailed",
            RunReason::InjectFailed => "InjectFailed",
            RunReason::ObservationFailed => "ObservationFailed",
            RunReason::RevertFailed => "RevertFailed",
            RunReason::EngineFailed => "EngineFailed",
            RunReason::Deleted => "Deleted",
            RunReason::DeadlineExceeded => "DeadlineExceeded",
            RunReason::ControllerRestarted => "ControllerRestarted",
            RunReason::TargetNotAllowed => "TargetNotAllowed",
            RunReason::TargetBusy => "TargetBusy",
            RunReason::InjectionRemoved => "InjectionRemoved",
            RunReason::NotSteady => "NotSteady",
            RunReason::Unknown => "Unknown",
        }
    }

    /// Whether recovery is still worth watching after a revert for this reason. After a stop
    /// request the person or controller wants the run over; after an injection or watch failure
    /// there is nothing trustworthy to measure.
    pub const fn watch_recovery(self) -> bool {
        matches!(
            self,
            RunReason::DurationElapsed | RunReason::AbortRule | RunReason::InjectionRemoved
        )
    }

    /// Whether a run that ended for this reason was stopped before its duration by a person or
    /// by oomsday itself (Ctrl-C, SIGTERM, `oomsday abort`, the LeakRun deleted, the controller
    /// restarting or losing its Lease, someone taking the leaker out), not by what the leak did.
    /// Such a run proves nothing about the hypothesis: it is Inconclusive and has no score.
    pub const fn stopped_early(self) -> bool {
        matches!(
            self,
            RunReason::Signal
                | RunReason::AbortAnnotation
                | RunReason::Deleted
                | RunReason::ControllerRestarted
                | RunReason::InjectionRemoved
        )
    }

    /// The phase a run that ended for this reason finishes in: Completed when it ran its
    /// course, Aborted when something stopped it on purpose, Failed when something broke.
    pub const fn final_phase(self) -> Phase {
        match self {
            RunReason::DurationElapsed => Phase::Completed,
            RunReason::AbortRule
            | RunReason::Signal
            | RunReason::AbortAnnotation
            | RunReason::Deleted
            | RunReason::InjectionRemoved => Phase::Aborted,
            _ => Phase::Failed,
        }
    }

    /// The reason a string names ([`RunReason::Unknown`] for any other).
    pub fn parse(s: &str) -> RunReason {
        RunReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or(RunReason::Unknown)
    }
}

impl std::fmt::Display for RunReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What oomsday changed in the cluster for a run: enough to take exactly that out again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Injected {
    pub mode: InjectionMode,
    /// The target's namespace.
    pub namespace: String,
    pub kind: TargetKind,
    /// The target workload's name.
    pub name: String,
    /// Name of the injected container.
    pub container: String,
    /// The leaker image that was injected.
    pub image: String,
    /// The run id the workload and pods are marked with.
    pub run_id: String,
    /// RFC 3339 deadline the leaker stops at by itself.
    pub deadline: String,
    /// ephemeral mode: the pods that got a leaker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
}

/// Counts of what a run did to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Containers OOM-killed, the leaker's included.
    pub oom_kills: u32,
    /// Times the leaker itself was OOM-killed at its limit (the leak stayed contained).
    pub leaker_oom_kills: u32,
    /// Pods evicted by the kubelet under node memory pressure.
    pub evictions: u32,
    /// Pods that are not the target evicted: the blast radius.
    pub bystander_evictions: u32,
    /// Containers of pods that are not the target OOM-killed.
    pub bystander_oom_kills: u32,
    /// Nodes that reported MemoryPressure.
    pub nodes_under_pressure: u32,
    /// Nodes that went NotReady.
    pub nodes_not_ready: u32,
    /// FailedScheduling events for the target's pods.
    pub failed_scheduling: u32,
    /// Pods the kubelet refused at admission because the node was under pressure (they never
    /// ran; not evictions).
    #[serde(default)]
    pub admission_rejections: u32,
    /// Seconds the workload spent below its budget.
    pub budget_breached_seconds: f64,
    /// Fewest ready target pods seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready: Option<u32>,
    /// Seconds from revert to all pods ready and the budget healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_seconds: Option<f64>,
    /// Largest leak seen in one pod, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_leak_bytes: Option<u64>,
}

/// One line of a run's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineLine {
    /// RFC 3339.
    #[schemars(with = "String")]
    pub time: Timestamp,
    /// What happened, for humans.
    pub message: String,
}
