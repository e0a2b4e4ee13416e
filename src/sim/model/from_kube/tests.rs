use super::*;

const NODE: &str = include_str!("../../../../tests/fixtures/real-bed/node.json");
const CONFIGZ: &str = include_str!("../../../../tests/fixtures/real-bed/kubelet-configz.json");
const SUMMARY: &str =
    include_str!("../../../../tests/fixtures/real-bed/kubelet-stats-summary.json");

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
    let d = node_from_kube(&node, &config, Some(&summary)).unwrap();
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let g = &d.group;
    assert_eq!((g.name.as_str(), g.count), ("real-1", 1));
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
    assert_eq!(k.container_start, Duration::from_secs(1));
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
    let d = node_from_kube(&node, &config, None).unwrap();
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
    let d = node_from_kube(&node, &config, None).unwrap();
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
