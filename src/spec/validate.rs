//! Semantic checks of a typed experiment: what the types alone cannot say (a pattern's own
//! parameters, `start <= max`, a cron that parses, a known time zone, ...). Pure: no I/O, no clock.
//! Each finding names the field it is about and the fields it depends on, so that the loader can
//! place it at a line and column and drop it when one of those fields was itself invalid.

use std::str::FromStr;

use oomsday_core::{CountOrPercent, Duration, Quantity};

use super::types::{
    AbortRules, Hypothesis, InjectionMode, Leak, LeakExperimentSpec, MemoryLimit, PatternKind,
    Probe, Schedule, Scoring, SteadyState,
};
use super::yaml::FieldPath;

/// Namespaces oomsday refuses to target unless `allowSystemNamespaces: true`.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// How bad a finding (and the loader's `Diagnostic`) is: errors make a file invalid, warnings
/// do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a typed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The field the problem is reported at, from the document root (`spec.leak.max`).
    pub path: FieldPath,
    /// Other fields the finding depends on; it is dropped when any of them was invalid.
    pub related: Vec<FieldPath>,
    pub message: String,
    pub severity: Severity,
}

/// Parses a schedule's cron expression the way the controller runs it: six fields, seconds
/// first (`0 0 3 * * Tue`), no year field.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields = expr.split_whitespace().count();
    if fields == 5 && !expr.contains('@') {
        return Err(format!(
            "`{expr}` has 5 fields; oomsday's cron has 6 with seconds first \
             (sec min hour day-of-month month day-of-week), e.g. \"0 {}\"",
            expr.trim()
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!(
                "invalid cron `{expr}`: {e}; expected 6 fields with seconds first, e.g. \"0 0 3 * * Tue\""
            )
        })
}

/// Parses a blackout entry: one day `2026-12-24` or an inclusive range `2026-11-26/2026-11-30`.
pub fn parse_blackout(s: &str) -> Result<(jiff::civil::Date, jiff::civil::Date), String> {
    let date = |d: &str| -> Result<jiff::civil::Date, String> {
        let d = d.trim();
        let b = d.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return Err(format!("`{d}` is not a date in YYYY-MM-DD form"));
        }
        jiff::civil::Date::from_str(d).map_err(|e| format!("`{d}` is not a real date: {e}"))
    };
    let (from, to) = match s.split_once('/') {
        Some((a, b)) => (date(a)?, date(b)?),
        None => {
            let d = date(s)?;
            (d, d)
        }
    };
    if from > to {
        return Err(format!(
            "the range `{s}` ends before it starts; write the earlier date first"
        ));
    }
    Ok((from, to))
}

struct Checker {
    out: Vec<Finding>,
}

