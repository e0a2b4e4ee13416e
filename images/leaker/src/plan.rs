//! Pure decisions: where the leak should be at a given time, and what to map or unmap next to get
//! there. No clock and no memory here; the loop in `run.rs` passes elapsed time and what it holds.

use std::time::Duration;

use oomsday_core::{LeakCurve, Pattern};

/// The smallest unit the leaker maps and touches. 4 KiB is the smallest page size of every Linux
/// architecture we target; on larger pages touching every 4 KiB still touches every page.
pub const PAGE: u64 = 4096;

/// Where the leak is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Following the curve upwards (or along a sawtooth/step).
    Leaking,
    /// At `max`: holding, until the deadline.
    Holding,
    /// Past the deadline: everything is freed and stays freed.
    Expired,
}

impl Phase {
    /// The name used in JSON lines and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Leaking => "leaking",
            Phase::Holding => "holding",
            Phase::Expired => "expired",
        }
    }

    /// All phases, for metrics that list each one.
    pub const ALL: [Phase; 3] = [Phase::Leaking, Phase::Holding, Phase::Expired];
}

/// The curve and the deadline, resolved to time since the leaker started.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub curve: LeakCurve,
    /// Time after start at which everything is freed (zero: already expired at start).
    pub expires_after: Duration,
}

impl Schedule {
    /// The phase and the bytes the leaker should hold `elapsed` after it started.
    pub fn at(&self, elapsed: Duration) -> (Phase, u64) {
        if elapsed >= self.expires_after {
            return (Phase::Expired, 0);
        }
        let target = self.curve.bytes_at(elapsed);
        let at_max = self.curve.max.is_some_and(|m| target >= m.bytes());
        (
            if at_max {
                Phase::Holding
            } else {
                Phase::Leaking
            },
            target,
        )
    }
}

/// How long the loop may sleep in `phase`: short while the target moves, so fast rates and
/// sawtooth drops are followed within a tick; long once nothing can change before the deadline
/// (holding a monotone curve at max, or expired), so a held leak costs almost no CPU. Both are
/// well under the one second allowed to answer SIGTERM.
pub fn tick(phase: Phase, curve: &LeakCurve) -> Duration {
    match (phase, curve.pattern) {
        (Phase::Leaking, _) | (Phase::Holding, Pattern::Sawtooth { .. }) => {
            Duration::from_millis(10)
        }
        (Phase::Holding | Phase::Expired, _) => Duration::from_millis(100),
    }
}

/// The next thing to do to move what is held towards the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Map and touch a new region of this many bytes (a multiple of [`PAGE`]).
    Grow(u64),
    /// Unmap the most recent region.
    Shrink,
    /// Nothing to do until the target moves.
    Hold,
}

