use super::super::tests::{fixture, items, ts};
use super::super::{Object, ObjectKind};
use super::*;
use crate::observe::{DisruptionCause, PodRef, Timeline};
use pretty_assertions::assert_eq;

fn core_events() -> Vec<Object> {
    items::<CoreEvent>(fixture!("events-core-all.json"))
        .into_iter()
        .map(Object::Event)
        .collect()
}

fn v1_events() -> Vec<Object> {
    items::<EventV1>(fixture!("events-v1-all.json"))
        .into_iter()
        .map(Object::EventV1)
        .collect()
}

fn run(c: &mut Classifier, objs: &[Object]) -> Vec<Observation> {
    let now = ts("2026-11-24T13:40:00Z");
    objs.iter().flat_map(|o| c.apply(o, now)).collect()
}

#[test]
fn evictions_and_node_events_from_real_events() {
    let mut c = super::super::tests::classifier("evict-demo");
    // The target's pods are known first, as the pod watch lists them.
    let pods: Vec<Object> = items(fixture!("pods-evicted.json"))
        .into_iter()
        .map(Object::Pod)
        .collect();
    let from_pods = run(&mut c, &pods);
    assert_eq!(from_pods.len(), 2);
    // The Evicted Events describe the same two evictions: nothing new.
    let got = run(&mut c, &core_events());
    let summary: Vec<(String, String)> = got
        .iter()
        .map(|o| match &o.happening {
            Happening::NodeEvent { reason, .. } => (o.at.to_string(), reason.clone()),
            other => (o.at.to_string(), format!("{other:?}")),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2026-11-24T13:33:16Z".into(), "EvictionThresholdMet".into()),
            (
                "2026-11-24T13:33:17Z".into(),
                "NodeHasInsufficientMemory".into()
            ),
        ]
    );
}

#[test]
fn evicted_event_alone_reports_the_eviction() {
    let mut c = super::super::tests::classifier("evict-demo");
    // The evicted pods themselves were never seen (deleted before the watch listed them):
    // their names still say they were the target's.
    let running: Vec<Object> = items(fixture!("pods-evicted.json"))
        .into_iter()
        .skip(2)
        .map(Object::Pod)
        .collect();
    run(&mut c, &running);
    // The pods' list is complete: a pod not in it is gone and will send no status.
    c.relist_done(ObjectKind::Pod, ts("2026-11-24T13:40:00Z"));
    let got = run(&mut c, &core_events());
    let evictions: Vec<_> = got
        .iter()
        .filter(|o| matches!(o.happening, Happening::PodEvicted { .. }))
        .collect();
    assert_eq!(evictions.len(), 2, "{got:?}");
    assert_eq!(
        evictions[0].happening,
        Happening::PodEvicted {
            pod: PodRef {
                name: "evict-demo-75c65956f8-b7kp5".into(),
                node: Some("node-1".into()),
                target: true,
            },
            cause: DisruptionCause::TerminationByKubelet,
            message: "The node was low on resource: memory. Threshold quantity: 21966Mi, \
                          available: 21993788Ki. Container leak was using 1996072Ki, request \
                          is 32Mi, has larger consumption of memory."
                .into(),
        }
    );
}

#[test]
fn both_event_apis_give_the_same_timeline() {
    let mut a = super::super::tests::classifier("evict-demo");
    let mut b = super::super::tests::classifier("evict-demo");
    let ta: Timeline = run(&mut a, &core_events()).into();
    let tb: Timeline = run(&mut b, &v1_events()).into();
    assert!(!ta.is_empty());
    assert_eq!(ta.entries(), tb.entries());
    // Fed both (a cluster where both are watched): nothing is doubled.
    let mut both = Timeline::new();
    let mut c = super::super::tests::classifier("evict-demo");
    both.extend(run(&mut c, &core_events()));
    both.extend(run(&mut c, &v1_events()));
    assert_eq!(both.entries(), ta.entries());
}

#[test]
fn a_relist_adds_nothing_and_a_repeat_is_a_new_occurrence() {
    let mut c = super::super::tests::classifier("evict-demo");
    let evs = core_events();
    let first = run(&mut c, &evs);
    c.relist_started(ObjectKind::Event);
    assert!(run(&mut c, &evs).is_empty());
    c.relist_done(ObjectKind::Event, ts("2026-11-24T13:40:00Z"));
    assert!(!first.is_empty());
    // EvictionThresholdMet happens a third time.
    let mut again = items::<CoreEvent>(fixture!("events-core-all.json"))
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("EvictionThresholdMet"))
        .unwrap();
    again.count = Some(3);
    again.last_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
        "2026-11-24T13:34:02Z",
    )));
    let got = run(&mut c, &[Object::Event(again)]);
    assert!(matches!(&got[..], [o] if o.at == ts("2026-11-24T13:34:02Z")
                && matches!(&o.happening, Happening::NodeEvent { node, reason, .. } if node == "node-1" && reason == "EvictionThresholdMet")));
}

#[test]
fn failed_scheduling_for_memory() {
    let mut c = super::super::tests::classifier("evict-demo");
    let mut e = items::<CoreEvent>(fixture!("events-core-all.json"))
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Scheduled"))
        .unwrap();
    e.reason = Some("FailedScheduling".into());
    e.message = Some(
        "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are \
             available: 1 No preemption victims found for incoming pod."
            .into(),
    );
    let got = run(&mut c, &[Object::Event(e)]);
    assert!(
        matches!(&got[..], [o] if matches!(&o.happening, Happening::FailedScheduling { insufficient_memory: true, pod, .. } if pod == "evict-demo-75c65956f8-b7kp5"))
    );
}
