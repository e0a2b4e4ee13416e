//! Schemas generated from the Rust types, never written by hand: the two CRDs (`oomsday crd`,
//! checked in under deploy/crds/) and the JSON Schema editors validate experiment files with
//! (`oomsday schema`, checked in under deploy/schema/).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::CustomResourceExt;
use serde_json::{Value, json};

use super::types::{API_VERSION, LeakExperiment, LeakExperimentSpec, LeakRun};

/// Both CRDs, LeakExperiment first, with the CEL rules of [`super::api_rules`] on each
/// experiment spec.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut out = vec![LeakExperiment::crd(), LeakRun::crd()];
    for crd in &mut out {
        add_rules(crd);
    }
    out
}

/// The experiment spec of a CRD's schema: the LeakExperiment's `spec`, the LeakRun's
/// `spec.experimentSpec`.
fn experiment_spec(crd: &mut CustomResourceDefinition) -> Option<&mut JSONSchemaProps> {
    let kind = crd.spec.names.kind.clone();
    let root = crd
        .spec
        .versions
        .first_mut()?
        .schema
        .as_mut()?
        .open_api_v3_schema
        .as_mut()?;
    let spec = root.properties.as_mut()?.get_mut("spec")?;
    if kind == "LeakRun" {
        spec.properties.as_mut()?.get_mut("experimentSpec")
    } else {
        Some(spec)
    }
}

/// Adds the CEL rules; the nodes it could not find (none, as a test checks).
pub fn add_rules(crd: &mut CustomResourceDefinition) -> Vec<String> {
    match experiment_spec(crd) {
        Some(spec) => super::api_rules::apply(spec),
        None => vec![format!("{}: no experiment spec", crd.spec.names.kind)],
    }
}

/// One CRD as YAML, as `kubectl apply -f` reads it.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> crate::Result<String> {
    // Through a JSON value: the output then holds exactly what the API server gets, in the
    // key order of the generated schema.
    let value = serde_json::to_value(crd)?;
    serde_saphyr::to_string(&value).map_err(|e| crate::Error::Internal(format!("CRD to YAML: {e}")))
}

/// `(file name, YAML)` of each CRD, as checked in under deploy/crds/.
pub fn crd_files() -> crate::Result<Vec<(String, String)>> {
    crds()
        .iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.spec.names.plural);
            Ok((name, format!("{HEADER}{}", crd_yaml(crd)?)))
        })
        .collect()
}

/// The header of every generated file: says where it comes from and how to regenerate it.
pub const HEADER: &str =
    "# Generated from src/spec/types.rs by `oomsday crd --out deploy/crds`. Do not edit.\n";

/// The JSON Schema (draft-07, the YAML language server's best-supported draft) of an experiment
/// file. Unlike the CRDs it keeps `additionalProperties: false`, so editors flag unknown fields
/// as `oomsday validate` does.
pub fn experiment_json_schema() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let root = settings
        .into_generator()
        .into_root_schema_for::<LeakExperimentSpec>();
    let mut spec = root.to_value();
    let mut definitions = spec
        .as_object_mut()
        .and_then(|o| o.remove("definitions"))
        .unwrap_or_else(|| json!({}));
    if let Some(o) = spec.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    if let Some(d) = definitions.as_object_mut() {
        d.insert("LeakExperimentSpec".into(), spec);
    }
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://oomsday.dev/schema/leakexperiment.schema.json",
        "title": "LeakExperiment",
        "description": "An oomsday experiment file: a rehearsal of a memory leak in a Kubernetes workload. Check it with `oomsday validate`.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": "LeakExperiment"},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "The experiment's name."},
                    "namespace": {"type": "string", "description": "The experiment's namespace, which is also the target's (default: default)."},
                    "labels": string_map,
                    "annotations": string_map
                }
            },
            "spec": {"$ref": "#/definitions/LeakExperimentSpec"}
        },
        "definitions": definitions
    })
}

/// Why a CRD's schema is not structural (empty when it is). A real API server refuses
/// non-structural schemas; see
/// <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema>.
pub fn structural_problems(crd: &CustomResourceDefinition) -> Vec<String> {
    let mut out = Vec::new();
    for v in &crd.spec.versions {
        let Some(schema) = v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        else {
            out.push(format!("{}: no openAPIV3Schema", v.name));
            continue;
        };
        match serde_json::to_value(schema) {
            Ok(value) => walk(
                &value,
                &format!("{}.{}", crd.spec.names.kind, v.name),
                true,
                &mut out,
            ),
            Err(e) => out.push(format!("{}: {e}", v.name)),
        }
    }
    out
}

