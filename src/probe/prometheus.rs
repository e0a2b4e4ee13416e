//! The Prometheus HTTP API: instant queries, active alerts, and alerting rules' `for` durations,
//! and [`AlertWatch`], which turns successive alert lists into timeline observations dated by
//! the alerts' own `activeAt`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::http::{self, Url, encode_query};
use crate::observe::{AlertState, Happening, Observation, Time};
use crate::spec::ExpectedAlert;
use crate::{Error, Result};

/// A Prometheus server's HTTP API.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: Url,
    timeout: Duration,
}

/// One sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub at: Time,
}

/// An alert as `/api/v1/alerts` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    /// When the alert's expression first became true (pending from then, firing after `for`).
    pub active_at: Option<Time>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Envelope<T> {
    status: String,
    #[serde(default = "none")]
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct AlertsData {
    alerts: Vec<RawAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(default)]
    active_at: Option<String>,
}

#[derive(Deserialize)]
struct RulesData {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    /// The rule's `for`, in seconds.
    #[serde(default)]
    duration: f64,
}

fn none<T>() -> Option<T> {
    None
}

fn bad(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("Prometheus {what}: {why}"))
}

fn unwrap_envelope<T>(what: &str, body: &[u8]) -> Result<T>
where
    T: for<'de> Deserialize<'de>,
{
    let env: Envelope<T> = serde_json::from_slice(body).map_err(|e| bad(what, e))?;
    if env.status != "success" {
        return Err(bad(
            what,
            env.error
                .unwrap_or_else(|| format!("status {}", env.status)),
        ));
    }
    env.data.ok_or_else(|| bad(what, "no data in the answer"))
}

fn parse_state(s: &str) -> Option<AlertState> {
    match s {
        "firing" => Some(AlertState::Firing),
        "pending" => Some(AlertState::Pending),
        _ => None,
    }
}

fn sample_value(v: &serde_json::Value) -> Option<(Time, f64)> {
    let pair = v.as_array()?;
    let ts = pair.first()?.as_f64()?;
    let value = pair.get(1)?.as_str()?;
    // Prometheus writes NaN and ±Inf as strings; f64's parser reads "NaN", "+Inf", "-Inf".
    let value = f64::from_str(value).ok()?;
    let at = Time::from_millisecond((ts * 1000.0).round() as i64).ok()?;
    Some((at, value))
}

impl Prometheus {
    /// A client for the API under `url` (`http://prometheus.monitoring.svc:9090`).
    pub fn new(url: &str, timeout: Duration) -> Result<Prometheus> {
        Ok(Prometheus {
            base: Url::parse(url)?,
            timeout,
        })
    }

    async fn get(&self, what: &str, path: &str) -> Result<Vec<u8>> {
        let r = http::get(&self.base.join(path), self.timeout).await?;
        if !r.is_success() && r.status != 400 && r.status != 422 {
            // 400/422 carry the API's own error envelope; other statuses do not.
            return Err(bad(what, format!("HTTP {}", r.status)));
        }
        Ok(r.body)
    }

    /// Evaluates `expr` now (an instant query). Scalars come back as one unlabelled sample.
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>> {
        let body = self
            .get(
                "query",
                &format!("/api/v1/query?query={}", encode_query(expr)),
            )
            .await?;
        let data: QueryData = unwrap_envelope("query", &body)?;
        parse_query(&data)
    }

    /// The alerts that are pending or firing now.
    pub async fn alerts(&self) -> Result<Vec<ActiveAlert>> {
        let body = self.get("alerts", "/api/v1/alerts").await?;
        let data: AlertsData = unwrap_envelope("alerts", &body)?;
        Ok(data
            .alerts
            .into_iter()
            .filter_map(|a| {
                Some(ActiveAlert {
                    name: a.labels.get("alertname")?.clone(),
                    state: parse_state(&a.state)?,
                    active_at: a.active_at.as_deref().and_then(|t| Time::from_str(t).ok()),
                    labels: a.labels,
                })
            })
            .collect())
    }

