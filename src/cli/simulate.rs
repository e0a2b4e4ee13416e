//! `oomsday simulate FILE|DIR`: runs experiments against the built-in cluster simulator — the
//! same engine, scorer and reports as `oomsday run`, on a model instead of a cluster, in virtual
//! time. Every line it prints says SIMULATED.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::conclude::conclude;
use super::exit;
use super::experiments::experiment_ref;
use crate::engine::{Cluster, Outcome, RunRecord};
use crate::narrate;
use crate::report::{self, Report};
use crate::sim::{ClusterModel, SimCluster, manifests};
use crate::spec::SourcedExperiment;

/// Run experiments against the built-in cluster simulator: no cluster needed.
///
/// Each experiment runs against the cluster model named by --cluster or by its own
/// spec.simulation.cluster (relative to the experiment file). The simulator models what the
/// Kubernetes documentation specifies — allocatable and eviction thresholds, the kubelet's
/// eviction order, container OOM kills and CrashLoopBackOff, the kernel OOM killer by QoS, a
/// kubelet starved without kube-reserved, NotReady nodes and taint-based eviction, the
/// scheduler's requests-based placement, ReplicaSets, PDB status — in virtual time: an hour
/// takes well under a second. It is a model: every output says SIMULATED.
///
/// Same model, experiment and seed: same timeline, same score.
///
/// Try: oomsday simulate experiments/black-friday
///
/// Or on your own cluster as it is now: oomsday simulate EXPERIMENT.yaml --from-cluster
/// [--context C] (needs read access to nodes, pods and workloads; nodes/proxy get to measure
/// working sets).
///
/// Exit codes: as `oomsday run` — 0 passed, 1 hypothesis failed or score under --min-score,
/// 2 invalid input, 3 aborted, 4 inconclusive.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// An experiment file, or a directory of them (every *.yaml / *.yml below it, in order).
    pub path: PathBuf,
    /// The cluster for every experiment, instead of each experiment's spec.simulation.cluster:
    /// a cluster model file (`kind: ClusterModel`), or plain Kubernetes manifests (a file or a
    /// directory of Deployments, StatefulSets, PDBs, LimitRanges, HPAs, PriorityClasses) with
    /// --nodes. Annotate pod templates with `sim.oomsday.dev/working-set: 1Gi` to say how much
    /// memory the containers really use (default: their request).
    #[arg(long, conflicts_with = "from_cluster")]
    pub cluster: Option<PathBuf>,
    /// Simulate on a snapshot of a live cluster taken now (`oomsday snapshot`, all namespaces),
    /// instead of a model file: the cluster of --context / --kubeconfig.
    #[arg(long)]
    pub from_cluster: bool,
    /// With --from-cluster: which cluster.
    #[command(flatten)]
    pub source: super::cluster::ClusterArgs,
    /// Node groups for --cluster manifests, COUNTxCAPACITY[:KUBE_RESERVED] (120x32Gi, 3x64Gi:1Gi);
    /// with a cluster model, replaces its node groups. Repeatable.
    #[arg(long)]
    pub nodes: Vec<String>,
    /// Seed for the simulator's choices, instead of spec.simulation.seed (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also simulate N seeds (from the seed on) and print each measure's median and range over
    /// them, as the calibration and `run --predict` do (21): one history is one draw of the
    /// kubelets' timing, the median is the prediction. Where the runs split into two histories
    /// far apart (`recovery 9.0 s (3.0 s in 5, 7.0 s–23.0 s in 16 runs)`), both are shown: the
    /// outcome is a coin toss, and a real run may take either side.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub seeds: Option<u64>,
    #[command(flatten)]
    pub reports: super::conclude::ReportArgs,
    /// Print every line of the timeline, without folding bursts of similar events.
    #[arg(long)]
    pub full_timeline: bool,
    /// Print at most this many timeline lines per run (the reports have all of it).
    #[arg(long, default_value_t = 60)]
    pub max_lines: usize,
}

/// Runs the command; returns the exit code.
pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let Some(experiments) = super::experiments::load(&args.path) else {
        return Ok(exit::USAGE);
    };
    // One snapshot for the whole suite.
    let snapshot = match args.from_cluster {
        true => Some(from_cluster(&args).await?),
        false => None,
    };
    let mut reports = Vec::new();
    let mut worst = Outcome::Passed;
    for sourced in &experiments {
        let Some((model, model_path)) = model_for(sourced, &args, snapshot.as_ref()) else {
            return Ok(exit::USAGE);
        };
        let (report, outcome) = simulate_one(sourced, &model, &model_path, &args).await?;
        worst = worst.worst(outcome);
        reports.extend(report);
    }
    if reports.len() > 1 {
        println!("SIMULATED — summary");
        println!("{}", report::suite_summary(&reports));
    }
    Ok(exit::of(worst))
}

