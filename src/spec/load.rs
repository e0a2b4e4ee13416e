//! Loading and validating experiment files: every problem of every document, each at its file,
//! line, column and field path.
//!
//! How all errors are found, not just the first: each document's `spec` is deserialized into the
//! typed [`LeakExperimentSpec`] (the single source of truth) by [`super::recover`], which records
//! each error and gets past it until the value reads. The semantic checks ([`super::validate`])
//! then run on the typed spec, minus findings about fields that were already reported invalid.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::recover::{deserialize_all, unknown_field_message};
use super::types::{API_VERSION, GROUP, LeakExperiment, LeakExperimentSpec};
use super::validate::{Severity, check_spec};
use super::yaml::{Document, FieldPath, parse_documents};

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
    /// 1-based; 0 for problems with the file as a whole (cannot read it).
    pub line: usize,
    /// 1-based; 0 for problems with the file as a whole.
    pub column: usize,
    /// Field path, e.g. `spec.leak.rate`; empty for file-level problems.
    pub field: String,
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    fn file_level(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {sev}")?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of checking one or more files.
#[derive(Debug, Default)]
pub struct Checked {
    /// Files read.
    pub files: usize,
    /// Documents that are not experiments (another `kind`), left alone.
    pub skipped: usize,
    /// Every document that had no error, in file order.
    pub experiments: Vec<SourcedExperiment>,
    /// Every problem, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    fn merge(&mut self, other: Checked) {
        self.files += other.files;
        self.skipped += other.skipped;
        self.experiments.extend(other.experiments);
        self.diagnostics.extend(other.diagnostics);
    }
}

/// Every experiment in `path` (a file, or every `*.yaml`/`*.yml` below a directory), or every
/// problem found. Warnings do not fail the load; they are returned beside the experiments.
pub fn load_experiments(
    path: &Path,
) -> Result<(Vec<SourcedExperiment>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let files = collect_files(path).map_err(|d| vec![d])?;
    let checked = check_files(&files);
    if checked.errors() > 0 {
        return Err(checked.diagnostics);
    }
    if checked.experiments.is_empty() {
        let mut d = checked.diagnostics;
        d.push(Diagnostic::file_level(
            path,
            "no LeakExperiment found (documents need kind: LeakExperiment)",
        ));
        return Err(d);
    }
    Ok((checked.experiments, checked.diagnostics))
}

/// The files `path` stands for: itself if it is a file; every `*.yaml`/`*.yml` below it, sorted,
/// if it is a directory (hidden entries skipped). An error when it cannot be read.
pub fn collect_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::file_level(path, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, &mut out, 0)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), Diagnostic> {
    // Symlinked directories are not followed; the bound guards against anything odd all the same.
    if depth > 32 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::file_level(dir, format!("cannot read directory: {e}")))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| Diagnostic::file_level(dir, format!("cannot read directory: {e}")))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(&path, out, depth + 1)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks `files` (already collected) and every experiment in them, including names used twice.
pub fn check_files(files: &[PathBuf]) -> Checked {
    let mut all = Checked::default();
    for file in files {
        let checked = match std::fs::read_to_string(file) {
            Ok(text) => check_source(file, &text),
            Err(e) => Checked {
                files: 1,
                diagnostics: vec![Diagnostic::file_level(file, format!("cannot read: {e}"))],
                ..Checked::default()
            },
        };
        all.merge(checked);
    }
    duplicate_names(&mut all);
    sort(&mut all.diagnostics);
    all
}

fn sort(d: &mut Vec<Diagnostic>) {
    d.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity).cmp(&(&b.file, b.line, b.column, b.severity))
    });
    d.dedup();
}

/// Two experiments with one namespace and name would overwrite each other on `kubectl apply`.
fn duplicate_names(all: &mut Checked) {
    let mut seen: HashMap<(String, String), (PathBuf, usize)> = HashMap::new();
    let mut dups = Vec::new();
    for (i, x) in all.experiments.iter().enumerate() {
        let key = (
            x.experiment.metadata.namespace.clone().unwrap_or_default(),
            x.experiment.metadata.name.clone().unwrap_or_default(),
        );
        if let Some((file, line)) = seen.get(&key) {
            all.diagnostics.push(Diagnostic {
                file: x.file.clone(),
                line: x.line,
                column: 1,
                field: "metadata.name".into(),
                message: format!(
                    "experiment `{}/{}` is already defined at {}:{line}",
                    key.0,
                    key.1,
                    file.display()
                ),
                severity: Severity::Error,
            });
            dups.push(i);
        } else {
            seen.insert(key, (x.file.clone(), x.line));
        }
    }
    for i in dups.into_iter().rev() {
        all.experiments.remove(i);
    }
}

