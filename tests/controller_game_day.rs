//! A scheduled game day, end to end: the controller (manager, watches, Lease, reconcilers)
//! against the fake API server, an experiment whose schedule comes due, an HTTP probe against
//! a real endpoint and an expected alert from a real Prometheus (Debian's `prometheus`) that
//! scrapes a leak gauge. The LeakRun's status must record the probe's results and the alert's
//! lead time; with Prometheus unreachable, detection must say "not measured", never score 0.
//!
//! Without the `prometheus` binary the Prometheus test says so and passes, unless
//! `OOMSDAY_REQUIRE_PROMETHEUS=1` (CI).
//!
//! The runs are on `ScriptedCluster`s: on a virtual clock, except the one against a real
//! Prometheus, which keeps real time. The schedule comes due on the wall clock, as the
//! controller reads it.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use oomsday::controller::executor::{EngineExecutor, ForRun};
use oomsday::controller::manager::serve_until;
use oomsday::engine::Cluster;
use oomsday::engine::testing::{Calls, ScriptedCluster};
use oomsday::observe::{Happening, Observation, PodRef, Time};
use oomsday_testkit::{ApiServer, Listening, free_port};
use serde_json::{Value, json};

/// When the fake leak does damage: this long after the injection.
const DAMAGE_AFTER: Duration = Duration::from_secs(10);

fn pod() -> PodRef {
    PodRef {
        name: "checkout-1".into(),
        node: Some("node-1".into()),
        target: true,
    }
}

/// A cluster whose leak starts at the injection (the workload's leak gauge, which follows
/// `calls`, goes up, so the alert can only fire after it) and OOM-kills the target
/// [`DAMAGE_AFTER`] later.
fn leaking(cluster: ScriptedCluster, calls: &Calls) -> ScriptedCluster {
    let damage = jiff::SignedDuration::try_from(DAMAGE_AFTER).expect("a duration");
    cluster
        .logging_to(calls)
        .after_inject(
            jiff::SignedDuration::ZERO,
            Happening::LeakerStarted { pod: pod() },
        )
        .after_inject(jiff::SignedDuration::ZERO, Happening::workload(2, 2))
        .after_inject(
            damage,
            Happening::OomKilled {
                pod: pod(),
                container: "app".into(),
                leaker: false,
                restart_count: 1,
            },
        )
}

/// A child process killed (and reaped) when the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("OOMSDAY_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "prometheus not found and OOMSDAY_REQUIRE_PROMETHEUS=1 (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: prometheus not found (apt-get install prometheus)");
    }
    found
}

/// The workload's endpoints: `/healthz` for the HTTP probe, `/metrics` with the leak gauge
/// Prometheus scrapes (past the alert's threshold while a leak is in place, by `calls`).
async fn workload(calls: Calls) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let bytes = if calls.leaking() { "2e9" } else { "1e8" };
                async move {
                    format!(
                        "# HELP test_leak_bytes Bytes leaked.\n# TYPE test_leak_bytes gauge\ntest_leak_bytes {bytes}\n"
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Prometheus scraping `target` every second, with an alert on the leak gauge.
async fn prometheus(
    binary: &PathBuf,
    target: std::net::SocketAddr,
    dir: &std::path::Path,
) -> (Guard, String) {
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: game-day\n    interval: 1s\n    rules:\n      - alert: LeakHigh\n        expr: test_leak_bytes > 1e9\n        for: 0s\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: checkout\n    static_configs:\n      - targets: ['{target}']\n",
            dir.join("rules.yml").display()
        ),
    )
    .expect("config");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    let url = format!("http://127.0.0.1:{port}");
    let ready = oomsday::probe::http::Url::parse(&format!("{url}/-/ready")).expect("url");
    let start = Instant::now();
    while !oomsday::probe::http::get(&ready, Duration::from_secs(1))
        .await
        .is_ok_and(|r| r.is_success())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "prometheus not ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (Guard(child), url)
}

/// The game-day experiment, scheduled `secs` from now (a daily cron at that second, in UTC),
/// its spec completed with `more`; returns the moment it is due.
fn scheduled(server: &ApiServer, secs: i64, more: Value) -> Time {
    let due = Time::now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .expect("time");
    let cron = due
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%S %M %H * * *")
        .to_string();
    let mut spec = json!({"target": {"kind": "Deployment", "name": "checkout"},
                          "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
                          "duration": "14s", "recovery": "2s",
                          "schedule": {"cron": cron, "timeZone": "UTC"}});
    if let (Some(spec), Value::Object(more)) = (spec.as_object_mut(), more) {
        spec.extend(more);
    }
    server.create(
        "leakexperiments",
        json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakExperiment",
               "metadata": {"name": "checkout-game-day", "namespace": "shop"},
               "spec": spec}),
    );
    due
}

/// The experiment with an HTTP probe and an expected alert, scheduled a few seconds from now.
fn experiment(server: &ApiServer, probe_url: &str, prometheus_url: &str) -> Time {
    scheduled(
        server,
        4,
        json!({"probes": [{"name": "health", "http": {"url": probe_url}, "interval": "1s"}],
               "prometheus": {"url": prometheus_url},
               "expectAlerts": [{"name": "LeakHigh", "within": "30s"}]}),
    )
}

