//! `oomsday validate FILE|DIR...`: schema and semantic checks of experiment files, one line per
//! problem with file, line, column and field path. Exit 0 all valid, 1 any invalid (or, with
//! `--strict`, any warning), 2 usage error (a path that does not exist).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::exit;
use crate::spec::{Checked, Diagnostic, Severity, check_files, collect_files};

/// Check experiment files: schema and semantics, every error with file, line and field.
///
/// FILE or DIR (every *.yaml/*.yml below it, multi-document files too). Exit 0 when all are
/// valid, 1 when any is invalid (or has warnings, with --strict), 2 on usage errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment files, or directories: every *.yaml and *.yml below them.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Output format: text (one line per problem) or json (for machines).
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Print only problems, no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn exec(args: Args) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for p in &args.paths {
        match collect_files(p) {
            Ok(f) => files.extend(f),
            Err(d) => {
                eprintln!("{d}");
                return Ok(exit::USAGE);
            }
        }
    }
    let mut checked = check_files(&files);
    // A file named on the command line that holds no experiment at all is probably the wrong file.
    for p in args.paths.iter().filter(|p| p.is_file()) {
        let used = checked.experiments.iter().any(|x| &x.file == p)
            || checked.diagnostics.iter().any(|d| &d.file == p);
        if !used {
            checked.diagnostics.push(Diagnostic {
                file: p.clone(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "no LeakExperiment in this file".into(),
                severity: Severity::Warning,
            });
        }
    }
    let failed = checked.errors() > 0 || (args.strict && checked.warnings() > 0);
    match print(&args, &checked, failed) {
        // `oomsday validate ... | head` is not a failure of the files.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn print(args: &Args, checked: &Checked, failed: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Text => {
            for d in &checked.diagnostics {
                writeln!(out, "{d}")?;
            }
            if !args.quiet {
                writeln!(out, "{}", summary(checked))?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json_report(checked, !failed))?;
            writeln!(out)?;
        }
    }
    out.flush()
}

fn plural(n: usize, what: &str) -> String {
    crate::narrate::plural(n as u64, what, &format!("{what}s"))
}

fn summary(c: &Checked) -> String {
    let mut s = if c.errors() == 0 {
        format!(
            "ok: {} valid in {}",
            plural(c.experiments.len(), "experiment"),
            plural(c.files, "file")
        )
    } else {
        format!(
            "invalid: {} in {}; {} valid",
            plural(c.errors(), "error"),
            plural(c.files, "file"),
            plural(c.experiments.len(), "experiment")
        )
    };
    if c.warnings() > 0 {
        s.push_str(&format!(", {}", plural(c.warnings(), "warning")));
    }
    if c.skipped > 0 {
        s.push_str(&format!(
            " ({} of another kind skipped)",
            plural(c.skipped, "document")
        ));
    }
    s
}

fn json_report(c: &Checked, valid: bool) -> serde_json::Value {
    let experiments: Vec<_> = c
        .experiments
        .iter()
        .map(|x| {
            serde_json::json!({
                "file": x.file,
                "line": x.line,
                "namespace": x.experiment.metadata.namespace,
                "name": x.experiment.metadata.name,
            })
        })
        .collect();
    serde_json::json!({
        "valid": valid,
        "files": c.files,
        "errors": c.errors(),
        "warnings": c.warnings(),
        "skipped": c.skipped,
        "experiments": experiments,
        "diagnostics": c.diagnostics,
    })
}