/// Checks the text of one file. Never panics, whatever the text.
pub fn check_source(file: &Path, text: &str) -> Checked {
    let mut out = Checked {
        files: 1,
        ..Checked::default()
    };
    let docs = match parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            out.diagnostics.push(Diagnostic {
                file: file.to_path_buf(),
                line: e.pos.line,
                column: e.pos.column,
                field: String::new(),
                message: format!("YAML syntax: {}", e.message),
                severity: Severity::Error,
            });
            return out;
        }
    };
    for doc in &docs {
        let mut sink = Sink {
            file,
            doc,
            diagnostics: Vec::new(),
        };
        match check_document(&mut sink) {
            DocOutcome::Skipped => out.skipped += 1,
            DocOutcome::Experiment(x) => {
                if !sink.diagnostics.iter().any(Diagnostic::is_error) {
                    out.experiments.push(SourcedExperiment {
                        file: file.to_path_buf(),
                        line: doc.start.line,
                        experiment: *x,
                    });
                }
            }
            DocOutcome::Invalid => {}
        }
        out.diagnostics.extend(sink.diagnostics);
    }
    sort(&mut out.diagnostics);
    out
}

enum DocOutcome {
    /// Not an experiment: another kind of object (a cluster model, a Deployment).
    Skipped,
    Experiment(Box<LeakExperiment>),
    Invalid,
}

struct Sink<'a> {
    file: &'a Path,
    doc: &'a Document,
    diagnostics: Vec<Diagnostic>,
}

impl Sink<'_> {
    fn push(&mut self, sev: Severity, path: &FieldPath, at_key: bool, message: impl Into<String>) {
        let pos = self.doc.position(path, at_key);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            field: path.to_string(),
            message: message.into(),
            severity: sev,
        });
    }
    fn error(&mut self, path: &FieldPath, at_key: bool, message: impl Into<String>) {
        self.push(Severity::Error, path, at_key, message);
    }
}

const KIND: &str = "LeakExperiment";
const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
/// The fields of ObjectMeta; anything else under metadata is a mistake.
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
];

/// A kind that is `LeakExperiment` or close enough to be a typo of it.
fn looks_like_experiment(kind: &str) -> bool {
    let lower = kind.to_ascii_lowercase();
    kind == KIND
        || lower.contains("experiment")
        || strsim::levenshtein(&lower, "leakexperiment") <= 3
}

fn check_document(s: &mut Sink<'_>) -> DocOutcome {
    let root = FieldPath::root();
    let Some(obj) = s.doc.value.as_object() else {
        s.error(
            &root,
            false,
            "an experiment is a mapping with apiVersion, kind, metadata and spec",
        );
        return DocOutcome::Invalid;
    };
    if !check_kind(s, obj) {
        return DocOutcome::Skipped;
    }
    check_api_version(s, obj);
    for key in obj.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            s.error(&root.key(key), true, unknown_field_message(key, &TOP_LEVEL));
        }
    }
    let metadata = check_metadata(s, obj.get("metadata"));
    let spec = match obj.get("spec") {
        None => {
            s.error(&root, false, "missing field `spec`");
            None
        }
        Some(v) => read_spec(s, v),
    };
    let (Some(metadata), Some((spec, tainted))) = (metadata, spec) else {
        return DocOutcome::Invalid;
    };
    let namespace = metadata.namespace.clone().unwrap_or_default();
    report_findings(s, &spec, &namespace, &tainted);
    if obj.contains_key("status") {
        s.push(
            Severity::Warning,
            &root.key("status"),
            true,
            "status is written by the controller; it is ignored here",
        );
    }
    DocOutcome::Experiment(Box::new(LeakExperiment {
        metadata,
        spec,
        status: None,
    }))
}

/// Whether the document is (meant to be) an experiment. Other objects may share a directory
/// with experiments (a simulator's cluster model, the workload's own manifests): anything whose
/// kind is clearly something else is left alone.
fn check_kind(s: &mut Sink<'_>, obj: &serde_json::Map<String, Value>) -> bool {
    let root = FieldPath::root();
    match obj.get("kind") {
        Some(Value::String(k)) if !looks_like_experiment(k) => return false,
        Some(Value::String(k)) if k != KIND => s.error(
            &root.key("kind"),
            false,
            format!("unknown kind `{k}`; did you mean `{KIND}`?"),
        ),
        Some(Value::String(_)) => {}
        Some(_) => s.error(&root.key("kind"), false, format!("expected `{KIND}`")),
        None => s.error(&root, false, format!("missing field `kind` (kind: {KIND})")),
    }
    true
}

