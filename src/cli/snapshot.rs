//! `oomsday snapshot`: writes a cluster model of a live cluster (see [`crate::snapshot`]), and
//! the pieces `simulate --from-cluster` and `run --predict` share: taking a snapshot with a
//! progress view, predicting an experiment on it, and printing the prediction beside the
//! outcome.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use kube::Client;

use super::cluster::ClusterArgs;
use super::exit;
use crate::engine::{Cluster as _, ExperimentRef};
use crate::predict;
use crate::report::Report;
use crate::sim::ClusterModel;
use crate::snapshot::{self, Options, Progress, Scope, Taken};

/// Write a cluster model of a live cluster, for `oomsday simulate --cluster`.
///
/// Reads every node (capacity, allocatable, labels, taints, conditions) and, when you may get
/// nodes/proxy, each kubelet's running configuration (eviction thresholds,
/// kernelMemcgNotification, reservations), its Summary API (what every container really
/// uses) and its host's cgroup version (its /metrics: on cgroup v2 the memcg notification does
/// nothing); every pod (requests, limits, QoS, priority, node), rolled up per Deployment and
/// StatefulSet with each pod's working set and the spread kept; PodDisruptionBudgets,
/// LimitRanges, memory HPAs and PriorityClasses. Without nodes/proxy, kubelets get Kubernetes'
/// defaults, cgroup versions are unknown and working sets are estimated from requests; the
/// model's notes say so.
///
/// The model says when and from which context it was taken. Nodes are read a few at a time, so
/// memory stays small on large clusters.
///
/// Try: oomsday snapshot -o cluster.yaml && oomsday simulate experiments/contained-leak.yaml --cluster cluster.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Model only these namespaces' workloads, budgets, LimitRanges and HPAs (repeatable); pods
    /// elsewhere still count as their nodes' load. Default: all namespaces.
    #[arg(short = 'n', long = "namespace", conflicts_with = "all_namespaces")]
    pub namespaces: Vec<String>,
    /// Model every namespace (the default).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Write the model here instead of to standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// Connects by kubeconfig conventions; returns the client and how reports name the cluster.
pub(crate) async fn connect(c: &ClusterArgs) -> anyhow::Result<(Client, String)> {
    let cluster = c.connect(None).await?;
    Ok((cluster.client().clone(), cluster.describe()))
}

/// Shows a snapshot's progress: a bar on a terminal, a few plain lines otherwise (on stderr:
/// stdout may carry the model).
struct View {
    bar: Option<ProgressBar>,
    last_tenth: usize,
}

impl View {
    fn new(tty: bool) -> Self {
        let bar = tty.then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} snapshot: {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(StdDuration::from_millis(120));
            bar
        });
        View { bar, last_tenth: 0 }
    }

    fn update(&mut self, p: Progress) {
        match (&self.bar, p) {
            (Some(bar), Progress::Listed { what, count }) => {
                bar.set_message(format!("listing {what}: {count}"))
            }
            (Some(bar), Progress::Kubelets { done, total }) => {
                if bar.length() != Some(total as u64) {
                    bar.set_length(total as u64);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{spinner} snapshot: kubelets {bar:30} {pos}/{len} nodes, {eta} left",
                    ) {
                        bar.set_style(style);
                    }
                }
                bar.set_position(done as u64);
            }
            (Some(bar), Progress::Warning(w)) => bar.println(format!("warning: {w}")),
            (None, Progress::Listed { what, count }) => {
                tracing::debug!(what, count, "snapshot: listed")
            }
            (None, Progress::Kubelets { done, total }) => {
                // One line per tenth of the nodes.
                let tenth = done * 10 / total.max(1);
                if tenth > self.last_tenth || done == total {
                    self.last_tenth = tenth;
                    eprintln!("snapshot: kubelets read on {done}/{total} nodes");
                }
            }
            (None, Progress::Warning(w)) => eprintln!("snapshot: warning: {w}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Takes a snapshot with a progress view (`tty`: a bar).
pub(crate) async fn take(
    client: &Client,
    context: &str,
    scope: Scope,
    tty: bool,
) -> anyhow::Result<ClusterModel> {
    let mut view = View::new(tty);
    let taken = Taken {
        at: jiff::Timestamp::now(),
        context: context.to_string(),
    };
    let opts = Options {
        scope,
        ..Options::default()
    };
    let res = snapshot::take(client, &opts, &taken, &mut |p| view.update(p)).await;
    view.finish();
    res.with_context(|| format!("taking a snapshot of {context}"))
}

/// Runs the command; returns the exit code.
pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let scope = if args.namespaces.is_empty() {
        Scope::All
    } else {
        Scope::Namespaces(args.namespaces.iter().cloned().collect::<BTreeSet<_>>())
    };
    let (client, context) = connect(&args.cluster).await?;
    let tty = !args.no_progress && std::io::stderr().is_terminal();
    let model = take(&client, &context, scope, tty).await?;
    let yaml = snapshot::to_yaml(&model)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &yaml).with_context(|| format!("writing {}", path.display()))?;
            let s = model.metadata.snapshot.as_ref();
            eprintln!(
                "snapshot of {context}: {} nodes, {} pods, {} workloads → {}",
                s.map_or(0, |s| s.nodes),
                s.map_or(0, |s| s.pods),
                model.spec.workloads.len(),
                path.display()
            );
            for n in s.map(|s| &s.notes[..]).unwrap_or_default().iter().take(10) {
                eprintln!("  note: {n}");
            }
        }
        None => print!("{yaml}"),
    }
    Ok(exit::OK)
}

