//! Every CEL rule of the CRDs, evaluated with the `cel` crate on valid and invalid examples, and
//! compared with what `oomsday validate` says of the same object.
//!
//! The crate has no Kubernetes `quantity()` library; [`k8s_quantity`] registers `quantity`,
//! `isQuantity` and `compareTo` with Kubernetes' semantics (resource.ParseQuantity's grammar,
//! exact comparison). The API server's defaulting is applied from the schema's `default`s, and
//! its `number` fields are doubles, as the API server has them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cel::extractors::This;
use cel::objects::{Opaque, Value as Cel};
use cel::{Context, Env, ExecutionError, Program};
use oomsday_testkit::admission::{examples, header};
use serde_json::{Value, json};

use super::{Message, WEIGHTS, rules};
use crate::spec::schema::crds;

/// Kubernetes' quantity, as CEL's `quantity()` returns it: an exact value `digits × 10^exp10 ×
/// 2^exp2` with a sign.
mod k8s_quantity {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    pub struct Quantity {
        pub negative: bool,
        pub digits: u128,
        pub exp10: i32,
        pub exp2: i32,
    }

    impl Opaque for Quantity {
        fn runtime_type_name(&self) -> &str {
            "kubernetes.Quantity"
        }
    }

    /// resource.ParseQuantity's grammar: `[+-] (digits[.digits] | .digits) [suffix]`, the suffix
    /// one of Ki..Ei, n u m k M G T P E, or `e`/`E` and a signed integer.
    pub fn parse(s: &str) -> Option<Quantity> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_end);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return None;
        }
        let digits: u128 = format!("{int}{frac}").parse().ok()?;
        let mut exp10 = -(frac.len() as i32);
        let mut exp2 = 0;
        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                exp2 = 10 * (1 + "KMGTPE".find(&suffix[..1])? as i32);
            }
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            e if e.starts_with(['e', 'E']) => {
                let n = &e[1..];
                let body = n.strip_prefix(['+', '-']).unwrap_or(n);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                exp10 += n.parse::<i32>().ok()?;
            }
            _ => return None,
        }
        Some(Quantity {
            negative: negative && digits != 0,
            digits,
            exp10,
            exp2,
        })
    }

    /// Exact comparison: both sides scaled to the same powers of ten and two.
    pub fn compare(a: &Quantity, b: &Quantity) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        if a.negative != b.negative {
            return if a.negative {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let scale = |q: &Quantity, e10: i32, e2: i32| -> Option<u128> {
            let mut v = q.digits;
            for _ in 0..(q.exp10 - e10) {
                v = v.checked_mul(10)?;
            }
            for _ in 0..(q.exp2 - e2) {
                v = v.checked_mul(2)?;
            }
            Some(v)
        };
        let (e10, e2) = (a.exp10.min(b.exp10), a.exp2.min(b.exp2));
        let ord = match (scale(a, e10, e2), scale(b, e10, e2)) {
            (Some(x), Some(y)) => x.cmp(&y),
            // Out of u128 range only for absurd exponents, which no example has.
            _ => panic!("quantities too far apart to compare exactly: {a:?} {b:?}"),
        };
        if a.negative { ord.reverse() } else { ord }
    }

    pub fn register(ctx: &mut Context<'_, '_>) {
        ctx.add_function("isQuantity", |s: Arc<String>| parse(&s).is_some())
            .expect("isQuantity");
        ctx.add_function(
            "quantity",
            |s: Arc<String>| -> Result<Cel, ExecutionError> {
                parse(&s).map(|q| Cel::Opaque(Arc::new(q))).ok_or_else(|| {
                    ExecutionError::function_error("quantity", format!("invalid quantity {s}"))
                })
            },
        )
        .expect("quantity");
        ctx.add_function(
            "compareTo",
            |This(a): This<Cel>, b: Cel| -> Result<i64, ExecutionError> {
                let q = |v: &Cel| match v {
                    Cel::Opaque(o) => o.downcast_ref::<Quantity>().map(|q| Quantity { ..*q }),
                    _ => None,
                };
                match (q(&a), q(&b)) {
                    (Some(a), Some(b)) => Ok(compare(&a, &b) as i64),
                    _ => Err(ExecutionError::function_error(
                        "compareTo",
                        "not quantities",
                    )),
                }
            },
        )
        .expect("compareTo");
    }
}

fn env() -> Arc<Env> {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("strings");
    Arc::new(env)
}

fn compile(env: &Env, src: &str) -> Program {
    env.compile(src)
        .unwrap_or_else(|e| panic!("CEL does not compile: {src}\n{e:?}"))
}

