//! Pure builders for everything oomsday sends to the API to put a leak in place and take it out
//! again: the sidecar's server-side-apply patch, its revert, the ephemeral leaker, the marks.
//!
//! Nothing here does I/O or reads the clock; every object is built from the plan alone, so tests
//! compare whole objects (operator-rs style) and `oomsday run --dry-run` shows exactly what is
//! sent.
//!
//! Ownership is the point of server-side apply here: oomsday applies only the fields it owns
//! (the `oomsday-leaker` container and its marks) under the field manager [`FIELD_MANAGER`],
//! never with `force`. Applying again without them ([`revert_patch`]) removes exactly those
//! fields and leaves every change someone else made to the workload during the run intact.

mod ephemeral;

pub use ephemeral::{choose_pods, ephemeral_container, ephemeral_container_name, ephemeral_patch};

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, ResourceRequirements, SeccompProfile,
    SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use oomsday_core::leaker_config::{self, Deadline, LeakerConfig};
use serde_json::{Value, json};

use crate::engine::InjectionPlan;
use crate::observe::Time;
use crate::spec::{InjectionMode, InjectionRecord, MemoryLimit, TargetKind};
use crate::{Error, Result};

/// The field manager oomsday applies with; the revert applies under the same one.
pub const FIELD_MANAGER: &str = "oomsday";
/// Name of the sidecar leaker container. Ephemeral leakers get this name plus a run suffix.
pub const LEAKER_CONTAINER: &str = "oomsday-leaker";
/// Label and annotation carrying the run id, on the workload and its pod template. `cleanup`
/// finds leftovers by this label.
pub const RUN_ID: &str = "oomsday.dev/run-id";
/// Annotation with the RFC 3339 time the leaker stops by itself.
pub const DEADLINE: &str = "oomsday.dev/deadline";
/// Annotation with the experiment's name.
pub const EXPERIMENT: &str = "oomsday.dev/experiment";
/// Name of the leaker's metrics port (at most 15 characters, as the API requires).
pub const METRICS_PORT_NAME: &str = "oomsday-metrics";
/// The non-root user the leaker runs as (distroless' `nonroot`).
pub const LEAKER_UID: i64 = 65532;

