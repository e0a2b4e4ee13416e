//! The live suite's controller test: oomsday's controller installed in a real cluster the way a
//! platform team does it (`kubectl apply -k deploy/`), a scheduled game day run by it and judged
//! by the realbed's independent recorder and ground truth (`recorder.py`, `truth.py`: code that is
//! not oomsday's), then its leader deleted mid-run.
//!
//! ```sh
//! OOMSDAY_LIVE_KUBECONFIG=$HOME/realk8s/admin.kubeconfig \
//!   cargo test --test live_controller -- --test-threads=1 --nocapture
//! ```
//!
//! Without `OOMSDAY_LIVE_KUBECONFIG` it says in one line that it was skipped and why. Beyond
//! what the rest of the live suite needs (see `tests/live.rs`), it needs the controller image
//! `ghcr.io/oomsday/oomsday:0.1.0` on the node (`images/build.sh`, then `ctr -n k8s.io images
//! import target/images/oomsday-0.1.0.tar`) and the rights to install CRDs and cluster RBAC.
//! `promtool` (Debian's `prometheus` package) lints `/metrics` when it is installed
//! (`OOMSDAY_REQUIRE_PROMETHEUS=1` makes its absence a failure).
//!
//! What it does, holding the bed's lock throughout:
//! 1. `kubectl apply -k deploy/`: both replicas Ready, one Lease holder, `/metrics` through the
//!    service proxy (and each pod's: exactly the Lease holder says `oomsday_leader 1`), linted by
//!    promtool.
//! 2. The contained scenario (`tests/fixtures/real-runs/contained`) as a LeakExperiment scheduled
//!    every minute; the schedule is suspended as soon as its first LeakRun exists (a later fire
//!    time could otherwise start a second run between this one's end and the suspend). The
//!    LeakRun's status (phase, score, conditions, Events) is checked, and its figures against
//!    the truth derived from the independent recording of the same minutes: OOM kills,
//!    evictions, time below the budget, recovery, verdict, and the leaker put in and taken out
//!    of the template exactly once. (The same truth judges `oomsday run` of this experiment in
//!    `tests/live.rs`, so the controller and the CLI are held to one yardstick.)
//! 3. `oomsday trigger`, and once the run is Leaking the Lease holder's pod is deleted: the run
//!    is reverted exactly once, by that replica (SIGTERM: reason `Signal`, Events reported by
//!    it), and another replica holds the Lease within the lease duration plus a margin.
//! 4. Always (a drop guard), also after a failure: experiments and runs deleted while the
//!    controller still runs, `kubectl delete -k deploy/`, namespaces `bf` and `bystand`; then
//!    nothing of it may be left. After a failure the controller's logs, pods and runs are
//!    written to the run's folder under `target/live/` first.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oomsday::controller::lease::{LEASE_DURATION, RENEW_PERIOD};
use serde_json::{Value, json};

use support::live::{BedLock, Live, fixture, keep, live, repo};

const SYSTEM_NS: &str = "oomsday-system";
/// The Deployment, the Lease and the ServiceAccount of `deploy/`.
const CONTROLLER: &str = "oomsday-controller";
const METRICS_SVC: &str = "oomsday-controller-metrics:8080";
const CONTROLLER_IMAGE: &str = "ghcr.io/oomsday/oomsday:0.1.0";
const EXPERIMENT: &str = "contained";
const RUNS: &str = "leakruns.oomsday.dev";
const EXPERIMENTS: &str = "leakexperiments.oomsday.dev";
/// Past the holder's last renewal a follower takes an abandoned Lease within the lease duration
/// and two renew periods (`lease.rs`); a released one within one renew period.
const FAILOVER_MARGIN: Duration = Duration::from_secs(5);

#[test]
fn the_controller_installed_with_kubectl_runs_a_scheduled_game_day_and_survives_losing_its_leader()
{
    let Some(live) = live("live_controller") else {
        return;
    };
    let _one = BedLock::take(&live);
    controller_preflight(&live);
    let dir = live.out.join(format!(
        "controller-{}",
        jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")
    ));
    std::fs::create_dir_all(&dir).expect("run folder");
    let _teardown = Teardown {
        live: &live,
        dir: dir.clone(),
    };
    // Leftovers of an earlier, interrupted run would make every figure below wrong.
    let left = teardown(&live);
    assert!(left.is_empty(), "could not clear leftovers: {left:?}");

    let installed = install(&live);
    let first = scheduled_run(&live, &dir.join("scheduled"));
    leader_deleted_mid_run(&live, &dir.join("failover"), &first);
    not_steady_scheduled_run(&live, &dir.join("not-steady"));
    say(&format!(
        "install: Ready after {:.1}s, Lease held after {:.1}s (by {})",
        installed.ready_s, installed.lease_s, installed.leader
    ));
}

fn say(line: &str) {
    eprintln!(
        "== {} [live_controller] {line}",
        jiff::Timestamp::now().strftime("%H:%M:%S")
    );
}

// ------------------------------------------------------------------------------------------
// preflight, install

/// The controller's image is on the node, and the suite may install what `deploy/` holds.
fn controller_preflight(live: &Live) {
    let images = live.kubectl_ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[*].status.images[*].names}",
    ]);
    assert!(
        images.contains(CONTROLLER_IMAGE),
        "the cluster lacks the controller image {CONTROLLER_IMAGE}: images/build.sh, then \
         ctr -n k8s.io images import target/images/oomsday-0.1.0.tar (on every node)"
    );
    let missing = live.missing_access(&[
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "deployments.apps"),
        ("create", "services"),
        ("delete", "pods"),
        ("get", "services/proxy"),
        ("get", "leases.coordination.k8s.io"),
    ]);
    assert!(
        missing.is_empty(),
        "installing the controller needs RBAC the suite lacks: {}",
        missing.join(", ")
    );
}