impl Checker {
    fn push(&mut self, severity: Severity, path: &str, related: &[&str], message: String) {
        self.out.push(Finding {
            path: FieldPath::parse(path),
            related: related.iter().map(|p| FieldPath::parse(p)).collect(),
            message,
            severity,
        });
    }
    fn error(&mut self, path: &str, related: &[&str], message: impl Into<String>) {
        self.push(Severity::Error, path, related, message.into());
    }
    fn warn(&mut self, path: &str, related: &[&str], message: impl Into<String>) {
        self.push(Severity::Warning, path, related, message.into());
    }
    fn positive(&mut self, path: &str, d: Duration) {
        if d.is_zero() {
            self.error(path, &[], "must be longer than zero");
        }
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    is_dns_name(s, 253, true)
}

/// A Kubernetes object name: at most `max` characters of lowercase labels (letters, digits,
/// inner dashes), joined by dots when `dots` allows (a subdomain) — else a single label.
pub(super) fn is_dns_name(s: &str, max: usize, dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && (dots || !s.contains('.'))
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// Every semantic problem of `spec`, for an experiment in `namespace`.
pub fn check_spec(spec: &LeakExperimentSpec, namespace: &str) -> Vec<Finding> {
    let mut c = Checker { out: Vec::new() };
    check_target(&mut c, spec, namespace);
    check_leak(&mut c, spec);
    check_injection(&mut c, spec);
    c.positive("spec.duration", spec.duration);
    c.positive("spec.recovery", spec.recovery);
    if let Some(s) = &spec.schedule {
        check_schedule(&mut c, s);
    }
    for i in 0..spec.probes.len() {
        check_probe(&mut c, spec, "spec.probes", &spec.probes, i);
    }
    if let Some(gate) = &spec.steady_state {
        check_steady_state(&mut c, spec, gate);
    }
    if let Some(p) = &spec.prometheus
        && !is_http_url(&p.url)
    {
        c.error(
            "spec.prometheus.url",
            &[],
            format!("`{}` is not an http:// or https:// URL", p.url),
        );
    }
    check_expect_alerts(&mut c, spec);
    if let Some(a) = &spec.abort {
        check_abort(&mut c, spec, a);
    }
    if let Some(h) = &spec.hypothesis {
        check_hypothesis(&mut c, spec, h);
    }
    if let Some(s) = &spec.scoring {
        check_scoring(&mut c, s);
    }
    if let Some(sim) = &spec.simulation
        && sim.cluster.as_deref().is_some_and(|s| s.trim().is_empty())
    {
        c.error("spec.simulation.cluster", &[], "must not be empty");
    }
    c.out
}

fn check_target(c: &mut Checker, spec: &LeakExperimentSpec, namespace: &str) {
    if !is_dns_subdomain(&spec.target.name) {
        c.error(
            "spec.target.name",
            &[],
            format!(
                "`{}` is not a valid workload name (lowercase letters, digits, '-' and '.')",
                spec.target.name
            ),
        );
    }
    if SYSTEM_NAMESPACES.contains(&namespace) && !spec.allow_system_namespaces {
        c.error(
            "metadata.namespace",
            &["spec.allowSystemNamespaces"],
            format!(
                "refusing to target `{namespace}`: leaking memory into a system namespace can take \
                 the control plane down; set spec.allowSystemNamespaces: true if you mean it"
            ),
        );
    }
}

/// What the injection mode allows: resources only in a sidecar, `pods` only for ephemeral.
fn check_injection(c: &mut Checker, spec: &LeakExperimentSpec) {
    let inj = &spec.injection;
    match inj.mode {
        InjectionMode::Ephemeral => {
            if let MemoryLimit::Bytes(_) = spec.leak.limit {
                c.error(
                    "spec.leak.limit",
                    &["spec.injection.mode"],
                    "ephemeral containers cannot have resources: remove `limit` or use mode: sidecar \
                     (the leak is charged to the pod and only the leaker's deadline stops it)",
                );
            }
            if spec.leak.request.is_some() {
                c.error(
                    "spec.leak.request",
                    &["spec.injection.mode"],
                    "ephemeral containers cannot have resources: remove `request` or use mode: sidecar",
                );
            }
        }
        InjectionMode::Sidecar => {
            if inj.pods.is_some() {
                c.error(
                    "spec.injection.pods",
                    &["spec.injection.mode"],
                    "`pods` applies only to mode: ephemeral; a sidecar goes into every pod of the template",
                );
            }
        }
    }
    match inj.pods {
        Some(CountOrPercent::Count(0)) => c.error(
            "spec.injection.pods",
            &[],
            "selects no pods; use at least 1",
        ),
        Some(CountOrPercent::Percent(p)) if p.get() == 0 => c.error(
            "spec.injection.pods",
            &[],
            "selects no pods; use more than 0%",
        ),
        _ => {}
    }
    if let Some(image) = &inj.image
        && (image.trim().is_empty() || image.contains(char::is_whitespace))
    {
        c.error(
            "spec.injection.image",
            &[],
            format!("`{image}` is not an image reference"),
        );
    }
}

fn check_schedule(c: &mut Checker, s: &Schedule) {
    if let Err(e) = parse_cron(&s.cron) {
        c.error("spec.schedule.cron", &[], e);
    }
    if chrono_tz::Tz::from_str(&s.time_zone).is_err() {
        c.error(
            "spec.schedule.timeZone",
            &[],
            format!(
                "`{}` is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
                s.time_zone
            ),
        );
    }
    for (i, b) in s.blackout.iter().enumerate() {
        if let Err(e) = parse_blackout(b) {
            c.error(
                &format!("spec.schedule.blackout[{i}]"),
                &[],
                format!("{e}; expected YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD"),
            );
        }
    }
    if let Some(d) = s.starting_deadline {
        c.positive("spec.schedule.startingDeadline", d);
    }
}

/// The `i`th probe of `probes` (at `list`): a unique name, exactly one of `http` or `query`,
/// and timing that works.
fn check_probe(c: &mut Checker, spec: &LeakExperimentSpec, list: &str, probes: &[Probe], i: usize) {
    let at = format!("{list}[{i}]");
    let p = &probes[i];
    if p.name.trim().is_empty() {
        c.error(&format!("{at}.name"), &[], "must not be empty");
    }
    if probes[..i].iter().any(|q| q.name == p.name) {
        c.error(&format!("{at}.name"), &[], "two probes have the same name");
    }
    match (&p.http, &p.query) {
        (None, None) => c.error(&at, &[], "a probe needs exactly one of `http` or `query`"),
        (Some(_), Some(_)) => c.error(
            &format!("{at}.query"),
            &[&format!("{at}.http")],
            "a probe has exactly one of `http` or `query`, not both",
        ),
        _ => {}
    }
    if let Some(h) = &p.http
        && !is_http_url(&h.url)
    {
        c.error(
            &format!("{at}.http.url"),
            &[],
            format!("`{}` is not an http:// or https:// URL", h.url),
        );
    }
    if let Some(q) = &p.query {
        check_promql(c, &format!("{at}.query.expr"), &q.expr);
        if let (Some(lo), Some(hi)) = (q.min, q.max)
            && lo > hi
        {
            c.error(
                &format!("{at}.query.min"),
                &[&format!("{at}.query.max")],
                "min is above max: no value can pass",
            );
        }
        if spec.prometheus.is_none() {
            c.error(
                &format!("{at}.query"),
                &["spec.prometheus"],
                "a query probe needs spec.prometheus.url to read from",
            );
        }
    }
    c.positive(&format!("{at}.interval"), p.interval);
    c.positive(&format!("{at}.timeout"), p.timeout);
    if p.timeout > p.interval && !p.interval.is_zero() {
        c.warn(
            &format!("{at}.timeout"),
            &[&format!("{at}.interval")],
            format!(
                "timeout {} is longer than the interval {}: attempts will overlap",
                p.timeout, p.interval
            ),
        );
    }
}

/// Expected alerts are read from Prometheus and judged within the run.
fn check_expect_alerts(c: &mut Checker, spec: &LeakExperimentSpec) {
    if !spec.expect_alerts.is_empty() && spec.prometheus.is_none() {
        c.error(
            "spec.expectAlerts",
            &["spec.prometheus"],
            "expected alerts are read from Prometheus: set spec.prometheus.url",
        );
    }
    let window = spec.duration.std() + spec.recovery.std();
    for (i, a) in spec.expect_alerts.iter().enumerate() {
        let at = format!("spec.expectAlerts[{i}]");
        if a.name.trim().is_empty() {
            c.error(&format!("{at}.name"), &[], "must not be empty");
        }
        c.positive(&format!("{at}.within"), a.within);
        if a.within.std() > window {
            c.warn(
                &format!("{at}.within"),
                &["spec.duration", "spec.recovery"],
                format!(
                    "{} is longer than the whole run (duration + recovery = {}): it cannot be judged",
                    a.within,
                    Duration(window)
                ),
            );
        }
    }
}

/// A PromQL expression: not empty, and one Prometheus would parse.
fn check_promql(c: &mut Checker, path: &str, expr: &str) {
    if expr.trim().is_empty() {
        c.error(path, &[], "must not be empty");
    } else if let Err(e) = promql_parser::parser::parse(expr) {
        c.error(
            path,
            &[],
            format!("`{expr}` is not valid PromQL: {}", e.trim()),
        );
    }
}

/// The steady-state gate: a window it can hold within its timeout, and probes that point at
/// something (checked as spec.probes are).
fn check_steady_state(c: &mut Checker, spec: &LeakExperimentSpec, gate: &SteadyState) {
    c.positive("spec.steadyState.timeout", gate.timeout);
    if gate.hold > gate.timeout {
        c.error(
            "spec.steadyState.for",
            &["spec.steadyState.timeout"],
            format!(
                "{} is longer than the timeout {}: the target could never be steady for long enough",
                gate.hold, gate.timeout
            ),
        );
    }
    for i in 0..gate.probes.len() {
        check_probe(c, spec, "spec.steadyState.probes", &gate.probes, i);
    }
}

/// Abort rules: a zero threshold would abort before anything happened; query rules need
/// Prometheus, a valid expression and exactly one threshold.
fn check_abort(c: &mut Checker, spec: &LeakExperimentSpec, a: &AbortRules) {
    let needs_prometheus = |c: &mut Checker, path: &str| {
        if spec.prometheus.is_none() {
            c.error(
                path,
                &["spec.prometheus"],
                "query abort rules are read from Prometheus: set spec.prometheus.url",
            );
        }
    };
    if !a.alerts.is_empty() {
        needs_prometheus(c, "spec.abort.alerts");
    }
    for (i, name) in a.alerts.iter().enumerate() {
        if name.trim().is_empty() {
            c.error(&format!("spec.abort.alerts[{i}]"), &[], "must not be empty");
        }
    }
    if let Some(q) = &a.promql {
        needs_prometheus(c, "spec.abort.promql");
        check_promql(c, "spec.abort.promql.query", &q.query);
        match (q.above, q.below) {
            (None, None) => c.error(
                "spec.abort.promql",
                &[],
                "a PromQL abort rule needs a threshold: `above` or `below`",
            ),
            (Some(_), Some(_)) => c.error(
                "spec.abort.promql.below",
                &["spec.abort.promql.above"],
                "a PromQL abort rule has exactly one of `above` or `below`, not both",
            ),
            _ => {}
        }
    }
    check_abort_counts(c, a);
}

/// The structural abort rules' thresholds.
fn check_abort_counts(c: &mut Checker, a: &AbortRules) {
    for (field, v) in [
        ("nodesNotReady", a.nodes_not_ready),
        ("nodesUnderPressure", a.nodes_under_pressure),
        ("bystanderEvictions", a.bystander_evictions),
    ] {
        if v == Some(0) {
            c.error(
                &format!("spec.abort.{field}"),
                &[],
                "0 would abort at once; the rule fires when the count reaches this number, so use 1 or more",
            );
        }
    }
    if a.availability_below.is_some_and(|p| p.get() == 0) {
        c.warn(
            "spec.abort.availabilityBelow",
            &[],
            "availability can never be below 0%: this rule never fires",
        );
    }
}

fn check_hypothesis(c: &mut Checker, spec: &LeakExperimentSpec, h: &Hypothesis) {
    if let Some(d) = h.recovered_within {
        c.positive("spec.hypothesis.recoveredWithin", d);
        if d > spec.recovery {
            c.warn(
                "spec.hypothesis.recoveredWithin",
                &["spec.recovery"],
                format!(
                    "{d} is longer than spec.recovery ({}): the run stops watching before then",
                    spec.recovery
                ),
            );
        }
    }
    if h.alerts_fire == Some(true) && spec.expect_alerts.is_empty() {
        c.warn(
            "spec.hypothesis.alertsFire",
            &["spec.expectAlerts"],
            "there are no expectAlerts to judge",
        );
    }
}

fn check_scoring(c: &mut Checker, s: &Scoring) {
    let w = &s.weights;
    let all = [
        ("availability", w.availability),
        ("containment", w.containment),
        ("recovery", w.recovery),
        ("detection", w.detection),
        ("hygiene", w.hygiene),
    ];
    for (name, v) in all {
        if !v.is_finite() || v < 0.0 {
            c.error(
                &format!("spec.scoring.weights.{name}"),
                &[],
                "must be a number of 0 or more",
            );
        }
    }
    if all.iter().all(|(_, v)| *v == 0.0) {
        c.error(
            "spec.scoring.weights",
            &[],
            "all weights are zero: nothing would be scored",
        );
    }
    if let Some(d) = s.recovery_target {
        c.positive("spec.scoring.recoveryTarget", d);
    }
}

fn check_leak(c: &mut Checker, spec: &LeakExperimentSpec) {
    check_pattern_params(c, &spec.leak);
    check_amounts(c, &spec.leak);
    check_bounds(c, &spec.leak);
    if let MemoryLimit::Bytes(limit) = spec.leak.limit {
        check_limit(c, spec, limit);
    }
}

/// Every leak pattern, in the order of the docs.
pub(super) const PATTERN_PARAMS: [PatternKind; 4] = [
    PatternKind::Linear,
    PatternKind::Exponential,
    PatternKind::Step,
    PatternKind::Sawtooth,
];

/// The pattern parameters of `spec.leak`.
pub(super) const LEAK_PARAMS: [&str; 5] = ["rate", "doubling", "step", "every", "gcEvery"];

pub(super) fn pattern_name(kind: PatternKind) -> &'static str {
    match kind {
        PatternKind::Linear => "linear",
        PatternKind::Exponential => "exponential",
        PatternKind::Step => "step",
        PatternKind::Sawtooth => "sawtooth",
    }
}

/// The parameters a pattern takes (and no others); the CRD's CEL rules are made from the same.
pub(super) fn pattern_params(kind: PatternKind) -> &'static [&'static str] {
    match kind {
        PatternKind::Linear => &["rate"],
        PatternKind::Exponential => &["doubling"],
        PatternKind::Step => &["step", "every"],
        PatternKind::Sawtooth => &["rate", "gcEvery"],
    }
}

