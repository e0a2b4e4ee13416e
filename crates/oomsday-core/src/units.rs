//! Kubernetes-notation quantities, leak rates, humantime durations and count-or-percent values.
//!
//! One parser for every place oomsday reads these: the experiment spec, the leaker's flags and
//! environment, the simulator's cluster model. Values serialize to a canonical string that parses
//! back to the same value, so a spec survives a YAML round trip unchanged.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a unit string was refused. The message names the value and the expected form, because it
/// is shown as-is to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "invalid quantity `{value}`: {why}; expected a Kubernetes quantity such as 64Mi, 1.5Gi, 500M or 2e9"
    )]
    Quantity { value: String, why: &'static str },
    #[error(
        "invalid rate `{value}`: {why}; expected QUANTITY/UNIT such as 40Mi/min, 16Mi/s or 1Gi/h"
    )]
    Rate { value: String, why: &'static str },
    #[error("invalid duration `{value}`: {why}; expected a duration such as 90s, 10m or 1h 30m")]
    Duration { value: String, why: String },
    #[error(
        "invalid count or percentage `{value}`: {why}; expected a whole number such as 3 or a percentage such as 50%"
    )]
    CountOrPercent { value: String, why: &'static str },
    #[error(
        "invalid percentage `{value}`: {why}; expected a percentage from 0% to 100%, such as 50%"
    )]
    Percent { value: String, why: &'static str },
}

const KI: u64 = 1 << 10;
const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;
const TI: u64 = 1 << 40;
const PI: u64 = 1 << 50;
const EI: u64 = 1 << 60;

/// A memory size in bytes, written in Kubernetes quantity notation (`64Mi`, `1.5Gi`, `500M`,
/// `2e9`, `1048576`). Fractional byte counts round up, as the API server does for memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(u64);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    pub const fn from_bytes(bytes: u64) -> Self {
        Quantity(bytes)
    }
    pub const fn mib(n: u64) -> Self {
        Quantity(n * MI)
    }
    pub const fn gib(n: u64) -> Self {
        Quantity(n * GI)
    }
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Quantity {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| UnitError::Quantity {
            value: s.to_string(),
            why,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        if t.starts_with('-') {
            return Err(err("a memory size cannot be negative"));
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        // Split the numeric part from the suffix: digits and one '.', then an optional suffix.
        let num_end = t
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(t.len(), |(i, _)| i);
        let (num, suffix) = t.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err("it does not start with a number"));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| err("it does not start with a number"))?;
        let factor: f64 = match suffix {
            "" => 1.0,
            "Ki" => KI as f64,
            "Mi" => MI as f64,
            "Gi" => GI as f64,
            "Ti" => TI as f64,
            "Pi" => PI as f64,
            "Ei" => EI as f64,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            s if s.starts_with(['e', 'E']) => {
                let exp: i32 = s[1..]
                    .parse()
                    .map_err(|_| err("the exponent after `e` is not a whole number"))?;
                if !(-30..=30).contains(&exp) {
                    return Err(err("the exponent is out of range"));
                }
                10f64.powi(exp)
            }
            "KB" | "MB" | "GB" | "TB" | "K" | "kb" | "mb" | "gb" | "KiB" | "MiB" | "GiB"
            | "TiB" => {
                return Err(err(
                    "that suffix is not Kubernetes notation (use Ki, Mi, Gi for binary or k, M, G for decimal)",
                ));
            }
            _ => return Err(err("unknown suffix")),
        };
        let bytes = (value * factor).ceil();
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(err("it is too large"));
        }
        // Exact integer arithmetic where possible: `1.5Gi` must be exactly 1610612736.
        let exact = exact_bytes(num, suffix).unwrap_or(bytes as u64);
        Ok(Quantity(exact))
    }
}