/// A JSON value as CEL sees it, `number` fields as doubles.
fn to_cel(v: &Value, schema: &Value) -> Cel {
    let ty = schema.get("type").and_then(Value::as_str);
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) if ty == Some("number") => Cel::Float(n.as_f64().expect("f64")),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Cel::Float(n.as_f64().expect("f64")), Cel::Int),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Cel::List(Arc::new(a.iter().map(|x| to_cel(x, &items)).collect()))
        }
        Value::Object(o) => {
            let m: HashMap<String, Cel> = o
                .iter()
                .map(|(k, x)| {
                    let sub = schema
                        .get("properties")
                        .and_then(|p| p.get(k))
                        .or_else(|| schema.get("additionalProperties"))
                        .cloned()
                        .unwrap_or(json!({}));
                    (k.clone(), to_cel(x, &sub))
                })
                .collect();
            m.into()
        }
    }
}

/// One failed rule: its index in [`rules`]-order at this node, where, and its message.
#[derive(Debug, Clone)]
struct Failure {
    rule: String,
    at: String,
    message: String,
}

struct Evaluator {
    env: Arc<Env>,
    /// Compiled once per test run: the time zone rule alone lists some 600 names.
    programs: std::sync::Mutex<HashMap<String, Arc<Program>>>,
}

impl Evaluator {
    fn new() -> Evaluator {
        Evaluator {
            env: env(),
            programs: Default::default(),
        }
    }

    fn eval(&self, src: &str, this: &Cel) -> Result<Cel, ExecutionError> {
        let program = {
            let mut programs = self.programs.lock().expect("lock");
            programs
                .entry(src.to_string())
                .or_insert_with(|| Arc::new(compile(&self.env, src)))
                .clone()
        };
        let mut ctx = Context::with_env(self.env.clone());
        k8s_quantity::register(&mut ctx);
        ctx.add_variable_from_value("self", this.clone());
        program.execute(&ctx)
    }

    /// Applies the schema's defaults (as the API server does before validating), then every rule
    /// at and below `schema`.
    fn walk(&self, v: &mut Value, schema: &Value, at: &str, out: &mut Vec<Failure>) {
        if v.is_null() {
            return;
        }
        if let (Some(o), Some(props)) = (
            v.as_object_mut(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            for (k, sub) in props {
                if !o.contains_key(k)
                    && let Some(d) = sub.get("default")
                {
                    o.insert(k.clone(), d.clone());
                }
            }
            for (k, sub) in props {
                if let Some(child) = o.get_mut(k) {
                    self.walk(child, sub, &format!("{at}.{k}"), out);
                }
            }
        }
        if let (Some(a), Some(items)) = (v.as_array_mut(), schema.get("items")) {
            for (i, x) in a.iter_mut().enumerate() {
                self.walk(x, items, &format!("{at}[{i}]"), out);
            }
        }
        let this = to_cel(v, schema);
        for r in schema
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let rule = r["rule"].as_str().expect("rule");
            match self.eval(rule, &this) {
                Ok(Cel::Bool(true)) => {}
                Ok(Cel::Bool(false)) => {
                    let message = match (r.get("message"), r.get("messageExpression")) {
                        (Some(m), _) => m.as_str().expect("message").to_string(),
                        (None, Some(e)) => match self.eval(e.as_str().expect("expr"), &this) {
                            Ok(Cel::String(s)) => s.to_string(),
                            other => panic!("messageExpression {e} gave {other:?}"),
                        },
                        _ => panic!("a rule without a message: {r}"),
                    };
                    let at = format!(
                        "{at}{}",
                        r.get("fieldPath").and_then(Value::as_str).unwrap_or("")
                    );
                    out.push(Failure {
                        rule: rule.into(),
                        at,
                        message,
                    });
                }
                other => panic!("{at}: `{rule}` gave {other:?} on {v}"),
            }
        }
    }
}

/// What the API server's CEL rules say of `doc` (a LeakExperiment or LeakRun).
fn cel_failures(doc: &Value) -> Vec<Failure> {
    let kind = doc["kind"].as_str().expect("kind");
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("a CRD of this kind");
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
    let mut doc = doc.clone();
    let mut out = Vec::new();
    static EVALUATOR: std::sync::OnceLock<Evaluator> = std::sync::OnceLock::new();
    EVALUATOR
        .get_or_init(Evaluator::new)
        .walk(&mut doc, &schema["openAPIV3Schema"], "", &mut out);
    out
}

