//! YAML with positions: each document becomes a `serde_json::Value` (what serde and the API server
//! see) plus an index from field path to where its key and value were written, so that every
//! problem found later — by serde or by the semantic checks — can be reported at a line and column.

use std::collections::HashMap;
use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde_json::{Map, Value};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(m: &saphyr::Marker) -> Self {
        // saphyr counts lines from 1 and columns from 0; editors and compilers count both from 1.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field path such as `spec.probes[0].http.url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses the dotted form used in diagnostics (`spec.probes[0].name`). Keys holding dots
    /// cannot be told apart from nesting in that form; the index stores the same rendering, so
    /// lookups still agree.
    pub fn parse(s: &str) -> Self {
        let mut segs = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                segs.push(Seg::Key(key.to_string()));
            }
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                match stripped[..end].parse() {
                    Ok(i) => segs.push(Seg::Index(i)),
                    Err(_) => segs.push(Seg::Key(stripped[..end].to_string())),
                }
                rest = &stripped[end + 1..];
            }
        }
        FieldPath(segs)
    }

    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        FieldPath(v)
    }

    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }

    pub fn parent(&self) -> Option<Self> {
        let mut v = self.0.clone();
        v.pop()?;
        Some(FieldPath(v))
    }

    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    pub fn join(&self, other: &FieldPath) -> Self {
        let mut v = self.0.clone();
        v.extend(other.0.iter().cloned());
        FieldPath(v)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at this path, if present.
    pub fn get<'v>(&self, mut v: &'v Value) -> Option<&'v Value> {
        for seg in &self.0 {
            v = match seg {
                Seg::Key(k) => v.as_object()?.get(k)?,
                Seg::Index(i) => v.as_array()?.get(*i)?,
            };
        }
        Some(v)
    }

    /// The value at this path, mutably, if present.
    pub fn get_mut<'v>(&self, mut v: &'v mut Value) -> Option<&'v mut Value> {
        for seg in &self.0 {
            v = match seg {
                Seg::Key(k) => v.as_object_mut()?.get_mut(k)?,
                Seg::Index(i) => v.as_array_mut()?.get_mut(*i)?,
            };
        }
        Some(v)
    }

    /// Puts `new` at this path: a key of a mapping (added if absent) or an existing item of a
    /// sequence. False when the parent is not there or is neither.
    pub fn set(&self, root: &mut Value, new: Value) -> bool {
        let (Some(parent), Some(last)) = (self.parent(), self.0.last()) else {
            return false;
        };
        match (parent.get_mut(root), last) {
            (Some(Value::Object(m)), Seg::Key(k)) => {
                m.insert(k.clone(), new);
                true
            }
            (Some(Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
                a[*i] = new;
                true
            }
            _ => false,
        }
    }

    /// Takes the key at this path out of its mapping. False when there was no such key.
    pub fn remove(&self, root: &mut Value) -> bool {
        let (Some(parent), Some(key)) = (self.parent(), self.last_key()) else {
            return false;
        };
        match parent.get_mut(root) {
            Some(Value::Object(m)) => m.remove(key).is_some(),
            _ => false,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Where a field was written: its key (for unknown or misplaced fields) and its value (for
/// invalid values). Sequence items have no key; theirs is the item's own position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub key: Pos,
    pub value: Pos,
}

/// One YAML document with its positions.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    /// Where the document's root node starts.
    pub start: Pos,
    index: HashMap<FieldPath, Located>,
}

impl Document {
    /// Where `path` was written, or its nearest written ancestor (a missing field is reported at
    /// the object that lacks it). `use_key` picks the key's position over the value's.
    pub fn position(&self, path: &FieldPath, use_key: bool) -> Pos {
        let mut p = path.clone();
        loop {
            if let Some(l) = self.index.get(&p) {
                return if use_key { l.key } else { l.value };
            }
            match p.parent() {
                Some(parent) => p = parent,
                None => return self.start,
            }
        }
    }

    /// Whether `path` was written in the source.
    pub fn contains(&self, path: &FieldPath) -> bool {
        self.index.contains_key(path)
    }
}

/// A YAML syntax error at the parser's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// A document that is valid YAML but cannot be represented as JSON (e.g. a mapping used as a
/// key): reported at its position, like a syntax error.
fn convert_error(pos: Pos, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        pos,
        message: message.into(),
    }
}

/// Parses every document of `text`. Empty documents (a trailing `---`) are left out.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| SyntaxError {
        pos: Pos::from_marker(e.marker()),
        message: e.info().to_string(),
    })?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in &docs {
        if matches!(doc.data, YamlDataOwned::BadValue)
            || matches!(doc.data, YamlDataOwned::Value(ScalarOwned::Null))
        {
            continue;
        }
        let start = Pos::from_marker(&doc.span.start);
        let mut index = HashMap::new();
        let root = FieldPath::root();
        index.insert(
            root.clone(),
            Located {
                key: start,
                value: start,
            },
        );
        let value = convert(doc, &root, &mut index, 0)?;
        out.push(Document {
            value,
            start,
            index,
        });
    }
    Ok(out)
}

