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
                0 => { p.set(&mut v, new); }
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

#[test]
fn steady_state_and_query_abort_mistakes_each_name_their_line_and_field() {
    let text = with(
        "  duration: 30m\n",
        "  duration: 30m
  prometheus: {url: 'http://prometheus:9090'}
  steadyState:
    for: 15m
    timeout: 10m
    probes:
      - {name: gate}
      - {name: web, http: {url: ''}}
  abort:
    alerts: [PodOOMKilled]
    promql: {query: 'sum(rate(x[5m])', for: 1m}
",
    );
    let c = check(&text);
    let got = lines(&c);
    let fields: Vec<(usize, &str)> = got.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
    assert_eq!(
        fields,
        vec![
            (15, "spec.steadyState.for"),
            (18, "spec.steadyState.probes[0]"),
            (19, "spec.steadyState.probes[1].http.url"),
            (22, "spec.abort.promql"),
            (22, "spec.abort.promql.query"),
        ],
        "{:#?}",
        c.diagnostics
    );
    let message = |field: &str| {
        got.iter()
            .find(|(_, f, _)| f == field)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_default()
    };
    assert!(message("spec.steadyState.for").contains("longer than the timeout"));
    assert!(message("spec.steadyState.probes[0]").contains("exactly one of `http` or `query`"));
    assert!(message("spec.abort.promql").contains("needs a threshold"));
    assert!(
        message("spec.abort.promql.query")
            .contains("is not valid PromQL: unclosed left parenthesis"),
        "{}",
        message("spec.abort.promql.query")
    );
    // file:line: error: field: message, as every other mistake.
    let shown = c.diagnostics[0].to_string();
    assert!(
        shown.starts_with("x.yaml:15:") && shown.contains("error: spec.steadyState.for"),
        "{shown}"
    );
}

#[test]
fn query_abort_rules_need_prometheus_and_one_threshold() {
    let c = check(&with(
        "  duration: 30m\n",
        "  duration: 30m
  abort:
    alerts: [PodOOMKilled]
    promql: {query: 'up == 0', above: 0, below: 1}
",
    ));
    let fields: Vec<String> = lines(&c).into_iter().map(|l| l.1).collect();
    assert_eq!(
        fields,
        vec![
            "spec.abort.alerts",
            "spec.abort.promql",
            "spec.abort.promql.below",
        ],
        "{:#?}",
        c.diagnostics
    );
    // A valid gate and valid query rules load.
    let c = check(&with(
        "  duration: 30m\n",
        "  duration: 30m
  prometheus: {url: 'http://prometheus:9090'}
  steadyState:
    for: 2m
    nodesHealthy: false
    probes: [{name: web, http: {url: 'http://web/healthz'}}]
  abort:
    alerts: [PodOOMKilled]
    promql: {query: 'sum(rate(container_oom_events_total[1m])) by (namespace)', above: 0, for: 30s}
",
    ));
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    let spec = &c.experiments[0].experiment.spec;
    let gate = spec.steady_state.as_ref().expect("a gate");
    assert_eq!(gate.timeout, oomsday_core::Duration::from_secs(600));
    assert!(gate.rolled_out && !gate.nodes_healthy);
}
