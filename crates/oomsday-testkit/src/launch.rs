//! The one way tests launch the `oomsday` binary: its path comes from the test
//! (`env!("CARGO_BIN_EXE_oomsday")`, which only the root crate's tests and benches see), and what
//! it prints and how it exits come back.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary whose cost is measured (the scale bench, `tests/live_scale.rs`): `$OOMSDAY_BIN`
/// when set (the release build the figures are compared on), else `built`, the caller's
/// `env!("CARGO_BIN_EXE_oomsday")`.
pub fn measured_binary(built: &str) -> PathBuf {
    std::env::var_os("OOMSDAY_BIN").map_or_else(|| PathBuf::from(built), PathBuf::from)
}

/// The binary, about to run.
pub struct Oomsday {
    command: Command,
}

/// How a run ended: its exit code (`None` if killed by a signal or stopped for taking too
/// long), what it printed, and how long it took.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Oomsday {
    /// The binary at `exe`, run in `dir`, with no in-cluster environment.
    pub fn new(exe: impl AsRef<OsStr>, dir: impl AsRef<Path>) -> Oomsday {
        let mut command = Command::new(exe);
        command
            .current_dir(dir)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Oomsday { command }
    }

    /// Invoked under another name (`argv[0]`), as kubectl runs its plugin `kubectl-oomsday`.
    pub fn arg0(mut self, name: &str) -> Self {
        self.command.arg0(name);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    /// Sets (`Some`) or removes (`None`) an environment variable.
    pub fn env(mut self, name: &str, value: Option<impl AsRef<OsStr>>) -> Self {
        match value {
            Some(v) => self.command.env(name, v),
            None => self.command.env_remove(name),
        };
        self
    }

    /// Runs it to the end.
    pub fn output(mut self) -> Output {
        let start = Instant::now();
        let out = self.command.output().expect("run oomsday");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
        }
    }

    /// Runs it, killed after `limit` (then its code is `None`).
    pub fn output_within(mut self, limit: Duration) -> Output {
        let start = Instant::now();
        let mut child = self.command.spawn().expect("run oomsday");
        // Read as it goes: a full pipe would block the child.
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code();
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            code,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            took: start.elapsed(),
        }
    }
}
