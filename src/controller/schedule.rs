//! When a scheduled experiment runs: pure functions of the spec, the experiment's status, the
//! runs in progress and an injected `now`. The reconciler does the I/O and requeues itself at
//! the next fire time; nothing here reads a clock.
//!
//! # Rules
//! - Cron has six fields, seconds first (`0 0 3 * * Tue`), read in `timeZone` (IANA).
//! - **Daylight saving.** A fixed-time run whose local time does not exist (02:30 on a
//!   spring-forward day in Europe/Berlin) fires **once, at the first valid time after the gap**
//!   (03:00 local). A fixed-time run whose local time happens twice (fall back) fires **once, at
//!   the first of the two**. Interval patterns (`0 */15 * * * *`) skip the instants that do not
//!   exist and, in the repeated hour, fire only for the first pass. This is croner's behaviour,
//!   pinned by the tests below.
//! - **Blackout** windows are dates in the time zone, inclusive at both ends: a fire time whose
//!   local date is inside one does not start a run and is recorded as skipped (`Blackout`).
//! - **Anchor.** `status.nextRunTime` is the fire time the controller last promised. When `now`
//!   has reached it, every fire time from it up to `now` is due. This is what makes missed runs
//!   visible after the controller was down: no in-memory timer state is needed.
//! - **Starting deadline.** Of the due fire times, only the latest may start, and only if it is
//!   at most `startingDeadline` late (default [`DEFAULT_STARTING_DEADLINE`]: a controller that was
//!   down for a day must not start a game day at a random hour). Every other due time is recorded
//!   as `MissedDeadline`.
//! - **Suspend.** No next time is computed; a due time reached while suspended is recorded as
//!   `Suspended`.
//! - **Concurrency.** `Forbid`: a run of the same experiment is active → skip (`ConcurrencyForbid`).
//!   `Replace`: abort the active run(s) of the experiment first; the new run starts once they
//!   are finished (the anchor is held, so the starting deadline still applies). `Allow`: side
//!   by side — but whatever the policy, never two leaks on one workload: an active run of any
//!   experiment on the same target makes the run skip (`TargetBusy`).

use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use jiff::civil::Date;

use crate::observe::Time;
use crate::spec::{ConcurrencyPolicy, LeakExperimentStatus, Schedule, SkippedRun, WorkloadRef};

/// Deadline for a late start when the spec sets none.
pub const DEFAULT_STARTING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);
/// How many skipped runs `status.skipped` keeps.
pub const SKIPPED_LIMIT: usize = 10;
/// Bound on fire times enumerated in one decision (a per-second cron after a long outage).
const MAX_ENUMERATED: usize = 10_000;

/// Why a due run did not start (the `reason` in `status.skipped`).
pub use crate::spec::SkipReason;

/// A schedule that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule.cron {cron:?}: {detail}")]
    Cron { cron: String, detail: String },
    #[error("schedule.timeZone {0:?} is not an IANA time zone")]
    TimeZone(String),
    #[error("schedule.blackout {0:?}: {1}")]
    Blackout(String, String),
    #[error("no fire time of {0:?} can be computed after {1}")]
    NoNextTime(String, Time),
}

/// A run that is not finished, as the scheduler needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    /// The LeakRun's name.
    pub name: String,
    /// The experiment it belongs to (same namespace as the target).
    pub experiment: String,
    pub target: WorkloadRef,
}

/// A parsed, checked schedule.
#[derive(Debug, Clone)]
pub struct CompiledSchedule {
    cron: Cron,
    cron_text: String,
    tz: Tz,
    blackout: Vec<(Date, Date)>,
    suspend: bool,
    policy: ConcurrencyPolicy,
    starting_deadline: std::time::Duration,
}

/// Parses a six-field cron (seconds first), exactly as `oomsday validate` does.
pub fn parse_cron(text: &str) -> Result<Cron, ScheduleError> {
    crate::spec::parse_cron(text).map_err(|detail| ScheduleError::Cron {
        cron: text.to_string(),
        detail,
    })
}

/// Parses one blackout entry (`YYYY-MM-DD` or `YYYY-MM-DD/YYYY-MM-DD`, inclusive), exactly as
/// `oomsday validate` does.
pub fn parse_blackout(text: &str) -> Result<(Date, Date), ScheduleError> {
    crate::spec::parse_blackout(text)
        .map_err(|detail| ScheduleError::Blackout(text.to_string(), detail))
}

fn to_chrono(t: Time) -> DateTime<Utc> {
    let nanos = t.as_nanosecond();
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    // jiff's range is inside chrono's, so this cannot fail; fall back to the epoch to stay total.
    DateTime::from_timestamp(secs, sub).unwrap_or_default()
}

