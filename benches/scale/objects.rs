//! Kubernetes objects as a v1.32 API server sends them, built in the shapes of the real recorded
//! objects (`tests/fixtures/real-runs/*/watch.jsonl`, `tests/fixtures/kubernetes-v1.32/*.json`):
//! the same keys in the same places, with the managedFields a real server adds (the fixtures
//! have them stripped; on the wire they are part of what every list and watch carries).

use serde_json::{Map, Value, json};

/// SplitMix64: small, seeded, the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
    pub fn uid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(4),
            self.hex(12)
        )
    }
    /// The 5 characters of a pod name's random suffix (the API's alphabet: no vowels).
    pub fn pod_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
    /// A pod-template-hash: 10 characters of the same alphabet.
    pub fn template_hash(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..10)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Seconds since the epoch as the API writes timestamps: RFC 3339, whole seconds, UTC.
pub fn ts(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The current wall-clock second (what a real server truncates `finishedAt` and friends to).
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// An Event's `eventTime`: microseconds, as the API writes it.
pub fn micro_ts(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// The `fieldsV1` a field manager owning every field of `v` has: `f:` per key, list items by
/// their merge key (`k:{"name":…}`, `k:{"type":…}`, `k:{"ip":…}`), as the API server writes it.
pub fn fields_v1(v: &Value) -> Value {
    fields_at(v, 0)
}

fn fields_at(v: &Value, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                // Lists the API treats as atomic are owned whole.
                let atomic = matches!(
                    k.as_str(),
                    "containerStatuses" | "images" | "command" | "args"
                );
                out.insert(
                    format!("f:{k}"),
                    if atomic {
                        json!({})
                    } else {
                        fields_at(x, depth + 1)
                    },
                );
            }
            // The API marks maps below the top-level sections as owned themselves too.
            if !out.is_empty() && depth >= 2 {
                out.insert(".".into(), json!({}));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Map::new();
            for it in items {
                let key = [
                    "name",
                    "type",
                    "ip",
                    "key",
                    "uid",
                    "containerPort",
                    "mountPath",
                ]
                .iter()
                .find_map(|k| it.get(*k).map(|v| (*k, v.clone())));
                if let Some((k, val)) = key {
                    let mut inner = fields_at(it, depth + 1);
                    if let Some(o) = inner.as_object_mut() {
                        o.insert(".".into(), json!({}));
                    }
                    out.insert(format!("k:{}", json!({ k: val })), inner);
                }
            }
            if !out.is_empty() {
                out.insert(".".into(), json!({}));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

/// One managedFields entry owning `owned`.
pub fn managed(
    manager: &str,
    api_version: &str,
    at: &str,
    subresource: Option<&str>,
    owned: &Value,
) -> Value {
    let mut e = json!({
        "manager": manager, "operation": "Update", "apiVersion": api_version, "time": at,
        "fieldsType": "FieldsV1", "fieldsV1": fields_v1(owned),
    });
    if let Some(s) = subresource {
        e["subresource"] = json!(s);
    }
    e
}

/// What a pod's app container looks like in a production Deployment: requests and a memory
/// limit, a port, env, probes, the service-account mount (pods of ~3.3 KB without managedFields).
pub fn app_container(app: &str, image: &str, mem_limit: Option<&str>, mount: &str) -> Value {
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "128Mi"}});
    if let Some(l) = mem_limit {
        resources["limits"] = json!({"memory": l});
    }
    json!({
        "name": app, "image": image,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "APP_NAME", "value": app}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": resources,
        "volumeMounts": [{"name": mount, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}, "timeoutSeconds": 1,
                           "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent"
    })
}

/// The service-account volume every pod gets (as in the recorded pods).
fn api_access_volume(name: &str) -> Value {
    json!({"name": name, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
    ], "defaultMode": 420}})
}

