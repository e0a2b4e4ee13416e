//! The experiment spec: types, loading from YAML with positions, validation.

mod load;
mod types;

pub use load::{Diagnostic, Severity, SourcedExperiment, load_experiments};
pub use types::*;
