//! The checked-in experiment files and generated schemas: every example is valid and survives a
//! YAML round trip, deploy/ matches the types, and `oomsday validate` keeps its exit-code
//! contract.

use std::path::{Path, PathBuf};

mod support;

use oomsday::spec::{LeakExperiment, check_files, check_source, collect_files, schema};
use support::oomsday;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn every_example_is_valid() {
    let files = collect_files(&repo("experiments")).expect("experiments/");
    let checked = check_files(&files);
    let shown: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        shown.is_empty(),
        "experiments/ has problems:\n{}",
        shown.join("\n")
    );
    for want in [
        "contained-leak.yaml",
        "slow-leak-alert.yaml",
        "weekly-game-day.yaml",
        "pre-peak/01-checkout-linear.yaml",
    ] {
        assert!(
            checked.experiments.iter().any(|x| x.file.ends_with(want)),
            "{want} missing"
        );
    }
    assert!(checked.experiments.len() >= 6);
}

#[test]
fn validate_experiments_exits_zero() {
    let (code, out, err) = oomsday(&["validate", "experiments/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: "), "{out}");
}

#[test]
fn examples_round_trip_through_yaml() {
    let files = collect_files(&repo("experiments")).expect("experiments/");
    let checked = check_files(&files);
    for x in &checked.experiments {
        let yaml = serde_saphyr::to_string(&x.experiment).expect("to YAML");
        // Back through the full validator: the serialized form is itself a valid experiment...
        let again = check_source(&x.file, &yaml);
        assert!(
            again.diagnostics.is_empty(),
            "{}: {:?}\n{yaml}",
            x.file.display(),
            again.diagnostics
        );
        assert_eq!(again.experiments.len(), 1);
        // ...with the same typed value and the same JSON the API server would get.
        let back: &LeakExperiment = &again.experiments[0].experiment;
        assert_eq!(back, &x.experiment, "{}", x.file.display());
        assert_eq!(
            serde_json::to_value(back).expect("json"),
            serde_json::to_value(&x.experiment).expect("json")
        );
    }
}

#[test]
fn deploy_crds_match_the_types() {
    for (name, yaml) in schema::crd_files().expect("crd") {
        let path = repo("deploy/crds").join(&name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} differs from the CRD generated from src/spec/types.rs; regenerate it with\n    \
             cargo run -- crd --out deploy/crds",
            path.display()
        );
    }
    // `oomsday crd` prints the same documents.
    let (code, out, err) = oomsday(&["crd"]);
    assert_eq!(code, 0, "{err}");
    let files: Vec<String> = schema::crd_files()
        .expect("crd")
        .into_iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(out, files.join("---\n"));
}

#[test]
fn editor_schema_matches_the_types() {
    let path = repo("deploy/schema/leakexperiment.schema.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let (code, out, err) = oomsday(&["schema"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        on_disk == out,
        "{} differs from `oomsday schema`; regenerate it with\n    \
         cargo run -- schema --out deploy/schema/leakexperiment.schema.json",
        path.display()
    );
}