fn walk(node: &Value, at: &str, root: bool, out: &mut Vec<String>) {
    let Some(o) = node.as_object() else {
        out.push(format!("{at}: a schema must be an object"));
        return;
    };
    if o.contains_key("$ref") {
        out.push(format!("{at}: $ref is not allowed"));
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = o.get(k).and_then(Value::as_array) {
            for (i, sub) in list.iter().enumerate() {
                // Inside the logical junctors only value validations may appear: no type, no
                // description, no additionalProperties.
                for bad in [
                    "type",
                    "description",
                    "additionalProperties",
                    "default",
                    "nullable",
                ] {
                    if sub.get(bad).is_some() {
                        out.push(format!("{at}.{k}[{i}]: `{bad}` is not allowed here"));
                    }
                }
            }
        }
    }
    let int_or_string = o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let ty = o.get("type");
    match ty {
        None if int_or_string || preserve => {}
        None => out.push(format!("{at}: no type")),
        Some(Value::String(_)) => {}
        Some(other) => out.push(format!("{at}: type must be one string, not {other}")),
    }
    match ty.and_then(Value::as_str) {
        Some("object") => {
            let props = o.get("properties").and_then(Value::as_object);
            let addl = o.get("additionalProperties");
            if props.is_some() && addl.is_some() {
                out.push(format!(
                    "{at}: properties and additionalProperties together (deny_unknown_fields leaking into the CRD?)"
                ));
            }
            if let Some(props) = props {
                for (k, v) in props {
                    walk(v, &format!("{at}.{k}"), false, out);
                }
            }
            match addl {
                Some(Value::Object(_)) => {
                    if let Some(a) = addl {
                        walk(a, &format!("{at}.*"), false, out);
                    }
                }
                Some(Value::Bool(true)) => out.push(format!(
                    "{at}: additionalProperties: true (use x-kubernetes-preserve-unknown-fields)"
                )),
                _ => {}
            }
            // An object with nothing declared would have all its content pruned; only the
            // root's metadata is allowed to be so, as the API server fills it in.
            if props.is_none()
                && addl.is_none()
                && !preserve
                && !(root || at.ends_with(".metadata"))
            {
                out.push(format!(
                    "{at}: object without properties: its content would be pruned"
                ));
            }
        }
        Some("array") => match o.get("items") {
            Some(items) => walk(items, &format!("{at}[]"), false, out),
            None => out.push(format!("{at}: array without items")),
        },
        _ => {}
    }
}

/// Where `value` (a LeakExperiment's `spec`) has a JSON type the CRD does not allow, as
/// `(path below spec, message)`. oomsday reads `start: 0` or `max: 2e9` as quantities, but the API
/// server validates against the CRD, where quantities are strings: such a file passes
/// `oomsday run` and fails `kubectl apply`.
pub fn api_type_mismatches(value: &Value) -> Vec<(super::yaml::FieldPath, String)> {
    static SPEC_SCHEMA: std::sync::OnceLock<Option<Value>> = std::sync::OnceLock::new();
    let schema = SPEC_SCHEMA.get_or_init(|| {
        let crd = LeakExperiment::crd();
        let s = crd
            .spec
            .versions
            .first()?
            .schema
            .as_ref()?
            .open_api_v3_schema
            .as_ref()?;
        let v = serde_json::to_value(s).ok()?;
        v.pointer("/properties/spec").cloned()
    });
    let mut out = Vec::new();
    if let Some(schema) = schema {
        mismatches(value, schema, &super::yaml::FieldPath::root(), &mut out);
    }
    out
}

fn mismatches(
    v: &Value,
    schema: &Value,
    at: &super::yaml::FieldPath,
    out: &mut Vec<(super::yaml::FieldPath, String)>,
) {
    if v.is_null() || schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
    {
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            out.push((
                at.clone(),
                "the API server expects a whole number or a string here".into(),
            ));
        }
        return;
    }
    let Some(ty) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let fits = match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    };
    if !fits {
        // Only scalars are worth a hint; a wrong structure has already failed to deserialize.
        if ty == "string" && (v.is_number() || v.is_boolean()) {
            out.push((
                at.clone(),
                format!(
                    "oomsday reads {v} here, but the API server expects a string: quote it (\"{v}\") so that `kubectl apply` accepts the file"
                ),
            ));
        }
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let addl = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, item) in m {
                let sub = props.and_then(|p| p.get(k)).or(addl);
                if let Some(sub) = sub {
                    mismatches(item, sub, &at.key(k), out);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, item) in a.iter().enumerate() {
                    mismatches(item, items, &at.index(i), out);
                }
            }
        }
        _ => {}
    }
}

/// The documentation of the field at `path` (below `spec`), from the same `///` docs as the CRD:
/// what a "missing field" message says is expected there.
pub fn field_description(path: &super::yaml::FieldPath) -> Option<String> {
    use super::yaml::Seg;
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(experiment_json_schema);
    let defs = schema.get("definitions")?;
    // Follows `$ref`, and an `Option`'s `anyOf: [{$ref}, {type: null}]`, to the real schema.
    let resolve = |mut v: &'static Value| -> Option<&'static Value> {
        for _ in 0..8 {
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                v = defs.get(r.strip_prefix("#/definitions/")?)?;
            } else if let Some(any) = v
                .get("anyOf")
                .or_else(|| v.get("allOf"))
                .and_then(Value::as_array)
            {
                v = any.iter().find(|s| s.get("type") != Some(&json!("null")))?;
            } else {
                return Some(v);
            }
        }
        None
    };
    let mut node = defs.get("LeakExperimentSpec")?;
    let mut desc = None;
    for seg in &path.0 {
        let here = resolve(node)?;
        match seg {
            Seg::Key(k) => {
                node = here.get("properties")?.get(k)?;
                desc = node.get("description").and_then(Value::as_str);
            }
            Seg::Index(_) => node = here.get("items")?,
        }
    }
    desc.map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests;
