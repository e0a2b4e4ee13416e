//! `oomsday cleanup [-n NS | -A] [--dry-run]`: finds every leftover injection by its marks and
//! reverts it.
//!
//! Workloads marked with `oomsday.dev/run-id` (a sidecar injection that oomsday could not revert,
//! e.g. after `kill -9`) are reverted by applying again under the `oomsday` field manager without
//! the leaker, which removes exactly what oomsday added. Ephemeral leakers cannot be removed by
//! anyone: they are listed with the deadline at which they free their memory and exit.
//!
//! Exit 0 when nothing is left, 1 when something remains (a dry run that found leftovers, a
//! revert that failed, an ephemeral leaker still running), 2 on usage errors.

use anyhow::Context;

use crate::cli::exit;
use crate::cluster::kube::Leftover;

/// Find every leftover injection (by its marks) and revert it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Namespace to clean (default: the context's namespace).
    #[arg(short, long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Clean every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// List what would be reverted, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
}

/// One line about a leftover, for humans.
pub fn describe(l: &Leftover) -> String {
    match l {
        Leftover::Workload {
            namespace,
            kind,
            name,
            run_id,
            deadline,
        } => format!(
            "{} {namespace}/{name}: leaker of run {run_id}{}",
            kind.as_str(),
            deadline
                .as_deref()
                .map(|d| format!(" (deadline {d})"))
                .unwrap_or_default()
        ),
        Leftover::Ephemeral {
            namespace,
            pod,
            container,
            deadline,
        } => format!(
            "Pod {namespace}/{pod}: ephemeral leaker {container} cannot be removed; it frees its \
             memory and exits at its deadline{}",
            deadline
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
    }
}

/// The exit code: clean only when nothing is left behind.
pub fn exit_code(leftovers: &[Leftover], dry_run: bool, failed: usize) -> u8 {
    let ephemeral = leftovers
        .iter()
        .any(|l| matches!(l, Leftover::Ephemeral { .. }));
    let workloads = leftovers
        .iter()
        .any(|l| matches!(l, Leftover::Workload { .. }));
    if failed > 0 || ephemeral || (dry_run && workloads) {
        exit::FAILED
    } else {
        exit::OK
    }
}

pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let cluster = args.cluster.connect(args.namespace.as_deref()).await?;
    let namespace = (!args.all_namespaces).then(|| cluster.default_namespace().to_string());
    let leftovers = cluster
        .find_leftovers(namespace.as_deref())
        .await
        .context("listing marked workloads and pods")?;
    let scope = namespace
        .as_deref()
        .map_or("all namespaces".to_string(), |n| format!("namespace {n}"));
    if leftovers.is_empty() {
        println!("clean: no oomsday injection left in {scope}");
        return Ok(exit::OK);
    }
    let mut failed = 0;
    for l in &leftovers {
        let line = describe(l);
        match l {
            Leftover::Workload {
                namespace,
                kind,
                name,
                ..
            } => {
                if args.dry_run {
                    println!("would revert {line}");
                    continue;
                }
                match cluster.revert_workload(*kind, namespace, name).await {
                    Ok(()) => println!("reverted {line}"),
                    Err(e) => {
                        failed += 1;
                        eprintln!("could not revert {line}: {e}");
                    }
                }
            }
            Leftover::Ephemeral { .. } => println!("{line}"),
        }
    }
    Ok(exit_code(&leftovers, args.dry_run, failed))
}

#[cfg(test)]
mod tests;
