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
mod tests {
    use super::*;

    fn stored_report(dir: &std::path::Path) -> PathBuf {
        let spec = crate::score::testkit::spec(
            serde_json::json!({"hypothesis": {"maxBystanderEvictions": 0}}),
        );
        let rec = crate::score::testkit::record(
            spec,
            vec![(0, crate::score::testkit::leaker_started("p", "n1"))],
        );
        let paths = report::write(dir, &Report::new(rec), &[Format::Json]).unwrap();
        paths[0].clone()
    }

    #[test]
    fn renders_a_stored_report() {
        let dir = std::env::temp_dir().join(format!("oomsday-cli-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let json = stored_report(&dir);
        let out = dir.join("out.xml");
        let code = exec(Args {
            files: vec![json.clone()],
            format: Format::Junit,
            output: Some(out.clone()),
        })
        .unwrap();
        assert_eq!(code, exit::OK);
        let xml = std::fs::read_to_string(&out).unwrap();
        assert!(xml.contains("name=\"maxBystanderEvictions: 0\""), "{xml}");

        let suite = dir.join("suite.md");
        let args = |format| Args {
            files: vec![json.clone(), json.clone()],
            format,
            output: Some(suite.clone()),
        };
        assert_eq!(exec(args(Format::Md)).unwrap(), exit::OK);
        assert!(
            std::fs::read_to_string(&suite)
                .unwrap()
                .contains("**2 runs: 2 passed")
        );
        assert_eq!(exec(args(Format::Html)).unwrap(), exit::USAGE);

        let missing = Args {
            files: vec![dir.join("run-that-is-a-leakrun-name")],
            format: Format::Md,
            output: None,
        };
        assert_eq!(exec(missing).unwrap(), exit::USAGE);
        std::fs::write(dir.join("bad.json"), "{\"schemaVersion\": 9}").unwrap();
        let bad = Args {
            files: vec![dir.join("bad.json")],
            format: Format::Md,
            output: None,
        };
        assert!(format!("{:#}", exec(bad).unwrap_err()).contains("schemaVersion 9"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
