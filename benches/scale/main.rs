//! The scale bench of issue 15: the real `oomsday run` binary against a fake API server over
//! real HTTP, on a small cluster and on the big one, without a cluster.
//!
//! `cargo bench --bench scale` (options after `--`: `--runs N`, `--only small|big`).
//!
//! The fake server runs in this process (axum on a loopback port) and plays a contained leak on
//! the 3 pods of Deployment shop/checkout on node-000 (see `scale/story.rs`); `oomsday` runs as a
//! child process with a kubeconfig pointing at it, so that its peak RSS and CPU time come from
//! the kernel's rusage of that process alone (`wait4`). The server counts every request by verb,
//! resource, scope and selector, and the body bytes it sent; it notes when each OOM kill left in
//! a watch event, and the latency is the timestamp of oomsday's log line for that kill minus that
//! instant (one machine, one clock). Nothing is hard-coded: every figure is measured in the run.

mod child;
mod cluster;
mod objects;
mod story;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use cluster::Scenario;
use oomsday_testkit::{ApiServer, CallSummary, Gvr};

/// The experiment: the recorded `contained` run's leak (16Mi/s from 8Mi against a 64Mi limit:
/// OOM-killed ~4 s after each start), short enough for a bench.
const EXPERIMENT: &str = "\
apiVersion: oomsday.dev/v1alpha1
kind: LeakExperiment
metadata: {name: checkout-contained, namespace: shop}
spec:
  target: {kind: Deployment, name: checkout}
  injection: {mode: sidecar}
  leak: {pattern: linear, rate: 16Mi/s, start: 8Mi, max: 512Mi, limit: 64Mi}
  duration: 20s
  recovery: 20s
  hypothesis: {pdbHolds: true, maxBystanderEvictions: 0, recoveredWithin: 20s}
";

/// How long a run may take before it is stopped (SIGTERM: oomsday reverts and exits).
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// Issue 15's targets.
const RSS_TARGET_MIB: f64 = 48.0;
const CPU_TARGET_S: f64 = 0.5;

