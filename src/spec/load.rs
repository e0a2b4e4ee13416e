//! Loading experiment files. PROVISIONAL: first-error-only via serde-saphyr; the validation work
//! (issue 2) replaces the internals with positioned, all-errors validation. Keep the signatures.

use std::path::{Path, PathBuf};

use super::LeakExperiment;

/// An experiment and where it came from.
#[derive(Debug, Clone)]
pub struct SourcedExperiment {
    pub file: PathBuf,
    /// 1-based line where its YAML document starts.
    pub line: usize,
    pub experiment: LeakExperiment,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Field path, e.g. `spec.leak.rate`; empty for file-level problems.
    pub field: String,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}",
            self.file.display(),
            self.line,
            self.column
        )?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every experiment in `path` (a file, or every `*.yaml`/`*.yml` below a directory), or every
/// problem found. Warnings do not fail the load; they are returned beside the experiments.
pub fn load_experiments(
    path: &Path,
) -> Result<(Vec<SourcedExperiment>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
            severity: Severity::Error,
        }]
    })?;
    let docs: Vec<LeakExperiment> = serde_saphyr::from_multiple(&text).map_err(|e| {
        vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: e.to_string(),
            severity: Severity::Error,
        }]
    })?;
    Ok((
        docs.into_iter()
            .map(|experiment| SourcedExperiment {
                file: path.to_path_buf(),
                line: 1,
                experiment,
            })
            .collect(),
        Vec::new(),
    ))
}
