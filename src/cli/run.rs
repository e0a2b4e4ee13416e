//! `oomsday run FILE|DIR`: runs experiments against the cluster of the current kubeconfig
//! context, one after another, with a live progress view, report files and an exit code a
//! pipeline can act on.
//!
//! The pieces `simulate` and the controller share are public here: [`ProgressView`] (the live
//! view or log lines) and [`signal_stop`] (SIGINT and SIGTERM to a stop request); loading
//! experiments is in `experiments.rs`, what a finished run becomes in `conclude.rs`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use oomsday_core::human_bytes;

use super::conclude::{ReportArgs, conclude};
use super::exit;
use super::experiments::{experiment_name, experiment_ref, load};
use crate::engine::{
    self, Cluster, ExperimentRef, InjectionPlan, Outcome, Progress, RunOptions, RunReason,
    RunRecord, StopHandle,
};
use crate::narrate::{Folder, Narrator};
use crate::observe::Time;
use crate::probe::Prober;
use crate::report::{self, Report};
use crate::spec::{InjectionMode, SourcedExperiment};

/// Run experiments against the cluster of the current kubeconfig context.
#[derive(Debug, clap::Args)]
#[command(after_long_help = RUN_HELP)]
pub struct Args {
    /// An experiment file, or a directory of them (every *.yaml / *.yml, run in order).
    pub path: PathBuf,
    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
    /// Namespace of the targets, overriding each experiment's metadata.namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Resolve the target, print the exact patch and send it with the API's server-side dry
    /// run: admission and validation errors show up without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Record every watch event as received, the leakers' samples and the run's own phases to
    /// this file (JSON lines), for `oomsday replay`. With a directory of experiments, each run
    /// gets its own file: FILE's name with the experiment's inserted (rec.jsonl →
    /// rec-checkout-leak.jsonl).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Plain log lines even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Before each run, simulate it on a fresh snapshot of the cluster (`oomsday snapshot`),
    /// and report the prediction beside what happened, measure by measure.
    #[arg(long)]
    pub predict: bool,
}

const RUN_HELP: &str = "\
Each experiment is checked (the target exists, you may patch it and watch what must be
watched, no other run is active on it), injected, watched, reverted — always, also on errors,
abort rules and Ctrl-C — and scored. Reports are written to --out.

Ctrl-C or SIGTERM reverts at once and ends the run without watching recovery; the remaining
experiments of a suite are skipped. If a revert fails, run `oomsday cleanup`.

Ephemeral mode (spec.injection.mode: ephemeral) attaches the leaker to running pods without a
restart. Ephemeral containers can have no memory limit and cannot be removed: the leaker's own
deadline is what ends that leak, and the pods keep the stopped container until they are
replaced.

Exit codes: 0 passed, 1 hypothesis failed or score under --min-score (or a revert failed),
2 invalid input, 3 aborted, 4 inconclusive (the leaker never ran), 5 no cluster reachable
(also at preflight), 6 forbidden, 7 the target not found.";

/// Runs the command; returns the exit code.
pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let Some(experiments) = load(&args.path) else {
        return Ok(exit::USAGE);
    };
    let Some(probers) = probers(&experiments) else {
        return Ok(exit::USAGE);
    };
    let mut cluster = args.cluster.connect(args.namespace.as_deref()).await?;
    let default_ns = cluster.default_namespace().to_string();

    let (handle, mut stop) = engine::stop_channel();
    let signals = tokio::spawn(signal_stop(handle.clone()));
    let mut reports = Vec::new();
    let mut worst = Outcome::Passed;
    // A run that could not reach the cluster, was refused, or lacked its target: its code.
    let mut cluster_code = None;
    let tty = !args.no_progress && std::io::stderr().is_terminal();
    let suite = experiments.len() > 1;
    for (sourced, mut prober) in experiments.iter().zip(probers) {
        if handle.is_stopped() {
            eprintln!(
                "skipping {}: stopped",
                experiment_name(sourced).unwrap_or_default()
            );
            continue;
        }
        let exp = experiment_ref(sourced, args.namespace.as_deref(), &default_ns)?;
        cluster.set_experiment(&exp.name);
        let started = cluster.now();
        let run_id = engine::run_id(&exp.name, started, wall_salt());
        if args.dry_run {
            dry_run(&mut cluster, &exp, run_id, started).await?;
            continue;
        }
        let predicted = predict_first(&cluster, &exp, args.predict, tty).await;
        let recorder = recorder(args.record.as_deref(), &exp, suite)?;
        // The recording keeps the model the run was predicted on (`oomsday calibrate`).
        if let (Some(r), Some(p)) = (&recorder, &predicted) {
            p.record(r, cluster.now());
        }
        let prediction = predicted.map(|p| p.prediction);
        let result = watch_run(
            &mut cluster,
            &mut prober,
            &exp,
            run_id,
            &mut stop,
            recorder,
            tty,
        )
        .await;
        let (report, outcome) = conclude(result, prediction, Vec::new(), &args.reports)?;
        worst = worst.worst(outcome);
        let code = exit::of_run(outcome, report.as_ref().and_then(|r| r.record.error));
        if code != exit::of(outcome) {
            cluster_code = cluster_code.or(Some(code));
        }
        reports.extend(report);
        if outcome == Outcome::RevertFailed {
            // Do not put more leaks into a cluster that still holds one.
            eprintln!("stopping the suite: a leaker may still be in place");
            break;
        }
    }
    signals.abort();
    Ok(suite_exit(args.dry_run, &reports, worst, cluster_code))
}

