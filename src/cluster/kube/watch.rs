//! The observer: one watch per kind (pods, nodes and Events cluster-wide; budgets and the
//! workload in the target's namespace), merged into one channel and fed through the pure
//! [`Ingest`]. Each watch stamps what it delivers with the moment it arrived, so a burst that
//! waits in the channel keeps its real times (the rollout's dip in availability is measured
//! as it happened). Watches resume by themselves (`default_backoff`); objects are stripped of
//! what the classifier never reads before they cross the channel, and written as received to
//! a [`Recorder`] when the run is recorded.

use std::collections::VecDeque;
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

use crate::observe::classify::{Kind, Object, TargetRef, relevant_reason};
use crate::observe::{Delivery, Event, Ingest, Observation, Time};
use crate::record::{Recorder, WatchType, leaker_bytes};
use crate::spec::TargetKind;

/// Messages handled per batch, so a huge re-list does not hold the engine back.
const BATCH: usize = 4096;
/// How often the leakers' own bytes are read, by default: the leaker's own report interval.
pub const DEFAULT_SCRAPE: Duration = oomsday_core::leaker_config::DEFAULT_REPORT_INTERVAL.std();

#[derive(Debug)]
struct Msg {
    stream: &'static str,
    received: Time,
    delivery: Delivery,
}

/// The running watches and the index they feed.
#[derive(Debug)]
pub struct Observer {
    rx: mpsc::Receiver<Msg>,
    tasks: Vec<JoinHandle<()>>,
    ingest: Ingest,
    pending: VecDeque<Observation>,
    closed: bool,
    scrape: Option<Scrape>,
    recorder: Option<Arc<Recorder>>,
}

/// Reading the leakers' own bytes through the API server's pod proxy (needs `get pods/proxy`;
/// optional: the leak is observed without it, only the bytes are missing).
struct Scrape {
    client: Client,
    namespace: String,
    every: Duration,
    next: tokio::time::Instant,
    // Weak, so that the channel still closes when every watch has ended.
    tx: mpsc::WeakSender<Msg>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube's Client has no Debug.
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
    tx: mpsc::Sender<Msg>,
    stream: &'static str,
    kind: Kind,
    api: Api<K>,
    config: watcher::Config,
    wrap: fn(K) -> Option<Object>,
    recorder: Option<Arc<Recorder>>,
}

impl<K> Watch<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let Watch {
                tx,
                stream,
                kind,
                api,
                config,
                wrap,
                recorder,
            } = self;
            let events = watcher(api, config)
                .modify(|o: &mut K| o.managed_fields_mut().clear())
                .default_backoff();
            futures::pin_mut!(events);
            while let Some(ev) = events.next().await {
                // The I/O edge: the moment it arrived is the time of what it says.
                let received = Time::now();
                let record = |kind: WatchType, o: &K| {
                    if let (Some(r), Ok(v)) = (&recorder, serde_json::to_value(o)) {
                        r.watch(received, stream, kind, v);
                    }
                };
                let object = |o: K| {
                    wrap(o).map(|mut obj| {
                        obj.strip();
                        Box::new(obj)
                    })
                };
                let delivery = match ev {
                    Ok(watcher::Event::Init) => Delivery::ListStarted(kind),
                    Ok(watcher::Event::InitDone) => {
                        if let Some(r) = &recorder {
                            r.initial_list_end(received, stream);
                        }
                        Delivery::ListDone(kind)
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        record(WatchType::Added, &o);
                        match object(o) {
                            Some(obj) => Delivery::Apply(obj),
                            None => continue,
                        }
                    }
                    Ok(watcher::Event::Apply(o)) => {
                        record(WatchType::Modified, &o);
                        match object(o) {
                            Some(obj) => Delivery::Apply(obj),
                            None => continue,
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        record(WatchType::Deleted, &o);
                        match object(o) {
                            Some(obj) => Delivery::Delete(obj),
                            None => continue,
                        }
                    }
                    Err(e) => Delivery::Failed(e.to_string()),
                };
                let msg = Msg {
                    stream,
                    received,
                    delivery,
                };
                if tx.send(msg).await.is_err() {
                    break; // the observer is gone
                }
            }
        })
    }
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
        let weak = tx.downgrade();
        let ns = target.namespace.clone();
        let by_name = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
        let all = watcher::Config::default;
        let rec = || recorder.clone();
        let mut tasks = vec![
            Watch {
                tx: tx.clone(),
                stream: "pods",
                kind: Kind::Pod,
                api: Api::<Pod>::all(client.clone()),
                config: all(),
                wrap: |p| Some(Object::Pod(p)),
                recorder: rec(),
            }
            .spawn(),
            Watch {
                tx: tx.clone(),
                stream: "nodes",
                kind: Kind::Node,
                api: Api::<Node>::all(client.clone()),
                config: all(),
                wrap: |n| Some(Object::Node(n)),
                recorder: rec(),
            }
            .spawn(),
            Watch {
                tx: tx.clone(),
                stream: "events",
                kind: Kind::Event,
                api: Api::<CoreEvent>::all(client.clone()),
                config: all(),
                wrap: |e| {
                    e.reason
                        .as_deref()
                        .is_some_and(relevant_reason)
                        .then_some(Object::Event(e))
                },
                recorder: rec(),
            }
            .spawn(),
            Watch {
                tx: tx.clone(),
                stream: "poddisruptionbudgets",
                kind: Kind::Budget,
                api: Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns),
                config: all(),
                wrap: |b| Some(Object::Budget(b)),
                recorder: rec(),
            }
            .spawn(),
        ];
        tasks.push(match target.kind {
            TargetKind::Deployment => Watch {
                tx,
                stream: "deployments",
                kind: Kind::Workload,
                api: Api::<Deployment>::namespaced(client.clone(), &ns),
                config: by_name,
                wrap: |d| Some(Object::Deployment(d)),
                recorder: rec(),
            }
            .spawn(),
            TargetKind::StatefulSet => Watch {
                tx,
                stream: "statefulsets",
                kind: Kind::Workload,
                api: Api::<StatefulSet>::namespaced(client.clone(), &ns),
                config: by_name,
                wrap: |s| Some(Object::StatefulSet(s)),
                recorder: rec(),
            }
            .spawn(),
        });
        let namespace = target.namespace.clone();
        Observer {
            rx,
            tasks,
            ingest: Ingest::new(target, since),
            pending: VecDeque::new(),
            closed: false,
            scrape: Some(Scrape {
                client,
                namespace,
                every: DEFAULT_SCRAPE,
                next: tokio::time::Instant::now(),
                tx: weak,
            }),
            recorder,
        }
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
        let Some(tx) = s.tx.upgrade() else { return };
        let pods = self.ingest.classifier().leaker_pods();
        for pod in pods.into_iter().take(SCRAPE_PODS) {
            let (client, tx, ns) = (s.client.clone(), tx.clone(), s.namespace.clone());
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
                                stream: "leaker-metrics",
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
        let obs = self.ingest.take(msg.stream, msg.received, msg.delivery);
        self.pending.extend(obs);
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
                        Event::ObservationFailed {
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
