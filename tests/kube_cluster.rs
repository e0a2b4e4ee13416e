//! The real-cluster side of oomsday (`KubeCluster`) against a mock API server, and against a live
//! cluster.
//!
//! Mock tests (run by `cargo test`): the test kit's fake API server behind `kube::Client` plays the
//! API server, every answer scripted: each test routes requests by method and path, answers with objects shaped as a
//! real API server returns them, records every request, and asserts on the ones that matter:
//! path, parsed query pairs (never whole URIs), content type and body.
//!
//! Live tests are `#[ignore = "uses k8s current-context"]`. Run them against a throwaway cluster
//! (kind, minikube, k3d) with:
//!
//! ```sh
//! kubectl create namespace oomsday-live-test
//! cargo test --test kube_cluster -- --ignored
//! ```
//!
//! They create a Deployment `oomsday-live` in namespace `oomsday-live-test`, inject the leaker,
//! check the container and marks are there, revert, check they are gone and that a label another
//! field manager added during the run survived, and delete the Deployment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oomsday::Error;
use oomsday::cluster::KubeCluster;
use oomsday::cluster::kube::CallPolicy;
use oomsday::engine::{Cluster, InjectionPlan};
use oomsday::inject::{revert_patch, sidecar_patch};
use oomsday::observe::{Happening, Time, Timeline};
use oomsday::spec::{LeakExperimentSpec, TargetKind};
use oomsday_testkit::{ApiServer, Reply, Seen};
use serde_json::{Value, json};

/// What the mock answers: a JSON object with a status code, or a watch stream of events.
enum Answer {
    Json(u16, Value),
    Stream(Vec<Value>),
}

impl Answer {
    fn reply(self) -> Reply {
        match self {
            Answer::Json(code, v) => Reply::json(code, &v),
            Answer::Stream(events) => Reply::events(&events),
        }
    }
}

type Router = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

/// Starts the mock API server; returns the cluster wired to it and the server (its request
/// log).
fn mock(router: Router) -> (KubeCluster, ApiServer) {
    let api = ApiServer::new();
    api.answer(move |s| Some(router(s).reply()));
    let cluster = KubeCluster::new(api.client(), "mock").with_policy(CallPolicy {
        timeout: Duration::from_secs(2),
        attempts: 4,
        backoff: Duration::from_millis(5),
    });
    (cluster, api)
}

fn status(code: u16, reason: &str, message: &str) -> Answer {
    Answer::Json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Answer {
    Answer::Json(
        200,
        json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "100"}, "items": items}),
    )
}

fn deployment(marks: bool) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": 2, "resourceVersion": "100",
                     "uid": "d-1", "labels": {"app": "checkout"}, "annotations": {}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "checkout"}},
                 "template": {"metadata": {"labels": {"app": "checkout"}},
                              "spec": {"containers": [{"name": "app", "image": "checkout:1"}]}}},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                   "readyReplicas": 2, "availableReplicas": 2}
    });
    if marks {
        d["metadata"]["annotations"] = json!({"oomsday.dev/run-id": "other-run",
                                              "oomsday.dev/deadline": "2999-01-01T00:00:00Z"});
    }
    d
}

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/checkout";
const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// A cluster where everything is allowed, the target exists, lists are empty and watches end
/// at once; `extra` answers first when it has something to say.
fn healthy(extra: impl Fn(&Seen) -> Option<Answer> + Send + Sync + 'static) -> Router {
    Arc::new(move |s: &Seen| {
        if let Some(a) = extra(s) {
            return a;
        }
        match (s.method.as_str(), s.path.as_str()) {
            ("POST", SSAR) => {
                let mut review = s.body.clone();
                review["status"] = json!({"allowed": true});
                Answer::Json(201, review)
            }
            ("GET", DEPLOYMENT) => Answer::Json(200, deployment(false)),
            ("PATCH", DEPLOYMENT) => Answer::Json(200, deployment(false)),
            ("GET", "/apis/apps/v1/namespaces/shop/deployments") if s.is_watch() => {
                Answer::Stream(vec![])
            }
            ("GET", "/apis/apps/v1/namespaces/shop/deployments") => {
                list("DeploymentList", "apps/v1", vec![deployment(false)])
            }
            ("GET", _) if s.is_watch() => Answer::Stream(vec![]),
            ("GET", p)
                if p.ends_with("/pods") || p.ends_with("/nodes") || p.ends_with("/events") =>
            {
                list("List", "v1", vec![])
            }
            ("GET", _) => list("List", "v1", vec![]),
            _ => status(404, "NotFound", "not found"),
        }
    })
}