struct Installed {
    ready_s: f64,
    lease_s: f64,
    leader: String,
}

fn deploy_dir() -> String {
    repo().join("deploy").to_string_lossy().into_owned()
}

/// `kubectl apply -k deploy/`, both replicas Ready, the Lease held, `/metrics` served.
fn install(live: &Live) -> Installed {
    say("kubectl apply -k deploy/");
    let t0 = Instant::now();
    live.kubectl_ok(&["apply", "-k", &deploy_dir()]);
    // No registry here: an image that must be pulled every time could never start.
    let d = get_json(live, &["deployment", CONTROLLER, "-n", SYSTEM_NS]).expect("the Deployment");
    let policy = d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"].clone();
    say(&format!("the controller's imagePullPolicy is {policy}"));
    if policy == "Always" {
        live.kubectl_ok(&[
            "patch",
            "deployment",
            CONTROLLER,
            "-n",
            SYSTEM_NS,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}]"#,
        ]);
    }
    controller_rolled_out(live);
    let ready_s = t0.elapsed().as_secs_f64();
    let leader = wait_for("a replica holds the Lease", Duration::from_secs(60), || {
        lease_holder(live).ok_or_else(|| "no holder".to_string())
    });
    let lease_s = t0.elapsed().as_secs_f64();
    let pods = controller_pods(live);
    assert_eq!(pods.len(), 2, "two replicas: {pods:?}");
    assert!(
        pods.contains(&leader),
        "the Lease holder {leader} is one of the pods {pods:?}"
    );
    let image = live.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        SYSTEM_NS,
        "-o",
        "jsonpath={.items[0].status.containerStatuses[0].imageID}",
    ]);
    say(&format!(
        "both replicas Ready after {ready_s:.1}s, Lease held by {leader} after {lease_s:.1}s \
         (image {image})"
    ));
    check_metrics(live, &leader, &pods);
    Installed {
        ready_s,
        lease_s,
        leader,
    }
}

/// The controller's pods that are not being deleted.
fn controller_pods(live: &Live) -> Vec<String> {
    let pods = get_json(
        live,
        &[
            "pods",
            "-n",
            SYSTEM_NS,
            "-l",
            "app.kubernetes.io/name=oomsday-controller",
        ],
    )
    .unwrap_or_default();
    items(&pods)
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn lease_holder(live: &Live) -> Option<String> {
    let lease = get_json(live, &["lease", CONTROLLER, "-n", SYSTEM_NS])?;
    lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(String::from)
}

/// `/metrics` through the Service (as Prometheus' service discovery or a person would reach
/// it) passes promtool; each pod's says whether it leads, and exactly the Lease holder does.
fn check_metrics(live: &Live, leader: &str, pods: &[String]) {
    let text = live.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{SYSTEM_NS}/services/{METRICS_SVC}/proxy/metrics"),
    ]);
    // Families without a sample yet (runs, scores, errors) are not written at all.
    for family in ["oomsday_leader", "oomsday_active_injections"] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "/metrics lacks {family}:\n{text}"
        );
    }
    promtool_check(&text);
    for pod in pods {
        let want = if pod == leader { 1.0 } else { 0.0 };
        // The gauge follows the Lease round that changed it by a moment.
        wait_for(
            &format!("{pod}'s oomsday_leader {want} (the Lease is held by {leader})"),
            Duration::from_secs(10),
            || {
                let own = pod_metrics(live, pod);
                match sample(&own, "oomsday_leader") {
                    Some(v) if v == want => Ok(()),
                    _ => Err(own),
                }
            },
        );
    }
    say(&format!(
        "/metrics through the Service: {} lines, promtool-clean; oomsday_leader 1 only on {leader}",
        text.lines().count()
    ));
}

fn pod_metrics(live: &Live, pod: &str) -> String {
    live.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{SYSTEM_NS}/pods/{pod}:8080/proxy/metrics"),
    ])
}

/// The value of the first sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with([' ', '{']) || prefix.ends_with('}'))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on the controller's `/metrics` (skipped without promtool).
fn promtool_check(text: &str) {
    let Some(promtool) = oomsday_testkit::prometheus::required("promtool") else {
        return;
    };
    if let Err(problems) = oomsday_testkit::prometheus::check_metrics(&promtool, text) {
        panic!("{problems}");
    }
}

// ------------------------------------------------------------------------------------------
// the scheduled run

