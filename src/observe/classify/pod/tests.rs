use super::super::tests::{classifier, classifier_in, fixture, items, ts};
use super::super::{Classifier, Object, ObjectKind, TargetRef};
use super::*;
use crate::spec::TargetKind;
use k8s_openapi::api::core::v1::Node;
use pretty_assertions::assert_eq;

#[test]
fn the_first_lists_are_the_baseline_told_once() {
    let target = TargetRef {
        workload: crate::spec::WorkloadRef {
            namespace: "default".into(),
            kind: TargetKind::Deployment,
            name: "oom-demo".into(),
        },
        selector: [("app".to_string(), "oom-demo".to_string())]
            .into_iter()
            .collect(),
        template_labels: [("app".to_string(), "oom-demo".to_string())].into(),
    };
    let now = ts("2026-11-24T13:40:00Z");
    let mut c = Classifier::new(target, ts("2026-11-24T13:30:00Z"));
    let pressure: Node = items(fixture!("node-memory-pressure.json")).remove(0);
    let mut crashing = pods(fixture!("pods-oomkilled.json")).remove(0);
    crashing
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1]
        .state = Some(k8s_openapi::api::core::v1::ContainerState {
        waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
            reason: Some("CrashLoopBackOff".into()),
            message: None,
        }),
        ..Default::default()
    });
    let mut got = c.apply(&Object::Node(pressure.clone()), now);
    got.extend(c.apply(&Object::Pod(crashing), now));
    let states: Vec<&Observation> = got
        .iter()
        .filter(|o| {
            matches!(
                o.happening,
                Happening::NodeCondition { .. } | Happening::CrashLoopBackOff { .. }
            )
        })
        .collect();
    assert!(!states.is_empty());
    assert!(states.iter().all(|o| o.baseline), "{got:#?}");
    // The OOM kill in the pod's past is history either way, not baseline state.
    for kind in [
        ObjectKind::Pod,
        ObjectKind::Node,
        ObjectKind::Event,
        ObjectKind::Budget,
    ] {
        assert!(c.relist_done(kind, now).is_empty());
    }
    let told = c.relist_done(ObjectKind::Workload, now);
    assert_eq!(
        told,
        vec![Observation::baseline(
            now,
            Happening::Baseline {
                nodes: 1,
                nodes_not_ready: 0,
                nodes_under_pressure: 1,
                pods_crash_looping: 1,
                budgets_breached: 0,
            }
        )]
    );
    // Once told; and later changes are not the baseline.
    assert!(c.relist_done(ObjectKind::Pod, now).is_empty());
    let mut ready: Node = items(fixture!("node-ready.json")).remove(0);
    ready.metadata.name = pressure.metadata.name.clone();
    let later = c.apply(&Object::Node(ready), now);
    assert!(
        later
            .iter()
            .any(|o| !o.baseline && matches!(o.happening, Happening::NodeCondition { .. })),
        "{later:#?}"
    );
}

fn pods(json: &str) -> Vec<Pod> {
    items(json)
}

#[test]
fn oom_killed_container_with_finished_at_and_restarts() {
    let mut c = classifier("oom-demo");
    let p = pods(fixture!("pods-oomkilled.json")).remove(0);
    let got = c.apply(&Object::Pod(p.clone()), ts("2026-11-24T13:40:00Z"));
    let pod = PodRef {
        name: "oom-demo-7bcb47dff6-xqlj4".into(),
        node: Some("node-1".into()),
        target: true,
    };
    assert_eq!(
        got,
        vec![Observation::new(
            ts("2026-11-24T13:31:55Z"),
            Happening::OomKilled {
                pod,
                container: "leak".into(),
                leaker: false,
                restart_count: 2,
            }
        )]
    );
    // The same object again (a re-list) says nothing new.
    assert!(
        c.apply(&Object::Pod(p), ts("2026-11-24T13:41:00Z"))
            .is_empty()
    );
}

