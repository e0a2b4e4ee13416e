//! [`ReplayCluster`]: a recorded run behind the engine's seam, on a virtual clock.
//!
//! The third implementation of [`Cluster`], beside the real cluster and the simulator. It feeds
//! a [`Recording`] — every watch event as it was received, the leakers' samples — to the same
//! [`Ingest`] the live observer uses, at the times they were received, so the same engine,
//! scorer and reports judge it as they would have judged the live run. A team re-scores old
//! runs after a scoring change, and a recording travels with a bug report.
//!
//! The injection and the revert happen when the recording says: oomsday's own recordings carry
//! the run's phases (Injecting, Leaking — the change accepted —, Recovering — the revert
//! accepted), so a replay of one reproduces the live run's timeline; in a recording made beside
//! a run they are read from the objects: the first change of the workload's generation whose
//! template gains the leaker container (ephemeral mode: the first pod whose spec gains an
//! ephemeral leaker), and the next one that loses it. The engine's own calls move the clock
//! there. Nothing is sent anywhere.

use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use crate::defences::Defences;
use crate::engine::{Cluster, InjectionPlan};
use crate::inject;
use crate::observe::classify::{Object, TargetRef};
use crate::observe::{Delivery, Ingest, Observation, Time};
use crate::recording::{
    Entry, RecordedExperiment, Recording, WatchLine, WatchType, kind_of, leaker_bytes, object_of,
};
use crate::spec::{Injected, InjectionMode, RunReason, TargetKind};
use crate::{Error, Result};

/// How far past a deadline the recorded run's engine may have woken to note it.
const RECORDED_WAKE: std::time::Duration = std::time::Duration::from_secs(1);

/// The recorded run's own decision to revert.
#[derive(Debug, Clone)]
struct RecordedDecision {
    at: Time,
    reason: Option<RunReason>,
    note: String,
}

/// A recorded run, replayed.
#[derive(Debug)]
pub struct ReplayCluster {
    source: String,
    entries: Vec<Entry>,
    /// The next entry not yet delivered.
    next: usize,
    now: Time,
    experiment: Option<RecordedExperiment>,
    recorded_defences: Option<Defences>,
    ingest: Option<Ingest>,
    namespace: String,
    pending: Vec<Observation>,
    /// When the recording shows the injection and the revert, and the pods an ephemeral leaker
    /// went into.
    injected: Option<Time>,
    reverted: Option<Time>,
    ephemeral: Option<(String, Vec<String>)>,
    /// The recorded run's own milestones: it began injecting, the injection and the revert were
    /// accepted.
    recorded_injecting: Option<Time>,
    recorded_injected: Option<Time>,
    recorded_reverted: Option<Time>,
    /// The recorded run's decision to revert (its Reverting note): when, why (when recorded)
    /// and its words. An API server that was down then made the revert itself come later.
    recorded_reverting: Option<RecordedDecision>,
    /// Today's engine reverted; the recorded revert was told (once).
    engine_reverted: bool,
    revert_told: bool,
}

impl ReplayCluster {
    /// A replay of `recording`, its clock at the recorded run's start (else its first line).
    pub fn new(recording: Recording) -> Result<Self> {
        let start = recording
            .run_started
            .or_else(|| recording.entries.first().map(Entry::received))
            .ok_or_else(|| {
                Error::Invalid(format!("{}: the recording is empty", recording.source))
            })?;
        let recorded_defences = recording.defences().cloned();
        let recorded_injecting = recording.phase_at(crate::spec::Phase::Injecting);
        let recorded_injected = recording.phase_at(crate::spec::Phase::Leaking);
        let recorded_reverted = recording.phase_at(crate::spec::Phase::Recovering);
        let recorded_reverting = recording
            .phase_note(crate::spec::Phase::Reverting)
            .map(|r| RecordedDecision {
                at: r.received,
                reason: r.run.reason,
                note: r.run.detail.clone(),
            });
        Ok(ReplayCluster {
            source: recording.source,
            entries: recording.entries,
            next: 0,
            now: start,
            experiment: recording.experiment,
            recorded_defences,
            ingest: None,
            namespace: String::new(),
            pending: Vec::new(),
            injected: None,
            reverted: None,
            ephemeral: None,
            recorded_injecting,
            recorded_injected,
            recorded_reverted,
            recorded_reverting,
            engine_reverted: false,
            revert_told: false,
        })
    }

