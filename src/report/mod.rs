//! Reports of a run: the versioned JSON record (machine-readable, what `oomsday report` reads
//! back), a Markdown summary, JUnit XML (one testcase per hypothesis clause, for CI systems), and
//! a self-contained HTML page with SVG charts drawn from the timeline. A suite of runs gets one
//! summary across them.
//!
//! Every rendering of a simulated run says "simulated" prominently: a model is not a measurement.

mod html;
mod junit;
mod markdown;
mod prediction;
mod suite;
mod text;

pub use suite::suite_summary;
pub use text::{recommendations, story, story_folded};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::RunRecord;
use crate::score::{self, Analysis, Score};
use crate::{Error, Result};

/// The version of the JSON report's schema. Bumped on any change that breaks readers.
pub const SCHEMA_VERSION: u32 = 1;

/// A run and its score: what every format renders.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub record: RunRecord,
    pub score: Score,
    /// The prediction made before the run (in `record.prediction`) against what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::predict::Comparison>,
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
    prediction: Option<crate::predict::Comparison>,
}

impl Report {
    /// Scores the record and wraps both.
    pub fn new(record: RunRecord) -> Report {
        let analysis = Analysis::of(&record);
        let score = score::score_with(&record, &analysis);
        let prediction = record.prediction.as_deref().map(|p| {
            let observed = crate::predict::Measures::with(&record, &analysis, &score);
            crate::predict::Comparison::new(p, &record, observed)
        });
        Report {
            schema_version: SCHEMA_VERSION,
            record,
            score,
            prediction,
            analysis,
        }
    }

    /// Reads a JSON report back, refusing schema versions this build does not know.
    pub fn from_json(text: &str) -> Result<Report> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let version = v
            .get("schemaVersion")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::Invalid("not an oomsday report: no schemaVersion".into()))?;
        if version != u64::from(SCHEMA_VERSION) {
            return Err(Error::Invalid(format!(
                "report schemaVersion {version} is not supported by this oomsday (it reads {SCHEMA_VERSION})"
            )));
        }
        let s: Stored = serde_json::from_value(v)?;
        Ok(Report {
            schema_version: SCHEMA_VERSION,
            analysis: Analysis::of(&s.record),
            record: s.record,
            score: s.score,
            prediction: s.prediction,
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
