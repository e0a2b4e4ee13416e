//! The checks of `oomsday validate` that one object can show, as CEL rules
//! (`x-kubernetes-validations`) the API server runs on `kubectl apply`: the one place each rule's
//! expression and message are written. [`apply`] puts them into the generated CRDs, at the
//! LeakExperiment's `spec` and the LeakRun's `spec.experimentSpec` alike.
//!
//! Messages are those of src/spec/validate.rs (the unit tests compare them on the same examples).
//! Quantities are compared with Kubernetes' CEL `quantity()` library (1.29+). Strings and lists
//! that rules read get a `maxLength` / `maxItems`, else the API server's cost estimate takes each
//! as large as a whole request and refuses the CRD.
//!
//! What needs more than the object (its namespace, the namespace's opt-in label) is in the
//! ValidatingAdmissionPolicy of deploy/policy/.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, ValidationRule,
};

/// A rule's message: fixed, or a CEL expression when it quotes the object's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Fixed(String),
    Expr(String),
}

/// One CEL rule at one node of the experiment spec's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The node, below the spec: `""` for the spec itself, `leak`, `probes[]` (each item),
    /// `schedule.timeZone`.
    pub at: &'static str,
    /// The CEL expression; true means valid. `self` is the node.
    pub rule: String,
    pub message: Message,
    /// The field the API server names in its answer, relative to the node (`.max`).
    pub field_path: Option<&'static str>,
}

fn fixed(
    at: &'static str,
    rule: impl Into<String>,
    msg: &str,
    field: Option<&'static str>,
) -> Rule {
    Rule {
        at,
        rule: rule.into(),
        message: Message::Fixed(msg.into()),
        field_path: field,
    }
}

fn expr(
    at: &'static str,
    rule: impl Into<String>,
    msg: impl Into<String>,
    field: Option<&'static str>,
) -> Rule {
    Rule {
        at,
        rule: rule.into(),
        message: Message::Expr(msg.into()),
        field_path: field,
    }
}

/// Durations whose zero validate refuses ("must be longer than zero").
const POSITIVE_DURATIONS: [&str; 11] = [
    "duration",
    "recovery",
    "schedule.startingDeadline",
    "probes[].interval",
    "probes[].timeout",
    "expectAlerts[].within",
    "hypothesis.recoveredWithin",
    "scoring.recoveryTarget",
    "leak.doubling",
    "leak.every",
    "leak.gcEvery",
];

/// Size bounds the API server's cost estimate needs on what the rules read: `(node, maxLength or
/// maxItems)`. Generous: no sensible experiment comes near them.
const BOUNDS: [(&str, i64); 26] = [
    ("target.name", 253),
    ("injection.image", 1024),
    ("leak.rate", 64),
    ("leak.step", 64),
    ("leak.start", 64),
    ("leak.max", 64),
    ("leak.limit", 64),
    ("leak.request", 64),
    ("leak.doubling", 64),
    ("leak.every", 64),
    ("leak.gcEvery", 64),
    ("duration", 64),
    ("recovery", 64),
    ("schedule.cron", 256),
    ("schedule.timeZone", 64),
    ("schedule.blackout", 64),
    ("schedule.blackout[]", 32),
    ("schedule.startingDeadline", 64),
    ("probes", 16),
    ("probes[].name", 253),
    ("probes[].interval", 64),
    ("probes[].timeout", 64),
    ("probes[].http.url", 2048),
    ("prometheus.url", 2048),
    ("expectAlerts", 64),
    ("expectAlerts[].within", 64),
];

/// More bounds, for the strings tested for emptiness and the remaining durations.
const MORE_BOUNDS: [(&str, i64); 13] = [
    ("abort.alerts", 64),
    ("abort.alerts[]", 253),
    ("abort.promql.query", 16384),
    ("steadyState.probes", 16),
    ("steadyState.probes[].name", 253),
    ("steadyState.probes[].http.url", 2048),
    ("steadyState.probes[].query.expr", 16384),
    ("expectAlerts[].name", 253),
    ("hypothesis.recoveredWithin", 64),
    ("scoring.recoveryTarget", 64),
    ("simulation.cluster", 4096),
    ("probes[].query.expr", 16384),
    ("observation.outageTolerance", 64),
];

