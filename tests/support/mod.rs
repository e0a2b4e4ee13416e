//! Shared by the integration tests: the ground truth of the real recorded runs, and a mock API
//! server that serves the real bed and a recording's objects.
pub mod mock_api;
pub mod truth;
