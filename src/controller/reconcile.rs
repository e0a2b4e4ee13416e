//! The two reconcilers: LeakExperiment (schedule, manual trigger, history, status; kube's
//! `finalizer` helper aborts its runs on deletion) and LeakRun (start on the leader, stop on
//! abort, revert orphans, release the revert finalizer). They carry out the pure `decide_*`
//! functions; every write of status is a server-side apply with [`FIELD_MANAGER`].

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KEvent, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{mpsc, watch};

use crate::engine::{EndReason, ExperimentRef, RunOptions, stop_channel};
use crate::observe::Time;
use crate::spec::{LeakExperiment, LeakRun, LeakRunStatus, Phase, Trigger};

use super::Error;
use super::decide::{
    ABORT_ANNOTATION, EXPERIMENT_FINALIZER, RUN_FINALIZER, RUN_NOW_ANNOTATION, RunAction,
    StopCause, TargetPolicy, active_run, decide_history, decide_run, decide_target_allowed,
};
use super::executor::{Executor, Registry, RunUpdate, key};
use super::lease::RENEW_PERIOD;
use super::metrics::Metrics;
use super::schedule::{ScheduleAction, TargetRef, decide_manual, decide_schedule};
use super::status::{
    apply_update, event_for, experiment_ref, experiment_status, final_status, new_run, status_patch,
};

/// The field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "oomsday-controller";
/// Timeout of one API call.
const API_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How long a revert of an orphaned injection may take before it counts as failed.
const REVERT_TIMEOUT: StdDuration = StdDuration::from_secs(120);
/// Requeue of an experiment without a schedule (status stays fresh).
const IDLE_REQUEUE: StdDuration = StdDuration::from_secs(300);

/// What both reconcilers share.
pub struct Context {
    pub client: Client,
    pub policy: TargetPolicy,
    /// Whether this replica holds the Lease.
    pub leader: watch::Receiver<bool>,
    pub registry: Registry,
    pub executor: Arc<dyn Executor>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// The wall clock in production, fixed in tests.
    pub clock: fn() -> Time,
}

impl Context {
    fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    async fn event(&self, on: &ObjectReference, warning: bool, reason: &str, note: String) {
        let ev = KEvent {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: reason.into(),
            secondary: None,
        };
        // Events are for humans; failing to write one must not fail the run.
        if let Err(e) = timeout(self.recorder.publish(&ev, on)).await {
            tracing::warn!(reason, error = %e, "could not publish an Event");
        }
    }

