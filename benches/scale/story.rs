//! The leak story the fake cluster plays: the controllers and the kubelet of node-000, for the
//! target only, paced like the recorded `contained` run (tests/fixtures/real-runs/contained).
//!
//! - The server-side apply of the leaker bumps the Deployment's generation; the deployment
//!   controller rolls the pods one at a time (maxSurge 1, maxUnavailable 0: 25% of 3): a new
//!   pod is created, bound to node-000 (~25 ms), ContainerCreating, Running ~1 s later; then
//!   an old pod is deleted (Killing, all containers terminated, DELETED).
//! - Each leaker follows its own configuration, read from the injected container's environment
//!   the way the leaker reads it (`LeakerConfig::from_sources`): it is OOM-killed when its curve
//!   reaches the container's memory limit (`lastState.terminated.reason: OOMKilled`,
//!   `finishedAt` in whole seconds, exit 137), restarted after 1 s, then after CrashLoopBackOff
//!   delays of 10 s, 20 s, …; past its deadline it frees everything and is no longer killed.
//! - The PDB's and the Deployment's status follow ~60 ms after each pod change; Events are
//!   written as the kubelet and the controllers write them (Scheduled, Pulled, Created,
//!   Started, Killing, BackOff with a growing count, SuccessfulCreate/Delete, ScalingReplicaSet).
//! - The revert (the same field manager applying without the container) removes exactly what
//!   that manager applied, and the pods roll back to the original ReplicaSet.
//!
//! Nothing else changes: the bystanders sit on nodes whose kubelets stopped posting (big
//! cluster) or are idle (small cluster).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use oomsday_core::leaker_config::LeakerConfig;
use oomsday_core::units::Quantity;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::objects::{
    self, ContainerReport, Involved, PodMeta, Rng, container_status, micro_ts, now_secs,
    pod_status, running_conditions, ts,
};
use futures::future::BoxFuture;
use oomsday_testkit::{Answer, ApiServer, Gvr, Reply, Seen};

const LEAKER: &str = "oomsday-leaker";
/// The app container's image in the target's template.
pub const APP_IMAGE: &str = "registry.example.com/shop/checkout:v3.14.2";
/// The service-account volume name of every target pod.
const MOUNT: &str = "kube-api-access-7xk2p";

/// The target and what plays around it.
#[derive(Debug, Clone)]
pub struct StoryConfig {
    pub namespace: String,
    pub app: String,
    pub node: String,
    pub host_ip: String,
    pub replicas: u32,
    pub min_available: u32,
    pub seed: u64,
}

/// A running leaker, for its `/metrics` through the pod proxy.
#[derive(Debug, Clone)]
struct LeakerRun {
    config: LeakerConfig,
    started: SystemTime,
    limit: u64,
}

/// What the HTTP handlers ask of the story.
#[derive(Clone)]
pub struct StoryHandle {
    tx: mpsc::Sender<Command>,
    leakers: Arc<Mutex<HashMap<String, LeakerRun>>>,
    kills: Arc<Mutex<BTreeMap<u64, Kill>>>,
}

/// An OOM kill the server sent: the pod, the restartCount it was sent with, and when a watch
/// first wrote it to oomsday.
#[derive(Debug, Clone)]
pub struct Kill {
    pub pod: String,
    pub container: String,
    pub restarts: u32,
    pub sent: Option<SystemTime>,
}

/// What the story answers itself: the pod proxy to a leaker's metrics port, and server-side
/// applies to the Deployment (the fake API server keeps the rest).
impl Answer for StoryHandle {
    fn answer<'a>(&'a self, _: &'a ApiServer, s: &'a Seen) -> BoxFuture<'a, Option<Reply>> {
        Box::pin(async move {
            let parts: Vec<&str> = s.path.trim_matches('/').split('/').collect();
            match (s.method.as_str(), parts.as_slice()) {
                (
                    "GET",
                    [
                        "api",
                        "v1",
                        "namespaces",
                        _,
                        "pods",
                        pod,
                        "proxy",
                        "metrics",
                    ],
                ) => {
                    let pod = pod.split(':').next().unwrap_or_default();
                    Some(match self.metrics(pod) {
                        Some(text) => Reply::text(200, text),
                        // What the API server answers when nothing listens behind the proxy.
                        None => Reply::text(
                            503,
                            format!(
                                "error trying to reach service: dial tcp 10.88.0.1:9464: connect: connection refused ({pod})"
                            ),
                        ),
                    })
                }
                ("PATCH", ["apis", "apps", "v1", "namespaces", ns, "deployments", name])
                    if s.content_type.starts_with("application/apply-patch") =>
                {
                    let manager = s.q("fieldManager").unwrap_or_default();
                    let dry_run = s.q("dryRun") == Some("All");
                    let answer = self.apply(ns, name, manager, s.body.clone(), dry_run).await;
                    Some(match answer {
                        Ok(obj) => Reply::json(200, &obj),
                        Err(msg) => Reply::status(404, "NotFound", &msg),
                    })
                }
                _ => None,
            }
        })
    }
}

enum Command {
    Apply {
        namespace: String,
        name: String,
        manager: String,
        patch: Value,
        dry_run: bool,
        reply: oneshot::Sender<Result<Value, String>>,
    },
}

