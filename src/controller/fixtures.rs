//! Reconcile tests against a mock API server (tower-test), in the style of kube-rs'
//! controller-rs: each [`Scenario`] is the exact sequence of calls the reconcile must make —
//! method, path, parsed query pairs and body — each answered with a realistic object. A call
//! out of order or unexpected fails the test; a timeout proves none is missing.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, Resource};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::engine::{ExperimentRef, RunOptions, RunRecord, StopSignal};
use crate::observe::Time;
use crate::spec::{
    InjectionRecord, LeakExperiment, LeakExperimentStatus, LeakRun, LeakRunStatus, Phase, Trigger,
};

use super::decide::{EXPERIMENT_FINALIZER, RUN_FINALIZER, TargetPolicy};
use super::executor::{Executor, Registry, RunUpdate};
use super::metrics::Metrics;
use super::reconcile::{Context, reconcile_experiment, reconcile_run};
use super::status::new_run;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// What happened, in order: API calls (`PATCH /path`) and the fake executor's reverts.
type Log = Arc<Mutex<Vec<String>>>;

fn note(l: &Log, s: String) {
    l.lock().unwrap_or_else(|e| e.into_inner()).push(s);
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
    ) -> BoxFuture<'static, crate::Result<RunRecord>> {
        self.executed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(opts.run_id);
        Box::pin(std::future::pending())
    }
    fn revert(&self, record: InjectionRecord) -> BoxFuture<'static, crate::Result<()>> {
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

fn now() -> Time {
    "2026-11-24T11:00:01Z".parse().unwrap_or(Time::UNIX_EPOCH)
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
    let client = Client::new(svc, "default");
    let (tx, rx) = watch::channel(leader);
    let log = Log::default();
    let executed = Arc::new(Mutex::new(Vec::new()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        policy: TargetPolicy::default(),
        leader: rx,
        registry: Registry::default(),
        executor: Arc::new(FakeExecutor {
            log: log.clone(),
            fail_revert,
            executed: executed.clone(),
        }),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "oomsday-controller".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        clock: now,
    });
    Setup {
        ctx,
        handle,
        log,
        executed,
        _leader: tx,
    }
}

fn experiment(finalizer: bool, next_run_time: Option<&str>) -> LeakExperiment {
    experiment_with(finalizer, next_run_time, "Forbid")
}

fn experiment_with(finalizer: bool, next_run_time: Option<&str>, policy: &str) -> LeakExperiment {
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
    if finalizer {
        e.meta_mut().finalizers = Some(vec![EXPERIMENT_FINALIZER.into()]);
    }
    e.status = next_run_time.map(|t| LeakExperimentStatus {
        next_run_time: Some(t.into()),
        ..Default::default()
    });
    e
}

