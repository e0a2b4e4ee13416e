//! How the controller runs the engine and reverts leftovers: the [`Executor`] seam. The real one
//! ([`EngineExecutor`]) drives [`crate::engine::run`] — probes and alert checks included, exactly
//! as `oomsday run` does — against a cluster from a factory (the kube cluster in production, the
//! simulator or a fake in tests); the reconcilers only see this trait, so the mock-API tests
//! replace it with a recording fake.
//!
//! A run is a task on the controller's runtime (the engine's seam is `Send`). What it tells the
//! reconciler crosses as [`RunUpdate`]s on a channel: phase changes for the status, and the
//! narrator's lines (bursts folded) for the status timeline and the LeakRun's Events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::engine::{
    Cluster, ExperimentRef, Progress, RunOptions, RunRecord, StopHandle, StopSignal,
};
use crate::narrate::{Folder, Line, Narrator};
use crate::observe::Time;
use crate::predict::Prediction;
use crate::spec::{InjectionRecord, Phase};

/// Something the reconciler hears about a run in progress.
#[derive(Debug, Clone, PartialEq)]
pub enum RunUpdate {
    /// The run entered `phase` at `at`; `until` is when the phase is due to end (the leak's
    /// deadline while injecting and leaking).
    Phase {
        phase: Phase,
        at: Time,
        until: Option<Time>,
    },
    /// A line of the run's story, in the narrator's words (the CLI prints the same).
    Line(Line),
}

/// Runs experiments and reverts injections.
pub trait Executor: Send + Sync + 'static {
    /// Runs one experiment to its end, sending updates as it goes.
    fn execute(
        &self,
        exp: ExperimentRef,
        opts: RunOptions,
        stop: StopSignal,
        updates: mpsc::UnboundedSender<RunUpdate>,
    ) -> BoxFuture<'static, crate::Result<RunRecord>>;
    /// Takes out an injection nobody is running any more. Idempotent.
    fn revert(&self, record: InjectionRecord) -> BoxFuture<'static, crate::Result<()>>;
}

/// Turns engine progress into updates, with the one narrator and its burst folding: the same
/// pipeline as the CLI's live view.
pub struct Narration {
    last_phase: Option<Phase>,
    narrator: Narrator,
    folder: Folder,
}

impl Narration {
    /// For a run on the workload `target`.
    pub fn new(target: &str) -> Self {
        Narration {
            last_phase: None,
            narrator: Narrator::new(target),
            folder: Folder::new(),
        }
    }

    /// The updates one progress report brings.
    pub fn updates(&mut self, progress: &Progress<'_>) -> Vec<RunUpdate> {
        let mut out = Vec::new();
        if self.last_phase != Some(progress.phase) {
            self.last_phase = Some(progress.phase);
            out.push(RunUpdate::Phase {
                phase: progress.phase,
                at: progress.now,
                until: progress.until,
            });
        }
        for o in progress.new {
            if let Some(line) = self.narrator.line(o) {
                out.extend(self.folder.push(line).into_iter().map(RunUpdate::Line));
            }
        }
        if progress.phase.is_finished() {
            out.extend(self.folder.finish().into_iter().map(RunUpdate::Line));
        }
        out
    }
}

/// Predicts a run before it starts (`spec.predict`): in production, a snapshot of the cluster
/// and the experiment simulated on it ([`crate::snapshot::predict`]).
pub type Predictor =
    Arc<dyn Fn(ExperimentRef) -> BoxFuture<'static, crate::Result<Prediction>> + Send + Sync>;

/// The engine against clusters made by a factory, each run a task on the caller's runtime. The
/// factory gets the experiment for a run and `None` for a revert.
pub struct EngineExecutor<F> {
    factory: Arc<F>,
    predictor: Option<Predictor>,
}

impl<F> EngineExecutor<F> {
    pub fn new(factory: F) -> Self {
        EngineExecutor {
            factory: Arc::new(factory),
            predictor: None,
        }
    }

