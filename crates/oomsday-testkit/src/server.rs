//! The fake API server: the [`Store`] behind what oomsday uses of the API — paginated lists
//! (`limit`/`continue`, a consistent snapshot per list like etcd's), watches from a
//! resourceVersion or with the initial state (`sendInitialEvents` and its closing bookmark
//! included), `allowWatchBookmarks`, `timeoutSeconds`, label and field selectors (an object that
//! stops or starts matching is sent as DELETED or ADDED, as the real server does), namespaced
//! and cluster-wide paths, create/get/replace/patch/delete, discovery of registered API groups,
//! SelfSubjectAccessReviews (allowed unless denied), the node proxy to kubelets, and answers a
//! test scripts itself ([`Answer`]), asked first.
//!
//! Every request is logged ([`Seen`]) and counted by (verb, resource, scope, selector), with
//! the body bytes sent for it as they leave (watch streams included).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::lifecycle::status;
use crate::query::{FieldSelector, LabelSelector, query};
use crate::store::{Change, Entry, Gvr, Snapshot, Store};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub body: Value,
}

impl Seen {
    /// A query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    pub fn is_watch(&self) -> bool {
        matches!(self.q("watch"), Some("true" | "1"))
    }
}

/// A scripted answer: status code, content type and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    /// A JSON object (a JSON string is sent as that text, as kubelets send their metrics).
    pub fn json(code: u16, v: &Value) -> Reply {
        match v {
            Value::String(text) => Reply::text(code, text.clone()),
            v => Reply {
                code,
                content_type: "application/json",
                body: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            },
        }
    }

    /// Prometheus text, as a kubelet or a leaker answers `/metrics`.
    pub fn text(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            content_type: "text/plain; version=0.0.4",
            body: Bytes::from(text.into()),
        }
    }

    /// A watch stream that ends after these events (one JSON line each).
    pub fn events(events: &[Value]) -> Reply {
        let mut b = Vec::new();
        for e in events {
            b.extend(serde_json::to_vec(e).unwrap_or_default());
            b.push(b'\n');
        }
        Reply {
            code: 200,
            content_type: "application/json",
            body: Bytes::from(b),
        }
    }

    /// A `Status` failure.
    pub fn status(code: u16, reason: &str, message: &str) -> Reply {
        Reply::json(code, &status(code, reason, message))
    }
}

/// Answers a test scripts itself; the server asks each in turn before answering from its store.
pub trait Answer: Send + Sync + 'static {
    fn answer<'a>(&'a self, server: &'a ApiServer, seen: &'a Seen) -> BoxFuture<'a, Option<Reply>>;
}

struct FnAnswer<F>(F);

impl<F: Fn(&Seen) -> Option<Reply> + Send + Sync + 'static> Answer for FnAnswer<F> {
    fn answer<'a>(&'a self, _: &'a ApiServer, seen: &'a Seen) -> BoxFuture<'a, Option<Reply>> {
        let reply = (self.0)(seen);
        Box::pin(async move { reply })
    }
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
struct CallStat {
    requests: u64,
    lists: u64,
    bytes: Arc<AtomicU64>,
    statuses: BTreeMap<u16, u64>,
}

/// The requests of one (verb, resource, scope, selector).
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub key: CallKey,
    pub requests: u64,
    /// List requests without `continue`: the lists themselves, whatever their pages.
    pub lists: u64,
    pub bytes: u64,
    pub statuses: BTreeMap<u16, u64>,
}

/// What the server is set to answer besides its objects.
#[derive(Default)]
struct Config {
    /// `verb resource[/sub]` the SelfSubjectAccessReviews refuse and the server forbids
    /// (`get nodes/proxy`, `list pods`).
    denied: BTreeSet<String>,
    /// What the node proxy answers: (node, path under `proxy/`) → (code, body).
    kubelets: BTreeMap<(String, String), (u16, Value)>,
    /// Registered API groups: group/version → (plural, kind) of their resources.
    groups: BTreeMap<String, Vec<(String, String)>>,
    /// Lists answer at most this many items per page, whatever the client asks.
    page: Option<usize>,
    answers: Vec<Arc<dyn Answer>>,
}

