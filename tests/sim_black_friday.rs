//! The Black Friday story on the simulator: a cluster that holds without the leak, how close the
//! story's leak on it comes to the story's timeline over 21 seeds (docs/simulator.md, "The Black
//! Friday story"), the cascade of the cluster past the edge, containment with the fixes, and the
//! score ordering. Runs the real experiment files through the real loader, engine driver and
//! scorer.

mod support;

use std::path::Path;

use oomsday::engine::{ExperimentRef, RunRecord};
use oomsday::observe::{DisruptionCause, Happening, NodeConditionKind};
use oomsday::sim::{ClusterModel, run_experiment};
use oomsday::spec::load_experiments;

async fn simulate(file: &str, seed: Option<u64>) -> RunRecord {
    simulate_on(file, None, None, seed).await
}

/// `file`'s experiment on its own cluster model or on `model` (a path from the crate's root),
/// for its own duration or `duration`.
async fn simulate_on(
    file: &str,
    model: Option<&str>,
    duration: Option<&str>,
    seed: Option<u64>,
) -> RunRecord {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join(file);
    let (exps, _) = load_experiments(&path).expect("the experiment is valid");
    let sourced = &exps[0];
    let mut spec = sourced.experiment.spec.clone();
    if let Some(d) = duration {
        spec.duration = d.parse().expect("a duration");
    }
    let sim = spec.simulation.clone().expect("names its cluster model");
    let model_path = match model {
        Some(m) => root.join(m),
        None => path
            .parent()
            .unwrap()
            .join(sim.cluster.expect("names its cluster model")),
    };
    let model = ClusterModel::load(&model_path).expect("the model is valid");
    let exp = ExperimentRef {
        name: sourced.experiment.metadata.name.clone().unwrap(),
        namespace: sourced.experiment.metadata.namespace.clone().unwrap(),
        spec,
    };
    run_experiment(&model, &exp, seed.or(sim.seed).unwrap_or(1))
        .await
        .expect("the run completes")
}

fn events(r: &RunRecord) -> impl Iterator<Item = &Happening> {
    r.timeline.iter().map(|o| &o.happening)
}

fn min_ready(r: &RunRecord) -> u32 {
    events(r)
        .filter_map(|e| match e {
            Happening::Workload { ready, .. } => Some(*ready),
            _ => None,
        })
        .min()
        .unwrap_or(u32::MAX)
}

/// The cluster past the edge (the demo's before issue 22), for the leak's first hour.
async fn past_the_edge(seed: Option<u64>, duration: &str) -> RunRecord {
    simulate_on(
        "experiments/black-friday/checkout-leak.yaml",
        Some(PAST_THE_EDGE),
        Some(duration),
        seed,
    )
    .await
}

const PAST_THE_EDGE: &str = "experiments/black-friday/past-the-edge/cluster.yaml";

