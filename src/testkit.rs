//! What the unit tests share: one clock. Every test that needs "a moment, plus some seconds"
//! takes it from here, so that times read the same across modules.

use crate::observe::Time;

/// The tests' epoch: 2027-01-15T08:00:00Z.
pub const EPOCH: i64 = 1_800_000_000;

/// The tests' epoch plus `s` seconds.
pub fn t(s: i64) -> Time {
    Time::from_second(EPOCH + s).expect("in range")
}

/// A timestamp written as the API writes them ("2026-11-24T13:30:00Z").
pub fn ts(s: &str) -> Time {
    s.parse().expect("an RFC 3339 timestamp")
}