/// The errors `oomsday validate` reports for the experiment in `doc` (a LeakRun's embedded spec),
/// in `namespace`.
fn validate_errors(doc: &Value, namespace: &str) -> Vec<(String, String)> {
    let spec = if doc["kind"] == "LeakRun" {
        doc["spec"]["experimentSpec"].clone()
    } else {
        doc["spec"].clone()
    };
    let experiment = json!({
        "apiVersion": "oomsday.dev/v1alpha1",
        "kind": "LeakExperiment",
        "metadata": {"name": "x", "namespace": namespace},
        "spec": spec,
    });
    let text = serde_json::to_string_pretty(&experiment).expect("json");
    let checked = crate::spec::check_source(Path::new("example.yaml"), &text);
    checked
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == crate::spec::Severity::Error)
        .map(|d| (d.field, d.message))
        .collect()
}

fn fixtures(kind: &str) -> Vec<(PathBuf, String, Value)> {
    examples(Path::new(env!("CARGO_MANIFEST_DIR")), kind)
        .into_iter()
        .map(|(p, text)| {
            let doc: Value = serde_saphyr::from_str(&text).expect("yaml");
            (p, text, doc)
        })
        .collect()
}

#[test]
fn every_rule_finds_its_node_and_compiles() {
    for mut crd in crds() {
        assert_eq!(
            crate::spec::schema::add_rules(&mut crd),
            Vec::<String>::new(),
            "rules a second time still find their nodes"
        );
    }
    let env = env();
    for r in rules() {
        compile(&env, &r.rule);
        if let Message::Expr(e) = &r.message {
            compile(&env, e);
        }
    }
}

#[test]
fn valid_examples_pass_every_rule_and_validate() {
    for (path, _, doc) in fixtures("valid") {
        let failures = cel_failures(&doc);
        assert!(failures.is_empty(), "{}: {failures:#?}", path.display());
        assert_eq!(validate_errors(&doc, "shop"), vec![], "{}", path.display());
    }
}

/// Each invalid example the CRD's rules refuse gets oomsday validate's own message.
#[test]
fn invalid_examples_are_refused_with_validates_message() {
    for (path, text, doc) in fixtures("invalid") {
        let by = header(&text, "by").expect("a `# by:` header");
        let expect = header(&text, "expect").expect("an `# expect:` header");
        let failures = cel_failures(&doc);
        let ns = match header(&text, "namespace") {
            Some("system") => "kube-system",
            _ => "shop",
        };
        let validate = validate_errors(&doc, ns);
        match by {
            "cel" => {
                let f = failures
                    .iter()
                    .find(|f| f.message.contains(expect))
                    .unwrap_or_else(|| {
                        panic!("{}: no rule says `{expect}`: {failures:#?}", path.display())
                    });
                assert!(
                    validate.iter().any(|(_, m)| *m == f.message),
                    "{}: validate does not say `{}`: {validate:#?}",
                    path.display(),
                    f.message
                );
            }
            // The schema or the policy refuses these; the CEL rules have nothing to add.
            "schema" | "policy" => {
                assert!(failures.is_empty(), "{}: {failures:#?}", path.display())
            }
            other => panic!("{}: unknown `# by: {other}`", path.display()),
        }
        if by != "schema" && header(&text, "namespace") != Some("unlabelled") {
            assert!(
                validate.iter().any(|(_, m)| m.contains(expect)),
                "{}: validate does not say `{expect}`: {validate:#?}",
                path.display()
            );
        }
    }
}

/// A valid experiment to break one field at a time.
fn base() -> Value {
    json!({
        "apiVersion": "oomsday.dev/v1alpha1",
        "kind": "LeakExperiment",
        "metadata": {"name": "x"},
        "spec": {
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": "40Mi/min", "start": "64Mi", "max": "1Gi", "limit": "768Mi"},
            "duration": "10m",
            "schedule": {"cron": "0 0 3 * * Tue", "timeZone": "Europe/Berlin", "blackout": ["2026-12-24"]},
            "prometheus": {"url": "http://prometheus:9090"},
            "probes": [
                {"name": "home", "http": {"url": "http://checkout/"}},
                {"name": "errors", "query": {"expr": "up", "min": 0.5, "max": 1}}
            ],
            "expectAlerts": [{"name": "KubePodOOMKilled", "within": "8m"}],
            "abort": {"nodesNotReady": 1},
            "hypothesis": {"recoveredWithin": "5m"},
            "scoring": {"weights": {"detection": 0}, "recoveryTarget": "5m"},
            "simulation": {"cluster": "cluster.yaml"}
        }
    })
}