/// Who a pod is: names, labels, owner.
#[derive(Debug, Clone)]
pub struct PodMeta {
    pub namespace: String,
    pub app: String,
    pub hash: String,
    pub name: String,
    pub uid: String,
    pub rs_uid: String,
    pub node: String,
    pub host_ip: String,
    pub pod_ip: String,
    pub created: i64,
    /// Extra labels and annotations (the run's marks on injected pods).
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

/// A pod: metadata, spec with `containers` (full container specs), status as given, and the
/// managedFields of kube-controller-manager (spec) and the kubelet (status).
pub fn pod(m: &PodMeta, containers: Vec<Value>, mount: &str, status: Value) -> Value {
    let mut labels = Map::new();
    labels.insert("app".into(), json!(m.app));
    labels.insert("app.kubernetes.io/name".into(), json!(m.app));
    labels.insert("pod-template-hash".into(), json!(m.hash));
    for (k, v) in &m.labels {
        labels.insert(k.clone(), json!(v));
    }
    let mut annotations = Map::new();
    for (k, v) in &m.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    let rs = format!("{}-{}", m.app, m.hash);
    let created = ts(m.created);
    let spec = json!({
        "volumes": [api_access_volume(mount)],
        "containers": containers,
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "nodeName": m.node,
        "securityContext": {}, "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ],
        "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
    });
    let meta_owned =
        json!({"generateName": {}, "labels": labels, "ownerReferences": [{"uid": m.rs_uid}]});
    let managed_fields = vec![
        managed(
            "kube-controller-manager",
            "v1",
            &created,
            None,
            &json!({"metadata": meta_owned, "spec": spec}),
        ),
        managed(
            "kubelet",
            "v1",
            &created,
            Some("status"),
            &json!({"status": status}),
        ),
    ];
    let mut pod = json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": m.name, "generateName": format!("{rs}-"), "namespace": m.namespace, "uid": m.uid,
            "resourceVersion": "0", "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": m.rs_uid,
                                 "controller": true, "blockOwnerDeletion": true}],
            "managedFields": managed_fields
        },
        "spec": spec,
        "status": status
    });
    if !annotations.is_empty() {
        pod["metadata"]["annotations"] = Value::Object(annotations);
    }
    pod
}

/// A pod condition.
pub fn condition(
    kind: &str,
    ok: bool,
    at: i64,
    reason: Option<&str>,
    message: Option<&str>,
) -> Value {
    let mut c = json!({"type": kind, "status": if ok {"True"} else {"False"}, "lastProbeTime": null,
                       "lastTransitionTime": ts(at)});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// A container as the kubelet reports it: `state` and `last` as it writes them (`{}` for no
/// last state).
#[derive(Debug, Clone)]
pub struct ContainerReport<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub state: Value,
    pub last: Value,
    pub ready: bool,
    pub restarts: u32,
    pub id: &'a str,
}

