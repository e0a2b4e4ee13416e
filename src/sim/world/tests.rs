use super::*;
use crate::sim::model::{CgroupVersion, ClusterModel};

fn node_id(i: usize) -> NodeId {
    NodeId::from_index(i)
}

fn pod_id(i: usize) -> PodId {
    PodId::from_index(i)
}

fn wl_id(i: usize) -> WorkloadId {
    WorkloadId::from_index(i)
}

fn pdb_id(i: usize) -> PdbId {
    PdbId::from_index(i)
}

fn tiny(extra: &str) -> ClusterModel {
    ClusterModel::from_yaml(&format!(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {{name: tiny}}
spec:
  nodeGroups: [{{name: general, count: 3, capacity: 8Gi}}]
  workloads:
    - name: web
      namespace: shop
      replicas: 3
      containers: [{{name: app, workingSet: 1Gi, resources: {{requests: {{memory: 1Gi}}}}}}]
{extra}
"#
    ))
    .unwrap()
}

#[test]
fn steady_state_places_every_pod_spread_and_running() {
    let w = World::new(&tiny(""), 1).unwrap();
    assert_eq!(w.live_pods(), 3);
    let nodes: BTreeSet<_> = w.pods.iter().filter_map(|p| p.node).collect();
    assert_eq!(nodes.len(), 3, "spread over the three nodes");
    assert!((0..3).map(pod_id).all(|p| w.pod_ready(p, T0)));
    assert!(w.nodes.iter().all(|n| n.pod_usage == 1 << 30));
}

#[test]
fn container_over_its_limit_is_oom_killed_and_backs_off() {
    let mut w = World::new(&tiny(""), 1).unwrap();
    let wl = wl_id(0);
    w.target = Some(TargetInfo { wl, pdbs: vec![] });
    let curve = LeakCurve {
        pattern: oomsday_core::Pattern::Linear {
            rate: "100Mi/s".parse().unwrap(),
        },
        start: oomsday_core::Quantity::mib(100),
        max: None,
    };
    let mut tpl = w.workloads[wl].template.clone();
    tpl.push(World::leaker_template(
        "oomsday-leaker",
        MemorySpec {
            request: Some(256 << 20),
            limit: Some(512 << 20),
        },
        Leak {
            curve,
            deadline: T0 + 3600,
        },
    ));
    w.set_template(wl, tpl);
    w.advance(T0 + 600);
    let mut all = std::mem::take(&mut w.observations);
    while w.clock < T0 + 600 {
        w.advance(T0 + 600);
        all.append(&mut w.observations);
    }
    let kills: Vec<_> = all
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::OomKilled {
                leaker,
                restart_count,
                ..
            } => Some((*leaker, *restart_count)),
            _ => None,
        })
        .collect();
    assert!(!kills.is_empty());
    assert!(kills.iter().all(|(l, _)| *l), "only the leaker dies");
    assert!(kills.iter().any(|(_, r)| *r >= 3), "it keeps restarting");
    assert!(
        !all.iter()
            .any(|o| matches!(o.happening, Happening::PodEvicted { .. })),
        "contained: no evictions"
    );
}

// ----- the mechanics the real recordings show, one at a time, on a node like theirs ------------

const MI: u64 = 1 << 20;

/// A node like the recordings' real one: 6 GiB for pods (24Gi − 18Gi reserved), `evictionHard`
/// 3Gi, the pressure transition 10 s, no image pull; `extra` adds kubelet settings.
fn bed(extra: &str) -> ClusterModel {
    bed_with(extra, "resources: {requests: {memory: 64Mi}}")
}

fn bed_with(extra: &str, web_resources: &str) -> ClusterModel {
    ClusterModel::from_yaml(&format!(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {{name: bed}}
spec:
  kubelet: {{evictionHard: 3Gi, evictionPressureTransitionPeriod: 10s, containerStart: 1s, systemMemory: 3Gi{extra}}}
  nodeGroups: [{{name: n, count: 1, capacity: 24Gi, systemReserved: 18Gi}}]
  workloads:
    - name: web
      namespace: shop
      replicas: 3
      readinessProbe: false
      readyAfter: 0s
      warmup: 1s
      containers: [{{name: app, workingSet: 1Mi, {web_resources}}}]
    - name: cache
      namespace: other
      replicas: 2
      readinessProbe: false
      readyAfter: 0s
      warmup: 1s
      containers: [{{name: cache, workingSet: 1Mi}}]
  pdbs: [{{name: web, namespace: shop, selector: {{app: web}}, minAvailable: 2}}]
"#
    ))
    .unwrap()
}

fn leak(rate_mib: u64, start_mib: u64, deadline: u64) -> Leak {
    Leak {
        curve: LeakCurve {
            pattern: oomsday_core::Pattern::Linear {
                rate: format!("{rate_mib}Mi/s").parse().unwrap(),
            },
            start: oomsday_core::Quantity::mib(start_mib),
            max: None,
        },
        deadline,
    }
}

/// The web workload as the run's target, its leaker sidecar put in now.
fn inject(w: &mut World, l: Leak, limit_mib: Option<u64>) {
    w.target = Some(TargetInfo {
        wl: wl_id(0),
        pdbs: vec![pdb_id(0)],
    });
    w.sample_leaks_every(1, w.clock);
    let mut tpl = w.workloads[wl_id(0)].template.clone();
    tpl.push(World::leaker_template(
        "oomsday-leaker",
        MemorySpec {
            request: None,
            limit: limit_mib.map(|m| m * MI),
        },
        l,
    ));
    w.set_template(wl_id(0), tpl);
}

fn revert(w: &mut World) {
    let tpl = w.workloads[wl_id(0)]
        .template
        .iter()
        .filter(|c| !c.leaker)
        .cloned()
        .collect();
    w.set_template(wl_id(0), tpl);
}

