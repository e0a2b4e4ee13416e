//! A stateful fake Kubernetes API server over real HTTP (axum), for tests that run whole
//! controllers — watches included — or the `oomsday` binary against "a cluster". It keeps
//! objects the way the API does for what oomsday uses: resourceVersions and generations,
//! create/get/list/replace (conditional on resourceVersion), merge, JSON and apply patches
//! (status subresource apart), finalizers and deletionTimestamp, garbage collection of owned
//! objects, namespace deletion, watches from a resourceVersion, discovery of the oomsday.dev
//! API (when its CRDs are "installed"), SelfSubjectAccessReviews (allowed unless denied) and
//! the node proxy to kubelets (answers set with [`ApiServer::kubelet`]).
//!
//! It is not an API server: no validation, admission, field selectors or label selectors.
#![allow(dead_code)] // each test binary uses part of it

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Which store a path is about: (plural, namespace, name, subresource).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    group_version: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// One watch event as stored: (resourceVersion, plural, type, object).
type Change = (u64, String, &'static str, Value);

#[derive(Default)]
struct State {
    /// (plural, namespace or "", name) → object.
    objects: BTreeMap<(String, String, String), Value>,
    rv: u64,
    uid: u64,
    history: Vec<Change>,
    crds: bool,
    /// `verb resource[/sub]` the SelfSubjectAccessReviews refuse.
    denied: BTreeSet<String>,
    /// Every request: `METHOD path`.
    requests: Vec<String>,
    /// What the node proxy answers: (node, path under `proxy/`) → body.
    kubelets: BTreeMap<(String, String), Value>,
}

/// The fake API server; dropped, it stops.
pub struct ApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changes: broadcast::Sender<Change>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn status(code: u16, reason: &str, message: String) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
               "reason": reason, "message": message, "metadata": {}}),
    )
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest.to_vec()),
        _ => return None,
    };
    let t = |plural: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        group_version: gv.clone(),
        plural: plural.into(),
        namespace: ns.map(String::from),
        name: name.map(String::from),
        sub: sub.map(String::from),
    };
    Some(match rest.as_slice() {
        [] => t("", None, None, None),
        ["namespaces", ns, plural] => t(plural, Some(ns), None, None),
        ["namespaces", ns, plural, name] => t(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => t(plural, Some(ns), Some(name), Some(sub)),
        // Cluster-scoped: namespaces themselves, and lists across all namespaces.
        [plural] => t(plural, None, None, None),
        [plural, name] => t(plural, None, Some(name), None),
        _ => return None,
    })
}

use super::query::query;

impl ApiServer {
    /// Starts on a loopback port, with the oomsday CRDs installed.
    pub async fn start() -> ApiServer {
        let state = Arc::new(Mutex::new(State {
            crds: true,
            ..State::default()
        }));
        let (changes, _) = broadcast::channel(4096);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = {
            let state = state.clone();
            let changes = changes.clone();
            Router::new().fallback(move |req: Request<Body>| {
                let state = state.clone();
                let changes = changes.clone();
                async move { handle(state, changes, req).await }
            })
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ApiServer {
            addr,
            state,
            changes,
            task,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uninstalls the oomsday CRDs (discovery no longer lists them).
    pub fn without_crds(self) -> Self {
        self.lock().crds = false;
        self
    }

    /// Makes SelfSubjectAccessReviews refuse `verb resource` (`patch leakruns/status`).
    pub fn deny(self, what: &str) -> Self {
        self.lock().denied.insert(what.into());
        self
    }

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        let url = format!("http://{}", self.addr).parse().expect("url");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).expect("client")
    }

    /// A kubeconfig file's text pointing at this server.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             current-context: fake\nusers:\n- name: fake\n  user:\n    token: fake\n",
            self.addr
        )
    }

    /// Puts an object in (as a create would).
    pub fn create(&self, plural: &str, obj: Value) -> Value {
        let mut st = self.lock();
        let ns = obj["metadata"]["namespace"].as_str().map(String::from);
        let (_, v) = create(&mut st, &self.changes, plural, ns.as_deref(), obj);
        v
    }

    /// The object, if it exists.
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(plural.into(), namespace.into(), name.into()))
            .cloned()
    }

    /// Every object of `plural` in `namespace`.
    pub fn list(&self, plural: &str, namespace: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((p, ns, _), _)| p == plural && ns == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Merges `patch` into an object (as a merge patch would), e.g. to annotate it.
    pub fn merge(&self, plural: &str, namespace: &str, name: &str, patch: &Value) {
        let mut st = self.lock();
        let key = (plural.to_string(), namespace.to_string(), name.to_string());
        if let Some(mut obj) = st.objects.get(&key).cloned() {
            json_patch::merge(&mut obj, patch);
            store(&mut st, &self.changes, plural, key, obj, false);
        }
    }

    /// Deletes an object as `kubectl delete` would (namespaces: everything in them).
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) {
        let mut st = self.lock();
        delete(&mut st, &self.changes, plural, namespace, name);
    }

    /// Makes the node proxy answer `GET /api/v1/nodes/NODE/proxy/PATH` with `body` (a
    /// kubelet's `configz`, `stats/summary`; a JSON string is served as that text: `metrics`).
    pub fn kubelet(&self, node: &str, path: &str, body: Value) {
        self.lock()
            .kubelets
            .insert((node.to_string(), path.to_string()), body);
    }

    /// The requests so far, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

