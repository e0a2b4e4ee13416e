//! The driver: carries out the steps [`decide`] asks for against any [`Cluster`], feeds what
//! happened back into the [`RunState`], and always reverts. Time comes only from
//! [`Cluster::now`].

use std::time::Duration as StdDuration;

use tokio::sync::watch;

use crate::observe::{Happening, Observation, Time, Timeline};
use crate::spec::{InjectionMode, LeakExperimentSpec, Phase};

use super::decide::{Step, decide};
use super::probes::{Probes, Stage};
use super::state::{Ending, RunState, Stop, Tally};
use super::{Cluster, InjectionPlan, RunRecord, add};
use crate::spec::RunReason;

/// The experiment to run: its name, namespace and spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRef {
    pub name: String,
    pub namespace: String,
    pub spec: LeakExperimentSpec,
}

/// How to run: the run's id and how hard to try reverting.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The id the workload and pods are marked with; see [`run_id`].
    pub run_id: String,
    /// Attempts at the revert before giving up and asking for `oomsday cleanup`.
    pub revert_attempts: u32,
    /// Wait after the first failed revert; doubles after each further failure.
    pub revert_backoff: StdDuration,
    /// The longest wait between revert attempts.
    pub revert_backoff_max: StdDuration,
    /// Ask the cluster for observations at least this often, so that a live view's clock moves
    /// during quiet spells. None (the default) waits for the next observation or the phase's
    /// end: what the simulator wants, since its time is virtual.
    pub refresh: Option<StdDuration>,
}

impl RunOptions {
    /// Defaults: 5 revert attempts, 1 s backoff doubling up to 30 s.
    pub fn new(run_id: impl Into<String>) -> Self {
        RunOptions {
            run_id: run_id.into(),
            revert_attempts: 5,
            revert_backoff: StdDuration::from_secs(1),
            revert_backoff_max: StdDuration::from_secs(30),
            refresh: None,
        }
    }
}

impl RunOptions {
    /// How the revert is retried: the attempts asked for, and as many more as outlast an API
    /// server down for `outage` when the revert is due, so it is reverted as soon as it answers.
    pub fn revert_backoff_for(&self, outage: StdDuration) -> crate::retry::Backoff {
        crate::retry::Backoff::spanning(
            self.revert_backoff,
            self.revert_backoff_max,
            self.revert_attempts,
            outage,
        )
    }
}

/// A run id that is a valid Kubernetes name and label value (at most 63 characters), and the
/// same for the same inputs: `<experiment>-<yyyymmddhhmmss>-<hash>`. The simulator passes its
/// seed as `salt` to stay reproducible; the CLI passes something from the wall clock.
pub fn run_id(experiment: &str, started: Time, salt: u64) -> String {
    let mut name: String = experiment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(40);
    let name = name.trim_matches('-');
    let name = if name.is_empty() { "run" } else { name };
    // FNV-1a: stable across Rust versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let secs = started.as_second().to_le_bytes();
    let nanos = started.subsec_nanosecond().to_le_bytes();
    let input = experiment
        .bytes()
        .chain(secs)
        .chain(nanos)
        .chain(salt.to_le_bytes());
    for b in input {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{name}-{}-{:06x}",
        started.strftime("%Y%m%d%H%M%S"),
        h & 0xff_ffff
    )
}

/// The sending half of a [`StopSignal`]: the CLI's signal handler or the controller's watch on
/// the abort annotation holds it.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: watch::Sender<Option<Stop>>,
}

impl StopHandle {
    /// Asks the run to stop; returns false when a stop was already requested (the first wins).
    pub fn stop(&self, reason: RunReason, detail: impl Into<String>) -> bool {
        let stop = Stop {
            reason,
            detail: detail.into(),
        };
        self.tx.send_if_modified(|cur| {
            if cur.is_some() {
                return false;
            }
            *cur = Some(stop);
            true
        })
    }

    /// Whether a stop was already requested.
    pub fn is_stopped(&self) -> bool {
        self.tx.borrow().is_some()
    }
}

/// The receiving half: the driver reverts as soon as a stop arrives.
#[derive(Debug)]
pub struct StopSignal {
    rx: Option<watch::Receiver<Option<Stop>>>,
}