pub(crate) struct Inner {
    store: Mutex<Store>,
    tx: broadcast::Sender<Change>,
    config: Mutex<Config>,
    calls: Mutex<BTreeMap<CallKey, CallStat>>,
    log: Mutex<Vec<Seen>>,
    /// How often a watch that asked for bookmarks gets one (a real server: about a minute).
    bookmark_every: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fake API server: cheap to clone (every clone is the same server). Serve it with
/// [`ApiServer::client`] (in process) or [`ApiServer::listen`] (over HTTP).
#[derive(Clone)]
pub struct ApiServer {
    pub(crate) inner: Arc<Inner>,
}

impl Default for ApiServer {
    fn default() -> Self {
        ApiServer::new()
    }
}

impl ApiServer {
    pub fn new() -> ApiServer {
        let (tx, _) = broadcast::channel(1 << 16);
        ApiServer {
            inner: Arc::new(Inner {
                store: Mutex::new(Store::new(tx.clone())),
                tx,
                config: Mutex::new(Config::default()),
                calls: Mutex::new(BTreeMap::new()),
                log: Mutex::new(Vec::new()),
                bookmark_every: Duration::from_secs(60),
            }),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn config(&self) -> MutexGuard<'_, Config> {
        lock(&self.inner.config)
    }

    /// A resource named as a test names it: `group/version/plural`, or a plural alone (a
    /// registered group's, else a built-in one's).
    pub fn gvr(&self, resource: &str) -> Gvr {
        if let Some((gv, plural)) = resource.rsplit_once('/') {
            return Gvr::owned(gv, plural);
        }
        let config = self.config();
        if let Some(gv) = config
            .groups
            .iter()
            .find(|(_, rs)| rs.iter().any(|(p, _)| p == resource))
            .map(|(gv, _)| gv)
        {
            return Gvr::owned(gv, resource);
        }
        Gvr::BUILT_IN
            .iter()
            .find(|g| g.plural == resource)
            .cloned()
            .unwrap_or_else(|| Gvr::owned("v1", resource))
    }

    // ------------------------------------------------------------ set-up

    /// Serves an API group: discovery lists its resources, (plural, kind); a group that is
    /// neither built in nor registered answers 404, as without its CRDs.
    pub fn register(&self, group_version: &str, resources: &[(&str, &str)]) -> &Self {
        self.config().groups.insert(
            group_version.to_string(),
            resources
                .iter()
                .map(|(p, k)| (p.to_string(), k.to_string()))
                .collect(),
        );
        self
    }

    /// Makes SelfSubjectAccessReviews refuse `verb resource` (`patch leakruns/status`), and
    /// the server forbid it (`list pods` on every namespace, `get nodes/proxy`).
    pub fn deny(&self, what: &str) -> &Self {
        self.config().denied.insert(what.into());
        self
    }

    /// Makes the node proxy answer `GET /api/v1/nodes/NODE/proxy/PATH` with `code` and `body`
    /// (a kubelet's `configz`, `stats/summary`; a JSON string is served as that text: `metrics`).
    pub fn kubelet(&self, node: &str, path: &str, code: u16, body: Value) -> &Self {
        self.config()
            .kubelets
            .insert((node.to_string(), path.to_string()), (code, body));
        self
    }

    /// What the node proxy answers for (`node`, `path`).
    pub fn kubelet_answer(&self, node: &str, path: &str) -> Option<(u16, Value)> {
        self.config()
            .kubelets
            .get(&(node.to_string(), path.to_string()))
            .cloned()
    }

    /// Lists answer at most `n` items per page.
    pub fn page(&self, n: usize) -> &Self {
        self.config().page = Some(n);
        self
    }

    /// Answers a request itself when `f` has something to say, before the store does.
    pub fn answer(&self, f: impl Fn(&Seen) -> Option<Reply> + Send + Sync + 'static) -> &Self {
        self.answer_with(FnAnswer(f))
    }

    /// [`ApiServer::answer`] with an [`Answer`] that may wait or read the server.
    pub fn answer_with(&self, a: impl Answer) -> &Self {
        self.config().answers.push(Arc::new(a));
        self
    }

    // ------------------------------------------------------------ objects

    /// Objects as they are before anyone watches: no history, nothing to replay (a watch
    /// from an earlier resourceVersion is "too old").
    pub fn populate(&self, resource: &Gvr, objects: impl IntoIterator<Item = Value>) {
        self.store().populate(resource, objects);
    }

    /// Creates an object as a POST would (uid, generation, creationTimestamp; its namespace
    /// must exist); returns it as stored, or the failure's `Status`.
    pub fn create(&self, resource: &str, obj: Value) -> Value {
        let gvr = self.gvr(resource);
        self.store().create(&gvr, None, obj).1
    }

    /// Creates or replaces an object as a controller of the cluster would (ADDED or
    /// MODIFIED, a new resourceVersion, nothing else); returns it as stored.
    pub fn put(&self, resource: &Gvr, obj: Value) -> Value {
        self.store().put(resource, obj, false)
    }

    /// [`ApiServer::put`], noting when a watch first sends the change ([`ApiServer::sent`]);
    /// returns the object and its resourceVersion.
    pub fn put_marked(&self, resource: &Gvr, obj: Value) -> (Value, u64) {
        let mut st = self.store();
        let obj = st.put(resource, obj, true);
        (obj, st.rv)
    }

    /// When a watch first sent the marked change at resourceVersion `rv`.
    pub fn sent(&self, rv: u64) -> Option<SystemTime> {
        self.store().marks.get(&rv).copied().flatten()
    }

    /// Removes an object at once (DELETED, carrying `last`).
    pub fn remove(&self, resource: &Gvr, last: Value) {
        self.store().remove(resource, last);
    }

    /// The object, if it exists.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let gvr = self.gvr(resource);
        self.store().get(&gvr, namespace, name)
    }

