//! Pure decisions about runs and targets: what a LeakRun needs now (protect it with the revert
//! finalizer, start, stop, revert, finish, release the finalizer, nothing), whether a namespace
//! may be targeted, and which finished runs the history limit deletes. The reconcilers only
//! carry these out.
//!
//! # The revert finalizer
//! `oomsday.dev/revert` is on a LeakRun exactly while an injection of it may be live: it is
//! added just before the engine may inject (a Pending run is not protected: nothing of it is in
//! the cluster) and removed as soon as the run is finished and its revert confirmed, or nothing
//! was ever injected. A finished run therefore carries no finalizer, and deleting its namespace
//! (or uninstalling oomsday) never waits for a controller. Runs written by older versions, which
//! carried the finalizer for life, lose it on their next reconcile ([`RunAction::Release`]).
//!
//! kube's `finalizer()` helper is not used for LeakRuns on purpose: it keeps the finalizer for
//! the object's whole life, which is what trapped namespaces (issue 11).

use std::collections::BTreeMap;

use crate::observe::Time;
use crate::spec::{Injected, LeakRun, LeakRunStatus, Phase, RunReason};

use super::schedule::ActiveRun;
use crate::spec::WorkloadRef;

/// Namespaces never targeted unless both the experiment and the controller allow it (the
/// same list the kube cluster's preflight refuses).
pub use crate::cluster::kube::SYSTEM_NAMESPACES;
/// The keys the controller reads and writes: see [`crate::keys`].
pub use crate::keys::{
    ABORT_ANNOTATION, ALLOW_LABEL, LEGACY_EXPERIMENT_FINALIZER, RUN_FINALIZER, RUN_NOW_ANNOTATION,
};

/// Where the controller may leak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Require the `oomsday.dev/allow=true` label on the target namespace.
    pub require_allow_label: bool,
    /// The controller's own consent to system namespaces (the experiment must consent too).
    pub allow_system_namespaces: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy {
            require_allow_label: true,
            allow_system_namespaces: false,
        }
    }
}

/// Whether `namespace` (with its labels) may be targeted by an experiment that does or does
/// not allow system namespaces; `Err` says why not.
pub fn decide_target_allowed(
    policy: &TargetPolicy,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    experiment_allows_system: bool,
) -> Result<(), String> {
    if SYSTEM_NAMESPACES.contains(&namespace)
        && !(experiment_allows_system && policy.allow_system_namespaces)
    {
        return Err(format!(
            "namespace {namespace} is a system namespace: both spec.allowSystemNamespaces and \
             the controller's --allow-system-namespaces are needed"
        ));
    }
    if policy.require_allow_label && labels.get(ALLOW_LABEL).map(String::as_str) != Some("true") {
        return Err(format!(
            "namespace {namespace} is not labelled {ALLOW_LABEL}=true"
        ));
    }
    Ok(())
}

/// What a LeakRun needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAction {
    /// Nothing (finished, not the leader, or running here with nothing to change).
    Nothing,
    /// A Pending run about to start: put the revert finalizer on first.
    Protect,
    /// Start the engine on it (a Pending run nobody is executing, protected).
    Start,
    /// It runs here: ask the engine to stop (it reverts), then wait.
    Stop { reason: RunReason, detail: String },
    /// Nobody executes it but an injection may be in place: revert it, then mark it finished
    /// and release the finalizer.
    RevertAndFinish {
        record: Injected,
        phase: Phase,
        reason: RunReason,
        message: String,
    },
    /// Nobody executes it and nothing is in place: mark it finished.
    Finish {
        phase: Phase,
        reason: RunReason,
        message: String,
    },
    /// Nothing of it is or may be live any more, and it carries the finalizer: remove it.
    Release,
}

/// Whether a run's status says an injection of it may still be live (a revert is owed).
pub fn revert_owed(status: &LeakRunStatus) -> bool {
    if status.reverted_time.is_some() {
        return false;
    }
    if status.phase.is_finished() {
        // Ended without its revert succeeding (the engine gave up, or died).
        status.injection.is_some()
            && matches!(
                status.reason,
                Some(RunReason::RevertFailed | RunReason::EngineFailed)
            )
    } else {
        status.phase.may_be_injected() || status.injection.is_some()
    }
}

fn has_finalizer(run: &LeakRun) -> bool {
    run.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == RUN_FINALIZER))
}

