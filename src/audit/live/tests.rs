use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::audit::{Rule, audit};

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"),
               "metadata": {"resourceVersion": "4711"}, "items": items})
}

/// A mock API server answering each list of a namespaced audit; nodes are forbidden, as
/// they are for a namespaced user.
#[tokio::test]
async fn lists_the_namespace_and_survives_forbidden_nodes() {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = {
        let paths = paths.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let path = req.uri().path().to_string();
                assert_eq!(req.method(), http::Method::GET, "{path}");
                let (code, answer) = match path.as_str() {
                    "/apis/apps/v1/namespaces/shop/deployments" => (
                        StatusCode::OK,
                        list(
                            "Deployment",
                            "apps/v1",
                            vec![json!({
                                "apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "checkout", "namespace": "shop", "uid": "u1", "resourceVersion": "1"},
                                "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "checkout"}},
                                         "template": {"metadata": {"labels": {"app": "checkout"}},
                                                      "spec": {"containers": [{"name": "app", "image": "shop/checkout:1",
                                                               "resources": {"requests": {"memory": "2Gi"}}}]}}},
                                "status": {"replicas": 4, "readyReplicas": 4}
                            })],
                        ),
                    ),
                    "/apis/apps/v1/namespaces/shop/statefulsets" => {
                        (StatusCode::OK, list("StatefulSet", "apps/v1", vec![]))
                    }
                    "/apis/policy/v1/namespaces/shop/poddisruptionbudgets" => (
                        StatusCode::OK,
                        list("PodDisruptionBudget", "policy/v1", vec![]),
                    ),
                    "/api/v1/namespaces/shop/limitranges" => {
                        (StatusCode::OK, list("LimitRange", "v1", vec![]))
                    }
                    "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers" => (
                        StatusCode::OK,
                        list(
                            "HorizontalPodAutoscaler",
                            "autoscaling/v2",
                            vec![json!({
                                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                "metadata": {"name": "checkout", "namespace": "shop"},
                                "spec": {"maxReplicas": 50, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}}
                            })],
                        ),
                    ),
                    "/api/v1/nodes" => (
                        StatusCode::FORBIDDEN,
                        json!({
                            "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                            "message": "nodes is forbidden: User \"dev\" cannot list resource \"nodes\" at the cluster scope"
                        }),
                    ),
                    _ => (
                        StatusCode::NOT_FOUND,
                        json!({"kind": "Status", "code": 404}),
                    ),
                };
                paths.lock().unwrap_or_else(|e| e.into_inner()).push(path);
                let resp = Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap_or_default()))
                    .unwrap_or_else(|e| panic!("response: {e}"));
                send.send_response(resp);
            }
        })
    };
    let (inv, note) = inventory(&client, "shop").await.expect("inventory");
    server.abort();
    assert_eq!(paths.lock().unwrap().len(), 6);
    assert_eq!(inv.deployments.len(), 1);
    assert_eq!(inv.hpas.len(), 1);
    assert!(inv.nodes.is_empty());
    let note = note.expect("a note about nodes");
    assert!(
        note.contains("forbidden") && note.contains("capacity check was skipped"),
        "{note}"
    );
    let rules: Vec<Rule> = audit(&inv).iter().map(|f| f.rule).collect();
    assert!(rules.contains(&Rule::MemoryLimitMissing));
    assert!(rules.contains(&Rule::WorkloadWithoutPdb));
    assert!(rules.contains(&Rule::NamespaceWithoutLimitRange));
    assert!(
        !rules.contains(&Rule::HpaExceedsCapacity),
        "no node capacity known"
    );
}
