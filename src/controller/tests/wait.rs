//! `kubectl wait --for=condition=...` semantics, on the objects the controller writes.
//!
//! [`kubectl_wait_met`] is kubectl's own check (`ConditionalWait.checkCondition` in
//! k8s.io/kubectl/pkg/cmd/wait): the first condition whose type matches case-insensitively
//! decides; its status must equal the wanted one (case-insensitively, `True` by default); and a
//! condition whose `observedGeneration` (else `status.observedGeneration`) is older than
//! `metadata.generation` does not count yet.

use serde_json::Value;

/// Whether `kubectl wait --for=condition=TYPE=STATUS` is satisfied by `obj`.
pub(super) fn kubectl_wait_met(obj: &Value, type_: &str, status: &str) -> bool {
    let Some(conditions) = obj["status"]["conditions"].as_array() else {
        return false;
    };
    for c in conditions {
        let Some(name) = c["type"].as_str() else {
            continue;
        };
        if !name.eq_ignore_ascii_case(type_) {
            continue;
        }
        let Some(s) = c["status"].as_str() else {
            continue;
        };
        if let Some(generation) = obj["metadata"]["generation"].as_i64() {
            let observed = c["observedGeneration"]
                .as_i64()
                .or_else(|| obj["status"]["observedGeneration"].as_i64());
            if observed.is_some_and(|o| o < generation) {
                return false;
            }
        }
        return s.eq_ignore_ascii_case(status);
    }
    false
}

#[test]
fn the_semantics_themselves() {
    let obj = |generation: i64, observed: i64, status: &str| {
        serde_json::json!({
            "metadata": {"generation": generation},
            "status": {"conditions": [
                {"type": "Finished", "status": status, "observedGeneration": observed}
            ]}
        })
    };
    assert!(kubectl_wait_met(&obj(1, 1, "True"), "finished", "true"));
    assert!(!kubectl_wait_met(&obj(1, 1, "False"), "Finished", "True"));
    assert!(kubectl_wait_met(&obj(1, 1, "False"), "Finished", "False"));
    assert!(
        !kubectl_wait_met(&obj(2, 1, "True"), "Finished", "True"),
        "stale"
    );
    assert!(
        !kubectl_wait_met(&obj(1, 1, "True"), "Succeeded", "True"),
        "absent"
    );
}
