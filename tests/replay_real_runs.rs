//! Every real recorded run (tests/fixtures/real-runs), replayed through the same classifier,
//! engine and scorer as a live run, against the ground truth its TRUTH.md derives from the
//! recorded objects alone. A number oomsday prints is right when it matches these.

mod support;

use std::collections::BTreeSet;

use jiff::Timestamp;
use oomsday::engine::RunRecord;
use oomsday::observe::{Happening, NodeConditionKind};
use oomsday::report::Report;
use oomsday::score::Analysis;
use support::truth::{PodFact, REPLAYED, Truth};

async fn replay(name: &str) -> RunRecord {
    support::truth::replay(name).await.1
}

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    b.duration_since(a).as_secs_f64()
}

/// Pairs two lists of pod facts by pod (and container) in time order and checks each time.
fn same_facts(what: &str, got: &[PodFact], want: &[PodFact], tolerance: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: count\n got {got:#?}\nwant {want:#?}"
    );
    let key = |f: &PodFact| (f.pod.clone(), f.at);
    let (mut got, mut want) = (got.to_vec(), want.to_vec());
    got.sort_by_key(key);
    want.sort_by_key(key);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.pod, w.pod, "{what}: pods\n got {got:#?}\nwant {want:#?}");
        assert_eq!(g.target, w.target, "{what}: target of {}", g.pod);
        let d = secs(w.at, g.at).abs();
        assert!(
            d <= tolerance,
            "{what} of {}: {} vs truth {} ({d:.1}s apart)",
            g.pod,
            g.at,
            w.at
        );
    }
}

fn pod_facts(
    record: &RunRecord,
    pick: impl Fn(&Happening) -> Option<(String, bool)>,
) -> Vec<PodFact> {
    record
        .timeline
        .iter()
        .filter_map(|o| {
            pick(&o.happening).map(|(pod, target)| PodFact {
                pod,
                container: String::new(),
                at: o.at,
                target,
            })
        })
        .collect()
}

fn check(name: &str, record: &RunRecord) {
    let truth = Truth::load(name);

    // The injection, as accepted by the API.
    let injected = record.injected.expect("injected");
    assert!(
        secs(truth.injection(), injected).abs() <= 0.05,
        "{name}: injected {injected} vs the truth's {}",
        truth.injection()
    );

    // Every leaker start, sidecar and ephemeral, at its startedAt.
    let starts = pod_facts(record, |e| match e {
        Happening::LeakerStarted { pod } => Some((pod.name.clone(), pod.target)),
        _ => None,
    });
    let want: BTreeSet<(String, Timestamp)> = truth
        .leaker_starts()
        .into_iter()
        .map(|f| (f.pod, f.at))
        .collect();
    let got: BTreeSet<(String, Timestamp)> = starts.into_iter().map(|f| (f.pod, f.at)).collect();
    assert_eq!(got, want, "{name}: leaker starts");

    // OOM kills: count exact, each within a second.
    let ooms = pod_facts(record, |e| match e {
        Happening::OomKilled { pod, .. } => Some((pod.name.clone(), pod.target)),
        _ => None,
    });
    same_facts(
        &format!("{name}: OOM kills"),
        &ooms,
        &truth.oom_kills(),
        1.0,
    );

    // Evictions (the pod ran; DisruptionTarget's time), target vs bystander.
    let evictions = pod_facts(record, |e| match e {
        Happening::PodEvicted { pod, .. } => Some((pod.name.clone(), pod.target)),
        _ => None,
    });
    same_facts(
        &format!("{name}: evictions"),
        &evictions,
        &truth.evictions(),
        1.0,
    );

    // Admission rejections (never ran) are counted apart.
    let rejections = record
        .timeline
        .iter()
        .filter(|o| matches!(o.happening, Happening::AdmissionRejected { .. }))
        .count();
    assert_eq!(
        rejections as u32,
        truth.admission_rejections(),
        "{name}: rejections"
    );

    // MemoryPressure transitions, at their lastTransitionTime (the baseline is not one).
    let pressure: Vec<(String, bool, Timestamp)> = record
        .timeline
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::NodeCondition {
                node,
                condition: NodeConditionKind::MemoryPressure,
                status,
                ..
            } if !o.baseline => Some((node.clone(), *status, o.at)),
            _ => None,
        })
        .collect();
    assert_eq!(pressure, truth.memory_pressure(), "{name}: MemoryPressure");

    // Time below the PDB's budget (±2 s) and the fewest healthy pods.
    let a = Analysis::of(record);
    let (below, fewest) = truth.below_budget();
    let b = a.budget.expect("the budget was observed");
    assert!(
        (b.below_seconds - below).abs() <= 2.0,
        "{name}: below the budget {:.1}s vs the truth's {below:.1}s",
        b.below_seconds
    );
    assert_eq!(b.min_healthy, Some(fewest), "{name}: fewest healthy");

    // Recovery: from the revert to the reverted template fully rolled out, no leaker left (±2 s).
    match truth.recovery() {
        Some(want) => {
            let got = a.recovery_seconds(record).expect("recovered");
            assert!(
                (got - want).abs() <= 2.0,
                "{name}: recovery {got:.1}s vs the truth's {want:.1}s"
            );
            let revert = truth.revert().expect("the truth's revert");
            let reverted = record.reverted.expect("reverted");
            assert!(
                secs(revert, reverted).abs() <= 0.05,
                "{name}: reverted {reverted} vs the truth's {revert}"
            );
        }
        None => assert!(record.reverted.is_some(), "{name}: the run reverts"),
    }

    // The peak a leaker held, from its own 1 s samples (±5%).
    let peak = a.peak_leak().expect("leaked bytes were sampled") as f64;
    let want = truth.peak_leaked_bytes() as f64;
    assert!(
        (peak - want).abs() <= want * 0.05,
        "{name}: peak leaked {peak} vs the truth's {want}"
    );
}

