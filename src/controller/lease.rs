//! Leader election with a `coordination.k8s.io/v1` Lease, written by hand: get, then create or
//! replace carrying the `resourceVersion` that was read, so that two replicas racing for the
//! same Lease cannot both win (the loser gets 409 Conflict). Only the leader injects.
//!
//! Expiry is judged like client-go does: by how long *this* replica has seen the same Lease
//! record unchanged (its local clock), not by the other replica's `renewTime`, so clock skew
//! between nodes does not matter.

use std::time::Duration as StdDuration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

use crate::observe::Time;

/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: StdDuration = StdDuration::from_secs(15);
/// How often the holder renews, and a candidate retries (client-go's retry period): a candidate
/// sees the holder's last renewal within this, so it takes over an abandoned Lease between one
/// lease duration and one lease duration plus two of these after the holder's last renewal.
pub const RENEW_PERIOD: StdDuration = StdDuration::from_secs(2);

/// What to do with the Lease this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// There is no Lease: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// It is free or expired: take it over (a new transition).
    Acquire,
    /// Someone else holds it and it has not expired.
    Follow { holder: String },
}

/// Decides from the Lease as read, when this replica first saw its current record
/// (`observed_since`, local clock) and `now`.
pub fn decide_lease(
    lease: Option<&Lease>,
    me: &str,
    observed_since: Time,
    now: Time,
) -> LeaseAction {
    let Some(lease) = lease else {
        return LeaseAction::Create;
    };
    let spec = lease.spec.as_ref();
    let holder = spec
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty());
    match holder {
        None => LeaseAction::Acquire,
        Some(h) if h == me => LeaseAction::Renew,
        Some(h) => {
            let secs = spec
                .and_then(|s| s.lease_duration_seconds)
                .filter(|s| *s > 0)
                .map(|s| s as u64)
                .unwrap_or(LEASE_DURATION.as_secs());
            let expired =
                now.duration_since(observed_since) > jiff::SignedDuration::from_secs(secs as i64);
            if expired {
                LeaseAction::Acquire
            } else {
                LeaseAction::Follow { holder: h.into() }
            }
        }
    }
}

/// The Lease to write for `action` (None for Follow): the read object with this replica as
/// holder, keeping its resourceVersion so the write is conditional.
pub fn lease_to_write(
    read: Option<&Lease>,
    action: &LeaseAction,
    name: &str,
    me: &str,
    now: Time,
) -> Option<Lease> {
    let mut lease = match (action, read) {
        (LeaseAction::Follow { .. }, _) => return None,
        (LeaseAction::Create, _) | (_, None) => Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec::default()),
        },
        (_, Some(l)) => l.clone(),
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let taking_over = !matches!(action, LeaseAction::Renew);
    if taking_over {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(
            spec.lease_transitions.unwrap_or(0) + i32::from(matches!(action, LeaseAction::Acquire)),
        );
    }
    spec.holder_identity = Some(me.into());
    spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
    spec.renew_time = Some(MicroTime(now));
    Some(lease)
}

/// Runs the election loop for as long as the task lives, publishing on `leader` whether this
/// replica currently leads. `clock` is the wall clock in production.
pub struct Elector {
    pub api: Api<Lease>,
    pub name: String,
    pub me: String,
    pub clock: fn() -> Time,
}

impl Elector {
    /// One round: read, decide, write. Returns whether this replica holds the Lease afterwards,
    /// and updates the observation record used for expiry.
    pub async fn round(&self, seen: &mut Option<(String, Time)>) -> crate::Result<bool> {
        let read = self.api.get_opt(&self.name).await?;
        let now = (self.clock)();
        let version = read
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        let since = match seen {
            Some((v, t)) if *v == version => *t,
            _ => {
                *seen = Some((version, now));
                now
            }
        };
        let action = decide_lease(read.as_ref(), &self.me, since, now);
        let Some(lease) = lease_to_write(read.as_ref(), &action, &self.name, &self.me, now) else {
            return Ok(false);
        };
        let res = match action {
            LeaseAction::Create => self.api.create(&PostParams::default(), &lease).await,
            _ => {
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match res {
            Ok(_) => Ok(true),
            // Someone else wrote first: not leading this round.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the Lease up (on shutdown, after the runs were reverted) so that the other replica
    /// takes over at once instead of after the lease duration. Only a Lease this replica holds
    /// is touched; a conflict means someone else already wrote it.
    pub async fn release(&self) -> crate::Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.me.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime((self.clock)()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Loops forever: renew every [`RENEW_PERIOD`]; leadership is dropped when no renewal
    /// succeeded for a lease duration minus one renew period, before another replica can take it.
    pub async fn run(&self, leader: watch::Sender<bool>) {
        let mut seen = None;
        let mut last_ok: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(RENEW_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let round = self.round(&mut seen);
            let held = match crate::retry::timeout(RENEW_PERIOD, "a Lease round", round).await {
                Ok(true) => {
                    last_ok = Some(tokio::time::Instant::now());
                    true
                }
                Ok(false) => {
                    last_ok = None;
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lease renewal failed");
                    last_ok.is_some_and(|t| t.elapsed() < LEASE_DURATION - RENEW_PERIOD)
                }
            };
            leader.send_if_modified(|cur| {
                let changed = *cur != held;
                if changed {
                    tracing::info!(leader = held, me = %self.me, "leadership changed");
                }
                *cur = held;
                changed
            });
        }
    }
}

#[cfg(test)]
mod tests;
