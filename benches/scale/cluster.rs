//! The two clusters, generated from a seed: the small one (node-000 with the target's 3 pods and
//! 2 bystanders) and the big one of the issue (node-000 plus 500 nodes already NotReady, 10,000
//! pods in 20 namespaces, 50 of them crash-looping elsewhere, 2,000 Events).

use serde_json::{Value, json};

use super::objects::{
    self, ContainerReport, Involved, PodMeta, Rng, app_container, condition, container_status,
    now_secs, pod_status, running_conditions, ts,
};
use super::story::{Story, StoryConfig};
use oomsday_testkit::{ApiServer, Gvr};

/// The target: namespace, Deployment, node.
pub const NAMESPACE: &str = "shop";
pub const TARGET: &str = "checkout";
pub const NODE: &str = "node-000";

/// What a cluster holds before the run.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    /// Nodes besides node-000, all NotReady (their kubelets stopped posting).
    pub not_ready_nodes: usize,
    /// Pods in all, the target's 3 included.
    pub pods: usize,
    pub namespaces: usize,
    pub events: usize,
    pub crash_looping: usize,
    pub seed: u64,
}

pub const SMALL: Scenario = Scenario {
    name: "small",
    not_ready_nodes: 0,
    pods: 5,
    namespaces: 2,
    events: 0,
    crash_looping: 0,
    seed: 0x5ca1_e001,
};

pub const BIG: Scenario = Scenario {
    name: "big",
    not_ready_nodes: 500,
    pods: 10_000,
    namespaces: 20,
    events: 2_000,
    crash_looping: 50,
    seed: 0x5ca1_e002,
};

const NAMESPACES: [&str; 20] = [
    "shop",
    "payments",
    "search",
    "catalog",
    "cart",
    "web",
    "auth",
    "orders",
    "inventory",
    "shipping",
    "billing",
    "reviews",
    "recommend",
    "media",
    "notify",
    "analytics",
    "gateway",
    "support",
    "ledger",
    "pricing",
];
const APPS: [&str; 12] = [
    "api",
    "worker",
    "frontend",
    "cache",
    "consumer",
    "scheduler",
    "indexer",
    "proxy",
    "sync",
    "exporter",
    "cron",
    "gateway",
];

/// A bystander pod's health before the run.
#[derive(Clone, Copy, PartialEq)]
enum Health {
    Ready,
    /// On a NotReady node: the node lifecycle controller marked it not Ready.
    NodeLost {
        since: i64,
    },
    CrashLooping {
        restarts: u32,
        last_exit: i64,
    },
}

fn bystander(m: &PodMeta, image: &str, health: Health, mount: &str) -> Value {
    let container = app_container(&m.app, image, Some("512Mi"), mount);
    let id = format!("{:0>64}", m.uid.replace('-', ""));
    let started = m.created + 3;
    let (state, last, ready, restarts) = match health {
        Health::CrashLooping {
            restarts,
            last_exit,
        } => (
            json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off 5m0s restarting failed container={} pod={}_{}({})", m.app, m.name, m.namespace, m.uid)}}),
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(last_exit - 2),
                                  "finishedAt": ts(last_exit), "containerID": format!("containerd://{id}")}}),
            false,
            restarts,
        ),
        _ => (
            json!({"running": {"startedAt": ts(started)}}),
            json!({}),
            true,
            0,
        ),
    };
    let report = ContainerReport {
        name: &m.app,
        image,
        state,
        last,
        ready,
        restarts,
        id: &id,
    };
    let statuses = vec![container_status(report, mount)];
    let conditions = match health {
        Health::Ready => running_conditions(m, started + 5, &[]),
        Health::CrashLooping { last_exit, .. } => {
            let unready = [m.app.as_str()];
            running_conditions(m, last_exit, &unready)
        }
        Health::NodeLost { since } => {
            let mut c = running_conditions(m, started + 5, &[]);
            c[2] = condition("Ready", false, since, None, None);
            c
        }
    };
    objects::pod(
        m,
        vec![container],
        mount,
        pod_status("Running", conditions, m, statuses, "Burstable"),
    )
}

