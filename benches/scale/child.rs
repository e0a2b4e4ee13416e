//! The measured process: `oomsday run` as a child, its resource usage from the kernel at exit
//! (`wait4`'s rusage: peak RSS and CPU are the child's own, not the bench's or the fake
//! server's), and what it logged.
//!
//! The child is started by a launcher: this bench binary re-executed at its very start, while it
//! is still small, and doing nothing else. Linux charges a process that is spawned with
//! vfork/posix_spawn (what `std::process::Command` uses) and then execs with its parent's
//! high-water RSS (`exec_mmap` folds the old mm's `hiwater_rss` into the new process's
//! `maxrss`): spawned from the bench, which holds the whole fake cluster, `ru_maxrss` would
//! report the bench's peak, not oomsday's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The argument that makes the bench binary a launcher.
pub const LAUNCHER_FLAG: &str = "--oomsday-launcher";

/// What the kernel and the child's output say about one run.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Exit code, or 128 + signal.
    pub exit: i32,
    pub max_rss_kib: u64,
    pub user: Duration,
    pub sys: Duration,
    pub wall: Duration,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// The launcher process, one request at a time over its stdin/stdout (JSON lines).
pub struct Launcher {
    _process: Child,
    requests: ChildStdin,
    replies: BufReader<ChildStdout>,
}

impl Launcher {
    /// Starts it; call first thing in `main`, before the bench grows.
    pub fn start() -> std::io::Result<Launcher> {
        let mut process = Command::new(std::env::current_exe()?)
            .arg(LAUNCHER_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let requests = process
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let replies = BufReader::new(
            process
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout"))?,
        );
        Ok(Launcher {
            _process: process,
            requests,
            replies,
        })
    }

    /// Runs `bin args…` in `dir`, stdout and stderr to files there; after `limit` it is sent
    /// SIGTERM (oomsday reverts and exits), 15 s later SIGKILL. Blocks until it exits.
    pub fn run(
        &mut self,
        bin: &Path,
        args: &[String],
        dir: &Path,
        limit: Duration,
    ) -> std::io::Result<Finished> {
        let request =
            json!({"bin": bin, "args": args, "dir": dir, "limit_ms": limit.as_millis() as u64});
        writeln!(self.requests, "{request}")?;
        self.requests.flush()?;
        let mut line = String::new();
        self.replies.read_line(&mut line)?;
        let r: Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        if let Some(e) = r["error"].as_str() {
            return Err(std::io::Error::other(e.to_string()));
        }
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        Ok(Finished {
            exit: r["exit"].as_i64().unwrap_or(-1) as i32,
            max_rss_kib: n("max_rss_kib"),
            user: Duration::from_micros(n("user_us")),
            sys: Duration::from_micros(n("sys_us")),
            wall: Duration::from_micros(n("wall_us")),
            stdout: std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default(),
            stderr: std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default(),
            timed_out: r["timed_out"].as_bool().unwrap_or(false),
        })
    }
}

/// The launcher's life: read a request, run it, answer; until stdin closes.
pub fn launcher_main() -> ! {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(req) => launch(&req).unwrap_or_else(|e| json!({"error": e.to_string()})),
            Err(e) => json!({"error": e.to_string()}),
        };
        println!("{reply}");
    }
    std::process::exit(0)
}

fn launch(req: &Value) -> std::io::Result<Value> {
    let bin = PathBuf::from(req["bin"].as_str().unwrap_or_default());
    let dir = PathBuf::from(req["dir"].as_str().unwrap_or_default());
    let args: Vec<String> = req["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    let limit = Duration::from_millis(req["limit_ms"].as_u64().unwrap_or(150_000));
    let out = std::fs::File::create(dir.join("stdout.log"))?;
    let err = std::fs::File::create(dir.join("stderr.log"))?;
    let started = Instant::now();
    let child = Command::new(&bin)
        .args(&args)
        .current_dir(&dir)
        .env_remove("OOMSDAY_LOG")
        .env_remove("OOMSDAY_LOG_JSON")
        .env_remove("RUST_LOG")
        .env_remove("KUBECONFIG")
        // Plain log lines, as a pipeline's log collector sees them.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    // The child is reaped by wait4 below, never by std: until then its pid cannot be reused,
    // so the watchdog's signals can only reach it.
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, timed_out) = (done.clone(), timed_out.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            timed_out.store(true, Ordering::Relaxed);
            // SAFETY: kill(2) on our own unreaped child; no memory is touched.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let hard = Instant::now() + Duration::from_secs(15);
            while Instant::now() < hard {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4(2) writes only into the two locals passed by pointer.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        if r == -1 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    drop(child);
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    let user = tv(usage.ru_utime);
    let sys = tv(usage.ru_stime);
    Ok(json!({
        "exit": exit,
        // Linux reports ru_maxrss in KiB.
        "max_rss_kib": usage.ru_maxrss.max(0),
        "user_us": user.as_micros() as u64,
        "sys_us": sys.as_micros() as u64,
        "wall_us": started.elapsed().as_micros() as u64,
        "timed_out": timed_out.load(Ordering::Relaxed),
    }))
}

/// A line without ANSI colour codes (in case something forces them on).
pub fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A narrated OOM kill in oomsday's log: when it was logged, `pod/container`, restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedKill {
    pub at: jiff::Timestamp,
    pub pod: String,
    pub container: String,
    pub restarts: u32,
}

/// The OOM kill lines of a non-TTY log (`tracing`'s format: an RFC 3339 timestamp first, then
/// the level, the target and "OOM kill (leaker) POD/CONTAINER on NODE (restarts N)").
pub fn logged_kills(stderr: &str) -> Vec<LoggedKill> {
    stderr
        .lines()
        .map(plain)
        .filter_map(|l| {
            let at: jiff::Timestamp = l.split_whitespace().next()?.parse().ok()?;
            let rest = &l[l.find("OOM kill (")?..];
            if l.contains("more like") {
                return None; // a fold of several kills: no one send time
            }
            let after = &rest[rest.find(") ")? + 2..];
            let who = after.split_whitespace().next()?;
            let (pod, container) = who.rsplit_once('/')?;
            let digits: String = rest
                .rsplit_once("(restarts ")?
                .1
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let restarts = digits.parse().ok()?;
            Some(LoggedKill {
                at,
                pod: pod.rsplit('/').next().unwrap_or(pod).to_string(),
                container: container.to_string(),
                restarts,
            })
        })
        .collect()
}
