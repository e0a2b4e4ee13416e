//! The fake API server: a store of serialized objects with resourceVersions, served over real
//! HTTP (axum) with what `oomsday run` uses of the API — paginated lists (`limit`/`continue`,
//! a consistent snapshot per list like etcd's), watches from a resourceVersion or with the
//! initial state (`sendInitialEvents` and its closing bookmark included), `allowWatchBookmarks`,
//! `timeoutSeconds`, label and field selectors (an object that stops or starts matching is sent
//! as DELETED or ADDED, as the real server does), namespaced and cluster-wide paths,
//! SelfSubjectAccessReviews, GET and server-side apply of the target (through the story), and
//! the pod proxy to the leakers' `/metrics`.
//!
//! Every request is counted by (verb, resource, scope, selector), with the body bytes sent for
//! it as they leave (watch streams included).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, Response, StatusCode, header};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::selector::{FieldSelector, LabelSelector, field_labels, query};
use super::story::StoryHandle;

/// The resources the server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Res {
    Pods,
    Nodes,
    Events,
    Pdbs,
    Deployments,
    LimitRanges,
    Hpas,
}

impl Res {
    fn parse(group_version: &str, plural: &str) -> Option<Res> {
        Some(match (group_version, plural) {
            ("v1", "pods") => Res::Pods,
            ("v1", "nodes") => Res::Nodes,
            ("v1", "events") => Res::Events,
            ("v1", "limitranges") => Res::LimitRanges,
            ("policy/v1", "poddisruptionbudgets") => Res::Pdbs,
            ("apps/v1", "deployments") => Res::Deployments,
            ("autoscaling/v2", "horizontalpodautoscalers") => Res::Hpas,
            _ => return None,
        })
    }

    pub fn plural(self) -> &'static str {
        match self {
            Res::Pods => "pods",
            Res::Nodes => "nodes",
            Res::Events => "events",
            Res::Pdbs => "poddisruptionbudgets",
            Res::Deployments => "deployments",
            Res::LimitRanges => "limitranges",
            Res::Hpas => "horizontalpodautoscalers",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Res::Pdbs => "policy/v1",
            Res::Deployments => "apps/v1",
            Res::Hpas => "autoscaling/v2",
            _ => "v1",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Res::Pods => "Pod",
            Res::Nodes => "Node",
            Res::Events => "Event",
            Res::Pdbs => "PodDisruptionBudget",
            Res::Deployments => "Deployment",
            Res::LimitRanges => "LimitRange",
            Res::Hpas => "HorizontalPodAutoscaler",
        }
    }
}

/// One stored object: its serialized bytes (what every list and watch sends) and what
/// selectors read of it.
#[derive(Debug)]
pub struct Entry {
    pub rv: u64,
    pub namespace: String,
    pub name: String,
    labels: BTreeMap<String, String>,
    fields: BTreeMap<&'static str, String>,
    pub bytes: Bytes,
}

