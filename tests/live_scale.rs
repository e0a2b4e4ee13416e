//! The big cluster of issue 15 on a real API server: 500 Node objects without kubelets
//! (NotReady) and 10,000 pods bound to them in 20 namespaces, then a contained run on the bed's
//! real node. The same figures `cargo bench --bench scale` measures against its fake API server
//! (peak RSS and CPU of `oomsday run` from the kernel, LIST requests and the bytes they
//! returned), here from the real kube-apiserver's own metrics.
//!
//! ```sh
//! OOMSDAY_LIVE_KUBECONFIG=$HOME/realk8s/admin.kubeconfig \
//!   OOMSDAY_BIN=target/x86_64-unknown-linux-gnu/release/oomsday \
//!   cargo test --test live_scale -- --nocapture
//! ```
//!
//! `OOMSDAY_BIN` (default: the debug build) picks the binary measured: the bench measures a
//! release build, so give this one too when the figures are compared. The other clients of the
//! API server (controllers, scheduler, kubelet) watch rather than list; an idle window of the
//! same length before the run says how many LISTs they made, and is printed beside.
//! Everything the test makes is deleted afterwards, also after a failure.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::live::{BedLock, Live, fixture, live};

const NODES: usize = 500;
const PODS: usize = 10_000;
const NAMESPACES: usize = 20;
/// The label on everything this test makes, for finding it again.
const MARK: &str = "oomsday-live-scale";

/// The fake nodes and their pods, made on the real API server; deleted when dropped.
struct BigCluster<'a> {
    live: &'a Live,
}

fn namespace(i: usize) -> String {
    format!("scale-{i:02}")
}

fn node(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("scale-node-{i:03}"), "labels": {
            MARK: "true", "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": format!("scale-node-{i:03}"),
            "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
        // Nothing is ever scheduled there: the pods below are bound by name.
        "spec": {"unschedulable": true,
                 "taints": [{"key": MARK, "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "31Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "Unknown",
                            "reason": "NodeStatusNeverUpdated",
                            "message": "Kubelet never posted node status.",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        }
    })
}

fn pod(i: usize) -> Value {
    let app = format!("app-{}", i % 50);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("p-{i:05}"), "namespace": namespace(i % NAMESPACES),
                     "labels": {MARK: "true", "app": app, "tier": "backend"},
                     "annotations": {"example.com/owner": "team-a", "example.com/rev": "7"}},
        "spec": {
            // Bound by name: no scheduler, no kubelet will ever run it.
            "nodeName": format!("scale-node-{:03}", i % NODES),
            "terminationGracePeriodSeconds": 0,
            // The node lifecycle controller taints the kubelet-less nodes NoExecute; stay.
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [{
                "name": "app", "image": "docker.io/library/sleeper:1",
                "imagePullPolicy": "Never",
                "env": [{"name": "MODE", "value": "serve"}, {"name": "REGION", "value": "eu"}],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                              "limits": {"memory": "512Mi"}}
            }]
        }
    })
}