    /// The experiment the recording says it ran, if it says.
    pub fn experiment(&self) -> Option<&RecordedExperiment> {
        self.experiment.as_ref()
    }

    fn invalid(&self, message: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {message}", self.source))
    }

    /// Delivers every entry received up to `t` (inclusive) and moves the clock there; what it
    /// adds waits in `pending`.
    fn advance_to(&mut self, t: Time) -> Result<()> {
        while self
            .entries
            .get(self.next)
            .is_some_and(|e| e.received() <= t)
        {
            let obs = self.deliver_next()?;
            self.pending.extend(obs);
        }
        self.now = self.now.max(t);
        Ok(())
    }

    /// Delivers the next entry to the ingest at its received time.
    fn deliver_next(&mut self) -> Result<Vec<Observation>> {
        let Some(entry) = self.entries.get(self.next) else {
            return Ok(Vec::new());
        };
        self.next += 1;
        let received = entry.received();
        self.now = self.now.max(received);
        let (stream, delivery) = match entry {
            Entry::Watch(w) => match self.delivery(w)? {
                Some(d) => d,
                None => return Ok(Vec::new()),
            },
            Entry::Leaker(l) if l.namespace == self.namespace => match leaker_bytes(&l.metrics) {
                Some(bytes) => (
                    "leaker-metrics",
                    Delivery::LeakerBytes {
                        pod: l.pod.clone(),
                        bytes,
                    },
                ),
                None => return Ok(Vec::new()),
            },
            Entry::Leaker(_) | Entry::Run(_) => return Ok(Vec::new()),
        };
        let Some(ingest) = self.ingest.as_mut() else {
            return Ok(Vec::new());
        };
        Ok(ingest.take(stream, received, delivery))
    }