/// A field selector's view of an object: a dotted path, `source` being the reporter.
fn field_value(obj: &Value, label: &str) -> String {
    let path = if label == "source" {
        "source.component"
    } else {
        label
    };
    let mut v = obj;
    for part in path.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl Entry {
    fn new(res: Res, obj: &Value, rv: u64) -> Entry {
        let meta = &obj["metadata"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let (namespace, name) = (s(&meta["namespace"]), s(&meta["name"]));
        let labels = meta["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            .unwrap_or_default();
        let mut fields = BTreeMap::new();
        fields.insert("metadata.name", name.clone());
        fields.insert("metadata.namespace", namespace.clone());
        for label in field_labels(res.plural()) {
            fields.insert(*label, field_value(obj, label));
        }
        Entry {
            rv,
            namespace,
            name,
            labels,
            fields,
            bytes: Bytes::from(serde_json::to_vec(obj).unwrap_or_default()),
        }
    }
}

/// One change, as watches receive it; `prev` is the object before (for selector transitions).
#[derive(Debug, Clone)]
pub struct Change {
    res: Res,
    kind: &'static str,
    entry: Arc<Entry>,
    prev: Option<Arc<Entry>>,
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

type Key = (String, String);

/// A list in pages: the matching objects at its first page (etcd serves continuations from
/// the first page's revision), and where the next page starts.
struct Snapshot {
    rv: u64,
    items: Arc<Vec<Arc<Entry>>>,
    offset: usize,
}

#[derive(Default)]
struct Store {
    rv: u64,
    objects: HashMap<Res, BTreeMap<Key, Arc<Entry>>>,
    history: Vec<Change>,
    /// Watches from before this resourceVersion are "too old" (410), as after a compaction.
    compacted: u64,
    snapshots: HashMap<u64, Snapshot>,
    next_snapshot: u64,
    /// OOM kills by the resourceVersion of the pod change that first carried them.
    kills: BTreeMap<u64, Kill>,
}

/// (verb, resource, scope, selector) of a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallKey {
    pub verb: &'static str,
    pub resource: String,
    /// "cluster" or the namespace.
    pub scope: String,
    pub selector: String,
}

#[derive(Debug, Default)]
pub struct CallStat {
    pub requests: u64,
    /// List requests without `continue`: the lists themselves, whatever their pages.
    pub lists: u64,
    pub bytes: Arc<AtomicU64>,
    pub statuses: BTreeMap<u16, u64>,
}

/// The requests of one (verb, resource, scope, selector), as the summary reads them.
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub key: CallKey,
    pub requests: u64,
    pub lists: u64,
    pub bytes: u64,
    pub statuses: BTreeMap<u16, u64>,
}

/// Shared by the HTTP handlers, the watch streams and the story.
pub struct Inner {
    store: Mutex<Store>,
    tx: broadcast::Sender<Change>,
    calls: Mutex<BTreeMap<CallKey, CallStat>>,
    /// How often a watch that asked for bookmarks gets one (a real server: about a minute).
    bookmark_every: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub fn new() -> Arc<Inner> {
        let (tx, _) = broadcast::channel(1 << 16);
        Arc::new(Inner {
            store: Mutex::new(Store::default()),
            tx,
            calls: Mutex::new(BTreeMap::new()),
            bookmark_every: Duration::from_secs(60),
        })
    }

    /// The cluster as it is before anyone watches: no history, nothing to replay.
    pub fn populate(&self, res: Res, objects: impl IntoIterator<Item = Value>) {
        let mut st = lock(&self.store);
        for mut obj in objects {
            st.rv += 1;
            let rv = st.rv;
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            let e = Arc::new(Entry::new(res, &obj, rv));
            st.objects
                .entry(res)
                .or_default()
                .insert((e.namespace.clone(), e.name.clone()), e);
        }
        st.compacted = st.rv;
    }

    /// Creates or replaces an object (ADDED or MODIFIED), with a new resourceVersion; a kill
    /// it carries is registered before any watch can send it.
    pub fn put(&self, res: Res, mut obj: Value, kill: Option<Kill>) -> Value {
        let mut st = lock(&self.store);
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let e = Arc::new(Entry::new(res, &obj, rv));
        let prev = st
            .objects
            .entry(res)
            .or_default()
            .insert((e.namespace.clone(), e.name.clone()), e.clone());
        if let Some(k) = kill {
            st.kills.insert(rv, k);
        }
        let change = Change {
            res,
            kind: if prev.is_some() { "MODIFIED" } else { "ADDED" },
            entry: e,
            prev,
        };
        st.history.push(change.clone());
        let _ = self.tx.send(change);
        obj
    }

    /// Deletes an object (DELETED, carrying its last state at a new resourceVersion).
    pub fn remove(&self, res: Res, mut obj: Value) {
        let mut st = lock(&self.store);
        let key = (
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let Some(prev) = st.objects.entry(res).or_default().remove(&key) else {
            return;
        };
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let change = Change {
            res,
            kind: "DELETED",
            entry: Arc::new(Entry::new(res, &obj, rv)),
            prev: Some(prev),
        };
        st.history.push(change.clone());
        let _ = self.tx.send(change);
    }

    /// An object as stored.
    pub fn get(&self, res: Res, namespace: &str, name: &str) -> Option<Value> {
        let st = lock(&self.store);
        let e = st
            .objects
            .get(&res)?
            .get(&(namespace.to_string(), name.to_string()))?;
        serde_json::from_slice(&e.bytes).ok()
    }

    /// Objects of a resource and their total serialized size.
    pub fn census(&self, res: Res) -> (usize, usize) {
        let st = lock(&self.store);
        st.objects.get(&res).map_or((0, 0), |m| {
            (m.len(), m.values().map(|e| e.bytes.len()).sum())
        })
    }

    /// Up to `n` objects of a resource, spread over the store.
    pub fn sample(&self, res: Res, n: usize) -> Vec<Value> {
        let st = lock(&self.store);
        let Some(m) = st.objects.get(&res) else {
            return Vec::new();
        };
        let step = (m.len() / n.max(1)).max(1);
        m.values()
            .step_by(step)
            .take(n)
            .filter_map(|e| serde_json::from_slice(&e.bytes).ok())
            .collect()
    }

    /// Every OOM kill sent, in order.
    pub fn kills(&self) -> Vec<Kill> {
        lock(&self.store).kills.values().cloned().collect()
    }

    /// The requests so far.
    pub fn calls(&self) -> Vec<CallSummary> {
        lock(&self.calls)
            .iter()
            .map(|(k, s)| CallSummary {
                key: k.clone(),
                requests: s.requests,
                lists: s.lists,
                bytes: s.bytes.load(Ordering::Relaxed),
                statuses: s.statuses.clone(),
            })
            .collect()
    }

    fn count(&self, key: CallKey, first_page: bool, status: u16) -> Arc<AtomicU64> {
        let mut calls = lock(&self.calls);
        let s = calls.entry(key).or_default();
        s.requests += 1;
        s.lists += u64::from(first_page);
        *s.statuses.entry(status).or_default() += 1;
        s.bytes.clone()
    }

    fn stamp_kill(&self, rv: u64) {
        let mut st = lock(&self.store);
        if let Some(k) = st.kills.get_mut(&rv)
            && k.sent.is_none()
        {
            k.sent = Some(SystemTime::now());
        }
    }

    fn has_kill(&self, rv: u64) -> bool {
        lock(&self.store).kills.contains_key(&rv)
    }
}

/// The server; dropped, it stops.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(inner: Arc<Inner>, story: StoryHandle) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(move |req: Request<Body>| {
            let (inner, story) = (inner.clone(), story.clone());
            async move { handle(inner, story, req).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Server { addr, task })
    }

    /// A kubeconfig pointing at this server.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: scale\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: scale\n  context:\n    cluster: scale\n    user: bench\n    namespace: default\n\
             current-context: scale\nusers:\n- name: bench\n  user:\n    token: bench\n",
            self.addr
        )
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code}),
        )
        .unwrap_or_default(),
    )
}

