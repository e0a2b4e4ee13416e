use super::super::Object;
use super::super::tests::{fixture, items, ts};
use super::*;
use k8s_openapi::api::apps::v1::Deployment;
use pretty_assertions::assert_eq;

#[test]
fn budget_status_over_time() {
    let mut c = super::super::tests::classifier("evict-demo");
    let before: PodDisruptionBudget = items(fixture!("pdb-before.json")).remove(0);
    let during: PodDisruptionBudget = items(fixture!("pdb-during-evictions.json")).remove(0);
    let t1 = ts("2026-11-24T13:32:30Z");
    let t2 = ts("2026-11-24T13:33:20Z");
    let a = c.apply(&Object::Budget(before.clone()), t1);
    let b = c.apply(&Object::Budget(during.clone()), t2);
    assert_eq!(a.len(), 1);
    let st = before.status.as_ref().unwrap();
    assert_eq!(
        a[0],
        Observation::new(
            t1,
            Happening::Budget {
                name: "evict-demo".into(),
                current_healthy: count(Some(st.current_healthy)),
                desired_healthy: 1,
                disruptions_allowed: count(Some(st.disruptions_allowed)),
                expected_pods: count(Some(st.expected_pods)),
            }
        )
    );
    if before.status != during.status {
        assert_eq!(
            b,
            vec![Observation::new(
                t2,
                Happening::Budget {
                    name: "evict-demo".into(),
                    current_healthy: 1,
                    desired_healthy: 1,
                    disruptions_allowed: 0,
                    expected_pods: 3,
                }
            )]
        );
    }
    assert!(c.apply(&Object::Budget(during), t2).is_empty());
    // A PDB for other pods is not the target's.
    let mut other = before;
    other
        .spec
        .as_mut()
        .unwrap()
        .selector
        .as_mut()
        .unwrap()
        .match_labels = Some([("app".to_string(), "other".to_string())].into());
    other.metadata.name = Some("other".into());
    assert!(c.apply(&Object::Budget(other), t2).is_empty());
}

#[test]
fn workload_ready_replicas() {
    let mut c = super::super::tests::classifier("evict-demo");
    let d: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "evict-demo", "namespace": "default", "generation": 2},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "evict-demo"}},
                     "template": {"metadata": {"labels": {"app": "evict-demo"}},
                                  "spec": {"containers": [{"name": "app"}, {"name": "oomsday-leaker"}]}}},
            "status": {"replicas": 4, "readyReplicas": 2, "updatedReplicas": 1, "observedGeneration": 2}
        }))
        .unwrap();
    let now = ts("2026-11-24T13:33:00Z");
    assert_eq!(
        c.apply(&Object::Deployment(d.clone()), now),
        vec![Observation::new(
            now,
            Happening::Workload {
                desired: 3,
                ready: 2,
                updated: 1,
                current: 4,
                observed: true,
                leaker: true,
            }
        )]
    );
    assert!(c.apply(&Object::Deployment(d.clone()), now).is_empty());
    let mut other = d;
    other.metadata.name = Some("unrelated".into());
    assert!(c.apply(&Object::Deployment(other), now).is_empty());
}

/// The target `fixture-captureN/checkout` of the rewritten-workload fixtures, past its first
/// lists.
fn checkout_in(ns: &str) -> Classifier {
    super::super::tests::classifier_in(ns, "checkout", ts("2026-12-06T13:19:00Z"))
}

fn deployment(json: &str) -> Object {
    Object::Deployment(items::<Deployment>(json).remove(0))
}

#[test]
fn a_rewritten_workload_says_who_wrote_it_when_the_api_names_them() {
    let mut c = checkout_in("fixture-capture2");
    let injected = c.apply(
        &deployment(fixture!("deployment-injected.json")),
        ts("2026-12-06T13:19:31Z"),
    );
    let replaced = c.apply(
        &deployment(fixture!("deployment-replaced-with-change.json")),
        ts("2026-12-06T13:19:39Z"),
    );
    let events = |obs: &[crate::observe::Observation]| -> Vec<Happening> {
        obs.iter().map(|o| o.happening.clone()).collect()
    };
    // The writer is told before the sample it explains.
    assert_eq!(
        events(&injected)[0],
        Happening::WorkloadWriter {
            manager: "oomsday".into(),
            written: Some(ts("2026-12-06T13:19:30Z")),
        }
    );
    assert!(matches!(
        events(&injected)[1],
        Happening::Workload { leaker: true, .. }
    ));
    assert_eq!(
        events(&replaced)[0],
        Happening::WorkloadWriter {
            manager: "kubectl-replace".into(),
            written: Some(ts("2026-12-06T13:19:38Z")),
        }
    );
    assert!(matches!(
        events(&replaced)[1],
        Happening::Workload { leaker: false, .. }
    ));

    // The engine's tally names the writer of the template that lost the leaker.
    let mut tally = crate::engine::Tally::new(ts("2026-12-06T13:19:00Z"));
    for o in injected.iter().chain(&replaced) {
        tally.record(o);
    }
    assert_eq!(
        tally.template_lost(),
        Some((ts("2026-12-06T13:19:39Z"), Some("kubectl-replace")))
    );
}

#[test]
fn a_rewrite_that_only_removed_the_leaker_names_nobody() {
    // kubectl replace of the unchanged original: the only entry left with part of the spec is
    // kubectl-create's, older than the template that still carried the leaker.
    let mut c = checkout_in("fixture-capture3");
    let obj = deployment(fixture!("deployment-replaced-removal-only.json"));
    let mut tally = crate::engine::Tally::new(ts("2026-12-06T13:19:00Z"));
    tally.record(&crate::observe::Observation::new(
        ts("2026-12-06T13:19:48Z"),
        Happening::Workload {
            desired: 1,
            ready: 1,
            updated: 1,
            current: 1,
            observed: true,
            leaker: true,
        },
    ));
    for o in c.apply(&obj, ts("2026-12-06T13:19:52Z")) {
        tally.record(&o);
    }
    assert_eq!(
        tally.template_lost(),
        Some((ts("2026-12-06T13:19:52Z"), None))
    );
}