    /// Every object of `resource` in `namespace`.
    pub fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        let gvr = self.gvr(resource);
        let st = self.store();
        st.objects
            .get(&gvr)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|e| e.namespace == namespace)
            .map(|e| e.value())
            .collect()
    }

    /// Merges `patch` into an object (as a merge patch would), e.g. to annotate it.
    pub fn merge(&self, resource: &str, namespace: &str, name: &str, patch: &Value) {
        let gvr = self.gvr(resource);
        let mut st = self.store();
        if let Some(mut obj) = st.get(&gvr, namespace, name) {
            json_patch::merge(&mut obj, patch);
            st.update(&gvr, obj, false);
        }
    }

    /// Deletes an object as `kubectl delete` would (namespaces: everything in them).
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        let gvr = self.gvr(resource);
        self.store().delete(&gvr, namespace, name);
    }

    /// Objects of a resource and their total serialized size.
    pub fn census(&self, resource: &Gvr) -> (usize, usize) {
        let st = self.store();
        st.objects.get(resource).map_or((0, 0), |m| {
            (m.len(), m.values().map(|e| e.bytes.len()).sum())
        })
    }

    /// Up to `n` objects of a resource, spread over the store.
    pub fn sample(&self, resource: &Gvr, n: usize) -> Vec<Value> {
        let st = self.store();
        let Some(m) = st.objects.get(resource) else {
            return Vec::new();
        };
        let step = (m.len() / n.max(1)).max(1);
        m.values()
            .step_by(step)
            .take(n)
            .map(|e| e.value())
            .collect()
    }

    // ------------------------------------------------------------ what was asked

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.inner.log).clone()
    }

    /// The requests so far, counted.
    pub fn calls(&self) -> Vec<CallSummary> {
        lock(&self.inner.calls)
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
        let mut calls = lock(&self.inner.calls);
        let s = calls.entry(key).or_default();
        s.requests += 1;
        s.lists += u64::from(first_page);
        *s.statuses.entry(status).or_default() += 1;
        s.bytes.clone()
    }

    fn stamp(&self, rv: u64) {
        let mut st = self.store();
        if let Some(sent) = st.marks.get_mut(&rv)
            && sent.is_none()
        {
            *sent = Some(SystemTime::now());
        }
    }

    fn marked(&self, rv: u64) -> bool {
        self.store().marks.contains_key(&rv)
    }
}

