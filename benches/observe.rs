//! Observation latency and index memory at scale: 10,000 pods and 500 nodes in the watched set.
//!
//! `cargo bench --bench observe` (or `cargo run --release --bench observe`). Objects are fed to
//! the pure classifier exactly as the watch task does: the JSON line of a watch event is parsed,
//! stripped (`Object::strip`), classified, and its observations pushed into the run's timeline.
//! Latency is measured per event from the JSON bytes to the timeline entry; memory is the
//! process's VmRSS (/proc/self/status) while it holds the index for every pod and node.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use oomsday::observe::classify::{Classifier, Object, TargetRef};
use oomsday::observe::{Time, Timeline};
use oomsday::spec::TargetKind;
use oomsday_testkit::proc_status;
use serde_json::{Value, json};

const PODS: usize = 10_000;
const NODES: usize = 500;
const TARGET_PODS: usize = 200;
const EVENTS: usize = 20_000;

fn rss_kib() -> u64 {
    proc_status::kib("VmRSS")
}

fn node_json(i: usize, pressure: bool, at: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i:03}"), "uid": format!("n-{i}"), "resourceVersion": "1",
                     "labels": {"kubernetes.io/hostname": format!("node-{i:03}"), "node.kubernetes.io/instance-type": "m5.2xlarge",
                                "topology.kubernetes.io/zone": format!("eu-central-1{}", ["a", "b", "c"][i % 3])},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                     "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:status": {"f:conditions": {}, "f:images": {}}}}]},
        "spec": {"podCIDR": format!("10.{}.{}.0/24", i / 256, i % 256), "providerID": format!("aws:///eu-central-1a/i-{i:017x}")},
        "status": {
            "allocatable": {"cpu": "7910m", "memory": "31482416Ki", "pods": "110"},
            "capacity": {"cpu": "8", "memory": "32408112Ki", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": if pressure {"True"} else {"False"}, "lastHeartbeatTime": at, "lastTransitionTime": at,
                 "reason": if pressure {"KubeletHasInsufficientMemory"} else {"KubeletHasSufficientMemory"}, "message": "kubelet memory"},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": "KubeletHasNoDiskPressure", "message": ""},
                {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": "KubeletHasSufficientPID", "message": ""},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": at, "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
            ],
            "images": (0..30).map(|k| json!({"names": [format!("registry.example.com/team/image-{k}@sha256:{:064x}", k)], "sizeBytes": 123456789})).collect::<Vec<_>>(),
            "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.20", "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.32.0",
                         "kubeletVersion": "v1.32.0", "machineID": "x", "operatingSystem": "linux", "osImage": "Debian", "systemUUID": "y", "bootID": "z"}
        }
    })
}

fn pod_json(i: usize, target: bool, rv: u64, oom_at: Option<&str>) -> Value {
    let (ns, app) = if target {
        ("shop", "checkout")
    } else {
        (["shop", "payments", "search", "web"][i % 4], "other")
    };
    let leak = json!({
        "name": "oomsday-leaker", "image": "ghcr.io/oomsday/oomsday-leaker:0.1.0", "imageID": "", "ready": true,
        "restartCount": if oom_at.is_some() { 1 } else { 0 }, "started": true,
        "state": {"running": {"startedAt": "2026-11-24T14:00:00Z"}},
        "lastState": match oom_at { Some(t) => json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-24T13:59:00Z", "finishedAt": t}}), None => json!({}) }
    });
    let app_status = json!({"name": "app", "image": "registry.example.com/app:1.2.3", "imageID": "sha256:abc", "ready": true,
        "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-11-20T10:00:00Z"}}, "lastState": {}});
    let statuses = if target {
        vec![app_status, leak]
    } else {
        vec![app_status]
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{app}-7d9f8c-{i:05}"), "namespace": ns, "uid": format!("pod-uid-{i}"),
                     "resourceVersion": rv.to_string(), "generateName": format!("{app}-7d9f8c-"),
                     "labels": {"app": app, "pod-template-hash": "7d9f8c", "team": "commerce"},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z", "prometheus.io/scrape": "true"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8c"), "uid": "rs", "controller": true}],
                     "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {"f:containers": {}}}},
                                       {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}}}}]},
        "spec": {"nodeName": format!("node-{:03}", i % NODES), "serviceAccountName": "default", "restartPolicy": "Always",
                 "containers": [{"name": "app", "image": "registry.example.com/app:1.2.3",
                                 "env": (0..12).map(|k| json!({"name": format!("ENV_{k}"), "value": "some configuration value"})).collect::<Vec<_>>(),
                                 "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                                 "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
                 "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
                   "startTime": "2026-11-20T10:00:00Z",
                   "conditions": [
                       {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-20T10:00:00Z"},
                       {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-20T10:00:05Z"},
                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-20T10:00:05Z"},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-20T10:00:00Z"}],
                   "containerStatuses": statuses}
    })
}

