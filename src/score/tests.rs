//! Table tests over hand-built timelines, one group per facet, then the weighting, the
//! hypothesis and the verdict.

use serde_json::json;

use super::testkit::*;
use super::*;
use crate::observe::{AlertState, DisruptionCause, Happening, NodeConditionKind};
use crate::spec::Phase;

fn points(s: &Score, f: Facet) -> Option<f64> {
    s.facet(f).and_then(|x| x.points)
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 0.01)
}

fn oom(pod_name: &str, node: &str, target: bool, leaker: bool) -> Happening {
    Happening::OomKilled {
        pod: pod(pod_name, node, target),
        container: if leaker {
            "oomsday-leaker".into()
        } else {
            "app".into()
        },
        leaker,
        restart_count: 1,
    }
}

fn evicted(pod_name: &str, node: &str, target: bool) -> Happening {
    Happening::PodEvicted {
        pod: pod(pod_name, node, target),
        cause: DisruptionCause::TerminationByKubelet,
        message: "The node was low on resource: memory.".into(),
    }
}

fn node(name: &str, condition: NodeConditionKind, status: bool) -> Happening {
    Happening::NodeCondition {
        node: name.into(),
        condition,
        status,
        reason: String::new(),
    }
}

fn alert(name: &str) -> Happening {
    Happening::Alert {
        name: name.into(),
        state: AlertState::Firing,
    }
}

fn probe(ok: bool) -> Happening {
    Happening::Probe {
        name: "health".into(),
        ok,
        detail: String::new(),
    }
}

fn budget(desired_healthy: u32, current: u32) -> Happening {
    Happening::Budget {
        name: "checkout".into(),
        current_healthy: current,
        desired_healthy,
        disruptions_allowed: current.saturating_sub(desired_healthy),
        expected_pods: 3,
    }
}

#[test]
fn grades() {
    for (total, g) in [
        (100, "A"),
        (90, "A"),
        (89, "B"),
        (80, "B"),
        (79, "C"),
        (70, "C"),
        (69, "D"),
        (60, "D"),
        (59, "F"),
        (0, "F"),
    ] {
        assert_eq!(Grade::of(total).as_str(), g, "{total}");
    }
}

#[test]
fn availability_table() {
    let started = leaker_started("checkout-1", "n1");
    // (name, spec extras, events, record tweaks (injected, finished), expected points)
    type Case = (
        &'static str,
        serde_json::Value,
        Vec<(i64, Happening)>,
        Option<f64>,
    );
    let cases: Vec<Case> = vec![
        (
            "always healthy",
            json!({}),
            vec![(0, started.clone()), (0, workload(3, 3))],
            Some(100.0),
        ),
        // All replicas is the default budget: 2 of 3 for half the 900 s window.
        (
            "half below all-replicas budget",
            json!({}),
            vec![
                (0, workload(3, 3)),
                (300, workload(3, 2)),
                (750, workload(3, 3)),
            ],
            Some(50.0),
        ),
        (
            "minAvailable 50% tolerates one lost pod",
            json!({"minAvailable": "50%"}),
            vec![
                (0, workload(3, 3)),
                (300, workload(3, 2)),
                (750, workload(3, 3)),
            ],
            Some(100.0),
        ),
        // The PDB's status wins over the spec's minAvailable.
        (
            "PDB desiredHealthy 3 over minAvailable 1",
            json!({"minAvailable": 1}),
            vec![
                (0, budget(3, 3)),
                (0, workload(3, 3)),
                // As the disruption controller follows the pods.
                (450, workload(3, 2)),
                (450, budget(3, 2)),
            ],
            Some(50.0),
        ),
        (
            "all pods gone",
            json!({}),
            vec![(0, workload(3, 0))],
            Some(0.0),
        ),
        (
            "state from before the window carries in",
            json!({}),
            vec![(-20, workload(3, 1))],
            Some(0.0),
        ),
        (
            "no observations, no probes",
            json!({}),
            vec![(0, started.clone())],
            None,
        ),
        (
            "probes only",
            json!({}),
            vec![
                (10, probe(true)),
                (20, probe(true)),
                (30, probe(false)),
                (40, probe(true)),
            ],
            Some(75.0),
        ),
        // 0.6 × 50% + 0.4 × 100%.
        (
            "budget and probes",
            json!({}),
            vec![
                (0, workload(3, 3)),
                (300, workload(3, 2)),
                (750, workload(3, 3)),
                (10, probe(true)),
            ],
            Some(70.0),
        ),
    ];
    for (name, extra, events, want) in cases {
        let r = record(spec(extra), events);
        let got = points(&score(&r), Facet::Availability);
        match want {
            Some(w) => assert!(approx(got, w), "{name}: got {got:?}, want {w}"),
            None => assert_eq!(got, None, "{name}"),
        }
    }
}

