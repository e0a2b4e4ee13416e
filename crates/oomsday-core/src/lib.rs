//! Shared by every part of oomsday, including the leaker image: units in Kubernetes notation and
//! the leak curve. Kept free of Kubernetes and async dependencies so the leaker stays a small
//! static binary.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod curve;
pub mod leaker_config;
pub mod units;

pub use curve::{LeakCurve, Pattern};
pub use units::{
    CountOrPercent, Duration, Percent, Quantity, Rate, RateUnit, UnitError, human_bytes,
};
