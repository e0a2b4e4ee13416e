//! oomsday's test kit (dev-only): the one fake Kubernetes API server the tests and benches
//! share ([`ApiServer`]: a store of plain JSON objects with selectors, paging, resourceVersions,
//! watches with bookmarks and `sendInitialEvents`, request counting, scripted answers; in
//! process or over HTTP), the free-port helper, the kubeconfig it writes, and the one way to
//! launch the `oomsday` binary ([`Oomsday`]); and the benches' reading of their own memory
//! ([`proc_status`]); Debian's Prometheus binaries and `promtool check metrics` ([`prometheus`]).
//!
//! The controller's call-by-call tests keep their ordered-call verifier (`src/controller/tests`):
//! they assert each request in order, which a stateful server does not.

pub mod admission;
mod launch;
mod lifecycle;
pub mod proc_status;
pub mod prometheus;
pub mod query;
mod serve;
mod server;
mod store;

pub use launch::{Oomsday, Output, measured_binary};
pub use lifecycle::{json_patch, status};
pub use serve::{Listening, free_port, kubeconfig, write_kubeconfig};
pub use server::{Answer, ApiServer, CallKey, CallSummary, Reply, Seen};
pub use store::Gvr;