fn leak_run(phase: Phase, deadline: &str, deleting: bool) -> LeakRun {
    let exp = experiment(true, None);
    let mut r = new_run(
        &exp,
        Trigger::Schedule,
        "2026-11-24T10:00:00Z".parse().unwrap_or(now()),
        None,
    )
    .unwrap_or_else(|e| panic!("run: {e}"));
    r.meta_mut().resource_version = Some("41".into());
    r.meta_mut().uid = Some("uid-run".into());
    if deleting {
        r.meta_mut().deletion_timestamp = Some(K8sTime(now()));
    }
    r.status = Some(LeakRunStatus {
        phase,
        start_time: Some("2026-11-24T10:00:00Z".into()),
        deadline: Some(deadline.into()),
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

/// The scenarios under test, each a sequence of expected calls.
enum Scenario {
    /// A new experiment: the finalizer is added, nothing else.
    AddFinalizer(LeakExperiment),
    /// A schedule came due: list runs, create the LeakRun, Event, status.
    ScheduleDue(LeakExperiment),
    /// An orphaned run (controller restarted) that is past its deadline: revert, then status.
    RevertOrphan(LeakRun),
    /// A running LeakRun deleted: revert, status, Events, then the finalizer goes.
    DeleteRunning(LeakRun),
    /// The revert fails: the failure is written to status and an Event; the finalizer stays.
    RevertFails(LeakRun),
    /// A Pending run whose namespace is not labelled oomsday.dev/allow=true: failed, not run.
    ForbiddenNamespace(LeakRun),
    /// `oomsday.dev/run-now` on an experiment whose schedule is not due: a Manual run is
    /// created, the annotation removed, the status updated.
    ManualTrigger(LeakExperiment),
    /// Due under Replace while its previous run still leaks: that run gets the abort
    /// annotation; the new one waits (the promise is held).
    ReplaceRunning(LeakExperiment, LeakRun),
    /// Due under Forbid while its previous run still leaks: skipped, recorded, Event.
    ForbidRunning(LeakExperiment, LeakRun),
    /// A Lease held by another replica, still fresh: read only.
    LeaseHeldElsewhere,
    /// Our own Lease: renewed with a PUT carrying the resourceVersion read; `conflict` answers
    /// 409 (another replica wrote in between).
    LeaseRenew { conflict: bool },
}

struct ApiServerVerifier {
    handle: Handle,
    log: Log,
}

impl ApiServerVerifier {
    fn run(self, scenario: Scenario) -> tokio::task::JoinHandle<()> {
        let expects = match scenario {
            Scenario::AddFinalizer(e) => vec![expect(
                "PATCH",
                format!("{EXPS}/checkout-leak"),
                vec![],
                move |b| {
                    assert_eq!(
                        b,
                        &json!([
                            {"op": "test", "path": "/metadata/finalizers", "value": null},
                            {"op": "add", "path": "/metadata/finalizers", "value": [EXPERIMENT_FINALIZER]}
                        ])
                    );
                    let mut e = e.clone();
                    e.meta_mut().finalizers = Some(vec![EXPERIMENT_FINALIZER.into()]);
                    to_value(&e)
                },
            )],
            Scenario::ScheduleDue(e) => vec![
                expect(
                    "GET",
                    RUNS,
                    vec![],
                    |_| json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakRunList", "metadata": {}, "items": []}),
                ),
                expect("POST", RUNS, vec![], |b| {
                    assert_eq!(b["metadata"]["name"], "checkout-leak-20261124-110000");
                    assert_eq!(b["metadata"]["finalizers"], json!([RUN_FINALIZER]));
                    assert_eq!(b["metadata"]["ownerReferences"][0]["uid"], "uid-exp");
                    assert_eq!(b["metadata"]["ownerReferences"][0]["controller"], true);
                    assert_eq!(b["spec"]["trigger"], "Schedule");
                    assert_eq!(b["spec"]["scheduledTime"], "2026-11-24T11:00:00Z");
                    assert_eq!(b["spec"]["experimentSpec"]["target"]["name"], "checkout");
                    let mut created = b.clone();
                    created["metadata"]["creationTimestamp"] = json!("2026-11-24T11:00:01Z");
                    created["metadata"]["uid"] = json!("uid-new");
                    created
                }),
                event("RunCreated", "checkout-leak"),
                expect(
                    "PATCH",
                    format!("{EXPS}/checkout-leak/status"),
                    vec![("fieldManager", "oomsday-controller"), ("force", "true")],
                    move |b| {
                        assert_eq!(b["apiVersion"], "oomsday.dev/v1alpha1");
                        assert_eq!(b["kind"], "LeakExperiment");
                        let s = &b["status"];
                        assert_eq!(s["lastRun"], "checkout-leak-20261124-110000");
                        assert_eq!(s["activeRun"], "checkout-leak-20261124-110000");
                        assert_eq!(s["lastRunTime"], "2026-11-24T11:00:00Z");
                        assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
                        assert_eq!(s["observedGeneration"], 1);
                        let mut e = to_value(&e);
                        e["status"] = s.clone();
                        e
                    },
                ),
            ],
            Scenario::RevertOrphan(r) => vec![
                run_status(r.clone(), |s| {
                    assert_eq!(s["phase"], "Failed");
                    assert_eq!(s["reason"], "DeadlineExceeded");
                    assert_eq!(s["revertedTime"], "2026-11-24T11:00:01Z");
                    assert_eq!(s["completionTime"], "2026-11-24T11:00:01Z");
                }),
                event("Reverted", RUN_NAME),
                event("Reverted", "checkout-leak"),
            ],
            Scenario::DeleteRunning(r) => vec![
                run_status(r.clone(), |s| {
                    assert_eq!(s["phase"], "Aborted");
                    assert_eq!(s["reason"], "Deleted");
                }),
                event("Reverted", RUN_NAME),
                event("Reverted", "checkout-leak"),
                expect("PATCH", format!("{RUNS}/{RUN_NAME}"), vec![], move |b| {
                    assert_eq!(
                        b,
                        &json!({"metadata": {"finalizers": [], "resourceVersion": "41"}})
                    );
                    let mut r = to_value(&r);
                    r["metadata"]["finalizers"] = json!([]);
                    r
                }),
            ],
            Scenario::RevertFails(r) => vec![
                run_status(r.clone(), |s| {
                    assert_eq!(s["phase"], "Leaking", "the phase stays until reverted");
                    assert_eq!(s["reason"], "RevertFailed");
                    let m = s["message"].as_str().unwrap_or_default();
                    assert!(m.contains("oomsday cleanup -n shop"), "{m}");
                }),
                event("RevertFailed", RUN_NAME),
                event("RevertFailed", "checkout-leak"),
            ],
            Scenario::ForbiddenNamespace(r) => vec![
                expect("GET", "/api/v1/namespaces/shop", vec![], |_| {
                    json!({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "shop", "labels": {"team": "checkout"}}})
                }),
                run_status(r.clone(), |s| {
                    assert_eq!(s["phase"], "Failed");
                    assert_eq!(s["reason"], "TargetNotAllowed");
                }),
                event("TargetNotAllowed", RUN_NAME),
                event("TargetNotAllowed", "checkout-leak"),
            ],
            Scenario::LeaseHeldElsewhere => vec![expect(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/oomsday-system/leases/oomsday-controller",
                vec![],
                |_| {
                    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": "oomsday-controller", "namespace": "oomsday-system", "resourceVersion": "9"},
                           "spec": {"holderIdentity": "oomsday-controller-other", "leaseDurationSeconds": 15,
                                    "renewTime": "2026-11-24T11:00:00.000000Z"}})
                },
            )],
            Scenario::ManualTrigger(e) => vec![
                expect("GET", RUNS, vec![], |_| run_list(&[])),
                expect("POST", RUNS, vec![], |b| {
                    assert_eq!(b["metadata"]["name"], "checkout-leak-20261124-110001");
                    assert_eq!(b["spec"]["trigger"], "Manual");
                    assert!(b["spec"].get("scheduledTime").is_none(), "{b}");
                    b.clone()
                }),
                event("RunCreated", "checkout-leak"),
                expect("PATCH", format!("{EXPS}/checkout-leak"), vec![], {
                    let e = e.clone();
                    move |b| {
                        assert_eq!(
                            b,
                            &json!({"metadata": {"annotations": {"oomsday.dev/run-now": null}}})
                        );
                        to_value(&e)
                    }
                }),
                expect(
                    "PATCH",
                    format!("{EXPS}/checkout-leak/status"),
                    vec![("fieldManager", "oomsday-controller")],
                    move |b| {
                        let s = &b["status"];
                        assert_eq!(s["lastRun"], "checkout-leak-20261124-110001");
                        assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
                        let mut e = to_value(&e);
                        e["status"] = s.clone();
                        e
                    },
                ),
            ],
            Scenario::ReplaceRunning(e, old) => vec![
                expect("GET", RUNS, vec![], {
                    let old = old.clone();
                    move |_| run_list(std::slice::from_ref(&old))
                }),
                expect("PATCH", format!("{RUNS}/{RUN_NAME}"), vec![], move |b| {
                    assert_eq!(
                        b,
                        &json!({"metadata": {"annotations": {"oomsday.dev/abort": "replaced by the next scheduled run"}}})
                    );
                    to_value(&old)
                }),
                expect(
                    "PATCH",
                    format!("{EXPS}/checkout-leak/status"),
                    vec![("fieldManager", "oomsday-controller")],
                    move |b| {
                        let s = &b["status"];
                        assert_eq!(s["activeRun"], RUN_NAME);
                        assert_eq!(
                            s["nextRunTime"], "2026-11-24T11:00:00Z",
                            "held until the old run ends"
                        );
                        assert!(s.get("skipped").is_none(), "{s}");
                        let mut e = to_value(&e);
                        e["status"] = s.clone();
                        e
                    },
                ),
            ],
            Scenario::ForbidRunning(e, old) => vec![
                expect("GET", RUNS, vec![], move |_| {
                    run_list(std::slice::from_ref(&old))
                }),
                event("RunSkipped", "checkout-leak"),
                expect(
                    "PATCH",
                    format!("{EXPS}/checkout-leak/status"),
                    vec![("fieldManager", "oomsday-controller")],
                    move |b| {
                        let s = &b["status"];
                        assert_eq!(
                            s["skipped"],
                            json!([{"due": "2026-11-24T11:00:00Z", "reason": "ConcurrencyForbid"}])
                        );
                        assert_eq!(s["nextRunTime"], "2026-11-24T12:00:00Z");
                        let mut e = to_value(&e);
                        e["status"] = s.clone();
                        e
                    },
                ),
            ],
            Scenario::LeaseRenew { conflict } => {
                let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "oomsday-controller", "namespace": "oomsday-system", "resourceVersion": "9"},
                       "spec": {"holderIdentity": "oomsday-controller-me", "leaseDurationSeconds": 15,
                                "leaseTransitions": 2, "renewTime": "2026-11-24T10:59:56.000000Z"}});
                let path = "/apis/coordination.k8s.io/v1/namespaces/oomsday-system/leases/oomsday-controller";
                let mut put = expect("PUT", path, vec![], |b| {
                    assert_eq!(b["metadata"]["resourceVersion"], "9", "conditional write");
                    assert_eq!(b["spec"]["holderIdentity"], "oomsday-controller-me");
                    assert_eq!(b["spec"]["renewTime"], "2026-11-24T11:00:01.000000Z");
                    assert_eq!(
                        b["spec"]["leaseTransitions"], 2,
                        "a renewal is no transition"
                    );
                    if b["metadata"]["resourceVersion"] == "9" {
                        let mut l = b.clone();
                        l["metadata"]["resourceVersion"] = json!("10");
                        l
                    } else {
                        Value::Null
                    }
                });
                if conflict {
                    put.status = StatusCode::CONFLICT;
                    put.body = Box::new(|_| {
                        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                               "reason": "Conflict", "code": 409, "message": "the object has been modified"})
                    });
                }
                vec![expect("GET", path, vec![], move |_| held.clone()), put]
            }
        };
        let Self { mut handle, log } = self;
        tokio::spawn(async move {
            for e in expects {
                let (req, send) = handle
                    .next_request()
                    .await
                    .expect("an expected call was not made");
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let query: Vec<(String, String)> = req
                    .uri()
                    .query()
                    .map(|q| {
                        q.split('&')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
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
                let resp = Response::builder()
                    .status(e.status)
                    .body(Body::from(serde_json::to_vec(&answer).expect("JSON")))
                    .expect("response");
                send.send_response(resp);
            }
        })
    }
}

