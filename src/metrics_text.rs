//! The Prometheus text exposition format, read: the samples of one metric from a `/metrics`
//! page (a leaker's, a kubelet's, an API server's). One reading for every caller, so that a
//! name that is a prefix of another (`kubelet_cgroup_version` of
//! `kubelet_cgroup_version_total`) or a sample with labels or a timestamp is read the same way
//! everywhere.

/// Each sample of `name` in `text`: its labels (the text between the braces, empty without any)
/// and its value. Lines that are comments, other metrics or unreadable are skipped.
pub fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.trim().strip_prefix(name)?;
        let (labels, rest) = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once('}')?,
            None => ("", rest),
        };
        // `NAME{LABELS} VALUE [TIMESTAMP]`: the name must end right there.
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let value = rest.split_whitespace().next()?.parse().ok()?;
        Some((labels, value))
    })
}

/// The value of label `key` in a sample's labels (`verb="LIST",resource="pods"`).
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests;
