//! Audit findings as a table for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs.

use serde_json::{Value, json};

use super::{Finding, Rule, Severity};

/// A plain-text table, worst first, with each fix indented under its finding.
pub fn to_table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No findings: the defences the story lacked are all in place.\n".into();
    }
    let sev_w = 8;
    let obj_w = findings
        .iter()
        .map(|f| f.object.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 60);
    let mut out = format!(
        "{:<sev_w$}  {:<obj_w$}  {}\n",
        "SEVERITY", "OBJECT", "FINDING"
    );
    for f in findings {
        let object: String = f.object.chars().take(obj_w).collect();
        out.push_str(&format!(
            "{:<sev_w$}  {:<obj_w$}  {} [{}]\n",
            f.severity.as_str().to_uppercase(),
            object,
            f.message,
            f.rule.id()
        ));
        if let Some(file) = &f.file {
            out.push_str(&format!("{:sev_w$}  {:obj_w$}  in {file}\n", "", ""));
        }
        out.push_str(&format!("{:sev_w$}  {:obj_w$}  fix:\n", "", ""));
        for line in f.fix.lines() {
            out.push_str(&format!("{:sev_w$}  {:obj_w$}    {line}\n", "", ""));
        }
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    out.push_str(&format!(
        "\n{} findings: {} critical, {} high, {} medium, {} low\n",
        findings.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    ));
    out
}

/// The findings as a JSON document: `{"findings": [...], "counts": {...}}`.
pub fn to_json(findings: &[Finding]) -> String {
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let doc = json!({
        "findings": findings,
        "counts": {
            "critical": count(Severity::Critical),
            "high": count(Severity::High),
            "medium": count(Severity::Medium),
            "low": count(Severity::Low),
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// SARIF 2.1.0: one run, every rule in the driver's rule table, one result per finding with the
/// file (for `--manifests`) and the Kubernetes object as a logical location.
pub fn to_sarif(findings: &[Finding]) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.id(),
                "shortDescription": { "text": r.summary() },
                "helpUri": "https://github.com/oomsday/oomsday#audit",
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            let mut location = json!({
                "logicalLocations": [{ "fullyQualifiedName": f.object, "kind": "resource" }]
            });
            if let Some(file) = &f.file {
                location["physicalLocation"] = json!({
                    "artifactLocation": { "uri": file.trim_start_matches("./") }
                });
            }
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{}: {}", f.object, f.message) },
                "locations": [location],
                "properties": { "severity": f.severity.as_str(), "fix": f.fix },
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "oomsday",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/oomsday/oomsday",
                "rules": rules,
            }},
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings() -> Vec<Finding> {
        vec![
            Finding {
                rule: Rule::MemoryLimitMissing,
                severity: Severity::Critical,
                object: "Deployment shop/checkout container app".into(),
                message: "container app has no memory limit".into(),
                fix: "resources:\n  limits:\n    memory: 1Gi\n".into(),
                file: Some("./k8s/checkout.yaml".into()),
            },
            Finding {
                rule: Rule::NamespaceWithoutLimitRange,
                severity: Severity::Low,
                object: "Namespace shop".into(),
                message: "no default limit".into(),
                fix: "kind: LimitRange\n".into(),
                file: None,
            },
        ]
    }

    #[test]
    fn sarif_2_1_0() {
        let v: Value = serde_json::from_str(&to_sarif(&findings())).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), Rule::ALL.len());
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"], "ruleIndex points at its rule");
        }
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "note");
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "k8s/checkout.yaml"
        );
        assert!(results[1]["locations"][0].get("physicalLocation").is_none());
        assert_eq!(
            results[1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "Namespace shop"
        );
        assert_eq!(
            results[0]["properties"]["fix"],
            "resources:\n  limits:\n    memory: 1Gi\n"
        );
    }

    #[test]
    fn json_and_table() {
        let v: Value = serde_json::from_str(&to_json(&findings())).unwrap();
        assert_eq!(v["counts"]["critical"], 1);
        assert_eq!(v["counts"]["low"], 1);
        assert_eq!(v["findings"][0]["rule"], "memory-limit-missing");
        assert_eq!(v["findings"][0]["severity"], "critical");
        let t = to_table(&findings());
        assert!(t.starts_with("SEVERITY  OBJECT"));
        assert!(t.contains("CRITICAL  Deployment shop/checkout container app  container app has no memory limit [memory-limit-missing]"), "{t}");
        assert!(t.contains("        memory: 1Gi"), "{t}");
        assert!(
            t.ends_with("2 findings: 1 critical, 0 high, 0 medium, 1 low\n"),
            "{t}"
        );
        assert!(to_table(&[]).starts_with("No findings"));
    }
}
