use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::spec::LeakExperimentSpec;

/// Every experiment the repository ships, as the loader sees each document.
fn shipped() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let files = crate::spec::collect_files(&dir).expect("experiments/");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
        out.extend(
            docs.into_iter()
                .filter(|d| d.get("kind") == Some(&json!("LeakExperiment"))),
        );
    }
    assert!(out.len() >= 5, "the shipped experiments");
    out
}

/// Every path into `v` that leads to a value.
fn paths(v: &Value, at: Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mut here = at.clone();
                here.push(json!(k));
                paths(x, here, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let mut here = at.clone();
                here.push(json!(i));
                paths(x, here, out);
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, seg| match seg {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// The same value or the same message from serde_json and from [`Node`].
fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(v: &Value) {
    let theirs = serde_json::from_value::<T>(v.clone()).map_err(|e| e.to_string());
    let ours = T::deserialize(Node(v)).map_err(|e| e.to_string());
    assert_eq!(ours, theirs, "{v}");
}

/// Each shipped spec and metadata, and every one of them with any one value replaced by another
/// type, removed, or joined by an unknown field, reads the same through both deserializers.
#[test]
fn reads_as_serde_json_reads() {
    let replacements = [
        json!(null),
        json!(true),
        json!(0),
        json!(-3),
        json!(2.5),
        json!("x"),
        json!("30m"),
        json!("linear"),
        json!([]),
        json!([1, "a"]),
        json!({}),
        json!({"sidecar": {}}),
    ];
    let mut tried = 0;
    for doc in shipped() {
        for (part, check) in [
            ("spec", same::<LeakExperimentSpec> as fn(&Value)),
            ("metadata", same::<ObjectMeta>),
        ] {
            let v = &doc[part];
            check(v);
            let mut all = Vec::new();
            paths(v, Vec::new(), &mut all);
            for path in all {
                for r in &replacements {
                    let mut m = v.clone();
                    *at_mut(&mut m, &path) = r.clone();
                    check(&m);
                    tried += 1;
                }
                let mut m = v.clone();
                if let Value::Object(o) = at_mut(&mut m, &path) {
                    o.insert("bogus".into(), json!(1));
                    check(&m);
                }
                let mut m = v.clone();
                if let Value::Object(o) = at_mut(&mut m, &path)
                    && let Some(k) = o.keys().next().cloned()
                {
                    o.remove(&k);
                    check(&m);
                }
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}

#[test]
fn refusals_keep_their_structure() {
    let kind = |v: Value| {
        LeakExperimentSpec::deserialize(Node(&v))
            .map(|_| ())
            .unwrap_err()
            .kind
    };
    let base = json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "start": "64Mi", "max": "2Gi"},
        "duration": "30m",
    });
    let mut unknown = base.clone();
    unknown["leak"]["maxx"] = json!("2Gi");
    assert!(matches!(
        kind(unknown),
        RefusalKind::UnknownField { field, expected } if field == "maxx" && expected.contains(&"max")
    ));
    let mut missing = base.clone();
    missing["target"].as_object_mut().unwrap().remove("name");
    assert_eq!(kind(missing), RefusalKind::MissingField("name"));
    let mut variant = base.clone();
    variant["leak"]["pattern"] = json!("linaer");
    assert!(matches!(
        kind(variant),
        RefusalKind::UnknownVariant { variant, expected } if variant == "linaer" && expected.contains(&"linear")
    ));
    let mut wrong = base.clone();
    wrong["target"]["name"] = json!(3);
    assert_eq!(
        kind(wrong),
        RefusalKind::Mismatch {
            head: "invalid type: integer `3`".into(),
            expected: "a string".into()
        }
    );
    let mut own = base;
    own["duration"] = json!("soon");
    assert_eq!(kind(own), RefusalKind::Other);
}
