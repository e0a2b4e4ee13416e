//! The objects the fake API server keeps: plain JSON objects keyed by (group/version/resource,
//! namespace, name), each stored serialized (what every list and watch sends) with what
//! selectors read of it, a resourceVersion counter, and the history of changes watches replay.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::query::field_labels;

/// A resource: group/version and plural (`apps/v1` `deployments`; the core group is `v1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvr {
    pub group_version: Cow<'static, str>,
    pub plural: Cow<'static, str>,
}

impl Gvr {
    pub const fn new(group_version: &'static str, plural: &'static str) -> Gvr {
        Gvr {
            group_version: Cow::Borrowed(group_version),
            plural: Cow::Borrowed(plural),
        }
    }

    pub const PODS: Gvr = Gvr::new("v1", "pods");
    pub const NODES: Gvr = Gvr::new("v1", "nodes");
    pub const EVENTS: Gvr = Gvr::new("v1", "events");
    pub const NAMESPACES: Gvr = Gvr::new("v1", "namespaces");
    pub const LIMIT_RANGES: Gvr = Gvr::new("v1", "limitranges");
    pub const DEPLOYMENTS: Gvr = Gvr::new("apps/v1", "deployments");
    pub const STATEFUL_SETS: Gvr = Gvr::new("apps/v1", "statefulsets");
    pub const PDBS: Gvr = Gvr::new("policy/v1", "poddisruptionbudgets");
    pub const HPAS: Gvr = Gvr::new("autoscaling/v2", "horizontalpodautoscalers");
    pub const PRIORITY_CLASSES: Gvr = Gvr::new("scheduling.k8s.io/v1", "priorityclasses");
    pub const LEASES: Gvr = Gvr::new("coordination.k8s.io/v1", "leases");

    /// The built-in resources, by plural (how a test names them without their group).
    pub const BUILT_IN: &'static [Gvr] = &[
        Gvr::PODS,
        Gvr::NODES,
        Gvr::EVENTS,
        Gvr::NAMESPACES,
        Gvr::LIMIT_RANGES,
        Gvr::DEPLOYMENTS,
        Gvr::STATEFUL_SETS,
        Gvr::PDBS,
        Gvr::HPAS,
        Gvr::PRIORITY_CLASSES,
        Gvr::LEASES,
    ];

    pub fn owned(group_version: &str, plural: &str) -> Gvr {
        Gvr {
            group_version: Cow::Owned(group_version.to_string()),
            plural: Cow::Owned(plural.to_string()),
        }
    }

    /// Whether the built-in API serves this group/version (other groups need registering).
    pub fn built_in_group(group_version: &str) -> bool {
        !group_version.contains('.')
            || group_version.ends_with(".k8s.io/v1")
            || group_version.starts_with("authorization.k8s.io/")
    }

    /// The kind of the objects of the built-in resources.
    pub fn known_kind(&self) -> Option<&'static str> {
        Some(match self.plural.as_ref() {
            "pods" => "Pod",
            "nodes" => "Node",
            "events" => "Event",
            "namespaces" => "Namespace",
            "limitranges" => "LimitRange",
            "deployments" => "Deployment",
            "statefulsets" => "StatefulSet",
            "poddisruptionbudgets" => "PodDisruptionBudget",
            "horizontalpodautoscalers" => "HorizontalPodAutoscaler",
            "priorityclasses" => "PriorityClass",
            "leases" => "Lease",
            _ => return None,
        })
    }
}

impl fmt::Display for Gvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group_version, self.plural)
    }
}

/// One stored object: its serialized bytes and what selectors read of it.
#[derive(Debug)]
pub struct Entry {
    pub rv: u64,
    pub namespace: String,
    pub name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) fields: BTreeMap<&'static str, String>,
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
    pub(crate) fn new(gvr: &Gvr, obj: &Value, rv: u64) -> Entry {
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
        for label in field_labels(&gvr.plural) {
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

    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// One change, as watches receive it; `prev` is the object before (for selector transitions).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub gvr: Gvr,
    pub kind: &'static str,
    pub entry: Arc<Entry>,
    pub prev: Option<Arc<Entry>>,
}

/// A list in pages: the matching objects at its first page (etcd serves continuations from
/// the first page's revision), and where the next page starts.
pub(crate) struct Snapshot {
    pub rv: u64,
    pub items: Arc<Vec<Arc<Entry>>>,
    pub offset: usize,
}

pub(crate) type Key = (String, String);

pub(crate) struct Store {
    /// Where every change goes out to the open watches.
    pub tx: broadcast::Sender<Change>,
    pub rv: u64,
    pub uid: u64,
    pub objects: HashMap<Gvr, BTreeMap<Key, Arc<Entry>>>,
    pub history: Vec<Change>,
    /// Watches from before this resourceVersion are "too old" (410), as after a compaction.
    pub compacted: u64,
    pub snapshots: HashMap<u64, Snapshot>,
    pub next_snapshot: u64,
    /// Changes a test wants to know when a watch first sent (resourceVersion → when).
    pub marks: BTreeMap<u64, Option<SystemTime>>,
    /// The kind of each resource's objects, as they were stored.
    pub kinds: HashMap<Gvr, String>,
}

fn key_of(obj: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&obj["metadata"]["namespace"]),
        s(&obj["metadata"]["name"]),
    )
}