#[test]
fn availability_zero_length_run_is_not_measured() {
    let mut r = record(spec(json!({})), vec![(0, workload(3, 3))]);
    r.finished = t(0);
    r.reverted = Some(t(0));
    let s = score(&r);
    let f = s.facet(Facet::Availability).unwrap();
    assert!(!f.measured);
    assert!(f.explanation.contains("no length"), "{}", f.explanation);
}

#[test]
fn containment_table() {
    let l = leaker_started("checkout-1", "n1");
    type Case = (&'static str, Vec<(i64, Happening)>, Option<f64>);
    let cases: Vec<Case> = vec![
        ("nothing happened", vec![(0, l.clone())], Some(100.0)),
        (
            "leaker OOM-killed at its limit is good",
            vec![(0, l.clone()), (100, oom("checkout-1", "n1", true, true))],
            Some(100.0),
        ),
        (
            "pressure on one node, three bystanders evicted",
            vec![
                (0, l.clone()),
                (100, node("n1", NodeConditionKind::MemoryPressure, true)),
                (110, evicted("a", "n1", false)),
                (111, evicted("b", "n1", false)),
                (112, evicted("c", "n1", false)),
            ],
            Some(100.0 - 12.0 - 24.0),
        ),
        (
            "a bystander evicted twice counts once",
            vec![
                (0, l.clone()),
                (110, evicted("a", "n1", false)),
                (200, oom("a", "n1", false, false)),
            ],
            Some(92.0),
        ),
        (
            "three nodes NotReady: capped at 50",
            vec![
                (0, l.clone()),
                (1, node("n1", NodeConditionKind::Ready, false)),
                (2, node("n2", NodeConditionKind::Ready, false)),
                (3, node("n3", NodeConditionKind::Ready, false)),
            ],
            Some(50.0),
        ),
        (
            "the story: everything spills, floor at 0",
            {
                let mut v = vec![(0, l.clone())];
                for i in 0..41 {
                    v.push((100 + i, evicted(&format!("by-{i}"), "n2", false)));
                }
                for n in ["n1", "n2", "n3"] {
                    v.push((50, node(n, NodeConditionKind::MemoryPressure, true)));
                    v.push((300, node(n, NodeConditionKind::Ready, false)));
                    v.push((
                        301,
                        Happening::NodeEvent {
                            node: n.into(),
                            reason: "SystemOOM".into(),
                            message: String::new(),
                        },
                    ));
                }
                v
            },
            Some(0.0),
        ),
        (
            "the app container OOM-killed next to the leak",
            vec![(0, l.clone()), (100, oom("checkout-1", "n1", true, false))],
            Some(94.0),
        ),
        (
            "rollout deletions are not evictions",
            vec![
                (0, l.clone()),
                (
                    5,
                    Happening::PodEvicted {
                        pod: pod("checkout-0", "n1", true),
                        cause: DisruptionCause::Deleted,
                        message: String::new(),
                    },
                ),
            ],
            Some(100.0),
        ),
        ("leaker never ran", vec![(0, workload(3, 3))], None),
    ];
    for (name, events, want) in cases {
        let r = record(spec(json!({})), events);
        let got = points(&score(&r), Facet::Containment);
        match want {
            Some(w) => assert!(approx(got, w), "{name}: got {got:?}, want {w}"),
            None => assert_eq!(got, None, "{name}"),
        }
    }
}

#[test]
fn recovery_table() {
    // (name, spec extras, events, recorded `recovered` offset, reverted?, want)
    type Case = (
        &'static str,
        serde_json::Value,
        Vec<(i64, Happening)>,
        Option<i64>,
        bool,
        Option<f64>,
    );
    let cases: Vec<Case> = vec![
        (
            "recovered in a minute, default 5m target",
            json!({}),
            vec![],
            Some(660),
            true,
            Some(100.0),
        ),
        (
            "600 s against a 300 s target: half marks",
            json!({}),
            vec![],
            Some(1200),
            true,
            Some(50.0),
        ),
        (
            "three times the target: zero",
            json!({}),
            vec![],
            Some(1500),
            true,
            Some(0.0),
        ),
        (
            "scoring.recoveryTarget wins",
            json!({"scoring": {"recoveryTarget": "20m"}, "hypothesis": {"recoveredWithin": "1m"}}),
            vec![],
            Some(1200),
            true,
            Some(100.0),
        ),
        (
            "hypothesis.recoveredWithin is the fallback target",
            json!({"hypothesis": {"recoveredWithin": "1m"}}),
            vec![],
            Some(720),
            true,
            Some(50.0),
        ),
        (
            "never recovered",
            json!({}),
            vec![(0, workload(3, 3)), (500, workload(3, 1))],
            None,
            true,
            Some(0.0),
        ),
        (
            "derived from the timeline",
            json!({}),
            vec![
                (0, workload(3, 3)),
                (500, workload(3, 1)),
                (690, workload(3, 3)),
            ],
            None,
            true,
            Some(100.0),
        ),
        (
            "healthy all along: recovered at the revert",
            json!({}),
            vec![(0, workload(3, 3))],
            None,
            true,
            Some(100.0),
        ),
        (
            "never reverted",
            json!({}),
            vec![(0, workload(3, 3))],
            None,
            false,
            None,
        ),
    ];
    for (name, extra, events, recovered, reverted, want) in cases {
        let mut r = record(spec(extra), events);
        r.recovered = recovered.map(t);
        if !reverted {
            r.reverted = None;
        }
        let got = points(&score(&r), Facet::Recovery);
        match want {
            Some(w) => assert!(approx(got, w), "{name}: got {got:?}, want {w}"),
            None => assert_eq!(got, None, "{name}"),
        }
    }
    let r = record(
        spec(json!({})),
        vec![
            (0, workload(3, 3)),
            (500, workload(3, 1)),
            (690, workload(3, 3)),
        ],
    );
    assert_eq!(Analysis::of(&r).recovery_seconds(&r), Some(90.0));
}

#[test]
fn detection_table() {
    let expect = json!({
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "expectAlerts": [{"name": "LeakRate", "within": "5m"}]
    });
    let l = (0, leaker_started("checkout-1", "n1"));
    type Case = (
        &'static str,
        serde_json::Value,
        Vec<(i64, Happening)>,
        Option<f64>,
    );
    let cases: Vec<Case> = vec![
        (
            "no expectAlerts",
            json!({}),
            vec![l.clone(), (10, alert("LeakRate"))],
            None,
        ),
        (
            "expectAlerts but no prometheus and no alerts seen",
            json!({"expectAlerts": [{"name": "LeakRate", "within": "5m"}]}),
            vec![l.clone()],
            None,
        ),
        (
            "before the first OOM kill, in time",
            expect.clone(),
            vec![
                l.clone(),
                (120, alert("LeakRate")),
                (200, oom("checkout-1", "n1", true, true)),
            ],
            Some(100.0),
        ),
        (
            "no damage at all, in time",
            expect.clone(),
            vec![l.clone(), (120, alert("LeakRate"))],
            Some(100.0),
        ),
        (
            "before damage but late",
            expect.clone(),
            vec![
                l.clone(),
                (400, alert("LeakRate")),
                (500, evicted("x", "n1", false)),
            ],
            Some(70.0),
        ),
        (
            "after the first OOM kill, in time",
            expect.clone(),
            vec![
                l.clone(),
                (100, oom("checkout-1", "n1", true, true)),
                (120, alert("LeakRate")),
            ],
            Some(35.0),
        ),
        (
            "after the first eviction and late",
            expect.clone(),
            vec![
                l.clone(),
                (100, evicted("x", "n1", false)),
                (400, alert("LeakRate")),
            ],
            Some(20.0),
        ),
        (
            "never fired",
            expect.clone(),
            vec![l.clone(), (120, alert("SomethingElse"))],
            Some(0.0),
        ),
        (
            "pending is not firing",
            expect.clone(),
            vec![
                l.clone(),
                (
                    120,
                    Happening::Alert {
                        name: "LeakRate".into(),
                        state: AlertState::Pending,
                    },
                ),
            ],
            Some(0.0),
        ),
        (
            "one of two",
            json!({"prometheus": {"url": "http://p"}, "expectAlerts": [{"name": "A", "within": "5m"}, {"name": "B", "within": "5m"}]}),
            vec![l.clone(), (60, alert("A"))],
            Some(50.0),
        ),
    ];
    for (name, extra, events, want) in cases {
        let r = record(spec(extra), events);
        let got = points(&score(&r), Facet::Detection);
        match want {
            Some(w) => assert!(approx(got, w), "{name}: got {got:?}, want {w}"),
            None => assert_eq!(got, None, "{name}"),
        }
    }
}

fn story_template() -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": "checkout"}},
        "spec": {"containers": [{"name": "app", "image": "shop/checkout:1"}]}
    })
}