fn plan(mode: &str) -> InjectionPlan {
    let spec: LeakExperimentSpec = serde_saphyr::from_str(&format!(
        "
target: {{kind: Deployment, name: checkout}}
injection: {{mode: {mode}, pods: 1}}
leak: {{pattern: linear, rate: 40Mi/min, start: 64Mi, max: 2Gi}}
duration: 30m
"
    ))
    .unwrap();
    InjectionPlan {
        run_id: "checkout-leak-7f3a".into(),
        namespace: "shop".into(),
        spec,
        deadline: "2999-01-01T00:00:00Z".parse().unwrap(),
        started: oomsday::observe::Time::now(),
    }
}

fn patches(log: &ApiServer) -> Vec<Seen> {
    log.requests()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn inject_applies_exactly_the_sidecar_patch_and_revert_takes_it_out() {
    let (mut cluster, log) = mock(healthy(|_| None));
    cluster.set_experiment("black-friday");
    let p = plan("sidecar");
    let defences = cluster.preflight(&p).await.unwrap();
    assert_eq!((defences.replicas, defences.name.as_str()), (2, "checkout"));
    let record = cluster.inject(&p).await.unwrap();
    assert_eq!(record.container, "oomsday-leaker");

    let applied = patches(&log);
    assert_eq!(applied.len(), 1, "{applied:#?}");
    let a = &applied[0];
    assert_eq!(a.path, DEPLOYMENT);
    assert_eq!(a.q("fieldManager"), Some("oomsday"));
    assert_eq!(a.q("force"), None, "oomsday never forces ownership");
    assert_eq!(a.q("dryRun"), None);
    assert_eq!(a.content_type, "application/apply-patch+yaml");
    assert_eq!(a.body, sidecar_patch(&p, "black-friday").unwrap());

    cluster.revert(&record).await.unwrap();
    let applied = patches(&log);
    assert_eq!(applied.len(), 2);
    let r = &applied[1];
    assert_eq!(r.path, DEPLOYMENT);
    assert_eq!(r.q("fieldManager"), Some("oomsday"));
    assert_eq!(r.q("force"), None);
    assert_eq!(
        r.body,
        revert_patch(TargetKind::Deployment, "shop", "checkout")
    );
    // Idempotent: reverting again sends the same harmless apply.
    cluster.revert(&record).await.unwrap();
    assert_eq!(patches(&log)[2].body, r.body);
}

#[tokio::test]
async fn revert_of_a_deleted_workload_is_a_no_op() {
    let (mut cluster, log) = mock(healthy(|s| {
        (s.method == "GET" && s.path == DEPLOYMENT).then(|| status(404, "NotFound", "gone"))
    }));
    let record = plan("sidecar").record();
    cluster.revert(&record).await.unwrap();
    assert!(patches(&log).is_empty());
}

#[tokio::test]
async fn dry_run_sends_the_patch_with_server_side_dry_run() {
    let (mut cluster, log) = mock(healthy(|_| None));
    let p = plan("sidecar");
    let yaml = cluster.dry_run(&p).await.unwrap();
    let applied = patches(&log);
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].q("dryRun"), Some("All"));
    assert_eq!(applied[0].q("fieldManager"), Some("oomsday"));
    assert!(yaml.contains("name: oomsday-leaker"), "{yaml}");
    assert!(
        yaml.contains("oomsday.dev/run-id: checkout-leak-7f3a"),
        "{yaml}"
    );
    // What is shown is what was sent.
    let shown: Value = serde_saphyr::from_str(
        yaml.split("\n")
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap();
    assert_eq!(shown, applied[0].body);
}

#[tokio::test]
async fn ephemeral_injection_attaches_to_the_chosen_running_pods() {
    let pods = json!([
        {"metadata": {"name": "checkout-a", "namespace": "shop", "labels": {"app": "checkout"}}, "status": {"phase": "Running"}},
        {"metadata": {"name": "checkout-b", "namespace": "shop", "labels": {"app": "checkout"}}, "status": {"phase": "Running"}},
        {"metadata": {"name": "checkout-c", "namespace": "shop", "labels": {"app": "checkout"}}, "status": {"phase": "Pending"}}
    ]);
    let (mut cluster, log) = mock(healthy(move |s| {
        if s.method == "GET" && s.path == "/api/v1/namespaces/shop/pods" && !s.is_watch() {
            assert_eq!(s.q("labelSelector"), Some("app=checkout"));
            return Some(list("PodList", "v1", pods.as_array().unwrap().clone()));
        }
        if s.method == "PATCH" && s.path.ends_with("/ephemeralcontainers") {
            return Some(Answer::Json(
                200,
                json!({"metadata": {"name": "x", "namespace": "shop"}}),
            ));
        }
        None
    }));
    let p = plan("ephemeral");
    cluster.preflight(&p).await.unwrap();
    let record = cluster.inject(&p).await.unwrap();
    assert_eq!(record.pods.len(), 1);
    assert!(record.pods[0] == "checkout-a" || record.pods[0] == "checkout-b");
    let applied = patches(&log);
    assert_eq!(applied.len(), 1);
    assert_eq!(
        applied[0].path,
        format!(
            "/api/v1/namespaces/shop/pods/{}/ephemeralcontainers",
            record.pods[0]
        )
    );
    assert_eq!(
        applied[0].content_type,
        "application/strategic-merge-patch+json"
    );
    let c = &applied[0].body["spec"]["ephemeralContainers"][0];
    assert_eq!(c["name"], record.container);
    assert!(c.get("resources").is_none());
    // Revert cannot remove it and does not try.
    cluster.revert(&record).await.unwrap();
    assert_eq!(patches(&log).len(), 1);
}

