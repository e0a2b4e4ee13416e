//! The controller's tests against a mock API server (tower-test), in the style of kube-rs'
//! controller-rs. This file is the one place of the mock: [`ApiServerVerifier`] plays a
//! scenario — the exact sequence of calls a reconcile must make, each checked for method, path,
//! parsed query pairs and body and answered with a realistic object. A call out of order or
//! unexpected fails the test; a timeout proves none is missing. [`Recorder`] is the other
//! shape: it answers everything (keeping the LeakRun as the API would, JSON patches applied) and
//! records the calls, for tests of a whole run.
//!
//! The tests themselves live beside it, one file per concern.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use kube::client::Body;
use kube::runtime::events::{Recorder as EventRecorder, Reporter};
use kube::{Client, Resource};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::engine::{ExperimentRef, RunOptions, StopSignal};
use crate::observe::Time;
use crate::spec::{
    Injected, LeakExperiment, LeakExperimentStatus, LeakRun, LeakRunStatus, Phase, Trigger,
};

use super::executor::{Executed, Executor, Registry, RunUpdate};
use super::lifecycle::{RUN_FINALIZER, TargetPolicy};
use super::metrics::Metrics;
use super::reconcile::Context;
use super::status::new_run;
use crate::testkit::ts;

mod deploy;
mod engine;
mod experiment;
mod lease;
mod metrics;
mod narration;
mod run;
mod status;
mod wait;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// What happened, in order: API calls (`PATCH /path`) and the fake executor's reverts.
type Log = Arc<Mutex<Vec<String>>>;

fn note(l: &Log, s: String) {
    l.lock().unwrap_or_else(|e| e.into_inner()).push(s);
}

fn logged(l: &Log) -> Vec<String> {
    l.lock().map(|l| l.clone()).unwrap_or_default()
}

/// The engine replaced by a recorder: reverts succeed (or fail) and are logged.
struct FakeExecutor {
    log: Log,
    fail_revert: bool,
    executed: Arc<Mutex<Vec<String>>>,
}

impl Executor for FakeExecutor {
    fn execute(
        &self,
        _exp: ExperimentRef,
        opts: RunOptions,
        _stop: StopSignal,
        _updates: mpsc::UnboundedSender<RunUpdate>,
    ) -> BoxFuture<'static, Executed> {
        self.executed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(opts.run_id);
        Box::pin(std::future::pending())
    }
    fn revert(&self, record: Injected) -> BoxFuture<'static, crate::Result<()>> {
        note(
            &self.log,
            format!("revert {}/{}", record.namespace, record.name),
        );
        let fail = self.fail_revert;
        Box::pin(async move {
            if fail {
                Err(crate::Error::Invalid("apiserver said no".into()))
            } else {
                Ok(())
            }
        })
    }
}

/// The tests' fixed clock.
fn now() -> Time {
    ts("2026-11-24T11:00:01Z")
}

/// A reconcile context over `client` (a mock), leading or not, with `executor`.
fn context(client: Client, leader: watch::Receiver<bool>, executor: Arc<dyn Executor>) -> Context {
    Context {
        client: client.clone(),
        policy: TargetPolicy::default(),
        leader,
        registry: Registry::default(),
        executor,
        recorder: EventRecorder::new(
            client,
            Reporter {
                controller: "oomsday-controller".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        clock: now,
        identity: "oomsday-controller-test".into(),
    }
}

struct Setup {
    ctx: Arc<Context>,
    handle: Handle,
    log: Log,
    executed: Arc<Mutex<Vec<String>>>,
    _leader: watch::Sender<bool>,
}

fn setup(leader: bool, fail_revert: bool) -> Setup {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (tx, rx) = watch::channel(leader);
    let log = Log::default();
    let executed = Arc::new(Mutex::new(Vec::new()));
    let executor = Arc::new(FakeExecutor {
        log: log.clone(),
        fail_revert,
        executed: executed.clone(),
    });
    Setup {
        ctx: Arc::new(context(Client::new(svc, "default"), rx, executor)),
        handle,
        log,
        executed,
        _leader: tx,
    }
}

fn experiment(next_run_time: Option<&str>) -> LeakExperiment {
    experiment_with(next_run_time, "Forbid")
}

fn experiment_with(next_run_time: Option<&str>, policy: &str) -> LeakExperiment {
    let spec = serde_json::from_value(json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
        "duration": "30m",
        "schedule": {"cron": "0 0 * * * *", "timeZone": "UTC", "concurrencyPolicy": policy}
    }))
    .unwrap_or_else(|e| panic!("spec: {e}"));
    let mut e = LeakExperiment::new("checkout-leak", spec);
    e.meta_mut().namespace = Some("shop".into());
    e.meta_mut().uid = Some("uid-exp".into());
    e.meta_mut().resource_version = Some("7".into());
    e.meta_mut().generation = Some(1);
    e.status = next_run_time.map(|t| LeakExperimentStatus {
        next_run_time: Some(ts(t)),
        ..Default::default()
    });
    e
}