/// Runs the controller with `executor` until the experiment's scheduled run has finished and
/// the experiment has caught up with it (its `lastVerdict` is the run's: on a virtual clock the
/// run can finish before the experiment's next reconcile); returns the run.
async fn finished_run<F, C>(server: &ApiServer, executor: EngineExecutor<F>) -> Value
where
    F: Fn(Option<ForRun<'_>>) -> oomsday::Result<C> + Send + Sync + 'static,
    C: Cluster + 'static,
{
    let client = server.client();
    let opts = support::controller_options("replica-a");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(serve_until(client, Arc::new(executor), opts, async move {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    let run = loop {
        let finished = server.list("leakruns", "shop").into_iter().find(|r| {
            r["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Finished" && c["status"] == "True")
            })
        });
        let caught_up = |r: &Value| {
            server
                .get("leakexperiments", "shop", "checkout-game-day")
                .is_some_and(|e| e["status"]["lastVerdict"] == r["status"]["verdict"])
        };
        if let Some(r) = finished.filter(caught_up) {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no finished run that the experiment has caught up with: {:?}\nexperiment: {:?}",
            server.list("leakruns", "shop"),
            server.get("leakexperiments", "shop", "checkout-game-day")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), manager).await;
    run
}

async fn cluster() -> Listening {
    let server = support::serve().await;
    for ns in ["oomsday-system", "shop"] {
        support::namespace(&server, ns);
    }
    server
}

fn facet<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["facets"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_records_its_probe_and_the_alerts_lead_time() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("oomsday-game-day-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let calls = Calls::default();
    let target = workload(calls.clone()).await;
    let (_prom, prom_url) = prometheus(&binary, target, &dir).await;
    let server = cluster().await;
    let due = experiment(&server, &format!("http://{target}/healthz"), &prom_url);
    // On the wall clock: Prometheus scrapes and fires on its own, real clock, and the alert's
    // lead time sets its firing against the cluster's time of the OOM kill.
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| {
        Ok(leaking(ScriptedCluster::on_wall_clock(Vec::new()), &calls))
    });
    let run = finished_run(&server, executor).await;
    let _ = std::fs::remove_dir_all(&dir);

    let s = &run["status"];
    assert_eq!(run["spec"]["trigger"], "Schedule", "{run}");
    // The cron names the due time's whole second.
    let due = Time::from_second(due.as_second()).expect("time");
    assert_eq!(run["spec"]["scheduledTime"], due.to_string(), "{run}");
    let probe = &s["probes"][0];
    assert_eq!(probe["name"], "health", "{s}");
    let (ok, total) = (
        probe["ok"].as_u64().unwrap_or(0),
        probe["total"].as_u64().unwrap_or(0),
    );
    assert!(total >= 5 && ok == total, "{probe}");
    let alert = &s["alerts"][0];
    assert_eq!(alert["name"], "LeakHigh", "{s}");
    assert!(alert["firedTime"].is_string(), "{alert}");
    let lead = alert["leadSeconds"].as_f64().expect("a lead time");
    assert!(
        lead > 0.0 && lead < DAMAGE_AFTER.as_secs_f64(),
        "fired before the OOM kill: {alert}"
    );
    let detection = facet(s, "detection");
    assert_eq!(detection["measured"], true, "{detection}");
    assert_eq!(detection["points"], 100, "{detection}");
    let timeline: Vec<&str> = s["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(timeline.contains(&"alert LeakHigh FIRING"), "{timeline:?}");
    eprintln!("LeakHigh fired {lead:.1}s before the first damage: {alert}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_prometheus_unreachable_detection_is_not_measured_never_zero() {
    let calls = Calls::default();
    let target = workload(calls.clone()).await;
    let gone = format!("http://127.0.0.1:{}", free_port());
    let server = cluster().await;
    experiment(&server, &format!("http://{target}/healthz"), &gone);
    // With no Prometheus to keep time with, the run is on a virtual clock: its probes are
    // polled on their interval in the cluster's time, one after the other.
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| {
        Ok(leaking(
            ScriptedCluster::new(Time::now(), Vec::new()),
            &calls,
        ))
    });
    let run = finished_run(&server, executor).await;
    let s = &run["status"];
    let detection = facet(s, "detection");
    assert_eq!(detection["measured"], false, "{s}");
    assert!(detection.get("points").is_none(), "{detection}");
    let why = detection["explanation"].as_str().unwrap_or_default();
    assert!(why.contains("Prometheus could not be asked"), "{why}");
    // What could be measured was: the probe ran.
    assert!(s["probes"][0]["total"].as_u64().unwrap_or(0) >= 5, "{s}");
    assert!(s["alerts"][0].get("firedTime").is_none(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_against_a_target_that_is_not_steady_injects_nothing() {
    let server = cluster().await;
    scheduled(
        &server,
        3,
        json!({"steadyState": {"for": "2s", "timeout": "4s"}}),
    );
    let calls = Calls::default();
    let log = calls.clone();
    let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| {
        // A target that never gets steady: one of its two replicas is not ready.
        let now = Time::now();
        let script = vec![Observation::baseline(now, Happening::workload(2, 1))];
        Ok(ScriptedCluster::new(now, script).logging_to(&log))
    });
    let run = finished_run(&server, executor).await;
    let status = &run["status"];
    assert_eq!(
        calls.count("inject"),
        0,
        "nothing may be injected: {calls:?}"
    );
    assert_eq!(run["spec"]["trigger"], "Schedule");
    assert_eq!(status["reason"], "NotSteady", "{status:#}");
    assert_eq!(status["verdict"], "Inconclusive", "{status:#}");
    assert!(
        status["score"].is_null() && status["injectedTime"].is_null(),
        "{status:#}"
    );
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("replicasReady: 1/2 ready"), "{message}");
    let experiment = server
        .get("leakexperiments", "shop", "checkout-game-day")
        .expect("experiment");
    assert_eq!(
        experiment["status"]["lastVerdict"], "Inconclusive",
        "{experiment:#}"
    );
}