/// Everything measured in one run.
#[derive(Debug, Clone, Default)]
struct Measurement {
    nodes: usize,
    not_ready: usize,
    pods: usize,
    events: usize,
    crash_looping: usize,
    pod_bytes: f64,
    pod_bytes_bare: f64,
    rss_mib: f64,
    user_s: f64,
    sys_s: f64,
    wall_s: f64,
    exit: i32,
    timed_out: bool,
    bytes: u64,
    /// Per resource: (lists, list requests i.e. pages, bytes).
    lists: BTreeMap<String, (u64, u64, u64)>,
    /// Lists of one same set (resource, scope, selector) made more than once.
    relisted: Vec<String>,
    /// Per resource: (watch requests, what they selected).
    watches: BTreeMap<String, (u64, Vec<String>)>,
    /// Every request: "verb resource scope selector" → (requests, bytes, statuses).
    calls: Vec<(String, u64, u64, String)>,
    kills_sent: usize,
    latencies_ms: Vec<f64>,
    score: Option<u64>,
    grade: Option<String>,
    verdict: String,
    facets: Vec<(String, String)>,
    log_lines: usize,
    stdout_lines: usize,
    baseline_line: Option<String>,
    dir: PathBuf,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The mean size of a sample of pods as sent, and without managedFields.
fn pod_sizes(inner: &ApiServer) -> (f64, f64) {
    let sample = inner.sample(&Gvr::PODS, 200);
    if sample.is_empty() {
        return (0.0, 0.0);
    }
    let n = sample.len() as f64;
    let (mut wire, mut bare) = (0usize, 0usize);
    for mut v in sample {
        wire += serde_json::to_vec(&v).map_or(0, |b| b.len());
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        bare += serde_json::to_vec(&v).map_or(0, |b| b.len());
    }
    (wire as f64 / n, bare as f64 / n)
}

async fn measure(
    s: &Scenario,
    bin: &Path,
    dir: &Path,
    launcher: &Arc<Mutex<child::Launcher>>,
) -> Result<Measurement, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let inner = ApiServer::new();
    let built = cluster::build(s, &inner);
    let (pod_bytes, pod_bytes_bare) = pod_sizes(&inner);
    let mut m = Measurement {
        nodes: built.nodes,
        not_ready: built.not_ready,
        pods: inner.census(&Gvr::PODS).0,
        events: inner.census(&Gvr::EVENTS).0,
        crash_looping: built.crash_looping,
        pod_bytes,
        pod_bytes_bare,
        dir: dir.to_path_buf(),
        ..Measurement::default()
    };
    let handle = built.story.spawn();
    inner.answer_with(handle.clone());
    let srv = inner
        .listen()
        .await
        .map_err(|e| format!("starting the fake API server: {e}"))?;
    let kubeconfig = dir.join("kubeconfig");
    let experiment = dir.join("experiment.yaml");
    std::fs::write(&kubeconfig, srv.kubeconfig()).map_err(|e| e.to_string())?;
    std::fs::write(&experiment, EXPERIMENT).map_err(|e| e.to_string())?;
    let args: Vec<String> = [
        "run",
        "experiment.yaml",
        "--kubeconfig",
        "kubeconfig",
        "--out",
        "reports",
        "--format",
        "json",
        "--no-progress",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let (launcher, bin_path, dir_path) = (launcher.clone(), bin.to_path_buf(), dir.to_path_buf());
    let done = tokio::task::spawn_blocking(move || {
        let mut l = launcher.lock().unwrap_or_else(|e| e.into_inner());
        l.run(&bin_path, &args, &dir_path, RUN_LIMIT)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("running {}: {e}", bin.display()))?;
    drop(srv);

    m.rss_mib = mib(done.max_rss_kib);
    m.user_s = done.user.as_secs_f64();
    m.sys_s = done.sys.as_secs_f64();
    m.wall_s = done.wall.as_secs_f64();
    m.exit = done.exit;
    m.timed_out = done.timed_out;
    m.log_lines = done.stderr.lines().count();
    m.stdout_lines = done.stdout.lines().count();
    m.baseline_line = done
        .stderr
        .lines()
        .map(child::plain)
        .find(|l| l.contains("baseline") || l.contains("Baseline"))
        .map(|l| {
            l.split_once("run::")
                .map_or(l.clone(), |(_, r)| r.trim().to_string())
        });

    for CallSummary {
        key,
        requests,
        lists,
        bytes,
        statuses,
    } in inner.calls()
    {
        m.bytes += bytes;
        let resource = key.resource.clone();
        let what = format!("{} {}", key.scope, key.selector);
        match key.verb {
            "list" => {
                if lists > 1 {
                    m.relisted
                        .push(format!("{resource} {} ×{lists}", what.trim()));
                }
                let e = m.lists.entry(resource.clone()).or_default();
                e.0 += lists;
                e.1 += requests;
                e.2 += bytes;
            }
            "watch" => {
                let e = m.watches.entry(resource.clone()).or_default();
                e.0 += requests;
                e.1.push(format!("{} ×{requests}", what.trim()));
            }
            _ => {}
        }
        let statuses = statuses
            .iter()
            .map(|(c, n)| format!("{c}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        m.calls.push((
            format!(
                "{:<8} {:<26} {:<9} {}",
                key.verb, resource, key.scope, key.selector
            ),
            requests,
            bytes,
            statuses,
        ));
    }

    // Latency: each OOM kill's first send in a watch event → its narrated log line.
    let kills = handle.kills(&inner);
    m.kills_sent = kills.len();
    let logged = child::logged_kills(&done.stderr);
    for k in &kills {
        let Some(sent) = k.sent else { continue };
        let Some(line) = logged
            .iter()
            .find(|l| l.pod == k.pod && l.container == k.container && l.restarts == k.restarts)
        else {
            continue;
        };
        let sent = jiff::Timestamp::try_from(sent).map_err(|e| e.to_string())?;
        let ms = line.at.duration_since(sent).as_secs_f64() * 1000.0;
        m.latencies_ms.push(ms);
    }

    // The report: score, grade, verdict, facets.
    if let Some(report) = report(&dir.join("reports")) {
        let score = &report["score"];
        m.score = score["total"].as_u64();
        m.grade = score["grade"].as_str().map(String::from);
        m.verdict = score["verdict"].as_str().unwrap_or_default().to_string();
        for f in score["facets"].as_array().into_iter().flatten() {
            let name = f["facet"].as_str().unwrap_or_default().to_string();
            let value = match (f["measured"].as_bool(), f["points"].as_f64()) {
                (Some(false), _) | (_, None) => "not measured".into(),
                (_, Some(p)) => format!("{p:.0}"),
            };
            m.facets.push((name, value));
        }
    }
    Ok(m)
}

fn report(dir: &Path) -> Option<Value> {
    let path = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))?;
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// A figure over the runs: the value, or the median and the range.
fn figure(runs: &[Measurement], f: impl Fn(&Measurement) -> f64, decimals: usize) -> String {
    let v: Vec<f64> = runs.iter().map(f).collect();
    let Some(mid) = median(&v) else {
        return "—".into();
    };
    if v.len() == 1 {
        return format!("{mid:.decimals$}");
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{mid:.decimals$} ({lo:.decimals$}–{hi:.decimals$})")
}

fn row(label: &str, small: &str, big: &str) {
    println!("| {label:<44} | {small:>24} | {big:>24} |");
}

fn text(runs: &[Measurement], f: impl Fn(&Measurement) -> String) -> String {
    let mut all: Vec<String> = runs.iter().map(f).collect();
    all.dedup();
    if all.is_empty() {
        "—".into()
    } else {
        all.join(" / ")
    }
}

fn print_results(small: &[Measurement], big: &[Measurement]) {
    let empty = Measurement::default();
    let first = |r: &[Measurement]| r.first().cloned().unwrap_or_else(|| empty.clone());
    let (s0, b0) = (first(small), first(big));
    println!();
    println!("## oomsday run at scale (fake API server, real binary, real HTTP)");
    println!();
    row("figure", "small cluster", "big cluster");
    println!("|{:-<46}|{:-<26}|{:-<26}|", "", "", "");
    let cluster = |m: &Measurement| format!("{} nodes ({} NotReady)", m.nodes, m.not_ready);
    row("nodes", &cluster(&s0), &cluster(&b0));
    let pods = |m: &Measurement| format!("{} ({} crash-looping)", m.pods, m.crash_looping);
    row("pods", &pods(&s0), &pods(&b0));
    row(
        "core/v1 Events",
        &s0.events.to_string(),
        &b0.events.to_string(),
    );
    let size = |m: &Measurement| {
        format!(
            "{:.1} KB ({:.1} KB bare)",
            m.pod_bytes / 1000.0,
            m.pod_bytes_bare / 1000.0
        )
    };
    row(
        "pod size on the wire (without managedFields)",
        &size(&s0),
        &size(&b0),
    );
    row(
        "peak RSS of oomsday run (MiB)",
        &figure(small, |m| m.rss_mib, 1),
        &figure(big, |m| m.rss_mib, 1),
    );
    row(
        "CPU user+sys (s)",
        &figure(small, |m| m.user_s + m.sys_s, 2),
        &figure(big, |m| m.user_s + m.sys_s, 2),
    );
    row(
        "  of which user (s)",
        &figure(small, |m| m.user_s, 2),
        &figure(big, |m| m.user_s, 2),
    );
    row(
        "wall time (s)",
        &figure(small, |m| m.wall_s, 1),
        &figure(big, |m| m.wall_s, 1),
    );
    row(
        "bytes the API sent (MB)",
        &figure(small, |m| m.bytes as f64 / 1e6, 2),
        &figure(big, |m| m.bytes as f64 / 1e6, 2),
    );
    let kinds: Vec<String> = {
        let mut k: Vec<String> = s0.lists.keys().chain(b0.lists.keys()).cloned().collect();
        k.sort();
        k.dedup();
        k
    };
    for k in &kinds {
        let cell = |m: &Measurement| match m.lists.get(k) {
            Some((lists, pages, bytes)) => {
                format!("{lists} ({pages} pages, {:.2} MB)", *bytes as f64 / 1e6)
            }
            None => "0".into(),
        };
        row(
            &format!("LIST {k}: lists (requests, bytes)"),
            &text(small, cell),
            &text(big, cell),
        );
    }
    let wkinds: Vec<String> = {
        let mut k: Vec<String> = s0
            .watches
            .keys()
            .chain(b0.watches.keys())
            .cloned()
            .collect();
        k.sort();
        k.dedup();
        k
    };
    for k in &wkinds {
        let cell = |m: &Measurement| m.watches.get(k).map_or("0".into(), |w| w.0.to_string());
        row(&format!("WATCH {k}"), &text(small, cell), &text(big, cell));
    }
    // Pooled over the runs: a handful of kills each.
    let lat = |runs: &[Measurement]| {
        let mut v: Vec<f64> = runs.iter().flat_map(|m| m.latencies_ms.clone()).collect();
        v.sort_by(f64::total_cmp);
        match (v.first(), median(&v), v.last()) {
            (Some(lo), Some(mid), Some(hi)) => {
                format!("{lo:.1}/{mid:.1}/{hi:.1} ms (n={})", v.len())
            }
            _ => "not measured".into(),
        }
    };
    row(
        "watch→timeline latency min/median/max",
        &lat(small),
        &lat(big),
    );
    let kills =
        |m: &Measurement| format!("{} sent, {} narrated", m.kills_sent, m.latencies_ms.len());
    row(
        "OOM kills (narrated one by one; rest folded)",
        &text(small, kills),
        &text(big, kills),
    );
    let score = |m: &Measurement| match (m.score, &m.grade) {
        (Some(s), Some(g)) => format!("{s} ({g})"),
        _ => "not scored".into(),
    };
    row("score (grade)", &text(small, score), &text(big, score));
    row(
        "verdict",
        &text(small, |m| m.verdict.clone()),
        &text(big, |m| m.verdict.clone()),
    );
    for (name, _) in &s0.facets {
        let cell = |m: &Measurement| {
            m.facets
                .iter()
                .find(|(n, _)| n == name)
                .map_or("—".into(), |(_, v)| v.clone())
        };
        row(
            &format!("  facet {name}"),
            &text(small, cell),
            &text(big, cell),
        );
    }
    row(
        "log lines (stderr)",
        &figure(small, |m| m.log_lines as f64, 0),
        &figure(big, |m| m.log_lines as f64, 0),
    );
    row(
        "stdout lines",
        &figure(small, |m| m.stdout_lines as f64, 0),
        &figure(big, |m| m.stdout_lines as f64, 0),
    );
    row(
        "exit code",
        &text(small, |m| {
            format!(
                "{}{}",
                m.exit,
                if m.timed_out { " (timed out)" } else { "" }
            )
        }),
        &text(big, |m| {
            format!(
                "{}{}",
                m.exit,
                if m.timed_out { " (timed out)" } else { "" }
            )
        }),
    );

    println!();
    println!("## issue 15's targets");
    println!();
    let met = |ok: bool| if ok { "met" } else { "NOT MET" };
    let rss_big = median(&big.iter().map(|m| m.rss_mib).collect::<Vec<_>>());
    let rss_small = median(&small.iter().map(|m| m.rss_mib).collect::<Vec<_>>());
    let cpu_big = median(&big.iter().map(|m| m.user_s + m.sys_s).collect::<Vec<_>>());
    let cpu_small = median(&small.iter().map(|m| m.user_s + m.sys_s).collect::<Vec<_>>());
    match rss_big {
        Some(r) => println!(
            "- peak RSS at 500 nodes / 10,000 pods under {RSS_TARGET_MIB} MiB: {r:.1} MiB — {}",
            met(r < RSS_TARGET_MIB)
        ),
        None => println!(
            "- peak RSS at 500 nodes / 10,000 pods under {RSS_TARGET_MIB} MiB: not measured"
        ),
    }
    match (rss_big, rss_small) {
        (Some(b), Some(s)) => println!(
            "- peak RSS big under 2× small ({:.1} MiB): {b:.1} MiB — {}",
            2.0 * s,
            met(b < 2.0 * s)
        ),
        _ => println!("- peak RSS big under 2× small: not measured (run both clusters)"),
    }
    for (name, runs) in [("small", small), ("big", big)] {
        let Some(m) = runs.first() else { continue };
        let over: Vec<String> = m
            .lists
            .iter()
            .filter(|(_, (lists, _, _))| *lists > 1)
            .map(|(k, (lists, _, _))| format!("{k} ×{lists}"))
            .collect();
        println!(
            "- at most one list per resource kind per run ({name}): {}{}",
            met(over.is_empty()),
            if over.is_empty() {
                String::new()
            } else {
                format!(" ({})", over.join(", "))
            }
        );
        // Several watches of one kind each list their own set; the same set listed twice is
        // the waste the issue is about.
        println!(
            "  the same set (resource, scope, selector) listed twice ({name}): {}",
            if m.relisted.is_empty() {
                "never".to_string()
            } else {
                m.relisted.join(", ")
            }
        );
    }
    match cpu_big {
        Some(c) => println!(
            "- CPU under {CPU_TARGET_S} s at 500 nodes / 10,000 pods: {c:.2} s — {}",
            met(c < CPU_TARGET_S)
        ),
        None => println!("- CPU under {CPU_TARGET_S} s: not measured"),
    }
    if let Some(c) = cpu_small {
        println!("  (small cluster: {c:.2} s — {})", met(c < CPU_TARGET_S));
    }

    for (name, runs) in [("small", small), ("big", big)] {
        let Some(m) = runs.first() else { continue };
        println!();
        println!("## every request oomsday made ({name} cluster, first run)");
        println!();
        println!(
            "| {:<80} | {:>8} | {:>12} | status |",
            "verb resource scope selector", "requests", "bytes"
        );
        for (what, n, bytes, statuses) in &m.calls {
            println!("| {what:<80} | {n:>8} | {bytes:>12} | {statuses} |");
        }
        if let Some(b) = &m.baseline_line {
            println!("\nbaseline line: {b}");
        }
        println!("logs and report: {}", m.dir.display());
    }
}

/// `--census`: the two clusters' objects, counted and sized, without running anything.
fn census() {
    for s in [cluster::SMALL, cluster::BIG] {
        let inner = ApiServer::new();
        let built = cluster::build(&s, &inner);
        drop(built);
        println!("{} cluster:", s.name);
        for res in [
            Gvr::NODES,
            Gvr::PODS,
            Gvr::EVENTS,
            Gvr::DEPLOYMENTS,
            Gvr::PDBS,
            Gvr::LIMIT_RANGES,
            Gvr::HPAS,
        ] {
            let (n, bytes) = inner.census(&res);
            let mean = if n == 0 { 0.0 } else { bytes as f64 / n as f64 };
            println!(
                "  {:<26} {n:>6} objects {:>9.2} MB  {:>7.0} B each",
                res.plural,
                bytes as f64 / 1e6,
                mean
            );
        }
        let (wire, bare) = pod_sizes(&inner);
        println!("  pods on the wire {wire:.0} B, without managedFields {bare:.0} B");
        // One of each, to look at.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scale");
        let _ = std::fs::create_dir_all(&dir);
        for res in [Gvr::NODES, Gvr::PODS, Gvr::EVENTS] {
            if let Some(v) = inner.sample(&res, 1).first() {
                let path = dir.join(format!("sample-{}-{}.json", s.name, res.plural));
                let _ = std::fs::write(&path, serde_json::to_string_pretty(v).unwrap_or_default());
                println!("  a sample: {}", path.display());
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == child::LAUNCHER_FLAG) {
        child::launcher_main();
    }
    // First, while this process is small (see child.rs).
    let launcher = match child::Launcher::start() {
        Ok(l) => Arc::new(Mutex::new(l)),
        Err(e) => {
            eprintln!("scale bench: starting the launcher: {e}");
            std::process::exit(2);
        }
    };
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = value("--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let only = value("--only");
    oomsday_testkit::query::self_check();
    if args.iter().any(|a| a == "--census") {
        census();
        return;
    }
    // `cargo bench` builds the binary (release profile) for this bench.
    let bin = oomsday_testkit::measured_binary(env!("CARGO_BIN_EXE_oomsday"));
    if !bin.exists() {
        eprintln!(
            "{} is missing: run `cargo bench --bench scale` (it builds it) or `cargo build --release --bin oomsday`",
            bin.display()
        );
        std::process::exit(2);
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scale");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results: BTreeMap<&str, Vec<Measurement>> = BTreeMap::new();
    for s in [cluster::SMALL, cluster::BIG] {
        if only.as_deref().is_some_and(|o| o != s.name) {
            continue;
        }
        for i in 0..runs {
            let dir = root.join(format!("{}-{}", s.name, i + 1));
            eprintln!(
                "scale bench: {} cluster, run {}/{runs} ({})",
                s.name,
                i + 1,
                dir.display()
            );
            match rt.block_on(measure(&s, &bin, &dir, &launcher)) {
                Ok(m) => results.entry(s.name).or_default().push(m),
                Err(e) => eprintln!("scale bench: {} cluster, run {}: {e}", s.name, i + 1),
            }
        }
    }
    let get = |k: &str| results.get(k).cloned().unwrap_or_default();
    print_results(&get("small"), &get("big"));
}