pub(super) fn param_example(param: &str) -> &'static str {
    match param {
        "rate" => "40Mi/min",
        "doubling" => "5m",
        "step" => "256Mi",
        "every" => "2m",
        _ => "10m",
    }
}

/// Each pattern takes its own parameters, and only those.
fn check_pattern_params(c: &mut Checker, leak: &Leak) {
    let pattern = pattern_name(leak.pattern);
    let own = pattern_params(leak.pattern);
    let example = param_example;
    let present = [
        ("rate", leak.rate.is_some()),
        ("doubling", leak.doubling.is_some()),
        ("step", leak.step.is_some()),
        ("every", leak.every.is_some()),
        ("gcEvery", leak.gc_every.is_some()),
    ];
    for (param, is_set) in present {
        let path = format!("spec.leak.{param}");
        if own.contains(&param) && !is_set {
            c.error(
                &path,
                &["spec.leak.pattern"],
                format!(
                    "pattern {pattern} needs `{param}` (e.g. {param}: {})",
                    example(param)
                ),
            );
        } else if !own.contains(&param) && is_set {
            c.error(
                &path,
                &["spec.leak.pattern"],
                format!(
                    "`{param}` does not apply to pattern {pattern}, which takes {}",
                    own.iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            );
        }
    }
}

/// Amounts above zero, durations longer than zero.
fn check_amounts(c: &mut Checker, leak: &Leak) {
    if let Some(r) = leak.rate
        && r.amount.bytes() == 0
    {
        c.error("spec.leak.rate", &[], "the rate must be above zero");
    }
    if let Some(s) = leak.step
        && s.bytes() == 0
    {
        c.error("spec.leak.step", &[], "the step must be above zero");
    }
    for (param, d) in [
        ("doubling", leak.doubling),
        ("every", leak.every),
        ("gcEvery", leak.gc_every),
    ] {
        if let Some(d) = d {
            c.positive(&format!("spec.leak.{param}"), d);
        }
    }
    if leak.pattern == PatternKind::Exponential && leak.start.bytes() == 0 {
        c.error(
            "spec.leak.start",
            &["spec.leak.pattern"],
            "an exponential leak doubles `start`, so it must be above zero (e.g. start: 64Mi)",
        );
    }
}

/// `max` unless unbounded, and `start` within it.
fn check_bounds(c: &mut Checker, leak: &Leak) {
    let start = leak.start;
    match (leak.max, leak.unbounded) {
        (None, false) => c.error(
            "spec.leak.max",
            &["spec.leak.unbounded"],
            "`max` is required (e.g. max: 2Gi), unless the leak is meant to grow without a ceiling: unbounded: true",
        ),
        (Some(_), true) => c.warn(
            "spec.leak.max",
            &["spec.leak.unbounded"],
            "`max` is ignored because unbounded: true",
        ),
        (Some(max), false) => {
            if max.bytes() == 0 {
                c.error("spec.leak.max", &[], "must be above zero");
            } else if start > max {
                c.error(
                    "spec.leak.start",
                    &["spec.leak.max"],
                    format!("start {start} is above max {max}"),
                );
            }
        }
        (None, true) => {}
    }
}

/// A container limit the leak starts below and reaches within the run; a request within it.
fn check_limit(c: &mut Checker, spec: &LeakExperimentSpec, limit: Quantity) {
    let leak = &spec.leak;
    let start = leak.start;
    let bounded_max = if leak.unbounded { None } else { leak.max };
    if limit.bytes() == 0 {
        c.error(
            "spec.leak.limit",
            &[],
            "a limit of 0 cannot run anything; write `none` for no limit",
        );
    } else if limit < start {
        c.error(
            "spec.leak.limit",
            &["spec.leak.start"],
            format!(
                "limit {limit} is below start {start}: the leaker would be OOM-killed the moment it starts"
            ),
        );
    } else if let Some(max) = bounded_max
        && limit > max
    {
        c.warn(
            "spec.leak.limit",
            &["spec.leak.max"],
            format!(
                "limit {limit} is above max {max}: the leak never reaches it, so no container OOM kill will be rehearsed"
            ),
        );
    } else if let Ok(curve) = leak.curve()
        && curve
            .time_to_reach(limit.bytes())
            .is_none_or(|t| t > spec.duration.std())
    {
        c.warn(
            "spec.leak.limit",
            &[
                "spec.duration",
                "spec.leak.rate",
                "spec.leak.doubling",
                "spec.leak.step",
                "spec.leak.every",
                "spec.leak.gcEvery",
                "spec.leak.start",
            ],
            format!(
                "the leak holds at most {} within its duration of {}, below limit {limit}: \
                 no container OOM kill will be rehearsed",
                oomsday_core::units::human_bytes(peak_within(&curve, spec.duration.std())),
                spec.duration,
            ),
        );
    }
    if let Some(req) = leak.request
        && req > limit
    {
        c.error(
            "spec.leak.request",
            &["spec.leak.limit"],
            format!("request {req} is above limit {limit}; Kubernetes refuses that"),
        );
    }
}

/// The most `curve` holds at any time up to `d`. Every pattern but sawtooth only grows; a
/// sawtooth peaks just before each collection.
fn peak_within(curve: &oomsday_core::LeakCurve, d: std::time::Duration) -> u64 {
    let mut peak = curve.bytes_at(d);
    if let oomsday_core::Pattern::Sawtooth { gc_every, .. } = curve.pattern {
        let g = gc_every.std();
        if !g.is_zero() && g <= d {
            let before_gc = g.saturating_sub(std::time::Duration::from_millis(1));
            peak = peak.max(curve.bytes_at(before_gc));
        }
    }
    peak
}

#[cfg(test)]
mod tests;
