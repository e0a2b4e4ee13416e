use super::*;

fn findings() -> Vec<Finding> {
    vec![
        Finding {
            rule: Rule::MemoryLimitMissing,
            severity: Severity::Critical,
            object: "Deployment shop/checkout container app".into(),
            message: "container app has no memory limit".into(),
            fix: "resources:\n  limits:\n    memory: 1Gi\n".into(),
            file: Some("./k8s/checkout.yaml".into()),
        },
        Finding {
            rule: Rule::NamespaceWithoutLimitRange,
            severity: Severity::Low,
            object: "Namespace shop".into(),
            message: "no default limit".into(),
            fix: "kind: LimitRange\n".into(),
            file: None,
        },
    ]
}

#[test]
fn sarif_2_1_0() {
    let v: Value = serde_json::from_str(&to_sarif(&findings())).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), Rule::ALL.len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"], "ruleIndex points at its rule");
    }
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[1]["level"], "note");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "k8s/checkout.yaml"
    );
    assert!(results[1]["locations"][0].get("physicalLocation").is_none());
    assert_eq!(
        results[1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "Namespace shop"
    );
    assert_eq!(
        results[0]["properties"]["fix"],
        "resources:\n  limits:\n    memory: 1Gi\n"
    );
}

#[test]
fn json_and_table() {
    let v: Value = serde_json::from_str(&to_json(&findings())).unwrap();
    assert_eq!(v["counts"]["critical"], 1);
    assert_eq!(v["counts"]["low"], 1);
    assert_eq!(v["findings"][0]["rule"], "memory-limit-missing");
    assert_eq!(v["findings"][0]["severity"], "critical");
    let t = to_table(&findings());
    assert!(t.starts_with("SEVERITY  OBJECT"));
    assert!(t.contains("CRITICAL  Deployment shop/checkout container app  container app has no memory limit [memory-limit-missing]"), "{t}");
    assert!(t.contains("        memory: 1Gi"), "{t}");
    assert!(
        t.ends_with("2 findings: 1 critical, 0 high, 0 medium, 1 low\n"),
        "{t}"
    );
    assert!(to_table(&[]).starts_with("No findings"));
}
