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
mod tests;
