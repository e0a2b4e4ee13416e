//! `oomsday calibrate RECORDING...`: how far to trust the simulator on the cluster the runs
//! were recorded on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::exit;
use crate::cluster::ReplayCluster;
use crate::engine::{self, Cluster as _, ExperimentRef, RunOptions};
use crate::predict::calibration::{Calibration, Recorded};
use crate::predict::{self, Measures, Prediction};
use crate::recording::Recording;
use crate::sim::ClusterModel;

/// Calibrate the simulator on your cluster: each recorded run against its prediction.
///
/// Each RECORDING is replayed (as `oomsday replay` does) and simulated again, with the 21 seeds
/// `run --predict` uses, on the model of the cluster taken just before it ran: a recording made
/// with `oomsday run --predict --record FILE` (or by the controller with spec.predict and
/// --record-dir) carries that model. Older recordings, and folders recorded beside a run, carry
/// none: give one with --model (a `ClusterModel`, e.g. from `oomsday snapshot -o`).
///
/// Every measure is judged with the tolerance the simulator's own calibration against a real
/// kubelet holds it to (first OOM kill ±3 s, OOM kills ±25%, first eviction and first
/// MemoryPressure ±5 s, evictions ±1, time below the budget ±30% or ±5 s under 15 s, recovery
/// ±30%), with the verdict and what reached the target first (the kernel's OOM kill or the
/// kubelet's eviction). It prints each measure, the share within tolerance and, when several
/// recordings ran the same experiment, their distribution beside the seeds': medians and
/// ranges, and the share of runs in each history where the seeds split, within 15 points.
///
/// Nothing is printed until every recording has been read, replayed and simulated.
///
/// Exit codes: 0 the table was made; 2 a recording cannot be read, is truncated, or carries no
/// model and no --model was given (the message names the file and the line).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The recordings: `oomsday run --record` files, or folders recorded beside a run.
    #[arg(required = true, value_name = "RECORDING")]
    pub recordings: Vec<PathBuf>,
    /// The model to simulate the recordings that carry none on.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How `calibrate` prints the calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Markdown,
    Json,
}

/// Runs the command; returns the exit code.
pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let c = calibrate(&args.recordings, args.model.as_deref()).await?;
    let out = match args.output {
        Output::Text => crate::report::calibration::text(&c),
        Output::Markdown => crate::report::calibration::markdown(&c),
        Output::Json => serde_json::to_string_pretty(&c).context("writing the calibration")? + "\n",
    };
    print!("{out}");
    Ok(exit::OK)
}

/// The calibration of `recordings`, each simulated on the model it carries, else on
/// `fallback`'s.
pub async fn calibrate(
    recordings: &[PathBuf],
    fallback: Option<&Path>,
) -> anyhow::Result<Calibration> {
    let fallback = fallback
        .map(|p| {
            ClusterModel::load(p)
                .map(|m| (m, format!("--model {}", p.display())))
                .with_context(|| format!("--model {}", p.display()))
        })
        .transpose()?;
    let names = names(recordings);
    // Recordings of one experiment on one model share its simulations.
    let mut predicted: BTreeMap<String, (Prediction, Vec<Measures>)> = BTreeMap::new();
    let mut runs = Vec::new();
    for (path, name) in recordings.iter().zip(names) {
        let (recording, model, model_source) = read(path, fallback.as_ref())?;
        let exp = experiment(path, &recording)?;
        let record = replay(path, recording, &exp).await?;
        let key = format!(
            "{} {}",
            serde_json::to_string(&model).unwrap_or_default(),
            serde_json::to_string(&exp.spec).unwrap_or_default()
        );
        if !predicted.contains_key(&key) {
            let p = predict::predict_with_runs(&model, &exp, predict::SEEDS)
                .await
                .with_context(|| format!("{}: simulating the recorded run", path.display()))?;
            predicted.insert(key.clone(), p);
        }
        let (prediction, seeds) = predicted[&key].clone();
        runs.push(Recorded {
            name,
            record,
            prediction,
            seeds,
            model_source,
        });
    }
    Ok(Calibration::new(runs))
}

/// The recording at `path` and the model to simulate it on (with where it came from).
fn read(
    path: &Path,
    fallback: Option<&(ClusterModel, String)>,
) -> anyhow::Result<(Recording, ClusterModel, String)> {
    let recording = crate::recording::read(path).map_err(|e| invalid(e.to_string()))?;
    if recording.entries.is_empty() {
        return Err(invalid(format!(
            "{}: not a recording: it holds no line",
            path.display()
        )));
    }
    if recording.ends_unfinished() {
        return Err(invalid(format!(
            "{}:{}: the recording ends before its run finished (no line says it completed, \
             failed or was aborted): is it truncated?",
            recording.source, recording.lines
        )));
    }
    let (model, source) = match (&recording.model, fallback) {
        (Some(m), _) => (
            m.model.clone(),
            format!("the snapshot it carries ({})", m.received),
        ),
        (None, Some((m, source))) => (m.clone(), source.clone()),
        (None, None) => {
            return Err(invalid(format!(
                "{}: the recording carries no snapshot; record with `run --predict` or give \
             --model FILE",
                path.display()
            )));
        }
    };
    Ok((recording, model, source))
}

/// Bad input: exit 2 through the error kinds' mapping (`cli::exit::for_error`).
fn invalid(message: String) -> anyhow::Error {
    crate::Error::Invalid(message).into()
}

/// The experiment the recording ran.
fn experiment(path: &Path, recording: &Recording) -> anyhow::Result<ExperimentRef> {
    match &recording.experiment {
        Some(e) => Ok(ExperimentRef::from(e.clone())),
        None => Err(invalid(format!(
            "{}: not a recording of a run: it does not say which experiment it ran (no run \
             line with the experiment, no run-meta.json naming it)",
            path.display()
        ))),
    }
}

/// The recorded run as today's code replays it.
async fn replay(
    path: &Path,
    recording: Recording,
    exp: &ExperimentRef,
) -> anyhow::Result<engine::RunRecord> {
    let mut cluster =
        ReplayCluster::new(recording).with_context(|| format!("replaying {}", path.display()))?;
    let opts = RunOptions::new(engine::run_id(&exp.name, cluster.now(), 0));
    engine::run_unattended(&mut cluster, exp, &opts)
        .await
        .with_context(|| format!("replaying {}", path.display()))
}

/// How the tables name each recording: its path without the folders all of them share (its
/// file name when there is one).
fn names(paths: &[PathBuf]) -> Vec<String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    let shortest = parts.iter().map(Vec::len).min().unwrap_or(0);
    // Keep at least the last component of each.
    let common = (0..shortest.saturating_sub(1))
        .take_while(|&i| parts.iter().all(|p| p[i] == parts[0][i]))
        .count();
    parts.iter().map(|p| p[common..].join("/")).collect()
}

#[cfg(test)]
mod tests;
