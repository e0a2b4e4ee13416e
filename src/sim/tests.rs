//! The simulator through its seam, on small models: each behaviour the model claims.

use oomsday_core::Duration;

use super::{ClusterModel, SimCluster};
use crate::engine::{Cluster, InjectionPlan};
use crate::observe::{DisruptionCause, Happening, NodeConditionKind, Observation, Time};
use crate::spec::{InjectionMode, LeakExperimentSpec};

fn model(nodes: &str, extra: &str) -> ClusterModel {
    ClusterModel::from_yaml(&format!(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {{name: test}}
spec:
  kubelet: {{kubeletRestartDelay: 10m}}
  nodeGroups: [{nodes}]
  workloads:
    - name: web
      namespace: shop
      replicas: 4
      containers: [{{name: app, workingSet: 1Gi, resources: {{requests: {{memory: 1Gi}}}}}}]
{extra}
"#
    ))
    .unwrap()
}

fn spec(leak: serde_json::Value, mode: &str) -> LeakExperimentSpec {
    serde_json::from_value(serde_json::json!({
        "target": {"kind": "Deployment", "name": "web"},
        "injection": {"mode": mode, "pods": if mode == "ephemeral" { serde_json::json!(2) } else { serde_json::Value::Null }},
        "leak": leak,
        "duration": "30m",
    }))
    .unwrap()
}

fn plan(c: &SimCluster, spec: LeakExperimentSpec) -> InjectionPlan {
    InjectionPlan {
        run_id: "run-1".into(),
        namespace: "shop".into(),
        deadline: c.now().saturating_add(spec.duration.std()).unwrap(),
        started: c.now(),
        spec,
    }
}

/// Drives the cluster like the engine does, to `secs` after now.
async fn run_for(c: &mut SimCluster, secs: u64) -> Vec<Observation> {
    let until: Time = c
        .now()
        .saturating_add(Duration::from_secs(secs).std())
        .unwrap();
    let mut all = Vec::new();
    while c.now() < until {
        all.extend(c.observe(until).await.unwrap());
    }
    all
}

fn count(obs: &[Observation], f: impl Fn(&Happening) -> bool) -> usize {
    obs.iter().filter(|o| f(&o.happening)).count()
}

#[tokio::test]
async fn preflight_snapshots_defences_as_kubernetes_objects() {
    let m = model(
        "{name: g, count: 2, capacity: 16Gi}",
        "  pdbs: [{name: web, namespace: shop, selector: {app: web}, minAvailable: 3}]\n  limitRanges: [{name: lr, namespace: shop, default: 2Gi}]",
    );
    let mut c = SimCluster::new(&m, 1).unwrap();
    assert!(c.simulated());
    assert!(c.describe().starts_with("simulated: test"));
    let leak = serde_json::json!({"pattern": "linear", "rate": "1Mi/s", "max": "1Gi"});
    let d = c
        .preflight(&plan(&c, spec(leak.clone(), "sidecar")))
        .await
        .unwrap();
    assert_eq!(d.replicas, 4);
    assert_eq!(d.pdbs.len(), 1);
    let st = d.pdbs[0].status.as_ref().unwrap();
    assert_eq!(
        (
            st.current_healthy,
            st.desired_healthy,
            st.disruptions_allowed
        ),
        (4, 3, 1)
    );
    assert_eq!(d.limit_ranges.len(), 1);
    let ctr = &d.template.unwrap().spec.unwrap().containers[0];
    let req = ctr.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(req["memory"].0, "1Gi");
    assert_eq!(d.node_allocatable.len(), 2);
    let mut other = spec(leak, "sidecar");
    other.target.name = "nope".into();
    assert!(c.preflight(&plan(&c, other)).await.is_err());
}