fn run_list(runs: &[LeakRun]) -> Value {
    json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakRunList", "metadata": {},
           "items": runs.iter().map(to_value).collect::<Vec<_>>()})
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The expected server-side apply of a LeakRun's status.
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

/// Waits for the verifier to have seen every expected call.
async fn verified(h: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(StdDuration::from_secs(1), h)
        .await
        .expect("timeout: an expected call was not made")
        .expect("the verifier failed");
}

/// Reconciles `exp` as the leader while the mock API server plays `scenario`, and proves every
/// expected call was made.
async fn reconcile_experiment_against(exp: &LeakExperiment, scenario: Scenario) {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let v = ApiServerVerifier { handle, log }.run(scenario);
    reconcile_experiment(Arc::new(exp.clone()), ctx)
        .await
        .expect("reconcile");
    verified(v).await;
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

#[tokio::test]
async fn new_experiment_gets_the_finalizer() {
    reconcile_experiment_against(
        &experiment(false, None),
        Scenario::AddFinalizer(experiment(false, None)),
    )
    .await;
}

#[tokio::test]
async fn due_schedule_creates_a_leak_run() {
    let exp = experiment(true, Some("2026-11-24T11:00:00Z"));
    reconcile_experiment_against(&exp, Scenario::ScheduleDue(exp.clone())).await;
}

#[tokio::test]
async fn restart_with_a_run_leaking_past_its_deadline_reverts_and_completes() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let run = leak_run(Phase::Leaking, "2026-11-24T10:30:00Z", false);
    let v = ApiServerVerifier {
        handle,
        log: log.clone(),
    }
    .run(Scenario::RevertOrphan(run.clone()));
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
    let l = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(
        l[0], "revert shop/checkout",
        "the revert comes first: {l:?}"
    );
    assert_eq!(l[1], format!("PATCH {RUNS}/{RUN_NAME}/status"));
}

