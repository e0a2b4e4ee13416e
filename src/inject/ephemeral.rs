//! The ephemeral leaker: attached to running pods, no restart.
//!
//! The API forbids resources on ephemeral containers and never removes one: the leak's memory is
//! charged to the pod, and the leaker's own deadline (it exits then) is the only thing that ends
//! it. Reports say so.

use k8s_openapi::api::core::v1::EphemeralContainer;
use oomsday_core::CountOrPercent;
use serde_json::{Value, json};

use super::{InjectionPlan, env, leaker_config, security_context};
use crate::Result;

/// FNV-1a, 64 bit: stable across Rust releases and platforms (std's hasher is not), so the same
/// run id picks the same pods and names the same container everywhere.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= u64::from(b'/');
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The ephemeral container's name for a run: unique per run, because an ephemeral container
/// cannot be removed and a later run on the same pod needs a new name.
pub fn ephemeral_container_name(run_id: &str) -> String {
    crate::keys::ephemeral_leaker(fnv1a(&[run_id]) as u32)
}

/// The ephemeral leaker: configuration and hardening as the sidecar's, no resources (the API
/// refuses them), no ports (likewise), and it exits at its deadline since it is never restarted.
pub fn ephemeral_container(plan: &InjectionPlan) -> Result<EphemeralContainer> {
    super::check_run_id(&plan.run_id)?;
    let mut config = leaker_config(plan)?;
    config.exit_at_deadline = true;
    Ok(EphemeralContainer {
        name: ephemeral_container_name(&plan.run_id),
        image: Some(plan.spec.injection.image().to_string()),
        env: Some(env(&config)),
        security_context: Some(security_context()),
        ..EphemeralContainer::default()
    })
}

/// The strategic-merge patch for the `pods/{name}/ephemeralcontainers` subresource (what
/// `kubectl debug` sends); `ephemeralContainers` merges by name.
pub fn ephemeral_patch(plan: &InjectionPlan) -> Result<Value> {
    let container = serde_json::to_value(ephemeral_container(plan)?)?;
    Ok(json!({ "spec": { "ephemeralContainers": [container] } }))
}

/// Which of `pods` get a leaker: `how` many of them (all when unset), chosen reproducibly from
/// the run id — the same run id and pods give the same choice — and returned sorted by name.
pub fn choose_pods(run_id: &str, pods: &[String], how: Option<CountOrPercent>) -> Vec<String> {
    let total = u32::try_from(pods.len()).unwrap_or(u32::MAX);
    let n = how.map_or(total, |h| h.of(total)) as usize;
    let mut ranked: Vec<(u64, &String)> = pods
        .iter()
        .map(|p| (fnv1a(&[run_id, p.as_str()]), p))
        .collect();
    ranked.sort();
    ranked.dedup_by(|a, b| a.1 == b.1);
    let mut chosen: Vec<String> = ranked.into_iter().take(n).map(|(_, p)| p.clone()).collect();
    chosen.sort();
    chosen
}

#[cfg(test)]
mod tests;