/// Deeper than any experiment needs; bounds the recursion on hostile input.
const MAX_DEPTH: usize = 64;

fn convert(
    node: &MarkedYamlOwned,
    path: &FieldPath,
    index: &mut HashMap<FieldPath, Located>,
    depth: usize,
) -> Result<Value, SyntaxError> {
    let pos = Pos::from_marker(&node.span.start);
    if depth > MAX_DEPTH {
        return Err(convert_error(pos, "the document is nested too deeply"));
    }
    Ok(match &node.data {
        YamlDataOwned::Value(s) => scalar(s),
        YamlDataOwned::Representation(s, _, _) => Value::String(s.clone()),
        // A custom tag changes nothing for us; the API server ignores it too once it is JSON.
        YamlDataOwned::Tagged(_, inner) => convert(inner, path, index, depth + 1)?,
        YamlDataOwned::BadValue => {
            return Err(convert_error(
                pos,
                "this value cannot be read (a tag that does not fit the value?)",
            ));
        }
        YamlDataOwned::Alias(_) => {
            return Err(convert_error(pos, "unresolved alias"));
        }
        YamlDataOwned::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = path.index(i);
                let ipos = Pos::from_marker(&item.span.start);
                index.insert(
                    p.clone(),
                    Located {
                        key: ipos,
                        value: ipos,
                    },
                );
                out.push(convert(item, &p, index, depth + 1)?);
            }
            Value::Array(out)
        }
        YamlDataOwned::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let kpos = Pos::from_marker(&k.span.start);
                let key = match &k.data {
                    YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    // Kubernetes' YAML reader turns scalar keys into strings as well.
                    YamlDataOwned::Value(s) => scalar_text(s),
                    YamlDataOwned::Representation(s, _, _) => s.clone(),
                    _ => return Err(convert_error(kpos, "mapping keys must be plain strings")),
                };
                let p = path.key(&key);
                index.insert(
                    p.clone(),
                    Located {
                        key: kpos,
                        value: Pos::from_marker(&v.span.start),
                    },
                );
                let value = convert(v, &p, index, depth + 1)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
    })
}

fn scalar(s: &ScalarOwned) -> Value {
    match s {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(*b),
        ScalarOwned::Integer(i) => Value::from(*i),
        ScalarOwned::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            // NaN and infinities have no JSON form; as text they still fail where a number is due.
            .unwrap_or_else(|| Value::String(f.into_inner().to_string())),
        ScalarOwned::String(s) => Value::String(s.clone()),
    }
}

fn scalar_text(s: &ScalarOwned) -> String {
    match s {
        ScalarOwned::Null => "null".into(),
        ScalarOwned::Boolean(b) => b.to_string(),
        ScalarOwned::Integer(i) => i.to_string(),
        ScalarOwned::FloatingPoint(f) => f.into_inner().to_string(),
        ScalarOwned::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests;
