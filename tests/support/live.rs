//! The live suite's machinery (`tests/live.rs`, `tests/live_controller.rs`): a real cluster
//! named by `OOMSDAY_LIVE_KUBECONFIG`, checked before anything runs; one run at a time on it
//! (a file lock, across test binaries); runs recorded by the realbed's independent recorder and
//! judged by its ground truth; the figures kept for the README's table.
#![allow(dead_code)] // each live test binary uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::truth::Truth;

/// One live run at a time, across test processes too: they share the namespaces and the node.
/// Held until dropped (`flock` on `target/live/.bed.lock`).
pub struct BedLock {
    _held: std::fs::File,
}

impl BedLock {
    pub fn take(live: &Live) -> BedLock {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::create(live.out.join(".bed.lock")).expect("lock file");
        // SAFETY: flock on a file descriptor this process owns; it is released on close.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock target/live/.bed.lock");
        BedLock { _held: f }
    }
}

pub const LEAKER_IMAGE: &str = "ghcr.io/oomsday/oomsday-leaker:0.1.0";

pub struct Live {
    pub kubeconfig: PathBuf,
    pub realbed: PathBuf,
    pub out: PathBuf,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Says why a test skipped, past the test harness's capture (which hides what passing tests
/// print): CI's log shows the one line.
pub fn skipped(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The live cluster, or None (with the one line saying why) when the suite is not pointed at
/// one. Bad input is a failure that says what is missing.
pub fn live(test: &str) -> Option<Live> {
    let Some(kc) = std::env::var_os("OOMSDAY_LIVE_KUBECONFIG") else {
        skipped(&format!(
            "{test}: skipped: OOMSDAY_LIVE_KUBECONFIG is not set (the live suite runs against a \
             throwaway cluster, e.g. ../shared/realbed)"
        ));
        return None;
    };
    let kubeconfig = PathBuf::from(kc);
    assert!(
        kubeconfig.is_file(),
        "OOMSDAY_LIVE_KUBECONFIG={}: no such file",
        kubeconfig.display()
    );
    let realbed = std::env::var_os("OOMSDAY_LIVE_REALBED")
        .map_or_else(|| repo().join("../shared/realbed"), PathBuf::from);
    for f in [
        "recorder.py",
        "truth.py",
        "campaign-summary.py",
        "record-run.sh",
    ] {
        assert!(
            realbed.join(f).is_file(),
            "{}: no {f} (set OOMSDAY_LIVE_REALBED to the realbed scripts)",
            realbed.display()
        );
    }
    let out = repo().join("target/live");
    std::fs::create_dir_all(&out).expect("target/live");
    let l = Live {
        kubeconfig,
        realbed,
        out,
    };
    l.preflight();
    Some(l)
}

impl Live {
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl on PATH")
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The cluster answers, the suite may do what it does, the images are on the node.
    pub fn preflight(&self) {
        let v = self.kubectl(&["version", "-o", "json", "--request-timeout=5s"]);
        assert!(
            v.status.success(),
            "the cluster of {} cannot be reached: {}",
            self.kubeconfig.display(),
            String::from_utf8_lossy(&v.stderr)
        );
        let missing = self.missing_access(&[
            ("create", "namespaces"),
            ("delete", "namespaces"),
            ("patch", "deployments.apps"),
            ("watch", "pods"),
            ("get", "pods/proxy"),
        ]);
        assert!(
            missing.is_empty(),
            "the live suite lacks RBAC: {}",
            missing.join(", ")
        );
        let images = self.kubectl_ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.images[*].names}",
        ]);
        for (image, how) in [
            (
                "docker.io/library/sleeper:1",
                "../shared/realbed/build.sh images",
            ),
            (
                LEAKER_IMAGE,
                "images/build.sh, then ctr -n k8s.io images import target/images/oomsday-leaker-0.1.0.tar",
            ),
        ] {
            assert!(
                images.contains(image),
                "the cluster lacks the image {image}: {how}"
            );
        }
    }

    /// One `oomsday run` recorded by `record-run.sh` into a fresh folder, with `fault` run
    /// beside it (it gets this suite and the moment the leaker is in the template).
    pub fn record(
        &self,
        name: &str,
        experiment: &Path,
        setup: &Path,
        fault: impl FnOnce(&Live, Instant) + Send,
    ) -> Run {
        let dir = self.out.join(format!(
            "{name}-{}",
            jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")
        ));
        let _clean = Cleanup(self);
        let run = std::thread::scope(|s| {
            let rec = s.spawn(|| {
                Command::new("bash")
                    .arg(self.realbed.join("record-run.sh"))
                    .args([name.as_ref(), experiment.as_os_str(), setup.as_os_str()])
                    .arg(&dir)
                    .env("KUBECONFIG_BED", &self.kubeconfig)
                    .env("OOMSDAY", env!("CARGO_BIN_EXE_oomsday"))
                    .env("AFTER_S", "15")
                    .env("FORCE", "1")
                    .status()
                    .expect("record-run.sh")
            });
            if let Some(injected) = self.wait_for_leaker_in_template(Duration::from_secs(180)) {
                fault(self, injected);
            }
            rec.join().expect("record-run.sh thread")
        });
        assert!(run.success(), "record-run.sh {name} failed: {run}");
        Run::read(self, &dir)
    }

    /// When bf/checkout's template first carries the leaker (None if it never does).
    pub fn wait_for_leaker_in_template(&self, within: Duration) -> Option<Instant> {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            let o = self.checkout_as("jsonpath={.spec.template.spec.containers[*].name}");
            if String::from_utf8_lossy(&o.stdout).contains("oomsday-leaker") {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    }

    /// What a Python `script` of the realbed's own code prints as JSON about the run folder
    /// `dir` (it gets the realbed's folder and `dir` as its two arguments).
    pub fn realbed_json(&self, script: &str, dir: &Path) -> Value {
        let o = Command::new("python3")
            .args(["-c", script])
            .arg(&self.realbed)
            .arg(dir)
            .output()
            .expect("python3");
        assert!(
            o.status.success(),
            "the realbed's code on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("JSON")
    }

    /// Deletes the namespaces the runs use (`bf`, `bystand`); `wait`: until they are gone (at
    /// most 3 minutes).
    pub fn delete_run_namespaces(&self, wait: bool) -> std::process::Output {
        let wait = if wait {
            "--timeout=180s"
        } else {
            "--wait=false"
        };
        self.kubectl(&[
            "delete",
            "namespace",
            "bf",
            "bystand",
            "--ignore-not-found",
            wait,
        ])
    }

    /// Which of `needed` (verb, resource) the suite may not do, cluster-wide, as "verb resource".
    pub fn missing_access(&self, needed: &[(&str, &str)]) -> Vec<String> {
        needed
            .iter()
            .filter(|(verb, what)| {
                let o = self.kubectl(&["auth", "can-i", verb, what, "-A"]);
                String::from_utf8_lossy(&o.stdout).trim() != "yes"
            })
            .map(|(verb, what)| format!("{verb} {what}"))
            .collect()
    }

    /// Nothing of oomsday is left on bf/checkout: only its own container, no run mark.
    pub fn assert_untouched(&self) {
        let d = self.deployment();
        let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["checkout"], "bf/checkout's containers");
        assert!(
            d["metadata"]["labels"]["oomsday.dev/run-id"].is_null(),
            "{}",
            d["metadata"]
        );
    }

    /// Waits until the setups' two Deployments (bf/checkout, bystand/cache) are rolled out.
    pub fn wait_rolled_out(&self, timeout: &str) {
        for (ns, d) in [("bf", "checkout"), ("bystand", "cache")] {
            self.kubectl_ok(&[
                "rollout",
                "status",
                &format!("deployment/{d}"),
                "-n",
                ns,
                &format!("--timeout={timeout}"),
            ]);
        }
    }

    /// `kubectl get deployment checkout -n bf -o OUTPUT`.
    fn checkout_as(&self, output: &str) -> std::process::Output {
        self.kubectl(&["get", "deployment", "checkout", "-n", "bf", "-o", output])
    }

    pub fn deployment(&self) -> Value {
        let json = self.kubectl_ok(&["get", "deployment", "checkout", "-n", "bf", "-o", "json"]);
        serde_json::from_str(&json).expect("deployment JSON")
    }
}

