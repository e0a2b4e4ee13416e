//! The leaker on this machine's real kernel: memory that becomes resident along the curve, an OOM
//! kill at a cgroup limit, the deadline, signals, configuration errors and the HTTP endpoint.
//!
//! Tests that need a memory cgroup skip (saying why) when none is writable, unless
//! `OOMSDAY_REQUIRE_CGROUP=1`. Tolerances are in time (when the leaker started and ticked), not
//! in bytes: RSS must be within 2% or 4 MiB of the curve somewhere in that time window.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use oomsday_core::leaker_config::{Deadline, LeakerConfig};

/// How late the leaker may act on its curve: a 10 ms tick, plus room for a loaded 2-core machine.
const LAG: Duration = Duration::from_millis(150);

fn config(a: &str) -> LeakerConfig {
    LeakerConfig::from_sources(&args(a), &|_| None).expect("test config is valid")
}

/// Runs `cfg` (passed as flags, or as environment with `via_env`) for `total`, sampling RSS from
/// outside every 200 ms, and checks every sample against the curve. Returns the samples.
fn follows_curve(name: &str, cfg: &LeakerConfig, total: Duration, via_env: bool) -> Vec<Sample> {
    // A limit well above the curve: a safety net, not part of the test.
    let cg = Cgroup::create(512 * MI)
        .map_err(|why| eprintln!("{name}: running outside a cgroup ({why})"))
        .ok();
    let leaker = if via_env {
        Leaker::spawn(&args("--listen off"), &cfg.to_env(), cg.as_ref())
    } else {
        Leaker::spawn(&cfg.to_args(), &[], cg.as_ref())
    };
    let samples = sample(&leaker, Duration::from_millis(200), total);
    let lines = leaker.lines();
    let first = lines
        .first()
        .unwrap_or_else(|| panic!("{name}: no report line; stderr: {}", leaker.stderr()));
    let start = leaker.latest_start();
    // Before the first line the leaker has not made its first allocation yet (or is still sh).
    let samples: Vec<Sample> = samples
        .into_iter()
        .filter(|s| s.before > first.at)
        .collect();
    assert!(
        samples.len() >= total.as_millis() as usize / 200 - 3,
        "{name}: only {} samples",
        samples.len()
    );
    let mut report = String::new();
    let mut bad = 0;
    for s in &samples {
        let j = judge(&cfg.curve, *s, leaker.spawned, start, LAG);
        report.push_str(&format!(
            "{:6.2}s rss {:8.2} MiB, curve {:8.2}..{:8.2} MiB{}\n",
            j.t,
            mib(s.rss),
            mib(j.lo),
            mib(j.hi),
            if j.within { "" } else { "   <-- outside" }
        ));
        bad += usize::from(!j.within);
    }
    eprintln!("{name}:\n{report}");
    assert_eq!(bad, 0, "{name}: {bad} samples off the curve:\n{report}");
    samples
}

#[test]
fn rss_follows_a_linear_leak_and_holds_at_max() {
    let cfg = config(
        "--pattern linear --rate 48Mi/s --start 8Mi --max 150Mi --duration 20s --listen off",
    );
    let samples = follows_curve("linear", &cfg, Duration::from_secs(4), false);
    let peak = samples.iter().map(|s| s.rss).max().unwrap_or(0);
    assert!(peak >= 146 * MI, "reached {:.1} MiB", mib(peak));
}

#[test]
fn rss_follows_an_exponential_leak() {
    let cfg = config(
        "--pattern exponential --doubling 1s --start 8Mi --max 128Mi --duration 20s --listen off",
    );
    follows_curve("exponential", &cfg, Duration::from_secs(5), false);
}

#[test]
fn rss_follows_a_step_leak_configured_by_environment() {
    let cfg = config(
        "--pattern step --step 32Mi --every 1s --start 4Mi --max 100Mi --duration 20s --listen off",
    );
    follows_curve("step", &cfg, Duration::from_secs(4), true);
}

