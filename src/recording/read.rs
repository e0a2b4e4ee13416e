//! Reading a recording: one oomsday file, or a folder recorded beside a run.

use std::path::Path;

use serde_json::Value;

use super::{
    Entry, INITIAL_EVENTS_END, LeakerLine, ModelLine, RecordError, RecordedExperiment, Recording,
    RunLine, WatchLine, WatchType,
};
use crate::observe::Time;

/// Reads the recording at `path`: a file of JSON lines (`oomsday run --record`), or a folder
/// recorded beside a run (`watch.jsonl`, `leaker-metrics.jsonl`, `run-meta.json`,
/// `recorder-meta.json` and the experiment file `run-meta.json` names).
pub fn read(path: &Path) -> Result<Recording, RecordError> {
    let text = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| RecordError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    if !path.is_dir() {
        return read_str(&path.display().to_string(), &text(path)?);
    }
    let source = path.display().to_string();
    let watch = path.join("watch.jsonl");
    let mut rec = read_str(&watch.display().to_string(), &text(&watch)?)?;
    rec.source = source.clone();
    let metrics = path.join("leaker-metrics.jsonl");
    if metrics.exists() {
        let more = read_str(&metrics.display().to_string(), &text(&metrics)?)?;
        rec.entries.extend(more.entries);
    }
    let meta = path.join("recorder-meta.json");
    if meta.exists() {
        let v = json(&meta.display().to_string(), &text(&meta)?)?;
        rec.entries.extend(initial_list_ends(&v));
    }
    let run_meta = path.join("run-meta.json");
    if run_meta.exists() {
        let name = run_meta.display().to_string();
        let v = json(&name, &text(&run_meta)?)?;
        rec.run_started = v
            .get("oomsdayRunStarted")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Time>().ok());
        if let Some(file) = v.get("experimentFile").and_then(Value::as_str) {
            rec.experiment = Some(experiment(&path.join(file))?);
        }
    }
    // Seven watches and a scraper wrote concurrently: order by arrival.
    rec.entries.sort_by_key(Entry::received);
    Ok(rec)
}

fn json(path: &str, text: &str) -> Result<Value, RecordError> {
    serde_json::from_str(text).map_err(|e| RecordError::Parse {
        path: path.to_string(),
        line: e.line(),
        message: e.to_string(),
    })
}

/// The BOOKMARKs that ended each watch's initial list, from the recorder's meta file.
fn initial_list_ends(meta: &Value) -> Vec<Entry> {
    let Some(watches) = meta.get("watches").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (resource, w) in watches {
        let ends = w
            .get("bookmarkLog")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| {
                b.pointer(&format!(
                    "/annotations/{}",
                    INITIAL_EVENTS_END.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                    == Some("true")
            })
            .filter_map(|b| b.get("at").and_then(Value::as_str)?.parse::<Time>().ok());
        for at in ends {
            out.push(Entry::Watch(WatchLine {
                received: at,
                resource: resource.clone(),
                kind: WatchType::Bookmark,
                object: serde_json::json!({
                    "metadata": {"annotations": {INITIAL_EVENTS_END: "true"}}
                }),
                watch: None,
            }));
        }
    }
    out
}

/// The experiment a folder recording ran (a LeakExperiment YAML file).
fn experiment(path: &Path) -> Result<RecordedExperiment, RecordError> {
    let invalid = |message: String| RecordError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let (mut found, _) = crate::spec::load_experiments(path).map_err(|d| {
        invalid(
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    if found.len() != 1 {
        return Err(invalid(format!(
            "holds {} experiments, not one",
            found.len()
        )));
    }
    let e = found.remove(0).experiment;
    Ok(RecordedExperiment {
        name: e.metadata.name.clone().unwrap_or_default(),
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        spec: e.spec,
    })
}

/// Reads JSON lines (`source` names them in errors): watch events, leaker samples and oomsday's
/// run lines, in any mix.
pub fn read_str(source: &str, text: &str) -> Result<Recording, RecordError> {
    let mut rec = Recording {
        source: source.to_string(),
        lines: text.lines().count(),
        ..Recording::default()
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parse = |message: String| RecordError::Parse {
            path: source.to_string(),
            line: i + 1,
            message,
        };
        let v: Value = serde_json::from_str(line).map_err(|e| parse(e.to_string()))?;
        if v.get("model").is_some() {
            let m = serde_json::from_value::<ModelLine>(v)
                .map_err(|e| parse(format!("the model line: {e}")))?;
            m.model
                .check()
                .map_err(|e| parse(format!("the model line: {e}")))?;
            // The first is the one taken just before the run.
            rec.model.get_or_insert(m);
            continue;
        }
        let entry = if v.get("run").is_some() {
            Entry::Run(Box::new(
                serde_json::from_value::<RunLine>(v).map_err(|e| parse(e.to_string()))?,
            ))
        } else if v.get("metrics").is_some() {
            Entry::Leaker(
                serde_json::from_value::<LeakerLine>(v).map_err(|e| parse(e.to_string()))?,
            )
        } else if v.get("resource").is_some() {
            Entry::Watch(serde_json::from_value::<WatchLine>(v).map_err(|e| parse(e.to_string()))?)
        } else {
            return Err(parse(
                "neither a watch event (resource), a leaker sample (metrics), a run line (run) \
                 nor a model (model)"
                    .into(),
            ));
        };
        if let Entry::Run(r) = &entry {
            rec.run_started.get_or_insert(r.received);
            if let Some(e) = &r.run.experiment {
                rec.experiment.get_or_insert_with(|| e.clone());
            }
        }
        rec.entries.push(entry);
    }
    rec.entries.sort_by_key(Entry::received);
    Ok(rec)
}
