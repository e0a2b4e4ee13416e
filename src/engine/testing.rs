//! A scripted [`Cluster`] for tests of the driver (and of anything that runs it, such as the
//! controller): observations laid out on a virtual clock, and failures on demand. Every call is
//! logged so tests can assert what the engine did, in order.

use std::collections::VecDeque;

use crate::observe::{Observation, Time};
use crate::spec::InjectionRecord;

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

/// A fake cluster on a virtual clock.
#[derive(Debug)]
pub struct ScriptedCluster {
    pub now: Time,
    /// Observations still to be delivered, in time order.
    pub script: VecDeque<Observation>,
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
    /// Every call, in order: "preflight", "inject", "revert", "observe".
    pub calls: Vec<String>,
    /// The records `revert` was called with.
    pub reverted: Vec<InjectionRecord>,
    /// The plan `inject` was called with.
    pub plan: Option<InjectionPlan>,
}

impl ScriptedCluster {
    /// A cluster at `now` that will deliver `script` (sorted here by time).
    pub fn new(now: Time, mut script: Vec<Observation>) -> Self {
        script.sort_by_key(|o| o.at);
        ScriptedCluster {
            now,
            script: script.into(),
            preflight: Script::Ok,
            inject: Script::Ok,
            inject_secs: 0,
            reverts: VecDeque::new(),
            observe_fails_at: None,
            observe_hangs_at: None,
            calls: Vec::new(),
            reverted: Vec::new(),
            plan: None,
        }
    }

    /// How many times `name` was called.
    pub fn count(&self, name: &str) -> usize {
        self.calls.iter().filter(|c| *c == name).count()
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
        self.now
    }
    async fn preflight(&mut self, plan: &InjectionPlan) -> crate::Result<Defences> {
        self.calls.push("preflight".into());
        act(&self.preflight).await?;
        Ok(Defences {
            namespace: plan.namespace.clone(),
            kind: plan.spec.target.kind,
            name: plan.spec.target.name.clone(),
            replicas: 4,
            ..Defences::default()
        })
    }
    async fn inject(&mut self, plan: &InjectionPlan) -> crate::Result<InjectionRecord> {
        self.calls.push("inject".into());
        self.plan = Some(plan.clone());
        act(&self.inject).await?;
        self.now = self
            .now
            .saturating_add(jiff::SignedDuration::from_secs(self.inject_secs))
            .unwrap_or(self.now);
        let mut record = plan.record();
        record.pods = vec!["checkout-1".into()];
        Ok(record)
    }
    async fn revert(&mut self, record: &InjectionRecord) -> crate::Result<()> {
        self.calls.push("revert".into());
        self.reverted.push(record.clone());
        let script = self.reverts.pop_front().unwrap_or(Script::Ok);
        act(&script).await
    }
    async fn observe(&mut self, until: Time) -> crate::Result<Vec<Observation>> {
        self.calls.push("observe".into());
        if self.observe_hangs_at.is_some_and(|h| self.now >= h) {
            std::future::pending::<()>().await;
        }
        if self.observe_fails_at.is_some_and(|f| self.now >= f) {
            return Err(crate::Error::Invalid("watch pods: connection reset".into()));
        }
        // Like the simulator: jump to the next scripted moment, or to `until`.
        let next = self.script.front().map(|o| o.at).filter(|at| *at <= until);
        let Some(at) = next else {
            self.now = self.now.max(until);
            return Ok(Vec::new());
        };
        if let Some(h) = self.observe_hangs_at.filter(|h| *h <= at) {
            self.now = self.now.max(h);
            return Ok(Vec::new());
        }
        if let Some(f) = self.observe_fails_at.filter(|f| *f <= at) {
            self.now = self.now.max(f);
            return Ok(Vec::new());
        }
        self.now = self.now.max(at);
        let mut out = Vec::new();
        while self.script.front().is_some_and(|o| o.at <= at) {
            if let Some(o) = self.script.pop_front() {
                out.push(o);
            }
        }
        Ok(out)
    }
}