/// Fresh `bf` (labelled `oomsday.dev/allow=true`) and `bystand` from the contained setup, every
/// pod Ready, the PDB caught up, no node under memory pressure.
fn setup_workloads(live: &Live) {
    let deleted = live.delete_run_namespaces(true);
    assert!(
        deleted.status.success(),
        "delete namespaces bf, bystand: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let setup = fixture(EXPERIMENT, "setup.yaml");
    live.kubectl_ok(&["apply", "-f", &setup.to_string_lossy()]);
    live.kubectl_ok(&[
        "label",
        "namespace",
        "bf",
        "oomsday.dev/allow=true",
        "--overwrite",
    ]);
    live.wait_rolled_out("180s");
    wait_for("the setup settled", Duration::from_secs(120), || {
        let pdb = get_json(live, &["pdb", "checkout", "-n", "bf"]).ok_or("no PDB")?;
        let s = &pdb["status"];
        let caught_up = s["observedGeneration"] == pdb["metadata"]["generation"]
            && s["expectedPods"] == 3
            && s["currentHealthy"] == 3;
        let nodes = get_json(live, &["nodes"]).ok_or("no nodes")?;
        let pressure = items(&nodes).iter().any(|n| {
            condition(n, "MemoryPressure").is_some_and(|c| c["status"] == "True")
                || n["spec"]["taints"].as_array().is_some_and(|t| {
                    t.iter()
                        .any(|t| t["key"] == "node.kubernetes.io/memory-pressure")
                })
        });
        if caught_up && !pressure {
            Ok(())
        } else {
            Err(format!("PDB status {s}, node memory pressure {pressure}"))
        }
    });
}

/// The contained experiment as a LeakExperiment scheduled every minute (on second 0, UTC).
fn scheduled_experiment(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fixture(EXPERIMENT, "contained.yaml")).expect("fixture");
    let path = dir.join("leakexperiment.yaml");
    std::fs::write(
        &path,
        format!(
            "{}\n  schedule: {{cron: \"0 * * * * *\", timeZone: UTC}}\n",
            text.trim_end()
        ),
    )
    .expect("experiment");
    path
}

