//! The command line: argument parsing and the exit-code contract. Each command lives in its own
//! file with its `Args` and an `exec` that returns the exit code; `main.rs` only wires.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod calibrate;
pub mod cleanup;
pub mod cluster;
pub mod conclude;
pub mod controller;
pub mod crd;
pub mod experiments;
pub mod invocation;
pub mod replay;
pub mod report;
pub mod run;
pub mod simulate;
pub mod snapshot;
pub mod validate;

/// Exit codes a pipeline can act on (documented in `--help` and the README).
pub mod exit {
    /// Passed: every hypothesis clause held (or, for validate/audit, nothing to report).
    pub const OK: u8 = 0;
    /// A hypothesis clause failed, the score was under --min-score, a file is invalid, an
    /// audit finding is at or above --fail-on, or a revert failed (a leaker may be in place).
    pub const FAILED: u8 = 1;
    /// Usage error or invalid input (bad flags, unreadable or invalid experiment).
    pub const USAGE: u8 = 2;
    /// The run was aborted (abort rule, signal, annotation) and reverted.
    pub const ABORTED: u8 = 3;
    /// Inconclusive: the leaker never ran (also when another run holds the target or another
    /// field manager owns its fields), or the cluster could not be observed.
    pub const INCONCLUSIVE: u8 = 4;
    /// No cluster could be reached: no kubeconfig, connection refused, TLS, timeouts, the API
    /// server failing (5xx) — also when a run finds it so at preflight.
    pub const CLUSTER: u8 = 5;
    /// The cluster refused: authentication failed or RBAC lacks a verb (401, 403).
    pub const FORBIDDEN: u8 = 6;
    /// Something needed does not exist: the CRDs are not installed, the lease namespace or a
    /// named object is missing.
    pub const NOT_FOUND: u8 = 7;

    use crate::ErrorKind;
    use crate::controller::startup::SetupError;
    use crate::engine::Outcome;

    /// The exit code of a run's outcome: 0 passed, 1 failed or below the minimum score (or a
    /// failed revert, with its error on stderr), 3 aborted, 4 inconclusive.
    pub const fn of(outcome: Outcome) -> u8 {
        match outcome {
            Outcome::Passed => OK,
            Outcome::BelowMinScore | Outcome::HypothesisFailed | Outcome::RevertFailed => FAILED,
            Outcome::Aborted => ABORTED,
            Outcome::Inconclusive => INCONCLUSIVE,
        }
    }

    /// The exit code of a kind of error.
    pub const fn for_kind(kind: ErrorKind) -> u8 {
        match kind {
            ErrorKind::Input => USAGE,
            ErrorKind::Kubeconfig | ErrorKind::Unreachable => CLUSTER,
            ErrorKind::Forbidden => FORBIDDEN,
            ErrorKind::NotFound => NOT_FOUND,
            // The leaker never ran: another run holds the workload, or another field manager
            // its fields.
            ErrorKind::Busy | ErrorKind::Conflict => INCONCLUSIVE,
            ErrorKind::RevertFailed => FAILED,
        }
    }

    /// The exit code of a finished run: its outcome's, except a run that ended before its
    /// leak began because the cluster could not be reached, refused, or lacked the target —
    /// then the code that says so (5, 6, 7), as when the command itself fails that way.
    pub fn of_run(outcome: Outcome, error: Option<ErrorKind>) -> u8 {
        match error.map(for_kind) {
            Some(code @ (CLUSTER | FORBIDDEN | NOT_FOUND)) if outcome == Outcome::Inconclusive => {
                code
            }
            _ => of(outcome),
        }
    }

    /// The exit code for an error that ended a command: the first error in its chain that
    /// says what kind of failure it is decides; anything else is a usage error.
    pub fn for_error(e: &anyhow::Error) -> u8 {
        for cause in e.chain() {
            if let Some(s) = cause.downcast_ref::<SetupError>() {
                return match s {
                    SetupError::Unreachable { .. } => CLUSTER,
                    SetupError::Forbidden { .. } => FORBIDDEN,
                    SetupError::LeaseNamespaceMissing { .. } | SetupError::CrdsMissing { .. } => {
                        NOT_FOUND
                    }
                    SetupError::Listen { .. } => USAGE,
                };
            }
            if let Some(l) = cause.downcast_ref::<crate::Error>() {
                return for_kind(l.kind());
            }
            if let Some(k) = cause.downcast_ref::<kube::Error>() {
                return for_kind(crate::kube_error_kind(k));
            }
            if cause
                .downcast_ref::<kube::config::InferConfigError>()
                .is_some()
                || cause
                    .downcast_ref::<kube::config::KubeconfigError>()
                    .is_some()
            {
                return CLUSTER;
            }
        }
        USAGE
    }
}