/// What the watch task does with one event's JSON, then the timeline push.
fn deliver<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    wrap: fn(T) -> Object,
    c: &mut Classifier,
    tl: &mut Timeline,
    now: Time,
) -> usize {
    let Ok(obj) = serde_json::from_slice::<T>(bytes) else {
        return 0;
    };
    let mut obj = wrap(obj);
    obj.strip();
    let obs = c.apply(&obj, now);
    tl.extend(obs)
}

fn main() {
    let now: Time = "2026-11-24T14:30:00Z".parse().expect("time");
    let since: Time = "2026-11-24T14:00:00Z".parse().expect("time");
    let target = TargetRef {
        workload: oomsday::spec::WorkloadRef {
            namespace: "shop".into(),
            kind: TargetKind::Deployment,
            name: "checkout".into(),
        },
        selector: [("app".to_string(), "checkout".to_string())]
            .into_iter()
            .collect(),
        template_labels: [("app".to_string(), "checkout".to_string())].into(),
    };
    let base = rss_kib();
    let mut c = Classifier::new(target, since);
    let mut tl = Timeline::new();

    // The initial list: every node and pod once, generated one at a time as pages arrive.
    let t0 = Instant::now();
    for i in 0..NODES {
        let b = serde_json::to_vec(&node_json(i, false, "2026-11-24T14:00:00Z")).expect("json");
        deliver::<Node>(&b, Object::Node, &mut c, &mut tl, now);
    }
    for i in 0..PODS {
        let b = serde_json::to_vec(&pod_json(i, i < TARGET_PODS, 1, None)).expect("json");
        deliver::<Pod>(&b, Object::Pod, &mut c, &mut tl, now);
    }
    let list_time = t0.elapsed();
    let (pods, nodes) = c.sizes();
    let rss_index = rss_kib();

    // Watch events during the leak: target leakers OOM-killed, nodes under pressure, status
    // churn on bystanders (readiness flaps: no new fact, still a full classification).
    let mut lat = Vec::with_capacity(EVENTS);
    let mut new_facts = 0;
    for k in 0..EVENTS {
        let bytes = match k % 10 {
            0 => {
                let at = format!(
                    "2026-11-24T14:{:02}:{:02}Z",
                    10 + (k / 600) % 50,
                    (k / 10) % 60
                );
                serde_json::to_vec(&node_json(k % NODES, (k / 10) % 2 == 0, &at))
            }
            1..=3 => {
                let at = format!(
                    "2026-11-24T14:{:02}:{:02}Z",
                    10 + (k / 600) % 50,
                    (k / 10) % 60
                );
                serde_json::to_vec(&pod_json(k % TARGET_PODS, true, k as u64, Some(&at)))
            }
            _ => serde_json::to_vec(&pod_json(
                TARGET_PODS + k % (PODS - TARGET_PODS),
                false,
                k as u64,
                None,
            )),
        }
        .expect("json");
        let start = Instant::now();
        new_facts += if k % 10 == 0 {
            deliver::<Node>(&bytes, Object::Node, &mut c, &mut tl, now)
        } else {
            deliver::<Pod>(&bytes, Object::Pod, &mut c, &mut tl, now)
        };
        lat.push(start.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let rss_end = rss_kib();

    println!(
        "observe benchmark: {pods} pods, {nodes} nodes in the index ({TARGET_PODS} target pods)"
    );
    println!(
        "  initial list classified in {:.1} ms",
        list_time.as_secs_f64() * 1e3
    );
    println!(
        "  latency, watch event JSON -> timeline entry, over {EVENTS} events ({new_facts} new timeline entries):"
    );
    println!(
        "    p50 {:.1} us   p99 {:.1} us   max {:.1} us   (target p99 < 50 ms)",
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        lat[lat.len() - 1].as_secs_f64() * 1e6
    );
    println!(
        "  memory: VmRSS {:.1} MiB holding the index (process baseline {:.1} MiB); {:.1} MiB after the events; target < 64 MiB",
        rss_index as f64 / 1024.0,
        base as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let ok = pct(0.99).as_millis() < 50 && rss_end < 64 * 1024 && pods == PODS && nodes == NODES;
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