/// Integer-exact parse for `<int>[.<frac>]<binary or decimal suffix>`; None when it does not fit.
fn exact_bytes(num: &str, suffix: &str) -> Option<u64> {
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let factor: u128 = match suffix {
        "" => 1,
        "Ki" => KI as u128,
        "Mi" => MI as u128,
        "Gi" => GI as u128,
        "Ti" => TI as u128,
        "Pi" => PI as u128,
        "Ei" => EI as u128,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    if frac_part.len() > 18 {
        return None;
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let frac: u128 = if frac_part.is_empty() {
        0
    } else {
        frac_part.parse().ok()?
    };
    let scale = 10u128.pow(frac_part.len() as u32);
    let total = int
        .checked_mul(factor)?
        .checked_add((frac * factor).div_ceil(scale))?;
    u64::try_from(total).ok()
}

impl fmt::Display for Quantity {
    /// Canonical form: the shortest of the largest binary suffix that divides exactly and the
    /// largest decimal one (binary on a tie), else plain bytes. Parsing it gives the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b == 0 {
            return write!(f, "0");
        }
        let pick = |units: &[(u64, &'static str)]| {
            units
                .iter()
                .find(|(u, _)| b.is_multiple_of(*u))
                .map(|(u, s)| format!("{}{}", b / u, s))
        };
        let binary = pick(&[
            (EI, "Ei"),
            (PI, "Pi"),
            (TI, "Ti"),
            (GI, "Gi"),
            (MI, "Mi"),
            (KI, "Ki"),
        ]);
        let decimal = pick(&[
            (1_000_000_000_000_000_000, "E"),
            (1_000_000_000_000_000, "P"),
            (1_000_000_000_000, "T"),
            (1_000_000_000, "G"),
            (1_000_000, "M"),
            (1_000, "k"),
        ]);
        let best = match (binary, decimal) {
            (Some(b), Some(d)) if d.len() < b.len() => d,
            (Some(b), _) => b,
            (None, Some(d)) => d,
            (None, None) => b.to_string(),
        };
        f.write_str(&best)
    }
}

/// Human-readable bytes for reports and logs (`1.50 GiB`), not for round trips.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    for (unit, suffix) in [(GI, "GiB"), (MI, "MiB"), (KI, "KiB")] {
        if bytes >= unit {
            return format!("{:.2} {}", b / unit as f64, suffix);
        }
    }
    format!("{bytes} B")
}

/// The time unit of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
}

impl RateUnit {
    pub const fn seconds(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
        }
    }
    const fn suffix(self) -> &'static str {
        match self {
            RateUnit::Second => "s",
            RateUnit::Minute => "min",
            RateUnit::Hour => "h",
        }
    }
}

/// Memory growth per unit of time: `40Mi/min`, `16Mi/s`, `1Gi/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub amount: Quantity,
    pub per: RateUnit,
}

impl Rate {
    pub const fn new(amount: Quantity, per: RateUnit) -> Self {
        Rate { amount, per }
    }
    pub fn bytes_per_second(&self) -> f64 {
        self.amount.bytes() as f64 / self.per.seconds() as f64
    }
}

