//! Watches: from a resourceVersion (the history after it, or 410 if compacted away) or with the
//! current state (`sendInitialEvents` and its closing bookmark included), bookmarks when asked,
//! selector transitions sent as ADDED and DELETED, bytes counted as they leave.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use http::{Response, StatusCode, header};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::handle::Filter;
use super::{ApiServer, Seen};
use crate::store::{Change, Gvr};

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

pub(super) fn watch(
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