/// A response whose body bytes are counted as they are sent.
fn respond(code: u16, content_type: &str, body: Bytes, counter: Arc<AtomicU64>) -> Response<Body> {
    let stream = futures::stream::once(async move {
        counter.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok::<Bytes, Infallible>(body)
    });
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// What a path names.
struct Target {
    res: Option<Res>,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    /// Subresource and what follows (`proxy/metrics`).
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<(String, Target)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest.to_vec()),
        _ => return None,
    };
    let (namespace, rest) = match rest.as_slice() {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest.to_vec()),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (plural.to_string(), None, None),
        [plural, name] => (plural.to_string(), Some(name.to_string()), None),
        [plural, name, sub @ ..] => (
            plural.to_string(),
            Some(name.to_string()),
            Some(sub.join("/")),
        ),
        _ => return None,
    };
    let res = Res::parse(&gv, &plural);
    Some((
        gv,
        Target {
            res,
            plural,
            namespace,
            name,
            sub,
        },
    ))
}

async fn handle(inner: Arc<Inner>, story: StoryHandle, req: Request<Body>) -> Response<Body> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let q = query(uri.query());
    let json_ct = "application/json";
    let Some((_gv, t)) = parse_path(uri.path()) else {
        let key = CallKey {
            verb: "other",
            resource: uri.path().to_string(),
            scope: String::new(),
            selector: String::new(),
        };
        let c = inner.count(key, false, 404);
        return respond(
            404,
            json_ct,
            status_body(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
            c,
        );
    };
    let scope = t.namespace.clone().unwrap_or_else(|| "cluster".into());
    let mut selector = String::new();
    for (k, name) in [("labelSelector", "label"), ("fieldSelector", "field")] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            if !selector.is_empty() {
                selector.push(' ');
            }
            selector.push_str(&format!("{name}:{v}"));
        }
    }
    let key = |verb: &'static str, resource: &str| CallKey {
        verb,
        resource: resource.to_string(),
        scope: scope.clone(),
        selector: selector.clone(),
    };

    // SelfSubjectAccessReviews: everything is allowed.
    if t.plural == "selfsubjectaccessreviews" && method == Method::POST {
        let mut review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        review["status"] = json!({"allowed": true, "reason": "scale bench: allowed"});
        let c = inner.count(key("create", &t.plural), false, 201);
        return respond(
            201,
            json_ct,
            Bytes::from(serde_json::to_vec(&review).unwrap_or_default()),
            c,
        );
    }
    // The pod proxy to a leaker's metrics port.
    if t.res == Some(Res::Pods)
        && t.sub.as_deref() == Some("proxy/metrics")
        && method == Method::GET
    {
        let pod = t.name.clone().unwrap_or_default();
        let pod = pod.split(':').next().unwrap_or_default().to_string();
        let (code, text) = match story.metrics(&pod) {
            Some(text) => (200, text),
            // What the API server answers when nothing listens behind the proxy.
            None => (
                503,
                format!(
                    "error trying to reach service: dial tcp 10.88.0.1:9464: connect: connection refused ({pod})"
                ),
            ),
        };
        let c = inner.count(key("proxy", "pods/proxy"), false, code);
        return respond(code, "text/plain; version=0.0.4", Bytes::from(text), c);
    }
    let Some(res) = t.res else {
        let c = inner.count(key("unknown", &t.plural), false, 404);
        let msg = format!(
            "the server could not find the requested resource ({})",
            t.plural
        );
        return respond(404, json_ct, status_body(404, "NotFound", &msg), c);
    };
    let plural = res.plural();
    match (method, t.name.as_deref()) {
        (Method::GET, None) => {
            let labels = match LabelSelector::parse(q.get("labelSelector").map_or("", |s| s)) {
                Ok(l) => l,
                Err(e) => {
                    let verb = if is_watch(&q) { "watch" } else { "list" };
                    let c = inner.count(key(verb, plural), false, 400);
                    return respond(400, json_ct, status_body(400, "BadRequest", &e), c);
                }
            };
            let fields =
                match FieldSelector::parse(q.get("fieldSelector").map_or("", |s| s), plural) {
                    Ok(f) => f,
                    Err(e) => {
                        let verb = if is_watch(&q) { "watch" } else { "list" };
                        let c = inner.count(key(verb, plural), false, 400);
                        return respond(400, json_ct, status_body(400, "BadRequest", &e), c);
                    }
                };
            let filter = Filter {
                res,
                namespace: t.namespace.clone(),
                labels,
                fields,
            };
            if is_watch(&q) {
                let c = inner.count(key("watch", plural), false, 200);
                watch(inner, filter, &q, c)
            } else {
                let first = q.get("continue").is_none_or(|c| c.is_empty());
                let (code, bytes) = list(&inner, &filter, &q);
                let c = inner.count(key("list", plural), first, code);
                respond(code, json_ct, bytes, c)
            }
        }
        (Method::GET, Some(name)) => {
            let ns = t.namespace.clone().unwrap_or_default();
            let found = inner.get(res, &ns, name);
            let code = if found.is_some() { 200 } else { 404 };
            let c = inner.count(key("get", plural), false, code);
            match found {
                Some(obj) => respond(
                    200,
                    json_ct,
                    Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
                    c,
                ),
                None => {
                    let msg = format!("{plural} \"{name}\" not found");
                    respond(404, json_ct, status_body(404, "NotFound", &msg), c)
                }
            }
        }
        (Method::PATCH, Some(name))
            if res == Res::Deployments && content_type.starts_with("application/apply-patch") =>
        {
            let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ns = t.namespace.clone().unwrap_or_default();
            let manager = q.get("fieldManager").cloned().unwrap_or_default();
            let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
            let answer = story.apply(&ns, name, &manager, patch, dry_run).await;
            let code = if answer.is_ok() { 200 } else { 404 };
            let c = inner.count(key("patch", plural), false, code);
            match answer {
                Ok(obj) => respond(
                    200,
                    json_ct,
                    Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
                    c,
                ),
                Err(msg) => respond(404, json_ct, status_body(404, "NotFound", &msg), c),
            }
        }
        (m, _) => {
            let c = inner.count(key("unsupported", plural), false, 405);
            let msg = format!("the scale bench's server does not do {m} on {plural}");
            respond(405, json_ct, status_body(405, "MethodNotAllowed", &msg), c)
        }
    }
}