/// Whether a container name is an oomsday leaker (sidecar or ephemeral).
pub fn is_leaker(container: &str) -> bool {
    container == LEAKER_CONTAINER
        || container
            .strip_prefix(LEAKER_CONTAINER)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The apps/v1 kind and the API path segment of a target kind.
pub fn api_kind(kind: TargetKind) -> (&'static str, &'static str) {
    match kind {
        TargetKind::Deployment => ("Deployment", "deployments"),
        TargetKind::StatefulSet => ("StatefulSet", "statefulsets"),
    }
}

/// The deadline as the annotations and the leaker write it.
pub fn format_time(t: Time) -> String {
    // jiff's Display is RFC 3339 in UTC, which is what the API and the leaker expect.
    t.to_string()
}

/// Checks a run id can be used as a label value (the API would refuse the whole patch).
pub fn check_run_id(run_id: &str) -> Result<()> {
    let ok_chars = run_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ok_ends = run_id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && run_id.ends_with(|c: char| c.is_ascii_alphanumeric());
    if run_id.is_empty() || run_id.len() > 63 || !ok_chars || !ok_ends {
        return Err(Error::Invalid(format!(
            "run id `{run_id}` is not a valid label value: at most 63 characters, \
             letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

/// The leaker's configuration for a plan: the spec's curve and the run's absolute deadline, so
/// a leaker outlives neither the run nor a crashed oomsday.
pub fn leaker_config(plan: &InjectionPlan) -> Result<LeakerConfig> {
    let curve = plan.spec.leak.curve().map_err(|missing| {
        Error::Invalid(format!(
            "spec.leak.{missing} is required for pattern {:?}",
            plan.spec.leak.pattern
        ))
    })?;
    Ok(LeakerConfig {
        curve,
        deadline: Deadline::Absolute(SystemTime::from(plan.deadline)),
        chunk: leaker_config::DEFAULT_CHUNK,
        report_interval: leaker_config::DEFAULT_REPORT_INTERVAL,
        listen: Some(SocketAddr::from((
            Ipv4Addr::UNSPECIFIED,
            leaker_config::DEFAULT_PORT,
        ))),
        // A Deployment restarts a container that exits; idling at the deadline avoids that loop.
        exit_at_deadline: false,
    })
}

/// Non-root, read-only root filesystem, no privilege escalation, no capabilities, the runtime's
/// default seccomp profile: what the restricted Pod Security Standard asks for.
fn security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(LEAKER_UID),
        run_as_group: Some(LEAKER_UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

fn env(config: &LeakerConfig) -> Vec<EnvVar> {
    config
        .to_env()
        .into_iter()
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect()
}

/// The sidecar leaker container: image from the spec, configuration in its environment, the
/// spec's memory request and limit (none by default, as in the story), hardened.
pub fn leaker_container(plan: &InjectionPlan) -> Result<Container> {
    let config = leaker_config(plan)?;
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    if let MemoryLimit::Bytes(limit) = plan.spec.leak.limit {
        limits.insert("memory".to_string(), K8sQuantity(limit.to_string()));
    }
    if let Some(request) = plan.spec.leak.request {
        requests.insert("memory".to_string(), K8sQuantity(request.to_string()));
    }
    let resources = (!limits.is_empty() || !requests.is_empty()).then(|| ResourceRequirements {
        limits: (!limits.is_empty()).then_some(limits),
        requests: (!requests.is_empty()).then_some(requests),
        ..ResourceRequirements::default()
    });
    Ok(Container {
        name: LEAKER_CONTAINER.into(),
        image: Some(plan.spec.injection.image().to_string()),
        env: Some(env(&config)),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT_NAME.into()),
            container_port: i32::from(leaker_config::DEFAULT_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources,
        security_context: Some(security_context()),
        ..Container::default()
    })
}

/// The marks oomsday puts on the workload and its pod template.
pub fn marks(plan: &InjectionPlan, experiment: &str) -> (Value, Value) {
    let labels = json!({ RUN_ID: plan.run_id });
    let mut annotations = serde_json::Map::new();
    annotations.insert(RUN_ID.into(), json!(plan.run_id));
    annotations.insert(DEADLINE.into(), json!(format_time(plan.deadline)));
    if !experiment.is_empty() {
        annotations.insert(EXPERIMENT.into(), json!(experiment));
    }
    (labels, Value::Object(annotations))
}

/// The server-side-apply patch that adds the sidecar leaker and the marks: only the fields
/// oomsday owns. Send with `PatchParams::apply(FIELD_MANAGER)`, without `force`.
pub fn sidecar_patch(plan: &InjectionPlan, experiment: &str) -> Result<Value> {
    check_run_id(&plan.run_id)?;
    let (kind, _) = api_kind(plan.spec.target.kind);
    let container = serde_json::to_value(leaker_container(plan)?)?;
    let (labels, annotations) = marks(plan, experiment);
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {
            "name": plan.spec.target.name,
            "namespace": plan.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "template": {
                "metadata": { "labels": labels, "annotations": annotations },
                "spec": { "containers": [container] },
            },
        },
    }))
}

/// The revert: the same field manager applies an object with none of oomsday's fields, so the
/// API server removes exactly those (and nothing another manager owns). Idempotent.
pub fn revert_patch(kind: TargetKind, namespace: &str, name: &str) -> Value {
    let (kind, _) = api_kind(kind);
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": { "name": name, "namespace": namespace },
    })
}

/// What a sidecar injection changed, for anyone to revert it.
pub fn sidecar_record(plan: &InjectionPlan) -> InjectionRecord {
    InjectionRecord {
        mode: InjectionMode::Sidecar,
        namespace: plan.namespace.clone(),
        kind: plan.spec.target.kind,
        name: plan.spec.target.name.clone(),
        container: LEAKER_CONTAINER.into(),
        image: plan.spec.injection.image().into(),
        run_id: plan.run_id.clone(),
        deadline: format_time(plan.deadline),
        pods: Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::LeakExperimentSpec;
    use pretty_assertions::assert_eq;

    pub(crate) fn plan(spec_yaml: &str) -> InjectionPlan {
        let spec: LeakExperimentSpec = serde_saphyr::from_str(spec_yaml).unwrap();
        InjectionPlan {
            run_id: "checkout-leak-7f3a".into(),
            namespace: "shop".into(),
            spec,
            deadline: "2026-11-24T15:00:00Z".parse().unwrap(),
        }
    }

    pub(crate) const STORY: &str = "
target: {kind: Deployment, name: checkout}
leak: {pattern: linear, rate: 40Mi/min, start: 64Mi, max: 2Gi}
duration: 30m
";

    fn yaml(s: &str) -> Value {
        serde_saphyr::from_str(s).unwrap()
    }

    const STORY_ENV: &str = "
        - {name: OOMSDAY_LEAK_PATTERN, value: linear}
        - {name: OOMSDAY_LEAK_RATE, value: 40Mi/min}
        - {name: OOMSDAY_LEAK_START, value: 64Mi}
        - {name: OOMSDAY_LEAK_MAX, value: 2Gi}
        - {name: OOMSDAY_LEAK_DEADLINE, value: '2026-11-24T15:00:00Z'}
        - {name: OOMSDAY_LEAK_CHUNK, value: 1Mi}
        - {name: OOMSDAY_LEAK_REPORT_INTERVAL, value: 1s}
        - {name: OOMSDAY_LEAK_LISTEN, value: '0.0.0.0:9464'}
        - {name: OOMSDAY_LEAK_EXIT_AT_DEADLINE, value: 'false'}";

    #[test]
    fn sidecar_patch_is_exactly_what_oomsday_owns() {
        let got = sidecar_patch(&plan(STORY), "black-friday").unwrap();
        let want = yaml(&format!(
            "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels: {{oomsday.dev/run-id: checkout-leak-7f3a}}
  annotations:
    oomsday.dev/run-id: checkout-leak-7f3a
    oomsday.dev/deadline: '2026-11-24T15:00:00Z'
    oomsday.dev/experiment: black-friday
spec:
  template:
    metadata:
      labels: {{oomsday.dev/run-id: checkout-leak-7f3a}}
      annotations:
        oomsday.dev/run-id: checkout-leak-7f3a
        oomsday.dev/deadline: '2026-11-24T15:00:00Z'
        oomsday.dev/experiment: black-friday
    spec:
      containers:
      - name: oomsday-leaker
        image: {image}
        env:{STORY_ENV}
        ports:
        - {{name: oomsday-metrics, containerPort: 9464, protocol: TCP}}
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
        ));
        assert_eq!(got, want);
    }

    #[test]
    fn limit_request_and_image_come_from_the_spec() {
        let p = plan(
            "
target: {kind: StatefulSet, name: ledger}
injection: {image: registry.local/leaker:1}
leak: {pattern: step, step: 256Mi, every: 2m, max: 1Gi, limit: 512Mi, request: 128Mi}
duration: 10m
",
        );
        let got = sidecar_patch(&p, "").unwrap();
        assert_eq!(got["kind"], "StatefulSet");
        assert!(got["metadata"]["annotations"].get(EXPERIMENT).is_none());
        let c = &got["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "registry.local/leaker:1");
        assert_eq!(
            c["resources"],
            yaml("{limits: {memory: 512Mi}, requests: {memory: 128Mi}}")
        );
    }

    #[test]
    fn the_leaker_config_round_trips_through_the_container_env() {
        let p = plan(STORY);
        let c = leaker_container(&p).unwrap();
        let env: std::collections::HashMap<String, String> = c
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        let back = LeakerConfig::from_sources(&[], &|k| env.get(k).cloned()).unwrap();
        assert_eq!(back, leaker_config(&p).unwrap());
        assert_eq!(
            back.deadline,
            Deadline::Absolute(SystemTime::from(p.deadline))
        );
    }

    #[test]
    fn revert_patch_carries_no_owned_field() {
        assert_eq!(
            revert_patch(TargetKind::Deployment, "shop", "checkout"),
            yaml(
                "{apiVersion: apps/v1, kind: Deployment, metadata: {name: checkout, namespace: shop}}"
            )
        );
    }

    #[test]
    fn invalid_run_ids_and_specs_are_refused() {
        let mut p = plan(STORY);
        p.run_id = "Not a label!".into();
        assert!(
            sidecar_patch(&p, "x")
                .unwrap_err()
                .to_string()
                .contains("run id")
        );
        p.run_id = "x".repeat(64);
        assert!(sidecar_patch(&p, "x").is_err());
        let mut p = plan(STORY);
        p.spec.leak.rate = None;
        let e = sidecar_patch(&p, "x").unwrap_err().to_string();
        assert!(e.contains("spec.leak.rate"), "{e}");
    }

    #[test]
    fn leaker_names() {
        assert!(is_leaker("oomsday-leaker"));
        assert!(is_leaker("oomsday-leaker-7f3a"));
        assert!(!is_leaker("oomsday-leakerx"));
        assert!(!is_leaker("app"));
    }
}
