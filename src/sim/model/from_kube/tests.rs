use super::*;

const NODE: &str = include_str!("../../../../tests/fixtures/real-bed/node.json");
const CONFIGZ: &str = include_str!("../../../../tests/fixtures/real-bed/kubelet-configz.json");
const SUMMARY: &str =
    include_str!("../../../../tests/fixtures/real-bed/kubelet-stats-summary.json");
/// The real kubelet's `/metrics` (cgroup v1), and the v2 excerpt derived from it.
const METRICS: &str = include_str!("../../../../tests/fixtures/real-bed/kubelet-metrics.txt");
const METRICS_V2: &str = include_str!("../../../../tests/fixtures/cgroup-v2/kubelet-metrics.txt");

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

fn real_bed() -> (Node, KubeletConfiguration, Summary) {
    let node: Node = serde_json::from_str(NODE).unwrap();
    let configz: Configz = serde_json::from_str(CONFIGZ).unwrap();
    let summary: Summary = serde_json::from_str(SUMMARY).unwrap();
    (node, configz.kubeletconfig, summary)
}

#[test]
fn the_real_node_is_derived_from_its_api_objects() {
    let (node, config, summary) = real_bed();
    let d = node_from_kube(&node, &config, Some(&summary), Some(METRICS)).unwrap();
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let g = &d.group;
    assert_eq!((g.name.as_str(), g.count), ("real-1", 1));
    assert_eq!(g.cgroup_version, Some(CgroupVersion::V1));
    assert_eq!(g.capacity, Quantity::from_bytes(24_684_092 * 1024));
    assert_eq!(g.system_reserved, Quantity::from_bytes(18_392_636 * 1024));
    assert_eq!(g.kube_reserved, Quantity::ZERO);
    // The pods' cgroup: capacity − reserved = 6 GiB, and allocatable 3 GiB as the Node says.
    let pods_limit = g.capacity.bytes() - g.system_reserved.bytes() - g.kube_reserved.bytes();
    assert_eq!(pods_limit, 6 * GI);
    let k = &d.kubelet;
    assert_eq!(pods_limit - k.eviction_hard.bytes(), 3 * GI);
    assert_eq!(k.eviction_hard, Quantity::gib(3));
    assert_eq!(k.eviction_soft, None);
    assert!(k.kernel_memcg_notification);
    assert!(k.enforce_node_allocatable);
    assert_eq!(
        k.eviction_pressure_transition_period,
        Duration::from_secs(10)
    );
    assert_eq!(k.node_status_update_frequency, Duration::from_secs(10));
    assert_eq!(k.housekeeping_interval, Duration::from_secs(10));
    assert_eq!(k.max_pods, 110);
    // The leaker's image is on the node: no pull.
    assert_eq!(k.container_start, Duration(StdDuration::from_millis(600)));
    // Outside the pods: the node's working set minus the pods' (no kubelet/runtime system
    // containers in this Summary, so the model's kubelet figure stays).
    assert_eq!(k.kubelet_memory, KubeletSettings::default().kubelet_memory);
    assert_eq!(
        k.system_memory.bytes(),
        3_805_306_880 - 3_084_288 - k.kubelet_memory.bytes()
    );
    assert_eq!(d.usage.len(), 5);
    assert!(d.usage.iter().all(|u| u.working_set < MI));
}

#[test]
fn defaults_apply_where_the_configuration_is_silent() {
    let (node, _, _) = real_bed();
    let config = KubeletConfiguration {
        eviction_hard: BTreeMap::from([("memory.available".into(), "100Mi".into())]),
        ..Default::default()
    };
    let d = node_from_kube(&node, &config, None, None).unwrap();
    let k = &d.kubelet;
    let def = KubeletSettings::default();
    assert!(!k.kernel_memcg_notification, "the kubelet's default is off");
    assert!(
        k.enforce_node_allocatable,
        "[pods] is the kubelet's default"
    );
    assert_eq!(
        k.eviction_pressure_transition_period,
        def.eviction_pressure_transition_period
    );
    assert_eq!(k.system_memory, def.system_memory);
    assert!(d.usage.is_empty());
    // No reservations here, so the Node's allocatable (3Gi) disagrees: said, not hidden.
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(d.notes[0].contains("allocatable"), "{:?}", d.notes);
}

