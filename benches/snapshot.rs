//! A snapshot of a large cluster: 500 nodes and 10,000 pods (1,000 Deployments of 10 replicas
//! in 10 namespaces, a PDB each) served by the test kit's fake API server, every node's kubelet answering
//! `configz`, a Summary API of its 20 pods and the real kubelet's `/metrics`.
//!
//! `cargo bench --bench snapshot`. Measures what `oomsday snapshot -o FILE` does: the paged
//! lists, the kubelets read 8 nodes at a time, the model built and written as YAML; prints the
//! wall time (and each phase's) and the process's peak RSS (VmHWM, /proc/self/status), against
//! the targets of issue 13: under 5 s and under 64 MiB. The mock generates each page and each
//! kubelet answer when it is asked for (objects shaped as a real API server sends them, managed
//! fields and all), on a thread of its own as a server runs apart from its clients, but in the
//! same process: its memory counts in the figure.

use std::time::Instant;

use oomsday::snapshot::{self, Options, Progress, Taken};
use oomsday_testkit::{ApiServer, Reply, Seen, proc_status};
use serde_json::{Value, json};

const NODES: usize = 500;
const PODS: usize = 10_000;
const REPLICAS: usize = 10;
const DEPLOYMENTS: usize = PODS / REPLICAS;
const NAMESPACES: usize = 10;
const HASH: &str = "7d9f8c5b6d";

fn peak_rss_kib() -> u64 {
    proc_status::kib("VmHWM")
}

fn managed(manager: &str) -> Value {
    json!([{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": "2026-11-20T10:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:resources": {}}}},
            "f:status": {"f:conditions": {}, "f:containerStatuses": {}}}}])
}

fn node(i: usize) -> Value {
    let at = "2026-11-24T14:00:00Z";
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i:03}"), "uid": format!("n-{i}"), "resourceVersion": "1",
                     "labels": {"kubernetes.io/hostname": format!("node-{i:03}"), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "node.kubernetes.io/instance-type": "m5.2xlarge",
                                "topology.kubernetes.io/zone": format!("eu-central-1{}", ["a", "b", "c"][i % 3])},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                     "managedFields": managed("kubelet")},
        "spec": {"podCIDR": format!("10.{}.{}.0/24", i / 256, i % 256), "providerID": format!("aws:///eu-central-1a/i-{i:017x}")},
        "status": {
            "allocatable": {"cpu": "7910m", "memory": "31482416Ki", "pods": "110", "ephemeral-storage": "95551679124"},
            "capacity": {"cpu": "8", "memory": "32408112Ki", "pods": "110", "ephemeral-storage": "103705676Ki"},
            "conditions": (["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"].iter().map(|c| json!({
                "type": c, "status": if *c == "Ready" { "True" } else { "False" }, "lastHeartbeatTime": at,
                "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": format!("Kubelet{c}"), "message": "kubelet is fine"})).collect::<Vec<_>>()),
            "addresses": [{"type": "InternalIP", "address": format!("192.168.{}.{}", i / 256, i % 256)}, {"type": "Hostname", "address": format!("node-{i:03}")}],
            "images": (0..30).map(|k| json!({"names": [format!("registry.example.com/team/image-{k}@sha256:{k:064x}"), format!("registry.example.com/team/image-{k}:1.{k}")], "sizeBytes": 123_456_789})).collect::<Vec<_>>(),
            "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.20", "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.32.0",
                         "kubeletVersion": "v1.32.0", "machineID": "x", "operatingSystem": "linux", "osImage": "Debian", "systemUUID": "y", "bootID": "z"}
        }
    })
}

fn ns(d: usize) -> String {
    format!("team-{}", d % NAMESPACES)
}

fn container() -> Value {
    json!({"name": "app", "image": "registry.example.com/app:1.2.3",
           "env": (0..12).map(|k| json!({"name": format!("ENV_{k}"), "value": "some configuration value"})).collect::<Vec<_>>(),
           "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
           "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "initialDelaySeconds": 5},
           "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]})
}

fn deployment(d: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("svc-{d:04}"), "namespace": ns(d), "uid": format!("d-{d}"), "generation": 3,
                     "labels": {"app": format!("svc-{d:04}")}, "managedFields": managed("kubectl")},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": format!("svc-{d:04}")}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": format!("svc-{d:04}")}},
                              "spec": {"containers": [container()], "terminationGracePeriodSeconds": 30}}},
        "status": {"observedGeneration": 3, "replicas": REPLICAS, "readyReplicas": REPLICAS, "updatedReplicas": REPLICAS}
    })
}

