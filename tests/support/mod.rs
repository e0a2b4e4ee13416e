//! Shared by the integration tests (and the snapshot bench): the ground truth of the real
//! recorded runs; the mock API behind `kube::Client` that serves the real bed and a recording's
//! objects; the fake API server over real HTTP that the binary and the controller run against;
//! and the one reading of query strings and selectors they (and the scale bench) share.
pub mod apiserver;
pub mod mock_api;
pub mod query;
pub mod truth;
