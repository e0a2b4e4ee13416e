//! The leaker's configuration contract: what the injector puts in the leaker container's
//! arguments or environment, and what the leaker reads back.
//!
//! Both sides use this one module — the injector builds the container with
//! [`LeakerConfig::to_args`] or [`LeakerConfig::to_env`], the leaker parses with
//! [`LeakerConfig::from_sources`] — so they cannot disagree on names, notation or defaults.
//! Pure: no process environment or clock is read here; both are passed in.
//!
//! Precedence: a flag wins over its environment variable. Three settings are groups whose members
//! only make sense together, and a flag for any of them replaces the whole group from the
//! environment: the bound (`--max` | `--unbounded`), the deadline (`--deadline` | `--duration`),
//! and the pattern when `--pattern` itself is given (then its parameters come from flags only;
//! without `--pattern`, single parameters such as `--rate` override the environment one by one).
//! Empty environment variables count as unset, as Kubernetes writes `value: ""` for "nothing".

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use crate::curve::{LeakCurve, Pattern};
use crate::units::{Duration, Quantity, Rate, UnitError};

/// `--pattern`: `linear`, `exponential`, `step` or `sawtooth`.
pub const FLAG_PATTERN: &str = "--pattern";
/// `--rate`: growth of `linear` and `sawtooth`, e.g. `40Mi/min`.
pub const FLAG_RATE: &str = "--rate";
/// `--doubling`: doubling time of `exponential`, e.g. `5m`.
pub const FLAG_DOUBLING: &str = "--doubling";
/// `--step`: size of each jump of `step`, e.g. `256Mi`.
pub const FLAG_STEP: &str = "--step";
/// `--every`: interval between the jumps of `step`, e.g. `2m`.
pub const FLAG_EVERY: &str = "--every";
/// `--gc-every`: how often `sawtooth` drops back to its start, e.g. `10m`.
pub const FLAG_GC_EVERY: &str = "--gc-every";
/// `--start`: what the leak holds at once (default 0).
pub const FLAG_START: &str = "--start";
/// `--max`: where the leak stops growing and holds.
pub const FLAG_MAX: &str = "--max";
/// `--unbounded`: grow without a maximum (until the kernel or the kubelet intervenes).
pub const FLAG_UNBOUNDED: &str = "--unbounded";
/// `--deadline`: absolute end of the leak, RFC 3339.
pub const FLAG_DEADLINE: &str = "--deadline";
/// `--duration`: end of the leak relative to the leaker's start.
pub const FLAG_DURATION: &str = "--duration";
/// `--chunk`: allocation granularity (default 1Mi).
pub const FLAG_CHUNK: &str = "--chunk";
/// `--report-interval`: how often a JSON line is printed (default 1s).
pub const FLAG_REPORT_INTERVAL: &str = "--report-interval";
/// `--listen`: address of the `/metrics` and `/healthz` endpoint, or `off`.
pub const FLAG_LISTEN: &str = "--listen";
/// `--exit-at-deadline`: exit 0 at the deadline instead of idling.
pub const FLAG_EXIT_AT_DEADLINE: &str = "--exit-at-deadline";