fn from_chrono<T: TimeZone>(t: &DateTime<T>) -> Time {
    let secs = t.timestamp();
    let nanos = t.timestamp_subsec_nanos() as i32;
    Time::new(secs, nanos).unwrap_or(Time::UNIX_EPOCH)
}

impl CompiledSchedule {
    /// Checks and compiles a spec's schedule.
    pub fn compile(s: &Schedule) -> Result<Self, ScheduleError> {
        let cron = parse_cron(&s.cron)?;
        let tz = Tz::from_str(s.time_zone.trim())
            .map_err(|_| ScheduleError::TimeZone(s.time_zone.clone()))?;
        let blackout = s
            .blackout
            .iter()
            .map(|b| parse_blackout(b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledSchedule {
            cron,
            cron_text: s.cron.clone(),
            tz,
            blackout,
            suspend: s.suspend,
            policy: s.concurrency_policy,
            starting_deadline: s
                .starting_deadline
                .map(|d| d.std())
                .unwrap_or(DEFAULT_STARTING_DEADLINE),
        })
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: Time) -> Result<Time, ScheduleError> {
        let no_next = || ScheduleError::NoNextTime(self.cron_text.clone(), t);
        // Cron has whole seconds; a sub-second part would be carried into the result.
        let whole = Time::from_second(t.as_second()).map_err(|_| no_next())?;
        let mut from = to_chrono(whole).with_timezone(&self.tz);
        // croner searches in local wall-clock time: started inside a repeated (fall-back) hour it
        // can return the *first* pass of a local time, an instant before `t`. Re-anchor on the
        // second pass of that local time and search on; the naive time grows, so this ends.
        for _ in 0..4 {
            let n = self
                .cron
                .find_next_occurrence(&from, false)
                .map_err(|_| no_next())?;
            let at = from_chrono(&n);
            if at > t {
                return Ok(at);
            }
            from = self
                .tz
                .from_local_datetime(&n.naive_local())
                .latest()
                .ok_or_else(no_next)?;
        }
        Err(no_next())
    }

    /// Whether a fire time falls on a blackout date (in the schedule's zone).
    pub fn in_blackout(&self, t: Time) -> bool {
        let local = to_chrono(t).with_timezone(&self.tz).date_naive();
        // chrono's calendar fields always fit jiff's; the fallback is never reached.
        let Ok(local) = Date::new(local.year() as i16, local.month() as i8, local.day() as i8)
        else {
            return false;
        };
        self.blackout
            .iter()
            .any(|(start, end)| *start <= local && local <= *end)
    }

    /// Fire times from `anchor` (itself a fire time, included) up to `now` inclusive, oldest
    /// first, the oldest dropped beyond [`MAX_ENUMERATED`].
    fn due_times(&self, anchor: Time, now: Time) -> Result<Vec<Time>, ScheduleError> {
        let mut out = std::collections::VecDeque::new();
        let mut t = anchor;
        while t <= now {
            if out.len() == MAX_ENUMERATED {
                out.pop_front();
            }
            out.push_back(t);
            t = self.next_after(t)?;
        }
        Ok(out.into())
    }
}

/// What the scheduler wants done now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleAction {
    /// Nothing to start.
    Idle,
    /// Start a run for this fire time.
    Start { due: Time },
    /// Abort these runs of the experiment; the run for `due` starts once they are finished.
    Replace { due: Time, abort: Vec<String> },
}

/// The outcome of one scheduling decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDecision {
    pub action: ScheduleAction,
    /// Newly skipped fire times, most recent first.
    pub skipped: Vec<(Time, SkipReason)>,
    /// What `status.nextRunTime` becomes; the reconciler requeues for it.
    pub next_run_time: Option<Time>,
}

impl ScheduleDecision {
    fn idle(next: Option<Time>) -> Self {
        ScheduleDecision {
            action: ScheduleAction::Idle,
            skipped: Vec::new(),
            next_run_time: next,
        }
    }
}

