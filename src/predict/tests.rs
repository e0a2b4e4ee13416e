use serde_json::json;

use super::*;
use crate::observe::{DisruptionCause, Happening, NodeConditionKind};
use crate::score::testkit::{pod, record, spec};
use crate::sim::ClusterModel;

fn model() -> ClusterModel {
    ClusterModel::from_yaml(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {name: small}
spec:
  kubelet: {evictionHard: 1Gi, kernelMemcgNotification: true}
  nodeGroups: [{name: n, count: 1, capacity: 8Gi, kubeReserved: 1Gi}]
  workloads:
    - name: checkout
      namespace: shop
      replicas: 3
      containers: [{name: app, workingSet: 256Mi, resources: {requests: {memory: 256Mi}}}]
  pdbs: [{name: checkout, namespace: shop, selector: {app: checkout}, minAvailable: 2}]
"#,
    )
    .unwrap()
}

fn measures(first_eviction: Option<f64>, evictions: u32, verdict: Verdict) -> Measures {
    Measures {
        first_oom_kill: None,
        oom_kills: 0,
        first_eviction,
        target_evictions: evictions,
        bystander_evictions: 0,
        first_memory_pressure: first_eviction.map(|t| t + 8.0),
        nodes_under_pressure: u32::from(first_eviction.is_some()),
        first_not_ready: None,
        nodes_not_ready: 0,
        below_budget: Some(20.0),
        recovery: Some(3.0),
        score: Some(80),
        verdict,
        target_first: first_eviction.map(|_| TargetFirst::Eviction),
    }
}

#[test]
fn each_measure_is_the_median_of_the_runs_that_have_it_when_most_do() {
    let runs: Vec<(u64, Measures, Series)> = vec![
        (
            1,
            measures(Some(20.0), 4, Verdict::Failed),
            Series::default(),
        ),
        (
            2,
            measures(Some(30.0), 3, Verdict::Failed),
            Series::default(),
        ),
        (
            3,
            measures(Some(22.0), 4, Verdict::Passed),
            Series::default(),
        ),
        (4, measures(None, 0, Verdict::Passed), Series::default()),
        (
            5,
            measures(Some(21.0), 5, Verdict::Failed),
            Series::default(),
        ),
    ];
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let f = p.figure(Measure::FirstEviction).unwrap();
    // 4 of 5 runs evict: the median of those four (20, 21, 22, 30 → the upper middle).
    assert_eq!(
        (f.median, f.range, f.runs),
        (Some(22.0), Some((20.0, 30.0)), 4)
    );
    let n = p.figure(Measure::TargetEvictions).unwrap();
    assert_eq!((n.median, n.range), (Some(4.0), Some((0.0, 5.0))));
    // No run OOM-kills: predicted none.
    let o = p.figure(Measure::FirstOomKill).unwrap();
    assert_eq!((o.median, o.runs), (None, 0));
    assert_eq!(p.verdict, Verdict::Failed);
    assert_eq!(p.verdicts.get(&Verdict::Failed), Some(&3));
    // The run nearest the medians (22 s, 4 evictions, Failed): seed 1 (20 s, 4) rather than
    // seed 5 (21 s, but 5 evictions) or seed 3 (22 s, but Passed).
    assert_eq!(p.representative_seed, 1);
    assert_eq!(p.seeds, [1, 2, 3, 4, 5]);

    // When fewer than half the runs have it, it is predicted not to happen; the range stays.
    let few: Vec<_> = (1..=5)
        .map(|s| {
            let ev = (s <= 2).then_some(40.0 + s as f64);
            (s, measures(ev, 0, Verdict::Passed), Series::default())
        })
        .collect();
    let p = Prediction::of_runs(&model(), &few).unwrap();
    let f = p.figure(Measure::FirstEviction).unwrap();
    assert_eq!((f.median, f.range, f.runs), (None, Some((41.0, 42.0)), 2));
    assert_eq!(f.text(5), "none (2 of 5 runs: T+41.0 s–T+42.0 s)");
    assert!(Prediction::of_runs(&model(), &[]).is_err());
}