#[tokio::test]
async fn a_missing_target_is_a_clear_error() {
    let (mut cluster, _) = mock(healthy(|s| {
        (s.path == DEPLOYMENT)
            .then(|| status(404, "NotFound", "deployments.apps \"checkout\" not found"))
    }));
    let e = cluster.preflight(&plan("sidecar")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.to_string(), "Deployment shop/checkout not found");
}

#[tokio::test]
async fn missing_permissions_are_all_named() {
    let (mut cluster, _) = mock(healthy(|s| {
        if s.method == "POST" && s.path == SSAR {
            let ra = &s.body["spec"]["resourceAttributes"];
            let denied = (ra["verb"] == "patch" && ra["resource"] == "deployments")
                || (ra["verb"] == "watch" && ra["resource"] == "nodes");
            let mut review = s.body.clone();
            review["status"] = json!({"allowed": !denied});
            return Some(Answer::Json(201, review));
        }
        None
    }));
    let e = cluster
        .preflight(&plan("sidecar"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("patch deployments.apps in namespace shop"),
        "{e}"
    );
    assert!(e.contains("watch nodes (cluster-wide)"), "{e}");
    assert!(!e.contains("list pods"), "{e}");
}

#[tokio::test]
async fn a_system_namespace_and_an_active_run_are_refused() {
    let (mut cluster, log) = mock(healthy(|_| None));
    let mut p = plan("sidecar");
    p.namespace = "kube-system".into();
    let e = cluster.preflight(&p).await.unwrap_err().to_string();
    assert!(
        e.contains("kube-system") && e.contains("allowSystemNamespaces"),
        "{e}"
    );
    assert!(log.requests().is_empty(), "refused before any API call");

    let (mut cluster, _) = mock(healthy(|s| {
        (s.method == "GET" && s.path == DEPLOYMENT).then(|| Answer::Json(200, deployment(true)))
    }));
    let e = cluster.preflight(&plan("sidecar")).await.unwrap_err();
    assert!(
        matches!(e, Error::Busy(ref m) if m.contains("other-run")),
        "{e}"
    );
}

#[tokio::test]
async fn an_apply_conflict_names_the_other_field_manager() {
    let (mut cluster, _) = mock(healthy(|s| {
        (s.method == "PATCH").then(|| {
            status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: \
                 .spec.template.spec.containers[name=\"oomsday-leaker\"].image",
            )
        })
    }));
    let p = plan("sidecar");
    cluster.preflight(&p).await.unwrap();
    let e = cluster.inject(&p).await.unwrap_err();
    assert!(
        matches!(e, Error::Conflict { ref managers, .. } if managers == "kubectl-edit"),
        "{e:?}"
    );
    assert!(e.to_string().contains("kubectl-edit"), "{e}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let gets = Arc::new(Mutex::new(0u32));
    let g = gets.clone();
    let (mut cluster, _) = mock(healthy(move |s| {
        if s.method == "GET" && s.path == DEPLOYMENT {
            let mut n = g.lock().unwrap();
            *n += 1;
            return match *n {
                1 => Some(status(429, "TooManyRequests", "slow down")),
                2 => Some(status(503, "ServiceUnavailable", "etcd is busy")),
                _ => None,
            };
        }
        None
    }));
    cluster.preflight(&plan("sidecar")).await.unwrap();
    assert_eq!(*gets.lock().unwrap(), 3);
}

fn oom_pod(rv: &str, finished: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "checkout-a", "namespace": "shop", "uid": "p-1", "resourceVersion": rv,
                     "labels": {"app": "checkout"},
                     "managedFields": [{"manager": "kubelet", "operation": "Update"}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "oomsday-leaker"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "oomsday-leaker", "image": "leaker", "imageID": "", "ready": true, "restartCount": 1,
             "state": {"running": {"startedAt": "2999-01-01T00:00:10Z"}},
             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                           "startedAt": "2999-01-01T00:00:01Z", "finishedAt": finished}}}
        ]}
    })
}