/// Decides what the schedule of experiment `namespace/name` (targeting `target`) wants at
/// `now`, given its status and every unfinished run the controller knows of.
pub fn decide_schedule(
    schedule: Option<&Schedule>,
    name: &str,
    target: &WorkloadRef,
    status: &LeakExperimentStatus,
    active: &[ActiveRun],
    now: Time,
) -> Result<ScheduleDecision, ScheduleError> {
    let Some(schedule) = schedule else {
        return Ok(ScheduleDecision::idle(None));
    };
    let s = CompiledSchedule::compile(schedule)?;
    let anchor = status.next_run_time;

    if s.suspend {
        let mut d = ScheduleDecision::idle(None);
        if let Some(a) = anchor.filter(|a| *a <= now) {
            d.skipped.push((a, SkipReason::Suspended));
        }
        return Ok(d);
    }

    // Nothing promised yet (a new experiment, just resumed), or the promise is still ahead:
    // (re)compute it from now, which also follows an edited cron.
    let anchor = match anchor {
        Some(a) if a <= now => a,
        _ => return Ok(ScheduleDecision::idle(Some(s.next_after(now)?))),
    };

    let due = s.due_times(anchor, now)?;
    let Some((&latest, older)) = due.split_last() else {
        return Ok(ScheduleDecision::idle(Some(s.next_after(now)?)));
    };
    let mut skipped: Vec<(Time, SkipReason)> = older
        .iter()
        .rev()
        .take(SKIPPED_LIMIT)
        .map(|t| (*t, SkipReason::MissedDeadline))
        .collect();
    let next = s.next_after(now)?;
    let (action, reason) = due_action(&s, latest, name, target, active, now);
    if let Some(r) = reason {
        skipped.insert(0, (latest, r));
    }
    let next_run_time = match action {
        // Hold the anchor so the run starts once the replaced run is finished.
        ScheduleAction::Replace { .. } => Some(latest),
        _ => Some(next),
    };
    Ok(ScheduleDecision {
        action,
        skipped,
        next_run_time,
    })
}

/// What to do about the latest due fire time, and why it is skipped when it is.
fn due_action(
    s: &CompiledSchedule,
    latest: Time,
    name: &str,
    target: &WorkloadRef,
    active: &[ActiveRun],
    now: Time,
) -> (ScheduleAction, Option<SkipReason>) {
    let late = now.duration_since(latest);
    let deadline =
        jiff::SignedDuration::try_from(s.starting_deadline).unwrap_or(jiff::SignedDuration::MAX);
    if late > deadline {
        return (ScheduleAction::Idle, Some(SkipReason::MissedDeadline));
    }
    if s.in_blackout(latest) {
        return (ScheduleAction::Idle, Some(SkipReason::Blackout));
    }
    let own: Vec<&ActiveRun> = active
        .iter()
        .filter(|r| r.experiment == name && r.target.namespace == target.namespace)
        .collect();
    let others_on_target = active
        .iter()
        .any(|r| r.target == *target && !own.iter().any(|o| o.name == r.name));
    if others_on_target {
        return (ScheduleAction::Idle, Some(SkipReason::TargetBusy));
    }
    concurrency_action(s.policy, &own, latest)
}

/// What the concurrency policy allows when the target is otherwise free.
fn concurrency_action(
    policy: ConcurrencyPolicy,
    own: &[&ActiveRun],
    latest: Time,
) -> (ScheduleAction, Option<SkipReason>) {
    match policy {
        _ if own.is_empty() => (ScheduleAction::Start { due: latest }, None),
        ConcurrencyPolicy::Forbid => (ScheduleAction::Idle, Some(SkipReason::ConcurrencyForbid)),
        ConcurrencyPolicy::Replace => (
            ScheduleAction::Replace {
                due: latest,
                abort: own.iter().map(|r| r.name.clone()).collect(),
            },
            None,
        ),
        // Allow, but an own run is on this very target (an experiment has one target): that
        // would be two leaks on one workload.
        ConcurrencyPolicy::Allow => (ScheduleAction::Idle, Some(SkipReason::TargetBusy)),
    }
}

/// Whether a manual trigger (`oomsday.dev/run-now`) may start now: `Err(reason)` when a run on
/// the same workload is active (whatever the experiment).
pub fn decide_manual(target: &WorkloadRef, active: &[ActiveRun]) -> Result<(), SkipReason> {
    if active.iter().any(|r| r.target == *target) {
        Err(SkipReason::TargetBusy)
    } else {
        Ok(())
    }
}

/// `status.skipped` after recording `new` (most recent first), bounded to [`SKIPPED_LIMIT`].
pub fn merge_skipped(old: &[SkippedRun], new: &[(Time, SkipReason)]) -> Vec<SkippedRun> {
    let mut out: Vec<SkippedRun> = new
        .iter()
        .map(|(t, r)| SkippedRun {
            due: *t,
            reason: *r,
        })
        .collect();
    for s in old {
        if !out.iter().any(|o| o.due == s.due) {
            out.push(s.clone());
        }
    }
    out.truncate(SKIPPED_LIMIT);
    out
}

#[cfg(test)]
mod tests;
