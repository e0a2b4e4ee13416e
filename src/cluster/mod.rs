//! Cluster implementations behind the engine's [`crate::engine::Cluster`] seam: `kube` talks to
//! a real API server, `replay` plays a recorded run back; the simulator lives in `crate::sim`.

pub mod kube;
pub mod replay;

pub use self::kube::{ConnectOptions, KubeCluster};
pub use self::replay::ReplayCluster;
