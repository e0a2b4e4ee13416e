//! oomsday rehearses the memory leak that takes a Kubernetes cluster down, before it happens for
//! real. ARCHITECTURE.md in the repository is the map; data flows one way:
//! spec → inject → cluster → observe → engine → score → report.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod audit;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod defences;
pub mod engine;
pub mod inject;
pub mod keys;
pub mod narrate;
pub mod objects;
pub mod observe;
pub mod predict;
pub mod probe;
pub mod record;
pub mod report;
pub mod retry;
pub mod score;
pub mod sim;
pub mod snapshot;
pub mod spec;
#[cfg(test)]
pub(crate) mod testkit;

pub use oomsday_core as core;

/// Everything that can go wrong in the library. The CLI adds context at its edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// No cluster could be configured: no kubeconfig, an unreadable one, a context it lacks.
    #[error("{0}")]
    Kubeconfig(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The leaker may still be in place: every revert attempt failed. Carries the run's record
    /// so that reports can still be written.
    #[error("{message}; the leaker may still be in place: run `oomsday cleanup -n {namespace}`")]
    RevertFailed {
        message: String,
        namespace: String,
        record: Box<crate::engine::RunRecord>,
    },
    /// The target (or another object oomsday needs) does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: String,
        namespace: String,
        name: String,
    },
    /// The caller lacks permissions; names every missing verb and resource.
    #[error("not allowed to {0}")]
    Forbidden(String),
    /// Server-side apply refused to take fields another field manager owns (oomsday never
    /// forces).
    #[error(
        "{what}: fields oomsday applies are owned by {managers}; oomsday does not force ownership ({message})"
    )]
    Conflict {
        what: String,
        managers: String,
        message: String,
    },
    /// A cluster call or wait took longer than allowed.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    /// Another oomsday run is active on the workload.
    #[error("{0}")]
    Busy(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
