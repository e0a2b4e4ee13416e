use serde_json::json;

use super::*;

pub(crate) fn rules(findings: &[Finding]) -> Vec<(Rule, Severity, String)> {
    findings
        .iter()
        .map(|f| (f.rule, f.severity, f.object.clone()))
        .collect()
}

pub(crate) fn has(findings: &[Finding], rule: Rule, severity: Severity, object: &str) -> bool {
    findings
        .iter()
        .any(|f| f.rule == rule && f.severity == severity && f.object == object)
}

#[test]
fn defences_of_the_story_target() {
    let d = crate::defences::Defences {
        namespace: "shop".into(),
        kind: crate::spec::TargetKind::Deployment,
        name: "checkout".into(),
        replicas: 4,
        template: Some(
            serde_json::from_value(json!({
                "metadata": {"labels": {"app": "checkout", "oomsday.dev/critical": "true"}},
                "spec": {"containers": [{"name": "app", "image": "x"}]}
            }))
            .unwrap(),
        ),
        ..Default::default()
    };
    let f = check(&d);
    assert!(
        has(
            &f,
            Rule::MemoryLimitMissing,
            Severity::Critical,
            "Deployment shop/checkout container app"
        ),
        "{:#?}",
        rules(&f)
    );
    assert!(has(
        &f,
        Rule::WorkloadWithoutPdb,
        Severity::High,
        "Deployment shop/checkout"
    ));
    assert!(has(
        &f,
        Rule::NamespaceWithoutLimitRange,
        Severity::Medium,
        "Namespace shop"
    ));
}
