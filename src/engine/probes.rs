//! Probes and alert checks beside the cluster: what the engine polls while the leak runs and
//! while the workload recovers. A seam of its own so the driver stays testable (and the
//! simulator, which has no endpoints to probe, passes [`NoProbes`]).

use crate::observe::{Observation, Time};

/// Something polled on its own schedule during the run, whose results join the timeline.
pub trait Probes: Send {
    /// When the next poll is due; None when there is nothing to poll. A time in the past means
    /// due now.
    fn next_due(&self) -> Option<Time>;
    /// Runs whatever is due at `now` (the cluster's time) and returns what it observed.
    fn poll(&mut self, now: Time) -> impl Future<Output = Vec<Observation>> + Send;
}

/// No probes at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbes;

impl Probes for NoProbes {
    fn next_due(&self) -> Option<Time> {
        None
    }
    async fn poll(&mut self, _now: Time) -> Vec<Observation> {
        Vec::new()
    }
}

/// The spec's HTTP/PromQL probes and expected-alert checks.
impl Probes for crate::probe::Prober {
    fn next_due(&self) -> Option<Time> {
        crate::probe::Prober::next_due(self)
    }
    async fn poll(&mut self, now: Time) -> Vec<Observation> {
        crate::probe::Prober::poll(self, now).await
    }
}
