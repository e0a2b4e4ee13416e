use serde_json::{Value, json};

use super::*;
use crate::sim::model::from_kube::Configz;

const NODE: &str = include_str!("../../../tests/fixtures/real-bed/node.json");
const CONFIGZ: &str = include_str!("../../../tests/fixtures/real-bed/kubelet-configz.json");
const SUMMARY: &str = include_str!("../../../tests/fixtures/real-bed/kubelet-stats-summary.json");
const METRICS: &str = include_str!("../../../tests/fixtures/real-bed/kubelet-metrics.txt");
const METRICS_V2: &str = include_str!("../../../tests/fixtures/cgroup-v2/kubelet-metrics.txt");

const GI: u64 = 1 << 30;
const MI: u64 = 1 << 20;

fn real_node() -> Node {
    serde_json::from_str(NODE).unwrap()
}

fn real_kubelet() -> Kubelet {
    let configz: Configz = serde_json::from_str(CONFIGZ).unwrap();
    Kubelet::Read {
        config: Box::new(configz.kubeletconfig),
        summary: Some(serde_json::from_str(SUMMARY).unwrap()),
        metrics: Some(METRICS.into()),
    }
}

fn taken() -> Taken {
    Taken {
        at: "2026-11-30T07:32:00Z".parse().unwrap(),
        context: "context real-bed".into(),
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A Deployment with one container.
fn deployment(ns: &str, name: &str, replicas: u32, resources: Value) -> Deployment {
    from(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": "x", "resources": resources}]}}}
    }))
}

/// A running pod of a Deployment's ReplicaSet, on `node`.
fn pod(ns: &str, name: &str, owner: (&str, &str), node: &str, resources: Value, qos: &str) -> Pod {
    let (kind, owner_name) = owner;
    let hash = name.split('-').rev().nth(1).unwrap_or("h");
    let container = name.split('-').next().unwrap_or(name);
    from(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"pod-template-hash": hash},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                                          "uid": "u", "controller": true}]},
        "spec": {"nodeName": node, "priority": 0,
                 "containers": [{"name": container, "image": "x", "resources": resources}]},
        "status": {"phase": "Running", "qosClass": qos}
    }))
}

/// The real bed: its node, kubelet and Summary, and the setup the recordings ran (the pods are
/// the ones the Summary API reported on).
fn real_bed(kubelet: Kubelet) -> ClusterModel {
    let mut b = Builder::new(Scope::All);
    b.node(real_node()).unwrap();
    b.deployment(&deployment(
        "bf",
        "checkout",
        3,
        json!({"requests": {"memory": "64Mi"}}),
    ))
    .unwrap();
    b.deployment(&deployment("bystand", "cache", 2, json!({})))
        .unwrap();
    b.pdb(&from(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "checkout", "namespace": "bf"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "checkout"}}}
    })))
    .unwrap();
    let rs = ("ReplicaSet", "checkout-77cf7fbbc5");
    for p in [
        "checkout-77cf7fbbc5-2d7mg",
        "checkout-77cf7fbbc5-6xlln",
        "checkout-77cf7fbbc5-q7dvw",
    ] {
        b.pod(&pod(
            "bf",
            p,
            rs,
            "real-1",
            json!({"requests": {"memory": "64Mi"}}),
            "Burstable",
        ))
        .unwrap();
    }
    for p in ["cache-7bb47c4ffd-jkxwl", "cache-7bb47c4ffd-bgn5w"] {
        b.pod(&pod(
            "bystand",
            p,
            ("ReplicaSet", "cache-7bb47c4ffd"),
            "real-1",
            json!({}),
            "BestEffort",
        ))
        .unwrap();
    }
    b.kubelet("real-1", kubelet).unwrap();
    b.finish(&taken()).unwrap()
}