/// Exactly one second, and what it produced.
fn step(w: &mut World) -> Vec<Observation> {
    let target = w.clock + 1;
    let mut out = std::mem::take(&mut w.observations);
    while w.clock < target {
        w.advance(target);
        out.append(&mut w.observations);
    }
    out
}

/// Runs `secs` seconds; `each` looks at the world after every second.
fn run(w: &mut World, secs: u64, mut each: impl FnMut(&World, &[Observation])) -> Vec<Observation> {
    let mut all = std::mem::take(&mut w.observations);
    for _ in 0..secs {
        let obs = step(w);
        each(w, &obs);
        all.extend(obs);
    }
    all
}

fn secs_of(w: &World, o: &Observation) -> u64 {
    w.second_of(o.at)
}

fn times(w: &World, obs: &[Observation], f: impl Fn(&Happening) -> bool) -> Vec<u64> {
    obs.iter()
        .filter(|o| f(&o.happening))
        .map(|o| secs_of(w, o))
        .collect()
}

/// The steps in which facts of the kubelet's loops (an eviction, a status post) happened: each
/// happens within its step, after the second before it ends, and its object's time is that
/// instant truncated to the whole second (`World::emit_stamped`), the step's second minus one.
fn stepped(w: &World, obs: &[Observation], f: impl Fn(&Happening) -> bool) -> Vec<u64> {
    times(w, obs, f).into_iter().map(|t| t + 1).collect()
}

fn evicted(e: &Happening) -> bool {
    matches!(
        e,
        Happening::PodEvicted {
            cause: DisruptionCause::TerminationByKubelet,
            ..
        }
    )
}

/// The eviction manager's synchronize that found a threshold met ("Attempting to reclaim
/// memory"), stamped at its own instant; the eviction it makes is seen when the kill has ended,
/// 0.3–1.4 s later, often in the next second.
fn reclaiming(e: &Happening) -> bool {
    matches!(e, Happening::NodeEvent { reason, .. } if reason == "EvictionThresholdMet")
}

fn pressure(on: bool) -> impl Fn(&Happening) -> bool {
    move |e| matches!(e, Happening::NodeCondition { condition: NodeConditionKind::MemoryPressure, status, .. } if *status == on)
}

#[test]
fn memcg_notification_evicts_in_the_second_the_threshold_is_crossed() {
    for seed in 1..=5 {
        let mut w = World::new(&bed(", kernelMemcgNotification: true"), seed).unwrap();
        inject(&mut w, leak(48, 8, T0 + 600), None);
        let mut met_before = Vec::new();
        let obs = run(&mut w, 60, |w, _| {
            met_before.push((w.clock, w.threshold_met(node_id(0))))
        });
        let first = *stepped(&w, &obs, reclaiming).first().expect("an eviction");
        // Not met at the end of the second before: the notification acted at the crossing.
        let prev = met_before.iter().find(|(t, _)| *t == first - 1).unwrap();
        assert!(!prev.1, "seed {seed}: the threshold was met before {first}");
    }
}

#[test]
fn without_memcg_the_ten_second_monitoring_tick_finds_the_crossing() {
    let mut late = 0;
    for seed in 1..=8 {
        let mut w = World::new(&bed(""), seed).unwrap();
        let phase = w.nodes[node_id(0)].hk_phase;
        inject(&mut w, leak(48, 8, T0 + 600), None);
        let mut met_at = Vec::new();
        let obs = run(&mut w, 60, |w, _| {
            met_at.push((w.clock, w.threshold_met(node_id(0))))
        });
        let first = *stepped(&w, &obs, reclaiming).first().expect("an eviction");
        assert!(
            (first + phase).is_multiple_of(10),
            "seed {seed}: not on a tick"
        );
        // Met at the end of a second before the tick (a crossing between ticks), or crossed in
        // the tick's own second.
        let met = met_at
            .iter()
            .find(|(t, m)| *m && *t <= first)
            .map_or(first, |(t, _)| *t);
        assert!(
            met <= first && first - met < 10,
            "seed {seed}: {met} → {first}"
        );
        late += u32::from(met < first);
    }
    assert!(late > 0, "some crossings fall between ticks");
}

/// The first eviction of the bed's spill-like leak, with `kernelMemcgNotification` configured
/// and the node on `cgroup` (None: not stated), and the node's monitoring phase.
fn first_eviction_on(cgroup: Option<CgroupVersion>, seed: u64) -> (u64, u64, Vec<Observation>) {
    let mut m = bed(", kernelMemcgNotification: true");
    m.spec.node_groups[0].cgroup_version = cgroup;
    let mut w = World::new(&m, seed).unwrap();
    let phase = w.nodes[node_id(0)].hk_phase;
    inject(&mut w, leak(48, 8, T0 + 600), None);
    let obs = run(&mut w, 60, |_, _| {});
    let first = *stepped(&w, &obs, reclaiming).first().expect("an eviction");
    (first, phase, obs)
}

#[test]
fn on_cgroup_v2_the_configured_memcg_notification_does_nothing_and_the_tick_finds_the_crossing() {
    let mut later = 0;
    for seed in 1..=8 {
        // v1 evicts in the second of the crossing (memcg_notification_evicts_in_the_second…).
        let (crossing, phase, _) = first_eviction_on(Some(CgroupVersion::V1), seed);
        let (first, phase_v2, _) = first_eviction_on(Some(CgroupVersion::V2), seed);
        assert_eq!(phase, phase_v2, "the same seed, the same kubelet");
        // The next monitoring tick at or after the crossing, not the crossing.
        let tick = (crossing..crossing + 10)
            .find(|t| (t + phase).is_multiple_of(10))
            .unwrap();
        assert_eq!(first, tick, "seed {seed}: crossing {crossing}");
        later += u32::from(first > crossing);
    }
    assert!(later > 0, "some crossings fall between ticks");
}

