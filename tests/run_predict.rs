//! `oomsday run --predict` against a fake API server over real HTTP (`oomsday_testkit`)
//! holding the real bed's Node and a recording's namespaces, Deployments, pods and PDB, whose
//! node proxy answers with the real kubelet's `configz` and Summary API: the run takes a
//! snapshot, predicts the experiment on it, runs it for real (the fake has no kubelet, so
//! nothing is killed or evicted) and writes reports with the prediction and the outcome side
//! by side — the HTML on the same charts.

mod support;

use std::path::{Path, PathBuf};

use oomsday::cli::conclude::ReportArgs;
use oomsday::cli::run::{Args, exec};
use oomsday::predict::Measure;
use oomsday::report::{Format, Report};
use oomsday_testkit::{ApiServer, Listening};
use serde_json::{Value, json};
use support::bed::{self, NODE, initial_lists};

/// The spill experiment, faster: the pods' 3 GiB threshold is crossed within the 8 s leak.
const SPILL_FAST: &str = "apiVersion: oomsday.dev/v1alpha1
kind: LeakExperiment
metadata: {name: spill-fast, namespace: bf}
spec:
  target: {kind: Deployment, name: checkout}
  leak: {pattern: linear, rate: 512Mi/s, start: 8Mi, max: 3Gi, limit: none}
  duration: 8s
  recovery: 2s
  hypothesis: {pdbHolds: true}
";
/// The fake, holding recording `run`'s objects as it began and the real bed's kubelet.
async fn recorded(run: &str) -> Listening {
    serving(run, bed::recorded(run)).await
}

/// The fake, holding recording `run`'s objects as it began and `bed`'s kubelet.
async fn serving(run: &str, bed: ApiServer) -> Listening {
    let api = support::fake_api();
    let node: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-bed/node.json"),
        )
        .expect("node.json"),
    )
    .expect("JSON");
    api.create("nodes", node);
    api.create(
        "namespaces",
        json!({"metadata": {"name": "bf", "labels": {"oomsday.dev/allow": "true"}}}),
    );
    api.create("namespaces", json!({"metadata": {"name": "bystand"}}));
    let lists = initial_lists(run);
    for (plural, objects) in [
        ("deployments", &lists["deployments"]),
        ("pods", &lists["pods"]),
        ("poddisruptionbudgets", &lists["poddisruptionbudgets"]),
    ] {
        for o in objects
            .iter()
            .filter(|o| o["metadata"]["namespace"] != "oomsday-system")
        {
            let mut o = o.clone();
            for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                o["metadata"].as_object_mut().map(|m| m.remove(k));
            }
            api.create(plural, o);
        }
    }
    for path in ["configz", "stats/summary", "metrics"] {
        let (code, body) = bed.kubelet_answer(NODE, path).expect("the bed's kubelet");
        api.kubelet(NODE, path, code, body);
    }
    api.listen().await.expect("the fake API server listens")
}

/// `oomsday run --predict` of [`SPILL_FAST`] against `api`, from a fresh `dir` (its kubeconfig
/// and experiment written there, its reports into `dir/reports`).
fn spill_fast_predicted(
    api: &Listening,
    dir: &Path,
    record: Option<PathBuf>,
    format: Vec<Format>,
) -> Args {
    std::fs::create_dir_all(dir).expect("a temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).expect("kubeconfig");
    let experiment = dir.join("spill-fast.yaml");
    std::fs::write(&experiment, SPILL_FAST).expect("experiment");
    Args {
        path: experiment,
        cluster: oomsday::cli::cluster::ClusterArgs {
            kubeconfig: Some(kubeconfig),
            context: None,
        },
        namespace: None,
        dry_run: false,
        record,
        reports: ReportArgs {
            min_score: None,
            out: dir.join("reports"),
            format,
        },
        no_progress: true,
        predict: true,
    }
}

/// `oomsday run --predict` of a faster spill against `api`: the exit code, the report and its
/// JSON, Markdown and HTML.
async fn run_predicted(api: &Listening, tag: &str) -> (u8, Report, String, String, String) {
    let dir =
        std::env::temp_dir().join(format!("oomsday-run-predict-{tag}-{}", std::process::id()));
    let out = dir.join("reports");
    let code = exec(spill_fast_predicted(api, &dir, None, Format::ALL.to_vec()))
        .await
        .expect("the run completes");
    let file = |ext: &str| {
        std::fs::read_dir(&out)
            .expect("reports")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(ext))
            .unwrap_or_else(|| panic!("no .{ext} report"))
    };
    let json_text = std::fs::read_to_string(file(".json")).expect("JSON report");
    let report = Report::from_json(&json_text).expect("a report");
    let md = std::fs::read_to_string(file(".md")).expect("Markdown report");
    let html = std::fs::read_to_string(file(".html")).expect("HTML report");
    std::fs::remove_dir_all(&dir).ok();
    (code, report, json_text, md, html)
}

