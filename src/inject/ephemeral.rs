//! The ephemeral leaker: attached to running pods, no restart.
//!
//! The API forbids resources on ephemeral containers and never removes one: the leak's memory is
//! charged to the pod, and the leaker's own deadline (it exits then) is the only thing that ends
//! it. Reports say so.

use k8s_openapi::api::core::v1::EphemeralContainer;
use oomsday_core::CountOrPercent;
use serde_json::{Value, json};

use super::{LEAKER_CONTAINER, env, leaker_config, security_context};
use crate::Result;
use crate::engine::InjectionPlan;

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
    format!("{LEAKER_CONTAINER}-{:08x}", fnv1a(&[run_id]) as u32)
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
mod tests {
    use super::*;
    use crate::inject::tests::{STORY, plan};
    use pretty_assertions::assert_eq;

    fn pods(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("checkout-5d9f-{i:03}")).collect()
    }

    #[test]
    fn ephemeral_container_has_no_resources_and_exits_at_its_deadline() {
        let p = plan(STORY);
        let got = ephemeral_patch(&p).unwrap();
        let name = ephemeral_container_name(&p.run_id);
        let want: Value = serde_saphyr::from_str(&format!(
            "
spec:
  ephemeralContainers:
  - name: {name}
    image: {image}
    env:
    - {{name: OOMSDAY_LEAK_PATTERN, value: linear}}
    - {{name: OOMSDAY_LEAK_RATE, value: 40Mi/min}}
    - {{name: OOMSDAY_LEAK_START, value: 64Mi}}
    - {{name: OOMSDAY_LEAK_MAX, value: 2Gi}}
    - {{name: OOMSDAY_LEAK_DEADLINE, value: '2026-11-24T15:00:00Z'}}
    - {{name: OOMSDAY_LEAK_CHUNK, value: 1Mi}}
    - {{name: OOMSDAY_LEAK_REPORT_INTERVAL, value: 1s}}
    - {{name: OOMSDAY_LEAK_LISTEN, value: '0.0.0.0:9464'}}
    - {{name: OOMSDAY_LEAK_EXIT_AT_DEADLINE, value: 'true'}}
    securityContext:
      runAsNonRoot: true
      runAsUser: 65532
      runAsGroup: 65532
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
      seccompProfile: {{type: RuntimeDefault}}
",
            image = crate::spec::DEFAULT_LEAKER_IMAGE
        ))
        .unwrap();
        assert_eq!(got, want);
        assert!(
            name.starts_with("oomsday-leaker-") && name.len() == 23,
            "{name}"
        );
        assert!(crate::inject::is_leaker(&name));
    }

    #[test]
    fn pod_choice_is_reproducible_and_sized() {
        let all = pods(10);
        let a = choose_pods("run-a", &all, Some("3".parse().unwrap()));
        assert_eq!(a.len(), 3);
        let mut shuffled = all.clone();
        shuffled.reverse();
        assert_eq!(
            choose_pods("run-a", &shuffled, Some("3".parse().unwrap())),
            a
        );
        assert_eq!(
            choose_pods("run-a", &all, Some("25%".parse().unwrap())).len(),
            3
        );
        assert_eq!(choose_pods("run-a", &all, None), all);
        assert_eq!(
            choose_pods("run-a", &all, Some("50".parse().unwrap())).len(),
            10
        );
        // Another run id picks differently somewhere among a few tries.
        assert!(["run-b", "run-c", "run-d"].iter().any(|r| choose_pods(
            r,
            &all,
            Some("3".parse().unwrap())
        ) != a));
        assert!(choose_pods("run-a", &[], Some("50%".parse().unwrap())).is_empty());
    }

    #[test]
    fn fnv_is_the_reference_algorithm() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(&[""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
    }
}
