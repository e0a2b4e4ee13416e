//! The Deployment controller's rolling update, as pure arithmetic on ReplicaSet counts
//! (pkg/controller/deployment/rolling.go and util/deployment_util.go):
//!
//! - `maxSurge` rounds up and `maxUnavailable` down; both zero means one unavailable
//!   (`ResolveFenceposts`);
//! - the new ReplicaSet grows while all ReplicaSets together stay within replicas + maxSurge
//!   (`NewRSNewReplicas`);
//! - old ReplicaSets shrink by at most `allPods − minAvailable − newRSUnavailable`, their
//!   unavailable pods first (`cleanupUnhealthyReplicas`), then available ones only while the
//!   available pods of all ReplicaSets stay above `minAvailable`
//!   (`scaleDownOldReplicaSetsForRollingUpdate`), oldest ReplicaSet first.
//!
//! <https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment>

use oomsday_core::CountOrPercent;

#[cfg(test)]
mod tests;

/// A ReplicaSet as the Deployment controller counts it: `spec.replicas` and
/// `status.availableReplicas` (ready pods; `minReadySeconds` is not modelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RsCount {
    pub replicas: u32,
    pub available: u32,
}

/// `(maxSurge, maxUnavailable)` of `replicas`.
pub(crate) fn fenceposts(
    replicas: u32,
    surge: CountOrPercent,
    unavailable: CountOrPercent,
) -> (u32, u32) {
    let surge = surge.of(replicas);
    let unavailable = match unavailable {
        CountOrPercent::Count(n) => n,
        CountOrPercent::Percent(p) => (u64::from(replicas) * u64::from(p.get()) / 100) as u32,
    };
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The new ReplicaSet's replicas: grown by what the surge allows, never past `replicas`.
pub(crate) fn new_rs_replicas(replicas: u32, max_surge: u32, new: u32, all: u32) -> u32 {
    let max_total = replicas + max_surge;
    if all >= max_total {
        return new;
    }
    new + (max_total - all).min(replicas.saturating_sub(new))
}

/// How many replicas to take off each old ReplicaSet (same order as `olds`, oldest first).
pub(crate) fn scale_down_old(
    replicas: u32,
    max_unavailable: u32,
    new: RsCount,
    olds: &[RsCount],
) -> Vec<u32> {
    let mut down = vec![0u32; olds.len()];
    let all: i64 =
        i64::from(new.replicas) + olds.iter().map(|o| i64::from(o.replicas)).sum::<i64>();
    let min_available = i64::from(replicas.saturating_sub(max_unavailable));
    let new_unavailable = i64::from(new.replicas.saturating_sub(new.available));
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return down;
    }
    // Unavailable pods of old ReplicaSets first: removing them cannot lower availability.
    let mut cleaned = 0i64;
    for (i, o) in olds.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = i64::from(o.replicas.saturating_sub(o.available));
        let n = unhealthy.min(max_scaled_down - cleaned);
        down[i] += n as u32;
        cleaned += n;
    }
    // Then available ones, while the available pods of all ReplicaSets stay above minAvailable.
    let available: i64 =
        i64::from(new.available) + olds.iter().map(|o| i64::from(o.available)).sum::<i64>();
    if available <= min_available {
        return down;
    }
    let mut budget = available - min_available;
    for (i, o) in olds.iter().enumerate() {
        if budget == 0 {
            break;
        }
        let left = i64::from(o.replicas - down[i]);
        let n = left.min(budget);
        down[i] += n as u32;
        budget -= n;
    }
    down
}
