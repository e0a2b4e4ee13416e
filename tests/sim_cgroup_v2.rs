//! The real bed's model on cgroup v1, as the bed runs, and on cgroup v2, as most managed
//! clusters' nodes do: the recorded experiments simulated on both over the calibration's seeds.
//!
//! On v2 the kubelet's memcg notifier does not exist (`NewCgroupNotifier`,
//! pkg/kubelet/eviction/threshold_notifier_linux.go, returns a disabled one), though configz
//! still says `kernelMemcgNotification: true`: the eviction manager finds the crossing on its
//! 10 s look. The calibration is on v1 only (`tests/sim_calibration.rs`); what v2 changes rests
//! on the kubelet's source, not on a recording. Prints its figures with
//!
//!     cargo test --test sim_cgroup_v2 -- --nocapture

mod support;

use std::path::PathBuf;

use oomsday::engine::ExperimentRef;
use oomsday::predict::{self, Measure, Measures};
use oomsday::sim::model::CgroupVersion;
use oomsday::sim::{ClusterModel, run_experiment};
use support::truth::recorded_experiment;

/// The real bed's derived model with its node on `version` (None: the field left out, as a
/// hand-written model or one written before it).
fn bed(version: Option<CgroupVersion>) -> ClusterModel {
    let mut m = ClusterModel::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-bed/model.yaml"),
    )
    .expect("the real bed's model");
    for g in &mut m.spec.node_groups {
        g.cgroup_version = version;
    }
    m
}

/// Each seed's measures of `exp` on `model`.
async fn runs(model: &ClusterModel, exp: &ExperimentRef) -> Vec<Measures> {
    let mut out = Vec::new();
    for seed in predict::SEEDS {
        let r = run_experiment(model, exp, seed)
            .await
            .expect("the simulation completes");
        out.push(Measures::of(&r));
    }
    out
}

fn evictions(m: &Measures) -> u32 {
    m.target_evictions + m.bystander_evictions
}

/// The prediction's figure of `m` as the tables show it.
fn text(p: &predict::Prediction, m: Measure) -> String {
    p.figure(m)
        .map(|f| f.text(p.seeds.len() as u32))
        .unwrap_or_default()
}

