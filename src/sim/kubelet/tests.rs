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

/// Restarts of a container that crashes `ran` ms after each start, on a node relisting at
/// phase 0, with the pod worker's requeue jitter (ms) drawn from `jitter` in turn: the waits
/// from each exit to the next start, in ms.
fn restarts(ran: u64, crashes: usize, jitter: &[u64]) -> Vec<u64> {
    let mut b = Backoff::default();
    let mut j = jitter.iter().cycle();
    let mut started = 0;
    let mut waits = Vec::new();
    for _ in 0..crashes {
        let finished = started + ran;
        let (at, nb, _) = restart_at(b, finished, 0, || pod_worker_requeue(*j.next().unwrap()));
        waits.push(at - finished);
        b = nb;
        started = at;
    }
    waits
}

#[test]
fn the_relist_comes_on_the_node_s_own_grid() {
    assert_eq!(next_relist(5_000, 0), 5_000);
    assert_eq!(next_relist(5_001, 0), 6_000);
    assert_eq!(next_relist(5_001, 250), 5_250);
    assert_eq!(next_relist(5_250, 250), 5_250);
    assert_eq!(next_relist(5_251, 250), 6_250);
    assert_eq!(next_relist(5_999, 1_250), 6_250);
}

#[test]
fn the_first_crash_restarts_at_once_then_the_back_off_doubles() {
    // Exits at .5 s: the relist after the exit is noticed (0.8 s) is at the next whole second,
    // and the restart 0.1 s after it. Then requeues of exactly 10 s: the first sync 10 s or
    // more after the exit, and so on.
    assert_eq!(
        restarts(4_500, 5, &[0]),
        [600, 10_500, 20_500, 40_500, 80_500]
    );
    // Exits just before a relist: that one is too early to see it.
    assert_eq!(restarts(4_800, 1, &[0]), [1_300]);
    // With the largest jitter (15 s requeues), waits stay within the window plus one requeue.
    assert_eq!(restarts(4_500, 4, &[5_000]), [600, 15_500, 30_500, 45_500]);
    // The recordings: about 1 s, then 11–16 s, then 21–31 s, at any fraction of a second.
    for j in [0, 1_234, 2_500, 4_999, 5_000] {
        let w = restarts(4_321, 3, &[j]);
        assert!((400..=1_400).contains(&w[0]), "{w:?}");
        assert!((10_400..=16_400).contains(&w[1]), "{w:?}");
        assert!((20_400..=31_400).contains(&w[2]), "{w:?}");
    }
}

#[test]
fn only_a_restart_that_waited_out_a_back_off_says_so() {
    let (_, b, waited) = restart_at(Backoff::default(), 4_000, 0, || 10_000);
    assert!(!waited);
    let (_, _, waited) = restart_at(b, 9_000, 0, || 10_000);
    assert!(waited);
}

#[test]
fn back_off_is_capped_at_five_minutes_and_forgotten_after_ten() {
    let w = restarts(4_000, 12, &[0]);
    let last = *w.last().unwrap();
    assert!((300_000..=311_000).contains(&last), "{w:?}");
    // A container that ran more than 2 × 300 s since the back-off was last raised starts over.
    let b = Backoff {
        window: 300_000,
        updated: 1_000_000,
    };
    let (at, nb, _) = restart_at(b, 1_000_000 + 601_000, 0, || 10_000);
    assert_eq!(at, 1_602_100);
    assert_eq!(nb.window, 10_000);
    let (at, _, _) = restart_at(b, 1_000_000 + 599_000, 0, || 10_000);
    assert!(at >= 1_599_000 + 300_000);
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
