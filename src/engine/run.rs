//! The driver: carries out the steps [`decide`] asks for against any [`Cluster`], feeds what
//! happened back into the [`RunState`], and always reverts. Time comes only from
//! [`Cluster::now`].

use std::time::Duration as StdDuration;

use tokio::sync::watch;

use crate::observe::{Event, Observation, Time, Timeline};
use crate::spec::{InjectionMode, LeakExperimentSpec, Phase};

use super::decide::{Step, decide};
use super::probes::Probes;
use super::state::{EndReason, Ending, RunState, Stop, Tally};
use super::{Cluster, InjectionPlan, RunRecord, add};

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
    pub fn stop(&self, reason: EndReason, detail: impl Into<String>) -> bool {
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
    let mut d = Driver {
        exp,
        opts,
        st: RunState::new(cluster.now()),
        timeline: Timeline::new(),
        progress,
    };
    d.milestone(cluster.now(), Phase::Pending, "run started", None);
    let mut last_poll: Option<Time> = None;
    let mut finished: Option<Time> = None;
    loop {
        if let Some(s) = stop.current() {
            d.st.request_stop(s);
        }
        let now = cluster.now();
        match decide(&exp.spec, &d.st, now) {
            Step::Preflight => {
                let plan = d.plan(now);
                let res = tokio::select! {
                    // Finish what completed rather than drop it.
                    biased;
                    r = cluster.preflight(&plan) => Some(r),
                    s = stop.requested() => { d.st.request_stop(s); None }
                };
                match res {
                    Some(Ok(defences)) => d.st.defences = Some(defences),
                    Some(Err(e)) => d.st.fail(EndReason::PreflightFailed, e.to_string()),
                    None => {}
                }
            }
            Step::Inject => {
                let plan = d.plan(now);
                d.st.phase = Phase::Injecting;
                d.st.deadline = Some(plan.deadline);
                // Until inject returns, assume the leaker may be partly in place: an
                // interrupted or failed inject is reverted with what the plan would have added.
                d.st.injection = Some(plan.record());
                let note = format!(
                    "injecting a {} leaker into {}",
                    mode_name(plan.spec.injection.mode),
                    d.target()
                );
                d.milestone(now, Phase::Injecting, &note, Some(plan.deadline));
                if let Some(s) = stop.current() {
                    // Stopped before anything was sent: nothing to revert.
                    d.st.phase = Phase::Pending;
                    d.st.injection = None;
                    d.st.deadline = None;
                    d.st.request_stop(s);
                    continue;
                }
                let res = tokio::select! {
                    // Finish what completed rather than drop it.
                    biased;
                    r = cluster.inject(&plan) => Some(r),
                    s = stop.requested() => { d.st.request_stop(s); None }
                };
                match res {
                    Some(Ok(record)) => {
                        let at = cluster.now();
                        d.st.injection = Some(record);
                        d.st.injected = Some(at);
                        d.st.phase = Phase::Leaking;
                        d.milestone(at, Phase::Leaking, "leaking", Some(plan.deadline));
                    }
                    Some(Err(e)) => d.st.fail(EndReason::InjectFailed, e.to_string()),
                    None => {}
                }
            }
            Step::Observe { until } | Step::Recover { until } => {
                if probes.next_due().is_some_and(|due| due <= now) && last_poll != Some(now) {
                    // Once per instant at most: a prober that stays due must not spin the loop.
                    last_poll = Some(now);
                    let found = probes.poll(now).await;
                    d.take(cluster.now(), until, found);
                    continue;
                }
                let mut call_until = opts.refresh.map_or(until, |r| until.min(add(now, r)));
                if let Some(due) = probes.next_due().filter(|due| *due > now) {
                    call_until = call_until.min(due);
                }
                let res = tokio::select! {
                    // Finish what completed rather than drop it.
                    biased;
                    r = cluster.observe(call_until) => Some(r),
                    s = stop.requested() => { d.st.request_stop(s); None }
                };
                match res {
                    Some(Ok(obs)) => d.take(cluster.now(), until, obs),
                    Some(Err(e)) => {
                        let at = cluster.now();
                        let detail = e.to_string();
                        d.take(
                            at,
                            until,
                            vec![Observation::new(
                                at,
                                Event::ObservationFailed {
                                    detail: detail.clone(),
                                },
                            )],
                        );
                        d.st.fail(EndReason::ObservationFailed, detail);
                    }
                    None => {}
                }
            }
            Step::Revert(ending) => {
                if d.st.ending.is_none() {
                    d.st.ending = Some(ending.clone());
                }
                d.st.phase = Phase::Reverting;
                if ending.reason != EndReason::DurationElapsed {
                    d.push(Observation::new(
                        now,
                        Event::Abort {
                            reason: ending.reason.as_str().into(),
                            detail: ending.message.clone(),
                        },
                    ));
                }
                let note = format!("reverting: {}", ending.message);
                d.milestone(now, Phase::Reverting, &note, None);
                let Some(record) = d.st.injection.clone() else {
                    // Nothing was put in place: nothing to take out.
                    d.st.mark_reverted(now);
                    continue;
                };
                if record.mode == InjectionMode::Ephemeral
                    && d.st.deadline.is_some_and(|dl| now < dl)
                    && let Some(e) = d.st.ending.as_mut()
                {
                    // The API cannot remove an ephemeral container: say so where it matters.
                    e.message.push_str(&format!(
                        " (ephemeral leakers cannot be removed: they hold their memory until \
                         their deadline, {})",
                        record.deadline
                    ));
                }
                match revert_with_retries(cluster, &record, opts).await {
                    Ok(at) => {
                        d.st.mark_reverted(at);
                        let until = add(at, exp.spec.recovery.std());
                        let note = if ending.reason.watch_recovery() {
                            "reverted; watching recovery"
                        } else {
                            "reverted"
                        };
                        d.milestone(at, Phase::Recovering, note, Some(until));
                    }
                    Err(e) => {
                        let message = format!(
                            "could not revert {} after {} attempts: {e}",
                            d.target(),
                            opts.revert_attempts.max(1)
                        );
                        d.st.ending = Some(Ending {
                            reason: EndReason::RevertFailed,
                            message: message.clone(),
                        });
                        d.st.phase = Phase::Failed;
                        let at = cluster.now();
                        d.milestone(at, Phase::Failed, &message, None);
                        let record = d.record(cluster, at);
                        return Err(crate::Error::RevertFailed {
                            message,
                            namespace: exp.namespace.clone(),
                            record: Box::new(record),
                        });
                    }
                }
            }
            Step::Finish(ending) => {
                let phase = ending.reason.final_phase();
                d.st.ending = Some(ending.clone());
                d.st.phase = phase;
                d.milestone(now, phase, &ending.message, None);
                finished = Some(now);
            }
            Step::Done => break,
        }
    }
    // The run finished when it entered its final phase.
    let at = finished.unwrap_or_else(|| cluster.now());
    Ok(d.record(cluster, at))
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
    record: &crate::spec::InjectionRecord,
    opts: &RunOptions,
) -> crate::Result<Time> {
    let backoff = crate::retry::Backoff::new(
        opts.revert_backoff,
        opts.revert_backoff_max,
        opts.revert_attempts,
    );
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

struct Driver<'a, 'p, 'q> {
    exp: &'a ExperimentRef,
    opts: &'a RunOptions,
    st: RunState,
    timeline: Timeline,
    progress: &'p mut ProgressFn<'q>,
}