#[test]
fn a_cgroup_version_not_stated_or_unknown_is_simulated_as_configured() {
    for seed in [1, 2] {
        let (_, _, v1) = first_eviction_on(Some(CgroupVersion::V1), seed);
        let (_, _, unstated) = first_eviction_on(None, seed);
        let (_, _, unknown) = first_eviction_on(Some(CgroupVersion::Unknown), seed);
        assert_eq!(v1, unstated, "seed {seed}");
        assert_eq!(v1, unknown, "seed {seed}");
    }
}

#[test]
fn the_allocatable_signal_evicts_when_the_pods_cgroup_fills_not_the_node() {
    // 3 leakers at 100 MiB/s: the pods pass 3 GiB in about 10 s, the node's own
    // memory.available (24Gi − 3.3Gi − pods) would take a minute.
    let evictions = |extra: &str| {
        let mut w = World::new(&bed(extra), 1).unwrap();
        inject(&mut w, leak(100, 8, T0 + 600), None);
        let obs = run(&mut w, 40, |_, _| {});
        stepped(&w, &obs, reclaiming)
    };
    let enforced = evictions(", kernelMemcgNotification: true");
    assert!(
        enforced.first().is_some_and(|&t| t < T0 + 15),
        "{enforced:?}"
    );
    let not_enforced = evictions(", kernelMemcgNotification: true, enforceNodeAllocatable: false");
    assert!(not_enforced.is_empty(), "{not_enforced:?}");
}

#[test]
fn one_eviction_per_cycle_and_the_loop_waits_for_the_cleanup() {
    // Three pods at 1.6 GiB at once (4.8 GiB): one eviction is not enough, two are.
    let mut w = World::new(&bed(""), 2).unwrap();
    w.target = Some(TargetInfo {
        wl: wl_id(0),
        pdbs: vec![pdb_id(0)],
    });
    for p in w.running_pods(wl_id(0)) {
        w.attach_ephemeral(p, "oomsday-leaker-x", leak(0, 1638, T0 + 600));
    }
    let obs = run(&mut w, 30, |_, _| {});
    let ev = stepped(&w, &obs, evicted);
    // Which pods go, and so how many it takes, depends on what cAdvisor last saw of each (the
    // leakers came after some pods' last housekeeping): at least two.
    assert!(ev.len() >= 2, "{ev:?}");
    // Each comes from the synchronize right after the pod before it was cleaned up, a second
    // later; never two in one synchronize.
    assert!(ev.windows(2).all(|e| e[1] == e[0] + 1), "{ev:?}");
}

#[test]
fn the_eviction_manager_ranks_pods_by_what_cadvisor_last_saw_of_them() {
    let mut not_the_biggest = 0;
    for seed in 1..=12 {
        let mut w = World::new(&bed(", kernelMemcgNotification: true"), seed).unwrap();
        inject(&mut w, leak(48, 8, T0 + 600), None);
        // The leaker pods at the end of each second: what each holds, and what cAdvisor last
        // recorded of it — at its last housekeeping, 0–20 s before, on the curve it leaks on.
        let mut before: Vec<(String, u64)> = Vec::new();
        // What they held at the end of the second before the synchronize that evicted, and
        // which it evicted (seen when the kill ends, up to a second or two later).
        let (mut held, mut evicted) = (None, None);
        run(&mut w, 40, |w, obs| {
            if evicted.is_some() {
                return;
            }
            if held.is_none() && obs.iter().any(|o| reclaiming(&o.happening)) {
                held = Some(std::mem::take(&mut before));
            }
            evicted = obs.iter().find_map(|o| match &o.happening {
                Happening::PodEvicted { pod, .. } => Some(pod.name.clone()),
                _ => None,
            });
            if held.is_some() {
                return;
            }
            // Caught up to the step's start (the eviction manager catches up to its instant).
            let now = (w.clock - 1) * 1000;
            let leaking = |p: &PodId| {
                (w.pods[*p].ctrs.iter())
                    .any(|c| c.leaker && matches!(c.state, CState::Running { .. }))
            };
            before = (w.running_pods(wl_id(0)).into_iter())
                .filter(leaking)
                .map(|p| {
                    let pod = &w.pods[p];
                    let seen: u64 = pod.ctrs.iter().map(|c| c.seen).sum();
                    let then: u64 = (pod.ctrs.iter())
                        .map(|c| match c.state {
                            CState::Running { since_ms } if since_ms <= now - 20_000 => {
                                c.usage_at_ms(now - 20_000)
                            }
                            _ => 0,
                        })
                        .sum();
                    assert!(seen >= then, "seed {seed}: {} seen {seen}", pod.name);
                    (pod.name.clone(), pod.usage())
                })
                .collect();
        });
        let (evicted_pod, held) = evicted.zip(held).expect("an eviction");
        let biggest = held.iter().max_by_key(|h| h.1).map(|h| h.0.clone());
        not_the_biggest += u32::from(biggest != Some(evicted_pod));
    }
    // Not always the pod that held the most a second before, as for real (spill-06's first
    // eviction took the second leaker, by figures 8 s old); not never either.
    println!("first eviction not of the biggest pod in {not_the_biggest} of 12 seeds");
    assert!(
        (1..12).contains(&not_the_biggest),
        "{not_the_biggest} of 12"
    );
}

