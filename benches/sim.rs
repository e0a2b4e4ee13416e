//! How fast the simulator is: the Black Friday story over 4 h (and its cluster past the edge), synthetic clusters
//! growing in nodes, pods and virtual duration, and the 21-seed prediction `run --predict` and
//! `simulate --seeds 21` make (its seeds on every core). Prints one line per case.
//!
//!     cargo bench --bench sim

use std::time::Instant;

use oomsday::engine::ExperimentRef;
use oomsday::sim::{ClusterModel, run_experiment};
use oomsday::spec::LeakExperimentSpec;

fn experiment(duration: &str, recovery: &str, limit: &str, cluster: Option<&str>) -> ExperimentRef {
    let mut v = serde_json::json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "injection": {"mode": "sidecar"},
        "leak": {"pattern": "linear", "start": "800M", "rate": "20M/min", "max": "2G", "limit": limit},
        "duration": duration,
        "recovery": recovery,
        "minAvailable": "75%",
    });
    if let Some(c) = cluster {
        v["simulation"] = serde_json::json!({"cluster": c});
    }
    let spec: LeakExperimentSpec = serde_json::from_value(v).expect("a valid spec");
    ExperimentRef {
        name: "bench".into(),
        namespace: "shop".into(),
        spec,
    }
}

/// A synthetic cluster: `nodes` nodes of 64Gi, `pods` pods in 50-replica services filling about
/// 80% of memory, and a 100-replica checkout.
fn synthetic(nodes: u32, pods: u32) -> ClusterModel {
    let services = (pods.saturating_sub(100) / 50).max(1);
    let per_pod_mib = (64 * 1024 * 8 / 10) * nodes / pods.max(1);
    let yaml = format!(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {{name: synthetic-{nodes}-{pods}}}
spec:
  kubeletSettingsAreDefault: true
  nodeGroups: [{{name: general, count: {nodes}, capacity: 64Gi, kubeReserved: 1Gi}}]
  workloads:
    - name: checkout
      namespace: shop
      replicas: 100
      containers: [{{name: checkout, workingSet: 1Gi, resources: {{requests: {{memory: 1Gi}}}}}}]
    - name: svc-{{i}}
      copies: {services}
      namespace: apps
      replicas: 50
      containers:
        - name: app
          workingSet: {per_pod_mib}Mi
          jitter: 10%
          resources: {{requests: {{memory: {req}Mi}}}}
"#,
        req = per_pod_mib * 3 / 4
    )
    .replace("  kubeletSettingsAreDefault: true\n", "");
    ClusterModel::from_yaml(&yaml).expect("a valid synthetic model")
}

fn time(label: &str, model: &ClusterModel, exp: &ExperimentRef, rt: &tokio::runtime::Runtime) {
    let start = Instant::now();
    let record = rt
        .block_on(run_experiment(model, exp, 1))
        .expect("the run completes");
    let took = start.elapsed();
    let virtual_secs = record.finished.duration_since(record.started).as_secs();
    println!(
        "{label:<44} {:>7.1} h virtual  {:>9.3} s wall  {:>7} observations",
        virtual_secs as f64 / 3600.0,
        took.as_secs_f64(),
        record.timeline.len()
    );
}

/// The 21-seed prediction of `exp` on `model`, as `run --predict` makes it.
fn time_prediction(
    label: &str,
    model: &ClusterModel,
    exp: &ExperimentRef,
    rt: &tokio::runtime::Runtime,
) {
    let start = Instant::now();
    let p = rt
        .block_on(oomsday::predict::predict(
            model,
            exp,
            oomsday::predict::SEEDS,
        ))
        .expect("the prediction completes");
    let took = start.elapsed();
    println!(
        "{label:<44} {:>7} seeds    {:>9.3} s wall  on {} cores, verdict {:?}",
        p.seeds.len(),
        took.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        p.verdict
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let story = ClusterModel::load(&root.join("experiments/black-friday/cluster.yaml"))
        .expect("the story's model");
    let fixed = ClusterModel::load(&root.join("experiments/black-friday/fixed/cluster.yaml"))
        .expect("the fixed model");
    let past =
        ClusterModel::load(&root.join("experiments/black-friday/past-the-edge/cluster.yaml"))
            .expect("the model past the edge");
    println!("SIMULATED — simulator benchmark");
    time(
        "black-friday (120 nodes, 2,400 pods)",
        &story,
        &experiment("3h 45m", "15m", "none", None),
        &rt,
    );
    time(
        "black-friday past the edge, cascade",
        &past,
        &experiment("3h 45m", "15m", "none", None),
        &rt,
    );
    time(
        "black-friday fixed (128 nodes, 2,400 pods)",
        &fixed,
        &experiment("3h 45m", "15m", "1Gi", None),
        &rt,
    );
    for (nodes, pods) in [(120, 2_400), (250, 7_500), (500, 15_000), (1_000, 30_000)] {
        let m = synthetic(nodes, pods);
        time(
            &format!("synthetic {nodes} nodes, {pods} pods, 4 h"),
            &m,
            &experiment("3h 45m", "15m", "1200M", None),
            &rt,
        );
    }
    let big = synthetic(1_000, 30_000);
    for (d, label) in [("45m", "1 h"), ("5h 45m", "6 h"), ("23h", "24 h")] {
        let rec = if d == "23h" { "1h" } else { "15m" };
        time(
            &format!("synthetic 1000 nodes, 30000 pods, {label}"),
            &big,
            &experiment(d, rec, "1200M", None),
            &rt,
        );
    }
    time_prediction(
        "black-friday 4 h, predicted over 21 seeds",
        &story,
        &experiment("3h 45m", "15m", "none", None),
        &rt,
    );
    time_prediction(
        "synthetic 1000 nodes, 30000 pods, 1 h, 21 seeds",
        &big,
        &experiment("45m", "15m", "1200M", None),
        &rt,
    );
}