#[tokio::test]
async fn a_watch_that_drops_and_relists_duplicates_nothing() {
    // The pod watch: list → one OOM kill; the watch stream repeats it and drops; the next watch
    // is told its resourceVersion is too old (an ERROR event with 410), so the watcher re-lists the same pod plus a
    // second kill.
    let watches = Arc::new(Mutex::new(0u32));
    let lists = Arc::new(Mutex::new(0u32));
    let (w, l) = (watches.clone(), lists.clone());
    let (mut cluster, _) = mock(healthy(move |s| {
        // The target's pods are watched in its namespace, by its selector.
        if s.path != "/api/v1/namespaces/shop/pods" {
            return None;
        }
        assert_eq!(s.q("labelSelector"), Some("app=checkout"));
        if s.is_watch() {
            let mut n = w.lock().unwrap();
            *n += 1;
            return Some(match *n {
                1 => Answer::Stream(vec![
                    json!({"type": "MODIFIED", "object": oom_pod("101", "2999-01-01T00:00:05Z")}),
                ]),
                // As a real API server does: the watch opens, then an ERROR event says 410.
                2 => Answer::Stream(vec![json!({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "too old resource version: 101 (102)", "reason": "Expired", "code": 410}})]),
                _ => Answer::Stream(vec![]),
            });
        }
        let mut n = l.lock().unwrap();
        *n += 1;
        let pod = if *n == 1 {
            oom_pod("100", "2999-01-01T00:00:05Z")
        } else {
            oom_pod("102", "2999-01-01T00:00:30Z")
        };
        Some(list("PodList", "v1", vec![pod]))
    }));
    let mut p = plan("sidecar");
    p.deadline = "3000-01-01T00:00:00Z".parse().unwrap();
    cluster.preflight(&p).await.unwrap();
    let mut timeline = Timeline::new();
    let mut all = Vec::new();
    let end = Time::now() + jiff::SignedDuration::from_secs(8);
    let kills = |all: &Vec<oomsday::observe::Observation>| {
        all.iter()
            .filter(|o| matches!(o.happening, Happening::OomKilled { .. }))
            .count()
    };
    while Time::now() < end && (*lists.lock().unwrap() < 2 || kills(&all) < 2) {
        let until = Time::now() + jiff::SignedDuration::from_millis(500);
        let obs = cluster.observe(until).await.unwrap();
        all.extend(obs.clone());
        timeline.extend(obs);
    }
    assert!(*lists.lock().unwrap() >= 2, "the watcher re-listed");
    let ooms: Vec<_> = all
        .iter()
        .filter(|o| matches!(o.happening, Happening::OomKilled { .. }))
        .map(|o| o.at.to_string())
        .collect();
    // Each kill once, from the classifier itself (not just the timeline's dedup).
    assert_eq!(
        ooms,
        vec!["2999-01-01T00:00:05Z", "2999-01-01T00:00:30Z"],
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|o| matches!(o.happening, Happening::LeakerStarted { .. }))
    );
}

mod live {
    //! Against the current kubeconfig context. See the top of this file.
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
    use kube::{Api, ResourceExt};
    use oomsday::cluster::ConnectOptions;

    const NS: &str = "oomsday-live-test";