fn fixed_template() -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": "checkout"}},
        "spec": {"containers": [{
            "name": "app", "image": "shop/checkout:1",
            "resources": {"requests": {"memory": "1Gi", "cpu": "500m"}, "limits": {"memory": "1Gi", "cpu": "500m"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
        }]}
    })
}

fn fixed_defences() -> crate::defences::Defences {
    let mut d = defences(fixed_template(), 3);
    d.pdbs = vec![
        serde_json::from_value(json!({
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "checkout"}}}
        }))
        .unwrap(),
    ];
    d.limit_ranges = vec![
        serde_json::from_value(json!({
            "metadata": {"name": "mem", "namespace": "shop"},
            "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]}
        }))
        .unwrap(),
    ];
    d
}

#[test]
fn hygiene_table() {
    let base = || record(spec(json!({})), vec![(0, leaker_started("p", "n1"))]);
    let r = base();
    assert_eq!(
        points(&score(&r), Facet::Hygiene),
        None,
        "no defences captured"
    );

    let mut r = base();
    r.defences = Some(fixed_defences());
    assert!(approx(points(&score(&r), Facet::Hygiene), 100.0));

    let mut r = base();
    r.defences = Some(defences(story_template(), 3));
    let s = score(&r);
    let f = s.facet(Facet::Hygiene).unwrap();
    // High (no limit, no LimitRange default), Medium (no request), Medium (no readiness),
    // High (no PDB), Medium (no LimitRange): 100 - 15 - 7 - 7 - 15 - 7.
    assert!(approx(f.points, 49.0), "{f:?}");
    assert!(
        f.evidence.iter().any(|e| e.contains("no memory limit")),
        "{:?}",
        f.evidence
    );

    // An HPA that can outgrow the nodes: 10 × 1 GiB against 8 GiB.
    let mut d = fixed_defences();
    d.node_allocatable = vec![4 << 30, 4 << 30];
    d.hpas = vec![serde_json::from_value(json!({
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"maxReplicas": 10, "scaleTargetRef": {"kind": "Deployment", "name": "checkout"}}
    })).unwrap()];
    let mut r = base();
    r.defences = Some(d);
    assert!(approx(points(&score(&r), Facet::Hygiene), 85.0));
}