#[tokio::test]
async fn deleting_a_running_leak_run_reverts_then_removes_the_finalizer() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, false);
    let run = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", true);
    let v = ApiServerVerifier {
        handle,
        log: log.clone(),
    }
    .run(Scenario::DeleteRunning(run.clone()));
    reconcile_run(Arc::new(run), ctx).await.expect("reconcile");
    verified(v).await;
    let l = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(l.first().map(String::as_str), Some("revert shop/checkout"));
    assert_eq!(l.last(), Some(&format!("PATCH {RUNS}/{RUN_NAME}")));
}

#[tokio::test]
async fn a_failing_revert_is_reported_and_keeps_the_finalizer() {
    let Setup {
        ctx, handle, log, ..
    } = setup(true, true);
    let run = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", true);
    let v = ApiServerVerifier { handle, log }.run(Scenario::RevertFails(run.clone()));
    // The error goes to the error policy, which retries with a delay; no finalizer patch.
    let err = reconcile_run(Arc::new(run), ctx)
        .await
        .expect_err("must fail");
    assert_eq!(err.metric_label(), "revert");
    verified(v).await;
}

#[tokio::test]
async fn a_namespace_without_the_allow_label_is_never_leaked_into() {
    let Setup {
        ctx,
        handle,
        log,
        executed,
        ..
    } = setup(true, false);
    let run = leak_run(Phase::Pending, "2026-11-24T11:30:00Z", false);
    let v = ApiServerVerifier { handle, log }.run(Scenario::ForbiddenNamespace(run.clone()));
    reconcile_run(Arc::new(run), ctx.clone())
        .await
        .expect("reconcile");
    verified(v).await;
    assert!(executed.lock().map(|e| e.is_empty()).unwrap_or(false));
    assert!(ctx.registry.is_empty());
}

