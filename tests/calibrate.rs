//! `oomsday calibrate` as a user runs it: over the real recordings (whose table is the one in
//! docs/simulator.md), and on what is not a usable recording (exit 2, the file and the line
//! named, nothing printed on stdout).
//!
//! The docs' table is written by this test, never by hand:
//!
//!     OOMSDAY_BLESS=1 cargo test --test calibrate

mod support;

use std::path::{Path, PathBuf};

use support::oomsday;
use support::truth::{every_recording, spill_campaign};

const MODEL: &str = "tests/fixtures/real-bed/model.yaml";
const DOC: &str = "docs/simulator.md";
const BEGIN: &str = "<!-- calibration:begin (written by `oomsday calibrate`, checked by `cargo test --test calibrate`; OOMSDAY_BLESS=1 rewrites it; do not edit) -->";
const END: &str = "<!-- calibration:end -->";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every real recording, as paths from the repository's root.
fn recordings() -> Vec<String> {
    every_recording()
        .map(|r| format!("tests/fixtures/real-runs/{r}"))
        .collect()
}

fn calibrate(output: &str) -> (i32, String, String) {
    let recordings = recordings();
    let mut args = vec!["calibrate", "--model", MODEL, "--output", output];
    args.extend(recordings.iter().map(String::as_str));
    oomsday(&args)
}

/// Writes `text` to `path` whole or not at all: a temporary file beside it, renamed over it.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension(format!("md.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).expect("writing the temporary file");
    std::fs::rename(&tmp, path).expect("renaming it over the docs");
}

#[test]
fn the_docs_calibration_table_is_what_calibrate_prints_over_the_real_recordings() {
    let (code, table, stderr) = calibrate("markdown");
    assert_eq!(code, 0, "{stderr}");
    // Every recording is in it, and the spill campaign as a distribution.
    for r in every_recording() {
        assert!(
            table.contains(&format!("| {r} | verdict |")),
            "{r} is missing:\n{table}"
        );
    }
    let spills = spill_campaign().count();
    assert!(
        table.contains(&format!("**{spills} recordings of bf/spill**")),
        "{table}"
    );
    assert!(
        table.contains("**8 recordings of bf/oom-or-evict**"),
        "{table}"
    );
    let path = repo(DOC);
    let doc = std::fs::read_to_string(&path).expect("docs/simulator.md");
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{DOC} has no calibration block ({BEGIN} … {END})");
    };
    let block = format!("{BEGIN}\n{table}{END}");
    let current = &doc[b..e + END.len()];
    if current == block {
        return;
    }
    if std::env::var_os("OOMSDAY_BLESS").is_some() {
        let text = format!("{}{block}{}", &doc[..b], &doc[e + END.len()..]);
        write_atomically(&path, &text);
        return;
    }
    panic!(
        "{DOC}'s calibration table is not what `oomsday calibrate` prints; rewrite it with \
         OOMSDAY_BLESS=1 cargo test --test calibrate\n\nprinted:\n{table}"
    );
}

#[test]
fn calibrate_as_json_counts_what_the_table_shows() {
    let (code, json, stderr) = calibrate("json");
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let recordings = v["recordings"].as_array().expect("recordings");
    assert_eq!(recordings.len(), every_recording().count());
    let sum = |k: &str| -> u64 {
        recordings
            .iter()
            .map(|r| r["comparison"][k].as_u64().expect("a count"))
            .sum()
    };
    assert_eq!(v["judged"].as_u64(), Some(sum("judged")));
    assert_eq!(v["within"].as_u64(), Some(sum("within")));
    assert!(v["within"].as_u64() < v["judged"].as_u64(), "{json}");
    // contained: the leaker over its limit, OOM-killed in every seed and in the run.
    let contained = &recordings[0]["comparison"]["targetFirst"];
    assert_eq!(contained["observed"], "oomKill", "{contained}");
    assert_eq!(contained["predicted"]["oomKill"], 21, "{contained}");
    // spill: the kubelet's eviction.
    assert_eq!(
        recordings[1]["comparison"]["targetFirst"]["observed"],
        "eviction"
    );
    let campaigns = v["campaigns"].as_array().expect("campaigns");
    assert_eq!(campaigns.len(), 2);
    assert_eq!(
        campaigns[0]["recordings"].as_array().map(Vec::len),
        Some(spill_campaign().count())
    );
    assert_eq!(campaigns[0]["seeds"], 21);
    assert_eq!(campaigns[1]["recordings"].as_array().map(Vec::len), Some(8));
}

/// A temporary file holding `text`.
fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oomsday-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a temp file");
    path
}

/// A failed calibrate: exit 2, nothing on stdout, the first line on stderr.
fn fails(args: &[&str]) -> String {
    let (code, stdout, stderr) = oomsday(args);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert_eq!(stdout, "", "nothing is printed half");
    stderr.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_recording_without_a_model_says_what_it_needs() {
    let line = fails(&[
        "calibrate",
        "tests/fixtures/real-runs/contained",
        "tests/fixtures/real-runs/spill",
    ]);
    assert_eq!(
        line,
        "error: tests/fixtures/real-runs/contained: the recording carries no snapshot; record \
         with `run --predict` or give --model FILE"
    );
}

#[test]
fn a_file_that_is_not_a_recording_is_named_with_its_line() {
    let path = temp("not-a-recording.jsonl", "{\"apiVersion\": \"v1\"}\n");
    let line = fails(&["calibrate", "--model", MODEL, &path.to_string_lossy()]);
    assert!(
        line.starts_with(&format!(
            "error: {}:1: neither a watch event",
            path.display()
        )),
        "{line}"
    );
    let yaml = "experiments/black-friday/checkout-leak.yaml";
    if repo(yaml).exists() {
        let line = fails(&["calibrate", "--model", MODEL, yaml]);
        assert!(line.starts_with(&format!("error: {yaml}:1: ")), "{line}");
    }
}

#[test]
fn a_truncated_recording_is_named_with_its_line() {
    // Cut in the middle of its 40th line.
    let watch = std::fs::read_to_string(repo("tests/fixtures/real-runs/spill/watch.jsonl"))
        .expect("a recording");
    let upto: usize = watch.lines().take(39).map(|l| l.len() + 1).sum();
    let path = temp("cut.jsonl", &watch[..upto + 30]);
    let line = fails(&["calibrate", "--model", MODEL, &path.to_string_lossy()]);
    assert!(
        line.starts_with(&format!("error: {}:40: ", path.display())),
        "{line}"
    );
    // Cut between two lines, before the run's own last line: its last line is named.
    let cut = concat!(
        r#"{"received":"2026-11-30T07:32:08.976Z","run":{"runId":"spill-1","phase":"Pending","detail":"run started"}}"#,
        "\n",
        r#"{"received":"2026-11-30T07:32:09.027Z","resource":"pods","type":"ADDED","object":{"metadata":{"name":"p"}}}"#,
        "\n",
    );
    let path = temp("ends-early.jsonl", cut);
    let line = fails(&["calibrate", "--model", MODEL, &path.to_string_lossy()]);
    assert_eq!(
        line,
        format!(
            "error: {}:2: the recording ends before its run finished (no line says it \
             completed, failed or was aborted): is it truncated?",
            path.display()
        )
    );
}

#[test]
fn a_missing_model_file_is_a_usage_error() {
    let line = fails(&[
        "calibrate",
        "--model",
        "no/such/model.yaml",
        "tests/fixtures/real-runs/contained",
    ]);
    assert!(
        line.starts_with("error: --model no/such/model.yaml"),
        "{line}"
    );
}