#[test]
fn measures_are_read_from_the_timeline_after_the_injection() {
    let evicted = |name: &str, target: bool| Happening::PodEvicted {
        pod: pod(name, "n1", target),
        cause: DisruptionCause::TerminationByKubelet,
        message: String::new(),
    };
    let r = record(
        spec(json!({"hypothesis": {"maxBystanderEvictions": 0}})),
        vec![
            (0, Happening::workload(3, 3)),
            (
                1,
                Happening::LeakerStarted {
                    pod: pod("checkout-1", "n1", true),
                },
            ),
            (22, evicted("checkout-1", true)),
            (
                30,
                Happening::NodeCondition {
                    node: "n1".into(),
                    condition: NodeConditionKind::MemoryPressure,
                    status: true,
                    reason: String::new(),
                },
            ),
            (40, evicted("cache-1", false)),
            (41, Happening::workload(3, 2)),
            (700, Happening::workload(3, 3)),
        ],
    );
    let m = Measures::of(&r);
    assert_eq!(m.first_eviction, Some(22.0));
    assert_eq!((m.target_evictions, m.bystander_evictions), (1, 1));
    assert_eq!(m.first_memory_pressure, Some(30.0));
    assert_eq!(m.nodes_under_pressure, 1);
    assert_eq!((m.first_oom_kill, m.oom_kills), (None, 0));
    assert_eq!(m.verdict, Verdict::Failed, "a bystander was evicted");
    let s = Series::of(&r);
    assert_eq!(s.ready, [(0.0, 3), (41.0, 2), (700.0, 3)]);
    assert_eq!(s.disruptions, [22.0, 40.0]);
    assert_eq!(s.pressure, [(30.0, 1)]);
    assert_eq!((s.end, s.reverted), (900.0, Some(600.0)));
}

#[test]
fn a_comparison_judges_each_measure_by_the_calibrations_tolerance() {
    let runs: Vec<_> = (1..=3)
        .map(|s| {
            (
                s,
                measures(Some(20.0 + s as f64), 4, Verdict::Failed),
                Series::default(),
            )
        })
        .collect();
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let evicted = |at: i64, name: &str| {
        (
            at,
            Happening::PodEvicted {
                pod: pod(name, "n1", true),
                cause: DisruptionCause::TerminationByKubelet,
                message: String::new(),
            },
        )
    };
    // Observed: the first eviction 4 s after the predicted 22 s, 2 evictions (predicted 4), no
    // MemoryPressure (predicted at T+30).
    let r = record(
        spec(json!({})),
        vec![
            (0, Happening::workload(3, 3)),
            evicted(26, "a"),
            evicted(40, "b"),
        ],
    );
    let c = Comparison::new(&p, &r, Measures::of(&r));
    let row = |m: Measure| c.rows.iter().find(|r| r.measure == m).unwrap();
    let first = row(Measure::FirstEviction);
    assert_eq!((first.predicted, first.observed), (Some(22.0), Some(26.0)));
    assert_eq!(first.error_text(), "-4.0 s");
    assert_eq!(first.within, Some(true));
    assert_eq!(first.predicted_text(), "T+22.0 s (T+21.0 s–T+23.0 s)");
    let n = row(Measure::TargetEvictions);
    assert_eq!((n.error, n.within), (Some(2.0), Some(false)));
    assert_eq!(n.error_text(), "+2 (+100%)");
    let mp = row(Measure::FirstMemoryPressure);
    assert_eq!(
        (mp.within, mp.error_text().as_str()),
        (Some(false), "predicted, did not happen")
    );
    let oom = row(Measure::FirstOomKill);
    assert_eq!((oom.within, oom.error_text().as_str()), (Some(true), "—"));
    assert_eq!(
        row(Measure::Score).within,
        None,
        "no tolerance: shown, not judged"
    );
    assert_eq!(c.predicted_verdict, Verdict::Failed);
    assert!(
        c.headline()
            .contains(&format!("{} of {}", c.within, c.judged))
    );
    assert!(c.within < c.judged);
}

