//! The in-cluster controller (`oomsday controller`): scheduled game days, LeakRun records,
//! crash safety, leader election and metrics. Decisions are pure functions (`decide_*`) of
//! objects and an injected `now`; the reconcilers around them only do I/O.
//!
//! - [`schedule`]: when a scheduled experiment runs — cron with seconds in an IANA zone (DST
//!   rules documented there), blackout dates, suspend, missed runs and `startingDeadline`,
//!   concurrency policies. Scheduling is a requeue at the next fire time through the
//!   kube-runtime Controller, with `status.nextRunTime` as the durable anchor (see [`manager`]
//!   for why not tokio-cron-scheduler).
//! - [`lifecycle`]: what a LeakRun needs (protect, start, stop, revert an orphan, finish,
//!   release its finalizer), which namespaces may be targeted, which old runs the history limit
//!   deletes. [`conditions`]: the Conditions `kubectl wait` reads.
//! - [`reconcile`]: the two reconcilers. LeakExperiment (no finalizer): manual trigger
//!   (`oomsday.dev/run-now`), schedule, history, status with conditions by server-side apply.
//!   LeakRun: the revert finalizer only while an injection may be live; starts Pending runs on
//!   the leader, stops a run on `oomsday.dev/abort` or deletion (the engine reverts), reverts
//!   runs nobody executes any more.
//! - [`executor`]: the engine (with probes and alert checks) as tasks on the controller's
//!   runtime, narrated by the one narrator.
//! - [`startup`]: fail fast on configuration (lease namespace, CRDs, RBAC) with an error that
//!   names the flag or manifest that fixes it.
//! - [`lease`]: leader election on a `coordination.k8s.io/v1` Lease (15 s, renewed every 2 s).
//! - [`metrics`], [`http`]: `/metrics` (prometheus-client), `/healthz`, `/readyz` (axum).
//!   [`history`]: `oomsday history`.
//!
//! # Crash safety
//! A LeakRun carries the `oomsday.dev/revert` finalizer exactly while an injection of it may be
//! live (added before the engine may inject, removed once the revert is confirmed), and records
//! what is injected (`status.injection`) before the injection is made. When a leader finds an
//! unfinished run it does not execute (after a restart or a leader change): a Pending run is
//! started; a run that may have a leak in place is reverted and finished — `DeadlineExceeded`
//! past its deadline, else `ControllerRestarted` (its abort rules went unwatched, so it is not
//! resumed blind). Deleting a running LeakRun stops it (the engine reverts) and the finalizer
//! goes only after the revert. A revert that fails is written to the run's status and an Event
//! (`RevertFailed`), retried with back-off, and the finalizer stays; the leaker still stops
//! by itself at its deadline, and `oomsday cleanup -n NAMESPACE` is the manual way out (then
//! remove the finalizer by hand: `kubectl patch leakrun RUN --type=merge -p
//! '{"metadata":{"finalizers":null}}'`).
//!
//! On SIGTERM, or when the Lease is lost, every run in flight is stopped and reverted, and its
//! final status written, within `--shutdown-grace` (50 s; the pod's termination grace period is
//! 60 s); then the Lease is released so the other replica takes over at once.
//!
//! # Tests
//! Unit tests against a mock API server (tower-test) live in `tests/` (the verifier and the
//! recorder in its `mod.rs`). Whole controllers run against a stateful fake API server over
//! HTTP in `tests/controller_cluster.rs` (fail fast, namespace deletion, leader failover) and
//! `tests/controller_game_day.rs` (a scheduled run with a probe and a real Prometheus).
//! `cargo test --test controller_live -- --ignored --test-threads=1` runs against the current
//! kubeconfig context (CRDs installed; `OOMSDAY_TEST_NAMESPACE`, default `default`).

pub mod conditions;
pub mod executor;
pub mod history;
pub mod http;
pub mod lease;
pub mod lifecycle;
pub mod manager;
pub mod metrics;
pub mod reconcile;
pub mod schedule;
pub mod startup;
pub mod status;

/// What can go wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    #[error("object has no {0}")]
    Missing(&'static str),
    #[error("revert failed: {0}")]
    Revert(String),
    #[error(transparent)]
    Lib(#[from] crate::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// A low-cardinality label for the reconcile-errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Timeout { .. } => "timeout",
            Error::Missing(_) => "missing_field",
            Error::Revert(_) => "revert",
            Error::Lib(_) => "engine",
            Error::Json(_) => "json",
        }
    }
}

#[cfg(test)]
mod tests;