impl<'a> BigCluster<'a> {
    /// Makes the nodes, namespaces and pods, `kubectl create` in 4 processes at once.
    fn make(live: &'a Live, dir: &Path) -> BigCluster<'a> {
        let big = BigCluster { live };
        big.remove(); // a previous run's leftovers
        let list = |items: Vec<Value>| json!({"apiVersion": "v1", "kind": "List", "items": items});
        let write = |name: String, v: Value| {
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_vec(&v).expect("JSON")).expect("write");
            path
        };
        let namespaces = (0..NAMESPACES)
            .map(|i| {
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": namespace(i), "labels": {MARK: "true"}}})
            })
            .collect();
        let first = [
            write("namespaces.json".into(), list(namespaces)),
            write("nodes.json".into(), list((0..NODES).map(node).collect())),
        ];
        for f in &first {
            live.kubectl_ok(&["create", "-f", &f.to_string_lossy(), "-o", "name"]);
        }
        const PARTS: usize = 4;
        let files: Vec<PathBuf> = (0..PARTS)
            .map(|part| {
                let pods = (0..PODS).filter(|i| i % PARTS == part).map(pod).collect();
                write(format!("pods-{part}.json"), list(pods))
            })
            .collect();
        let t0 = Instant::now();
        let children: Vec<_> = files
            .iter()
            .map(|f| {
                Command::new("kubectl")
                    .args(["create", "-f", &f.to_string_lossy(), "-o", "name"])
                    .env("KUBECONFIG", &live.kubeconfig)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("kubectl")
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().expect("kubectl create");
            assert!(
                o.status.success(),
                "creating pods: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        eprintln!(
            "live_scale: {NODES} nodes and {PODS} pods made in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        big
    }

    /// Deletes the pods at once (grace 0: no kubelet will ever confirm), then their
    /// namespaces and the nodes.
    fn remove(&self) {
        for i in 0..NAMESPACES {
            let _ = self.live.kubectl(&[
                "delete",
                "--raw",
                &format!(
                    "/api/v1/namespaces/{}/pods?gracePeriodSeconds=0",
                    namespace(i)
                ),
            ]);
        }
        let selector = format!("{MARK}=true");
        let _ = self.live.kubectl(&[
            "delete",
            "namespaces",
            "-l",
            &selector,
            "--ignore-not-found",
            "--timeout=180s",
        ]);
        let _ = self
            .live
            .kubectl(&["delete", "nodes", "-l", &selector, "--ignore-not-found"]);
    }
}

impl Drop for BigCluster<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The API server's request counters and response sizes: "VERB resource" → value.
#[derive(Debug, Clone, Default)]
struct ApiMetrics {
    requests: BTreeMap<String, f64>,
    list_bytes: BTreeMap<String, f64>,
}

impl ApiMetrics {
    fn read(live: &Live) -> ApiMetrics {
        use oomsday::metrics_text::{label, samples};
        let text = live.kubectl_ok(&["get", "--raw", "/metrics"]);
        let mut m = ApiMetrics::default();
        for (labels, value) in samples(&text, "apiserver_request_total") {
            let verb = label(labels, "verb").unwrap_or_default();
            let resource = label(labels, "resource").unwrap_or_default();
            *m.requests.entry(format!("{verb} {resource}")).or_default() += value;
        }
        for (labels, value) in samples(&text, "apiserver_response_sizes_sum") {
            if label(labels, "verb") == Some("LIST") {
                let resource = label(labels, "resource").unwrap_or_default();
                *m.list_bytes.entry(resource.to_string()).or_default() += value;
            }
        }
        m
    }

    /// What happened between `self` (earlier) and `later`, only what changed.
    fn until(&self, later: &ApiMetrics) -> ApiMetrics {
        let diff = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
            b.iter()
                .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, d)| *d > 0.0)
                .collect()
        };
        ApiMetrics {
            requests: diff(&self.requests, &later.requests),
            list_bytes: diff(&self.list_bytes, &later.list_bytes),
        }
    }

    fn lists(&self) -> BTreeMap<&str, f64> {
        self.requests
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("LIST ")?, *v)))
            .collect()
    }
}

/// `oomsday run` measured by the kernel (GNU time: peak RSS and CPU of that process alone).
struct Measured {
    exit: i32,
    rss_mib: f64,
    cpu_s: f64,
    wall_s: f64,
    report: Value,
    stderr: String,
}

