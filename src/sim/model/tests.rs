use super::*;

const GI: u64 = 1 << 30;
const MI: u64 = 1 << 20;

#[test]
fn qos_classes_follow_the_pod_qos_page() {
    let g = MemorySpec {
        request: Some(GI),
        limit: Some(GI),
    };
    let b = MemorySpec {
        request: Some(GI),
        limit: None,
    };
    let e = MemorySpec::default();
    assert_eq!(qos_class(&[g, g]), QosClass::Guaranteed);
    assert_eq!(qos_class(&[g, b]), QosClass::Burstable);
    assert_eq!(qos_class(&[g, e]), QosClass::Burstable);
    assert_eq!(qos_class(&[e, e]), QosClass::BestEffort);
}

#[test]
fn oom_score_adj_matches_the_documented_table() {
    let cap = 32 * GI;
    assert_eq!(oom_score_adj(QosClass::Guaranteed, Some(GI), cap), -997);
    assert_eq!(oom_score_adj(QosClass::BestEffort, None, cap), 1000);
    // 1000 - 1000 * 8Gi / 32Gi = 750
    assert_eq!(oom_score_adj(QosClass::Burstable, Some(8 * GI), cap), 750);
    // Clamped into 2..=999.
    assert_eq!(oom_score_adj(QosClass::Burstable, Some(MI), cap), 999);
    assert_eq!(oom_score_adj(QosClass::Burstable, Some(cap), cap), 2);
}

#[test]
fn limit_range_defaults_only_fill_what_is_missing() {
    let lr = LimitRangeModel {
        name: "mem".into(),
        namespace: "shop".into(),
        default: Some(Quantity::gib(1)),
        default_request: Some(Quantity::mib(512)),
        max: None,
    };
    let none = admit(MemorySpec::default(), &[&lr]);
    assert_eq!(none.limit, Some(GI));
    assert_eq!(none.request, Some(512 * MI));
    let own = admit(
        MemorySpec {
            request: Some(100 * MI),
            limit: Some(2 * GI),
        },
        &[&lr],
    );
    assert_eq!(own.limit, Some(2 * GI));
    assert_eq!(own.request, Some(100 * MI));
    // No LimitRange: a limit alone makes the request equal to it.
    let lim = admit(
        MemorySpec {
            request: None,
            limit: Some(GI),
        },
        &[],
    );
    assert_eq!(lim.request, Some(GI));
}

#[test]
fn model_parses_expands_copies_and_rejects_unknown_fields() {
    let yaml = r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {name: tiny}
spec:
  nodeGroups: [{name: general, count: 2, capacity: 8Gi}]
  workloads:
    - name: svc-{i}
      copies: 3
      replicas: 2
      containers: [{name: app, workingSet: 1Gi, resources: {requests: {memory: 512Mi, cpu: 100m}}}]
"#;
    let m = ClusterModel::from_yaml(yaml).unwrap();
    let w = m.workloads();
    assert_eq!(w.len(), 3);
    assert_eq!(w[2].name, "svc-03");
    assert_eq!(w[2].labels.get("app").map(String::as_str), Some("svc-03"));
    assert_eq!(
        w[0].containers[0].resources.memory_request(),
        Some(512 * MI)
    );
    assert_eq!(m.spec.kubelet.eviction_hard, Quantity::mib(100));
    let bad = yaml.replace("replicas: 2", "replicas: 2\n      replica: 3");
    assert!(ClusterModel::from_yaml(&bad).is_err());
}