/// The cluster's objects, and the story that plays the target.
pub struct Built {
    pub story: Story,
    /// Nodes, pods, Events, NotReady nodes and crash-looping pods, for the summary.
    pub nodes: usize,
    pub not_ready: usize,
    pub crash_looping: usize,
}

/// Generates the cluster into the server's store.
pub fn build(s: &Scenario, inner: &ApiServer) -> Built {
    let mut rng = Rng::new(s.seed);
    let now = now_secs();
    let lost_at = now - 2 * 3600;
    let host_ip = "10.0.0.10".to_string();
    let (story, target_objects) = Story::new(
        StoryConfig {
            namespace: NAMESPACE.into(),
            app: TARGET.into(),
            node: NODE.into(),
            host_ip: host_ip.clone(),
            replicas: 3,
            min_available: 2,
            seed: s.seed ^ 0xc0ffee,
        },
        inner.clone(),
    );

    // Nodes: node-000 Ready, the others NotReady for two hours.
    let node_uids: Vec<String> = (0..=s.not_ready_nodes).map(|_| rng.uid()).collect();
    let nodes: Vec<Value> = (0..=s.not_ready_nodes)
        .map(|i| {
            let ready = i == 0;
            let hb = if ready { now - 7 } else { lost_at };
            objects::node(i, ready, &node_uids[i], now - 40 * 86_400, hb, &mut rng)
        })
        .collect();

    let mut pods: Vec<Value> = Vec::new();
    let mut events: Vec<Value> = Vec::new();
    let mut deployments: Vec<Value> = Vec::new();
    let mut pdbs: Vec<Value> = Vec::new();
    let mut limit_ranges: Vec<Value> = Vec::new();
    let mut hpas: Vec<Value> = Vec::new();
    let mut pod_refs: Vec<(PodMeta, bool)> = Vec::new();
    for (res, obj) in target_objects {
        if res == Gvr::PODS {
            let m = &obj["metadata"];
            let meta = PodMeta {
                namespace: NAMESPACE.into(),
                app: TARGET.into(),
                hash: String::new(),
                name: m["name"].as_str().unwrap_or_default().into(),
                uid: m["uid"].as_str().unwrap_or_default().into(),
                rs_uid: String::new(),
                node: NODE.into(),
                host_ip: host_ip.clone(),
                pod_ip: String::new(),
                created: now - 3 * 86_400 + 60,
                labels: Vec::new(),
                annotations: Vec::new(),
            };
            pod_refs.push((meta, true));
            pods.push(obj);
        } else if res == Gvr::DEPLOYMENTS {
            deployments.push(obj);
        } else if res == Gvr::PDBS {
            pdbs.push(obj);
        }
    }

    // Bystanders: apps of 1–40 replicas across the namespaces until the count is reached.
    let bystanders = s.pods.saturating_sub(3);
    let mut crash_left = s.crash_looping;
    let mut k = 0usize;
    let mut made = 0usize;
    while made < bystanders {
        let ns = if s.namespaces <= 2 {
            "bystand"
        } else {
            NAMESPACES[k % s.namespaces]
        };
        let app = if s.namespaces <= 2 {
            "cache".to_string()
        } else {
            format!(
                "{}-{}",
                APPS[(k / s.namespaces) % APPS.len()],
                k / (s.namespaces * APPS.len())
            )
        };
        k += 1;
        let replicas = if s.namespaces <= 2 {
            bystanders
        } else {
            (1 + rng.below(40) as usize).min(bystanders - made)
        };
        let hash = rng.template_hash();
        let rs_uid = rng.uid();
        let created = now - (5 + rng.below(60) as i64) * 86_400;
        let image = format!(
            "registry.example.com/{ns}/{app}:v{}.{}.{}",
            rng.below(5),
            rng.below(30),
            rng.below(10)
        );
        let template = app_container(&app, &image, Some("512Mi"), "unused");
        let dep_uid = rng.uid();
        let mut template_spec = json!({"containers": [template], "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "securityContext": {},
            "schedulerName": "default-scheduler"});
        if let Some(c) = template_spec["containers"][0].as_object_mut() {
            c.remove("volumeMounts");
        }
        deployments.push(objects::deployment(
            ns,
            &app,
            &dep_uid,
            replicas as u32,
            template_spec,
            created,
        ));
        if k.is_multiple_of(3) {
            let uid = rng.uid();
            let min = (replicas as u32).saturating_sub(1).max(1);
            pdbs.push(objects::pdb(
                ns,
                &app,
                &uid,
                min,
                replicas as u32,
                replicas as u32,
                created,
            ));
        }
        if k.is_multiple_of(5) && s.namespaces > 2 {
            hpas.push(json!({"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
                "metadata": {"name": app, "namespace": ns, "uid": rng.uid(), "resourceVersion": "0",
                             "creationTimestamp": ts(created)},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                         "minReplicas": replicas.max(1), "maxReplicas": replicas * 2 + 1,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                      "target": {"type": "Utilization", "averageUtilization": 70}}}]},
                "status": {"currentReplicas": replicas, "desiredReplicas": replicas}}));
        }
        for _ in 0..replicas {
            // About one bystander in 500 shares node-000 with the target (20 per node).
            let node_index = if s.not_ready_nodes == 0 || rng.below(501) == 0 {
                0
            } else {
                1 + rng.below(s.not_ready_nodes as u64) as usize
            };
            let meta = PodMeta {
                namespace: ns.into(),
                app: app.clone(),
                hash: hash.clone(),
                name: format!("{app}-{hash}-{}", rng.pod_suffix()),
                uid: rng.uid(),
                rs_uid: rs_uid.clone(),
                node: format!("node-{node_index:03}"),
                host_ip: format!("10.0.{}.{}", node_index / 250, 10 + node_index % 250),
                pod_ip: format!(
                    "10.{}.{}.{}",
                    64 + node_index / 256,
                    node_index % 256,
                    2 + rng.below(250)
                ),
                created: created + rng.below(3600) as i64,
                labels: Vec::new(),
                annotations: Vec::new(),
            };
            let health = if node_index != 0 && crash_left > 0 && rng.below(150) == 0 {
                crash_left -= 1;
                Health::CrashLooping {
                    restarts: 20 + rng.below(200) as u32,
                    last_exit: now - 30 - rng.below(270) as i64,
                }
            } else if node_index == 0 {
                Health::Ready
            } else {
                Health::NodeLost {
                    since: lost_at + 40,
                }
            };
            let mount = format!("kube-api-access-{}", rng.pod_suffix());
            pods.push(bystander(&meta, &image, health, &mount));
            if let Health::CrashLooping {
                restarts,
                last_exit,
            } = health
            {
                let about = Involved {
                    kind: "Pod".into(),
                    namespace: Some(meta.namespace.clone()),
                    name: meta.name.clone(),
                    uid: meta.uid.clone(),
                    field_path: Some(format!("spec.containers{{{}}}", meta.app)),
                };
                let msg = format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    meta.app, meta.name, meta.namespace, meta.uid
                );
                let uid = rng.uid();
                let suffix = rng.hex(16);
                events.push(objects::event(
                    &meta.namespace,
                    &uid,
                    &suffix,
                    &about,
                    "BackOff",
                    &msg,
                    "Warning",
                    "kubelet",
                    Some(&meta.node),
                    now - 3000,
                    last_exit + 1,
                    restarts,
                ));
            }
            pod_refs.push((meta, false));
            made += 1;
        }
    }
    // LimitRanges in the other namespaces (the target's has none, in both clusters).
    for ns in NAMESPACES
        .iter()
        .take(s.namespaces)
        .skip(1)
        .filter(|_| s.namespaces > 2)
    {
        limit_ranges.push(json!({"kind": "LimitRange", "apiVersion": "v1",
            "metadata": {"name": "default-limits", "namespace": ns, "uid": rng.uid(), "resourceVersion": "0",
                         "creationTimestamp": ts(now - 90 * 86_400)},
            "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"},
                                 "defaultRequest": {"memory": "128Mi"}}]}}));
    }

    // Events: the node lifecycle controller's NotReady, the kubelets' start-up on node-000,
    // the last rollouts' Normal events and probe warnings, up to the scenario's count.
    let node_event =
        |rng: &mut Rng, i: usize, reason: &str, msg: String, component: &str, at: i64| {
            let about = Involved {
                kind: "Node".into(),
                namespace: None,
                name: format!("node-{i:03}"),
                uid: node_uids[i].clone(),
                field_path: None,
            };
            let (uid, suffix) = (rng.uid(), rng.hex(16));
            let host = (component == "kubelet").then(|| format!("node-{i:03}"));
            objects::event(
                "default",
                &uid,
                &suffix,
                &about,
                reason,
                &msg,
                "Normal",
                component,
                host.as_deref(),
                at,
                at,
                1,
            )
        };
    for (reason, msg) in [
        ("Starting", "Starting kubelet.".to_string()),
        (
            "NodeHasSufficientMemory",
            format!("Node {NODE} status is now: NodeHasSufficientMemory"),
        ),
        ("NodeReady", format!("Node {NODE} status is now: NodeReady")),
    ] {
        let at = now - 40 * 60;
        events.push(node_event(&mut rng, 0, reason, msg, "kubelet", at));
    }
    for i in 1..=s.not_ready_nodes {
        let msg = format!("Node node-{i:03} status is now: NodeNotReady");
        events.push(node_event(
            &mut rng,
            i,
            "NodeNotReady",
            msg,
            "node-controller",
            lost_at + 40,
        ));
    }
    let mut p = 0usize;
    let wanted = s.events.max(events.len() + 4 * pod_refs.len().min(5));
    while events.len() < wanted && !pod_refs.is_empty() {
        let (m, _) = &pod_refs[p % pod_refs.len()];
        p += 1;
        let about = |field: bool| Involved {
            kind: "Pod".into(),
            namespace: Some(m.namespace.clone()),
            name: m.name.clone(),
            uid: m.uid.clone(),
            field_path: field.then(|| format!("spec.containers{{{}}}", m.app)),
        };
        let at = now - 60 - rng.below(3300) as i64;
        let node_lost = m.node != NODE && s.not_ready_nodes > 0 && rng.below(3) == 0;
        let (reason, msg, kind, component, field) = if node_lost {
            (
                "NodeNotReady",
                "Node is not ready".to_string(),
                "Warning",
                "node-controller",
                false,
            )
        } else {
            match rng.below(5) {
                0 => (
                    "Pulled",
                    format!(
                        "Container image \"registry.example.com/{}/{}:v1\" already present on machine",
                        m.namespace, m.app
                    ),
                    "Normal",
                    "kubelet",
                    true,
                ),
                1 => (
                    "Created",
                    format!("Created container: {}", m.app),
                    "Normal",
                    "kubelet",
                    true,
                ),
                2 => (
                    "Started",
                    format!("Started container {}", m.app),
                    "Normal",
                    "kubelet",
                    true,
                ),
                3 => (
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503".to_string(),
                    "Warning",
                    "kubelet",
                    true,
                ),
                _ => (
                    "Killing",
                    format!("Stopping container {}", m.app),
                    "Normal",
                    "kubelet",
                    true,
                ),
            }
        };
        let host = (component == "kubelet").then_some(m.node.as_str());
        let (uid, suffix) = (rng.uid(), rng.hex(16));
        let count = if reason == "Unhealthy" {
            1 + rng.below(40) as u32
        } else {
            1
        };
        events.push(objects::event(
            &m.namespace,
            &uid,
            &suffix,
            &about(field),
            reason,
            &msg,
            kind,
            component,
            host,
            at,
            at,
            count,
        ));
    }

    let not_ready = s.not_ready_nodes;
    let node_count = nodes.len();
    let crash_looping = s.crash_looping - crash_left;
    inner.populate(&Gvr::NODES, nodes);
    inner.populate(&Gvr::PODS, pods);
    inner.populate(&Gvr::EVENTS, events);
    inner.populate(&Gvr::DEPLOYMENTS, deployments);
    inner.populate(&Gvr::PDBS, pdbs);
    inner.populate(&Gvr::LIMIT_RANGES, limit_ranges);
    inner.populate(&Gvr::HPAS, hpas);
    Built {
        story,
        nodes: node_count,
        not_ready,
        crash_looping,
    }
}