#[test]
fn oom_seen_as_current_state_then_as_last_state_is_one_fact() {
    let mut c = classifier("oom-demo");
    let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
    let original = p.clone();
    // Just before the restart: the kill is the current state, the leaker renamed.
    let st = p.status.as_mut().unwrap();
    let cs = &mut st.container_statuses.as_mut().unwrap()[1];
    cs.name = "oomsday-leaker".into();
    let last = cs.last_state.take().unwrap();
    cs.state = Some(last);
    cs.restart_count = 1;
    let first = c.apply(&Object::Pod(p), ts("2026-11-24T13:31:56Z"));
    // The pod still carries the leaker: it restarts (a sidecar in a running pod).
    assert!(
        matches!(&first[..], [o, s, l] if matches!(&o.happening, Happening::OomKilled { leaker: true, restart_count: 1, .. })
                && matches!(s.happening, Happening::LeakerStarted { .. })
                && l.happening == Happening::LeakerPods { live: 1 }),
        "{first:?}"
    );
    assert!(c.leaker_pods().is_empty(), "the leaker is not running yet");
    let mut after = original;
    after
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1]
        .name = "oomsday-leaker".into();
    let second = c.apply(&Object::Pod(after), ts("2026-11-24T13:32:11Z"));
    assert_eq!(c.leaker_pods(), vec!["oom-demo-7bcb47dff6-xqlj4"]);
    // Only the restarted leaker's start is new.
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].at, ts("2026-11-24T13:32:10Z"));
    assert!(matches!(
        second[0].happening,
        Happening::LeakerStarted { .. }
    ));
}

#[test]
fn kubelet_eviction_with_its_message_and_cause() {
    let mut c = classifier("evict-demo");
    let all = pods(fixture!("pods-evicted.json"));
    let mut got = Vec::new();
    for p in &all {
        got.extend(c.apply(&Object::Pod(p.clone()), ts("2026-11-24T13:34:00Z")));
    }
    assert_eq!(got.len(), 2, "{got:?}");
    let Happening::PodEvicted {
        pod,
        cause,
        message,
    } = &got[0].happening
    else {
        panic!("{got:?}")
    };
    assert_eq!(pod.name, "evict-demo-75c65956f8-b7kp5");
    assert!(pod.target);
    assert_eq!(*cause, DisruptionCause::TerminationByKubelet);
    assert_eq!(
        message,
        "The node was low on resource: memory. Threshold quantity: 21966Mi, available: \
             21993788Ki. Container leak was using 1996072Ki, request is 32Mi, has larger \
             consumption of memory."
    );
    assert_eq!(got[0].at, ts("2026-11-24T13:33:16Z"));
}

#[test]
fn succeeded_race_is_still_an_eviction_from_the_condition() {
    // The kubelet race the fixture README describes: Succeeded, no `reason: Evicted`.
    let mut c = classifier("evict-demo");
    let mut p = pods(fixture!("pods-evicted.json")).remove(0);
    let st = p.status.as_mut().unwrap();
    st.phase = Some("Succeeded".into());
    st.reason = None;
    st.message = None;
    let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:34:00Z"));
    assert!(
        matches!(&got[..], [o] if matches!(&o.happening, Happening::PodEvicted { cause: DisruptionCause::TerminationByKubelet, message, .. } if message.starts_with("The node was low on resource: memory")))
    );
}

#[test]
fn container_status_unknown_exit_137_is_not_an_oom_kill() {
    // Evicted pods' containers may read ContainerStatusUnknown with exit 137 (see the
    // fixtures' README): that is the eviction, not the kernel's OOM killer.
    let mut c = classifier("evict-demo");
    let mut p = pods(fixture!("pods-evicted.json")).remove(0);
    let cs = &mut p
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1];
    cs.state = Some(k8s_openapi::api::core::v1::ContainerState {
        terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
            exit_code: 137,
            reason: Some("ContainerStatusUnknown".into()),
            message: Some("The container could not be located when the pod was terminated".into()),
            finished_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                "2026-11-24T13:33:16Z",
            ))),
            ..Default::default()
        }),
        ..Default::default()
    });
    let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:34:00Z"));
    assert!(
        matches!(&got[..], [o] if matches!(o.happening, Happening::PodEvicted { .. })),
        "{got:?}"
    );
}

