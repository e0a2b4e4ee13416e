//! The in-cluster controller (`oomsday controller`): scheduled game days, LeakRun records,
//! crash safety, leader election and metrics. Decisions are pure functions (`decide_*`) of
//! objects and an injected `now`; the reconcilers around them only do I/O.
//!
//! - [`schedule`]: when a scheduled experiment runs — cron with seconds in an IANA zone (DST
//!   rules documented there), blackout dates, suspend, missed runs and `startingDeadline`,
//!   concurrency policies. Scheduling is a requeue at the next fire time through the
//!   kube-runtime Controller, with `status.nextRunTime` as the durable anchor (see [`manager`]
//!   for why not tokio-cron-scheduler).
//! - [`decide`]: what a LeakRun needs (start, stop, revert an orphan, finish, release its
//!   finalizer), which namespaces may be targeted, which old runs the history limit deletes.
//! - [`reconcile`]: the two reconcilers. LeakExperiment: kube's `finalizer` helper; manual
//!   trigger (`oomsday.dev/run-now`), schedule, history, status by server-side apply.
//!   LeakRun: its own revert finalizer (set at creation); starts Pending runs on the leader,
//!   stops a run on `oomsday.dev/abort` or deletion (the engine reverts), reverts runs nobody
//!   executes any more.
//! - [`executor`]: the engine behind a Send-able seam, each run on its own thread.
//! - [`lease`]: leader election on a `coordination.k8s.io/v1` Lease (15 s, renewed every 5 s).
//! - [`metrics`], [`http`]: `/metrics`, `/healthz`, `/readyz`. [`history`]: `oomsday history`.
//!
//! # Crash safety
//! Every LeakRun carries the `oomsday.dev/revert` finalizer from birth and records what was
//! injected (`status.injection`) before the injection is made. When a leader finds an
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
//! # Live-cluster tests
//! `cargo test --test controller_live -- --ignored --test-threads=1` against the current
//! kubeconfig context (CRDs installed; `OOMSDAY_TEST_NAMESPACE`, default `default`).

pub mod decide;
pub mod executor;
pub mod history;
pub mod http;
pub mod lease;
pub mod manager;
pub mod metrics;
pub mod reconcile;
pub mod schedule;
pub mod status;

/// What can go wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    #[error("an API call timed out")]
    Timeout,
    #[error("object has no {0}")]
    Missing(&'static str),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
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
            Error::Timeout => "timeout",
            Error::Missing(_) => "missing_field",
            Error::Finalizer(_) => "finalizer",
            Error::Revert(_) => "revert",
            Error::Lib(_) => "engine",
            Error::Json(_) => "json",
        }
    }
}
#[cfg(test)]
mod deploy;
#[cfg(test)]
mod fixtures;
