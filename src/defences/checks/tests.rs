use serde_json::json;

use super::*;

fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
    let mut s = spec;
    s["selector"] = json!({"matchLabels": {"app": "web"}});
    serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": s}))
        .unwrap()
}

#[test]
fn pdb_table() {
    let cases = [
        (
            json!({"minAvailable": 3}),
            Some(3),
            Some(Rule::PdbBlocksDrain),
        ),
        (
            json!({"minAvailable": 5}),
            Some(3),
            Some(Rule::PdbBlocksDrain),
        ),
        (
            json!({"minAvailable": "100%"}),
            None,
            Some(Rule::PdbBlocksDrain),
        ),
        (
            json!({"maxUnavailable": 0}),
            Some(3),
            Some(Rule::PdbBlocksDrain),
        ),
        (
            json!({"maxUnavailable": "0%"}),
            Some(3),
            Some(Rule::PdbBlocksDrain),
        ),
        (
            json!({"minAvailable": 0}),
            Some(3),
            Some(Rule::PdbAllowsZeroHealthy),
        ),
        (
            json!({"minAvailable": "0%"}),
            Some(3),
            Some(Rule::PdbAllowsZeroHealthy),
        ),
        (
            json!({"maxUnavailable": "100%"}),
            Some(3),
            Some(Rule::PdbAllowsZeroHealthy),
        ),
        (
            json!({"maxUnavailable": 3}),
            Some(3),
            Some(Rule::PdbAllowsZeroHealthy),
        ),
        (json!({"minAvailable": 2}), Some(3), None),
        (json!({"minAvailable": "50%"}), Some(3), None),
        (json!({"maxUnavailable": 1}), Some(3), None),
        (json!({"minAvailable": 2}), None, None),
    ];
    for (spec, replicas, want) in cases {
        let got: Vec<Rule> = check_pdb(&pdb(spec.clone()), replicas, None, "ns")
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            got,
            want.into_iter().collect::<Vec<_>>(),
            "{spec} with {replicas:?} replicas"
        );
    }
}

#[test]
fn selectors() {
    let labels: BTreeMap<String, String> = [
        ("app".to_string(), "web".to_string()),
        ("tier".to_string(), "fe".to_string()),
    ]
    .into();
    let sel =
        |v: serde_json::Value| -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            serde_json::from_value(v).unwrap()
        };
    assert!(selector_matches(
        &sel(json!({"matchLabels": {"app": "web"}})),
        &labels
    ));
    assert!(!selector_matches(
        &sel(json!({"matchLabels": {"app": "db"}})),
        &labels
    ));
    assert!(selector_matches(
        &sel(
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]})
        ),
        &labels
    ));
    assert!(!selector_matches(
        &sel(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]})),
        &labels
    ));
    assert!(selector_matches(
        &sel(json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]})),
        &labels
    ));
    assert!(!selector_matches(
        &sel(json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]})),
        &labels
    ));
    assert!(
        selector_matches(&sel(json!({})), &labels),
        "empty selector matches all"
    );
}

#[test]
fn qos() {
    let c = |res: serde_json::Value| -> Container {
        serde_json::from_value(json!({"name": "c", "resources": res})).unwrap()
    };
    assert_eq!(qos_class(&[c(json!({}))]), "BestEffort");
    assert_eq!(
        qos_class(&[c(json!({"requests": {"memory": "1Gi"}}))]),
        "Burstable"
    );
    assert_eq!(
        qos_class(&[c(json!({"limits": {"memory": "1Gi", "cpu": "1"}}))]),
        "Guaranteed",
        "requests default to limits"
    );
    assert_eq!(
        qos_class(&[c(
            json!({"limits": {"memory": "1Gi", "cpu": "1"}, "requests": {"memory": "512Mi"}})
        )]),
        "Burstable"
    );
    assert_eq!(
        qos_class(&[
            c(json!({"limits": {"memory": "1Gi", "cpu": "1"}})),
            c(json!({}))
        ]),
        "Burstable"
    );
}
