//! The leak loop: reads the clock, asks the plan what to hold, maps or unmaps, publishes and
//! reports, sleeps a tick. The only place where time passes.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::memory::{Held, own_rss};
use crate::plan::{Phase, Schedule, Step, next_step, tick};
use crate::report::{Snapshot, json_line};
use crate::server::Shared;

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGTERM or SIGINT.
    Signalled,
    /// The deadline passed and `--exit-at-deadline` was given.
    Deadline,
}

/// Everything the loop needs besides the clock.
pub struct Leak<'a> {
    pub schedule: Schedule,
    pub chunk: u64,
    pub report_interval: Duration,
    pub exit_at_deadline: bool,
    pub deadline_unix: f64,
    pub stop: &'a AtomicBool,
    pub shared: &'a Shared,
}

/// How often an allocation failure is logged: it repeats every tick otherwise.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Leak<'_> {
    /// Runs until a signal, or the deadline with `exit_at_deadline`. Everything is unmapped
    /// before it returns.
    pub fn run(&self, started: Instant, out: &mut dyn Write) -> Exit {
        let mut held = Held::default();
        let mut next_report = started;
        let mut last_error: Option<Instant> = None;
        let expires_at = started + self.schedule.expires_after;
        loop {
            let tick_start = Instant::now();
            let (phase, target) = self
                .schedule
                .at(tick_start.saturating_duration_since(started));
            if let Err(e) = self.adjust(&mut held, phase, target)
                && last_error.is_none_or(|t| tick_start.duration_since(t) >= ERROR_LOG_INTERVAL)
            {
                eprintln!(
                    "oomsday-leaker: cannot map more memory ({e}); holding {} bytes",
                    held.bytes()
                );
                last_error = Some(tick_start);
            }
            self.shared.publish(target, held.bytes(), phase);

            let stopped = self.stop.load(Ordering::SeqCst);
            let done = stopped || (phase == Phase::Expired && self.exit_at_deadline);
            if done {
                held.free_all();
                self.shared.publish(target, 0, phase);
            }
            let now = Instant::now();
            if done || now >= next_report {
                let snap = self.snapshot(
                    now.saturating_duration_since(started),
                    target,
                    held.bytes(),
                    phase,
                );
                // stdout may be closed; the leak goes on regardless.
                let _ = writeln!(out, "{}", json_line(&snap));
                let _ = out.flush();
                next_report += self.report_interval;
                if next_report <= now {
                    // Fell behind (a long allocation): report on the interval from now.
                    next_report = now + self.report_interval;
                }
            }
            if done {
                return if stopped {
                    Exit::Signalled
                } else {
                    Exit::Deadline
                };
            }

            // From the tick's start, not from now: when allocating took a whole tick the loop is
            // behind the curve and must not sleep on top of it.
            let mut wake = (tick_start + tick(phase, &self.schedule.curve)).min(next_report);
            if phase != Phase::Expired {
                wake = wake.min(expires_at);
            }
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }

    /// Maps or unmaps until the plan says hold, checking for a stop between regions so a large
    /// step cannot delay SIGTERM.
    fn adjust(&self, held: &mut Held, phase: Phase, target: u64) -> std::io::Result<()> {
        let settled = phase == Phase::Holding;
        while !self.stop.load(Ordering::SeqCst) {
            match next_step(target, held.bytes(), held.regions(), self.chunk, settled) {
                Step::Grow(n) => held.grow(n)?,
                Step::Shrink => held.shrink(),
                Step::Hold => break,
            }
        }
        Ok(())
    }

    fn snapshot(&self, elapsed: Duration, target: u64, allocated: u64, phase: Phase) -> Snapshot {
        Snapshot {
            elapsed,
            target,
            allocated,
            rss: own_rss(),
            phase,
            deadline_unix: self.deadline_unix,
        }
    }
}