#[test]
fn an_outcome_without_it_is_in_the_history_of_the_runs_without_it() {
    // Four of seven runs evict (two early, two late); three do not.
    let firsts = [
        Some(22.0),
        Some(22.0),
        Some(80.0),
        Some(80.0),
        None,
        None,
        None,
    ];
    let runs: Vec<_> = (1..)
        .zip(firsts)
        .map(|(s, f)| {
            let m = measures(f, u32::from(f.is_some()), Verdict::Failed);
            (s, m, Series::default())
        })
        .collect();
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let row_of = |r: &crate::engine::RunRecord, m: Measure| {
        let c = Comparison::new(&p, r, Measures::of(r));
        c.rows.into_iter().find(|r| r.measure == m).unwrap()
    };
    let quiet = record(spec(json!({})), vec![(0, Happening::workload(3, 3))]);
    let first = row_of(&quiet, Measure::FirstEviction);
    assert_eq!(
        first.predicted_text(),
        "T+80.0 s (T+22.0 s in 2, T+80.0 s in 2 runs, none in 3)"
    );
    assert_eq!((first.within, first.observed_in), (Some(false), Some(3)));
    assert_eq!(first.within_text(), "no (the history of 3 of 7 runs)");
    // An eviction at T+22 is in the early history, as before.
    let evicted = record(
        spec(json!({})),
        vec![
            (0, Happening::workload(3, 3)),
            (
                22,
                Happening::PodEvicted {
                    pod: pod("a", "n1", true),
                    cause: DisruptionCause::TerminationByKubelet,
                    message: String::new(),
                },
            ),
        ],
    );
    assert_eq!(
        row_of(&evicted, Measure::FirstEviction).observed_in,
        Some(2)
    );
}

/// An experiment on shop/checkout: a linear leak with no limit, `rate` and `max` as written.
fn checkout_leak(name: &str, rate: &str, max: &str, minutes: u32) -> crate::engine::ExperimentRef {
    crate::engine::ExperimentRef {
        name: name.into(),
        namespace: "shop".into(),
        spec: serde_json::from_value(json!({
            "target": {"kind": "Deployment", "name": "checkout"},
            "leak": {"pattern": "linear", "rate": rate, "start": "8Mi", "max": max, "limit": "none"},
            "duration": format!("{minutes}m"),
            "recovery": format!("{minutes}m"),
            "hypothesis": {"pdbHolds": true},
        }))
        .unwrap(),
    }
}

#[tokio::test]
async fn a_prediction_simulates_the_experiment_over_the_seeds() {
    let exp = checkout_leak("spill", "100Mi/s", "4Gi", 2);
    let p = predict(&model(), &exp, 1..=5).await.unwrap();
    assert_eq!(p.seeds, [1, 2, 3, 4, 5]);
    let first = p.figure(Measure::FirstEviction).unwrap();
    assert!(
        first.median.is_some_and(|t| t > 0.0 && t < 120.0),
        "{first:?}"
    );
    assert!(!p.series.ready.is_empty() && !p.series.disruptions.is_empty());
    assert_eq!(p.model, "small");
    // Same model, experiment and seeds: same prediction.
    assert_eq!(predict(&model(), &exp, 1..=5).await.unwrap(), p);

    let mut elsewhere = exp.clone();
    elsewhere.namespace = "other".into();
    let e = predict(&model(), &elsewhere, 1..=2).await.unwrap_err();
    assert!(e.to_string().contains("no workload other/checkout"), "{e}");
}

#[test]
fn the_report_sets_the_prediction_beside_the_outcome() {
    let runs = vec![(1, measures(None, 0, Verdict::Passed), Series::default())];
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let r = record(spec(json!({})), vec![]);
    let report = crate::report::Report::new(r.clone(), Some(p.clone()));
    assert_eq!(report.prediction.as_ref(), Some(&p));
    assert!(report.comparison.is_some());
    let plain = crate::report::Report::new(r, None);
    assert!(plain.prediction.is_none() && plain.comparison.is_none());
}

