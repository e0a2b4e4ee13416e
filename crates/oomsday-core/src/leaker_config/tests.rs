use super::*;
use crate::units::RateUnit;
use std::collections::HashMap;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(s: &str) -> Result<LeakerConfig, ConfigError> {
    LeakerConfig::from_sources(&args(s), &no_env)
}

fn parse_env(a: &str, env: &[(&str, &str)]) -> Result<LeakerConfig, ConfigError> {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LeakerConfig::from_sources(&args(a), &move |k| map.get(k).cloned())
}

fn err(s: &str) -> String {
    parse(s).unwrap_err().to_string()
}

#[test]
fn minimal_linear_config_with_defaults() {
    let c = parse("--pattern linear --rate 40Mi/min --max 6Gi --duration 30m").unwrap();
    assert_eq!(
        c.curve,
        LeakCurve {
            pattern: Pattern::Linear {
                rate: Rate::new(Quantity::mib(40), RateUnit::Minute)
            },
            start: Quantity::ZERO,
            max: Some(Quantity::gib(6)),
        }
    );
    assert_eq!(c.deadline, Deadline::After(Duration::from_secs(1800)));
    assert_eq!(c.chunk, Quantity::mib(1));
    assert_eq!(c.report_interval, Duration::from_secs(1));
    assert_eq!(c.listen, Some("0.0.0.0:9464".parse().unwrap()));
    assert!(!c.exit_at_deadline);
}

#[test]
fn every_pattern_with_its_parameters() {
    let e = parse("--pattern exponential --doubling 5m --start 64Mi --unbounded --duration 1h")
        .unwrap();
    assert_eq!(
        e.curve.pattern,
        Pattern::Exponential {
            doubling: Duration::from_secs(300)
        }
    );
    assert_eq!(e.curve.max, None);
    let s = parse("--pattern step --step 256Mi --every 2m --max 1Gi --duration 1h").unwrap();
    assert_eq!(
        s.curve.pattern,
        Pattern::Step {
            step: Quantity::mib(256),
            every: Duration::from_secs(120)
        }
    );
    let w = parse(
        "--pattern=sawtooth --rate=10Mi/s --gc-every=1m --start=32Mi --unbounded --duration=10m",
    )
    .unwrap();
    assert_eq!(
        w.curve.pattern,
        Pattern::Sawtooth {
            rate: Rate::new(Quantity::mib(10), RateUnit::Second),
            gc_every: Duration::from_secs(60)
        }
    );
    assert_eq!(w.curve.start, Quantity::mib(32));
}

#[test]
fn absolute_deadline_and_options() {
    let c = parse(
        "--pattern linear --rate 1Mi/s --max 1Gi --deadline 2026-05-01T03:30:00Z --chunk 256Ki \
             --report-interval 100ms --listen 127.0.0.1:0 --exit-at-deadline",
    )
    .unwrap();
    let t = UNIX_EPOCH + StdDuration::from_secs(1_777_606_200);
    assert_eq!(c.deadline, Deadline::Absolute(t));
    assert_eq!(c.chunk, Quantity::from_bytes(256 * 1024));
    assert_eq!(c.report_interval.std(), StdDuration::from_millis(100));
    assert_eq!(c.listen, Some("127.0.0.1:0".parse().unwrap()));
    assert!(c.exit_at_deadline);
    assert_eq!(
        parse("--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --listen off")
            .unwrap()
            .listen,
        None
    );
}

#[test]
fn deadline_resolution_is_pure() {
    let start = UNIX_EPOCH + StdDuration::from_secs(1000);
    let after = Deadline::After(Duration::from_secs(60));
    assert_eq!(after.at(start), start + StdDuration::from_secs(60));
    assert_eq!(after.expires_after(start), StdDuration::from_secs(60));
    let abs = Deadline::Absolute(start + StdDuration::from_secs(5));
    assert_eq!(abs.expires_after(start), StdDuration::from_secs(5));
    // A restarted leaker past its absolute deadline expires at once.
    assert_eq!(
        abs.expires_after(start + StdDuration::from_secs(10)),
        StdDuration::ZERO
    );
}