impl FromStr for Rate {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| UnitError::Rate {
            value: s.to_string(),
            why,
        };
        let (amount, unit) = s
            .trim()
            .split_once('/')
            .ok_or(err("there is no `/` before the time unit"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => RateUnit::Second,
            "min" | "minute" => RateUnit::Minute,
            "h" | "hr" | "hour" => RateUnit::Hour,
            "m" => return Err(err("`m` is ambiguous; write `min` for minutes")),
            _ => return Err(err("unknown time unit (use s, min or h)")),
        };
        let amount = amount
            .trim()
            .parse::<Quantity>()
            .map_err(|_| err("the amount is not a quantity"))?;
        Ok(Rate { amount, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.amount, self.per.suffix())
    }
}

/// A length of time in humantime notation (`90s`, `10m`, `1h 30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(StdDuration::from_secs(s))
    }
    pub const fn std(self) -> StdDuration {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<StdDuration> for Duration {
    fn from(d: StdDuration) -> Self {
        Duration(d)
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(UnitError::Duration {
                value: s.to_string(),
                why: "it is empty".into(),
            });
        }
        if t.chars().all(|c| c.is_ascii_digit()) {
            // A bare number is the most common mistake; humantime's own message is cryptic here.
            return Err(UnitError::Duration {
                value: s.to_string(),
                why: "it has no unit".into(),
            });
        }
        humantime::parse_duration(t)
            .map(Duration)
            .map_err(|e| UnitError::Duration {
                value: s.to_string(),
                why: e.to_string(),
            })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A number of things or a share of them: `3` or `50%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountOrPercent {
    Count(u32),
    Percent(Percent),
}

impl CountOrPercent {
    /// How many of `total` this selects. Percentages round up so that `1%` of a small
    /// workload still picks one pod, as Kubernetes does for maxUnavailable-style values.
    pub fn of(&self, total: u32) -> u32 {
        match *self {
            CountOrPercent::Count(n) => n.min(total),
            CountOrPercent::Percent(p) => {
                ((u64::from(total) * u64::from(p.0)).div_ceil(100)) as u32
            }
        }
    }
}

impl FromStr for CountOrPercent {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().ends_with('%') {
            return s.parse::<Percent>().map(CountOrPercent::Percent);
        }
        s.trim()
            .parse::<u32>()
            .map(CountOrPercent::Count)
            .map_err(|_| UnitError::CountOrPercent {
                value: s.to_string(),
                why: "it is neither a whole number nor a percentage",
            })
    }
}

impl fmt::Display for CountOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountOrPercent::Count(n) => write!(f, "{n}"),
            CountOrPercent::Percent(p) => write!(f, "{p}"),
        }
    }
}

/// A whole percentage from 0 to 100, written `50%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u8);

impl Percent {
    pub fn new(p: u8) -> Option<Self> {
        (p <= 100).then_some(Percent(p))
    }
    pub const fn get(self) -> u8 {
        self.0
    }
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl FromStr for Percent {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| UnitError::Percent {
            value: s.to_string(),
            why,
        };
        let n = s
            .trim()
            .strip_suffix('%')
            .ok_or(err("it does not end with %"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| err("it is not a whole number"))?;
        if n > 100 {
            return Err(err("it is above 100%"));
        }
        Ok(Percent(n as u8))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// Serde as the canonical string; deserializes from a string or, where YAML gives a bare number,
/// from that number (`max: 2e9`, `pods: 3`).
macro_rules! string_serde {
    ($t:ty, $expecting:expr) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        string_serde!(@de $t, $expecting);
    };
    (@de $t:ty, $expecting:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_serde!(
    Quantity,
    "a Kubernetes quantity such as 64Mi, 1.5Gi, 500M or 2e9"
);
string_serde!(Rate, "a rate such as 40Mi/min");
string_serde!(Duration, "a duration such as 90s, 10m or 1h 30m");
string_serde!(@de CountOrPercent, "a whole number such as 3 or a percentage such as 50%");

/// A count serializes as a number (`pods: 3`), a percentage as a string (`pods: "50%"`), as
/// Kubernetes' own int-or-string fields do.
impl Serialize for CountOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CountOrPercent::Count(n) => s.serialize_u32(*n),
            CountOrPercent::Percent(p) => s.collect_str(p),
        }
    }
}
string_serde!(Percent, "a percentage such as 50%");

#[cfg(feature = "schemars")]
mod schema {
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    macro_rules! string_schema {
        ($t:ty, $name:expr, $desc:expr, $pattern:expr) => {
            impl JsonSchema for $t {
                fn schema_name() -> Cow<'static, str> {
                    $name.into()
                }
                fn inline_schema() -> bool {
                    true
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!({ "type": "string", "description": $desc, "pattern": $pattern })
                }
            }
        };
    }

    string_schema!(
        super::Quantity,
        "Quantity",
        "A memory size in Kubernetes quantity notation: 64Mi, 1.5Gi, 500M, 2e9.",
        r"^\+?[0-9.]+([KMGTPE]i|[numkMGTPE]|[eE]-?[0-9]+)?$"
    );
    string_schema!(
        super::Rate,
        "Rate",
        "Memory growth per unit of time: 40Mi/min, 16Mi/s, 1Gi/h.",
        r"^\+?[0-9.]+([KMGTPE]i|[numkMGTPE]|[eE]-?[0-9]+)?/(s|sec|second|min|minute|h|hr|hour)$"
    );
    string_schema!(
        super::Duration,
        "Duration",
        "A duration in humantime notation: 90s, 10m, 1h 30m.",
        r"^[0-9].*$"
    );
    string_schema!(
        super::Percent,
        "Percent",
        "A whole percentage: 50%.",
        r"^[0-9]{1,3}%$"
    );

    impl JsonSchema for super::CountOrPercent {
        fn schema_name() -> Cow<'static, str> {
            "CountOrPercent".into()
        }
        fn inline_schema() -> bool {
            true
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            // int-or-string is how Kubernetes itself types maxUnavailable: structural and explainable.
            json_schema!({
                "x-kubernetes-int-or-string": true,
                "description": "A number of pods (3) or a share of them (50%)."
            })
        }
    }
}

#[cfg(test)]
mod tests;