#[test]
fn an_evicted_container_reported_oomkilled_with_exit_0_is_an_eviction_not_an_oom_kill() {
    // On the bed, the kernel OOM-killed a leaker in the pods' cgroup; the kubelet then evicted
    // this bystander, whose container stopped on the SIGTERM (exit 0) and still read OOMKilled:
    // cgroup v1 told it of the OOM above it, and containerd kept the reason.
    let since = ts("2026-12-07T05:25:06Z");
    let mut c = classifier_in("bystand", "cache", since);
    let p = pods(fixture!("pod-evicted-flagged-oomkilled.json")).remove(0);
    let got = c.apply(&Object::Pod(p.clone()), ts("2026-12-07T05:25:14Z"));
    assert!(
        matches!(&got[..], [o] if matches!(o.happening, Happening::PodEvicted { .. })),
        "{got:?}"
    );
    // The same status with the SIGKILL's exit code is the kernel's kill.
    let mut killed = p;
    let cs = &mut killed
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0];
    cs.state
        .as_mut()
        .unwrap()
        .terminated
        .as_mut()
        .unwrap()
        .exit_code = 137;
    let mut c = classifier_in("bystand", "cache", since);
    let got = c.apply(&Object::Pod(killed), ts("2026-12-07T05:25:14Z"));
    assert!(
        got.iter()
            .any(|o| matches!(&o.happening, Happening::OomKilled { container, .. } if container == "cache")),
        "{got:?}"
    );
}

#[test]
fn other_disruption_causes_come_from_the_condition() {
    for (reason, want) in [
        (
            "EvictionByEvictionAPI",
            DisruptionCause::EvictionByEvictionAPI,
        ),
        (
            "DeletionByTaintManager",
            DisruptionCause::DeletionByTaintManager,
        ),
        (
            "PreemptionByScheduler",
            DisruptionCause::PreemptionByScheduler,
        ),
        (
            "DeletionByPodGC",
            DisruptionCause::Other("DeletionByPodGC".into()),
        ),
    ] {
        let mut c = classifier("evict-demo");
        let mut p = pods(fixture!("pods-evicted.json")).remove(2);
        let st = p.status.as_mut().unwrap();
        st.conditions.as_mut().unwrap().push(PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some("drained".into()),
            last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                "2026-11-24T13:35:00Z",
            ))),
            ..PodCondition::default()
        });
        let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:36:00Z"));
        assert!(
            matches!(&got[..], [o] if o.at == ts("2026-11-24T13:35:00Z") && matches!(&o.happening, Happening::PodEvicted { cause, message, .. } if *cause == want && message == "drained")),
            "{reason}: {got:?}"
        );
    }
}

#[test]
fn bystanders_count_only_on_nodes_the_target_runs_on() {
    // evict-demo's pods, seen from an experiment whose target is oom-demo on the same node.
    let mut c = classifier("oom-demo");
    let evicted = pods(fixture!("pods-evicted.json"));
    let now = ts("2026-11-24T13:40:00Z");
    // Before any target pod is known on node-1, a bystander's eviction is not blast radius.
    assert!(c.apply(&Object::Pod(evicted[0].clone()), now).is_empty());
    // The target appears on node-1: the earlier bystander eviction is reported then.
    let target = pods(fixture!("pods-oomkilled.json")).remove(0);
    let got = c.apply(&Object::Pod(target), now);
    let bystander: Vec<_> = got
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::PodEvicted { pod, .. } => Some(pod.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        bystander,
        vec![PodRef {
            name: "evict-demo-75c65956f8-b7kp5".into(),
            node: Some("node-1".into()),
            target: false
        }]
    );
    // A bystander evicted afterwards on the same node is reported at once.
    let got = c.apply(&Object::Pod(evicted[1].clone()), now);
    assert!(
        matches!(&got[..], [o] if matches!(&o.happening, Happening::PodEvicted { pod, .. } if !pod.target))
    );
    // A pod on another node is not blast radius.
    let mut elsewhere = evicted[1].clone();
    elsewhere.metadata.uid = Some("other".into());
    elsewhere.spec.as_mut().unwrap().node_name = Some("node-2".into());
    assert!(c.apply(&Object::Pod(elsewhere), now).is_empty());
}

