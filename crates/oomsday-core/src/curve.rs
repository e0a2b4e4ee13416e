//! The leak curve: how many bytes a leak holds at a given time after it started.
//!
//! One definition for the leaker (which allocates along it), the simulator (which charges it to
//! a container) and validation (which tells when the leak reaches a limit). Pure: time is passed
//! in, never read.

use std::fmt;
use std::time::Duration as StdDuration;

use crate::units::{Duration, Quantity, Rate};

/// The shape of the growth, with the parameters that shape needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// Grows by `rate`, like a cache that is never evicted.
    Linear { rate: Rate },
    /// Doubles every `doubling`, like a retry storm that keeps every request.
    Exponential { doubling: Duration },
    /// Jumps by `step` every `every`, like a batch that loads and never frees.
    Step { step: Quantity, every: Duration },
    /// Grows by `rate` and drops back to `start` every `gc_every`, like a cache that is flushed.
    Sawtooth { rate: Rate, gc_every: Duration },
}

impl Pattern {
    pub const fn name(&self) -> &'static str {
        match self {
            Pattern::Linear { .. } => "linear",
            Pattern::Exponential { .. } => "exponential",
            Pattern::Step { .. } => "step",
            Pattern::Sawtooth { .. } => "sawtooth",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Linear { rate } => write!(f, "linear at {rate}"),
            Pattern::Exponential { doubling } => {
                write!(f, "exponential, doubling every {doubling}")
            }
            Pattern::Step { step, every } => write!(f, "step of {step} every {every}"),
            Pattern::Sawtooth { rate, gc_every } => {
                write!(f, "sawtooth at {rate}, collected every {gc_every}")
            }
        }
    }
}

/// A leak: its pattern, what it allocates at once, and where it stops growing (`None`: unbounded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakCurve {
    pub pattern: Pattern,
    pub start: Quantity,
    pub max: Option<Quantity>,
}

impl LeakCurve {
    /// Bytes held `elapsed` after the leak started.
    pub fn bytes_at(&self, elapsed: StdDuration) -> u64 {
        let start = self.start.bytes() as f64;
        let t = elapsed.as_secs_f64();
        let raw = match self.pattern {
            Pattern::Linear { rate } => start + rate.bytes_per_second() * t,
            Pattern::Exponential { doubling } => {
                let d = doubling.std().as_secs_f64();
                if d <= 0.0 {
                    f64::INFINITY
                } else {
                    start * (t / d).exp2()
                }
            }
            Pattern::Step { step, every } => {
                let e = every.std().as_secs_f64();
                let steps = if e <= 0.0 { 0.0 } else { (t / e).floor() };
                start + step.bytes() as f64 * steps
            }
            Pattern::Sawtooth { rate, gc_every } => {
                let g = gc_every.std().as_secs_f64();
                let phase = if g <= 0.0 { t } else { t % g };
                start + rate.bytes_per_second() * phase
            }
        };
        let capped = match self.max {
            Some(max) => raw.min(max.bytes() as f64),
            None => raw,
        };
        if capped.is_finite() && capped < u64::MAX as f64 {
            capped as u64
        } else {
            u64::MAX
        }
    }

    /// The first time the leak holds at least `bytes`, or `None` if it never does.
    pub fn time_to_reach(&self, bytes: u64) -> Option<StdDuration> {
        let start = self.start.bytes();
        if bytes <= start {
            return Some(StdDuration::ZERO);
        }
        if self.max.is_some_and(|m| bytes > m.bytes()) {
            return None;
        }
        let need = (bytes - start) as f64;
        let secs = match self.pattern {
            Pattern::Linear { rate } => positive(rate.bytes_per_second()).map(|r| need / r)?,
            Pattern::Exponential { doubling } => {
                if start == 0 {
                    return None;
                }
                doubling.std().as_secs_f64() * (bytes as f64 / start as f64).log2()
            }
            Pattern::Step { step, every } => {
                let s = positive(step.bytes() as f64)?;
                (need / s).ceil() * every.std().as_secs_f64()
            }
            Pattern::Sawtooth { rate, gc_every } => {
                let r = positive(rate.bytes_per_second())?;
                let secs = need / r;
                // Collected before it gets there: the peak of each cycle stays below `bytes`.
                if secs >= gc_every.std().as_secs_f64() {
                    return None;
                }
                secs
            }
        };
        // Round up to the nanosecond so that bytes_at(time_to_reach(b)) >= b.
        let d = StdDuration::try_from_secs_f64(secs).ok()?;
        Some(d + StdDuration::from_nanos(1))
    }

    /// The most the leak ever holds, or `None` when unbounded.
    pub fn peak(&self) -> Option<u64> {
        match (self.pattern, self.max) {
            (_, Some(max)) => Some(max.bytes()),
            (Pattern::Sawtooth { rate, gc_every }, None) => Some(
                self.start.bytes()
                    + (rate.bytes_per_second() * gc_every.std().as_secs_f64()) as u64,
            ),
            _ => None,
        }
    }
}

fn positive(x: f64) -> Option<f64> {
    (x > 0.0).then_some(x)
}

#[cfg(test)]
mod tests {
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
}