fn is_watch(q: &BTreeMap<String, String>) -> bool {
    q.get("watch").is_some_and(|w| w == "true" || w == "1")
}

/// What a list or watch selects.
#[derive(Debug, Clone)]
struct Filter {
    res: Res,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == e.namespace)
            && self.labels.matches(&e.labels)
            && self.fields.matches(&e.fields)
    }
}

fn list(inner: &Inner, f: &Filter, q: &BTreeMap<String, String>) -> (u16, Bytes) {
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut st = lock(&inner.store);
    let (rv, items, offset) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let id = token
                .strip_prefix("page-")
                .and_then(|i| i.parse::<u64>().ok());
            match id.and_then(|id| st.snapshots.remove(&id)) {
                Some(s) => (s.rv, s.items, s.offset),
                None => {
                    return (
                        410,
                        status_body(410, "Expired", "the provided continue parameter is too old"),
                    );
                }
            }
        }
        None => {
            let items: Vec<Arc<Entry>> = st
                .objects
                .get(&f.res)
                .map(|m| m.values().filter(|e| f.matches(e)).cloned().collect())
                .unwrap_or_default();
            (st.rv, Arc::new(items), 0)
        }
    };
    let end = if limit == 0 {
        items.len()
    } else {
        (offset + limit).min(items.len())
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if end < items.len() {
        st.next_snapshot += 1;
        let id = st.next_snapshot;
        metadata["continue"] = json!(format!("page-{id}"));
        metadata["remainingItemCount"] = json!(items.len() - end);
        st.snapshots.insert(
            id,
            Snapshot {
                rv,
                items: items.clone(),
                offset: end,
            },
        );
    }
    drop(st);
    let res = f.res;
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        res.kind(),
        res.api_version(),
        metadata
    );
    let size: usize = items[offset..end].iter().map(|e| e.bytes.len() + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size + 2);
    out.extend_from_slice(head.as_bytes());
    for (i, e) in items[offset..end].iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&e.bytes);
    }
    out.extend_from_slice(b"]}");
    (200, Bytes::from(out))
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut l = Vec::with_capacity(object.len() + 32);
    l.extend_from_slice(b"{\"type\":\"");
    l.extend_from_slice(kind.as_bytes());
    l.extend_from_slice(b"\",\"object\":");
    l.extend_from_slice(object);
    l.extend_from_slice(b"}\n");
    Bytes::from(l)
}

