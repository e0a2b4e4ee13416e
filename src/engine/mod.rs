//! The run's life, on any cluster: the seam both cluster implementations fill in, and what a
//! run produces.
//!
//! Data flows one way: spec → inject plan → [`Cluster`] → observations → timeline → score.
//! Nothing here knows whether the cluster is real or simulated.
//!
//! - [`decide`] is the state machine as one pure function: the next [`Step`] from the spec, the
//!   [`RunState`] (milestones and a [`Tally`] of the timeline) and the time. The steady-state
//!   gate ([`steadiness`]), abort rules, the duration, stop requests and recovery detection all
//!   live there.
//! - [`run`], the one entry point every front end uses (CLI, controller, simulator, replay),
//!   drives any [`Cluster`] and the run's [`Probes`] through those steps, always reverts (with
//!   retries; [`crate::Error::RevertFailed`] when that fails, carrying the record), and returns
//!   the [`RunRecord`]. Time comes only from [`Cluster::now`].
//! - [`Outcome`] maps a scored run to the exit code every front end uses.

use serde::{Deserialize, Serialize};

use crate::defences::Defences;
use crate::observe::{Observation, Time, Timeline};
use crate::spec::{Injected, LeakExperimentSpec, Phase};

mod decide;
mod outcome;
mod probes;
mod run;
mod state;
mod steady;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use crate::spec::RunReason;
pub use decide::{Step, abort_rule, decide};
pub use outcome::Outcome;
pub use probes::{NoProbes, Probes, Stage};
pub use run::{
    ExperimentRef, Progress, ProgressFn, RunOptions, StopHandle, StopSignal, run, run_id,
    run_unattended, stop_channel,
};
pub use state::{Ending, Held, RunState, SteadyCheck, Stop, Tally};
pub use steady::{Steadiness, steadiness};

/// The leaker to put in place for one run: built by the engine, carried out by a [`Cluster`].
pub use crate::inject::InjectionPlan;

/// `t + d`, saturating at the end of representable time.
pub(crate) fn add(t: Time, d: std::time::Duration) -> Time {
    t.saturating_add(d).unwrap_or(Time::MAX)
}

/// The seam between the engine and a cluster, real, simulated or replayed. The cluster is also
/// the clock: a real cluster's `now` is the wall clock, the simulator's and a replay's are
/// virtual, so the engine never reads time itself.
///
/// Every future is `Send`, so that a run is an ordinary task on a multi-threaded runtime (the
/// controller runs many at once). Implementations write `async fn`.
pub trait Cluster: Send {
    /// What reports call this cluster ("context staging-eu", "simulated: black-friday").
    fn describe(&self) -> String;
    /// Whether this is the simulator; every output says so when it is.
    fn simulated(&self) -> bool;
    /// The cluster's current time.
    fn now(&self) -> Time;
    /// Checks the target can be leaked into, and snapshots its defences.
    fn preflight(
        &mut self,
        plan: &InjectionPlan,
    ) -> impl Future<Output = crate::Result<Defences>> + Send;
    /// Puts the leaker in place and returns as soon as the change was accepted (the rollout
    /// that follows is observed, not waited for); returns what was changed, so anyone can
    /// revert it.
    fn inject(
        &mut self,
        plan: &InjectionPlan,
    ) -> impl Future<Output = crate::Result<Injected>> + Send;
    /// Takes out exactly what `inject` added. Idempotent.
    fn revert(&mut self, record: &Injected) -> impl Future<Output = crate::Result<()>> + Send;
    /// Observations from now until `until` at the latest. Must be cancel-safe: the engine drops
    /// the future when a stop request arrives, and calls again later (buffer, do not lose). A
    /// real cluster returns as soon as something was observed (so that abort rules act at
    /// once); the simulator and a replay advance their virtual clock to the next thing that
    /// happens, or to `until`.
    fn observe(
        &mut self,
        until: Time,
    ) -> impl Future<Output = crate::Result<Vec<Observation>>> + Send;
}

/// The machine-readable record of one run: what was run, where, what happened. The score is
/// computed from it (deterministically) and stored beside it in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub run_id: String,
    pub experiment: String,
    pub namespace: String,
    pub spec: LeakExperimentSpec,
    /// The cluster it ran on, as [`Cluster::describe`] put it.
    pub cluster: String,
    pub simulated: bool,
    pub phase: Phase,
    /// Why the run ended the way it did (DurationElapsed, AbortRule, Signal, RevertFailed...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RunReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The kind of the error that ended the run, when a step failed with one (the API server
    /// unreachable at preflight, the target not found): what the exit code says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorKind>,
    pub started: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted: Option<Time>,
    /// When all target pods were ready and the budget healthy again after the revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Time>,
    pub finished: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<Injected>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defences: Option<Defences>,
    pub timeline: Timeline,
}
