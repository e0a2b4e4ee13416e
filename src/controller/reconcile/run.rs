//! The LeakRun reconciler: protects a Pending run with the revert finalizer, starts it on the
//! leader (a task on this runtime), stops it on `oomsday.dev/abort` or deletion (the engine
//! reverts), reverts and finishes runs nobody executes any more, and releases the finalizer as
//! soon as nothing of the run is live.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use tokio::sync::mpsc;

use crate::engine::{ExperimentRef, RunOptions, stop_channel};
use crate::observe::Time;
use crate::spec::{LeakRun, LeakRunStatus, Phase, RunReason};

use super::super::executor::{Executed, RunUpdate, key};
use super::super::lease::RENEW_PERIOD;
use super::super::lifecycle::{
    RUN_FINALIZER, RunAction, decide_run, decide_target_allowed, revert_owed,
};
use super::super::status::{apply_update, event_for, final_status};
use super::{Context, Error, add_finalizer, call, remove_finalizer, write_run_status};
use crate::spec::WorkloadRef;

/// How long a revert of an orphaned injection may take before it counts as failed.
const REVERT_TIMEOUT: StdDuration = StdDuration::from_secs(120);

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
    let k = key(&ns, &run.name_any());
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
        RunAction::Protect => {
            // The change requeues the run, which then starts.
            add_finalizer(&api, &*run, RUN_FINALIZER).await?;
            Ok(Action::await_change())
        }
        RunAction::Stop { reason, detail } => {
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
            s.reason = Some(reason);
            s.message = Some(message.clone());
            s.completion_time = Some(now);
            let stored = write_run_status(&api, &run, &mut s, now).await?;
            ctx.event_both(&run, phase != Phase::Completed, reason.as_str(), message)
                .await;
            remove_finalizer(&api, &stored, RUN_FINALIZER).await?;
            Ok(Action::await_change())
        }
        RunAction::RevertAndFinish {
            record,
            phase,
            reason,
            message,
        } => revert_and_finish(&run, ctx, &api, (record, phase, reason, message), now).await,
        RunAction::Release => {
            remove_finalizer(&api, &*run, RUN_FINALIZER).await?;
            Ok(Action::await_change())
        }
    }
}

/// Reverts an injection nobody executes any more, records the end, and releases the finalizer.
/// A failed revert is written to status and an Event, and retried (the finalizer stays).
async fn revert_and_finish(
    run: &LeakRun,
    ctx: &Context,
    api: &Api<LeakRun>,
    (record, phase, reason, message): (crate::spec::Injected, Phase, RunReason, String),
    now: Time,
) -> Result<Action, Error> {
    let ns = run.namespace().unwrap_or_default();
    let mut s = run.status.clone().unwrap_or_default();
    let reverted =
        crate::retry::timeout(REVERT_TIMEOUT, "revert", ctx.executor.revert(record)).await;
    if let Err(e) = reverted {
        // The finalizer stays and the error policy retries with back-off; the object says
        // what is wrong and how to get out by hand.
        let msg =
            format!("revert failed: {e}; retrying. To revert by hand: oomsday cleanup -n {ns}");
        s.reason = Some(RunReason::RevertFailed);
        s.message = Some(msg.clone());
        write_run_status(api, run, &mut s, now).await?;
        ctx.event_both(run, true, "RevertFailed", msg).await;
        return Err(Error::Revert(e.to_string()));
    }
    // A run that already failed to revert keeps its phase; the others end here.
    if !s.phase.is_finished() {
        s.phase = phase;
    }
    s.reason = Some(reason);
    s.message = Some(message.clone());
    s.reverted_time = Some(now);
    s.reverted_by = Some(ctx.identity.clone());
    s.completion_time.get_or_insert(now);
    let stored = write_run_status(api, run, &mut s, now).await?;
    ctx.event_both(run, false, "Reverted", message).await;
    remove_finalizer(api, &stored, RUN_FINALIZER).await?;
    Ok(Action::await_change())
}

/// Why a Pending run may not start here, if it may not: the namespace's consent, or another
/// run on the workload.
async fn refusal(
    ctx: &Context,
    ns: &str,
    run: &LeakRun,
    target: &WorkloadRef,
) -> Result<Option<(RunReason, String)>, Error> {
    let spec = &run.spec.experiment_spec;
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let labels = call("get the target's Namespace", namespaces.get(ns))
        .await?
        .labels()
        .clone();
    if let Err(m) = decide_target_allowed(&ctx.policy, ns, &labels, spec.allow_system_namespaces) {
        return Ok(Some((RunReason::TargetNotAllowed, m)));
    }
    Ok(ctx.registry.target_busy(target).map(|other| {
        (
            RunReason::TargetBusy,
            format!("run {other} already leaks into this workload"),
        )
    }))
}

/// Starts a Pending, protected run on this replica (the leader): checks the target may be
/// leaked into and is not busy, records the start, and spawns the engine as a task.
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
    let spec = &run.spec.experiment_spec;
    let target = WorkloadRef {
        namespace: ns.clone(),
        kind: spec.target.kind,
        name: spec.target.name.clone(),
    };
    let mut status = LeakRunStatus {
        phase: Phase::Pending,
        start_time: Some(now),
        conditions: run
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Some((reason, message)) = refusal(&ctx, &ns, &run, &target).await? {
        status.phase = Phase::Failed;
        status.reason = Some(reason);
        status.message = Some(message.clone());
        status.completion_time = Some(now);
        let stored = write_run_status(api, &run, &mut status, now).await?;
        ctx.event_both(&run, true, reason.as_str(), message).await;
        // Nothing was injected: nothing to protect.
        remove_finalizer(api, &stored, RUN_FINALIZER).await?;
        return Ok(Action::await_change());
    }
    write_run_status(api, &run, &mut status, now).await?;

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
    let fut = ctx.executor.execute(exp, RunOptions::new(name), signal, tx);
    let api = api.clone();
    tokio::spawn(async move {
        drive(&run, &ctx, &api, status, fut, rx).await;
        ctx.registry.remove(&k);
        ctx.metrics.set_active_injections(ctx.registry.len());
        let _ = done.send(true);
    });
    Ok(Action::await_change())
}