fn next_rv(st: &mut State) -> u64 {
    st.rv += 1;
    st.rv
}

fn emit(
    st: &mut State,
    tx: &broadcast::Sender<Change>,
    plural: &str,
    kind: &'static str,
    obj: &Value,
) {
    let rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(st.rv);
    let change = (rv, plural.to_string(), kind, obj.clone());
    st.history.push(change.clone());
    let _ = tx.send(change);
}

fn create(
    st: &mut State,
    tx: &broadcast::Sender<Change>,
    plural: &str,
    ns: Option<&str>,
    mut obj: Value,
) -> (StatusCode, Value) {
    let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
        return status(422, "Invalid", "metadata.name is required".into());
    };
    let ns = ns.unwrap_or_default().to_string();
    if plural != "namespaces" && !ns.is_empty() {
        let terminating = st
            .objects
            .get(&("namespaces".into(), String::new(), ns.clone()))
            .map(|n| n["metadata"].get("deletionTimestamp").is_some());
        match terminating {
            None => return status(404, "NotFound", format!("namespaces \"{ns}\" not found")),
            Some(true) => {
                return status(
                    403,
                    "Forbidden",
                    format!("namespace {ns} is being terminated"),
                );
            }
            Some(false) => {}
        }
    }
    let key = (plural.to_string(), ns.clone(), name.clone());
    if st.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            format!("{plural} \"{name}\" already exists"),
        );
    }
    st.uid += 1;
    let uid = format!("uid-{}", st.uid);
    let rv = next_rv(st);
    let meta = &mut obj["metadata"];
    meta["uid"] = json!(uid);
    meta["resourceVersion"] = json!(rv.to_string());
    meta["creationTimestamp"] = json!(now());
    meta["generation"] = json!(1);
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    st.objects.insert(key, obj.clone());
    emit(st, tx, plural, "ADDED", &obj);
    (StatusCode::CREATED, obj)
}

/// Stores a changed object: new resourceVersion, generation bumped when the spec changed,
/// removed when it is being deleted and no finalizer is left.
fn store(
    st: &mut State,
    tx: &broadcast::Sender<Change>,
    plural: &str,
    key: (String, String, String),
    mut obj: Value,
    status_only: bool,
) -> Value {
    let old = st.objects.get(&key).cloned().unwrap_or(Value::Null);
    if !status_only && old["spec"] != obj["spec"] {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        obj["metadata"]["generation"] = json!(g + 1);
    }
    let rv = next_rv(st);
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    let deleting = obj["metadata"].get("deletionTimestamp").is_some();
    let finalizers = obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if deleting && !finalizers {
        st.objects.remove(&key);
        emit(st, tx, plural, "DELETED", &obj);
        collect_garbage(st, tx, &obj);
        namespace_done(st, tx, &key.1);
    } else {
        st.objects.insert(key, obj.clone());
        emit(st, tx, plural, "MODIFIED", &obj);
    }
    obj
}