/// A response whose body bytes are counted as they are sent.
fn respond(r: Reply, counter: Arc<AtomicU64>) -> Response<Body> {
    let body = r.body;
    let stream = futures::stream::once(async move {
        counter.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok::<Bytes, Infallible>(body)
    });
    Response::builder()
        .status(StatusCode::from_u16(r.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, r.content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// What a path names.
struct Target {
    gvr: Gvr,
    namespace: Option<String>,
    name: Option<String>,
    /// Subresource and what follows (`status`, `proxy/metrics`).
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
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
        [] => (String::new(), None, None),
        [plural] => (plural.to_string(), None, None),
        [plural, name] => (plural.to_string(), Some(name.to_string()), None),
        [plural, name, sub @ ..] => (
            plural.to_string(),
            Some(name.to_string()),
            Some(sub.join("/")),
        ),
    };
    Some(Target {
        gvr: Gvr::owned(&gv, &plural),
        namespace,
        name,
        sub,
    })
}

/// The request's (verb, resource, scope, selector), as it is counted.
fn call_key(method: &Method, path: &str, t: Option<&Target>, seen: &Seen) -> CallKey {
    let Some(t) = t else {
        return CallKey {
            verb: "other",
            resource: path.to_string(),
            scope: String::new(),
            selector: String::new(),
        };
    };
    let mut selector = String::new();
    for (k, name) in [("labelSelector", "label"), ("fieldSelector", "field")] {
        if let Some(v) = seen.q(k).filter(|v| !v.is_empty()) {
            if !selector.is_empty() {
                selector.push(' ');
            }
            selector.push_str(&format!("{name}:{v}"));
        }
    }
    let proxy = t.sub.as_deref().is_some_and(|s| s.starts_with("proxy"));
    let verb = match (method.as_str(), &t.name) {
        _ if proxy => "proxy",
        ("GET", None) if seen.is_watch() => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "unsupported",
    };
    CallKey {
        verb,
        resource: if proxy {
            format!("{}/proxy", t.gvr.plural)
        } else {
            t.gvr.plural.to_string()
        },
        scope: t.namespace.clone().unwrap_or_else(|| "cluster".into()),
        selector,
    }
}

pub(crate) async fn handle(server: ApiServer, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: query(parts.uri.query()),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    lock(&server.inner.log).push(seen.clone());
    let target = parse_path(&seen.path);
    let key = call_key(&parts.method, &seen.path, target.as_ref(), &seen);
    let answers = server.config().answers.clone();
    for a in answers {
        if let Some(r) = a.answer(&server, &seen).await {
            let c = server.count(key, false, r.code);
            return respond(r, c);
        }
    }
    let Some(t) = target else {
        let msg = format!(
            "the server could not find the requested resource ({})",
            seen.path
        );
        let c = server.count(key, false, 404);
        return respond(Reply::status(404, "NotFound", &msg), c);
    };
    if key.verb == "watch" {
        match server.selection(&t, &seen) {
            Ok(filter) => {
                let c = server.count(key, false, 200);
                return watch(server, filter, &seen, c);
            }
            Err(r) => {
                let c = server.count(key, false, r.code);
                return respond(r, c);
            }
        }
    }
    let first_page = key.verb == "list" && seen.q("continue").is_none_or(str::is_empty);
    let reply = server.answer_request(&parts.method, &t, &seen);
    let c = server.count(key, first_page, reply.code);
    respond(reply, c)
}

impl ApiServer {
    /// Everything but watches and scripted answers.
    fn answer_request(&self, method: &Method, t: &Target, seen: &Seen) -> Reply {
        let plural = t.gvr.plural.as_ref();
        if plural == "selfsubjectaccessreviews" && *method == Method::POST {
            return self.access_review(&seen.body);
        }
        if t.gvr == Gvr::NODES && t.sub.as_deref().is_some_and(|s| s.starts_with("proxy/")) {
            return self.node_proxy(t);
        }
        if plural.is_empty() {
            return self.discovery(&t.gvr.group_version);
        }
        let gv = t.gvr.group_version.as_ref();
        if !Gvr::built_in_group(gv) && !self.config().groups.contains_key(gv) {
            let msg = "the server could not find the requested resource";
            return Reply::status(404, "NotFound", msg);
        }
        let ns = t.namespace.clone().unwrap_or_default();
        let (code, v) = match (method.as_str(), t.name.as_deref()) {
            ("GET", None) => return self.list_reply(t, seen),
            ("POST", None) => {
                let mut st = self.store();
                st.create(&t.gvr, t.namespace.as_deref(), seen.body.clone())
            }
            ("GET", Some(name)) => match self.store().get(&t.gvr, &ns, name) {
                Some(obj) => (200, obj),
                None => (
                    404,
                    status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
                ),
            },
            ("PUT", Some(name)) => self.store().replace(&t.gvr, &ns, name, seen.body.clone()),
            ("PATCH", Some(name)) => self.store().patch(
                &t.gvr,
                (&ns, name, t.sub.as_deref()),
                &seen.content_type,
                &seen.body,
            ),
            ("DELETE", Some(name)) => match self.store().delete(&t.gvr, &ns, name) {
                Some(gone) => (200, gone),
                None => (
                    404,
                    status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
                ),
            },
            (m, _) => (
                405,
                status(405, "MethodNotAllowed", &format!("{m} on {plural}")),
            ),
        };
        Reply::json(code, &v)
    }

    fn access_review(&self, body: &Value) -> Reply {
        let a = &body["spec"]["resourceAttributes"];
        let resource = match a["subresource"].as_str() {
            Some(s) if !s.is_empty() => {
                format!("{}/{s}", a["resource"].as_str().unwrap_or_default())
            }
            _ => a["resource"].as_str().unwrap_or_default().to_string(),
        };
        let asked = format!("{} {resource}", a["verb"].as_str().unwrap_or_default());
        let mut review = body.clone();
        review["status"] = json!({"allowed": !self.config().denied.contains(&asked)});
        Reply::json(201, &review)
    }

    fn node_proxy(&self, t: &Target) -> Reply {
        let node = t.name.clone().unwrap_or_default();
        let path = t.sub.as_deref().unwrap_or_default();
        let path = path.strip_prefix("proxy/").unwrap_or(path);
        let config = self.config();
        if config.denied.contains("get nodes/proxy") {
            return Reply::status(403, "Forbidden", "nodes/proxy is forbidden");
        }
        match config.kubelets.get(&(node.clone(), path.to_string())) {
            Some((code, body)) => Reply::json(*code, body),
            None => Reply::status(404, "NotFound", &format!("{path} on node {node}")),
        }
    }

    fn discovery(&self, gv: &str) -> Reply {
        let config = self.config();
        let Some(resources) = config.groups.get(gv) else {
            return Reply::status(404, "NotFound", &format!("the server could not find {gv}"));
        };
        let resources: Vec<Value> = resources
            .iter()
            .map(|(name, kind)| {
                json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
                       "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
            })
            .collect();
        Reply::json(
            200,
            &json!({"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": gv,
                    "resources": resources}),
        )
    }

    /// What a list or watch selects, or why it is refused.
    fn selection(&self, t: &Target, seen: &Seen) -> Result<Filter, Reply> {
        let gv = t.gvr.group_version.as_ref();
        if !Gvr::built_in_group(gv) && !self.config().groups.contains_key(gv) {
            let msg = "the server could not find the requested resource";
            return Err(Reply::status(404, "NotFound", msg));
        }
        let plural = &t.gvr.plural;
        if t.namespace.is_none() && self.config().denied.contains(&format!("list {plural}")) {
            let msg = format!(
                "{plural} is forbidden: User \"test\" cannot list resource \"{plural}\" at the cluster scope"
            );
            return Err(Reply::status(403, "Forbidden", &msg));
        }
        let bad = |e: String| Reply::status(400, "BadRequest", &e);
        let labels = LabelSelector::parse(seen.q("labelSelector").unwrap_or("")).map_err(bad)?;
        let fields = FieldSelector::parse(seen.q("fieldSelector").unwrap_or(""), &t.gvr.plural)
            .map_err(bad)?;
        Ok(Filter {
            gvr: t.gvr.clone(),
            namespace: t.namespace.clone(),
            labels,
            fields,
        })
    }

    fn list_reply(&self, t: &Target, seen: &Seen) -> Reply {
        match self.selection(t, seen) {
            Ok(filter) => {
                let (code, body) = self.page_of(&filter, seen);
                Reply {
                    code,
                    content_type: "application/json",
                    body,
                }
            }
            Err(r) => r,
        }
    }

    fn page_of(&self, f: &Filter, seen: &Seen) -> (u16, Bytes) {
        let asked: usize = seen.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
        let limit = match (asked, self.config().page) {
            (0, cap) => cap.unwrap_or(0),
            (n, cap) => n.min(cap.unwrap_or(usize::MAX)),
        };
        let mut st = self.store();
        let (rv, items, offset) = match seen.q("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let id = token
                    .strip_prefix("page-")
                    .and_then(|i| i.parse::<u64>().ok());
                match id.and_then(|id| st.snapshots.remove(&id)) {
                    Some(s) => (s.rv, s.items, s.offset),
                    None => {
                        let msg = "the provided continue parameter is too old";
                        let r = Reply::status(410, "Expired", msg);
                        return (410, r.body);
                    }
                }
            }
            None => {
                let items: Vec<Arc<Entry>> = st
                    .objects
                    .get(&f.gvr)
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
        let kind = st.kind(&f.gvr);
        drop(st);
        let head = format!(
            "{{\"kind\":\"{kind}List\",\"apiVersion\":\"{}\",\"metadata\":{metadata},\"items\":[",
            f.gvr.group_version,
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
}

/// What a list or watch selects.
#[derive(Debug, Clone)]
struct Filter {
    gvr: Gvr,
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

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut l = Vec::with_capacity(object.len() + 32);
    l.extend_from_slice(b"{\"type\":\"");
    l.extend_from_slice(kind.as_bytes());
    l.extend_from_slice(b"\",\"object\":");
    l.extend_from_slice(object);
    l.extend_from_slice(b"}\n");
    Bytes::from(l)
}

fn bookmark_line(kind: &str, gvr: &Gvr, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": kind, "apiVersion": gvr.group_version, "metadata": meta});
    event_line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
}

struct WatchState {
    server: ApiServer,
    rx: broadcast::Receiver<Change>,
    filter: Filter,
    kind: String,
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
        if c.entry.rv <= self.seen || c.gvr != self.filter.gvr {
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

    /// What the watch starts with: the current state (no resourceVersion, "any", or
    /// `sendInitialEvents`), the history after a resourceVersion, or 410 if that is too old.
    fn start(&mut self, rv_param: &str, initial_events: bool) {
        let st = self.server.store();
        if rv_param.is_empty() || rv_param == "0" || initial_events {
            for e in st
                .objects
                .get(&self.filter.gvr)
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|e| self.filter.matches(e))
            {
                self.backlog
                    .push_back((e.rv, event_line("ADDED", &e.bytes)));
            }
            self.seen = st.rv;
            if initial_events && self.bookmarks {
                let line = bookmark_line(&self.kind, &self.filter.gvr, st.rv, true);
                self.backlog.push_back((0, line));
            }
            return;
        }
        let from: u64 = rv_param.parse().unwrap_or(0);
        if from < st.compacted {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {from} ({})", st.compacted),
                "reason": "Expired", "code": 410});
            let line = event_line("ERROR", &serde_json::to_vec(&status).unwrap_or_default());
            self.backlog.push_back((0, line));
            self.done = true;
            return;
        }
        self.seen = from;
        let history: Vec<Change> = st
            .history
            .iter()
            .filter(|c| c.entry.rv > from)
            .cloned()
            .collect();
        drop(st);
        for c in &history {
            self.consider(c);
        }
    }
}

fn watch(
    server: ApiServer,
    filter: Filter,
    seen: &Seen,
    counter: Arc<AtomicU64>,
) -> Response<Body> {
    let bookmarks = seen.q("allowWatchBookmarks") == Some("true");
    let initial_events = seen.q("sendInitialEvents") == Some("true");
    let timeout: u64 = seen
        .q("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800);
    // Subscribed before reading the store: nothing falls between the two.
    let rx = server.inner.tx.subscribe();
    let every = server.inner.bookmark_every;
    let kind = server.store().kind(&filter.gvr);
    let mut state = WatchState {
        server,
        rx,
        filter,
        kind,
        backlog: VecDeque::new(),
        seen: 0,
        deadline: Instant::now() + Duration::from_secs(timeout),
        bookmarks,
        next_bookmark: Instant::now() + every,
        counter,
        done: false,
    };
    state.start(
        seen.q("resourceVersion").unwrap_or_default(),
        initial_events,
    );
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some((rv, line)) = s.backlog.pop_front() {
                if rv > 0 && s.server.marked(rv) {
                    s.server.stamp(rv);
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
                    s.next_bookmark += s.server.inner.bookmark_every;
                    let line = bookmark_line(&s.kind, &s.filter.gvr, s.seen, false);
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