    /// An Event on a run and on its experiment.
    async fn event_both(&self, run: &LeakRun, warning: bool, reason: &str, note: String) {
        self.event(&run.object_ref(&()), warning, reason, note.clone())
            .await;
        if let Some(exp) = experiment_ref(run) {
            self.event(&exp, warning, reason, format!("{}: {note}", run.name_any()))
                .await;
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

async fn timeout<T>(
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(API_TIMEOUT, f)
        .await
        .map_err(|_| Error::Timeout)?
        .map_err(Error::Kube)
}

fn ssa() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn duration_until(now: Time, at: Time) -> StdDuration {
    StdDuration::try_from(at.duration_since(now))
        .unwrap_or_default()
        .max(StdDuration::from_secs(1))
}

// ---------------------------------------------------------------- LeakExperiment

/// Reconciles one LeakExperiment. Followers do nothing: the leader alone writes.
pub async fn reconcile_experiment(
    exp: Arc<LeakExperiment>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    if !ctx.is_leader() {
        return Ok(Action::requeue(RENEW_PERIOD));
    }
    let ns = exp
        .namespace()
        .ok_or(Error::Missing("metadata.namespace"))?;
    let api: Api<LeakExperiment> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, EXPERIMENT_FINALIZER, exp, |event| async {
        match event {
            Finalizer::Apply(e) => apply_experiment(e, ctx.clone()).await,
            Finalizer::Cleanup(e) => cleanup_experiment(e, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics
        .reconcile_duration("LeakExperiment", started.elapsed());
    res
}

async fn apply_experiment(exp: Arc<LeakExperiment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let name = exp.name_any();
    let ns = exp
        .namespace()
        .ok_or(Error::Missing("metadata.namespace"))?;
    let exps: Api<LeakExperiment> = Api::namespaced(ctx.client.clone(), &ns);
    let runs_api: Api<LeakRun> = Api::namespaced(ctx.client.clone(), &ns);
    let mut runs = timeout(runs_api.list(&ListParams::default())).await?.items;
    let mut active: Vec<_> = runs.iter().filter_map(active_run).collect();
    let target = TargetRef {
        namespace: ns.clone(),
        kind: exp.spec.target.kind,
        name: exp.spec.target.name.clone(),
    };
    let status = exp.status.clone().unwrap_or_default();
    let eref = exp.object_ref(&());

    // A manual trigger: start now unless the workload is busy; either way the annotation goes.
    if exp.annotations().contains_key(RUN_NOW_ANNOTATION) {
        match decide_manual(&target, &active) {
            Ok(()) => {
                let run = new_run(&exp, Trigger::Manual, now, None)?;
                let created = create_run(&runs_api, &run).await?;
                if let Some(a) = active_run(&created) {
                    active.push(a);
                }
                ctx.event(
                    &eref,
                    false,
                    "RunCreated",
                    format!("manual run {}", created.name_any()),
                )
                .await;
                runs.push(created);
            }
            Err(reason) => {
                ctx.event(
                    &eref,
                    true,
                    "TriggerRefused",
                    format!("{}: another run leaks into the workload", reason.as_str()),
                )
                .await;
            }
        }
        let patch = serde_json::json!({"metadata": {"annotations": {RUN_NOW_ANNOTATION: null}}});
        timeout(exps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))).await?;
    }

    let (next, skipped, replacing) = match decide_schedule(
        exp.spec.schedule.as_ref(),
        &name,
        &target,
        &status,
        &active,
        now,
    ) {
        Ok(d) => {
            let mut replacing = false;
            match &d.action {
                ScheduleAction::Idle => {}
                ScheduleAction::Start { due } => {
                    let run = new_run(&exp, Trigger::Schedule, *due, Some(*due))?;
                    let created = create_run(&runs_api, &run).await?;
                    ctx.event(
                        &eref,
                        false,
                        "RunCreated",
                        format!("scheduled run {} (due {due})", created.name_any()),
                    )
                    .await;
                    runs.push(created);
                }
                ScheduleAction::Replace { abort, .. } => {
                    replacing = true;
                    for r in abort {
                        annotate_abort(&runs_api, r, "replaced by the next scheduled run").await?;
                    }
                }
            }
            for (due, reason) in &d.skipped {
                ctx.event(
                    &eref,
                    false,
                    "RunSkipped",
                    format!("run due {due}: {}", reason.as_str()),
                )
                .await;
            }
            (d.next_run_time, d.skipped, replacing)
        }
        Err(e) => {
            ctx.event(&eref, true, "InvalidSchedule", e.to_string())
                .await;
            (None, Vec::new(), false)
        }
    };

    let limit = exp
        .spec
        .schedule
        .as_ref()
        .map(|s| s.history_limit)
        .unwrap_or(10);
    for old in decide_history(&runs, &name, limit) {
        match timeout(runs_api.delete(&old, &DeleteParams::default())).await {
            Ok(_) => {}
            // Deleted meanwhile (by a person, or the previous reconcile).
            Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
        runs.retain(|r| r.metadata.name.as_deref() != Some(&old));
    }

    let new_status = experiment_status(
        &status,
        &name,
        &runs,
        next,
        &skipped,
        exp.metadata.generation,
    );
    if new_status != status {
        let patch = status_patch("LeakExperiment", &new_status);
        timeout(exps.patch_status(&name, &ssa(), &Patch::Apply(&patch))).await?;
    }
    if let Some(s) = new_status.last_score {
        ctx.metrics.set_last_score(&ns, &name, s);
    }

    Ok(match next {
        _ if replacing => Action::requeue(StdDuration::from_secs(2)),
        Some(at) => Action::requeue(duration_until(now, at)),
        None => Action::requeue(IDLE_REQUEUE),
    })
}

/// The experiment is being deleted: its runs are asked to abort (their own finalizers revert
/// them when garbage collection deletes them). Idempotent.
async fn cleanup_experiment(exp: Arc<LeakExperiment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = exp.name_any();
    let ns = exp
        .namespace()
        .ok_or(Error::Missing("metadata.namespace"))?;
    let runs_api: Api<LeakRun> = Api::namespaced(ctx.client.clone(), &ns);
    let runs = timeout(runs_api.list(&ListParams::default())).await?.items;
    for r in runs.iter().filter(|r| r.spec.experiment == name) {
        if let Some(a) = active_run(r)
            && !r.annotations().contains_key(ABORT_ANNOTATION)
        {
            annotate_abort(&runs_api, &a.name, "the experiment was deleted").await?;
        }
    }
    ctx.metrics.forget(&ns, &name);
    Ok(Action::await_change())
}

/// Creates a run; one that already exists (a retry after a lost status write) is returned as is.
async fn create_run(api: &Api<LeakRun>, run: &LeakRun) -> Result<LeakRun, Error> {
    match timeout(api.create(&PostParams::default(), run)).await {
        Ok(r) => Ok(r),
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
            timeout(api.get(&run.name_any())).await
        }
        Err(e) => Err(e),
    }
}

async fn annotate_abort(api: &Api<LeakRun>, name: &str, why: &str) -> Result<(), Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {ABORT_ANNOTATION: why}}});
    timeout(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).await?;
    Ok(())
}

