//! `oomsday simulate --seeds N`: the binary prints, beside the one history it tells, each
//! measure's median and range over N seeds — the same figures `run --predict` computes — so a
//! team reads a prediction, not one draw of the kubelets' timing.

use std::path::Path;

mod support;

use oomsday::engine::ExperimentRef;
use oomsday::predict::{self, Measure};
use oomsday::sim::ClusterModel;
use support::oomsday;

const EXPERIMENT: &str = "tests/fixtures/real-runs/spill/spill.yaml";
const MODEL: &str = "tests/fixtures/real-bed/model.yaml";

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[tokio::test]
async fn seeds_print_the_median_and_range_the_prediction_computes() {
    let out = std::env::temp_dir().join(format!("oomsday-seeds-{}", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    let (code, stdout, stderr) = oomsday(&[
        "simulate",
        EXPERIMENT,
        "--cluster",
        MODEL,
        "--seeds",
        "5",
        "--out",
        &out_s,
    ]);
    std::fs::remove_dir_all(&out).ok();
    // The spill experiment's hypothesis fails (the budget is breached): exit 1, not an error.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("SIMULATED — over 5 seeds (1–5)"),
        "{stdout}"
    );

    let model = ClusterModel::load(&repo(MODEL)).expect("the model");
    let (found, _) = oomsday::spec::load_experiments(&repo(EXPERIMENT)).expect("the experiment");
    let e = &found[0].experiment;
    let exp = ExperimentRef {
        name: e.metadata.name.clone().expect("a name"),
        namespace: e
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        spec: e.spec.clone(),
    };
    let p = predict::predict(&model, &exp, 1..=5)
        .await
        .expect("a prediction");
    for m in [
        Measure::FirstEviction,
        Measure::TargetEvictions,
        Measure::Recovery,
    ] {
        let f = p.figure(m).expect("every measure has a figure");
        let line = format!("{:<28} {}", m.label(), f.text(5));
        assert!(stdout.contains(&line), "{line:?} not in\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("verdict                      {:?}", p.verdict)),
        "{stdout}"
    );
}

#[test]
fn one_seed_is_not_a_spread() {
    let (code, _, stderr) = oomsday(&["simulate", EXPERIMENT, "--cluster", MODEL, "--seeds", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--seeds"), "{stderr}");
}