fn pod(j: usize) -> Value {
    let d = j / REPLICAS;
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("svc-{d:04}-{HASH}-{j:05}"), "namespace": ns(d), "uid": format!("pod-uid-{j}"),
                     "resourceVersion": "1", "generateName": format!("svc-{d:04}-{HASH}-"),
                     "labels": {"app": format!("svc-{d:04}"), "pod-template-hash": HASH},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z", "prometheus.io/scrape": "true"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("svc-{d:04}-{HASH}"), "uid": "rs", "controller": true}],
                     "managedFields": managed("kube-controller-manager")},
        "spec": {"nodeName": format!("node-{:03}", j % NODES), "serviceAccountName": "default", "restartPolicy": "Always", "priority": 0,
                 "containers": [container()],
                 "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.1", "hostIP": "192.168.0.1", "startTime": "2026-11-20T10:00:00Z",
                   "conditions": (["Initialized", "Ready", "ContainersReady", "PodScheduled"].iter().map(|c| json!({"type": c, "status": "True", "lastTransitionTime": "2026-11-20T10:00:05Z"})).collect::<Vec<_>>()),
                   "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1.2.3", "imageID": "sha256:abc", "ready": true,
                                          "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-11-20T10:00:00Z"}}, "lastState": {}}]}
    })
}

fn pdb(d: usize) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": format!("svc-{d:04}"), "namespace": ns(d)},
           "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": format!("svc-{d:04}")}}}})
}

fn memory(ws: u64) -> Value {
    json!({"time": "2026-11-24T14:00:00Z", "availableBytes": 1u64 << 30, "usageBytes": ws + (8 << 20), "workingSetBytes": ws,
           "rssBytes": ws / 2, "pageFaults": 1234, "majorPageFaults": 0})
}

/// A node's Summary API: its 20 pods, each container's figures, as a kubelet answers.
fn summary(i: usize) -> Value {
    let pods: Vec<Value> = (i..PODS)
        .step_by(NODES)
        .map(|j| {
            let d = j / REPLICAS;
            let ws = (300 + (j % 97) as u64) << 20;
            json!({"podRef": {"name": format!("svc-{d:04}-{HASH}-{j:05}"), "namespace": ns(d), "uid": format!("pod-uid-{j}")},
                   "startTime": "2026-11-20T10:00:00Z",
                   "containers": [{"name": "app", "startTime": "2026-11-20T10:00:00Z",
                                   "cpu": {"time": "2026-11-24T14:00:00Z", "usageNanoCores": 12_345_678, "usageCoreNanoSeconds": 98_765_432_100u64},
                                   "memory": memory(ws),
                                   "rootfs": {"time": "2026-11-24T14:00:00Z", "availableBytes": 1u64 << 34, "capacityBytes": 1u64 << 35, "usedBytes": 40960},
                                   "logs": {"time": "2026-11-24T14:00:00Z", "availableBytes": 1u64 << 34, "capacityBytes": 1u64 << 35, "usedBytes": 8192}}],
                   "cpu": {"time": "2026-11-24T14:00:00Z", "usageNanoCores": 12_345_678, "usageCoreNanoSeconds": 98_765_432_100u64},
                   "memory": memory(ws + (1 << 20)),
                   "network": {"time": "2026-11-24T14:00:00Z", "name": "eth0", "rxBytes": 123_456_789, "txBytes": 98_765_432},
                   "volume": [{"name": "kube-api-access", "time": "2026-11-24T14:00:00Z", "availableBytes": 1u64 << 30, "capacityBytes": 1u64 << 30, "usedBytes": 12288}]})
        })
        .collect();
    json!({"node": {"nodeName": format!("node-{i:03}"), "startTime": "2026-11-01T00:00:00Z",
                    "systemContainers": [{"name": "kubelet", "memory": memory(180 << 20)}, {"name": "runtime", "memory": memory(120 << 20)},
                                         {"name": "pods", "memory": memory(7 << 30)}],
                    "memory": memory(9 << 30)},
           "pods": pods})
}

/// The generated cluster: every page and kubelet answer made when asked.
struct Generated {
    configz: Value,
    /// The real kubelet's `/metrics` (~120 KB of text, read for the cgroup version).
    metrics: String,
}

impl Generated {
    fn page(&self, s: &Seen, total: usize, item: fn(usize) -> Value) -> Value {
        let from: usize = s
            .query
            .get("continue")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let limit: usize = s
            .query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(total);
        let to = (from + limit).min(total);
        let mut meta = json!({"resourceVersion": "1000"});
        if to < total {
            meta["continue"] = json!(to.to_string());
        }
        json!({"kind": "List", "apiVersion": "v1", "metadata": meta,
               "items": (from..to).map(item).collect::<Vec<_>>()})
    }
}