#[test]
fn percentage_thresholds_are_shares_of_capacity() {
    let (node, mut config, _) = real_bed();
    config
        .eviction_hard
        .insert("memory.available".into(), "10%".into());
    config.enforce_node_allocatable = Some(vec![]);
    let d = node_from_kube(&node, &config, None, None).unwrap();
    let cap = 24_684_092u64 * 1024;
    assert_eq!(d.kubelet.eviction_hard.bytes(), cap.div_ceil(10));
    assert!(!d.kubelet.enforce_node_allocatable);
}

#[test]
fn go_durations_parse() {
    let s = |v: &str| parse_go_duration(v).unwrap().as_secs_f64();
    assert_eq!(s("10s"), 10.0);
    assert_eq!(s("5m0s"), 300.0);
    assert_eq!(s("4h0m0s"), 14_400.0);
    assert_eq!(s("1m30s"), 90.0);
    assert_eq!(s("100ms"), 0.1);
    assert_eq!(s("0"), 0.0);
    for bad in ["", "10", "5x", "m"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn usage_goes_to_the_workload_that_owns_the_pod() {
    assert!(owned_by("checkout-77cf7fbbc5-2d7mg", "checkout"));
    assert!(owned_by("db-0", "db"));
    assert!(!owned_by("checkout-api-77cf7fbbc5-2d7mg", "checkout"));
    assert!(!owned_by("checkoutx-1", "checkout"));
    let mut m = ClusterModel::from_yaml(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
spec:
  nodeGroups: [{name: g, count: 1, capacity: 8Gi}]
  workloads:
    - {name: checkout, namespace: bf, replicas: 2, containers: [{name: checkout, workingSet: 64Mi}]}
    - {name: checkout-api, namespace: bf, replicas: 1, containers: [{name: checkout, workingSet: 64Mi}]}
"#,
    )
    .unwrap();
    let u = |pod: &str, ws: u64| ContainerUsage {
        namespace: "bf".into(),
        pod: pod.into(),
        container: "checkout".into(),
        working_set: ws,
    };
    let usage = [
        u("checkout-5d8f-aaaaa", 100),
        u("checkout-5d8f-bbbbb", 300),
        u("checkout-api-7c9-ccccc", 7),
    ];
    assert_eq!(apply_usage(&mut m, &usage), 2);
    assert_eq!(m.spec.workloads[0].containers[0].working_set.bytes(), 300);
    assert_eq!(m.spec.workloads[1].containers[0].working_set.bytes(), 7);
}

#[test]
fn the_cgroup_version_is_the_kubelets_metric() {
    assert_eq!(cgroup_version(METRICS), Some(CgroupVersion::V1));
    assert_eq!(cgroup_version(METRICS_V2), Some(CgroupVersion::V2));
    // Labels, a timestamp, and other metrics whose name begins the same.
    assert_eq!(
        cgroup_version("kubelet_cgroup_version{} 2 1733493600000\n"),
        Some(CgroupVersion::V2)
    );
    assert_eq!(cgroup_version("kubelet_cgroup_version_total 2\n"), None);
    let without: String = METRICS
        .lines()
        .filter(|l| !l.starts_with("kubelet_cgroup_version "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(cgroup_version(&without), None);
    assert_eq!(cgroup_version("kubelet_cgroup_version 3\n"), None);
}

#[test]
fn a_node_without_the_metric_has_an_unknown_cgroup_version_and_says_why() {
    let (node, config, summary) = real_bed();
    let v2 = node_from_kube(&node, &config, Some(&summary), Some(METRICS_V2)).unwrap();
    assert_eq!(v2.group.cgroup_version, Some(CgroupVersion::V2));
    // configz says the same on v2: the notification is configured, and does nothing there.
    assert!(v2.kubelet.kernel_memcg_notification);
    assert!(!v2.group.memcg_notified(&v2.kubelet));
    let old = node_from_kube(&node, &config, Some(&summary), Some("# HELP up\nup 1\n")).unwrap();
    assert_eq!(old.group.cgroup_version, Some(CgroupVersion::Unknown));
    assert!(
        old.notes
            .iter()
            .any(|n| n.contains("kubelet_cgroup_version") && n.contains("v1.31")),
        "{:?}",
        old.notes
    );
    let unread = node_from_kube(&node, &config, Some(&summary), None).unwrap();
    assert_eq!(unread.group.cgroup_version, Some(CgroupVersion::Unknown));
    // Unknown is simulated as configured (v1's behaviour).
    assert!(unread.group.memcg_notified(&unread.kubelet));
}