#[test]
fn the_real_node_is_reproduced_with_each_pods_working_set() {
    let m = real_bed(real_kubelet());
    let k = &m.spec.kubelet;
    assert_eq!(k.eviction_hard, Quantity::gib(3));
    assert!(k.kernel_memcg_notification);
    assert!(k.enforce_node_allocatable);
    assert_eq!(k.eviction_pressure_transition_period.std().as_secs(), 10);
    let g = &m.spec.node_groups[..];
    assert_eq!(g.len(), 1);
    let g = &g[0];
    assert_eq!((g.name.as_str(), g.count), ("real-1", 1));
    let n = &g.nodes[0];
    assert_eq!(n.name, "real-1");
    // Allocatable as the Node says it, and as the reservations and threshold imply.
    assert_eq!(n.allocatable, Some(Quantity::gib(3)));
    let implied = g.capacity.bytes()
        - g.system_reserved.bytes()
        - g.kube_reserved.bytes()
        - k.eviction_hard.bytes();
    assert_eq!(implied, 3 * GI);
    assert_eq!(n.conditions.get("Ready").map(String::as_str), Some("True"));
    // One node: its system memory is the model's.
    assert_eq!(n.system_memory, None);
    assert_eq!(
        k.system_memory.bytes(),
        3_805_306_880 - 3_084_288 - k.kubelet_memory.bytes()
    );
    // Every pod with its own working set, as the Summary API reported it.
    let checkout = &m.spec.workloads[0];
    let observed = checkout.observed.as_ref().unwrap();
    assert_eq!(observed.qos.as_deref(), Some("Burstable"));
    let ws: Vec<(&str, u64)> = observed
        .pods
        .iter()
        .map(|p| (p.name.as_str(), p.working_sets["checkout"].bytes()))
        .collect();
    assert_eq!(
        ws,
        [
            ("checkout-77cf7fbbc5-2d7mg", 241_664),
            ("checkout-77cf7fbbc5-6xlln", 245_760),
            ("checkout-77cf7fbbc5-q7dvw", 241_664)
        ]
    );
    assert!(
        observed
            .pods
            .iter()
            .all(|p| p.node.as_deref() == Some("real-1"))
    );
    let s = observed.spread["checkout"];
    assert_eq!(
        (s.min.bytes(), s.p50.bytes(), s.max.bytes()),
        (241_664, 241_664, 245_760)
    );
    // The container's figure is the most any pod used.
    assert_eq!(checkout.containers[0].working_set.bytes(), 245_760);
    let cache = m.spec.workloads[1].observed.as_ref().unwrap();
    assert_eq!(cache.qos.as_deref(), Some("BestEffort"));
    assert_eq!(cache.pods[1].working_sets["cache"].bytes(), 245_760);
    // What is in the pods' cgroup beyond the containers (pause containers, pod overhead).
    let containers: u64 = [241_664, 245_760, 241_664, 245_760, 233_472].iter().sum();
    let other = n.other_pods.unwrap();
    assert_eq!(other.pods, 0);
    assert_eq!(other.working_set.bytes(), 3_084_288 - containers);
    let info = m.metadata.snapshot.as_ref().unwrap();
    assert_eq!(info.working_sets, WorkingSetSource::Measured);
    assert_eq!(info.taken_at, taken().at);
    assert_eq!(info.context, "context real-bed");
    assert_eq!((info.nodes, info.pods), (1, 5));
    assert!(info.notes.is_empty(), "{:?}", info.notes);
    assert_eq!(m.metadata.name, "real-bed");
    assert_eq!(
        m.spec.pdbs[0].min_available,
        Some(oomsday_core::CountOrPercent::Count(2))
    );
    // It is a valid model, and the simulator builds it.
    assert!(crate::sim::SimCluster::new(&m, 1).is_ok());
}