fn bookmark_line(res: Res, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": res.kind(), "apiVersion": res.api_version(), "metadata": meta});
    event_line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
}

struct WatchState {
    inner: Arc<Inner>,
    rx: broadcast::Receiver<Change>,
    filter: Filter,
    /// Lines to send, with the resourceVersion of the change they carry.
    backlog: VecDeque<(u64, Bytes)>,
    /// Every change up to here has been considered (a bookmark may say so).
    seen: u64,
    deadline: Instant,
    bookmarks: bool,
    next_bookmark: Instant,
    counter: Arc<AtomicU64>,
    done: bool,
}

impl WatchState {
    /// What a change means to this watch: the real server turns selector transitions into
    /// ADDED and DELETED.
    fn consider(&mut self, c: &Change) {
        if c.entry.rv <= self.seen || c.res != self.filter.res {
            self.seen = self.seen.max(c.entry.rv);
            return;
        }
        self.seen = c.entry.rv;
        let now = self.filter.matches(&c.entry);
        let before = c.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match (c.kind, before, now) {
            ("DELETED", true, _) => "DELETED",
            ("DELETED", false, _) => return,
            (_, true, true) => "MODIFIED",
            (_, false, true) => "ADDED",
            (_, true, false) => "DELETED",
            (_, false, false) => return,
        };
        self.backlog
            .push_back((c.entry.rv, event_line(kind, &c.entry.bytes)));
    }
}

