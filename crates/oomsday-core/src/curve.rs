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
mod tests;
