//! The experiment spec: types, loading from YAML with positions, validation, and the schemas
//! generated from the types (CRDs, the editor JSON Schema).

pub mod api_rules;
mod de;
mod load;
mod recover;
pub mod schema;
mod types;
pub mod validate;
pub mod yaml;

pub use load::{
    Checked, Diagnostic, SourcedExperiment, check_files, check_source, collect_files,
    load_experiments,
};
pub use types::*;
pub use validate::{Severity, parse_blackout, parse_cron};
