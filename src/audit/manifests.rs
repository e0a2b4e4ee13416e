//! Manifests on disk → an [`Inventory`]. Multi-document YAML (what `kustomize build` and `helm
//! template` print) and `kind: List` work; kinds the audit does not read are skipped.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Inventory, Sourced};
use crate::{Error, Result};

fn typed<T: DeserializeOwned>(v: Value, file: &str, kind: &str) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| Error::Invalid(format!("{file}: a {kind} that is not valid: {e}")))
}

/// Adds the objects of one YAML text to the inventory. `file` names it in findings and errors.
pub fn parse_manifests(text: &str, file: &str, inv: &mut Inventory) -> Result<()> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| Error::Invalid(format!("{file}: not valid YAML: {e}")))?;
    let mut queue: Vec<Value> = docs;
    queue.reverse();
    while let Some(doc) = queue.pop() {
        let Value::Object(map) = &doc else {
            // Empty documents (a trailing `---`) and scalars are not objects; skip them.
            continue;
        };
        let kind = map
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = kind.as_str();
        let src = Some(file.to_string());
        let namespace_name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if kind == "List" {
            if let Some(Value::Array(items)) = map.get("items") {
                queue.extend(items.iter().rev().cloned());
            }
            continue;
        }
        match (api.as_str(), kind) {
            ("apps/v1", "Deployment") => inv.deployments.push(Sourced {
                object: typed(doc, file, kind)?,
                file: src,
            }),
            ("apps/v1", "StatefulSet") => inv.statefulsets.push(Sourced {
                object: typed(doc, file, kind)?,
                file: src,
            }),
            ("policy/v1", "PodDisruptionBudget") => inv.pdbs.push(Sourced {
                object: typed(doc, file, kind)?,
                file: src,
            }),
            ("v1", "LimitRange") => inv.limit_ranges.push(typed(doc, file, kind)?),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => inv.hpas.push(typed(doc, file, kind)?),
            ("v1", "Namespace") => {
                if let Some(name) = namespace_name {
                    inv.namespaces.insert(name);
                }
            }
            ("v1", "Node") => inv.nodes.push(typed(doc, file, kind)?),
            _ => {}
        }
    }
    Ok(())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        context: format!("reading directory {}", dir.display()),
        source,
    })?;
    for entry in rd {
        let entry = entry.map_err(|source| Error::Io {
            context: format!("reading directory {}", dir.display()),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every `.yaml`/`.yml` file under `path` (or the one file `path` names), in a stable
/// order, into an inventory.
pub fn load_manifests(path: &Path, default_namespace: &str) -> Result<Inventory> {
    let mut files = Vec::new();
    if path.is_dir() {
        yaml_files(path, &mut files)?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut inv = Inventory {
        default_namespace: default_namespace.to_string(),
        ..Inventory::default()
    };
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| Error::Io {
            context: format!("reading {}", f.display()),
            source,
        })?;
        parse_manifests(&text, &f.display().to_string(), &mut inv)?;
    }
    Ok(inv)
}
