//! The observer: one watch per kind (pods, nodes and Events cluster-wide; budgets and the
//! workload in the target's namespace), merged into one channel, fed through the pure
//! [`Classifier`]. Watches resume by themselves (`default_backoff`); objects are stripped of what
//! the classifier never reads before they cross the channel.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::observe::classify::{Classifier, Kind, Object, TargetRef, relevant_reason};
use crate::observe::{Event, Observation, Time};
use crate::spec::TargetKind;

/// Consecutive errors after which a watch is reported as failing (the run is then not to be
/// trusted); the watch keeps retrying regardless.
const FAILURES_BEFORE_REPORT: u32 = 5;
/// Messages handled per batch, so a huge re-list does not hold the engine back.
const BATCH: usize = 4096;
/// How often the leakers' own bytes are read, by default.
pub const DEFAULT_SCRAPE: Duration = Duration::from_secs(15);

#[derive(Debug)]
enum Body {
    /// What a leaker said it holds, read from its `/metrics` at `at`.
    Bytes {
        pod: String,
        bytes: u64,
        at: Time,
    },
    Started(Kind),
    Apply(Box<Object>),
    Delete(Box<Object>),
    Done(Kind),
    Failed(String),
}

#[derive(Debug)]
struct Msg {
    stream: &'static str,
    body: Body,
}

