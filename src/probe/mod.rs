//! Probes during a real run: HTTP GETs, PromQL instant queries with bounds, and checks of the
//! expected alerts through the Prometheus API. The I/O lives here; what the results mean is the
//! scorer's business. Time is passed in by the caller (the cluster's clock), never read here.
//!
//! The engine calls [`Prober::poll`] whenever [`Prober::next_due`] comes, and puts the returned
//! observations (`Happening::Probe`, `Happening::Alert`) into the run's timeline.

pub mod http;
pub mod prometheus;

pub use prometheus::{ActiveAlert, AlertWatch, Prometheus, Sample};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::observe::{Happening, Observation, Time};
use crate::spec::{ExpectedAlert, LeakExperimentSpec, Probe, QueryAbort};
use crate::{Error, Result};

/// How often expected alerts are checked.
pub const ALERT_INTERVAL: Duration = Duration::from_secs(5);
/// How long one Prometheus API call may take.
const API_TIMEOUT: Duration = Duration::from_secs(5);

enum Check {
    Http(http::Url),
    Query {
        expr: String,
        min: Option<f64>,
        max: Option<f64>,
    },
}

struct Scheduled {
    probe: Probe,
    check: Check,
    next: Option<Time>,
}

/// The `abort.promql` rule: evaluated on the alert checks' interval while the leak runs; its
/// crossings are reported when they change.
struct QueryRule {
    rule: QueryAbort,
    next: Option<Time>,
    crossed: Option<bool>,
}

/// Runs a spec's probes, steady-state probes, alert checks and query abort rules on their
/// intervals.
pub struct Prober {
    probes: Vec<Scheduled>,
    /// `spec.steadyState.probes`: polled only while the run waits for a steady target.
    steady: Vec<Scheduled>,
    prometheus: Option<Prometheus>,
    /// The expected alerts and the `abort.alerts`, read in one call to Prometheus.
    alerts: Option<AlertWatch>,
    next_alert_check: Option<Time>,
    rule_for: Option<BTreeMap<String, f64>>,
    query: Option<QueryRule>,
    errors: Vec<String>,
}

fn after(t: Time, d: Duration) -> Time {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

/// Whether a value is within optional bounds; NaN never is.
fn within(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    !v.is_nan() && min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
}

/// Probes checked and scheduled; a query probe needs `prometheus`.
fn schedule(probes: &[Probe], prometheus: Option<&Prometheus>) -> Result<Vec<Scheduled>> {
    let mut out = Vec::new();
    for p in probes {
        let check = match (&p.http, &p.query) {
            (Some(h), None) => Check::Http(http::Url::parse(&h.url)?),
            (None, Some(q)) => {
                if prometheus.is_none() {
                    return Err(Error::Invalid(format!(
                        "probe {}: a query probe needs spec.prometheus",
                        p.name
                    )));
                }
                Check::Query {
                    expr: q.expr.clone(),
                    min: q.min,
                    max: q.max,
                }
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "probe {}: exactly one of http or query",
                    p.name
                )));
            }
        };
        out.push(Scheduled {
            probe: p.clone(),
            check,
            next: None,
        });
    }
    Ok(out)
}

/// The alerts to follow: the expected ones, and each `abort.alerts` name not already among
/// them (any labels: the rule is about the alert firing at all).
fn watched_alerts(spec: &LeakExperimentSpec) -> Vec<ExpectedAlert> {
    let mut alerts = spec.expect_alerts.clone();
    for name in spec.abort.iter().flat_map(|a| &a.alerts) {
        if !alerts.iter().any(|e| &e.name == name) {
            alerts.push(ExpectedAlert {
                name: name.clone(),
                within: spec.duration,
                labels: BTreeMap::new(),
            });
        }
    }
    alerts
}

impl Prober {
    /// Prepares the probes and alert checks of a spec. URLs are checked here, so a typo fails
    /// before the leak starts, not during it.
    pub fn new(spec: &LeakExperimentSpec) -> Result<Prober> {
        let prometheus = spec
            .prometheus
            .as_ref()
            .map(|p| Prometheus::new(&p.url, API_TIMEOUT))
            .transpose()?;
        let probes = schedule(&spec.probes, prometheus.as_ref())?;
        let steady = spec
            .steady_state
            .as_ref()
            .map(|g| schedule(&g.probes, prometheus.as_ref()))
            .transpose()?
            .unwrap_or_default();
        let watched = watched_alerts(spec);
        let alerts =
            (!watched.is_empty() && prometheus.is_some()).then(|| AlertWatch::new(watched));
        let query = spec.abort.as_ref().and_then(|a| a.promql.clone());
        if query.is_some() && prometheus.is_none() {
            return Err(Error::Invalid(
                "abort.promql needs spec.prometheus to read from".into(),
            ));
        }
        Ok(Prober {
            probes,
            steady,
            prometheus,
            alerts,
            next_alert_check: None,
            rule_for: None,
            query: query.map(|rule| QueryRule {
                rule,
                next: None,
                crossed: None,
            }),
            errors: Vec::new(),
        })
    }

