//! The observer: the watches a run needs, sized to the experiment, merged into one channel and
//! fed through the pure [`Ingest`].
//!
//! What is watched, and why no more:
//! - the target's pods (its namespace, its selector), and every pod on each node a target pod
//!   runs on (`spec.nodeName`), added as the target lands on new nodes: a bystander is blast
//!   radius only there. Past [`MAX_NODE_WATCHES`] nodes, one cluster-wide pod watch instead.
//! - nodes, cluster-wide: the baseline ("500 nodes NotReady") and the allocatable memory the
//!   scorer needs come from this one list.
//! - Events of the target's namespace (its pods' evictions, FailedScheduling) and Events about
//!   nodes (EvictionThresholdMet, SystemOOM, NodeNotReady); a bystander's eviction elsewhere is
//!   told by its own status (the DisruptionTarget condition) on the node-scoped pod watch.
//! - the target's PodDisruptionBudgets (its namespace) and the workload itself (by name).
//!
//! Each watch lists once (its initial list) and is shared by every consumer: preflight's
//! defences read the budgets and nodes from it. Each delivery is stamped with the moment it
//! arrived, so a burst that waits in the channel keeps its real times (the rollout's dip in
//! availability is measured as it happened). Watches resume by themselves
//! (`default_backoff`); objects are stripped of what the classifier never reads before they
//! cross the channel, and written as received to a [`Recorder`] when the run is recorded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::observe::classify::{Object, ObjectKind, TargetRef, relevant_reason};
use crate::observe::{Delivery, Happening, Ingest, Observation, Time};
use crate::recording::{Recorder, WatchType, leaker_bytes};
use crate::spec::TargetKind;

/// Messages handled per batch, so a huge re-list does not hold the engine back.
const BATCH: usize = 4096;
/// How often the leakers' own bytes are read, by default: the leaker's own report interval.
pub const DEFAULT_SCRAPE: Duration = oomsday_core::leaker_config::DEFAULT_REPORT_INTERVAL.std();
/// Nodes watched one by one for bystanders; a target spread wider is watched cluster-wide.
pub const MAX_NODE_WATCHES: usize = 16;

/// Objects per page of a watch's initial list. A page is held twice while it is read (its
/// bytes, then every object whole before it is stripped): 100 keeps that under a few MiB even
/// for nodes, at 5 requests for 500 of them.
const LIST_PAGE: u32 = 100;

/// A watch's configuration: paged as [`LIST_PAGE`] says.
fn config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE)
}

/// How a failed watch tries again: client-go's 0.8 s doubling (kube's default), capped at 5 s
/// instead of 30 s, so a watch is back within seconds of an API server that restarted: a run
/// lasts minutes, and each second the watches wait is a second seen only afterwards.
fn watch_backoff() -> impl kube::runtime::utils::Backoff {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(800))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    kube::runtime::utils::ResetTimerBackoff::new(
        watcher::ExponentialBackoff::from(exponential),
        Duration::from_secs(120),
    )
}

/// The watch of the target's own pods.
const TARGET_PODS: &str = "pods";
/// The cluster-wide pod watch, once the target spans too many nodes.
const ALL_PODS: &str = "pods (all namespaces)";

#[derive(Debug)]
struct Msg {
    stream: Arc<str>,
    received: Time,
    delivery: Delivery,
}

/// The running watches, the index they feed, and what preflight reads from them.
pub struct Observer {
    client: Client,
    tx: mpsc::WeakSender<Msg>,
    rx: mpsc::Receiver<Msg>,
    tasks: Vec<JoinHandle<()>>,
    ingest: Ingest,
    pending: VecDeque<Observation>,
    closed: bool,
    scrape: Option<Scrape>,
    recorder: Option<Arc<Recorder>>,
    /// Nodes whose pods are watched, with the handle that stops each watch; None once every
    /// pod is.
    node_watches: Option<BTreeMap<String, tokio::task::AbortHandle>>,
    /// The budgets of the target's namespace and the nodes, as last delivered (stripped).
    budgets: BTreeMap<String, PodDisruptionBudget>,
    nodes: BTreeMap<String, Node>,
    /// The target's pods that are running now.
    running: BTreeSet<String>,
    /// The streams whose first list must be in before the run starts.
    first_lists: Vec<Arc<str>>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube's Client has no Debug.
        f.debug_struct("Observer")
            .field("node_watches", &self.node_watches)
            .field("pending", &self.pending.len())
            .field("scrape", &self.scrape)
            .finish_non_exhaustive()
    }
}