#[tokio::test]
async fn every_real_run_replays_to_its_truth() {
    for name in REPLAYED {
        let record = replay(name).await;
        check(name, &record);
    }
}

#[tokio::test]
async fn a_replay_is_byte_identical_twice() {
    for name in REPLAYED {
        let a = serde_json::to_string(&Report::new(replay(name).await, None)).unwrap();
        let b = serde_json::to_string(&Report::new(replay(name).await, None)).unwrap();
        assert!(a == b, "{name}: two replays differ");
    }
}

/// A replay of `name` under another duration than the recorded run's: today's oomsday decides
/// differently from the run it replays.
async fn replay_with_duration(name: &str, duration: &str) -> RunRecord {
    use oomsday::engine::{self, ExperimentRef, RunOptions};
    let recording = oomsday::recording::read(&support::truth::runs_dir().join(name))
        .expect("the recording reads");
    let mut cluster = oomsday::cluster::ReplayCluster::new(recording).expect("a replay");
    let mut exp = ExperimentRef::from(cluster.experiment().cloned().expect("an experiment"));
    exp.spec.duration = duration.parse().expect("a duration");
    engine::run_unattended(
        &mut cluster,
        &exp,
        &RunOptions::new(format!("{name}-replay")),
    )
    .await
    .expect("the replay runs")
}

fn recorded_revert_lines(record: &RunRecord) -> Vec<(Timestamp, String)> {
    record
        .timeline
        .entries()
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::RecordedRevert { today, .. } => Some((o.at, today.clone())),
            _ => None,
        })
        .collect()
}

/// The contained run reverted at T+60 (its 60 s duration). Replayed with a longer duration,
/// today's oomsday would have gone on; replayed with a shorter one, it would have reverted
/// sooner. Either way the replay follows the recorded revert, says where its own decision
/// differed, and measures recovery from the recorded revert (the truth's 3.7 s, not 0).
#[tokio::test]
async fn a_replay_that_decides_differently_follows_the_recorded_revert() {
    let as_recorded = replay("contained").await;
    let recorded_revert = as_recorded.reverted.expect("reverted");
    assert!(recorded_revert_lines(&as_recorded).is_empty());

    let longer = replay_with_duration("contained", "120s").await;
    assert_eq!(longer.reverted, Some(recorded_revert));
    let lines = recorded_revert_lines(&longer);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, recorded_revert);
    assert!(lines[0].1.contains("had not reverted by then"), "{lines:?}");
    let recovery = secs(recorded_revert, longer.recovered.expect("recovered"));
    assert!((recovery - 3.72).abs() < 0.5, "recovery {recovery} s");

    let shorter = replay_with_duration("contained", "30s").await;
    assert_eq!(shorter.reverted, Some(recorded_revert));
    let lines = recorded_revert_lines(&shorter);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].1.contains("decided to revert 30s earlier"),
        "{lines:?}"
    );
    let recovery = secs(recorded_revert, shorter.recovered.expect("recovered"));
    assert!((recovery - 3.72).abs() < 0.5, "recovery {recovery} s");
}