// ---------------------------------------------------------------------- LeakRun

/// Reconciles one LeakRun.
pub async fn reconcile_run(run: Arc<LeakRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let res = reconcile_run_inner(run, &ctx).await;
    ctx.metrics.reconcile_duration("LeakRun", started.elapsed());
    ctx.metrics.set_active_injections(ctx.registry.len());
    res
}

async fn reconcile_run_inner(run: Arc<LeakRun>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let ns = run
        .namespace()
        .ok_or(Error::Missing("metadata.namespace"))?;
    let name = run.name_any();
    let k = key(&ns, &name);
    let api: Api<LeakRun> = Api::namespaced(ctx.client.clone(), &ns);
    let leader = ctx.is_leader();
    match decide_run(&run, ctx.registry.contains(&k), leader, now) {
        RunAction::Nothing => {
            let unfinished = !run
                .status
                .as_ref()
                .map(|s| s.phase)
                .unwrap_or_default()
                .is_finished();
            Ok(if !leader && unfinished {
                // Look again when this replica may have become the leader.
                Action::requeue(RENEW_PERIOD)
            } else {
                Action::await_change()
            })
        }
        RunAction::Stop { reason, detail } => {
            let reason = match reason {
                StopCause::Annotation => EndReason::AbortAnnotation,
                StopCause::Deleted => EndReason::Signal,
            };
            ctx.registry.stop(&k, reason, &detail);
            Ok(Action::requeue(StdDuration::from_secs(2)))
        }
        RunAction::Start => start_run(run, ctx.clone(), &api, now).await,
        RunAction::Finish {
            phase,
            reason,
            message,
        } => {
            let mut s = run.status.clone().unwrap_or_default();
            s.phase = phase;
            s.reason = Some(reason.clone());
            s.message = Some(message.clone());
            s.completion_time = Some(now.to_string());
            write_run_status(&api, &name, &s).await?;
            ctx.event_both(&run, phase != Phase::Completed, &reason, message)
                .await;
            Ok(Action::await_change())
        }
        RunAction::RevertAndFinish {
            record,
            phase,
            reason,
            message,
        } => {
            let mut s = run.status.clone().unwrap_or_default();
            let reverted = tokio::time::timeout(REVERT_TIMEOUT, ctx.executor.revert(record))
                .await
                .unwrap_or_else(|_| Err(crate::Error::Invalid("revert timed out".into())));
            if let Err(e) = reverted {
                // The finalizer stays and the error policy retries with back-off; the object
                // says what is wrong and how to get out by hand.
                let msg = format!(
                    "revert failed: {e}; retrying. To revert by hand: oomsday cleanup -n {ns}"
                );
                s.reason = Some(super::decide::REVERT_FAILED.into());
                s.message = Some(msg.clone());
                write_run_status(&api, &name, &s).await?;
                ctx.event_both(&run, true, "RevertFailed", msg).await;
                return Err(Error::Revert(e.to_string()));
            }
            // A run that already failed to revert keeps its phase; the others end here.
            if !s.phase.is_finished() {
                s.phase = phase;
            }
            s.reason = Some(reason.clone());
            s.message = Some(message.clone());
            s.reverted_time = Some(now.to_string());
            s.completion_time.get_or_insert_with(|| now.to_string());
            write_run_status(&api, &name, &s).await?;
            ctx.event_both(&run, false, "Reverted", message).await;
            if run.metadata.deletion_timestamp.is_some() {
                remove_finalizer(&api, &run).await?;
            }
            Ok(Action::await_change())
        }
        RunAction::Release => {
            remove_finalizer(&api, &run).await?;
            Ok(Action::await_change())
        }
    }
}

