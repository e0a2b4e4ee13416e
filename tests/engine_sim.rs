//! The engine end to end on the simulator: the Black Friday experiment runs, is reverted and
//! scored, and the same seed gives the same record.

use std::path::Path;

use oomsday::cli::experiments::experiment_ref;
use oomsday::engine::{self, Cluster, ExperimentRef, RunOptions, stop_channel};
use oomsday::observe::Happening;
use oomsday::sim::{ClusterModel, SimCluster};
use oomsday::spec::{Phase, Verdict, load_experiments};

fn black_friday(abort: bool) -> (ExperimentRef, ClusterModel) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let (exps, _) = load_experiments(&dir.join("checkout-leak.yaml")).expect("valid experiment");
    let sourced = exps.into_iter().next().expect("one experiment");
    let mut exp = experiment_ref(&sourced, None, "default").expect("named");
    if abort {
        exp.spec.abort = Some(oomsday::spec::AbortRules {
            nodes_under_pressure: Some(1),
            ..Default::default()
        });
    }
    // The cluster past the edge: the one that cascades (experiments/black-friday/cluster.yaml
    // holds and contains the leak).
    let model = ClusterModel::load(&dir.join("past-the-edge/cluster.yaml")).expect("valid model");
    (exp, model)
}

async fn run_sim(exp: &ExperimentRef, model: &ClusterModel, seed: u64) -> engine::RunRecord {
    let mut cluster = SimCluster::new(model, seed).expect("model builds");
    let opts = RunOptions::new(engine::run_id(&exp.name, cluster.now(), seed));
    engine::run_unattended(&mut cluster, exp, &opts)
        .await
        .expect("the simulator reverts")
}

#[tokio::test]
async fn black_friday_cascades_and_is_reverted() {
    let (exp, model) = black_friday(false);
    let record = run_sim(&exp, &model, 42).await;
    assert!(record.simulated);
    assert_eq!(record.phase, Phase::Completed, "{:?}", record.message);
    assert!(record.injected.is_some() && record.reverted.is_some());
    let oom_or_evicted = record.timeline.iter().any(|o| {
        matches!(
            o.happening,
            Happening::OomKilled { .. } | Happening::PodEvicted { .. }
        )
    });
    assert!(oom_or_evicted, "the story's cascade did not happen");
    let score = oomsday::score::score(&record);
    assert_eq!(score.verdict, Verdict::Failed);
}

#[tokio::test]
async fn abort_rule_stops_the_cascade_early() {
    let (exp, model) = black_friday(true);
    let record = run_sim(&exp, &model, 42).await;
    assert_eq!(record.phase, Phase::Aborted, "{:?}", record.message);
    assert_eq!(record.reason, Some(oomsday::spec::RunReason::AbortRule));
    let reverted = record.reverted.expect("reverted");
    let deadline = record.injected.expect("injected") + exp.spec.duration.std();
    assert!(
        reverted < deadline,
        "aborted at {reverted}, deadline {deadline}"
    );
}

#[tokio::test]
async fn same_seed_same_record() {
    let (exp, model) = black_friday(false);
    let a = run_sim(&exp, &model, 7).await;
    let b = run_sim(&exp, &model, 7).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn stop_before_start_touches_nothing() {
    let (exp, model) = black_friday(false);
    let mut cluster = SimCluster::new(&model, 1).expect("model builds");
    let (handle, mut stop) = stop_channel();
    handle.stop(engine::RunReason::Signal, "SIGINT");
    let opts = RunOptions::new("bf-stopped");
    let record = engine::run(
        &mut cluster,
        &mut engine::NoProbes,
        &exp,
        &opts,
        &mut stop,
        &mut |_| {},
    )
    .await
    .expect("nothing to revert");
    assert_eq!(record.phase, Phase::Aborted);
    assert_eq!(record.injection, None);
    assert_eq!(
        oomsday::score::score(&record).verdict,
        Verdict::Inconclusive
    );
}

/// The Black Friday target on the fixed cluster (steady by itself), behind a budget it can
/// never satisfy (minAvailable above its replicas) or not, with a steady-state gate of 2m
/// within `timeout`.
fn gated(unhealthy_budget: bool, timeout: &str) -> (ExperimentRef, ClusterModel) {
    let (mut exp, _) = black_friday(false);
    let fixed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday/fixed/cluster.yaml");
    let mut model = ClusterModel::load(&fixed).expect("valid model");
    if unhealthy_budget {
        let labels =
            std::collections::BTreeMap::from([("app".to_string(), "checkout".to_string())]);
        let w = model
            .spec
            .workloads
            .iter_mut()
            .find(|w| w.name == exp.spec.target.name)
            .expect("the target is in the model");
        w.labels.extend(labels.clone());
        let replicas = w.replicas;
        model.spec.pdbs.push(oomsday::sim::model::PdbModel {
            name: "checkout".into(),
            namespace: exp.namespace.clone(),
            selector: labels,
            min_available: Some(oomsday_core::CountOrPercent::Count(replicas + 1)),
            max_unavailable: None,
        });
    }
    exp.spec.steady_state = Some(
        serde_json::from_value(serde_json::json!({"for": "2m", "timeout": timeout}))
            .expect("a valid gate"),
    );
    (exp, model)
}

#[tokio::test]
async fn a_target_that_is_not_steady_is_never_injected_in_the_simulator() {
    let (exp, model) = gated(true, "5m");
    let record = run_sim(&exp, &model, 42).await;
    assert_eq!(
        record.reason,
        Some(oomsday::spec::RunReason::NotSteady),
        "{:?}",
        record.message
    );
    assert_eq!(record.injected, None);
    assert!(record.injection.is_none());
    assert!(
        !record.timeline.iter().any(|o| matches!(
            o.happening,
            Happening::LeakerStarted { .. } | Happening::OomKilled { .. }
        )),
        "nothing was injected, so nothing leaked"
    );
    let message = record.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("budgetHealthy (PDB checkout)"),
        "{message}"
    );
    assert_eq!(
        record.finished.duration_since(record.started).as_secs(),
        300,
        "gave up at the timeout"
    );
    let score = oomsday::score::score(&record);
    assert_eq!((score.verdict, score.total), (Verdict::Inconclusive, None));
}

#[tokio::test]
async fn a_steady_target_is_injected_once_it_held_for_the_window_in_the_simulator() {
    let (exp, model) = gated(false, "10m");
    let record = run_sim(&exp, &model, 42).await;
    let injected = record.injected.unwrap_or_else(|| {
        panic!(
            "not injected: {:?} {:#?}",
            record.message,
            record.timeline.iter().take(30).collect::<Vec<_>>()
        )
    });
    let waited = injected.duration_since(record.started).as_secs();
    assert!((120..=125).contains(&waited), "injected after {waited}s");
    assert_eq!(record.phase, Phase::Completed, "{:?}", record.message);
}
