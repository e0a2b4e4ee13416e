//! Query strings, label selectors and field selectors, as the API server reads them: the one
//! reading of them every fake API server here shares (the tests' and the scale bench's).
//!
//! Label selectors take every form `kube::core::Selector` writes (`k=v`, `k==v`, `k!=v`, `k`,
//! `!k`, `k in (a,b)`, `k notin (a,b)`); field selectors take `=`, `==` and `!=` on the field
//! labels the real API server supports for each resource, and refuse the others with 400
//! ("field label not supported"), so a selector the real server would refuse fails here too.

use std::collections::BTreeMap;

/// Percent-decodes a query component (`+` is a space, as `form_urlencoded` writes it).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string as decoded pairs (the last of a repeated key wins).
pub fn query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// Splits on commas outside parentheses (`a in (x,y),b=c`).
fn terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for t in terms(s) {
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let inner = rest
                    .trim()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unable to parse requirement: {t}"))?;
                Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            let req = if let Some((k, v)) = t.split_once("!=") {
                LabelReq::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = t.split_once(" notin ") {
                LabelReq::NotIn(k.trim().into(), set(rest)?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                LabelReq::In(k.trim().into(), set(rest)?)
            } else if let Some(k) = t.strip_prefix('!') {
                LabelReq::Absent(k.trim().into())
            } else {
                LabelReq::Exists(t.into())
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::Ne(k, v) => labels.get(k) != Some(v),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::Absent(k) => !labels.contains_key(k),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        })
    }
}

/// The field labels the real API server accepts in a field selector, per resource (plural);
/// `metadata.name` and `metadata.namespace` work everywhere.
pub fn field_labels(plural: &str) -> &'static [&'static str] {
    match plural {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "nodes" => &["spec.unschedulable"],
        _ => &[],
    }
}

/// A parsed field selector: (field label, wanted value, equal?).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Refuses field labels the real API server does not support for `plural`.
    pub fn parse(s: &str, plural: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for t in terms(s) {
            let (k, v, eq) = if let Some((k, v)) = t.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, v, true)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, v, true)
            } else {
                return Err(format!("invalid selector: '{s}'; can't understand '{t}'"));
            };
            let k = k.trim();
            if !matches!(k, "metadata.name" | "metadata.namespace")
                && !field_labels(plural).contains(&k)
            {
                return Err(format!("field label not supported: {k}"));
            }
            reqs.push((k.to_string(), v.trim().to_string(), eq));
        }
        Ok(FieldSelector(reqs))
    }

    /// `fields` holds the object's value of every supported field label (missing = "").
    pub fn matches(&self, fields: &BTreeMap<&'static str, String>) -> bool {
        self.0.iter().all(|(k, v, eq)| {
            let have = fields.get(k.as_str()).map_or("", String::as_str);
            (have == v) == *eq
        })
    }
}

/// Checks the semantics above on a few cases; the bench runs it before measuring, so a broken
/// selector cannot silently change what is served.
pub fn self_check() {
    let labels: BTreeMap<String, String> = [
        ("app".to_string(), "checkout".to_string()),
        ("tier".to_string(), "web".to_string()),
    ]
    .into();
    for (s, want) in [
        ("app=checkout", true),
        ("app==checkout,tier=web", true),
        ("app!=checkout", false),
        ("app in (a,checkout),!gone", true),
        ("tier notin (web)", false),
        ("", true),
    ] {
        let got = LabelSelector::parse(s).map(|l| l.matches(&labels));
        assert_eq!(got, Ok(want), "label selector {s}");
    }
    assert!(FieldSelector::parse("spec.nodeName=node-000", "pods").is_ok());
    assert!(FieldSelector::parse("spec.nodeName=node-000", "events").is_err());
    assert_eq!(
        decode("metadata.name%3Dcheckout+x"),
        "metadata.name=checkout x"
    );
}
