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
mod tests;