/// A run of [`experiment`] in `phase`, protected by the revert finalizer.
fn leak_run(phase: Phase, deadline: &str, deleting: bool) -> LeakRun {
    let exp = experiment(None);
    let mut r = new_run(&exp, Trigger::Schedule, ts("2026-11-24T10:00:00Z"), None)
        .unwrap_or_else(|e| panic!("run: {e}"));
    r.meta_mut().resource_version = Some("41".into());
    r.meta_mut().uid = Some("uid-run".into());
    r.meta_mut().generation = Some(1);
    r.meta_mut().finalizers = Some(vec![RUN_FINALIZER.into()]);
    if deleting {
        r.meta_mut().deletion_timestamp = Some(K8sTime(now()));
    }
    r.status = Some(LeakRunStatus {
        phase,
        start_time: Some(ts("2026-11-24T10:00:00Z")),
        deadline: Some(ts(deadline)),
        ..Default::default()
    });
    r
}

/// One expected call.
struct Expect {
    method: &'static str,
    path: String,
    query: Vec<(&'static str, &'static str)>,
    /// Checks the request body; returns the response body.
    body: Box<dyn Fn(&Value) -> Value + Send>,
    status: StatusCode,
}

fn expect(
    method: &'static str,
    path: impl Into<String>,
    query: Vec<(&'static str, &'static str)>,
    body: impl Fn(&Value) -> Value + Send + 'static,
) -> Expect {
    Expect {
        method,
        path: path.into(),
        query,
        body: Box::new(body),
        status: StatusCode::OK,
    }
}

/// Any Event, on the expected object (events.k8s.io/v1, created in the object's namespace).
fn event(reason: &'static str, regarding: &'static str) -> Expect {
    let mut e = expect(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/shop/events",
        vec![],
        move |b| {
            assert_eq!(b["reason"], reason, "event {b}");
            assert_eq!(b["regarding"]["name"], regarding, "event {b}");
            b.clone()
        },
    );
    e.status = StatusCode::CREATED;
    e
}

const RUNS: &str = "/apis/oomsday.dev/v1alpha1/namespaces/shop/leakruns";
const EXPS: &str = "/apis/oomsday.dev/v1alpha1/namespaces/shop/leakexperiments";
const RUN_NAME: &str = "checkout-leak-20261124-100000";
const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/oomsday-system/leases/oomsday-controller";

fn run_list(runs: &[LeakRun]) -> Value {
    json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakRunList", "metadata": {},
           "items": runs.iter().map(to_value).collect::<Vec<_>>()})
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The expected server-side apply of a LeakRun's status; answers with the run carrying it.
fn run_status(r: LeakRun, check: impl Fn(&Value) + Send + 'static) -> Expect {
    expect(
        "PATCH",
        format!("{RUNS}/{RUN_NAME}/status"),
        vec![("fieldManager", "oomsday-controller"), ("force", "true")],
        move |b| {
            assert_eq!(b["kind"], "LeakRun");
            check(&b["status"]);
            let mut r = to_value(&r);
            r["status"] = b["status"].clone();
            r
        },
    )
}

/// The expected status write of the experiment; answers with the experiment carrying it.
fn experiment_status(e: LeakExperiment, check: impl Fn(&Value) + Send + 'static) -> Expect {
    expect(
        "PATCH",
        format!("{EXPS}/checkout-leak/status"),
        vec![("fieldManager", "oomsday-controller"), ("force", "true")],
        move |b| {
            assert_eq!(b["apiVersion"], "oomsday.dev/v1alpha1");
            assert_eq!(b["kind"], "LeakExperiment");
            let s = &b["status"];
            check(s);
            let mut e = to_value(&e);
            e["status"] = s.clone();
            e
        },
    )
}

/// The expected removal of finalizer `name` at index 0 of the object at `path` (a JSON patch
/// conditional on it being there), answered with `obj` without it.
fn finalizer_removed(path: String, name: &'static str, obj: Value) -> Expect {
    expect("PATCH", path, vec![], move |b| {
        assert_eq!(
            b,
            &json!([
                {"op": "test", "path": "/metadata/finalizers/0", "value": name},
                {"op": "remove", "path": "/metadata/finalizers/0"}
            ])
        );
        let mut o = obj.clone();
        o["metadata"]["finalizers"] = json!([]);
        o
    })
}

