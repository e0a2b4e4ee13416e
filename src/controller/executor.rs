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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::engine::{
    Cluster, ExperimentRef, Progress, RunOptions, RunRecord, StopHandle, StopSignal,
};
use crate::narrate::{Folder, Line, Narrator};
use crate::observe::Time;
use crate::predict::Prediction;
use crate::recording::Recorder;
use crate::spec::{Injected, Phase};

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

/// How an execution ended: the engine's result, and the prediction made just before the run
/// (`spec.predict`), which its report sets beside what happened — also when the revert failed.
#[derive(Debug)]
pub struct Executed {
    pub result: crate::Result<RunRecord>,
    pub prediction: Option<Prediction>,
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
    ) -> BoxFuture<'static, Executed>;
    /// Takes out an injection nobody is running any more. Idempotent.
    fn revert(&self, record: Injected) -> BoxFuture<'static, crate::Result<()>>;
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

/// What a cluster factory is told about the run it makes a cluster for.
#[derive(Debug, Clone, Copy)]
pub struct ForRun<'a> {
    pub exp: &'a ExperimentRef,
    /// Where the run is recorded (`--record-dir`), for the cluster's watches to write to.
    pub recorder: Option<&'a Arc<Recorder>>,
}

/// Predicts a run before it starts (`spec.predict`): in production, a snapshot of the cluster
/// and the experiment simulated on it ([`crate::snapshot::predict`]), with the model it was made
/// on (kept in the run's recording, for `oomsday calibrate`).
pub type Predictor = Arc<
    dyn Fn(ExperimentRef) -> BoxFuture<'static, crate::Result<crate::predict::Predicted>>
        + Send
        + Sync,
>;

/// The engine against clusters made by a factory, each run a task on the caller's runtime. The
/// factory gets the run it makes a cluster for, and `None` for a revert.
pub struct EngineExecutor<F> {
    factory: Arc<F>,
    /// Each run's recording and JSON report go here, by namespace, when set.
    record_dir: Option<PathBuf>,
    predictor: Option<Predictor>,
}

impl<F> EngineExecutor<F> {
    pub fn new(factory: F) -> Self {
        EngineExecutor {
            factory: Arc::new(factory),
            record_dir: None,
            predictor: None,
        }
    }

    /// Keeps every run's recording (`NS/RUN.jsonl`, for `oomsday replay`) and its JSON report
    /// (`NS/RUN.json`) under `dir`.
    pub fn with_record_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.record_dir = dir;
        self
    }

    /// Predicts the runs whose experiment asks for it (`spec.predict`) with `p`.
    pub fn with_predictor(mut self, p: Predictor) -> Self {
        self.predictor = Some(p);
        self
    }
}

/// The recorder for a run under `dir`, or None (said in the log) when it cannot be created: a
/// game day is not failed for its recording.
fn recorder_for(dir: &Path, exp: &ExperimentRef, run_id: &str) -> Option<Arc<Recorder>> {
    let ns = dir.join(&exp.namespace);
    let path = ns.join(format!("{run_id}.jsonl"));
    let made = std::fs::create_dir_all(&ns)
        .map_err(|e| e.to_string())
        .and_then(|()| Recorder::create(&path).map_err(|e| e.to_string()));
    match made {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            tracing::warn!(run = run_id, error = %e, "not recording this run");
            None
        }
    }
}

/// Just before injecting: the prediction, its model kept in the run's recording; a prediction
/// that cannot be made is said, not fatal.
async fn predict_first(
    predictor: Option<Predictor>,
    exp: &ExperimentRef,
    recorder: Option<&Arc<Recorder>>,
    now: crate::observe::Time,
) -> Option<Prediction> {
    match predictor?(exp.clone()).await {
        Ok(p) => {
            if let Some(r) = recorder {
                p.record(r, now);
            }
            Some(p.prediction)
        }
        Err(e) => {
            tracing::warn!(experiment = %exp.name, error = %e, "no prediction for this run");
            None
        }
    }
}

impl<F, C> Executor for EngineExecutor<F>
where
    F: Fn(Option<ForRun<'_>>) -> crate::Result<C> + Send + Sync + 'static,
    C: Cluster + 'static,
{
    fn execute(
        &self,
        exp: ExperimentRef,
        opts: RunOptions,
        mut stop: StopSignal,
        updates: mpsc::UnboundedSender<RunUpdate>,
    ) -> BoxFuture<'static, Executed> {
        let factory = self.factory.clone();
        let record_dir = self.record_dir.clone();
        let predictor = self.predictor.clone().filter(|_| exp.spec.predict);
        Box::pin(async move {
            let recorder = record_dir
                .as_deref()
                .and_then(|d| recorder_for(d, &exp, &opts.run_id));
            let cluster = factory(Some(ForRun {
                exp: &exp,
                recorder: recorder.as_ref(),
            }));
            let mut cluster = match cluster {
                Ok(c) => c,
                Err(e) => {
                    return Executed {
                        result: Err(e),
                        prediction: None,
                    };
                }
            };
            let prediction = predict_first(predictor, &exp, recorder.as_ref(), cluster.now()).await;
            // Scheduled game days run their probes and alert checks exactly as `oomsday run`
            // does; a spec whose probes cannot be built was refused when it was admitted.
            let mut probes = match crate::probe::Prober::new(&exp.spec) {
                Ok(p) => p,
                Err(e) => {
                    return Executed {
                        result: Err(e),
                        prediction,
                    };
                }
            };
            let mut narration = Narration::new(&exp.spec.target.name);
            let mut progress = |p: &Progress<'_>| {
                for u in narration.updates(p) {
                    // A closed channel means nobody writes status any more; the run goes on.
                    let _ = updates.send(u);
                }
                if let Some(r) = &recorder {
                    r.progress(p);
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
            if let (Some(r), Ok(record)) = (&recorder, &result) {
                r.flush();
                let dir = r.path().parent().unwrap_or(Path::new("."));
                let report = crate::report::Report::new(record.clone(), prediction.clone());
                if let Err(e) = crate::report::write(dir, &report, &[crate::report::Format::Json]) {
                    tracing::warn!(run = %opts.run_id, error = %e, "could not write the run's report");
                }
            }
            Executed { result, prediction }
        })
    }

    fn revert(&self, record: Injected) -> BoxFuture<'static, crate::Result<()>> {
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
    target: crate::spec::WorkloadRef,
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
    pub fn target_busy(&self, target: &crate::spec::WorkloadRef) -> Option<String> {
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
        target: crate::spec::WorkloadRef,
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
    pub fn stop(&self, key: &str, reason: crate::engine::RunReason, detail: &str) -> bool {
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
                r.stop.stop(crate::engine::RunReason::Signal, detail);
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
mod tests;