fn delete(
    st: &mut State,
    tx: &broadcast::Sender<Change>,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let key = (plural.to_string(), ns.to_string(), name.to_string());
    let mut obj = st.objects.get(&key).cloned()?;
    if obj["metadata"].get("deletionTimestamp").is_none() {
        obj["metadata"]["deletionTimestamp"] = json!(now());
    }
    if plural == "namespaces" {
        obj["status"]["phase"] = json!("Terminating");
        let inside: Vec<(String, String, String)> = st
            .objects
            .keys()
            .filter(|(p, n, _)| n == name && p != "namespaces")
            .cloned()
            .collect();
        st.objects.insert(key.clone(), obj.clone());
        for (p, n, o) in inside {
            delete(st, tx, &p, &n, &o);
        }
        namespace_done(st, tx, name);
        return st.objects.get(&key).cloned().or(Some(obj));
    }
    Some(store(st, tx, plural, key, obj, true))
}

/// Background deletion of everything `owner` owned.
fn collect_garbage(st: &mut State, tx: &broadcast::Sender<Change>, owner: &Value) {
    let uid = owner["metadata"]["uid"].clone();
    let owned: Vec<(String, String, String)> = st
        .objects
        .iter()
        .filter(|(_, o)| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for (p, n, o) in owned {
        delete(st, tx, &p, &n, &o);
    }
}

/// A terminating namespace goes once nothing is left in it.
fn namespace_done(st: &mut State, tx: &broadcast::Sender<Change>, ns: &str) {
    let key = ("namespaces".to_string(), String::new(), ns.to_string());
    let terminating = st
        .objects
        .get(&key)
        .is_some_and(|n| n["metadata"].get("deletionTimestamp").is_some());
    let empty = !st
        .objects
        .keys()
        .any(|(p, n, _)| n == ns && p != "namespaces");
    if terminating
        && empty
        && let Some(obj) = st.objects.remove(&key)
    {
        emit(st, tx, "namespaces", "DELETED", &obj);
    }
}

fn apply_patch(
    obj: &mut Value,
    content_type: &str,
    body: &Value,
    sub: Option<&str>,
) -> Result<(), String> {
    if content_type.starts_with("application/apply-patch") {
        // oomsday applies status with force as its only manager: the applied fields win.
        match sub {
            Some("status") => obj["status"] = body["status"].clone(),
            _ => json_patch::merge(obj, body),
        }
        return Ok(());
    }
    if content_type.starts_with("application/json-patch") {
        // The API server takes `test` of null on a missing path as a pass.
        let ops: Vec<Value> = body
            .as_array()
            .into_iter()
            .flatten()
            .filter(|op| {
                let path = op["path"].as_str().unwrap_or_default();
                !(op["op"] == "test" && op["value"].is_null() && obj.pointer(path).is_none())
            })
            .cloned()
            .collect();
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(ops)).map_err(|e| e.to_string())?;
        return json_patch::patch(obj, &patch).map_err(|e| e.to_string());
    }
    let patch = match sub {
        Some("status") => json!({"status": body["status"].clone()}),
        _ => body.clone(),
    };
    json_patch::merge(obj, &patch);
    Ok(())
}

async fn handle(
    state: Arc<Mutex<State>>,
    tx: broadcast::Sender<Change>,
    req: Request<Body>,
) -> Response<Body> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers: HeaderMap = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let q = query(uri.query());
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(format!("{method} {}", uri.path()));
    if let Some((node, path)) = uri
        .path()
        .strip_prefix("/api/v1/nodes/")
        .and_then(|r| r.split_once("/proxy/"))
    {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        return match st.kubelets.get(&(node.to_string(), path.to_string())) {
            Some(Value::String(text)) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(Body::from(text.clone()))
                .unwrap_or_default(),
            Some(v) => reply((StatusCode::OK, v.clone())),
            None => reply(status(404, "NotFound", format!("{path} on node {node}"))),
        };
    }
    let Some(t) = parse_path(uri.path()) else {
        return reply(status(404, "NotFound", format!("{} not found", uri.path())));
    };
    if method == Method::GET && q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch(state, tx, t, &q);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    reply(respond(&mut st, &tx, &method, &t, &body, &ct))
}

fn reply((code, body): (StatusCode, Value)) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap_or_default()))
        .unwrap_or_default()
}