/// A connected pair: request a stop with the handle, hand the signal to [`run`].
pub fn stop_channel() -> (StopHandle, StopSignal) {
    let (tx, rx) = watch::channel(None);
    (StopHandle { tx }, StopSignal { rx: Some(rx) })
}

impl StopSignal {
    /// A signal that never fires (tests, the simulator's batch runs).
    pub fn never() -> Self {
        StopSignal { rx: None }
    }

    /// The stop requested so far, if any.
    pub fn current(&self) -> Option<Stop> {
        self.rx.as_ref().and_then(|rx| rx.borrow().clone())
    }

    /// Resolves when a stop is requested; never, if the handle is gone without one.
    pub async fn requested(&mut self) -> Stop {
        if let Some(rx) = self.rx.as_mut() {
            loop {
                if let Some(s) = rx.borrow_and_update().clone() {
                    return s;
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        std::future::pending().await
    }
}

/// A snapshot of the run for a progress view or log lines, given after every step and every
/// batch of observations.
#[derive(Debug)]
pub struct Progress<'a> {
    pub experiment: &'a str,
    pub run_id: &'a str,
    pub phase: Phase,
    pub started: Time,
    pub now: Time,
    /// When the current phase is due to end (the deadline while leaking, the end of the
    /// recovery window while recovering).
    pub until: Option<Time>,
    pub tally: &'a Tally,
    /// Observations new since the last progress call.
    pub new: &'a [Observation],
    /// A milestone worth a log line ("reverting: abort rule ..."), when there is one.
    pub note: Option<&'a str>,
    /// Why the leak ended, once it has (a recording keeps it with the phase notes).
    pub reason: Option<RunReason>,
}

impl Progress<'_> {
    /// Time since the run started.
    pub fn elapsed(&self) -> StdDuration {
        span(self.started, self.now)
    }
    /// Time left in the current phase.
    pub fn remaining(&self) -> Option<StdDuration> {
        self.until.map(|u| span(self.now, u))
    }
}

/// `to - from`, zero when negative.
fn span(from: Time, to: Time) -> StdDuration {
    StdDuration::try_from(to.duration_since(from)).unwrap_or_default()
}

/// What receives progress: a live view, log lines, the controller's status writer.
pub type ProgressFn<'p> = dyn FnMut(&Progress<'_>) + Send + 'p;

/// [`run`] with nobody to ask or to tell: no probes, no stop, no progress (the simulator, a
/// replay, tests).
pub async fn run_unattended<C: Cluster>(
    cluster: &mut C,
    exp: &ExperimentRef,
    opts: &RunOptions,
) -> crate::Result<RunRecord> {
    run(
        cluster,
        &mut super::NoProbes,
        exp,
        opts,
        &mut StopSignal::never(),
        &mut |_| {},
    )
    .await
}

/// Runs one experiment against `cluster`: preflight, inject, observe with abort rules, revert
/// (always), watch recovery, and return the record. `probes` (the spec's HTTP/PromQL probes and
/// alert checks; [`super::NoProbes`] where there is nothing to reach) are polled whenever they
/// are due while the leak runs and while the workload recovers, and their observations join the
/// timeline like the cluster's. A stop from `stop` reverts at once.
///
/// The one entry point: the CLI, the controller, the simulator and a replay all run here.
///
/// Errors: only [`crate::Error::RevertFailed`], when the leaker may still be in place after
/// every revert attempt; it carries the record. Every other failure (preflight, inject,
/// observe) is recorded in the returned record with phase Failed, after reverting.
pub async fn run<C: Cluster, P: Probes>(
    cluster: &mut C,
    probes: &mut P,
    exp: &ExperimentRef,
    opts: &RunOptions,
    stop: &mut StopSignal,
    progress: &mut ProgressFn<'_>,
) -> crate::Result<RunRecord> {
    let mut st = RunState::new(cluster.now());
    st.probing = probes.reachable();
    let mut d = Driver {
        st,
        cluster,
        probes,
        stop,
        exp,
        opts,
        timeline: Timeline::new(),
        progress,
        last_poll: None,
        finished: None,
    };
    // At the run's own start, which a recording keeps as its run line's time and a replay starts
    // its clock from.
    let started = d.st.started;
    d.milestone(started, Phase::Pending, "run started", None);
    loop {
        if let Some(s) = d.stop.current() {
            d.st.request_stop(s);
        }
        let now = d.cluster.now();
        match decide(&exp.spec, &d.st, now) {
            Step::Preflight => d.preflight(now).await,
            Step::Inject => d.inject(now).await,
            Step::Observe { until } | Step::Recover { until } => d.observe(now, until).await,
            Step::Revert(ending) => d.revert(now, ending).await?,
            Step::Finish(ending) => d.finish(now, ending),
            Step::Done => break,
        }
    }
    // The run finished when it entered its final phase.
    let at = d.finished.unwrap_or_else(|| d.cluster.now());
    Ok(d.record(at))
}

