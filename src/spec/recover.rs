//! Deserializing with every error, not just the first. The value is deserialized into its typed
//! form through [`Node`] (errors that keep their structure) with `serde_path_to_error` (the
//! field each error is at). On an error the offending field is recorded and taken out of the
//! value (an unknown field is removed; an invalid value is removed; a missing field gets a
//! placeholder so its siblings can still be checked), and deserialization is retried, a bounded
//! number of times. The loader places each error at its line and column from the YAML layer.

use std::collections::{BTreeMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::de::{Node, Refusal, RefusalKind};
use super::yaml::{FieldPath, Seg};

/// One error found while deserializing, relative to the deserialized value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub path: FieldPath,
    /// Report at the key (unknown or missing fields) rather than at the value.
    pub at_key: bool,
    pub message: String,
    /// The field that is missing below `path`, when that is the error.
    pub missing: Option<&'static str>,
}

pub(crate) struct DeOutcome<T> {
    pub value: Option<T>,
    pub errors: Vec<DeError>,
    /// Fields that were removed or replaced to get past an error: checks about them would only
    /// repeat (or contradict) the error already reported.
    pub tainted: Vec<FieldPath>,
}

/// Deserializes `value` into `T`, collecting every error rather than the first (see the module
/// docs for how).
pub(crate) fn deserialize_all<T: DeserializeOwned>(value: &Value) -> DeOutcome<T> {
    let mut r = Recovery {
        value: value.clone(),
        errors: Vec::new(),
        tainted: Vec::new(),
        removed: HashSet::new(),
        placeholders: BTreeMap::new(),
    };
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, T>(Node(&r.value)) {
            Ok(t) => return r.finish(Some(t)),
            Err(e) => e,
        };
        let path = field_path(err.path());
        if !r.recover(path, err.into_inner()) {
            break;
        }
    }
    r.finish(None)
}

/// Bounds the retries; each one removes or fixes one thing, so real files need a handful.
const MAX_ROUNDS: usize = 200;

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

fn field_path(path: &serde_path_to_error::Path) -> FieldPath {
    FieldPath(
        path.iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// The value being worked on, and what was found and changed so far.
struct Recovery {
    value: Value,
    errors: Vec<DeError>,
    tainted: Vec<FieldPath>,
    /// Fields taken out for an invalid value: their parent's "missing field" is not news.
    removed: HashSet<FieldPath>,
    /// Fields given a placeholder, and which one; nothing below them is reported.
    placeholders: BTreeMap<FieldPath, usize>,
}

impl Recovery {
    fn in_placeholder(&self, p: &FieldPath) -> bool {
        self.placeholders.keys().any(|k| p.starts_with(k))
    }

    fn report(&mut self, path: FieldPath, at_key: bool, message: String) {
        self.errors.push(DeError {
            path,
            at_key,
            message,
            missing: None,
        });
    }

    /// Records what `refusal` at `path` says and changes the value to get past it; false when
    /// nothing more can be done.
    fn recover(&mut self, path: FieldPath, refusal: Refusal) -> bool {
        match &refusal.kind {
            RefusalKind::UnknownField { field, expected } => {
                self.unknown_field(path, field, expected)
            }
            RefusalKind::MissingField(field) => self.missing_field(path, field),
            _ if self.placeholders.contains_key(&path) => self.next_placeholder(path, &refusal),
            _ => self.invalid(path, &refusal),
        }
    }

    fn unknown_field(&mut self, path: FieldPath, field: &str, expected: &[&str]) -> bool {
        // The path already ends at the unknown key (it was read before it was refused).
        let p = if path.last_key() == Some(field) {
            path
        } else {
            path.key(field)
        };
        if !self.in_placeholder(&p) {
            self.report(p.clone(), true, unknown_field_message(field, expected));
        }
        if let (Some(parent), Some(c)) = (p.parent(), did_you_mean(field, expected)) {
            self.tainted.push(parent.key(c));
        }
        p.remove(&mut self.value)
    }

    fn missing_field(&mut self, path: FieldPath, field: &'static str) -> bool {
        let p = path.key(field);
        if !self.removed.contains(&p) && !self.in_placeholder(&path) {
            self.errors.push(DeError {
                path,
                at_key: true,
                message: format!("missing field `{field}`"),
                missing: Some(field),
            });
        }
        self.tainted.push(p.clone());
        if self.placeholders.contains_key(&p)
            || !p.set(&mut self.value, placeholder(0).unwrap_or_default())
        {
            return false;
        }
        self.placeholders.insert(p, 0);
        true
    }

    /// The placeholder at `path` does not fit its type: try the next one. An enum says which
    /// values it takes; use the first.
    fn next_placeholder(&mut self, path: FieldPath, refusal: &Refusal) -> bool {
        let i = self.placeholders[&path];
        let next = match &refusal.kind {
            RefusalKind::UnknownVariant { expected, .. } if !expected.is_empty() => {
                Some((i, Value::String(expected[0].to_string())))
            }
            _ => placeholder(i + 1).map(|v| (i + 1, v)),
        };
        let Some((j, value)) = next else {
            return false;
        };
        if (j == i && path.get(&self.value) == Some(&value)) || !path.set(&mut self.value, value) {
            return false;
        }
        self.placeholders.insert(path, j);
        true
    }

    /// An invalid value: reported, then taken out (a sequence's item gets a placeholder instead,
    /// since removing it would shift the indexes of the ones after it).
    fn invalid(&mut self, path: FieldPath, refusal: &Refusal) -> bool {
        if !self.in_placeholder(&path) {
            let mut message = plain_words(refusal);
            if let RefusalKind::UnknownVariant { variant, expected } = &refusal.kind
                && let Some(c) = did_you_mean(variant, expected)
            {
                message = format!("{message}; did you mean `{c}`?");
            }
            self.report(path.clone(), false, message);
        }
        if path.is_root() {
            return false;
        }
        self.tainted.push(path.clone());
        if matches!(path.0.last(), Some(Seg::Index(_))) {
            if !path.set(&mut self.value, placeholder(0).unwrap_or_default()) {
                return false;
            }
            self.placeholders.insert(path, 0);
        } else {
            if !path.remove(&mut self.value) {
                return false;
            }
            self.removed.insert(path);
        }
        true
    }

    fn finish<T>(mut self, value: Option<T>) -> DeOutcome<T> {
        if value.is_none() && self.errors.is_empty() {
            // Only reachable if the retries ran out on placeholders alone; never stay silent.
            self.report(
                FieldPath::root(),
                true,
                "cannot be read as this kind of object".into(),
            );
        }
        DeOutcome {
            value,
            errors: self.errors,
            tainted: self.tainted,
        }
    }
}

/// serde speaks Rust (`expected struct Leak`, `expected u32`); say it in YAML words.
fn plain_words(refusal: &Refusal) -> String {
    let RefusalKind::Mismatch { head, expected } = &refusal.kind else {
        return refusal.to_string();
    };
    let words = match expected.strip_prefix("struct ") {
        Some(ty) => format!("a mapping ({ty})"),
        None => match expected.as_str() {
            "u32" => "a whole number from 0 to 4294967295".into(),
            "u64" => "a whole number of 0 or more".into(),
            "i64" => "a whole number".into(),
            "f64" => "a number".into(),
            "a boolean" => "true or false".into(),
            other => other.to_string(),
        },
    };
    format!("{head}, expected {words}")
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

pub(crate) fn unknown_field_message(name: &str, expected: &[&str]) -> String {
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

#[cfg(test)]
mod tests;
