use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use serde_json::json;

use super::*;
use kube::Resource;

#[test]
fn deployments_and_statefulsets_read_alike() {
    let status =
        json!({"replicas": 3, "readyReplicas": 2, "updatedReplicas": 1, "observedGeneration": 4});
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "checkout", "generation": 4},
        "spec": {"replicas": 3, "selector": {}, "template": {"metadata": {"labels": {"app": "checkout"}}}},
        "status": status,
    }))
    .unwrap();
    let s: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "ledger"},
        "spec": {"selector": {}, "template": {}},
        "status": status,
    }))
    .unwrap();
    let want = Rollout {
        ready: Some(2),
        updated: Some(1),
        current: Some(3),
        observed_generation: Some(4),
    };
    assert_eq!(
        (Deployment::KIND, d.replicas(), d.rollout()),
        (TargetKind::Deployment, Some(3), want)
    );
    assert_eq!(
        (StatefulSet::KIND, s.replicas(), s.rollout()),
        (TargetKind::StatefulSet, None, want)
    );
    assert!(d.template().and_then(|t| t.metadata.as_ref()).is_some());
    assert_eq!(d.meta().name.as_deref(), Some("checkout"));
    let bare: Deployment = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        (bare.replicas(), bare.template(), bare.rollout()),
        (None, None, Rollout::default())
    );
}

#[test]
fn cordoned_nodes_hold_nothing_allocatable() {
    let node = |unschedulable: bool, memory: &str| -> Node {
        serde_json::from_value(json!({
            "spec": {"unschedulable": unschedulable},
            "status": {"allocatable": {"memory": memory}},
        }))
        .unwrap()
    };
    let nodes = [
        node(false, "2Gi"),
        node(true, "4Gi"),
        node(false, "lots"),
        node(false, "512Mi"),
    ];
    assert_eq!(node_allocatable(&nodes), vec![2 << 30, 512 << 20]);
}
