use super::*;
use crate::spec::LeakExperimentSpec;
use crate::testkit::ts;
use pretty_assertions::assert_eq;

pub(crate) fn plan(spec_yaml: &str) -> InjectionPlan {
    let spec: LeakExperimentSpec = serde_saphyr::from_str(spec_yaml).unwrap();
    InjectionPlan {
        run_id: "checkout-leak-7f3a".into(),
        namespace: "shop".into(),
        spec,
        deadline: ts("2026-11-24T15:00:00Z"),
        started: ts("2026-11-24T14:30:00Z"),
    }
}

pub(crate) const STORY: &str = "
target: {kind: Deployment, name: checkout}
leak: {pattern: linear, rate: 40Mi/min, start: 64Mi, max: 2Gi}
duration: 30m
";

pub(crate) fn yaml(s: &str) -> Value {
    serde_saphyr::from_str(s).unwrap()
}

/// The story plan's leaker environment, as a YAML flow sequence.
pub(crate) fn story_env(exit_at_deadline: bool) -> String {
    let vars = [
        ("OOMSDAY_LEAK_PATTERN", "linear"),
        ("OOMSDAY_LEAK_RATE", "40Mi/min"),
        ("OOMSDAY_LEAK_START", "64Mi"),
        ("OOMSDAY_LEAK_MAX", "2Gi"),
        ("OOMSDAY_LEAK_DEADLINE", "'2026-11-24T15:00:00Z'"),
        ("OOMSDAY_LEAK_CHUNK", "1Mi"),
        ("OOMSDAY_LEAK_REPORT_INTERVAL", "1s"),
        ("OOMSDAY_LEAK_LISTEN", "'0.0.0.0:9464'"),
        (
            "OOMSDAY_LEAK_EXIT_AT_DEADLINE",
            if exit_at_deadline {
                "'true'"
            } else {
                "'false'"
            },
        ),
    ];
    let items: Vec<String> = vars
        .iter()
        .map(|(name, value)| format!("{{name: {name}, value: {value}}}"))
        .collect();
    format!("[{}]", items.join(", "))
}

/// Every leaker's security context, as a YAML flow mapping.
pub(crate) const HARDENED: &str = "{runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, \
    readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, \
    seccompProfile: {type: RuntimeDefault}}";

#[test]
fn sidecar_patch_is_exactly_what_oomsday_owns() {
    let got = sidecar_patch(&plan(STORY), "black-friday").unwrap();
    // The same marks go on the workload and on its pod template.
    let labels = "{oomsday.dev/run-id: checkout-leak-7f3a}";
    let annotations = "{oomsday.dev/run-id: checkout-leak-7f3a, \
        oomsday.dev/deadline: '2026-11-24T15:00:00Z', oomsday.dev/experiment: black-friday}";
    let want = yaml(&format!(
        "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels: {labels}
  annotations: {annotations}
spec:
  template:
    metadata: {{labels: {labels}, annotations: {annotations}}}
    spec:
      containers:
      - name: oomsday-leaker
        image: {image}
        env: {env}
        ports:
        - {{name: oomsday-metrics, containerPort: 9464, protocol: TCP}}
        securityContext: {HARDENED}
",
        image = crate::spec::DEFAULT_LEAKER_IMAGE,
        env = story_env(false),
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
