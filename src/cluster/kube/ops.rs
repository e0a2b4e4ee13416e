//! The API operations on the target workload, the same for Deployments and StatefulSets.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::call::{CallPolicy, status_code};
use crate::inject::{FIELD_MANAGER, revert_patch};
use crate::spec::TargetKind;
use crate::{Error, Result};

/// What oomsday reads of the target workload.
#[derive(Debug, Clone, Default)]
pub struct WorkloadView {
    pub annotations: BTreeMap<String, String>,
    pub replicas: u32,
    pub selector: LabelSelector,
    pub template: Option<PodTemplateSpec>,
}

impl WorkloadView {
    /// Deployments and StatefulSets differ in type, not in these fields.
    fn new(
        obj: &impl ResourceExt,
        replicas: Option<i32>,
        selector: LabelSelector,
        template: PodTemplateSpec,
    ) -> Self {
        WorkloadView {
            annotations: obj.annotations().clone(),
            // The API defaults an unset replicas to 1.
            replicas: replicas.map_or(1, |r| u32::try_from(r).unwrap_or(0)),
            selector,
            template: Some(template),
        }
    }
}

/// The two kinds of workload, uniformly.
pub trait Workload:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    fn view(&self) -> WorkloadView;
}

impl Workload for Deployment {
    fn view(&self) -> WorkloadView {
        let spec = self.spec.clone().unwrap_or_default();
        WorkloadView::new(self, spec.replicas, spec.selector, spec.template)
    }
}

impl Workload for StatefulSet {
    fn view(&self) -> WorkloadView {
        let spec = self.spec.clone().unwrap_or_default();
        WorkloadView::new(self, spec.replicas, spec.selector, spec.template)
    }
}

/// The names in a server-side-apply conflict message (`conflict with "kubectl-edit" using
/// apps/v1: ...`, or `conflicts with "helm" ...` for several fields).
pub fn conflict_managers(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for marker in ["conflict with \"", "conflicts with \""] {
        let mut rest = message;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            if let Some(end) = rest.find('"') {
                let name = rest[..end].to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Maps the API's answers about the target to errors that name it.
pub fn target_error(e: Error, kind: TargetKind, namespace: &str, name: &str, verb: &str) -> Error {
    let Error::Kube(k) = e else { return e };
    match (status_code(&k), &k) {
        (Some(404), _) => Error::NotFound {
            kind: kind.as_str().into(),
            namespace: namespace.into(),
            name: name.into(),
        },
        (Some(409), kube::Error::Api(s)) => {
            let managers = conflict_managers(&s.message);
            Error::Conflict {
                what: format!("{verb} {} {namespace}/{name}", kind.as_str()),
                managers: if managers.is_empty() {
                    "another field manager".into()
                } else {
                    managers.join(", ")
                },
                message: s.message.clone(),
            }
        }
        (Some(403), kube::Error::Api(s)) => Error::Forbidden(format!(
            "{verb} {} {namespace}/{name}: {}",
            kind.as_str(),
            s.message
        )),
        _ => Error::Kube(k),
    }
}

/// Reads the target; a missing one is a clear error naming kind, namespace and name.
pub async fn get<K: Workload>(
    client: &Client,
    policy: &CallPolicy,
    kind: TargetKind,
    namespace: &str,
    name: &str,
) -> Result<K> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("get {} {namespace}/{name}", kind.as_str());
    policy
        .call(&what, || api.get(name))
        .await
        .map_err(|e| target_error(e, kind, namespace, name, "get"))
}

/// Server-side apply under oomsday's field manager, never forced; `dry_run` asks the API to
/// admit and validate without persisting (`dryRun=All`).
pub async fn apply<K: Workload>(
    client: &Client,
    policy: &CallPolicy,
    kind: TargetKind,
    namespace: &str,
    name: &str,
    patch: &Value,
    dry_run: bool,
) -> Result<K> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.dry_run = dry_run;
    let what = format!("apply {} {namespace}/{name}", kind.as_str());
    let patch = Patch::Apply(patch);
    policy
        .call(&what, || api.patch(name, &pp, &patch))
        .await
        .map_err(|e| target_error(e, kind, namespace, name, "apply to"))
}

/// Takes oomsday's fields out of the workload; a workload that is gone has nothing to revert.
pub async fn revert<K: Workload>(
    client: &Client,
    policy: &CallPolicy,
    kind: TargetKind,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("get {} {namespace}/{name}", kind.as_str());
    // Applying to a missing name would try to create it; look first.
    if policy.call(&what, || api.get_opt(name)).await?.is_none() {
        tracing::info!(kind = kind.as_str(), %namespace, %name, "workload is gone; nothing to revert");
        return Ok(());
    }
    let patch = revert_patch(kind, namespace, name);
    match apply::<K>(client, policy, kind, namespace, name, &patch, false).await {
        Err(Error::NotFound { .. }) => Ok(()),
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
mod tests;