#[test]
fn memory_pressure_reaches_the_api_with_the_next_status_post_and_clears_after_the_transition() {
    for seed in 1..=6 {
        let mut w = World::new(&bed(", kernelMemcgNotification: true"), seed).unwrap();
        let status_phase = w.nodes[node_id(0)].status_phase;
        // The leak stops at T0 + 45: the pods go back under the threshold for good.
        inject(&mut w, leak(48, 8, T0 + 45), None);
        let mut last_seen = 0;
        let obs = run(&mut w, 120, |w, _| {
            // The step of the instant it was last seen in.
            if let Some(lo) = w.nodes[node_id(0)].last_observed {
                last_seen = lo / 1000 + 1;
            }
        });
        let first = *stepped(&w, &obs, evicted).first().expect("an eviction");
        let on = stepped(&w, &obs, pressure(true));
        let off = stepped(&w, &obs, pressure(false));
        // With the next post: in the eviction's own second when the status loop comes later in
        // it, else at the loop's next tick.
        let same_second = (first + status_phase).is_multiple_of(10);
        assert!(
            on[0] == crate::sim::kubelet::next_tick(first, status_phase, 10)
                || (same_second && on[0] == first),
            "seed {seed}: the condition comes with the next post"
        );
        assert!((0..=10).contains(&(on[0] - first)), "seed {seed}");
        let cleared = *off.last().expect("cleared");
        // At least the transition period after the last time a threshold was seen met, at most
        // one monitoring tick and one status post later.
        assert!(
            (10..=30).contains(&(cleared - last_seen)),
            "seed {seed}: last seen {last_seen}, cleared {cleared}"
        );
        assert!((cleared + status_phase).is_multiple_of(10), "seed {seed}");
        // Burstable pods are never refused by the kubelet itself.
        assert_eq!(
            times(&w, &obs, |e| matches!(
                e,
                Happening::AdmissionRejected { .. }
            )),
            Vec::<u64>::new()
        );
    }
}

#[test]
fn the_memory_pressure_taint_refuses_burstable_pods_until_it_is_lifted() {
    let mut refused = 0;
    let mut waited = 0;
    for seed in 1..=6 {
        let mut w = World::new(&bed(", kernelMemcgNotification: true"), seed).unwrap();
        inject(&mut w, leak(48, 8, T0 + 80), None);
        // (second, the API's MemoryPressure, pods waiting for the scheduler) after each second.
        let mut state = Vec::new();
        let obs = run(&mut w, 150, |w, _| {
            state.push((w.clock, w.nodes[node_id(0)].api_pressure, w.pending.len()))
        });
        let api_at = |t: u64| state.iter().find(|s| s.0 == t).map(|s| s.1);
        for o in &obs {
            if let Happening::FailedScheduling { message, .. } = &o.happening {
                assert!(
                    message.contains("untolerated taint {node.kubernetes.io/memory-pressure: }"),
                    "{message}"
                );
                let t = secs_of(&w, o);
                assert_eq!(
                    api_at(t),
                    Some(true),
                    "seed {seed}: refused at {t} without the taint"
                );
                refused += 1;
            }
        }
        // The second the taint goes, the pods that waited are placed (the scheduler retries on
        // the node's update).
        for win in state.windows(2) {
            let (before, now) = (win[0], win[1]);
            if before.1 && !now.1 {
                waited += before.2;
                assert_eq!(now.2, 0, "seed {seed}: still pending at {}", now.0);
            }
        }
    }
    assert!(refused > 0 && waited > 0, "some replacement met the taint");
}

#[test]
fn best_effort_pods_sent_before_the_taint_are_rejected_at_admission() {
    // A BestEffort target (no requests, no limit): its replacements reach the node while the
    // kubelet already sees pressure and the API does not yet.
    let mut any = false;
    for seed in 1..=6 {
        let mut w = World::new(
            &bed_with(", kernelMemcgNotification: true", "resources: {}"),
            seed,
        )
        .unwrap();
        inject(&mut w, leak(48, 8, T0 + 600), None);
        let mut state = Vec::new();
        let obs = run(&mut w, 60, |w, _| {
            state.push((
                w.clock,
                w.nodes[node_id(0)].pressure,
                w.nodes[node_id(0)].api_pressure,
            ))
        });
        for o in &obs {
            if let Happening::AdmissionRejected { message, pod } = &o.happening {
                assert_eq!(message, "The node had condition: [MemoryPressure]. ");
                assert!(pod.target);
                // The kubelet sees pressure, the API (and so the scheduler) does not yet.
                // (The API may have it by the end of that second: the status post can come
                // later in the second than the rejection.)
                let t = secs_of(&w, o);
                let s = state.iter().find(|s| s.0 == t).unwrap();
                let before = state.iter().find(|s| s.0 == t - 1).unwrap();
                assert!(
                    s.1 && !before.2,
                    "seed {seed}: rejected at {t}: {s:?} {before:?}"
                );
                any = true;
            }
        }
    }
    assert!(any, "rejections happen in the window");
}

#[test]
fn crash_loop_restarts_after_a_second_then_backs_off_and_the_pod_is_not_ready_meanwhile() {
    let mut w = World::new(&bed(""), 3).unwrap();
    // The recordings' `contained`: 16 Mi/s from 8 Mi against a 64 Mi limit.
    inject(&mut w, leak(16, 8, T0 + 600), Some(64));
    let mut fewest = u32::MAX;
    let mut waiting_ready = 0;
    let obs = run(&mut w, 90, |w, _| {
        fewest = fewest.min(w.budget_status(pdb_id(0), w.clock).0);
        for &p in &w.workloads[wl_id(0)].pods {
            // Once the kubelet's relist has seen the exit: until then the API still says
            // Ready.
            let waiting = w.pods[p].ctrs.iter().any(|c| {
                c.leaker
                    && matches!(c.state, CState::Waiting { .. })
                    && c.last_ready.is_none_or(|(_, seen)| seen <= w.clock * 1000)
            });
            if waiting && w.pod_ready(p, w.clock) {
                waiting_ready += 1;
            }
        }
    });
    assert_eq!(waiting_ready, 0, "a pod whose leaker waits is not ready");
    assert_eq!(fewest, 0, "all three waiting at once: the PDB at 0 healthy");
    // Per pod: kill → restart gaps of 1 s, then 11–16 s, then 21–31 s.
    let pod = w.workloads[wl_id(0)].pods[0];
    let name = w.pods[pod].name.clone();
    let mine = |e: &Happening| match e {
        Happening::LeakerStarted { pod } | Happening::OomKilled { pod, .. } => pod.name == name,
        _ => false,
    };
    let seq: Vec<(bool, u64)> = obs
        .iter()
        .filter(|o| mine(&o.happening))
        .map(|o| {
            (
                matches!(o.happening, Happening::OomKilled { .. }),
                secs_of(&w, o),
            )
        })
        .collect();
    let gaps: Vec<u64> = seq
        .windows(2)
        .filter(|p| p[0].0 && !p[1].0)
        .map(|p| p[1].1 - p[0].1)
        .collect();
    // The happenings carry whole seconds; the restart comes 0.4–1.4 s after the kill.
    assert!(gaps.len() >= 3, "{seq:?}");
    assert!((0..=2).contains(&gaps[0]), "{gaps:?}");
    assert!((10..=17).contains(&gaps[1]), "{gaps:?}");
    assert!((20..=32).contains(&gaps[2]), "{gaps:?}");
    // Killed at the limit 3.4 s after each start (8 + 16 t + the leaker's own footprint).
    for p in seq.windows(2).filter(|p| !p[0].0 && p[1].0) {
        assert!((3..=4).contains(&(p[1].1 - p[0].1)), "{seq:?}");
    }
}