#[tokio::test]
async fn a_lease_held_by_another_replica_means_no_injection() {
    // The election round reads the Lease and writes nothing.
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let log = Log::default();
    let v = ApiServerVerifier { handle, log }.run(Scenario::LeaseHeldElsewhere);
    let elector = super::lease::Elector {
        api: kube::Api::namespaced(client, "oomsday-system"),
        name: "oomsday-controller".into(),
        me: "oomsday-controller-me".into(),
        clock: now,
    };
    let mut seen = None;
    assert!(!elector.round(&mut seen).await.expect("round"));
    verified(v).await;

    // As a follower, neither a due schedule nor a Pending run leads to any call or execution.
    let Setup {
        ctx,
        mut handle,
        executed,
        ..
    } = setup(false, false);
    reconcile_experiment(
        Arc::new(experiment(true, Some("2026-11-24T11:00:00Z"))),
        ctx.clone(),
    )
    .await
    .expect("reconcile");
    reconcile_run(
        Arc::new(leak_run(Phase::Pending, "2026-11-24T11:30:00Z", false)),
        ctx.clone(),
    )
    .await
    .expect("reconcile");
    reconcile_run(
        Arc::new(leak_run(Phase::Leaking, "2026-11-24T10:30:00Z", true)),
        ctx.clone(),
    )
    .await
    .expect("reconcile");
    no_more_calls(&mut handle).await;
    assert!(executed.lock().map(|e| e.is_empty()).unwrap_or(false));
}

