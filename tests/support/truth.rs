//! The ground truth of a real recorded run, read from its `TRUTH.md` (tests/fixtures/real-runs).
//!
//! `TRUTH.md` was written by a script from the recorded objects alone, never from oomsday, so
//! the tests compare oomsday's numbers against it rather than against figures written to agree
//! with them. Its tables have a fixed shape; this reads the ones the tests assert on. Times are
//! as the truth gives them: object timestamps (whole seconds) and `received` (the recorder's
//! clock, the same machine and clock as oomsday's).

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// Where the copied recordings live.
pub fn runs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-runs")
}

/// Recording `name`'s experiment, from its file (the one YAML in its folder that is not
/// `setup.yaml`).
pub fn recorded_experiment(name: &str) -> oomsday::engine::ExperimentRef {
    let dir = runs_dir().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the recording's folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml")
                && p.file_name().is_some_and(|n| n != "setup.yaml")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "one experiment in {}", dir.display());
    let (exps, _) =
        oomsday::spec::load_experiments(&files[0]).expect("the recorded experiment is valid");
    let e = &exps[0].experiment;
    oomsday::engine::ExperimentRef {
        name: e.metadata.name.clone().expect("named"),
        namespace: e.metadata.namespace.clone().expect("namespaced"),
        spec: e.spec.clone(),
    }
}

/// Every recording the calibration compares one by one, by folder name.
pub const RUNS: [&str; 4] = ["contained", "spill", "ephemeral", "apiserver-freeze"];

/// Recordings made after the simulator predicted them, to check one prediction against the
/// bed: the calibration table sets them out with the others; each has its own test of what it
/// was recorded for. `spill-fast`: a leak (512 Mi/s) faster than cAdvisor's housekeeping, where
/// the simulator predicted the kubelet would evict a bystander first (stop 31).
pub const HELD_OUT: [&str; 1] = ["spill-fast"];

/// Eight recordings of one experiment where the kernel's OOM kill and the kubelet's eviction
/// race (`campaign-oom-or-evict/README.md`).
pub const OOM_OR_EVICT: [&str; 8] = [
    "campaign-oom-or-evict/run-01",
    "campaign-oom-or-evict/run-02",
    "campaign-oom-or-evict/run-03",
    "campaign-oom-or-evict/run-04",
    "campaign-oom-or-evict/run-05",
    "campaign-oom-or-evict/run-06",
    "campaign-oom-or-evict/run-07",
    "campaign-oom-or-evict/run-08",
];

/// Every recording that keeps the recorder's `watch.jsonl` (replayed to its truth): [`RUNS`]
/// and the first run of `campaign-oom-or-evict`, whose campaign the calibration compares as a
/// distribution.
pub const REPLAYED: [&str; 5] = [
    "contained",
    "spill",
    "ephemeral",
    "apiserver-freeze",
    "campaign-oom-or-evict/run-01",
];

/// Fifteen more recordings of `spill`'s experiment on the same node and setup
/// (`campaign-spill/SUMMARY.md`): with `spill`, sixteen runs of one experiment, whose spread the
/// calibration compares with the simulator's over its seeds.
pub const CAMPAIGN: [&str; 15] = [
    "campaign-spill/spill-01",
    "campaign-spill/spill-02",
    "campaign-spill/spill-03",
    "campaign-spill/spill-04",
    "campaign-spill/spill-05",
    "campaign-spill/spill-06",
    "campaign-spill/spill-07",
    "campaign-spill/spill-08",
    "campaign-spill/spill-09",
    "campaign-spill/spill-10",
    "campaign-spill/spill-11",
    "campaign-spill/spill-12",
    "campaign-spill/spill-13",
    "campaign-spill/spill-14",
    "campaign-spill/spill-15",
];