/// Follows one run: writes status at each phase, an Event for each line of its story, and the
/// final status with the score; then releases the finalizer if the revert was confirmed.
async fn drive(
    run: &LeakRun,
    ctx: &Context,
    api: &Api<LeakRun>,
    mut status: LeakRunStatus,
    mut fut: BoxFuture<'static, Executed>,
    mut rx: mpsc::UnboundedReceiver<RunUpdate>,
) {
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            Some(u) = rx.recv() => on_update(run, ctx, api, &mut status, u).await,
        }
    };
    while let Ok(u) = rx.try_recv() {
        on_update(run, ctx, api, &mut status, u).await;
    }
    let mut final_s = finish(run, ctx, status, result).await;
    // The final status must land: it is what tells the next leader the run is over.
    let backoff =
        crate::retry::Backoff::new(StdDuration::from_millis(500), StdDuration::from_secs(8), 6);
    let written = backoff
        .retry(
            || {
                let mut s = final_s.clone();
                async move {
                    let stored = write_run_status(api, run, &mut s, (ctx.clock)()).await?;
                    Ok::<_, Error>((stored, s))
                }
            },
            |_| true,
            |e, wait| {
                tracing::warn!(run = %run.name_any(), error = %e, "could not write the final status; retrying in {wait:?}")
            },
        )
        .await;
    match written {
        Ok((stored, s)) => {
            final_s = s;
            if !revert_owed(&final_s)
                && let Err(e) = remove_finalizer(api, &stored, RUN_FINALIZER).await
            {
                // The next reconcile of the finished run releases it.
                tracing::warn!(run = %run.name_any(), error = %e, "could not remove the finalizer");
            }
        }
        Err(e) => {
            tracing::error!(run = %run.name_any(), error = %e, "the final status was not written")
        }
    }
}

/// The final status of a run from the engine's result, with its Events and metrics.
async fn finish(
    run: &LeakRun,
    ctx: &Context,
    status: LeakRunStatus,
    executed: Executed,
) -> LeakRunStatus {
    let Executed { result, prediction } = executed;
    let ns = run.namespace().unwrap_or_default();
    let (record, failed) = match result {
        Ok(r) => (Some(r), None),
        Err(crate::Error::RevertFailed {
            message, record, ..
        }) => (Some(*record), Some(message)),
        Err(e) => (None, Some(e.to_string())),
    };
    let final_s = match record {
        Some(rec) => {
            let report = crate::report::Report::new(rec, prediction);
            let score = &report.score;
            let mut s = final_status(&report);
            s.conditions = status.conditions.clone();
            if s.reverted_time.is_some() {
                s.reverted_by = Some(ctx.identity.clone());
            }
            if let Some(m) = &failed {
                s.message = Some(format!("{m}. To revert by hand: oomsday cleanup -n {ns}"));
            }
            ctx.metrics.run_finished(
                &ns,
                &run.spec.experiment,
                &crate::controller::metrics::Finished {
                    phase: &format!("{:?}", s.phase),
                    verdict: &format!("{:?}", score.verdict),
                    reason: s.reason.map_or("", RunReason::as_str),
                    score: score.total,
                    summary: s.summary.as_ref(),
                },
            );
            let mut note = format!(
                "{}, {:?}: {}",
                score.headline(),
                score.verdict,
                score.verdict_reason
            );
            // Say what was not measured, and why, where the score is told.
            for f in s.facets.iter().filter(|f| !f.measured) {
                note.push_str(&format!("; {}: {}", f.name, f.explanation));
            }
            ctx.event_both(run, false, "Scored", note).await;
            s
        }
        None => {
            // The engine could not even start (its cluster or probes): nothing was injected
            // by it, but keep what status says was, so an orphan revert still finds it.
            let mut s = status;
            s.phase = Phase::Failed;
            s.reason = Some(RunReason::EngineFailed);
            s.message = failed.clone();
            s.completion_time = Some((ctx.clock)());
            ctx.metrics.run_finished(
                &ns,
                &run.spec.experiment,
                &crate::controller::metrics::Finished {
                    phase: "Failed",
                    verdict: "Inconclusive",
                    reason: RunReason::EngineFailed.as_str(),
                    score: None,
                    summary: None,
                },
            );
            s
        }
    };
    if let Some(m) = failed {
        ctx.event_both(run, true, "RunFailed", m).await;
    }
    final_s
}

async fn on_update(
    run: &LeakRun,
    ctx: &Context,
    api: &Api<LeakRun>,
    status: &mut LeakRunStatus,
    u: RunUpdate,
) {
    apply_update(status, run, &u);
    match &u {
        // The end is written once, with the score (see `finish`).
        RunUpdate::Phase { phase, .. } if phase.is_finished() => {}
        RunUpdate::Phase { at, .. } => {
            if let Err(e) = write_run_status(api, run, status, *at).await {
                tracing::warn!(run = %run.name_any(), error = %e, "could not write status");
            }
        }
        RunUpdate::Line(line) => {
            let (warning, reason, note) = event_for(line);
            ctx.event_both(run, warning, reason, note).await;
        }
    }
}
