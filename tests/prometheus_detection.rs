//! Detection against a real Prometheus: start Debian's `prometheus` on loopback, let it scrape a
//! real leaker's `/metrics` every second with a test alert on the leaker's bytes, and check that
//! oomsday's alert check sees the alert fire — dated by Prometheus' own `activeAt` — and that the
//! detection facet credits it. Also checks the shipped rules with `promtool`, and that the
//! query abort rules (`abort.promql`, `abort.alerts`) fire and revert on a real Prometheus.
//!
//! Without the `prometheus` binary these tests say so and pass, unless
//! `OOMSDAY_REQUIRE_PROMETHEUS=1` (CI), where a missing binary is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oomsday::cli::experiments::experiment_ref;
use oomsday::engine::{self, Cluster as _, ExperimentRef, RunOptions, RunRecord};
use oomsday::observe::{AlertState, Happening, Observation, PodRef, Time, Timeline};
use oomsday::probe::{Prober, Prometheus};
use oomsday::score::{self, Facet};
use oomsday::sim::{ClusterModel, SimCluster};
use oomsday::spec::{AbortCause, LeakExperimentSpec, Phase, RunReason, Verdict, load_experiments};
use oomsday_testkit::free_port;
use oomsday_testkit::prometheus::required;

/// Every wait for Prometheus or the leaker is bounded by this.
const WAIT: Duration = Duration::from_secs(60);
/// Building the leaker (usually a no-op: `cargo test --workspace` has built it already).
const BUILD_WAIT: Duration = Duration::from_secs(900);