#[test]
fn a_version_1_report_with_its_prediction_in_the_record_still_reads() {
    let runs = vec![(
        1,
        measures(Some(40.0), 2, Verdict::Failed),
        Series::default(),
    )];
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let report = crate::report::Report::new(record(spec(json!({})), vec![]), Some(p));
    let text = crate::report::render(&report, crate::report::Format::Json);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert!(v["prediction"]["seeds"].is_array() && v["comparison"]["rows"].is_array());
    assert!(v["record"].get("prediction").is_none());
    // Version 1's shape: the prediction in the record, the comparison called `prediction`.
    let made = v["prediction"].take();
    v["record"]["prediction"] = made;
    v["prediction"] = v["comparison"].take();
    v.as_object_mut().unwrap().remove("comparison");
    v["schemaVersion"] = json!(1);
    let old = crate::report::Report::from_json(&v.to_string()).unwrap();
    assert_eq!(old, report);
}

#[test]
fn runs_that_split_into_two_histories_are_shown_as_two() {
    // Recovery: 3 s in 9 runs, 8–23 s in 12 (the spill recording's split).
    let mut v = vec![3.0; 9];
    v.extend([
        8.0, 9.0, 10.0, 10.0, 11.0, 12.0, 13.0, 14.0, 18.0, 22.0, 22.0, 23.0,
    ]);
    let g = groups(Measure::Recovery, &v);
    assert_eq!(
        g,
        [
            Group {
                lo: 3.0,
                hi: 3.0,
                runs: 9
            },
            Group {
                lo: 8.0,
                hi: 23.0,
                runs: 12
            }
        ]
    );
    assert!(g[0].holds(Measure::Recovery, 3.1) && !g[1].holds(Measure::Recovery, 3.1));
    // Spread evenly, or apart by less than twice the tolerance: one history.
    let even: Vec<f64> = (25..=34).map(f64::from).collect();
    assert!(groups(Measure::FirstMemoryPressure, &even).is_empty());
    assert!(groups(Measure::TargetEvictions, &[4.0, 4.0, 5.0, 6.0, 6.0]).is_empty());
    // The gap that counts is the widest in tolerances: 4 → 7 s (2.5 of ±30% at 4 s), not the
    // wider 14 → 18 s (one tolerance at 14 s).
    let v = [
        3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 7.0, 7.0, 7.0, 8.0, 10.0, 10.0, 11.0, 14.0, 18.0, 19.0, 22.0,
    ];
    assert_eq!(
        groups(Measure::Recovery, &v)
            .iter()
            .map(|g| g.runs)
            .collect::<Vec<_>>(),
        [6, 11]
    );
    // One run far away is an outlier, not a history.
    assert!(groups(Measure::Recovery, &[3.0, 3.0, 3.0, 3.0, 30.0]).is_empty());
    // No tolerance, no judgement of what is far.
    assert!(groups(Measure::Score, &[60.0, 60.0, 90.0, 90.0]).is_empty());
}

