//! The LeakExperiment reconciler: the manual trigger (`oomsday.dev/run-now`), the schedule,
//! the history limit and the status with its conditions. An experiment carries no finalizer:
//! its runs are garbage-collected with it (owner references), and a run whose leak may be live
//! carries its own revert finalizer. The finalizer older versions put on experiments is removed.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::observe::Time;
use crate::spec::{LeakExperiment, LeakRun, Trigger};

use super::super::lease::RENEW_PERIOD;
use super::super::lifecycle::{
    ABORT_ANNOTATION, LEGACY_EXPERIMENT_FINALIZER, RUN_NOW_ANNOTATION, active_run, decide_history,
};
use super::super::schedule::{ActiveRun, ScheduleAction, decide_manual, decide_schedule};
use super::super::status::{ScheduleOutcome, experiment_status, new_run, status_patch};
use super::{Context, Error, call, duration_until, is_status, remove_finalizer, ssa};
use crate::spec::WorkloadRef;

/// Requeue of an experiment without a schedule (status stays fresh).
const IDLE_REQUEUE: StdDuration = StdDuration::from_secs(300);

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
    // Experiments from older versions: their finalizer goes, deleted or not.
    remove_finalizer(&api, &*exp, LEGACY_EXPERIMENT_FINALIZER).await?;
    let res = if exp.metadata.deletion_timestamp.is_some() {
        ctx.metrics.forget(&ns, &exp.name_any());
        Ok(Action::await_change())
    } else {
        apply_experiment(&exp, &ctx, &ns).await
    };
    ctx.metrics
        .reconcile_duration("LeakExperiment", started.elapsed());
    res
}

async fn apply_experiment(exp: &LeakExperiment, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let name = exp.name_any();
    let exps: Api<LeakExperiment> = Api::namespaced(ctx.client.clone(), ns);
    let runs_api: Api<LeakRun> = Api::namespaced(ctx.client.clone(), ns);
    let mut runs = call("list LeakRuns", runs_api.list(&ListParams::default()))
        .await?
        .items;
    let target = WorkloadRef {
        namespace: ns.to_string(),
        kind: exp.spec.target.kind,
        name: exp.spec.target.name.clone(),
    };
    if exp.annotations().contains_key(RUN_NOW_ANNOTATION) {
        manual_trigger(exp, ctx, &runs_api, &target, &mut runs, now).await?;
        let patch = serde_json::json!({"metadata": {"annotations": {RUN_NOW_ANNOTATION: null}}});
        call(
            "remove the run-now annotation",
            exps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
    }

    let (outcome, replacing) = schedule(exp, ctx, &runs_api, &target, &mut runs, now).await?;

    let limit = exp
        .spec
        .schedule
        .as_ref()
        .map(|s| s.history_limit)
        .unwrap_or(10);
    for old in decide_history(&runs, &name, limit) {
        match call(
            "delete an old LeakRun",
            runs_api.delete(&old, &DeleteParams::default()),
        )
        .await
        {
            Ok(_) => {}
            // Deleted meanwhile (by a person, or the previous reconcile).
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
        runs.retain(|r| r.metadata.name.as_deref() != Some(&old));
    }

    let old = exp.status.clone().unwrap_or_default();
    let new_status = experiment_status(exp, &runs, &outcome, now);
    if new_status != old {
        let patch = status_patch("LeakExperiment", &new_status);
        call(
            "write LeakExperiment status",
            exps.patch_status(&name, &ssa(), &Patch::Apply(&patch)),
        )
        .await?;
    }
    if let Some(s) = new_status.last_score {
        ctx.metrics.set_last_score(ns, &name, s);
    }
    Ok(match outcome.next_run_time {
        _ if replacing => Action::requeue(StdDuration::from_secs(2)),
        Some(at) => Action::requeue(duration_until(now, at)),
        None => Action::requeue(IDLE_REQUEUE),
    })
}

fn actives(runs: &[LeakRun]) -> Vec<ActiveRun> {
    runs.iter().filter_map(active_run).collect()
}

/// A manual trigger: start now unless the workload is busy.
async fn manual_trigger(
    exp: &LeakExperiment,
    ctx: &Context,
    runs_api: &Api<LeakRun>,
    target: &WorkloadRef,
    runs: &mut Vec<LeakRun>,
    now: Time,
) -> Result<(), Error> {
    let eref = exp.object_ref(&());
    match decide_manual(target, &actives(runs)) {
        Ok(()) => {
            let run = new_run(exp, Trigger::Manual, now, None)?;
            let created = create_run(runs_api, &run).await?;
            let note = format!("manual run {}", created.name_any());
            ctx.event(&eref, false, "RunCreated", note).await;
            runs.push(created);
        }
        Err(reason) => {
            let note = format!("{}: another run leaks into the workload", reason.as_str());
            ctx.event(&eref, true, "TriggerRefused", note).await;
        }
    }
    Ok(())
}

/// The schedule's decision, carried out; returns what the status says about it and whether
/// runs are being replaced (then the experiment looks again shortly).
async fn schedule(
    exp: &LeakExperiment,
    ctx: &Context,
    runs_api: &Api<LeakRun>,
    target: &WorkloadRef,
    runs: &mut Vec<LeakRun>,
    now: Time,
) -> Result<(ScheduleOutcome, bool), Error> {
    let eref: ObjectReference = exp.object_ref(&());
    let status = exp.status.clone().unwrap_or_default();
    let d = match decide_schedule(
        exp.spec.schedule.as_ref(),
        &exp.name_any(),
        target,
        &status,
        &actives(runs),
        now,
    ) {
        Ok(d) => d,
        Err(e) => {
            ctx.event(&eref, true, "InvalidSchedule", e.to_string())
                .await;
            let outcome = ScheduleOutcome {
                error: Some(e.to_string()),
                ..Default::default()
            };
            return Ok((outcome, false));
        }
    };
    let mut replacing = false;
    match &d.action {
        ScheduleAction::Idle => {}
        ScheduleAction::Start { due } => {
            let run = new_run(exp, Trigger::Schedule, *due, Some(*due))?;
            let created = create_run(runs_api, &run).await?;
            let note = format!("scheduled run {} (due {due})", created.name_any());
            ctx.event(&eref, false, "RunCreated", note).await;
            runs.push(created);
        }
        ScheduleAction::Replace { abort, .. } => {
            replacing = true;
            for r in abort {
                annotate_abort(runs_api, r, "replaced by the next scheduled run").await?;
            }
        }
    }
    for (due, reason) in &d.skipped {
        let note = format!("run due {due}: {}", reason.as_str());
        ctx.event(&eref, false, "RunSkipped", note).await;
    }
    let outcome = ScheduleOutcome {
        next_run_time: d.next_run_time,
        skipped: d.skipped,
        error: None,
    };
    Ok((outcome, replacing))
}

/// Creates a run; one that already exists (a retry after a lost status write) is returned as is.
async fn create_run(api: &Api<LeakRun>, run: &LeakRun) -> Result<LeakRun, Error> {
    match call("create a LeakRun", api.create(&PostParams::default(), run)).await {
        Ok(r) => Ok(r),
        Err(e) if is_status(&e, 409) => call("get a LeakRun", api.get(&run.name_any())).await,
        Err(e) => Err(e),
    }
}

async fn annotate_abort(api: &Api<LeakRun>, name: &str, why: &str) -> Result<(), Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {ABORT_ANNOTATION: why}}});
    call(
        "annotate a LeakRun to abort",
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await?;
    Ok(())
}
