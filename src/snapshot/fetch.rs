//! The I/O half of a snapshot: lists the cluster's objects page by page and reads each node's
//! kubelet (`configz`, Summary API, `/metrics`) through the API server's node proxy, a few nodes at a
//! time, handing everything to the pure [`Builder`] as it arrives. Memory stays bounded: one
//! page of objects, and at most [`Options::concurrency`] kubelet answers, at a time.

use std::fmt::Debug;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use super::build::{Builder, Kubelet, Scope, Taken};
use crate::cluster::KubeCluster;
use crate::cluster::kube::{Access, CallPolicy};
use crate::sim::ClusterModel;
use crate::sim::model::from_kube::{Configz, Summary};
use crate::{Error, Result};

/// How to take a snapshot.
#[derive(Debug, Clone)]
pub struct Options {
    pub scope: Scope,
    /// Objects per list request (`limit`, continued until the list ends). 250: a page is held
    /// twice while it is read (its bytes, then its objects whole), and at 500 pods a page that
    /// alone took the bench past 64 MiB (`cargo bench --bench snapshot -- --page-size N`).
    pub page_size: u32,
    /// Nodes whose kubelet is read at the same time.
    pub concurrency: usize,
    /// Bounds and retries of each API call.
    pub policy: CallPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scope: Scope::All,
            page_size: 250,
            concurrency: 8,
            policy: CallPolicy::default(),
        }
    }
}

/// What a snapshot in progress tells its caller (a progress bar, log lines).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Listing a kind of object; `count` so far.
    Listed { what: &'static str, count: usize },
    /// The kubelets: `done` of `total` nodes read.
    Kubelets { done: usize, total: usize },
    /// Something the model will say in its notes too.
    Warning(String),
}

/// Whether the API says the caller may: `Some(allowed)`, `None` when it could not be asked.
async fn may(client: &Client, policy: CallPolicy, access: Access) -> Option<bool> {
    let cluster = KubeCluster::new(client.clone(), "snapshot").with_policy(policy);
    match cluster.check_access(std::slice::from_ref(&access)).await {
        Ok(()) => Some(true),
        Err(Error::Forbidden(_)) => Some(false),
        Err(e) => {
            tracing::warn!(%access, error = %e, "could not ask the API server; trying anyway");
            None
        }
    }
}

fn forbidden(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 403)
}

/// Lists every object of `api` page by page, handing each to `each`.
async fn list_all<K>(
    api: &Api<K>,
    opts: &Options,
    what: &'static str,
    progress: &mut (dyn FnMut(Progress) + Send),
    mut each: impl FnMut(K) -> Result<()>,
) -> Result<usize>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut token: Option<String> = None;
    let mut count = 0;
    loop {
        let mut lp = ListParams::default().limit(opts.page_size.max(1));
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = opts
            .policy
            .call(&format!("list {what}"), || api.list(&lp))
            .await?;
        for item in page.items {
            count += 1;
            each(item)?;
        }
        progress(Progress::Listed { what, count });
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(count),
        }
    }
}

/// The APIs to list a namespaced kind in: every namespace, or each of the scope's.
fn apis<K>(client: &Client, scope: &Scope) -> Vec<Api<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match scope {
        Scope::All => vec![Api::all(client.clone())],
        Scope::Namespaces(ns) => ns
            .iter()
            .map(|n| Api::namespaced(client.clone(), n))
            .collect(),
    }
}