#[test]
fn without_nodes_proxy_the_defaults_and_estimates_say_so() {
    let m = real_bed(Kubelet::Unread("nodes/proxy get is not allowed".into()));
    let k = &m.spec.kubelet;
    assert_eq!(k.eviction_hard, Quantity::mib(100));
    assert!(!k.kernel_memcg_notification);
    assert_eq!(k.eviction_pressure_transition_period.std().as_secs(), 300);
    let g = &m.spec.node_groups[0];
    // The reservations the Node's allocatable implies, so that allocatable stays 3Gi.
    assert_eq!(
        g.capacity.bytes() - g.kube_reserved.bytes() - g.system_reserved.bytes() - 100 * MI,
        3 * GI
    );
    let checkout = &m.spec.workloads[0];
    assert_eq!(checkout.containers[0].working_set, Quantity::mib(64));
    assert!(
        checkout.observed.as_ref().unwrap().pods[0]
            .working_sets
            .is_empty()
    );
    assert_eq!(
        m.spec.workloads[1].containers[0].working_set,
        Quantity::mib(256)
    );
    let info = m.metadata.snapshot.as_ref().unwrap();
    assert_eq!(info.working_sets, WorkingSetSource::Estimated);
    let notes = info.notes.join("\n");
    assert!(notes.contains("nodes/proxy get is not allowed"), "{notes}");
    assert!(notes.contains("working sets are estimates"), "{notes}");
}

fn node(name: &str, memory: &str, labels: Value) -> Node {
    from(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"big": "x".repeat(1000)},
                     "managedFields": [{"manager": "kubelet"}]},
        "spec": {},
        "status": {"capacity": {"memory": memory, "pods": "110"},
                   "allocatable": {"memory": memory, "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "images": [{"names": ["registry/big:1"], "sizeBytes": 1}]}
    }))
}

fn config(eviction: &str) -> Kubelet {
    Kubelet::Read {
        config: Box::new(KubeletConfiguration {
            eviction_hard: BTreeMap::from([("memory.available".into(), eviction.into())]),
            ..KubeletConfiguration::default()
        }),
        summary: None,
        metrics: Some(METRICS.into()),
    }
}

#[test]
fn nodes_of_another_cgroup_version_are_another_group() {
    let mut b = Builder::new(Scope::All);
    for n in ["a", "b", "c", "d"] {
        b.node(node(n, "32Gi", json!({}))).unwrap();
    }
    let configz: Configz = serde_json::from_str(CONFIGZ).unwrap();
    let v2 = |metrics: Option<&str>| Kubelet::Read {
        config: Box::new(configz.kubeletconfig.clone()),
        summary: None,
        metrics: metrics.map(String::from),
    };
    b.kubelet("a", v2(Some(METRICS))).unwrap();
    b.kubelet("b", v2(Some(METRICS_V2))).unwrap();
    b.kubelet("c", v2(Some(METRICS_V2))).unwrap();
    b.kubelet("d", v2(None)).unwrap();
    let m = b.finish(&taken()).unwrap();
    let groups: Vec<(u32, Option<CgroupVersion>)> = m
        .spec
        .node_groups
        .iter()
        .map(|g| (g.count, g.cgroup_version))
        .collect();
    assert_eq!(
        groups,
        [
            (1, Some(CgroupVersion::V1)),
            (2, Some(CgroupVersion::V2)),
            (1, Some(CgroupVersion::Unknown))
        ]
    );
    let notes = m.metadata.snapshot.as_ref().unwrap().notes.join("\n");
    let v2_group = &m.spec.node_groups[1].name;
    assert!(
        notes.contains(&format!("node groups {v2_group} run cgroup v2")),
        "{notes}"
    );
    assert!(
        notes.contains("node d: its kubelet's /metrics did not answer"),
        "{notes}"
    );
    assert!(m.unknown_cgroups_matter());
}

#[test]
fn the_kubelet_most_nodes_run_wins_and_the_others_are_named() {
    let mut b = Builder::new(Scope::All);
    for n in ["a", "b", "c"] {
        b.node(node(n, "16Gi", json!({}))).unwrap();
    }
    b.kubelet("a", config("500Mi")).unwrap();
    b.kubelet("b", config("1Gi")).unwrap();
    b.kubelet("c", config("1Gi")).unwrap();
    let m = b.finish(&taken()).unwrap();
    assert_eq!(m.spec.kubelet.eviction_hard, Quantity::gib(1));
    let notes = m.metadata.snapshot.unwrap().notes.join("\n");
    assert!(
        notes.contains("those of 2 of 3 nodes") && notes.contains("a (evictionHard 500Mi"),
        "{notes}"
    );
}