    /// Predicts the runs whose experiment asks for it (`spec.predict`) with `p`.
    pub fn with_predictor(mut self, p: Predictor) -> Self {
        self.predictor = Some(p);
        self
    }
}

impl<F, C> Executor for EngineExecutor<F>
where
    F: Fn(Option<&ExperimentRef>) -> crate::Result<C> + Send + Sync + 'static,
    C: Cluster + 'static,
{
    fn execute(
        &self,
        exp: ExperimentRef,
        opts: RunOptions,
        mut stop: StopSignal,
        updates: mpsc::UnboundedSender<RunUpdate>,
    ) -> BoxFuture<'static, crate::Result<RunRecord>> {
        let factory = self.factory.clone();
        let predictor = self.predictor.clone().filter(|_| exp.spec.predict);
        Box::pin(async move {
            let mut cluster = factory(Some(&exp))?;
            // Just before injecting: a prediction that cannot be made is said, not fatal.
            let prediction = match predictor {
                Some(p) => match p(exp.clone()).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(experiment = %exp.name, error = %e, "no prediction for this run");
                        None
                    }
                },
                None => None,
            };
            // Scheduled game days run their probes and alert checks exactly as `oomsday run`
            // does; a spec whose probes cannot be built was refused when it was admitted.
            let mut probes = crate::probe::Prober::new(&exp.spec)?;
            let mut narration = Narration::new(&exp.spec.target.name);
            let mut progress = |p: &Progress<'_>| {
                for u in narration.updates(p) {
                    // A closed channel means nobody writes status any more; the run goes on.
                    let _ = updates.send(u);
                }
            };
            let result = crate::engine::run(
                &mut cluster,
                &mut probes,
                &exp,
                &opts,
                &mut stop,
                &mut progress,
            )
            .await;
            crate::predict::attach(result, prediction)
        })
    }

    fn revert(&self, record: InjectionRecord) -> BoxFuture<'static, crate::Result<()>> {
        let factory = self.factory.clone();
        Box::pin(async move {
            let mut cluster = factory(None)?;
            cluster.revert(&record).await
        })
    }
}

/// The runs this replica executes, by `namespace/name`, with the handle that stops each.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<HashMap<String, Running>>>,
}

struct Running {
    stop: StopHandle,
    target: super::schedule::WorkloadKey,
    done: tokio::sync::watch::Receiver<bool>,
}