/// The model for one experiment and how to name it: the suite's snapshot, else its model file.
/// `None`, the error said, when the file cannot be found or loaded.
fn model_for(
    sourced: &SourcedExperiment,
    args: &Args,
    snapshot: Option<&(ClusterModel, String)>,
) -> Option<(ClusterModel, PathBuf)> {
    if let Some((m, label)) = snapshot {
        return Some((m.clone(), PathBuf::from(label)));
    }
    let model_path = match model_path(sourced, args.cluster.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return None;
        }
    };
    match load_model(&model_path, &args.nodes) {
        Ok(m) => Some((m, model_path)),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The simulator's seed: `--seed`, else spec.simulation.seed, else 1.
fn seed_of(sourced: &SourcedExperiment, flag: Option<u64>) -> u64 {
    flag.or(sourced
        .experiment
        .spec
        .simulation
        .as_ref()
        .and_then(|s| s.seed))
        .unwrap_or(1)
}

/// Runs one experiment on its model, prints its story and scores, and writes its reports.
async fn simulate_one(
    sourced: &SourcedExperiment,
    model: &ClusterModel,
    model_path: &Path,
    args: &Args,
) -> anyhow::Result<(Option<Report>, Outcome)> {
    let seed = seed_of(sourced, args.seed);
    let exp = experiment_ref(sourced, None, "default")?;
    let mut cluster = SimCluster::new(model, seed)
        .with_context(|| format!("building the simulated cluster {}", model_path.display()))?;
    println!(
        "SIMULATED — {} on {} (model {}, seed {seed})",
        exp.name,
        cluster.describe(),
        model_path.display()
    );
    if let Some(warning) = cluster.edge_warning() {
        println!("  warning: {warning}");
    }
    for note in crate::sim::unmodelled(&exp.spec) {
        println!("  note: {note}");
    }
    let wall = std::time::Instant::now();
    let result = crate::sim::run_on(&mut cluster, &exp, seed).await;
    let took = wall.elapsed();
    if let Ok(record) = &result {
        print_story(record, &exp.spec.target.name, args);
        print_virtual_time(record, took);
    }
    let memory = crate::predict::ContainerMemory::of_target(model, &exp);
    let (report, outcome) = conclude(result, None, memory, &args.reports)?;
    if let Some(r) = &report {
        print_facets(r);
    }
    if let Some(n) = args.seeds {
        let p = crate::predict::predict(model, &exp, seed..seed.saturating_add(n))
            .await
            .with_context(|| format!("simulating {} over {n} seeds", exp.name))?;
        print_over_seeds(&p);
    }
    println!();
    Ok((report, outcome))
}

/// `--seeds`: each measure over the seeds, the median and its range (or its two histories), and
/// the verdicts.
fn print_over_seeds(p: &crate::predict::Prediction) {
    let n = p.seeds.len() as u32;
    let (first, last) = (
        p.seeds.first().copied().unwrap_or_default(),
        p.seeds.last().copied().unwrap_or_default(),
    );
    println!(
        "SIMULATED — over {n} seeds ({first}–{last}): median (range) of the runs it happens in"
    );
    for f in &p.figures {
        println!("  {:<28} {}", f.measure.label(), f.text(n));
    }
    let verdicts: Vec<String> = p
        .verdicts
        .iter()
        .map(|(v, c)| format!("{v:?} {c}"))
        .collect();
    println!(
        "  {:<28} {}",
        crate::predict::FirstRow::LABEL,
        p.target_first.text()
    );
    println!(
        "  {:<28} {:?} ({})",
        "verdict",
        p.verdict,
        verdicts.join(", ")
    );
}

/// The run's timeline, folded into a story unless `--full-timeline`, at most `--max-lines`.
fn print_story(record: &RunRecord, target: &str, args: &Args) {
    let timeline = record.timeline.entries();
    let lines: Vec<String> = if args.full_timeline {
        narrate::lines(timeline, target)
    } else {
        narrate::story(timeline, target)
    }
    .into_iter()
    .map(|l| format!("{} {}", narrate::clock(record.started, l.at), l.text))
    .collect();
    print_lines(&lines, args.max_lines);
}

/// How much virtual time the run covered, and the wall-clock time it took.
fn print_virtual_time(record: &RunRecord, took: std::time::Duration) {
    println!(
        "SIMULATED — {} of virtual time in {:.2?}",
        humantime::format_duration(std::time::Duration::from_secs(
            record
                .finished
                .duration_since(record.started)
                .as_secs()
                .max(0) as u64
        )),
        took
    );
}

/// Each facet's points and explanation, one line each.
fn print_facets(r: &Report) {
    for f in &r.score.facets {
        let points = f
            .points
            .map_or("not measured".to_string(), |p| format!("{p:.0}/100"));
        println!(
            "  {:<12} {points:>12}  {}",
            format!("{:?}", f.facet).to_lowercase(),
            f.explanation
        );
    }
}

/// `--from-cluster`: a snapshot of the cluster now (with `--nodes`, its node groups replaced),
/// and how the output names it.
async fn from_cluster(args: &Args) -> anyhow::Result<(ClusterModel, String)> {
    let (client, context) = super::snapshot::connect(&args.source).await?;
    let tty = std::io::stderr().is_terminal();
    let mut model =
        super::snapshot::take(&client, &context, crate::snapshot::Scope::All, tty).await?;
    replace_node_groups(&mut model, &node_groups(&args.nodes)?)?;
    let label = match &model.metadata.snapshot {
        Some(s) => format!("snapshot of {context} at {}", s.taken_at),
        None => format!("snapshot of {context}"),
    };
    for n in model
        .metadata
        .snapshot
        .iter()
        .flat_map(|s| s.notes.iter())
        .take(10)
    {
        eprintln!("snapshot: note: {n}");
    }
    Ok((model, label))
}

/// The model for an experiment: `--cluster`, else its spec.simulation.cluster relative to the
/// experiment's file.
fn model_path(sourced: &SourcedExperiment, flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let named = sourced
        .experiment
        .spec
        .simulation
        .as_ref()
        .and_then(|s| s.cluster.as_deref());
    match named {
        Some(rel) => {
            let base = sourced.file.parent().unwrap_or_else(|| Path::new("."));
            Ok(base.join(rel))
        }
        None => anyhow::bail!(
            "{}: no cluster model: pass --cluster MODEL.yaml or set spec.simulation.cluster",
            sourced.file.display()
        ),
    }
}

/// `--nodes` COUNTxCAPACITY[:KUBE_RESERVED] flags as node groups.
fn node_groups(nodes: &[String]) -> crate::Result<Vec<crate::sim::model::NodeGroup>> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, s)| manifests::parse_node_group(s, i))
        .collect()
}