/// Deletes what the runs made, also when a test fails.
pub struct Cleanup<'a>(&'a Live);

impl<'a> Cleanup<'a> {
    pub fn new(live: &'a Live) -> Cleanup<'a> {
        Cleanup(live)
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.delete_run_namespaces(false);
    }
}

/// A recorded run: the independent truth, oomsday's live and replayed figures as the
/// realbed's own code reads them from the reports, and where they disagree.
pub struct Run {
    pub dir: PathBuf,
    pub figures: Value,
}

impl Run {
    pub fn read(live: &Live, dir: &Path) -> Run {
        let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("cs", sys.argv[1] + "/campaign-summary.py")
cs = importlib.util.module_from_spec(spec); spec.loader.exec_module(cs)
F = cs.run_figures(sys.argv[2])
eq, diffs = cs.replay_equal(F)
print(json.dumps({"truth": F["truth"], "live": F["live"], "replay_rc": F["replay_rc"],
                  "run_s": F["run_s"], "disagreements": cs.disagreements(F),
                  "replay_equal": eq, "replay_diffs": diffs}))
"#;
        Run {
            dir: dir.to_path_buf(),
            figures: live.realbed_json(script, dir),
        }
    }

    pub fn truth(&self) -> &Value {
        &self.figures["truth"]
    }

