use super::*;

#[test]
fn same_seed_same_sequence_different_seed_different() {
    let a: Vec<u64> = (0..5)
        .scan(Rng::new(7), |r, _| Some(r.next_u64()))
        .collect();
    let b: Vec<u64> = (0..5)
        .scan(Rng::new(7), |r, _| Some(r.next_u64()))
        .collect();
    let c: Vec<u64> = (0..5)
        .scan(Rng::new(8), |r, _| Some(r.next_u64()))
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn ranges_hold() {
    let mut r = Rng::new(1);
    for _ in 0..10_000 {
        assert!(r.below(7) < 7);
        let u = r.signed_unit();
        assert!((-1.0..=1.0).contains(&u));
    }
    assert_eq!(hash_str("checkout"), hash_str("checkout"));
    assert_ne!(hash_str("checkout"), hash_str("checkouu"));
}