#[tokio::test]
async fn run_predict_writes_the_prediction_beside_the_outcome() {
    let api = recorded("spill").await;
    let (code, report, json_text, md, html) = run_predicted(&api, "v1").await;

    // The prediction, made on a snapshot of this cluster before the run.
    let p = report
        .prediction
        .as_ref()
        .expect("the report carries the prediction");
    let snap = p.snapshot.as_ref().expect("from a snapshot");
    assert!(snap.context.starts_with("context "), "{}", snap.context);
    assert!(snap.taken_at <= report.record.started);
    assert_eq!(p.seeds.len(), 21);
    // The real bed's kubelet says cgroup v1: its memcg notification is assumed to work.
    assert!(
        p.notifier
            .as_deref()
            .is_some_and(|n| n.contains("on for real-1 (cgroup v1")),
        "{:?}",
        p.notifier
    );
    // The simulator predicts evictions (the fake, with no kubelet, has none): side by side.
    let c = report.comparison.as_ref().expect("the comparison");
    let row = |label: &str| {
        c.rows
            .iter()
            .find(|r| r.measure.label() == label)
            .unwrap_or_else(|| panic!("no row {label}"))
    };
    let first = row("first eviction");
    assert!(
        first.predicted.is_some_and(|t| t > 0.0 && t < 8.0),
        "{first:?}"
    );
    assert_eq!(first.observed, None);
    assert_eq!(first.within, Some(false));
    assert_eq!(row("evictions of bystanders").observed, Some(0.0));
    assert!(json_text.contains("\"predictedVerdict\""));
    assert_eq!(code, exit_code_of(&report));

    assert!(md.contains("## Predicted vs observed"), "{md}");
    // checkout has no memory limit: its numbers come from the working sets the snapshot measured.
    assert!(
        md.contains(
            "Set checkout's container checkout to requests.memory: 1Mi and limits.memory: 1Mi: \
             the request as VPA's recommender computes it (the 90th percentile of the working \
             set, 240.00 KiB, plus its 15% safety margin)"
        ) && md.contains("over 3 pods measured by the snapshot"),
        "{md}"
    );
    assert!(md.contains("| first eviction (±5 s) | T+"), "{md}");
    // What reached the target first: predicted over the seeds, and what the run had (the fake
    // has no kubelet: neither), in the table and in words. Which one the seeds expect depends
    // on what cAdvisor last saw of the pods when the kubelet ranks them: a leak this fast is
    // ahead of its figures, so the kubelet evicts a bystander and the kernel OOM-kills the
    // leaker in most seeds.
    let first = &c.target_first;
    let odds = first.predicted;
    assert_eq!(odds.oom_kill + odds.eviction + odds.neither, 21, "{odds:?}");
    assert!(
        odds.expected().is_some() && odds.neither < odds.runs() / 2,
        "{odds:?}"
    );
    assert_eq!((first.observed, first.within), (None, Some(false)));
    assert!(
        md.contains(&format!(
            "| what reached the target first | {} | neither | — | no ({} of 21 runs had it) |",
            first.predicted_text(),
            odds.neither
        )),
        "{md}"
    );
    let said = first.sentence().expect("a sentence");
    assert!(said.ends_with("in the run, neither came."), "{said}");
    assert!(md.contains(&said), "{md}");
    let section = html
        .split("<h2>Predicted vs observed</h2>")
        .nth(1)
        .expect("an HTML section");
    // Predicted and observed ready pods on one chart.
    let chart = section
        .split("<svg")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("a chart");
    assert!(
        chart.contains("<title>observed ready pods</title>"),
        "{chart}"
    );
    assert!(
        chart.contains("<title>predicted ready pods (simulated, seed "),
        "{chart}"
    );
}

