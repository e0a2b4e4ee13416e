//! The live suite: `oomsday run` against a real cluster, each run recorded beside it by the
//! independent recorder of `../shared/realbed/` (`recorder.py`, its own watches) and judged by
//! that recorder's ground truth (`truth.py`, `campaign-summary.py`): code that is not oomsday's.
//!
//! ```sh
//! OOMSDAY_LIVE_KUBECONFIG=$HOME/realk8s/admin.kubeconfig \
//!   cargo test --test live -- --test-threads=1 --nocapture
//! ```
//!
//! Without `OOMSDAY_LIVE_KUBECONFIG` every test says in one line that it was skipped and why.
//! What it needs, and says so when it is missing: the cluster reachable with that kubeconfig,
//! the rights to make namespaces and change Deployments, the images `sleeper:1` and oomsday's
//! leaker (`images/build.sh`, then `ctr -n k8s.io images import`) on the node, and the realbed
//! scripts (`OOMSDAY_LIVE_REALBED`, default `../shared/realbed`). The fault tests that restart
//! the API server need the bed on this machine (`OOMSDAY_LIVE_BED`, default `~/realk8s`) and
//! skip with a line elsewhere. Every run uses the namespaces `bf` and `bystand` (made afresh by
//! `record-run.sh`, deleted at the end, also after a failure). Each finished run's figures go
//! to `target/live/results.json`; `live_results_to_readme` (run last) writes them into the
//! README's table.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::live::{BedLock, Live, Run, fixture, keep, live};

fn truth_run(test: &str, run: &str, experiment: &str) {
    let Some(live) = live(test) else { return };
    let _one = BedLock::take(&live);
    let r = live.record(
        run,
        &fixture(run, experiment),
        &fixture(run, "setup.yaml"),
        |_, _| {},
    );
    keep(&live, r.result(test, "none"));
    r.assert_matches_truth();
}

#[test]
fn contained_matches_the_independent_truth() {
    truth_run(
        "contained_matches_the_independent_truth",
        "contained",
        "contained.yaml",
    );
}

#[test]
fn spill_matches_the_independent_truth() {
    truth_run("spill_matches_the_independent_truth", "spill", "spill.yaml");
}

#[test]
fn ephemeral_matches_the_independent_truth() {
    truth_run(
        "ephemeral_matches_the_independent_truth",
        "ephemeral",
        "eph.yaml",
    );
}

/// The Deployment `bf/checkout` of a setup file, as its own manifest (what a GitOps tool
/// syncing with Replace, or a hand-run deploy, writes back).
fn original_checkout(live: &Live, setup: &Path) -> PathBuf {
    let text = std::fs::read_to_string(setup).expect("setup");
    let doc = text
        .split("\n---")
        .find(|d| d.contains("kind: Deployment") && d.contains("name: checkout"))
        .expect("the setup has Deployment checkout");
    let path = live.out.join("checkout-original.yaml");
    std::fs::write(&path, doc).expect("write");
    path
}