/// Environment variable for [`FLAG_PATTERN`].
pub const ENV_PATTERN: &str = "OOMSDAY_LEAK_PATTERN";
/// Environment variable for [`FLAG_RATE`].
pub const ENV_RATE: &str = "OOMSDAY_LEAK_RATE";
/// Environment variable for [`FLAG_DOUBLING`].
pub const ENV_DOUBLING: &str = "OOMSDAY_LEAK_DOUBLING";
/// Environment variable for [`FLAG_STEP`].
pub const ENV_STEP: &str = "OOMSDAY_LEAK_STEP";
/// Environment variable for [`FLAG_EVERY`].
pub const ENV_EVERY: &str = "OOMSDAY_LEAK_EVERY";
/// Environment variable for [`FLAG_GC_EVERY`].
pub const ENV_GC_EVERY: &str = "OOMSDAY_LEAK_GC_EVERY";
/// Environment variable for [`FLAG_START`].
pub const ENV_START: &str = "OOMSDAY_LEAK_START";
/// Environment variable for [`FLAG_MAX`].
pub const ENV_MAX: &str = "OOMSDAY_LEAK_MAX";
/// Environment variable for [`FLAG_UNBOUNDED`] (`true` or `false`).
pub const ENV_UNBOUNDED: &str = "OOMSDAY_LEAK_UNBOUNDED";
/// Environment variable for [`FLAG_DEADLINE`].
pub const ENV_DEADLINE: &str = "OOMSDAY_LEAK_DEADLINE";
/// Environment variable for [`FLAG_DURATION`].
pub const ENV_DURATION: &str = "OOMSDAY_LEAK_DURATION";
/// Environment variable for [`FLAG_CHUNK`].
pub const ENV_CHUNK: &str = "OOMSDAY_LEAK_CHUNK";
/// Environment variable for [`FLAG_REPORT_INTERVAL`].
pub const ENV_REPORT_INTERVAL: &str = "OOMSDAY_LEAK_REPORT_INTERVAL";
/// Environment variable for [`FLAG_LISTEN`].
pub const ENV_LISTEN: &str = "OOMSDAY_LEAK_LISTEN";
/// Environment variable for [`FLAG_EXIT_AT_DEADLINE`] (`true` or `false`).
pub const ENV_EXIT_AT_DEADLINE: &str = "OOMSDAY_LEAK_EXIT_AT_DEADLINE";

/// Default allocation granularity: small enough for a smooth curve, large enough to be cheap.
pub const DEFAULT_CHUNK: Quantity = Quantity::mib(1);
/// Default interval between two JSON report lines.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Default port of the metrics endpoint (in the range Prometheus exporters use).
pub const DEFAULT_PORT: u16 = 9464;
/// Smallest chunk: one page on every Linux architecture oomsday targets.
pub const MIN_CHUNK: u64 = 4096;
/// Shortest report interval: anything faster floods the container log.
pub const MIN_REPORT_INTERVAL: StdDuration = StdDuration::from_millis(10);

/// When the leak ends. The leaker frees everything then, whatever the controller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// A wall-clock time (RFC 3339): survives container restarts, so a restarted leaker past its
    /// deadline does not leak again. What the injector should use.
    Absolute(SystemTime),
    /// A duration from the leaker's own start: simple for hand-run rehearsals.
    After(Duration),
}

impl Deadline {
    /// The wall-clock time of the deadline for a leaker that started at `started`.
    pub fn at(&self, started: SystemTime) -> SystemTime {
        match *self {
            Deadline::Absolute(t) => t,
            Deadline::After(d) => started.checked_add(d.std()).unwrap_or(started),
        }
    }

    /// How long after `started` the leak expires; zero when the deadline is already past.
    pub fn expires_after(&self, started: SystemTime) -> StdDuration {
        match *self {
            Deadline::Absolute(t) => t.duration_since(started).unwrap_or(StdDuration::ZERO),
            Deadline::After(d) => d.std(),
        }
    }
}

/// Everything the leaker needs to know. Build it with [`LeakerConfig::from_sources`], or directly
/// (the injector does) and hand it over with [`LeakerConfig::to_args`] / [`LeakerConfig::to_env`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakerConfig {
    /// What to hold when.
    pub curve: LeakCurve,
    /// When to free everything. Required: the leaker must never outlive the experiment.
    pub deadline: Deadline,
    /// Allocation granularity; the curve is followed in steps of this size.
    pub chunk: Quantity,
    /// How often a JSON line is printed on stdout.
    pub report_interval: Duration,
    /// Where `/metrics` and `/healthz` are served; `None` disables the endpoint.
    pub listen: Option<SocketAddr>,
    /// Exit 0 at the deadline instead of idling (only safe with `restartPolicy: Never`).
    pub exit_at_deadline: bool,
}