/// A child process killed (and reaped) when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("oomsday-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the leaker and returns its path, in the same target directory as this test.
fn leaker_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<this test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable under target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let mut build = Guard(
        Command::new(env!("CARGO"))
            .args(["build", "-p", "oomsday-leaker", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .spawn()
            .expect("running cargo build -p oomsday-leaker"),
    );
    // Bounded too: a build stuck on a lock must fail the test, not hang it.
    let deadline = std::time::Instant::now() + BUILD_WAIT;
    let status = loop {
        if let Some(status) = build.0.try_wait().expect("waiting for cargo build") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "building the leaker took longer than {BUILD_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "building the leaker failed");
    // `cargo build` without --release builds into target/debug whatever profile this test has.
    let bin = target_dir.join("debug").join("oomsday-leaker");
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

async fn wait_http_ok(url: &str) {
    match wait_http_ok_while(url, || None).await {
        Waited::Ready => {}
        Waited::Gone(why) => panic!("{url}: {why}"),
        Waited::TimedOut => panic!("{url}: not ready within {WAIT:?}"),
    }
}

/// How a wait for a server's readiness ended.
enum Waited {
    Ready,
    /// Its process exited first: how, as `gone` said.
    Gone(String),
    /// Not ready within [`WAIT`].
    TimedOut,
}

/// Polls `url` until it answers with success, `gone` says the server is gone (its process
/// exited), or [`WAIT`] is up.
async fn wait_http_ok_while(url: &str, mut gone: impl FnMut() -> Option<String>) -> Waited {
    let url = oomsday::probe::http::Url::parse(url).expect("url");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(r) = oomsday::probe::http::get(&url, Duration::from_secs(2)).await
            && r.is_success()
        {
            return Waited::Ready;
        }
        if let Some(why) = gone() {
            return Waited::Gone(why);
        }
        if tokio::time::Instant::now() >= deadline {
            return Waited::TimedOut;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn spec(prom_url: &str) -> LeakExperimentSpec {
    serde_json::from_value(serde_json::json!({
        "target": {"kind": "Deployment", "name": "leaker-local"},
        "leak": {"pattern": "linear", "rate": "8Mi/s", "start": "8Mi", "max": "128Mi", "limit": "256Mi"},
        "duration": "60s",
        "recovery": "10s",
        "prometheus": {"url": prom_url},
        "probes": [{"name": "leaker-bytes", "query": {"expr": "max(oomsday_leaker_allocated_bytes)", "min": 0}, "interval": "1s"}],
        "expectAlerts": [{"name": "LeakerBytesHigh", "within": "30s", "labels": {"job": "leaker"}}],
        "hypothesis": {"alertsFire": true}
    }))
    .expect("valid spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_sees_the_leak_alert_fire_before_the_damage() {
    let Some(prometheus) = required("prometheus") else {
        return;
    };
    let leaker = leaker_binary();
    let dir = TempDir::new("prometheus");
    let leaker_port = free_port();

    // The leak starts now: 8 MiB at once, 8 MiB/s, past 32 MiB after about 3 s.
    let leak_start = Time::now();
    let _leaker = Guard(
        Command::new(&leaker)
            .args([
                "--pattern",
                "linear",
                "--rate",
                "8Mi/s",
                "--start",
                "8Mi",
                "--max",
                "128Mi",
                "--duration",
                "60s",
            ])
            .args([
                "--report-interval",
                "10s",
                "--listen",
                &format!("127.0.0.1:{leaker_port}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting the leaker"),
    );
    wait_http_ok(&format!("http://127.0.0.1:{leaker_port}/healthz")).await;

    let rules = "groups:\n  - name: oomsday-test\n    interval: 1s\n    rules:\n      - alert: LeakerBytesHigh\n        expr: oomsday_leaker_allocated_bytes > 32*1024*1024\n        for: 0s\n        labels:\n          severity: test\n";
    let scrape = |_| ("leaker", format!("127.0.0.1:{leaker_port}"));
    let (_prom, prom_url) = start_prometheus(&prometheus, &dir, rules, scrape).await;

    // Poll as the engine would: probes and alert checks when due, every observation into the
    // timeline, until the expected alert fires.
    let spec = spec(&prom_url);
    let mut prober = Prober::new(&spec).expect("prober");
    let mut timeline = Timeline::new();
    let pod = PodRef {
        name: "leaker-local".into(),
        node: Some("localhost".into()),
        target: true,
    };
    timeline.push(Observation::new(
        leak_start,
        Happening::LeakerStarted { pod },
    ));
    let deadline = tokio::time::Instant::now() + WAIT;
    let fired_at = loop {
        let now = Time::now();
        timeline.extend(prober.poll(now, false).await);
        let fired = timeline.iter().find_map(|o| match &o.happening {
            Happening::Alert {
                name,
                state: AlertState::Firing,
            } if name == "LeakerBytesHigh" => Some((o.at, now)),
            _ => None,
        });
        if let Some(f) = fired {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "LeakerBytesHigh did not fire within {WAIT:?}; errors: {:?}; timeline: {:#?}",
            prober.errors(),
            timeline.entries()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (fired, seen) = fired_at;
    let lead = fired.duration_since(leak_start).as_secs_f64();
    eprintln!(
        "LeakerBytesHigh firing {lead:.1}s after the leak started (activeAt-derived), seen {:.1}s after",
        seen.duration_since(leak_start).as_secs_f64()
    );
    // 32 MiB is reached about 3 s in; scrape and evaluation every 1 s add a little.
    assert!((1.0..30.0).contains(&lead), "fired {lead}s after the start");
    assert!(fired <= seen, "dated by Prometheus, not after we saw it");

    // The PromQL probe read the leaker's bytes through Prometheus.
    let probe_ok = timeline
        .iter()
        .any(|o| matches!(&o.happening, Happening::Probe { name, ok: true, .. } if name == "leaker-bytes"));
    assert!(probe_ok, "{:#?}", timeline.entries());
    let p = Prometheus::new(&prom_url, Duration::from_secs(5)).expect("client");
    let samples = p
        .query("oomsday_leaker_allocated_bytes")
        .await
        .expect("query");
    assert!(
        samples
            .first()
            .is_some_and(|s| s.value > 32.0 * 1024.0 * 1024.0),
        "{samples:?}"
    );

    // Score it: the alert fired and no damage happened, so detection gets full marks; the same
    // alert after an OOM kill (a synthetic one, placed before it) gets far less.
    let end = Time::now();
    let record = |timeline: Timeline| RunRecord {
        run_id: "prom-1".into(),
        experiment: "prometheus-detection".into(),
        namespace: "local".into(),
        spec: spec.clone(),
        cluster: "loopback".into(),
        simulated: false,
        phase: Phase::Completed,
        reason: None,
        message: None,
        error: None,
        started: leak_start,
        injected: Some(leak_start),
        reverted: Some(end),
        recovered: Some(end),
        finished: end,
        injection: None,
        defences: None,
        timeline,
    };
    let s = score::score(&record(timeline.clone()));
    let detection = s.facet(Facet::Detection).expect("detection facet");
    assert_eq!(detection.points, Some(100.0), "{detection:#?}");
    assert!(
        detection
            .evidence
            .iter()
            .any(|e| e.contains("LeakerBytesHigh firing")),
        "{detection:#?}"
    );
    assert_eq!(s.verdict, Verdict::Passed, "{:#?}", s.hypothesis);

    let mut damaged = timeline.clone();
    damaged.push(Observation::new(
        fired
            .checked_sub(jiff::SignedDuration::from_millis(500))
            .expect("time"),
        Happening::OomKilled {
            pod: PodRef {
                name: "leaker-local".into(),
                node: Some("localhost".into()),
                target: true,
            },
            container: "oomsday-leaker".into(),
            leaker: true,
            restart_count: 1,
        },
    ));
    let s = score::score(&record(damaged));
    assert_eq!(s.facet(Facet::Detection).and_then(|f| f.points), Some(35.0));
}

/// `promtool check rules` on the shipped rule file, and `promtool test rules` on its unit tests
/// (the leak-rate alert fires 20 minutes before the OOM kill; near-the-limit only at the end).
#[test]
fn shipped_rules_pass_promtool() {
    let Some(promtool) = required("promtool") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    for args in [
        ["check", "rules", "oomsday-rules.yml"],
        ["test", "rules", "oomsday-rules.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Debian's `prometheus` on a free loopback port, evaluating `rules` every second and scraping
/// one job `scrape(port)` = `(name, target)` every second, its configuration, data and log kept
/// in `dir`; returned once `/-/ready` answers, with its URL. The port is free when chosen, not
/// when Prometheus binds it (another test's process may take it in between): a Prometheus that
/// exits because its address is in use is started again on another port, and one that fails
/// otherwise fails the test with its log.
async fn start_prometheus(
    prometheus: &Path,
    dir: &TempDir,
    rules: &str,
    scrape: impl Fn(u16) -> (&'static str, String),
) -> (Guard, String) {
    const ATTEMPTS: u32 = 5;
    std::fs::write(dir.0.join("rules.yml"), rules).expect("rules file");
    let log_path = dir.0.join("prometheus.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    for _ in 0..ATTEMPTS {
        let port = free_port();
        let (job, target) = scrape(port);
        std::fs::write(
            dir.0.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n",
                dir.0.join("rules.yml").display()
            ),
        )
        .expect("config file");
        let mut guard = Guard(
            Command::new(prometheus)
                .arg(format!(
                    "--config.file={}",
                    dir.0.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log_path).expect("prometheus log file"))
                .spawn()
                .expect("starting prometheus"),
        );
        let url = format!("http://127.0.0.1:{port}");
        let exited = || {
            (guard.0.try_wait().expect("waiting for prometheus"))
                .map(|status| format!("exited ({status}) before it was ready"))
        };
        match wait_http_ok_while(&format!("{url}/-/ready"), exited).await {
            Waited::Ready => return (guard, url),
            // Taken between `free_port` and Prometheus's bind: another port.
            Waited::Gone(_) if log().contains("address already in use") => {}
            Waited::Gone(why) => panic!("prometheus on port {port} {why}; its log:\n{}", log()),
            Waited::TimedOut => panic!(
                "prometheus on port {port} not ready within {WAIT:?}; its log:\n{}",
                log()
            ),
        }
    }
    panic!(
        "prometheus found its port taken {ATTEMPTS} times; its last log:\n{}",
        log()
    )
}

/// A Prometheus on loopback that scrapes itself every second, with an alert that always fires:
/// its guard, its URL and the scratch directory it lives in.
async fn self_scraping_prometheus(prometheus: &Path) -> (Guard, String, TempDir) {
    let dir = TempDir::new("prometheus-abort");
    let rules = "groups:\n  - name: oomsday-abort\n    interval: 1s\n    rules:\n      - alert: ClusterOnFire\n        expr: vector(1)\n        for: 0s\n";
    let scrape = |port| ("self", format!("127.0.0.1:{port}"));
    let (guard, url) = start_prometheus(prometheus, &dir, rules, scrape).await;
    // Wait until it has scraped itself and its alert fires: the rules below read both.
    let p = Prometheus::new(&url, Duration::from_secs(5)).expect("client");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let up = p
            .query("up{job=\"self\"}")
            .await
            .is_ok_and(|s| !s.is_empty());
        let firing = p.alerts().await.is_ok_and(|a| {
            a.iter()
                .any(|a| a.name == "ClusterOnFire" && a.state == AlertState::Firing)
        });
        if up && firing {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "prometheus did not scrape itself and fire ClusterOnFire within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (guard, url, dir)
}

/// The Black Friday experiment on the fixed cluster (it holds by itself), with `abort` and the
/// Prometheus at `url`, and the model to simulate it on.
fn aborting(url: &str, abort: serde_json::Value) -> (ExperimentRef, ClusterModel) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/black-friday");
    let (exps, _) = load_experiments(&dir.join("checkout-leak.yaml")).expect("valid experiment");
    let sourced = exps.into_iter().next().expect("one experiment");
    let mut exp = experiment_ref(&sourced, None, "default").expect("named");
    exp.name = "promql-abort".into();
    exp.spec.prometheus =
        Some(serde_json::from_value(serde_json::json!({"url": url})).expect("url"));
    exp.spec.abort = Some(serde_json::from_value(abort).expect("abort rules"));
    let model = ClusterModel::load(&dir.join("fixed/cluster.yaml")).expect("valid model");
    (exp, model)
}

/// The engine with the real prober against a real Prometheus: a PromQL abort rule (and an
/// alert named in `abort.alerts`) fires on the first evaluation after the injection, and the
/// run reverts at once, Failed, the rule that fired named in its typed Abort event. The
/// cluster is the simulator (its clock virtual, its Prometheus real): what is tested is the
/// path from Prometheus' answer to the revert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promql_abort_rule_fires_against_a_real_prometheus_and_reverts_at_once() {
    let Some(prometheus) = required("prometheus") else {
        return;
    };
    let (_prom, url, _dir) = self_scraping_prometheus(&prometheus).await;
    let cases = [
        (
            serde_json::json!({"promql": {"query": "up{job=\"self\"}", "above": 0.5, "for": "0s"}}),
            AbortCause::Promql,
        ),
        (
            serde_json::json!({"alerts": ["ClusterOnFire"]}),
            AbortCause::Alert("ClusterOnFire".into()),
        ),
    ];
    for (abort, cause) in cases {
        let (exp, model) = aborting(&url, abort);
        let mut cluster = SimCluster::new(&model, 42).expect("model builds");
        let mut prober = Prober::new(&exp.spec).expect("prober");
        let opts = RunOptions::new(engine::run_id(&exp.name, cluster.now(), 42));
        let record = engine::run(
            &mut cluster,
            &mut prober,
            &exp,
            &opts,
            &mut engine::StopSignal::never(),
            &mut |_| {},
        )
        .await
        .expect("reverted");
        assert_eq!(
            record.reason,
            Some(RunReason::AbortRule),
            "{:?}",
            record.message
        );
        assert_eq!(record.phase, Phase::Aborted);
        let injected = record.injected.expect("injected");
        let reverted = record.reverted.expect("reverted");
        // The first evaluation is due at the injection; the revert follows at once.
        assert!(
            reverted.duration_since(injected).as_secs() <= 5,
            "reverted {}s after the injection",
            reverted.duration_since(injected).as_secs()
        );
        let abort = record.timeline.iter().find_map(|o| match &o.happening {
            Happening::Abort { reason, rule, .. } => Some((*reason, rule.clone())),
            _ => None,
        });
        assert_eq!(abort, Some((RunReason::AbortRule, Some(cause.clone()))));
        let s = score::score(&record);
        assert_eq!(s.verdict, Verdict::Failed, "{}", s.verdict_reason);
        eprintln!("{cause}: {}", record.message.as_deref().unwrap_or_default());
    }
}
