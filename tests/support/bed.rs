//! The real bed of `tests/fixtures/` served by the test kit's fake API server: its Node, kubelet
//! `configz`, Summary API and `/metrics` as the API returned them (`real-bed/`), and the pods,
//! Deployments and PDBs of a recording (`real-runs/*/watch.jsonl`, the watches' initial lists).

#![allow(dead_code)] // each test binary uses part of it

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use oomsday_testkit::{ApiServer, Gvr};
use serde_json::{Value, json};

fn fixture(rel: &str) -> Value {
    let text = fixture_text(rel);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A file of `tests/fixtures/` as text.
pub fn fixture_text(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The objects of a recording's watches' initial lists (before each watch's
/// `k8s.io/initial-events-end` bookmark), by watched resource.
pub fn initial_lists(run: &str) -> BTreeMap<String, Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-runs")
        .join(run);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("recorder-meta.json")).expect("recorder-meta.json"),
    )
    .expect("recorder-meta.json is JSON");
    let end = |resource: &str| -> String {
        meta["watches"][resource]["bookmarkLog"][0]["at"]
            .as_str()
            .unwrap_or_else(|| panic!("{run}: no initial-events-end for {resource}"))
            .to_string()
    };
    let mut lines: Vec<Value> = std::fs::read_to_string(dir.join("watch.jsonl"))
        .expect("watch.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    lines.sort_by(|a, b| a["received"].as_str().cmp(&b["received"].as_str()));
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for l in lines {
        let resource = l["resource"].as_str().unwrap_or_default().to_string();
        let received = l["received"].as_str().unwrap_or_default();
        // RFC 3339 in UTC with nanoseconds: comparable as text.
        if l["type"] == "ADDED" && received <= end(&resource).as_str() {
            out.entry(resource).or_default().push(l["object"].clone());
        }
    }
    out
}

/// The real bed with the objects of recording `run` as it began: the Node, configz and
/// Summary API of `real-bed/`, and the recording's pods, Deployments and PDBs.
///
/// The Summary fixture was taken on the same setup minutes before the recordings, whose
/// pods were since recreated (same ReplicaSets, new name suffixes). A live cluster answers
/// its pod list and its Summary API with the same pods, so the mock's Summary gives each
/// recorded pod the figures the fixture has for a pod of the same ReplicaSet, in name
/// order; the node-level figures are unchanged.
pub fn recorded(run: &str) -> ApiServer {
    let lists = initial_lists(run);
    let node = fixture("real-bed/node.json");
    let node_name = node["metadata"]["name"]
        .as_str()
        .expect("the Node is named")
        .to_string();
    let mut pods = lists.get("pods").cloned().unwrap_or_default();
    pods.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    let mut summary = fixture("real-bed/kubelet-stats-summary.json");
    let rs = |name: &str| name.rsplit_once('-').map(|(rs, _)| rs.to_string());
    if let Some(entries) = summary["pods"].as_array_mut() {
        entries.sort_by(|a, b| {
            a["podRef"]["name"]
                .as_str()
                .cmp(&b["podRef"]["name"].as_str())
        });
        let mut used = BTreeSet::new();
        for e in entries.iter_mut() {
            let old = e["podRef"]["name"].as_str().unwrap_or_default().to_string();
            let ns = e["podRef"]["namespace"].clone();
            let new = pods.iter().find_map(|p| {
                let name = p["metadata"]["name"].as_str()?;
                (p["metadata"]["namespace"] == ns && rs(name) == rs(&old) && !used.contains(name))
                    .then(|| name.to_string())
            });
            let new = new.unwrap_or_else(|| panic!("{run}: no recorded pod for {old}"));
            used.insert(new.clone());
            e["podRef"]["name"] = json!(new);
            e["podRef"]["uid"] = pods
                .iter()
                .find(|p| p["metadata"]["name"] == json!(new))
                .map(|p| p["metadata"]["uid"].clone())
                .unwrap_or(Value::Null);
        }
    }
    let api = ApiServer::new();
    api.populate(&Gvr::NODES, [node]);
    api.populate(&Gvr::PODS, pods);
    let list = |r: &str| lists.get(r).cloned().unwrap_or_default();
    api.populate(&Gvr::DEPLOYMENTS, list("deployments"));
    api.populate(&Gvr::PDBS, list("poddisruptionbudgets"));
    api.kubelet(
        &node_name,
        "configz",
        200,
        fixture("real-bed/kubelet-configz.json"),
    );
    api.kubelet(&node_name, "stats/summary", 200, summary);
    let metrics = fixture_text("real-bed/kubelet-metrics.txt");
    api.kubelet(&node_name, "metrics", 200, Value::String(metrics));
    api
}

/// The real bed as if its host ran cgroup v2: its kubelet's `/metrics` says so
/// (`cgroup-v2/kubelet-metrics.txt`); configz and the Summary API are the same, as a v2
/// kubelet with the same configuration returns them (`cgroup-v2/README.md`).
pub fn recorded_v2(run: &str) -> ApiServer {
    let api = recorded(run);
    let metrics = fixture_text("cgroup-v2/kubelet-metrics.txt");
    api.kubelet(NODE, "metrics", 200, Value::String(metrics));
    api
}

/// The real bed's one node.
pub const NODE: &str = "real-1";