#[test]
fn a_rollout_surges_one_pod_at_a_time_and_keeps_every_replica_available() {
    let mut w = World::new(&bed(""), 4).unwrap();
    let t0 = w.clock;
    inject(&mut w, leak(0, 8, T0 + 600), None);
    let check = |w: &World, done: &mut Option<u64>| {
        let pods = w.workloads[wl_id(0)].pods.len();
        let ready = w.workloads[wl_id(0)]
            .pods
            .iter()
            .filter(|&&p| w.pod_ready(p, w.clock))
            .count();
        assert!(pods <= 4, "maxSurge 25% of 3 = 1: {pods} pods");
        assert!(ready >= 3, "maxUnavailable 0: {ready} ready");
        let rolled = matches!(
            w.workload_sample(wl_id(0), w.clock),
            Happening::Workload {
                updated: 3,
                current: 3,
                ready: 3,
                ..
            }
        );
        if done.is_none() && rolled {
            *done = Some(w.clock);
        }
    };
    let mut done = None;
    run(&mut w, 10, |w, _| check(w, &mut done));
    // Each step of the rollout: the new pod's start (0.7–1.3 s), the kubelet seeing it at its
    // next relist, the controllers' reaction: 3.1–5.6 s for three pods on the bed.
    assert!(
        done.is_some_and(|d| (t0 + 3..=t0 + 8).contains(&d)),
        "{done:?}"
    );
    let t1 = w.clock;
    revert(&mut w);
    let mut back = None;
    let obs = run(&mut w, 10, |w, _| check(w, &mut back));
    assert!(
        back.is_some_and(|d| (t1 + 3..=t1 + 8).contains(&d)),
        "{back:?}"
    );
    // The revert reuses the first ReplicaSet: its pods carry its hash again.
    let hash = &w.workloads[wl_id(0)].rs[&0].hash;
    assert!(
        w.workloads[wl_id(0)]
            .pods
            .iter()
            .all(|&p| w.pods[p].name.contains(hash.as_str()))
    );
    assert!(
        !obs.iter()
            .any(|o| matches!(o.happening, Happening::LeakerStarted { .. }))
    );
}

#[test]
fn the_leaker_starts_a_container_start_after_its_pod_and_grows_on_its_curve() {
    let mut w = World::new(&bed(""), 5).unwrap();
    let t0 = w.clock;
    inject(&mut w, leak(48, 8, T0 + 600), None);
    let obs = run(&mut w, 12, |_, _| {});
    let starts: Vec<(String, u64)> = obs
        .iter()
        .filter_map(|o| match &o.happening {
            Happening::LeakerStarted { pod } => Some((pod.name.clone(), secs_of(&w, o))),
            _ => None,
        })
        .collect();
    // One pod after another: each starts 0.7–1.3 s after its creation, which follows the one
    // before it becoming Ready at the kubelet's next relist.
    let at: Vec<u64> = starts.iter().map(|s| s.1).collect();
    assert_eq!(at.len(), 3, "{at:?}");
    // `startedAt`: the second it started in, truncated.
    assert!((t0..=t0 + 1).contains(&at[0]), "{at:?}");
    for step in at.windows(2) {
        assert!((1..=3).contains(&(step[1] - step[0])), "{at:?}");
    }
    for (pod, start) in &starts {
        let samples: Vec<(u64, u64)> = obs
            .iter()
            .filter_map(|o| match &o.happening {
                Happening::LeakerBytes { pod: p, bytes } if p == pod => {
                    Some((secs_of(&w, o), *bytes))
                }
                _ => None,
            })
            .collect();
        assert!(samples.len() > 3, "{pod}: {samples:?}");
        // Started within the second before its first look (the end of that second): 8 MiB
        // plus under a second's leak.
        assert_eq!(samples[0].0, *start + 1);
        assert!((8 * MI..=56 * MI).contains(&samples[0].1), "{samples:?}");
        // Then 48 MiB a second, on the curve from its own start.
        for pair in samples.windows(2) {
            let grown = (pair[1].1 - pair[0].1) as i64;
            let want = (48 * MI * (pair[1].0 - pair[0].0)) as i64;
            assert!((grown - want).abs() <= 2, "{pod}: {samples:?}");
        }
    }
}

