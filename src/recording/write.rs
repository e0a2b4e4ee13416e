//! Writing a recording as the run goes (`oomsday run --record FILE`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::{LeakerLine, ModelLine, RecordError, RunLine, RunNote, WatchLine, WatchType};
use crate::observe::Time;

/// Appends lines to a recording file. Shared by the watches, the leaker scraper and the run's
/// progress (behind an `Arc`); a failed write is logged once and ends the recording, never the
/// run.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    out: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
}

impl Recorder {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Recorder, RecordError> {
        let file = std::fs::File::create(path).map_err(|source| RecordError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            out: Mutex::new(Some(std::io::BufWriter::new(file))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line(&self, value: &impl Serialize) {
        let mut guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let Some(out) = guard.as_mut() else { return };
        let res = serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = res {
            tracing::warn!(path = %self.path.display(), error = %e, "recording stopped: cannot write");
            *guard = None;
        }
    }

    /// A watch event, as received (its `managedFields` are dropped, but a workload's: [`super::keeps_managed_fields`]). `stream` names the watch
    /// when the resource has several (else it is the resource).
    pub fn watch(
        &self,
        received: Time,
        stream: &str,
        resource: &str,
        kind: WatchType,
        object: serde_json::Value,
    ) {
        let mut object = object;
        if !super::keeps_managed_fields(resource)
            && let Some(m) = object.get_mut("metadata").and_then(|m| m.as_object_mut())
        {
            m.remove("managedFields");
        }
        self.line(&WatchLine {
            received,
            resource: resource.to_string(),
            kind,
            object,
            watch: (stream != resource).then(|| stream.to_string()),
        });
    }

    /// A failed attempt of a watch: a replay sees the gap the run saw.
    pub fn watch_failed(&self, received: Time, stream: &str, resource: &str, message: &str) {
        self.watch(
            received,
            stream,
            resource,
            WatchType::Error,
            serde_json::json!({"message": message}),
        );
    }

    /// The end of a watch's initial list.
    pub fn initial_list_end(&self, received: Time, stream: &str, resource: &str) {
        self.watch(
            received,
            stream,
            resource,
            WatchType::Bookmark,
            serde_json::json!({"metadata": {"annotations": {super::INITIAL_EVENTS_END: "true"}}}),
        );
    }

    /// A read of a leaker's `/metrics`.
    pub fn leaker(&self, received: Time, namespace: &str, pod: &str, metrics: &str) {
        self.line(&LeakerLine {
            received,
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            metrics: metrics.to_string(),
        });
    }

    /// The model of the cluster the run was predicted on, taken at `received`: what
    /// `oomsday calibrate` simulates the run on again.
    pub fn model(&self, received: Time, model: &crate::sim::ClusterModel) {
        self.line(&ModelLine {
            received,
            model: model.clone(),
        });
    }

    /// One of the run's own notes.
    pub fn run(&self, received: Time, run: RunNote) {
        self.line(&RunLine { received, run });
    }

    /// The run's phase changes in a progress report from the engine.
    pub fn progress(&self, p: &crate::engine::Progress<'_>) {
        for o in p.new {
            if let crate::observe::Happening::RunPhase { phase, detail } = &o.happening {
                self.run(
                    o.at,
                    RunNote {
                        run_id: p.run_id.to_string(),
                        phase: Some(*phase),
                        detail: detail.clone(),
                        reason: p.reason,
                        experiment: None,
                        defences: None,
                    },
                );
            }
        }
        if p.phase.is_finished() {
            self.flush();
        }
    }

    /// Writes out what is buffered (at the end of a run; lines are flushed on drop too).
    pub fn flush(&self) {
        let mut guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = guard.as_mut()
            && let Err(e) = out.flush()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "recording stopped: cannot write");
            *guard = None;
        }
    }
}