impl Driver<'_, '_, '_> {
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
            Event::RunPhase {
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
        });
    }

    fn record<C: Cluster>(&self, cluster: &C, finished: Time) -> RunRecord {
        let ending = self.st.ending.as_ref();
        RunRecord {
            run_id: self.opts.run_id.clone(),
            experiment: self.exp.name.clone(),
            namespace: self.exp.namespace.clone(),
            spec: self.exp.spec.clone(),
            cluster: cluster.describe(),
            simulated: cluster.simulated(),
            phase: self.st.phase,
            reason: ending.map(|e| e.reason.as_str().to_string()),
            message: ending.map(|e| e.message.clone()),
            started: self.st.started,
            injected: self.st.injected,
            reverted: self.st.reverted.filter(|_| self.st.injection.is_some()),
            recovered: self.st.recovered,
            finished,
            injection: self.st.injection.clone(),
            defences: self.st.defences.clone(),
            timeline: self.timeline.clone(),
            prediction: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NoProbes;
    use crate::engine::testing::{Script, ScriptedCluster};
    use crate::observe::{DisruptionCause, PodRef};
    use serde_json::json;

    const START: i64 = 1_700_000_000;

    fn t(s: i64) -> Time {
        Time::from_second(START + s).unwrap()
    }

    fn exp(abort: serde_json::Value) -> ExperimentRef {
        ExperimentRef {
            name: "black-friday".into(),
            namespace: "shop".into(),
            spec: serde_json::from_value(json!({
                "target": {"kind": "Deployment", "name": "checkout"},
                "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "2Gi"},
                "duration": "30m",
                "recovery": "10m",
                "abort": abort,
            }))
            .unwrap(),
        }
    }

    fn opts() -> RunOptions {
        RunOptions {
            revert_attempts: 3,
            revert_backoff: StdDuration::ZERO,
            revert_backoff_max: StdDuration::ZERO,
            ..RunOptions::new("black-friday-1")
        }
    }

    fn obs(at: i64, event: Event) -> Observation {
        Observation::new(t(at), event)
    }

    fn bytes(at: i64, b: u64) -> Observation {
        obs(
            at,
            Event::LeakerBytes {
                pod: "checkout-1".into(),
                bytes: b,
            },
        )
    }

    fn workload(at: i64, ready: u32) -> Observation {
        obs(at, Event::workload(4, ready))
    }

    fn bystander(at: i64, name: &str) -> Observation {
        obs(
            at,
            Event::PodEvicted {
                pod: PodRef {
                    name: name.into(),
                    node: Some("n1".into()),
                    target: false,
                },
                cause: DisruptionCause::TerminationByKubelet,
                message: "The node was low on resource: memory.".into(),
            },
        )
    }

    /// A leak that hurts: the workload dips while leaking and is healthy 90 s after the revert
    /// at t(1800); two bystanders evicted at t(600) and t(700).
    fn story() -> Vec<Observation> {
        vec![
            workload(0, 4),
            obs(
                5,
                Event::LeakerStarted {
                    pod: PodRef {
                        name: "checkout-1".into(),
                        node: Some("n1".into()),
                        target: true,
                    },
                },
            ),
            bytes(60, 100 << 20),
            bytes(60, 100 << 20), // a re-list: not new
            workload(500, 2),
            bystander(600, "cart-1"),
            bystander(700, "cart-2"),
            workload(1890, 4),
        ]
    }

    async fn go(
        cluster: &mut ScriptedCluster,
        exp: &ExperimentRef,
        stop: &mut StopSignal,
    ) -> (crate::Result<RunRecord>, Vec<Phase>) {
        let mut phases = Vec::new();
        let res = run(cluster, &mut NoProbes, exp, &opts(), stop, &mut |p| {
            if phases.last() != Some(&p.phase) {
                phases.push(p.phase);
            }
        })
        .await;
        (res, phases)
    }

    fn reverted_once(c: &ScriptedCluster) {
        assert_eq!(c.count("revert"), 1, "{:?}", c.calls);
        assert_eq!(c.reverted[0].run_id, "black-friday-1");
        assert_eq!(c.reverted[0].name, "checkout");
    }

    #[tokio::test]
    async fn duration_elapses_then_recovery_is_measured() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.inject_secs = 30;
        let (res, phases) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Completed);
        assert_eq!(r.reason.as_deref(), Some("DurationElapsed"));
        assert_eq!(r.injected, Some(t(30)));
        // The deadline is 30m after the inject started.
        assert_eq!(r.reverted, Some(t(1800)));
        assert_eq!(r.recovered, Some(t(1890)));
        assert_eq!(r.finished, t(1890));
        assert_eq!(r.injection.as_ref().unwrap().pods, vec!["checkout-1"]);
        assert!(r.defences.is_some());
        assert_eq!(
            phases,
            [
                Phase::Pending,
                Phase::Injecting,
                Phase::Leaking,
                Phase::Reverting,
                Phase::Recovering,
                Phase::Completed
            ]
        );
        reverted_once(&c);
        let plan = c.plan.unwrap();
        assert_eq!(plan.deadline, t(1800));
        assert_eq!(c.reverted[0].pods, vec!["checkout-1"]);
        // The duplicate LeakerBytes was dropped; oomsday's milestones are in the timeline.
        let n_bytes = r
            .timeline
            .iter()
            .filter(|o| matches!(o.event, Event::LeakerBytes { .. }))
            .count();
        assert_eq!(n_bytes, 1);
        assert!(r.timeline.iter().any(|o| matches!(
            o.event,
            Event::RunPhase {
                phase: Phase::Reverting,
                ..
            }
        )));
    }

    #[tokio::test]
    async fn refresh_wakes_more_often_without_changing_the_record() {
        let mut plain = ScriptedCluster::new(t(0), story());
        let (a, _) = go(&mut plain, &exp(json!(null)), &mut StopSignal::never()).await;
        let mut ticking = ScriptedCluster::new(t(0), story());
        let opts = RunOptions {
            refresh: Some(StdDuration::from_secs(60)),
            ..opts()
        };
        let mut now_seen = Vec::new();
        let b = run(
            &mut ticking,
            &mut NoProbes,
            &exp(json!(null)),
            &opts,
            &mut StopSignal::never(),
            &mut |p| now_seen.push(p.now),
        )
        .await;
        assert_eq!(a.unwrap(), b.unwrap());
        assert!(
            ticking.count("observe") >= 30,
            "{}",
            ticking.count("observe")
        );
        assert!(
            now_seen
                .windows(2)
                .all(|w| w[1].duration_since(w[0]).as_secs() <= 60)
        );
    }

    /// Probes every 5 minutes; fails while the workload is down in the story.
    struct EveryFive {
        next: Option<Time>,
        polled: Vec<Time>,
    }

    impl Probes for EveryFive {
        fn next_due(&self) -> Option<Time> {
            Some(self.next.unwrap_or(Time::MIN))
        }
        async fn poll(&mut self, now: Time) -> Vec<Observation> {
            self.polled.push(now);
            self.next = Some(add(now, StdDuration::from_secs(300)));
            let ok = now < t(500) || now >= t(1890);
            vec![obs(
                now.as_second() - START,
                Event::Probe {
                    name: "health".into(),
                    ok,
                    detail: String::new(),
                },
            )]
        }
    }

    #[tokio::test]
    async fn probes_are_polled_while_leaking_and_recovering() {
        let mut c = ScriptedCluster::new(t(0), story());
        let mut probes = EveryFive {
            next: None,
            polled: Vec::new(),
        };
        let r = run(
            &mut c,
            &mut probes,
            &exp(json!(null)),
            &opts(),
            &mut StopSignal::never(),
            &mut |_| {},
        )
        .await
        .unwrap();
        // From injection (t0) every 5 minutes through the deadline, then in recovery until it
        // is reached at t(1890).
        let want: Vec<Time> = (0..=6).map(|i| t(i * 300)).collect();
        assert_eq!(probes.polled, want);
        let failed = r
            .timeline
            .iter()
            .filter(|o| matches!(o.event, Event::Probe { ok: false, .. }))
            .count();
        assert_eq!(failed, 5, "t(600)..t(1800)");
        assert_eq!(r.recovered, Some(t(1890)));
    }

    #[tokio::test]
    async fn abort_rule_reverts_at_once_and_still_watches_recovery() {
        let mut c = ScriptedCluster::new(t(0), story());
        let (res, _) = go(
            &mut c,
            &exp(json!({"bystanderEvictions": 2})),
            &mut StopSignal::never(),
        )
        .await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Aborted);
        assert_eq!(r.reason.as_deref(), Some("AbortRule"));
        assert!(r.message.as_deref().unwrap().contains("bystander"));
        assert_eq!(r.reverted, Some(t(700)));
        // Still not healthy at the end of the window (ready 2/4 until t(1890) > 700+600).
        assert_eq!(r.recovered, None);
        assert_eq!(r.finished, t(1300));
        reverted_once(&c);
        assert!(r.timeline.iter().any(|o| matches!(&o.event,
            Event::Abort { reason, .. } if reason == "AbortRule")));
    }

    #[tokio::test]
    async fn an_aborted_ephemeral_leak_says_it_runs_on_until_its_deadline() {
        let mut e = exp(json!({"bystanderEvictions": 1}));
        e.spec.injection.mode = InjectionMode::Ephemeral;
        let mut c = ScriptedCluster::new(t(0), story());
        let (res, _) = go(&mut c, &e, &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Aborted);
        let msg = r.message.unwrap();
        assert!(msg.contains("cannot be removed"), "{msg}");
        assert!(msg.contains(&t(1800).to_string()), "{msg}");
        assert_eq!(c.reverted[0].mode, InjectionMode::Ephemeral);
    }

    #[tokio::test]
    async fn signal_while_leaking_reverts_and_does_not_wait_for_recovery() {
        let mut c = ScriptedCluster::new(t(0), story());
        let (handle, mut stop) = stop_channel();
        let mut phases = Vec::new();
        let r = run(
            &mut c,
            &mut NoProbes,
            &exp(json!(null)),
            &opts(),
            &mut stop,
            &mut |p| {
                phases.push(p.phase);
                if p.tally.bystander_pods() >= 1 {
                    handle.stop(EndReason::Signal, "SIGINT");
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(r.phase, Phase::Aborted);
        assert_eq!(r.reason.as_deref(), Some("Signal"));
        assert_eq!(r.reverted, Some(t(600)));
        assert_eq!(r.finished, t(600));
        reverted_once(&c);
    }

    #[tokio::test]
    async fn signal_while_observe_is_waiting_reverts() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.observe_hangs_at = Some(t(100));
        let (handle, mut stop) = stop_channel();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
            handle.stop(EndReason::AbortAnnotation, "oomsday.dev/abort=please");
        });
        let (res, _) = go(&mut c, &exp(json!(null)), &mut stop).await;
        stopper.await.unwrap();
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Aborted);
        assert_eq!(r.reason.as_deref(), Some("AbortAnnotation"));
        assert_eq!(r.reverted, Some(t(100)));
        reverted_once(&c);
    }

    #[tokio::test]
    async fn signal_during_inject_reverts_what_may_have_been_applied() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.inject = Script::Hang;
        let (handle, mut stop) = stop_channel();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
            handle.stop(EndReason::Signal, "SIGTERM");
        });
        let (res, _) = go(&mut c, &exp(json!(null)), &mut stop).await;
        stopper.await.unwrap();
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Aborted);
        assert_eq!(r.injected, None);
        reverted_once(&c);
        assert_eq!(c.reverted[0].container, crate::inject::LEAKER_CONTAINER);
    }

    #[tokio::test]
    async fn observe_error_reverts_and_fails() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.observe_fails_at = Some(t(650));
        let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Failed);
        assert_eq!(r.reason.as_deref(), Some("ObservationFailed"));
        assert!(r.message.as_deref().unwrap().contains("connection reset"));
        assert_eq!(r.reverted, Some(t(650)));
        assert!(
            r.timeline
                .iter()
                .any(|o| matches!(o.event, Event::ObservationFailed { .. }))
        );
        reverted_once(&c);
    }

    #[tokio::test]
    async fn inject_error_is_reverted_and_recorded() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.inject = Script::Fail("admission webhook denied the request".into());
        let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Failed);
        assert_eq!(r.reason.as_deref(), Some("InjectFailed"));
        assert!(r.message.as_deref().unwrap().contains("webhook"));
        assert_eq!(r.injected, None);
        reverted_once(&c);
        assert_eq!(c.count("observe"), 0);
    }

    #[tokio::test]
    async fn preflight_error_touches_nothing() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.preflight = Script::Fail("deployments.apps \"checkout\" not found".into());
        let (res, phases) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Failed);
        assert_eq!(r.reason.as_deref(), Some("PreflightFailed"));
        assert_eq!(r.injection, None);
        assert_eq!(r.reverted, None);
        assert_eq!(c.calls, ["preflight"]);
        assert_eq!(phases, [Phase::Pending, Phase::Failed]);
    }

    #[tokio::test]
    async fn revert_is_retried() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.reverts = [Script::Fail("429".into()), Script::Fail("503".into())].into();
        let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Completed);
        assert_eq!(c.count("revert"), 3);
    }

    #[tokio::test]
    async fn revert_failure_is_an_error_that_carries_the_record() {
        let mut c = ScriptedCluster::new(t(0), story());
        c.reverts = std::iter::repeat_n(Script::Fail("403 forbidden".into()), 5).collect();
        let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let err = res.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("oomsday cleanup -n shop"), "{text}");
        assert!(text.contains("403 forbidden"), "{text}");
        let crate::Error::RevertFailed { record, .. } = err else {
            panic!("not RevertFailed: {err}");
        };
        assert_eq!(record.phase, Phase::Failed);
        assert_eq!(record.reason.as_deref(), Some("RevertFailed"));
        assert_eq!(c.count("revert"), 3);
    }

    #[tokio::test]
    async fn leaker_that_never_started_leaves_the_facts() {
        // Nothing but workload samples: the record shows an injection but no leaker, so the
        // scorer can call the run inconclusive.
        let mut c = ScriptedCluster::new(t(0), vec![workload(0, 4)]);
        let (res, _) = go(&mut c, &exp(json!(null)), &mut StopSignal::never()).await;
        let r = res.unwrap();
        assert_eq!(r.phase, Phase::Completed);
        assert!(r.injected.is_some());
        assert!(!r.timeline.iter().any(|o| matches!(
            o.event,
            Event::LeakerStarted { .. } | Event::LeakerBytes { .. }
        )));
        assert_eq!(r.recovered, Some(t(1800)));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        struct Case {
            preflight_fails: bool,
            inject_fails: bool,
            observe_fails_at: Option<i64>,
            revert_failures: usize,
            stop_after: Option<usize>,
            bystander_limit: Option<u32>,
            events: Vec<(i64, u8, u32)>,
        }

        fn case() -> impl Strategy<Value = Case> {
            (
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(0i64..4000),
                0usize..5,
                proptest::option::of(0usize..40),
                proptest::option::of(1u32..4),
                proptest::collection::vec((0i64..4000, 0u8..4, 0u32..5), 0..40),
            )
                .prop_map(|(p, i, o, r, s, b, e)| Case {
                    preflight_fails: p && i, // rarer than inject failures
                    inject_fails: i && !p,
                    observe_fails_at: o,
                    revert_failures: r,
                    stop_after: s,
                    bystander_limit: b,
                    events: e,
                })
        }

        fn event(at: i64, kind: u8, n: u32) -> Observation {
            match kind {
                0 => workload(at, n),
                1 => bystander(at, &format!("b{n}")),
                2 => obs(
                    at,
                    Event::NodeCondition {
                        node: format!("n{n}"),
                        condition: crate::observe::NodeConditionKind::Ready,
                        status: n.is_multiple_of(2),
                        reason: String::new(),
                    },
                ),
                _ => bytes(at, u64::from(n) << 20),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Whatever happens, anything that may have been injected is reverted, a run
            /// never injects twice, and the record is finished and consistent.
            #[test]
            fn nothing_is_left_injected(c in case()) {
                let script = c.events.iter().map(|&(at, k, n)| event(at, k, n)).collect();
                let mut cluster = ScriptedCluster::new(t(0), script);
                if c.preflight_fails {
                    cluster.preflight = Script::Fail("nope".into());
                }
                if c.inject_fails {
                    cluster.inject = Script::Fail("nope".into());
                }
                cluster.observe_fails_at = c.observe_fails_at.map(t);
                cluster.reverts = (0..c.revert_failures).map(|_| Script::Fail("503".into())).collect();
                let abort = match c.bystander_limit {
                    Some(n) => json!({"bystanderEvictions": n}),
                    None => json!(null),
                };
                let exp = exp(abort);
                let (handle, mut stop) = stop_channel();
                let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
                let mut calls = 0usize;
                let res = rt.block_on(run(&mut cluster, &mut NoProbes, &exp, &opts(), &mut stop, &mut |_| {
                    calls += 1;
                    if Some(calls) == c.stop_after {
                        handle.stop(EndReason::Signal, "SIGINT");
                    }
                }));
                let injected = cluster.count("inject");
                prop_assert!(injected <= 1);
                if c.preflight_fails {
                    prop_assert_eq!(injected, 0);
                }
                if injected == 1 {
                    prop_assert!(cluster.count("revert") >= 1, "{:?}", cluster.calls);
                    // Nothing is observed or injected between the reverts and after a failed one.
                    let first = cluster.calls.iter().position(|c| c == "revert").unwrap();
                    let reverts = cluster.calls[first..].iter().take_while(|c| *c == "revert").count();
                    prop_assert_eq!(reverts, cluster.count("revert"));
                } else {
                    prop_assert_eq!(cluster.count("revert"), 0);
                }
                let revert_failed = injected == 1 && c.revert_failures >= 3;
                let record = match res {
                    Ok(r) => { prop_assert!(!revert_failed); r }
                    Err(crate::Error::RevertFailed { record, .. }) => {
                        prop_assert!(revert_failed);
                        *record
                    }
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                };
                prop_assert!(record.phase.is_finished());
                prop_assert!(record.reason.is_some());
                prop_assert_eq!(record.reverted.is_some(), injected == 1 && !revert_failed);
                if let (Some(rv), Some(rc)) = (record.reverted, record.recovered) {
                    prop_assert!(rc >= rv);
                }
                if let Some(rv) = record.reverted {
                    prop_assert!(rv <= t(1800));
                }
                prop_assert!(record.finished >= record.started);
            }
        }
    }

    #[test]
    fn run_ids_are_reproducible_and_valid_names() {
        let a = run_id("Black_Friday", t(0), 7);
        assert_eq!(a, run_id("Black_Friday", t(0), 7));
        assert_ne!(a, run_id("Black_Friday", t(0), 8));
        assert_ne!(a, run_id("Black_Friday", t(1), 7));
        assert!(a.starts_with("black-friday-20231114221320-"), "{a}");
        let long = run_id(&"x".repeat(200), t(0), 0);
        assert!(long.len() <= 63, "{long}");
        for id in [a, long, run_id("--", t(0), 0)] {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id}"
            );
            assert!(!id.starts_with('-') && !id.ends_with('-'), "{id}");
        }
    }
}
