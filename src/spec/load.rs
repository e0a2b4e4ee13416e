//! Loading and validating experiment files: every problem of every document, each at its file,
//! line, column and field path.
//!
//! How all errors are found, not just the first: each document's `spec` is deserialized into the
//! typed [`LeakExperimentSpec`] (the single source of truth) with `serde_path_to_error`. On an
//! error the offending field is recorded and taken out of the value (an unknown field is removed;
//! an invalid value is removed; a missing field gets a placeholder so its siblings can still be
//! checked), and deserialization is retried, a bounded number of times. The semantic checks
//! ([`super::validate`]) then run on the typed spec, minus findings about fields that were
//! already reported invalid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::types::{API_VERSION, GROUP, LeakExperiment, LeakExperimentSpec};
use super::validate::check_spec;
use super::yaml::{Document, FieldPath, Seg, parse_documents};

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

/// How bad a [`Diagnostic`] is: errors make a file invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
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

    // Other objects may share a directory with experiments (a simulator's cluster model, the
    // workload's own manifests): anything whose kind is clearly something else is left alone.
    match obj.get("kind") {
        Some(Value::String(k)) if !looks_like_experiment(k) => return DocOutcome::Skipped,
        Some(Value::String(k)) if k != KIND => s.error(
            &root.key("kind"),
            false,
            format!("unknown kind `{k}`; did you mean `{KIND}`?"),
        ),
        Some(Value::String(_)) => {}
        Some(_) => s.error(&root.key("kind"), false, format!("expected `{KIND}`")),
        None => s.error(&root, false, format!("missing field `kind` (kind: {KIND})")),
    }
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
    for key in obj.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            s.error(&root.key(key), true, unknown_field_message(key, &TOP_LEVEL));
        }
    }

    let metadata = check_metadata(s, obj.get("metadata"));

    let spec_path = root.key("spec");
    let spec = match obj.get("spec") {
        None => {
            s.error(&root, false, "missing field `spec`");
            None
        }
        Some(v) => {
            let out = deserialize_all::<LeakExperimentSpec>(v);
            if out.errors.is_empty() {
                for (p, message) in super::schema::api_type_mismatches(v) {
                    s.push(Severity::Warning, &spec_path.join(&p), false, message);
                }
            }
            for e in &out.errors {
                let mut message = e.message.clone();
                // Say what the missing field is for, from the same docs as `kubectl explain`.
                if let Some(field) = first_quoted(&message, "missing field ")
                    && let Some(doc) = super::schema::field_description(&e.path.key(&field))
                {
                    message = format!("{message} ({doc})");
                }
                s.error(&spec_path.join(&e.path), e.at_key, message);
            }
            out.value.map(|spec| (spec, out.tainted))
        }
    };

    let (Some(metadata), Some((spec, tainted))) = (metadata, spec) else {
        return DocOutcome::Invalid;
    };
    let namespace = metadata.namespace.clone().unwrap_or_default();
    let tainted: Vec<FieldPath> = tainted.iter().map(|t| spec_path.join(t)).collect();
    for f in check_spec(&spec, &namespace) {
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
        Some(n) if !is_dns_label(n, 253, true) => {
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
        Some(n) if !is_dns_label(n, 63, false) => {
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

fn is_dns_label(s: &str, max: usize, dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').count() >= 1
        && (dots || !s.contains('.'))
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
}

/// The closest of `candidates` to `name`, if one is close enough to be what was meant.
pub fn did_you_mean<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let n = norm(name);
    if let Some(c) = candidates.iter().find(|c| norm(c) == n) {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&n, &norm(c)), *c))
        .filter(|(d, c)| *d <= 2.max(c.len().min(name.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn unknown_field_message(name: &str, expected: &[&str]) -> String {
    match did_you_mean(name, expected) {
        Some(c) => format!("unknown field `{name}`; did you mean `{c}`?"),
        None => format!(
            "unknown field `{name}`; expected one of {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One error found while deserializing, relative to the deserialized value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub path: FieldPath,
    /// Report at the key (unknown or missing fields) rather than at the value.
    pub at_key: bool,
    pub message: String,
}

pub(crate) struct DeOutcome<T> {
    pub value: Option<T>,
    pub errors: Vec<DeError>,
    /// Fields that were removed or replaced to get past an error: checks about them would only
    /// repeat (or contradict) the error already reported.
    pub tainted: Vec<FieldPath>,
}

/// Values tried, in order, for a field that is missing or had to be replaced, until the type
/// accepts one. Placeholders are never reported on and never reach a user.
fn placeholder(i: usize) -> Option<Value> {
    Some(match i {
        0 => Value::Object(serde_json::Map::new()),
        1 => Value::String("1m".into()),
        2 => Value::from(1),
        3 => Value::Bool(false),
        4 => Value::Array(Vec::new()),
        _ => return None,
    })
}

/// Bounds the retries; each one removes or fixes one thing, so real files need a handful.
const MAX_ROUNDS: usize = 200;

/// The backtick-quoted names in a serde message after `after` (`expected one of `a`, `b``).
fn quoted_after(msg: &str, after: &str) -> Vec<String> {
    let Some(i) = msg.find(after) else {
        return Vec::new();
    };
    msg[i + after.len()..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn first_quoted(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

fn set_at(root: &mut Value, path: &FieldPath, v: Value) -> bool {
    let (Some(parent), Some(last)) = (path.parent(), path.0.last()) else {
        return false;
    };
    match (parent.get_mut(root), last) {
        (Some(Value::Object(m)), Seg::Key(k)) => {
            m.insert(k.clone(), v);
            true
        }
        (Some(Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a[*i] = v;
            true
        }
        _ => false,
    }
}

/// Deserializes `value` into `T`, collecting every error rather than the first (see the module
/// docs for how).
pub(crate) fn deserialize_all<T: DeserializeOwned>(value: &Value) -> DeOutcome<T> {
    let mut v = value.clone();
    let mut errors = Vec::new();
    let mut tainted: Vec<FieldPath> = Vec::new();
    let mut removed: HashSet<FieldPath> = HashSet::new();
    let mut placeholders: BTreeMap<FieldPath, usize> = BTreeMap::new();
    let in_placeholder =
        |p: &FieldPath, ph: &BTreeMap<FieldPath, usize>| ph.keys().any(|k| p.starts_with(k));

    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, T>(&v) {
            Ok(t) => {
                return DeOutcome {
                    value: Some(t),
                    errors,
                    tainted,
                };
            }
            Err(e) => e,
        };
        let path = FieldPath(
            err.path()
                .iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    _ => None,
                })
                .collect(),
        );
        let msg = err.inner().to_string();

        if let Some(field) = first_quoted(&msg, "unknown field ") {
            // The path already ends at the unknown key (it was read before it was refused).
            let p = if path.last_key() == Some(field.as_str()) {
                path
            } else {
                path.key(&field)
            };
            let expected = quoted_after(&msg, "expected");
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            if !in_placeholder(&p, &placeholders) {
                errors.push(DeError {
                    path: p.clone(),
                    at_key: true,
                    message: unknown_field_message(&field, &expected),
                });
            }
            if let (Some(parent), Some(c)) = (p.parent(), did_you_mean(&field, &expected)) {
                tainted.push(parent.key(c));
            }
            let Some(Value::Object(m)) = p.parent().and_then(|pp| pp.get_mut(&mut v)) else {
                break;
            };
            if m.remove(&field).is_none() {
                break;
            }
            continue;
        }

        if let Some(field) = first_quoted(&msg, "missing field ") {
            let p = path.key(&field);
            if !removed.contains(&p) && !in_placeholder(&path, &placeholders) {
                errors.push(DeError {
                    path: path.clone(),
                    at_key: true,
                    message: format!("missing field `{field}`"),
                });
            }
            tainted.push(p.clone());
            if placeholders.contains_key(&p)
                || !set_at(&mut v, &p, placeholder(0).unwrap_or_default())
            {
                break;
            }
            placeholders.insert(p, 0);
            continue;
        }

        if let Some(i) = placeholders.get(&path).copied() {
            // The placeholder does not fit this field's type: try the next one. An enum says
            // which values it takes; use the first.
            let variants = quoted_after(&msg, "expected");
            let next = if msg.starts_with("unknown variant") && !variants.is_empty() {
                Some((i, Value::String(variants[0].clone())))
            } else {
                placeholder(i + 1).map(|v| (i + 1, v))
            };
            let Some((j, value)) = next else { break };
            if (j == i && v.pointer(&pointer(&path)) == Some(&value))
                || !set_at(&mut v, &path, value)
            {
                break;
            }
            placeholders.insert(path, j);
            continue;
        }

        if !in_placeholder(&path, &placeholders) {
            let message = match first_quoted(&msg, "unknown variant ") {
                Some(variant) => {
                    let expected = quoted_after(&msg, "expected");
                    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                    match did_you_mean(&variant, &expected) {
                        Some(c) => format!("{msg}; did you mean `{c}`?"),
                        None => msg,
                    }
                }
                None => msg,
            };
            errors.push(DeError {
                path: path.clone(),
                at_key: false,
                message: plain_words(&message),
            });
        }
        if path.is_root() {
            break;
        }
        tainted.push(path.clone());
        let parent_is_array = matches!(path.0.last(), Some(Seg::Index(_)));
        if parent_is_array {
            // Removing an item would shift the indexes of the ones after it.
            if !set_at(&mut v, &path, placeholder(0).unwrap_or_default()) {
                break;
            }
            placeholders.insert(path, 0);
        } else {
            let Some(key) = path.last_key().map(str::to_string) else {
                break;
            };
            let Some(Value::Object(m)) = path.parent().and_then(|pp| pp.get_mut(&mut v)) else {
                break;
            };
            if m.remove(&key).is_none() {
                break;
            }
            removed.insert(path);
        }
    }
    if errors.is_empty() {
        // Only reachable if the retries ran out on placeholders alone; never stay silent.
        errors.push(DeError {
            path: FieldPath::root(),
            at_key: true,
            message: "cannot be read as this kind of object".into(),
        });
    }
    DeOutcome {
        value: None,
        errors,
        tainted,
    }
}

/// serde speaks Rust (`expected struct Leak`, `expected u32`); say it in YAML words.
fn plain_words(msg: &str) -> String {
    if let Some((head, ty)) = msg.rsplit_once(", expected struct ") {
        return format!("{head}, expected a mapping ({ty})");
    }
    for (rust, words) in [
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of 0 or more"),
        ("i64", "a whole number"),
        ("f64", "a number"),
        ("a boolean", "true or false"),
    ] {
        if let Some(head) = msg.strip_suffix(&format!(", expected {rust}")) {
            return format!("{head}, expected {words}");
        }
    }
    msg.to_string()
}

/// A JSON pointer for `path`.
fn pointer(path: &FieldPath) -> String {
    path.0
        .iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "\
apiVersion: oomsday.dev/v1alpha1
kind: LeakExperiment
metadata:
  name: checkout-leak
spec:
  target: {kind: Deployment, name: checkout}
  leak:
    pattern: linear
    rate: 40Mi/min
    start: 64Mi
    max: 2Gi
  duration: 30m
";

    fn check(text: &str) -> Checked {
        check_source(Path::new("x.yaml"), text)
    }

    /// `(line, field, message)` of every diagnostic.
    fn lines(c: &Checked) -> Vec<(usize, String, String)> {
        c.diagnostics
            .iter()
            .map(|d| (d.line, d.field.clone(), d.message.clone()))
            .collect()
    }

    fn with(replace: &str, by: &str) -> String {
        assert!(VALID.contains(replace), "{replace}");
        VALID.replacen(replace, by, 1)
    }

    #[test]
    fn a_valid_experiment_loads_with_defaults() {
        let c = check(VALID);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(c.experiments.len(), 1);
        let x = &c.experiments[0];
        assert_eq!(x.line, 1);
        assert_eq!(x.experiment.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            x.experiment.spec.recovery,
            oomsday_core::Duration::from_secs(600)
        );
        assert!(x.experiment.spec.leak.curve().is_ok());
    }

    #[test]
    fn several_mistakes_give_one_line_each() {
        let text = with("name: checkout}", "name: checkout, replicas: 3}")
            .replace("rate: 40Mi/min", "rate: 40Mi/m")
            .replace("max: 2Gi", "maxx: 2Gi")
            .replace("duration: 30m", "duration: 30\n  recovery: soon");
        let c = check(&text);
        assert_eq!(
            lines(&c)
                .iter()
                .map(|(l, f, _)| (*l, f.as_str()))
                .collect::<Vec<_>>(),
            [
                (6, "spec.target.replicas"),
                (9, "spec.leak.rate"),
                (11, "spec.leak.maxx"),
                (12, "spec.duration"),
                (13, "spec.recovery"),
            ],
            "{:#?}",
            c.diagnostics
        );
        let msgs = lines(&c);
        assert!(msgs[1].2.contains("ambiguous"), "{}", msgs[1].2);
        assert!(msgs[2].2.contains("did you mean `max`"), "{}", msgs[2].2);
        assert!(c.experiments.is_empty());
        // file:line:col: error: field: message
        let shown = c.diagnostics[0].to_string();
        assert!(shown.starts_with("x.yaml:6:"), "{shown}");
        assert!(
            shown.contains(": error: spec.target.replicas: unknown field `replicas`"),
            "{shown}"
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_the_parsers_position() {
        let c = check("apiVersion: oomsday.dev/v1alpha1\nkind: [LeakExperiment\nspec: {}\n");
        assert_eq!(c.diagnostics.len(), 1);
        let d = &c.diagnostics[0];
        assert!(d.line >= 2 && d.column > 0, "{d}");
        assert!(d.message.starts_with("YAML syntax"), "{d}");
        let c = check("a: 1\n\tb: 2\n");
        assert_eq!(c.diagnostics.len(), 1, "{:?}", c.diagnostics);
    }

    #[test]
    fn an_invalid_required_field_is_reported_once() {
        let c = check(&with("duration: 30m", "duration: 30"));
        assert_eq!(lines(&c).len(), 1, "{:?}", c.diagnostics);
        assert!(c.diagnostics[0].message.contains("no unit"));
    }

    #[test]
    fn missing_fields_are_reported_and_the_rest_still_checked() {
        let text = with("{kind: Deployment, name: checkout}", "{kind: Deployment}")
            .replace("  duration: 30m\n", "")
            .replace("start: 64Mi", "start: 64XB");
        let c = check(&text);
        let got = lines(&c);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert_eq!((got[0].0, got[0].1.as_str()), (5, "spec"));
        assert!(
            got[0]
                .2
                .starts_with("missing field `duration` (How long the leak runs"),
            "{}",
            got[0].2
        );
        assert_eq!((got[1].0, got[1].1.as_str()), (6, "spec.target"));
        assert!(
            got[1]
                .2
                .starts_with("missing field `name` (The workload's name"),
            "{}",
            got[1].2
        );
        assert_eq!(got[2].1, "spec.leak.start");
    }

    #[test]
    fn foreign_pattern_parameters_name_both() {
        let c = check(&with("rate: 40Mi/min", "rate: 40Mi/min\n    doubling: 5m"));
        let got = lines(&c);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, "spec.leak.doubling");
        assert!(
            got[0].2.contains("doubling") && got[0].2.contains("linear"),
            "{}",
            got[0].2
        );
        let c = check(&with("pattern: linear", "pattern: step"));
        let fields: Vec<_> = lines(&c).into_iter().map(|l| l.1).collect();
        // Missing ones at the leak that lacks them, the foreign one at itself.
        assert_eq!(
            fields,
            ["spec.leak.step", "spec.leak.every", "spec.leak.rate"]
        );
    }

    #[test]
    fn leak_sizes() {
        // max required unless unbounded.
        let c = check(&with("    max: 2Gi\n", ""));
        assert_eq!(lines(&c)[0].1, "spec.leak.max");
        assert_eq!(lines(&c)[0].0, 7, "reported at the leak that lacks it");
        let c = check(&with("    max: 2Gi\n", "    unbounded: true\n"));
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        // start above max.
        let c = check(&with("start: 64Mi", "start: 3Gi"));
        assert!(lines(&c)[0].2.contains("above max"), "{:?}", c.diagnostics);
        // limit below start: error; above max: warning, still valid.
        let c = check(&with("max: 2Gi", "max: 2Gi\n    limit: 32Mi"));
        assert_eq!(c.errors(), 1);
        let c = check(&with("max: 2Gi", "max: 2Gi\n    limit: 3Gi"));
        assert_eq!((c.errors(), c.warnings()), (0, 1), "{:?}", c.diagnostics);
        assert_eq!(c.experiments.len(), 1);
        assert!(
            c.diagnostics[0]
                .to_string()
                .contains(": warning: spec.leak.limit: ")
        );
        // A limit the leak never reaches within its duration: warning.
        let c = check(
            &with("max: 2Gi", "max: 2Gi\n    limit: 1Gi").replace("duration: 30m", "duration: 10m"),
        );
        assert_eq!((c.errors(), c.warnings()), (0, 1), "{:?}", c.diagnostics);
        assert!(
            c.diagnostics[0]
                .message
                .contains("at most 464.00 MiB within its duration of 10m"),
            "{}",
            c.diagnostics[0].message
        );
        let c = check(&with("max: 2Gi", "max: 2Gi\n    limit: 1Gi"));
        assert!(
            c.diagnostics.is_empty(),
            "reached after 24m36s: {:?}",
            c.diagnostics
        );
        // exponential needs start > 0.
        let c = check(
            &with("pattern: linear", "pattern: exponential")
                .replace("rate: 40Mi/min", "doubling: 5m")
                .replace("start: 64Mi", "start: 0"),
        );
        assert_eq!(lines(&c)[0].1, "spec.leak.start", "{:?}", c.diagnostics);
    }

    #[test]
    fn ephemeral_rules() {
        let eph = with(
            "  leak:",
            "  injection: {mode: ephemeral, pods: 50%}\n  leak:",
        );
        assert!(check(&eph).diagnostics.is_empty());
        let c = check(&eph.replace("max: 2Gi", "max: 2Gi\n    limit: 1Gi"));
        assert!(
            lines(&c)[0]
                .2
                .contains("ephemeral containers cannot have resources")
        );
        let c = check(&with("  leak:", "  injection: {pods: 3}\n  leak:"));
        assert_eq!(lines(&c)[0].1, "spec.injection.pods");
    }

    #[test]
    fn system_namespaces_need_consent() {
        let text = with(
            "  name: checkout-leak",
            "  name: checkout-leak\n  namespace: kube-system",
        );
        let c = check(&text);
        assert_eq!(lines(&c)[0].1, "metadata.namespace");
        assert_eq!(lines(&c)[0].0, 5);
        let ok = text.replace("spec:\n", "spec:\n  allowSystemNamespaces: true\n");
        assert!(check(&ok).diagnostics.is_empty());
    }

    #[test]
    fn list_items_keep_their_indexes() {
        let text = with(
            "  duration: 30m",
            "  duration: 30m\n  probes:\n    - just-a-string\n    - {name: ok, http: {url: http://a/}}\n    - {name: b, interval: 0s, http: {url: x}}",
        );
        let c = check(&text);
        let got: Vec<_> = lines(&c).into_iter().map(|l| (l.0, l.1)).collect();
        assert_eq!(
            got,
            [
                (14, "spec.probes[0]".to_string()),
                (16, "spec.probes[2].interval".to_string()),
                (16, "spec.probes[2].http.url".to_string()),
            ],
            "{:#?}",
            c.diagnostics
        );
    }

    #[test]
    fn other_kinds_and_empty_documents_are_skipped() {
        let text = format!(
            "---\n{VALID}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\n---\n"
        );
        let c = check(&text);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!((c.experiments.len(), c.skipped), (1, 1));
        assert_eq!(c.experiments[0].line, 2);
    }

    #[test]
    fn top_level_mistakes() {
        let c = check(&with(
            "kind: LeakExperiment",
            "kind: LeakExperiments\nstatuss: {}",
        ));
        let got = lines(&c);
        assert!(
            got[0].2.contains("did you mean `LeakExperiment`"),
            "{got:?}"
        );
        assert!(got[1].2.contains("did you mean `status`"), "{got:?}");
        let c = check(&with("kind: LeakExperiment", "kind: Experiment"));
        assert!(
            lines(&c)[0].2.contains("did you mean `LeakExperiment`"),
            "{:?}",
            c.diagnostics
        );
        let c = check("just a string\n");
        assert_eq!(c.errors(), 1);
        let c = check(&with("spec:", "spec: 5\nnotspec:"));
        assert!(c.errors() >= 2, "{:?}", c.diagnostics);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let text = format!("{VALID}---\n{VALID}");
        let dir = std::env::temp_dir().join(format!("oomsday-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.yaml");
        std::fs::write(&f, text).unwrap();
        let c = check_files(&[f]);
        assert_eq!(c.errors(), 1, "{:?}", c.diagnostics);
        assert!(c.diagnostics[0].message.contains("already defined"));
        assert_eq!(c.experiments.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_are_walked_sorted_and_hidden_entries_skipped() {
        let dir = std::env::temp_dir().join(format!("oomsday-walk-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b/.hidden")).unwrap();
        for f in [
            "b/z.yml",
            "a.yaml",
            "b/.hidden/x.yaml",
            "notes.txt",
            "b/c.yaml",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let files = collect_files(&dir).unwrap();
        let rel: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rel, ["a.yaml", "b/c.yaml", "b/z.yml"]);
        assert!(
            load_experiments(&dir).is_err(),
            "no experiments is an error"
        );
        assert!(collect_files(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn did_you_mean_is_picky() {
        let c = ["rate", "gcEvery", "max", "start"];
        assert_eq!(did_you_mean("rat", &c), Some("rate"));
        assert_eq!(did_you_mean("gc_every", &c), Some("gcEvery"));
        assert_eq!(did_you_mean("GCEVERY", &c), Some("gcEvery"));
        assert_eq!(did_you_mean("replicas", &c), None);
    }

    /// Every path in `v`, parents before children.
    fn all_paths(v: &Value, at: FieldPath, out: &mut Vec<FieldPath>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| all_paths(c, at.key(k), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| all_paths(c, at.index(i), out)),
            _ => {}
        }
    }

    const RICH: &str = "\
apiVersion: oomsday.dev/v1alpha1
kind: LeakExperiment
metadata: {name: x, namespace: shop}
spec:
  target: {kind: StatefulSet, name: db}
  injection: {mode: ephemeral, pods: 50%}
  leak: {pattern: sawtooth, rate: 1Mi/s, gcEvery: 1m, start: 1Mi, max: 1Gi}
  duration: 10m
  schedule: {cron: '0 0 3 * * Tue', timeZone: Europe/Berlin, blackout: [2026-11-26/2026-11-30]}
  prometheus: {url: 'http://p:9090'}
  probes: [{name: a, http: {url: 'http://a/'}}, {name: b, query: {expr: up, min: 1}}]
  expectAlerts: [{name: A, within: 5m, labels: {x: y}}]
  abort: {availabilityBelow: 50%, nodesNotReady: 1}
  hypothesis: {pdbHolds: true, recoveredWithin: 5m}
  scoring: {weights: {detection: 1}}
";

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-zA-Z0-9%/ .:-]{0,12}".prop_map(Value::String),
            proptest::sample::select(vec![
                "linear",
                "5m",
                "64Mi",
                "50%",
                "none",
                "Deployment",
                "0 0 3 * * *"
            ])
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Structured mutations of a valid experiment: a value replaced, a key removed or an
        /// unknown key added, anywhere. Never a panic; any experiment returned is consistent.
        #[test]
        fn mutated_values_are_safe(
            edits in proptest::collection::vec((0usize..1000, 0usize..3, json_value()), 1..5)
        ) {
            let mut v = parse_documents(RICH).expect("valid")[0].value.clone();
            for (at, kind, new) in edits {
                let mut paths = Vec::new();
                all_paths(&v, FieldPath::root(), &mut paths);
                let p = &paths[at % paths.len()];
                match kind {
                    0 => { set_at(&mut v, p, new); }
                    1 => {
                        if let (Some(parent), Some(k)) = (p.parent(), p.last_key().map(str::to_string))
                            && let Some(Value::Object(m)) = parent.get_mut(&mut v) {
                            m.remove(&k);
                        }
                    }
                    _ => {
                        if let Some(Value::Object(m)) = p.get_mut(&mut v) {
                            m.insert("extraField".into(), new);
                        }
                    }
                }
            }
            let text = serde_saphyr::to_string(&v).expect("yaml");
            let c = check(&text);
            for x in &c.experiments {
                proptest::prop_assert!(x.experiment.spec.leak.curve().is_ok(), "{text}");
            }
            for d in &c.diagnostics {
                proptest::prop_assert!(!d.message.contains("cannot be read as this kind"), "{d}\n{text}");
                proptest::prop_assert!(d.line > 0 && d.column > 0, "{d}");
            }
        }

        #[test]
        fn any_text_is_safe(s in "\\PC{0,200}") {
            let _ = check(&s);
        }

        #[test]
        fn yaml_ish_text_is_safe(s in "([a-zA-Z:{}\\[\\],\\- \n'\"&*!|>#%@`0-9.]{0,12}){0,30}") {
            let _ = check(&s);
        }

        #[test]
        fn mutated_valid_specs_are_safe(
            edits in proptest::collection::vec((0usize..400, 0usize..8, "\\PC{0,6}"), 1..6)
        ) {
            let mut text = VALID.to_string();
            for (at, kind, s) in edits {
                let mut chars: Vec<char> = text.chars().collect();
                let i = at % (chars.len() + 1);
                match kind {
                    0 => chars.splice(i..i, s.chars()).for_each(drop),
                    1 if i < chars.len() => { chars.remove(i); }
                    2 => chars.splice(i..(i + s.chars().count()).min(chars.len()), s.chars()).for_each(drop),
                    3 => chars.insert(i, '\n'),
                    4 => chars.insert(i, ' '),
                    5 => chars.insert(i, ':'),
                    _ => {
                        // Swap a value for one that is valid somewhere else in the spec.
                        let pick = ["0", "-1", "100%", "1e400", "null", "[]", "{}", "linear", "2Gi", "5m"];
                        chars.splice(i..i, pick[s.len() % pick.len()].chars()).for_each(drop);
                    }
                }
                text = chars.into_iter().collect();
            }
            let c = check(&text);
            // An experiment is only ever returned without errors in its document, and then
            // what later code relies on holds.
            if c.errors() == 0 {
                proptest::prop_assert!(c.experiments.len() <= 1);
            }
            for x in &c.experiments {
                let leak = &x.experiment.spec.leak;
                proptest::prop_assert!(leak.curve().is_ok(), "{text}");
                proptest::prop_assert!(leak.unbounded || leak.max.is_some_and(|m| m >= leak.start));
                proptest::prop_assert!(!x.experiment.spec.duration.is_zero());
            }
        }
    }
}