/// The Kubernetes name rule a workload name follows (a DNS subdomain), as validate has it.
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// An http(s) URL as validate reads one: a scheme, then a host, no whitespace.
const HTTP_URL: &str = r"^https?://[^/\s]\S*$";

/// Every rule, in the order the API server reports them.
pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    out.extend(pattern_rules());
    out.extend(leak_rules());
    out.extend(limit_rules());
    out.extend(cross_rules());
    out.extend(spec_rules());
    out.extend(schedule_rules());
    out.extend(probe_rules());
    out.extend(gate_and_query_abort_rules());
    out.extend(POSITIVE_DURATIONS.iter().map(|at| {
        fixed(
            at,
            "self.matches('[1-9]')",
            "must be longer than zero",
            None,
        )
    }));
    out
}

/// CEL that `q` (a CEL expression of a string) is a quantity above zero.
fn above_zero(q: &str) -> String {
    format!("isQuantity({q}) && quantity({q}).compareTo(quantity('0')) > 0")
}

/// The pattern parameters: which patterns take each, and validate's example value.
fn pattern_rules() -> Vec<Rule> {
    use super::validate::{PATTERN_PARAMS, param_example, pattern_name, pattern_params};
    let mut out = Vec::new();
    for kind in PATTERN_PARAMS {
        let pattern = pattern_name(kind);
        let own = pattern_params(kind);
        for param in super::validate::LEAK_PARAMS {
            let field = param_field(param);
            if own.contains(&param) {
                out.push(fixed(
                    "leak",
                    format!("self.pattern != '{pattern}' || has(self.{param})"),
                    &format!(
                        "pattern {pattern} needs `{param}` (e.g. {param}: {})",
                        param_example(param)
                    ),
                    Some(field),
                ));
            } else {
                let takes: Vec<String> = own.iter().map(|p| format!("`{p}`")).collect();
                out.push(fixed(
                    "leak",
                    format!("self.pattern != '{pattern}' || !has(self.{param})"),
                    &format!(
                        "`{param}` does not apply to pattern {pattern}, which takes {}",
                        takes.join(" and ")
                    ),
                    Some(field),
                ));
            }
        }
    }
    out
}

/// Amounts above zero, `start` within `max`, a limit the leak starts below.
fn leak_rules() -> Vec<Rule> {
    let bounded =
        "!(has(self.unbounded) && self.unbounded) && has(self.max) && isQuantity(self.max)";
    let start = "has(self.start) && isQuantity(self.start)";
    vec![
        // A zero amount is all zeros and dots before the suffix and the `/`.
        fixed(
            "leak",
            r"!has(self.rate) || !self.rate.matches('^\\+?[0.]+([KMGTPE]i|[numkMGTPE]|[eE]-?[0-9]+)?/')",
            "the rate must be above zero",
            Some(".rate"),
        ),
        fixed(
            "leak",
            format!(
                "!has(self.step) || !isQuantity(self.step) || {}",
                above_zero("self.step")
            ),
            "the step must be above zero",
            Some(".step"),
        ),
        fixed(
            "leak",
            format!(
                "self.pattern != 'exponential' || ({})",
                above_zero("self.start")
            ),
            "an exponential leak doubles `start`, so it must be above zero (e.g. start: 64Mi)",
            Some(".start"),
        ),
        fixed(
            "leak",
            "has(self.max) || (has(self.unbounded) && self.unbounded)",
            "`max` is required (e.g. max: 2Gi), unless the leak is meant to grow without a ceiling: unbounded: true",
            Some(".max"),
        ),
        fixed(
            "leak",
            format!("!({bounded}) || quantity(self.max).compareTo(quantity('0')) > 0"),
            "must be above zero",
            Some(".max"),
        ),
        expr(
            "leak",
            format!(
                "!({bounded} && {start}) || quantity(self.max).compareTo(quantity('0')) <= 0 || \
                 quantity(self.start).compareTo(quantity(self.max)) <= 0"
            ),
            "'start ' + self.start + ' is above max ' + self.max",
            Some(".start"),
        ),
    ]
}