#[test]
fn rss_follows_a_sawtooth_and_really_drops() {
    let cfg = config(
        "--pattern sawtooth --rate 64Mi/s --gc-every 1500ms --start 8Mi --unbounded --duration 20s --listen off",
    );
    let samples = follows_curve("sawtooth", &cfg, Duration::from_millis(4600), false);
    // munmap gives memory back: RSS falls by most of a cycle at each collection.
    let drops = samples
        .windows(2)
        .filter(|w| w[0].rss > w[1].rss + 40 * MI)
        .count();
    assert!(drops >= 2, "saw {drops} drops");
}

#[test]
fn oom_killed_at_the_cgroup_limit() {
    let Some(cg) = cgroup_or_skip(128 * MI, "oom_killed_at_the_cgroup_limit") else {
        return;
    };
    let limit = 128 * MI;
    let mut leaker = Leaker::spawn(
        &args(
            "--pattern linear --start 96Mi --rate 16Mi/s --unbounded --duration 60s --chunk 256Ki \
             --report-interval 10ms --listen off",
        ),
        &[],
        Some(&cg),
    );
    let status = leaker
        .wait_timeout(Duration::from_secs(20))
        .expect("the kernel kills the leaker");
    assert_eq!(
        status.signal(),
        Some(9),
        "{status:?}; stderr: {}",
        leaker.stderr()
    );
    match cg.oom_kills() {
        Some(kills) => assert!(kills >= 1, "oom_kill {kills}"),
        None => assert!(
            cg.read_u64("memory.failcnt").unwrap_or(0) > 0,
            "memory.failcnt is 0"
        ),
    }
    let max_usage = cg
        .read_u64("memory.max_usage_in_bytes")
        .expect("max_usage_in_bytes");
    let last = leaker.lines().last().cloned().expect("report lines");
    let allocated = last.num("allocated_bytes").unwrap_or(0.0) as u64;
    let rss = last.num("rss_bytes").unwrap_or(0.0) as u64;
    eprintln!(
        "limit {:.2} MiB, max usage {:.2} MiB, last report: allocated {:.2} MiB, rss {:.2} MiB",
        mib(limit),
        mib(max_usage),
        mib(allocated),
        mib(rss)
    );
    assert!(
        max_usage.abs_diff(limit) <= limit / 100,
        "max usage {max_usage}"
    );
    // The last line came at most one report interval (10 ms = 0.16 MiB here) before the kill.
    assert!(
        allocated <= limit && limit - allocated <= limit / 100,
        "last reported allocated {allocated}"
    );
    // RSS also counts the binary's file pages, which the page cache may have charged elsewhere:
    // only a lower bound is exact.
    assert!(rss >= limit - limit / 100, "last reported rss {rss}");
}

/// Polls RSS every 50 ms until it is below `bytes`; returns when that happened.
fn rss_below(leaker: &Leaker, bytes: u64, timeout: Duration) -> Option<Instant> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if leaker.rss().is_some_and(|r| r < bytes) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn frees_everything_at_the_deadline_and_idles() {
    let cfg = config(
        "--pattern linear --rate 128Mi/s --max 64Mi --duration 2s --report-interval 100ms --listen off",
    );
    let mut leaker = Leaker::spawn(&cfg.to_args(), &[], None);
    std::thread::sleep(Duration::from_millis(1500));
    let held = leaker.rss().unwrap_or(0);
    assert!(
        held >= 60 * MI,
        "holding {:.1} MiB before the deadline",
        mib(held)
    );
    let deadline = leaker.latest_start() + Duration::from_secs(2);
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    let fell = rss_below(&leaker, 16 * MI, Duration::from_secs(3)).expect("RSS falls below 16 MiB");
    assert!(
        fell <= deadline + Duration::from_secs(2),
        "fell {:?} after the deadline",
        fell - deadline
    );
    // ... and stays there, alive: a restart policy must not get a chance to start a new leak.
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        assert!(leaker.is_running(), "the leaker exited at the deadline");
        let rss = leaker.rss().unwrap_or(u64::MAX);
        assert!(rss < 16 * MI, "RSS back to {:.1} MiB", mib(rss));
    }
    let last = leaker.lines().last().cloned().expect("lines");
    assert_eq!(last.phase(), Some("expired"), "{}", last.text);
    assert_eq!(last.num("allocated_bytes"), Some(0.0));
}