/// The whole path of a run on the leader, with the engine for real against the simulator:
/// namespace check, Pending, a status write at each phase, Events, and the final status with
/// the score. The API server answers everything and records it; the assertions read the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_run_drives_the_engine_and_records_phases_events_and_score() {
    use super::executor::EngineExecutor;
    use crate::sim::{ClusterModel, SimCluster};

    let root = env!("CARGO_MANIFEST_DIR");
    let model = ClusterModel::load(std::path::Path::new(&format!(
        "{root}/experiments/black-friday/cluster.yaml"
    )))
    .unwrap_or_else(|e| panic!("model: {e}"));
    let text = std::fs::read_to_string(format!(
        "{root}/experiments/black-friday/checkout-leak.yaml"
    ))
    .unwrap_or_else(|e| panic!("experiment: {e}"));
    let mut exp: LeakExperiment =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("experiment: {e}"));
    exp.meta_mut().uid = Some("uid-bf".into());
    let run = new_run(&exp, Trigger::Manual, now(), None).unwrap_or_else(|e| panic!("run: {e}"));
    let run_json = to_value(&run);

    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let calls: Arc<Mutex<Vec<(String, String, Value)>>> = Arc::default();
    let server = {
        let calls = calls.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (code, answer) = match (method.as_str(), path.as_str()) {
                    ("GET", "/api/v1/namespaces/shop") => (
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shop", "labels": {"oomsday.dev/allow": "true"}}}),
                    ),
                    ("PATCH", p) if p.ends_with("/status") => {
                        let mut r = run_json.clone();
                        r["status"] = body["status"].clone();
                        (StatusCode::OK, r)
                    }
                    ("POST", p) if p.ends_with("/events") => (StatusCode::CREATED, body.clone()),
                    _ => (
                        StatusCode::NOT_FOUND,
                        json!({"kind": "Status", "code": 404}),
                    ),
                };
                calls
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((method, path, body));
                let resp = Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap_or_default()))
                    .unwrap_or_else(|e| panic!("response: {e}"));
                send.send_response(resp);
            }
        })
    };

    let (_leader_tx, leader_rx) = watch::channel(true);
    let executor =
        EngineExecutor::new(move |_exp: Option<&ExperimentRef>| SimCluster::new(&model, 7));
    let ctx = Arc::new(Context {
        client: client.clone(),
        policy: TargetPolicy::default(),
        leader: leader_rx,
        registry: Registry::default(),
        executor: Arc::new(executor),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "oomsday-controller".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        clock: now,
    });
    reconcile_run(Arc::new(run), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(ctx.registry.len(), 1, "the run executes here");
    // The simulator's clock is virtual: the hour-long run takes moments.
    tokio::time::timeout(StdDuration::from_secs(60), async {
        while !ctx.registry.is_empty() {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run ends");
    // Let the final status write land.
    tokio::time::sleep(StdDuration::from_millis(200)).await;

    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    let statuses: Vec<&Value> = calls
        .iter()
        .filter(|(m, p, _)| m == "PATCH" && p.ends_with("/status"))
        .map(|(_, _, b)| &b["status"])
        .collect();
    let phases: Vec<&str> = statuses
        .iter()
        .filter_map(|s| s["phase"].as_str())
        .collect();
    assert_eq!(phases.first(), Some(&"Pending"), "{phases:?}");
    for p in ["Injecting", "Leaking", "Reverting", "Recovering"] {
        assert!(phases.contains(&p), "{p} missing from {phases:?}");
    }
    let last = statuses.last().expect("a final status");
    assert!(
        matches!(last["phase"].as_str(), Some("Completed" | "Aborted")),
        "{last}"
    );
    assert!(last["score"].as_u64().is_some_and(|s| s <= 100), "{last}");
    assert!(
        last["grade"].is_string() && last["verdict"].is_string(),
        "{last}"
    );
    assert!(last["revertedTime"].is_string(), "reverted: {last}");
    assert_eq!(last["injection"]["name"], "checkout");
    assert!(
        !last["timeline"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true)
    );
    let reasons: Vec<&str> = calls
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.ends_with("/events"))
        .filter_map(|(_, _, b)| b["reason"].as_str())
        .collect();
    for r in ["Injected", "Reverted", "Scored"] {
        assert!(reasons.contains(&r), "{r} missing from {reasons:?}");
    }
    // The story's cascade shows up as Events.
    assert!(
        reasons
            .iter()
            .any(|r| matches!(*r, "OOMKilled" | "Evicted")),
        "{reasons:?}"
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics
            .contains("oomsday_runs_total{namespace=\"shop\",experiment=\"checkout-black-friday\""),
        "{metrics}"
    );
    drop(ctx);
    server.abort();
}

#[tokio::test]
async fn the_leader_renews_its_lease_conditionally() {
    for conflict in [false, true] {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(svc, "default");
        let v = ApiServerVerifier {
            handle,
            log: Log::default(),
        }
        .run(Scenario::LeaseRenew { conflict });
        let elector = super::lease::Elector {
            api: kube::Api::namespaced(client, "oomsday-system"),
            name: "oomsday-controller".into(),
            me: "oomsday-controller-me".into(),
            clock: now,
        };
        let leads = elector.round(&mut None).await.expect("round");
        assert_eq!(
            leads, !conflict,
            "a 409 means another replica won this round"
        );
        verified(v).await;
    }
}

#[tokio::test]
async fn run_now_annotation_starts_a_manual_run_and_is_removed() {
    let mut exp = experiment(true, Some("2026-11-24T12:00:00Z"));
    exp.meta_mut().annotations =
        Some([("oomsday.dev/run-now".to_string(), "now".to_string())].into());
    reconcile_experiment_against(&exp, Scenario::ManualTrigger(exp.clone())).await;
}

#[tokio::test]
async fn replace_aborts_the_running_run_before_starting_the_next() {
    let exp = experiment_with(true, Some("2026-11-24T11:00:00Z"), "Replace");
    let old = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", false);
    reconcile_experiment_against(&exp, Scenario::ReplaceRunning(exp.clone(), old)).await;
}

#[tokio::test]
async fn forbid_skips_and_records_while_the_previous_run_leaks() {
    let exp = experiment_with(true, Some("2026-11-24T11:00:00Z"), "Forbid");
    let old = leak_run(Phase::Leaking, "2026-11-24T11:30:00Z", false);
    reconcile_experiment_against(&exp, Scenario::ForbidRunning(exp.clone(), old)).await;
}
