//! The command line: argument parsing and the exit-code contract. Each command lives in its own
//! file with its `Args` and an `exec` that returns the exit code; `main.rs` only wires.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod cleanup;
pub mod controller;
pub mod crd;
pub mod replay;
pub mod report;
pub mod run;
pub mod simulate;
pub mod validate;

/// Exit codes a pipeline can act on.
pub mod exit {
    /// Passed: every hypothesis clause held (or, for validate/audit, nothing to report).
    pub const OK: u8 = 0;
    /// A hypothesis clause failed, the score was under --min-score, a file is invalid, or an
    /// audit finding is at or above --fail-on.
    pub const FAILED: u8 = 1;
    /// Usage error or invalid input (bad flags, unreadable or invalid experiment).
    pub const USAGE: u8 = 2;
    /// The run was aborted (abort rule, signal, annotation) and reverted.
    pub const ABORTED: u8 = 3;
    /// Inconclusive: the leaker never ran, or the cluster could not be observed.
    pub const INCONCLUSIVE: u8 = 4;
}

/// Rehearse the memory leak that takes a Kubernetes cluster down, before it happens for real.
///
/// oomsday injects a configurable leaking sidecar into a workload, watches what the cluster
/// does (OOM kills, kubelet evictions, node MemoryPressure and NotReady, PodDisruptionBudgets,
/// probes, alerts), reverts, and scores how resilient the cluster was.
///
/// Start with the built-in simulator, no cluster needed: `oomsday simulate experiments/black-friday`
///
/// Exit codes: 0 passed, 1 hypothesis failed / invalid / findings, 2 usage or invalid input,
/// 3 aborted, 4 inconclusive.
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
    Run(run::Args),
    Replay(replay::Args),
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
    pub async fn exec(self) -> anyhow::Result<ExitCode> {
        let code = match self.command {
            Command::Simulate(a) => simulate::exec(a).await?,
            Command::Run(a) => run::exec(a).await?,
            Command::Replay(a) => replay::exec(a).await?,
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
