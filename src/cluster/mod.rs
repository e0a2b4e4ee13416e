//! Cluster implementations behind the engine's [`crate::engine::Cluster`] seam. `kube` talks to
//! a real API server; the simulator lives in `crate::sim`.

pub mod kube;

pub use self::kube::{ConnectOptions, KubeCluster};