/// `--nodes` replaces a model's node groups (none given: the model keeps its own).
fn replace_node_groups(
    m: &mut ClusterModel,
    groups: &[crate::sim::model::NodeGroup],
) -> crate::Result<()> {
    if !groups.is_empty() {
        m.spec.node_groups = groups.to_vec();
        m.check()?;
    }
    Ok(())
}

/// A cluster model file, or manifests with `--nodes`; `--nodes` replaces a model's node groups.
fn load_model(path: &Path, nodes: &[String]) -> crate::Result<ClusterModel> {
    let groups = node_groups(nodes)?;
    if path.is_file() && is_cluster_model(path) {
        let mut m = ClusterModel::load(path)?;
        replace_node_groups(&mut m, &groups)?;
        return Ok(m);
    }
    if groups.is_empty() {
        return Err(crate::Error::Invalid(format!(
            "{}: not a ClusterModel; to simulate plain manifests, say which nodes they run on \
             with --nodes COUNTxCAPACITY (e.g. --nodes 120x32Gi)",
            path.display()
        )));
    }
    manifests::from_manifests(path, groups, Default::default())
}

/// Whether the file's first document says `kind: ClusterModel`.
fn is_cluster_model(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines()
            .map(str::trim)
            .any(|l| l == format!("kind: {}", crate::sim::model::MODEL_KIND))
    })
}

/// Prints a story, its middle elided past `max` lines.
pub(crate) fn print_lines(lines: &[String], max: usize) {
    if lines.len() <= max || max < 10 {
        for l in lines {
            println!("  {l}");
        }
        return;
    }
    let head = max * 2 / 3;
    let tail = max - head;
    for l in &lines[..head] {
        println!("  {l}");
    }
    println!(
        "  … {} more lines (the reports have the whole timeline; --max-lines to see more)",
        lines.len() - head - tail
    );
    for l in &lines[lines.len() - tail..] {
        println!("  {l}");
    }
}