/// The suite's exit code, after its summary when it ran more than one experiment: a failed
/// revert's first, then that of a run the cluster kept from starting (5, 6, 7), then the worst
/// outcome's.
fn suite_exit(dry_run: bool, reports: &[Report], worst: Outcome, cluster: Option<u8>) -> u8 {
    if dry_run {
        return exit::OK;
    }
    if reports.len() > 1 {
        println!("{}", report::suite_summary(reports));
    }
    match cluster {
        Some(code) if worst != Outcome::RevertFailed => code,
        _ => exit::of(worst),
    }
}

/// The simulated outcome on a fresh snapshot, when `--predict` or the experiment asks for one.
async fn predict_first(
    cluster: &crate::cluster::KubeCluster,
    exp: &ExperimentRef,
    flag: bool,
    tty: bool,
) -> Option<crate::predict::Predicted> {
    match flag || exp.spec.predict {
        true => {
            let ctx = cluster.describe();
            super::snapshot::predict_before_run(cluster.client(), &ctx, exp, tty).await
        }
        false => None,
    }
}

/// One run, watched live: progress on screen and into the recording, then the prober's warnings.
async fn watch_run(
    cluster: &mut crate::cluster::KubeCluster,
    prober: &mut Prober,
    exp: &ExperimentRef,
    run_id: String,
    stop: &mut engine::StopSignal,
    recorder: Option<std::sync::Arc<crate::recording::Recorder>>,
    tty: bool,
) -> crate::Result<RunRecord> {
    let opts = RunOptions {
        refresh: Some(StdDuration::from_secs(1)),
        ..RunOptions::new(run_id)
    };
    cluster.set_recorder(recorder.clone());
    let mut view = ProgressView::new(exp, tty);
    let result = engine::run(cluster, prober, exp, &opts, stop, &mut |p| {
        view.update(p);
        if let Some(r) = &recorder {
            r.progress(p);
        }
    })
    .await;
    view.finish();
    if let Some(r) = &recorder {
        r.flush();
        println!("  recording: {}", r.path().display());
    }
    for e in prober.errors() {
        eprintln!("warning: alert check failed at {e}");
    }
    result
}

/// Each experiment's prober. Probe URLs are checked before anything is touched: a typo is
/// invalid input (None, said on stderr).
fn probers(experiments: &[SourcedExperiment]) -> Option<Vec<Prober>> {
    let mut probers = Vec::new();
    for sourced in experiments {
        match Prober::new(&sourced.experiment.spec) {
            Ok(p) => probers.push(p),
            Err(e) => {
                eprintln!(
                    "{}: {}: {e}",
                    sourced.file.display(),
                    experiment_name(sourced).unwrap_or_default()
                );
                return None;
            }
        }
    }
    Some(probers)
}

/// `--dry-run`: the injection's patch, accepted by the API server's dry run, printed.
async fn dry_run(
    cluster: &mut crate::cluster::KubeCluster,
    exp: &ExperimentRef,
    run_id: String,
    started: Time,
) -> anyhow::Result<()> {
    let plan = InjectionPlan {
        run_id,
        namespace: exp.namespace.clone(),
        spec: exp.spec.clone(),
        deadline: started
            .saturating_add(exp.spec.duration.std())
            .unwrap_or(Time::MAX),
        started,
    };
    let patch = cluster
        .dry_run(&plan)
        .await
        .with_context(|| format!("dry run of {}", exp.name))?;
    println!(
        "# {} ({}): accepted by the API server's dry run",
        exp.name, exp.namespace
    );
    print!("{patch}");
    Ok(())
}

/// `--record`: the run's recorder (a suite's runs each get a file named after them).
fn recorder(
    path: Option<&Path>,
    exp: &ExperimentRef,
    suite: bool,
) -> anyhow::Result<Option<std::sync::Arc<crate::recording::Recorder>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let path = record_path(path, &exp.name, suite);
    let r = crate::recording::Recorder::create(&path)
        .with_context(|| format!("--record {}", path.display()))?;
    Ok(Some(std::sync::Arc::new(r)))
}

/// Where a run's recording goes: `--record FILE` itself, or for a suite, FILE with the
/// experiment's name inserted before the extension.
fn record_path(flag: &Path, experiment: &str, suite: bool) -> PathBuf {
    if !suite {
        return flag.to_path_buf();
    }
    let stem = flag
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let name = match flag.extension() {
        Some(ext) => format!("{stem}-{experiment}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{experiment}"),
    };
    flag.with_file_name(name)
}

