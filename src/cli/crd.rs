//! `oomsday crd` prints (or writes) the two CRDs generated from the Rust types; `oomsday schema`
//! prints the JSON Schema for experiment files. deploy/ holds the same, checked by tests.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::exit;
use crate::spec::schema;

/// Print the CustomResourceDefinitions generated from the Rust types (deploy/crds holds the same).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write one file per CRD into this directory (deploy/crds) instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Print the JSON Schema of experiment files, for editors with the YAML language server.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write it to this file (deploy/schema/leakexperiment.schema.json) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn exec(args: Args) -> anyhow::Result<u8> {
    let files = schema::crd_files()?;
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, yaml) in files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let docs: Vec<String> = files.into_iter().map(|(_, y)| y).collect();
            print!("{}", docs.join("---\n"));
        }
    }
    Ok(exit::OK)
}

/// The schema as it is checked in: pretty JSON with a final newline.
pub fn schema_text() -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(&schema::experiment_json_schema())?;
    s.push('\n');
    Ok(s)
}

pub fn exec_schema(args: SchemaArgs) -> anyhow::Result<u8> {
    let text = schema_text()?;
    match args.out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(exit::OK)
}