#[test]
fn workload_samples_and_leaker_pods_follow_the_rollouts() {
    let mut w = World::new(&bed(""), 6).unwrap();
    inject(&mut w, leak(1, 8, T0 + 600), None);
    let mut obs = run(&mut w, 6, |_, _| {});
    let t = w.clock;
    revert(&mut w);
    obs.extend(run(&mut w, 6, |_, _| {}));
    let samples: Vec<(u64, &Happening)> = obs
        .iter()
        .filter(|o| {
            matches!(
                o.happening,
                Happening::Workload { .. } | Happening::LeakerPods { .. }
            )
        })
        .map(|o| (secs_of(&w, o), &o.happening))
        .collect();
    // The template change is seen before the controller acts on it.
    assert!(samples.iter().any(|(_, e)| matches!(
        e,
        Happening::Workload {
            observed: false,
            leaker: true,
            ..
        }
    )));
    let lives: Vec<u32> = samples
        .iter()
        .filter_map(|(_, e)| match e {
            Happening::LeakerPods { live } => Some(*live),
            _ => None,
        })
        .collect();
    assert_eq!(lives.iter().max(), Some(&3));
    assert_eq!(lives.last(), Some(&0));
    // Rolled out clean again after the revert, once the last leaker pod is gone.
    let clean = samples
        .iter()
        .find(|(s, e)| *s >= t && e.rolled_out_clean())
        .map(|(s, _)| *s)
        .expect("rolled out clean");
    let gone = samples
        .iter()
        .find(|(s, e)| *s >= t && matches!(e, Happening::LeakerPods { live: 0 }))
        .map(|(s, _)| *s)
        .expect("no leaker left");
    // Three steps of the rollout (see `a_rollout_surges_one_pod_at_a_time…`).
    assert_eq!(clean, gone);
    assert!((3..=8).contains(&(clean - t)), "{}", clean - t);
}

/// A snapshot's model: named nodes (one cordoned, one loaded by pods the model does not model),
/// and a workload whose pods were seen on given nodes with their own working sets.
fn snapshot_model() -> ClusterModel {
    ClusterModel::from_yaml(
        r#"
apiVersion: oomsday.dev/v1alpha1
kind: ClusterModel
metadata: {name: snap}
spec:
  kubelet: {systemMemory: 500Mi}
  nodeGroups:
    - name: m5
      count: 3
      capacity: 8Gi
      nodes:
        - {name: alpha, systemMemory: 1Gi, otherPods: {pods: 108, requests: 2Gi, workingSet: 1536Mi}}
        - {name: beta}
        - {name: gamma, unschedulable: true}
  workloads:
    - name: web
      namespace: shop
      replicas: 3
      containers: [{name: app, workingSet: 1Gi, resources: {requests: {memory: 100Mi}}}]
      observed:
        pods:
          - {name: web-a, node: gamma, workingSets: {app: 300Mi}}
          - {name: web-b, node: alpha, workingSets: {app: 200Mi}}
          - {name: web-c, workingSets: {app: 700Mi}}
"#,
    )
    .unwrap()
}

#[test]
fn snapshot_nodes_keep_their_names_their_own_memory_and_their_other_pods() {
    let w = World::new(&snapshot_model(), 1).unwrap();
    let names: Vec<&str> = w.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let alpha = &w.nodes[node_id(0)];
    assert_eq!(alpha.system_mem, 1 << 30);
    assert_eq!(
        w.nodes[node_id(1)].system_mem,
        500 << 20,
        "the model's figure"
    );
    assert_eq!(alpha.fixed_pods, 108);
    // The other pods' requests and working set, beside the web pod placed there.
    assert_eq!(alpha.requested, (2 << 30) + (100 << 20));
    assert_eq!(alpha.pod_usage, (1536 << 20) + (200 << 20));
    assert!(w.nodes[node_id(2)].cordoned);
}

#[test]
fn observed_pods_go_back_to_their_nodes_with_their_own_working_sets() {
    let w = World::new(&snapshot_model(), 3).unwrap();
    let placed: BTreeMap<u64, &str> = w
        .pods
        .iter()
        .filter_map(|p| Some((p.ctrs[0].working_set >> 20, w.nodes[p.node?].name.as_str())))
        .collect();
    // web-a was on the cordoned gamma (cordoning keeps running pods), web-b on alpha; web-c
    // was on no node, so the scheduler placed it: not on the cordoned gamma, and not on alpha,
    // which its other pods' requests make the busier.
    assert_eq!(placed.get(&300), Some(&"gamma"));
    assert_eq!(placed.get(&200), Some(&"alpha"));
    assert_eq!(placed.get(&700), Some(&"beta"));
}

#[test]
fn pods_created_later_take_the_measured_working_sets_in_turn_and_avoid_cordoned_nodes() {
    let mut w = World::new(&snapshot_model(), 1).unwrap();
    let wl = wl_id(0);
    let mut fresh = Vec::new();
    for _ in 0..3 {
        let p = w.workloads[wl].pods[0];
        w.remove_pod(p);
        w.reconcile_workloads();
        w.schedule();
        let newest = *w.workloads[wl].pods.last().unwrap();
        fresh.push((
            w.pods[newest].ctrs[0].working_set >> 20,
            w.pods[newest].node.map(|n| w.nodes[n].name.clone()),
        ));
    }
    // The 4th, 5th and 6th pods created take the 1st, 2nd and 3rd measured figures.
    assert_eq!(
        fresh.iter().map(|(ws, _)| *ws).collect::<Vec<_>>(),
        [300, 200, 700]
    );
    assert!(
        fresh.iter().all(|(_, n)| n.as_deref() != Some("gamma")),
        "{fresh:?}"
    );
}

#[test]
fn a_memcg_crossing_is_placed_within_its_second_by_the_growth() {
    let mut w = World::new(&bed(", kernelMemcgNotification: true"), 1).unwrap();
    let n = &mut w.nodes[node_id(0)];
    // The pods' threshold: their cgroup limit less the hard threshold.
    let level = n.pods_limit - 3 * 1024 * MI;
    n.usage_before = level - 300 * MI;
    n.pod_usage = level + 100 * MI;
    assert_eq!(w.crossing_ms(node_id(0)), 750);
    w.nodes[node_id(0)].usage_before = level + MI;
    assert_eq!(
        w.crossing_ms(node_id(0)),
        0,
        "already past when the second began"
    );
}

