//! Preflight, the pure half: which permissions a run needs, which namespaces are off limits,
//! whether another run holds the workload, and the defences snapshot from listed objects.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::keys::{DEADLINE, RUN_ID};
use crate::observe::Time;
use crate::spec::{InjectionMode, TargetKind};
use crate::{Error, Result};

/// Namespaces a target may be in only when the experiment says so.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// One permission, as a SelfSubjectAccessReview asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    /// `None`: in every namespace (or a cluster-scoped resource).
    pub namespace: Option<String>,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(s) = self.subresource {
            write!(f, "/{s}")?;
        }
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => write!(f, " (cluster-wide)"),
        }
    }
}

/// Everything a run of `kind` in `namespace` does with the API. Pods, Events and nodes are
/// watched cluster-wide: bystanders on the target's nodes may live in any namespace, and the
/// kubelet records node events in `default`.
pub fn required_access(namespace: &str, kind: TargetKind, mode: InjectionMode) -> Vec<Access> {
    let ns = || Some(namespace.to_string());
    let workload = match kind {
        TargetKind::Deployment => "deployments",
        TargetKind::StatefulSet => "statefulsets",
    };
    let a = |verb, group, resource, namespace| Access {
        verb,
        group,
        resource,
        subresource: None,
        namespace,
    };
    let mut v = vec![
        a("get", "apps", workload, ns()),
        a("list", "apps", workload, ns()),
        a("watch", "apps", workload, ns()),
        a("patch", "apps", workload, ns()),
        a("list", "", "pods", None),
        a("watch", "", "pods", None),
        a("list", "", "nodes", None),
        a("watch", "", "nodes", None),
        a("list", "", "events", None),
        a("watch", "", "events", None),
        a("list", "policy", "poddisruptionbudgets", ns()),
        a("watch", "policy", "poddisruptionbudgets", ns()),
        a("list", "", "limitranges", ns()),
        a("list", "autoscaling", "horizontalpodautoscalers", ns()),
    ];
    if mode == InjectionMode::Ephemeral {
        v.push(Access {
            verb: "patch",
            group: "",
            resource: "pods",
            subresource: Some("ephemeralcontainers"),
            namespace: ns(),
        });
    }
    v
}

/// The error for the permissions the API refused, naming every one.
pub fn forbidden(missing: &[Access]) -> Error {
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    Error::Forbidden(format!(
        "{}; grant them (deploy/rbac.yaml lists them) or use a context that has them",
        list.join(", ")
    ))
}

/// Refuses the control plane's namespaces unless the experiment allows them.
pub fn check_namespace(namespace: &str, allow_system: bool) -> Result<()> {
    if SYSTEM_NAMESPACES.contains(&namespace) && !allow_system {
        return Err(Error::Invalid(format!(
            "namespace {namespace} is a system namespace; set spec.allowSystemNamespaces: true \
             if leaking into it is really intended"
        )));
    }
    Ok(())
}

/// What the marks on a workload say about another run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// No mark, or this run's own.
    Free,
    /// Another run is active until its deadline.
    Active { run_id: String, deadline: String },
    /// Another run left its leaker behind past its deadline (oomsday was killed): revert it.
    Leftover { run_id: String },
}

/// Reads the workload's `oomsday.dev/run-id` and `oomsday.dev/deadline` annotations.
pub fn marked(annotations: &BTreeMap<String, String>, run_id: &str, now: Time) -> Marked {
    let Some(other) = annotations.get(RUN_ID).filter(|r| *r != run_id) else {
        return Marked::Free;
    };
    let deadline = annotations.get(DEADLINE).cloned().unwrap_or_default();
    match deadline.parse::<Time>() {
        Ok(d) if d <= now => Marked::Leftover {
            run_id: other.clone(),
        },
        // An unreadable deadline is treated as active: never leak twice into one workload.
        _ => Marked::Active {
            run_id: other.clone(),
            deadline,
        },
    }
}

/// PDBs whose selector matches the template's labels.
pub fn matching_pdbs(
    pdbs: Vec<PodDisruptionBudget>,
    template: Option<&PodTemplateSpec>,
) -> Vec<PodDisruptionBudget> {
    let empty = BTreeMap::new();
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .unwrap_or(&empty);
    pdbs.into_iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|s| crate::objects::selector_matches(s, labels))
        })
        .collect()
}

/// HPAs whose scaleTargetRef is the workload.
pub fn matching_hpas(
    hpas: Vec<HorizontalPodAutoscaler>,
    kind: TargetKind,
    name: &str,
) -> Vec<HorizontalPodAutoscaler> {
    hpas.into_iter()
        .filter(|h| {
            h.spec.as_ref().is_some_and(|s| {
                s.scale_target_ref.kind == kind.as_str() && s.scale_target_ref.name == name
            })
        })
        .collect()
}

pub use crate::objects::node_allocatable;

#[cfg(test)]
mod tests;