#[test]
fn environment_is_read_and_flags_win() {
    let env = [
        (ENV_PATTERN, "linear"),
        (ENV_RATE, "1Mi/s"),
        (ENV_MAX, "1Gi"),
        (ENV_DURATION, "10m"),
        (ENV_LISTEN, "off"),
        (ENV_CHUNK, ""),
    ];
    let c = parse_env("", &env).unwrap();
    assert_eq!(
        c.curve.pattern,
        Pattern::Linear {
            rate: Rate::new(Quantity::mib(1), RateUnit::Second)
        }
    );
    assert_eq!(c.listen, None);
    assert_eq!(c.chunk, DEFAULT_CHUNK, "an empty variable counts as unset");

    let c = parse_env("--rate 2Mi/s --max 2Gi", &env).unwrap();
    assert_eq!(
        c.curve.pattern,
        Pattern::Linear {
            rate: Rate::new(Quantity::mib(2), RateUnit::Second)
        }
    );
    assert_eq!(c.curve.max, Some(Quantity::gib(2)));

    // --pattern on the command line takes the whole pattern from flags: the env's rate is
    // not an error for exponential, it is simply not consulted.
    let c = parse_env("--pattern exponential --doubling 1m --start 1Mi", &env).unwrap();
    assert_eq!(
        c.curve.pattern,
        Pattern::Exponential {
            doubling: Duration::from_secs(60)
        }
    );

    // Groups: --unbounded replaces the env's max; --deadline replaces the env's duration.
    let c = parse_env("--unbounded --deadline 2030-01-01T00:00:00Z", &env).unwrap();
    assert_eq!(c.curve.max, None);
    assert!(matches!(c.deadline, Deadline::Absolute(_)));
}

#[test]
fn deadline_is_required() {
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi");
    assert!(
        e.contains("--deadline") && e.contains("--duration") && e.contains("OOMSDAY_LEAK_DEADLINE"),
        "{e}"
    );
    assert!(e.contains("never outlive"), "{e}");
    let e = err(
        "--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --deadline 2030-01-01T00:00:00Z",
    );
    assert!(e.contains("alternatives") && e.contains("`1m`"), "{e}");
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi --duration 0s");
    assert!(
        e.contains("--duration") && e.contains("`0s`") && e.contains("zero"),
        "{e}"
    );
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi --deadline tomorrow");
    assert!(
        e.contains("--deadline") && e.contains("`tomorrow`") && e.contains("RFC 3339"),
        "{e}"
    );
}

