use super::*;

#[test]
fn node_groups_parse() {
    let g = parse_node_group("120x32Gi", 0).unwrap();
    assert_eq!((g.count, g.capacity), (120, Quantity::gib(32)));
    let r = parse_node_group("3x16Gi:1Gi", 1).unwrap();
    assert_eq!(r.kube_reserved, Quantity::gib(1));
    assert!(parse_node_group("32Gi", 0).is_err());
}

#[test]
fn manifests_become_a_model() {
    let dir = std::env::temp_dir().join(format!("oomsday-sim-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: checkout}}
  template:
    metadata:
      labels: {app: checkout}
      annotations: {sim.oomsday.dev/working-set: 900Mi}
    spec:
      priorityClassName: high
      containers:
        - name: checkout
          image: shop/checkout
          resources: {requests: {memory: 512Mi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: checkout, namespace: shop}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: checkout}}
---
apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec: {ports: [{port: 80}]}
"#,
    )
    .unwrap();
    let nodes = vec![parse_node_group("3x16Gi", 0).unwrap()];
    let m = from_manifests(&dir, nodes, KubeletSettings::default()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let w = &m.spec.workloads[0];
    assert_eq!(
        (w.name.as_str(), w.replicas, w.priority),
        ("checkout", 3, 1000)
    );
    assert_eq!(w.containers[0].working_set, Quantity::mib(900));
    assert_eq!(w.containers[0].resources.memory_request(), Some(512 << 20));
    assert_eq!(m.spec.pdbs[0].min_available, Some(CountOrPercent::Count(2)));
    assert!(super::super::SimCluster::new(&m, 1).is_ok());
}