async fn write_run_status(api: &Api<LeakRun>, name: &str, s: &LeakRunStatus) -> Result<(), Error> {
    let patch = status_patch("LeakRun", s);
    timeout(api.patch_status(name, &ssa(), &Patch::Apply(&patch))).await?;
    Ok(())
}

/// Removes the revert finalizer. The patch carries the resourceVersion that was read, so a
/// concurrent change to the finalizers (another controller's) fails with 409 and is retried
/// instead of being overwritten.
async fn remove_finalizer(api: &Api<LeakRun>, run: &LeakRun) -> Result<(), Error> {
    if !run.finalizers().iter().any(|f| f == RUN_FINALIZER) {
        return Ok(());
    }
    let rest: Vec<&String> = run
        .finalizers()
        .iter()
        .filter(|f| *f != RUN_FINALIZER)
        .collect();
    match set_finalizers(api, run, serde_json::json!(rest)).await {
        // Already gone.
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        other => other,
    }
}

async fn add_finalizer(api: &Api<LeakRun>, run: &LeakRun) -> Result<(), Error> {
    let mut finalizers = run.finalizers().to_vec();
    finalizers.push(RUN_FINALIZER.into());
    set_finalizers(api, run, serde_json::json!(finalizers)).await
}

async fn set_finalizers(
    api: &Api<LeakRun>,
    run: &LeakRun,
    finalizers: serde_json::Value,
) -> Result<(), Error> {
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": run.resource_version(),
    }});
    timeout(api.patch(
        &run.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    ))
    .await?;
    Ok(())
}

