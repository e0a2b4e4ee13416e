//! Replaying a 10,000-event recording: parse, feed through the classifier, engine and scorer.
//!
//! `cargo bench --bench replay`. The recording is the real `spill` run (tests/fixtures/real-runs)
//! with the churn of a busy cluster woven in: bystander pods in other namespaces updated
//! throughout the run (readiness flapping, restarts), as a cluster-wide pod watch delivers them,
//! until it holds 10,000 watch events. It is written as JSON lines and read back, so the figure
//! covers parsing too. Target: under 1 s in release.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use oomsday::cluster::ReplayCluster;
use oomsday::engine::{self, ExperimentRef, RunOptions};
use oomsday::observe::Time;
use oomsday::recording::{Entry, Recording};
use oomsday::report::Report;
use serde_json::json;

const EVENTS: usize = 10_000;

fn churn_pod(i: usize, rv: usize, at: Time, ready: bool) -> serde_json::Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": format!("api-{i:04}-7d9c5b8f4-x{i:04}"), "namespace": format!("team-{}", i % 20),
                     "uid": format!("u-{i}"), "resourceVersion": rv.to_string(),
                     "labels": {"app": format!("api-{}", i % 50), "pod-template-hash": "7d9c5b8f4"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("api-{}-7d9c5b8f4", i % 50), "uid": "rs", "controller": true}]},
        "spec": {"nodeName": format!("node-{}", i % 40), "containers": [{"name": "app", "image": "registry.example.com/api:1.4.2",
                 "resources": {"requests": {"memory": "256Mi", "cpu": "100m"}, "limits": {"memory": "512Mi"}}}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "startTime": "2026-11-30T06:00:00Z",
                   "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "lastTransitionTime": at.to_string()}],
                   "containerStatuses": [{"name": "app", "image": "registry.example.com/api:1.4.2", "imageID": "sha256:abc",
                                          "ready": ready, "restartCount": rv % 3, "started": ready,
                                          "state": {"running": {"startedAt": "2026-11-30T06:00:00Z"}}}]}
    })
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-runs/spill");
    let real = oomsday::recording::read(&dir).expect("the spill recording");
    let first = real.entries.first().map(Entry::received).expect("entries");
    let last = real.entries.last().map(Entry::received).expect("entries");
    let span = last.duration_since(first).as_nanos();
    let real_watch = real
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Watch(_)))
        .count();
    // One JSON line per entry: the real ones, then the churn, in any order (the reader sorts).
    let mut text = String::new();
    for e in &real.entries {
        text.push_str(&serde_json::to_string(e).expect("serializable"));
        text.push('\n');
    }
    let extra = EVENTS.saturating_sub(real_watch);
    for k in 0..extra {
        let at =
            first + jiff::SignedDuration::from_nanos((span * k as i128 / extra as i128) as i64);
        let line = json!({"received": at, "resource": "pods", "type": "MODIFIED",
                          "object": churn_pod(k % 600, 1000 + k, at, k % 7 != 0)});
        let _ = writeln!(text, "{line}");
    }
    let bytes = text.len();

    let t0 = Instant::now();
    let mut recording: Recording =
        oomsday::recording::read_str("bench", &text).expect("reads back");
    recording.run_started = real.run_started;
    recording.experiment = real.experiment.clone();
    let parsed = t0.elapsed();
    let watch = recording
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Watch(_)))
        .count();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let t1 = Instant::now();
    let mut cluster = ReplayCluster::new(recording).expect("replay");
    let exp = ExperimentRef::from(cluster.experiment().cloned().expect("experiment"));
    let record = rt
        .block_on(engine::run_unattended(
            &mut cluster,
            &exp,
            &RunOptions::new("bench"),
        ))
        .expect("replays");
    let replayed = t1.elapsed();
    let t2 = Instant::now();
    let report = Report::new(record, None);
    let json = serde_json::to_string(&report).expect("json");
    let scored = t2.elapsed();
    let total = parsed + replayed + scored;

    println!(
        "replay of a {watch}-watch-event recording ({:.1} MiB of JSON lines):",
        bytes as f64 / 1048576.0
    );
    println!("  parse and sort      {parsed:>10.2?}");
    println!("  replay (engine)     {replayed:>10.2?}");
    println!("  score and report    {scored:>10.2?}");
    println!("  total               {total:>10.2?}   (target < 1 s in release)");
    println!(
        "  result: score {}, {} timeline entries, {} bytes of JSON report",
        report.score.headline(),
        report.record.timeline.len(),
        json.len()
    );
    if cfg!(not(debug_assertions)) && total.as_secs_f64() >= 1.0 {
        eprintln!("replay took {total:?}: over the 1 s target");
        std::process::exit(1);
    }
}