impl StoryHandle {
    /// A server-side apply to a Deployment.
    pub async fn apply(
        &self,
        namespace: &str,
        name: &str,
        manager: &str,
        patch: Value,
        dry_run: bool,
    ) -> Result<Value, String> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Apply {
            namespace: namespace.into(),
            name: name.into(),
            manager: manager.into(),
            patch,
            dry_run,
            reply,
        };
        self.tx
            .send(cmd)
            .await
            .map_err(|_| "the story has ended".to_string())?;
        rx.await.map_err(|_| "the story has ended".to_string())?
    }

    /// Every OOM kill sent, in order, with when a watch first sent it (as `api` noted).
    pub fn kills(&self, api: &ApiServer) -> Vec<Kill> {
        let kills = self.kills.lock().unwrap_or_else(|e| e.into_inner());
        kills
            .iter()
            .map(|(rv, k)| Kill {
                sent: api.sent(*rv),
                ..k.clone()
            })
            .collect()
    }

    /// The leaker's Prometheus text in the real leaker's shape, or None when nothing listens
    /// (no leaker, or it is not running).
    pub fn metrics(&self, pod: &str) -> Option<String> {
        let run = self
            .leakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pod)
            .cloned()?;
        let now = SystemTime::now();
        let elapsed = now.duration_since(run.started).unwrap_or_default();
        let deadline = run.config.deadline.at(run.started);
        let expired = now >= deadline;
        let chunk = run.config.chunk.bytes().max(1);
        let target = if expired {
            0
        } else {
            run.config.curve.bytes_at(elapsed)
        };
        let allocated = (target.min(run.limit) / chunk) * chunk;
        let phase = if expired {
            "expired"
        } else if run.config.curve.peak().is_some_and(|p| target >= p) {
            "holding"
        } else {
            "leaking"
        };
        let deadline_s = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let flag = |p: &str| u8::from(p == phase);
        Some(format!(
            "# HELP oomsday_leaker_target_bytes Bytes the leak curve calls for now (0 after the deadline).\n\
             # TYPE oomsday_leaker_target_bytes gauge\noomsday_leaker_target_bytes {target}\n\
             # HELP oomsday_leaker_allocated_bytes Bytes the leaker holds: anonymous memory mapped and written.\n\
             # TYPE oomsday_leaker_allocated_bytes gauge\noomsday_leaker_allocated_bytes {allocated}\n\
             # HELP oomsday_leaker_rss_bytes Resident set size of the leaker process.\n\
             # TYPE oomsday_leaker_rss_bytes gauge\noomsday_leaker_rss_bytes {}\n\
             # HELP oomsday_leaker_deadline_seconds Unix time at which the leaker frees everything.\n\
             # TYPE oomsday_leaker_deadline_seconds gauge\noomsday_leaker_deadline_seconds {deadline_s:.3}\n\
             # HELP oomsday_leaker_phase 1 for the phase the leaker is in: leaking, holding or expired.\n\
             # TYPE oomsday_leaker_phase gauge\noomsday_leaker_phase{{phase=\"leaking\"}} {}\n\
             oomsday_leaker_phase{{phase=\"holding\"}} {}\noomsday_leaker_phase{{phase=\"expired\"}} {}\n",
            allocated + 1_335_296,
            flag("leaking"),
            flag("holding"),
            flag("expired"),
        ))
    }
}

/// A container's state as the kubelet reports it.
#[derive(Debug, Clone)]
struct Container {
    name: String,
    image: String,
    state: Value,
    last: Value,
    restarts: u32,
    ready: bool,
    id: String,
    started_at: i64,
}

/// A pod of the target, as the story keeps it.
#[derive(Debug, Clone)]
struct TargetPod {
    meta: PodMeta,
    spec_containers: Vec<Value>,
    bound: bool,
    /// The kubelet has the pod: its containers are being created.
    creating: bool,
    phase: &'static str,
    containers: Vec<Container>,
    ready_since: i64,
    deleting: Option<i64>,
    /// The leaker's configuration and limit, when the pod carries one.
    leaker: Option<(LeakerConfig, u64)>,
    /// The BackOff Event's name and count for the leaker, once there is one.
    backoff: Option<(String, u32)>,
}

