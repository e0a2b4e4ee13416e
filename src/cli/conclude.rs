//! What a finished run becomes, for every command that runs one (`run`, `simulate`,
//! `replay`): its score, its report files, a summary line and the outcome the exit code says.

use std::path::PathBuf;

use crate::engine::{Outcome, RunRecord};
use crate::report::{self, Format, Report};

/// What `run` and `simulate` do with a finished run: where reports go, in which formats, and the
/// score under which the exit code says failed.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Exit 1 when a run scores below this (0-100), even if its hypothesis held.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub min_score: Option<u32>,
    /// Directory for the report files.
    #[arg(long, default_value = "oomsday-reports")]
    pub out: PathBuf,
    /// Report formats to write (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "json,md,junit,html")]
    pub format: Vec<Format>,
}

/// Scores a finished run (with the prediction made before it beside it, if one was, and the
/// target's working sets from the model a simulated run ran on), writes its reports into
/// `out`, prints a summary, and returns the report and the run's outcome. A failed revert
/// still gets its reports (the record travels in the error) and prints what to do.
pub fn conclude(
    result: crate::Result<RunRecord>,
    prediction: Option<crate::predict::Prediction>,
    model_memory: Vec<crate::predict::ContainerMemory>,
    reports: &ReportArgs,
) -> anyhow::Result<(Option<Report>, Outcome)> {
    let (out, formats, min_score) = (&reports.out, &reports.format[..], reports.min_score);
    let (record, revert_error) = match result {
        Ok(record) => (record, None),
        Err(crate::Error::RevertFailed {
            message,
            namespace,
            record,
        }) => (
            *record,
            Some(format!(
                "{message}; the leaker may still be in place: run `oomsday cleanup -n {namespace}`"
            )),
        ),
        Err(e) => return Err(e.into()),
    };
    let report = Report::new(record, prediction).with_model_memory(model_memory);
    // A run that never injected has nothing to chart or judge: one small JSON report says why.
    let formats = if report.score.total.is_none() {
        &[Format::Json][..]
    } else {
        formats
    };
    // The run happened whatever the disk says: a write failure must not hide its outcome.
    let paths = report::write(out, &report, formats).unwrap_or_else(|e| {
        eprintln!("error: writing reports to {}: {e}", out.display());
        Vec::new()
    });
    let outcome = if revert_error.is_some() {
        Outcome::RevertFailed
    } else {
        Outcome::of(
            report.record.phase,
            report.score.verdict,
            report.score.total,
            min_score,
        )
    };
    println!("{}", summary_line(&report, outcome));
    for c in report.score.failed_clauses() {
        println!("  failed: {} — {}", c.clause, c.detail);
    }
    if outcome == Outcome::BelowMinScore {
        println!(
            "  score {} is under --min-score {}",
            report.score.headline(),
            min_score.unwrap_or_default()
        );
    }
    for p in &paths {
        println!("  report: {}", p.display());
    }
    if let Some(e) = revert_error {
        eprintln!("error: {e}");
    }
    super::snapshot::print_comparison(&report);
    Ok((Some(report), outcome))
}

pub(crate) fn summary_line(report: &Report, outcome: Outcome) -> String {
    let r = &report.record;
    format!(
        "{}{}: {} — {}, verdict {:?}, phase {:?}{}",
        r.experiment,
        if r.simulated { " (simulated)" } else { "" },
        outcome,
        match report.score.total {
            Some(_) => format!("score {}", report.score.headline()),
            None => report.score.headline(),
        },
        report.score.verdict,
        r.phase,
        r.message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    )
}