    fn delivery<'w>(&self, w: &'w WatchLine) -> Result<Option<(&'w str, Delivery)>> {
        let Some(kind) = kind_of(&w.resource) else {
            return Ok(None);
        };
        let stream = w.stream();
        if w.kind == WatchType::Bookmark {
            return Ok(Some((stream, Delivery::ListDone(kind))));
        }
        if w.kind == WatchType::Error {
            let message = w.object["message"].as_str().unwrap_or("watch failed");
            return Ok(Some((stream, Delivery::Failed(message.to_string()))));
        }
        let Some(obj) = object_of(w) else {
            return Ok(None);
        };
        let mut obj = obj.map_err(|e| {
            self.invalid(format!(
                "a {} object received at {}: {e}",
                w.resource, w.received
            ))
        })?;
        // As the live watches do before the classifier sees it.
        obj.strip();
        Ok(Some((
            stream,
            match w.kind {
                WatchType::Deleted => Delivery::Delete(Box::new(obj)),
                _ => Delivery::Apply(Box::new(obj)),
            },
        )))
    }

    /// The target workload as last received up to `t`.
    fn workload_at(&self, kind: TargetKind, ns: &str, name: &str, t: Time) -> Option<Object> {
        let resource = match kind {
            TargetKind::Deployment => "deployments",
            TargetKind::StatefulSet => "statefulsets",
        };
        self.entries
            .iter()
            .take_while(|e| e.received() <= t)
            .filter_map(|e| match e {
                Entry::Watch(w)
                    if w.resource == resource
                        && w.kind != WatchType::Deleted
                        && w.kind.carries_object() =>
                {
                    object_of(w).and_then(|o| o.ok())
                }
                _ => None,
            })
            .filter(|o| same_object(o, ns, name))
            .last()
    }

    /// Every object of a resource as last received up to `t`, by uid.
    fn latest<T: serde::de::DeserializeOwned + kube::Resource>(
        &self,
        resource: &str,
        t: Time,
    ) -> Vec<T> {
        let mut by_uid: std::collections::BTreeMap<String, Option<T>> = Default::default();
        for e in self.entries.iter().take_while(|e| e.received() <= t) {
            let Entry::Watch(w) = e else { continue };
            if w.resource != resource || !w.kind.carries_object() {
                continue;
            }
            let Ok(obj) = T::deserialize(&w.object) else {
                continue;
            };
            let uid = obj.meta().uid.clone().unwrap_or_default();
            let keep = (w.kind != WatchType::Deleted).then_some(obj);
            by_uid.insert(uid, keep);
        }
        by_uid.into_values().flatten().collect()
    }

    /// When the recording shows the injection and the revert, for `plan`'s target.
    fn find_injection(&mut self, plan: &InjectionPlan) {
        let t = &plan.spec.target;
        let ns = plan.namespace.as_str();
        match plan.spec.injection.mode {
            InjectionMode::Sidecar => {
                let resource = match t.kind {
                    TargetKind::Deployment => "deployments",
                    TargetKind::StatefulSet => "statefulsets",
                };
                let mut last_generation = None;
                for e in &self.entries {
                    let Entry::Watch(w) = e else { continue };
                    if w.resource != resource || !w.kind.carries_object() {
                        continue;
                    }
                    let Some(Ok(o)) = object_of(w) else { continue };
                    if !same_object(&o, ns, &t.name) {
                        continue;
                    }
                    let (generation, leaker) = generation_and_leaker(&o);
                    let changed = last_generation.is_some_and(|g| g != generation);
                    last_generation = Some(generation);
                    if !changed {
                        continue;
                    }
                    match (self.injected, leaker) {
                        (None, true) => self.injected = Some(w.received),
                        (Some(_), false) if self.reverted.is_none() => {
                            self.reverted = Some(w.received);
                        }
                        _ => {}
                    }
                }
            }
            InjectionMode::Ephemeral => {
                let mut pods = Vec::new();
                let mut container = None;
                for e in &self.entries {
                    let Entry::Watch(w) = e else { continue };
                    if w.resource != "pods" || !w.kind.carries_object() {
                        continue;
                    }
                    let Ok(p) = serde_json::from_value::<Pod>(w.object.clone()) else {
                        continue;
                    };
                    if p.namespace().as_deref() != Some(ns) {
                        continue;
                    }
                    let leaker = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.ephemeral_containers.as_ref())
                        .into_iter()
                        .flatten()
                        .find(|c| crate::keys::is_leaker(&c.name));
                    if let Some(c) = leaker {
                        self.injected.get_or_insert(w.received);
                        container.get_or_insert_with(|| c.name.clone());
                        if !pods.contains(&p.name_any()) {
                            pods.push(p.name_any());
                        }
                    }
                }
                self.ephemeral = container.map(|c| (c, pods));
            }
        }
    }
}

impl ReplayCluster {
    /// When the recorded run decided to revert: its Reverting note, else (a recording made
    /// beside a run) when its objects show the leaker taken out.
    fn recorded_decision_at(&self) -> Option<Time> {
        self.recorded_reverting
            .as_ref()
            .map(|d| d.at)
            .or(self.reverted)
    }

    /// The recorded revert at `at`, with the recorded run's note (or, in a recording made
    /// beside a run, what its objects show) and what today's oomsday did.
    fn recorded_revert_at(&self, at: Time, today: String) -> Observation {
        let (reason, note) = self.recorded_reverting.as_ref().map_or_else(
            || {
                (
                    None,
                    format!(
                        "the leaker left the template at {}, by the recorded objects",
                        at.strftime("%H:%M:%S")
                    ),
                )
            },
            |d| (d.reason, d.note.clone()),
        );
        // Without a recorded reason: a revert within 2 s of the recorded experiment's own
        // deadline was its duration running out; anything else stays unknown.
        let reason = reason.or_else(|| {
            let duration = self.experiment.as_ref()?.spec.duration.std();
            let deadline = crate::engine::add(self.injected?, duration);
            (at.duration_since(deadline).unsigned_abs() <= std::time::Duration::from_secs(2))
                .then_some(RunReason::DurationElapsed)
        });
        Observation::new(
            at,
            crate::observe::Happening::RecordedRevert {
                reason,
                note,
                today,
            },
        )
    }
}

