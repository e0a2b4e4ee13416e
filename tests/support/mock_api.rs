//! A mock Kubernetes API server for read-only clients (`oomsday snapshot`): a
//! `tower_test::mock::pair()` behind `kube::Client`, answering lists (paged with `limit` and
//! `continue`, as the API does), SelfSubjectAccessReviews and the node proxy (`configz`,
//! `stats/summary`, `metrics`) from a [`Cluster`] of objects, and logging every request.
//!
//! [`Cluster::recorded`] is the real bed of `tests/fixtures/`: its Node, kubelet `configz`,
//! Summary API and `/metrics` as the API returned them (`real-bed/`), and the pods, Deployments and PDBs of a
//! recording (`real-runs/*/watch.jsonl`, the watches' initial lists).

#![allow(dead_code)] // each test binary uses part of it

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

/// The objects the mock serves.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// By API path prefix of the collection (`/api/v1/pods`, `/apis/apps/v1/deployments`):
    /// every object, any namespace.
    pub objects: BTreeMap<String, Vec<Value>>,
    /// `(node, "configz" | "stats/summary" | "metrics")` → the kubelet's answer (a status code
    /// and body; a JSON string is served as that text, as the kubelet serves its metrics).
    pub proxy: HashMap<(String, String), (u16, Value)>,
    /// SelfSubjectAccessReviews refuse these (`get nodes/proxy`, `list pods`).
    pub denied: BTreeSet<String>,
    /// Lists answer at most this many items per page when the client asks for more.
    pub page: Option<usize>,
}

/// The collections a snapshot lists, by kind: (API path of the collection, namespaced).
pub const COLLECTIONS: &[(&str, &str, bool)] = &[
    ("Node", "/api/v1/nodes", false),
    ("Pod", "/api/v1/pods", true),
    ("Deployment", "/apis/apps/v1/deployments", true),
    ("StatefulSet", "/apis/apps/v1/statefulsets", true),
    (
        "PodDisruptionBudget",
        "/apis/policy/v1/poddisruptionbudgets",
        true,
    ),
    ("LimitRange", "/api/v1/limitranges", true),
    (
        "HorizontalPodAutoscaler",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        true,
    ),
    (
        "PriorityClass",
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        false,
    ),
];