#[test]
fn a_workload_replaced_mid_run_ends_the_run_and_is_not_injected_again() {
    let test = "a_workload_replaced_mid_run_ends_the_run_and_is_not_injected_again";
    let Some(live) = live(test) else { return };
    let _one = BedLock::take(&live);
    let setup = fixture("contained", "setup.yaml");
    let original = original_checkout(&live, &setup);
    let r = live.record(
        "replaced",
        &fixture("contained", "contained.yaml"),
        &setup,
        |l, injected| {
            std::thread::sleep(Duration::from_secs(17).saturating_sub(injected.elapsed()));
            let path = original.to_string_lossy();
            l.kubectl_ok(&["replace", "-f", &path]);
        },
    );
    keep(&live, r.result(test, "kubectl replace at T+17s"));
    assert_eq!(r.exit_code(), 3, "aborted (documented exit code 3)");
    let report = r.report_json();
    assert_eq!(report["record"]["reason"], "InjectionRemoved", "{report:#}");
    let message = report["record"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not by oomsday"), "{message}");
    // Never injected again, nothing of oomsday's left.
    live.assert_untouched();
    // What it observed up to then agrees with the truth.
    r.assert_matches_truth();
}

#[test]
fn a_scale_and_a_new_image_during_a_run_are_kept_after_the_revert() {
    let test = "a_scale_and_a_new_image_during_a_run_are_kept_after_the_revert";
    let Some(live) = live(test) else { return };
    let _one = BedLock::take(&live);
    let r = live.record(
        "scaled",
        &fixture("contained", "contained.yaml"),
        &fixture("contained", "setup.yaml"),
        |l, _| {
            std::thread::sleep(Duration::from_secs(10));
            l.kubectl_ok(&["scale", "deployment/checkout", "-n", "bf", "--replicas=4"]);
            // The same image by its full name: a template change without a new image.
            l.kubectl_ok(&[
                "set",
                "image",
                "deployment/checkout",
                "-n",
                "bf",
                "checkout=docker.io/library/sleeper:1",
            ]);
        },
    );
    keep(&live, r.result(test, "kubectl scale + set image at T+10s"));
    let report = r.report_json();
    assert_eq!(report["record"]["reason"], "DurationElapsed", "{report:#}");
    let d = live.deployment();
    assert_eq!(d["spec"]["replicas"], 4);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{containers:#?}");
    assert_eq!(containers[0]["image"], "docker.io/library/sleeper:1");
}

/// `contained`'s experiment and setup, rewritten: the experiment waits for a steady target
/// (20s within 45s) and the setup's PodDisruptionBudget asks for more pods than bf/checkout
/// has, so the target is never steady.
fn not_steady_files(live: &Live) -> (PathBuf, PathBuf) {
    let read = |file: &str| std::fs::read_to_string(fixture("contained", file)).expect(file);
    let experiment = read("contained.yaml");
    assert!(experiment.contains("  duration: 60s\n"), "{experiment}");
    let experiment = experiment.replacen(
        "  duration: 60s\n",
        "  duration: 60s\n  steadyState: {for: 20s, timeout: 45s}\n",
        1,
    );
    let setup = read("setup.yaml");
    assert!(setup.contains("  minAvailable: 2\n"), "{setup}");
    let setup = setup.replacen("  minAvailable: 2\n", "  minAvailable: 5\n", 1);
    let (e, s) = (
        live.out.join("not-steady.yaml"),
        live.out.join("not-steady-setup.yaml"),
    );
    std::fs::write(&e, experiment).expect("write");
    std::fs::write(&s, setup).expect("write");
    (e, s)
}

#[test]
fn a_target_that_is_not_steady_is_not_injected_and_the_run_is_inconclusive() {
    let test = "a_target_that_is_not_steady_is_not_injected_and_the_run_is_inconclusive";
    let Some(live) = live(test) else { return };
    let _one = BedLock::take(&live);
    let (experiment, setup) = not_steady_files(&live);
    let r = live.record("not-steady", &experiment, &setup, |_, _| {
        panic!("the leaker was put into a target that is not steady")
    });
    assert_eq!(r.exit_code(), 4, "inconclusive (documented exit code 4)");
    let report = r.report_json();
    assert_eq!(report["record"]["reason"], "NotSteady", "{report:#}");
    assert!(report["record"]["injected"].is_null(), "{report:#}");
    assert_eq!(report["score"]["verdict"], "Inconclusive", "{report:#}");
    let message = report["record"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("budgetHealthy (PDB checkout)"),
        "{message}"
    );
    live.assert_untouched();
}

/// The bed on this machine whose API server the outage tests restart, or None (with the line
/// saying why).
fn bed(test: &str) -> Option<PathBuf> {
    let bed = std::env::var_os("OOMSDAY_LIVE_BED").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap_or_default()).join("realk8s"),
        PathBuf::from,
    );
    if bed.join("run/kube-apiserver.pid").is_file() {
        Some(bed)
    } else {
        support::live::skipped(&format!(
            "{test}: skipped: no bed on this machine ({}/run/kube-apiserver.pid): the API server \
             restart needs ../shared/realbed here",
            bed.display()
        ));
        None
    }
}

/// Kills the bed's API server, waits `down`, and starts it again with the same flags
/// (`up.sh` starts what is not running).
fn restart_apiserver(live: &Live, bed: &Path, down: Duration) {
    let pid = std::fs::read_to_string(bed.join("run/kube-apiserver.pid")).expect("pid file");
    let ok = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill the API server (pid {})", pid.trim());
    std::thread::sleep(down);
    let up = Command::new("bash")
        .arg(live.realbed.join("up.sh"))
        .env("BED", bed)
        .output()
        .expect("up.sh");
    assert!(
        up.status.success(),
        "up.sh: {}",
        String::from_utf8_lossy(&up.stderr)
    );
}