    #[tokio::test]
    #[ignore = "uses k8s current-context"]
    async fn inject_and_revert_a_throwaway_deployment() {
        let mut cluster = KubeCluster::connect(ConnectOptions::default())
            .await
            .unwrap();
        let api: Api<Deployment> = Api::namespaced(cluster.client().clone(), NS);
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "oomsday-live", "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "oomsday-live"}},
                     "template": {"metadata": {"labels": {"app": "oomsday-live"}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}
        }))
        .unwrap();
        let _ = api.delete("oomsday-live", &DeleteParams::default()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        api.create(&PostParams::default(), &d).await.unwrap();

        let mut p = plan("sidecar");
        p.namespace = NS.into();
        p.spec.target.name = "oomsday-live".into();
        p.deadline = Time::now() + jiff::SignedDuration::from_secs(600);
        cluster.set_experiment("live-test");
        cluster.preflight(&p).await.unwrap();
        let record = cluster.inject(&p).await.unwrap();
        let got = api.get("oomsday-live").await.unwrap();
        let containers = &got
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers;
        assert!(containers.iter().any(|c| c.name == "oomsday-leaker"));
        assert_eq!(got.labels().get("oomsday.dev/run-id"), Some(&p.run_id));

        // Someone else changes the workload during the run.
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "oomsday-live", "labels": {"team": "checkout"}}});
        api.patch(
            "oomsday-live",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();

        cluster.revert(&record).await.unwrap();
        let got = api.get("oomsday-live").await.unwrap();
        let containers = &got
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers;
        assert!(!containers.iter().any(|c| c.name == "oomsday-leaker"));
        assert!(containers.iter().any(|c| c.name == "app"));
        assert_eq!(got.labels().get("oomsday.dev/run-id"), None);
        assert_eq!(
            got.labels().get("team").map(String::as_str),
            Some("checkout")
        );
        api.delete("oomsday-live", &DeleteParams::default())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn cleanup_finds_marked_workloads_and_running_ephemeral_leakers() {
    use oomsday::cluster::kube::Leftover;
    let (cluster, log) = mock(healthy(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/apis/apps/v1/namespaces/shop/deployments") => {
            assert_eq!(s.q("labelSelector"), Some("oomsday.dev/run-id"));
            let mut d = deployment(true);
            d["metadata"]["labels"]["oomsday.dev/run-id"] = json!("other-run");
            Some(list("DeploymentList", "apps/v1", vec![d]))
        }
        ("GET", "/api/v1/namespaces/shop/pods") => Some(list(
            "PodList",
            "v1",
            vec![json!({
                "metadata": {"name": "checkout-a", "namespace": "shop"},
                "spec": {"containers": [{"name": "app"}], "ephemeralContainers": [
                    {"name": "oomsday-leaker-1a2b3c4d", "env": [{"name": "OOMSDAY_LEAK_DEADLINE", "value": "2999-01-01T00:00:00Z"}]},
                    {"name": "debugger"}]},
                "status": {"ephemeralContainerStatuses": [
                    {"name": "oomsday-leaker-1a2b3c4d", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"running": {"startedAt": "2026-11-24T14:00:00Z"}}},
                    {"name": "debugger", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"running": {"startedAt": "2026-11-24T14:00:00Z"}}}]}
            })],
        )),
        _ => None,
    }));
    let found = cluster.find_leftovers(Some("shop")).await.unwrap();
    assert_eq!(
        found,
        vec![
            Leftover::Workload {
                namespace: "shop".into(),
                kind: TargetKind::Deployment,
                name: "checkout".into(),
                run_id: "other-run".into(),
                deadline: Some("2999-01-01T00:00:00Z".into()),
            },
            Leftover::Ephemeral {
                namespace: "shop".into(),
                pod: "checkout-a".into(),
                container: "oomsday-leaker-1a2b3c4d".into(),
                deadline: Some("2999-01-01T00:00:00Z".into()),
            },
        ]
    );
    // Reverting the workload is one apply under oomsday's field manager.
    cluster
        .revert_workload(TargetKind::Deployment, "shop", "checkout")
        .await
        .unwrap();
    let p = patches(&log);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].q("fieldManager"), Some("oomsday"));
}

#[tokio::test]
async fn the_leakers_bytes_are_read_through_the_pod_proxy() {
    // The proxy answers Prometheus text, not JSON: this mock routes it first.
    let router = healthy(|s| {
        (s.path == "/api/v1/namespaces/shop/pods" && !s.is_watch()).then(|| {
            let mut p = oom_pod("100", "2999-01-01T00:00:05Z");
            p["status"]["containerStatuses"][0]["lastState"] = json!({});
            list("PodList", "v1", vec![p])
        })
    });
    let api = ApiServer::new();
    api.answer(|s| {
        (s.path == "/api/v1/namespaces/shop/pods/checkout-a:9464/proxy/metrics").then(|| {
            Reply::text(
                200,
                "# TYPE oomsday_leaker_allocated_bytes gauge\noomsday_leaker_allocated_bytes 268435456\n",
            )
        })
    });
    api.answer(move |s| Some(router(s).reply()));
    let mut cluster = KubeCluster::new(api.client(), "mock")
        .with_scrape_interval(Some(Duration::from_millis(100)));
    cluster.preflight(&plan("sidecar")).await.unwrap();
    let end = Time::now() + jiff::SignedDuration::from_secs(5);
    let mut bytes = None;
    while bytes.is_none() && Time::now() < end {
        let until = Time::now() + jiff::SignedDuration::from_millis(300);
        for o in cluster.observe(until).await.unwrap() {
            if let Happening::LeakerBytes { pod, bytes: b } = o.happening {
                bytes = Some((pod, b));
            }
        }
    }
    assert_eq!(bytes, Some(("checkout-a".to_string(), 268_435_456)));
}

/// Runs `spec` as experiment `name` in shop against the mock, unattended, looking every 200 ms;
/// it must end by itself within 30 s.
async fn run_on_mock(
    cluster: &mut KubeCluster,
    name: &str,
    spec: LeakExperimentSpec,
    run_id: &str,
) -> oomsday::engine::RunRecord {
    let exp = oomsday::engine::ExperimentRef {
        name: name.into(),
        namespace: "shop".into(),
        spec,
    };
    let mut opts = oomsday::engine::RunOptions::new(run_id);
    opts.refresh = Some(Duration::from_millis(200));
    tokio::time::timeout(
        Duration::from_secs(30),
        oomsday::engine::run_unattended(cluster, &exp, &opts),
    )
    .await
    .expect("the run ends on its own")
    .expect("the run completes")
}