    /// Whether there is anything to poll at all.
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
            && self.steady.is_empty()
            && self.alerts.is_none()
            && self.query.is_none()
    }

    /// When the next probe or alert check is due (`None`: nothing to do; a time in the past:
    /// due now): of the steady-state probes when `steady`, else of the run's own.
    pub fn next_due(&self, steady: bool) -> Option<Time> {
        let due = |list: &[Scheduled]| list.iter().map(|p| p.next.unwrap_or(Time::MIN)).min();
        if steady {
            return due(&self.steady);
        }
        let alert = self
            .alerts
            .as_ref()
            .map(|_| self.next_alert_check.unwrap_or(Time::MIN));
        let query = self.query.as_ref().map(|q| q.next.unwrap_or(Time::MIN));
        due(&self.probes)
            .into_iter()
            .chain(alert)
            .chain(query)
            .min()
    }

    /// Errors from alert checks so far (an unreachable Prometheus), for the run's report.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Runs every check that is due at `now` (the steady-state probes when `steady`, else the
    /// run's probes, alert checks and query abort rule); returns what they observed, dated
    /// `now` (probes, queries) or by the alerts' own times.
    pub async fn poll(&mut self, now: Time, steady: bool) -> Vec<Observation> {
        if steady {
            return poll_probes(&mut self.steady, self.prometheus.as_ref(), now, true).await;
        }
        let mut out = poll_probes(&mut self.probes, self.prometheus.as_ref(), now, false).await;
        if let (Some(q), Some(prom)) = (&mut self.query, &self.prometheus)
            && q.next.is_none_or(|n| n <= now)
        {
            q.next = Some(after(now, ALERT_INTERVAL));
            out.extend(poll_query(q, prom, now, &mut self.errors).await);
        }
        if let (Some(watch), Some(prom)) = (&mut self.alerts, &self.prometheus)
            && self.next_alert_check.is_none_or(|n| n <= now)
        {
            self.next_alert_check = Some(after(now, ALERT_INTERVAL));
            if self.rule_for.is_none() {
                match prom.alert_rule_durations().await {
                    Ok(m) => self.rule_for = Some(m),
                    Err(e) => {
                        tracing::debug!("alert rules unavailable, firing times are poll times: {e}")
                    }
                }
            }
            match prom.alerts().await {
                Ok(alerts) => {
                    out.push(Observation::new(
                        now,
                        Happening::AlertCheck {
                            ok: true,
                            detail: String::new(),
                        },
                    ));
                    out.extend(watch.update(&alerts, self.rule_for.as_ref(), now));
                }
                Err(e) => {
                    tracing::warn!("checking alerts: {e}");
                    self.errors.push(format!("{now}: {e}"));
                    out.push(Observation::new(
                        now,
                        Happening::AlertCheck {
                            ok: false,
                            detail: e.to_string(),
                        },
                    ));
                }
            }
        }
        out
    }
}

/// Runs each probe of `list` that is due at `now`: `Happening::SteadyProbe` results when `steady`,
/// else `Happening::Probe`.
async fn poll_probes(
    list: &mut [Scheduled],
    prometheus: Option<&Prometheus>,
    now: Time,
    steady: bool,
) -> Vec<Observation> {
    let mut out = Vec::new();
    for s in list {
        if s.next.is_some_and(|n| n > now) {
            continue;
        }
        s.next = Some(after(now, s.probe.interval.std()));
        let (ok, detail) = check(s, prometheus).await;
        let name = s.probe.name.clone();
        let event = if steady {
            Happening::SteadyProbe { name, ok, detail }
        } else {
            Happening::Probe { name, ok, detail }
        };
        out.push(Observation::new(now, event));
    }
    out
}

/// One attempt of a probe: whether it succeeded, and what it saw.
async fn check(s: &Scheduled, prometheus: Option<&Prometheus>) -> (bool, String) {
    match &s.check {
        Check::Http(url) => match http::get(url, s.probe.timeout.std()).await {
            Ok(r) => (r.is_success(), format!("HTTP {}", r.status)),
            Err(e) => (false, e.to_string()),
        },
        Check::Query { expr, min, max } => match prometheus {
            Some(p) => match p.query(expr).await {
                Ok(samples) => match samples.first() {
                    Some(sm) => (within(sm.value, *min, *max), format!("value {}", sm.value)),
                    None => (false, "no data".into()),
                },
                Err(e) => (false, format!("query failed: {e}")),
            },
            None => (false, "no prometheus configured".into()),
        },
    }
}

/// Evaluates the `abort.promql` rule once: a `Happening::AbortQuery` when it crossed its line or
/// came back. A query that fails or returns nothing says neither (noted in `errors`): the
/// rule is judged on values only.
async fn poll_query(
    q: &mut QueryRule,
    prom: &Prometheus,
    now: Time,
    errors: &mut Vec<String>,
) -> Option<Observation> {
    let value = match prom.query(&q.rule.query).await {
        Ok(samples) => samples.first()?.value,
        Err(e) => {
            tracing::warn!("abort.promql: {e}");
            errors.push(format!("{now}: abort.promql: {e}"));
            return None;
        }
    };
    let crossed = q.rule.crossed(value);
    if q.crossed == Some(crossed) {
        return None;
    }
    q.crossed = Some(crossed);
    let detail = format!(
        "value {value}, {} {}",
        if crossed { "is" } else { "not" },
        q.rule.line()
    );
    Some(Observation::new(
        now,
        Happening::AbortQuery { crossed, detail },
    ))
}

#[cfg(test)]
mod tests;
