//! `oomsday report FILE.json... --format html|md|json|junit [-o OUT]`: renders stored run reports
//! (the JSON that `run` and `simulate` write). Several files render as one suite summary
//! (Markdown). Reading a LeakRun by name from the cluster is not supported yet.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::exit;
use crate::report::{self, Format, Report};

/// Render a stored run report (its JSON) as html, md, json or junit.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON report files written by `oomsday run` or `oomsday simulate`. Several: a suite summary.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

pub fn exec(args: Args) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    for f in &args.files {
        if !f.exists() {
            eprintln!(
                "error: {} does not exist (reading a LeakRun from the cluster by name is not supported yet: \
                 pass a JSON report file)",
                f.display()
            );
            return Ok(exit::USAGE);
        }
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        reports.push(Report::from_json(&text).with_context(|| format!("reading {}", f.display()))?);
    }
    let text = match reports.as_slice() {
        [one] => report::render(one, args.format),
        many if args.format == Format::Md => report::suite_summary(many),
        _ => {
            eprintln!(
                "error: several reports render only as a Markdown suite summary (--format md)"
            );
            return Ok(exit::USAGE);
        }
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing the report")?,
        },
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests;
