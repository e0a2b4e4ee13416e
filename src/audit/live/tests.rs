use oomsday_testkit::{ApiServer, Gvr};
use serde_json::json;

use super::*;
use crate::audit::{Rule, audit};

/// The fake API server holding a namespace's Deployment and HPA; nodes are forbidden, as
/// they are for a namespaced user.
#[tokio::test]
async fn lists_the_namespace_and_survives_forbidden_nodes() {
    let api = ApiServer::new();
    api.populate(
        &Gvr::DEPLOYMENTS,
        [json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "u1"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "checkout"}},
                     "template": {"metadata": {"labels": {"app": "checkout"}},
                                  "spec": {"containers": [{"name": "app", "image": "shop/checkout:1",
                                           "resources": {"requests": {"memory": "2Gi"}}}]}}},
            "status": {"replicas": 4, "readyReplicas": 4}
        })],
    );
    api.populate(
        &Gvr::HPAS,
        [json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"maxReplicas": 50, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}}
        })],
    );
    api.deny("list nodes");
    let client = api.client();
    let (inv, note) = inventory(&client, "shop").await.expect("inventory");
    let seen = api.requests();
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|s| s.method == "GET"), "{seen:?}");
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