#[test]
fn unmeasured_weight_is_shared_out_never_full_marks() {
    // Availability 50, containment 100, recovery 100; detection and hygiene not measured.
    let r = record(
        spec(json!({})),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (300, workload(3, 2)),
            (750, workload(3, 3)),
        ],
    );
    let s = score(&r);
    assert!(!s.facet(Facet::Detection).unwrap().measured);
    assert!(!s.facet(Facet::Hygiene).unwrap().measured);
    // (35 × 50 + 25 × 100 + 20 × 100) / 80 = 78.1
    assert_eq!(s.total, Some(78));
    assert_eq!(s.grade, Some(Grade::C));
    let eff: f64 = s.facets.iter().map(|f| f.effective_weight).sum();
    assert!((eff - 100.0).abs() < 1e-9, "{eff}");

    // Nothing measured at all: zero, not a hundred.
    let mut r = record(spec(json!({})), vec![]);
    r.reverted = None;
    let s = score(&r);
    assert!(s.facets.iter().all(|f| !f.measured));
    assert_eq!(s.total, Some(0));
    assert_eq!(s.grade, Some(Grade::F));
    assert_eq!(s.verdict, Verdict::Inconclusive);
}

#[test]
fn custom_weights() {
    let r = record(
        spec(json!({"scoring": {"weights": {"availability": 1, "containment": 0, "recovery": 0}}})),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (300, workload(3, 2)),
            (750, workload(3, 3)),
        ],
    );
    assert_eq!(score(&r).total, Some(50));
}

#[test]
fn hypothesis_clauses() {
    let h = json!({
        "prometheus": {"url": "http://p"},
        "expectAlerts": [{"name": "LeakRate", "within": "5m"}],
        "hypothesis": {"pdbHolds": true, "maxBystanderEvictions": 0, "recoveredWithin": "5m",
                       "maxNodesNotReady": 0, "noNodePressure": true, "alertsFire": true}
    });
    let calm = record(
        spec(h.clone()),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (60, alert("LeakRate")),
            (100, oom("p", "n1", true, true)),
        ],
    );
    let s = score(&calm);
    assert_eq!(s.hypothesis.len(), 6);
    assert!(s.hypothesis.iter().all(|c| c.passed), "{:#?}", s.hypothesis);
    assert_eq!(s.verdict, Verdict::Passed);

    let mut story = record(
        spec(h),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (100, node("n1", NodeConditionKind::MemoryPressure, true)),
            (110, evicted("cart-1", "n1", false)),
            (120, workload(3, 1)),
            (200, node("n1", NodeConditionKind::Ready, false)),
            (210, node("n2", NodeConditionKind::Ready, false)),
            (220, node("n1", NodeConditionKind::Ready, true)),
            (230, node("n3", NodeConditionKind::Ready, false)),
            (400, alert("LeakRate")),
        ],
    );
    story.recovered = None;
    let s = score(&story);
    let by: std::collections::HashMap<&str, &ClauseResult> = s
        .hypothesis
        .iter()
        .map(|c| (c.clause.split(':').next().unwrap(), c))
        .collect();
    assert!(!by["pdbHolds"].passed);
    assert!(!by["maxBystanderEvictions"].passed);
    assert!(
        by["maxBystanderEvictions"]
            .detail
            .starts_with("1 bystander")
    );
    assert!(!by["recoveredWithin"].passed);
    assert!(!by["maxNodesNotReady"].passed);
    assert!(
        by["maxNodesNotReady"]
            .detail
            .contains("at most 2 node(s) NotReady at once (3 in all)"),
        "{}",
        by["maxNodesNotReady"].detail
    );
    assert!(!by["noNodePressure"].passed);
    assert!(!by["alertsFire"].passed);
    assert_eq!(s.verdict, Verdict::Failed);
    assert!(s.verdict_reason.contains("pdbHolds"));
}