fn scheduled_run(live: &Live, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("folder");
    setup_workloads(live);
    let recorder = Recorder::start(live, dir);
    let exp = scheduled_experiment(dir);
    live.kubectl_ok(&["apply", "-f", &exp.to_string_lossy()]);
    say("LeakExperiment bf/contained applied, scheduled \"0 * * * * *\"");
    let created = Instant::now();
    let name = wait_for("a scheduled LeakRun", Duration::from_secs(90), || {
        leakruns(live)
            .first()
            .and_then(|r| r["metadata"]["name"].as_str().map(String::from))
            .ok_or_else(|| "none yet".to_string())
    });
    // Suspended at once: a later fire time could start a second run between this one's end and
    // a suspend made after it (Forbid only skips while a run is active).
    live.kubectl_ok(&[
        "patch",
        EXPERIMENTS,
        EXPERIMENT,
        "-n",
        "bf",
        "--type=merge",
        "-p",
        r#"{"spec":{"schedule":{"suspend":true}}}"#,
    ]);
    say(&format!(
        "LeakRun {name} created {:.1}s after the experiment; schedule suspended",
        created.elapsed().as_secs_f64()
    ));
    let t = Instant::now();
    wait_finished(live, &name, "5m");
    say(&format!(
        "LeakRun {name} Finished ({:.0}s after it was seen); recording 15 s more",
        t.elapsed().as_secs_f64()
    ));
    std::thread::sleep(Duration::from_secs(15));
    recorder.stop();
    let (run, events) = keep_run(live, dir, &name);
    let s = &run["status"];
    say(&format!(
        "status: phase {}, reason {}, score {} ({}), verdict {}, summary {}",
        s["phase"], s["reason"], s["score"], s["grade"], s["verdict"], s["summary"]
    ));
    say(&format!("Events: {}", event_reasons(&events)));

    // What the status says.
    assert_eq!(s["phase"], "Completed", "{}", pretty(s));
    assert_eq!(s["reason"], "DurationElapsed", "{}", pretty(s));
    let score = s["score"].as_u64().expect("a score");
    assert!(score <= 100, "score {score}");
    assert!(
        s["grade"].is_string() && s["verdict"].is_string(),
        "{}",
        pretty(s)
    );
    for t in [
        "startTime",
        "injectedTime",
        "revertedTime",
        "completionTime",
    ] {
        assert!(s[t].is_string(), "status.{t}: {}", pretty(s));
    }
    // Reverted by the replica that ran it, the Lease holder.
    assert!(
        s["revertedBy"]
            .as_str()
            .is_some_and(|by| by.starts_with("oomsday-controller-")),
        "{}",
        pretty(s)
    );
    let leaked = secs_between(&s["injectedTime"], &s["revertedTime"]);
    assert!(
        (59.0..=66.0).contains(&leaked),
        "leaked {leaked:.1}s for a 60s duration"
    );
    for (c, want) in [
        ("Injected", "True"),
        ("Reverted", "True"),
        ("Finished", "True"),
    ] {
        let got = condition(&run, c).unwrap_or_else(|| panic!("condition {c}: {}", pretty(s)));
        assert_eq!(got["status"], want, "condition {c}: {got}");
    }
    let succeeded = condition(&run, "Succeeded").expect("condition Succeeded");
    assert_eq!(
        succeeded["status"] == "True",
        s["verdict"] == "Passed",
        "Succeeded {succeeded} for verdict {}",
        s["verdict"]
    );
    assert!(
        run["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "a finished run keeps no finalizer: {}",
        run["metadata"]
    );
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    for r in ["Injecting", "Leaking", "Reverting", "Scored"] {
        assert!(reasons.contains(&r), "no {r} Event: {reasons:?}");
    }
    live.assert_untouched();
    // The experiment's status follows its run; the suspend is seen.
    let e = wait_for(
        "the experiment's status says suspended",
        Duration::from_secs(30),
        || {
            let e =
                get_json(live, &[EXPERIMENTS, EXPERIMENT, "-n", "bf"]).ok_or("no experiment")?;
            let sched = condition(&e, "Scheduled").cloned().unwrap_or_default();
            if sched["reason"] == "Suspended" && e["status"]["lastScore"].is_number() {
                Ok(e)
            } else {
                Err(format!("status {}", e["status"]))
            }
        },
    );
    assert_eq!(e["status"]["lastRun"], name.as_str(), "{}", e["status"]);
    assert_eq!(e["status"]["lastScore"], s["score"], "{}", e["status"]);
    assert_eq!(e["status"]["lastVerdict"], s["verdict"], "{}", e["status"]);
    assert_eq!(
        leakruns(live).len(),
        1,
        "one run only: the schedule was suspended"
    );
    // The metrics count it.
    let pods = controller_pods(live);
    let leader = lease_holder(live).expect("a leader");
    check_metrics(live, &leader, &pods);
    // Runs and scores are counted by the replica that ran them (Prometheus scrapes each pod,
    // by the pod annotations); the Service answers from either.
    let own = pod_metrics(live, &leader);
    let verdict = s["verdict"].as_str().unwrap_or_default();
    let reason = s["reason"].as_str().unwrap_or_default();
    assert_eq!(
        sample(
            &own,
            &format!(
                "oomsday_runs_total{{namespace=\"bf\",experiment=\"{EXPERIMENT}\",\
                 phase=\"Completed\",verdict=\"{verdict}\",reason=\"{reason}\"}}"
            )
        ),
        Some(1.0),
        "{own}"
    );
    assert_eq!(
        sample(
            &own,
            &format!("oomsday_last_score{{namespace=\"bf\",experiment=\"{EXPERIMENT}\"}}")
        ),
        Some(score as f64),
        "{own}"
    );

    // What the independent recording says.
    let truth = truth(live, dir, &run);
    say(&format!(
        "truth: {} OOM kills while the run ran ({} in the whole recording), evictions {}/{}, \
         below budget {}s, recovery {}s, verdict {}",
        truth["oom_kills_in_run"],
        truth["oom_kills"],
        truth["evictions_target"],
        truth["evictions_bystander"],
        truth["below_budget_s"],
        truth["recovery_exact_s"],
        truth["verdict_if_not_aborted"]
    ));
    let (injected, reverted) = template_changes(dir);
    assert_eq!(
        (injected, reverted),
        (1, 1),
        "the leaker put into and taken out of bf/checkout's template exactly once"
    );
    keep(
        live,
        result(
            "controller_scheduled_run_matches_the_independent_truth",
            "none (scheduled by the controller)",
            &run,
            Some(&truth),
        ),
    );
    compare_with_truth(&run, &truth);
    name
}

// ------------------------------------------------------------------------------------------
// the leader deleted mid-run

fn leader_deleted_mid_run(live: &Live, dir: &Path, first: &str) {
    std::fs::create_dir_all(dir).expect("folder");
    let before = live.deployment();
    let generation = before["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    let recorder = Recorder::start(live, dir);
    let o = support::binary()
        .args(["trigger", EXPERIMENT, "-n", "bf"])
        .env("KUBECONFIG", Some(&live.kubeconfig))
        .output();
    assert_eq!(o.code, Some(0), "oomsday trigger: {}", o.stderr);
    let name = wait_for("the triggered LeakRun", Duration::from_secs(30), || {
        leakruns(live)
            .iter()
            .filter_map(|r| r["metadata"]["name"].as_str())
            .find(|n| *n != first)
            .map(String::from)
            .ok_or_else(|| "none yet".to_string())
    });
    say(&format!("oomsday trigger: LeakRun {name}"));
    wait_for("the run Leaking", Duration::from_secs(90), || {
        let r = get_json(live, &[RUNS, &name, "-n", "bf"]).ok_or("no run")?;
        match r["status"]["phase"].as_str() {
            Some("Leaking") => Ok(()),
            other => Err(format!("phase {other:?}")),
        }
    });
    // A moment into the leak: the leakers are starting, the first OOM kill is seconds away.
    std::thread::sleep(Duration::from_secs(3));
    let leader = lease_holder(live).expect("a leader");
    let lease = get_json(live, &["lease", CONTROLLER, "-n", SYSTEM_NS]).expect("Lease");
    let transitions = lease["spec"]["leaseTransitions"].as_i64().unwrap_or(0);
    // Its own words until it is gone.
    let log_path = dir.join(format!("{leader}.log"));
    let mut log = Command::new("kubectl")
        .args(["logs", "-f", &leader, "-n", SYSTEM_NS])
        .env("KUBECONFIG", &live.kubeconfig)
        .stdout(std::fs::File::create(&log_path).expect("log file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs");
    say(&format!("deleting the leader's pod {leader} mid-leak"));
    let deleted = Instant::now();
    live.kubectl_ok(&["delete", "pod", &leader, "-n", SYSTEM_NS, "--wait=false"]);
    let (holder, failover) = wait_for(
        "another replica holds the Lease",
        LEASE_DURATION + 2 * RENEW_PERIOD + Duration::from_secs(60),
        || match lease_holder(live) {
            Some(h) if h != leader => Ok((h, deleted.elapsed())),
            h => Err(format!("holder {h:?}")),
        },
    );
    say(&format!(
        "{holder} holds the Lease {:.1}s after the delete",
        failover.as_secs_f64()
    ));
    wait_finished(live, &name, "3m");
    let finished = deleted.elapsed();
    std::thread::sleep(Duration::from_secs(15));
    recorder.stop();
    let _ = log.kill();
    let _ = log.wait();
    let (run, events) = keep_run(live, dir, &name);
    let s = &run["status"];
    say(&format!(
        "status {:.1}s after the delete: phase {}, reason {}, message {}, summary {}",
        finished.as_secs_f64(),
        s["phase"],
        s["reason"],
        s["message"],
        s["summary"]
    ));
    say(&format!("Events: {}", event_reasons(&events)));

    // Reverted by the replica that was told to stop, for that reason.
    assert_eq!(s["phase"], "Aborted", "{}", pretty(s));
    assert_eq!(s["reason"], "Signal", "{}", pretty(s));
    // Stopped before its duration: proves nothing, so no score (issue 23).
    assert_eq!(s["verdict"], "Inconclusive", "{}", pretty(s));
    assert!(s["score"].is_null(), "{}", pretty(s));
    let message = s["message"].as_str().unwrap_or_default();
    assert!(message.contains("SIGTERM"), "{message}");
    assert!(s["revertedTime"].is_string(), "{}", pretty(s));
    let reverted = condition(&run, "Reverted").expect("Reverted");
    assert_eq!(reverted["status"], "True", "{reverted}");
    // Which replica reverted, in the status and its condition.
    assert_eq!(s["revertedBy"], leader.as_str(), "{}", pretty(s));
    let said = reverted["message"].as_str().unwrap_or_default();
    assert!(said.ends_with(&format!("by {leader}")), "{said}");
    assert!(
        run["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "{}",
        run["metadata"]
    );
    // Exactly once: one revert narrated, by the deleted replica; no orphan revert (Reverted,
    // ControllerRestarted) by the next leader; the template changed twice in all.
    let by = |reason: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["reportingInstance"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(
        by("Reverting"),
        std::slice::from_ref(&leader),
        "{}",
        event_reasons(&events)
    );
    assert!(by("Reverted").is_empty(), "{}", event_reasons(&events));
    assert!(
        by("ControllerRestarted").is_empty(),
        "{}",
        event_reasons(&events)
    );
    assert!(
        events
            .iter()
            .all(|e| e["reportingInstance"] == leader.as_str()),
        "every Event of the run from {leader}: {}",
        event_reasons(&events)
    );
    live.assert_untouched();
    let after = live.deployment();
    assert_eq!(
        after["metadata"]["generation"].as_i64(),
        Some(generation + 2),
        "bf/checkout changed twice (inject, revert)"
    );
    let (injected, reverted_n) = template_changes(dir);
    assert_eq!(
        (injected, reverted_n),
        (1, 1),
        "the leaker put into and taken out of the template once"
    );
    // The Lease: another replica, a new transition, within the lease duration and a margin.
    assert_ne!(holder, leader);
    assert!(
        failover <= LEASE_DURATION + FAILOVER_MARGIN,
        "the Lease changed hands {:.1}s after the delete",
        failover.as_secs_f64()
    );
    let lease = get_json(live, &["lease", CONTROLLER, "-n", SYSTEM_NS]).expect("Lease");
    assert!(
        lease["spec"]["leaseTransitions"].as_i64().unwrap_or(0) > transitions,
        "{}",
        lease["spec"]
    );
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        log_text.contains("shutting down"),
        "{leader}'s log ({}):\n{log_text}",
        log_path.display()
    );
    // The Deployment replaces the pod; the new leader says so in its metrics.
    controller_rolled_out(live);
    let pods = wait_for(
        "two replicas again, the deleted one gone",
        Duration::from_secs(90),
        || {
            let pods = controller_pods(live);
            if pods.len() == 2 && !pods.contains(&leader) {
                Ok(pods)
            } else {
                Err(format!("{pods:?}"))
            }
        },
    );
    let holder_now = lease_holder(live).expect("a leader");
    assert_eq!(holder_now, holder, "the Lease stayed with the new leader");
    check_metrics(live, &holder, &pods);
    let truth = truth(live, dir, &run);
    say(&format!(
        "failover: Lease with {holder} after {:.1}s, run Aborted (Signal) {:.1}s after the delete; \
         truth: revert at {}, {} OOM kills while the run ran, after its end {}, reverted \
         template all Ready {}s after the revert",
        failover.as_secs_f64(),
        finished.as_secs_f64(),
        truth["revert"],
        truth["oom_kills_in_run"],
        truth["oom_kills_after_run"],
        truth["recovery_exact_s"]
    ));
    let mut row = result(
        "controller_leader_deleted_mid_run_reverts_once_and_fails_over",
        &format!(
            "leader pod deleted while Leaking; Lease moved in {:.1}s",
            failover.as_secs_f64()
        ),
        &run,
        Some(&truth),
    );
    row["failover_s"] = json!(failover.as_secs_f64());
    keep(live, row);
    compare_with_truth(&run, &truth);
    // Stopped by the leaving leader's SIGTERM: recovery was never watched, so none is claimed
    // (it once read "recovered 0 s after the revert" here, where the truth says 2.6 s).
    let status = &run["status"];
    assert!(
        status["summary"]["recoverySeconds"].is_null(),
        "a run stopped by a signal claims a recovery: {}",
        status["summary"]
    );
    assert!(
        !status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Recovered" && c["status"] == "True"),
        "{}",
        status["conditions"]
    );
}

/// A scheduled run whose target is not steady (its PDB asks for 5 of 3 pods): the controller
/// injects nothing and the LeakRun ends Inconclusive, NotSteady, the failing check named.
fn not_steady_scheduled_run(live: &Live, dir: &Path) {
    std::fs::create_dir_all(dir).expect("folder");
    live.kubectl_ok(&[
        "patch",
        "pdb",
        "checkout",
        "-n",
        "bf",
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":5}}"#,
    ]);
    let text = std::fs::read_to_string(fixture(EXPERIMENT, "contained.yaml")).expect("fixture");
    let text = text.replacen("name: contained,", "name: not-steady,", 1);
    assert!(text.contains("name: not-steady,"), "{text}");
    let path = dir.join("leakexperiment.yaml");
    std::fs::write(
        &path,
        format!(
            "{}\n  steadyState: {{for: 20s, timeout: 45s}}\n  schedule: {{cron: \"0 * * * * *\", \
             timeZone: UTC}}\n",
            text.trim_end()
        ),
    )
    .expect("experiment");
    live.kubectl_ok(&["apply", "-f", &path.to_string_lossy()]);
    say("LeakExperiment bf/not-steady applied (PDB minAvailable 5 of 3 pods), scheduled");
    let name = wait_for(
        "a scheduled not-steady LeakRun",
        Duration::from_secs(90),
        || {
            leakruns(live)
                .iter()
                .filter_map(|r| r["metadata"]["name"].as_str())
                .find(|n| n.starts_with("not-steady"))
                .map(String::from)
                .ok_or_else(|| "none yet".to_string())
        },
    );
    live.kubectl_ok(&[
        "patch",
        EXPERIMENTS,
        "not-steady",
        "-n",
        "bf",
        "--type=merge",
        "-p",
        r#"{"spec":{"schedule":{"suspend":true}}}"#,
    ]);
    wait_finished(live, &name, "3m");
    let (run, events) = keep_run(live, dir, &name);
    let s = &run["status"];
    say(&format!(
        "not steady: phase {}, reason {}, verdict {}, score {}, message {}; Events: {}",
        s["phase"],
        s["reason"],
        s["verdict"],
        s["score"],
        s["message"],
        event_reasons(&events)
    ));
    assert_eq!(s["reason"], "NotSteady", "{}", pretty(s));
    assert_eq!(s["verdict"], "Inconclusive", "{}", pretty(s));
    assert!(s["score"].is_null(), "no score: {}", pretty(s));
    assert!(
        s["injectedTime"].is_null(),
        "nothing injected: {}",
        pretty(s)
    );
    let message = s["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("budgetHealthy (PDB checkout)"),
        "{message}"
    );
    // The workload was never touched: no leaker in its template.
    let deploy = get_json(live, &["deployment", "checkout", "-n", "bf"]).expect("checkout");
    let containers = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        containers.iter().all(|c| !c["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("oomsday-")),
        "{containers:?}"
    );
}

// ------------------------------------------------------------------------------------------
// runs, Events, truth

/// Waits until the controller's Deployment is rolled out (every replica ready).
fn controller_rolled_out(live: &Live) {
    live.kubectl_ok(&[
        "rollout",
        "status",
        &format!("deployment/{CONTROLLER}"),
        "-n",
        SYSTEM_NS,
        "--timeout=180s",
    ]);
}

/// The LeakRun `name` and its Events, as they are now, also written into the run folder.
fn keep_run(live: &Live, dir: &Path, name: &str) -> (Value, Vec<Value>) {
    let run = get_json(live, &[RUNS, name, "-n", "bf"]).expect("the LeakRun");
    std::fs::write(dir.join("leakrun.json"), pretty(&run)).expect("leakrun.json");
    let events = run_events(live, name);
    std::fs::write(
        dir.join("events.json"),
        pretty(&Value::Array(events.clone())),
    )
    .expect("events.json");
    (run, events)
}

fn leakruns(live: &Live) -> Vec<Value> {
    let list = get_json(live, &[RUNS, "-n", "bf"]).unwrap_or_default();
    let mut runs = items(&list).to_vec();
    runs.sort_by_key(|r| {
        r["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    runs
}

/// The Events about one LeakRun (written with events.k8s.io, read here as core/v1 like
/// `kubectl describe` does), oldest first.
fn run_events(live: &Live, name: &str) -> Vec<Value> {
    let list = get_json(
        live,
        &[
            "events",
            "-n",
            "bf",
            "--field-selector",
            &format!("involvedObject.name={name}"),
        ],
    )
    .unwrap_or_default();
    let mut events = items(&list).to_vec();
    let at = |e: &Value| {
        e["eventTime"]
            .as_str()
            .or(e["firstTimestamp"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    events.sort_by_key(at);
    events
}

fn event_reasons(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{} ({})",
                e["reason"].as_str().unwrap_or("?"),
                e["reportingInstance"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The recorder of the realbed (its own watches, cluster-wide) over a run folder.
struct Recorder {
    child: Option<Child>,
}

impl Recorder {
    fn start(live: &Live, dir: &Path) -> Recorder {
        let stderr = std::fs::File::create(dir.join(".recorder.stderr")).expect("stderr file");
        let child = Command::new("python3")
            .arg(live.realbed.join("recorder.py"))
            .arg(dir)
            .arg("--kubeconfig")
            .arg(&live.kubeconfig)
            .stderr(stderr)
            .spawn()
            .expect("python3 recorder.py");
        let ready = dir.join(".recorder-ready");
        let t = Instant::now();
        while !ready.exists() && t.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(ready.exists(), "recorder.py not ready after 15 s");
        // As record-run.sh: a moment of the quiet before.
        std::thread::sleep(Duration::from_secs(4));
        Recorder { child: Some(child) }
    }

    fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signals the recorder this process started (its pid), nothing else.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.end();
    }
}

/// The exit code `oomsday run` gives a run that ends so (0 passed, 1 failed, 3 aborted, 4
/// inconclusive); the minimum score plays no part here.
fn cli_exit(status: &Value) -> i64 {
    match (status["phase"].as_str(), status["verdict"].as_str()) {
        (Some("Aborted"), _) => 3,
        (_, Some("Failed")) => 1,
        (Some("Completed"), Some("Passed")) => 0,
        _ => 4,
    }
}

/// truth.py on the recording, the LeakRun's start and end standing for `oomsday run`'s.
fn truth(live: &Live, dir: &Path, run: &Value) -> Value {
    let s = &run["status"];
    std::fs::copy(
        fixture(EXPERIMENT, "contained.yaml"),
        dir.join("contained.yaml"),
    )
    .expect("copy");
    std::fs::copy(fixture(EXPERIMENT, "setup.yaml"), dir.join("setup.yaml")).expect("copy");
    let meta = json!({
        "scenario": run["metadata"]["name"],
        "experimentFile": "contained.yaml",
        "setupFile": "setup.yaml",
        "oomsdayRunStarted": s["startTime"],
        "oomsdayRunExited": s["completionTime"],
        "oomsdayExitCode": cli_exit(s),
        "apiserverFreeze": null,
        "controller": true,
    });
    std::fs::write(dir.join("run-meta.json"), pretty(&meta)).expect("run-meta.json");
    let o = Command::new("python3")
        .arg(live.realbed.join("truth.py"))
        .arg(dir)
        .output()
        .expect("python3 truth.py");
    assert!(
        o.status.success(),
        "truth.py {}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut t: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).expect("truth.json"))
            .expect("truth JSON");
    // truth.json counts OOM kills over the whole recording; the run can only have seen those
    // up to its end. Split them by the truth's own reading (its `Truth` class, as data), the
    // kernel's kills only (exit 137; see `Truth::oom_kills`).
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import truth as T
t = T.Truth(sys.argv[2]); t.analyse(); t.derive()
kills = [x for x in t.oom_list if x.get("exitCode") == 137]
after = [x for x in kills if x["ns"] > t.t_exit]
print(json.dumps({"in_run": len(kills) - len(after),
                  "after_run": ["%s/%s received T+%.3fs" % (x["pod"], x["container"], (x["ns"] - t.t0) / 1e9)
                                for x in after]}))
"#;
    let split = live.realbed_json(script, dir);
    t["oom_kills_in_run"] = split["in_run"].clone();
    t["oom_kills_after_run"] = split["after_run"].clone();
    t
}

/// How often bf/checkout's template gained and lost the leaker, by the recorder's watch.
fn template_changes(dir: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(dir.join("watch.jsonl")).expect("watch.jsonl");
    let (mut injected, mut reverted, mut had) = (0, 0, None);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: Value = serde_json::from_str(line).expect("watch line");
        let o = &r["object"];
        if r["resource"] != "deployments"
            || o["metadata"]["namespace"] != "bf"
            || o["metadata"]["name"] != "checkout"
        {
            continue;
        }
        let has = o["spec"]["template"]["spec"]["containers"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "oomsday-leaker"));
        match (had, has) {
            (Some(false), true) => injected += 1,
            (Some(true), false) => reverted += 1,
            _ => {}
        }
        had = Some(has);
    }
    (injected, reverted)
}

/// The LeakRun's figures against the truth of the same minutes, with the live suite's
/// tolerances (`Run::assert_matches_truth`): counts exact, time below the budget ±1 s,
/// recovery ±0.5 s.
fn compare_with_truth(run: &Value, t: &Value) {
    let s = &run["status"];
    let m = &s["summary"];
    let run_s = secs_between(&s["startTime"], &s["completionTime"]);
    let mut wrong = Vec::new();
    let mut check = |what: &str, truth: Value, ours: Value| {
        if truth != ours {
            wrong.push(format!("{what}: truth {truth}, status {ours}"));
        }
    };
    check(
        "OOM kills while the run ran",
        t["oom_kills_in_run"].clone(),
        m["oomKills"].clone(),
    );
    let evictions = t["evictions_target"].as_u64().unwrap_or(0)
        + t["evictions_bystander"].as_u64().unwrap_or(0);
    check("evictions", json!(evictions), m["evictions"].clone());
    check(
        "bystander evictions",
        t["evictions_bystander"].clone(),
        m["bystanderEvictions"].clone(),
    );
    if s["phase"] == "Completed" {
        check(
            "verdict (the hypothesis judged on the truth)",
            t["verdict_if_not_aborted"].clone(),
            s["verdict"].clone(),
        );
    }
    // Below the budget while the run ran, as campaign-summary.py clips it.
    let below: f64 = t["below_budget_intervals"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|x| {
                    let from = x["from_s"].as_f64().unwrap_or(0.0).max(0.0);
                    let to = x["to_s"].as_f64().unwrap_or(0.0).min(run_s);
                    (to - from).max(0.0)
                })
                .sum()
        })
        .unwrap_or(0.0);
    let ours = m["budgetBreachedSeconds"].as_f64().unwrap_or(0.0);
    if (ours - below).abs() >= 1.0 {
        wrong.push(format!(
            "time below the budget: truth {below:.3}s, status {ours:.3}s"
        ));
    }
    if let (Some(truth), Some(ours)) = (
        t["recovery_exact_s"].as_f64(),
        m["recoverySeconds"].as_f64(),
    ) && (ours - truth).abs() >= 0.5
    {
        wrong.push(format!(
            "recovery (revert → the reverted template all Ready): truth {truth:.3}s, status \
             {ours:.3}s"
        ));
    }
    assert!(
        wrong.is_empty(),
        "the LeakRun's status disagrees with the independent truth:\n{}\n--- status:\n{}",
        wrong.join("\n"),
        pretty(s)
    );
}

/// A row of the README's table: each pair is truth / controller.
fn result(test: &str, fault: &str, run: &Value, truth: Option<&Value>) -> Value {
    let s = &run["status"];
    let m = &s["summary"];
    let t = truth.cloned().unwrap_or_default();
    let target_evictions = m["evictions"]
        .as_u64()
        .zip(m["bystanderEvictions"].as_u64())
        .map(|(a, b)| a - b);
    json!({
        "test": test,
        "fault": fault,
        "exit": cli_exit(s),
        "reason": s["reason"],
        "verdict": s["verdict"],
        "score": s["score"],
        "ooms": [t["oom_kills_in_run"], m["oomKills"]],
        "evictions": [t["evictions_target"], target_evictions],
        "below_budget_s": [t["below_budget_s"], m["budgetBreachedSeconds"]],
        "recovery_s": [t["recovery_exact_s"], m["recoverySeconds"]],
        "leaker_starts": [t["leaker_starts"], null],
        "replay_equal": null,
        "run_s": secs_between(&s["startTime"], &s["completionTime"]),
    })
}

// ------------------------------------------------------------------------------------------
// teardown

/// Deletes everything the test made, also after a failure (then the controller's logs, pods
/// and runs are kept first), and fails when anything is left.
struct Teardown<'a> {
    live: &'a Live,
    dir: PathBuf,
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            diagnose(self.live, &self.dir);
        }
        let left = teardown(self.live);
        if left.is_empty() {
            say("teardown: nothing left behind");
        } else if std::thread::panicking() {
            eprintln!("teardown left behind: {left:?}");
        } else {
            panic!("teardown left behind: {left:?}");
        }
    }
}

fn diagnose(live: &Live, dir: &Path) {
    let mut out = String::new();
    for args in [
        &["get", "pods", "-n", SYSTEM_NS, "-o", "wide"][..],
        &["describe", "pods", "-n", SYSTEM_NS],
        &[
            "logs",
            "-n",
            SYSTEM_NS,
            "-l",
            "app.kubernetes.io/name=oomsday-controller",
            "--prefix",
            "--tail=300",
        ],
        &["get", "lease", "-n", SYSTEM_NS, "-o", "yaml"],
        &["get", EXPERIMENTS, "-n", "bf", "-o", "yaml"],
        &["get", RUNS, "-n", "bf", "-o", "yaml"],
        &["get", "events", "-n", "bf", "--sort-by=.lastTimestamp"],
        &["get", "pods", "-n", "bf", "-o", "wide"],
    ] {
        let o = live.kubectl(args);
        out.push_str(&format!(
            "$ kubectl {}\n{}{}\n",
            args.join(" "),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let path = dir.join("diagnostics.txt");
    let _ = std::fs::write(&path, out);
    eprintln!("diagnostics: {}", path.display());
}

/// Deletes runs and experiments (while the controller runs, so a leak in place is reverted
/// through its finalizer), the installation, the namespaces; returns what is still there.
fn teardown(live: &Live) -> Vec<String> {
    let _ = live.kubectl(&[
        "delete",
        &format!("{EXPERIMENTS},{RUNS}"),
        "--all",
        "-n",
        "bf",
        "--ignore-not-found",
        "--timeout=90s",
    ]);
    // A run the controller did not release (it is gone, or failed): its finalizer goes by hand,
    // the namespace's deletion takes the workload with it.
    for r in leakruns(live) {
        if let Some(n) = r["metadata"]["name"].as_str() {
            let _ = live.kubectl(&[
                "patch",
                RUNS,
                n,
                "-n",
                "bf",
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
    }
    let _ = live.kubectl(&[
        "delete",
        "-k",
        &deploy_dir(),
        "--ignore-not-found",
        "--timeout=180s",
    ]);
    let _ = live.delete_run_namespaces(true);
    let mut left = Vec::new();
    for (what, args) in [
        (
            "namespaces",
            &["get", "namespace", SYSTEM_NS, "bf", "bystand"][..],
        ),
        (
            "CRDs",
            &[
                "get",
                "customresourcedefinitions",
                "leakexperiments.oomsday.dev",
                "leakruns.oomsday.dev",
            ],
        ),
        (
            "cluster RBAC",
            &["get", "clusterrole,clusterrolebinding", CONTROLLER],
        ),
    ] {
        let o = live.kubectl(&[args, &["--ignore-not-found", "-o", "name"]].concat());
        let found = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !found.is_empty() {
            left.push(format!("{what}: {}", found.replace('\n', " ")));
        }
    }
    left
}

// ------------------------------------------------------------------------------------------
// helpers

/// `kubectl get ARGS -o json`, None when it fails (not found, for one).
fn get_json(live: &Live, args: &[&str]) -> Option<Value> {
    let o = live.kubectl(&[&["get"], args, &["-o", "json"]].concat());
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

fn items(list: &Value) -> &[Value] {
    list["items"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn secs_between(from: &Value, to: &Value) -> f64 {
    let t = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(|| panic!("not a time: {v}"))
    };
    t(to).duration_since(t(from)).as_secs_f64()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Polls `f` every 250 ms until it gives a value; fails with its last word after `within`.
fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let t0 = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if t0.elapsed() >= within => panic!("{what}: not within {within:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// `kubectl wait --for=condition=Finished` on the LeakRun `name` in bf.
fn wait_finished(live: &Live, name: &str, timeout: &str) {
    live.kubectl_ok(&[
        "wait",
        "--for=condition=Finished",
        &format!("{RUNS}/{name}"),
        "-n",
        "bf",
        &format!("--timeout={timeout}"),
    ]);
}