fn watch(
    inner: Arc<Inner>,
    filter: Filter,
    q: &BTreeMap<String, String>,
    counter: Arc<AtomicU64>,
) -> Response<Body> {
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let initial_events = q.get("sendInitialEvents").is_some_and(|b| b == "true");
    let timeout: u64 = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800);
    // Subscribed before reading the store: nothing falls between the two.
    let rx = inner.tx.subscribe();
    let mut state = WatchState {
        inner: inner.clone(),
        rx,
        filter,
        backlog: VecDeque::new(),
        seen: 0,
        deadline: Instant::now() + Duration::from_secs(timeout),
        bookmarks,
        next_bookmark: Instant::now() + inner.bookmark_every,
        counter,
        done: false,
    };
    {
        let st = lock(&inner.store);
        if rv_param.is_empty() || rv_param == "0" || initial_events {
            // No resourceVersion (or "any"): the current state as ADDED, then what follows.
            for e in st
                .objects
                .get(&state.filter.res)
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|e| state.filter.matches(e))
            {
                state
                    .backlog
                    .push_back((e.rv, event_line("ADDED", &e.bytes)));
            }
            state.seen = st.rv;
            if initial_events && bookmarks {
                state
                    .backlog
                    .push_back((0, bookmark_line(state.filter.res, st.rv, true)));
            }
        } else {
            let from: u64 = rv_param.parse().unwrap_or(0);
            if from < st.compacted {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("too old resource version: {from} ({})", st.compacted),
                    "reason": "Expired", "code": 410});
                state.backlog.push_back((
                    0,
                    event_line("ERROR", &serde_json::to_vec(&status).unwrap_or_default()),
                ));
                state.done = true;
            } else {
                state.seen = from;
                let history: Vec<Change> = st
                    .history
                    .iter()
                    .filter(|c| c.entry.rv > from)
                    .cloned()
                    .collect();
                drop(st);
                for c in &history {
                    state.consider(c);
                }
            }
        }
    }
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some((rv, line)) = s.backlog.pop_front() {
                if rv > 0 && s.inner.has_kill(rv) {
                    s.inner.stamp_kill(rv);
                }
                s.counter.fetch_add(line.len() as u64, Ordering::Relaxed);
                return Some((Ok::<Bytes, Infallible>(line), s));
            }
            if s.done {
                return None;
            }
            let bookmark_due = s.next_bookmark;
            tokio::select! {
                r = s.rx.recv() => match r {
                    Ok(c) => s.consider(&c),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A watcher that cannot keep up is closed by the real server too.
                        s.done = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(bookmark_due), if s.bookmarks => {
                    s.next_bookmark += s.inner.bookmark_every;
                    let line = bookmark_line(s.filter.res, s.seen, false);
                    s.backlog.push_back((0, line));
                }
                _ = tokio::time::sleep_until(s.deadline) => return None,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream.boxed()))
        .unwrap_or_default()
}