/// `(pointer below spec, new value or None to remove)`, applied to [`base`].
type Edit = (&'static str, Option<Value>);

fn cases() -> Vec<Vec<Edit>> {
    let leak = |v: Value| ("/leak", Some(v));
    let mut out: Vec<Vec<Edit>> = vec![
        vec![("/leak/start", Some(json!("2Gi")))],
        vec![("/leak/max", None)],
        vec![("/leak/max", Some(json!("0")))],
        vec![("/leak/rate", Some(json!("0Mi/min")))],
        vec![leak(
            json!({"pattern": "step", "step": "0", "every": "1m", "max": "1Gi"}),
        )],
        vec![leak(
            json!({"pattern": "exponential", "doubling": "5m", "start": "0", "max": "1Gi"}),
        )],
        vec![("/leak/limit", Some(json!("0")))],
        vec![("/leak/limit", Some(json!("32Mi")))],
        vec![("/leak/request", Some(json!("1Gi")))],
        vec![("/leak/limit", Some(json!("lots")))],
        vec![("/injection", Some(json!({"mode": "ephemeral"})))],
        vec![
            ("/injection", Some(json!({"mode": "ephemeral"}))),
            ("/leak/limit", None),
            ("/leak/request", Some(json!("1Mi"))),
        ],
        vec![("/injection", Some(json!({"pods": 2})))],
        vec![
            ("/injection", Some(json!({"mode": "ephemeral", "pods": 0}))),
            ("/leak/limit", None),
        ],
        vec![
            (
                "/injection",
                Some(json!({"mode": "ephemeral", "pods": "0%"})),
            ),
            ("/leak/limit", None),
        ],
        vec![("/injection", Some(json!({"image": "my image"})))],
        vec![("/target/name", Some(json!("Checkout")))],
        vec![("/prometheus", None), ("/expectAlerts", None)],
        vec![("/prometheus", None), ("/probes/1", None)],
        vec![("/prometheus/url", Some(json!("prometheus:9090")))],
        vec![("/expectAlerts/0/name", Some(json!(" ")))],
        vec![("/simulation/cluster", Some(json!("")))],
        vec![(
            "/scoring/weights",
            Some(
                json!({"availability": 0, "containment": 0, "recovery": 0, "detection": 0, "hygiene": 0}),
            ),
        )],
        vec![(
            "/abort",
            Some(json!({"nodesNotReady": 0, "nodesUnderPressure": 0, "bystanderEvictions": 0})),
        )],
        vec![("/schedule/cron", Some(json!("0 3 * * Tue")))],
        vec![("/schedule/cron", Some(json!("0 3 * *")))],
        vec![("/schedule/timeZone", Some(json!("Mars/Olympus")))],
        vec![("/schedule/blackout/0", Some(json!("24.12.2026")))],
        vec![("/schedule/blackout/0", Some(json!("2026-12-31/2026-12-24")))],
        vec![("/probes/0/name", Some(json!("")))],
        vec![("/probes/0/name", Some(json!("errors")))],
        vec![("/probes/0/http", None)],
        vec![("/probes/0/query", Some(json!({"expr": "up"})))],
        vec![("/probes/0/http/url", Some(json!("ftp://x")))],
        vec![("/probes/1/query/expr", Some(json!("  ")))],
        vec![("/probes/1/query/min", Some(json!(2)))],
        vec![("/steadyState", Some(json!({"probes": [{"name": "up"}]})))],
        vec![(
            "/steadyState",
            Some(
                json!({"probes": [{"name": "up", "http": {"url": "http://checkout/"}, "query": {"expr": "up"}}]}),
            ),
        )],
        vec![(
            "/steadyState",
            Some(json!({"probes": [{"name": "up", "query": {"expr": " "}}]})),
        )],
        vec![("/abort", Some(json!({"alerts": [" "]})))],
        vec![(
            "/abort",
            Some(json!({"promql": {"query": " ", "above": 1}})),
        )],
        vec![("/abort", Some(json!({"promql": {"query": "up"}})))],
        vec![(
            "/abort",
            Some(json!({"promql": {"query": "up", "above": 1, "below": 0}})),
        )],
    ];
    for (_, at) in WEIGHTS {
        // An edit's pointer lives as long as the test: leaked, five small strings.
        let pointer: &'static str =
            Box::leak(format!("/{}", at.replace('.', "/")).into_boxed_str());
        out.push(vec![(pointer, Some(json!(-1)))]);
    }
    for d in [
        "/duration",
        "/recovery",
        "/probes/0/interval",
        "/probes/0/timeout",
        "/expectAlerts/0/within",
        "/hypothesis/recoveredWithin",
        "/scoring/recoveryTarget",
    ] {
        out.push(vec![(d, Some(json!("0s")))]);
    }
    out.push(vec![("/schedule/startingDeadline", Some(json!("0m")))]);
    for (kind, params) in [
        ("linear", json!({"rate": "1Mi/s"})),
        ("exponential", json!({"doubling": "5m"})),
        ("step", json!({"step": "1Mi", "every": "1m"})),
        ("sawtooth", json!({"rate": "1Mi/s", "gcEvery": "10m"})),
    ] {
        // Each pattern without its parameters, and with everyone else's (all zero-length where
        // a duration, which is its own finding).
        out.push(vec![leak(json!({"pattern": kind, "max": "1Gi"}))]);
        let mut all = json!({"pattern": kind, "max": "1Gi", "rate": "1Mi/s", "doubling": "0s", "step": "1Mi", "every": "0s", "gcEvery": "0s"});
        for (k, v) in params.as_object().expect("params") {
            all[k] = v.clone();
        }
        out.push(vec![leak(all)]);
    }
    out
}

fn edited(edits: &[Edit]) -> Value {
    let mut doc = base();
    for (ptr, v) in edits {
        let (parent, key) = ptr.rsplit_once('/').expect("pointer");
        let p = doc["spec"]
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{ptr}"));
        match (p, v) {
            (Value::Object(o), Some(v)) => {
                o.insert(key.into(), v.clone());
            }
            (Value::Object(o), None) => {
                o.remove(key);
            }
            (Value::Array(a), Some(v)) => a[key.parse::<usize>().expect("index")] = v.clone(),
            (Value::Array(a), None) => {
                a.remove(key.parse::<usize>().expect("index"));
            }
            (other, _) => panic!("{ptr}: {other}"),
        }
    }
    doc
}

/// Messages of rules that have no exact twin in validate, and why.
const CEL_ONLY: [&str; 3] = [
    // validate reads the limit with the quantity parser and says what that parser says.
    "the limit must be a memory quantity (512Mi) or `none`",
    // validate parses the cron and quotes the parser's complaint.
    "expected 6 fields with seconds first, e.g. \"0 0 3 * * Tue\"",
    // validate names the part of a range that is not a date; the rule quotes the whole entry.
    "is not a date in YYYY-MM-DD form",
];

/// Every rule fails on at least one example, and each failure's message is one validate gives
/// for the same object (but for [`CEL_ONLY`], where validate still refuses it).
#[test]
fn every_rule_refuses_something_with_validates_message() {
    let mut fired = BTreeSet::new();
    for edits in cases() {
        let doc = edited(&edits);
        let failures = cel_failures(&doc);
        assert!(!failures.is_empty(), "no rule refuses {edits:?}");
        let validate = validate_errors(&doc, "shop");
        assert!(!validate.is_empty(), "validate accepts {edits:?}");
        for f in failures {
            let same = validate.iter().any(|(_, m)| *m == f.message);
            let cel_only = CEL_ONLY.iter().any(|c| f.message.contains(c));
            assert!(
                same || cel_only,
                "{edits:?}: {} says `{}`, validate {validate:#?}",
                f.at,
                f.message
            );
            fired.insert(f.rule);
        }
    }
    let never: Vec<String> = rules()
        .into_iter()
        .map(|r| r.rule)
        .filter(|r| !fired.contains(r))
        .collect();
    assert!(never.is_empty(), "rules no example breaks: {never:#?}");
}

#[test]
fn the_quantity_shim_reads_quantities_as_kubernetes_does() {
    use k8s_quantity::{compare, parse};
    use std::cmp::Ordering::*;
    for ok in [
        "0", "64Mi", "1.5Gi", "500M", "2e9", "2E9", "+1Ki", "-1", ".5", "1.", "100m", "1e-3",
    ] {
        assert!(parse(ok).is_some(), "{ok}");
    }
    for bad in [
        "", "2GB", "1.2.3", "Mi", "1 Mi", "1e", "e3", "1Mib", "0x10", ".",
    ] {
        assert!(parse(bad).is_none(), "{bad}");
    }
    let q = |s| parse(s).expect(s);
    assert_eq!(compare(&q("1Gi"), &q("1024Mi")), Equal);
    assert_eq!(compare(&q("1G"), &q("1Gi")), Less);
    assert_eq!(compare(&q("2e9"), &q("2G")), Equal);
    assert_eq!(compare(&q("1.5Gi"), &q("1536Mi")), Equal);
    assert_eq!(compare(&q("100m"), &q("0.1")), Equal);
    assert_eq!(compare(&q("-1"), &q("0")), Less);
    assert_eq!(compare(&q("-0"), &q("0")), Equal);
    assert_eq!(compare(&q("600Mi"), &q("512Mi")), Greater);
}
