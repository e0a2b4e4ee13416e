use super::*;
use crate::spec::TargetKind;
use crate::testkit::ts;
use oomsday_core::Duration;

fn sched(cron: &str, tz: &str) -> Schedule {
    Schedule {
        cron: cron.into(),
        time_zone: tz.into(),
        blackout: vec![],
        concurrency_policy: ConcurrencyPolicy::Forbid,
        history_limit: 10,
        starting_deadline: None,
        suspend: false,
    }
}

fn target(name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: "shop".into(),
        kind: TargetKind::Deployment,
        name: name.into(),
    }
}

fn run(name: &str, exp: &str, tgt: &str) -> ActiveRun {
    ActiveRun {
        name: name.into(),
        experiment: exp.into(),
        target: target(tgt),
    }
}

fn status_next(t: &str) -> LeakExperimentStatus {
    LeakExperimentStatus {
        next_run_time: Some(ts(t)),
        ..Default::default()
    }
}

fn nexts(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    let c = CompiledSchedule::compile(s).expect("compiles");
    let mut t = ts(from);
    (0..n)
        .map(|_| {
            t = c.next_after(t).expect("next");
            t.to_string()
        })
        .collect()
}

#[test]
fn next_fire_in_zone() {
    // 03:00 Berlin on Tuesdays; 2026-11-24 is a Tuesday (CET, UTC+1).
    let s = sched("0 0 3 * * Tue", "Europe/Berlin");
    assert_eq!(
        nexts(&s, "2026-11-23T00:00:00Z", 2),
        ["2026-11-24T02:00:00Z", "2026-12-01T02:00:00Z"]
    );
    // Exactly at a fire time: strictly after.
    assert_eq!(
        nexts(&s, "2026-11-24T02:00:00Z", 1),
        ["2026-12-01T02:00:00Z"]
    );
}

#[test]
fn the_weekly_game_day_example_schedules() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/weekly-game-day.yaml"
    );
    let text = std::fs::read_to_string(path).expect("example");
    let exp: crate::spec::LeakExperiment = serde_saphyr::from_str(&text).expect("parses");
    let s = exp.spec.schedule.expect("scheduled");
    // Tuesdays 03:00 Berlin: CET in winter (02:00Z), CEST in summer (01:00Z).
    assert_eq!(
        nexts(&s, "2026-11-23T00:00:00Z", 2),
        ["2026-11-24T02:00:00Z", "2026-12-01T02:00:00Z"]
    );
    assert_eq!(
        nexts(&s, "2027-06-01T12:00:00Z", 1),
        ["2027-06-08T01:00:00Z"]
    );
    let c = CompiledSchedule::compile(&s).expect("compiles");
    assert!(c.in_blackout(ts("2026-12-24T02:00:00Z")));
    // startingDeadline 15m: 14 minutes late still starts.
    let d = decide_schedule(
        Some(&s),
        "checkout-weekly-game-day",
        &target("checkout"),
        &status_next("2026-11-24T02:00:00Z"),
        &[],
        ts("2026-11-24T02:14:00Z"),
    )
    .expect("decides");
    assert!(matches!(d.action, ScheduleAction::Start { .. }));
}

#[test]
fn seconds_are_required() {
    assert!(parse_cron("0 3 * * *").is_err());
    assert!(parse_cron("*/10 * * * * *").is_ok());
    let bad = Schedule {
        time_zone: "Mars/Olympus".into(),
        ..sched("0 0 3 * * *", "UTC")
    };
    assert_eq!(
        CompiledSchedule::compile(&bad).err(),
        Some(ScheduleError::TimeZone("Mars/Olympus".into()))
    );
}

#[test]
fn spring_forward_gap_fires_once_at_first_valid_time() {
    // 2026-03-29 Europe/Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    let s = sched("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        nexts(&s, "2026-03-28T12:00:00Z", 3),
        [
            "2026-03-29T01:00:00Z", // 03:00 CEST, the first valid time after the gap
            "2026-03-30T00:30:00Z", // 02:30 CEST
            "2026-03-31T00:30:00Z",
        ]
    );
    // A daily run before the gap (02:30 the day before is CET).
    assert_eq!(
        nexts(&s, "2026-03-27T12:00:00Z", 1),
        ["2026-03-28T01:30:00Z"]
    );
}