#[test]
fn identical_nodes_form_a_group_with_their_common_labels() {
    let mut b = Builder::new(Scope::All);
    let itype = |t: &str, zone: &str| json!({"node.kubernetes.io/instance-type": t, "zone": zone});
    b.node(node("w-2", "32Gi", itype("m5.2xlarge", "b")))
        .unwrap();
    b.node(node("w-1", "32Gi", itype("m5.2xlarge", "a")))
        .unwrap();
    b.node(node("big", "64Gi", itype("r5.2xlarge", "a")))
        .unwrap();
    let mut cordoned = node("w-3", "32Gi", itype("m5.2xlarge", "a"));
    cordoned.spec.as_mut().unwrap().unschedulable = Some(true);
    cordoned.spec.as_mut().unwrap().taints = Some(vec![from(
        json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}),
    )]);
    b.node(cordoned).unwrap();
    for n in ["w-1", "w-2", "w-3", "big"] {
        b.kubelet(n, config("100Mi")).unwrap();
    }
    let m = b.finish(&taken()).unwrap();
    let groups: Vec<(&str, u32)> = m
        .spec
        .node_groups
        .iter()
        .map(|g| (g.name.as_str(), g.count))
        .collect();
    assert_eq!(groups, [("big", 1), ("m5.2xlarge", 3)]);
    let g = &m.spec.node_groups[1];
    assert_eq!(
        g.labels
            .get("node.kubernetes.io/instance-type")
            .map(String::as_str),
        Some("m5.2xlarge")
    );
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["w-1", "w-2", "w-3"]);
    assert_eq!(g.nodes[1].labels.get("zone").map(String::as_str), Some("b"));
    assert!(!g.labels.contains_key("zone"));
    assert!(g.nodes[2].unschedulable);
    assert_eq!(g.nodes[2].taints[0].effect, "NoSchedule");
    let notes = m.metadata.snapshot.unwrap().notes.join("\n");
    assert!(notes.contains("node w-3 is cordoned"), "{notes}");
}

#[test]
fn pods_outside_the_modelled_workloads_are_their_nodes_load() {
    let mut b = Builder::new(Scope::Namespaces(BTreeSet::from(["shop".to_string()])));
    b.node(node("n1", "16Gi", json!({}))).unwrap();
    b.deployment(&deployment(
        "shop",
        "web",
        1,
        json!({"requests": {"memory": "1Gi"}}),
    ))
    .unwrap();
    // Out of scope: not modelled, its pod is load.
    b.deployment(&deployment("other", "batch", 1, json!({})))
        .unwrap();
    let req = |m: &str| json!({"requests": {"memory": m}});
    b.pod(&pod(
        "shop",
        "web-abc12-xxxxx",
        ("ReplicaSet", "web-abc12"),
        "n1",
        req("1Gi"),
        "Burstable",
    ))
    .unwrap();
    b.pod(&pod(
        "other",
        "batch-def34-yyyyy",
        ("ReplicaSet", "batch-def34"),
        "n1",
        req("2Gi"),
        "Burstable",
    ))
    .unwrap();
    b.pod(&pod(
        "kube-system",
        "proxy-zzzzz",
        ("DaemonSet", "proxy"),
        "n1",
        req("100Mi"),
        "Burstable",
    ))
    .unwrap();
    // Ended pods use no memory (evicted ones stay listed as Failed).
    let mut evicted = pod(
        "shop",
        "web-abc12-evict",
        ("ReplicaSet", "web-abc12"),
        "n1",
        req("1Gi"),
        "Burstable",
    );
    evicted.status.as_mut().unwrap().phase = Some("Failed".into());
    b.pod(&evicted).unwrap();
    b.kubelet("n1", config("100Mi")).unwrap();
    let m = b.finish(&taken()).unwrap();
    assert_eq!(m.spec.workloads.len(), 1);
    let web = m.spec.workloads[0].observed.as_ref().unwrap();
    assert_eq!(web.pods.len(), 1);
    let other = m.spec.node_groups[0].nodes[0].other_pods.unwrap();
    assert_eq!(other.pods, 2);
    assert_eq!(other.requests.bytes(), 2 * GI + 100 * MI);
    // No Summary: their requests stand for their working set.
    assert_eq!(other.working_set.bytes(), 2 * GI + 100 * MI);
    let info = m.metadata.snapshot.unwrap();
    assert_eq!(info.namespaces, ["shop"]);
    assert_eq!(info.pods, 3);
}