fn fixture(rel: &str) -> Value {
    let text = fixture_text(rel);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A file of `tests/fixtures/` as text.
pub fn fixture_text(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The objects of a recording's watches' initial lists (before each watch's
/// `k8s.io/initial-events-end` bookmark), by watched resource.
pub fn initial_lists(run: &str) -> BTreeMap<String, Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-runs")
        .join(run);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("recorder-meta.json")).expect("recorder-meta.json"),
    )
    .expect("recorder-meta.json is JSON");
    let end = |resource: &str| -> String {
        meta["watches"][resource]["bookmarkLog"][0]["at"]
            .as_str()
            .unwrap_or_else(|| panic!("{run}: no initial-events-end for {resource}"))
            .to_string()
    };
    let mut lines: Vec<Value> = std::fs::read_to_string(dir.join("watch.jsonl"))
        .expect("watch.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    lines.sort_by(|a, b| a["received"].as_str().cmp(&b["received"].as_str()));
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for l in lines {
        let resource = l["resource"].as_str().unwrap_or_default().to_string();
        let received = l["received"].as_str().unwrap_or_default();
        // RFC 3339 in UTC with nanoseconds: comparable as text.
        if l["type"] == "ADDED" && received <= end(&resource).as_str() {
            out.entry(resource).or_default().push(l["object"].clone());
        }
    }
    out
}

impl Cluster {
    /// The real bed with the objects of recording `run` as it began: the Node, configz and
    /// Summary API of `real-bed/`, and the recording's pods, Deployments and PDBs.
    ///
    /// The Summary fixture was taken on the same setup minutes before the recordings, whose
    /// pods were since recreated (same ReplicaSets, new name suffixes). A live cluster answers
    /// its pod list and its Summary API with the same pods, so the mock's Summary gives each
    /// recorded pod the figures the fixture has for a pod of the same ReplicaSet, in name
    /// order; the node-level figures are unchanged.
    pub fn recorded(run: &str) -> Cluster {
        let lists = initial_lists(run);
        let node = fixture("real-bed/node.json");
        let node_name = node["metadata"]["name"]
            .as_str()
            .expect("the Node is named")
            .to_string();
        let mut pods = lists.get("pods").cloned().unwrap_or_default();
        pods.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        let mut summary = fixture("real-bed/kubelet-stats-summary.json");
        let rs = |name: &str| name.rsplit_once('-').map(|(rs, _)| rs.to_string());
        if let Some(entries) = summary["pods"].as_array_mut() {
            entries.sort_by(|a, b| {
                a["podRef"]["name"]
                    .as_str()
                    .cmp(&b["podRef"]["name"].as_str())
            });
            let mut used = BTreeSet::new();
            for e in entries.iter_mut() {
                let old = e["podRef"]["name"].as_str().unwrap_or_default().to_string();
                let ns = e["podRef"]["namespace"].clone();
                let new = pods.iter().find_map(|p| {
                    let name = p["metadata"]["name"].as_str()?;
                    (p["metadata"]["namespace"] == ns
                        && rs(name) == rs(&old)
                        && !used.contains(name))
                    .then(|| name.to_string())
                });
                let new = new.unwrap_or_else(|| panic!("{run}: no recorded pod for {old}"));
                used.insert(new.clone());
                e["podRef"]["name"] = json!(new);
                e["podRef"]["uid"] = pods
                    .iter()
                    .find(|p| p["metadata"]["name"] == json!(new))
                    .map(|p| p["metadata"]["uid"].clone())
                    .unwrap_or(Value::Null);
            }
        }
        let mut c = Cluster::default();
        c.objects.insert("/api/v1/nodes".into(), vec![node]);
        c.objects.insert("/api/v1/pods".into(), pods);
        c.objects.insert(
            "/apis/apps/v1/deployments".into(),
            lists.get("deployments").cloned().unwrap_or_default(),
        );
        c.objects.insert(
            "/apis/policy/v1/poddisruptionbudgets".into(),
            lists
                .get("poddisruptionbudgets")
                .cloned()
                .unwrap_or_default(),
        );
        c.proxy.insert(
            (node_name.clone(), "configz".into()),
            (200, fixture("real-bed/kubelet-configz.json")),
        );
        c.proxy
            .insert((node_name.clone(), "stats/summary".into()), (200, summary));
        c.proxy.insert(
            (node_name, "metrics".into()),
            (
                200,
                Value::String(fixture_text("real-bed/kubelet-metrics.txt")),
            ),
        );
        c
    }

    /// The real bed as if its host ran cgroup v2: its kubelet's `/metrics` says so
    /// (`cgroup-v2/kubelet-metrics.txt`); configz and the Summary API are the same, as a v2
    /// kubelet with the same configuration returns them (`cgroup-v2/README.md`).
    pub fn recorded_v2(run: &str) -> Cluster {
        let mut c = Cluster::recorded(run);
        for (_, body) in c
            .proxy
            .iter_mut()
            .filter(|((_, path), _)| path == "metrics")
        {
            *body = (
                200,
                Value::String(fixture_text("cgroup-v2/kubelet-metrics.txt")),
            );
        }
        c
    }

    /// The Summary API's answer the mock gives for `node`.
    pub fn summary(&self, node: &str) -> Option<&Value> {
        self.proxy
            .get(&(node.to_string(), "stats/summary".to_string()))
            .map(|(_, v)| v)
    }

    fn list(
        &self,
        collection: &str,
        namespace: Option<&str>,
        q: &BTreeMap<String, String>,
    ) -> Value {
        let all: Vec<&Value> = self
            .objects
            .get(collection)
            .into_iter()
            .flatten()
            .filter(|o| namespace.is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n)))
            .collect();
        let from: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit = q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
            .min(self.page.unwrap_or(usize::MAX));
        let to = from.saturating_add(limit).min(all.len());
        let mut meta = json!({"resourceVersion": "4832"});
        if to < all.len() {
            meta["continue"] = json!(to.to_string());
        }
        json!({"kind": "List", "apiVersion": "v1", "metadata": meta,
               "items": all.get(from..to).unwrap_or_default()})
    }

    /// What the API server answers to a request.
    pub fn answer(&self, s: &Seen) -> (u16, Value) {
        if s.method == "POST" && s.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        {
            let a = &s.body["spec"]["resourceAttributes"];
            let resource = match a["subresource"].as_str() {
                Some(sub) if !sub.is_empty() => {
                    format!("{}/{sub}", a["resource"].as_str().unwrap_or_default())
                }
                _ => a["resource"].as_str().unwrap_or_default().to_string(),
            };
            let asked = format!("{} {resource}", a["verb"].as_str().unwrap_or_default());
            let mut review = s.body.clone();
            review["status"] = json!({"allowed": !self.denied.contains(&asked)});
            return (201, review);
        }
        if let Some(rest) = s.path.strip_prefix("/api/v1/nodes/")
            && let Some((node, path)) = rest.split_once("/proxy/")
        {
            if self.denied.contains("get nodes/proxy") {
                return status(403, "Forbidden", "nodes/proxy is forbidden");
            }
            return self
                .proxy
                .get(&(node.to_string(), path.to_string()))
                .cloned()
                .unwrap_or_else(|| status(404, "NotFound", "no such path on the kubelet"));
        }
        if s.method == "GET" {
            for (kind, collection, namespaced) in COLLECTIONS {
                if s.path == *collection {
                    let what = format!("list {}", plural(kind));
                    if self.denied.contains(&what) {
                        return status(403, "Forbidden", &what);
                    }
                    return (200, self.list(collection, None, &s.query));
                }
                if *namespaced {
                    let (prefix, plural) = collection.rsplit_once('/').unwrap_or_default();
                    if let Some(ns) = s
                        .path
                        .strip_prefix(&format!("{prefix}/namespaces/"))
                        .and_then(|r| r.strip_suffix(&format!("/{plural}")))
                    {
                        return (200, self.list(collection, Some(ns), &s.query));
                    }
                }
            }
        }
        status(404, "NotFound", &format!("{} {}", s.method, s.path))
    }
}

