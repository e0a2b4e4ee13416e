//! The experiment spec: types, loading from YAML with positions, validation.

mod types;

pub use types::*;