/// On the cluster past the edge every mechanism of the cascade shows; with the fixes the same
/// leak is contained.
#[tokio::test]
async fn past_the_edge_it_cascades_and_the_fixes_contain_it() {
    let story = past_the_edge(None, "1h").await;
    let fixed = simulate("experiments/black-friday/fixed/checkout-leak.yaml", None).await;
    assert!(story.simulated && fixed.simulated);

    // The cascade: pressure, kubelet evictions, a kubelet OOM-killed, nodes NotReady...
    let has = |r: &RunRecord, f: &dyn Fn(&Happening) -> bool| events(r).any(f);
    assert!(has(&story, &|e| matches!(
        e,
        Happening::NodeCondition {
            condition: NodeConditionKind::MemoryPressure,
            status: true,
            ..
        }
    )));
    assert!(has(&story, &|e| matches!(
        e,
        Happening::PodEvicted {
            cause: DisruptionCause::TerminationByKubelet,
            ..
        }
    )));
    assert!(has(
        &story,
        &|e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "KubeletOOMKilled")
    ));
    assert!(has(&story, &|e| matches!(
        e,
        Happening::NodeCondition {
            condition: NodeConditionKind::Ready,
            status: false,
            ..
        }
    )));
    assert!(has(&story, &|e| matches!(
        e,
        Happening::PodEvicted {
            cause: DisruptionCause::DeletionByTaintManager,
            ..
        }
    )));
    assert!(has(
        &story,
        &|e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "SystemOOM")
    ));

    // ...checkout pods rescheduled onto nodes that were already full: the scheduler, going by
    // requests, places them on nodes that run out of memory soon after — they report
    // MemoryPressure, or the kernel's OOM killer runs there before the kubelet could (the
    // memory-pressure taint keeps new pods off a node only once its condition has reached the
    // API).
    let pressure_at: Vec<(&str, jiff::Timestamp)> = story
        .timeline
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::NodeCondition {
                node,
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => Some((node.as_str(), o.at)),
            Happening::NodeEvent { node, reason, .. } if reason == "SystemOOM" => {
                Some((node.as_str(), o.at))
            }
            _ => None,
        })
        .collect();
    let soon = std::time::Duration::from_secs(600);
    let landed_on_full = story
        .timeline
        .iter()
        .filter(|o| match &o.happening {
            Happening::LeakerStarted { pod } => pod.node.as_deref().is_some_and(|n| {
                pressure_at.iter().any(|(pn, at)| {
                    *pn == n
                        && *at >= o.at
                        && at.duration_since(o.at).as_secs() <= soon.as_secs() as i64
                })
            }),
            _ => false,
        })
        .count();
    assert!(
        landed_on_full > 0,
        "no checkout pod landed on a node that was about to be under pressure"
    );

    // ...and checkout availability collapsing.
    assert!(
        min_ready(&story) <= 5,
        "checkout never fell below 5 ready: {}",
        min_ready(&story)
    );

    // With the fixes: the leak ends in OOM kills of the leaker itself, no node goes NotReady,
    // no kubelet dies, the budget holds.
    let leaker_kills = events(&fixed)
        .filter(|e| matches!(e, Happening::OomKilled { leaker: true, .. }))
        .count();
    assert!(
        leaker_kills >= 20,
        "the leaker should hit its limit: {leaker_kills}"
    );
    assert!(!has(
        &fixed,
        &|e| matches!(e, Happening::OomKilled { pod, leaker: false, .. } if pod.target)
    ));
    assert!(!has(&fixed, &|e| matches!(
        e,
        Happening::NodeCondition {
            condition: NodeConditionKind::Ready,
            status: false,
            ..
        }
    )));
    assert!(!has(
        &fixed,
        &|e| matches!(e, Happening::NodeEvent { reason, .. } if reason == "KubeletOOMKilled")
    ));
    // Contained means nothing else was hurt: no bystander evicted or OOM-killed, no node under
    // memory pressure.
    let harmed: Vec<_> = events(&fixed)
        .filter(|e| match e {
            Happening::OomKilled { pod, .. } | Happening::PodEvicted { pod, .. } => !pod.target,
            _ => false,
        })
        .collect();
    assert!(harmed.is_empty(), "bystanders hurt: {harmed:?}");
    assert!(!has(&fixed, &|e| matches!(
        e,
        Happening::NodeCondition {
            condition: NodeConditionKind::MemoryPressure,
            status: true,
            ..
        }
    )));
    let budgets: Vec<_> = events(&fixed)
        .filter_map(|e| match e {
            Happening::Budget {
                current_healthy,
                desired_healthy,
                ..
            } => Some((*current_healthy, *desired_healthy)),
            _ => None,
        })
        .collect();
    assert!(!budgets.is_empty());
    assert!(
        budgets.iter().all(|(c, d)| c >= d),
        "the PDB was breached: {budgets:?}"
    );

    // The score: low for the story, far higher with the fixes.
    let s = oomsday::score::score(&story);
    let f = oomsday::score::score(&fixed);
    let (st, ft) = (s.total.expect("scored"), f.total.expect("scored"));
    assert!(st < 50, "story scored {st}");
    assert!(ft >= st + 25, "fixed {ft} vs story {st}");
    assert_eq!(s.verdict, oomsday::spec::Verdict::Failed);
    assert_eq!(
        f.verdict,
        oomsday::spec::Verdict::Passed,
        "{:?}",
        f.hypothesis
    );
}

