//! Experiment files as the commands that run them read them (`run`, `simulate`, `replay`,
//! `calibrate`): loaded with their diagnostics printed, and named.

use std::path::Path;

use anyhow::Context as _;

use crate::engine::ExperimentRef;
use crate::spec::{self, SourcedExperiment};

/// Loads the experiments at `path`, printing warnings and diagnostics; None when the input is
/// invalid or holds no experiment (exit 2). Shared by `run` and `simulate`.
pub fn load(path: &Path) -> Option<Vec<SourcedExperiment>> {
    match spec::load_experiments(path) {
        Ok((experiments, _)) if experiments.is_empty() => {
            eprintln!("no experiments found in {}", path.display());
            None
        }
        Ok((experiments, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            Some(experiments)
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            None
        }
    }
}

pub fn experiment_name(sourced: &SourcedExperiment) -> Option<String> {
    sourced.experiment.metadata.name.clone().or_else(|| {
        sourced
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    })
}

/// The experiment's name and namespace: `-n` wins, then metadata.namespace, then the
/// kubeconfig context's namespace.
pub fn experiment_ref(
    sourced: &SourcedExperiment,
    namespace: Option<&str>,
    default_namespace: &str,
) -> anyhow::Result<ExperimentRef> {
    let name = experiment_name(sourced)
        .with_context(|| format!("{}: the experiment has no name", sourced.file.display()))?;
    let namespace = namespace
        .map(str::to_string)
        .or_else(|| sourced.experiment.metadata.namespace.clone())
        .unwrap_or_else(|| default_namespace.to_string());
    Ok(ExperimentRef {
        name,
        namespace,
        spec: sourced.experiment.spec.clone(),
    })
}