/// The same run on a cluster whose kubelet says cgroup v2 (`kubelet_cgroup_version 2`) and, as a
/// v2 kubelet does, `kernelMemcgNotification: true` in its configz: the prediction says it
/// assumed no memory notifier, and predicts no eviction where v1 evicts at the crossing.
#[tokio::test]
async fn run_predict_on_a_cgroup_v2_snapshot_says_which_notifier_it_assumed() {
    let api = serving("spill", bed::recorded_v2("spill")).await;
    let (_, report, _, md, _) = run_predicted(&api, "v2").await;
    let p = report
        .prediction
        .as_ref()
        .expect("the report carries the prediction");
    let notifier = p.notifier.as_deref().expect("the notifier assumed");
    assert!(
        notifier.contains("kernelMemcgNotification: true")
            && notifier.contains("none on real-1 (cgroup v2"),
        "{notifier}"
    );
    assert!(md.contains(notifier), "{md}");
    let notes = p
        .snapshot
        .as_ref()
        .expect("from a snapshot")
        .notes
        .join("\n");
    assert!(notes.contains("real-1 run cgroup v2"), "{notes}");
    // On v1 the crossing at T+4 is an eviction at once (the test above); on v2 most runs'
    // next look falls after the 6 s leak has ended.
    let first = p.figure(Measure::FirstEviction).expect("first eviction");
    assert!(first.median.is_none() && first.runs < 11, "{first:?}");
}

fn exit_code_of(report: &Report) -> u8 {
    oomsday::cli::exit::of(oomsday::engine::Outcome::of(
        report.record.phase,
        report.score.verdict,
        report.score.total,
        None,
    ))
}

/// `run --predict --record`: the recording carries the snapshot the run was predicted on, and
/// `oomsday calibrate` simulates the run again on it, needing no --model.
#[tokio::test]
async fn a_recording_made_with_predict_carries_its_model_for_calibrate() {
    let api = recorded("spill").await;
    let dir = std::env::temp_dir().join(format!("oomsday-run-predict-rec-{}", std::process::id()));
    let recording = dir.join("run.jsonl");
    exec(spill_fast_predicted(
        &api,
        &dir,
        Some(recording.clone()),
        vec![Format::Json],
    ))
    .await
    .expect("the run completes");
    let read = oomsday::recording::read(&recording).expect("the recording reads");
    let model = read
        .model
        .as_ref()
        .expect("the recording carries the model");
    let snap = model.model.metadata.snapshot.as_ref().expect("a snapshot");
    assert_eq!(model.received, snap.taken_at);
    assert!(read.run_started.is_some_and(|s| model.received <= s));
    let calibration = oomsday::cli::calibrate::calibrate(&[recording], None)
        .await
        .expect("calibrate needs no --model");
    std::fs::remove_dir_all(&dir).ok();
    let [one] = calibration.recordings.as_slice() else {
        panic!("{calibration:?}")
    };
    assert!(
        one.model.starts_with("the snapshot it carries"),
        "{}",
        one.model
    );
    // The fake has no kubelet: nothing reached the target, where most seeds expect something.
    let first = &one.comparison.target_first;
    assert_eq!(first.observed, None);
    assert!(first.predicted.neither < 10, "{:?}", first.predicted);
    assert_eq!(first.within, Some(false));
    assert!(calibration.judged > 0 && calibration.within < calibration.judged);
}
