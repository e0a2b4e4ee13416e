use super::*;
use crate::sim::model::{ClusterModel, SnapshotInfo};

fn model() -> ClusterModel {
    let mut m = ClusterModel::from_yaml(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {name: staging}
spec:
  nodeGroups:
    - name: m5
      count: 1
      capacity: 8Gi
      labels: {zone: a}
      nodes: [{name: n1, conditions: {Ready: "True"}, otherPods: {pods: 2, requests: 200Mi, workingSet: 150Mi}}]
  workloads:
    - name: web
      namespace: shop
      replicas: 2
      containers: [{name: app, workingSet: 310Mi, resources: {requests: {memory: 256Mi}}}]
      observed:
        qos: Burstable
        spread: {app: {min: 300Mi, p50: 300Mi, p90: 310Mi, max: 310Mi}}
        pods:
          - {name: web-1, node: n1, workingSets: {app: 300Mi}}
          - {name: web-2, node: n1, workingSets: {app: 310Mi}}
"#,
    )
    .unwrap();
    m.metadata.snapshot = Some(SnapshotInfo {
        taken_at: "2026-11-30T07:32:00Z".parse().unwrap(),
        context: "context staging".into(),
        namespaces: vec![],
        working_sets: WorkingSetSource::Measured,
        nodes: 1,
        pods: 4,
        notes: vec!["node n1: something assumed".into()],
    });
    m
}

#[test]
fn the_file_says_what_it_is_and_reads_back_as_the_same_model() {
    let m = model();
    let yaml = to_yaml(&m).unwrap();
    assert!(
        yaml.starts_with(
            "# A ClusterModel taken by `oomsday snapshot` of context staging at 2026-11-30T07:32:00Z."
        ),
        "{yaml}"
    );
    assert!(yaml.contains(
        "# 1 nodes, 4 pods, 1 workloads modelled (all namespaces); working sets measured"
    ));
    assert!(yaml.contains("oomsday simulate EXPERIMENT.yaml --cluster THIS_FILE"));
    let back = ClusterModel::from_yaml(&yaml).unwrap();
    assert_eq!(back, m);
    // Readable: block style, quantities as Kubernetes writes them.
    assert!(yaml.contains("takenAt: \"2026-11-30T07:32:00Z\""), "{yaml}");
    assert!(yaml.contains("workingSet: 310Mi"), "{yaml}");
}

#[test]
fn an_edited_group_must_list_all_its_nodes_or_none() {
    let mut m = model();
    m.spec.node_groups[0].count = 3;
    let e = m.check().unwrap_err().to_string();
    assert!(e.contains("count is 3 but 1 nodes are listed"), "{e}");
    m.spec.node_groups[0].nodes.clear();
    assert!(m.check().is_ok());
}