/// The status of a condition in a status body.
fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Plays `expects` in order on the mock's other end.
struct ApiServerVerifier {
    handle: Handle,
    log: Log,
}

impl ApiServerVerifier {
    fn run(self, expects: Vec<Expect>) -> tokio::task::JoinHandle<()> {
        let Self { mut handle, log } = self;
        tokio::spawn(async move {
            for e in expects {
                let (req, send) = handle
                    .next_request()
                    .await
                    .expect("an expected call was not made");
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let query = query_pairs(req.uri().query());
                assert_eq!(
                    (method.as_str(), path.as_str()),
                    (e.method, e.path.as_str())
                );
                for (k, v) in &e.query {
                    assert!(
                        query.iter().any(|(qk, qv)| qk == k && qv == v),
                        "{method} {path}: query {query:?} lacks {k}={v}"
                    );
                }
                note(&log, format!("{method} {path}"));
                let bytes = req.into_body().collect_bytes().await.expect("body");
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("JSON body")
                };
                let answer = (e.body)(&body);
                send.send_response(respond(e.status, &answer));
            }
        })
    }
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
    .unwrap_or_default()
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap_or_default()))
        .unwrap_or_else(|e| panic!("response: {e}"))
}

/// Waits for the verifier to have seen every expected call.
async fn verified(h: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(StdDuration::from_secs(1), h)
        .await
        .expect("timeout: an expected call was not made")
        .expect("the verifier failed");
}

/// Proves that no (further) call is made.
async fn no_more_calls(handle: &mut Handle) {
    let r = tokio::time::timeout(StdDuration::from_millis(200), handle.next_request()).await;
    // Timed out, or every client is gone with nothing queued: either way, no call was made.
    assert!(
        matches!(r, Err(_) | Ok(None)),
        "an unexpected API call was made: {:?}",
        r.ok()
            .flatten()
            .map(|(req, _)| format!("{} {}", req.method(), req.uri()))
    );
}

/// One call the [`Recorder`] saw, with the LeakRun as stored after it.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    body: Value,
    /// The run's finalizers after the call.
    finalizers: Value,
}

/// A mock API server that answers everything a run's reconciles do, keeping the LeakRun as the
/// API would (status applies, JSON patches of its metadata), and records every call.
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Serves `handle`, starting from `run`; the target namespace carries `ns_labels`.
    fn start(mut handle: Handle, run: &LeakRun, ns_labels: Value) -> Recorder {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let stored = Arc::new(Mutex::new(to_value(run)));
        let task = {
            let calls = calls.clone();
            tokio::spawn(async move {
                while let Some((req, send)) = handle.next_request().await {
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
                    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let (code, answer, finalizers) =
                        Self::answer(&stored, &method, &path, &body, &ns_labels);
                    calls.lock().unwrap_or_else(|e| e.into_inner()).push(Call {
                        method,
                        path,
                        body,
                        finalizers,
                    });
                    send.send_response(respond(code, &answer));
                }
            })
        };
        Recorder { calls, task }
    }

    fn answer(
        stored: &Mutex<Value>,
        method: &str,
        path: &str,
        body: &Value,
        ns_labels: &Value,
    ) -> (StatusCode, Value, Value) {
        let mut run = stored.lock().unwrap_or_else(|e| e.into_inner());
        let (code, answer) = match (method, path) {
            ("GET", "/api/v1/namespaces/shop") => (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "shop", "labels": ns_labels}}),
            ),
            ("PATCH", p) if p.starts_with(RUNS) && p.ends_with("/status") => {
                run["status"] = body["status"].clone();
                (StatusCode::OK, run.clone())
            }
            ("PATCH", p) if p.starts_with(RUNS) && body.is_array() => {
                // The API server's JSON patch, as the fake API server applies it.
                match oomsday_testkit::json_patch(&mut run, body) {
                    Ok(()) => (StatusCode::OK, run.clone()),
                    Err(e) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"kind": "Status", "code": 422, "message": e.to_string()}),
                    ),
                }
            }
            ("POST", p) if p.ends_with("/events") => (StatusCode::CREATED, body.clone()),
            _ => (
                StatusCode::NOT_FOUND,
                json!({"kind": "Status", "code": 404, "message": "not found"}),
            ),
        };
        (code, answer, run["metadata"]["finalizers"].clone())
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