fn plural(kind: &str) -> String {
    COLLECTIONS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .and_then(|(_, c, _)| c.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

pub fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// Something that answers requests: a [`Cluster`] or a generated one.
pub trait Api: Send + Sync + 'static {
    fn answer(&self, seen: &Seen) -> (u16, Vec<u8>);
}

impl Api for Cluster {
    fn answer(&self, seen: &Seen) -> (u16, Vec<u8>) {
        match Cluster::answer(self, seen) {
            (code, Value::String(text)) => (code, text.into_bytes()),
            (code, v) => (code, serde_json::to_vec(&v).unwrap_or_default()),
        }
    }
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// Answers the requests that reach `handle` until the client is gone.
async fn serve(mut handle: Handle, api: Arc<dyn Api>, log: Option<Arc<Mutex<Vec<Seen>>>>) {
    while let Some((req, send)) = handle.next_request().await {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: super::query::query(parts.uri.query()),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        let (code, body) = api.answer(&seen);
        if let Some(log) = &log {
            log.lock().expect("log").push(seen);
        }
        let resp = Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a response");
        send.send_response(resp);
    }
}

/// Starts the mock (on the current tokio runtime); returns a client for it and the request
/// log.
pub fn start(api: Arc<dyn Api>, log_requests: bool) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(handle, api, log_requests.then(|| log.clone())));
    (kube::Client::new(svc, "default"), log)
}

/// Starts the mock on a thread of its own, as an API server runs apart from its clients (the
/// client's work is what a benchmark measures); call it on a tokio runtime.
pub fn start_apart(api: Arc<dyn Api>) -> kube::Client {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the mock API server");
        rt.block_on(serve(handle, api, None));
    });
    kube::Client::new(svc, "default")
}