/// A limit that is a quantity or `none`, above zero, not below `start`, not below the request.
fn limit_rules() -> Vec<Rule> {
    let start = "has(self.start) && isQuantity(self.start)";
    let limit = "has(self.limit) && self.limit != 'none' && isQuantity(self.limit)";
    vec![
        fixed(
            "leak",
            "!has(self.limit) || self.limit == 'none' || isQuantity(self.limit)",
            "the limit must be a memory quantity (512Mi) or `none`",
            Some(".limit"),
        ),
        fixed(
            "leak",
            format!("!({limit}) || quantity(self.limit).compareTo(quantity('0')) != 0"),
            "a limit of 0 cannot run anything; write `none` for no limit",
            Some(".limit"),
        ),
        expr(
            "leak",
            format!(
                "!({limit} && {start}) || quantity(self.limit).compareTo(quantity('0')) == 0 || \
                 quantity(self.limit).compareTo(quantity(self.start)) >= 0"
            ),
            "'limit ' + self.limit + ' is below start ' + self.start + ': the leaker would be OOM-killed the moment it starts'",
            Some(".limit"),
        ),
        expr(
            "leak",
            format!(
                "!({limit} && has(self.request) && isQuantity(self.request)) || \
                 quantity(self.request).compareTo(quantity(self.limit)) <= 0"
            ),
            "'request ' + self.request + ' is above limit ' + self.limit + '; Kubernetes refuses that'",
            Some(".request"),
        ),
    ]
}

fn param_field(param: &str) -> &'static str {
    match param {
        "rate" => ".rate",
        "doubling" => ".doubling",
        "step" => ".step",
        "every" => ".every",
        _ => ".gcEvery",
    }
}

/// Rules across the spec's parts: the injection mode and the leak, probes and Prometheus.
fn cross_rules() -> Vec<Rule> {
    let ephemeral =
        "has(self.injection) && has(self.injection.mode) && self.injection.mode == 'ephemeral'";
    vec![
        fixed(
            "",
            format!("!({ephemeral}) || !has(self.leak.limit) || self.leak.limit == 'none'"),
            "ephemeral containers cannot have resources: remove `limit` or use mode: sidecar \
             (the leak is charged to the pod and only the leaker's deadline stops it)",
            Some(".leak.limit"),
        ),
        fixed(
            "",
            format!("!({ephemeral}) || !has(self.leak.request)"),
            "ephemeral containers cannot have resources: remove `request` or use mode: sidecar",
            Some(".leak.request"),
        ),
        fixed(
            "",
            format!("!has(self.injection) || !has(self.injection.pods) || ({ephemeral})"),
            "`pods` applies only to mode: ephemeral; a sidecar goes into every pod of the template",
            Some(".injection.pods"),
        ),
        fixed(
            "",
            "has(self.prometheus) || !has(self.probes) || self.probes.all(p, !has(p.query))",
            "a query probe needs spec.prometheus.url to read from",
            Some(".probes"),
        ),
        fixed(
            "",
            "has(self.prometheus) || !has(self.expectAlerts) || size(self.expectAlerts) == 0",
            "expected alerts are read from Prometheus: set spec.prometheus.url",
            Some(".expectAlerts"),
        ),
    ]
}

