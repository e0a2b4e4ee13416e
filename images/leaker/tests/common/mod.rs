//! Helpers shared by the leaker's tests and its benchmark: a throw-away memory cgroup (v1), a
//! leaker process observed from outside (RSS from /proc, JSON lines as they arrive), and the
//! comparison of sampled RSS against the configured curve.
// Each user (tests, bench) needs a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oomsday_core::LeakCurve;

pub const MI: u64 = 1 << 20;
pub const LEAKER: &str = env!("CARGO_BIN_EXE_oomsday-leaker");
const CGROUP_ROOT: &str = "/sys/fs/cgroup/memory";

/// A memory cgroup of our own, removed (after killing whatever is left in it) on drop.
pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    /// Creates `/sys/fs/cgroup/memory/oomsday-test-<pid>-<n>` with `limit` bytes of memory, and
    /// the same for memory+swap where the kernel has it, so swap cannot hide usage.
    pub fn create(limit: u64) -> Result<Cgroup, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = Path::new(CGROUP_ROOT);
        if !root.join("memory.limit_in_bytes").exists() {
            return Err(format!("{CGROUP_ROOT} is not a cgroup v1 memory hierarchy"));
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = root.join(format!("oomsday-test-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let cg = Cgroup { path };
        cg.write("memory.limit_in_bytes", &limit.to_string())?;
        if cg.path.join("memory.memsw.limit_in_bytes").exists() {
            cg.write("memory.memsw.limit_in_bytes", &limit.to_string())?;
        }
        Ok(cg)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        std::fs::write(self.path.join(file), value).map_err(|e| {
            format!(
                "cannot write {value} to {}/{file}: {e}",
                self.path.display()
            )
        })
    }

    /// A control file's text.
    pub fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path.join(file)).ok()
    }

    /// A control file holding one number.
    pub fn read_u64(&self, file: &str) -> Option<u64> {
        self.read(file)?.trim().parse().ok()
    }

    /// `oom_kill N` from memory.oom_control, where the kernel reports it.
    pub fn oom_kills(&self) -> Option<u64> {
        let text = self.read("memory.oom_control")?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
    }

    fn pids(&self) -> Vec<String> {
        self.read("cgroup.procs")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let pids = self.pids();
            if pids.is_empty() && std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid])
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("warning: could not remove {}", self.path.display());
    }
}

/// A cgroup, or `None` with the reason printed when this machine cannot give one — unless
/// `OOMSDAY_REQUIRE_CGROUP=1`, where that is a failure.
pub fn cgroup_or_skip(limit: u64, test: &str) -> Option<Cgroup> {
    match Cgroup::create(limit) {
        Ok(cg) => Some(cg),
        Err(why) if std::env::var("OOMSDAY_REQUIRE_CGROUP").is_ok_and(|v| v == "1") => {
            panic!("{test}: OOMSDAY_REQUIRE_CGROUP=1 but no memory cgroup: {why}")
        }
        Err(why) => {
            eprintln!("{test}: skipped: no writable memory cgroup ({why})");
            None
        }
    }
}

/// One JSON report line and when it arrived.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