/// Rehearse the memory leak that takes a Kubernetes cluster down, before it happens for real.
///
/// oomsday injects a configurable leaking sidecar into a workload, watches what the cluster
/// does (OOM kills, kubelet evictions, node MemoryPressure and NotReady, PodDisruptionBudgets,
/// probes, alerts), reverts, and scores how resilient the cluster was.
///
/// Start with the built-in simulator, no cluster needed: `oomsday simulate experiments/black-friday`
///
/// Exit codes: 0 passed; 1 hypothesis failed, below --min-score, invalid file, audit findings
/// or a failed revert; 2 usage or invalid input; 3 aborted (and reverted); 4 inconclusive (the
/// leaker never ran: also another run on the target, or another field manager owning its
/// fields); 5 no cluster reachable (no kubeconfig, connection, timeout, API server error);
/// 6 forbidden (authentication or RBAC); 7 not found (CRDs not installed, lease namespace or a
/// named object such as the target missing).
#[derive(Debug, Parser)]
#[command(name = "oomsday", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// Log filter (RUST_LOG syntax), e.g. `oomsday=debug`.
    #[arg(
        long,
        global = true,
        env = "OOMSDAY_LOG",
        default_value = "oomsday=info"
    )]
    pub log: String,
    /// Log as JSON lines (for log collectors).
    #[arg(long, global = true, env = "OOMSDAY_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Each command's help comes from its Args' doc comment (first line: the summary in this
// list; the rest: its long --help), so there are no doc comments on these variants.
pub enum Command {
    Simulate(simulate::Args),
    Snapshot(snapshot::Args),
    Run(run::Args),
    Replay(replay::Args),
    Calibrate(calibrate::Args),
    Validate(validate::Args),
    Audit(audit::Args),
    Controller(controller::Args),
    Trigger(controller::TriggerArgs),
    Abort(controller::AbortArgs),
    History(controller::HistoryArgs),
    Cleanup(cleanup::Args),
    Crd(crd::Args),
    Schema(crd::SchemaArgs),
    Report(report::Args),
}

impl Cli {
    /// Parses the command line as the user typed it (`oomsday` or `kubectl oomsday`): usage,
    /// help and parse errors name the command that way. Exits on `--help`, `--version` and
    /// usage errors, as clap does.
    pub fn parse_as(invocation: invocation::Invocation) -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Cli::command().bin_name(invocation.name());
        let parsed = cmd
            .try_get_matches()
            .and_then(|m| Cli::from_arg_matches(&m));
        match parsed {
            Ok(cli) => cli,
            Err(e) => {
                let text = invocation.rewrite(&e.render().to_string(), &subcommand_names());
                if e.use_stderr() {
                    eprint!("{text}");
                } else {
                    print!("{text}");
                }
                std::process::exit(e.exit_code());
            }
        }
    }

    /// Whether the command serves many tasks at once for a long time (the controller: its
    /// reconcilers, Lease, metrics and runs) and wants a worker per core. Every other command
    /// is one run or one computation: a single thread does it, with one allocator arena, so
    /// the memory a big cluster's lists pass through is reused rather than spread over arenas.
    pub fn wants_workers(&self) -> bool {
        matches!(self.command, Command::Controller(_))
    }

    pub async fn exec(self) -> anyhow::Result<ExitCode> {
        let code = match self.command {
            Command::Simulate(a) => simulate::exec(a).await?,
            Command::Snapshot(a) => snapshot::exec(a).await?,
            Command::Run(a) => run::exec(a).await?,
            Command::Replay(a) => replay::exec(a).await?,
            Command::Calibrate(a) => calibrate::exec(a).await?,
            Command::Validate(a) => validate::exec(a)?,
            Command::Audit(a) => audit::exec(a).await?,
            Command::Controller(a) => controller::exec(a).await?,
            Command::Trigger(a) => controller::exec_trigger(a).await?,
            Command::Abort(a) => controller::exec_abort(a).await?,
            Command::History(a) => controller::exec_history(a).await?,
            Command::Cleanup(a) => cleanup::exec(a).await?,
            Command::Crd(a) => crd::exec(a)?,
            Command::Schema(a) => crd::exec_schema(a)?,
            Command::Report(a) => report::exec(a)?,
        };
        Ok(ExitCode::from(code))
    }
}

/// Every subcommand's name, for [`invocation::Invocation::rewrite`].
pub fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[cfg(test)]
mod tests;
