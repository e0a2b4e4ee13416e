//! Whether a rollout finished, by the same rules as `kubectl rollout status`: pure, from the
//! workload object alone.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};

/// How far a rollout got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Done,
    /// Still rolling; the sentence says where it stands, for progress logs.
    Progressing(String),
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// A Deployment's rollout: the controller saw the new generation, every replica is updated,
/// the old ones are gone, and the updated ones are available.
pub fn deployment(d: &Deployment) -> Rollout {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(st) = d.status.as_ref() else {
        return Rollout::Progressing("waiting for the controller to report status".into());
    };
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if st.observed_generation.unwrap_or(0) < generation {
        return Rollout::Progressing("waiting for the controller to see the change".into());
    }
    let updated = n(st.updated_replicas);
    let total = n(st.replicas);
    let available = n(st.available_replicas);
    if updated < desired {
        return Rollout::Progressing(format!("{updated} of {desired} replicas updated"));
    }
    if total > updated {
        return Rollout::Progressing(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Rollout::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    Rollout::Done
}

/// A StatefulSet's rolling update: every replica ready and on the update revision.
pub fn statefulset(s: &StatefulSet) -> Rollout {
    let generation = s.metadata.generation.unwrap_or(0);
    let Some(st) = s.status.as_ref() else {
        return Rollout::Progressing("waiting for the controller to report status".into());
    };
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if st.observed_generation.unwrap_or(0) < generation {
        return Rollout::Progressing("waiting for the controller to see the change".into());
    }
    let ready = n(st.ready_replicas);
    if ready < desired {
        return Rollout::Progressing(format!("{ready} of {desired} replicas ready"));
    }
    let updated = n(st.updated_replicas);
    if st.update_revision.is_some()
        && st.update_revision != st.current_revision
        && updated < desired
    {
        return Rollout::Progressing(format!("{updated} of {desired} replicas updated"));
    }
    Rollout::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(json: serde_json::Value) -> Deployment {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn deployment_rollout_stages() {
        let base = |status: serde_json::Value| {
            d(serde_json::json!({
                "metadata": {"name": "checkout", "generation": 4},
                "spec": {"replicas": 3, "selector": {}, "template": {}},
                "status": status,
            }))
        };
        assert!(
            matches!(deployment(&base(serde_json::json!({"observedGeneration": 3}))), Rollout::Progressing(m) if m.contains("see the change"))
        );
        assert_eq!(
            deployment(&base(
                serde_json::json!({"observedGeneration": 4, "updatedReplicas": 1, "replicas": 4})
            )),
            Rollout::Progressing("1 of 3 replicas updated".into())
        );
        assert_eq!(
            deployment(&base(
                serde_json::json!({"observedGeneration": 4, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3})
            )),
            Rollout::Progressing("1 old replicas pending termination".into())
        );
        assert_eq!(
            deployment(&base(
                serde_json::json!({"observedGeneration": 4, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2})
            )),
            Rollout::Progressing("2 of 3 updated replicas available".into())
        );
        assert_eq!(
            deployment(&base(
                serde_json::json!({"observedGeneration": 4, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
            )),
            Rollout::Done
        );
    }

    #[test]
    fn statefulset_rollout_stages() {
        let s = |status: serde_json::Value| -> StatefulSet {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "ledger", "generation": 2},
                "spec": {"replicas": 2, "selector": {}, "serviceName": "ledger", "template": {}},
                "status": status,
            }))
            .unwrap()
        };
        assert_eq!(
            statefulset(&s(
                serde_json::json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"})
            )),
            Rollout::Progressing("1 of 2 replicas updated".into())
        );
        assert_eq!(
            statefulset(&s(
                serde_json::json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "b", "updateRevision": "b"})
            )),
            Rollout::Done
        );
    }
}
