//! The two reconcilers — [`reconcile_experiment`] (schedule, manual trigger, history, status;
//! no finalizer) and [`reconcile_run`] (the revert finalizer while a leak may be live; start on
//! the leader, stop on abort or deletion, revert orphans) — and what they share: the
//! [`Context`], Events, API calls bounded by the one timeout helper, finalizer patches and
//! status writes. They carry out the pure decisions of [`super::lifecycle`] and
//! [`super::schedule`]; every status write is a server-side apply with [`FIELD_MANAGER`].

use std::sync::Arc;
use std::time::Duration as StdDuration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KEvent, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::observe::Time;
use crate::spec::{LeakRun, LeakRunStatus};

use super::Error;
use super::executor::{Executor, Registry};
use super::lifecycle::TargetPolicy;
use super::metrics::Metrics;
use super::status::{experiment_ref, status_patch, with_conditions};

mod experiment;
mod run;

pub use experiment::reconcile_experiment;
pub use run::reconcile_run;

/// The field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "oomsday-controller";
/// Timeout of one API call.
const API_TIMEOUT: StdDuration = StdDuration::from_secs(10);

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
    /// This replica's name: who reverted a run (`status.revertedBy`).
    pub identity: String,
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
        if let Err(e) = call("publish an Event", self.recorder.publish(&ev, on)).await {
            tracing::warn!(reason, error = %e, "could not publish an Event");
        }
    }

    /// An Event on a run and on its experiment (there prefixed with the run's name).
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

/// One API call, bounded by the one timeout helper.
async fn call<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    crate::retry::timeout(API_TIMEOUT, what, f)
        .await
        .map_err(|e| match e {
            crate::Error::Kube(k) => Error::Kube(k),
            crate::Error::Timeout { what, after } => Error::Timeout { what, after },
            other => Error::Lib(other),
        })
}

/// Whether an API error has this HTTP status.
fn is_status(e: &Error, code: u16) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == code)
}

fn ssa() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn duration_until(now: Time, at: Time) -> StdDuration {
    StdDuration::try_from(at.duration_since(now))
        .unwrap_or_default()
        .max(StdDuration::from_secs(1))
}

/// Adds `finalizer` to `obj`, conditionally on the finalizers read (a JSON patch whose `test`
/// fails with 422 when someone changed them meanwhile: the change requeues and we look again).
async fn add_finalizer<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let ops = match &obj.meta().finalizers {
        None => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ]),
        Some(current) => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": current},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]),
    };
    let patch: json_patch::Patch = serde_json::from_value(ops)?;
    call(
        "add a finalizer",
        api.patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        ),
    )
    .await?;
    Ok(())
}

/// Removes `finalizer` from `obj` if it carries it, conditionally on its position (as kube's
/// `finalizer()` helper does). An object already gone is fine.
async fn remove_finalizer<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(i) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "test", "path": path, "value": finalizer},
        {"op": "remove", "path": path},
    ]))?;
    match call(
        "remove a finalizer",
        api.patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        ),
    )
    .await
    {
        Err(e) if is_status(&e, 404) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Writes a run's status, its conditions brought up to date first (they stay in `s`, so the
/// next write keeps their transition times); returns the object as stored.
async fn write_run_status(
    api: &Api<LeakRun>,
    run: &LeakRun,
    s: &mut LeakRunStatus,
    now: Time,
) -> Result<LeakRun, Error> {
    *s = with_conditions(std::mem::take(s), run, now);
    let patch = status_patch("LeakRun", &*s);
    call(
        "write LeakRun status",
        api.patch_status(&run.name_any(), &ssa(), &Patch::Apply(&patch)),
    )
    .await
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
