//! `oomsday snapshot` against the test kit's fake API server serving the real bed of
//! `tests/fixtures/` (its Node, kubelet configz, Summary API and metrics, as the API returned
//! them) and the pods, Deployments and PDBs of a recorded run: the snapshot must reproduce the
//! node (allocatable, eviction threshold, kernelMemcgNotification, cgroup version) and each
//! pod's working set, ask
//! the API whether it may read the kubelets, page through lists, and say what it had to
//! assume when it may not.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use oomsday::cluster::kube::CallPolicy;
use oomsday::sim::ClusterModel;
use oomsday::sim::model::{CgroupVersion, WorkingSetSource};
use oomsday::snapshot::{self, Options, Progress, Scope, Taken};
use oomsday_testkit::{ApiServer, Seen};
use serde_json::Value;
use support::bed::{self, NODE};

fn taken() -> Taken {
    Taken {
        at: "2026-11-30T07:32:04Z".parse().expect("a time"),
        context: "context real-bed".into(),
    }
}

fn opts(scope: Scope) -> Options {
    Options {
        scope,
        page_size: 2,
        concurrency: 4,
        policy: CallPolicy {
            timeout: Duration::from_secs(2),
            attempts: 2,
            backoff: Duration::from_millis(1),
        },
    }
}

async fn take(api: ApiServer, scope: Scope) -> (ClusterModel, Vec<Seen>, Vec<Progress>) {
    let client = api.client();
    let mut progress = Vec::new();
    let model = snapshot::take(&client, &opts(scope), &taken(), &mut |p| progress.push(p))
        .await
        .expect("the snapshot is taken");
    (model, api.requests(), progress)
}

/// What the real bed's kubelet answers for `path` (its `stats/summary`).
fn kubelet(api: &ApiServer, path: &str) -> Value {
    api.kubelet_answer(NODE, path).expect("an answer").1
}