/// Why a configuration was refused. Every message names the flag or environment variable, the
/// value, and the expected form, because it is printed as-is to whoever wrote the experiment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--help` or `-h`: not a failure, the caller prints [`usage`].
    #[error("help requested")]
    HelpRequested,
    /// A flag this leaker does not know.
    #[error("unknown flag `{flag}`; expected one of {known} (see --help)")]
    UnknownFlag { flag: String, known: String },
    /// An argument that is not a flag.
    #[error("unexpected argument `{arg}`; every setting is a flag such as --max 1Gi (see --help)")]
    UnexpectedArgument { arg: String },
    /// A flag that needs a value was last, or followed by another flag.
    #[error("{flag} needs a value; expected {expected}")]
    MissingValue {
        flag: &'static str,
        expected: &'static str,
    },
    /// The same flag twice: which one was meant is a guess we do not make.
    #[error("{flag} is given twice (`{first}` and `{second}`); give it once")]
    Repeated {
        flag: &'static str,
        first: String,
        second: String,
    },
    /// A quantity, rate or duration that does not parse.
    #[error("{name}: {error}")]
    Unit {
        name: &'static str,
        error: UnitError,
    },
    /// A value that parses but is not acceptable.
    #[error("{name}: invalid value `{value}`: {why}; expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
        expected: &'static str,
    },
    /// A required setting is absent.
    #[error("missing {what}: {why}; expected {expected}")]
    Missing {
        what: String,
        why: String,
        expected: &'static str,
    },
    /// A parameter given for a pattern that does not use it.
    #[error("{name} `{value}` is not a parameter of pattern {pattern}; {pattern} takes {takes}")]
    NotAParameter {
        name: &'static str,
        value: String,
        pattern: &'static str,
        takes: String,
    },
    /// Two settings that exclude each other.
    #[error(
        "{first} `{first_value}` and {second} `{second_value}` are alternatives; give one of them"
    )]
    Conflict {
        first: &'static str,
        first_value: String,
        second: &'static str,
        second_value: String,
    },
}

/// Every setting, in one table: flag, environment variable, whether it is a switch, the expected
/// form (for errors and help) and a description (for help). Indexed by [`Key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Pattern,
    Rate,
    Doubling,
    Step,
    Every,
    GcEvery,
    Start,
    Max,
    Unbounded,
    Deadline,
    Duration,
    Chunk,
    ReportInterval,
    Listen,
    ExitAtDeadline,
}

struct Setting {
    flag: &'static str,
    env: &'static str,
    switch: bool,
    expected: &'static str,
    help: &'static str,
}

const QUANTITY_FORM: &str = "a Kubernetes quantity such as 64Mi, 1.5Gi or 500M";
const RATE_FORM: &str = "QUANTITY/UNIT such as 40Mi/min, 16Mi/s or 1Gi/h";
const DURATION_FORM: &str = "a duration such as 90s, 10m or 1h 30m";
const SWITCH_FORM: &str = "true or false";
const PATTERN_FORM: &str = "one of linear, exponential, step, sawtooth";
const DEADLINE_FORM: &str = "an RFC 3339 time such as 2026-05-01T03:30:00Z";
const LISTEN_FORM: &str = "ADDRESS:PORT such as 0.0.0.0:9464 or [::]:9464, or off";