#[tokio::test]
async fn sidecar_with_a_limit_is_contained_and_reverts_by_rolling() {
    let m = model("{name: g, count: 4, capacity: 16Gi, kubeReserved: 1Gi}", "");
    let mut c = SimCluster::new(&m, 3).unwrap();
    let leak = serde_json::json!({"pattern": "linear", "rate": "8Mi/s", "start": "64Mi", "max": "4Gi", "limit": "512Mi"});
    let p = plan(&c, spec(leak, "sidecar"));
    c.preflight(&p).await.unwrap();
    let record = c.inject(&p).await.unwrap();
    let obs = run_for(&mut c, 900).await;
    // One leaker per pod of the rollout; every start is reported, restarts included.
    let started: std::collections::BTreeSet<_> = obs
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::LeakerStarted { pod } => Some(pod.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 4);
    let starts = count(&obs, |e| matches!(e, Happening::LeakerStarted { .. }));
    let leaker_kills = count(&obs, |e| {
        matches!(e, Happening::OomKilled { leaker: true, .. })
    });
    assert!(leaker_kills >= 4, "{leaker_kills}");
    assert!(
        starts > 4 && starts <= 4 + leaker_kills,
        "{starts} starts, {leaker_kills} kills"
    );
    assert_eq!(
        count(&obs, |e| matches!(
            e,
            Happening::OomKilled { leaker: false, .. }
        )),
        0
    );
    assert_eq!(
        count(&obs, |e| matches!(e, Happening::PodEvicted { .. })),
        0
    );
    assert_eq!(
        count(&obs, |e| matches!(e, Happening::NodeCondition { .. })),
        0
    );
    c.revert(&record).await.unwrap();
    c.revert(&record).await.unwrap(); // idempotent
    let after = run_for(&mut c, 300).await;
    assert_eq!(c.ready_pods("shop", "web"), Some(4));
    assert_eq!(
        count(&after, |e| matches!(e, Happening::LeakerStarted { .. })),
        0
    );
}

#[tokio::test]
async fn ephemeral_picks_pods_reproducibly_and_the_deadline_ends_the_leak() {
    let m = model("{name: g, count: 4, capacity: 16Gi}", "");
    let leak =
        serde_json::json!({"pattern": "linear", "rate": "1Mi/s", "start": "100Mi", "max": "1Gi"});
    let mut picks = Vec::new();
    for _ in 0..2 {
        let mut c = SimCluster::new(&m, 5).unwrap();
        let p = plan(&c, spec(leak.clone(), "ephemeral"));
        c.preflight(&p).await.unwrap();
        let r = c.inject(&p).await.unwrap();
        assert_eq!(r.mode, InjectionMode::Ephemeral);
        assert_eq!(r.pods.len(), 2);
        picks.push(r.pods.clone());
        let obs = run_for(&mut c, 2400).await;
        let bytes: Vec<u64> = obs
            .iter()
            .filter_map(|o| match &o.happening {
                Happening::LeakerBytes { bytes, .. } => Some(*bytes),
                _ => None,
            })
            .collect();
        assert!(bytes.iter().any(|&b| b >= 1 << 30), "reaches its max");
        assert_eq!(bytes.last(), Some(&0), "freed at the deadline");
        // No rollout: the pods were never replaced.
        assert_eq!(c.ready_pods("shop", "web"), Some(4));
    }
    assert_eq!(picks[0], picks[1]);
}

#[tokio::test]
async fn node_pressure_evicts_the_biggest_offender_first() {
    // One node: the leaking pods go over their requests fastest and are evicted by the kubelet.
    let m = model(
        "{name: g, count: 1, capacity: 8Gi, kubeReserved: 800Mi}",
        "    - {name: idle, namespace: other, replicas: 2, priority: 100, containers: [{name: app, workingSet: 512Mi}]}",
    );
    let mut c = SimCluster::new(&m, 1).unwrap();
    let leak =
        serde_json::json!({"pattern": "linear", "rate": "4Mi/s", "start": "0", "max": "6Gi"});
    let p = plan(&c, spec(leak, "ephemeral"));
    c.preflight(&p).await.unwrap();
    c.inject(&p).await.unwrap();
    let obs = run_for(&mut c, 1200).await;
    let pressure = count(&obs, |e| {
        matches!(
            e,
            Happening::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            }
        )
    });
    assert!(pressure >= 1);
    let evicted: Vec<&Observation> = obs
        .iter()
        .filter(|o| {
            matches!(
                o.happening,
                Happening::PodEvicted {
                    cause: DisruptionCause::TerminationByKubelet,
                    ..
                }
            )
        })
        .collect();
    assert!(!evicted.is_empty());
    // The first one evicted is a leaking target pod, not the higher-priority bystanders.
    assert!(matches!(&evicted[0].happening, Happening::PodEvicted { pod, .. } if pod.target));
    // kube-reserved kept the kubelet alive.
    assert_eq!(
        count(
            &obs,
            |e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "KubeletOOMKilled")
        ),
        0
    );
}

