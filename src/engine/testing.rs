//! A scripted [`Cluster`] for tests of the driver and of anything that runs it (the CLI, the
//! controller): observations laid out in time, some dated from the injection, and failures on
//! demand. Every call is logged, in a log a test can share with the cluster, so it can assert
//! what the engine did, in order, even when a factory (the controller's executor) owns the
//! cluster.
//!
//! Compiled for the unit tests and, behind the `testing` cargo feature, for the integration
//! tests and benches (the package is its own dev-dependency with that feature); a release build
//! does not contain it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::SignedDuration;

use crate::observe::{Happening, Observation, Time};
use crate::spec::Injected;

use super::{Cluster, InjectionPlan};
use crate::defences::Defences;

/// What a scripted step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Succeed.
    Ok,
    /// Fail with this message.
    Fail(String),
    /// Never return (until the engine drops the call).
    Hang,
}

/// Whose time a scripted cluster keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Its own, virtual: `observe` jumps straight to the next scripted moment (or to its
    /// `until`), as the simulator does, so a run of hours takes milliseconds and always goes
    /// the same way.
    #[default]
    Virtual,
    /// The wall clock: `now` is the real time and `observe` waits, for real, for the next
    /// scripted moment. Only for tests against something that keeps real time itself, such as
    /// a real Prometheus whose alerts fire on its own clock.
    Wall,
}

/// One call the engine made: its name ("preflight", "inject", "revert", "observe") and the run
/// it was for (the plan's or the record's run id; `observe` names none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: &'static str,
    pub run_id: Option<String>,
}

/// Every call, in order. Clones share one log: a test keeps a clone, hands another to the
/// cluster (or to each cluster a factory makes, see [`ScriptedCluster::logging_to`]) and reads
/// it while and after they run.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    fn push(&self, name: &'static str, run_id: Option<&str>) {
        self.lock().push(Call {
            name,
            run_id: run_id.map(String::from),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        // A test that panicked while holding the lock left a log that is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The calls so far.
    pub fn all(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// The calls' names so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.lock().iter().map(|c| c.name).collect()
    }

    /// How many times `name` was called.
    pub fn count(&self, name: &str) -> usize {
        self.lock().iter().filter(|c| c.name == name).count()
    }

    /// Whether a leak is in place: the last inject or revert asked for was an inject (a
    /// workload's fake metrics follow this).
    pub fn leaking(&self) -> bool {
        self.lock()
            .iter()
            .rev()
            .find(|c| matches!(c.name, "inject" | "revert"))
            .is_some_and(|c| c.name == "inject")
    }
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.lock().iter()).finish()
    }
}

/// A fake cluster whose observations are scripted in time.
#[derive(Debug)]
pub struct ScriptedCluster {
    /// The time, on the [`Clock::Virtual`] clock (unused on the wall clock).
    pub now: Time,
    pub clock: Clock,
    /// Observations still to be delivered, in time order.
    pub script: VecDeque<Observation>,
    /// Events delivered this long after a successful injection, whenever the run gets there
    /// (a leak's effects follow the injection).
    pub after_inject: Vec<(SignedDuration, Happening)>,
    pub preflight: Script,
    pub inject: Script,
    /// How long a successful inject takes (a rollout).
    pub inject_secs: i64,
    /// Outcomes of successive revert calls; once empty, reverts succeed.
    pub reverts: VecDeque<Script>,
    /// Fail `observe` once the clock reaches this time.
    pub observe_fails_at: Option<Time>,
    /// `observe` never returns once the clock reaches this time.
    pub observe_hangs_at: Option<Time>,
    /// Every call, in order.
    pub calls: Calls,
    /// The records `revert` was called with.
    pub reverted: Vec<Injected>,
    /// The plan `inject` was called with.
    pub plan: Option<InjectionPlan>,
}

impl ScriptedCluster {
    /// A cluster at `now` on a virtual clock that will deliver `script` (sorted here by time).
    pub fn new(now: Time, mut script: Vec<Observation>) -> Self {
        script.sort_by_key(|o| o.at);
        ScriptedCluster {
            now,
            clock: Clock::Virtual,
            script: script.into(),
            after_inject: Vec::new(),
            preflight: Script::Ok,
            inject: Script::Ok,
            inject_secs: 0,
            reverts: VecDeque::new(),
            observe_fails_at: None,
            observe_hangs_at: None,
            calls: Calls::default(),
            reverted: Vec::new(),
            plan: None,
        }
    }

    /// The same, on the wall clock (see [`Clock::Wall`]): `script` is dated in real time.
    pub fn on_wall_clock(script: Vec<Observation>) -> Self {
        ScriptedCluster {
            clock: Clock::Wall,
            ..ScriptedCluster::new(Time::now(), script)
        }
    }

    /// Also delivers `event` `after` the injection succeeded.
    pub fn after_inject(mut self, after: SignedDuration, event: Happening) -> Self {
        self.after_inject.push((after, event));
        self
    }

    /// Logs every call to `calls` (shared with whoever holds a clone).
    pub fn logging_to(mut self, calls: &Calls) -> Self {
        self.calls = calls.clone();
        self
    }

    /// How many times `name` was called.
    pub fn count(&self, name: &str) -> usize {
        self.calls.count(name)
    }