#[test]
fn exits_zero_at_an_absolute_deadline_with_exit_at_deadline() {
    // Built the way the injector builds it: a wall-clock deadline, handed over by to_args().
    let mut cfg = config(
        "--pattern step --step 32Mi --every 500ms --max 64Mi --duration 1h --listen off --exit-at-deadline",
    );
    cfg.deadline = Deadline::Absolute(SystemTime::now() + Duration::from_secs(2));
    let mut leaker = Leaker::spawn(&cfg.to_args(), &[], None);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        leaker.rss().unwrap_or(0) >= 60 * MI,
        "holding before the deadline"
    );
    let status = leaker
        .wait_timeout(Duration::from_secs(3))
        .expect("exits after the deadline");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let last = leaker.lines().last().cloned().expect("lines");
    assert_eq!(
        (last.phase(), last.num("allocated_bytes")),
        (Some("expired"), Some(0.0)),
        "{}",
        last.text
    );
}

#[test]
fn a_leaker_started_after_its_deadline_never_leaks() {
    let mut cfg = config(
        "--pattern linear --rate 1Gi/s --max 512Mi --duration 1h --listen off --report-interval 50ms",
    );
    cfg.deadline = Deadline::Absolute(SystemTime::now() - Duration::from_secs(60));
    let leaker = Leaker::spawn(&cfg.to_args(), &[], None);
    let samples = sample(
        &leaker,
        Duration::from_millis(100),
        Duration::from_millis(800),
    );
    assert!(samples.len() >= 5);
    assert!(samples.iter().all(|s| s.rss < 16 * MI), "{samples:?}");
    assert!(leaker.lines().iter().all(|l| l.phase() == Some("expired")));
}

fn stops_on(signal: &str) {
    let mut leaker = Leaker::spawn(
        &args("--pattern linear --rate 64Mi/s --max 1Gi --duration 1m --listen off"),
        &[],
        None,
    );
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        leaker.rss().unwrap_or(0) > 30 * MI,
        "leaking before the signal"
    );
    let sent = Instant::now();
    leaker.signal(signal);
    let status = leaker
        .wait_timeout(Duration::from_secs(3))
        .expect("exits on the signal");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    assert!(
        leaker.stderr().contains("stopped by signal"),
        "{}",
        leaker.stderr()
    );
}

#[test]
fn sigterm_frees_and_exits_zero_within_a_second() {
    stops_on("TERM");
}

#[test]
fn sigint_frees_and_exits_zero_within_a_second() {
    stops_on("INT");
}

