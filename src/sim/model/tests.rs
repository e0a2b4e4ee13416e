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

fn with_cgroup(version: &str, memcg: bool) -> ClusterModel {
    ClusterModel::from_yaml(&format!(
        "apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
spec:
  kubelet: {{kernelMemcgNotification: {memcg}}}
  nodeGroups:
    - {{name: old, count: 1, capacity: 8Gi}}
    - {{name: new, count: 1, capacity: 8Gi{version}}}
"
    ))
    .unwrap()
}

#[test]
fn the_cgroup_version_decides_what_kernel_memcg_notification_does() {
    let m = with_cgroup(", cgroupVersion: v2", true);
    let k = &m.spec.kubelet;
    let [old, new] = &m.spec.node_groups[..] else {
        panic!("two groups")
    };
    assert_eq!(old.cgroup_version, None);
    assert_eq!(new.cgroup_version, Some(CgroupVersion::V2));
    assert!(old.memcg_notified(k), "not stated: as configured");
    assert!(
        !new.memcg_notified(k),
        "v2: no notifier whatever configz says"
    );
    let said = m.notifier_assumption();
    assert!(
        said.contains("on for old (cgroup version not stated")
            && said.contains("none on new (cgroup v2"),
        "{said}"
    );
    assert!(!m.unknown_cgroups_matter());
    let unknown = with_cgroup(", cgroupVersion: unknown", true);
    assert!(unknown.unknown_cgroups_matter());
    let v2 = unknown.with_unknown_cgroups_as(CgroupVersion::V2);
    assert_eq!(
        v2.spec.node_groups[1].cgroup_version,
        Some(CgroupVersion::V2)
    );
    assert_eq!(v2.spec.node_groups[0].cgroup_version, None);
    // Without the notification configured, the version decides nothing.
    let off = with_cgroup(", cgroupVersion: unknown", false);
    assert!(!off.unknown_cgroups_matter());
    assert!(off.notifier_assumption().contains("off on every node"));
    let bad = ClusterModel::from_yaml(
        "apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
spec:
  nodeGroups: [{name: n, count: 1, capacity: 8Gi, cgroupVersion: v3}]
",
    );
    assert!(bad.is_err());
}
