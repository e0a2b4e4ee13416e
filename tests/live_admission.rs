//! The API server enforces oomsday's rules: the CRDs of deploy/crds (their CEL rules) and the
//! admission policy of deploy/policy, applied to a real cluster, refuse each invalid example of
//! tests/fixtures/admission/invalid with oomsday's message and accept the valid ones.
//!
//! ```sh
//! OOMSDAY_LIVE_KUBECONFIG=$HOME/realk8s/admin.kubeconfig cargo test --test live_admission -- --nocapture
//! ```
//!
//! Without `OOMSDAY_LIVE_KUBECONFIG` it says in one line that it skipped. It applies the CRDs
//! (cluster-wide, left in place: other tests' objects may use them) and the policy (removed at
//! the end: it is optional, and it would refuse other tests' objects in unlabelled namespaces),
//! makes its own namespaces `adm-<pid>` (labelled oomsday.dev/allow=true) and
//! `adm-<pid>-nolabel`, and deletes them at the end, after a failure too. Invalid examples meant for a system namespace are applied there with
//! `--dry-run=server`, which runs every validation and admission step and stores nothing.

mod support;

use std::path::PathBuf;

use oomsday_testkit::admission::header;
use support::live::{Live, live, repo};

struct Namespaces<'a> {
    live: &'a Live,
    names: [String; 2],
}

impl Drop for Namespaces<'_> {
    fn drop(&mut self) {
        let policy = repo().join("deploy/policy");
        let _ = self.live.kubectl(&[
            "delete",
            "-k",
            policy.to_str().unwrap_or_default(),
            "--ignore-not-found",
        ]);
        for n in &self.names {
            let _ = self.live.kubectl(&[
                "delete",
                "namespace",
                n,
                "--wait=false",
                "--ignore-not-found",
            ]);
        }
    }
}

fn examples(kind: &str) -> Vec<(PathBuf, String)> {
    oomsday_testkit::admission::examples(&repo(), kind)
}

/// The policy names the namespaces and the label oomsday itself uses.
#[test]
fn the_policy_uses_oomsdays_namespaces_and_label() {
    let policy = std::fs::read_to_string(repo().join("deploy/policy/namespaces.yaml"))
        .expect("deploy/policy/namespaces.yaml");
    for ns in oomsday::spec::validate::SYSTEM_NAMESPACES {
        assert!(policy.contains(&format!("'{ns}'")), "{ns}");
    }
    assert!(policy.contains(&format!("'{}'", oomsday::keys::ALLOW_LABEL)));
    let kust = std::fs::read_to_string(repo().join("deploy/kustomization.yaml")).expect("kust");
    assert!(!kust.contains("policy"), "the policy is optional");
}

#[test]
fn the_api_server_refuses_what_oomsday_validate_refuses() {
    let Some(live) = live("the_api_server_refuses_what_oomsday_validate_refuses") else {
        return;
    };
    let crds = repo().join("deploy/crds");
    live.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        crds.to_str().expect("path"),
    ]);
    live.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/leakexperiments.oomsday.dev",
        "crd/leakruns.oomsday.dev",
        "--timeout=60s",
    ]);
    let ns = format!("adm-{}", std::process::id());
    let spaces = Namespaces {
        live: &live,
        names: [ns.clone(), format!("{ns}-nolabel")],
    };
    let policy = repo().join("deploy/policy");
    live.kubectl_ok(&["apply", "-k", policy.to_str().expect("path")]);
    for n in &spaces.names {
        live.kubectl_ok(&["create", "namespace", n]);
    }
    live.kubectl_ok(&[
        "label",
        "namespace",
        &ns,
        &format!("{}=true", oomsday::keys::ALLOW_LABEL),
    ]);

    // A policy takes effect a moment after it is made: wait until it refuses the first example.
    let apply = |file: &PathBuf, namespace: &str, dry: bool| {
        let mut args = vec!["apply", "-n", namespace, "-f", file.to_str().expect("path")];
        if dry {
            args.push("--dry-run=server");
        }
        live.kubectl(&args)
    };
    let mut refused = 0;
    let invalid = examples("invalid");
    let mut wrong = Vec::new();
    for (path, text) in &invalid {
        let expect = header(text, "expect").expect("# expect:");
        let (namespace, dry) = match header(text, "namespace") {
            Some("system") => ("kube-system", true),
            Some("unlabelled") => (spaces.names[1].as_str(), false),
            _ => (ns.as_str(), false),
        };
        let mut out = apply(path, namespace, dry);
        for _ in 0..20 {
            if !out.status.success() || header(text, "by") != Some("policy") {
                break;
            }
            // Accepted by a policy not yet in force: take it back and try again.
            let _ = live.kubectl(&["delete", "-n", namespace, "-f", path.to_str().expect("p")]);
            std::thread::sleep(std::time::Duration::from_secs(1));
            out = apply(path, namespace, dry);
        }
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        eprintln!("{}: {}", path.display(), said.trim());
        if out.status.success() {
            let _ = live.kubectl(&["delete", "-n", namespace, "-f", path.to_str().expect("p")]);
            wrong.push(format!("{}: accepted", path.display()));
        } else {
            refused += 1;
            if !said.contains(expect) {
                wrong.push(format!(
                    "{}: refused without `{expect}`: {said}",
                    path.display()
                ));
            }
        }
    }
    eprintln!("refused {refused} of {} invalid examples", invalid.len());
    for (path, _) in examples("valid") {
        let out = apply(&path, &ns, false);
        if !out.status.success() {
            wrong.push(format!(
                "{}: refused: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