const SETTINGS: [Setting; 15] = [
    Setting {
        flag: FLAG_PATTERN,
        env: ENV_PATTERN,
        switch: false,
        expected: PATTERN_FORM,
        help: "shape of the growth (required)",
    },
    Setting {
        flag: FLAG_RATE,
        env: ENV_RATE,
        switch: false,
        expected: RATE_FORM,
        help: "growth of linear and sawtooth",
    },
    Setting {
        flag: FLAG_DOUBLING,
        env: ENV_DOUBLING,
        switch: false,
        expected: DURATION_FORM,
        help: "doubling time of exponential",
    },
    Setting {
        flag: FLAG_STEP,
        env: ENV_STEP,
        switch: false,
        expected: QUANTITY_FORM,
        help: "size of each jump of step",
    },
    Setting {
        flag: FLAG_EVERY,
        env: ENV_EVERY,
        switch: false,
        expected: DURATION_FORM,
        help: "interval between the jumps of step",
    },
    Setting {
        flag: FLAG_GC_EVERY,
        env: ENV_GC_EVERY,
        switch: false,
        expected: DURATION_FORM,
        help: "how often sawtooth drops back to --start",
    },
    Setting {
        flag: FLAG_START,
        env: ENV_START,
        switch: false,
        expected: QUANTITY_FORM,
        help: "held at once (default 0; exponential needs more)",
    },
    Setting {
        flag: FLAG_MAX,
        env: ENV_MAX,
        switch: false,
        expected: QUANTITY_FORM,
        help: "stop growing here and hold (required unless --unbounded)",
    },
    Setting {
        flag: FLAG_UNBOUNDED,
        env: ENV_UNBOUNDED,
        switch: true,
        expected: SWITCH_FORM,
        help: "grow until the kernel or the kubelet stops it",
    },
    Setting {
        flag: FLAG_DEADLINE,
        env: ENV_DEADLINE,
        switch: false,
        expected: DEADLINE_FORM,
        help: "free everything at this time (this or --duration is required)",
    },
    Setting {
        flag: FLAG_DURATION,
        env: ENV_DURATION,
        switch: false,
        expected: DURATION_FORM,
        help: "free everything this long after start",
    },
    Setting {
        flag: FLAG_CHUNK,
        env: ENV_CHUNK,
        switch: false,
        expected: "a quantity of at least 4Ki such as 1Mi",
        help: "allocation granularity (default 1Mi)",
    },
    Setting {
        flag: FLAG_REPORT_INTERVAL,
        env: ENV_REPORT_INTERVAL,
        switch: false,
        expected: "a duration of at least 10ms such as 1s",
        help: "interval between JSON lines on stdout (default 1s)",
    },
    Setting {
        flag: FLAG_LISTEN,
        env: ENV_LISTEN,
        switch: false,
        expected: LISTEN_FORM,
        help: "serve /metrics and /healthz here (default 0.0.0.0:9464)",
    },
    Setting {
        flag: FLAG_EXIT_AT_DEADLINE,
        env: ENV_EXIT_AT_DEADLINE,
        switch: true,
        expected: SWITCH_FORM,
        help: "exit 0 at the deadline instead of idling",
    },
];

const PATTERN_GROUP: [Key; 6] = [
    Key::Pattern,
    Key::Rate,
    Key::Doubling,
    Key::Step,
    Key::Every,
    Key::GcEvery,
];
const BOUND_GROUP: [Key; 2] = [Key::Max, Key::Unbounded];
const DEADLINE_GROUP: [Key; 2] = [Key::Deadline, Key::Duration];

fn setting(key: Key) -> &'static Setting {
    &SETTINGS[key as usize]
}

/// Where a value came from, so errors name what the person actually wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Flag,
    Env,
}

#[derive(Debug, Clone)]
struct Given {
    key: Key,
    origin: Origin,
    value: String,
}

impl Given {
    fn name(&self) -> &'static str {
        name_of(self.key, self.origin)
    }

    fn unit<T: FromStr<Err = UnitError>>(&self) -> Result<T, ConfigError> {
        self.value.parse().map_err(|error| ConfigError::Unit {
            name: self.name(),
            error,
        })
    }

    fn invalid(&self, why: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            name: self.name(),
            value: self.value.clone(),
            why: why.into(),
            expected: setting(self.key).expected,
        }
    }

    fn switch(&self) -> Result<bool, ConfigError> {
        match self.value.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.invalid("not a boolean")),
        }
    }

    /// A rate that makes the leak grow (above zero).
    fn positive_rate(&self) -> Result<Rate, ConfigError> {
        let r: Rate = self.unit()?;
        if r.amount.bytes() == 0 {
            Err(self.invalid("the leak would never grow"))
        } else {
            Ok(r)
        }
    }

    /// A duration above zero (a doubling time, an interval, a deadline's distance).
    fn positive_duration(&self) -> Result<Duration, ConfigError> {
        let d: Duration = self.unit()?;
        if d.is_zero() {
            Err(self.invalid("it is zero"))
        } else {
            Ok(d)
        }
    }
}

fn name_of(key: Key, origin: Origin) -> &'static str {
    match origin {
        Origin::Flag => setting(key).flag,
        Origin::Env => setting(key).env,
    }
}

/// "--rate (or OOMSDAY_LEAK_RATE)": how a missing setting is named.
fn both_names(key: Key) -> String {
    format!("{} (or {})", setting(key).flag, setting(key).env)
}

/// The settings after flags and environment are merged; `None` = not given anywhere.
struct Merged([Option<Given>; 15]);

impl Merged {
    fn get(&self, key: Key) -> Option<&Given> {
        self.0[key as usize].as_ref()
    }
}

