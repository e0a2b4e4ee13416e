//! Which cluster a command talks to, the same way for every command: `--kubeconfig`, then
//! `$KUBECONFIG` (kube reads it, and merges the files it lists), then `~/.kube/config`, then
//! in-cluster; `--context` picks a context of the kubeconfig.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cluster::kube::{ConnectOptions, KubeCluster};

/// The kubeconfig flags of every command that talks to a cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    // Not `env = "KUBECONFIG"`: that may list several files, which kube merges itself.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// Connects to the cluster the flags name; `namespace` overrides the context's as the
    /// cluster's default namespace. A missing or unreadable kubeconfig is `Error::Kubeconfig`
    /// (exit 5).
    pub async fn connect(&self, namespace: Option<&str>) -> anyhow::Result<KubeCluster> {
        KubeCluster::connect(ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: namespace.map(str::to_string),
        })
        .await
        .context("connecting to the cluster")
    }
}
