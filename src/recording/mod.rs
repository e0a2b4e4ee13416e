//! Recordings of runs: every watch event as it was received, the leakers' own metrics, and the
//! run's own milestones, as JSON lines.
//!
//! The format is the one of the recordings made beside real runs (`tests/fixtures/real-runs`):
//! a watch event is `{"received", "resource", "type", "object"}` (`managedFields` stripped), a
//! leaker sample `{"received", "namespace", "pod", "metrics"}` (the leaker's Prometheus text).
//! oomsday adds its own lines, `{"received", "run": {...}}`: the experiment, the defences it
//! read in preflight, and each phase it entered. A recording made by `oomsday run --record` is
//! one file holding all three; with `--predict` (or `spec.predict` in the controller) it also
//! holds the model the prediction was made on, `{"received", "model": {...}}` (a
//! `ClusterModel`), which `oomsday calibrate` simulates again. One made beside a run is a folder (`watch.jsonl`,
//! `leaker-metrics.jsonl`, `run-meta.json`, `recorder-meta.json`). [`read`] takes either, so
//! both are replayed by the same code.
//!
//! Pure apart from [`read`] and [`Recorder`], which do the file I/O.

mod read;
mod write;

pub use read::{read, read_str};
pub use write::Recorder;

use serde::{Deserialize, Serialize};

use crate::defences::Defences;
use crate::observe::Time;
use crate::observe::classify::{Object, ObjectKind};
use crate::spec::{LeakExperimentSpec, Phase};

/// Whether objects of `resource` keep their `managedFields` when watched and recorded: only
/// the target workload's, whose entries name who last wrote its spec (someone who removed the
/// leaker mid-run); every other object drops them, as the independent recorder does.
pub fn keeps_managed_fields(resource: &str) -> bool {
    matches!(resource, "deployments" | "statefulsets")
}

/// The annotation of the BOOKMARK that ends a watch's initial list (the API's own marker).
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// What went wrong reading a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WatchType {
    Added,
    Modified,
    Deleted,
    /// The end of a watch's initial list (annotation [`INITIAL_EVENTS_END`]).
    Bookmark,
    /// The watch failed (its object is `{"message": ...}`); it retries by itself. Kept so that
    /// a replay sees the same gaps the live run saw.
    Error,
}

impl WatchType {
    /// Whether the line's object is a Kubernetes object (not a bookmark or a failure), as it
    /// was when received; a deletion carries the object's last state.
    pub fn carries_object(self) -> bool {
        !matches!(self, WatchType::Bookmark | WatchType::Error)
    }
}

/// One watch event as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchLine {
    pub received: Time,
    /// The watched resource: `pods`, `nodes`, `events`, `events.events.k8s.io`,
    /// `poddisruptionbudgets`, `deployments`, `statefulsets`, `replicasets`.
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: WatchType,
    pub object: serde_json::Value,
    /// Which watch of the resource, when oomsday ran several (`pods spec.nodeName=node-3`);
    /// absent for one watch per resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<String>,
}

impl WatchLine {
    /// The watch that delivered it: its own name, else its resource's.
    pub fn stream(&self) -> &str {
        self.watch.as_deref().unwrap_or(&self.resource)
    }
}

/// One read of a leaker's `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakerLine {
    pub received: Time,
    pub namespace: String,
    pub pod: String,
    /// Its Prometheus text.
    pub metrics: String,
}

/// The experiment a recording ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedExperiment {
    pub name: String,
    pub namespace: String,
    pub spec: LeakExperimentSpec,
}

impl From<RecordedExperiment> for crate::engine::ExperimentRef {
    fn from(e: RecordedExperiment) -> Self {
        crate::engine::ExperimentRef {
            name: e.name,
            namespace: e.namespace,
            spec: e.spec,
        }
    }
}

/// oomsday's own note in a recording: the experiment and defences (once, after preflight), and
/// each phase the run entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunNote {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Why the leak ended, on the notes from the revert on (recordings since the reason was
    /// kept; older ones have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::spec::RunReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<RecordedExperiment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defences: Option<Box<Defences>>,
}

/// One of oomsday's own lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLine {
    pub received: Time,
    pub run: RunNote,
}

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Watch(WatchLine),
    Leaker(LeakerLine),
    Run(Box<RunLine>),
}

impl Entry {
    pub fn received(&self) -> Time {
        match self {
            Entry::Watch(w) => w.received,
            Entry::Leaker(l) => l.received,
            Entry::Run(r) => r.received,
        }
    }
}