fn run_measured(live: &Live, bin: &Path, experiment: &Path, dir: &Path) -> Measured {
    let usage = dir.join("time.txt");
    let out = dir.join("reports");
    let t0 = Instant::now();
    let o = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(&usage)
        .arg(bin)
        .args(["run", &experiment.to_string_lossy(), "--kubeconfig"])
        .arg(&live.kubeconfig)
        .arg("--out")
        .arg(&out)
        .args(["--format", "json", "--no-progress"])
        .output()
        .expect("/usr/bin/time (Debian package time)");
    let wall_s = t0.elapsed().as_secs_f64();
    let usage = std::fs::read_to_string(&usage).expect("time's output");
    let figures: Vec<f64> = usage
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert_eq!(figures.len(), 3, "time's output: {usage}");
    let report = std::fs::read_dir(&out)
        .expect("reports")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("JSON"))
        .expect("a JSON report");
    Measured {
        exit: o.status.code().unwrap_or(-1),
        rss_mib: figures[0] / 1024.0,
        cpu_s: figures[1] + figures[2],
        wall_s,
        report,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The contained setup on real-1, every pod Ready.
fn set_up_contained(live: &Live) {
    live.delete_run_namespaces(true);
    live.kubectl_ok(&[
        "apply",
        "-f",
        &fixture("contained", "setup.yaml").to_string_lossy(),
    ]);
    live.wait_rolled_out("120s");
    // The PDB's status catches up with the pods.
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn a_big_cluster_on_a_real_api_server_is_seen_once_and_not_scored() {
    let test = "a_big_cluster_on_a_real_api_server_is_seen_once_and_not_scored";
    let Some(live) = live(test) else { return };
    let _one = BedLock::take(&live);
    let bin = oomsday_testkit::measured_binary(env!("CARGO_BIN_EXE_oomsday"));
    let dir = live.out.join(format!(
        "scale-{}",
        jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let _clean = support::live::Cleanup::new(&live);
    let _big = BigCluster::make(&live, &dir);
    set_up_contained(&live);
    let experiment = fixture("contained", "contained.yaml");

    // What the other clients do in a window as long as the run, then the run.
    let idle_from = ApiMetrics::read(&live);
    std::thread::sleep(Duration::from_secs(30));
    let idle = idle_from.until(&ApiMetrics::read(&live));
    let before = ApiMetrics::read(&live);
    let m = run_measured(&live, &bin, &experiment, &dir);
    let during = before.until(&ApiMetrics::read(&live));
    std::fs::write(dir.join("oomsday.log"), &m.stderr).expect("write");

    let lists = |a: &ApiMetrics| {
        a.lists()
            .iter()
            .map(|(r, n)| {
                format!(
                    "{r} {n:.0} ({:.1} kB)",
                    a.list_bytes.get(*r).copied().unwrap_or(0.0) / 1e3
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let line = json!({
        "binary": bin.display().to_string(),
        "nodes": NODES + 1, "pods": PODS,
        "exit": m.exit, "score": m.report["score"]["total"],
        "peak_rss_mib": (m.rss_mib * 10.0).round() / 10.0,
        "cpu_s": (m.cpu_s * 100.0).round() / 100.0,
        "wall_s": m.wall_s.round(),
        "list_bytes": during.list_bytes.values().sum::<f64>().round(),
        "lists": lists(&during),
        "other_clients_lists_in_30s_idle": lists(&idle),
        "requests": during.requests,
    });
    std::fs::write(
        dir.join("figures.json"),
        serde_json::to_vec_pretty(&line).expect("JSON"),
    )
    .expect("write");
    eprintln!("{test}: {line:#}");

    let record = &m.report["record"];
    assert!(
        matches!(m.exit, 0 | 1),
        "exit {}: {}\n{}",
        m.exit,
        record["message"],
        m.stderr
    );
    assert_eq!(record["reason"], "DurationElapsed", "{}", record["message"]);
    // The baseline is told once, with every node, and none of it is the leak's.
    let baselines: Vec<&Value> = record["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|o| o["type"] == "baseline")
        .collect();
    assert_eq!(baselines.len(), 1, "{baselines:#?}");
    assert!(
        baselines[0]["nodes_not_ready"].as_u64() >= Some(NODES as u64),
        "{:#}",
        baselines[0]
    );
    let containment = m.report["score"]["facets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["facet"] == "containment")
        .expect("containment facet");
    let evidence = containment.to_string();
    assert!(
        !evidence.contains("scale-node") && !evidence.contains("NotReady"),
        "the NotReady nodes of the baseline were scored: {containment:#}"
    );
    // No list of every pod: a cluster-wide pod list of this cluster is tens of MB.
    let pod_list_bytes = during.list_bytes.get("pods").copied().unwrap_or(0.0);
    assert!(
        pod_list_bytes < 1e6,
        "pods listed: {pod_list_bytes} bytes returned"
    );
}