#[test]
fn validate_reports_each_mistake_and_keeps_its_exit_codes() {
    let dir = std::env::temp_dir().join(format!("oomsday-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: oomsday.dev/v1alpha1\nkind: LeakExperiment\nmetadata: {name: x}\nspec:\n  \
         target: {kind: Deployment, name: x}\n  leak: {pattern: linear, rate: 1Mi/min, start: 1Mi, \
         max: 2Gi, doubling: 5m}\n  duration: 30\n  recoverry: 5m\n",
    )
    .expect("write");
    let bad_s = bad.to_string_lossy().into_owned();
    let (code, out, _) = oomsday(&["validate", "-q", &bad_s]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!("{bad_s}:6:")) && lines[0].contains("spec.leak.doubling"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("{bad_s}:7:13: error: spec.duration: ")),
        "{out}"
    );
    assert!(
        lines[2].contains(
            ":8:3: error: spec.recoverry: unknown field `recoverry`; did you mean `recovery`?"
        ),
        "{out}"
    );

    let (code, out, _) = oomsday(&["validate", "-o", "json", &bad_s]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json output");
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 3);
    assert_eq!(v["diagnostics"][1]["line"], 7);
    assert_eq!(v["diagnostics"][1]["field"], "spec.duration");

    // Warnings pass, unless --strict.
    let warn = dir.join("warn.yaml");
    std::fs::write(
        &warn,
        "apiVersion: oomsday.dev/v1alpha1\nkind: LeakExperiment\nmetadata: {name: x}\nspec:\n  \
         target: {kind: Deployment, name: x}\n  leak: {pattern: linear, rate: 1Mi/min, max: 1Gi, limit: 2Gi}\n  \
         duration: 30m\n",
    )
    .expect("write");
    let warn_s = warn.to_string_lossy().into_owned();
    assert_eq!(oomsday(&["validate", &warn_s]).0, 0);
    assert_eq!(oomsday(&["validate", "--strict", &warn_s]).0, 1);

    // A file without any experiment gets a warning.
    let other = dir.join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .expect("write");
    let other_s = other.to_string_lossy().into_owned();
    let (code, out, _) = oomsday(&["validate", &other_s]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: no LeakExperiment in this file"),
        "{out}"
    );

    // A path that does not exist is a usage error.
    let (code, _, err) = oomsday(&["validate", "does/not/exist.yaml"]);
    assert_eq!(code, 2, "{err}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Validating 200 experiment files must take well under a second.
/// `cargo test --release --test spec_files -- --ignored --nocapture validate_200`
#[test]
#[ignore = "timing; run in release"]
fn validate_200_files_timing() {
    let dir = std::env::temp_dir().join(format!("oomsday-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let files = collect_files(&repo("experiments")).expect("experiments/");
    let sources: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .filter(|text| text.contains("kind: LeakExperiment"))
        .collect();
    for i in 0..200 {
        let src = &sources[i % sources.len()];
        // Unique names, so that the duplicate check does not fire.
        let text = src.replacen("  name: ", &format!("  name: n{i}-"), 1);
        std::fs::write(dir.join(format!("x{i:03}.yaml")), text).expect("write");
    }
    let start = std::time::Instant::now();
    let files = collect_files(&dir).expect("dir");
    let checked = check_files(&files);
    let took = start.elapsed();
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics.first());
    assert_eq!(checked.experiments.len(), 200);
    println!("validated 200 files in {took:?}");
    assert!(took.as_secs_f64() < 1.0);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn experiments_readme_explains_every_field() {
    fn names(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                    out.extend(props.keys().cloned());
                }
                o.values().for_each(|v| names(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let mut all = std::collections::BTreeSet::new();
    names(&schema::experiment_json_schema(), &mut all);
    assert!(all.len() > 50, "{all:?}");
    let readme = std::fs::read_to_string(repo("experiments/README.md")).expect("README");
    let missing: Vec<_> = all
        .iter()
        .filter(|f| !readme.contains(&format!("{f}:")))
        .collect();
    assert!(
        missing.is_empty(),
        "experiments/README.md does not show {missing:?}"
    );
}

#[test]
fn kustomization_lists_files_that_exist() {
    let text = std::fs::read_to_string(repo("deploy/kustomization.yaml")).expect("kustomization");
    let k: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let resources = k["resources"].as_array().expect("resources");
    for r in resources {
        let r = r.as_str().expect("path");
        assert!(
            repo("deploy").join(r).is_file(),
            "deploy/{r} is listed but missing"
        );
    }
    for crd in schema::crd_files().expect("crd") {
        let listed = format!("crds/{}", crd.0);
        assert!(
            resources.iter().any(|r| r == &serde_json::json!(listed)),
            "{listed} not installed"
        );
    }
}