/// Reading the leakers' own bytes through the API server's pod proxy (needs `get pods/proxy`;
/// optional: the leak is observed without it, only the bytes are missing).
struct Scrape {
    namespace: String,
    every: Duration,
    next: tokio::time::Instant,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape")
            .field("namespace", &self.namespace)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// At most this many leakers are read per round, so a large target does not flood the API.
const SCRAPE_PODS: usize = 50;

impl Drop for Observer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One watch: what it delivers, stamped with its arrival, recorded as received, stripped and
/// sent to the observer.
struct Watch<K> {
    stream: Arc<str>,
    resource: &'static str,
    kind: ObjectKind,
    api: Api<K>,
    config: watcher::Config,
    wrap: fn(K) -> Option<Object>,
}

impl<K> Watch<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    fn spawn(self, tx: mpsc::Sender<Msg>, recorder: Option<Arc<Recorder>>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let keep_managed = crate::recording::keeps_managed_fields(self.resource);
            let events = watcher(self.api.clone(), self.config.clone())
                .modify(move |o: &mut K| {
                    if !keep_managed {
                        o.managed_fields_mut().clear();
                    }
                })
                .backoff(watch_backoff());
            futures::pin_mut!(events);
            while let Some(ev) = events.next().await {
                // The I/O edge: the moment it arrived is the time of what it says.
                let received = Time::now();
                let Some(delivery) = self.delivery(ev, received, recorder.as_deref()) else {
                    continue;
                };
                let msg = Msg {
                    stream: self.stream.clone(),
                    received,
                    delivery,
                };
                if tx.send(msg).await.is_err() {
                    break; // the observer is gone
                }
            }
        })
    }

    /// What one watcher event delivers, recorded as received; `None` for what the observer
    /// does not need (an object it does not keep, a 410 the watcher answers by listing again).
    fn delivery(
        &self,
        ev: Result<watcher::Event<K>, watcher::Error>,
        received: Time,
        recorder: Option<&Recorder>,
    ) -> Option<Delivery> {
        let record = |kind: WatchType, o: &K| {
            // Serialized only when recording: not on every event of every watch.
            if let Some(r) = recorder
                && let Ok(v) = serde_json::to_value(o)
            {
                r.watch(received, &self.stream, self.resource, kind, v);
            }
        };
        let object = |o: K| {
            (self.wrap)(o).map(|mut obj| {
                obj.strip();
                Box::new(obj)
            })
        };
        Some(match ev {
            Ok(watcher::Event::Init) => Delivery::ListStarted(self.kind),
            Ok(watcher::Event::InitDone) => {
                if let Some(r) = recorder {
                    r.initial_list_end(received, &self.stream, self.resource);
                }
                Delivery::ListDone(self.kind)
            }
            Ok(watcher::Event::InitApply(o)) => {
                record(WatchType::Added, &o);
                Delivery::Apply(object(o)?)
            }
            Ok(watcher::Event::Apply(o)) => {
                record(WatchType::Modified, &o);
                Delivery::Apply(object(o)?)
            }
            Ok(watcher::Event::Delete(o)) => {
                record(WatchType::Deleted, &o);
                Delivery::Delete(object(o)?)
            }
            // 410 Gone on resume means "list again", which the watcher does at once:
            // a relist, never a failure.
            Err(watcher::Error::WatchError(s)) if s.code == 410 => {
                tracing::info!(stream = %self.stream, "resource version expired; listing again");
                return None;
            }
            Err(e) => {
                let message = e.to_string();
                if let Some(r) = recorder {
                    r.watch_failed(received, &self.stream, self.resource, &message);
                }
                Delivery::Failed(message)
            }
        })
    }
}

