//! The engine end to end on the simulator: the Black Friday experiment runs, is reverted and
//! scored, and the same seed gives the same record.

use std::path::Path;

use oomsday::engine::{self, Cluster, ExperimentRef, RunOptions, stop_channel};
use oomsday::observe::Event;
use oomsday::sim::{ClusterModel, SimCluster};
use oomsday::spec::{Phase, Verdict, load_experiments};

fn black_friday(abort: bool) -> (ExperimentRef, ClusterModel) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let (exps, _) = load_experiments(&dir.join("checkout-leak.yaml")).expect("valid experiment");
    let sourced = exps.into_iter().next().expect("one experiment");
    let mut spec = sourced.experiment.spec.clone();
    if abort {
        spec.abort = Some(oomsday::spec::AbortRules {
            nodes_under_pressure: Some(1),
            ..Default::default()
        });
    }
    let exp = ExperimentRef {
        name: sourced.experiment.metadata.name.clone().expect("named"),
        namespace: sourced
            .experiment
            .metadata
            .namespace
            .clone()
            .expect("namespaced"),
        spec,
    };
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
    let oom_or_evicted = record
        .timeline
        .iter()
        .any(|o| matches!(o.event, Event::OomKilled { .. } | Event::PodEvicted { .. }));
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