impl Generated {
    fn answer(&self, s: &Seen) -> Reply {
        let empty = json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []});
        if s.path.ends_with("/proxy/metrics") {
            return Reply::text(200, self.metrics.clone());
        }
        let v = match s.path.as_str() {
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" => {
                let mut r = s.body.clone();
                r["status"] = json!({"allowed": true});
                r
            }
            "/api/v1/nodes" => self.page(s, NODES, node),
            "/api/v1/pods" => self.page(s, PODS, pod),
            "/apis/apps/v1/deployments" => self.page(s, DEPLOYMENTS, deployment),
            "/apis/policy/v1/poddisruptionbudgets" => self.page(s, DEPLOYMENTS, pdb),
            p if p.ends_with("/proxy/configz") => self.configz.clone(),
            p if p.ends_with("/proxy/stats/summary") => {
                let i: usize = p
                    .trim_start_matches("/api/v1/nodes/node-")
                    .trim_end_matches("/proxy/stats/summary")
                    .parse()
                    .unwrap_or(0);
                summary(i)
            }
            _ => empty,
        };
        Reply::json(200, &v)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let configz: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/real-bed/kubelet-configz.json"),
        )
        .expect("the real kubelet's configz"),
    )
    .expect("JSON");
    let metrics = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real-bed/kubelet-metrics.txt"),
    )
    .expect("the real kubelet's metrics");
    let generated = Generated { configz, metrics };
    let api = ApiServer::new();
    api.answer(move |s| Some(generated.answer(s)));
    let client = api.client_apart();
    let taken = Taken {
        at: "2026-11-24T14:00:00Z".parse().expect("a time"),
        context: "context bench".into(),
    };
    let base = peak_rss_kib();
    let t0 = Instant::now();
    let mut kubelets = 0;
    // When each phase ended: the lists, the kubelets.
    let mut listed = t0.elapsed();
    let mut read = t0.elapsed();
    // `-- --page-size N`: objects per list request (the default is the CLI's).
    let args: Vec<String> = std::env::args().collect();
    let page_size = args
        .iter()
        .position(|a| a == "--page-size")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let opts = Options {
        page_size: page_size.unwrap_or(Options::default().page_size),
        ..Options::default()
    };
    println!("  page size {}", opts.page_size);
    let model = snapshot::take(&client, &opts, &taken, &mut |p| match p {
        Progress::Listed { .. } => listed = t0.elapsed(),
        Progress::Kubelets { done, .. } => {
            kubelets = done;
            read = t0.elapsed();
        }
        Progress::Warning(_) => {}
    })
    .await
    .expect("the snapshot");
    let built = t0.elapsed();
    let yaml = snapshot::to_yaml(&model).expect("YAML");
    let took = t0.elapsed();
    let peak = peak_rss_kib();

    let info = model.metadata.snapshot.as_ref().expect("snapshot info");
    let observed: usize = model
        .spec
        .workloads
        .iter()
        .filter_map(|w| w.observed.as_ref())
        .map(|o| o.pods.iter().filter(|p| !p.working_sets.is_empty()).count())
        .sum();
    println!(
        "snapshot benchmark: {} nodes, {} pods, {} workloads, {} pods with measured working sets, {kubelets} kubelets read",
        info.nodes,
        info.pods,
        model.spec.workloads.len(),
        observed
    );
    println!(
        "  time {:.2} s (target < 5 s): lists {:.2} s, kubelets {:.2} s, model {:.2} s, YAML {:.2} s ({:.1} MiB)",
        took.as_secs_f64(),
        listed.as_secs_f64(),
        (read - listed).as_secs_f64(),
        (built - read).as_secs_f64(),
        (took - built).as_secs_f64(),
        yaml.len() as f64 / (1 << 20) as f64
    );
    println!(
        "  peak RSS (VmHWM) {:.1} MiB (target < 64 MiB; {:.1} MiB before the snapshot)",
        peak as f64 / 1024.0,
        base as f64 / 1024.0
    );
    let ok = took.as_secs_f64() < 5.0
        && peak < 64 * 1024
        && info.nodes as usize == NODES
        && info.pods as usize == PODS
        && observed == PODS;
    println!(
        "  {}",
        if ok {
            "within targets"
        } else {
            "OUTSIDE TARGETS"
        }
    );
    if !ok {
        std::process::exit(1);
    }
}