#[test]
fn max_is_required_unless_unbounded() {
    let e = err("--pattern linear --rate 1Mi/s --duration 1m");
    assert!(
        e.contains("missing --max") && e.contains("--unbounded"),
        "{e}"
    );
    let e = err("--pattern linear --rate 1Mi/s --duration 1m --max 1Gi --unbounded");
    assert!(e.contains("alternatives") && e.contains("`1Gi`"), "{e}");
    let e = err("--pattern linear --rate 1Mi/s --duration 1m --start 2Gi --max 1Gi");
    assert!(
        e.contains("--max") && e.contains("`1Gi`") && e.contains("below the start (2Gi)"),
        "{e}"
    );
    assert!(
        parse("--pattern linear --rate 1Mi/s --duration 1m --unbounded=false --max 1Gi").is_ok()
    );
    let e = parse_env(
        "--pattern linear --rate 1Mi/s --duration 1m",
        &[(ENV_UNBOUNDED, "yes please")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("OOMSDAY_LEAK_UNBOUNDED")
            && e.contains("`yes please`")
            && e.contains("true or false"),
        "{e}"
    );
}

#[test]
fn pattern_parameters_are_checked() {
    let e = err("--pattern linear --rate 1Mi/s --doubling 1m --max 1Gi --duration 1m");
    assert_eq!(
        e,
        "--doubling `1m` is not a parameter of pattern linear; linear takes --rate"
    );
    let e = err("--pattern step --step 1Mi --max 1Gi --duration 1m");
    assert!(
        e.contains("missing --every (or OOMSDAY_LEAK_EVERY)")
            && e.contains("pattern step needs it"),
        "{e}"
    );
    let e = parse_env(
        "",
        &[
            (ENV_PATTERN, "sawtooth"),
            (ENV_RATE, "1Mi/s"),
            (ENV_STEP, "1Mi"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("OOMSDAY_LEAK_STEP `1Mi` is not a parameter of pattern sawtooth"),
        "{e}"
    );
    assert!(
        e.contains("OOMSDAY_LEAK_RATE and OOMSDAY_LEAK_GC_EVERY"),
        "{e}"
    );
    let e = err("--pattern quadratic --max 1Gi --duration 1m");
    assert!(
        e.contains("--pattern") && e.contains("`quadratic`") && e.contains("linear, exponential"),
        "{e}"
    );
    let e = err("--rate 1Mi/s --max 1Gi --duration 1m");
    assert!(e.contains("missing --pattern"), "{e}");
    let e = err("--pattern exponential --doubling 1m --max 1Gi --duration 1m");
    assert!(
        e.contains("missing --start") && e.contains("twice nothing"),
        "{e}"
    );
    let e = err("--pattern linear --rate 0/s --max 1Gi --duration 1m");
    assert!(e.contains("`0/s`") && e.contains("never grow"), "{e}");
}

#[test]
fn unit_errors_name_the_flag_the_value_and_the_form() {
    let e = err("--pattern linear --rate 40Mi --max 1Gi --duration 1m");
    assert!(
        e.starts_with("--rate: invalid rate `40Mi`") && e.contains("expected QUANTITY/UNIT"),
        "{e}"
    );
    let e = parse_env(
        "--pattern linear --rate 1Mi/s --duration 1m",
        &[(ENV_MAX, "1GB")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("OOMSDAY_LEAK_MAX: invalid quantity `1GB`")
            && e.contains("expected a Kubernetes quantity"),
        "{e}"
    );
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --chunk 1k");
    assert!(
        e.contains("--chunk") && e.contains("`1k`") && e.contains("at least 4Ki"),
        "{e}"
    );
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --report-interval 1ms");
    assert!(
        e.contains("--report-interval") && e.contains("`1ms`") && e.contains("10ms"),
        "{e}"
    );
    let e = err("--pattern linear --rate 1Mi/s --max 1Gi --duration 1m --listen localhost");
    assert!(
        e.contains("--listen") && e.contains("`localhost`") && e.contains("0.0.0.0:9464"),
        "{e}"
    );
}

#[test]
fn command_line_mistakes() {
    assert_eq!(
        parse("--pattern linear --help"),
        Err(ConfigError::HelpRequested)
    );
    let e = err("--pattern linear --leak-rate 1Mi/s");
    assert!(
        e.contains("unknown flag `--leak-rate`") && e.contains("--rate"),
        "{e}"
    );
    let e = err("linear");
    assert!(e.contains("unexpected argument `linear`"), "{e}");
    let e = err("--pattern linear --rate --max 1Gi");
    assert!(
        e.starts_with("--rate needs a value; expected QUANTITY/UNIT"),
        "{e}"
    );
    let e = err("--pattern linear --rate");
    assert!(e.starts_with("--rate needs a value"), "{e}");
    let e = err("--max 1Gi --max 2Gi");
    assert!(e.contains("--max is given twice (`1Gi` and `2Gi`)"), "{e}");
}

#[test]
fn usage_lists_every_flag_and_variable() {
    let u = usage();
    for s in &SETTINGS {
        assert!(u.contains(s.flag) && u.contains(s.env), "{}", s.flag);
    }
}

#[test]
fn far_deadlines_are_clamped_when_written() {
    assert_eq!(
        format_deadline(UNIX_EPOCH - StdDuration::from_secs(5)),
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        format_deadline(UNIX_EPOCH + StdDuration::from_secs(1 << 40)),
        "9999-12-31T23:59:59Z"
    );
}

fn round_trips(c: &LeakerConfig) {
    let back = LeakerConfig::from_sources(&c.to_args(), &no_env).unwrap();
    assert_eq!(&back, c, "args {:?}", c.to_args());
    let env: HashMap<String, String> = c.to_env().into_iter().collect();
    let back = LeakerConfig::from_sources(&[], &move |k| env.get(k).cloned()).unwrap();
    assert_eq!(&back, c);
}

#[test]
fn to_args_is_what_the_injector_writes() {
    let c =
        parse("--pattern step --step 256Mi --every 2m --max 1Gi --deadline 2026-05-01T03:30:00Z")
            .unwrap();
    assert_eq!(
        c.to_args().join(" "),
        "--pattern step --step 256Mi --every 2m --start 0 --max 1Gi --deadline 2026-05-01T03:30:00Z \
             --chunk 1Mi --report-interval 1s --listen 0.0.0.0:9464 --exit-at-deadline=false"
    );
    assert!(
        c.to_env()
            .contains(&(ENV_DEADLINE.to_string(), "2026-05-01T03:30:00Z".to_string()))
    );
    round_trips(&c);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn quantity(min: u64) -> impl Strategy<Value = Quantity> {
        prop_oneof![
            (min.max(1)..1 << 40).prop_map(Quantity::from_bytes),
            (1u64..4096).prop_map(Quantity::mib)
        ]
        .prop_filter("at least min", move |q| q.bytes() >= min)
    }
    fn duration() -> impl Strategy<Value = Duration> {
        (1u64..10_000_000_000_000).prop_map(|ns| Duration(StdDuration::from_nanos(ns)))
    }
    fn rate() -> impl Strategy<Value = Rate> {
        (
            quantity(1),
            prop_oneof![
                Just(RateUnit::Second),
                Just(RateUnit::Minute),
                Just(RateUnit::Hour)
            ],
        )
            .prop_map(|(q, u)| Rate::new(q, u))
    }
    fn pattern() -> impl Strategy<Value = Pattern> {
        prop_oneof![
            rate().prop_map(|rate| Pattern::Linear { rate }),
            duration().prop_map(|doubling| Pattern::Exponential { doubling }),
            (quantity(1), duration()).prop_map(|(step, every)| Pattern::Step { step, every }),
            (rate(), duration()).prop_map(|(rate, gc_every)| Pattern::Sawtooth { rate, gc_every }),
        ]
    }
    fn config() -> impl Strategy<Value = LeakerConfig> {
        (
            pattern(),
            quantity(1),
            proptest::option::of(0u64..1 << 40),
            prop_oneof![
                (0u64..253_402_300_799, 0u32..1_000_000_000)
                    .prop_map(|(s, n)| Deadline::Absolute(UNIX_EPOCH + StdDuration::new(s, n))),
                duration().prop_map(Deadline::After),
            ],
            quantity(MIN_CHUNK),
            duration().prop_map(|d| Duration(d.std() + MIN_REPORT_INTERVAL)),
            proptest::option::of(
                (any::<std::net::IpAddr>(), any::<u16>())
                    .prop_map(|(ip, port)| SocketAddr::new(ip, port)),
            ),
            any::<bool>(),
        )
            .prop_map(
                |(
                    pattern,
                    start,
                    extra,
                    deadline,
                    chunk,
                    report_interval,
                    listen,
                    exit_at_deadline,
                )| {
                    LeakerConfig {
                        curve: LeakCurve {
                            pattern,
                            start,
                            max: extra.map(|e| Quantity::from_bytes(start.bytes() + e)),
                        },
                        deadline,
                        chunk,
                        report_interval,
                        listen,
                        exit_at_deadline,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn args_and_env_round_trip(c in config()) {
            round_trips(&c);
        }

        #[test]
        fn parser_never_panics(a in proptest::collection::vec("(--[a-z-]{1,16}(=[ -~]{0,12})?|[ -~]{0,12})", 0..8)) {
            let _ = LeakerConfig::from_sources(&a, &no_env);
        }
    }
}
