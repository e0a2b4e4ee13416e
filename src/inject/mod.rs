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
//!
//! What to inject is an [`InjectionPlan`], built by the engine and carried out by a cluster;
//! this module needs nothing but the spec and the [`crate::keys`] it writes.

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

use crate::keys::{DEADLINE, EXPERIMENT, LEAKER_CONTAINER, RUN_ID};
use crate::spec::{Injected, InjectionMode, LeakExperimentSpec, MemoryLimit, TargetKind};
use crate::{Error, Result};

/// The field manager oomsday applies with; the revert applies under the same one.
pub const FIELD_MANAGER: &str = "oomsday";
/// Name of the leaker's metrics port (at most 15 characters, as the API requires).
pub const METRICS_PORT_NAME: &str = "oomsday-metrics";
/// The non-root user the leaker runs as (distroless' `nonroot`).
pub const LEAKER_UID: i64 = 65532;

/// The leaker to put in place for one run: everything the builders here need, carried out by
/// the engine's `Cluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionPlan {
    pub run_id: String,
    pub namespace: String,
    pub spec: LeakExperimentSpec,
    /// The absolute time the leak ends; the leaker stops by itself then.
    pub deadline: jiff::Timestamp,
    /// When the run started: what the cluster did before is history to the run's observation.
    /// The run's own clock, so that a live run and its replay draw that line alike.
    pub started: jiff::Timestamp,
}

impl InjectionPlan {
    /// What this plan puts in place, before the cluster has said which pods it chose: enough to
    /// revert a sidecar injection that failed or was interrupted half-way (revert is
    /// idempotent, so reverting what was never applied is harmless).
    pub fn record(&self) -> Injected {
        let mut record = sidecar_record(self);
        if self.spec.injection.mode == InjectionMode::Ephemeral {
            record.mode = InjectionMode::Ephemeral;
            record.container = ephemeral_container_name(&self.run_id);
        }
        record
    }
}

/// The apps/v1 kind and the API path segment of a target kind.
pub fn api_kind(kind: TargetKind) -> (&'static str, &'static str) {
    match kind {
        TargetKind::Deployment => ("Deployment", "deployments"),
        TargetKind::StatefulSet => ("StatefulSet", "statefulsets"),
    }
}

/// The deadline as the annotations and the leaker write it.
pub fn format_time(t: jiff::Timestamp) -> String {
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
pub fn sidecar_record(plan: &InjectionPlan) -> Injected {
    Injected {
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
pub(crate) mod tests;