/// What to do next, given the `target`, the bytes `allocated` in `regions` regions, the chunk
/// size and whether the target has `settled` (holding at max).
///
/// Growth is in whole chunks that never overshoot the target, so an unbounded leak tracks its
/// curve from below within one chunk and a bounded one never exceeds `max`. Once the target has
/// settled, one last partial region closes the gap to `max` to the page. Shrinking unmaps whole
/// regions until at or below the target; since growth needs a whole chunk of gap, the two never
/// oscillate.
pub fn next_step(target: u64, allocated: u64, regions: usize, chunk: u64, settled: bool) -> Step {
    if allocated > target && regions > 0 {
        return Step::Shrink;
    }
    let gap = target.saturating_sub(allocated);
    let chunk = (chunk / PAGE * PAGE).max(PAGE);
    if gap >= chunk {
        Step::Grow(chunk)
    } else if settled && gap >= PAGE {
        Step::Grow(gap / PAGE * PAGE)
    } else {
        Step::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oomsday_core::{Duration as Dur, Quantity, Rate, RateUnit};

    const MI: u64 = 1 << 20;

    fn linear(max: Option<u64>) -> Schedule {
        Schedule {
            curve: LeakCurve {
                pattern: Pattern::Linear {
                    rate: Rate::new(Quantity::mib(10), RateUnit::Second),
                },
                start: Quantity::ZERO,
                max: max.map(Quantity::from_bytes),
            },
            expires_after: Duration::from_secs(60),
        }
    }

    /// Runs the planner to a fixed point the way the loop does; returns region sizes.
    fn settle(target: u64, regions: &mut Vec<u64>, chunk: u64, settled: bool) {
        for _ in 0..10_000 {
            let allocated = regions.iter().sum();
            match next_step(target, allocated, regions.len(), chunk, settled) {
                Step::Grow(n) => regions.push(n),
                Step::Shrink => {
                    regions.pop();
                }
                Step::Hold => return,
            }
        }
        panic!("planner did not settle");
    }

    #[test]
    fn phases_follow_curve_and_deadline() {
        let s = linear(Some(100 * MI));
        assert_eq!(s.at(Duration::from_secs(1)), (Phase::Leaking, 10 * MI));
        assert_eq!(s.at(Duration::from_secs(10)), (Phase::Holding, 100 * MI));
        assert_eq!(s.at(Duration::from_secs(59)), (Phase::Holding, 100 * MI));
        assert_eq!(s.at(Duration::from_secs(60)), (Phase::Expired, 0));
        // Unbounded never holds.
        assert_eq!(linear(None).at(Duration::from_secs(30)).0, Phase::Leaking);
        // A leaker restarted after its deadline never leaks.
        let late = Schedule {
            expires_after: Duration::ZERO,
            ..s
        };
        assert_eq!(late.at(Duration::ZERO), (Phase::Expired, 0));
    }

    #[test]
    fn ticks_are_short_only_while_the_target_can_move() {
        let s = linear(Some(100 * MI));
        assert_eq!(tick(Phase::Leaking, &s.curve), Duration::from_millis(10));
        assert_eq!(tick(Phase::Holding, &s.curve), Duration::from_millis(100));
        assert_eq!(tick(Phase::Expired, &s.curve), Duration::from_millis(100));
        let saw = LeakCurve {
            pattern: Pattern::Sawtooth {
                rate: Rate::new(Quantity::mib(1), RateUnit::Second),
                gc_every: Dur::from_secs(9),
            },
            ..s.curve
        };
        assert_eq!(
            tick(Phase::Holding, &saw),
            Duration::from_millis(10),
            "a capped sawtooth still drops"
        );
    }

    #[test]
    fn grows_in_whole_chunks_below_the_target() {
        let mut r = Vec::new();
        settle(10 * MI + 5000, &mut r, MI, false);
        assert_eq!(r, vec![MI; 10]);
        settle(10 * MI + MI / 2, &mut r, MI, false);
        assert_eq!(r.len(), 10, "half a chunk of gap waits for the next tick");
    }

    #[test]
    fn closes_the_gap_to_max_once_settled() {
        let mut r = Vec::new();
        let max = 10 * MI + 3 * PAGE + 17;
        settle(max, &mut r, MI, true);
        assert_eq!(r.iter().sum::<u64>(), 10 * MI + 3 * PAGE);
        assert_eq!(r.last(), Some(&(3 * PAGE)));
    }

    #[test]
    fn shrinks_to_at_or_below_the_target_without_oscillating() {
        let mut r = vec![MI; 50];
        settle(20 * MI + 1, &mut r, MI, false);
        assert_eq!(r.iter().sum::<u64>(), 20 * MI);
        settle(0, &mut r, MI, false);
        assert!(r.is_empty());
        assert_eq!(next_step(0, 0, 0, MI, false), Step::Hold);
    }

    #[test]
    fn odd_chunks_are_rounded_to_pages() {
        assert_eq!(next_step(10 * MI, 0, 0, 5000, false), Step::Grow(PAGE));
        assert_eq!(next_step(10 * MI, 0, 0, 100, false), Step::Grow(PAGE));
    }

    #[test]
    fn tracks_a_sawtooth_through_its_drop() {
        let s = Schedule {
            curve: LeakCurve {
                pattern: Pattern::Sawtooth {
                    rate: Rate::new(Quantity::mib(10), RateUnit::Second),
                    gc_every: Dur::from_secs(2),
                },
                start: Quantity::mib(4),
                max: None,
            },
            expires_after: Duration::from_secs(60),
        };
        let mut r = Vec::new();
        for ms in (0..5000).step_by(10) {
            let (phase, target) = s.at(Duration::from_millis(ms));
            settle(target, &mut r, MI, phase == Phase::Holding);
            let held: u64 = r.iter().sum();
            assert!(
                held <= target && target - held < MI,
                "at {ms} ms: held {held}, target {target}"
            );
        }
    }
}