#[test]
fn facts_before_the_run_are_history() {
    let mut c = classifier("oom-demo");
    c.since = ts("2026-11-24T13:32:00Z");
    let p = pods(fixture!("pods-oomkilled.json")).remove(0);
    assert!(
        c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"))
            .is_empty()
    );
}

/// A pod the kubelet refused at admission, as `rejectPod` leaves it: Failed, reason
/// Evicted, "Pod was rejected: …", no DisruptionTarget, no container ever started (built
/// from a recorded pod of the same Deployment).
fn rejected(uid: &str) -> Pod {
    let mut p = pods(fixture!("pods-evicted.json")).remove(0);
    p.metadata.uid = Some(uid.into());
    p.metadata.name = Some(format!("evict-demo-75c65956f8-{uid}"));
    let st = p.status.as_mut().unwrap();
    st.phase = Some("Failed".into());
    st.reason = Some("Evicted".into());
    st.message = Some("Pod was rejected: The node had condition: [MemoryPressure]. ".into());
    st.conditions = None;
    st.container_statuses = None;
    st.start_time = None;
    p
}

fn evicted_event(uid: &str, name: &str, at: &str, message: &str) -> super::super::EventView {
    super::super::EventView {
        uid: format!("ev-{uid}"),
        reason: "Evicted".into(),
        message: message.into(),
        kind: "Pod".into(),
        name: name.into(),
        namespace: Some("default".into()),
        object_uid: Some(uid.into()),
        host: Some("node-1".into()),
        at: ts(at),
    }
}