impl Store {
    pub fn new(tx: broadcast::Sender<Change>) -> Store {
        Store {
            tx,
            rv: 0,
            uid: 0,
            objects: HashMap::new(),
            history: Vec::new(),
            compacted: 0,
            snapshots: HashMap::new(),
            next_snapshot: 0,
            marks: BTreeMap::new(),
            kinds: HashMap::new(),
        }
    }

    fn emit(&mut self, change: Change) {
        self.history.push(change.clone());
        let _ = self.tx.send(change);
    }

    pub fn kind(&self, gvr: &Gvr) -> String {
        gvr.known_kind()
            .map(String::from)
            .or_else(|| self.kinds.get(gvr).cloned())
            .unwrap_or_default()
    }

    fn learn_kind(&mut self, gvr: &Gvr, obj: &Value) {
        if gvr.known_kind().is_none()
            && let Some(k) = obj["kind"].as_str()
        {
            self.kinds.entry(gvr.clone()).or_insert_with(|| k.into());
        }
    }

    pub fn entry(&self, gvr: &Gvr, namespace: &str, name: &str) -> Option<&Arc<Entry>> {
        self.objects
            .get(gvr)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    pub fn get(&self, gvr: &Gvr, namespace: &str, name: &str) -> Option<Value> {
        self.entry(gvr, namespace, name).map(|e| e.value())
    }

    /// Objects as they are before anyone watches: no history, nothing to replay.
    pub fn populate(&mut self, gvr: &Gvr, objects: impl IntoIterator<Item = Value>) {
        for mut obj in objects {
            self.rv += 1;
            let rv = self.rv;
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.learn_kind(gvr, &obj);
            let e = Arc::new(Entry::new(gvr, &obj, rv));
            self.objects
                .entry(gvr.clone())
                .or_default()
                .insert((e.namespace.clone(), e.name.clone()), e);
        }
        self.compacted = self.rv;
    }

    /// Creates or replaces an object (ADDED or MODIFIED) at a new resourceVersion; returns it
    /// as stored. `mark`: note when a watch first sends this change.
    pub fn put(&mut self, gvr: &Gvr, mut obj: Value, mark: bool) -> Value {
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.learn_kind(gvr, &obj);
        let e = Arc::new(Entry::new(gvr, &obj, rv));
        let prev = self
            .objects
            .entry(gvr.clone())
            .or_default()
            .insert((e.namespace.clone(), e.name.clone()), e.clone());
        let change = Change {
            gvr: gvr.clone(),
            kind: if prev.is_some() { "MODIFIED" } else { "ADDED" },
            entry: e,
            prev,
        };
        if mark {
            self.marks.insert(rv, None);
        }
        self.emit(change);
        obj
    }

    /// Removes an object (DELETED, carrying `last` at a new resourceVersion).
    pub fn remove(&mut self, gvr: &Gvr, mut last: Value) -> Option<Value> {
        let key = key_of(&last);
        let prev = self.objects.get_mut(gvr)?.remove(&key)?;
        self.rv += 1;
        last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let change = Change {
            gvr: gvr.clone(),
            kind: "DELETED",
            entry: Arc::new(Entry::new(gvr, &last, self.rv)),
            prev: Some(prev),
        };
        self.emit(change);
        Some(last)
    }

    /// Every stored object's key, with its resource.
    pub fn keys(&self) -> Vec<(Gvr, Key)> {
        self.objects
            .iter()
            .flat_map(|(g, m)| m.keys().map(move |k| (g.clone(), k.clone())))
            .collect()
    }
}