/// `fut`, unless a stop is requested first (then recorded in `st`, and None). A call that
/// completed is finished rather than dropped.
async fn or_stop<T>(
    stop: &mut StopSignal,
    st: &mut RunState,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        r = fut => Some(r),
        s = stop.requested() => { st.request_stop(s); None }
    }
}

fn mode_name(mode: InjectionMode) -> &'static str {
    match mode {
        InjectionMode::Sidecar => "sidecar",
        InjectionMode::Ephemeral => "ephemeral",
    }
}

/// Calls `revert` until it succeeds, on the one retry policy ([`crate::retry::Backoff`]).
/// Returns when the successful attempt was accepted (as `injected` is when the injection was):
/// recovery is measured from the moment the leak was taken out.
async fn revert_with_retries<C: Cluster>(
    cluster: &mut C,
    record: &crate::spec::Injected,
    opts: &RunOptions,
    outage: StdDuration,
) -> crate::Result<Time> {
    let backoff = opts.revert_backoff_for(outage);
    // The cluster is borrowed mutably by each attempt in turn, never twice at once.
    let cluster = tokio::sync::Mutex::new(cluster);
    let attempt = || async {
        let mut c = cluster.lock().await;
        c.revert(record).await?;
        Ok(c.now())
    };
    backoff
        .retry(
            attempt,
            |_| true,
            |e: &crate::Error, wait| {
                tracing::warn!(run = %record.run_id, error = %e, "revert failed; retrying in {wait:?}")
            },
        )
        .await
}

/// One run in progress: the cluster and probes it drives, what it knows, where progress goes.
struct Driver<'a, 'p, 'q, C, P> {
    cluster: &'a mut C,
    probes: &'a mut P,
    stop: &'a mut StopSignal,
    exp: &'a ExperimentRef,
    opts: &'a RunOptions,
    st: RunState,
    timeline: Timeline,
    progress: &'p mut ProgressFn<'q>,
    /// The last instant the probes were polled (once per instant at most).
    last_poll: Option<Time>,
    /// When the run entered its final phase.
    finished: Option<Time>,
}

