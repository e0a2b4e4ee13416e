//! The Grafana dashboard of deploy/grafana/ asks only for what the controller exposes: every
//! panel's query (and every variable's) parses as PromQL, and each metric it names, with each
//! label it matches on, is in the controller's own `/metrics` encoding (read from its registry,
//! not from a list kept here). The ConfigMap form holds the same JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use oomsday::controller::metrics::{Finished, Metrics};
use promql_parser::parser::{Expr, VectorSelector, parse};
use serde_json::Value;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/oomsday.json")).expect("read");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Sample names the controller exposes, with the labels each carries; every family is given a
/// sample through the controller's own calls first.
fn exposed() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::default();
    let summary = oomsday::spec::RunSummary::default();
    m.run_finished(
        "shop",
        "lx",
        &Finished {
            phase: "Completed",
            verdict: "Passed",
            reason: "DurationElapsed",
            score: Some(80),
            summary: Some(&summary),
        },
    );
    m.set_active_injections(0);
    m.set_leader(true);
    m.reconcile_error("LeakRun", "kube");
    m.reconcile_duration("LeakRun", Duration::from_millis(5));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in m.render().lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).expect("a sample line");
        let labels = out.entry(line[..name_end].to_string()).or_default();
        if let Some(rest) = line[name_end..].strip_prefix('{') {
            let body = &rest[..rest.find('}').expect("closing brace")];
            for pair in body.split(',') {
                labels.insert(pair.split('=').next().expect("label").to_string());
            }
        }
    }
    out
}

/// Grafana's variables replaced by values PromQL accepts.
fn substituted(q: &str) -> String {
    q.replace("$__rate_interval", "5m")
        .replace("$__range", "1h")
        .replace("$__interval", "1m")
        .replace("$namespace", "shop")
        .replace("$experiment", "lx")
        .replace("$job", "oomsday")
}

fn selectors<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::VectorSelector(v) => out.push(v),
        Expr::MatrixSelector(m) => out.push(&m.vs),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Every query of the dashboard: `(where, PromQL)`. A variable's `label_values(selector, label)`
/// contributes its selector.
fn queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().expect("title");
        for t in p["targets"].as_array().expect("targets") {
            out.push((
                title.to_string(),
                t["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().expect("variables") {
        let Some(q) = v["query"]["query"].as_str() else {
            continue;
        };
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: {q}", v["name"]));
        let (selector, _label) = inner
            .rsplit_once(',')
            .expect("label_values(selector, label)");
        out.push((
            format!("variable {}", v["name"]),
            selector.trim().to_string(),
        ));
    }
    out
}

#[test]
fn every_query_parses_and_names_only_exposed_metrics_and_labels() {
    let exposed = exposed();
    let d = dashboard();
    let all = queries(&d);
    assert!(all.len() >= 8, "{all:#?}");
    // Labels Prometheus adds to every scraped series.
    let target_labels = ["job", "instance"];
    for (at, q) in all {
        let expr = parse(&substituted(&q)).unwrap_or_else(|e| panic!("{at}: `{q}`: {e}"));
        let mut sel = Vec::new();
        selectors(&expr, &mut sel);
        assert!(!sel.is_empty(), "{at}: `{q}` reads no metric");
        for s in sel {
            let name = s
                .name
                .as_deref()
                .unwrap_or_else(|| panic!("{at}: a selector without a name"));
            let labels = exposed.get(name).unwrap_or_else(|| {
                panic!(
                    "{at}: `{name}` is not exposed; the controller has {:?}",
                    exposed.keys()
                )
            });
            for m in &s.matchers.matchers {
                assert!(
                    labels.contains(&m.name) || target_labels.contains(&m.name.as_str()),
                    "{at}: `{name}` has no label `{}` ({labels:?})",
                    m.name
                );
            }
        }
    }
}

#[test]
fn the_dashboard_covers_what_a_game_day_watches() {
    let d = dashboard();
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["title"].as_str().expect("title"))
        .collect();
    for want in [
        "Runs by verdict and reason",
        "Score per experiment",
        "Time below budget (last run)",
        "OOM kills and evictions per run",
        "Active injections",
        "Leader",
        "Reconcile errors",
    ] {
        assert!(titles.contains(&want), "no panel `{want}`: {titles:?}");
    }
    // Each panel is described (docs/controller.md describes the same).
    let docs = std::fs::read_to_string(repo().join("docs/controller.md")).expect("docs");
    for p in d["panels"].as_array().expect("panels") {
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            p["title"]
        );
        let title = p["title"].as_str().expect("title");
        assert!(
            docs.contains(title),
            "docs/controller.md does not describe `{title}`"
        );
    }
}

#[test]
fn the_configmap_holds_the_same_dashboard() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/configmap.yaml")).expect("read");
    let cm: Value = serde_saphyr::from_str(&text).expect("yaml");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let inner: Value =
        serde_json::from_str(cm["data"]["oomsday.json"].as_str().expect("data")).expect("json");
    assert_eq!(
        inner,
        dashboard(),
        "regenerate deploy/grafana/configmap.yaml from oomsday.json"
    );
}