#[tokio::test]
async fn the_snapshot_reproduces_the_real_node_and_each_pods_working_set() {
    let cluster = bed::recorded("spill");
    let summary = kubelet(&cluster, "stats/summary");
    let (m, seen, progress) = take(cluster, Scope::All).await;

    let k = &m.spec.kubelet;
    assert_eq!(
        k.eviction_hard.bytes(),
        3 << 30,
        "evictionHard memory.available"
    );
    assert!(k.kernel_memcg_notification);
    assert_eq!(
        k.eviction_pressure_transition_period.std(),
        Duration::from_secs(10)
    );
    let g = &m.spec.node_groups[0];
    let node = &g.nodes[0];
    assert_eq!((g.count, node.name.as_str()), (1, "real-1"));
    // Read from the kubelet's metrics (configz does not say it).
    assert_eq!(g.cgroup_version, Some(CgroupVersion::V1));
    assert_eq!(node.allocatable.map(|q| q.bytes()), Some(3 << 30));
    let allocatable = g.capacity.bytes()
        - g.system_reserved.bytes()
        - g.kube_reserved.bytes()
        - k.eviction_hard.bytes();
    assert_eq!(
        allocatable,
        3 << 30,
        "as the kubelet computes it from its configuration"
    );

    // Every recorded pod, with the working set the Summary API gave it.
    let mut expected = BTreeSet::new();
    for p in summary["pods"].as_array().expect("pods") {
        for c in p["containers"].as_array().expect("containers") {
            expected.insert((
                p["podRef"]["name"].as_str().expect("name").to_string(),
                c["name"].as_str().expect("name").to_string(),
                c["memory"]["workingSetBytes"].as_u64().expect("bytes"),
            ));
        }
    }
    let mut got = BTreeSet::new();
    for w in &m.spec.workloads {
        for p in w.observed.iter().flat_map(|o| &o.pods) {
            assert_eq!(p.node.as_deref(), Some("real-1"));
            for (c, q) in &p.working_sets {
                got.insert((p.name.clone(), c.clone(), q.bytes()));
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(got.len(), 5);
    let names: Vec<&str> = m.spec.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["checkout", "cache", "oomsday-controller"]);
    let info = m.metadata.snapshot.as_ref().expect("snapshot info");
    assert_eq!(info.working_sets, WorkingSetSource::Measured);
    assert_eq!((info.nodes, info.pods), (1, 5));
    assert_eq!(info.context, "context real-bed");
    assert_eq!(info.taken_at, taken().at);

    // It asked before reading the kubelets, and read them through the node proxy.
    let ssar = seen
        .iter()
        .find(|s| s.path.ends_with("/selfsubjectaccessreviews"))
        .expect("a SelfSubjectAccessReview");
    let attrs = &ssar.body["spec"]["resourceAttributes"];
    assert_eq!(
        (
            attrs["verb"].as_str(),
            attrs["resource"].as_str(),
            attrs["subresource"].as_str()
        ),
        (Some("get"), Some("nodes"), Some("proxy"))
    );
    for path in [
        "/api/v1/nodes/real-1/proxy/configz",
        "/api/v1/nodes/real-1/proxy/stats/summary",
        "/api/v1/nodes/real-1/proxy/metrics",
    ] {
        assert!(seen.iter().any(|s| s.path == path), "{path} was not read");
    }
    // Lists are paged: 5 pods at 2 per page are three requests, the later ones continued.
    let pod_pages: Vec<&Seen> = seen.iter().filter(|s| s.path == "/api/v1/pods").collect();
    assert_eq!(pod_pages.len(), 3);
    assert_eq!(
        pod_pages[0].query.get("limit").map(String::as_str),
        Some("2")
    );
    // The later pages continue with the token the page before gave (opaque, one per page).
    let tokens: Vec<Option<&str>> = pod_pages.iter().map(|s| s.q("continue")).collect();
    assert_eq!(tokens[0], None);
    assert!(tokens[1].is_some() && tokens[2].is_some() && tokens[1] != tokens[2]);
    assert!(progress.contains(&Progress::Kubelets { done: 1, total: 1 }));
    assert!(progress.contains(&Progress::Listed {
        what: "pods",
        count: 5
    }));

    // The file is valid for `simulate --cluster`.
    let yaml = snapshot::to_yaml(&m).expect("YAML");
    assert_eq!(ClusterModel::from_yaml(&yaml).expect("it reads back"), m);
}

#[tokio::test]
async fn without_nodes_proxy_the_kubelets_are_not_read_and_the_model_says_so() {
    let cluster = bed::recorded("contained");
    cluster.deny("get nodes/proxy");
    let (m, seen, progress) = take(cluster, Scope::All).await;
    assert!(
        !seen.iter().any(|s| s.path.contains("/proxy/")),
        "no kubelet is asked when the API says no"
    );
    assert_eq!(
        m.spec.kubelet.eviction_hard.bytes(),
        100 << 20,
        "the default"
    );
    assert!(!m.spec.kubelet.kernel_memcg_notification);
    let info = m.metadata.snapshot.as_ref().expect("snapshot info");
    assert_eq!(info.working_sets, WorkingSetSource::Estimated);
    let notes = info.notes.join("\n");
    assert!(notes.contains("nodes/proxy get is not allowed"), "{notes}");
    assert!(notes.contains("working sets are estimates"), "{notes}");
    assert!(
        progress
            .iter()
            .any(|p| matches!(p, Progress::Warning(w) if w.contains("nodes/proxy")))
    );
    // Requests stand in for working sets: checkout's 64Mi request, cache's 256Mi default.
    let ws: Vec<u64> = m.spec.workloads[..2]
        .iter()
        .map(|w| w.containers[0].working_set.bytes())
        .collect();
    assert_eq!(ws, [64 << 20, 256 << 20]);
    // Nothing says which cgroup version the node runs.
    let g = &m.spec.node_groups[0];
    assert_eq!(g.cgroup_version, Some(CgroupVersion::Unknown));
    assert!(notes.contains("cgroup version unknown"), "{notes}");
    // The Node's allocatable still holds: the reservations it implies.
    assert_eq!(
        g.capacity.bytes() - g.kube_reserved.bytes() - g.system_reserved.bytes() - (100 << 20),
        3 << 30
    );
}

#[tokio::test]
async fn a_kubelet_that_does_not_answer_gets_the_defaults_and_a_note() {
    let cluster = bed::recorded("contained");
    let unreachable =
        oomsday_testkit::status(503, "ServiceUnavailable", "error trying to reach service");
    cluster.kubelet(NODE, "configz", 503, unreachable);
    let (m, _, _) = take(cluster, Scope::All).await;
    let notes = m.metadata.snapshot.as_ref().expect("info").notes.join("\n");
    assert!(
        notes.contains("node real-1: its kubelet's configz could not be read"),
        "{notes}"
    );
    assert_eq!(m.spec.kubelet.eviction_hard.bytes(), 100 << 20);
}

#[tokio::test]
async fn a_cgroup_v2_kubelet_is_read_as_v2_and_the_model_says_its_notifier_does_nothing() {
    let (m, _, _) = take(bed::recorded_v2("spill"), Scope::All).await;
    let g = &m.spec.node_groups[0];
    assert_eq!(g.cgroup_version, Some(CgroupVersion::V2));
    // Its configz says the notification is on, as a v2 kubelet's does; the model keeps what it
    // says and the node group what the kernel can do.
    assert!(m.spec.kubelet.kernel_memcg_notification);
    assert!(!g.memcg_notified(&m.spec.kubelet));
    let notes = m.metadata.snapshot.as_ref().expect("info").notes.join("\n");
    assert!(
        notes.contains("real-1 run cgroup v2") && notes.contains("10 s look"),
        "{notes}"
    );
    let yaml = snapshot::to_yaml(&m).expect("YAML");
    assert!(yaml.contains("cgroupVersion: v2"), "{yaml}");
    assert_eq!(ClusterModel::from_yaml(&yaml).expect("it reads back"), m);
}

#[tokio::test]
async fn a_kubelet_whose_metrics_do_not_answer_has_an_unknown_cgroup_version() {
    let cluster = bed::recorded("contained");
    let missing = oomsday_testkit::status(404, "NotFound", "no such path on the kubelet");
    cluster.kubelet(NODE, "metrics", 404, missing);
    let (m, _, _) = take(cluster, Scope::All).await;
    assert_eq!(
        m.spec.node_groups[0].cgroup_version,
        Some(CgroupVersion::Unknown)
    );
    // The rest of the kubelet was read as usual.
    assert!(m.spec.kubelet.kernel_memcg_notification);
    let notes = m.metadata.snapshot.as_ref().expect("info").notes.join("\n");
    assert!(
        notes.contains("node real-1: its kubelet's /metrics did not answer"),
        "{notes}"
    );
    assert!(m.unknown_cgroups_matter());
}

#[tokio::test]
async fn namespaces_limit_the_modelled_workloads_not_the_nodes_load() {
    let scope = Scope::Namespaces(["bf".to_string()].into());
    let (m, seen, _) = take(bed::recorded("spill"), scope).await;
    let names: Vec<&str> = m.spec.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["checkout"]);
    assert_eq!(m.spec.pdbs.len(), 1);
    // The workloads were listed in bf only; the pods everywhere, since that is allowed.
    assert!(
        seen.iter()
            .any(|s| s.path == "/apis/apps/v1/namespaces/bf/deployments")
    );
    assert!(!seen.iter().any(|s| s.path == "/apis/apps/v1/deployments"));
    assert!(seen.iter().any(|s| s.path == "/api/v1/pods"));
    // The cache pods are the node's load now.
    let other = m.spec.node_groups[0].nodes[0]
        .other_pods
        .expect("other pods");
    assert_eq!(other.pods, 2);
}
