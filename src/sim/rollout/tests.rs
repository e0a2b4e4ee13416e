use super::*;
use oomsday_core::Percent;

fn pct(p: u8) -> CountOrPercent {
    CountOrPercent::Percent(Percent::new(p).unwrap())
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    // The recordings' Deployment: 3 replicas, 25%/25% → surge 1, unavailable 0.
    assert_eq!(fenceposts(3, pct(25), pct(25)), (1, 0));
    assert_eq!(fenceposts(20, pct(25), pct(25)), (5, 5));
    assert_eq!(
        fenceposts(4, CountOrPercent::Count(0), CountOrPercent::Count(0)),
        (0, 1)
    );
}

#[test]
fn the_new_replica_set_grows_within_the_surge() {
    // 3 replicas, surge 1: from 3 old pods the new RS may take one, then none until an old goes.
    assert_eq!(new_rs_replicas(3, 1, 0, 3), 1);
    assert_eq!(new_rs_replicas(3, 1, 1, 4), 1);
    assert_eq!(new_rs_replicas(3, 1, 1, 3), 2);
    assert_eq!(new_rs_replicas(3, 1, 3, 3), 3);
}

#[test]
fn old_pods_go_only_as_new_ones_become_available() {
    let rs = |replicas, available| RsCount {
        replicas,
        available,
    };
    // Surge pod not ready yet: nothing may go (maxUnavailable 0).
    assert_eq!(scale_down_old(3, 0, rs(1, 0), &[rs(3, 3)]), [0]);
    // Surge pod ready: one old pod goes.
    assert_eq!(scale_down_old(3, 0, rs(1, 1), &[rs(3, 3)]), [1]);
    // Old pods crash-looping (the reverted `contained` run): with the new pod not ready, none
    // goes, unhealthy or not; once it is ready, one does.
    assert_eq!(scale_down_old(3, 0, rs(1, 0), &[rs(3, 0)]), [0]);
    assert_eq!(scale_down_old(3, 0, rs(1, 1), &[rs(3, 0)]), [1]);
    // With room to be unavailable: nothing while the new pods are not available; then the 2
    // unhealthy old pods first, and available ones down to minAvailable (8 of 13 stay).
    assert_eq!(scale_down_old(10, 2, rs(3, 0), &[rs(8, 6)]), [0]);
    assert_eq!(scale_down_old(10, 2, rs(5, 5), &[rs(8, 6)]), [5]);
    // Oldest ReplicaSet first.
    assert_eq!(
        scale_down_old(4, 1, rs(1, 1), &[rs(2, 2), rs(2, 2)]),
        [2, 0]
    );
}