#[test]
fn fall_back_overlap_fires_once_on_first_pass() {
    // 2026-10-25 Europe/Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    let s = sched("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        nexts(&s, "2026-10-24T12:00:00Z", 2),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    // Asked from inside the second pass of the repeated hour (02:10 CET = 01:10Z), after
    // the first-pass run: the next one is tomorrow, not the second 02:30.
    assert_eq!(
        nexts(&s, "2026-10-25T01:10:00Z", 1),
        ["2026-10-26T01:30:00Z"]
    );
}

#[test]
fn interval_pattern_skips_the_gap() {
    let s = sched("0 */30 * * * *", "Europe/Berlin");
    assert_eq!(
        nexts(&s, "2026-03-29T00:15:00Z", 3),
        [
            "2026-03-29T00:30:00Z", // 01:30 CET
            "2026-03-29T01:00:00Z", // 03:00 CEST (02:00 and 02:30 do not exist)
            "2026-03-29T01:30:00Z",
        ]
    );
}

#[test]
fn blackout_dates_are_inclusive_and_local() {
    let s = Schedule {
        blackout: vec!["2026-11-26/2026-11-30".into(), "2026-12-24".into()],
        ..sched("0 0 0 * * *", "Europe/Berlin")
    };
    let c = CompiledSchedule::compile(&s).expect("compiles");
    // 2026-11-25T23:30Z is 00:30 on the 26th in Berlin: inside.
    assert!(c.in_blackout(ts("2026-11-25T23:30:00Z")));
    assert!(!c.in_blackout(ts("2026-11-25T22:30:00Z")));
    assert!(c.in_blackout(ts("2026-11-30T22:59:59Z"))); // 23:59:59 on the 30th
    assert!(!c.in_blackout(ts("2026-11-30T23:00:00Z"))); // 00:00 on Dec 1st
    assert!(c.in_blackout(ts("2026-12-24T12:00:00Z")));
    assert!(parse_blackout("2026-12-02/2026-12-01").is_err());
    assert!(parse_blackout("tomorrow").is_err());
}

/// One row of the decision table.
struct Case {
    what: &'static str,
    schedule: Schedule,
    next_run_time: Option<&'static str>,
    active: Vec<ActiveRun>,
    now: &'static str,
    action: ScheduleAction,
    skipped: Vec<(&'static str, SkipReason)>,
    next: Option<&'static str>,
}

fn timing_cases(hourly: &Schedule) -> Vec<Case> {
    let with = |f: fn(&mut Schedule)| {
        let mut s = hourly.clone();
        f(&mut s);
        s
    };
    vec![
        Case {
            what: "new experiment: promise the next fire, start nothing",
            schedule: hourly.clone(),
            next_run_time: None,
            active: vec![],
            now: "2026-11-24T10:20:00Z",
            action: ScheduleAction::Idle,
            skipped: vec![],
            next: Some("2026-11-24T11:00:00Z"),
        },
        Case {
            what: "not yet due",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T10:59:59Z",
            action: ScheduleAction::Idle,
            skipped: vec![],
            next: Some("2026-11-24T11:00:00Z"),
        },
        Case {
            what: "due: start, promise the next",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:00:00.2Z",
            action: ScheduleAction::Start {
                due: ts("2026-11-24T11:00:00Z"),
            },
            skipped: vec![],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "controller was down: the latest due time within the deadline starts once, older ones are missed",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-24T08:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:04:00Z",
            action: ScheduleAction::Start {
                due: ts("2026-11-24T11:00:00Z"),
            },
            skipped: vec![
                ("2026-11-24T10:00:00Z", SkipReason::MissedDeadline),
                ("2026-11-24T09:00:00Z", SkipReason::MissedDeadline),
                ("2026-11-24T08:00:00Z", SkipReason::MissedDeadline),
            ],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "controller was down past the default deadline (5m): recorded as missed",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:05:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::MissedDeadline)],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "a longer startingDeadline still allows the late start",
            schedule: with(|s| s.starting_deadline = Some(Duration::from_secs(1800))),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:29:00Z",
            action: ScheduleAction::Start {
                due: ts("2026-11-24T11:00:00Z"),
            },
            skipped: vec![],
            next: Some("2026-11-24T12:00:00Z"),
        },
    ]
}

