use super::*;

#[test]
fn leaker_bytes_from_its_metrics() {
    let text = "# HELP oomsday_leaker_target_bytes What the curve asks for now.\n\
                # TYPE oomsday_leaker_target_bytes gauge\n\
                oomsday_leaker_target_bytes 3145728\n\
                oomsday_leaker_allocated_bytes 2097152\n\
                oomsday_leaker_rss_bytes 2500000\n";
    assert_eq!(leaker_bytes(text), Some(2_097_152));
    assert_eq!(leaker_bytes("oomsday_leaker_allocated_bytes NaN\n"), None);
    assert_eq!(leaker_bytes("404 not found"), None);
}

#[test]
fn lines_of_every_kind_read_back_in_arrival_order() {
    let text = concat!(
        r#"{"received":"2026-11-30T07:32:09.027Z","resource":"deployments","type":"MODIFIED","object":{"metadata":{"name":"checkout"}}}"#,
        "\n",
        r#"{"received":"2026-11-30T07:32:08.976Z","run":{"runId":"spill-1","phase":"Pending","detail":"run started"}}"#,
        "\n\n",
        r#"{"received":"2026-11-30T07:32:10.142Z","namespace":"bf","pod":"checkout-1","metrics":"oomsday_leaker_allocated_bytes 32505856\n"}"#,
        "\n",
    );
    let rec = read_str("mem", text).unwrap();
    assert_eq!(rec.entries.len(), 3);
    assert!(matches!(&rec.entries[0], Entry::Run(r) if r.run.phase == Some(Phase::Pending)));
    assert!(matches!(&rec.entries[1], Entry::Watch(w) if w.kind == WatchType::Modified));
    assert!(matches!(&rec.entries[2], Entry::Leaker(l) if l.pod == "checkout-1"));
    assert_eq!(
        rec.run_started,
        Some("2026-11-30T07:32:08.976Z".parse().unwrap())
    );
    assert_eq!(
        rec.phase_at(Phase::Pending),
        Some("2026-11-30T07:32:08.976Z".parse().unwrap())
    );
}

#[test]
fn a_bad_line_is_named_by_its_number() {
    let text = "{\"received\":\"2026-11-30T07:32:09Z\",\"resource\":\"pods\",\"type\":\"ADDED\",\"object\":{}}\n{\"received\":\"nope\"}\n";
    let e = read_str("run.jsonl", text).unwrap_err().to_string();
    assert!(e.starts_with("run.jsonl:2: "), "{e}");
}

#[test]
fn written_lines_read_back() {
    let dir = std::env::temp_dir().join(format!("oomsday-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.jsonl");
    let r = Recorder::create(&path).unwrap();
    let at: Time = "2026-11-30T07:32:09.5Z".parse().unwrap();
    r.watch(
        at,
        "pods",
        "pods",
        WatchType::Added,
        serde_json::json!({"metadata": {"name": "p", "managedFields": [{"manager": "x"}]}}),
    );
    r.initial_list_end(at, "pods spec.nodeName=n1", "pods");
    r.leaker(at, "bf", "p", "oomsday_leaker_allocated_bytes 7\n");
    r.run(
        at,
        RunNote {
            run_id: "r".into(),
            phase: Some(Phase::Leaking),
            detail: "leaking".into(),
            reason: None,
            experiment: None,
            defences: None,
        },
    );
    r.flush();
    let rec = read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(rec.entries.len(), 4);
    let Entry::Watch(w) = &rec.entries[0] else {
        panic!("{:?}", rec.entries[0])
    };
    assert!(w.object["metadata"].get("managedFields").is_none());
    assert!(
        matches!(&rec.entries[1], Entry::Watch(w) if w.kind == WatchType::Bookmark
        && w.stream() == "pods spec.nodeName=n1")
    );
    assert!(matches!(&rec.entries[2], Entry::Leaker(l) if leaker_bytes(&l.metrics) == Some(7)));
    assert_eq!(rec.phase_at(Phase::Leaking), Some(at));
}

#[test]
fn a_folder_recorded_beside_a_run_reads_as_one_recording() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-runs/spill");
    let rec = read(&dir).unwrap();
    let watch = rec
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Watch(w) if w.kind != WatchType::Bookmark))
        .count();
    let leaker = rec
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Leaker(_)))
        .count();
    let ends = rec
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Watch(w) if w.kind == WatchType::Bookmark))
        .count();
    // TRUTH.md: 537 watch events, 205 good scrapes; one initial list per watch (7).
    assert_eq!((watch, leaker, ends), (537, 205, 7));
    assert!(
        rec.entries
            .windows(2)
            .all(|w| w[0].received() <= w[1].received())
    );
    assert_eq!(
        rec.run_started,
        Some("2026-11-30T07:32:08.965362448Z".parse().unwrap())
    );
    let exp = rec.experiment.expect("the experiment of run-meta.json");
    assert_eq!((exp.name.as_str(), exp.namespace.as_str()), ("spill", "bf"));
}

fn real_bed_model() -> crate::sim::ClusterModel {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-bed/model.yaml");
    crate::sim::ClusterModel::load(&path).unwrap()
}

#[test]
fn the_model_a_run_was_predicted_on_reads_back_and_is_no_entry() {
    let dir = std::env::temp_dir().join(format!("oomsday-record-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.jsonl");
    let r = Recorder::create(&path).unwrap();
    let at: Time = "2026-11-30T07:32:08Z".parse().unwrap();
    let model = real_bed_model();
    r.model(at, &model);
    r.leaker(at, "bf", "p", "oomsday_leaker_allocated_bytes 7\n");
    r.flush();
    let rec = read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(rec.entries.len(), 1, "the model is no observation");
    let m = rec.model.expect("the model line");
    assert_eq!(m.received, at);
    assert_eq!(m.model, model);
}

#[test]
fn a_recording_without_a_model_still_reads() {
    let text =
        r#"{"received":"2026-11-30T07:32:09Z","resource":"pods","type":"ADDED","object":{}}"#;
    let rec = read_str("old.jsonl", text).unwrap();
    assert!(rec.model.is_none());
    assert_eq!(rec.entries.len(), 1);
}

#[test]
fn a_broken_model_line_is_named_by_its_number() {
    let text = "{\"received\":\"2026-11-30T07:32:09Z\",\"resource\":\"pods\",\"type\":\"ADDED\",\"object\":{}}\n{\"received\":\"2026-11-30T07:32:09Z\",\"model\":{\"nodes\":3}}\n";
    let e = read_str("run.jsonl", text).unwrap_err().to_string();
    assert!(e.starts_with("run.jsonl:2: the model line: "), "{e}");
}
