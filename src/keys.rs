//! Every `oomsday.dev/…` key oomsday writes on or reads from Kubernetes objects, and the leaker's
//! container names: the vocabulary the injector, the classifier, the cluster, the controller,
//! the audit and the simulator share, so that none of them imports another for a name.

/// Label and annotation carrying the run id, on the workload and its pod template. `cleanup`
/// finds leftovers by this label.
pub const RUN_ID: &str = "oomsday.dev/run-id";
/// Annotation with the RFC 3339 time the leaker stops by itself.
pub const DEADLINE: &str = "oomsday.dev/deadline";
/// The experiment's name: an annotation on the leaked workload, and a label on LeakRuns (when
/// it fits in a label value).
pub const EXPERIMENT: &str = "oomsday.dev/experiment";

/// Annotation on a LeakExperiment: start a run now (any value). Removed when acted on.
pub const RUN_NOW_ANNOTATION: &str = "oomsday.dev/run-now";
/// Annotation on a LeakRun: stop it (revert) now. The value is shown as the detail.
pub const ABORT_ANNOTATION: &str = "oomsday.dev/abort";
/// Namespace label that allows experiments to target it.
pub const ALLOW_LABEL: &str = "oomsday.dev/allow";
/// The LeakRun finalizer: on a run only while its injection may be live.
pub const RUN_FINALIZER: &str = "oomsday.dev/revert";
/// The finalizer older versions put on every LeakExperiment. No longer used: owner references
/// (the runs are garbage-collected) and the runs' own finalizers cover a deletion. Removed from
/// the experiments that still carry it.
pub const LEGACY_EXPERIMENT_FINALIZER: &str = "oomsday.dev/abort-runs";

/// Label or annotation (`"true"`) that marks a workload as critical: the audit then asks for
/// Guaranteed QoS and a priority class.
pub const CRITICAL_MARK: &str = "oomsday.dev/critical";

/// Pod-template annotation telling the simulator a container's steady working set: on its own
/// for every container, or suffixed `.<container>` for one.
pub const SIM_WORKING_SET_ANNOTATION: &str = "sim.oomsday.dev/working-set";

/// Name of the sidecar leaker container. Ephemeral leakers get this name plus a run suffix
/// ([`ephemeral_leaker`]).
pub const LEAKER_CONTAINER: &str = "oomsday-leaker";

/// The name of an ephemeral leaker: [`LEAKER_CONTAINER`], a dash and eight hex digits of
/// `suffix` (an ephemeral container can never be removed, so every run needs a new name).
pub fn ephemeral_leaker(suffix: u32) -> String {
    format!("{LEAKER_CONTAINER}-{suffix:08x}")
}

/// Whether a container name is an oomsday leaker (sidecar or ephemeral).
pub fn is_leaker(container: &str) -> bool {
    container == LEAKER_CONTAINER
        || container
            .strip_prefix(LEAKER_CONTAINER)
            .is_some_and(|rest| rest.starts_with('-'))
}

#[cfg(test)]
mod tests;