/// Arguments, environment, and what the error message must contain.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[test]
fn bad_flags_and_env_exit_2_naming_value_and_form() {
    let ok = "--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --listen off";
    let cases: &[Case] = &[
        (
            "--pattern linear --rate 40Mi --max 1Gi --duration 1m",
            &[],
            &["--rate", "`40Mi`", "QUANTITY/UNIT"],
        ),
        (
            "--pattern linear --rate 1Mi/s --doubling 1m --max 1Gi --duration 1m",
            &[],
            &["--doubling `1m` is not a parameter of pattern linear"],
        ),
        (
            "--pattern linear --rate 1Mi/s --max 1Gi",
            &[],
            &["--deadline", "--duration", "never outlive"],
        ),
        (
            "--pattern linear --rate 1Mi/s --duration 1m",
            &[("OOMSDAY_LEAK_MAX", "1GB")],
            &["OOMSDAY_LEAK_MAX", "`1GB`", "Kubernetes quantity"],
        ),
        (
            "",
            &[("OOMSDAY_LEAK_PATTERN", "zigzag")],
            &["OOMSDAY_LEAK_PATTERN", "`zigzag`", "linear, exponential"],
        ),
        (
            ok,
            &[("OOMSDAY_LEAK_CHUNK", "1k")],
            &["OOMSDAY_LEAK_CHUNK", "`1k`", "at least 4Ki"],
        ),
        (
            "--pattern linear --rate 1Mi/s --max 1Gi --deadline soon",
            &[],
            &["--deadline", "`soon`", "RFC 3339"],
        ),
        (
            "--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --listen nowhere",
            &[],
            &["--listen", "`nowhere`", "ADDRESS:PORT"],
        ),
        (
            "--pattern linear --rate 1Mi/s --max 1Gi --duration 30",
            &[],
            &["--duration", "`30`", "no unit"],
        ),
        (
            "--pattern linear --gigabytes 5",
            &[],
            &["unknown flag `--gigabytes`"],
        ),
    ];
    for (a, env, want) in cases {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut leaker = Leaker::spawn(&args(a), &env, None);
        let status = leaker
            .wait_timeout(Duration::from_secs(5))
            .expect("exits at once");
        let err = leaker.stderr();
        assert_eq!(status.code(), Some(2), "{a} {env:?}: {err}");
        for w in *want {
            assert!(err.contains(w), "{a} {env:?}: `{w}` not in: {err}");
        }
        assert!(
            leaker.lines().is_empty(),
            "no report before a valid configuration"
        );
    }
    let mut help = Leaker::spawn(&args("--help"), &[], None);
    assert_eq!(
        help.wait_timeout(Duration::from_secs(5))
            .and_then(|s| s.code()),
        Some(0)
    );
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // One write, as HTTP clients do.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.write_all(request.as_bytes()).expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {body}"))
}

#[test]
fn metrics_and_healthz_answer_on_loopback() {
    let leaker = Leaker::spawn(
        &args("--pattern linear --rate 64Mi/s --max 16Mi --duration 1m --listen 127.0.0.1:0"),
        &[],
        None,
    );
    let err = leaker
        .wait_stderr("serving /metrics", Duration::from_secs(5))
        .expect("serving line");
    let addr = err
        .lines()
        .find_map(|l| l.split("http://").nth(1))
        .expect("address")
        .trim()
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let health = get(&addr, "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("\r\n\r\nok\n"),
        "{health}"
    );
    assert!(get(&addr, "/nope").starts_with("HTTP/1.1 404"));
    // A request that arrives in pieces is answered once it is complete, not reset half-way.
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("first piece");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"Host: test\r\n\r\n").expect("second piece");
    let mut split = String::new();
    s.read_to_string(&mut split).expect("response");
    assert!(split.starts_with("HTTP/1.1 200 OK\r\n"), "{split}");

    std::thread::sleep(Duration::from_millis(800));
    let m = get(&addr, "/metrics");
    assert!(
        m.starts_with("HTTP/1.1 200 OK\r\n") && m.contains("text/plain; version=0.0.4"),
        "{m}"
    );
    let body = m.split("\r\n\r\n").nth(1).unwrap_or("");
    for name in [
        "target_bytes",
        "allocated_bytes",
        "rss_bytes",
        "deadline_seconds",
    ] {
        assert!(
            body.contains(&format!("# HELP oomsday_leaker_{name} ")),
            "{name}"
        );
        assert!(
            body.contains(&format!("# TYPE oomsday_leaker_{name} gauge")),
            "{name}"
        );
    }
    assert_eq!(
        metric(body, "oomsday_leaker_target_bytes"),
        (16 * MI) as f64
    );
    assert_eq!(
        metric(body, "oomsday_leaker_allocated_bytes"),
        (16 * MI) as f64
    );
    assert!(metric(body, "oomsday_leaker_rss_bytes") >= (16 * MI) as f64);
    let deadline = metric(body, "oomsday_leaker_deadline_seconds");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    assert!(
        (deadline - (now + 60.0)).abs() < 5.0,
        "deadline {deadline}, now {now}"
    );
    assert!(
        body.contains("oomsday_leaker_phase{phase=\"holding\"} 1"),
        "{body}"
    );
}
