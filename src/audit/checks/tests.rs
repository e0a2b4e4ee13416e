use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::audit::{Inventory, Rule, Severity, load_manifests, parse_manifests};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

fn rules(findings: &[Finding]) -> Vec<(Rule, Severity, String)> {
    findings
        .iter()
        .map(|f| (f.rule, f.severity, f.object.clone()))
        .collect()
}

fn has(findings: &[Finding], rule: Rule, severity: Severity, object: &str) -> bool {
    findings
        .iter()
        .any(|f| f.rule == rule && f.severity == severity && f.object == object)
}

#[test]
fn the_story_manifests_show_every_missing_defence() {
    let mut inv = load_manifests(&fixtures().join("story"), "default").unwrap();
    // 6 nodes of 16 GiB allocatable: 50 checkout pods cannot fit... once they have a request.
    inv.nodes = (0..6)
        .map(|i| {
            serde_json::from_value(json!({
                "metadata": {"name": format!("n{i}")},
                "status": {"allocatable": {"memory": "16Gi"}}
            }))
            .unwrap()
        })
        .collect();
    let f = audit(&inv);
    let ck = "Deployment shop/checkout";
    let app = "Deployment shop/checkout container app";
    assert!(
        has(&f, Rule::MemoryLimitMissing, Severity::Critical, app),
        "{:#?}",
        rules(&f)
    );
    assert!(has(&f, Rule::MemoryRequestMissing, Severity::Medium, app));
    assert!(has(&f, Rule::ReadinessProbeMissing, Severity::Medium, app));
    assert!(has(&f, Rule::WorkloadWithoutPdb, Severity::High, ck));
    assert!(has(
        &f,
        Rule::NamespaceWithoutLimitRange,
        Severity::Medium,
        "Namespace shop"
    ));
    assert!(has(
        &f,
        Rule::HpaWithoutMemoryRequest,
        Severity::Medium,
        "HorizontalPodAutoscaler shop/checkout"
    ));
    assert!(
        has(&f, Rule::CriticalWorkloadQos, Severity::High, ck),
        "BestEffort"
    );
    assert!(has(
        &f,
        Rule::CriticalWorkloadPriority,
        Severity::Medium,
        ck
    ));
    // cart: a limit-less redis (not critical: High), and a PDB that blocks every drain.
    assert!(has(
        &f,
        Rule::MemoryLimitMissing,
        Severity::High,
        "StatefulSet shop/cart container redis"
    ));
    assert!(!has(
        &f,
        Rule::MemoryRequestMissing,
        Severity::Medium,
        "StatefulSet shop/cart container redis"
    ));
    assert!(has(
        &f,
        Rule::PdbBlocksDrain,
        Severity::High,
        "PodDisruptionBudget shop/cart"
    ));
    assert!(
        !f.iter()
            .any(|x| x.rule == Rule::WorkloadWithoutPdb && x.object.contains("cart"))
    );
    // Worst first.
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity));
    // Findings name their file.
    let lim = f
        .iter()
        .find(|x| x.object == app && x.rule == Rule::MemoryLimitMissing)
        .unwrap();
    assert!(
        lim.file
            .as_deref()
            .is_some_and(|p| p.ends_with("story/checkout.yaml")),
        "{:?}",
        lim.file
    );
    assert!(lim.fix.contains("- name: app\n"), "{}", lim.fix);
    // The fix is YAML that parses.
    for x in &f {
        let v: Result<serde_json::Value, _> = serde_saphyr::from_str(&x.fix);
        assert!(v.is_ok(), "fix of {:?} is not YAML:\n{}", x.rule, x.fix);
    }
}

#[test]
fn the_fixed_manifests_are_clean() {
    let mut inv = load_manifests(&fixtures().join("fixed"), "default").unwrap();
    assert_eq!(inv.pdbs.len(), 1, "PDB inside a List");
    assert_eq!(inv.hpas.len(), 1);
    inv.nodes = (0..6)
        .map(|i| {
            serde_json::from_value(json!({
                "metadata": {"name": format!("n{i}")},
                "status": {"allocatable": {"memory": "16Gi"}}
            }))
            .unwrap()
        })
        .collect();
    let f = audit(&inv);
    assert!(f.is_empty(), "{:#?}", rules(&f));

    // With fewer nodes, 12 × 2 GiB no longer fits.
    inv.nodes.truncate(1);
    let f = audit(&inv);
    assert_eq!(
        rules(&f),
        vec![(
            Rule::HpaExceedsCapacity,
            Severity::High,
            "HorizontalPodAutoscaler shop/checkout".into()
        )]
    );
    assert!(f[0].message.contains("at most 8 fit"), "{}", f[0].message);
    assert!(f[0].fix.contains("maxReplicas: 8"));
}

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
    let sel = |v: serde_json::Value| -> LabelSelector { serde_json::from_value(v).unwrap() };
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

#[test]
fn limit_range_default_softens_a_missing_limit() {
    let text = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          resources: {requests: {memory: 128Mi}}
          readinessProbe: {httpGet: {path: /, port: 80}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: lr}
spec:
  limits:
    - type: Container
      default: {memory: 256Mi}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
";
    let mut inv = Inventory {
        default_namespace: "team".into(),
        ..Inventory::default()
    };
    parse_manifests(text, "inline.yaml", &mut inv).unwrap();
    let f = audit(&inv);
    // Namespaces left out default to `team`, so the LimitRange and PDB apply.
    assert_eq!(
        rules(&f),
        vec![(
            Rule::MemoryLimitMissing,
            Severity::Low,
            "Deployment team/web container web".into()
        )]
    );
    assert!(
        f[0].message.contains("gives it 256Mi by default"),
        "{}",
        f[0].message
    );
}

#[test]
fn bad_manifests_are_errors_with_the_file() {
    let mut inv = Inventory::default();
    let e = parse_manifests("a: [", "broken.yaml", &mut inv)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("broken.yaml: not valid YAML"), "{e}");
    let e = parse_manifests(
        "apiVersion: apps/v1\nkind: Deployment\nspec: 3\n",
        "d.yaml",
        &mut inv,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("d.yaml: a Deployment that is not valid"),
        "{e}"
    );
    // Unknown kinds and empty documents are skipped.
    parse_manifests(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\n",
        "s.yaml",
        &mut inv,
    )
    .unwrap();
    assert!(inv.deployments.is_empty());
}

#[test]
fn defences_of_the_story_target() {
    let d = crate::engine::Defences {
        namespace: "shop".into(),
        kind: "Deployment".into(),
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
    let f = audit_defences(&d);
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
