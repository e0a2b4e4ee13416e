//! Fail fast on configuration: before it competes for the Lease, the controller checks that
//! the cluster answers, that the lease namespace exists, that the CRDs are installed and that
//! its ServiceAccount may do everything it will do — and says what is missing and which flag or
//! manifest fixes it, instead of logging the same warning every few seconds forever. Every
//! check is bounded; the whole takes seconds.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::{Client, ResourceExt};

use crate::cluster::kube::{Access, CallPolicy, KubeCluster, required_access};
use crate::spec::{GROUP, InjectionMode, TargetKind, VERSION};

/// Bound on each check's API call.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A configuration the controller cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the Kubernetes API server could not be reached ({what}): {detail}. Check the kubeconfig \
         (--context, KUBECONFIG) or, in a pod, the ServiceAccount token and network policy"
    )]
    Unreachable { what: String, detail: String },
    #[error(
        "the lease namespace {namespace:?} does not exist: create it (kubectl apply -f \
         deploy/namespace.yaml) or point --lease-namespace (env POD_NAMESPACE) at the \
         controller's own namespace"
    )]
    LeaseNamespaceMissing { namespace: String },
    #[error(
        "the oomsday CRDs are not installed ({missing}): kubectl apply -f deploy/crds/ (the \
         controller watches LeakExperiments and writes LeakRuns)"
    )]
    CrdsMissing { missing: String },
    #[error("cannot listen on {addr} (--listen): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the controller is not allowed to {missing}. Apply deploy/rbac.yaml (ClusterRole \
         oomsday-controller; Role oomsday-controller-leader-election in the --lease-namespace) \
         and bind it to the ServiceAccount the controller runs as"
    )]
    Forbidden { missing: String },
}

/// What the controller's own work needs (besides what a run needs, [`run_access`]): its
/// resources, their status and finalizers, Events, namespace labels, and the Lease.
pub fn controller_access(lease_namespace: &str, watch_namespace: Option<&str>) -> Vec<Access> {
    let ns = || watch_namespace.map(String::from);
    let a = |verb, group, resource, subresource, namespace| Access {
        verb,
        group,
        resource,
        subresource,
        namespace,
    };
    let mut out = Vec::new();
    for verb in ["get", "list", "watch", "patch"] {
        out.push(a(verb, GROUP, "leakexperiments", None, ns()));
    }
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        out.push(a(verb, GROUP, "leakruns", None, ns()));
    }
    out.push(a("patch", GROUP, "leakexperiments", Some("status"), ns()));
    out.push(a("patch", GROUP, "leakruns", Some("status"), ns()));
    out.push(a(
        "update",
        GROUP,
        "leakexperiments",
        Some("finalizers"),
        ns(),
    ));
    out.push(a("create", "events.k8s.io", "events", None, ns()));
    out.push(a("patch", "events.k8s.io", "events", None, ns()));
    out.push(a("get", "", "namespaces", None, None));
    for verb in ["get", "create", "update"] {
        let lease_ns = Some(lease_namespace.to_string());
        out.push(a(verb, "coordination.k8s.io", "leases", None, lease_ns));
    }
    out
}

/// What the runs need, in every namespace the controller watches: the union of every target
/// kind and injection mode (the preflight of each run asks again for its own).
pub fn run_access(watch_namespace: Option<&str>) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    for kind in [TargetKind::Deployment, TargetKind::StatefulSet] {
        for mode in [InjectionMode::Sidecar, InjectionMode::Ephemeral] {
            for mut a in required_access(watch_namespace.unwrap_or("default"), kind, mode) {
                if watch_namespace.is_none() && a.namespace.is_some() {
                    a.namespace = None;
                }
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

fn unreachable(what: &str, e: impl std::fmt::Display) -> SetupError {
    SetupError::Unreachable {
        what: what.into(),
        detail: e.to_string(),
    }
}

fn code(e: &crate::Error) -> Option<u16> {
    match e {
        crate::Error::Kube(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    }
}

/// Runs every check; the first that fails is the error.
pub async fn check(
    client: &Client,
    lease_namespace: &str,
    watch_namespace: Option<&str>,
) -> Result<(), SetupError> {
    check_lease_namespace(client, lease_namespace).await?;
    check_crds(client).await?;
    let mut needed = controller_access(lease_namespace, watch_namespace);
    needed.extend(run_access(watch_namespace));
    check_access(client, &needed).await
}

async fn check_lease_namespace(client: &Client, namespace: &str) -> Result<(), SetupError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let what = format!("get Namespace {namespace}");
    match crate::retry::timeout(CHECK_TIMEOUT, &what, api.get(namespace)).await {
        Ok(ns) if ns.metadata.deletion_timestamp.is_some() => {
            Err(SetupError::LeaseNamespaceMissing {
                namespace: format!("{} (being deleted)", ns.name_any()),
            })
        }
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some(404) => Err(SetupError::LeaseNamespaceMissing {
            namespace: namespace.into(),
        }),
        Err(e) if matches!(code(&e), Some(401 | 403)) => Err(SetupError::Forbidden {
            missing: format!("get namespaces (to check --lease-namespace {namespace}): {e}"),
        }),
        Err(e) => Err(unreachable(&what, e)),
    }
}

async fn check_crds(client: &Client) -> Result<(), SetupError> {
    let gv = format!("{GROUP}/{VERSION}");
    let what = format!("discover {gv}");
    let listed =
        crate::retry::timeout(CHECK_TIMEOUT, &what, client.list_api_group_resources(&gv)).await;
    let found: Vec<String> = match listed {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(e) if code(&e) == Some(404) => Vec::new(),
        Err(e) if matches!(code(&e), Some(401 | 403)) => {
            return Err(SetupError::Forbidden {
                missing: format!("discover the {gv} API: {e}"),
            });
        }
        Err(e) => return Err(unreachable(&what, e)),
    };
    let missing: Vec<String> = ["leakexperiments", "leakruns"]
        .into_iter()
        .filter(|r| !found.iter().any(|f| f == r))
        .map(|r| format!("{r}.{GROUP}"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SetupError::CrdsMissing {
            missing: missing.join(", "),
        })
    }
}

async fn check_access(client: &Client, needed: &[Access]) -> Result<(), SetupError> {
    // One attempt per review: this is a check, not a run that must get through.
    let cluster = KubeCluster::new(client.clone(), "oomsday controller").with_policy(CallPolicy {
        timeout: CHECK_TIMEOUT,
        attempts: 1,
        backoff: Duration::from_millis(100),
    });
    let what = "SelfSubjectAccessReviews";
    match crate::retry::timeout(CHECK_TIMEOUT * 2, what, cluster.check_access(needed)).await {
        Ok(()) => Ok(()),
        Err(crate::Error::Forbidden(missing)) => Err(SetupError::Forbidden { missing }),
        Err(e) => Err(unreachable(what, e)),
    }
}