impl TargetPod {
    fn ready(&self) -> bool {
        self.deleting.is_none()
            && self.phase == "Running"
            && self.containers.iter().all(|c| c.ready)
    }
    fn leaker_mut(&mut self) -> Option<&mut Container> {
        self.containers.iter_mut().find(|c| c.name == LEAKER)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Sync,
    RolloutStep,
    PodBound(String),
    PodCreating(String),
    PodRunning(String),
    LeakerOom(String, u32),
    LeakerWaiting(String, u32),
    LeakerRestart(String, u32),
    PodStopped(String),
    PodGone(String),
}

struct Rollout {
    hash: String,
    rs_uid: String,
    leaker: bool,
}

/// The story's state: the target's objects, a clock of scheduled actions.
pub struct Story {
    cfg: StoryConfig,
    inner: ApiServer,
    /// The OOM kills sent, by the resourceVersion of the pod change that carried them.
    kills: Arc<Mutex<BTreeMap<u64, Kill>>>,
    rng: Rng,
    deployment: Value,
    pdb: Value,
    pods: BTreeMap<String, TargetPod>,
    original_hash: String,
    original_rs_uid: String,
    /// What each field manager last applied (server-side apply's memory).
    applied: HashMap<String, Value>,
    rollout: Option<Rollout>,
    queue: BinaryHeap<Reverse<(Instant, u64, Action)>>,
    seq: u64,
    sync_queued: bool,
    leakers: Arc<Mutex<HashMap<String, LeakerRun>>>,
    rev: u32,
}

fn pod_ip(rng: &mut Rng) -> String {
    format!("10.64.0.{}", 2 + rng.below(250))
}

impl Story {
    /// The target as it stands before the run: a Deployment of `replicas` Ready pods on the
    /// node, its PDB, and the Events its last rollout left. Returns the story and the objects
    /// to populate the server with.
    pub fn new(cfg: StoryConfig, inner: ApiServer) -> (Story, Vec<(Gvr, Value)>) {
        let mut rng = Rng::new(cfg.seed);
        let created = now_secs() - 86_400 * 3;
        let hash = rng.template_hash();
        let rs_uid = rng.uid();
        let template = json!({
            "volumes": [],
            "containers": [objects::app_container(&cfg.app, APP_IMAGE, None, MOUNT)],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "securityContext": {}, "schedulerName": "default-scheduler"
        });
        let mut template = template;
        // The template has no service-account mount; the admission plugin adds it to pods.
        if let Some(c) = template["containers"][0].as_object_mut() {
            c.remove("volumeMounts");
        }
        if let Some(t) = template.as_object_mut() {
            t.remove("volumes");
        }
        let uid = rng.uid();
        let deployment = objects::deployment(
            &cfg.namespace,
            &cfg.app,
            &uid,
            cfg.replicas,
            template,
            created,
        );
        let pdb_uid = rng.uid();
        let pdb = objects::pdb(
            &cfg.namespace,
            &cfg.app,
            &pdb_uid,
            cfg.min_available,
            cfg.replicas,
            cfg.replicas,
            created,
        );
        let mut story = Story {
            cfg: cfg.clone(),
            inner,
            kills: Arc::default(),
            rng,
            deployment,
            pdb,
            pods: BTreeMap::new(),
            original_hash: hash.clone(),
            original_rs_uid: rs_uid.clone(),
            applied: HashMap::new(),
            rollout: None,
            queue: BinaryHeap::new(),
            seq: 0,
            sync_queued: false,
            leakers: Arc::new(Mutex::new(HashMap::new())),
            rev: 1,
        };
        let mut objects = vec![
            (Gvr::DEPLOYMENTS, story.deployment.clone()),
            (Gvr::PDBS, story.pdb.clone()),
        ];
        for _ in 0..cfg.replicas {
            let mut p = story.new_pod(&hash, &rs_uid, false, created + 60);
            p.bound = true;
            p.phase = "Running";
            for c in &mut p.containers {
                c.state = json!({"running": {"startedAt": ts(created + 62)}});
                c.ready = true;
                c.started_at = created + 62;
            }
            p.ready_since = created + 63;
            let name = p.meta.name.clone();
            story.pods.insert(name.clone(), p);
            objects.push((Gvr::PODS, story.render(&name)));
        }
        (story, objects)
    }