/// The most nodes whose Ready condition turned to `ready` within one minute of each other.
fn busiest_minute(r: &RunRecord, ready: bool) -> usize {
    let at: Vec<jiff::Timestamp> = r
        .timeline
        .iter()
        .filter(|o| {
            matches!(&o.happening, Happening::NodeCondition { condition: NodeConditionKind::Ready, status, .. } if *status == ready)
        })
        .map(|o| o.at)
        .collect();
    at.iter()
        .map(|a| {
            at.iter()
                .filter(|b| **b >= *a && b.duration_since(*a).as_secs() < 60)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn same_seed_same_timeline_other_seed_other_timeline() {
    let a = simulate("experiments/black-friday/fixed/checkout-leak.yaml", Some(7)).await;
    let b = simulate("experiments/black-friday/fixed/checkout-leak.yaml", Some(7)).await;
    let c = simulate("experiments/black-friday/fixed/checkout-leak.yaml", Some(8)).await;
    assert_eq!(a.timeline, b.timeline);
    assert_eq!(a.run_id, b.run_id);
    assert_ne!(a.timeline, c.timeline);
}

/// The cluster past the edge over 4 hours: nodes fail and come back each at its own pace, not
/// all in the same minute — real nodes differ in what they hold, and a starved kubelet comes
/// back when its own node lets it.
#[tokio::test]
async fn past_the_edge_nodes_fail_and_come_back_at_their_own_pace() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday/checkout-leak.yaml");
    let (exps, _) = load_experiments(&path).expect("valid");
    let mut spec = exps[0].experiment.spec.clone();
    spec.duration = "3h 45m".parse().expect("a duration");
    let model =
        ClusterModel::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(PAST_THE_EDGE)).unwrap();
    let nodes = model
        .spec
        .node_groups
        .iter()
        .map(|g| g.count as usize)
        .sum::<usize>();
    let exp = ExperimentRef {
        name: "story".into(),
        namespace: "shop".into(),
        spec,
    };
    let r = run_experiment(&model, &exp, 42).await.unwrap();
    let (back, lost) = (busiest_minute(&r, true), busiest_minute(&r, false));
    let start = r.started;
    let mins = |at: jiff::Timestamp| at.duration_since(start).as_secs() / 60;
    let hm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let mut not_ready = std::collections::BTreeSet::new();
    let (mut first_pressure, mut first_lost, mut cascade) = (None, None, None);
    let mut fewest_ready = u32::MAX;
    for o in r.timeline.iter() {
        match &o.happening {
            Happening::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => {
                first_pressure.get_or_insert(mins(o.at));
            }
            Happening::NodeCondition {
                node,
                condition: NodeConditionKind::Ready,
                status,
                ..
            } => {
                if *status {
                    not_ready.remove(node);
                } else {
                    not_ready.insert(node.clone());
                    first_lost.get_or_insert(mins(o.at));
                    if not_ready.len() * 2 >= nodes {
                        cascade.get_or_insert(mins(o.at));
                    }
                }
            }
            Happening::Workload { ready, .. } => fewest_ready = fewest_ready.min(*ready),
            _ => {}
        }
    }
    println!(
        "past the edge, seed 42: first MemoryPressure {}, first node lost {}, half the nodes NotReady {}, \
         fewest checkout pods ready {fewest_ready}/20; most nodes back Ready within one minute \
         {back}, most going NotReady within one minute {lost} (of {nodes})",
        first_pressure.map_or("never".into(), hm),
        first_lost.map_or("never".into(), hm),
        cascade.map_or("never".into(), hm),
    );
    assert!(
        first_lost.is_some(),
        "the cluster past the edge loses nodes"
    );
    assert!(
        back * 3 <= nodes,
        "{back} of {nodes} nodes came back Ready within one minute: lock-step"
    );
}

/// The cluster past the edge meets eviction thresholds before any leak and `simulate` warns so;
/// the story's cluster and the fixed one do not, and `simulate experiments/black-friday` opens
/// with no warning.
#[test]
fn only_the_cluster_past_the_edge_is_past_the_edge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let at_start = |file: &str, seed: u64| {
        let model = ClusterModel::load(&root.join(file)).expect("the model is valid");
        let cluster = oomsday::sim::SimCluster::new(&model, seed).expect("the model builds");
        cluster.past_the_edge().len()
    };
    for seed in [1, 2, 42] {
        let past = at_start("past-the-edge/cluster.yaml", seed);
        assert!(
            (1..=12).contains(&past),
            "seed {seed}: {past} of 120 nodes past the edge"
        );
        assert_eq!(at_start("fixed/cluster.yaml", seed), 0, "seed {seed}");
    }
    for seed in (1..=21).chain([42]) {
        assert_eq!(at_start("cluster.yaml", seed), 0, "seed {seed}");
    }
    let out = std::env::temp_dir().join("oomsday-past-the-edge");
    let warning = "warning: the model is past the edge before the experiment";
    let (_, stdout, _) = support::oomsday(&[
        "simulate",
        "experiments/black-friday/checkout-leak.yaml",
        "--cluster",
        PAST_THE_EDGE,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(stdout.contains(warning), "{stdout}");
    let (_, stdout, _) = support::oomsday(&[
        "simulate",
        "experiments/black-friday",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(!stdout.contains(warning), "{stdout}");
}

/// The story's cluster holds without the leak: over 4 h 15 m with nothing injected, no node
/// meets its eviction threshold at the start, none reports MemoryPressure and none is lost
/// (seeds 1–21).
#[tokio::test]
async fn the_story_s_cluster_holds_without_the_leak() {
    use oomsday::engine::Cluster as _;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let model = ClusterModel::load(&root.join("cluster.yaml")).expect("the model is valid");
    for seed in 1..=21 {
        let mut cluster = oomsday::sim::SimCluster::new(&model, seed).expect("the model builds");
        assert!(cluster.past_the_edge().is_empty(), "seed {seed}");
        let until = cluster.now() + jiff::SignedDuration::from_secs(STORY_SECS);
        let mut seen = Vec::new();
        while cluster.now() < until {
            seen.extend(
                cluster
                    .observe(until)
                    .await
                    .expect("the simulator observes"),
            );
        }
        let troubled: Vec<_> = seen
            .iter()
            .filter(|o| matches!(&o.happening, Happening::NodeCondition { .. }))
            .collect();
        assert!(troubled.is_empty(), "seed {seed}: {troubled:?}");
    }
}

/// 4 h 15 m: how long the story's leak is held.
const STORY_SECS: i64 = 4 * 3600 + 15 * 60;

/// One run's milestones against the story's bands, in seconds from the injection.
#[derive(Debug)]
struct Milestones {
    first_pressure: Option<i64>,
    first_lost: Option<i64>,
    /// Nodes going NotReady in each hour (the fifth: 04:00–04:15).
    lost_by_hour: [u32; 5],
    /// Checkout pods ready at 04:15, of 20.
    ready_at_end: u32,
}

fn milestones(r: &RunRecord) -> Milestones {
    let start = r.injected.expect("injected");
    let mut m = Milestones {
        first_pressure: None,
        first_lost: None,
        lost_by_hour: [0; 5],
        ready_at_end: 20,
    };
    for o in r.timeline.iter() {
        let s = o.at.duration_since(start).as_secs();
        match &o.happening {
            Happening::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => {
                m.first_pressure.get_or_insert(s);
            }
            Happening::NodeCondition {
                condition: NodeConditionKind::Ready,
                status: false,
                ..
            } => {
                m.first_lost.get_or_insert(s);
                m.lost_by_hour[(s / 3600).clamp(0, 4) as usize] += 1;
            }
            // Before the revert at 04:15 rolls the pods back.
            Happening::Workload { ready, .. } if s < STORY_SECS => m.ready_at_end = *ready,
            _ => {}
        }
    }
    m
}

fn hm(s: Option<i64>) -> String {
    s.map_or("never".into(), |s| {
        format!("{:02}:{:02}", s / 3600, s / 60 % 60)
    })
}

/// The story's leak on the story's cluster over seeds 1–21, against the story's bands (first
/// MemoryPressure within 01:00–02:00, first node lost within 02:30–03:05, the cascade in hour 4,
/// checkout availability 27% ± 15 points at 04:15). On a cluster that holds without the leak,
/// none is met, and this test holds why (docs/simulator.md, "The Black Friday story"): the leak
/// stops growing at 01:00, so a node it pushes past its threshold does so within the first
/// hour or never; the kubelet's 10 s look evicts the checkout pod (the largest use above its
/// request) in time, and no node runs out of memory between two looks. Prints the table.
#[tokio::test]
async fn the_story_s_bands_over_21_seeds() {
    let mut runs = Vec::new();
    for seed in 1..=21 {
        let r = simulate("experiments/black-friday/checkout-leak.yaml", Some(seed)).await;
        runs.push((seed, milestones(&r)));
    }
    for (seed, m) in &runs {
        println!(
            "seed {seed:2}: first MemoryPressure {}, first node lost {}, nodes lost by hour {:?}, \
             checkout ready at 04:15 {}/20",
            hm(m.first_pressure),
            hm(m.first_lost),
            m.lost_by_hour,
            m.ready_at_end
        );
    }
    let pressured: Vec<i64> = runs.iter().filter_map(|(_, m)| m.first_pressure).collect();
    println!(
        "first MemoryPressure in {} of 21 seeds, {}–{}",
        pressured.len(),
        hm(pressured.iter().min().copied()),
        hm(pressured.iter().max().copied())
    );
    // Pressure comes while the leak grows, in some seeds: never in the story's second hour.
    assert!(!pressured.is_empty(), "the leak never reached a threshold");
    assert!(pressured.iter().all(|&s| s < 3600), "{pressured:?}");
    for (seed, m) in &runs {
        // No node lost, so no cascade, and checkout fully ready at 04:15.
        assert_eq!(m.first_lost, None, "seed {seed}");
        assert_eq!(m.ready_at_end, 20, "seed {seed}");
    }
}