/// A recording read back: its lines in the order they were received, and what it says about
/// the run it recorded.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Where it was read from, for messages.
    pub source: String,
    /// Every line, sorted by `received` (stable: lines received at the same instant keep their
    /// order in the file).
    pub entries: Vec<Entry>,
    /// When the recorded run started (`oomsdayRunStarted`, or its first run line).
    pub run_started: Option<Time>,
    /// The experiment the run ran, when the recording says.
    pub experiment: Option<RecordedExperiment>,
    /// The model of the cluster taken just before the run, when it was predicted (recordings
    /// made without `--predict`, and older ones, have none). Not among `entries`: it is no
    /// observation, and a replay has nothing to deliver of it.
    pub model: Option<ModelLine>,
    /// How many lines the file (a folder's `watch.jsonl`) has, for messages about its end.
    pub lines: usize,
}

/// The model of the cluster a run was predicted on, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLine {
    /// When the model was taken (the snapshot's time when it has one).
    pub received: Time,
    pub model: crate::sim::ClusterModel,
}

impl Recording {
    /// The defences oomsday read in preflight, when it recorded them.
    pub fn defences(&self) -> Option<&Defences> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::Run(r) => r.run.defences.as_deref(),
            _ => None,
        })
    }

    /// When the recorded run entered `phase`, by its own lines.
    pub fn phase_at(&self, phase: Phase) -> Option<Time> {
        self.phase_note(phase).map(|r| r.received)
    }

    /// Whether oomsday's own lines stop before the run finished: a `run --record` file whose
    /// writing was cut off (a recording beside a run has no such lines, and is never said to).
    pub fn ends_unfinished(&self) -> bool {
        let phases: Vec<Phase> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Run(r) => r.run.phase,
                _ => None,
            })
            .collect();
        !phases.is_empty() && !phases.iter().any(|p| p.is_finished())
    }

    /// The recorded run's own line for entering `phase`.
    pub fn phase_note(&self, phase: Phase) -> Option<&RunLine> {
        self.entries.iter().find_map(|e| match e {
            Entry::Run(r) if r.run.phase == Some(phase) => Some(&**r),
            _ => None,
        })
    }
}

/// A watched resource as recordings name it, and the kind of object it holds.
pub fn resource_of(obj: &Object) -> &'static str {
    match obj {
        Object::Pod(_) => "pods",
        Object::Node(_) => "nodes",
        Object::Event(_) => "events",
        Object::EventV1(_) => "events.events.k8s.io",
        Object::Budget(_) => "poddisruptionbudgets",
        Object::Deployment(_) => "deployments",
        Object::StatefulSet(_) => "statefulsets",
    }
}

/// The object of a watch line, typed, when the classifier reads its resource (`None` for
/// resources it does not: replicasets, and `events.events.k8s.io`, which repeats the core
/// Events oomsday watches).
pub fn object_of(w: &WatchLine) -> Option<Result<Object, serde_json::Error>> {
    fn typed<T: serde::de::DeserializeOwned>(
        v: &serde_json::Value,
        wrap: fn(T) -> Object,
    ) -> Option<Result<Object, serde_json::Error>> {
        Some(T::deserialize(v).map(wrap))
    }
    if !w.kind.carries_object() {
        return None;
    }
    let v = &w.object;
    match w.resource.as_str() {
        "pods" => typed(v, Object::Pod),
        "nodes" => typed(v, Object::Node),
        "events" => typed(v, Object::Event),
        "poddisruptionbudgets" => typed(v, Object::Budget),
        "deployments" => typed(v, Object::Deployment),
        "statefulsets" => typed(v, Object::StatefulSet),
        _ => None,
    }
}

/// The classifier's kind for a watched resource it reads.
pub fn kind_of(resource: &str) -> Option<ObjectKind> {
    Some(match resource {
        "pods" => ObjectKind::Pod,
        "nodes" => ObjectKind::Node,
        "events" => ObjectKind::Event,
        "poddisruptionbudgets" => ObjectKind::Budget,
        "deployments" | "statefulsets" => ObjectKind::Workload,
        _ => return None,
    })
}

/// What a leaker says it holds, from its Prometheus text (`oomsday_leaker_allocated_bytes`).
pub fn leaker_bytes(metrics: &str) -> Option<u64> {
    crate::metrics_text::samples(metrics, "oomsday_leaker_allocated_bytes")
        .map(|(_, v)| v)
        .next()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests;