    /// Starts playing; the handle is what the server asks.
    pub fn spawn(mut self) -> StoryHandle {
        let (tx, mut rx) = mpsc::channel::<Command>(16);
        let handle = StoryHandle {
            tx,
            leakers: self.leakers.clone(),
            kills: self.kills.clone(),
        };
        tokio::spawn(async move {
            loop {
                let next = self.queue.peek().map(|Reverse((t, _, _))| *t);
                let far = Instant::now() + Duration::from_secs(3600);
                tokio::select! {
                    cmd = rx.recv() => match cmd {
                        Some(c) => self.command(c),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(next.unwrap_or(far)) => {
                        let now = Instant::now();
                        while let Some(Reverse((t, _, _))) = self.queue.peek() {
                            if *t > now {
                                break;
                            }
                            if let Some(Reverse((_, _, a))) = self.queue.pop() {
                                self.act(a);
                            }
                        }
                    }
                }
            }
        });
        handle
    }

    fn at(&mut self, t: Instant, a: Action) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, a)));
    }

    fn after(&mut self, ms: u64, a: Action) {
        self.at(Instant::now() + Duration::from_millis(ms), a);
    }

    fn sync_soon(&mut self) {
        if !std::mem::replace(&mut self.sync_queued, true) {
            self.after(60, Action::Sync);
        }
    }

    fn new_pod(&mut self, hash: &str, rs_uid: &str, leaker: bool, created: i64) -> TargetPod {
        let name = format!("{}-{hash}-{}", self.cfg.app, self.rng.pod_suffix());
        let template = &self.deployment["spec"]["template"];
        let mut spec_containers: Vec<Value> = template["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &mut spec_containers {
            c["volumeMounts"] = json!([{"name": MOUNT, "readOnly": true,
                                         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
            if c.get("terminationMessagePath").is_none() {
                c["terminationMessagePath"] = json!("/dev/termination-log");
                c["terminationMessagePolicy"] = json!("File");
                c["imagePullPolicy"] = json!("IfNotPresent");
            }
        }
        let marks = |key: &str| -> Vec<(String, String)> {
            template["metadata"][key]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| k.starts_with("oomsday.dev/"))
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let leaker_cfg = if leaker {
            spec_containers
                .iter()
                .find(|c| c["name"] == LEAKER)
                .and_then(leaker_config)
        } else {
            None
        };
        let containers = spec_containers
            .iter()
            .map(|c| Container {
                name: c["name"].as_str().unwrap_or_default().to_string(),
                image: c["image"].as_str().unwrap_or_default().to_string(),
                state: json!({"waiting": {"reason": "ContainerCreating"}}),
                last: json!({}),
                restarts: 0,
                ready: false,
                id: self.rng.hex(64),
                started_at: created,
            })
            .collect();
        TargetPod {
            meta: PodMeta {
                namespace: self.cfg.namespace.clone(),
                app: self.cfg.app.clone(),
                hash: hash.to_string(),
                name,
                uid: self.rng.uid(),
                rs_uid: rs_uid.to_string(),
                node: self.cfg.node.clone(),
                host_ip: self.cfg.host_ip.clone(),
                pod_ip: pod_ip(&mut self.rng),
                created,
                labels: marks("labels"),
                annotations: marks("annotations"),
            },
            spec_containers,
            bound: false,
            creating: false,
            phase: "Pending",
            containers,
            ready_since: created,
            deleting: None,
            leaker: leaker_cfg,
            backoff: None,
        }
    }

    /// The pod as the API server would send it now.
    fn render(&self, name: &str) -> Value {
        let Some(p) = self.pods.get(name) else {
            return Value::Null;
        };
        let m = &p.meta;
        let statuses: Vec<Value> = p
            .containers
            .iter()
            .map(|c| {
                let report = ContainerReport {
                    name: &c.name,
                    image: &c.image,
                    state: c.state.clone(),
                    last: c.last.clone(),
                    ready: c.ready,
                    restarts: c.restarts,
                    id: &c.id,
                };
                container_status(report, MOUNT)
            })
            .collect();
        let unready: Vec<&str> = p
            .containers
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.as_str())
            .collect();
        let qos = "Burstable";
        let status = if !p.bound {
            json!({"phase": "Pending", "qosClass": qos})
        } else if p.phase == "Pending" && !p.creating {
            json!({"phase": "Pending", "qosClass": qos,
                   "conditions": [objects::condition("PodScheduled", true, m.created, None, None)]})
        } else if p.phase == "Pending" {
            let mut conds = running_conditions(m, m.created, &unready);
            conds[0] =
                objects::condition("PodReadyToStartContainers", false, m.created, None, None);
            let mut s = pod_status("Pending", conds, m, statuses, qos);
            if let Some(o) = s.as_object_mut() {
                o.remove("podIP");
                o.remove("podIPs");
            }
            s
        } else {
            let conds = if p.phase == "Running" {
                running_conditions(m, p.ready_since, &unready)
            } else {
                let reason = if p.phase == "Failed" {
                    "PodFailed"
                } else {
                    "PodCompleted"
                };
                let mut c = running_conditions(m, p.ready_since, &[]);
                c[2] = objects::condition("Ready", false, p.ready_since, Some(reason), None);
                c[3] =
                    objects::condition("ContainersReady", false, p.ready_since, Some(reason), None);
                c
            };
            pod_status(p.phase, conds, m, statuses, qos)
        };
        let mut v = objects::pod(m, p.spec_containers.clone(), MOUNT, status);
        if !p.bound
            && let Some(s) = v["spec"].as_object_mut()
        {
            s.remove("nodeName");
        }
        if let Some(d) = p.deleting {
            v["metadata"]["deletionTimestamp"] = json!(ts(d));
            v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        }
        v
    }

    fn put_pod(&mut self, name: &str, kill: Option<Kill>) {
        let v = self.render(name);
        if !v.is_null() {
            match kill {
                // Marked as it is stored: before any watch can send it.
                Some(k) => {
                    let (_, rv) = self.inner.put_marked(&Gvr::PODS, v);
                    self.kills
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(rv, k);
                }
                None => {
                    self.inner.put(&Gvr::PODS, v);
                }
            }
        }
        self.sync_soon();
    }

    /// An Event about a target object, as its reporter writes it.
    fn event(
        &mut self,
        about: Involved,
        reason: &str,
        message: &str,
        warning: bool,
        component: &str,
    ) -> String {
        let now = now_secs();
        let uid = self.rng.uid();
        let suffix = self.rng.hex(16);
        let name = format!("{}.{suffix}", about.name);
        let host = (component == "kubelet").then(|| self.cfg.node.clone());
        let mut e = objects::event(
            &self.cfg.namespace,
            &uid,
            &suffix,
            &about,
            reason,
            message,
            if warning { "Warning" } else { "Normal" },
            component,
            host.as_deref(),
            now,
            now,
            1,
        );
        if component == "default-scheduler" {
            // The scheduler writes events.k8s.io-style Events: eventTime, no timestamps.
            e["eventTime"] = json!(micro_ts(jiff::Timestamp::now()));
            e["firstTimestamp"] = Value::Null;
            e["lastTimestamp"] = Value::Null;
            e["count"] = Value::Null;
            e["action"] = json!("Binding");
        }
        self.inner.put(&Gvr::EVENTS, e);
        name
    }

    fn pod_ref(&self, name: &str, container: Option<&str>) -> Involved {
        let uid = self
            .pods
            .get(name)
            .map(|p| p.meta.uid.clone())
            .unwrap_or_default();
        Involved {
            kind: "Pod".into(),
            namespace: Some(self.cfg.namespace.clone()),
            name: name.into(),
            uid,
            field_path: container.map(|c| format!("spec.containers{{{c}}}")),
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Apply {
                namespace,
                name,
                manager,
                patch,
                dry_run,
                reply,
            } => {
                if namespace != self.cfg.namespace || name != self.cfg.app {
                    let _ = reply.send(Err(format!("deployments.apps \"{name}\" not found")));
                    return;
                }
                let before = self.deployment["spec"].clone();
                let mut next = self.deployment.clone();
                let previous = self.applied.get(&manager).cloned().unwrap_or(json!({}));
                unapply(&mut next, &previous, &patch);
                apply_merge(&mut next, &patch);
                let changed = next["spec"] != before;
                if changed {
                    let g = next["metadata"]["generation"].as_i64().unwrap_or(1);
                    next["metadata"]["generation"] = json!(g + 1);
                }
                if dry_run {
                    let _ = reply.send(Ok(next));
                    return;
                }
                self.applied.insert(manager, patch);
                self.deployment = next;
                let stored = self.inner.put(&Gvr::DEPLOYMENTS, self.deployment.clone());
                let _ = reply.send(Ok(stored));
                if changed {
                    self.start_rollout();
                }
            }
        }
    }

    fn start_rollout(&mut self) {
        let leaker = self.deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == LEAKER));
        let (hash, rs_uid) = if leaker {
            (self.rng.template_hash(), self.rng.uid())
        } else {
            // The template is the original one again: its ReplicaSet scales back up.
            (self.original_hash.clone(), self.original_rs_uid.clone())
        };
        self.rev += 1;
        self.deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
            json!(self.rev.to_string());
        let about = Involved {
            kind: "Deployment".into(),
            namespace: Some(self.cfg.namespace.clone()),
            name: self.cfg.app.clone(),
            uid: self.deployment["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            field_path: None,
        };
        let msg = format!("Scaled up replica set {}-{hash} from 0 to 1", self.cfg.app);
        self.event(
            about,
            "ScalingReplicaSet",
            &msg,
            false,
            "deployment-controller",
        );
        self.rollout = Some(Rollout {
            hash,
            rs_uid,
            leaker,
        });
        self.after(150, Action::RolloutStep);
        self.sync_soon();
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Sync => {
                self.sync_queued = false;
                self.sync();
            }
            Action::RolloutStep => self.rollout_step(),
            Action::PodBound(n) => {
                if let Some(p) = self.pods.get_mut(&n) {
                    p.bound = true;
                    let msg = format!(
                        "Successfully assigned {}/{n} to {}",
                        self.cfg.namespace, self.cfg.node
                    );
                    let about = self.pod_ref(&n, None);
                    self.put_pod(&n, None);
                    self.event(about, "Scheduled", &msg, false, "default-scheduler");
                    self.after(130, Action::PodCreating(n));
                }
            }
            Action::PodCreating(n) => {
                if let Some(p) = self.pods.get_mut(&n) {
                    p.creating = true;
                    self.put_pod(&n, None);
                    self.after(950, Action::PodRunning(n));
                }
            }
            Action::PodRunning(n) => self.pod_running(&n),
            Action::LeakerOom(n, restarts) => self.leaker_oom(&n, restarts),
            Action::LeakerWaiting(n, restarts) => self.leaker_waiting(&n, restarts),
            Action::LeakerRestart(n, restarts) => self.leaker_restart(&n, restarts),
            Action::PodStopped(n) => {
                let now = now_secs();
                if let Some(p) = self.pods.get_mut(&n) {
                    let mut failed = false;
                    for c in &mut p.containers {
                        let (code, reason) = if c.name == LEAKER {
                            (137, "Error")
                        } else {
                            (0, "Completed")
                        };
                        failed |= code != 0;
                        if c.state.get("terminated").is_none() {
                            c.state = json!({"terminated": {"exitCode": code, "reason": reason,
                                "startedAt": ts(c.started_at), "finishedAt": ts(now),
                                "containerID": format!("containerd://{}", c.id)}});
                        }
                        c.ready = false;
                    }
                    p.phase = if failed { "Failed" } else { "Succeeded" };
                    p.ready_since = now;
                    self.leakers_lock().remove(&n);
                    self.put_pod(&n, None);
                    self.after(300, Action::PodGone(n));
                }
            }
            Action::PodGone(n) => {
                let v = self.render(&n);
                if self.pods.remove(&n).is_some() {
                    self.inner.remove(&Gvr::PODS, v);
                    self.sync_soon();
                    self.after(50, Action::RolloutStep);
                }
            }
        }
    }

    fn leakers_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LeakerRun>> {
        self.leakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rollout_step(&mut self) {
        let Some(r) = self.rollout.as_ref() else {
            return;
        };
        let (hash, rs_uid, leaker) = (r.hash.clone(), r.rs_uid.clone(), r.leaker);
        let live: Vec<&TargetPod> = self
            .pods
            .values()
            .filter(|p| p.deleting.is_none())
            .collect();
        let new: Vec<&TargetPod> = live
            .iter()
            .copied()
            .filter(|p| p.meta.hash == hash)
            .collect();
        let old: Vec<String> = live
            .iter()
            .filter(|p| p.meta.hash != hash)
            .map(|p| p.meta.name.clone())
            .collect();
        if new.iter().any(|p| p.phase != "Running") {
            return; // the surge pod is not available yet
        }
        let desired = self.cfg.replicas as usize;
        if !old.is_empty() && new.len() + old.len() > desired {
            let victim = old[0].clone();
            self.terminate(&victim);
            self.after(100, Action::RolloutStep);
        } else if new.len() < desired {
            let created = now_secs();
            let p = self.new_pod(&hash, &rs_uid, leaker, created);
            let name = p.meta.name.clone();
            self.pods.insert(name.clone(), p);
            self.put_pod(&name, None);
            let about = Involved {
                kind: "ReplicaSet".into(),
                namespace: Some(self.cfg.namespace.clone()),
                name: format!("{}-{hash}", self.cfg.app),
                uid: rs_uid,
                field_path: None,
            };
            let msg = format!("Created pod: {name}");
            self.event(
                about,
                "SuccessfulCreate",
                &msg,
                false,
                "replicaset-controller",
            );
            self.after(25, Action::PodBound(name));
        } else if old.is_empty() {
            self.rollout = None;
            self.sync_soon();
        }
    }

    fn terminate(&mut self, name: &str) {
        let now = now_secs();
        let Some(p) = self.pods.get_mut(name) else {
            return;
        };
        p.deleting = Some(now + 30);
        let (old_hash, rs_uid) = (p.meta.hash.clone(), p.meta.rs_uid.clone());
        let containers: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
        self.put_pod(name, None);
        let about = Involved {
            kind: "ReplicaSet".into(),
            namespace: Some(self.cfg.namespace.clone()),
            name: format!("{}-{old_hash}", self.cfg.app),
            uid: rs_uid,
            field_path: None,
        };
        self.event(
            about,
            "SuccessfulDelete",
            &format!("Deleted pod: {name}"),
            false,
            "replicaset-controller",
        );
        for c in containers {
            let about = self.pod_ref(name, Some(&c));
            self.event(
                about,
                "Killing",
                &format!("Stopping container {c}"),
                false,
                "kubelet",
            );
        }
        self.after(400, Action::PodStopped(name.to_string()));
    }

    fn pod_running(&mut self, n: &str) {
        let now = now_secs();
        let wall = SystemTime::now();
        let Some(p) = self.pods.get_mut(n) else {
            return;
        };
        if p.deleting.is_some() {
            return;
        }
        p.phase = "Running";
        for c in &mut p.containers {
            c.state = json!({"running": {"startedAt": ts(now)}});
            c.ready = true;
            c.started_at = now;
        }
        p.ready_since = now;
        let names: Vec<(String, String)> = p
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.image.clone()))
            .collect();
        let leaker = p.leaker;
        self.put_pod(n, None);
        for (c, image) in names {
            let a = self.pod_ref(n, Some(&c));
            let pulled = format!("Container image \"{image}\" already present on machine");
            self.event(a, "Pulled", &pulled, false, "kubelet");
            let a = self.pod_ref(n, Some(&c));
            self.event(
                a,
                "Created",
                &format!("Created container: {c}"),
                false,
                "kubelet",
            );
            let a = self.pod_ref(n, Some(&c));
            self.event(
                a,
                "Started",
                &format!("Started container {c}"),
                false,
                "kubelet",
            );
        }
        if let Some((config, limit)) = leaker {
            self.leaker_started(n, config, limit, wall, 0);
        }
        self.after(50, Action::RolloutStep);
    }

    /// Registers a running leaker and schedules its OOM kill for when its curve reaches the
    /// limit (plus the process's start-up), unless its deadline comes first.
    fn leaker_started(
        &mut self,
        n: &str,
        config: LeakerConfig,
        limit: u64,
        wall: SystemTime,
        restarts: u32,
    ) {
        self.leakers_lock().insert(
            n.to_string(),
            LeakerRun {
                config,
                started: wall,
                limit,
            },
        );
        let Some(to_limit) = config.curve.time_to_reach(limit) else {
            return;
        };
        let kill_at = wall + to_limit + Duration::from_millis(300);
        if kill_at >= config.deadline.at(wall) {
            return; // it frees everything at its deadline before reaching the limit
        }
        let wait = kill_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        self.at(
            Instant::now() + wait,
            Action::LeakerOom(n.to_string(), restarts),
        );
    }

    fn leaker_oom(&mut self, n: &str, restarts: u32) {
        let now = now_secs();
        let Some(p) = self.pods.get_mut(n) else {
            return;
        };
        if p.phase != "Running" || p.deleting.is_some() {
            return;
        }
        let Some(c) = p.leaker_mut() else {
            return;
        };
        if c.restarts != restarts || c.state.get("running").is_none() {
            return;
        }
        c.state = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
            "startedAt": ts(c.started_at), "finishedAt": ts(now),
            "containerID": format!("containerd://{}", c.id)}});
        c.ready = false;
        p.ready_since = now;
        self.leakers_lock().remove(n);
        let kill = Kill {
            pod: n.to_string(),
            container: LEAKER.into(),
            restarts,
            sent: None,
        };
        self.put_pod(n, Some(kill));
        if restarts == 0 {
            self.after(1000, Action::LeakerRestart(n.to_string(), restarts));
        } else {
            self.after(1000, Action::LeakerWaiting(n.to_string(), restarts));
            let backoff = (10_000u64 << (restarts - 1).min(5)).min(300_000);
            self.after(backoff, Action::LeakerRestart(n.to_string(), restarts));
        }
    }

    fn backoff_text(&self, n: &str, restarts: u32) -> String {
        let uid = self
            .pods
            .get(n)
            .map(|p| p.meta.uid.clone())
            .unwrap_or_default();
        let secs = (10u64 << (restarts.saturating_sub(1)).min(5)).min(300);
        format!(
            "back-off {secs}s restarting failed container={LEAKER} pod={n}_{}({uid})",
            self.cfg.namespace
        )
    }

    fn leaker_waiting(&mut self, n: &str, restarts: u32) {
        let text = self.backoff_text(n, restarts);
        let uid = self
            .pods
            .get(n)
            .map(|p| p.meta.uid.clone())
            .unwrap_or_default();
        let Some(p) = self.pods.get_mut(n) else {
            return;
        };
        if p.deleting.is_some() {
            return;
        }
        let Some(c) = p.leaker_mut() else {
            return;
        };
        if c.restarts != restarts || c.state.get("terminated").is_none() {
            return;
        }
        c.last = c.state.clone();
        c.state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": text}});
        let backoff = p.backoff.clone();
        self.put_pod(n, None);
        // The kubelet's BackOff Event for the container: one Event, its count growing.
        let now = now_secs();
        let message = format!(
            "Back-off restarting failed container {LEAKER} in pod {n}_{}({uid})",
            self.cfg.namespace
        );
        match backoff {
            Some((name, count)) => {
                if let Some(mut e) = self.inner.get("events", &self.cfg.namespace, &name) {
                    e["count"] = json!(count + 1);
                    e["lastTimestamp"] = json!(ts(now));
                    self.inner.put(&Gvr::EVENTS, e);
                }
                if let Some(p) = self.pods.get_mut(n) {
                    p.backoff = Some((name, count + 1));
                }
            }
            None => {
                let about = self.pod_ref(n, Some(LEAKER));
                let name = self.event(about, "BackOff", &message, true, "kubelet");
                if let Some(p) = self.pods.get_mut(n) {
                    p.backoff = Some((name, 1));
                }
            }
        }
    }

    fn leaker_restart(&mut self, n: &str, restarts: u32) {
        let now = now_secs();
        let wall = SystemTime::now();
        let id = self.rng.hex(64);
        let Some(p) = self.pods.get_mut(n) else {
            return;
        };
        if p.deleting.is_some() {
            return;
        }
        let leaker = p.leaker;
        let Some(c) = p.leaker_mut() else {
            return;
        };
        if c.restarts != restarts {
            return;
        }
        if c.state.get("terminated").is_some() {
            c.last = c.state.clone();
        }
        c.restarts += 1;
        c.id = id;
        c.state = json!({"running": {"startedAt": ts(now)}});
        c.started_at = now;
        c.ready = true;
        let next = c.restarts;
        p.ready_since = now;
        self.put_pod(n, None);
        if let Some((config, limit)) = leaker {
            self.leaker_started(n, config, limit, wall, next);
        }
    }

    /// The disruption controller and the deployment controller catch up with the pods.
    fn sync(&mut self) {
        let now = now_secs();
        let live: Vec<&TargetPod> = self
            .pods
            .values()
            .filter(|p| p.deleting.is_none())
            .collect();
        let ready = live.iter().filter(|p| p.ready()).count() as u32;
        let current_hash = self
            .rollout
            .as_ref()
            .map_or(self.current_hash(), |r| r.hash.clone());
        let updated = live.iter().filter(|p| p.meta.hash == current_hash).count() as u32;
        let replicas = live.len() as u32;
        let desired = self.cfg.replicas;
        let mut pdb_status = objects::pdb_status(self.cfg.min_available, ready, replicas, now);
        // Keep the condition's transition time unless the condition flipped.
        let old = &self.pdb["status"];
        if old["conditions"][0]["status"] == pdb_status["conditions"][0]["status"] {
            pdb_status["conditions"][0]["lastTransitionTime"] =
                old["conditions"][0]["lastTransitionTime"].clone();
        }
        if self.pdb["status"] != pdb_status {
            self.pdb["status"] = pdb_status;
            self.pdb = self.inner.put(&Gvr::PDBS, self.pdb.clone());
        }
        let generation = self.deployment["metadata"]["generation"].clone();
        let s = &mut self.deployment["status"];
        let before = s.clone();
        s["observedGeneration"] = generation;
        s["replicas"] = json!(replicas);
        s["updatedReplicas"] = json!(updated);
        s["readyReplicas"] = json!(ready);
        s["availableReplicas"] = json!(ready);
        let unavailable = desired.saturating_sub(ready);
        if unavailable > 0 {
            s["unavailableReplicas"] = json!(unavailable);
        } else if let Some(o) = s.as_object_mut() {
            o.remove("unavailableReplicas");
        }
        let available = ready >= desired;
        let progressing = if updated == desired && replicas == desired {
            (
                "NewReplicaSetAvailable",
                format!(
                    "ReplicaSet \"{}-{current_hash}\" has successfully progressed.",
                    self.cfg.app
                ),
            )
        } else {
            (
                "ReplicaSetUpdated",
                format!(
                    "ReplicaSet \"{}-{current_hash}\" is progressing.",
                    self.cfg.app
                ),
            )
        };
        s["conditions"] = json!([
            {"type": "Available", "status": if available {"True"} else {"False"}, "lastUpdateTime": ts(now),
             "lastTransitionTime": ts(now),
             "reason": if available {"MinimumReplicasAvailable"} else {"MinimumReplicasUnavailable"},
             "message": if available {"Deployment has minimum availability."} else {"Deployment does not have minimum availability."}},
            {"type": "Progressing", "status": "True", "lastUpdateTime": ts(now), "lastTransitionTime": ts(now),
             "reason": progressing.0, "message": progressing.1}
        ]);
        // Conditions' times alone do not make the controller write.
        let mut a = before.clone();
        let mut b = s.clone();
        a["conditions"] = Value::Null;
        b["conditions"] = Value::Null;
        let conditions_flipped = before["conditions"]
            .as_array()
            .zip(s["conditions"].as_array())
            .is_none_or(|(x, y)| {
                x.iter()
                    .zip(y)
                    .any(|(x, y)| x["status"] != y["status"] || x["reason"] != y["reason"])
            });
        if a != b || conditions_flipped {
            self.deployment = self.inner.put(&Gvr::DEPLOYMENTS, self.deployment.clone());
        } else {
            self.deployment["status"] = before;
        }
    }

    fn current_hash(&self) -> String {
        let leaker = self.deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == LEAKER));
        if leaker {
            self.pods
                .values()
                .find(|p| p.leaker.is_some())
                .map_or(self.original_hash.clone(), |p| p.meta.hash.clone())
        } else {
            self.original_hash.clone()
        }
    }
}

