//! The clock: virtual seconds, timers, and the step that visits what can change.

use super::*;

impl World {
    /// The virtual time of internal second `t`.
    pub fn time_of(&self, t: u64) -> Time {
        let secs = t.saturating_sub(T0).min(i64::MAX as u64 / 2) as i64;
        self.start
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(self.start)
    }

    /// The internal second of a virtual time (rounded up, never before now).
    pub fn second_of(&self, at: Time) -> u64 {
        let d = at.duration_since(self.start);
        let secs = d.as_secs() + i64::from(d.subsec_nanos() > 0);
        T0.saturating_add_signed(secs.max(0))
    }

    pub fn now(&self) -> Time {
        self.time_of(self.clock)
    }

    pub(super) fn emit(&mut self, t: u64, event: Happening) {
        self.emit_ms(t * 1000, event);
    }

    /// The instant `ms` into step `t`, the step that ends at second `t` (internal ms): where a
    /// kubelet loop's moment within the second falls.
    pub(super) fn in_step(t: u64, ms: u64) -> u64 {
        t.saturating_sub(1) * 1000 + ms
    }

    /// Emits a fact at instant `ms` of the current step as a real watch reports it: at the time
    /// its object carries, which Kubernetes writes in whole seconds, truncated (a container's
    /// `startedAt` and `finishedAt`, a condition's `lastTransitionTime`, an eviction's
    /// `DisruptionTarget`). Samples of status without a time (the workload's Ready count, a
    /// PDB's) are stamped when received: [`Self::emit_ms`].
    pub(super) fn emit_stamped(&mut self, ms: u64, event: Happening) {
        self.observe(ms / 1000 * 1000, ms, event);
    }

    /// Emits at instant `ms` of the current step (no later than its end); the step's
    /// observations are put in time order when it ends.
    pub(super) fn emit_ms(&mut self, ms: u64, event: Happening) {
        self.observe(ms, ms, event);
    }

    /// Records a fact stamped at `stamp_ms` that happened at `happened_ms`.
    fn observe(&mut self, stamp_ms: u64, happened_ms: u64, event: Happening) {
        if !self.quiet {
            let secs = stamp_ms / 1000;
            let at = self
                .time_of(secs)
                .checked_add(jiff::SignedDuration::from_millis((stamp_ms % 1000) as i64))
                .unwrap_or_else(|_| self.time_of(secs));
            self.observations.push(Observation::new(at, event));
            self.instants.push(happened_ms);
        }
    }

    /// The evictions whose kill ended in step `t`: seen now, stamped with the kill's end.
    fn report_kills(&mut self, t: u64) {
        if self.kills.is_empty() {
            return;
        }
        let (ended, going): (Vec<_>, Vec<_>) = std::mem::take(&mut self.kills)
            .into_iter()
            .partition(|(ms, _)| *ms < t * 1000);
        self.kills = going;
        for (ms, fact) in ended {
            self.emit_stamped(ms, fact);
        }
    }

    pub(super) fn timer(&mut self, at: u64, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    /// Runs until something was observed or `until` (an internal second) is reached.
    pub fn advance(&mut self, until: u64) {
        while self.observations.is_empty() && self.clock < until {
            if self.quiescent() {
                let next = self
                    .timers
                    .peek()
                    .map_or(until, |Reverse((at, _, _))| *at)
                    .min(until);
                if next > self.clock + 1 {
                    self.clock = next - 1;
                }
            }
            self.step();
        }
    }

    pub(super) fn quiescent(&self) -> bool {
        self.dynamic.is_empty()
            && self.watched.is_empty()
            && self.pending.is_empty()
            && self.workloads.iter().all(|w| !w.dirty)
            && self.hpas.is_empty()
            && self.kills.is_empty()
    }

    pub(super) fn step(&mut self) {
        self.clock += 1;
        let t = self.clock;
        self.step_from = self.observations.len();
        self.instants.clear();
        self.drain_timers(t);
        self.report_kills(t);
        self.update_dynamic();
        self.post_statuses_due(t);
        self.check_nodes();
        self.housekeeping();
        if !self.hpas.is_empty() && t.is_multiple_of(15) {
            self.autoscale();
        }
        self.reconcile_workloads();
        // A post later in the second than the node's synchronize carries what that decided.
        // It comes after the scheduler placed this second's pods (as the recorded replacement
        // was, 150 ms before the taint), unless it comes before the replacements for evicted
        // pods reach the scheduler: their kills take 0.3–1.4 s, and the taint it brings turns
        // them away (`campaign-spill-random`'s spill-r10, r11, r20 and r22).
        let late = std::mem::take(&mut self.status_late);
        let replacement = if late.is_empty() {
            None
        } else {
            self.first_replacement_ms(t)
        };
        let (before, after): (Vec<NodeId>, Vec<NodeId>) = late.into_iter().partition(|&n| {
            replacement.is_some_and(|r| World::in_step(t, self.nodes[n].status_ms) < r)
        });
        for n in before {
            self.post_node_status(n, t);
        }
        self.schedule();
        for n in after {
            self.post_node_status(n, t);
        }
        self.report_status();
        // Within the step, by stamp, and facts of the same stamp in the order they happened
        // (stable: the same instant keeps the order it was emitted in).
        let from = self.step_from.min(self.observations.len());
        debug_assert_eq!(self.instants.len(), self.observations.len() - from);
        let mut this: Vec<(u64, Observation)> = (self.instants.drain(..))
            .zip(self.observations.drain(from..))
            .collect();
        this.sort_by_key(|(ms, o)| (o.at, *ms));
        self.observations.extend(this.into_iter().map(|(_, o)| o));
    }

    pub(super) fn drain_timers(&mut self, t: u64) {
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > t {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::CtrStart { pod, ctr, epoch } => {
                    let p = &self.pods[pod];
                    let ok = p.phase == PodPhase::Bound
                        && p.ctrs[ctr].epoch == epoch
                        && p.node.is_some_and(|n| self.nodes[n].kubelet_alive);
                    if let (true, CState::Waiting { until_ms }) = (ok, p.ctrs[ctr].state) {
                        // A start the kubelet could not make on time (it was away) is now.
                        let at_ms = until_ms.clamp((at - 1) * 1000 + 1, at * 1000);
                        self.start_container(pod, ctr, at_ms);
                    }
                }
                Timer::KubeletRestart { node, inc } => {
                    if self.nodes[node].incarnation == inc {
                        self.try_kubelet_restart(node, at);
                    }
                }
                Timer::NodeGrace { node, inc } => {
                    if self.nodes[node].incarnation == inc && !self.nodes[node].kubelet_alive {
                        self.node_not_ready(node, at);
                    }
                }
                Timer::TaintEvict { node, inc } => {
                    if self.nodes[node].incarnation == inc && self.nodes[node].not_ready {
                        self.taint_evict(node, at);
                    }
                }
                Timer::NodeStatus { node } => self.status_due.push(node),
            }
        }
    }
}