/// The recorded spill (3 leakers × 48 Mi/s, the pods' 3 GiB threshold crossed at T+24): on v1
/// the notification evicts in the second of the crossing; on v2 the eviction manager finds it on
/// its next 10 s look, wherever that falls for the seed. The leak needs ~21 s from the threshold
/// to the pods' 6 GiB limit, more than a look, so v2 still evicts rather than OOM-kills.
#[tokio::test]
async fn spill_on_cgroup_v2_evicts_on_the_ten_second_look_not_at_the_crossing() {
    let exp = recorded_experiment("spill");
    let v1 = runs(&bed(Some(CgroupVersion::V1)), &exp).await;
    let v2 = runs(&bed(Some(CgroupVersion::V2)), &exp).await;
    // A model without the field predicts what it always did: v1's.
    assert_eq!(runs(&bed(None), &exp).await, v1);
    let mut delays = Vec::new();
    for (seed, (a, b)) in predict::SEEDS.zip(v1.iter().zip(&v2)) {
        let crossing = a.first_eviction.expect("v1 evicts");
        let first = b.first_eviction.expect("v2 evicts");
        let delay = first - crossing;
        assert!(
            (0.0..10.0).contains(&delay),
            "seed {seed}: v1 at the crossing T+{crossing}, v2 at T+{first}"
        );
        assert_eq!((a.oom_kills, b.oom_kills), (0, 0), "seed {seed}");
        delays.push(delay);
    }
    // Where the look falls is the seed's: the delays spread over the look's 10 s.
    let distinct: std::collections::BTreeSet<u64> = delays.iter().map(|d| *d as u64).collect();
    assert!(distinct.len() >= 5, "{delays:?}");
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(sorted[sorted.len() / 2] >= 3.0, "{delays:?}");

    let (p1, p2) = (
        predict::predict(&bed(Some(CgroupVersion::V1)), &exp, predict::SEEDS)
            .await
            .expect("v1"),
        predict::predict(&bed(Some(CgroupVersion::V2)), &exp, predict::SEEDS)
            .await
            .expect("v2"),
    );
    println!("spill on the real bed, {} seeds: v1 | v2", p1.seeds.len());
    for m in Measure::ALL {
        println!(
            "  {:<28} {:>36} | {}",
            m.label(),
            text(&p1, m),
            text(&p2, m)
        );
    }
    println!(
        "  {:<28} {:>36} | {:?} {:?}",
        "verdict",
        format!("{:?} {:?}", p1.verdict, p1.verdicts),
        p2.verdict,
        p2.verdicts
    );
    println!("  first eviction later on v2 by {delays:?} s");
    // Spaced by the look, an eviction's replacement is more often ready before the next one:
    // the budget holds in more seeds on v2 than on v1, where the evictions come at each
    // crossing, under the taint. (Not in most: a status post during an eviction's kill, 0.3–1.4
    // s, taints the node before the replacement is placed on v2 as on v1.)
    let passed = |p: &predict::Prediction| {
        p.verdicts
            .get(&oomsday::spec::Verdict::Passed)
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(p1.verdict, oomsday::spec::Verdict::Failed);
    assert!(
        passed(&p2) > 2 * passed(&p1),
        "Passed in {} seeds on v2, {} on v1",
        passed(&p2),
        passed(&p1)
    );
    assert!(
        p2.notifier
            .as_deref()
            .is_some_and(|n| n.contains("none on real-1 (cgroup v2"))
    );
}

/// The contained leak is killed at its container's 64Mi limit: the kernel, not the eviction
/// manager, so both versions tell the same story (the whole container dies on both: the
/// leaker is one process).
#[tokio::test]
async fn contained_is_the_same_on_both() {
    let exp = recorded_experiment("contained");
    let v1 = runs(&bed(Some(CgroupVersion::V1)), &exp).await;
    let v2 = runs(&bed(Some(CgroupVersion::V2)), &exp).await;
    assert_eq!(v1, v2);
    assert!(v1.iter().all(|m| m.oom_kills >= 9 && evictions(m) == 0));
}

/// The spill at 256 Mi/s a leaker: the pods' cgroup goes from the 3 GiB threshold to its 6 GiB
/// limit in about 4 s. On v1 the notification evicts at the crossing; on v2 a look that falls
/// later than that comes too late, and the kernel OOM-kills in the pods' cgroup, in every seed.
/// On v1 too, sometimes: the eviction manager ranks the pods by what cAdvisor saw of them up to
/// 20 s before, and a leak this fast has moved on since, so the pod it evicts may not be the
/// one that holds the most.
#[tokio::test]
async fn a_spill_faster_than_the_look_is_oom_killed_on_cgroup_v2_where_v1_evicts() {
    let mut exp = recorded_experiment("spill");
    exp.spec.leak.rate = Some("256Mi/s".parse().expect("a rate"));
    let v1 = runs(&bed(Some(CgroupVersion::V1)), &exp).await;
    let v2 = runs(&bed(Some(CgroupVersion::V2)), &exp).await;
    let ooms = |r: &[Measures]| r.iter().map(|m| m.oom_kills).collect::<Vec<_>>();
    let evicted = |r: &[Measures]| r.iter().map(evictions).collect::<Vec<_>>();
    println!(
        "256Mi/s spill, OOM kills v1 {:?} v2 {:?}; evictions v1 {:?} v2 {:?}",
        ooms(&v1),
        ooms(&v2),
        evicted(&v1),
        evicted(&v2)
    );
    assert!(
        ooms(&v2).iter().all(|&k| k > 0),
        "v2 is too late in every seed"
    );
    let (k1, k2): (u32, u32) = (ooms(&v1).iter().sum(), ooms(&v2).iter().sum());
    let spared = ooms(&v1).iter().filter(|&&k| k == 0).count();
    assert!(
        2 * k1 < k2 && spared >= 5,
        "v1's notification spares most of the kills: {k1} vs {k2}, none in {spared} seeds"
    );
}

/// A snapshot that could not read the cgroup version: simulated as v1 (as configured), and,
/// since v2 would predict otherwise here, that outcome too, said in a warning.
#[tokio::test]
async fn an_unknown_cgroup_version_predicts_both_outcomes_where_they_differ() {
    let exp = recorded_experiment("spill");
    let unknown = bed(Some(CgroupVersion::Unknown));
    assert!(unknown.unknown_cgroups_matter());
    let p = predict::predict(&unknown, &exp, predict::SEEDS)
        .await
        .expect("the prediction");
    let v1 = predict::predict(&bed(Some(CgroupVersion::V1)), &exp, predict::SEEDS)
        .await
        .expect("v1");
    let v2 = predict::predict(&bed(Some(CgroupVersion::V2)), &exp, predict::SEEDS)
        .await
        .expect("v2");
    assert_eq!(p.figures, v1.figures);
    let alt = p.if_cgroup_v2.as_ref().expect("the v2 outcome beside it");
    assert_eq!(alt.figures, v2.figures);
    assert_eq!(alt.verdict, v2.verdict);
    let warning = p.warnings.join("\n");
    assert!(
        warning.contains("cgroup version of some nodes is unknown")
            && warning.contains(&format!(
                "first eviction {} instead of {}",
                text(&v2, Measure::FirstEviction),
                text(&v1, Measure::FirstEviction)
            )),
        "{warning}"
    );
    // The verdict is named where the two versions' verdicts differ.
    let verdicts = format!("verdict {:?} instead of {:?}", v2.verdict, v1.verdict);
    assert_eq!(
        warning.contains(&verdicts),
        v1.verdict != v2.verdict,
        "{warning}"
    );
    assert!(
        p.notifier
            .as_deref()
            .is_some_and(|n| n.contains("assumed on for real-1 (cgroup version unknown")),
        "{:?}",
        p.notifier
    );
    // Where the version does not decide anything (contained: killed at its limit), one outcome.
    let contained = predict::predict(&unknown, &recorded_experiment("contained"), predict::SEEDS)
        .await
        .expect("the prediction");
    assert!(contained.warnings.is_empty(), "{:?}", contained.warnings);
}