/// Lists a namespaced kind in the scope; `optional` kinds the caller may not list become a
/// note instead of an error.
async fn list_scoped<K>(
    client: &Client,
    opts: &Options,
    what: &'static str,
    optional: bool,
    b: &mut Builder,
    progress: &mut (dyn FnMut(Progress) + Send),
    mut each: impl FnMut(&mut Builder, K) -> Result<()>,
) -> Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    for api in apis::<K>(client, &opts.scope) {
        match list_all(&api, opts, what, progress, |o| each(b, o)).await {
            Ok(_) => {}
            Err(e) if optional && forbidden(&e) => {
                let note = format!("{what} could not be listed (forbidden): the model has none");
                progress(Progress::Warning(note.clone()));
                b.note(note);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One node's kubelet, through the API server's node proxy.
async fn read_kubelet(client: &Client, policy: CallPolicy, node: &str) -> Kubelet {
    let request =
        |path: &str| kube::core::Request::new("/api/v1/nodes").get_subresource(path, node);
    let configz = match request("proxy/configz") {
        Ok(r) => {
            policy
                .call(&format!("get nodes/{node}/proxy/configz"), || {
                    client.request::<Configz>(r.clone())
                })
                .await
        }
        Err(e) => Err(Error::Invalid(format!("node {node}: {e}"))),
    };
    let config = match configz {
        Ok(c) => c.kubeletconfig,
        Err(e) => return Kubelet::Unread(format!("its kubelet's configz could not be read ({e})")),
    };
    let summary = match request("proxy/stats/summary") {
        Ok(r) => policy
            .call(&format!("get nodes/{node}/proxy/stats/summary"), || {
                client.request::<Summary>(r.clone())
            })
            .await
            .map_err(|e| tracing::warn!(%node, error = %e, "the Summary API did not answer"))
            .ok(),
        Err(_) => None,
    };
    // The host's cgroup version is in the kubelet's metrics (~120 KB of text), not its configz.
    let metrics = match request("proxy/metrics") {
        Ok(r) => policy
            .call(&format!("get nodes/{node}/proxy/metrics"), || {
                client.request_text(r.clone())
            })
            .await
            .map_err(|e| tracing::warn!(%node, error = %e, "the kubelet's metrics did not answer"))
            .ok(),
        Err(_) => None,
    };
    Kubelet::Read {
        config: Box::new(config),
        summary,
        metrics,
    }
}

/// Takes a snapshot of the cluster behind `client` at `taken.at` (the caller's clock): its
/// model, ready for `oomsday simulate --cluster`.
pub async fn take(
    client: &Client,
    opts: &Options,
    taken: &Taken,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ClusterModel> {
    let mut b = Builder::new(opts.scope.clone());
    let proxy = may(
        client,
        opts.policy,
        cluster_wide("get", "nodes", Some("proxy")),
    )
    .await;
    let all_pods = may(client, opts.policy, cluster_wide("list", "pods", None)).await;
    list_priority_classes(client, opts, &mut b, progress).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    list_all(&nodes, opts, "nodes", progress, |n| b.node(n)).await?;
    list_workloads(client, opts, &mut b, progress).await?;
    let pod_opts = Options {
        scope: pod_scope(opts, all_pods, &mut b),
        ..opts.clone()
    };
    list_scoped::<Pod>(
        client,
        &pod_opts,
        "pods",
        false,
        &mut b,
        progress,
        |b, p| b.pod(&p),
    )
    .await?;
    list_policies(client, opts, &mut b, progress).await?;
    read_kubelets(client, opts, proxy, &mut b, progress).await?;
    b.finish(taken)
}

/// A core-group access in every namespace.
fn cluster_wide(
    verb: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
) -> Access {
    Access {
        verb,
        group: "",
        resource,
        subresource,
        namespace: None,
    }
}

/// The PriorityClasses; when they may not be listed, the pods' own priorities stand.
async fn list_priority_classes(
    client: &Client,
    opts: &Options,
    b: &mut Builder,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<()> {
    let pcs: Api<PriorityClass> = Api::all(client.clone());
    match list_all(&pcs, opts, "priorityclasses", progress, |pc| {
        b.priority_class(&pc);
        Ok(())
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if forbidden(&e) => {
            b.note(
                "PriorityClasses could not be listed (forbidden): priorities come from the pods",
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The Deployments and StatefulSets in the scope.
async fn list_workloads(
    client: &Client,
    opts: &Options,
    b: &mut Builder,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<()> {
    list_scoped::<Deployment>(client, opts, "deployments", false, b, progress, |b, d| {
        b.deployment(&d)
    })
    .await?;
    list_scoped::<StatefulSet>(client, opts, "statefulsets", false, b, progress, |b, s| {
        b.statefulset(&s)
    })
    .await
}

/// Where to list pods: everywhere when allowed, since those outside the scope still weigh on
/// their nodes; else the scope, with a note.
fn pod_scope(opts: &Options, all_pods: Option<bool>, b: &mut Builder) -> Scope {
    match (&opts.scope, all_pods) {
        (Scope::Namespaces(_), Some(false)) => {
            b.note(
                "pods could not be listed in every namespace: the nodes' load from other \
                 namespaces counts only in their measured working sets, not their requests",
            );
            opts.scope.clone()
        }
        _ => Scope::All,
    }
}

/// The PodDisruptionBudgets, and the LimitRanges and HPAs when they may be listed.
async fn list_policies(
    client: &Client,
    opts: &Options,
    b: &mut Builder,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<()> {
    list_scoped::<PodDisruptionBudget>(
        client,
        opts,
        "poddisruptionbudgets",
        false,
        b,
        progress,
        |b, p| b.pdb(&p),
    )
    .await?;
    list_scoped::<LimitRange>(client, opts, "limitranges", true, b, progress, |b, l| {
        b.limit_range(&l)
    })
    .await?;
    list_scoped::<HorizontalPodAutoscaler>(
        client,
        opts,
        "horizontalpodautoscalers",
        true,
        b,
        progress,
        |b, h| b.hpa(&h),
    )
    .await
}

/// Every node's kubelet, a few at a time; none when the node proxy is not allowed.
async fn read_kubelets(
    client: &Client,
    opts: &Options,
    proxy: Option<bool>,
    b: &mut Builder,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<()> {
    let names = b.node_names();
    let total = names.len();
    if proxy == Some(false) {
        let why = "nodes/proxy get is not allowed";
        progress(Progress::Warning(format!(
            "{why}: kubelet settings are Kubernetes' defaults and working sets are estimated \
             from requests"
        )));
        for n in &names {
            b.kubelet(n, Kubelet::Unread(why.into()))?;
        }
        return Ok(());
    }
    let policy = opts.policy;
    let mut kubelets = futures::stream::iter(names.into_iter().map(|n| async move {
        let k = read_kubelet(client, policy, &n).await;
        (n, k)
    }))
    .buffer_unordered(opts.concurrency.max(1));
    let mut done = 0;
    while let Some((node, kubelet)) = kubelets.next().await {
        b.kubelet(&node, kubelet)?;
        done += 1;
        progress(Progress::Kubelets { done, total });
    }
    Ok(())
}