    pub fn report(&self) -> &Value {
        &self.figures["live"]
    }

    /// oomsday's exit code, as the recorder wrote it.
    pub fn exit_code(&self) -> i64 {
        self.truth()["oomsday_exit_code"]
            .as_i64()
            .expect("exit code")
    }

    /// The report's JSON itself (reason, message, timeline).
    pub fn report_json(&self) -> Value {
        let dir = self.dir.join("oomsday-report");
        let file = std::fs::read_dir(&dir)
            .expect("report folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a JSON report");
        serde_json::from_str(&std::fs::read_to_string(file).expect("report")).expect("JSON")
    }

    /// Every disagreement between oomsday's report and the truth, beyond the suite's
    /// tolerances: the realbed's own (first eviction and time below budget ±1 s, recovery
    /// ±0.5 s, counts exact), and for the peak leaked bytes ±2% or one second of the leak's
    /// growth, whichever is more: oomsday and the recorder each read the leaker's metrics once a
    /// second, at their own moments, and a leaker killed at its limit is never read at its
    /// very top. OOM kills and leaker starts the cluster hid from every watch are allowed only
    /// where the report names exactly that many restarts it could not see.
    pub fn assert_matches_truth(&self) {
        self.assert_matches_truth_but(&[]);
    }

    /// [`Run::assert_matches_truth`], leaving out the disagreements named in `explained`
    /// (each with the reason it is not oomsday's, checked by the caller).
    pub fn assert_matches_truth_but(&self, explained: &[&str]) {
        let report = self.report_json();
        let unseen: i64 = report["record"]["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["type"] == "restartsUnseen" && o["leaker"] == Value::Bool(true))
            .filter_map(|o| o["count"].as_i64())
            .sum();
        let mut left = Vec::new();
        for d in self.figures["disagreements"].as_array().expect("list") {
            let what = d[0].as_str().unwrap_or_default();
            if explained.contains(&what) {
                continue;
            }
            let (t, o) = (
                d[1].as_str().and_then(|s| s.parse::<i64>().ok()),
                d[2].as_str().and_then(|s| s.parse::<i64>().ok()),
            );
            // What the report may lack and why: restarts the cluster hid from every watch (the
            // report names them); for OOM kills also the truth's containers that ended with
            // reason OOMKilled but not on the kernel's kill (exit 137), which containerd gives to
            // every container below a cgroup v1 that ran out, however it later ends.
            let hidden = match what {
                "leaker starts" => Some(unseen),
                "OOM kills" => Some(
                    unseen
                        + i64::try_from(Truth::load_dir(&self.dir).oom_reasons_without_a_kill())
                            .unwrap_or(i64::MAX),
                ),
                _ => None,
            };
            if hidden.is_some_and(|h| t.zip(o).is_some_and(|(t, o)| t - o == h)) {
                continue;
            }
            if what == "peak leaked bytes" {
                let t = self.truth()["peak_leaked_bytes"].as_f64().unwrap_or(0.0);
                let o = self.report()["peak_bytes"].as_f64().unwrap_or(0.0);
                let spec_rate = report["record"]["spec"]["leak"]["rate"]
                    .as_str()
                    .unwrap_or("");
                let allowed = (t * 0.02).max(bytes_per_second(spec_rate));
                if t > 0.0 && (o - t).abs() <= allowed {
                    continue;
                }
            }
            left.push(d.to_string());
        }
        assert!(
            left.is_empty(),
            "{}: oomsday's report disagrees with the truth:\n{}",
            self.dir.display(),
            left.join("\n")
        );
        assert_eq!(
            self.figures["replay_equal"],
            Value::Bool(true),
            "{}: the replay of oomsday's own recording differs: {}",
            self.dir.display(),
            self.figures["replay_diffs"]
        );
    }

    /// The line of the README's table for this run.
    pub fn result(&self, test: &str, fault: &str) -> Value {
        let t = self.truth();
        let r = self.report();
        serde_json::json!({
            "test": test,
            "fault": fault,
            "exit": self.exit_code(),
            "reason": self.report_json()["record"]["reason"],
            "verdict": r["verdict"],
            "score": r["score"],
            "ooms": [t["oom_kills"], r["oom_kills"]],
            "evictions": [t["evictions_target"], r["evictions_target"]],
            "below_budget_s": [t["below_budget_s"], r["below_budget_s"]],
            "recovery_s": [t["recovery_exact_s"], r["recovery_s"]],
            "leaker_starts": [t["leaker_starts"], r["leaker_starts"]],
            "replay_equal": self.figures["replay_equal"],
            "run_s": self.figures["run_s"],
        })
    }
}

/// Adds one run's figures to `target/live/results.json` (the README table's source).
pub fn keep(live: &Live, result: Value) {
    let _guard = RESULTS.lock().unwrap_or_else(|e| e.into_inner());
    let path = live.out.join("results.json");
    let mut all: Vec<Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    all.retain(|r| r["test"] != result["test"]);
    all.push(result);
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("JSON")).expect("results");
    write_readme_table(live, &all);
}

/// The README's "verified on a real cluster" table, from the kept results (never by hand).
pub fn write_readme_table(live: &Live, all: &[Value]) {
    let version: Value =
        serde_json::from_str(&live.kubectl_ok(&["version", "-o", "json"])).unwrap_or_default();
    let node = live.kubectl_ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[0].status.nodeInfo.containerRuntimeVersion} {.items[0].status.nodeInfo.kernelVersion}",
    ]);
    let cgroup = if Path::new("/sys/fs/cgroup/memory/kubepods").is_dir() {
        "cgroup v1"
    } else {
        "cgroup unknown"
    };
    let pair = |v: &Value| -> String {
        let f = |x: &Value| match x {
            Value::Null => "—".to_string(),
            Value::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap_or_default()),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        format!("{} / {}", f(&v[0]), f(&v[1]))
    };
    let mut t = format!(
        "<!-- live-results:begin (written by `cargo test --test live`; do not edit) -->\n\
         Last run {}, Kubernetes {}, {} (kernel {}), {cgroup}. Each pair is **truth / oomsday**.\n\n\
         | live test | fault | exit | reason | OOM kills | evictions | below budget (s) | recovery (s) | leaker starts | replay = live |\n\
         | --- | --- | ---: | --- | --- | --- | --- | --- | --- | :---: |\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d"),
        version["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap_or("?"),
        node.split(' ').next().unwrap_or("?"),
        node.split(' ').nth(1).unwrap_or("?"),
    );
    let mut sorted: Vec<&Value> = all.iter().collect();
    sorted.sort_by_key(|r| r["test"].as_str().unwrap_or_default().to_string());
    for r in sorted {
        t.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["test"].as_str().unwrap_or_default(),
            r["fault"].as_str().unwrap_or_default(),
            r["exit"],
            r["reason"].as_str().unwrap_or("—"),
            pair(&r["ooms"]),
            pair(&r["evictions"]),
            pair(&r["below_budget_s"]),
            pair(&r["recovery_s"]),
            pair(&r["leaker_starts"]),
            match &r["replay_equal"] {
                Value::Bool(true) => "yes",
                Value::Bool(false) => "**no**",
                _ => "—",
            },
        ));
    }
    t.push_str("<!-- live-results:end -->");
    let readme = repo().join("README.md");
    let text = std::fs::read_to_string(&readme).expect("README");
    let (Some(a), Some(b)) = (
        text.find("<!-- live-results:begin"),
        text.find("<!-- live-results:end -->"),
    ) else {
        panic!("README.md has no live-results block");
    };
    let new = format!(
        "{}{t}{}",
        &text[..a],
        &text[b + "<!-- live-results:end -->".len()..]
    );
    std::fs::write(&readme, new).expect("README");
}

static RESULTS: Mutex<()> = Mutex::new(());

/// A leak rate as experiments write it (`16Mi/s`, `40Mi/min`), in bytes a second; 0 when it
/// is not one.
pub fn bytes_per_second(rate: &str) -> f64 {
    let Some((amount, per)) = rate.split_once('/') else {
        return 0.0;
    };
    let digits = amount.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &amount[digits.len()..] {
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "" => 1.0,
        _ => return 0.0,
    };
    let secs = match per {
        "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        _ => return 0.0,
    };
    digits.parse::<f64>().unwrap_or(0.0) * unit / secs
}

pub fn fixture(run: &str, file: &str) -> PathBuf {
    repo().join("tests/fixtures/real-runs").join(run).join(file)
}
