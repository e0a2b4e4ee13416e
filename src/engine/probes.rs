//! Probes and alert checks beside the cluster: what the engine polls while it waits for a
//! steady target, while the leak runs and while the workload recovers. A seam of its own so the
//! driver stays testable (and the simulator, which has no endpoints to probe, passes
//! [`NoProbes`]).

use crate::observe::{Observation, Time};

/// Which of a run's checks are polled: the steady-state gate's before anything is injected,
/// the run's own (probes, expected alerts, query abort rules) after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a steady target (`spec.steadyState.probes`).
    Steady,
    /// Leaking and recovering (`spec.probes`, `spec.expectAlerts`, `abort.alerts`,
    /// `abort.promql`).
    Run,
}

/// Something polled on its own schedule during the run, whose results join the timeline.
pub trait Probes: Send {
    /// Whether these probes reach anything at all: false for [`NoProbes`], so the steady-state
    /// gate judges the target's conditions alone instead of waiting for probes that never come.
    fn reachable(&self) -> bool {
        true
    }
    /// When the next poll of `stage` is due; None when there is nothing to poll. A time in the
    /// past means due now.
    fn next_due(&self, stage: Stage) -> Option<Time>;
    /// Runs whatever of `stage` is due at `now` (the cluster's time) and returns what it
    /// observed.
    fn poll(&mut self, now: Time, stage: Stage) -> impl Future<Output = Vec<Observation>> + Send;
}

/// No probes at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbes;

impl Probes for NoProbes {
    fn reachable(&self) -> bool {
        false
    }
    fn next_due(&self, _stage: Stage) -> Option<Time> {
        None
    }
    async fn poll(&mut self, _now: Time, _stage: Stage) -> Vec<Observation> {
        Vec::new()
    }
}

/// The spec's HTTP/PromQL probes, steady-state probes, expected-alert checks and query abort
/// rules.
impl Probes for crate::probe::Prober {
    fn next_due(&self, stage: Stage) -> Option<Time> {
        crate::probe::Prober::next_due(self, stage == Stage::Steady)
    }
    async fn poll(&mut self, now: Time, stage: Stage) -> Vec<Observation> {
        crate::probe::Prober::poll(self, now, stage == Stage::Steady).await
    }
}
