//! The controller's Prometheus metrics, on `prometheus-client` (the OpenMetrics text format):
//! runs by outcome and reason, last score per experiment, what the last run did (OOM kills,
//! evictions, time below budget), active injections, leadership, reconcile errors and durations.
//! Labels are bounded: experiments (objects) and enums, never run or pod names. The Grafana
//! dashboard of deploy/grafana/ reads these (tests/dashboard.rs checks its queries against them). `/metrics` (see [`super::http`]) encodes the registry; the tests parse that
//! output with `promtool check metrics`.

use std::time::Duration;

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the reconcile duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    namespace: String,
    experiment: String,
    phase: String,
    verdict: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExperimentLabels {
    namespace: String,
    experiment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// How a run ended, as the metrics count it: phase, verdict and reason are the names of enums
/// (bounded), the summary what the run did.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub phase: &'a str,
    pub verdict: &'a str,
    pub reason: &'a str,
    pub score: Option<u32>,
    pub summary: Option<&'a crate::spec::RunSummary>,
}

/// Shared, thread-safe metrics and the registry they are encoded from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    last_score: Family<ExperimentLabels, Gauge>,
    last_oom_kills: Family<ExperimentLabels, Gauge>,
    last_evictions: Family<ExperimentLabels, Gauge>,
    last_below_budget: Family<ExperimentLabels, Gauge<f64, AtomicU64>>,
    active_injections: Gauge,
    leader: Gauge,
    errors: Family<ErrorLabels, Counter>,
    durations: Family<ControllerLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("oomsday");
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("runs", "Finished runs by outcome", runs.clone());
        let last_score = Family::<ExperimentLabels, Gauge>::default();
        registry.register(
            "last_score",
            "Score (0-100) of the experiment's last scored run",
            last_score.clone(),
        );
        let last_oom_kills = Family::<ExperimentLabels, Gauge>::default();
        registry.register(
            "last_run_oom_kills",
            "Containers OOM-killed in the experiment's last finished run, the leaker's included",
            last_oom_kills.clone(),
        );
        let last_evictions = Family::<ExperimentLabels, Gauge>::default();
        registry.register(
            "last_run_evictions",
            "Pods evicted under node memory pressure in the experiment's last finished run",
            last_evictions.clone(),
        );
        let last_below_budget = Family::<ExperimentLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "last_run_below_budget_seconds",
            "Seconds the workload spent below its budget in the experiment's last finished run",
            last_below_budget.clone(),
        );
        let active_injections = Gauge::default();
        registry.register(
            "active_injections",
            "Leaks this replica has in place",
            active_injections.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "Whether this replica holds the leader Lease",
            leader.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("reconcile_errors", "Failed reconciles", errors.clone());
        let durations = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile durations",
            durations.clone(),
        );
        Metrics {
            registry,
            runs,
            last_score,
            last_oom_kills,
            last_evictions,
            last_below_budget,
            active_injections,
            leader,
            errors,
            durations,
        }
    }
}

fn exp_labels(namespace: &str, experiment: &str) -> ExperimentLabels {
    ExperimentLabels {
        namespace: namespace.into(),
        experiment: experiment.into(),
    }
}

impl Metrics {
    /// A run finished: counted by outcome, its score and what it did kept per experiment.
    pub fn run_finished(&self, namespace: &str, experiment: &str, run: &Finished<'_>) {
        self.runs
            .get_or_create(&RunLabels {
                namespace: namespace.into(),
                experiment: experiment.into(),
                phase: run.phase.into(),
                verdict: run.verdict.into(),
                reason: run.reason.into(),
            })
            .inc();
        if let Some(s) = run.score {
            self.set_last_score(namespace, experiment, s);
        }
        if let Some(sum) = run.summary {
            let l = exp_labels(namespace, experiment);
            self.last_oom_kills
                .get_or_create(&l)
                .set(i64::from(sum.oom_kills));
            self.last_evictions
                .get_or_create(&l)
                .set(i64::from(sum.evictions));
            self.last_below_budget
                .get_or_create(&l)
                .set(sum.budget_breached_seconds);
        }
    }

    /// The last score of an experiment, as read back from its status (after a restart).
    pub fn set_last_score(&self, namespace: &str, experiment: &str, score: u32) {
        self.last_score
            .get_or_create(&exp_labels(namespace, experiment))
            .set(i64::from(score));
    }

    /// Forgets a deleted experiment's score.
    pub fn forget(&self, namespace: &str, experiment: &str) {
        let l = exp_labels(namespace, experiment);
        self.last_score.remove(&l);
        self.last_oom_kills.remove(&l);
        self.last_evictions.remove(&l);
        self.last_below_budget.remove(&l);
    }

    /// Injections this replica currently has in place.
    pub fn set_active_injections(&self, n: usize) {
        self.active_injections
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// A reconcile failed.
    pub fn reconcile_error(&self, controller: &str, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller: controller.into(),
                error: kind.into(),
            })
            .inc();
    }

    /// A reconcile took `d`.
    pub fn reconcile_duration(&self, controller: &str, d: Duration) {
        self.durations
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .observe(d.as_secs_f64());
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