/// Something that varies between invocations, for run ids: the wall clock at the CLI's edge and
/// the process id.
fn wall_salt() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Turns SIGINT / SIGTERM into a stop request. The first reverts the run; later ones only say
/// that the revert is under way (the leak must not be left in place by an impatient Ctrl-C).
pub async fn signal_stop(handle: StopHandle) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let name = tokio::select! {
            r = tokio::signal::ctrl_c() => { if r.is_err() { return; } "SIGINT" }
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => "SIGTERM",
        };
        #[cfg(not(unix))]
        let name = {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            "SIGINT"
        };
        if handle.stop(RunReason::Signal, name) {
            eprintln!("\n{name}: stopping — reverting the leak first");
        } else {
            eprintln!("\n{name}: reverting, please wait (the leak must not be left in place)");
        }
    }
}

/// The live view of a run: a spinner line on a terminal (phase, elapsed / remaining, leaked
/// bytes, OOM kills, evictions, ready vs budget) with milestones and notable observations
/// printed above it; plain log lines otherwise.
pub struct ProgressView {
    bar: Option<ProgressBar>,
    experiment: String,
    /// The one narrator's words for what is new, bursts folded as they happen.
    narrator: Narrator,
    folder: Folder,
    /// Cluster time of the last status log line (non-TTY), to log one per minute at most.
    last_status: Option<Time>,
}

impl ProgressView {
    /// A view for one run; `tty` picks the spinner over log lines.
    pub fn new(exp: &ExperimentRef, tty: bool) -> Self {
        let bar = tty.then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(StdDuration::from_millis(120));
            bar
        });
        if exp.spec.injection.mode == InjectionMode::Ephemeral {
            let note = "ephemeral mode: the leaker cannot be removed and has no memory limit; \
                        its own deadline ends the leak";
            match &bar {
                Some(b) => b.println(note),
                None => tracing::warn!(experiment = %exp.name, "{note}"),
            }
        }
        ProgressView {
            bar,
            experiment: exp.name.clone(),
            narrator: Narrator::new(&exp.spec.target.name),
            folder: Folder::new(),
            last_status: None,
        }
    }

    /// The lines one progress report adds to the view, in the one narrator's words.
    pub fn lines(&mut self, p: &Progress<'_>) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for o in p.new {
            if let Some(line) = self.narrator.line(o) {
                lines.extend(self.folder.push(line).into_iter().map(|l| l.text));
            }
        }
        if p.phase.is_finished() {
            lines.extend(self.folder.finish().into_iter().map(|l| l.text));
        }
        lines
    }

    /// Takes one progress report from the engine.
    pub fn update(&mut self, p: &Progress<'_>) {
        let lines = self.lines(p);
        let status = status_line(p);
        match &self.bar {
            Some(bar) => {
                for l in lines {
                    bar.println(format!("{} {l}", clock(p.now)));
                }
                bar.set_message(status);
            }
            None => {
                for l in lines {
                    tracing::info!(experiment = %self.experiment, run = p.run_id, "{l}");
                }
                let due = self
                    .last_status
                    .is_none_or(|last| p.now.duration_since(last).as_secs() >= 60);
                if due {
                    self.last_status = Some(p.now);
                    tracing::info!(experiment = %self.experiment, run = p.run_id, "{status}");
                }
            }
        }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn clock(t: Time) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn secs(d: StdDuration) -> String {
    humantime::format_duration(StdDuration::from_secs(d.as_secs())).to_string()
}

/// The one-line status: `[Leaking] 12m 3s, 17m 57s left · leaked 480.00 MiB · 2 OOM kills ·
/// 1 eviction · ready 3/4 (budget 3)`.
pub fn status_line(p: &Progress<'_>) -> String {
    let t = p.tally;
    let mut s = format!("[{:?}] {}", p.phase, secs(p.elapsed()));
    if let Some(left) = p.remaining() {
        s.push_str(&format!(", {} left", secs(left)));
    }
    s.push_str(&format!(
        " · leaked {} · {} OOM kills · {} evictions",
        human_bytes(t.leaked_bytes()),
        t.oom_kills(),
        t.evictions()
    ));
    if t.bystander_pods() > 0 {
        s.push_str(&format!(" ({} bystanders)", t.bystander_pods()));
    }
    if t.admission_rejections() > 0 {
        s.push_str(&format!(
            " · {} refused at admission",
            t.admission_rejections()
        ));
    }
    if let Some((desired, ready)) = t.workload() {
        s.push_str(&format!(" · ready {ready}/{desired}"));
    }
    if let Some((_, desired_healthy)) = t.tightest_budget() {
        s.push_str(&format!(" (budget {desired_healthy})"));
    }
    if t.nodes_under_pressure() > 0 || t.nodes_not_ready() > 0 {
        s.push_str(&format!(
            " · nodes: {} pressure, {} NotReady",
            t.nodes_under_pressure(),
            t.nodes_not_ready()
        ));
    }
    s
}

#[cfg(test)]
mod tests;
