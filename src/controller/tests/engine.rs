//! A whole run on the leader, with the engine for real against the simulator: protected by the
//! finalizer before it may inject and only then, a status write at each phase, Events in the
//! narrator's words, the final status with the score and what was measured, the finalizer
//! released once the revert is confirmed, and `kubectl wait` satisfied by what was written.

use super::wait::kubectl_wait_met;
use super::*;
use crate::controller::executor::{EngineExecutor, ForRun};
use crate::controller::reconcile::reconcile_run;
use crate::sim::{ClusterModel, SimCluster};

fn black_friday() -> (ClusterModel, LeakExperiment) {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = ClusterModel::load(std::path::Path::new(&format!(
        "{root}/experiments/black-friday/cluster.yaml"
    )))
    .unwrap_or_else(|e| panic!("model: {e}"));
    let text = std::fs::read_to_string(format!(
        "{root}/experiments/black-friday/checkout-leak.yaml"
    ))
    .unwrap_or_else(|e| panic!("experiment: {e}"));
    let mut exp: LeakExperiment =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("experiment: {e}"));
    exp.meta_mut().uid = Some("uid-bf".into());
    (model, exp)
}

/// The object the API would hold after `calls`, starting from `run`.
fn object_after(run: &Value, calls: &[Call]) -> Value {
    let mut obj = run.clone();
    for c in calls {
        if c.method == "PATCH" && c.path.ends_with("/status") {
            obj["status"] = c.body["status"].clone();
        }
        obj["metadata"]["finalizers"] = c.finalizers.clone();
    }
    obj
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_protected_only_while_it_may_leak_and_ends_waitable() {
    let (model, exp) = black_friday();
    let mut run = new_run(&exp, Trigger::Manual, now(), None).unwrap_or_else(|e| panic!("{e}"));
    run.meta_mut().generation = Some(1);
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let recorder = Recorder::start(handle, &run, json!({"oomsday.dev/allow": "true"}));
    let (_leader_tx, leader_rx) = watch::channel(true);
    // Seed 1: a history in which the kubelet evicts a checkout pod (a third of the seeds do).
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| SimCluster::new(&model, 1));
    let ctx = Arc::new(context(
        Client::new(svc, "default"),
        leader_rx,
        Arc::new(executor),
    ));

    // First reconcile: the finalizer goes on, nothing starts.
    reconcile_run(Arc::new(run.clone()), ctx.clone())
        .await
        .expect("reconcile");
    assert!(ctx.registry.is_empty());
    let protected: LeakRun =
        serde_json::from_value(object_after(&to_value(&run), &recorder.calls())).expect("run");
    assert_eq!(
        protected.meta().finalizers,
        Some(vec![RUN_FINALIZER.to_string()])
    );
    // Second (the watch saw the change): the run starts, as a task on this runtime.
    reconcile_run(Arc::new(protected), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(ctx.registry.len(), 1, "the run executes here");
    // The simulator's clock is virtual: the hour-long run takes moments.
    tokio::time::timeout(StdDuration::from_secs(60), async {
        while !ctx.registry.is_empty() {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run ends");

    let calls = recorder.calls();
    let statuses: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path.ends_with("/status"))
        .collect();
    let phases: Vec<&str> = statuses
        .iter()
        .filter_map(|c| c.body["status"]["phase"].as_str())
        .collect();
    assert_eq!(phases.first(), Some(&"Pending"), "{phases:?}");
    for p in ["Injecting", "Leaking", "Reverting", "Recovering"] {
        assert!(phases.contains(&p), "{p} missing from {phases:?}");
    }
    // While an injection may be live, the finalizer is on.
    for c in &statuses {
        let phase = c.body["status"]["phase"].as_str().unwrap_or_default();
        if matches!(phase, "Injecting" | "Leaking" | "Reverting") {
            assert_eq!(c.finalizers, json!([RUN_FINALIZER]), "{phase}");
            assert_eq!(
                condition(&c.body["status"], "Reverted")["status"],
                "False",
                "{phase}"
            );
        }
    }
    let last = &statuses.last().expect("a final status").body["status"];
    assert!(
        matches!(last["phase"].as_str(), Some("Completed" | "Aborted")),
        "{last}"
    );
    assert!(last["score"].as_u64().is_some_and(|s| s <= 100), "{last}");
    assert!(last["revertedTime"].is_string(), "reverted: {last}");
    assert_eq!(last["revertedBy"], "oomsday-controller-test", "{last}");
    assert_eq!(last["injection"]["name"], "checkout");
    let facets = last["facets"].as_array().expect("facets");
    assert_eq!(facets.len(), 5, "{last}");
    let detection = facets
        .iter()
        .find(|f| f["name"] == "detection")
        .expect("detection");
    assert_eq!(
        detection["measured"], false,
        "no Prometheus in the story: {detection}"
    );
    assert!(
        detection.get("points").is_none(),
        "never a zero: {detection}"
    );
    // ...and once the revert is confirmed, it goes: the last call removes it.
    let finalizer_calls: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.body.is_array())
        .collect();
    assert_eq!(finalizer_calls.len(), 2, "added once, removed once");
    let removal = finalizer_calls[1];
    assert_eq!(removal.finalizers, json!([]));
    let removal_at = calls
        .iter()
        .position(|c| std::ptr::eq(c, removal))
        .expect("position");
    assert!(
        calls[..removal_at]
            .iter()
            .any(|c| c.path.ends_with("/status") && c.body["status"]["phase"] == last["phase"]),
        "removed after the final status"
    );

    // What `kubectl wait` sees: not finished while running, finished and decided at the end.
    let end = object_after(&to_value(&run), &calls);
    let leaking_at = calls
        .iter()
        .position(|c| c.body["status"]["phase"] == "Leaking")
        .expect("Leaking");
    let mid = object_after(&to_value(&run), &calls[..=leaking_at]);
    assert!(!kubectl_wait_met(&mid, "Finished", "True"));
    assert!(!kubectl_wait_met(&mid, "Succeeded", "True"));
    assert!(kubectl_wait_met(&mid, "Injected", "True"));
    assert!(kubectl_wait_met(&end, "Finished", "True"));
    let succeeded = last["verdict"] == "Passed" && last["phase"] == "Completed";
    assert_eq!(
        kubectl_wait_met(&end, "Succeeded", "True"),
        succeeded,
        "{last}"
    );
    assert_eq!(
        kubectl_wait_met(&end, "Succeeded", "False"),
        !succeeded,
        "{last}"
    );
    assert!(kubectl_wait_met(&end, "Reverted", "True"));
    assert_eq!(end["metadata"]["finalizers"], json!([]));

    // Events: the story's cascade, in the narrator's words (the Scored line is the controller's).
    let reasons: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/events"))
        .filter_map(|c| c.body["reason"].as_str())
        .collect();
    for r in ["Injecting", "Leaking", "Recovering", "Scored"] {
        assert!(reasons.contains(&r), "{r} missing from {reasons:?}");
    }
    assert!(
        reasons
            .iter()
            .any(|r| matches!(*r, "OOMKilled" | "Evicted")),
        "{reasons:?}"
    );
    let metrics = ctx.metrics.render();
    assert!(
        metrics
            .contains("oomsday_runs_total{namespace=\"shop\",experiment=\"checkout-black-friday\""),
        "{metrics}"
    );
    // What the run did, kept per experiment for the dashboard: the story's OOM kills and
    // evictions are counted as the run's summary counts them.
    let gauge = |name: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "{name}{{namespace=\"shop\",experiment=\"checkout-black-friday\"}} "
                ))
            })
            .and_then(|v| v.parse::<u32>().ok())
    };
    let (kills, evictions) = (
        gauge("oomsday_last_run_oom_kills"),
        gauge("oomsday_last_run_evictions"),
    );
    let summary = &end["status"]["summary"];
    let count = |k: &str| summary[k].as_u64().and_then(|v| u32::try_from(v).ok());
    assert_eq!(kills, count("oomKills"), "{metrics}\n{summary}");
    assert_eq!(evictions, count("evictions"), "{metrics}\n{summary}");
    assert!(
        kills.zip(evictions).is_some_and(|(k, e)| k + e > 0),
        "{metrics}"
    );
    assert!(
        metrics.contains("oomsday_last_run_below_budget_seconds{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_a_record_dir_each_run_keeps_its_recording_and_report() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = ClusterModel::load(std::path::Path::new(&format!(
        "{root}/tests/fixtures/real-bed/model.yaml"
    )))
    .unwrap_or_else(|e| panic!("model: {e}"));
    let (found, _) = crate::spec::load_experiments(std::path::Path::new(&format!(
        "{root}/tests/fixtures/real-runs/contained/contained.yaml"
    )))
    .unwrap_or_else(|e| panic!("{e:?}"));
    let e = &found[0].experiment;
    let exp = ExperimentRef {
        name: "contained".into(),
        namespace: "bf".into(),
        spec: e.spec.clone(),
    };
    let dir = std::env::temp_dir().join(format!("oomsday-recdir-{}", std::process::id()));
    let m = model.clone();
    let mut exp = exp;
    exp.spec.predict = true;
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| SimCluster::new(&model, 3))
        .with_record_dir(Some(dir.clone()))
        // spec.predict with a record dir: the recording keeps the model it was predicted on.
        .with_predictor(Arc::new(move |e: ExperimentRef| {
            let m = m.clone();
            Box::pin(async move {
                let prediction = crate::predict::predict(&m, &e, 1..=2).await?;
                Ok(crate::predict::Predicted {
                    model: m,
                    prediction,
                })
            })
        }));
    let (tx, _rx) = mpsc::unbounded_channel();
    let record = executor
        .execute(
            exp,
            RunOptions::new("contained-rec"),
            StopSignal::never(),
            tx,
        )
        .await
        .result
        .unwrap_or_else(|e| panic!("{e}"));
    let recording = crate::recording::read(&dir.join("bf/contained-rec.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"));
    let root_model = ClusterModel::load(std::path::Path::new(&format!(
        "{root}/tests/fixtures/real-bed/model.yaml"
    )))
    .unwrap_or_else(|e| panic!("model: {e}"));
    assert_eq!(
        recording.model.as_ref().map(|m| &m.model),
        Some(&root_model),
        "the recording carries the model the run was predicted on"
    );
    let report = std::fs::read_dir(dir.join("bf"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().ends_with(".json"));
    std::fs::remove_dir_all(&dir).ok();
    assert!(report, "the run's JSON report is kept beside its recording");
    // The run's phases are in the recording, at the record's own times.
    assert_eq!(
        recording.phase_at(crate::spec::Phase::Leaking),
        record.injected
    );
    assert_eq!(
        recording.phase_at(crate::spec::Phase::Recovering),
        record.reverted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_predict_puts_the_prediction_beside_the_outcome_in_the_status() {
    // On the story's cluster past the edge (its own holds), for the leak's first hour: the
    // prediction's warning must reach the status.
    let (_, mut exp) = black_friday();
    exp.spec.duration = "1h".parse().unwrap_or_else(|e| panic!("duration: {e}"));
    let root = env!("CARGO_MANIFEST_DIR");
    let model = ClusterModel::load(std::path::Path::new(&format!(
        "{root}/experiments/black-friday/past-the-edge/cluster.yaml"
    )))
    .unwrap_or_else(|e| panic!("model: {e}"));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (m, a) = (model.clone(), asked.clone());
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| SimCluster::new(&model, 7))
        .with_predictor(Arc::new(move |e: ExperimentRef| {
            let m = m.clone();
            a.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.name.clone());
            Box::pin(async move {
                let prediction = crate::predict::predict(&m, &e, 1..=3).await?;
                Ok(crate::predict::Predicted {
                    model: m,
                    prediction,
                })
            })
        }));
    let run = |predict: bool| {
        let mut spec = exp.spec.clone();
        spec.predict = predict;
        let e = ExperimentRef {
            name: exp.metadata.name.clone().unwrap_or_default(),
            namespace: exp.metadata.namespace.clone().unwrap_or_default(),
            spec,
        };
        let (tx, _rx) = mpsc::unbounded_channel();
        executor.execute(e, RunOptions::new("bf-1"), StopSignal::never(), tx)
    };
    let plain = run(false).await;
    plain.result.expect("the run");
    assert!(plain.prediction.is_none());
    assert!(
        asked.lock().map(|a| a.is_empty()).unwrap_or(false),
        "not asked"
    );

    let executed = run(true).await;
    let record = executed.result.expect("the run");
    let p = executed.prediction.expect("a prediction");
    assert_eq!(p.seeds, [1, 2, 3]);
    let p_warnings = p.warnings.clone();
    let report = crate::report::Report::new(record, Some(p));
    let status = crate::controller::status::final_status(&report);
    let measures: Vec<&str> = status
        .prediction
        .iter()
        .map(|r| r.measure.as_str())
        .collect();
    // Every measure, what reached the target first, and the verdict.
    assert_eq!(measures.len(), crate::predict::Measure::ALL.len() + 2);
    assert!(measures.contains(&crate::predict::FirstRow::LABEL));
    assert!(measures.contains(&"first eviction") && measures.contains(&"verdict"));
    let verdict = status.prediction.last().expect("the verdict row");
    assert_eq!(verdict.observed, format!("{:?}", report.score.verdict));
    // The model is past the edge before the leak: the status says so beside the prediction.
    assert_eq!(status.prediction_warnings, p_warnings);
    assert!(
        status.prediction_warnings[..]
            .iter()
            .any(|w| w.starts_with("the model is past the edge before the experiment")),
        "{:?}",
        status.prediction_warnings
    );
    // What to change goes in the status too, with numbers: the snapshot's working sets give
    // the memory request and limit.
    assert!(
        status
            .recommendations
            .iter()
            .any(|r| r.contains("requests.memory: ") && r.contains("VPA's recommender")),
        "{:?}",
        status.recommendations
    );
    assert!(status.recommendations.len() <= crate::controller::status::RECOMMENDATIONS_MAX);
}