fn same_object(o: &Object, ns: &str, name: &str) -> bool {
    let meta = match o {
        Object::Deployment(d) => &d.metadata,
        Object::StatefulSet(s) => &s.metadata,
        _ => return false,
    };
    meta.namespace.as_deref() == Some(ns) && meta.name.as_deref() == Some(name)
}

fn template_of(o: &Object) -> Option<&PodTemplateSpec> {
    match o {
        Object::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
        Object::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
        _ => None,
    }
}

fn generation_and_leaker(o: &Object) -> (i64, bool) {
    let generation = match o {
        Object::Deployment(d) => d.metadata.generation,
        Object::StatefulSet(s) => s.metadata.generation,
        _ => None,
    };
    let leaker = template_of(o)
        .and_then(|t| t.spec.as_ref())
        .is_some_and(|s| s.containers.iter().any(|c| crate::keys::is_leaker(&c.name)));
    (generation.unwrap_or(0), leaker)
}

impl Cluster for ReplayCluster {
    fn describe(&self) -> String {
        format!("replay of {}", self.source)
    }

    fn simulated(&self) -> bool {
        false
    }

    fn now(&self) -> Time {
        self.now
    }

    async fn preflight(&mut self, plan: &InjectionPlan) -> Result<Defences> {
        let t = &plan.spec.target;
        let ns = plan.namespace.as_str();
        let start = plan.started;
        let workload = self
            .workload_at(t.kind, ns, &t.name, start)
            .or_else(|| self.workload_at(t.kind, ns, &t.name, Time::MAX))
            .ok_or_else(|| Error::NotFound {
                kind: t.kind.as_str().into(),
                namespace: ns.into(),
                name: t.name.clone(),
            })?;
        let (replicas, selector, template) = match &workload {
            Object::Deployment(d) => {
                let s = d.spec.clone().unwrap_or_default();
                (s.replicas, s.selector, s.template)
            }
            Object::StatefulSet(st) => {
                let s = st.spec.clone().unwrap_or_default();
                (s.replicas, s.selector, s.template)
            }
            _ => return Err(self.invalid("the target is not a workload")),
        };
        let target = TargetRef::new(ns, t.kind, &t.name, selector, Some(&template))?;
        // oomsday's own recordings carry the defences it read; a recording made beside a run
        // gives the workload, its budgets and the nodes (no LimitRanges or HPAs were watched).
        let defences = match &self.recorded_defences {
            Some(d) => d.clone(),
            None => {
                let pdbs: Vec<PodDisruptionBudget> = self
                    .latest::<PodDisruptionBudget>("poddisruptionbudgets", start)
                    .into_iter()
                    .filter(|p| p.namespace().as_deref() == Some(ns))
                    .collect();
                let nodes: Vec<Node> = self.latest("nodes", start);
                Defences {
                    namespace: ns.to_string(),
                    kind: t.kind,
                    name: t.name.clone(),
                    replicas: replicas.and_then(|r| u32::try_from(r).ok()).unwrap_or(1),
                    pdbs: super::kube::matching_pdbs(pdbs, Some(&template)),
                    template: Some(template),
                    limit_ranges: Vec::new(),
                    hpas: Vec::new(),
                    node_allocatable: super::kube::node_allocatable(&nodes),
                    node_capacity: crate::objects::node_capacity(&nodes),
                    nodes: Vec::new(),
                }
            }
        };
        self.namespace = ns.to_string();
        self.ingest = Some(Ingest::new(target, start));
        self.find_injection(plan);
        // oomsday's own milestones, where the recording has them, are when it happened.
        self.injected = self.recorded_injected.or(self.injected);
        self.reverted = self.recorded_reverted.or(self.reverted);
        // What the watches would list when they start: everything received so far; the
        // preflight took until the recorded run began injecting.
        self.advance_to(self.recorded_injecting.unwrap_or(start).max(start))?;
        Ok(defences)
    }