#[test]
fn max_nodes_not_ready_counts_at_once() {
    let r = record(
        spec(json!({"hypothesis": {"maxNodesNotReady": 1}})),
        vec![
            (0, leaker_started("p", "n1")),
            (10, node("n1", NodeConditionKind::Ready, false)),
            (20, node("n1", NodeConditionKind::Ready, true)),
            (30, node("n2", NodeConditionKind::Ready, false)),
        ],
    );
    assert!(score(&r).hypothesis[0].passed);
}

/// A kubelet that stops posting (Ready Unknown, then False with another reason) is one stretch
/// NotReady, told with how long it lasted; a node still NotReady at the end says so.
#[test]
fn a_not_ready_stretch_is_told_with_its_length() {
    let unknown = |n: &str| Happening::NodeCondition {
        node: n.into(),
        condition: NodeConditionKind::Ready,
        status: false,
        reason: "NodeStatusUnknown".into(),
    };
    let r = record(
        spec(json!({})),
        vec![
            (0, leaker_started("p", "n1")),
            (54, unknown("n1")),
            (60, node("n1", NodeConditionKind::Ready, false)),
            (94, node("n1", NodeConditionKind::Ready, true)),
            (100, unknown("n2")),
        ],
    );
    let a = Analysis::of(&r);
    let spans: Vec<_> = a
        .not_ready_spans
        .iter()
        .map(|s| (s.node.as_str(), s.from, s.to))
        .collect();
    assert_eq!(spans, [("n1", t(54), Some(t(94))), ("n2", t(100), None)]);
    // One of a kind is said in the singular.
    let one = record(
        spec(json!({})),
        vec![(0, leaker_started("p", "n1")), (54, unknown("n1"))],
    );
    let scored = score(&one);
    let explanation = &scored.facet(Facet::Containment).unwrap().explanation;
    assert!(
        explanation.ends_with("the leak spilled: 1 node NotReady"),
        "{explanation}"
    );
    let s = score(&r);
    let evidence = &s.facet(Facet::Containment).unwrap().evidence;
    let containment = s.facet(Facet::Containment).unwrap();
    assert!(
        containment.explanation.contains("2 nodes NotReady"),
        "{}",
        containment.explanation
    );
    for line in [
        "T+54s node n1 NotReady for 40s (Ready again at T+1m 34s)",
        "T+1m 40s node n2 NotReady, still at the end",
    ] {
        assert!(evidence.iter().any(|e| e == line), "{line}: {evidence:#?}");
    }
}

#[test]
fn verdict_is_inconclusive_when_the_leaker_never_ran_or_observation_failed() {
    let h = json!({"hypothesis": {"maxBystanderEvictions": 0}});
    let r = record(spec(h.clone()), vec![(0, workload(3, 3))]);
    let s = score(&r);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s.verdict_reason.contains("never ran"));

    // The stressor OOM-killed before it reported anything still counts as having run.
    let r = record(spec(h.clone()), vec![(5, oom("p", "n1", true, true))]);
    assert_eq!(score(&r).verdict, Verdict::Passed);

    let r = record(
        spec(h),
        vec![
            (0, leaker_started("p", "n1")),
            (
                50,
                Happening::ObservationFailed {
                    detail: "watch pods: 403".into(),
                },
            ),
        ],
    );
    let s = score(&r);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s.verdict_reason.contains("403"));
}

