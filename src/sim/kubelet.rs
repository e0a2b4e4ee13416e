//! The node-side decisions, as pure functions: which pod the kubelet evicts under memory
//! pressure, which container the kernel OOM killer picks, and the container restart back-off.

use std::cmp::Ordering;

/// What the kubelet's eviction manager knows about one pod when it ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvictionCandidate {
    pub usage: u64,
    pub request: u64,
    pub priority: i32,
    /// Stable tie-breaker (creation order).
    pub order: u64,
}

/// The kubelet's memory eviction order: pods whose usage exceeds their requests first, then
/// lower priority first, then by how far usage exceeds requests (largest first).
/// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#pod-selection-for-kubelet-eviction>
pub(crate) fn eviction_order(a: &EvictionCandidate, b: &EvictionCandidate) -> Ordering {
    let over = |c: &EvictionCandidate| c.usage > c.request;
    let excess = |c: &EvictionCandidate| c.usage as i128 - c.request as i128;
    over(b)
        .cmp(&over(a))
        .then(a.priority.cmp(&b.priority))
        .then(excess(b).cmp(&excess(a)))
        .then(a.order.cmp(&b.order))
}

/// The kernel OOM killer's badness: memory use in thousandths of the node's memory plus
/// `oom_score_adj`; the highest score is killed.
/// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-out-of-memory-behavior>
pub(crate) fn oom_badness(usage: u64, capacity: u64, oom_score_adj: i64) -> i64 {
    let permille = (u128::from(usage) * 1000 / u128::from(capacity.max(1))) as i64;
    permille + oom_score_adj
}

/// Back-off before the next restart of a container that exited: 10 s, doubling, capped at
/// 5 minutes, reset after 10 minutes of running without trouble.
/// <https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts>
pub(crate) fn next_backoff(previous: u64, ran_for: u64) -> u64 {
    const INITIAL: u64 = 10;
    const CAP: u64 = 300;
    const RESET_AFTER: u64 = 600;
    if previous == 0 || ran_for >= RESET_AFTER {
        INITIAL
    } else {
        (previous * 2).min(CAP)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn backoff_doubles_to_five_minutes_and_resets() {
        let mut b = 0;
        let mut seen = Vec::new();
        for _ in 0..8 {
            b = next_backoff(b, 5);
            seen.push(b);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(next_backoff(300, 600), 10);
    }
}