/// Rules on single fields outside the leak.
fn spec_rules() -> Vec<Rule> {
    let not_empty = |at: &'static str| fixed(at, r"self.matches('\\S')", "must not be empty", None);
    let mut out = vec![
        expr(
            "target.name",
            format!("self.matches(r'{DNS_SUBDOMAIN}')"),
            r#""`" + self + "` is not a valid workload name (lowercase letters, digits, '-' and '.')""#,
            None,
        ),
        fixed(
            "injection.pods",
            "type(self) != int || self != 0",
            "selects no pods; use at least 1",
            None,
        ),
        fixed(
            "injection.pods",
            "type(self) != string || !self.matches('^0+%$')",
            "selects no pods; use more than 0%",
            None,
        ),
        expr(
            "injection.image",
            r"self.matches('^\\S+$')",
            "'`' + self + '` is not an image reference'",
            None,
        ),
        expr(
            "prometheus.url",
            format!("self.matches(r'{HTTP_URL}')"),
            "'`' + self + '` is not an http:// or https:// URL'",
            None,
        ),
        not_empty("expectAlerts[].name"),
        not_empty("simulation.cluster"),
        fixed(
            "scoring.weights",
            WEIGHTS
                .map(|(w, _)| format!("!(has(self.{w}) && self.{w} == 0.0)"))
                .join(" || "),
            "all weights are zero: nothing would be scored",
            None,
        ),
    ];
    for (_, at) in WEIGHTS {
        // The message quotes no value: the API server's estimate of string(double) is too
        // costly for a message, and the field path says which weight it is.
        out.push(fixed(
            at,
            "self >= 0.0",
            "must be a number of 0 or more",
            None,
        ));
    }
    for at in [
        "abort.nodesNotReady",
        "abort.nodesUnderPressure",
        "abort.bystanderEvictions",
    ] {
        out.push(fixed(
            at,
            "self != 0",
            "0 would abort at once; the rule fires when the count reaches this number, so use 1 or more",
            None,
        ));
    }
    out
}

/// The scoring weights, by name, and where each is below the spec.
pub(super) const WEIGHTS: [(&str, &str); 5] = [
    ("availability", "scoring.weights.availability"),
    ("containment", "scoring.weights.containment"),
    ("recovery", "scoring.weights.recovery"),
    ("detection", "scoring.weights.detection"),
    ("hygiene", "scoring.weights.hygiene"),
];

/// The cron's shape (its full grammar is the controller's to check), a known time zone, dates.
fn schedule_rules() -> Vec<Rule> {
    let zones: Vec<String> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| format!("'{}'", tz.name()))
        .collect();
    let date = r"[0-9]{4}-[0-9]{2}-[0-9]{2}";
    vec![
        expr(
            "schedule.cron",
            r"self.contains('@') || !self.matches('^\\s*\\S+(\\s+\\S+){4}\\s*$')",
            r#""`" + self + "` has 5 fields; oomsday's cron has 6 with seconds first (sec min hour day-of-month month day-of-week), e.g. \"0 " + self.trim() + "\"""#,
            None,
        ),
        expr(
            "schedule.cron",
            r"self.contains('@') || self.matches('^\\s*\\S+(\\s+\\S+){4}\\s*$') || self.matches('^\\s*\\S+(\\s+\\S+){5}\\s*$')",
            r#""invalid cron `" + self + "`: expected 6 fields with seconds first, e.g. \"0 0 3 * * Tue\"""#,
            None,
        ),
        expr(
            "schedule.timeZone",
            format!("self in [{}]", zones.join(", ")),
            "'`' + self + '` is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)'",
            None,
        ),
        expr(
            "schedule.blackout[]",
            format!(r"self.matches('^\\s*{date}\\s*(/\\s*{date}\\s*)?$')"),
            "'`' + self.trim() + '` is not a date in YYYY-MM-DD form; expected YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD'",
            None,
        ),
        expr(
            "schedule.blackout[]",
            format!(
                r"!self.matches('^\\s*{date}\\s*/\\s*{date}\\s*$') || self.split('/')[0].trim() <= self.split('/')[1].trim()"
            ),
            "'the range `' + self + '` ends before it starts; write the earlier date first; expected YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD'",
            None,
        ),
    ]
}