#[test]
fn a_run_that_never_injected_has_no_score_and_judges_nothing() {
    let h = json!({"hypothesis": {"pdbHolds": true, "maxBystanderEvictions": 0}});
    let mut r = record(spec(h), vec![]);
    r.injected = None;
    r.reverted = None;
    r.phase = Phase::Failed;
    r.reason = Some(crate::spec::RunReason::PreflightFailed);
    r.message = Some("Deployment shop/checkout not found".into());
    let s = score(&r);
    assert_eq!((s.total, s.grade), (None, None));
    assert_eq!(s.headline(), "not scored");
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(
        s.verdict_reason.contains("nothing was injected") && s.verdict_reason.contains("not found"),
        "{}",
        s.verdict_reason
    );
    assert!(s.facets.iter().all(|f| !f.measured));
    let clauses: Vec<(&str, &str)> = s
        .hypothesis
        .iter()
        .map(|c| (c.clause.as_str(), c.outcome()))
        .collect();
    assert_eq!(
        clauses,
        [
            ("pdbHolds: true", "not judged"),
            ("maxBystanderEvictions: 0", "not judged")
        ]
    );
    assert_eq!(s.failed_clauses().count(), 0, "not judged is not failed");
    // The JSON says so too, and reads back.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["total"], serde_json::Value::Null);
    assert_eq!(json["hypothesis"][0]["judged"], json!(false));
    assert_eq!(serde_json::from_value::<Score>(json).unwrap(), s);
}

#[test]
fn admission_rejections_are_told_apart_from_evictions() {
    let h = json!({"hypothesis": {"maxBystanderEvictions": 0}, "abort": {"bystanderEvictions": 1}});
    let rejected = |name: &str, target| Happening::AdmissionRejected {
        pod: pod(name, "n1", target),
        message: "Pod was rejected: The node had condition: [MemoryPressure].".into(),
    };
    let r = record(
        spec(h),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (30, rejected("checkout-x", true)),
            (31, rejected("cache-y", false)),
        ],
    );
    let s = score(&r);
    // Nothing that ran was lost: containment is whole and the bystander clause holds.
    assert_eq!(points(&s, Facet::Containment), Some(100.0));
    assert!(s.hypothesis.iter().all(|c| c.passed), "{:#?}", s.hypothesis);
    let summary = Analysis::of(&r).summary(&r);
    assert_eq!((summary.admission_rejections, summary.evictions), (2, 0));
    let evidence = &s.facet(Facet::Containment).unwrap().evidence;
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("refused at admission") && e.contains("checkout-x")),
        "{evidence:#?}"
    );
    // Nor do they fire the bystander abort rule.
    let mut st = crate::engine::RunState::new(t(0));
    for o in r.timeline.iter() {
        st.record(o);
    }
    assert_eq!(st.tally.admission_rejections(), 2);
    assert_eq!(st.tally.bystander_pods(), 0);
    assert_eq!(crate::engine::abort_rule(&r.spec, &st, r.finished), None);
}

#[test]
fn deterministic_and_stable_through_json() {
    let mut r = record(
        spec(json!({"hypothesis": {"pdbHolds": true}})),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (100, workload(3, 2)),
            (
                100,
                Happening::LeakerBytes {
                    pod: "p".into(),
                    bytes: 1 << 30,
                },
            ),
        ],
    );
    r.defences = Some(fixed_defences());
    let a = score(&r);
    assert_eq!(a, score(&r));
    let back: RunRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(a, score(&back));
}

