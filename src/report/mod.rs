//! Reports of a run: the versioned JSON record (machine-readable, what `oomsday report` reads
//! back), a Markdown summary, JUnit XML (one testcase per hypothesis clause, for CI systems), and
//! a self-contained HTML page with SVG charts drawn from the timeline. A suite of runs gets one
//! summary across them.
//!
//! Every rendering of a simulated run says "simulated" prominently: a model is not a measurement.

pub mod calibration;
mod html;
mod junit;
mod markdown;
mod prediction;
mod suite;
mod svg;
mod text;

pub use suite::suite_summary;
pub use text::{recommendations, story, story_folded};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::RunRecord;
use crate::predict::{Comparison, ContainerMemory, Measures, Prediction};
use crate::score::{self, Analysis, Score};
use crate::{Error, Result};

/// The version of the JSON report's schema. Bumped on any change that breaks readers.
///
/// 2: the prediction moved out of the record, beside it (`prediction`), and the comparison
/// that was `prediction` is `comparison`. Version 1 is still read.
pub const SCHEMA_VERSION: u32 = 2;

/// A run and its score: what every format renders.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub record: RunRecord,
    pub score: Score,
    /// The experiment simulated on a snapshot of the cluster just before it ran (`run
    /// --predict`, `spec.predict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// That prediction against what happened, measure by measure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The target's containers' working sets from the model a simulated run ran on (a
    /// prediction brings its own): see [`Report::target_memory`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_memory: Vec<ContainerMemory>,
    /// What the scorer made of the record, made once: every rendering reads it from here.
    #[serde(skip)]
    pub analysis: Analysis,
}

/// A JSON report as stored: the report without what is derived again on reading.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    record: RunRecord,
    score: Score,
    #[serde(default)]
    prediction: Option<Prediction>,
    #[serde(default)]
    comparison: Option<Comparison>,
    #[serde(default)]
    model_memory: Vec<ContainerMemory>,
}

impl Report {
    /// Scores the record and wraps both, with the prediction made before the run (if one was)
    /// compared with what happened.
    pub fn new(record: RunRecord, prediction: Option<Prediction>) -> Report {
        let analysis = Analysis::of(&record);
        let score = score::score_with(&record, &analysis);
        let comparison = prediction.as_ref().map(|p| {
            let observed = Measures::with(&record, &analysis, &score);
            Comparison::new(p, &record, observed)
        });
        Report {
            schema_version: SCHEMA_VERSION,
            record,
            score,
            prediction,
            comparison,
            model_memory: Vec::new(),
            analysis,
        }
    }

    /// The target's working sets from the model a simulated run ran on.
    pub fn with_model_memory(mut self, memory: Vec<ContainerMemory>) -> Report {
        self.model_memory = memory;
        self
    }

    /// The target's containers' working sets as a model knows them — the prediction's snapshot,
    /// else the simulated run's model: what the memory recommendations are computed from.
    pub fn target_memory(&self) -> &[ContainerMemory] {
        match &self.prediction {
            Some(p) if !p.target_memory.is_empty() => &p.target_memory,
            _ => &self.model_memory,
        }
    }

    /// Reads a JSON report back (this schema version or the one before), refusing versions
    /// this build does not know.
    pub fn from_json(text: &str) -> Result<Report> {
        let mut v: serde_json::Value = serde_json::from_str(text)?;
        let version = v
            .get("schemaVersion")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::Invalid("not an oomsday report: no schemaVersion".into()))?;
        match version {
            1 => upgrade_from_v1(&mut v),
            v if v == u64::from(SCHEMA_VERSION) => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "report schemaVersion {version} is not supported by this oomsday (it reads 1 and {SCHEMA_VERSION})"
                )));
            }
        }
        let s: Stored = serde_json::from_value(v)?;
        Ok(Report {
            schema_version: SCHEMA_VERSION,
            analysis: Analysis::of(&s.record),
            record: s.record,
            score: s.score,
            prediction: s.prediction,
            comparison: s.comparison,
            model_memory: s.model_memory,
        })
    }

    /// A name for this run's files: `<experiment>-<run id>`, safe for any file system.
    pub fn file_stem(&self) -> String {
        let raw = format!("{}-{}", self.record.experiment, self.record.run_id);
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Version 1 kept the prediction in the record and called the comparison `prediction`.
fn upgrade_from_v1(v: &mut serde_json::Value) {
    let Some(report) = v.as_object_mut() else {
        return;
    };
    if let Some(c) = report.remove("prediction") {
        report.insert("comparison".into(), c);
    }
    let made = report
        .get_mut("record")
        .and_then(serde_json::Value::as_object_mut)
        .and_then(|r| r.remove("prediction"));
    if let Some(p) = made {
        report.insert("prediction".into(), p);
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    #[value(alias = "markdown")]
    Md,
    Junit,
    Html,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Md, Format::Junit, Format::Html];

    /// The file extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Md => "md",
            Format::Junit => "junit.xml",
            Format::Html => "html",
        }
    }
}

/// Renders a report in one format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Md => markdown::render(report),
        Format::Junit => junit::render(report),
        Format::Html => html::render(report),
    }
}

/// Writes the report in each format into `dir` (created if missing) as
/// `<experiment>-<run id>.<ext>`; returns the paths written.
pub fn write(dir: &Path, report: &Report, formats: &[Format]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    let stem = report.file_stem();
    let mut out = Vec::new();
    for &f in formats {
        let path = dir.join(format!("{stem}.{}", f.extension()));
        std::fs::write(&path, render(report, f)).map_err(|source| Error::Io {
            context: format!("writing {}", path.display()),
            source,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// Escapes text for HTML and XML (element content and attribute values), and drops characters
/// XML 1.0 does not allow at all.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
