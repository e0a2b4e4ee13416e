//! A live namespace → an [`Inventory`]: one list call per kind, each bounded by a timeout.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Node};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::{Inventory, Sourced};
use crate::{Error, Result};

const LIST_TIMEOUT: Duration = Duration::from_secs(30);

async fn list<K>(api: Api<K>) -> Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    match tokio::time::timeout(LIST_TIMEOUT, api.list(&ListParams::default())).await {
        Ok(Ok(list)) => Ok(list.items),
        Ok(Err(e)) => Err(Error::Kube(e)),
        Err(_) => Err(Error::Invalid(format!(
            "listing {kind} timed out after {}s",
            LIST_TIMEOUT.as_secs()
        ))),
    }
}

/// Lists what the audit reads in `namespace`. Nodes are cluster-scoped and often not readable
/// by a namespaced user: if listing them fails the HPA capacity check is skipped, and the
/// returned note says why.
pub async fn inventory(client: &Client, namespace: &str) -> Result<(Inventory, Option<String>)> {
    let ns = |c: &Client| c.clone();
    let deployments = list(Api::<Deployment>::namespaced(ns(client), namespace)).await?;
    let statefulsets = list(Api::<StatefulSet>::namespaced(ns(client), namespace)).await?;
    let pdbs = list(Api::<PodDisruptionBudget>::namespaced(
        ns(client),
        namespace,
    ))
    .await?;
    let limit_ranges = list(Api::<LimitRange>::namespaced(ns(client), namespace)).await?;
    let hpas = list(Api::<HorizontalPodAutoscaler>::namespaced(
        ns(client),
        namespace,
    ))
    .await?;
    let (nodes, note) = match list(Api::<Node>::all(ns(client))).await {
        Ok(n) => (n, None),
        Err(e) => (
            Vec::new(),
            Some(format!(
                "nodes could not be listed ({e}); the HPA capacity check was skipped"
            )),
        ),
    };
    let inv = Inventory {
        deployments: deployments.into_iter().map(Sourced::live).collect(),
        statefulsets: statefulsets.into_iter().map(Sourced::live).collect(),
        pdbs: pdbs.into_iter().map(Sourced::live).collect(),
        limit_ranges,
        hpas,
        nodes,
        namespaces: [namespace.to_string()].into(),
        default_namespace: namespace.to_string(),
    };
    Ok((inv, note))
}

#[cfg(test)]
mod tests;
