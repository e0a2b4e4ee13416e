//! Checks of the checked-in deployment manifests (deploy/rbac.yaml, deploy/controller.yaml):
//! least-privilege RBAC that still covers everything the kube cluster asks for, and a
//! restricted, probed, bounded controller pod.

use serde_json::Value;

use crate::cluster::kube::required_access;
use crate::spec::{InjectionMode, TargetKind};

fn docs(file: &str) -> Vec<Value> {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `rules` grant `verb` on `group`/`resource`.
fn grants(rules: &Value, verb: &str, group: &str, resource: &str) -> bool {
    rules.as_array().into_iter().flatten().any(|r| {
        strs(&r["apiGroups"]).contains(&group)
            && strs(&r["resources"]).contains(&resource)
            && strs(&r["verbs"]).contains(&verb)
    })
}

#[test]
fn rbac_is_least_privilege() {
    let d = docs("rbac.yaml");
    let sa = kind(&d, "ServiceAccount", "oomsday-controller");
    assert_eq!(sa["metadata"]["namespace"], "oomsday-system");
    for doc in d
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in doc["rules"].as_array().expect("rules") {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(!strs(&rule[field]).contains(&"*"), "wildcard in {rule}");
            }
            assert!(
                !strs(&rule["resources"])
                    .iter()
                    .any(|r| r.starts_with("secrets")),
                "secrets in {rule}"
            );
            assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
            for verb in ["escalate", "bind", "impersonate", "deletecollection"] {
                assert!(!strs(&rule["verbs"]).contains(&verb), "{verb} in {rule}");
            }
        }
    }
    let cr = &kind(&d, "ClusterRole", "oomsday-controller")["rules"];
    // Leases only in the controller's namespace.
    assert!(!grants(cr, "update", "coordination.k8s.io", "leases"));
    let role = kind(&d, "Role", "oomsday-controller-leader-election");
    assert_eq!(role["metadata"]["namespace"], "oomsday-system");
    for verb in ["get", "create", "update"] {
        assert!(grants(
            &role["rules"],
            verb,
            "coordination.k8s.io",
            "leases"
        ));
    }
    // What the reconcilers do.
    for (verb, resource) in [
        ("watch", "leakexperiments"),
        ("patch", "leakexperiments"),
        ("create", "leakruns"),
        ("delete", "leakruns"),
        ("patch", "leakruns/status"),
        ("patch", "leakexperiments/status"),
        ("update", "leakexperiments/finalizers"),
    ] {
        assert!(
            grants(cr, verb, "oomsday.dev", resource),
            "{verb} {resource}"
        );
    }
    assert!(grants(cr, "create", "events.k8s.io", "events"));
    assert!(grants(cr, "patch", "events.k8s.io", "events"));
    assert!(grants(cr, "get", "", "namespaces"));
    assert!(grants(
        cr,
        "create",
        "authorization.k8s.io",
        "selfsubjectaccessreviews"
    ));
    // Everything the kube cluster's preflight asks the API for, in both modes.
    for k in [TargetKind::Deployment, TargetKind::StatefulSet] {
        for m in [InjectionMode::Sidecar, InjectionMode::Ephemeral] {
            for a in required_access("shop", k, m) {
                let resource = match a.subresource {
                    Some(s) => format!("{}/{s}", a.resource),
                    None => a.resource.to_string(),
                };
                assert!(grants(cr, a.verb, a.group, &resource), "missing: {a}");
            }
        }
    }
    // Bound to the ServiceAccount.
    let b = kind(&d, "ClusterRoleBinding", "oomsday-controller");
    assert_eq!(b["roleRef"]["name"], "oomsday-controller");
    assert_eq!(b["subjects"][0]["name"], "oomsday-controller");
    assert_eq!(b["subjects"][0]["namespace"], "oomsday-system");
    let rb = kind(&d, "RoleBinding", "oomsday-controller-leader-election");
    assert_eq!(rb["roleRef"]["kind"], "Role");
}

#[test]
fn controller_pod_is_restricted_probed_and_bounded() {
    let d = docs("controller.yaml");
    let dep = kind(&d, "Deployment", "oomsday-controller");
    assert_eq!(dep["metadata"]["namespace"], "oomsday-system");
    assert_eq!(dep["spec"]["replicas"], 2);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "oomsday-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"].get("add").is_none());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(c["resources"][kind][res].is_string(), "{kind}.{res}");
        }
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = &c["ports"][0];
    assert_eq!(
        (port["name"].as_str(), port["containerPort"].as_i64()),
        (Some("metrics"), Some(8080))
    );
    // The shutdown grace (reverting runs in flight) fits in the pod's termination grace.
    let args = strs(&c["args"]);
    assert_eq!(args.first(), Some(&"controller"));
    let grace = args
        .iter()
        .position(|a| *a == "--shutdown-grace")
        .and_then(|i| args.get(i + 1))
        .and_then(|g| humantime::parse_duration(g).ok())
        .expect("--shutdown-grace");
    let termination = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace.as_secs() + 5 <= termination,
        "{grace:?} vs {termination}s"
    );
    // Lease identity from the downward API.
    let env = c["env"].as_array().expect("env");
    assert!(
        env.iter().any(|e| e["name"] == "POD_NAME"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name")
    );
}

#[test]
fn rbac_grants_everything_the_startup_check_asks_for() {
    use crate::controller::startup::{controller_access, run_access};
    let d = docs("rbac.yaml");
    let cluster_role = &kind(&d, "ClusterRole", "oomsday-controller")["rules"];
    let lease_role = &kind(&d, "Role", "oomsday-controller-leader-election")["rules"];
    let mut needed = controller_access("oomsday-system", None);
    needed.extend(run_access(None));
    for a in needed {
        let resource = match a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.to_string(),
        };
        let rules = if a.resource == "leases" {
            lease_role
        } else {
            cluster_role
        };
        assert!(grants(rules, a.verb, a.group, &resource), "missing: {a}");
    }
}

#[test]
fn node_proxy_is_a_separate_unbound_opt_in() {
    let rbac = docs("rbac.yaml");
    let cr = &kind(&rbac, "ClusterRole", "oomsday-controller")["rules"];
    assert!(
        !grants(cr, "get", "", "nodes/proxy"),
        "nodes/proxy stays out of the controller's role"
    );
    // What a snapshot lists (spec.predict) the controller may already list.
    for (group, resource) in [
        ("", "nodes"),
        ("", "pods"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("policy", "poddisruptionbudgets"),
        ("", "limitranges"),
        ("autoscaling", "horizontalpodautoscalers"),
    ] {
        assert!(grants(cr, "list", group, resource), "list {resource}");
    }
    let d = docs("rbac-node-proxy.yaml");
    assert_eq!(
        d.len(),
        1,
        "the role alone: binding it is the user's choice"
    );
    let role = kind(&d, "ClusterRole", "oomsday-node-proxy");
    let rules = role["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(strs(&rules[0]["resources"]), ["nodes/proxy"]);
    assert_eq!(strs(&rules[0]["verbs"]), ["get"]);
    let kustomization = std::fs::read_to_string(format!(
        "{}/deploy/kustomization.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("kustomization.yaml");
    assert!(
        !kustomization.contains("rbac-node-proxy"),
        "not applied by default"
    );
}