/// Twenty-four more recordings of `spill`'s experiment on the same node, each started at a random
/// point of the kubelet's 10-s loops (`campaign-spill-random/README.md`): the first campaign's
/// runs, three minutes apart, drew the eviction manager's and the status loop's phases together,
/// run after run; these draw them independently.
pub const CAMPAIGN_RANDOM: [&str; 24] = [
    "campaign-spill-random/spill-r01",
    "campaign-spill-random/spill-r02",
    "campaign-spill-random/spill-r03",
    "campaign-spill-random/spill-r04",
    "campaign-spill-random/spill-r05",
    "campaign-spill-random/spill-r06",
    "campaign-spill-random/spill-r07",
    "campaign-spill-random/spill-r08",
    "campaign-spill-random/spill-r09",
    "campaign-spill-random/spill-r10",
    "campaign-spill-random/spill-r11",
    "campaign-spill-random/spill-r12",
    "campaign-spill-random/spill-r13",
    "campaign-spill-random/spill-r14",
    "campaign-spill-random/spill-r15",
    "campaign-spill-random/spill-r16",
    "campaign-spill-random/spill-r17",
    "campaign-spill-random/spill-r18",
    "campaign-spill-random/spill-r19",
    "campaign-spill-random/spill-r20",
    "campaign-spill-random/spill-r21",
    "campaign-spill-random/spill-r22",
    "campaign-spill-random/spill-r23",
    "campaign-spill-random/spill-r24",
];

/// Every run of `spill`'s experiment on the bed (`spill`, `campaign-spill/*`,
/// `campaign-spill-random/*`): the campaign the calibration compares as a distribution.
pub fn spill_campaign() -> impl Iterator<Item = &'static str> {
    std::iter::once("spill")
        .chain(CAMPAIGN)
        .chain(CAMPAIGN_RANDOM)
}

/// Every recording the calibration table lists, in its order.
pub fn every_recording() -> impl Iterator<Item = &'static str> {
    (RUNS.iter())
        .chain(&CAMPAIGN)
        .chain(&CAMPAIGN_RANDOM)
        .chain(&OOM_OR_EVICT)
        .chain(&HELD_OUT)
        .copied()
}

/// One table: its rows as header → cell.
pub type Table = Vec<BTreeMap<String, String>>;

#[derive(Debug, Clone)]
pub struct Truth {
    pub name: String,
    /// `oomsday run` started and exited (run-meta.json).
    pub run_started: Timestamp,
    pub run_exited: Timestamp,
    /// The date of the run, for the `HH:MM:SS.mmm` received times of the tables.
    date: String,
    /// "## Key facts": fact, (received, detail), in the table's order: a fact may recur (a node
    /// under MemoryPressure again).
    facts: Vec<(String, (String, String))>,
    tables: BTreeMap<String, Table>,
}

/// A leaker container start, an OOM kill or an eviction, as the truth lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFact {
    pub pod: String,
    pub container: String,
    /// The object's own time (startedAt, finishedAt, the DisruptionTarget condition's).
    pub at: Timestamp,
    pub target: bool,
}