fn collect_flags(args: &[String]) -> Result<[Option<String>; 15], ConfigError> {
    let mut flags: [Option<String>; 15] = Default::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--help" || arg == "-h" {
            return Err(ConfigError::HelpRequested);
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(ConfigError::UnexpectedArgument { arg: arg.clone() });
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(index) = SETTINGS.iter().position(|s| &s.flag[2..] == name) else {
            let known = SETTINGS
                .iter()
                .map(|s| s.flag)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ConfigError::UnknownFlag {
                flag: format!("--{name}"),
                known,
            });
        };
        let s = &SETTINGS[index];
        let value = match (inline, s.switch) {
            (Some(v), _) => v.to_string(),
            (None, true) => "true".to_string(),
            (None, false) => match args.get(i) {
                // A flag right after a flag is a forgotten value, not a value that starts with --.
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    v.clone()
                }
                _ => {
                    return Err(ConfigError::MissingValue {
                        flag: s.flag,
                        expected: s.expected,
                    });
                }
            },
        };
        if let Some(first) = &flags[index] {
            return Err(ConfigError::Repeated {
                flag: s.flag,
                first: first.clone(),
                second: value,
            });
        }
        flags[index] = Some(value);
    }
    Ok(flags)
}

fn merge(flags: [Option<String>; 15], env: &dyn Fn(&str) -> Option<String>) -> Merged {
    const KEYS: [Key; 15] = [
        Key::Pattern,
        Key::Rate,
        Key::Doubling,
        Key::Step,
        Key::Every,
        Key::GcEvery,
        Key::Start,
        Key::Max,
        Key::Unbounded,
        Key::Deadline,
        Key::Duration,
        Key::Chunk,
        Key::ReportInterval,
        Key::Listen,
        Key::ExitAtDeadline,
    ];
    let flag_given = |k: Key| flags[k as usize].is_some();
    // A group whose head (or any member) is on the command line takes nothing from the
    // environment: mixing `--duration` with an inherited deadline would be a guess.
    let env_blocked = |k: Key| {
        (PATTERN_GROUP.contains(&k) && flag_given(Key::Pattern))
            || (BOUND_GROUP.contains(&k) && BOUND_GROUP.iter().any(|&g| flag_given(g)))
            || (DEADLINE_GROUP.contains(&k) && DEADLINE_GROUP.iter().any(|&g| flag_given(g)))
    };
    let mut merged: [Option<Given>; 15] = Default::default();
    for key in KEYS {
        let from_flag = flags[key as usize].clone().map(|value| Given {
            key,
            origin: Origin::Flag,
            value,
        });
        let from_env = || {
            if env_blocked(key) {
                return None;
            }
            env(setting(key).env)
                .filter(|v| !v.trim().is_empty())
                .map(|value| Given {
                    key,
                    origin: Origin::Env,
                    value,
                })
        };
        merged[key as usize] = from_flag.or_else(from_env);
    }
    Merged(merged)
}

/// The parameters each pattern takes, in the order help and errors list them.
fn parameters(pattern: &str) -> &'static [Key] {
    match pattern {
        "linear" => &[Key::Rate],
        "exponential" => &[Key::Doubling],
        "step" => &[Key::Step, Key::Every],
        _ => &[Key::Rate, Key::GcEvery],
    }
}

