use super::*;
use crate::engine::ExperimentRef;
use crate::predict::calibration::Recorded;
use crate::sim::ClusterModel;

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn contained() -> (ClusterModel, ExperimentRef) {
    let model = ClusterModel::load(&repo("tests/fixtures/real-bed/model.yaml")).unwrap();
    let (mut found, _) =
        crate::spec::load_experiments(&repo("tests/fixtures/real-runs/contained/contained.yaml"))
            .unwrap();
    let e = found.remove(0).experiment;
    let exp = ExperimentRef {
        name: e.metadata.name.clone().unwrap_or_default(),
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        spec: e.spec,
    };
    (model, exp)
}

/// Two simulated runs of one experiment stand for two recordings of it: each is set beside the
/// prediction, with what reached the target first, and both as a distribution.
#[tokio::test]
async fn simulated_runs_calibrate_as_recordings_would() {
    let (model, exp) = contained();
    let (prediction, seeds) = crate::predict::predict_with_runs(&model, &exp, 1..=5)
        .await
        .unwrap();
    let mut runs = Vec::new();
    for (name, seed) in [("run-a", 40), ("run-b", 41)] {
        runs.push(Recorded {
            name: name.into(),
            record: crate::sim::run_experiment(&model, &exp, seed)
                .await
                .unwrap(),
            prediction: prediction.clone(),
            seeds: seeds.clone(),
            model_source: "--model real-bed".into(),
        });
    }
    let c = Calibration::new(runs);
    assert_eq!(c.recordings.len(), 2);
    assert_eq!(c.campaigns.len(), 1);
    assert_eq!(c.campaigns[0].seeds, 5);
    let md = markdown(&c);
    assert!(
        md.contains(
            "| run-a | what reached the target first | the kernel's OOM kill first | the \
             kernel's OOM kill first (5 of 5 runs) | — | yes |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| run-b | verdict | Failed | Failed | — | yes |"),
        "{md}"
    );
    assert!(
        md.contains("**2 recordings of bf/contained** (run-a, run-b) against 5 seeds"),
        "{md}"
    );
    assert!(md.starts_with(&format!("**{}.**", c.headline())), "{md}");
    let text = text(&c);
    assert!(text.starts_with("CALIBRATION — "), "{text}");
    assert!(!text.contains("**"), "{text}");
}

#[test]
fn a_tolerance_with_its_own_parentheses_reads_in_one_pair() {
    assert_eq!(
        label(Measure::BelowBudget),
        "time below the budget (±30%, ±5 s under 15 s)"
    );
    assert_eq!(label(Measure::Score), "score");
}