/// A container status, with the service-account mount `mount`.
pub fn container_status(c: ContainerReport<'_>, mount: &str) -> Value {
    let started = c.state.get("running").is_some();
    json!({
        "name": c.name, "state": c.state, "lastState": c.last, "ready": c.ready, "restartCount": c.restarts,
        "image": c.image, "imageID": format!("{}@sha256:{}", c.image, &c.id[..c.id.len().min(64)]),
        "containerID": format!("containerd://{}", c.id), "started": started,
        "volumeMounts": [{"name": mount, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": true, "recursiveReadOnly": "Disabled"}]
    })
}

/// A pod's status.
pub fn pod_status(
    phase: &str,
    conditions: Vec<Value>,
    m: &PodMeta,
    statuses: Vec<Value>,
    qos: &str,
) -> Value {
    json!({
        "phase": phase, "conditions": conditions,
        "hostIP": m.host_ip, "hostIPs": [{"ip": m.host_ip}],
        "podIP": m.pod_ip, "podIPs": [{"ip": m.pod_ip}],
        "startTime": ts(m.created), "containerStatuses": statuses, "qosClass": qos
    })
}

/// The five conditions of a running pod, Ready or not (ContainersNotReady naming `unready`).
pub fn running_conditions(m: &PodMeta, ready_at: i64, unready: &[&str]) -> Vec<Value> {
    let not = (!unready.is_empty())
        .then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let ok = not.is_none();
    let reason = (!ok).then_some("ContainersNotReady");
    vec![
        condition("PodReadyToStartContainers", true, m.created + 1, None, None),
        condition("Initialized", true, m.created, None, None),
        condition("Ready", ok, ready_at, reason, not.as_deref()),
        condition("ContainersReady", ok, ready_at, reason, not.as_deref()),
        condition("PodScheduled", true, m.created, None, None),
    ]
}

/// A node in the shape of the recorded `real-1` (labels, annotations, capacity and allocatable,
/// four conditions, addresses, nodeInfo, an images list); NotReady as the node lifecycle
/// controller leaves a node whose kubelet stopped posting (every condition Unknown, the
/// unreachable taints).
pub fn node(
    i: usize,
    ready: bool,
    uid: &str,
    created: i64,
    heartbeat: i64,
    rng: &mut Rng,
) -> Value {
    let name = format!("node-{i:03}");
    let zone = ["a", "b", "c"][i % 3];
    let since = ts(created);
    let hb = ts(heartbeat);
    let cond = |kind: &str, ok_reason: &str, ok_msg: &str, status_ok: &str| {
        if ready {
            json!({"type": kind, "status": status_ok, "lastHeartbeatTime": hb, "lastTransitionTime": since,
                   "reason": ok_reason, "message": ok_msg})
        } else {
            json!({"type": kind, "status": "Unknown", "lastHeartbeatTime": hb, "lastTransitionTime": hb,
                   "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
        }
    };
    let images: Vec<Value> = (0..30)
        .map(|k| {
            let digest = rng.hex(64);
            json!({"names": [format!("registry.example.com/team-{}/service-{k}@sha256:{digest}", k % 7),
                             format!("registry.example.com/team-{}/service-{k}:v1.{}.{}", k % 7, k % 5, k)],
                   "sizeBytes": 20_000_000 + rng.below(400_000_000)})
        })
        .collect();
    let mut spec = json!({"podCIDR": format!("10.{}.{}.0/24", 64 + i / 256, i % 256),
                          "podCIDRs": [format!("10.{}.{}.0/24", 64 + i / 256, i % 256)],
                          "providerID": format!("aws:///eu-central-1{zone}/i-0{}", rng.hex(16))});
    if !ready {
        spec["taints"] = json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": hb},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": hb}
        ]);
    }
    let labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m6i.2xlarge",
        "topology.kubernetes.io/region": "eu-central-1", "topology.kubernetes.io/zone": format!("eu-central-1{zone}")
    });
    let status = json!({
        "capacity": {"cpu": "8", "ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                     "memory": "32408112Ki", "pods": "110"},
        "allocatable": {"cpu": "7910m", "ephemeral-storage": "95551679124", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                        "memory": "31482416Ki", "pods": "110"},
        "conditions": [
            cond("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", "False"),
            cond("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "False"),
            cond("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available", "False"),
            cond("Ready", "KubeletReady", "kubelet is posting ready status", "True")
        ],
        "addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", i / 250, 10 + i % 250)},
                      {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": rng.hex(32), "systemUUID": rng.uid(), "bootID": rng.uid(),
                     "kernelVersion": "6.1.0-28-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                     "containerRuntimeVersion": "containerd://1.7.20", "kubeletVersion": "v1.32.13",
                     "kubeProxyVersion": "v1.32.13", "operatingSystem": "linux", "architecture": "amd64"},
        "images": images
    });
    let managed_fields = vec![
        managed(
            "kubelet",
            "v1",
            &since,
            None,
            &json!({"metadata": {"labels": labels}}),
        ),
        managed(
            "kube-controller-manager",
            "v1",
            &hb,
            None,
            &json!({"spec": spec}),
        ),
        managed(
            "kubelet",
            "v1",
            &hb,
            Some("status"),
            &json!({"status": status}),
        ),
    ];
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "uid": uid, "resourceVersion": "0", "creationTimestamp": since,
                     "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                     "managedFields": managed_fields},
        "spec": spec,
        "status": status
    })
}

/// What an Event is about.
#[derive(Debug, Clone)]
pub struct Involved {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub field_path: Option<String>,
}