#[test]
fn admission_rejections_are_not_evictions() {
    let mut c = classifier("evict-demo");
    let now = ts("2026-11-24T13:34:00Z");
    let got = c.apply(&Object::Pod(rejected("r1")), now);
    assert_eq!(
        got,
        vec![Observation::new(
            now,
            Happening::AdmissionRejected {
                pod: PodRef {
                    name: "evict-demo-75c65956f8-r1".into(),
                    node: Some("node-1".into()),
                    target: true,
                },
                message: "Pod was rejected: The node had condition: [MemoryPressure].".into(),
            }
        )]
    );
    // Its Evicted Event (the kubelet records one) and a later status say nothing new.
    let mut out = Vec::new();
    let v = evicted_event(
        "r1",
        "evict-demo-75c65956f8-r1",
        "2026-11-24T13:34:00Z",
        "The node had condition: [MemoryPressure]. ",
    );
    c.pod_evicted_by_event(v, "evict-demo-75c65956f8-r1".into(), now, &mut out);
    c.tick(ts("2026-11-24T13:35:00Z"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert!(
        c.apply(&Object::Pod(rejected("r1")), ts("2026-11-24T13:34:05Z"))
            .is_empty()
    );
}

#[test]
fn an_evicted_event_waits_for_the_pods_status_and_its_time() {
    let mut c = classifier("evict-demo");
    let all = pods(fixture!("pods-evicted.json"));
    let mut running = all[0].clone();
    let st = running.status.as_mut().unwrap();
    st.phase = Some("Running".into());
    st.reason = None;
    st.message = None;
    st.conditions
        .as_mut()
        .unwrap()
        .retain(|c| c.type_ != "DisruptionTarget");
    let uid = running.metadata.uid.clone().unwrap();
    let name = running.metadata.name.clone().unwrap();
    let t0 = ts("2026-11-24T13:33:00Z");
    assert!(
        !c.apply(&Object::Pod(running), t0)
            .iter()
            .any(|o| matches!(o.happening, Happening::PodEvicted { .. }))
    );
    // The Event comes first, stamped a second before the condition: nothing yet.
    let mut out = Vec::new();
    let v = evicted_event(
        &uid,
        &name,
        "2026-11-24T13:33:15Z",
        "The node was low on resource: memory. ",
    );
    c.pod_evicted_by_event(v, name.clone(), ts("2026-11-24T13:33:15.2Z"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    // The status with the DisruptionTarget condition: the eviction, at the condition's time.
    let got = c.apply(&Object::Pod(all[0].clone()), ts("2026-11-24T13:33:16.4Z"));
    let evictions: Vec<_> = got
        .iter()
        .filter(|o| matches!(o.happening, Happening::PodEvicted { .. }))
        .collect();
    assert_eq!(evictions.len(), 1, "{got:?}");
    assert_eq!(evictions[0].at, ts("2026-11-24T13:33:16Z"));
    let mut later = Vec::new();
    c.tick(ts("2026-11-24T13:40:00Z"), &mut later);
    assert!(later.is_empty(), "reported once: {later:?}");
}

#[test]
fn an_evicted_event_whose_pod_never_tells_is_reported_after_a_grace() {
    let mut c = classifier("evict-demo");
    // A pod known to run, whose status never shows the eviction (a kubelet before the
    // DisruptionTarget condition, a watch that missed it).
    let mut running = pods(fixture!("pods-evicted.json")).remove(2);
    running.metadata.uid = Some("quiet".into());
    let name = running.metadata.name.clone().unwrap();
    c.apply(&Object::Pod(running), ts("2026-11-24T13:33:00Z"));
    let mut out = Vec::new();
    let v = evicted_event(
        "quiet",
        &name,
        "2026-11-24T13:33:15Z",
        "The node was low on resource: memory. ",
    );
    c.pod_evicted_by_event(v, name, ts("2026-11-24T13:33:15Z"), &mut out);
    c.tick(ts("2026-11-24T13:33:20Z"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    c.tick(ts("2026-11-24T13:33:25Z"), &mut out);
    assert!(
        matches!(&out[..], [o] if o.at == ts("2026-11-24T13:33:15Z")
                && matches!(&o.happening, Happening::PodEvicted { pod, .. } if pod.target)),
        "{out:?}"
    );
    // A pod that is gone sends no status: its Event is reported at once.
    let mut gone = Vec::new();
    let v = evicted_event(
        "gone",
        "evict-demo-75c65956f8-gone",
        "2026-11-24T13:34:15Z",
        "The node had condition: [MemoryPressure]. ",
    );
    c.pod_evicted_by_event(
        v,
        "evict-demo-75c65956f8-gone".into(),
        ts("2026-11-24T13:34:15Z"),
        &mut gone,
    );
    assert!(
        matches!(&gone[..], [o] if matches!(&o.happening, Happening::AdmissionRejected { pod, .. } if pod.target)),
        "{gone:?}"
    );
}

#[test]
fn pods_carrying_a_live_leaker_are_counted() {
    let mut c = classifier("oom-demo");
    let now = ts("2026-11-24T13:40:00Z");
    let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
    p.status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1]
        .name = "oomsday-leaker".into();
    let got = c.apply(&Object::Pod(p.clone()), now);
    assert!(
        got.contains(&Observation::new(now, Happening::LeakerPods { live: 1 })),
        "{got:?}"
    );
    // Terminated (its containers stopped): no longer carries a live leaker.
    let mut done = p.clone();
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let later = ts("2026-11-24T13:40:03Z");
    assert_eq!(
        c.apply(&Object::Pod(done), later)
            .into_iter()
            .filter(|o| matches!(o.happening, Happening::LeakerPods { .. }))
            .collect::<Vec<_>>(),
        vec![Observation::new(later, Happening::LeakerPods { live: 0 })]
    );
    // An ephemeral leaker counts while it has not exited.
    let mut eph = pods(fixture!("pods-oomkilled.json")).remove(0);
    eph.metadata.uid = Some("eph".into());
    eph.spec.as_mut().unwrap().ephemeral_containers =
        Some(vec![k8s_openapi::api::core::v1::EphemeralContainer {
            name: "oomsday-leaker-c5624e43".into(),
            ..Default::default()
        }]);
    let got = c.apply(&Object::Pod(eph.clone()), later);
    assert!(
        got.iter()
            .any(|o| o.happening == Happening::LeakerPods { live: 1 }),
        "{got:?}"
    );
    eph.status.as_mut().unwrap().ephemeral_container_statuses = Some(vec![ContainerStatus {
        name: "oomsday-leaker-c5624e43".into(),
        state: Some(k8s_openapi::api::core::v1::ContainerState {
            terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let got = c.apply(&Object::Pod(eph), ts("2026-11-24T13:40:09Z"));
    assert!(
        got.iter()
            .any(|o| o.happening == Happening::LeakerPods { live: 0 }),
        "{got:?}"
    );
}

#[test]
fn a_leaker_started_in_the_runs_first_second_is_the_runs() {
    // startedAt is whole seconds: 13:31:51Z may be 13:31:51.9, after a run that began at
    // 13:31:51.3.
    let mut c = classifier("oom-demo");
    c.since = ts("2026-11-24T13:31:51.3Z");
    let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
    let cs = &mut p
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1];
    cs.name = "oomsday-leaker".into();
    let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"));
    assert!(
        got.iter().any(|o| o.at == ts("2026-11-24T13:31:51Z")
            && matches!(o.happening, Happening::LeakerStarted { .. })),
        "{got:?}"
    );
}

#[test]
fn crash_loop_back_off_is_reported() {
    let mut c = classifier("oom-demo");
    let mut p = pods(fixture!("pods-oomkilled.json")).remove(0);
    let cs = &mut p
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[1];
    cs.state = Some(k8s_openapi::api::core::v1::ContainerState {
        waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
            reason: Some("CrashLoopBackOff".into()),
            message: Some("back-off 10s restarting failed container".into()),
        }),
        ..Default::default()
    });
    let got = c.apply(&Object::Pod(p), ts("2026-11-24T13:40:00Z"));
    assert!(
            got.iter().any(|o| o.at == ts("2026-11-24T13:31:55Z")
                && matches!(&o.happening, Happening::CrashLoopBackOff { container, .. } if container == "leak")),
            "{got:?}"
        );
}

#[test]
fn restarts_no_delivery_showed_are_told_as_unseen_once() {
    // A real leaker pod across the bed's API server outage: its 3rd death was never shown.
    let mut c = classifier_in("bf", "checkout", ts("2026-12-06T13:39:41Z"));
    let [before, after, running]: [Pod; 3] = pods(fixture!("pods-across-apiserver-outage.json"))
        .try_into()
        .expect("three deliveries");
    let unseen = |obs: Vec<Observation>| -> Vec<(u32, Option<String>)> {
        obs.into_iter()
            .filter_map(|o| match o.happening {
                Happening::RestartsUnseen {
                    count,
                    reason,
                    leaker: true,
                    ..
                } => Some((count, reason)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        unseen(c.apply(&Object::Pod(before), ts("2026-12-06T13:39:50Z"))),
        vec![]
    );
    let got = c.apply(&Object::Pod(after), ts("2026-12-06T13:41:14Z"));
    // The 4th death is shown (its own time), the 3rd only counted.
    assert!(
        got.iter().any(|o| o.at == ts("2026-12-06T13:40:36Z")
            && matches!(o.happening, Happening::OomKilled { leaker: true, .. })),
        "{got:#?}"
    );
    assert_eq!(unseen(got), vec![(1, Some("OOMKilled".to_string()))]);
    // Starting again shows no new death, and tells nothing twice.
    assert_eq!(
        unseen(c.apply(&Object::Pod(running), ts("2026-12-06T13:41:16Z"))),
        vec![]
    );
}

#[test]
fn one_kill_delivered_again_by_the_other_watch_out_of_order_is_told_once() {
    let mut c = classifier_in("bf", "checkout", ts("2026-12-06T14:28:25Z"));
    let deliveries = pods(fixture!("pod-two-watches-out-of-order.json"));
    assert_eq!(deliveries.len(), 4);
    let mut kills = Vec::new();
    for p in deliveries {
        for o in c.apply(&Object::Pod(p), ts("2026-12-06T14:28:46Z")) {
            if let Happening::OomKilled { restart_count, .. } = o.happening {
                kills.push((o.at, restart_count));
            }
        }
    }
    // Two kills, each once: the second delivery of 14:28:31 (restart count 1) is not a third.
    assert_eq!(
        kills,
        vec![
            (ts("2026-12-06T14:28:31Z"), 0),
            (ts("2026-12-06T14:28:35Z"), 1)
        ]
    );
}