#[test]
fn a_comparison_says_which_history_the_outcome_took() {
    let runs: Vec<(u64, Measures, Series)> = (1..=10)
        .map(|seed| {
            let mut m = measures(Some(22.0), 4, Verdict::Failed);
            m.recovery = Some(if seed <= 4 { 3.0 } else { 12.0 + seed as f64 });
            (seed, m, Series::default())
        })
        .collect();
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let f = p.figure(Measure::Recovery).unwrap();
    assert_eq!(f.text(10), "18.0 s (3.0 s in 4, 17.0 s–22.0 s in 6 runs)");
    let recovered_after = |ms: i64| {
        let mut r = record(spec(json!({})), vec![(0, Happening::workload(3, 3))]);
        r.recovered = r
            .reverted
            .map(|at| at + jiff::SignedDuration::from_millis(ms));
        Comparison::new(&p, &r, Measures::of(&r))
            .rows
            .into_iter()
            .find(|r| r.measure == Measure::Recovery)
            .unwrap()
    };
    // Recovered in 3.1 s: outside the median's tolerance, in the history of 4 runs.
    let row = recovered_after(3100);
    assert_eq!((row.observed, row.within), (Some(3.1), Some(false)));
    assert_eq!(row.within_text(), "no (the history of 4 of 10 runs)");
    assert_eq!(
        serde_json::to_value(&row).unwrap()["groups"][0],
        json!({"lo": 3.0, "hi": 3.0, "runs": 4})
    );
    // In 60 s: in neither.
    assert_eq!(
        recovered_after(60_000).within_text(),
        "no (in neither history the runs split into)"
    );
}

#[test]
fn a_prediction_reads_back_what_it_wrote() {
    let runs = vec![
        (
            1,
            measures(Some(22.0), 4, Verdict::Failed),
            Series::default(),
        ),
        (2, measures(None, 0, Verdict::Passed), Series::default()),
    ];
    let p = Prediction::of_runs(&model(), &runs).unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["verdicts"], json!({"Passed": 1, "Failed": 1}));
    assert_eq!(serde_json::from_value::<Prediction>(json).unwrap(), p);
}

#[tokio::test]
async fn a_model_past_the_edge_is_said_before_the_prediction() {
    let exp = checkout_leak("slow", "1Mi/s", "64Mi", 1);
    let p = predict(&model(), &exp, 1..=2).await.unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // The same pods using 2.5 GiB each on the 8 GiB node (1 GiB reserved, 1 GiB threshold):
    // past the threshold before anything leaks.
    let mut full = model();
    full.spec.workloads[0].containers[0].working_set = "2560Mi".parse().unwrap();
    let p = predict(&full, &exp, 1..=2).await.unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(
        p.warnings[0].starts_with("the model is past the edge before the experiment: 1 of 1 nodes"),
        "{}",
        p.warnings[0]
    );
    let md = crate::report::Report::new(
        crate::score::testkit::record(spec(json!({})), vec![]),
        Some(p),
    );
    let text = crate::report::render(&md, crate::report::Format::Md);
    assert!(text.contains("past the edge"), "{text}");
}

#[test]
fn seeds_simulated_on_many_threads_predict_what_one_thread_does() {
    let exp = checkout_leak("spill", "100Mi/s", "4Gi", 2);
    let seeds: Vec<u64> = (1..=7).collect();
    let (one, _) = simulate(&model(), &exp, &seeds, 1).unwrap();
    for workers in [2, 3, 16] {
        let (many, _) = simulate(&model(), &exp, &seeds, workers).unwrap();
        assert_eq!(
            serde_json::to_string(&many).unwrap(),
            serde_json::to_string(&one).unwrap(),
            "{workers} threads"
        );
    }
    assert_eq!(one.seeds, seeds);
}

#[test]
fn what_reached_the_target_first_is_the_earlier_of_its_oom_kill_and_its_eviction() {
    let t = crate::testkit::t;
    assert_eq!(
        TargetFirst::of(Some(t(5)), Some(t(9))),
        Some(TargetFirst::OomKill)
    );
    assert_eq!(
        TargetFirst::of(Some(t(9)), Some(t(5))),
        Some(TargetFirst::Eviction)
    );
    // The same second: the kernel does not wait for the kubelet's look.
    assert_eq!(
        TargetFirst::of(Some(t(5)), Some(t(5))),
        Some(TargetFirst::OomKill)
    );
    assert_eq!(
        TargetFirst::of(None, Some(t(5))),
        Some(TargetFirst::Eviction)
    );
    assert_eq!(TargetFirst::of(None, None), None);
}