/// A core/v1 Event in the recorded kubelet/controller shape (`firstTimestamp`/`lastTimestamp`
/// in whole seconds, `count`, `source`), with the managedFields its reporter leaves.
#[allow(clippy::too_many_arguments)]
pub fn event(
    namespace: &str,
    uid: &str,
    suffix: &str,
    about: &Involved,
    reason: &str,
    message: &str,
    kind: &str,
    component: &str,
    host: Option<&str>,
    first: i64,
    last: i64,
    count: u32,
) -> Value {
    let mut involved = json!({"kind": about.kind, "name": about.name, "uid": about.uid,
                              "apiVersion": if about.kind == "Pod" || about.kind == "Node" {"v1"} else {"apps/v1"}});
    if let Some(ns) = &about.namespace {
        involved["namespace"] = json!(ns);
    }
    if let Some(f) = &about.field_path {
        involved["fieldPath"] = json!(f);
    }
    let mut source = json!({"component": component});
    if let Some(h) = host {
        source["host"] = json!(h);
    }
    let body = json!({"involvedObject": involved, "reason": reason, "message": message, "source": source,
                      "firstTimestamp": ts(first), "lastTimestamp": ts(last), "count": count, "type": kind,
                      "reportingComponent": component, "reportingInstance": host.unwrap_or(component)});
    let mut e = json!({
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": format!("{}.{suffix}", about.name), "namespace": namespace, "uid": uid,
                     "resourceVersion": "0", "creationTimestamp": ts(first),
                     "managedFields": [managed(component, "v1", &ts(last), None, &body)]},
        "eventTime": null
    });
    if let (Some(o), Some(b)) = (e.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            o.insert(k.clone(), v.clone());
        }
    }
    e
}

/// A Deployment in the recorded shape: 25% surge and unavailability, revision annotation.
pub fn deployment(
    namespace: &str,
    app: &str,
    uid: &str,
    replicas: u32,
    template_spec: Value,
    created: i64,
) -> Value {
    let at = ts(created);
    json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": app, "namespace": namespace, "uid": uid, "resourceVersion": "0", "generation": 1,
                     "creationTimestamp": at,
                     "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": namespace},
                     "annotations": {"deployment.kubernetes.io/revision": "1"},
                     "managedFields": [managed("helm", "apps/v1", &at, None, &json!({"spec": template_spec}))]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"creationTimestamp": null,
                                           "labels": {"app": app, "app.kubernetes.io/name": app,
                                                      "app.kubernetes.io/part-of": namespace},
                                           "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
                              "spec": template_spec},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas,
                   "conditions": [
                       {"type": "Available", "status": "True", "lastUpdateTime": at, "lastTransitionTime": at,
                        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                       {"type": "Progressing", "status": "True", "lastUpdateTime": at, "lastTransitionTime": at,
                        "reason": "NewReplicaSetAvailable",
                        "message": format!("ReplicaSet \"{app}\" has successfully progressed.")}]}
    })
}

/// A PodDisruptionBudget in the recorded shape.
pub fn pdb(
    namespace: &str,
    app: &str,
    uid: &str,
    min_available: u32,
    healthy: u32,
    expected: u32,
    created: i64,
) -> Value {
    let at = ts(created);
    json!({
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
        "metadata": {"name": app, "namespace": namespace, "uid": uid, "resourceVersion": "0", "generation": 1,
                     "creationTimestamp": at,
                     "managedFields": [managed("helm", "policy/v1", &at, None,
                                               &json!({"spec": {"minAvailable": {}, "selector": {}}}))]},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
        "status": pdb_status(min_available, healthy, expected, created)
    })
}

/// A PDB's status as the disruption controller writes it.
pub fn pdb_status(min_available: u32, healthy: u32, expected: u32, since: i64) -> Value {
    let allowed = healthy.saturating_sub(min_available);
    json!({"observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": healthy,
           "desiredHealthy": min_available, "expectedPods": expected,
           "conditions": [{"type": "DisruptionAllowed", "status": if allowed > 0 {"True"} else {"False"},
                           "observedGeneration": 1, "lastTransitionTime": ts(since),
                           "reason": if allowed > 0 {"SufficientPods"} else {"InsufficientPods"}, "message": ""}]})
}