/// The steps of [`LeakerConfig::from_sources`], one per setting or group, each reading the
/// merged settings and returning its part of the configuration or the first error in it.
impl Merged {
    /// The pattern's name, as the `&'static str` the errors carry: required, one of four.
    fn pattern_name(&self) -> Result<&'static str, ConfigError> {
        let given = self.get(Key::Pattern).ok_or_else(|| ConfigError::Missing {
            what: both_names(Key::Pattern),
            why: "the leak needs a shape".into(),
            expected: PATTERN_FORM,
        })?;
        match given.value.trim() {
            "linear" => Ok("linear"),
            "exponential" => Ok("exponential"),
            "step" => Ok("step"),
            "sawtooth" => Ok("sawtooth"),
            _ => Err(given.invalid("unknown pattern")),
        }
    }

    /// Refuses a parameter of another pattern (`--doubling` with `linear`): it would be
    /// silently ignored, and the person who wrote it meant something by it.
    fn reject_foreign_parameters(&self, pattern_name: &'static str) -> Result<(), ConfigError> {
        let takes = parameters(pattern_name);
        for key in &PATTERN_GROUP[1..] {
            if let Some(g) = self.get(*key).filter(|_| !takes.contains(key)) {
                let takes = takes
                    .iter()
                    .map(|&k| name_of(k, g.origin))
                    .collect::<Vec<_>>()
                    .join(" and ");
                return Err(ConfigError::NotAParameter {
                    name: g.name(),
                    value: g.value.clone(),
                    pattern: pattern_name,
                    takes,
                });
            }
        }
        Ok(())
    }

    /// A parameter the pattern `pattern_name` needs; missing is an error naming the pattern.
    fn required(&self, key: Key, pattern_name: &'static str) -> Result<&Given, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::Missing {
            what: both_names(key),
            why: format!("pattern {pattern_name} needs it"),
            expected: setting(key).expected,
        })
    }

    /// The pattern with its parameters, each parsed and checked to make the leak grow.
    fn pattern(&self, pattern_name: &'static str) -> Result<Pattern, ConfigError> {
        let required = |key: Key| self.required(key, pattern_name);
        Ok(match pattern_name {
            "linear" => Pattern::Linear {
                rate: required(Key::Rate)?.positive_rate()?,
            },
            "exponential" => Pattern::Exponential {
                doubling: required(Key::Doubling)?.positive_duration()?,
            },
            "step" => {
                let g = required(Key::Step)?;
                let step: Quantity = g.unit()?;
                if step.bytes() == 0 {
                    return Err(g.invalid("the leak would never grow"));
                }
                Pattern::Step {
                    step,
                    every: required(Key::Every)?.positive_duration()?,
                }
            }
            _ => Pattern::Sawtooth {
                rate: required(Key::Rate)?.positive_rate()?,
                gc_every: required(Key::GcEvery)?.positive_duration()?,
            },
        })
    }

    /// What the leak holds at once (default 0); `exponential` needs more than nothing.
    fn start(&self, pattern: &Pattern) -> Result<Quantity, ConfigError> {
        let start: Quantity = self
            .get(Key::Start)
            .map(Given::unit)
            .transpose()?
            .unwrap_or(Quantity::ZERO);
        if matches!(pattern, Pattern::Exponential { .. }) && start.bytes() == 0 {
            let why = "pattern exponential doubles what it holds, and twice nothing is nothing";
            return Err(match self.get(Key::Start) {
                Some(g) => g.invalid(why),
                None => ConfigError::Missing {
                    what: both_names(Key::Start),
                    why: why.into(),
                    expected: "a quantity above zero such as 64Mi",
                },
            });
        }
        Ok(start)
    }

    /// The bound: `--max` (above zero, not below `start`) or `--unbounded`, exactly one of
    /// them, so that an unbounded leak is never an accident. `None` = unbounded.
    fn max(&self, start: Quantity) -> Result<Option<Quantity>, ConfigError> {
        let unbounded = self.switch_or_false(Key::Unbounded)?;
        match (self.get(Key::Max), unbounded) {
            (Some(max), true) => {
                let (u, uv) = self
                    .get(Key::Unbounded)
                    .map(|g| (g.name(), g.value.clone()))
                    .unwrap_or_default();
                Err(ConfigError::Conflict {
                    first: max.name(),
                    first_value: max.value.clone(),
                    second: u,
                    second_value: uv,
                })
            }
            (Some(g), false) => {
                let max: Quantity = g.unit()?;
                if max.bytes() == 0 {
                    return Err(g.invalid("the leak would hold nothing"));
                }
                if max < start {
                    return Err(g.invalid(format!("it is below the start ({start})")));
                }
                Ok(Some(max))
            }
            (None, true) => Ok(None),
            (None, false) => Err(ConfigError::Missing {
                what: both_names(Key::Max),
                why: format!(
                    "an unbounded leak must be asked for with {} true",
                    both_names(Key::Unbounded)
                ),
                expected: QUANTITY_FORM,
            }),
        }
    }

    /// The deadline: `--deadline` (RFC 3339) or `--duration` (above zero), exactly one.
    fn deadline(&self) -> Result<Deadline, ConfigError> {
        match (self.get(Key::Deadline), self.get(Key::Duration)) {
            (Some(a), Some(b)) => Err(ConfigError::Conflict {
                first: a.name(),
                first_value: a.value.clone(),
                second: b.name(),
                second_value: b.value.clone(),
            }),
            (Some(g), None) => Ok(Deadline::Absolute(
                humantime::parse_rfc3339_weak(g.value.trim())
                    .map_err(|e| g.invalid(e.to_string()))?,
            )),
            (None, Some(g)) => Ok(Deadline::After(g.positive_duration()?)),
            (None, None) => Err(ConfigError::Missing {
                what: format!(
                    "{} or {}",
                    both_names(Key::Deadline),
                    both_names(Key::Duration)
                ),
                why: "the leaker must never outlive the experiment".into(),
                expected: "an RFC 3339 time such as 2026-05-01T03:30:00Z or a duration such as 30m",
            }),
        }
    }

    /// The allocation granularity: [`DEFAULT_CHUNK`], or at least a page ([`MIN_CHUNK`]).
    fn chunk(&self) -> Result<Quantity, ConfigError> {
        match self.get(Key::Chunk) {
            Some(g) => {
                let c: Quantity = g.unit()?;
                if c.bytes() < MIN_CHUNK {
                    return Err(g.invalid("it is smaller than a page"));
                }
                Ok(c)
            }
            None => Ok(DEFAULT_CHUNK),
        }
    }

    /// The interval between report lines: [`DEFAULT_REPORT_INTERVAL`], or at least
    /// [`MIN_REPORT_INTERVAL`].
    fn report_interval(&self) -> Result<Duration, ConfigError> {
        match self.get(Key::ReportInterval) {
            Some(g) => {
                let d: Duration = g.unit()?;
                if d.std() < MIN_REPORT_INTERVAL {
                    return Err(g.invalid("it is shorter than 10ms"));
                }
                Ok(d)
            }
            None => Ok(DEFAULT_REPORT_INTERVAL),
        }
    }

    /// The metrics endpoint's address: `0.0.0.0:`[`DEFAULT_PORT`] by default, `None` for `off`.
    fn listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match self.get(Key::Listen) {
            Some(g) if g.value.trim() == "off" => Ok(None),
            Some(g) => Ok(Some(
                g.value
                    .trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| g.invalid("not a socket address"))?,
            )),
            None => Ok(Some(SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))),
        }
    }

    /// A switch's value; not given means `false`.
    fn switch_or_false(&self, key: Key) -> Result<bool, ConfigError> {
        Ok(self
            .get(key)
            .map(Given::switch)
            .transpose()?
            .unwrap_or(false))
    }
}