fn respond(
    st: &mut State,
    tx: &broadcast::Sender<Change>,
    method: &Method,
    t: &Target,
    body: &Value,
    ct: &str,
) -> (StatusCode, Value) {
    if t.plural.is_empty() {
        return discovery(st, &t.group_version);
    }
    if t.plural == "selfsubjectaccessreviews" {
        let a = &body["spec"]["resourceAttributes"];
        let resource = match a["subresource"].as_str() {
            Some(s) if !s.is_empty() => {
                format!("{}/{s}", a["resource"].as_str().unwrap_or_default())
            }
            _ => a["resource"].as_str().unwrap_or_default().to_string(),
        };
        let asked = format!("{} {resource}", a["verb"].as_str().unwrap_or_default());
        let mut answer = body.clone();
        answer["status"] = json!({"allowed": !st.denied.contains(&asked)});
        return (StatusCode::CREATED, answer);
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let Some(name) = t.name.clone() else {
        return match *method {
            Method::GET => list(st, t),
            Method::POST => create(st, tx, &t.plural, t.namespace.as_deref(), body.clone()),
            _ => status(405, "MethodNotAllowed", format!("{method} on a collection")),
        };
    };
    let key = (t.plural.clone(), ns.clone(), name.clone());
    let Some(mut obj) = st.objects.get(&key).cloned() else {
        return status(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", t.plural),
        );
    };
    match *method {
        Method::GET => (StatusCode::OK, obj),
        Method::DELETE => {
            let gone = delete(st, tx, &t.plural, &ns, &name).unwrap_or(Value::Null);
            (StatusCode::OK, gone)
        }
        Method::PUT => {
            if body["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"] {
                return status(409, "Conflict", "the object has been modified".into());
            }
            let stored = store(st, tx, &t.plural, key, body.clone(), false);
            (StatusCode::OK, stored)
        }
        Method::PATCH => match apply_patch(&mut obj, ct, body, t.sub.as_deref()) {
            Ok(()) => {
                let status_only = t.sub.as_deref() == Some("status");
                (
                    StatusCode::OK,
                    store(st, tx, &t.plural, key, obj, status_only),
                )
            }
            Err(e) => status(422, "Invalid", e),
        },
        _ => status(405, "MethodNotAllowed", method.to_string()),
    }
}

fn discovery(st: &State, gv: &str) -> (StatusCode, Value) {
    if gv != "oomsday.dev/v1alpha1" || !st.crds {
        return status(404, "NotFound", format!("the server could not find {gv}"));
    }
    let res = |name: &str, kind: &str| {
        json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
               "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
    };
    (
        StatusCode::OK,
        json!({"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": gv,
               "resources": [res("leakexperiments", "LeakExperiment"), res("leakruns", "LeakRun"),
                             res("leakexperiments/status", "LeakExperiment"), res("leakruns/status", "LeakRun")]}),
    )
}

fn list(st: &State, t: &Target) -> (StatusCode, Value) {
    if t.group_version == "oomsday.dev/v1alpha1" && !st.crds {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    }
    let items: Vec<Value> = st
        .objects
        .iter()
        .filter(|((p, ns, _), _)| p == &t.plural && t.namespace.as_ref().is_none_or(|n| n == ns))
        .map(|(_, v)| v.clone())
        .collect();
    (
        StatusCode::OK,
        json!({"apiVersion": t.group_version, "kind": "List",
               "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
    )
}

fn watch(
    state: Arc<Mutex<State>>,
    tx: broadcast::Sender<Change>,
    t: Target,
    q: &BTreeMap<String, String>,
) -> Response<Body> {
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let mut rx = tx.subscribe();
    let backlog: Vec<Change> = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .history
        .iter()
        .filter(|c| c.0 > from)
        .cloned()
        .collect();
    let wanted = move |c: &Change| {
        c.1 == t.plural
            && t.namespace
                .as_ref()
                .is_none_or(|n| c.3["metadata"]["namespace"].as_str() == Some(n))
    };
    let (out, rx_out) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, Infallible>>();
    tokio::spawn(async move {
        let mut last = from;
        let line = |c: &Change| {
            let mut l =
                serde_json::to_vec(&json!({"type": c.2, "object": c.3})).unwrap_or_default();
            l.push(b'\n');
            Bytes::from(l)
        };
        for c in backlog.iter().filter(|c| wanted(c)) {
            last = last.max(c.0);
            if out.send(Ok(line(c))).is_err() {
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(c) if c.0 > last && wanted(&c) => {
                    last = c.0;
                    if out.send(Ok(line(&c))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx_out, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}
