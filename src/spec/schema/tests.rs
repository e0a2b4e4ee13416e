use super::*;
use crate::spec::yaml::FieldPath;

#[test]
fn crds_are_structural() {
    for crd in crds() {
        let problems = structural_problems(&crd);
        assert!(
            problems.is_empty(),
            "{}: {problems:#?}",
            crd.spec.names.kind
        );
    }
}

#[test]
fn the_structural_check_catches_what_the_api_server_refuses() {
    let mut crd = LeakExperiment::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
        .expect("schema");
    let mut bad = serde_json::to_value(&*schema).expect("json");
    bad["properties"]["spec"]["additionalProperties"] = json!(false);
    bad["properties"]["spec"]["properties"]["leak"]
        .as_object_mut()
        .expect("leak")
        .remove("type");
    bad["properties"]["spec"]["properties"]["probes"]
        .as_object_mut()
        .expect("probes")
        .remove("items");
    *schema = serde_json::from_value(bad).expect("schema");
    let problems = structural_problems(&crd).join("\n");
    assert!(
        problems.contains("spec: properties and additionalProperties"),
        "{problems}"
    );
    assert!(problems.contains("spec.leak: no type"), "{problems}");
    assert!(
        problems.contains("spec.probes: array without items"),
        "{problems}"
    );
}

#[test]
fn crds_carry_docs_status_and_printer_columns() {
    let x = LeakExperiment::crd();
    let v = &x.spec.versions[0];
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let cols: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        cols,
        [
            "Target",
            "Schedule",
            "Ready",
            "Next Run",
            "Last Run",
            "Last Score",
            "Grade",
            "Age"
        ]
    );
    let yaml = crd_yaml(&x).expect("yaml");
    assert!(yaml.contains("The shape and size of the leak."), "{yaml}");
    let r = LeakRun::crd();
    let cols: Vec<_> = r.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        cols,
        [
            "Experiment",
            "Phase",
            "Score",
            "Grade",
            "Verdict",
            "Succeeded",
            "Age"
        ]
    );
}

#[test]
fn crd_yaml_reads_back_as_the_same_crd() {
    for crd in crds() {
        let yaml = crd_yaml(&crd).expect("yaml");
        let back: CustomResourceDefinition = serde_saphyr::from_str(&yaml).expect("parse");
        assert_eq!(back, crd);
    }
}

#[test]
fn editor_schema_denies_unknown_fields_and_resolves() {
    let s = experiment_json_schema();
    let leak = &s["definitions"]["Leak"];
    assert_eq!(leak["additionalProperties"], json!(false), "{leak:#}");
    assert_eq!(
        s["definitions"]["LeakExperimentSpec"]["additionalProperties"],
        json!(false)
    );
    // Every $ref points at a definition that exists.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&s, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/definitions/").expect(&r);
        assert!(s["definitions"].get(name).is_some(), "dangling {r}");
    }
}

#[test]
fn bare_numbers_where_the_crd_wants_strings() {
    let spec = json!({
        "target": {"kind": "Deployment", "name": "x"},
        "injection": {"pods": 3},
        "leak": {"pattern": "linear", "rate": "1Mi/min", "start": 0, "max": 2e9},
        "duration": "30m",
        "scoring": {"weights": {"detection": 40}},
        "probes": [{"name": "q", "query": {"expr": "up", "max": 1}}]
    });
    let mut got: Vec<FieldPath> = api_type_mismatches(&spec)
        .into_iter()
        .map(|m| m.0)
        .collect();
    got.sort();
    assert_eq!(
        got,
        [FieldPath::parse("leak.max"), FieldPath::parse("leak.start")]
    );
}

#[test]
fn descriptions_come_from_the_docs() {
    let d = field_description(&FieldPath::parse("expectAlerts[0].within")).expect("within");
    assert!(d.contains("firing at most this long"), "{d}");
    let d = field_description(&FieldPath::parse("abort.nodesNotReady")).expect("abort");
    assert!(d.contains("NotReady"), "{d}");
    assert!(field_description(&FieldPath::parse("leak.nope")).is_none());
}

/// `kubectl explain` teaches a field only if it has a description.
#[test]
fn every_crd_field_is_documented() {
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        let Some(props) = v.get("properties").and_then(Value::as_object) else {
            if let Some(items) = v.get("items") {
                walk(items, &format!("{at}[]"), out);
            }
            return;
        };
        for (k, p) in props {
            let here = format!("{at}.{k}");
            if k != "metadata" && p.get("description").is_none() {
                out.push(here.clone());
            }
            walk(p, &here, out);
        }
    }
    let mut missing = Vec::new();
    for crd in crds() {
        let v = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
        walk(&v["openAPIV3Schema"], &crd.spec.names.kind, &mut missing);
    }
    assert!(missing.is_empty(), "fields without /// docs: {missing:#?}");
}