/// A probe: a name, exactly one of `http` or `query`, names unique.
fn probe_rules() -> Vec<Rule> {
    vec![
        fixed(
            "probes[].name",
            r"self.matches('\\S')",
            "must not be empty",
            None,
        ),
        fixed(
            "probes[]",
            "has(self.http) || has(self.query)",
            "a probe needs exactly one of `http` or `query`",
            None,
        ),
        fixed(
            "probes[]",
            "!(has(self.http) && has(self.query))",
            "a probe has exactly one of `http` or `query`, not both",
            Some(".query"),
        ),
        // Messages without the values: the API server's cost estimate refuses a message that
        // searches the list or prints a double; the position names the field.
        fixed(
            "probes",
            "self.all(p, self.exists_one(q, q.name == p.name))",
            "two probes have the same name",
            None,
        ),
        expr(
            "probes[].http.url",
            format!("self.matches(r'{HTTP_URL}')"),
            "'`' + self + '` is not an http:// or https:// URL'",
            None,
        ),
        fixed(
            "probes[].query.expr",
            r"self.matches('\\S')",
            "must not be empty",
            None,
        ),
        fixed(
            "probes[].query",
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "min is above max: no value can pass",
            Some(".min"),
        ),
    ]
}

/// The steady-state gate's probes (one of `http` or `query`, as the run's) and the abort rules
/// that are queries: a name or an expression, and exactly one threshold.
fn gate_and_query_abort_rules() -> Vec<Rule> {
    vec![
        fixed(
            "steadyState.probes[]",
            "has(self.http) || has(self.query)",
            "a probe needs exactly one of `http` or `query`",
            None,
        ),
        fixed(
            "steadyState.probes[]",
            "!(has(self.http) && has(self.query))",
            "a probe has exactly one of `http` or `query`, not both",
            Some(".query"),
        ),
        fixed(
            "steadyState.probes[].query.expr",
            r"self.matches('\\S')",
            "must not be empty",
            None,
        ),
        fixed(
            "abort.alerts[]",
            r"self.matches('\\S')",
            "must not be empty",
            None,
        ),
        fixed(
            "abort.promql.query",
            r"self.matches('\\S')",
            "must not be empty",
            None,
        ),
        fixed(
            "abort.promql",
            "has(self.above) || has(self.below)",
            "a PromQL abort rule needs a threshold: `above` or `below`",
            None,
        ),
        fixed(
            "abort.promql",
            "!(has(self.above) && has(self.below))",
            "a PromQL abort rule has exactly one of `above` or `below`, not both",
            Some(".below"),
        ),
    ]
}

/// The schema node at `at` below `spec`, if the types have it.
fn node<'a>(spec: &'a mut JSONSchemaProps, at: &str) -> Option<&'a mut JSONSchemaProps> {
    let mut here = spec;
    if at.is_empty() {
        return Some(here);
    }
    for seg in at.split('.') {
        let (key, items) = match seg.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (seg, false),
        };
        here = here.properties.as_mut()?.get_mut(key)?;
        if items {
            here = match here.items.as_mut()? {
                JSONSchemaPropsOrArray::Schema(s) => s.as_mut(),
                JSONSchemaPropsOrArray::Schemas(_) => return None,
            };
        }
    }
    Some(here)
}

/// Puts every rule and bound into `spec`, the schema of a LeakExperimentSpec. Returns the nodes
/// it did not find (a field renamed under a rule), which a test keeps empty.
pub fn apply(spec: &mut JSONSchemaProps) -> Vec<String> {
    let mut missing = Vec::new();
    for (at, bound) in BOUNDS.iter().chain(MORE_BOUNDS.iter()) {
        match node(spec, at) {
            Some(n) if n.type_.as_deref() == Some("array") => n.max_items = Some(*bound),
            Some(n) => n.max_length = Some(*bound),
            None => missing.push((*at).to_string()),
        }
    }
    for r in rules() {
        let Some(n) = node(spec, r.at) else {
            missing.push(r.at.to_string());
            continue;
        };
        let (message, message_expression) = match r.message {
            Message::Fixed(m) => (Some(m), None),
            Message::Expr(e) => (None, Some(e)),
        };
        n.x_kubernetes_validations
            .get_or_insert_with(Vec::new)
            .push(ValidationRule {
                rule: r.rule,
                message,
                message_expression,
                field_path: r.field_path.map(str::to_string),
                ..Default::default()
            });
    }
    missing
}

#[cfg(test)]
mod tests;