    async fn inject(&mut self, plan: &InjectionPlan) -> Result<Injected> {
        let t = &plan.spec.target;
        let at = self.injected.ok_or_else(|| {
            self.invalid(format!(
                "the recording shows no {} leaker put into {} {}/{}",
                match plan.spec.injection.mode {
                    InjectionMode::Sidecar => "sidecar",
                    InjectionMode::Ephemeral => "ephemeral",
                },
                t.kind.as_str(),
                plan.namespace,
                t.name
            ))
        })?;
        self.advance_to(at)?;
        let mut record = inject::sidecar_record(plan);
        if let Some((container, pods)) = &self.ephemeral {
            record.mode = InjectionMode::Ephemeral;
            record.container = container.clone();
            record.pods = pods.clone();
        }
        Ok(record)
    }

    async fn revert(&mut self, _record: &Injected) -> Result<()> {
        // The revert happened when the recording shows it (the run's own revert, a moment
        // after its deadline); without one (ephemeral leakers end by themselves), now.
        self.engine_reverted = true;
        let decided = self.now;
        if let Some(at) = self.reverted.filter(|at| *at > self.now) {
            self.advance_to(at)?;
            // Today's oomsday decided to revert before the recorded run did: say so, once,
            // where the recording reverted (beyond the moment the recorded engine woke to note
            // it; a revert the API server kept waiting is the same decision).
            let recorded_decision = self.recorded_decision_at().unwrap_or(at);
            if recorded_decision.duration_since(decided).unsigned_abs() > RECORDED_WAKE
                && recorded_decision > decided
                && !self.revert_told
            {
                self.revert_told = true;
                let today = format!(
                    "today's oomsday decided to revert {} earlier, at {}; the replay follows \
                     the recording and measures recovery from its revert",
                    humantime::format_duration(std::time::Duration::from_secs(
                        recorded_decision
                            .duration_since(decided)
                            .unsigned_abs()
                            .as_secs()
                    )),
                    decided.strftime("%H:%M:%S")
                );
                let obs = self.recorded_revert_at(at, today);
                self.pending.push(obs);
            }
        }
        Ok(())
    }

    async fn observe(&mut self, until: Time) -> Result<Vec<Observation>> {
        // Where the recorded run decided to revert before today's deadline, deliver up to that
        // moment only: if today's oomsday, having seen all of it, still leaks, the replay
        // follows the recording there and says so.
        let recorded_decision = self
            .recorded_decision_at()
            // Strictly before: at the deadline itself the two decisions agree.
            .filter(|at| *at < until && !self.engine_reverted && !self.revert_told)
            .filter(|_| self.injected.is_some_and(|i| i <= self.now));
        let until = recorded_decision.map_or(until, |at| at.min(until));
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        while let Some(next) = self.entries.get(self.next).map(Entry::received) {
            // Up to the recorded decision, not including what it did (a recording made beside
            // a run shows the revert only as the template losing the leaker, at that moment).
            if next > until || (recorded_decision.is_some() && next >= until) {
                break;
            }
            let obs = self.deliver_next()?;
            if !obs.is_empty() {
                return Ok(obs);
            }
        }
        if let Some(at) = recorded_decision {
            self.now = self.now.max(at);
            self.revert_told = true;
            let obs =
                self.recorded_revert_at(at, "today's oomsday had not reverted by then".to_string());
            return Ok(vec![obs]);
        }
        // Nothing more before `until`: time passes to it — or, in oomsday's own recording, to
        // when the recorded run's engine next noted a milestone just after it (it woke a moment
        // past `until`), so that the replay's milestones fall where the live run's did.
        let wake = match self.entries.get(self.next) {
            Some(Entry::Run(r))
                if r.received >= until
                    && r.received.duration_since(until).unsigned_abs() <= RECORDED_WAKE =>
            {
                r.received
            }
            _ => until,
        };
        self.now = self.now.max(wake);
        let due = self
            .ingest
            .as_mut()
            .map(|i| i.tick(self.now))
            .unwrap_or_default();
        Ok(due)
    }
}
