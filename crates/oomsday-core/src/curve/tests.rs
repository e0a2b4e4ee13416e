use super::*;
use crate::units::RateUnit;

const MI: u64 = 1 << 20;

fn secs(s: u64) -> StdDuration {
    StdDuration::from_secs(s)
}

fn linear(rate_mi_per_s: u64, start_mi: u64, max_mi: Option<u64>) -> LeakCurve {
    LeakCurve {
        pattern: Pattern::Linear {
            rate: Rate::new(Quantity::mib(rate_mi_per_s), RateUnit::Second),
        },
        start: Quantity::mib(start_mi),
        max: max_mi.map(Quantity::mib),
    }
}

#[test]
fn linear_grows_and_holds_at_max() {
    let c = linear(16, 64, Some(256));
    assert_eq!(c.bytes_at(secs(0)), 64 * MI);
    assert_eq!(c.bytes_at(secs(2)), 96 * MI);
    assert_eq!(c.bytes_at(secs(12)), 256 * MI);
    assert_eq!(c.bytes_at(secs(3600)), 256 * MI);
    assert_eq!(
        c.time_to_reach(128 * MI),
        Some(secs(4) + StdDuration::from_nanos(1))
    );
    assert_eq!(c.time_to_reach(512 * MI), None);
    assert_eq!(c.peak(), Some(256 * MI));
}

#[test]
fn exponential_doubles() {
    let c = LeakCurve {
        pattern: Pattern::Exponential {
            doubling: Duration::from_secs(60),
        },
        start: Quantity::mib(100),
        max: None,
    };
    assert_eq!(c.bytes_at(secs(60)), 200 * MI);
    assert_eq!(c.bytes_at(secs(180)), 800 * MI);
    let t = c.time_to_reach(400 * MI).unwrap();
    assert!((t.as_secs_f64() - 120.0).abs() < 1e-6);
    assert_eq!(c.peak(), None);
}

#[test]
fn step_jumps_at_each_interval() {
    let c = LeakCurve {
        pattern: Pattern::Step {
            step: Quantity::mib(50),
            every: Duration::from_secs(30),
        },
        start: Quantity::ZERO,
        max: Some(Quantity::mib(120)),
    };
    assert_eq!(c.bytes_at(secs(29)), 0);
    assert_eq!(c.bytes_at(secs(30)), 50 * MI);
    assert_eq!(c.bytes_at(secs(61)), 100 * MI);
    assert_eq!(c.bytes_at(secs(90)), 120 * MI);
    assert_eq!(c.time_to_reach(60 * MI).map(|d| d.as_secs()), Some(60));
}

#[test]
fn sawtooth_drops_back_to_start() {
    let c = LeakCurve {
        pattern: Pattern::Sawtooth {
            rate: Rate::new(Quantity::mib(10), RateUnit::Second),
            gc_every: Duration::from_secs(10),
        },
        start: Quantity::mib(20),
        max: None,
    };
    assert_eq!(c.bytes_at(secs(5)), 70 * MI);
    assert_eq!(c.bytes_at(secs(10)), 20 * MI);
    assert_eq!(c.bytes_at(secs(15)), 70 * MI);
    assert_eq!(c.peak(), Some(120 * MI));
    assert!(c.time_to_reach(50 * MI).is_some());
    assert_eq!(c.time_to_reach(200 * MI), None);
}

proptest::proptest! {
    #[test]
    fn reaching_time_is_consistent(rate in 1u64..1000, start in 0u64..1000, target in 0u64..100_000) {
        let c = linear(rate, start, None);
        let t = c.time_to_reach(target * MI).unwrap();
        proptest::prop_assert!(c.bytes_at(t) >= target * MI);
    }

    #[test]
    fn never_exceeds_max(rate in 1u64..10_000, t in 0u64..1_000_000, max in 1u64..10_000) {
        let c = linear(rate, 0, Some(max));
        proptest::prop_assert!(c.bytes_at(secs(t)) <= max * MI);
    }
}