/// Starts a Pending run on this replica (the leader): checks the target may be leaked into
/// and is not busy, makes sure the revert finalizer is on, records the start, spawns the engine.
async fn start_run(
    run: Arc<LeakRun>,
    ctx: Arc<Context>,
    api: &Api<LeakRun>,
    now: Time,
) -> Result<Action, Error> {
    let ns = run
        .namespace()
        .ok_or(Error::Missing("metadata.namespace"))?;
    let name = run.name_any();
    if !run.finalizers().iter().any(|f| f == RUN_FINALIZER) {
        // A run created by hand or by an older CLI: the finalizer first, the change requeues.
        add_finalizer(api, &run).await?;
        return Ok(Action::await_change());
    }
    let spec = &run.spec.experiment_spec;
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let labels = timeout(namespaces.get(&ns)).await?.labels().clone();
    let target = TargetRef {
        namespace: ns.clone(),
        kind: spec.target.kind,
        name: spec.target.name.clone(),
    };
    let refused = decide_target_allowed(&ctx.policy, &ns, &labels, spec.allow_system_namespaces)
        .err()
        .map(|m| ("TargetNotAllowed", m))
        .or_else(|| {
            ctx.registry.target_busy(&target).map(|other| {
                (
                    "TargetBusy",
                    format!("run {other} already leaks into this workload"),
                )
            })
        });
    let mut status = LeakRunStatus {
        phase: Phase::Pending,
        start_time: Some(now.to_string()),
        ..Default::default()
    };
    if let Some((reason, message)) = refused {
        status.phase = Phase::Failed;
        status.reason = Some(reason.into());
        status.message = Some(message.clone());
        status.completion_time = Some(now.to_string());
        write_run_status(api, &name, &status).await?;
        ctx.event_both(&run, true, reason, message).await;
        return Ok(Action::await_change());
    }
    write_run_status(api, &name, &status).await?;

    let (handle, signal) = stop_channel();
    let k = key(&ns, &name);
    let done = ctx.registry.insert(k.clone(), handle, target);
    ctx.metrics.set_active_injections(ctx.registry.len());
    let exp = ExperimentRef {
        name: run.spec.experiment.clone(),
        namespace: ns.clone(),
        spec: spec.clone(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let fut = ctx
        .executor
        .execute(exp, RunOptions::new(name.clone()), signal, tx);
    let api = api.clone();
    tokio::spawn(async move {
        drive(run, ctx.clone(), api, status, fut, rx).await;
        ctx.registry.remove(&k);
        ctx.metrics.set_active_injections(ctx.registry.len());
        let _ = done.send(true);
    });
    Ok(Action::await_change())
}

/// Follows one run: writes status at each phase, Events for notable moments, and the final
/// status with the score.
async fn drive(
    run: Arc<LeakRun>,
    ctx: Arc<Context>,
    api: Api<LeakRun>,
    mut status: LeakRunStatus,
    fut: futures::future::BoxFuture<'static, crate::Result<crate::engine::RunRecord>>,
    mut rx: mpsc::UnboundedReceiver<RunUpdate>,
) {
    let name = run.name_any();
    let ns = run.namespace().unwrap_or_default();
    let mut fut = fut;
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            Some(u) = rx.recv() => on_update(&run, &ctx, &api, &mut status, u).await,
        }
    };
    while let Ok(u) = rx.try_recv() {
        on_update(&run, &ctx, &api, &mut status, u).await;
    }
    let (record, failed) = match result {
        Ok(r) => (Some(r), None),
        Err(crate::Error::RevertFailed {
            message, record, ..
        }) => (Some(*record), Some(message)),
        Err(e) => (None, Some(e.to_string())),
    };
    let final_s = match &record {
        Some(rec) => {
            let score = crate::score::score(rec);
            let mut s = final_status(rec, &score, crate::score::summarize(rec));
            if let Some(m) = &failed {
                s.message = Some(format!("{m}. To revert by hand: oomsday cleanup -n {ns}"));
            }
            ctx.metrics.run_finished(
                &ns,
                &run.spec.experiment,
                &format!("{:?}", s.phase),
                &format!("{:?}", score.verdict),
                score.total,
            );
            ctx.event_both(
                &run,
                false,
                "Scored",
                format!(
                    "{}, {:?}: {}",
                    score.headline(),
                    score.verdict,
                    score.verdict_reason
                ),
            )
            .await;
            s
        }
        None => {
            // The engine could not even start (its thread or cluster): nothing was injected
            // by it, but keep what status says was, so an orphan revert still finds it.
            let mut s = status.clone();
            s.phase = Phase::Failed;
            s.reason = Some(super::decide::ENGINE_FAILED.into());
            s.message = failed.clone();
            s.completion_time = Some((ctx.clock)().to_string());
            ctx.metrics
                .run_finished(&ns, &run.spec.experiment, "Failed", "Inconclusive", None);
            s
        }
    };
    if let Some(m) = failed {
        ctx.event_both(&run, true, "RunFailed", m).await;
    }
    // The final status must land: it is what tells the next leader the run is over.
    let mut wait = StdDuration::from_millis(500);
    for attempt in 1..=5 {
        match write_run_status(&api, &name, &final_s).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(run = %name, attempt, error = %e, "could not write the final status");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

async fn on_update(
    run: &LeakRun,
    ctx: &Context,
    api: &Api<LeakRun>,
    status: &mut LeakRunStatus,
    u: RunUpdate,
) {
    let phase_change = matches!(u, RunUpdate::Phase { .. });
    apply_update(status, run, &u);
    if phase_change && let Err(e) = write_run_status(api, &run.name_any(), status).await {
        tracing::warn!(run = %run.name_any(), error = %e, "could not write status");
    }
    if let Some((warning, reason, note)) = event_for(&u) {
        ctx.event_both(run, warning, reason, note).await;
    }
}

/// The error policy of both controllers: count (by kind and error), log, retry with a delay.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let kind = K::kind(&());
    tracing::warn!(%kind, name = %obj.meta().name.as_deref().unwrap_or_default(), error = %err, "reconcile failed");
    ctx.metrics.reconcile_error(&kind, err.metric_label());
    Action::requeue(StdDuration::from_secs(15))
}
