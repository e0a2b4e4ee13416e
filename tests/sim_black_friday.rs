//! The Black Friday story on the simulator: the cascade without the fixes, containment with them,
//! and the score ordering. Runs the real experiment files through the real loader, engine driver
//! and scorer.

mod support;

use std::path::Path;

use oomsday::engine::{ExperimentRef, RunRecord};
use oomsday::observe::{DisruptionCause, Event, NodeConditionKind};
use oomsday::sim::{ClusterModel, run_experiment};
use oomsday::spec::load_experiments;

async fn simulate(file: &str, seed: Option<u64>) -> RunRecord {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let (exps, _) = load_experiments(&path).expect("the experiment is valid");
    let sourced = &exps[0];
    let spec = sourced.experiment.spec.clone();
    let sim = spec.simulation.clone().expect("names its cluster model");
    let model_path = path
        .parent()
        .unwrap()
        .join(sim.cluster.expect("names its cluster model"));
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

fn events(r: &RunRecord) -> impl Iterator<Item = &Event> {
    r.timeline.iter().map(|o| &o.event)
}

fn min_ready(r: &RunRecord) -> u32 {
    events(r)
        .filter_map(|e| match e {
            Event::Workload { ready, .. } => Some(*ready),
            _ => None,
        })
        .min()
        .unwrap_or(u32::MAX)
}

#[tokio::test]
async fn the_story_cascades_and_the_fixes_contain_it() {
    let story = simulate("experiments/black-friday/checkout-leak.yaml", None).await;
    let fixed = simulate("experiments/black-friday/fixed/checkout-leak.yaml", None).await;
    assert!(story.simulated && fixed.simulated);

    // The cascade: pressure, kubelet evictions, a kubelet OOM-killed, nodes NotReady...
    let has = |r: &RunRecord, f: &dyn Fn(&Event) -> bool| events(r).any(f);
    assert!(has(&story, &|e| matches!(
        e,
        Event::NodeCondition {
            condition: NodeConditionKind::MemoryPressure,
            status: true,
            ..
        }
    )));
    assert!(has(&story, &|e| matches!(
        e,
        Event::PodEvicted {
            cause: DisruptionCause::TerminationByKubelet,
            ..
        }
    )));
    assert!(has(
        &story,
        &|e| matches!(e, Event::NodeEvent { reason, .. } if reason == "KubeletOOMKilled")
    ));
    assert!(has(&story, &|e| matches!(
        e,
        Event::NodeCondition {
            condition: NodeConditionKind::Ready,
            status: false,
            ..
        }
    )));
    assert!(has(&story, &|e| matches!(
        e,
        Event::PodEvicted {
            cause: DisruptionCause::DeletionByTaintManager,
            ..
        }
    )));
    assert!(has(
        &story,
        &|e| matches!(e, Event::NodeEvent { reason, .. } if reason == "SystemOOM")
    ));

    // ...checkout pods rescheduled onto nodes that were already full: the scheduler, going by
    // requests, places them on nodes that report MemoryPressure soon after (the memory-pressure
    // taint keeps new pods off a node only once its condition has reached the API).
    let pressure_at: Vec<(&str, jiff::Timestamp)> = story
        .timeline
        .iter()
        .filter_map(|o| match &o.event {
            Event::NodeCondition {
                node,
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => Some((node.as_str(), o.at)),
            _ => None,
        })
        .collect();
    let soon = std::time::Duration::from_secs(600);
    let landed_on_full = story
        .timeline
        .iter()
        .filter(|o| match &o.event {
            Event::LeakerStarted { pod } => pod.node.as_deref().is_some_and(|n| {
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
        .filter(|e| matches!(e, Event::OomKilled { leaker: true, .. }))
        .count();
    assert!(
        leaker_kills >= 20,
        "the leaker should hit its limit: {leaker_kills}"
    );
    assert!(!has(
        &fixed,
        &|e| matches!(e, Event::OomKilled { pod, leaker: false, .. } if pod.target)
    ));
    assert!(!has(&fixed, &|e| matches!(
        e,
        Event::NodeCondition {
            condition: NodeConditionKind::Ready,
            status: false,
            ..
        }
    )));
    assert!(!has(
        &fixed,
        &|e| matches!(e, Event::NodeEvent { reason, .. } if reason == "KubeletOOMKilled")
    ));
    // Contained means nothing else was hurt: no bystander evicted or OOM-killed, no node under
    // memory pressure.
    let harmed: Vec<_> = events(&fixed)
        .filter(|e| match e {
            Event::OomKilled { pod, .. } | Event::PodEvicted { pod, .. } => !pod.target,
            _ => false,
        })
        .collect();
    assert!(harmed.is_empty(), "bystanders hurt: {harmed:?}");
    assert!(!has(&fixed, &|e| matches!(
        e,
        Event::NodeCondition {
            condition: NodeConditionKind::MemoryPressure,
            status: true,
            ..
        }
    )));
    let budgets: Vec<_> = events(&fixed)
        .filter_map(|e| match e {
            Event::Budget {
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
            matches!(&o.event, Event::NodeCondition { condition: NodeConditionKind::Ready, status, .. } if *status == ready)
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

/// The story over its 4 hours (as `cargo bench --bench sim` runs it): nodes fail and come back
/// each at its own pace, not all in the same minute — real nodes differ in what they hold, and
/// a starved kubelet comes back when its own node lets it. Prints the timeline's milestones for
/// the README's comparison with the story (first pressure, first node lost, the cascade).
#[tokio::test]
async fn the_story_s_nodes_fail_and_come_back_at_their_own_pace() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday/checkout-leak.yaml");
    let (exps, _) = load_experiments(&path).expect("valid");
    let mut spec = exps[0].experiment.spec.clone();
    spec.duration = "3h 45m".parse().expect("a duration");
    let model = ClusterModel::load(&path.parent().unwrap().join("cluster.yaml")).unwrap();
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
        match &o.event {
            Event::NodeCondition {
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                ..
            } => {
                first_pressure.get_or_insert(mins(o.at));
            }
            Event::NodeCondition {
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
            Event::Workload { ready, .. } => fewest_ready = fewest_ready.min(*ready),
            _ => {}
        }
    }
    println!(
        "story, seed 42: first MemoryPressure {}, first node lost {}, half the nodes NotReady {}, \
         fewest checkout pods ready {fewest_ready}/20; most nodes back Ready within one minute \
         {back}, most going NotReady within one minute {lost} (of {nodes})",
        first_pressure.map_or("never".into(), hm),
        first_lost.map_or("never".into(), hm),
        cascade.map_or("never".into(), hm),
    );
    assert!(first_lost.is_some(), "the story loses nodes");
    assert!(
        back * 3 <= nodes,
        "{back} of {nodes} nodes came back Ready within one minute: lock-step"
    );
}

/// The README says the story's cascade is the model's: its cluster is past the edge before the
/// leak (some nodes meet their eviction threshold with nothing injected), and `simulate` warns
/// so. The fixed cluster is not.
#[test]
fn the_story_model_is_past_the_edge_before_the_leak_and_the_fixed_one_is_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let at_start = |file: &str, seed: u64| {
        let model = ClusterModel::load(&root.join(file)).expect("the model is valid");
        let cluster = oomsday::sim::SimCluster::new(&model, seed).expect("the model builds");
        cluster.past_the_edge().len()
    };
    for seed in [1, 2, 42] {
        let story = at_start("cluster.yaml", seed);
        assert!(
            (1..=12).contains(&story),
            "seed {seed}: {story} of 120 nodes past the edge"
        );
        assert_eq!(at_start("fixed/cluster.yaml", seed), 0, "seed {seed}");
    }
    let out = std::env::temp_dir().join("oomsday-past-the-edge");
    let (_, stdout, _) = support::oomsday(&[
        "simulate",
        "experiments/black-friday/checkout-leak.yaml",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(
        stdout.contains("warning: the model is past the edge before the experiment"),
        "{stdout}"
    );
}
