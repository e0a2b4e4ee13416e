use super::*;
use crate::observe::classify::fixtures::{fixture, items, ts};

#[test]
fn access_is_named_for_humans() {
    let v = required_access("shop", TargetKind::Deployment, InjectionMode::Ephemeral);
    let s: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(s.contains(&"patch deployments.apps in namespace shop".to_string()));
    assert!(s.contains(&"watch nodes (cluster-wide)".to_string()));
    assert!(s.contains(&"patch pods/ephemeralcontainers in namespace shop".to_string()));
    assert!(
        !required_access("shop", TargetKind::StatefulSet, InjectionMode::Sidecar)
            .iter()
            .any(|a| a.subresource.is_some())
    );
    let e = forbidden(&v[3..5]).to_string();
    assert!(
        e.contains("patch deployments.apps in namespace shop, list pods (cluster-wide)"),
        "{e}"
    );
}

#[test]
fn system_namespaces_need_consent() {
    assert!(check_namespace("kube-system", false).is_err());
    assert!(check_namespace("kube-system", true).is_ok());
    assert!(check_namespace("shop", false).is_ok());
}

#[test]
fn other_runs_marks() {
    let now = ts("2026-11-24T14:00:00Z");
    let m = |id: &str, d: &str| -> BTreeMap<String, String> {
        [
            (RUN_ID.to_string(), id.to_string()),
            (DEADLINE.to_string(), d.to_string()),
        ]
        .into()
    };
    assert_eq!(marked(&BTreeMap::new(), "me", now), Marked::Free);
    assert_eq!(
        marked(&m("me", "2026-11-24T15:00:00Z"), "me", now),
        Marked::Free
    );
    assert!(matches!(
        marked(&m("other", "2026-11-24T15:00:00Z"), "me", now),
        Marked::Active { .. }
    ));
    assert_eq!(
        marked(&m("other", "2026-11-24T13:00:00Z"), "me", now),
        Marked::Leftover {
            run_id: "other".into()
        }
    );
    assert!(matches!(
        marked(&m("other", "soon"), "me", now),
        Marked::Active { .. }
    ));
}

#[test]
fn defences_from_real_objects() {
    let pdbs: Vec<PodDisruptionBudget> = items(fixture!("pdb-before.json"));
    let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
        "metadata": {"labels": {"app": "evict-demo"}}
    }))
    .unwrap();
    assert_eq!(matching_pdbs(pdbs.clone(), Some(&template)).len(), 1);
    let other: PodTemplateSpec =
        serde_json::from_value(serde_json::json!({"metadata": {"labels": {"app": "x"}}})).unwrap();
    assert!(matching_pdbs(pdbs, Some(&other)).is_empty());
    let nodes: Vec<k8s_openapi::api::core::v1::Node> = items(fixture!("node-ready.json"));
    assert_eq!(node_allocatable(&nodes), vec![2_190_472 * 1024]);
}