/// The spill recording's leak (48 MiB/s from 8 MiB) on the bed with memcg notification, the
/// node's status loop at `phase` (else the seed's) and `status_ms` into its second.
fn spill_on_bed(
    seed: u64,
    phase: Option<u64>,
    status_ms: u64,
    secs: u64,
) -> (World, Vec<Observation>) {
    let mut w = World::new(&bed(", kernelMemcgNotification: true"), seed).unwrap();
    if let Some(p) = phase {
        w.nodes[node_id(0)].status_phase = p;
    }
    w.nodes[node_id(0)].status_ms = status_ms;
    inject(&mut w, leak(48, 8, T0 + 600), None);
    let obs = run(&mut w, secs, |_, _| {});
    (w, obs)
}

#[test]
fn a_status_post_before_an_evicting_synchronize_taints_the_node_before_the_eviction() {
    let spill = |phase: Option<u64>, status_ms: u64| {
        let (w, obs) = spill_on_bed(3, phase, status_ms, 60);
        (stepped(&w, &obs, reclaiming), obs, w)
    };
    // Where the first two evicting synchronizes fall when the first post comes as late as it
    // can.
    let (ev, _, _) = spill(None, 0);
    let t1 = ev[0];
    let (ev, _, _) = spill(Some((10 - (t1 + 10) % 10) % 10), 0);
    let t2 = ev[1];
    assert!(t2 > t1 && t2 - t1 < 10, "{ev:?}");
    // The second eviction's replacement turned away by the taint: within the two seconds its
    // kill and binding can take.
    let refused = |obs: &[Observation], w: &World| {
        times(w, obs, |e| matches!(e, Happening::FailedScheduling { .. }))
            .iter()
            .any(|t| (t2..=t2 + 2).contains(t))
    };
    // Whether the post is seen before the second eviction.
    let post_first = |obs: &[Observation]| {
        let second = obs
            .iter()
            .enumerate()
            .filter(|(_, o)| evicted(&o.happening))
            .nth(1);
        let post = obs.iter().position(|o| pressure(true)(&o.happening));
        second.zip(post).map(|((e, _), p)| p < e)
    };
    // A post early in the synchronize's second, before it: the taint is there before the
    // eviction; its replacement waits.
    let (ev, obs, w) = spill(Some((10 - t2 % 10) % 10), 0);
    assert_eq!((ev[1], stepped(&w, &obs, pressure(true))[0]), (t2, t2));
    assert_eq!(post_first(&obs), Some(true));
    assert!(refused(&obs, &w), "the replacement is refused by the taint");
    // Where a post after the synchronize falls against the kill and the binding:
    // `a_status_post_during_the_kill_of_an_evicted_pod_turns_its_replacement_away`.
}

#[test]
fn a_post_later_in_the_second_of_the_first_eviction_carries_it() {
    let first_post = |phase: Option<u64>, status_ms: u64| {
        let (w, obs) = spill_on_bed(4, phase, status_ms, 40);
        let first = stepped(&w, &obs, reclaiming)[0];
        (first, stepped(&w, &obs, pressure(true))[0])
    };
    let (t1, _) = first_post(None, 0);
    // The status loop ticks in the synchronize's second: early in it, the post is a period later;
    // late in it, it is in that very second.
    let phase = (10 - t1 % 10) % 10;
    assert_eq!(first_post(Some(phase), 0), (t1, t1 + 10));
    assert_eq!(first_post(Some(phase), 999), (t1, t1));
}

/// The bed's kubelet at `-v=3` (`campaign-spill-random/spill-r01/kubelet-eviction.log`): the
/// eviction manager's loop synchronized every 10.06 s on its own phase (T+9.70, 19.77, 29.84,
/// 39.90, 49.95) while the memcg notification's synchronizes evicted in between (T+23.87, 30.86,
/// 46.58) without moving it.
/// MemoryPressure went False only at the loop's first synchronize 10 s after the threshold was
/// last met, and reached the API with the next status post: so after spill's third eviction,
/// whether the condition is lifted before the leak crosses again (and the pod waiting for the
/// taint gets in, the history of 6 evictions and no time below the budget) is decided by where
/// the loop ticks between the end of the transition period and that post.
#[test]
fn pressure_ends_between_two_crossings_only_when_the_loop_ticks_before_the_next_post() {
    let spill = |status_phase: u64, hk_phase: u64| {
        let mut w = World::new(&bed(", kernelMemcgNotification: true"), 3).unwrap();
        let n = &mut w.nodes[node_id(0)];
        (n.status_phase, n.status_ms) = (status_phase, 999);
        (n.hk_phase, n.hk_ms) = (hk_phase, 0);
        inject(&mut w, leak(48, 8, T0 + 600), None);
        let mut loop_ticks = Vec::new();
        let mut seen = Vec::new();
        let obs = run(&mut w, 90, |w, _| {
            // The loop's phase as it stands after this second (an eviction from the loop
            // itself would move it; the memcg notification's do not).
            let t = w.clock;
            if (t + w.nodes[node_id(0)].hk_phase).is_multiple_of(10) {
                loop_ticks.push(t);
            }
            seen.push((t, w.nodes[node_id(0)].last_observed));
        });
        let ev = stepped(&w, &obs, evicted);
        let on = stepped(&w, &obs, pressure(true));
        let off = stepped(&w, &obs, pressure(false));
        // The instant (ms) the threshold was last seen met, as of the end of each step.
        let last_seen = move |t: u64| seen.iter().find(|s| s.0 == t).and_then(|s| s.1);
        (ev, on, off, loop_ticks, last_seen)
    };
    // A status phase under which the condition is first posted after the second eviction (the
    // recordings' "after" history), the third eviction then coming while it holds.
    let status_phase = (0..10)
        .find(|&p| {
            let (ev, on, ..) = spill(p, 0);
            ev.len() >= 3 && on.first().is_some_and(|&t| t > ev[1] && t < ev[2])
        })
        .expect("a status phase with the pressure posted after the second eviction");
    let mut lifted_between = 0;
    for hk_phase in 0..10 {
        let (ev, _, off, loop_ticks, last_seen) = spill(status_phase, hk_phase);
        assert!(ev.len() >= 4, "phase {hk_phase}: {ev:?}");
        // The loop's first tick (at the start of its second: `hk_ms` 0) once the last
        // observation, the third eviction's crossing, is 10 s old; then the status post at or
        // after it (later in the same second: `status_ms` 999): it carries False, if it comes
        // before the fourth crossing.
        let seen_ms = last_seen(ev[2]).expect("the third crossing seen");
        let tick = *loop_ticks
            .iter()
            .find(|&&t| World::in_step(t, 0) >= seen_ms + 10_000)
            .expect("a tick");
        let post = crate::sim::kubelet::next_tick(tick - 1, status_phase, 10);
        let expected = post < ev[3];
        let lifted = off.iter().any(|&t| t > ev[2] && t < ev[3]);
        assert_eq!(
            lifted, expected,
            "loop phase {hk_phase}: evictions {ev:?}, lifted {off:?}, loop tick {tick}, post {post}"
        );
        if lifted {
            assert_eq!(off.iter().find(|&&t| t > ev[2]), Some(&post));
            lifted_between += 1;
        }
    }
    println!("lifted between the third and fourth crossings in {lifted_between} of 10 loop phases");
    // Both histories, by the loop's phase alone.
    assert!(
        (1..10).contains(&lifted_between),
        "lifted between in {lifted_between} of 10 loop phases"
    );
}