/// The running watches and the index they feed.
#[derive(Debug)]
pub struct Observer {
    rx: mpsc::Receiver<Msg>,
    tasks: Vec<JoinHandle<()>>,
    classifier: Classifier,
    pending: VecDeque<Observation>,
    failures: HashMap<&'static str, u32>,
    closed: bool,
    scrape: Option<Scrape>,
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

/// What the leaker holds, from its Prometheus text (`oomsday_leaker_allocated_bytes`).
pub fn leaker_bytes(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("oomsday_leaker_allocated_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v as u64)
}

impl Drop for Observer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn_watch<K>(
    tx: mpsc::Sender<Msg>,
    stream: &'static str,
    kind: Kind,
    api: Api<K>,
    config: watcher::Config,
    wrap: fn(K) -> Option<Object>,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    tokio::spawn(async move {
        let events = watcher(api, config)
            .modify(|o: &mut K| o.managed_fields_mut().clear())
            .default_backoff();
        futures::pin_mut!(events);
        while let Some(ev) = events.next().await {
            let object = |o: K| {
                wrap(o).map(|mut obj| {
                    obj.strip();
                    Box::new(obj)
                })
            };
            let body = match ev {
                Ok(watcher::Event::Init) => Body::Started(kind),
                Ok(watcher::Event::InitDone) => Body::Done(kind),
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => match object(o) {
                    Some(obj) => Body::Apply(obj),
                    None => continue,
                },
                Ok(watcher::Event::Delete(o)) => match object(o) {
                    Some(obj) => Body::Delete(obj),
                    None => continue,
                },
                Err(e) => Body::Failed(e.to_string()),
            };
            if tx.send(Msg { stream, body }).await.is_err() {
                break; // the observer is gone
            }
        }
    })
}

impl Observer {
    /// Starts the watches for `target`; facts before `since` are history.
    pub fn start(client: Client, target: TargetRef, since: Time) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let weak = tx.downgrade();
        let scrape_client = client.clone();
        let ns = target.namespace.clone();
        let by_name = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
        let mut tasks = vec![
            spawn_watch(
                tx.clone(),
                "pods",
                Kind::Pod,
                Api::<Pod>::all(client.clone()),
                watcher::Config::default(),
                |p| Some(Object::Pod(p)),
            ),
            spawn_watch(
                tx.clone(),
                "nodes",
                Kind::Node,
                Api::<Node>::all(client.clone()),
                watcher::Config::default(),
                |n| Some(Object::Node(n)),
            ),
            spawn_watch(
                tx.clone(),
                "events",
                Kind::Event,
                Api::<CoreEvent>::all(client.clone()),
                watcher::Config::default(),
                |e| {
                    e.reason
                        .as_deref()
                        .is_some_and(relevant_reason)
                        .then_some(Object::Event(e))
                },
            ),
            spawn_watch(
                tx.clone(),
                "poddisruptionbudgets",
                Kind::Budget,
                Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns),
                watcher::Config::default(),
                |b| Some(Object::Budget(b)),
            ),
        ];
        tasks.push(match target.kind {
            TargetKind::Deployment => spawn_watch(
                tx,
                "workload",
                Kind::Workload,
                Api::<Deployment>::namespaced(client, &ns),
                by_name,
                |d| Some(Object::Deployment(d)),
            ),
            TargetKind::StatefulSet => spawn_watch(
                tx,
                "workload",
                Kind::Workload,
                Api::<StatefulSet>::namespaced(client, &ns),
                by_name,
                |s| Some(Object::StatefulSet(s)),
            ),
        });
        let namespace = target.namespace.clone();
        let mut observer = Observer {
            rx,
            tasks,
            classifier: Classifier::new(target, since),
            pending: VecDeque::new(),
            failures: HashMap::new(),
            closed: false,
            scrape: None,
        };
        observer.scrape = Some(Scrape {
            client: scrape_client,
            namespace,
            every: DEFAULT_SCRAPE,
            next: tokio::time::Instant::now(),
            tx: weak,
        });
        observer
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
    fn maybe_scrape(&mut self, now: Time) {
        let Some(s) = self.scrape.as_mut() else {
            return;
        };
        let instant = tokio::time::Instant::now();
        if instant < s.next {
            return;
        }
        s.next = instant + s.every;
        let Some(tx) = s.tx.upgrade() else { return };
        for pod in self.classifier.leaker_pods().into_iter().take(SCRAPE_PODS) {
            let (client, tx, ns) = (s.client.clone(), tx.clone(), s.namespace.clone());
            let timeout = s.every.min(Duration::from_secs(5));
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
                        if let Some(bytes) = leaker_bytes(&text) {
                            let body = Body::Bytes {
                                pod,
                                bytes,
                                at: now,
                            };
                            let _ = tx
                                .send(Msg {
                                    stream: "leaker-metrics",
                                    body,
                                })
                                .await;
                        }
                    }
                    // Unreachable leakers are normal (no RBAC for the proxy, a restarting pod).
                    Ok(Err(e)) => tracing::debug!(%pod, error = %e, "leaker metrics unreachable"),
                    Err(_) => tracing::debug!(%pod, "leaker metrics timed out"),
                }
            }));
        }
    }

    fn handle(&mut self, msg: Msg, now: Time) {
        if !matches!(msg.body, Body::Failed(_)) {
            self.failures.remove(msg.stream);
        }
        match msg.body {
            Body::Bytes { pod, bytes, at } => self
                .pending
                .push_back(Observation::new(at, Event::LeakerBytes { pod, bytes })),
            Body::Started(kind) => self.classifier.relist_started(kind),
            Body::Done(kind) => self.classifier.relist_done(kind),
            Body::Apply(obj) => self.pending.extend(self.classifier.apply(&obj, now)),
            Body::Delete(obj) => self.classifier.delete(&obj),
            Body::Failed(error) => {
                let n = self.failures.entry(msg.stream).or_insert(0);
                *n += 1;
                tracing::warn!(stream = msg.stream, attempt = *n, %error, "watch failed; retrying");
                if *n == FAILURES_BEFORE_REPORT {
                    self.pending.push_back(Observation::new(
                        now,
                        Event::ObservationFailed {
                            detail: format!("watching {} failed: {error}", msg.stream),
                        },
                    ));
                }
            }
        }
    }

    /// Observations as soon as there are some, or none when `until` passes. Cancel-safe: a
    /// message is handled synchronously once received, and its observations wait in `pending`.
    pub async fn next_batch(&mut self, until: Time, now: impl Fn() -> Time) -> Vec<Observation> {
        loop {
            if !self.pending.is_empty() {
                return self.pending.drain(..).collect();
            }
            if now() >= until {
                return Vec::new();
            }
            self.maybe_scrape(now());
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
            self.handle(msg, now());
            for _ in 0..BATCH {
                match self.rx.try_recv() {
                    Ok(msg) => self.handle(msg, now()),
                    Err(_) => break,
                }
            }
        }
    }

    /// The index, for logs and tests.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaker_bytes_from_its_metrics() {
        let text = "# HELP oomsday_leaker_target_bytes What the curve asks for now.\n\
                    # TYPE oomsday_leaker_target_bytes gauge\n\
                    oomsday_leaker_target_bytes 3145728\n\
                    oomsday_leaker_allocated_bytes 2097152\n\
                    oomsday_leaker_rss_bytes 2500000\n";
        assert_eq!(leaker_bytes(text), Some(2_097_152));
        assert_eq!(leaker_bytes("oomsday_leaker_allocated_bytes NaN\n"), None);
        assert_eq!(leaker_bytes("404 not found"), None);
    }
}