fn relevant_event(e: CoreEvent) -> Option<Object> {
    e.reason
        .as_deref()
        .is_some_and(relevant_reason)
        .then_some(Object::Event(e))
}

impl Observer {
    /// Starts the watches for `target`; facts before `since` are history. With a recorder,
    /// everything the watches and the scraper receive is written to it as received.
    pub fn start(
        client: Client,
        target: TargetRef,
        since: Time,
        recorder: Option<Arc<Recorder>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let ns = target.workload.namespace.clone();
        let mut observer = Observer {
            client: client.clone(),
            tx: tx.downgrade(),
            rx,
            tasks: Vec::new(),
            ingest: Ingest::new(target.clone(), since),
            pending: VecDeque::new(),
            closed: false,
            scrape: Some(Scrape {
                namespace: ns.clone(),
                every: DEFAULT_SCRAPE,
                next: tokio::time::Instant::now(),
            }),
            recorder,
            node_watches: Some(BTreeMap::new()),
            budgets: BTreeMap::new(),
            nodes: BTreeMap::new(),
            running: BTreeSet::new(),
            first_lists: Vec::new(),
        };
        observer.watch_target(&target);
        drop(tx);
        observer
    }

    /// The watches a run on `target` needs (see the module's docs for why these and no more).
    fn watch_target(&mut self, target: &TargetRef) {
        let ns = target.workload.namespace.clone();
        let by_name = config().fields(&format!("metadata.name={}", target.workload.name));
        let all = config;
        let selected = all().labels(&target.selector.to_string());
        let node_events = all().fields("involvedObject.kind=Node");
        let client = self.client.clone();
        let c = || client.clone();
        let workload = match target.workload.kind {
            TargetKind::Deployment => "deployments",
            TargetKind::StatefulSet => "statefulsets",
        };
        self.first_lists = [TARGET_PODS, "nodes", "poddisruptionbudgets", workload]
            .map(Arc::<str>::from)
            .to_vec();
        self.watch(Watch {
            stream: TARGET_PODS.into(),
            resource: "pods",
            kind: ObjectKind::Pod,
            api: Api::<Pod>::namespaced(c(), &ns),
            config: selected,
            wrap: |p| Some(Object::Pod(p)),
        });
        self.watch(Watch {
            stream: "nodes".into(),
            resource: "nodes",
            kind: ObjectKind::Node,
            api: Api::<Node>::all(c()),
            config: all(),
            wrap: |n| Some(Object::Node(n)),
        });
        self.watch(Watch {
            stream: "events".into(),
            resource: "events",
            kind: ObjectKind::Event,
            api: Api::<CoreEvent>::namespaced(c(), &ns),
            config: all(),
            wrap: relevant_event,
        });
        self.watch(Watch {
            stream: "events involvedObject.kind=Node".into(),
            resource: "events",
            kind: ObjectKind::Event,
            api: Api::<CoreEvent>::all(c()),
            config: node_events,
            wrap: relevant_event,
        });
        self.watch(Watch {
            stream: "poddisruptionbudgets".into(),
            resource: "poddisruptionbudgets",
            kind: ObjectKind::Budget,
            api: Api::<PodDisruptionBudget>::namespaced(c(), &ns),
            config: all(),
            wrap: |b| Some(Object::Budget(b)),
        });
        match target.workload.kind {
            TargetKind::Deployment => self.watch(Watch {
                stream: workload.into(),
                resource: workload,
                kind: ObjectKind::Workload,
                api: Api::<Deployment>::namespaced(c(), &ns),
                config: by_name,
                wrap: |d| Some(Object::Deployment(d)),
            }),
            TargetKind::StatefulSet => self.watch(Watch {
                stream: workload.into(),
                resource: workload,
                kind: ObjectKind::Workload,
                api: Api::<StatefulSet>::namespaced(c(), &ns),
                config: by_name,
                wrap: |s| Some(Object::StatefulSet(s)),
            }),
        }
    }

    fn watch<K>(&mut self, w: Watch<K>)
    where
        K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
    {
        self.watch_stoppable(w);
    }

