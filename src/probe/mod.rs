//! Probes during a real run: HTTP GETs, PromQL instant queries with bounds, and checks of the
//! expected alerts through the Prometheus API. The I/O lives here; what the results mean is the
//! scorer's business. Time is passed in by the caller (the cluster's clock), never read here.
//!
//! The engine calls [`Prober::poll`] whenever [`Prober::next_due`] comes, and puts the returned
//! observations (`Event::Probe`, `Event::Alert`) into the run's timeline.

pub mod http;
pub mod prometheus;

pub use prometheus::{ActiveAlert, AlertWatch, Prometheus, Sample};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::observe::{Event, Observation, Time};
use crate::spec::{LeakExperimentSpec, Probe};
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

/// Runs a spec's probes and alert checks on their intervals.
pub struct Prober {
    probes: Vec<Scheduled>,
    prometheus: Option<Prometheus>,
    alerts: Option<AlertWatch>,
    next_alert_check: Option<Time>,
    rule_for: Option<BTreeMap<String, f64>>,
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

impl Prober {
    /// Prepares the probes and alert checks of a spec. URLs are checked here, so a typo fails
    /// before the leak starts, not during it.
    pub fn new(spec: &LeakExperimentSpec) -> Result<Prober> {
        let prometheus = spec
            .prometheus
            .as_ref()
            .map(|p| Prometheus::new(&p.url, API_TIMEOUT))
            .transpose()?;
        let mut probes = Vec::new();
        for p in &spec.probes {
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
            probes.push(Scheduled {
                probe: p.clone(),
                check,
                next: None,
            });
        }
        let alerts = (!spec.expect_alerts.is_empty() && prometheus.is_some())
            .then(|| AlertWatch::new(spec.expect_alerts.clone()));
        Ok(Prober {
            probes,
            prometheus,
            alerts,
            next_alert_check: None,
            rule_for: None,
            errors: Vec::new(),
        })
    }

    /// Whether there is anything to poll at all.
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty() && self.alerts.is_none()
    }

    /// When the next probe or alert check is due (`None`: nothing to do; a time in the past:
    /// due now).
    pub fn next_due(&self) -> Option<Time> {
        let probe = self
            .probes
            .iter()
            .map(|p| p.next.unwrap_or(Time::MIN))
            .min();
        let alert = self
            .alerts
            .as_ref()
            .map(|_| self.next_alert_check.unwrap_or(Time::MIN));
        probe.into_iter().chain(alert).min()
    }

    /// Errors from alert checks so far (an unreachable Prometheus), for the run's report.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Runs every probe and alert check that is due at `now`; returns what they observed, dated
    /// `now` (probes) or by the alerts' own times.
    pub async fn poll(&mut self, now: Time) -> Vec<Observation> {
        let mut out = Vec::new();
        for s in &mut self.probes {
            if s.next.is_some_and(|n| n > now) {
                continue;
            }
            s.next = Some(after(now, s.probe.interval.std()));
            let (ok, detail) = match &s.check {
                Check::Http(url) => match http::get(url, s.probe.timeout.std()).await {
                    Ok(r) => (r.is_success(), format!("HTTP {}", r.status)),
                    Err(e) => (false, e.to_string()),
                },
                Check::Query { expr, min, max } => match &self.prometheus {
                    Some(p) => match p.query(expr).await {
                        Ok(samples) => match samples.first() {
                            Some(sm) => {
                                (within(sm.value, *min, *max), format!("value {}", sm.value))
                            }
                            None => (false, "no data".into()),
                        },
                        Err(e) => (false, format!("query failed: {e}")),
                    },
                    None => (false, "no prometheus configured".into()),
                },
            };
            out.push(Observation::new(
                now,
                Event::Probe {
                    name: s.probe.name.clone(),
                    ok,
                    detail,
                },
            ));
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
                        Event::AlertCheck {
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
                        Event::AlertCheck {
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

#[cfg(test)]
mod tests;