#[test]
fn the_odds_of_what_comes_first_say_how_often_over_the_seeds() {
    let odds = FirstOdds {
        oom_kill: 4,
        eviction: 17,
        neither: 0,
    };
    assert_eq!(odds.expected(), Some(TargetFirst::Eviction));
    assert_eq!(
        odds.text(),
        "the kubelet's eviction first (17 of 21 runs; the kernel's OOM kill in 4)"
    );
    let rare = FirstOdds {
        oom_kill: 3,
        eviction: 0,
        neither: 18,
    };
    assert_eq!(rare.expected(), None);
    assert_eq!(
        rare.text(),
        "neither in most runs (18 of 21; the kernel's OOM kill first in 3, the kubelet's eviction in 0)"
    );
    // An OOM kill observed where most seeds evicted: judged, and how many seeds had it.
    let row = FirstRow::new(odds, Some(TargetFirst::OomKill));
    assert_eq!(row.within, Some(false));
    assert_eq!(row.within_text(), "no (4 of 21 runs had it)");
    assert_eq!(
        row.sentence().as_deref(),
        Some(
            "The simulator expected the kubelet's eviction to reach the target first (17 of 21 \
             runs); in the run, the kernel's OOM kill came first."
        )
    );
    // Nothing on either side: not judged.
    let none = FirstRow::new(
        FirstOdds {
            oom_kill: 0,
            eviction: 0,
            neither: 21,
        },
        None,
    );
    assert_eq!(none.within, None);
    assert_eq!(none.sentence(), None);
}

/// The odds come from the seeds' runs as simulated: a sidecar leaker with a limit is
/// OOM-killed by the kernel in every seed, an unlimited one spilling over the node evicted.
#[tokio::test]
async fn a_prediction_says_what_reaches_the_target_first_over_its_seeds() {
    let model = crate::sim::ClusterModel::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real-bed/model.yaml"),
    )
    .unwrap();
    let exp = |dir: &str, file: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real-runs")
            .join(dir)
            .join(file);
        let (mut found, _) = crate::spec::load_experiments(&path).unwrap();
        let e = found.remove(0).experiment;
        crate::engine::ExperimentRef {
            name: e.metadata.name.clone().unwrap_or_default(),
            namespace: e.metadata.namespace.clone().unwrap_or_default(),
            spec: e.spec,
        }
    };
    let contained = predict(&model, &exp("contained", "contained.yaml"), 1..=5)
        .await
        .unwrap();
    assert_eq!(
        contained.target_first.expected(),
        Some(TargetFirst::OomKill)
    );
    assert_eq!(contained.target_first.oom_kill, 5);
    let spill = predict(&model, &exp("spill", "spill.yaml"), 1..=5)
        .await
        .unwrap();
    assert_eq!(spill.target_first.expected(), Some(TargetFirst::Eviction));
    assert_eq!(spill.target_first.runs(), 5);
}

/// Where it is close, what reaches the target first flips from seed to seed: the real bed's
/// node as cgroup v2 (no memory notifier: the eviction manager finds the crossing on its 10 s
/// look only) under a leak fast enough to fill the pods' cgroup between two looks. Whether the
/// kernel's OOM killer or the look comes first depends on where the look happens to be.
#[tokio::test]
async fn where_it_is_close_the_odds_of_what_comes_first_split_over_the_seeds() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-bed/model.yaml");
    let yaml = std::fs::read_to_string(path)
        .unwrap()
        .replace("cgroupVersion: v1", "cgroupVersion: v2");
    let model = ClusterModel::from_yaml(&yaml).unwrap();
    let mut exp = checkout_leak("fast", "200Mi/s", "3Gi", 1);
    exp.namespace = "bf".into();
    let p = predict(&model, &exp, SEEDS).await.unwrap();
    let odds = p.target_first;
    assert!(
        odds.oom_kill >= 2 && odds.eviction >= 2,
        "both outcomes in a real share of the seeds: {odds:?}"
    );
    assert_eq!(odds.runs(), 21);
    let text = odds.text();
    assert!(
        text.contains("the kernel's OOM kill") && text.contains("the kubelet's eviction"),
        "{text}"
    );
}