/// The registry key of a run.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        // A panic while holding the lock leaves a map that is still consistent: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this replica executes the run.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Whether a run on `target` executes here (never two leaks on one workload).
    pub fn target_busy(&self, target: &super::schedule::WorkloadKey) -> Option<String> {
        self.lock()
            .iter()
            .find(|(_, r)| r.target == *target)
            .map(|(k, _)| k.clone())
    }

    /// Records a run as executing; returns the receiver that turns true when it ends.
    pub fn insert(
        &self,
        key: String,
        stop: StopHandle,
        target: super::schedule::WorkloadKey,
    ) -> tokio::sync::watch::Sender<bool> {
        let (tx, done) = tokio::sync::watch::channel(false);
        self.lock().insert(key, Running { stop, target, done });
        tx
    }

    /// Forgets a run (it ended).
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Asks one run to stop; false when it does not execute here.
    pub fn stop(&self, key: &str, reason: crate::engine::EndReason, detail: &str) -> bool {
        match self.lock().get(key) {
            Some(r) => {
                r.stop.stop(reason, detail);
                true
            }
            None => false,
        }
    }

    /// How many runs execute here (the active-injections gauge).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no run executes here.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Stops every run and waits until they have ended (each reverts first) or `grace` passed.
    /// Returns how many were still running at the end.
    pub async fn stop_all(&self, detail: &str, grace: std::time::Duration) -> usize {
        let waits: Vec<tokio::sync::watch::Receiver<bool>> = {
            let runs = self.lock();
            for r in runs.values() {
                r.stop.stop(crate::engine::EndReason::Signal, detail);
            }
            runs.values().map(|r| r.done.clone()).collect()
        };
        let all = futures::future::join_all(waits.into_iter().map(|mut rx| async move {
            let _ = rx.wait_for(|d| *d).await;
        }));
        let _ = tokio::time::timeout(grace, all).await;
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EndReason, Tally, stop_channel};
    use crate::observe::{DisruptionCause, Event, Observation, PodRef};
    use crate::spec::TargetKind;

    fn target(name: &str) -> super::super::schedule::WorkloadKey {
        super::super::schedule::WorkloadKey {
            namespace: "shop".into(),
            kind: TargetKind::Deployment,
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn stop_all_waits_for_runs_to_revert_and_reports_stragglers() {
        let reg = Registry::default();
        // A run that reverts (ends) 50 ms after its stop request, like the engine does.
        let (h, mut sig) = stop_channel();
        let done = reg.insert(key("shop", "a"), h, target("checkout"));
        let r2 = reg.clone();
        let seen = tokio::spawn(async move {
            let stop = sig.requested().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            r2.remove(&key("shop", "a"));
            let _ = done.send(true);
            stop
        });
        assert!(reg.contains("shop/a"));
        assert_eq!(reg.target_busy(&target("checkout")), Some("shop/a".into()));
        assert_eq!(reg.target_busy(&target("cart")), None);
        let left = reg
            .stop_all("SIGTERM", std::time::Duration::from_secs(5))
            .await;
        assert_eq!(left, 0);
        let stop = seen.await.expect("task");
        assert_eq!(stop.reason, EndReason::Signal);
        assert_eq!(stop.detail, "SIGTERM");

        // A run that never ends is reported once the grace period is over.
        let (h, _sig) = stop_channel();
        let _done = reg.insert(key("shop", "b"), h, target("checkout"));
        let left = reg
            .stop_all("SIGTERM", std::time::Duration::from_millis(50))
            .await;
        assert_eq!(left, 1);
    }

    #[test]
    fn progress_becomes_phase_changes_and_the_narrators_lines() {
        let t0: Time = "2026-11-24T11:00:00Z".parse().expect("time");
        let tally = Tally::new(t0);
        let pod = PodRef {
            name: "checkout-1".into(),
            node: None,
            target: false,
        };
        let new = vec![
            Observation::new(
                t0,
                Event::PodEvicted {
                    pod: pod.clone(),
                    cause: DisruptionCause::TerminationByKubelet,
                    message: "low on memory".into(),
                },
            ),
            Observation::new(t0, Event::workload(3, 2)),
            Observation::new(
                t0,
                Event::Budget {
                    name: "checkout".into(),
                    current_healthy: 1,
                    desired_healthy: 2,
                    disruptions_allowed: 0,
                    expected_pods: 3,
                },
            ),
        ];
        let progress = |phase| Progress {
            experiment: "lx",
            run_id: "lx-1",
            phase,
            started: t0,
            now: t0,
            until: None,
            tally: &tally,
            new: &new,
            note: None,
        };
        let mut n = Narration::new("checkout");
        let u = n.updates(&progress(Phase::Leaking));
        assert!(matches!(
            u[0],
            RunUpdate::Phase {
                phase: Phase::Leaking,
                ..
            }
        ));
        // The eviction, the breached budget and the first workload sample, each in the
        // narrator's words.
        let lines: Vec<&str> = u
            .iter()
            .filter_map(|u| match u {
                RunUpdate::Line(l) => Some(l.text.as_str()),
                RunUpdate::Phase { .. } => None,
            })
            .collect();
        let mut direct = Narrator::new("checkout");
        let want: Vec<String> = new
            .iter()
            .filter_map(|o| direct.line(o))
            .map(|l| l.text)
            .collect();
        assert_eq!(lines, want);
        assert_eq!(lines.len(), 3, "{lines:?}");
        // The same phase again, and nothing new: no update.
        let u = n.updates(&progress(Phase::Leaking));
        assert!(u.iter().all(|u| matches!(u, RunUpdate::Line(_))), "{u:?}");
    }
}