fn pause_cases(hourly: &Schedule) -> Vec<Case> {
    let with = |f: fn(&mut Schedule)| {
        let mut s = hourly.clone();
        f(&mut s);
        s
    };
    vec![
        Case {
            what: "blackout day: skipped and recorded",
            schedule: with(|s| s.blackout = vec!["2026-11-24".into()]),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::Blackout)],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "suspended: no promise, nothing recorded when nothing was due",
            schedule: with(|s| s.suspend = true),
            next_run_time: None,
            active: vec![],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![],
            next: None,
        },
        Case {
            what: "suspended after a promise came due: recorded once as Suspended",
            schedule: with(|s| s.suspend = true),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::Suspended)],
            next: None,
        },
    ]
}

fn concurrency_cases(hourly: &Schedule) -> Vec<Case> {
    let with = |f: fn(&mut Schedule)| {
        let mut s = hourly.clone();
        f(&mut s);
        s
    };
    vec![
        Case {
            what: "Forbid with an own run active: skip",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![run("lx-old", "lx", "checkout")],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::ConcurrencyForbid)],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "Replace with an own run active: abort it, hold the anchor",
            schedule: with(|s| s.concurrency_policy = ConcurrencyPolicy::Replace),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![run("lx-old", "lx", "checkout")],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Replace {
                due: ts("2026-11-24T11:00:00Z"),
                abort: vec!["lx-old".into()],
            },
            skipped: vec![],
            next: Some("2026-11-24T11:00:00Z"),
        },
        Case {
            what: "Replace once the old run is finished: start",
            schedule: with(|s| s.concurrency_policy = ConcurrencyPolicy::Replace),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![],
            now: "2026-11-24T11:01:00Z",
            action: ScheduleAction::Start {
                due: ts("2026-11-24T11:00:00Z"),
            },
            skipped: vec![],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "Allow, own run active on the same (only) target: never two leaks on one workload",
            schedule: with(|s| s.concurrency_policy = ConcurrencyPolicy::Allow),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![run("lx-old", "lx", "checkout")],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::TargetBusy)],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "Allow, another experiment runs on a different target: start",
            schedule: with(|s| s.concurrency_policy = ConcurrencyPolicy::Allow),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![run("other-1", "other", "cart")],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Start {
                due: ts("2026-11-24T11:00:00Z"),
            },
            skipped: vec![],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "another experiment leaks into the same workload: skip whatever the policy",
            schedule: with(|s| s.concurrency_policy = ConcurrencyPolicy::Replace),
            next_run_time: Some("2026-11-24T11:00:00Z"),
            active: vec![run("other-1", "other", "checkout")],
            now: "2026-11-24T11:00:01Z",
            action: ScheduleAction::Idle,
            skipped: vec![("2026-11-24T11:00:00Z", SkipReason::TargetBusy)],
            next: Some("2026-11-24T12:00:00Z"),
        },
        Case {
            what: "edited cron: a promise further ahead is recomputed",
            schedule: hourly.clone(),
            next_run_time: Some("2026-11-25T03:00:00Z"),
            active: vec![],
            now: "2026-11-24T10:20:00Z",
            action: ScheduleAction::Idle,
            skipped: vec![],
            next: Some("2026-11-24T11:00:00Z"),
        },
        Case {
            what: "an unreadable promise is recomputed, not trusted",
            schedule: hourly.clone(),
            next_run_time: Some("soon"),
            active: vec![],
            now: "2026-11-24T10:20:00Z",
            action: ScheduleAction::Idle,
            skipped: vec![],
            next: Some("2026-11-24T11:00:00Z"),
        },
    ]
}

