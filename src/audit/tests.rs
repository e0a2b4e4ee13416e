use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::defences::tests::{has, rules};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
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
