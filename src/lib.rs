//! oomsday rehearses the memory leak that takes a Kubernetes cluster down, before it happens for
//! real. See DESIGN.md in the repository for the architecture; data flows one way:
//! spec → inject → cluster → observe → engine → score → report.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod engine;
pub mod observe;
pub mod spec;

pub use oomsday_core as core;

/// Everything that can go wrong in the library. The CLI adds context at its edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
