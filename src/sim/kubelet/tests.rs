use super::*;

const MI: u64 = 1 << 20;

fn c(usage_mi: u64, request_mi: u64, priority: i32, order: u64) -> EvictionCandidate {
    EvictionCandidate {
        usage: usage_mi * MI,
        request: request_mi * MI,
        priority,
        order,
    }
}

#[test]
fn eviction_prefers_over_request_then_low_priority_then_largest_excess() {
    let within = c(900, 1000, 0, 0); // below its request: last
    let high_prio = c(3000, 100, 1000, 1); // far over, but important
    let small_excess = c(600, 500, 0, 2);
    let big_excess = c(2000, 0, 0, 3);
    let mut v = [within, high_prio, small_excess, big_excess];
    v.sort_by(eviction_order);
    assert_eq!(v, [big_excess, small_excess, high_prio, within]);
}

#[test]
fn oom_killer_prefers_best_effort_then_largest() {
    let cap = 32 * 1024 * MI;
    let best_effort_small = oom_badness(200 * MI, cap, 1000);
    let burstable_big = oom_badness(4000 * MI, cap, 990);
    let guaranteed_huge = oom_badness(16000 * MI, cap, -997);
    assert!(burstable_big > best_effort_small);
    assert!(best_effort_small > guaranteed_huge);
    assert!(oom_badness(100 * MI, cap, 1000) < best_effort_small);
}

/// Restarts of a container that crashes `ran` seconds after each start, with the pod worker's
/// requeue delays drawn from `jitter` in turn.
fn restarts(ran: u64, crashes: usize, jitter: &[u64]) -> Vec<u64> {
    let mut b = Backoff::default();
    let mut j = jitter.iter().cycle();
    let mut started = 0;
    let mut waits = Vec::new();
    for _ in 0..crashes {
        let finished = started + ran;
        let (at, nb) = restart_at(b, finished, || pod_worker_requeue(*j.next().unwrap()));
        waits.push(at - finished);
        b = nb;
        started = at;
    }
    waits
}

#[test]
fn the_first_crash_restarts_at_once_then_the_back_off_doubles() {
    // Requeues of exactly 10 s: restarts 1 s (the PLEG relist), then at the first sync 10 s
    // or more after the exit, and so on.
    assert_eq!(restarts(4, 5, &[0]), [1, 11, 21, 41, 81]);
    // With the largest jitter (15 s requeues), waits stay within the window plus one requeue.
    assert_eq!(restarts(4, 4, &[5]), [1, 16, 31, 46]);
    // The recordings: 1 s, then 12–15 s, then 23–28 s.
    for j in 0..=5 {
        let w = restarts(4, 3, &[j]);
        assert_eq!(w[0], 1);
        assert!((11..=16).contains(&w[1]), "{w:?}");
        assert!((21..=31).contains(&w[2]), "{w:?}");
    }
}

#[test]
fn back_off_is_capped_at_five_minutes_and_forgotten_after_ten() {
    let w = restarts(4, 12, &[0]);
    let last = *w.last().unwrap();
    assert!((300..=311).contains(&last), "{w:?}");
    // A container that ran more than 2 × 300 s since the back-off was last raised starts over.
    let b = Backoff {
        window: 300,
        updated: 1_000,
    };
    let (at, nb) = restart_at(b, 1_000 + 601, || 10);
    assert_eq!(at, 1_602);
    assert_eq!(nb.window, 10);
    let (at, _) = restart_at(b, 1_000 + 599, || 10);
    assert!(at >= 1_599 + 300);
}

#[test]
fn only_best_effort_pods_are_refused_under_memory_pressure() {
    assert!(!admits_under_memory_pressure(QosClass::BestEffort));
    assert!(admits_under_memory_pressure(QosClass::Burstable));
    assert!(admits_under_memory_pressure(QosClass::Guaranteed));
}

#[test]
fn ticks_are_strictly_after_now_on_the_loop_s_phase() {
    assert_eq!(next_tick(0, 0, 10), 10);
    assert_eq!(next_tick(9, 0, 10), 10);
    assert_eq!(next_tick(10, 0, 10), 20);
    assert_eq!(next_tick(10, 3, 10), 17);
    assert_eq!(next_tick(16, 3, 10), 17);
    assert_eq!(next_tick(17, 3, 10), 27);
    assert_eq!(next_tick(5, 0, 1), 6);
}