/// The leaker's configuration, read from the container's environment as the leaker reads it,
/// and its memory limit.
fn leaker_config(c: &Value) -> Option<(LeakerConfig, u64)> {
    let env: HashMap<String, String> = c["env"]
        .as_array()?
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let config = LeakerConfig::from_sources(&[], &|k| env.get(k).cloned()).ok()?;
    let limit = c["resources"]["limits"]["memory"]
        .as_str()
        .and_then(|q| q.parse::<Quantity>().ok())
        .map_or(u64::MAX, Quantity::bytes);
    Some((config, limit))
}

/// Whether two list items are the same entry (lists merge by `name`, as containers do).
fn same_item(a: &Value, b: &Value) -> bool {
    a.get("name").is_some() && a.get("name") == b.get("name")
}

/// Server-side apply's removal: fields `previous` applied that `next` does not apply any more
/// leave the object (other managers' fields stay).
fn unapply(obj: &mut Value, previous: &Value, next: &Value) {
    let (Some(prev), Some(o)) = (previous.as_object(), obj.as_object_mut()) else {
        return;
    };
    for (k, pv) in prev {
        if matches!(k.as_str(), "apiVersion" | "kind" | "name" | "namespace") {
            continue;
        }
        match next.get(k) {
            None => match (pv, o.get_mut(k)) {
                (Value::Array(items), Some(Value::Array(have))) => {
                    have.retain(|h| !items.iter().any(|i| same_item(i, h)));
                }
                (Value::Object(_), Some(inner)) if inner.is_object() => {
                    unapply(inner, pv, &Value::Object(Default::default()));
                    if inner.as_object().is_some_and(|m| m.is_empty()) {
                        o.remove(k);
                    }
                }
                _ => {
                    o.remove(k);
                }
            },
            Some(nv) => match (pv, nv, o.get_mut(k)) {
                (Value::Object(_), Value::Object(_), Some(inner)) => unapply(inner, pv, nv),
                (Value::Array(items), Value::Array(keep), Some(Value::Array(have))) => {
                    have.retain(|h| {
                        !items.iter().any(|i| same_item(i, h))
                            || keep.iter().any(|i| same_item(i, h))
                    });
                }
                _ => {}
            },
        }
    }
}

/// Server-side apply's merge: maps recursively, lists of named items by name.
fn apply_merge(obj: &mut Value, patch: &Value) {
    match (obj, patch) {
        (Value::Object(o), Value::Object(p)) => {
            for (k, pv) in p {
                match o.get_mut(k) {
                    Some(ov) if ov.is_object() && pv.is_object() => apply_merge(ov, pv),
                    Some(Value::Array(have)) if pv.is_array() => {
                        for item in pv.as_array().into_iter().flatten() {
                            match have.iter_mut().find(|h| same_item(h, item)) {
                                Some(h) => *h = item.clone(),
                                None => have.push(item.clone()),
                            }
                        }
                    }
                    _ => {
                        o.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (o, p) => *o = p.clone(),
    }
}