impl LeakerConfig {
    /// Reads the configuration from command-line `args` (without the program name) and the
    /// environment lookup `env`; flags win over environment variables (see the module docs for
    /// the groups). `--help` yields [`ConfigError::HelpRequested`].
    ///
    /// The steps run in a fixed order (pattern, start, bound, deadline, then the options), so
    /// a configuration with several mistakes always reports the same one first.
    pub fn from_sources(
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let m = merge(collect_flags(args)?, env);
        let pattern_name = m.pattern_name()?;
        m.reject_foreign_parameters(pattern_name)?;
        let pattern = m.pattern(pattern_name)?;
        let start = m.start(&pattern)?;
        let max = m.max(start)?;
        let deadline = m.deadline()?;
        let chunk = m.chunk()?;
        let report_interval = m.report_interval()?;
        let listen = m.listen()?;
        let exit_at_deadline = m.switch_or_false(Key::ExitAtDeadline)?;

        Ok(LeakerConfig {
            curve: LeakCurve {
                pattern,
                start,
                max,
            },
            deadline,
            chunk,
            report_interval,
            listen,
            exit_at_deadline,
        })
    }

    /// Every setting as `(key, value)` pairs, with `key` a flag or an environment variable name.
    /// Defaults are written out too, so a leaker image with other defaults behaves the same.
    fn pairs(&self, origin: Origin) -> Vec<(&'static str, String)> {
        let n = |k| name_of(k, origin);
        let mut out = vec![(n(Key::Pattern), self.curve.pattern.name().to_string())];
        match self.curve.pattern {
            Pattern::Linear { rate } => out.push((n(Key::Rate), rate.to_string())),
            Pattern::Exponential { doubling } => out.push((n(Key::Doubling), doubling.to_string())),
            Pattern::Step { step, every } => {
                out.push((n(Key::Step), step.to_string()));
                out.push((n(Key::Every), every.to_string()));
            }
            Pattern::Sawtooth { rate, gc_every } => {
                out.push((n(Key::Rate), rate.to_string()));
                out.push((n(Key::GcEvery), gc_every.to_string()));
            }
        }
        out.push((n(Key::Start), self.curve.start.to_string()));
        match self.curve.max {
            Some(max) => out.push((n(Key::Max), max.to_string())),
            None => out.push((n(Key::Unbounded), "true".into())),
        }
        match self.deadline {
            Deadline::Absolute(t) => out.push((n(Key::Deadline), format_deadline(t))),
            Deadline::After(d) => out.push((n(Key::Duration), d.to_string())),
        }
        out.push((n(Key::Chunk), self.chunk.to_string()));
        out.push((n(Key::ReportInterval), self.report_interval.to_string()));
        out.push((
            n(Key::Listen),
            self.listen
                .map_or_else(|| "off".to_string(), |a| a.to_string()),
        ));
        out.push((n(Key::ExitAtDeadline), self.exit_at_deadline.to_string()));
        out
    }