    /// Moves the clock on to `to`: at once on the virtual clock, by waiting on the wall clock.
    async fn advance(&mut self, to: Time) {
        match self.clock {
            Clock::Virtual => self.now = self.now.max(to),
            Clock::Wall => {
                let left = to.duration_since(Time::now());
                if let Ok(left) = std::time::Duration::try_from(left) {
                    tokio::time::sleep(left).await;
                }
            }
        }
    }

    /// The [`Self::after_inject`] events, dated from an injection at `at`, into the script.
    fn schedule_after_inject(&mut self, at: Time) {
        let dated = self
            .after_inject
            .iter()
            .map(|(after, e)| Observation::new(at.saturating_add(*after).unwrap_or(at), e.clone()));
        let mut script: Vec<Observation> = self.script.drain(..).chain(dated).collect();
        // Stable: what was scripted for the same moment keeps its order.
        script.sort_by_key(|o| o.at);
        self.script = script.into();
    }
}

async fn act(script: &Script) -> crate::Result<()> {
    match script {
        Script::Ok => Ok(()),
        Script::Fail(m) => Err(crate::Error::Invalid(m.clone())),
        Script::Hang => std::future::pending().await,
    }
}

impl Cluster for ScriptedCluster {
    fn describe(&self) -> String {
        "scripted".into()
    }
    fn simulated(&self) -> bool {
        true
    }
    fn now(&self) -> Time {
        match self.clock {
            Clock::Virtual => self.now,
            Clock::Wall => Time::now(),
        }
    }
    async fn preflight(&mut self, plan: &InjectionPlan) -> crate::Result<Defences> {
        self.calls.push("preflight", Some(&plan.run_id));
        act(&self.preflight).await?;
        Ok(Defences {
            namespace: plan.namespace.clone(),
            kind: plan.spec.target.kind,
            name: plan.spec.target.name.clone(),
            replicas: 4,
            ..Defences::default()
        })
    }
    async fn inject(&mut self, plan: &InjectionPlan) -> crate::Result<Injected> {
        self.calls.push("inject", Some(&plan.run_id));
        self.plan = Some(plan.clone());
        act(&self.inject).await?;
        let done = self
            .now()
            .saturating_add(SignedDuration::from_secs(self.inject_secs))
            .unwrap_or(self.now());
        self.advance(done).await;
        self.schedule_after_inject(self.now());
        let mut record = plan.record();
        record.pods = vec!["checkout-1".into()];
        Ok(record)
    }
    async fn revert(&mut self, record: &Injected) -> crate::Result<()> {
        self.calls.push("revert", Some(&record.run_id));
        self.reverted.push(record.clone());
        let script = self.reverts.pop_front().unwrap_or(Script::Ok);
        act(&script).await
    }
    async fn observe(&mut self, until: Time) -> crate::Result<Vec<Observation>> {
        self.calls.push("observe", None);
        let now = self.now();
        if self.observe_hangs_at.is_some_and(|h| now >= h) {
            std::future::pending::<()>().await;
        }
        if self.observe_fails_at.is_some_and(|f| now >= f) {
            return Err(crate::Error::Invalid("watch pods: connection reset".into()));
        }
        // Like the simulator: on to the next scripted moment, or to `until`.
        let next = self.script.front().map(|o| o.at).filter(|at| *at <= until);
        let Some(at) = next else {
            self.advance(until).await;
            return Ok(Vec::new());
        };
        if let Some(h) = self.observe_hangs_at.filter(|h| *h <= at) {
            self.advance(h).await;
            return Ok(Vec::new());
        }
        if let Some(f) = self.observe_fails_at.filter(|f| *f <= at) {
            self.advance(f).await;
            return Ok(Vec::new());
        }
        self.advance(at).await;
        let mut out = Vec::new();
        while self.script.front().is_some_and(|o| o.at <= at) {
            if let Some(o) = self.script.pop_front() {
                out.push(o);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::t;

    fn plan() -> InjectionPlan {
        InjectionPlan {
            run_id: "bf-1".into(),
            namespace: "shop".into(),
            spec: crate::score::testkit::spec(serde_json::json!({})),
            deadline: t(600),
            started: t(0),
        }
    }

    #[tokio::test]
    async fn events_after_the_injection_are_dated_from_it_in_a_log_shared_with_the_test() {
        let calls = Calls::default();
        let mut c = ScriptedCluster::new(
            t(0),
            vec![Observation::new(t(50), Happening::workload(4, 4))],
        )
        .logging_to(&calls)
        .after_inject(SignedDuration::from_secs(10), Happening::workload(4, 3));
        c.inject_secs = 30;
        assert!(!calls.leaking());
        let record = c.inject(&plan()).await.unwrap();
        assert_eq!(c.now(), t(30));
        assert!(calls.leaking());
        // The injection's event at t(40) comes before the one scripted for t(50).
        let first = c.observe(t(100)).await.unwrap();
        assert_eq!(first, [Observation::new(t(40), Happening::workload(4, 3))]);
        let second = c.observe(t(100)).await.unwrap();
        assert_eq!(second, [Observation::new(t(50), Happening::workload(4, 4))]);
        assert!(c.observe(t(100)).await.unwrap().is_empty());
        assert_eq!(c.now(), t(100));
        c.revert(&record).await.unwrap();
        assert!(!calls.leaking());
        assert_eq!(
            calls.names(),
            ["inject", "observe", "observe", "observe", "revert"]
        );
        assert!(
            calls
                .all()
                .iter()
                .filter(|c| c.name != "observe")
                .all(|c| c.run_id.as_deref() == Some("bf-1"))
        );
    }
}
