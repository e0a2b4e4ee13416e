//! `oomsday audit`: the static resilience audit of a live namespace (`-n NS`) or of manifests on
//! disk (`--manifests DIR`, multi-document YAML such as `kustomize build` output). Prints a table,
//! JSON or SARIF 2.1.0; exit 1 when a finding is at or above `--fail-on`.

use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use k8s_openapi::api::core::v1::Node;

use crate::audit::{self, Severity};
use crate::cli::exit;

/// Audit a namespace or manifests for the defences a memory leak tests.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audit YAML manifests in this directory (or file) instead of a live namespace.
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// The namespace to audit live; with --manifests, the namespace of objects that name none.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// The cluster of a live audit.
    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Exit 1 when any finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = severity_parser())]
    pub fail_on: Option<Severity>,
    /// With --manifests: the cluster's total allocatable node memory (e.g. 96Gi), for the HPA
    /// capacity check (live audits read it from the nodes).
    #[arg(long, value_name = "QUANTITY")]
    pub node_memory: Option<String>,
}

/// How `audit` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Sarif,
}

/// `--fail-on`'s values: the audit's severities, listed in `--help` and completions as a value
/// enum would be, while the domain type stays free of clap.
fn severity_parser() -> impl clap::builder::TypedValueParser<Value = Severity> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Severity::ALL.map(Severity::as_str))
        .try_map(|s| s.parse::<Severity>())
}

/// A synthetic node holding `bytes`, so the pure capacity check can run on manifests.
fn capacity_node(bytes: u64) -> anyhow::Result<Node> {
    Ok(serde_json::from_value(serde_json::json!({
        "metadata": {"name": "--node-memory"},
        "status": {"allocatable": {"memory": bytes.to_string()}}
    }))?)
}

pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let (inventory, note) = match &args.manifests {
        Some(dir) => {
            if !dir.exists() {
                eprintln!("error: {} does not exist", dir.display());
                return Ok(exit::USAGE);
            }
            let ns = args.namespace.as_deref().unwrap_or("default");
            let mut inv = audit::load_manifests(dir, ns)
                .with_context(|| format!("reading manifests in {}", dir.display()))?;
            if let Some(q) = &args.node_memory {
                let bytes = oomsday_core::Quantity::from_str(q)
                    .map_err(|e| anyhow::anyhow!("--node-memory: {e}"))?
                    .bytes();
                inv.nodes.push(capacity_node(bytes)?);
            }
            let note = args.node_memory.is_none().then(|| {
                "manifests carry no nodes: pass --node-memory to check HPAs against capacity"
                    .to_string()
            });
            (inv, note)
        }
        None => {
            let cluster = args
                .cluster
                .connect(args.namespace.as_deref())
                .await
                .context("a live audit (or --manifests DIR to audit files)")?;
            let ns = cluster.default_namespace().to_string();
            audit::inventory(cluster.client(), &ns)
                .await
                .with_context(|| format!("reading namespace {ns}"))?
        }
    };
    let findings = audit::audit(&inventory);
    let text = match args.output {
        Output::Table => audit::to_table(&findings),
        Output::Json => audit::to_json(&findings) + "\n",
        Output::Sarif => audit::to_sarif(&findings) + "\n",
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the findings")?,
    }
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    let failing = args.fail_on.map_or(0, |s| audit::at_or_above(&findings, s));
    Ok(if failing > 0 { exit::FAILED } else { exit::OK })
}

#[cfg(test)]
mod tests;