#[tokio::test]
async fn without_kube_reserved_a_sudden_leak_kills_the_kubelet_and_the_node_goes_not_ready() {
    let m = model("{name: g, count: 1, capacity: 8Gi}", "");
    let mut c = SimCluster::new(&m, 1).unwrap();
    // 2 pods x 2.5Gi at once: faster than the kubelet's 10 s loop.
    let leak = serde_json::json!({"pattern": "linear", "rate": "1Mi/min", "start": "2500Mi", "max": "3Gi"});
    let p = plan(&c, spec(leak, "ephemeral"));
    c.preflight(&p).await.unwrap();
    c.inject(&p).await.unwrap();
    let obs = run_for(&mut c, 400).await;
    let at = |f: &dyn Fn(&Happening) -> bool| obs.iter().find(|o| f(&o.happening)).map(|o| o.at);
    let killed =
        at(&|e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "KubeletOOMKilled"))
            .expect("the kubelet was OOM-killed");
    let not_ready = at(&|e| {
        matches!(
            e,
            Happening::NodeCondition {
                condition: NodeConditionKind::Ready,
                status: false,
                ..
            }
        )
    })
    .expect("the node went NotReady");
    // The node-monitor grace period (40 s) after the last Lease renewal (every 10 s), noticed
    // within one node-monitor period (5 s).
    let after = not_ready.duration_since(killed).as_secs();
    assert!(
        (31..=45).contains(&after),
        "NotReady {after} s after the kubelet died"
    );
    assert!(
        count(
            &obs,
            |e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "SystemOOM")
        ) >= 1
    );
    let deleted = at(&|e| {
        matches!(
            e,
            Happening::PodEvicted {
                cause: DisruptionCause::DeletionByTaintManager,
                ..
            }
        )
    })
    .expect("the taint manager deleted the pods");
    assert_eq!(
        deleted.duration_since(not_ready).as_secs(),
        300,
        "not-ready toleration"
    );
    // The replacements have nowhere to go: the only node is NotReady.
    assert!(count(&obs, |e| matches!(e, Happening::FailedScheduling { .. })) >= 1);
}

#[tokio::test]
async fn limit_range_default_caps_a_leaker_without_a_limit() {
    let m = model(
        "{name: g, count: 4, capacity: 16Gi, kubeReserved: 1Gi}",
        "  limitRanges: [{name: lr, namespace: shop, default: 768Mi, defaultRequest: 256Mi}]",
    );
    let mut c = SimCluster::new(&m, 2).unwrap();
    let leak = serde_json::json!({"pattern": "linear", "rate": "4Mi/s", "start": "0", "max": "4Gi", "limit": "none"});
    let p = plan(&c, spec(leak, "sidecar"));
    c.preflight(&p).await.unwrap();
    c.inject(&p).await.unwrap();
    let obs = run_for(&mut c, 600).await;
    assert!(
        count(&obs, |e| matches!(
            e,
            Happening::OomKilled { leaker: true, .. }
        )) >= 4
    );
    assert_eq!(
        count(&obs, |e| matches!(e, Happening::PodEvicted { .. })),
        0
    );
}

#[tokio::test]
async fn memory_hpa_scales_out_within_its_bounds() {
    let m = model(
        "{name: g, count: 4, capacity: 16Gi}",
        "  hpas: [{name: web, namespace: shop, target: web, minReplicas: 2, maxReplicas: 6, memoryUtilization: 50%}]",
    );
    let mut c = SimCluster::new(&m, 1).unwrap();
    let leak =
        serde_json::json!({"pattern": "linear", "rate": "1Mi/min", "start": "0", "max": "1Gi"});
    let p = plan(&c, spec(leak, "ephemeral"));
    let d = c.preflight(&p).await.unwrap();
    assert_eq!(d.hpas.len(), 1);
    // 1Gi used of a 1Gi request is 100% against a 50% target: twice the replicas, capped at 6.
    let obs = run_for(&mut c, 120).await;
    let desired: Vec<u32> = obs
        .iter()
        .filter_map(|o| match o.happening {
            Happening::Workload { desired, .. } => Some(desired),
            _ => None,
        })
        .collect();
    assert_eq!(desired.last(), Some(&6), "{desired:?}");
    assert_eq!(c.ready_pods("shop", "web"), Some(6));
}
