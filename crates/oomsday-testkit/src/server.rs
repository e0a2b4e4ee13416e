//! The fake API server: a store of objects (`store.rs`) behind what oomsday uses of the API —
//! paginated lists (`limit`/`continue`, a consistent snapshot per list like etcd's), watches from a
//! resourceVersion or with the initial state (`sendInitialEvents` and its closing bookmark
//! included), `allowWatchBookmarks`, `timeoutSeconds`, label and field selectors (an object that
//! stops or starts matching is sent as DELETED or ADDED, as the real server does), namespaced
//! and cluster-wide paths, create/get/replace/patch/delete, discovery of registered API groups,
//! SelfSubjectAccessReviews (allowed unless denied), the node proxy to kubelets, and answers a
//! test scripts itself ([`Answer`]), asked first.
//!
//! Every request is logged ([`Seen`]) and counted by (verb, resource, scope, selector), with
//! the body bytes sent for it as they leave (watch streams included).

mod handle;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::lifecycle::status;
use crate::store::{Change, Gvr, Store};

pub(crate) use handle::handle;

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
