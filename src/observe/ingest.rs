//! What the watches deliver, in the order and at the time it arrived, turned into observations.
//!
//! The one path from "a watch delivered this object at this instant" to observations, shared
//! by the live observer (`cluster::kube`) and the replay of a recording (`cluster::replay`):
//! the same objects at the same received times give the same observations. Pure: the caller
//! says when each delivery was received.

use std::collections::{BTreeMap, HashSet};

use super::classify::{Classifier, Object, ObjectKind, TargetRef};
use super::{Happening, Observation, Time};

/// One thing a watch (or the leaker scraper) delivered.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A (re-)list of `kind` begins.
    ListStarted(ObjectKind),
    /// The (re-)list of `kind` is complete.
    ListDone(ObjectKind),
    Apply(Box<Object>),
    Delete(Box<Object>),
    /// What a leaker said it holds (`oomsday_leaker_allocated_bytes` from its `/metrics`).
    LeakerBytes {
        pod: String,
        bytes: u64,
    },
    /// The watch failed; it retries by itself.
    Failed(String),
}

/// The classifier, fed deliveries with their received time.
#[derive(Debug)]
pub struct Ingest {
    classifier: Classifier,
    /// Watches failing now, with their last error: while any is, the run has a gap in what it
    /// sees (an API server restarting, a dropped connection). Judged by time, in the engine,
    /// never by the count of attempts.
    failing: BTreeMap<String, String>,
    /// Streams whose first list is complete: what they deliver after it are changes; before
    /// it, the state the run began in.
    listed: HashSet<String>,
}

impl Ingest {
    /// For `target`; facts before `since` (the run's start) are history.
    pub fn new(target: TargetRef, since: Time) -> Self {
        Ingest {
            classifier: Classifier::new(target, since),
            failing: BTreeMap::new(),
            listed: HashSet::new(),
        }
    }

    /// What `delivery`, received at `received` from `stream` (one watch: its resource and
    /// selector), adds.
    pub fn take(&mut self, stream: &str, received: Time, delivery: Delivery) -> Vec<Observation> {
        let mut out = Vec::new();
        // A failed watch that delivers again proves the API server answers: the gap closes
        // (a quiet watch that reconnected may never deliver; one still failing opens a new gap).
        if !matches!(delivery, Delivery::Failed(_)) && self.failing.remove(stream).is_some() {
            self.failing.clear();
            // What happened meanwhile arrives now, each fact with its own time.
            out.push(Observation::new(
                received,
                Happening::ObservationGap {
                    open: false,
                    detail: format!("watching {stream} again"),
                },
            ));
        }
        let first_list = !self.listed.contains(stream);
        self.classifier.from_stream(stream, first_list);
        if matches!(delivery, Delivery::ListDone(_)) {
            self.listed.insert(stream.to_string());
        }
        out.extend(match delivery {
            Delivery::ListStarted(kind) => {
                self.classifier.relist_started(kind);
                Vec::new()
            }
            Delivery::ListDone(kind) => self.classifier.relist_done(kind, received),
            Delivery::Apply(obj) => self.classifier.apply(&obj, received),
            Delivery::Delete(obj) => self.classifier.delete(&obj, received),
            Delivery::LeakerBytes { pod, bytes } => vec![Observation::new(
                received,
                Happening::LeakerBytes { pod, bytes },
            )],
            Delivery::Failed(error) => {
                tracing::warn!(stream, %error, "watch failed; retrying");
                let opens = self.failing.is_empty();
                self.failing.insert(stream.to_string(), error.clone());
                if opens {
                    vec![Observation::new(
                        received,
                        Happening::ObservationGap {
                            open: true,
                            detail: format!("watching {stream} failed: {error}"),
                        },
                    )]
                } else {
                    Vec::new()
                }
            }
        });
        self.classifier.tick(received, &mut out);
        out
    }

    /// Time passed without a delivery: what is due by now (Evicted Events whose pod never told
    /// what they were).
    pub fn tick(&mut self, now: Time) -> Vec<Observation> {
        let mut out = Vec::new();
        self.classifier.tick(now, &mut out);
        out
    }

    /// Whether the first list of `stream` is in.
    pub fn listed(&self, stream: &str) -> bool {
        self.listed.contains(stream)
    }

    /// The index, for the scraper (which pods run a leaker) and for logs.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

#[cfg(test)]
mod tests;