/// The engine driving `KubeCluster` end to end against the mock API server, as `oomsday run`
/// does: preflight, the sidecar apply, watching, and the revert apply — in that order — and a
/// record that says so.
#[tokio::test]
async fn the_engine_runs_a_whole_experiment_against_the_api_and_reverts() {
    use oomsday::spec::Phase;

    let (mut cluster, log) = mock(healthy(|_| None));
    cluster.set_experiment("checkout-leak");
    let mut spec = plan("sidecar").spec;
    spec.duration = "2s".parse().unwrap();
    spec.recovery = "1s".parse().unwrap();
    let record = run_on_mock(&mut cluster, "checkout-leak", spec, "checkout-leak-e2e").await;

    assert_eq!(record.phase, Phase::Completed, "{:?}", record.message);
    assert_eq!(
        record.reason,
        Some(oomsday::spec::RunReason::DurationElapsed)
    );
    // The leak's deadline is the inject's start plus the duration, so the revert comes at least
    // 2 s after the run started, and after the injection was in place.
    let (injected, reverted) = (record.injected.unwrap(), record.reverted.unwrap());
    assert!(reverted > injected);
    assert!(reverted.duration_since(record.started).as_secs_f64() >= 2.0);

    let seen = log.requests();
    let first_ssar = seen
        .iter()
        .position(|s| s.path == SSAR)
        .expect("access was checked");
    let applies: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.method == "PATCH" && s.path == DEPLOYMENT)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(applies.len(), 2, "one inject, one revert: {applies:?}");
    assert!(first_ssar < applies[0], "preflight comes before the inject");
    assert!(
        seen[applies[0]..applies[1]].iter().any(Seen::is_watch),
        "the cluster is watched while it leaks"
    );
    let p = plan("sidecar");
    assert_eq!(
        seen[applies[0]].body["metadata"]["annotations"]["oomsday.dev/run-id"],
        json!("checkout-leak-e2e")
    );
    assert_eq!(
        seen[applies[1]].body,
        revert_patch(TargetKind::Deployment, &p.namespace, "checkout")
    );
}