/// The bed's evictions (`campaign-spill-random`): the kubelet's kill of an evicted pod took
/// 0.28–1.39 s, and its replacement was bound 30–123 ms after it ended. A status post in that
/// window carried MemoryPressure to the API first, and the taint turned the replacement away
/// (spill-r10, r11, r20, r22: posts 0.19–0.32 s after the synchronize, replacements scheduled
/// 0.34–0.44 s after it); a post after it came too late for that replacement.
#[test]
fn a_status_post_during_the_kill_of_an_evicted_pod_turns_its_replacement_away() {
    let seed = 3;
    let (w, obs) = spill_on_bed(seed, None, 0, 40);
    let sync = stepped(&w, &obs, reclaiming)[0];
    // Whether the first eviction's replacement was turned away, with the status loop ticking
    // `ms` into the synchronize's second (0) or the next (1000).
    let turned_away = |at: u64| {
        let (second, ms) = (sync + at / 1000, at % 1000);
        let (w, obs) = spill_on_bed(seed, Some((10 - second % 10) % 10), ms, 40);
        assert_eq!(
            stepped(&w, &obs, reclaiming)[0],
            sync,
            "the same synchronize"
        );
        let second_sync = stepped(&w, &obs, reclaiming)[1];
        stepped(&w, &obs, |e| {
            matches!(e, Happening::FailedScheduling { .. })
        })
        .first()
        .is_some_and(|&f| f <= second_sync)
    };
    let away: Vec<u64> = (0..2000)
        .step_by(10)
        .filter(|&at| turned_away(at))
        .collect();
    assert!(!away.is_empty(), "no post turned the replacement away");
    // One window, from the synchronize's instant to the replacement's binding.
    let (from, to) = (away[0], away[away.len() - 1] + 10);
    assert_eq!(away.len() as u64, (to - from) / 10, "one window: {away:?}");
    assert!(from < 1000, "it opens at the synchronize: {from}");
    // Its length: the ranking, the kill, the ReplicaSet and the scheduler; on the bed, from the
    // synchronize to the replacement's `PodScheduled`, 0.34–1.50 s over 102 evictions.
    let (shortest, longest) = (335, 1500);
    assert!(
        (shortest..=longest).contains(&(to - from)),
        "{} ms, not within the recorded {shortest}–{longest} ms",
        to - from
    );
}

#[test]
fn the_pods_cgroup_oom_kills_in_the_second_the_pods_reach_its_limit() {
    // Leaks too fast for the eviction manager (spill-fast's, doubled): the pods' cgroup (6 GiB)
    // fills between two steps, and the kernel kills when it does, not at the step's end. The
    // instant is found here from the containers' own curves, as they were before the step.
    let mut checked = 0;
    for seed in 1..=6 {
        let mut w = World::new(&bed(""), seed).unwrap();
        w.target = Some(TargetInfo {
            wl: wl_id(0),
            pdbs: vec![pdb_id(0)],
        });
        for p in w.running_pods(wl_id(0)) {
            w.attach_ephemeral(p, "oomsday-leaker-x", leak(1024, 8, T0 + 600));
        }
        let n = node_id(0);
        for _ in 0..20 {
            let before: Vec<Ctr> = w.nodes[n]
                .pods
                .iter()
                .flat_map(|&q| w.pods[q].ctrs.iter())
                .filter(|c| matches!(c.state, CState::Running { .. }))
                .cloned()
                .collect();
            let fixed = w.nodes[n].pod_usage - before.iter().map(|c| c.usage).sum::<u64>();
            let (limit, end) = (w.nodes[n].pods_limit, (w.clock + 1) * 1000);
            let obs = step(&mut w);
            let Some(kill) = obs
                .iter()
                .find(|o| matches!(o.happening, Happening::OomKilled { .. }))
            else {
                continue;
            };
            if obs.iter().any(|o| evicted(&o.happening)) {
                // An eviction's kill in the same step frees memory the curves above still count.
                break;
            }
            let reached = (end - 1000..=end)
                .find(|&ms| fixed + before.iter().map(|c| c.usage_at_ms(ms)).sum::<u64>() >= limit)
                .expect("the pods reached the limit in the step of the kill");
            assert!(
                reached < end,
                "seed {seed}: reached at {reached}, the step's end"
            );
            assert_eq!(
                secs_of(&w, kill),
                reached / 1000,
                "seed {seed}: the kill is stamped in the second the pods reached {limit} B \
                 (at {reached} ms), not at the step's end {end}"
            );
            checked += 1;
            break;
        }
    }
    assert!(
        checked >= 3,
        "only {checked} of 6 seeds killed in a step of their own"
    );
}