fn ts(s: &str) -> Timestamp {
    s.trim()
        .parse()
        .unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

impl Truth {
    /// The truth of the fixture recording `name` (its path under the real runs).
    pub fn load(name: &str) -> Truth {
        Truth::read(&runs_dir().join(name), name.to_string())
    }

    /// The truth of the recording in `dir`, one the live suite just made, named by its folder.
    pub fn load_dir(dir: &std::path::Path) -> Truth {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Truth::read(dir, name)
    }

    fn read(dir: &std::path::Path, name: String) -> Truth {
        let md = std::fs::read_to_string(dir.join("TRUTH.md")).expect("TRUTH.md");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("run-meta.json")).expect("run-meta.json"),
        )
        .expect("run-meta.json is JSON");
        let run_started = ts(meta["oomsdayRunStarted"].as_str().expect("started"));
        let run_exited = ts(meta["oomsdayRunExited"].as_str().expect("exited"));
        let date = run_started.strftime("%Y-%m-%d").to_string();
        let tables = parse_tables(&md);
        let facts = tables
            .get("Key facts")
            .expect("a Key facts table")
            .iter()
            .map(|r| {
                (
                    r["fact"].clone(),
                    (
                        r["received (UTC)"].clone(),
                        r["object time / detail"].clone(),
                    ),
                )
            })
            .collect();
        Truth {
            name,
            run_started,
            run_exited,
            date,
            facts,
            tables,
        }
    }

    /// A `HH:MM:SS.mmm` received time of the tables as a timestamp.
    pub fn received(&self, hms: &str) -> Timestamp {
        ts(&format!("{}T{}Z", self.date, hms.trim()))
    }

    /// The first row of fact `name`.
    fn fact(&self, name: &str) -> Option<&(String, String)> {
        self.facts.iter().find(|(f, _)| f == name).map(|(_, v)| v)
    }

    /// When a fact was received, if the truth has it with a time.
    pub fn fact_received(&self, name: &str) -> Option<Timestamp> {
        self.fact(name)
            .filter(|(r, _)| r.contains(':'))
            .map(|(r, _)| self.received(r))
    }

    pub fn table(&self, section: &str) -> &[BTreeMap<String, String>] {
        self.tables.get(section).map_or(&[], Vec::as_slice)
    }

    /// Every distinct leaker container start.
    pub fn leaker_starts(&self) -> Vec<PodFact> {
        self.table("Leaker container starts")
            .iter()
            .map(|r| PodFact {
                pod: r["pod"].clone(),
                container: r["container"].clone(),
                at: ts(&r["startedAt"]),
                target: true,
            })
            .collect()
    }

    /// The truth's "OOM kills" that are not the kernel's: containers that ended otherwise (not
    /// exit 137) with reason OOMKilled. See [`Truth::oom_kills`].
    pub fn oom_reasons_without_a_kill(&self) -> usize {
        self.table("OOM kills").len() - self.oom_kills().len()
    }

    /// Every OOM kill by the kernel: the truth's "OOM kills" (distinct finishedAt with reason
    /// OOMKilled) that ended on the SIGKILL, exit 137. The truth also lists containers that
    /// stopped otherwise with that reason (exit 0): on cgroup v1, containerd keeps OOMKilled for
    /// every container below a cgroup that ran out (`spill-fast`'s evicted bystander; see
    /// `kubernetes-v1.32/pod-evicted-flagged-oomkilled.json`), and oomsday counts only the kills.
    pub fn oom_kills(&self) -> Vec<PodFact> {
        self.table("OOM kills")
            .iter()
            .filter(|r| r.get("exitCode").map(String::as_str) == Some("137"))
            .map(|r| PodFact {
                pod: r["pod"].clone(),
                container: r["container"].clone(),
                at: ts(&r["finishedAt"]),
                target: r["target?"] == "target",
            })
            .collect()
    }

    fn disruptions(&self, kind: &str) -> Vec<PodFact> {
        self.table("Evictions")
            .iter()
            .filter(|r| r.get("kind").map(String::as_str) == Some(kind))
            .map(|r| PodFact {
                // "bf/checkout-…": the namespace is the target's in every recording.
                pod: r["pod"].rsplit('/').next().unwrap_or_default().to_string(),
                container: String::new(),
                at: ts(&r["lastTransitionTime"]),
                target: r["target?"] == "target",
            })
            .collect()
    }

    /// Kubelet evictions: pods with a DisruptionTarget condition, at its lastTransitionTime.
    pub fn evictions(&self) -> Vec<PodFact> {
        self.disruptions("eviction")
    }

    /// The count of kubelet admission rejections (phase Failed, reason Evicted, no
    /// DisruptionTarget): the key fact reads "N (target T, bystander B)".
    pub fn admission_rejections(&self) -> u32 {
        let (_, detail) = self
            .fact(
                "kubelet admission rejections (phase Failed, reason Evicted, no DisruptionTarget)",
            )
            .expect("the admission rejections fact");
        detail
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    }

    /// Node MemoryPressure transitions during the recording: (node, status, lastTransitionTime).
    pub fn memory_pressure(&self) -> Vec<(String, bool, Timestamp)> {
        let mut out = Vec::new();
        for (fact, (_, detail)) in &self.facts {
            let Some(rest) = fact.strip_prefix("node ") else {
                continue;
            };
            let Some((node, status)) = rest.split_once(" MemoryPressure=") else {
                continue;
            };
            let at = detail
                .strip_prefix("lastTransitionTime ")
                .and_then(|d| d.split_whitespace().next())
                .map(ts)
                .expect("lastTransitionTime");
            out.push((node.to_string(), status == "True", at));
        }
        out.sort_by_key(|(_, _, at)| *at);
        out
    }

    /// Seconds below the PDB's budget while `oomsday run` ran, and the fewest healthy pods.
    pub fn below_budget(&self) -> (f64, u32) {
        let (_, detail) = self
            .fact("time below the PDB budget (currentHealthy < desiredHealthy)")
            .expect("the below-budget fact");
        let secs: f64 = detail
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("seconds");
        let fewest = detail
            .split("(fewest healthy ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|s| s.parse().ok())
            .expect("fewest healthy");
        (secs, fewest)
    }

    /// The revert as received, when the Deployment's template lost the leaker.
    pub fn revert(&self) -> Option<Timestamp> {
        self.fact_received("revert applied")
    }

    /// The injection as received (the template change, or the first ephemeral leaker).
    pub fn injection(&self) -> Timestamp {
        self.fact_received("injection applied")
            .expect("the injection fact")
    }

    /// Seconds from the revert to all replicas ready on the reverted template.
    pub fn recovery(&self) -> Option<f64> {
        let (_, detail) = self.fact("all replicas ready on the reverted template")?;
        detail
            .split("all ready) ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
    }

    /// The most one leaker held (its own metric, 1 s scrapes).
    pub fn peak_leaked_bytes(&self) -> u64 {
        let (_, detail) = self
            .fact("peak leaked bytes (oomsday_leaker_allocated_bytes, 1 s scrapes)")
            .expect("the peak fact");
        detail
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("bytes")
    }
}

/// Every `## Section` whose body starts with a Markdown table: its rows as header → cell.
fn parse_tables(md: &str) -> BTreeMap<String, Table> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    let mut header: Option<Vec<String>> = None;
    let mut rows: Table = Vec::new();
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner.split('|').map(|c| c.trim().to_string()).collect()
    };
    for line in md.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            if header.take().is_some() {
                let rows = std::mem::take(&mut rows);
                out.entry(std::mem::take(&mut section)).or_insert(rows);
            }
            section = title.trim().to_string();
            continue;
        }
        if !line.starts_with('|') {
            // Only a section's first table: later ones (the Evicted events under
            // "Evictions") are detail.
            if header.take().is_some() {
                let rows = std::mem::take(&mut rows);
                out.entry(section.clone()).or_insert(rows);
            }
            continue;
        }
        match &header {
            None => header = Some(cells(line)),
            Some(_) if line.starts_with("| ---") => {}
            Some(h) => {
                let row = cells(line);
                rows.push(h.iter().cloned().zip(row).collect());
            }
        }
    }
    if header.is_some() {
        out.entry(section).or_insert(rows);
    }
    out
}

/// Recording `name` replayed through the engine as `oomsday replay` does it: its experiment and
/// the run's record.
pub async fn replay(name: &str) -> (oomsday::engine::ExperimentRef, oomsday::engine::RunRecord) {
    use oomsday::engine::{self, ExperimentRef, RunOptions};
    let recording = oomsday::recording::read(&runs_dir().join(name)).expect("the recording reads");
    let mut cluster = oomsday::cluster::ReplayCluster::new(recording).expect("a replay");
    let exp = ExperimentRef::from(
        cluster
            .experiment()
            .cloned()
            .expect("the recording names its experiment"),
    );
    let record = engine::run_unattended(
        &mut cluster,
        &exp,
        &RunOptions::new(format!("{name}-replay")),
    )
    .await
    .expect("the replay runs");
    (exp, record)
}