/// `run --predict`: a fresh snapshot, and the experiment simulated on it over the calibration's
/// seeds. A prediction that cannot be made is a warning: the run goes on without one.
pub(crate) async fn predict_before_run(
    client: &Client,
    context: &str,
    exp: &ExperimentRef,
    tty: bool,
) -> Option<predict::Predicted> {
    let made = async {
        let model = take(client, context, Scope::All, tty).await?;
        let p = predict::predict(&model, exp, predict::SEEDS).await?;
        anyhow::Ok(predict::Predicted {
            model,
            prediction: p,
        })
    }
    .await;
    match made {
        Ok(predicted) => {
            let p = &predicted.prediction;
            println!(
                "PREDICTED for {} (simulated {} times on a fresh snapshot of {context}): verdict {:?}",
                exp.name,
                p.seeds.len(),
                p.verdict
            );
            for w in &p.warnings {
                println!("  warning: {w}");
            }
            if let Some(n) = &p.notifier {
                println!("  assumed: {n}");
            }
            // What is predicted to happen (a count of 0 says nothing here; the report has
            // every measure).
            for f in &p.figures {
                let shown = f
                    .median
                    .is_some_and(|m| m != 0.0 || f.measure.kind() == crate::predict::Unit::Time);
                if shown {
                    println!(
                        "  {:<28} {}",
                        f.measure.label(),
                        f.text(p.seeds.len() as u32)
                    );
                }
            }
            println!(
                "  {:<28} {}",
                crate::predict::FirstRow::LABEL,
                p.target_first.text()
            );
            Some(predicted)
        }
        Err(e) => {
            eprintln!("warning: no prediction for {}: {e:#}", exp.name);
            None
        }
    }
}

/// Prints the report's prediction beside the outcome, if it has one.
pub(crate) fn print_comparison(report: &Report) {
    let (Some(c), Some(p)) = (&report.comparison, &report.prediction) else {
        return;
    };
    println!("  predicted vs observed: {}", c.headline());
    println!(
        "  {:<28} {:>26} {:>14} {:>27}  within",
        "measure", "predicted", "observed", "error"
    );
    for r in &c.rows {
        println!(
            "  {:<28} {:>26} {:>14} {:>27}  {}",
            r.measure.label(),
            r.predicted_text(),
            r.observed_text(),
            r.error_text(),
            r.within_text()
        );
    }
    let first = &c.target_first;
    println!(
        "  {:<28} {}; observed {}  {}",
        crate::predict::FirstRow::LABEL,
        first.predicted_text(),
        first.observed_text(),
        first.within_text()
    );
    println!(
        "  {:<28} {:>26} {:>14}",
        "verdict",
        format!("{:?}", p.verdict),
        format!("{:?}", c.observed_verdict)
    );
}
