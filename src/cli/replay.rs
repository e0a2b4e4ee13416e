//! `oomsday replay RECORDING`: re-scores a recorded run with today's code and writes its reports.

use std::path::PathBuf;

use anyhow::Context as _;

use super::conclude::{ReportArgs, conclude};
use super::exit;
use super::experiments::load;
use crate::cluster::ReplayCluster;
use crate::engine::{self, Cluster, ExperimentRef, RunOptions};
use crate::narrate;

/// Replay a recorded run: re-score it with today's code and write its reports.
///
/// RECORDING is a file written by `oomsday run --record FILE`, or a folder recorded beside a
/// run (watch.jsonl, leaker-metrics.jsonl, run-meta.json, recorder-meta.json; see
/// tests/fixtures/real-runs). Every watch event is fed, at the time it was received, through the
/// same classifier, engine, scorer and reports as a live run, on a virtual clock: nothing is sent
/// to any cluster. The injection and the revert are read from the recording (the workload's
/// template gaining and losing the leaker). Probes and alert checks cannot be replayed: the
/// detection facet is not measured.
///
/// Use it to re-score old runs after a scoring change, to try another hypothesis or abort rule
/// on a run that happened (--experiment), or to attach a recording to a bug report.
///
/// Exit codes: as `oomsday run` — 0 passed, 1 hypothesis failed or score under --min-score,
/// 2 invalid input, 3 aborted, 4 inconclusive.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The recording: an `oomsday run --record` file, or a folder recorded beside a run.
    pub recording: PathBuf,
    /// Judge with this experiment instead of the one the recording ran (its target must be the
    /// recorded one).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Print at most this many lines of the run's story (the reports have all of it).
    #[arg(long, default_value_t = 60)]
    pub max_lines: usize,
}

/// Runs the command; returns the exit code.
pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let recording = match crate::recording::read(&args.recording) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let mut cluster = ReplayCluster::new(recording)
        .with_context(|| format!("replaying {}", args.recording.display()))?;
    let exp = match &args.experiment {
        Some(path) => {
            let Some(mut found) = load(path) else {
                return Ok(exit::USAGE);
            };
            if found.len() != 1 {
                eprintln!(
                    "error: {}: holds {} experiments, not one",
                    path.display(),
                    found.len()
                );
                return Ok(exit::USAGE);
            }
            let recorded_ns = cluster.experiment().map(|e| e.namespace.clone());
            let default_ns = recorded_ns.unwrap_or_else(|| "default".into());
            super::experiments::experiment_ref(&found.remove(0), None, &default_ns)?
        }
        None => match cluster.experiment() {
            Some(e) => ExperimentRef::from(e.clone()),
            None => {
                eprintln!(
                    "error: {}: the recording does not say which experiment it ran; pass \
                     --experiment EXP.yaml",
                    args.recording.display()
                );
                return Ok(exit::USAGE);
            }
        },
    };
    let started = cluster.now();
    // The same recording gets the same run id: replays are reproducible to the byte.
    let opts = RunOptions::new(engine::run_id(&exp.name, started, 0));
    println!(
        "REPLAY — {} ({}) from {}",
        exp.name,
        exp.namespace,
        cluster.describe()
    );
    let result = engine::run_unattended(&mut cluster, &exp, &opts).await;
    if let Ok(record) = &result {
        let lines: Vec<String> = narrate::story(record.timeline.entries(), &exp.spec.target.name)
            .into_iter()
            .map(|l| format!("{} {}", crate::score::offset(record.started, l.at), l.text))
            .collect();
        super::simulate::print_lines(&lines, args.max_lines);
    }
    let (_, outcome) = conclude(result, None, Vec::new(), &args.reports)?;
    Ok(exit::of(outcome))
}