/// What a run needs, given whether this replica executes it and leads.
///
/// After a controller restart (or a leader change), a run nobody executes is *resumed* only if
/// it never injected (Pending: it simply starts). A run that may have a leak in place is
/// reverted and finished: its abort rules were not watched while no controller ran it, so its
/// observations cannot be trusted and the leak must not go on unwatched. `reason` is
/// `DeadlineExceeded` when its deadline has passed, `ControllerRestarted` otherwise.
pub fn decide_run(run: &LeakRun, executing_here: bool, leader: bool, now: Time) -> RunAction {
    let status = run.status.clone().unwrap_or_default();
    let deleting = run.metadata.deletion_timestamp.is_some();
    let abort = run
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ABORT_ANNOTATION));
    if executing_here {
        return if deleting {
            RunAction::Stop {
                reason: RunReason::Signal,
                detail: "the LeakRun is being deleted".into(),
            }
        } else if let Some(v) = abort {
            RunAction::Stop {
                reason: RunReason::AbortAnnotation,
                detail: format!("annotation {ABORT_ANNOTATION}={v}"),
            }
        } else {
            RunAction::Nothing
        };
    }
    if !leader {
        // A deleted run's revert is also leader's work: followers never touch workloads.
        return RunAction::Nothing;
    }
    if revert_owed(&status) {
        return revert_orphan(run, &status, deleting, now);
    }
    if has_finalizer(run) && (deleting || status.phase.is_finished()) {
        return RunAction::Release;
    }
    match status.phase {
        _ if deleting => RunAction::Nothing,
        p if p.is_finished() => RunAction::Nothing,
        Phase::Pending if abort.is_some() => RunAction::Finish {
            phase: Phase::Aborted,
            reason: RunReason::AbortAnnotation,
            message: "aborted before it started".into(),
        },
        Phase::Pending if !has_finalizer(run) => RunAction::Protect,
        Phase::Pending => RunAction::Start,
        // Reverted already (Recovering, Scoring) but nobody finishes it: recovery was not
        // watched, so there is nothing to score.
        _ => RunAction::Finish {
            phase: Phase::Aborted,
            reason: RunReason::ControllerRestarted,
            message: "the controller restarted after the revert; recovery was not watched".into(),
        },
    }
}

/// The revert of a run whose injection may be live and that nobody executes.
fn revert_orphan(run: &LeakRun, status: &LeakRunStatus, deleting: bool, now: Time) -> RunAction {
    let deadline = status.deadline.or_else(|| {
        status
            .injection
            .as_ref()
            .and_then(|i| i.deadline.parse::<Time>().ok())
    });
    let (phase, reason, message) = if status.phase.is_finished() {
        (
            status.phase,
            RunReason::RevertFailed,
            "the revert failed during the run; a later attempt took the leaker out",
        )
    } else if deleting {
        (
            Phase::Aborted,
            RunReason::Deleted,
            "the LeakRun was deleted while its leak was in place; reverted",
        )
    } else if deadline.is_some_and(|d| d <= now) {
        (
            Phase::Failed,
            RunReason::DeadlineExceeded,
            "the controller was not running this run when its deadline passed; reverted",
        )
    } else {
        (
            Phase::Aborted,
            RunReason::ControllerRestarted,
            "the controller restarted while this run leaked: its abort rules went unwatched, so \
             it was reverted instead of resumed",
        )
    };
    RunAction::RevertAndFinish {
        record: injection_record(run, deadline),
        phase,
        reason,
        message: message.into(),
    }
}

/// The injection to revert for a run: its recorded one, or — when the controller died between
/// injecting and writing status — the one the engine would have made (same run id, container
/// and target; revert is idempotent, so reverting what was never applied is harmless).
pub fn injection_record(run: &LeakRun, deadline: Option<Time>) -> Injected {
    if let Some(r) = run.status.as_ref().and_then(|s| s.injection.clone()) {
        return r;
    }
    let spec = &run.spec.experiment_spec;
    Injected {
        mode: spec.injection.mode,
        namespace: run.metadata.namespace.clone().unwrap_or_default(),
        kind: spec.target.kind,
        name: spec.target.name.clone(),
        container: crate::keys::LEAKER_CONTAINER.to_string(),
        image: spec.injection.image().to_string(),
        run_id: run.metadata.name.clone().unwrap_or_default(),
        deadline: deadline.map(|d| d.to_string()).unwrap_or_default(),
        pods: Vec::new(),
    }
}

/// A run as the scheduler sees it, when it is not finished.
pub fn active_run(run: &LeakRun) -> Option<ActiveRun> {
    let phase = run.status.as_ref().map(|s| s.phase).unwrap_or_default();
    if phase.is_finished() {
        return None;
    }
    Some(ActiveRun {
        name: run.metadata.name.clone()?,
        experiment: run.spec.experiment.clone(),
        target: WorkloadRef {
            namespace: run.metadata.namespace.clone()?,
            kind: run.spec.experiment_spec.target.kind,
            name: run.spec.experiment_spec.target.name.clone(),
        },
    })
}

/// The finished runs of one experiment beyond its history limit, oldest first: these are
/// deleted. Runs in progress are never counted or deleted.
pub fn decide_history(runs: &[LeakRun], experiment: &str, limit: u32) -> Vec<String> {
    let mut finished: Vec<(&str, String)> = runs
        .iter()
        .filter(|r| r.spec.experiment == experiment)
        .filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_finished()))
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter_map(|r| {
            let name = r.metadata.name.as_deref()?;
            // Names end in the start time, so they sort by age even without a creation time.
            let key = r
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            Some((name, key))
        })
        .collect();
    finished.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
    let excess = finished.len().saturating_sub(limit as usize);
    finished
        .into_iter()
        .take(excess)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// The name of a run started at `at`: `<experiment>-<yyyymmdd-hhmmss>` (UTC). It is also the
/// run id the workload is marked with, a label value, so the experiment part is shortened to
/// keep the whole at most 63 characters. A scheduled run is named after its fire time, so
/// creating it twice (a status write lost after the create) conflicts instead of starting two.
pub fn run_name(experiment: &str, at: Time) -> String {
    let stamp = at.strftime("%Y%m%d-%H%M%S").to_string();
    let mut base = experiment.to_string();
    base.truncate(63 - stamp.len() - 1);
    let base = base.trim_end_matches(['-', '.']);
    format!("{base}-{stamp}")
}

#[cfg(test)]
mod tests;