    /// Each alerting rule's `for` duration in seconds, by alert name (the longest, when several
    /// rules share a name).
    pub async fn alert_rule_durations(&self) -> Result<BTreeMap<String, f64>> {
        let body = self.get("rules", "/api/v1/rules?type=alert").await?;
        let data: RulesData = unwrap_envelope("rules", &body)?;
        let mut out = BTreeMap::new();
        for r in data.groups.into_iter().flat_map(|g| g.rules) {
            if r.kind == "alerting" || r.kind.is_empty() {
                let d = out.entry(r.name).or_insert(0.0_f64);
                *d = d.max(r.duration);
            }
        }
        Ok(out)
    }
}

fn parse_query(data: &QueryData) -> Result<Vec<Sample>> {
    match data.result_type.as_str() {
        "vector" => {
            let items = data
                .result
                .as_array()
                .ok_or_else(|| bad("query", "vector result is not a list"))?;
            Ok(items
                .iter()
                .filter_map(|item| {
                    let labels: BTreeMap<String, String> = item
                        .get("metric")
                        .and_then(|m| serde_json::from_value(m.clone()).ok())
                        .unwrap_or_default();
                    let (at, value) = sample_value(item.get("value")?)?;
                    Some(Sample { labels, value, at })
                })
                .collect())
        }
        "scalar" => Ok(sample_value(&data.result)
            .map(|(at, value)| Sample {
                labels: BTreeMap::new(),
                value,
                at,
            })
            .into_iter()
            .collect()),
        other => Err(bad(
            "query",
            format!("a {other} result; use an expression that gives an instant vector or scalar"),
        )),
    }
}

/// Follows the expected alerts across polls and reports their state changes as observations.
///
/// Times come from the alerts themselves: pending from `activeAt`, firing from `activeAt` plus
/// the rule's `for` (when the rules endpoint told us; else the poll time, which is never early).
/// Resolution is only seen as the alert's disappearance, so it is dated by the poll.
#[derive(Debug, Clone)]
pub struct AlertWatch {
    expected: Vec<ExpectedAlert>,
    state: BTreeMap<String, AlertState>,
}

impl AlertWatch {
    pub fn new(expected: Vec<ExpectedAlert>) -> AlertWatch {
        AlertWatch {
            expected,
            state: BTreeMap::new(),
        }
    }

    /// Pure: one poll's alerts (`now` is when they were read) → observations of what changed.
    pub fn update(
        &mut self,
        alerts: &[ActiveAlert],
        rule_for: Option<&BTreeMap<String, f64>>,
        now: Time,
    ) -> Vec<Observation> {
        let mut out = Vec::new();
        for e in &self.expected {
            let matching: Vec<&ActiveAlert> = alerts
                .iter()
                .filter(|a| a.name == e.name)
                .filter(|a| e.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
                .collect();
            let firing: Vec<&&ActiveAlert> = matching
                .iter()
                .filter(|a| a.state == AlertState::Firing)
                .collect();
            let (state, at) = if !firing.is_empty() {
                let for_secs = rule_for.and_then(|m| m.get(&e.name)).copied();
                let at = firing
                    .iter()
                    .map(|a| match (a.active_at, for_secs) {
                        (Some(t), Some(f)) => jiff::SignedDuration::try_from_secs_f64(f)
                            .ok()
                            .and_then(|d| t.checked_add(d).ok())
                            .unwrap_or(now)
                            .min(now),
                        _ => now,
                    })
                    .min()
                    .unwrap_or(now);
                (Some(AlertState::Firing), at)
            } else if !matching.is_empty() {
                let at = matching
                    .iter()
                    .filter_map(|a| a.active_at)
                    .min()
                    .unwrap_or(now)
                    .min(now);
                (Some(AlertState::Pending), at)
            } else {
                (None, now)
            };
            let previous = self.state.get(&e.name).copied();
            match state {
                Some(s) if previous != Some(s) => {
                    self.state.insert(e.name.clone(), s);
                    out.push(Observation::new(
                        at,
                        Happening::Alert {
                            name: e.name.clone(),
                            state: s,
                        },
                    ));
                }
                None if matches!(previous, Some(AlertState::Firing | AlertState::Pending)) => {
                    self.state.insert(e.name.clone(), AlertState::Resolved);
                    out.push(Observation::new(
                        now,
                        Happening::Alert {
                            name: e.name.clone(),
                            state: AlertState::Resolved,
                        },
                    ));
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