impl<C: Cluster, P: Probes> Driver<'_, '_, '_, C, P> {
    async fn preflight(&mut self, now: Time) {
        let plan = self.plan(now);
        match or_stop(self.stop, &mut self.st, self.cluster.preflight(&plan)).await {
            Some(Ok(defences)) => {
                self.st.defences = Some(defences);
                if let Some(gate) = &self.exp.spec.steady_state {
                    let at = self.cluster.now();
                    let note = format!(
                        "waiting for {} to be steady for {} (timeout {})",
                        self.target(),
                        gate.hold,
                        gate.timeout
                    );
                    let timeout = add(self.st.started, gate.timeout.std());
                    self.milestone(at, Phase::Pending, &note, Some(timeout));
                }
            }
            Some(Err(e)) => self.st.fail_with(RunReason::PreflightFailed, &e),
            None => {}
        }
    }

    async fn inject(&mut self, now: Time) {
        let plan = self.plan(now);
        self.st.phase = Phase::Injecting;
        self.st.deadline = Some(plan.deadline);
        // Until inject returns, assume the leaker may be partly in place: an interrupted or
        // failed inject is reverted with what the plan would have added.
        self.st.injection = Some(plan.record());
        let note = format!(
            "injecting a {} leaker into {}",
            mode_name(plan.spec.injection.mode),
            self.target()
        );
        self.milestone(now, Phase::Injecting, &note, Some(plan.deadline));
        if let Some(s) = self.stop.current() {
            // Stopped before anything was sent: nothing to revert.
            self.st.phase = Phase::Pending;
            self.st.injection = None;
            self.st.deadline = None;
            self.st.request_stop(s);
            return;
        }
        match or_stop(self.stop, &mut self.st, self.cluster.inject(&plan)).await {
            Some(Ok(record)) => {
                let at = self.cluster.now();
                self.st.injection = Some(record);
                self.st.injected = Some(at);
                self.st.phase = Phase::Leaking;
                self.milestone(at, Phase::Leaking, "leaking", Some(plan.deadline));
            }
            Some(Err(e)) => self.st.fail_with(RunReason::InjectFailed, &e),
            None => {}
        }
    }

    /// Polls the probes when they are due, else watches the cluster until `until` (or the next
    /// probe, or the refresh), reverting nothing itself: what it sees decides the next step.
    async fn observe(&mut self, now: Time, until: Time) {
        // Nothing is injected yet while pending: the steady-state gate's probes are due then.
        let stage = if self.st.phase == Phase::Pending {
            Stage::Steady
        } else {
            Stage::Run
        };
        if self.probes.next_due(stage).is_some_and(|due| due <= now) && self.last_poll != Some(now)
        {
            // Once per instant at most: a prober that stays due must not spin the loop.
            self.last_poll = Some(now);
            let found = self.probes.poll(now, stage).await;
            let at = self.cluster.now();
            self.take(at, until, found);
            return;
        }
        let mut call_until = self.opts.refresh.map_or(until, |r| until.min(add(now, r)));
        if let Some(due) = self.probes.next_due(stage).filter(|due| *due > now) {
            call_until = call_until.min(due);
        }
        match or_stop(self.stop, &mut self.st, self.cluster.observe(call_until)).await {
            Some(Ok(obs)) => {
                let at = self.cluster.now();
                self.take(at, until, obs);
            }
            Some(Err(e)) => {
                let at = self.cluster.now();
                let detail = e.to_string();
                let failed = Observation::new(
                    at,
                    Happening::ObservationFailed {
                        detail: detail.clone(),
                    },
                );
                self.take(at, until, vec![failed]);
                self.st.fail(RunReason::ObservationFailed, detail);
            }
            None => {}
        }
    }

    /// Takes the leaker out for `ending`. Errors only when every attempt failed: the leaker may
    /// still be in place, and the error carries the record.
    async fn revert(&mut self, now: Time, ending: Ending) -> crate::Result<()> {
        if self.st.ending.is_none() {
            self.st.ending = Some(ending.clone());
        }
        self.st.phase = Phase::Reverting;
        if ending.reason == RunReason::ObservationFailed
            && self.st.tally.observation_failed().is_none()
        {
            // Ended by a gap longer than the tolerance: the run could not be observed, said
            // once, as a failed watch says it.
            self.push(Observation::new(
                now,
                Happening::ObservationFailed {
                    detail: ending.message.clone(),
                },
            ));
        }
        if ending.reason != RunReason::DurationElapsed {
            self.push(Observation::new(
                now,
                Happening::Abort {
                    reason: ending.reason,
                    rule: ending.rule.clone(),
                    detail: ending.message.clone(),
                },
            ));
        }
        let note = format!("reverting: {}", ending.message);
        self.milestone(now, Phase::Reverting, &note, None);
        let Some(record) = self.st.injection.clone() else {
            // Nothing was put in place: nothing to take out.
            self.st.mark_reverted(now);
            return Ok(());
        };
        if record.mode == InjectionMode::Ephemeral
            && self.st.deadline.is_some_and(|dl| now < dl)
            && let Some(e) = self.st.ending.as_mut()
        {
            // The API cannot remove an ephemeral container: say so where it matters.
            e.message.push_str(&format!(
                " (ephemeral leakers cannot be removed: they hold their memory until their \
                 deadline, {})",
                record.deadline
            ));
        }
        let outage = self.exp.spec.outage_tolerance();
        match revert_with_retries(self.cluster, &record, self.opts, outage).await {
            Ok(at) => {
                self.st.mark_reverted(at);
                let until = add(at, self.exp.spec.recovery.std());
                let note = if ending.reason.watch_recovery() {
                    "reverted; watching recovery"
                } else {
                    "reverted"
                };
                self.milestone(at, Phase::Recovering, note, Some(until));
                Ok(())
            }
            Err(e) => Err(self.revert_failed(&e)),
        }
    }

    /// The run after every revert attempt failed: Failed, and an error carrying its record.
    fn revert_failed(&mut self, e: &crate::Error) -> crate::Error {
        let message = format!(
            "could not revert {} after {} attempts: {e}",
            self.target(),
            self.opts
                .revert_backoff_for(self.exp.spec.outage_tolerance())
                .attempts
        );
        self.st.ending = Some(Ending {
            rule: None,
            reason: RunReason::RevertFailed,
            message: message.clone(),
        });
        self.st.phase = Phase::Failed;
        let at = self.cluster.now();
        self.milestone(at, Phase::Failed, &message, None);
        crate::Error::RevertFailed {
            message,
            namespace: self.exp.namespace.clone(),
            record: Box::new(self.record(at)),
        }
    }

    fn finish(&mut self, now: Time, ending: Ending) {
        let phase = ending.reason.final_phase();
        self.st.ending = Some(ending.clone());
        self.st.phase = phase;
        self.milestone(now, phase, &ending.message, None);
        self.finished = Some(now);
    }

    fn target(&self) -> String {
        format!(
            "{} {}/{}",
            self.exp.spec.target.kind.as_str(),
            self.exp.namespace,
            self.exp.spec.target.name
        )
    }

    fn plan(&self, now: Time) -> InjectionPlan {
        InjectionPlan {
            run_id: self.opts.run_id.clone(),
            namespace: self.exp.namespace.clone(),
            spec: self.exp.spec.clone(),
            deadline: add(now, self.exp.spec.duration.std()),
            started: self.st.started,
        }
    }

    fn push(&mut self, obs: Observation) -> bool {
        if self.timeline.push(obs.clone()) {
            self.st.record(&obs);
            true
        } else {
            false
        }
    }

    /// Records one of oomsday's own milestones in the timeline and reports progress.
    fn milestone(&mut self, at: Time, phase: Phase, detail: &str, until: Option<Time>) {
        let obs = Observation::new(
            at,
            Happening::RunPhase {
                phase,
                detail: detail.to_string(),
            },
        );
        let new = if self.push(obs.clone()) {
            vec![obs]
        } else {
            Vec::new()
        };
        (self.progress)(&Progress {
            experiment: &self.exp.name,
            run_id: &self.opts.run_id,
            phase,
            started: self.st.started,
            now: at,
            until,
            tally: &self.st.tally,
            new: &new,
            note: Some(detail),
            reason: self.st.ending.as_ref().map(|e| e.reason),
        });
    }

    /// Takes in a batch from `observe`, keeping only what is new, and reports progress.
    fn take(&mut self, now: Time, until: Time, obs: Vec<Observation>) {
        let new: Vec<Observation> = obs.into_iter().filter(|o| self.push(o.clone())).collect();
        (self.progress)(&Progress {
            experiment: &self.exp.name,
            run_id: &self.opts.run_id,
            phase: self.st.phase,
            started: self.st.started,
            now,
            until: Some(until),
            tally: &self.st.tally,
            new: &new,
            note: None,
            reason: self.st.ending.as_ref().map(|e| e.reason),
        });
    }

    fn record(&self, finished: Time) -> RunRecord {
        let cluster = &*self.cluster;
        let ending = self.st.ending.as_ref();
        RunRecord {
            run_id: self.opts.run_id.clone(),
            experiment: self.exp.name.clone(),
            namespace: self.exp.namespace.clone(),
            spec: self.exp.spec.clone(),
            cluster: cluster.describe(),
            simulated: cluster.simulated(),
            phase: self.st.phase,
            reason: ending.map(|e| e.reason),
            message: ending.map(|e| e.message.clone()),
            // The error's kind, when the run ended with that failure (not, say, a stop first).
            error: self
                .st
                .failure
                .as_ref()
                .filter(|f| ending == Some(f))
                .and(self.st.failure_kind),
            started: self.st.started,
            injected: self.st.injected,
            reverted: self.st.reverted.filter(|_| self.st.injection.is_some()),
            recovered: self.st.recovered,
            finished,
            injection: self.st.injection.clone(),
            defences: self.st.defences.clone(),
            timeline: self.timeline.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