impl Line {
    /// A numeric field of the line (the leaker writes flat JSON with known keys).
    pub fn num(&self, key: &str) -> Option<f64> {
        let pat = format!("\"{key}\":");
        let rest = &self.text[self.text.find(&pat)? + pat.len()..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    pub fn phase(&self) -> Option<&str> {
        let rest = &self.text[self.text.find("\"phase\":\"")? + 9..];
        rest.split('"').next()
    }
}

/// A running leaker, watched from outside. Killed on drop if still running.
pub struct Leaker {
    pub child: Child,
    pub spawned: Instant,
    lines: Arc<Mutex<Vec<Line>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Leaker {
    /// Starts the leaker with `args` and `env`, inside `cgroup` when given (its pid is written
    /// to cgroup.procs by a shell that then execs the leaker, so every page it maps is charged).
    pub fn spawn(args: &[String], env: &[(String, String)], cgroup: Option<&Cgroup>) -> Leaker {
        let mut cmd = match cgroup {
            Some(cg) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(r#"echo $$ > "$0" && exec "$@""#)
                    .arg(cg.path().join("cgroup.procs"))
                    .arg(LEAKER);
                c
            }
            None => Command::new(LEAKER),
        };
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = cmd.spawn().expect("spawn the leaker");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let l = Arc::clone(&lines);
        let r1 = std::thread::spawn(move || {
            for text in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().expect("lines lock").push(Line {
                    at: Instant::now(),
                    text,
                });
            }
        });
        let e = Arc::clone(&stderr);
        let r2 = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut err = err;
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e.lock()
                    .expect("stderr lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Leaker {
            child,
            spawned,
            lines,
            stderr,
            readers: vec![r1, r2],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS of the leaker in bytes, read from /proc/PID/status; `None` once it is gone.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// User + system CPU seconds of the leaker from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid())
    }

    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().expect("lines lock").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Waits up to `timeout` for the leaker to exit; then joins the output readers.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` (`TERM`, `INT`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "kill -{signal} {}",
            self.pid()
        );
    }

    /// Waits until stderr contains `needle`, up to `timeout`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            let s = self.stderr();
            if s.contains(needle) {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The latest time the leaker can have started its clock: each line was printed no earlier
    /// than start + elapsed_s, and read after that. Falls back to the spawn time.
    pub fn latest_start(&self) -> Instant {
        self.lines()
            .iter()
            .filter_map(|l| {
                l.at.checked_sub(Duration::from_secs_f64(l.num("elapsed_s")?))
            })
            .min()
            .unwrap_or(self.spawned)
            .max(self.spawned)
    }
}

impl Drop for Leaker {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// User + system CPU seconds of `pid` from /proc/PID/stat (fields 14 and 15, in clock ticks;
/// 100 per second on every Linux configuration we run on).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it start after the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// One outside observation of RSS, bracketed by the instants before and after the read.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub before: Instant,
    pub after: Instant,
    pub rss: u64,
}

/// Samples the leaker's RSS every `every` for `total`.
pub fn sample(leaker: &Leaker, every: Duration, total: Duration) -> Vec<Sample> {
    let mut out = Vec::new();
    let end = leaker.spawned + total;
    let mut next = Instant::now();
    while next < end {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let before = Instant::now();
        let Some(rss) = leaker.rss() else { break };
        out.push(Sample {
            before,
            after: Instant::now(),
            rss,
        });
        next += every;
    }
    out
}

/// The tolerance in bytes around `bytes`: 2% or 4 MiB, whichever is larger.
pub fn tolerance(bytes: u64) -> u64 {
    (bytes / 50).max(4 * MI)
}

/// How a sample compares with the curve. The leaker's clock started somewhere in
/// `[earliest_start, latest_start]` and may act up to `lag` late (a tick plus scheduling), so the
/// sample may stand for any curve time in a window; the error is the distance from the curve's
/// range over that window, in bytes (0 when inside).
#[derive(Debug, Clone, Copy)]
pub struct Judged {
    pub sample: Sample,
    /// Leaker time at the middle of the sample, from the latest start.
    pub t: f64,
    pub lo: u64,
    pub hi: u64,
    pub error: u64,
    pub within: bool,
}

pub fn judge(
    curve: &LeakCurve,
    s: Sample,
    earliest_start: Instant,
    latest_start: Instant,
    lag: Duration,
) -> Judged {
    let from = s
        .before
        .saturating_duration_since(latest_start)
        .saturating_sub(lag);
    let to = s.after.saturating_duration_since(earliest_start);
    // Dense enough for every pattern's kinks (steps, sawtooth drops) at test scales.
    let n = 200;
    let (mut lo, mut hi) = (u64::MAX, 0);
    for i in 0..=n {
        let t = from + (to.saturating_sub(from)) * i / n;
        let b = curve.bytes_at(t);
        lo = lo.min(b);
        hi = hi.max(b);
    }
    // Below the range, above it, or inside (0).
    let error = lo.saturating_sub(s.rss).max(s.rss.saturating_sub(hi));
    let tol = tolerance(if s.rss < lo { lo } else { hi });
    let mid = s.before + (s.after - s.before) / 2;
    Judged {
        sample: s,
        t: mid.saturating_duration_since(latest_start).as_secs_f64(),
        lo,
        hi,
        error,
        within: error <= tol,
    }
}

/// The error of a sample against the curve at the sample's own time (from the latest start), no
/// window: the plain figure the benchmark reports.
pub fn raw_error(curve: &LeakCurve, s: Sample, start: Instant) -> (u64, f64) {
    let mid = s.before + (s.after - s.before) / 2;
    let want = curve.bytes_at(mid.saturating_duration_since(start));
    let err = want.abs_diff(s.rss);
    (
        err,
        if want == 0 {
            0.0
        } else {
            err as f64 * 100.0 / want as f64
        },
    )
}

pub fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

pub fn mib(b: u64) -> f64 {
    b as f64 / MI as f64
}
