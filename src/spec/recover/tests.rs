use super::*;

#[test]
fn did_you_mean_is_picky() {
    let c = ["rate", "gcEvery", "max", "start"];
    assert_eq!(did_you_mean("rat", &c), Some("rate"));
    assert_eq!(did_you_mean("gc_every", &c), Some("gcEvery"));
    assert_eq!(did_you_mean("GCEVERY", &c), Some("gcEvery"));
    assert_eq!(did_you_mean("replicas", &c), None);
}

/// `(path, at_key, message)` of every error in reading `v` as a spec, by path (the loader
/// orders them by line; a `Value`'s keys come in its map's order).
fn errors(v: serde_json::Value) -> Vec<(String, bool, String)> {
    let mut got: Vec<_> = deserialize_all::<crate::spec::LeakExperimentSpec>(&v)
        .errors
        .into_iter()
        .map(|e| (e.path.to_string(), e.at_key, e.message))
        .collect();
    got.sort();
    got
}

#[test]
fn every_error_once_in_yaml_words() {
    let got = errors(serde_json::json!({
        "target": {"kind": "Deployment"},
        "leak": {"pattern": "linaer", "rate": "40Mi/min", "start": "64Mi", "max": "2Gi", "maxx": 1},
        "duration": "30m",
        "hypothesis": "yes",
        "scoring": {"weights": {"detection": "lots"}},
    }));
    assert_eq!(
        got,
        [
            (
                "hypothesis".into(),
                false,
                "invalid type: string \"yes\", expected a mapping (Hypothesis)".into()
            ),
            (
                "leak.maxx".into(),
                true,
                "unknown field `maxx`; did you mean `max`?".into()
            ),
            (
                "leak.pattern".into(),
                false,
                "unknown variant `linaer`, expected one of `linear`, `exponential`, `step`, \
                 `sawtooth`; did you mean `linear`?"
                    .into()
            ),
            (
                "scoring.weights.detection".into(),
                false,
                "invalid type: string \"lots\", expected a number".into()
            ),
            (
                "target".to_string(),
                true,
                "missing field `name`".to_string()
            ),
        ]
    );
}

#[test]
fn a_missing_field_is_named() {
    let out = deserialize_all::<crate::spec::LeakExperimentSpec>(&serde_json::json!({
        "leak": {"pattern": "linear", "rate": "40Mi/min", "start": "64Mi", "max": "2Gi"},
        "duration": "30m",
    }));
    assert!(
        out.value.is_some(),
        "a placeholder stands in for the target"
    );
    let e = &out.errors[0];
    assert_eq!(
        (e.path.to_string(), e.missing),
        (String::new(), Some("target"))
    );
}