    /// The configuration as environment variables for the leaker container.
    pub fn to_env(&self) -> Vec<(String, String)> {
        self.pairs(Origin::Env)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// The configuration as command-line arguments for the leaker container (no program name).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in self.pairs(Origin::Flag) {
            // Switches are written as `--flag=value` so `false` round-trips too.
            if flag == FLAG_UNBOUNDED || flag == FLAG_EXIT_AT_DEADLINE {
                args.push(format!("{flag}={value}"));
            } else {
                args.push(flag.to_string());
                args.push(value);
            }
        }
        args
    }
}

/// RFC 3339 in UTC with nanoseconds when there are any. humantime formats only the years 1970 to
/// 9999; times outside are clamped, which keeps their meaning (already past / practically never).
fn format_deadline(t: SystemTime) -> String {
    // 9999-12-31T23:59:59Z
    let last = UNIX_EPOCH + StdDuration::from_secs(253_402_300_799);
    let t = t.clamp(UNIX_EPOCH, last);
    humantime::format_rfc3339(t).to_string()
}

impl fmt::Display for LeakerConfig {
    /// One line for the leaker's start-up log: `linear at 40Mi/min from 0 to 6Gi, until ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", self.curve.pattern, self.curve.start)?;
        match self.curve.max {
            Some(max) => write!(f, " to {max}")?,
            None => write!(f, ", unbounded")?,
        }
        match self.deadline {
            Deadline::Absolute(t) => write!(f, ", until {}", format_deadline(t))?,
            Deadline::After(d) => write!(f, ", for {d}")?,
        }
        write!(f, ", in chunks of {}", self.chunk)
    }
}

/// The `--help` text, generated from the same table the parser uses.
pub fn usage() -> String {
    let mut s = String::from(
        "oomsday-leaker: a configurable, self-expiring memory leak\n\n\
         Usage: oomsday-leaker --pattern PATTERN [PARAMETERS] (--max Q | --unbounded) (--deadline T | --duration D) [OPTIONS]\n\n\
         Every flag can also be set by its environment variable; a flag wins over its variable.\n\n",
    );
    for st in &SETTINGS {
        let flag = if st.switch {
            st.flag.to_string()
        } else {
            format!("{} VALUE", st.flag)
        };
        s.push_str(&format!("  {flag:<26} {:<30} {}\n", st.env, st.help));
        s.push_str(&format!("  {:<26} {:<30} VALUE: {}\n", "", "", st.expected));
    }
    s.push_str(
        "\nPatterns and their parameters: linear (--rate), exponential (--doubling), \
         step (--step, --every), sawtooth (--rate, --gc-every).\n\
         Exit status: 0 on SIGTERM/SIGINT or at the deadline with --exit-at-deadline, 2 on invalid configuration.\n",
    );
    s
}

#[cfg(test)]
mod tests;