fn check_api_version(s: &mut Sink<'_>, obj: &serde_json::Map<String, Value>) {
    let root = FieldPath::root();
    match obj.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(Value::String(v)) if v.starts_with(&format!("{GROUP}/")) => s.error(
            &root.key("apiVersion"),
            false,
            format!("unsupported version `{v}`; this oomsday reads {API_VERSION}"),
        ),
        Some(_) => s.error(
            &root.key("apiVersion"),
            false,
            format!("expected `{API_VERSION}`"),
        ),
        None => s.error(
            &root,
            false,
            format!("missing field `apiVersion` (apiVersion: {API_VERSION})"),
        ),
    }
}

/// The typed spec, reporting every error on the way; with the fields (from the document root)
/// that had to be taken out or replaced.
fn read_spec(s: &mut Sink<'_>, v: &Value) -> Option<(LeakExperimentSpec, Vec<FieldPath>)> {
    let spec_path = FieldPath::root().key("spec");
    let out = deserialize_all::<LeakExperimentSpec>(v);
    if out.errors.is_empty() {
        for (p, message) in super::schema::api_type_mismatches(v) {
            s.push(Severity::Warning, &spec_path.join(&p), false, message);
        }
    }
    for e in &out.errors {
        let mut message = e.message.clone();
        // Say what the missing field is for, from the same docs as `kubectl explain`.
        if let Some(field) = e.missing
            && let Some(doc) = super::schema::field_description(&e.path.key(field))
        {
            message = format!("{message} ({doc})");
        }
        s.error(&spec_path.join(&e.path), e.at_key, message);
    }
    let tainted = out.tainted.iter().map(|t| spec_path.join(t)).collect();
    out.value.map(|spec| (spec, tainted))
}

/// The semantic checks' findings, less those about fields already reported invalid.
fn report_findings(
    s: &mut Sink<'_>,
    spec: &LeakExperimentSpec,
    namespace: &str,
    tainted: &[FieldPath],
) {
    for f in check_spec(spec, namespace) {
        let hit = |p: &FieldPath| tainted.iter().any(|t| p.starts_with(t));
        // A field removed right below the finding's (a probe's invalid `http`) makes the
        // finding ("needs exactly one of http or query") a repeat of the error already shown.
        let child_tainted = tainted.iter().any(|t| t.parent().as_ref() == Some(&f.path));
        if hit(&f.path) || f.related.iter().any(hit) || child_tainted {
            continue;
        }
        // A finding about a field that was not written is shown at the nearest written parent.
        let at_key = !s.doc.contains(&f.path);
        s.push(f.severity, &f.path, at_key, f.message);
    }
}

fn check_metadata(s: &mut Sink<'_>, v: Option<&Value>) -> Option<ObjectMeta> {
    let path = FieldPath::root().key("metadata");
    let Some(v) = v else {
        s.error(
            &FieldPath::root(),
            false,
            "missing field `metadata` (metadata: {name: ...})",
        );
        return None;
    };
    let Some(m) = v.as_object() else {
        s.error(
            &path,
            false,
            "metadata must be a mapping with name and namespace",
        );
        return None;
    };
    for key in m.keys() {
        if !METADATA_FIELDS.contains(&key.as_str()) {
            s.error(
                &path.key(key),
                true,
                unknown_field_message(key, &METADATA_FIELDS),
            );
        }
    }
    let out = deserialize_all::<ObjectMeta>(v);
    for e in &out.errors {
        s.error(&path.join(&e.path), e.at_key, e.message.clone());
    }
    let mut meta = out.value?;
    match meta.name.as_deref() {
        None | Some("") => {
            s.error(&path.key("name"), false, "missing field `name`");
        }
        Some(n) if !super::validate::is_dns_name(n, 253, true) => {
            s.error(
                &path.key("name"),
                false,
                format!("`{n}` is not a valid name (lowercase letters, digits, '-' and '.', at most 253)"),
            );
        }
        Some(_) => {}
    }
    match meta.namespace.as_deref() {
        None => meta.namespace = Some("default".into()),
        Some(n) if !super::validate::is_dns_name(n, 63, false) => {
            s.error(
                &path.key("namespace"),
                false,
                format!(
                    "`{n}` is not a valid namespace (lowercase letters, digits and '-', at most 63)"
                ),
            );
        }
        Some(_) => {}
    }
    // Returned even when something above was wrong: the spec's checks still need the
    // namespace, and the errors already keep the experiment out of the result.
    Some(meta)
}

#[cfg(test)]
mod tests;
