//! The node-side decisions, as pure functions: which pod the kubelet evicts under memory
//! pressure, which container the kernel OOM killer picks, when a crashed container is restarted,
//! whether the kubelet admits a pod, and when its periodic loops next run.

use std::cmp::Ordering;

use super::model::QosClass;

#[cfg(test)]
mod tests;

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

/// The kubelet's restart back-off for one container: client-go's `flowcontrol.Backoff` as the
/// kubelet configures it (`NewBackOff(10s, MaxContainerBackOff = 300s)`, no jitter). `window` is
/// the current back-off in ms (0: no entry yet), `updated` the instant (ms) it was last raised.
/// <https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Backoff {
    pub window: u64,
    pub updated: u64,
}

const BACKOFF_INITIAL_MS: u64 = 10_000;
const BACKOFF_MAX_MS: u64 = 300_000;

/// The pod lifecycle event generator relists the runtime every second (`plegRelistPeriod`), on
/// the node's own phase (`phase`, ms within the second): the first relist at or after `ms`.
pub(crate) fn next_relist(ms: u64, phase: u64) -> u64 {
    let rem = (ms + 1000 - phase % 1000) % 1000;
    if rem == 0 { ms } else { ms + 1000 - rem }
}

/// How long after a container's exit the runtime reports it to a relist, and how long the sync
/// that follows takes to have the new container running: measured on the bed (the
/// oom-or-evict campaign's first restarts came 0.38–1.53 s after the kill, on each node's
/// one-second grid), 0.3 s and 0.1 s put every one of them on the right relist.
const EXIT_NOTICED_MS: u64 = 300;
const RESTART_MS: u64 = 100;

/// When the kubelet sees a container that exited at `finished` (ms) gone: at the first relist
/// after the runtime reports the exit. Until then the pod's status still says it is running.
pub(crate) fn exit_seen(finished: u64, relist_phase: u64) -> u64 {
    next_relist(finished + EXIT_NOTICED_MS, relist_phase)
}

/// The pod worker's delay before it syncs a pod again after a sync failed (the container is in
/// back-off): `wait.Jitter(backOffPeriod = 10s, workerBackOffPeriodJitterFactor = 0.5)`, 10–15 s
/// (pkg/kubelet/pod_workers.go). `r` in 0..=5000 (ms) comes from the simulator's seeded RNG.
pub(crate) fn pod_worker_requeue(r: u64) -> u64 {
    10_000 + r.min(5_000)
}

/// When the kubelet has restarted a container that exited at `finished` (ms), the back-off
/// after, and whether the restart waited out a back-off (CrashLoopBackOff).
///
/// The exit is noticed by the next PLEG relist (`relist_phase`: the node's), which syncs the
/// pod. A sync restarts the container unless it is still within the back-off window counted
/// from the exit (`IsInBackOffSince(finished)`); if it is, the sync fails with CrashLoopBackOff
/// and the pod worker tries again after [`pod_worker_requeue`]. The restart raises the back-off:
/// 10 s the first time, then doubling to 300 s; an entry last raised more than 2 × 300 s before
/// the exit is forgotten, so a container that ran 10 minutes starts over at 10 s.
///
/// So the first crash restarts at once (on the relist grid, 0.4–1.4 s), the second after
/// 10–15 s, the third after 20–30 s: the recordings' "about 1 s, then 14 s, then 23 s".
pub(crate) fn restart_at(
    b: Backoff,
    finished: u64,
    relist_phase: u64,
    mut requeue: impl FnMut() -> u64,
) -> (u64, Backoff, bool) {
    let expired = b.window == 0 || finished.saturating_sub(b.updated) > 2 * BACKOFF_MAX_MS;
    let window = if expired { 0 } else { b.window };
    let mut sync = exit_seen(finished, relist_phase);
    let mut waited = false;
    while sync - finished < window {
        sync += requeue();
        waited = true;
    }
    let next = if expired {
        BACKOFF_INITIAL_MS
    } else {
        (b.window * 2).min(BACKOFF_MAX_MS)
    };
    (
        sync + RESTART_MS,
        Backoff {
            window: next,
            updated: sync,
        },
        waited,
    )
}

/// From an eviction manager's synchronize to its "Evicting pod": the ranking before the kill,
/// 15–51 ms (median 25) over 102 evictions on the bed.
pub(crate) const SYNC_TO_KILL_MS: u64 = 25;

/// How long the eviction manager's kill of a pod takes: `evictPod` blocks in `killPodNow`
/// until the pod worker has killed the containers and set the pod's terminal status (with its
/// `DisruptionTarget` condition, whose time is this instant's second). Deciles of 102 evictions
/// on the bed, "Evicting pod" to "pod is evicted successfully"
/// (`campaign-spill-random/*/kubelet-eviction.log`): 0.28–1.39 s, median 0.40 s.
const EVICTION_KILL_DECILES_MS: [u64; 11] =
    [276, 321, 348, 371, 394, 402, 422, 465, 515, 616, 1393];

/// The kill's duration at quantile `permille` (0–1000) of the recorded ones, linear between
/// their deciles.
pub(crate) fn eviction_kill_ms(permille: u64) -> u64 {
    let p = permille.min(1000);
    let i = (p / 100) as usize;
    let lo = EVICTION_KILL_DECILES_MS[i];
    let hi = EVICTION_KILL_DECILES_MS[(i + 1).min(10)];
    lo + (hi - lo) * (p % 100) / 100
}

/// Whether the kubelet admits a pod while its eviction manager sees MemoryPressure: every pod
/// but a BestEffort one (which is rejected, "The node had condition: [MemoryPressure]. ") —
/// eviction manager `Admit`. Critical pods and tolerations are not modelled.
/// <https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-conditions>
pub(crate) fn admits_under_memory_pressure(qos: QosClass) -> bool {
    qos != QosClass::BestEffort
}

/// The first tick of a loop with period `period` and offset `phase` strictly after `t`: ticks
/// are the seconds `s` with `(s + phase) % period == 0`.
pub(crate) fn next_tick(t: u64, phase: u64, period: u64) -> u64 {
    let period = period.max(1);
    let next = t + 1;
    let rem = (next + phase) % period;
    if rem == 0 { next } else { next + period - rem }
}