fn outage_run(test: &str, down: Duration, tolerance: Option<&str>) -> Option<Run> {
    let live = live(test)?;
    let bed = bed(test)?;
    let _one = BedLock::take(&live);
    let mut experiment =
        std::fs::read_to_string(fixture("contained", "contained.yaml")).expect("experiment");
    if let Some(t) = tolerance {
        experiment.push_str(&format!("  observation: {{outageTolerance: {t}}}\n"));
    }
    let path = live.out.join(format!("{test}.yaml"));
    std::fs::write(&path, experiment).expect("write");
    let r = live.record(
        "apiserver-restart",
        &path,
        &fixture("contained", "setup.yaml"),
        |l, injected| {
            std::thread::sleep(Duration::from_secs(20).saturating_sub(injected.elapsed()));
            restart_apiserver(l, &bed, down);
        },
    );
    keep(
        &live,
        r.result(
            test,
            &format!("API server killed at T+20s for {}s", down.as_secs()),
        ),
    );
    Some(r)
}

fn gap_lines(report: &Value) -> Vec<bool> {
    report["record"]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|o| o["type"] == "observationGap")
        .map(|o| o["open"].as_bool().unwrap_or(false))
        .collect()
}

fn assert_ridden_out(r: &Run) {
    let report = r.report_json();
    assert!(
        matches!(r.exit_code(), 0 | 1),
        "exit {}: {}",
        r.exit_code(),
        report["record"]["message"]
    );
    assert_eq!(report["record"]["reason"], "DurationElapsed");
    assert_eq!(
        gap_lines(&report).first(),
        Some(&true),
        "the report shows the gap"
    );
    // oomsday reverts the moment the API server answers again, when the recorder's own
    // watches are still reconnecting: the truth receives the revert late (0.8 s on the bed),
    // so recovery is compared by its end — every replica ready on the reverted template and
    // the last leaker pod gone — which both saw after the outage.
    let recovery = "recovery (revert → all ready on the reverted template)";
    let t = r.truth();
    let end = [
        t["all_ready"].as_str(),
        t["last_leaker_pod_gone"]["received"].as_str(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|s| s.parse::<jiff::Timestamp>().ok())
    .max();
    let recovered = report["record"]["recovered"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    if let (Some(end), Some(recovered)) = (end, recovered) {
        let apart = recovered.duration_since(end).as_secs_f64().abs();
        assert!(
            apart <= 0.5,
            "recovered {recovered}, truth {end}: {apart} s apart"
        );
        r.assert_matches_truth_but(&[recovery]);
    } else {
        r.assert_matches_truth();
    }
}

#[test]
fn an_api_server_down_for_10s_mid_run_is_ridden_out() {
    let test = "an_api_server_down_for_10s_mid_run_is_ridden_out";
    if let Some(r) = outage_run(test, Duration::from_secs(10), None) {
        assert_ridden_out(&r);
    }
}

#[test]
fn an_api_server_down_for_60s_mid_run_is_ridden_out() {
    let test = "an_api_server_down_for_60s_mid_run_is_ridden_out";
    if let Some(r) = outage_run(test, Duration::from_secs(60), None) {
        assert_ridden_out(&r);
    }
}

#[test]
fn an_api_server_down_past_the_tolerance_is_reverted_when_it_answers() {
    let test = "an_api_server_down_past_the_tolerance_is_reverted_when_it_answers";
    let Some(r) = outage_run(test, Duration::from_secs(40), Some("15s")) else {
        return;
    };
    let report = r.report_json();
    assert_eq!(r.exit_code(), 4, "{}", report["record"]["message"]);
    assert_eq!(report["record"]["reason"], "ObservationFailed");
    assert!(report["record"]["reverted"].is_string(), "{report:#}");
    let d = serde_json::from_str::<Value>(
        &std::fs::read_to_string(r.dir.join("truth.json")).expect("truth"),
    )
    .expect("JSON");
    assert!(d["revert"].is_string(), "the truth saw the revert: {d:#}");
}

/// The bed's kubelet of `real-1`, stopped with SIGSTOP until this is dropped: SIGCONT then,
/// also when the test panics, so no failure leaves the node's kubelet stopped.
struct StoppedKubelet(String);

impl StoppedKubelet {
    fn stop(bed: &Path) -> StoppedKubelet {
        let pid = std::fs::read_to_string(bed.join("run/kubelet-real-1.pid")).expect("pid file");
        let pid = pid.trim().to_string();
        let ok = Command::new("kill").args(["-STOP", &pid]).status();
        assert!(ok.is_ok_and(|s| s.success()), "SIGSTOP the kubelet ({pid})");
        StoppedKubelet(pid)
    }
}

impl Drop for StoppedKubelet {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

/// The kernel's OOM kills inside the pods' cgroups since `since`, from its own log: (when,
/// the memory cgroup whose limit was hit, the killed task's pod UID).
fn kernel_oom_kills(since: jiff::Timestamp) -> Vec<(jiff::Timestamp, String, String)> {
    let out = Command::new("dmesg")
        .args(["--time-format", "iso"])
        .output()
        .expect("dmesg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ')?;
            let rest = rest.strip_prefix("oom-kill:")?;
            let at: jiff::Timestamp = stamp.replacen(',', ".", 1).parse().ok()?;
            let field = |key: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .map(str::to_string)
            };
            let task = field("task_memcg=")?;
            let pod = task
                .split('/')
                .find_map(|p| p.strip_prefix("pod"))?
                .to_string();
            Some((at, field("oom_memcg=")?, pod))
        })
        .filter(|(at, memcg, _)| *at >= since && memcg.starts_with("/kubepods"))
        .collect()
}

/// Pod UID → name, from the independent recorder's watch of the run.
fn pod_names(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("watch.jsonl")).expect("watch.jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["resource"] == "pods")
        .filter_map(|l| {
            let m = &l["object"]["metadata"];
            Some((
                m["uid"].as_str()?.to_string(),
                m["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// real-1's Ready transitions as the independent recorder received them: (status,
/// lastTransitionTime), each once.
fn ready_transitions(dir: &Path) -> Vec<(String, jiff::Timestamp)> {
    let text = std::fs::read_to_string(dir.join("watch.jsonl")).expect("watch.jsonl");
    let mut out: Vec<(String, jiff::Timestamp)> = Vec::new();
    for l in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if l["resource"] != "nodes" || l["object"]["metadata"]["name"] != "real-1" {
            continue;
        }
        let conditions = l["object"]["status"]["conditions"].as_array().cloned();
        for c in conditions.into_iter().flatten() {
            if c["type"] != "Ready" {
                continue;
            }
            let status = c["status"].as_str().unwrap_or_default().to_string();
            let Some(at) = c["lastTransitionTime"]
                .as_str()
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            if out.last().is_none_or(|(s, a)| *s != status || *a != at) {
                out.push((status, at));
            }
        }
    }
    out
}

/// oomsday's own facts of one type from its report's timeline.
fn timeline_of(report: &Value, kind: &str) -> Vec<Value> {
    report["record"]["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == kind)
        .cloned()
        .collect()
}

fn at_of(o: &Value) -> jiff::Timestamp {
    o["at"].as_str().and_then(|s| s.parse().ok()).expect("at")
}

/// The node's kubelet stopped (SIGSTOP) 10 s into a spill, for 75 s: nothing evicts, the node
/// goes NotReady (Ready=Unknown) when its lease runs out, and the kernel kills what overflows
/// the pods' cgroup. When the kubelet comes back oomsday reports each kernel kill at the time
/// the kernel logged it and the NotReady interval at the recorder's times, and agrees with
/// the independent truth.
#[test]
fn a_kubelet_stopped_during_a_spill_is_reported_when_it_resumes() {
    let test = "a_kubelet_stopped_during_a_spill_is_reported_when_it_resumes";
    let Some(live) = live(test) else { return };
    let Some(bed) = bed(test) else { return };
    let _one = BedLock::take(&live);
    let stopped_at = std::sync::Mutex::new(None);
    let r = live.record(
        "kubelet-stopped",
        &fixture("spill", "spill.yaml"),
        &fixture("spill", "setup.yaml"),
        |_, injected| {
            std::thread::sleep(Duration::from_secs(10).saturating_sub(injected.elapsed()));
            let held = StoppedKubelet::stop(&bed);
            let from = jiff::Timestamp::now();
            std::thread::sleep(Duration::from_secs(75));
            drop(held);
            *stopped_at.lock().expect("lock") = Some((from, jiff::Timestamp::now()));
        },
    );
    keep(&live, r.result(test, "kubelet SIGSTOP at T+10s for 75s"));
    let (from, to) = stopped_at.into_inner().expect("lock").expect("stopped");
    let report = r.report_json();

    // The kernel, not the kubelet, acted while it was stopped.
    let names = pod_names(&r.dir);
    let kills: Vec<_> = kernel_oom_kills(from)
        .into_iter()
        .filter(|(at, _, _)| *at <= to)
        .collect();
    assert!(
        !kills.is_empty(),
        "the kernel killed nothing while the kubelet was stopped"
    );
    let reported = timeline_of(&report, "oomKilled");
    for (at, memcg, uid) in &kills {
        let pod = names.get(uid).map(String::as_str).unwrap_or("?");
        let told = reported.iter().any(|o| {
            o["pod"]["name"] == pod && (at_of(o).duration_since(*at).as_secs_f64()).abs() <= 1.0
        });
        assert!(
            told,
            "the kernel killed a container of {pod} at {at} (limit of {memcg}); oomsday told: {reported:#?}"
        );
    }

    // NotReady from the moment the node controller marked it, Ready again when the kubelet
    // posted, at the times the recorder saw.
    let truth = ready_transitions(&r.dir);
    let down = truth
        .iter()
        .find(|(s, at)| s != "True" && *at >= from)
        .map(|(_, at)| *at)
        .expect("the recorder saw real-1 NotReady");
    let up = truth
        .iter()
        .find(|(s, at)| s == "True" && *at > down)
        .map(|(_, at)| *at)
        .expect("the recorder saw real-1 Ready again");
    let ready: Vec<(bool, jiff::Timestamp)> = timeline_of(&report, "nodeCondition")
        .iter()
        .filter(|o| o["node"] == "real-1" && o["condition"] == "Ready")
        .map(|o| (o["status"] == true, at_of(o)))
        .collect();
    assert!(
        ready.contains(&(false, down)),
        "NotReady at {down}: {ready:?}"
    );
    assert!(ready.contains(&(true, up)), "Ready at {up}: {ready:?}");
    let interval = format!(
        "node real-1 NotReady for {}",
        humantime::format_duration(Duration::from_secs(
            up.duration_since(down).as_secs_f64().round() as u64
        ))
    );
    let containment = report["score"]["facets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["facet"] == "containment")
        .map(|f| f["evidence"].to_string())
        .unwrap_or_default();
    assert!(containment.contains(&interval), "{interval}: {containment}");
    eprintln!(
        "{test}: stopped {from} for {:.1}s; NotReady {down} (+{:.1}s) to {up} (+{:.1}s after SIGCONT); kernel kills: {kills:?}",
        to.duration_since(from).as_secs_f64(),
        down.duration_since(from).as_secs_f64(),
        up.duration_since(to).as_secs_f64(),
    );
    r.assert_matches_truth();
}

/// A snapshot of the bed reads each kubelet's cgroup version from its own `/metrics` (issue
/// 25): the bed's node runs cgroup v1, and the model says so.
#[test]
fn a_snapshot_reads_the_cgroup_version_from_the_kubelet() {
    let test = "a_snapshot_reads_the_cgroup_version_from_the_kubelet";
    let Some(live) = live(test) else { return };
    let out = live.out.join("snapshot.yaml");
    let o = support::binary()
        .args(["snapshot", "--kubeconfig"])
        .args([&live.kubeconfig])
        .args(["-o"])
        .args([&out])
        .output();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let model: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&out).expect("model")).expect("YAML");
    let real_1: Vec<&Value> = model["spec"]["nodeGroups"]
        .as_array()
        .expect("node groups")
        .iter()
        .filter(|g| g.to_string().contains("real-1"))
        .collect();
    assert_eq!(real_1.len(), 1, "{model:#}");
    // The host's own word for it, beside the kubelet's.
    let host = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2"
    } else {
        "v1"
    };
    assert_eq!(real_1[0]["cgroupVersion"], host, "{:#}", real_1[0]);
}
