//! The controller's Prometheus metrics, rendered by hand in the text exposition format (0.0.4):
//! runs by outcome, last score per experiment, active injections, reconcile errors and
//! durations. A handful of series does not need a metrics library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the reconcile duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Inner {
    /// (namespace, experiment, phase, verdict) → count.
    runs: BTreeMap<(String, String, String, String), u64>,
    /// (namespace, experiment) → last score.
    last_score: BTreeMap<(String, String), u32>,
    active_injections: u64,
    /// (controller, error kind) → count.
    errors: BTreeMap<(String, String), u64>,
    /// controller → (bucket counts, count, sum).
    durations: BTreeMap<String, ([u64; BUCKETS.len()], u64, f64)>,
    leader: bool,
}

/// Shared, thread-safe metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run finished with this phase and verdict (and score, when it was scored).
    pub fn run_finished(
        &self,
        namespace: &str,
        experiment: &str,
        phase: &str,
        verdict: &str,
        score: Option<u32>,
    ) {
        let mut m = self.lock();
        *m.runs
            .entry((
                namespace.into(),
                experiment.into(),
                phase.into(),
                verdict.into(),
            ))
            .or_default() += 1;
        if let Some(s) = score {
            m.last_score
                .insert((namespace.into(), experiment.into()), s);
        }
    }

    /// The last score of an experiment, as read back from its status (after a restart).
    pub fn set_last_score(&self, namespace: &str, experiment: &str, score: u32) {
        self.lock()
            .last_score
            .insert((namespace.into(), experiment.into()), score);
    }

    /// Forgets a deleted experiment's score.
    pub fn forget(&self, namespace: &str, experiment: &str) {
        self.lock()
            .last_score
            .remove(&(namespace.to_string(), experiment.to_string()));
    }

    /// Injections this replica currently has in place.
    pub fn set_active_injections(&self, n: usize) {
        self.lock().active_injections = n as u64;
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.lock().leader = leader;
    }

    /// A reconcile failed.
    pub fn reconcile_error(&self, controller: &str, kind: &str) {
        *self
            .lock()
            .errors
            .entry((controller.into(), kind.into()))
            .or_default() += 1;
    }

    /// A reconcile took `d`.
    pub fn reconcile_duration(&self, controller: &str, d: Duration) {
        let secs = d.as_secs_f64();
        let mut m = self.lock();
        let e = m.durations.entry(controller.into()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                e.0[i] += 1;
            }
        }
        e.1 += 1;
        e.2 += secs;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut o = String::new();
        let _ = writeln!(o, "# HELP oomsday_runs_total Finished runs by outcome.");
        let _ = writeln!(o, "# TYPE oomsday_runs_total counter");
        for ((ns, exp, phase, verdict), n) in &m.runs {
            let _ = writeln!(
                o,
                "oomsday_runs_total{{namespace=\"{}\",experiment=\"{}\",phase=\"{}\",verdict=\"{}\"}} {n}",
                esc(ns),
                esc(exp),
                esc(phase),
                esc(verdict)
            );
        }
        let _ = writeln!(
            o,
            "# HELP oomsday_last_score Score (0-100) of the experiment's last scored run."
        );
        let _ = writeln!(o, "# TYPE oomsday_last_score gauge");
        for ((ns, exp), s) in &m.last_score {
            let _ = writeln!(
                o,
                "oomsday_last_score{{namespace=\"{}\",experiment=\"{}\"}} {s}",
                esc(ns),
                esc(exp)
            );
        }
        let _ = writeln!(
            o,
            "# HELP oomsday_active_injections Leaks this replica has in place."
        );
        let _ = writeln!(o, "# TYPE oomsday_active_injections gauge");
        let _ = writeln!(o, "oomsday_active_injections {}", m.active_injections);
        let _ = writeln!(
            o,
            "# HELP oomsday_leader Whether this replica holds the leader Lease."
        );
        let _ = writeln!(o, "# TYPE oomsday_leader gauge");
        let _ = writeln!(o, "oomsday_leader {}", u8::from(m.leader));
        let _ = writeln!(
            o,
            "# HELP oomsday_reconcile_errors_total Failed reconciles."
        );
        let _ = writeln!(o, "# TYPE oomsday_reconcile_errors_total counter");
        for ((c, k), n) in &m.errors {
            let _ = writeln!(
                o,
                "oomsday_reconcile_errors_total{{controller=\"{}\",error=\"{}\"}} {n}",
                esc(c),
                esc(k)
            );
        }
        let _ = writeln!(
            o,
            "# HELP oomsday_reconcile_duration_seconds Reconcile durations."
        );
        let _ = writeln!(o, "# TYPE oomsday_reconcile_duration_seconds histogram");
        for (c, (buckets, count, sum)) in &m.durations {
            let c = esc(c);
            for (le, n) in BUCKETS.iter().zip(buckets) {
                let _ = writeln!(
                    o,
                    "oomsday_reconcile_duration_seconds_bucket{{controller=\"{c}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "oomsday_reconcile_duration_seconds_bucket{{controller=\"{c}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                o,
                "oomsday_reconcile_duration_seconds_sum{{controller=\"{c}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "oomsday_reconcile_duration_seconds_count{{controller=\"{c}\"}} {count}"
            );
        }
        o
    }
}

/// Escapes a label value (backslash, quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::default();
        m.run_finished("shop", "lx", "Completed", "Passed", Some(82));
        m.run_finished("shop", "lx", "Completed", "Passed", Some(71));
        m.run_finished("shop", "lx", "Aborted", "Inconclusive", None);
        m.set_active_injections(1);
        m.reconcile_error("experiment", "kube");
        m.reconcile_duration("experiment", Duration::from_millis(30));
        m.set_leader(true);
        let t = m.render();
        assert!(t.contains(
            "oomsday_runs_total{namespace=\"shop\",experiment=\"lx\",phase=\"Completed\",verdict=\"Passed\"} 2"
        ));
        assert!(t.contains("oomsday_last_score{namespace=\"shop\",experiment=\"lx\"} 71"));
        assert!(t.contains("oomsday_active_injections 1"));
        assert!(t.contains("oomsday_leader 1"));
        assert!(t.contains(
            "oomsday_reconcile_errors_total{controller=\"experiment\",error=\"kube\"} 1"
        ));
        assert!(t.contains(
            "oomsday_reconcile_duration_seconds_bucket{controller=\"experiment\",le=\"0.025\"} 0"
        ));
        assert!(t.contains(
            "oomsday_reconcile_duration_seconds_bucket{controller=\"experiment\",le=\"0.05\"} 1"
        ));
        assert!(
            t.contains("oomsday_reconcile_duration_seconds_count{controller=\"experiment\"} 1")
        );
        // Every sample line belongs to a declared family.
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(t.contains(&format!("# TYPE {family} ")), "{line}");
        }
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