#[test]
fn pods_belong_to_the_deployment_named_in_their_replica_set() {
    let p = pod(
        "s",
        "web-api-5d8f-x",
        ("ReplicaSet", "web-api-5d8f"),
        "n",
        json!({}),
        "BestEffort",
    );
    assert_eq!(owner(&p), Some(("Deployment", "web-api".to_string())));
    let s = pod(
        "s",
        "db-0",
        ("StatefulSet", "db"),
        "n",
        json!({}),
        "BestEffort",
    );
    assert_eq!(owner(&s), Some(("StatefulSet", "db".to_string())));
    let j = pod(
        "s",
        "job-1-x",
        ("Job", "job-1"),
        "n",
        json!({}),
        "BestEffort",
    );
    assert_eq!(owner(&j), None);
    // A ReplicaSet not named after its pods' template hash is nobody's Deployment.
    let bare = pod(
        "s",
        "rs-x",
        ("ReplicaSet", "bare"),
        "n",
        json!({}),
        "BestEffort",
    );
    assert_eq!(owner(&bare), None);
}

#[test]
fn a_bad_quantity_names_its_object_and_field() {
    let mut b = Builder::new(Scope::All);
    let p = pod(
        "shop",
        "web-a1-b2",
        ("ReplicaSet", "web-a1"),
        "n",
        json!({"limits": {"memory": "lots"}}),
        "Burstable",
    );
    let e = b.pod(&p).unwrap_err().to_string();
    assert!(
        e.contains("Pod shop/web-a1-b2")
            && e.contains("container web")
            && e.contains("limits.memory"),
        "{e}"
    );
    let e = b.kubelet("nowhere", config("1Gi")).unwrap_err().to_string();
    assert!(e.contains("nowhere"), "{e}");
    assert!(
        Builder::new(Scope::All).finish(&taken()).is_err(),
        "no nodes, no model"
    );
}

#[test]
fn slim_nodes_keep_only_what_the_model_reads() {
    let n = slim_node(node("n", "8Gi", json!({"a": "b"})));
    assert!(n.metadata.managed_fields.is_none() && n.metadata.annotations.is_none());
    let s = n.status.unwrap();
    assert!(
        s.images.unwrap().is_empty(),
        "only the leaker's image is kept"
    );
    assert!(s.capacity.is_some() && s.allocatable.is_some() && s.conditions.is_some());
}

#[test]
fn spreads_are_nearest_rank_percentiles() {
    let s = Spread::of(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]).unwrap();
    assert_eq!(
        (s.min.bytes(), s.p50.bytes(), s.p90.bytes(), s.max.bytes()),
        (1, 5, 9, 10)
    );
    let one = Spread::of(&[7]).unwrap();
    assert_eq!((one.p50.bytes(), one.p90.bytes()), (7, 7));
    assert!(Spread::of(&[]).is_none());
}

#[test]
fn priorities_come_from_the_pods() {
    let mut b = Builder::new(Scope::All);
    b.node(node("n1", "16Gi", json!({}))).unwrap();
    b.priority_class(&from(
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                  "metadata": {"name": "high"}, "value": 1000}),
    ));
    let mut d = deployment("shop", "web", 2, json!({}));
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .priority_class_name = Some("high".into());
    b.deployment(&d).unwrap();
    assert_eq!(b.workloads[0].1.priority, 1000, "the class's value");
    let mut p = pod(
        "shop",
        "web-a1-b2",
        ("ReplicaSet", "web-a1"),
        "n1",
        json!({}),
        "BestEffort",
    );
    p.spec.as_mut().unwrap().priority = Some(2000);
    b.pod(&p).unwrap();
    let m = b.finish(&taken()).unwrap();
    assert_eq!(
        m.spec.workloads[0].priority, 2000,
        "what the pods run with wins"
    );
}