/// A stop (Ctrl-C, SIGTERM) in the middle of the leak reverts at once and ends Aborted.
#[tokio::test]
async fn a_stop_mid_leak_reverts_at_once() {
    use oomsday::engine::{self, ExperimentRef, RunOptions, RunReason};
    use oomsday::spec::Phase;

    let (mut cluster, log) = mock(healthy(|_| None));
    let mut spec = plan("sidecar").spec;
    spec.duration = "10m".parse().unwrap();
    let exp = ExperimentRef {
        name: "checkout-leak".into(),
        namespace: "shop".into(),
        spec,
    };
    let mut opts = RunOptions::new("checkout-leak-stop");
    opts.refresh = Some(Duration::from_millis(100));
    let (handle, mut stop) = engine::stop_channel();
    let log2 = log.clone();
    tokio::spawn(async move {
        // Stop once the leak is in place.
        for _ in 0..200 {
            if patches(&log2).len() == 1 {
                handle.stop(RunReason::Signal, "SIGINT");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let record = tokio::time::timeout(
        Duration::from_secs(30),
        engine::run(
            &mut cluster,
            &mut engine::NoProbes,
            &exp,
            &opts,
            &mut stop,
            &mut |_| {},
        ),
    )
    .await
    .expect("a stop ends the run well before its 10m duration")
    .expect("the run ends with a record");
    assert_eq!(record.phase, Phase::Aborted);
    assert_eq!(record.reason, Some(RunReason::Signal));
    let applied = patches(&log);
    assert_eq!(applied.len(), 2, "inject, then the revert");
    assert_eq!(
        applied[1].body,
        revert_patch(TargetKind::Deployment, "shop", "checkout")
    );
}

/// `oomsday run --record` against the mock API server, then `oomsday replay` of what it wrote:
/// the same timeline, to the nanosecond, and the same score.
#[tokio::test]
async fn a_recorded_run_replays_to_the_same_timeline_and_score() {
    use oomsday::cluster::ReplayCluster;
    use oomsday::engine::{self, ExperimentRef, RunOptions, StopSignal};
    use oomsday::recording::Recorder;
    use oomsday::report::Report;

    // Object times a moment into the run, so that they are the run's facts; in whole seconds,
    // as the API server writes them (and as the recording keeps them).
    let t0 = Time::from_second(Time::now().as_second()).unwrap();
    let at = |ms: i64| (t0 + jiff::SignedDuration::from_millis(ms)).to_string();
    let target_pods = vec![{
        let mut p = oom_pod("100", &at(1_000));
        p["status"]["containerStatuses"][0]["state"] = json!({"running": {"startedAt": at(2_000)}});
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["startedAt"] = json!(at(0));
        p
    }];
    let node_pods = vec![json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cart-1", "namespace": "shop", "uid": "p-2", "resourceVersion": "100",
                     "labels": {"app": "cart"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]},
        "status": {"phase": "Failed", "reason": "Evicted",
                   "message": "The node was low on resource: memory. ",
                   "conditions": [{"type": "DisruptionTarget", "status": "True",
                                   "reason": "TerminationByKubelet",
                                   "lastTransitionTime": at(1_000)}],
                   "containerStatuses": [{"name": "app", "image": "cart", "imageID": "",
                       "ready": false, "restartCount": 0,
                       "state": {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                                "startedAt": at(-60_000), "finishedAt": at(1_000)}}}]}
    })];
    let pdb = json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "checkout", "namespace": "shop", "uid": "pdb-1", "resourceVersion": "100"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "checkout"}}},
        "status": {"currentHealthy": 1, "desiredHealthy": 2, "disruptionsAllowed": 0,
                   "expectedPods": 2, "observedGeneration": 1}
    });
    let (mut cluster, log) = mock(healthy(move |s| {
        match (s.method.as_str(), s.path.as_str()) {
            // The target's own pods, in its namespace; the other pods of its node.
            ("GET", "/api/v1/namespaces/shop/pods") if !s.is_watch() => {
                Some(list("PodList", "v1", target_pods.clone()))
            }
            ("GET", "/api/v1/pods")
                if !s.is_watch() && s.q("fieldSelector") == Some("spec.nodeName=node-1") =>
            {
                Some(list("PodList", "v1", node_pods.clone()))
            }
            ("GET", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets") if !s.is_watch() => {
                Some(list(
                    "PodDisruptionBudgetList",
                    "policy/v1",
                    vec![pdb.clone()],
                ))
            }
            _ => None,
        }
    }));
    let dir = std::env::temp_dir().join(format!("oomsday-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    cluster.set_experiment("checkout-leak");
    cluster.set_recorder(Some(recorder.clone()));
    let mut spec = plan("sidecar").spec;
    spec.duration = "2s".parse().unwrap();
    spec.recovery = "1s".parse().unwrap();
    let exp = ExperimentRef {
        name: "checkout-leak".into(),
        namespace: "shop".into(),
        spec,
    };
    let mut opts = RunOptions::new("checkout-leak-rec");
    opts.refresh = Some(Duration::from_millis(200));
    let live = tokio::time::timeout(
        Duration::from_secs(30),
        engine::run(
            &mut cluster,
            &mut engine::NoProbes,
            &exp,
            &opts,
            &mut StopSignal::never(),
            &mut |p| recorder.progress(p),
        ),
    )
    .await
    .expect("the run ends on its own")
    .expect("the run completes");
    drop(cluster);
    recorder.flush();

    // What the live run saw is worth comparing: a leaker start, its OOM kill, a bystander's
    // eviction and the budget below its minimum.
    let kinds: Vec<&str> = live
        .timeline
        .iter()
        .map(|o| match o.happening {
            Happening::LeakerStarted { .. } => "start",
            Happening::OomKilled { .. } => "oom",
            Happening::PodEvicted { .. } => "evicted",
            Happening::Budget { .. } => "budget",
            _ => "",
        })
        .filter(|k| !k.is_empty())
        .collect();
    for k in ["start", "oom", "evicted", "budget"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    let recording = oomsday::recording::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let mut replay = ReplayCluster::new(recording).unwrap();
    let recorded = replay
        .experiment()
        .cloned()
        .expect("the recording names its experiment");
    assert_eq!(recorded.spec, exp.spec);
    let replayed = engine::run_unattended(&mut replay, &exp, &opts)
        .await
        .unwrap();
    pretty_assertions::assert_eq!(replayed.timeline.entries(), live.timeline.entries());
    // The watches were sized to the experiment: no cluster-wide pod list, one list each.
    let seen = log.requests();
    let lists = |path: &str| {
        seen.iter()
            .filter(|s| s.method == "GET" && s.path == path && !s.is_watch())
            .map(|s| s.query.get("fieldSelector").cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(lists("/api/v1/pods"), ["spec.nodeName=node-1"]);
    assert_eq!(lists("/api/v1/namespaces/shop/pods"), [""]);
    assert_eq!(lists("/api/v1/nodes"), [""]);
    assert_eq!(lists("/api/v1/events"), ["involvedObject.kind=Node"]);
    assert_eq!(lists("/api/v1/namespaces/shop/events"), [""]);
    assert_eq!(
        lists("/apis/policy/v1/namespaces/shop/poddisruptionbudgets"),
        [""]
    );
    assert_eq!(
        (replayed.injected, replayed.reverted, replayed.recovered),
        (live.injected, live.reverted, live.recovered)
    );
    assert_eq!(
        Report::new(replayed, None).score,
        Report::new(live, None).score
    );
}

/// A big cluster's state before the run is the baseline, not the leak's damage: 100 nodes
/// NotReady and 50 crash-looping pods on the target's node, and a leak that stays in its
/// container → containment 100, no recommendation about those nodes, the baseline reported.
#[tokio::test]
async fn the_state_before_the_run_is_the_baseline_not_damage() {
    use oomsday::report::{Format, Report, render};
    use oomsday::score::Facet;

    let t0 = Time::from_second(Time::now().as_second()).unwrap();
    let at = |ms: i64| (t0 + jiff::SignedDuration::from_millis(ms)).to_string();
    let node = |name: String, ready: bool| {
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "100"},
               "status": {"allocatable": {"memory": "32Gi"}, "conditions": [
                   {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                    "lastTransitionTime": "2026-11-01T00:00:00Z"},
                   {"type": "Ready", "status": if ready {"True"} else {"Unknown"},
                    "reason": if ready {"KubeletReady"} else {"NodeStatusUnknown"},
                    "lastTransitionTime": "2026-11-01T00:00:00Z"}]}})
    };
    let mut nodes = vec![node("node-1".into(), true)];
    nodes.extend((0..100).map(|i| node(format!("node-nr-{i:03}"), false)));
    let crash = |i: usize| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": format!("batch-{i:02}"), "namespace": "other", "uid": format!("b-{i}"),
                            "resourceVersion": "100", "labels": {"app": "batch"}},
               "spec": {"nodeName": "node-1", "containers": [{"name": "job"}]},
               "status": {"phase": "Running", "containerStatuses": [{"name": "job", "image": "batch",
                   "imageID": "", "ready": false, "restartCount": 7,
                   "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                   "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                       "startedAt": "2026-11-01T00:00:00Z", "finishedAt": "2026-11-01T00:00:05Z"}}}]}})
    };
    let bystanders: Vec<Value> = (0..50).map(crash).collect();
    let target = {
        let mut p = oom_pod("100", &at(1_000));
        p["status"]["containerStatuses"][0]["state"] = json!({"running": {"startedAt": at(2_000)}});
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["startedAt"] = json!(at(0));
        p
    };
    let (mut cluster, _) = mock(healthy(move |s| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/nodes") if !s.is_watch() => {
                Some(list("NodeList", "v1", nodes.clone()))
            }
            ("GET", "/api/v1/namespaces/shop/pods") if !s.is_watch() => {
                Some(list("PodList", "v1", vec![target.clone()]))
            }
            ("GET", "/api/v1/pods") if !s.is_watch() => {
                Some(list("PodList", "v1", bystanders.clone()))
            }
            _ => None,
        }
    }));
    cluster.set_experiment("contained");
    let spec: LeakExperimentSpec = serde_saphyr::from_str(
        "
target: {kind: Deployment, name: checkout}
leak: {pattern: linear, rate: 16Mi/s, start: 8Mi, max: 512Mi, limit: 64Mi}
duration: 2s
recovery: 1s
hypothesis: {maxBystanderEvictions: 0, maxNodesNotReady: 0}
abort: {nodesNotReady: 1}
",
    )
    .unwrap();
    let record = run_on_mock(&mut cluster, "contained", spec, "contained-baseline").await;
    // The abort rule on NotReady nodes judged changes: none.
    assert_eq!(
        record.reason,
        Some(oomsday::spec::RunReason::DurationElapsed),
        "{:?}",
        record.message
    );
    let report = Report::new(record, None);
    let containment = report.score.facet(Facet::Containment).unwrap();
    assert_eq!(
        containment.points,
        Some(100.0),
        "{}",
        containment.explanation
    );
    assert!(
        containment
            .explanation
            .contains("OOM-killed at its own limit"),
        "the leak ran and stayed in its container: {}",
        containment.explanation
    );
    assert!(
        report.score.hypothesis.iter().all(|c| c.passed),
        "{:#?}",
        report.score.hypothesis
    );
    let recs = oomsday::report::recommendations(&report);
    assert!(
        !recs
            .iter()
            .any(|r| r.contains("NotReady") || r.contains("reached")),
        "{recs:#?}"
    );
    let md = render(&report, Format::Md);
    assert!(md.contains("## Baseline"), "{md}");
    assert!(md.contains("100 nodes already NotReady"), "{md}");
    assert!(
        md.contains("50 containers already in CrashLoopBackOff"),
        "{md}"
    );
    // The story tells the baseline once, not one line per object.
    let story = oomsday::report::story(&report);
    assert_eq!(
        story.iter().filter(|(_, l)| l.contains("node-nr-")).count(),
        0,
        "{story:#?}"
    );
    assert_eq!(
        story
            .iter()
            .filter(|(_, l)| l.starts_with("baseline: "))
            .count(),
        1
    );
}