    /// Starts `w`; returns what stops it (None when the observer is closing).
    fn watch_stoppable<K>(&mut self, w: Watch<K>) -> Option<tokio::task::AbortHandle>
    where
        K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
    {
        let tx = self.tx.upgrade()?;
        let task = w.spawn(tx, self.recorder.clone());
        let stop = task.abort_handle();
        self.tasks.push(task);
        Some(stop)
    }

    /// Watches the pods of the nodes the target has newly landed on (or, past
    /// [`MAX_NODE_WATCHES`] nodes, every pod).
    fn follow_target(&mut self) {
        let Some(watched) = self.node_watches.as_ref() else {
            return;
        };
        let new: Vec<String> = self
            .ingest
            .classifier()
            .target_nodes()
            .filter(|n| !watched.contains_key(*n))
            .map(str::to_string)
            .collect();
        if new.is_empty() {
            return;
        }
        if watched.len() + new.len() > MAX_NODE_WATCHES {
            tracing::info!(
                nodes = watched.len() + new.len(),
                "the target spans more than {MAX_NODE_WATCHES} nodes: watching every pod"
            );
            // The cluster-wide watch sees those nodes' pods too: their own watches would only
            // deliver every event twice.
            for stop in self
                .node_watches
                .take()
                .into_iter()
                .flat_map(|w| w.into_values())
            {
                stop.abort();
            }
            let api = Api::<Pod>::all(self.client.clone());
            self.watch(Watch {
                stream: ALL_PODS.into(),
                resource: "pods",
                kind: ObjectKind::Pod,
                api,
                config: config(),
                wrap: |p| Some(Object::Pod(p)),
            });
            return;
        }
        for node in new {
            let api = Api::<Pod>::all(self.client.clone());
            let stop = self.watch_stoppable(Watch {
                stream: format!("pods spec.nodeName={node}").into(),
                resource: "pods",
                kind: ObjectKind::Pod,
                api,
                config: config().fields(&format!("spec.nodeName={node}")),
                wrap: |p| Some(Object::Pod(p)),
            });
            if let (Some(w), Some(stop)) = (self.node_watches.as_mut(), stop) {
                w.insert(node, stop);
            }
        }
    }