#[test]
fn decision_table() {
    let hourly = sched("0 0 * * * *", "UTC");
    let cases = timing_cases(&hourly)
        .into_iter()
        .chain(pause_cases(&hourly))
        .chain(concurrency_cases(&hourly));
    for c in cases {
        // Read as the API returns it: an unreadable time is no promise.
        let status: LeakExperimentStatus =
            serde_json::from_value(serde_json::json!({"nextRunTime": c.next_run_time}))
                .expect("status");
        let d = decide_schedule(
            Some(&c.schedule),
            "lx",
            &target("checkout"),
            &status,
            &c.active,
            ts(c.now),
        )
        .expect(c.what);
        assert_eq!(d.action, c.action, "{}", c.what);
        let skipped: Vec<(Time, SkipReason)> = c.skipped.iter().map(|(t, r)| (ts(t), *r)).collect();
        assert_eq!(d.skipped, skipped, "{}", c.what);
        assert_eq!(d.next_run_time, c.next.map(ts), "{}", c.what);
    }
}

#[test]
fn no_schedule_no_decision() {
    let d = decide_schedule(
        None,
        "lx",
        &target("checkout"),
        &status_next("2026-11-24T11:00:00Z"),
        &[],
        ts("2026-11-24T12:00:00Z"),
    )
    .expect("decides");
    assert_eq!(d, ScheduleDecision::idle(None));
}

#[test]
fn dst_gap_run_is_due_at_the_snapped_time() {
    // The promise for the spring-forward day is 03:00 CEST; it is due then, exactly once.
    let s = sched("0 30 2 * * *", "Europe/Berlin");
    let status = status_next("2026-03-29T01:00:00Z");
    let d = decide_schedule(
        Some(&s),
        "lx",
        &target("checkout"),
        &status,
        &[],
        ts("2026-03-29T01:00:02Z"),
    )
    .expect("decides");
    assert_eq!(
        d.action,
        ScheduleAction::Start {
            due: ts("2026-03-29T01:00:00Z")
        }
    );
    assert_eq!(d.next_run_time, Some(ts("2026-03-30T00:30:00Z")));
}

#[test]
fn long_outage_with_dense_cron_is_bounded() {
    let s = sched("* * * * * *", "UTC");
    let d = decide_schedule(
        Some(&s),
        "lx",
        &target("checkout"),
        &status_next("2026-11-24T00:00:00Z"),
        &[],
        ts("2026-11-24T06:00:00Z"),
    )
    .expect("decides");
    assert_eq!(
        d.action,
        ScheduleAction::Start {
            due: ts("2026-11-24T06:00:00Z")
        }
    );
    assert_eq!(d.skipped.len(), SKIPPED_LIMIT);
    assert_eq!(d.skipped[0].0, ts("2026-11-24T05:59:59Z"));
}

#[test]
fn manual_trigger_refuses_a_busy_workload() {
    assert_eq!(decide_manual(&target("checkout"), &[]), Ok(()));
    assert_eq!(
        decide_manual(&target("checkout"), &[run("o-1", "other", "checkout")]),
        Err(SkipReason::TargetBusy)
    );
    assert_eq!(
        decide_manual(&target("checkout"), &[run("o-1", "other", "cart")]),
        Ok(())
    );
}

#[test]
fn skipped_is_bounded_and_newest_first() {
    let old: Vec<SkippedRun> = (0..10)
        .map(|i| SkippedRun {
            due: ts(&format!("2026-11-{:02}T00:00:00Z", 10 - i)),
            reason: SkipReason::Blackout,
        })
        .collect();
    let merged = merge_skipped(
        &old,
        &[(ts("2026-11-20T00:00:00Z"), SkipReason::ConcurrencyForbid)],
    );
    assert_eq!(merged.len(), SKIPPED_LIMIT);
    assert_eq!(merged[0].reason, SkipReason::ConcurrencyForbid);
    assert_eq!(merged[1].due, ts("2026-11-10T00:00:00Z"));
    assert_eq!(merged[9].due, ts("2026-11-02T00:00:00Z"));
}
