//! Shared by the integration tests: the ground truth of the real recorded runs.
pub mod truth;