    /// Waits, at most `limit`, until the first lists of the target's pods, the nodes, the
    /// budgets and the workload are in: the state the run begins in. Returns the streams still
    /// missing when the time ran out.
    pub async fn wait_first_lists(&mut self, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let missing: Vec<String> = self
                .first_lists
                .iter()
                .filter(|s| !self.ingest.listed(s))
                .map(|s| s.to_string())
                .collect();
            if missing.is_empty() {
                return missing;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) => self.handle(msg),
                Ok(None) | Err(_) => return missing,
            }
        }
    }

    /// The budgets of the target's namespace, as last delivered.
    pub fn budgets(&self) -> Vec<PodDisruptionBudget> {
        self.budgets.values().cloned().collect()
    }

    /// The nodes, as last delivered (stripped of what neither the classifier nor the scorer
    /// reads).
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.values().cloned().collect()
    }

    /// The target's pods that are running now, by name.
    pub fn running_target_pods(&self) -> Vec<String> {
        self.running.iter().cloned().collect()
    }

    /// How often the leakers' bytes are read; `None` turns it off.
    pub fn set_scrape_interval(&mut self, every: Option<Duration>) {
        match (every, self.scrape.as_mut()) {
            (Some(e), Some(s)) => s.every = e,
            (None, _) => self.scrape = None,
            (Some(_), None) => {}
        }
    }

    /// Starts a round of reading the leakers' `/metrics` when one is due.
    fn maybe_scrape(&mut self) {
        let Some(s) = self.scrape.as_mut() else {
            return;
        };
        let instant = tokio::time::Instant::now();
        if instant < s.next {
            return;
        }
        s.next = instant + s.every;
        let Some(tx) = self.tx.upgrade() else { return };
        let pods = self.ingest.classifier().leaker_pods();
        for pod in pods.into_iter().take(SCRAPE_PODS) {
            let (client, tx, ns) = (self.client.clone(), tx.clone(), s.namespace.clone());
            let recorder = self.recorder.clone();
            let timeout = s
                .every
                .max(Duration::from_secs(1))
                .min(Duration::from_secs(5));
            self.tasks.retain(|t| !t.is_finished());
            self.tasks.push(tokio::spawn(async move {
                let path = format!("/api/v1/namespaces/{ns}/pods");
                let port = oomsday_core::leaker_config::DEFAULT_PORT;
                let Ok(req) = kube::core::Request::new(path)
                    .get_subresource("proxy/metrics", &format!("{pod}:{port}"))
                else {
                    return;
                };
                match tokio::time::timeout(timeout, client.request_text(req)).await {
                    Ok(Ok(text)) => {
                        let received = Time::now();
                        if let Some(r) = &recorder {
                            r.leaker(received, &ns, &pod, &text);
                        }
                        if let Some(bytes) = leaker_bytes(&text) {
                            let msg = Msg {
                                stream: "leaker-metrics".into(),
                                received,
                                delivery: Delivery::LeakerBytes { pod, bytes },
                            };
                            let _ = tx.send(msg).await;
                        }
                    }
                    // Unreachable leakers are normal (no RBAC for the proxy, a restarting pod).
                    Ok(Err(e)) => tracing::debug!(%pod, error = %e, "leaker metrics unreachable"),
                    Err(_) => tracing::debug!(%pod, "leaker metrics timed out"),
                }
            }));
        }
    }

    fn handle(&mut self, msg: Msg) {
        self.keep(&msg);
        let obs = self.ingest.take(&msg.stream, msg.received, msg.delivery);
        self.pending.extend(obs);
        self.follow_target();
    }

    /// Keeps what preflight and the ephemeral injection read: budgets, nodes, running pods.
    fn keep(&mut self, msg: &Msg) {
        let (obj, gone) = match &msg.delivery {
            Delivery::Apply(o) => (o, false),
            Delivery::Delete(o) => (o, true),
            _ => return,
        };
        match &**obj {
            Object::Budget(b) => {
                if gone {
                    self.budgets.remove(&b.name_any());
                } else {
                    self.budgets.insert(b.name_any(), b.clone());
                }
            }
            Object::Node(n) => {
                if gone {
                    self.nodes.remove(&n.name_any());
                } else {
                    self.nodes.insert(n.name_any(), n.clone());
                }
            }
            Object::Pod(p) if &*msg.stream == TARGET_PODS => {
                let running = !gone && crate::objects::is_running(p);
                if running {
                    self.running.insert(p.name_any());
                } else {
                    self.running.remove(&p.name_any());
                }
            }
            _ => {}
        }
    }

    /// Observations as soon as there are some, or none when `until` passes. Cancel-safe: a
    /// message is handled synchronously once received, and its observations wait in `pending`.
    pub async fn next_batch(&mut self, until: Time, now: impl Fn() -> Time) -> Vec<Observation> {
        loop {
            self.pending.extend(self.ingest.tick(now()));
            if !self.pending.is_empty() {
                return self.pending.drain(..).collect();
            }
            if now() >= until {
                return Vec::new();
            }
            self.maybe_scrape();
            let wait = now().duration_until(until).unsigned_abs();
            // Wake up for the next scrape round too.
            let slice = self.scrape.as_ref().map_or(wait, |s| wait.min(s.every));
            let msg = match tokio::time::timeout(slice, self.rx.recv()).await {
                Err(_) if slice < wait => continue,
                Err(_) => return Vec::new(),
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    // Every watch task ended: nothing more can be observed; say so once.
                    if std::mem::replace(&mut self.closed, true) {
                        tokio::time::sleep(wait).await;
                        return Vec::new();
                    }
                    return vec![Observation::new(
                        now(),
                        Happening::ObservationFailed {
                            detail: "every watch stopped".into(),
                        },
                    )];
                }
            };
            self.handle(msg);
            for _ in 0..BATCH {
                match self.rx.try_recv() {
                    Ok(msg) => self.handle(msg),
                    Err(_) => break,
                }
            }
        }
    }

    /// The index, for logs and tests.
    pub fn classifier(&self) -> &crate::observe::classify::Classifier {
        self.ingest.classifier()
    }
}