#[test]
fn summary_counts() {
    let r = record(
        spec(json!({})),
        vec![
            (0, leaker_started("p", "n1")),
            (0, workload(3, 3)),
            (
                10,
                Happening::LeakerBytes {
                    pod: "p".into(),
                    bytes: 100,
                },
            ),
            (
                20,
                Happening::LeakerBytes {
                    pod: "p".into(),
                    bytes: 300,
                },
            ),
            (100, oom("p", "n1", true, true)),
            (110, evicted("by", "n1", false)),
            (120, node("n1", NodeConditionKind::MemoryPressure, true)),
            (130, workload(3, 2)),
            (700, workload(3, 3)),
        ],
    );
    let sum = Analysis::of(&r).summary(&r);
    assert_eq!(sum.oom_kills, 1);
    assert_eq!(sum.leaker_oom_kills, 1);
    assert_eq!(sum.bystander_evictions, 1);
    assert_eq!(sum.nodes_under_pressure, 1);
    assert_eq!(sum.min_ready, Some(2));
    assert_eq!(sum.budget_breached_seconds, 570.0);
    assert_eq!(sum.recovery_seconds, Some(100.0));
    assert_eq!(sum.peak_leak_bytes, Some(300));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn event() -> impl Strategy<Value = Happening> {
        let name = prop::sample::select(vec!["a", "b", "c", "d"]);
        let node_name = prop::sample::select(vec!["n1", "n2", "n3"]);
        prop_oneof![
            (name.clone(), node_name.clone()).prop_map(|(p, n)| leaker_started(p, n)),
            (name.clone(), any::<u32>()).prop_map(|(p, b)| Happening::LeakerBytes {
                pod: p.into(),
                bytes: u64::from(b)
            }),
            (
                name.clone(),
                node_name.clone(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(p, n, t, l)| oom(p, n, t, l)),
            (name.clone(), node_name.clone(), any::<bool>()).prop_map(|(p, n, t)| evicted(p, n, t)),
            (node_name.clone(), any::<bool>(), any::<bool>()).prop_map(|(n, ready, s)| node(
                n,
                if ready {
                    NodeConditionKind::Ready
                } else {
                    NodeConditionKind::MemoryPressure
                },
                s
            )),
            (0u32..6, 0u32..6).prop_map(|(d, r)| workload(d, r)),
            (0u32..6, 0u32..6).prop_map(|(d, c)| budget(d, c)),
            any::<bool>().prop_map(probe),
            prop::sample::select(vec!["LeakRate", "Other"]).prop_map(alert),
        ]
    }

    fn run() -> impl Strategy<Value = RunRecord> {
        (
            prop::collection::vec((-60i64..1000, event()), 0..40),
            any::<bool>(),
            prop::option::of(600i64..1200),
        )
            .prop_map(|(events, expect, recovered)| {
                let extra = if expect {
                    json!({"prometheus": {"url": "http://p"}, "expectAlerts": [{"name": "LeakRate", "within": "5m"}],
                           "hypothesis": {"pdbHolds": true, "maxBystanderEvictions": 1, "recoveredWithin": "5m",
                                          "maxNodesNotReady": 1, "noNodePressure": true, "alertsFire": true}})
                } else {
                    json!({"minAvailable": "50%"})
                };
                let mut r = record(spec(extra), events);
                r.recovered = recovered.map(t);
                r
            })
    }

    proptest! {
        #[test]
        fn total_grade_and_weights_are_consistent(r in run()) {
            let s = score(&r);
            let total = s.total.expect("an injected run is scored");
            prop_assert!(total <= 100);
            prop_assert_eq!(s.grade, Some(Grade::of(total)));
            prop_assert_eq!(&s, &score(&r), "deterministic");
            let measured: Vec<&FacetScore> = s.facets.iter().filter(|f| f.measured).collect();
            for f in &s.facets {
                prop_assert_eq!(f.measured, f.points.is_some());
                prop_assert!(f.points.is_none_or(|p| (0.0..=100.0).contains(&p)));
            }
            if measured.is_empty() {
                prop_assert_eq!(total, 0);
            } else {
                let eff: f64 = measured.iter().map(|f| f.effective_weight).sum();
                prop_assert!((eff - 100.0).abs() < 1e-6, "effective weights sum to {}", eff);
            }
            // Never a pass without the leaker having run.
            if !Analysis::of(&r).leaker_ran {
                prop_assert_eq!(s.verdict, Verdict::Inconclusive);
            }
            if s.verdict == Verdict::Passed {
                prop_assert!(s.hypothesis.iter().all(|c| c.passed));
            }
        }

        #[test]
        fn another_bystander_casualty_never_helps(r in run(), at in 0i64..900) {
            let before = score(&r);
            let mut worse = r.clone();
            worse.timeline.push(crate::observe::Observation::new(t(at), evicted("fresh-bystander", "n9", false)));
            let after = score(&worse);
            let c = |s: &Score| s.facet(Facet::Containment).and_then(|f| f.points);
            if let (Some(b), Some(a)) = (c(&before), c(&after)) {
                prop_assert!(a <= b, "containment rose from {} to {}", b, a);
            }
        }
    }
}

#[test]
fn evidence_of_a_cascade_is_capped_and_counted() {
    let mut events = vec![(0, leaker_started("p", "n1"))];
    for i in 0..500 {
        events.push((100 + i, evicted(&format!("by-{i}"), "n2", false)));
    }
    events.push((
        50,
        Happening::NodeEvent {
            node: "n3".into(),
            reason: "SystemOOM".into(),
            message: String::new(),
        },
    ));
    let s = score(&record(spec(json!({})), events));
    let ev = &s.facet(Facet::Containment).unwrap().evidence;
    assert!(ev.len() < 20, "{ev:#?}");
    assert!(
        ev.contains(
            &"… and 490 more bystander evictions (first T+1m 40s, last T+9m 59s)".to_string()
        ),
        "{ev:#?}"
    );
    assert!(ev.contains(&"T+50s SystemOOM on n3".to_string()), "{ev:#?}");
}

#[test]
fn a_leaker_without_a_limit_is_not_killed_at_its_limit() {
    let events = vec![
        (0, leaker_started("p", "n1")),
        (100, oom("p", "n1", true, true)),
    ];
    let no_limit = score(&record(spec(json!({})), events.clone()));
    let f = no_limit.facet(Facet::Containment).unwrap();
    assert!(
        f.evidence[0].contains("leaker (no limit) OOM-killed in p"),
        "{f:?}"
    );
    let mut limited = spec(json!({}));
    limited.leak.limit = crate::spec::MemoryLimit::Bytes(oomsday_core::Quantity::mib(512));
    let s = score(&record(limited, events));
    let f = s.facet(Facet::Containment).unwrap();
    assert!(
        f.explanation.contains("OOM-killed at its own limit 1 time"),
        "{f:?}"
    );
}

#[test]
fn a_run_stopped_by_a_signal_has_its_recovery_not_measured_never_claimed() {
    // Found on the bed: the controller's leader deleted mid-run; the budget was healthy at the
    // revert, the reverted template was all ready 2.6 s later. No recovery was watched.
    let mut r = record(
        spec(json!({})),
        vec![(0, workload(3, 3)), (0, budget(2, 3))],
    );
    r.reason = Some(crate::spec::RunReason::Signal);
    r.phase = Phase::Aborted;
    r.reverted = Some(t(16));
    r.finished = t(17);
    let s = score(&r);
    let f = s.facet(Facet::Recovery).expect("recovery facet");
    assert!(!f.measured, "{f:?}");
    assert!(f.explanation.contains("not watched"), "{}", f.explanation);
    assert_eq!(Analysis::of(&r).recovered_at, None);
    // Where recovery was watched, the timeline still tells it.
    r.reason = Some(crate::spec::RunReason::DurationElapsed);
    assert!(score(&r).facet(Facet::Recovery).expect("facet").measured);
}

/// A run stopped before its duration by a person or by oomsday itself (SIGTERM 16 s into a
/// 90 s leak, seen on the bed scored 96 and Passed) proves nothing: Inconclusive, no total, and
/// it says how far it got; what each facet saw is kept. A clause already failed is named.
#[test]
fn a_run_stopped_early_is_inconclusive_without_a_score() {
    use crate::spec::RunReason;
    let h =
        json!({"hypothesis": {"pdbHolds": true, "maxBystanderEvictions": 0}, "duration": "90s"});
    for reason in [
        RunReason::Signal,
        RunReason::AbortAnnotation,
        RunReason::Deleted,
        RunReason::ControllerRestarted,
        RunReason::InjectionRemoved,
    ] {
        let mut r = record(
            spec(h.clone()),
            vec![
                (0, leaker_started("p", "n1")),
                (0, workload(3, 3)),
                (0, budget(2, 3)),
            ],
        );
        r.reason = Some(reason);
        r.phase = Phase::Aborted;
        r.message = Some("stop requested: SIGTERM".into());
        r.reverted = Some(t(16));
        r.finished = t(17);
        let s = score(&r);
        assert_eq!(s.verdict, Verdict::Inconclusive, "{reason}");
        assert_eq!((s.total, s.grade), (None, None), "{reason}");
        assert!(
            s.verdict_reason.starts_with(&format!(
                "stopped after 16s of its 1m 30s leak ({reason}: stop requested: SIGTERM)"
            )),
            "{}",
            s.verdict_reason
        );
        assert!(s.facet(Facet::Availability).expect("facet").measured);
    }
    // The budget already breached when it was stopped: said, still Inconclusive.
    let mut r = record(
        spec(h),
        vec![
            (0, leaker_started("p", "n1")),
            (5, workload(3, 1)),
            (5, budget(2, 1)),
        ],
    );
    r.reason = Some(RunReason::Signal);
    r.reverted = Some(t(16));
    let s = score(&r);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(
        s.verdict_reason
            .ends_with("already failed before the stop: pdbHolds: true"),
        "{}",
        s.verdict_reason
    );
    // A run that ran its course keeps its score.
    r.reason = Some(RunReason::DurationElapsed);
    assert!(score(&r).total.is_some());
}

/// A run stopped by an abort rule crossed a line the team drew: Failed, whatever its
/// hypothesis says, and scored.
#[test]
fn a_run_stopped_by_an_abort_rule_fails_whatever_the_hypothesis() {
    let mut r = record(
        spec(json!({"hypothesis": {"maxBystanderEvictions": 5}})),
        vec![(0, leaker_started("p", "n1")), (0, workload(3, 3))],
    );
    assert_eq!(score(&r).verdict, Verdict::Passed);
    r.reason = Some(crate::spec::RunReason::AbortRule);
    r.message = Some("abort rule: 1 nodes NotReady (max 0)".into());
    let s = score(&r);
    assert_eq!(s.verdict, Verdict::Failed);
    assert_eq!(
        s.verdict_reason,
        "an abort rule fired: abort rule: 1 nodes NotReady (max 0)"
    );
    assert!(s.total.is_some());
}
