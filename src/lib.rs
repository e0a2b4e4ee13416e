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
pub mod metrics_text;
pub mod narrate;
pub mod objects;
pub mod observe;
pub mod predict;
pub mod probe;
pub mod recording;
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
    /// The user's input: flags, files, an experiment, a recording, a report.
    #[error("{0}")]
    Invalid(String),
    /// A cluster model that cannot be built or simulated: a model file, manifests given as a
    /// cluster, or the objects a snapshot read.
    #[error("cluster model: {0}")]
    Model(String),
    /// Something oomsday itself got wrong (a broken invariant, a task that died): a bug.
    #[error("internal error: {0} (a bug in oomsday: please report it)")]
    Internal(String),
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

/// What kind of failure an [`Error`] is: what the exit code says, and what a run's record keeps
/// of the error that ended it before its leak began (`RunRecord::error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The user's input: flags, files, an experiment, a recording, a report.
    Input,
    /// No cluster configured: no kubeconfig, an unreadable one, a context it lacks.
    Kubeconfig,
    /// The API server could not be reached, timed out, or failed (429, 5xx).
    Unreachable,
    /// Authentication failed or RBAC lacks a verb (401, 403).
    Forbidden,
    /// The target or another object oomsday needs does not exist (404).
    NotFound,
    /// Another oomsday run is active on the workload.
    Busy,
    /// Another field manager owns fields oomsday applies.
    Conflict,
    /// Every revert attempt failed: the leaker may still be in place.
    RevertFailed,
}

impl Error {
    /// The kind of this error: an API error by its status code, a connection failure as
    /// unreachable.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // A model is input too, and an internal error has no exit code of its own: both
            // say usage (2) and their message says which.
            Error::Invalid(_)
            | Error::Model(_)
            | Error::Internal(_)
            | Error::Io { .. }
            | Error::Json(_) => ErrorKind::Input,
            Error::Kube(e) => kube_error_kind(e),
            Error::Kubeconfig(_) => ErrorKind::Kubeconfig,
            Error::RevertFailed { .. } => ErrorKind::RevertFailed,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Timeout { .. } => ErrorKind::Unreachable,
            Error::Busy(_) => ErrorKind::Busy,
        }
    }
}

/// The kind of a Kubernetes client error: an API error by its status code (another 4xx is the
/// request's fault: input), anything else (connection, TLS, a body that does not parse) as
/// the API server unreachable.
pub fn kube_error_kind(e: &kube::Error) -> ErrorKind {
    match e {
        kube::Error::Api(s) if matches!(s.code, 401 | 403) => ErrorKind::Forbidden,
        kube::Error::Api(s) if s.code == 404 => ErrorKind::NotFound,
        kube::Error::Api(s) if s.code == 429 || s.code >= 500 => ErrorKind::Unreachable,
        kube::Error::Api(_) => ErrorKind::Input,
        _ => ErrorKind::Unreachable,
    }
}
