//! One test per documented exit code (`oomsday --help`, the README's table): each runs the
//! binary as a user does and checks the code and the first line it prints.

mod support;

use oomsday_testkit::{free_port, write_kubeconfig};
use serde_json::json;
use support::oomsday_with;

/// The binary with no cluster configured anywhere unless `kubeconfig` names one: an empty
/// HOME, no `KUBECONFIG`, not in a pod.
fn oomsday_on(kubeconfig: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let home = std::env::temp_dir().join(format!("oomsday-exit-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    let home = home.to_string_lossy().into_owned();
    oomsday_with(
        args,
        &[
            ("HOME", Some(&home)),
            ("KUBECONFIG", kubeconfig),
            ("KUBERNETES_SERVICE_HOST", None),
            ("OOMSDAY_LOG", Some("off")),
        ],
    )
}

/// A simulation's output: its first line says SIMULATED and names the run; the summary line
/// says its outcome.
fn simulated(args: &[&str], code: i32, first: &str, outcome: &str) {
    let out = std::env::temp_dir().join(format!("oomsday-exit-{}-{code}", std::process::id()));
    let out = out.to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.extend(["--out", &out, "--format", "json"]);
    let (got, stdout, stderr) = oomsday_on(None, &all);
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(got, code, "{stdout}\n{stderr}");
    let line = stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with(first), "{line}");
    assert!(
        stdout.lines().any(|l| l.contains(outcome)),
        "no line says {outcome:?}:\n{stdout}"
    );
}

/// The first line on stderr.
fn first_error(stderr: &str) -> &str {
    stderr.lines().next().unwrap_or_default()
}

#[test]
fn exit_0_passed() {
    simulated(
        &["simulate", "experiments/black-friday/fixed"],
        0,
        "SIMULATED — checkout-black-friday-fixed on simulated: black-friday-fixed",
        "checkout-black-friday-fixed (simulated): passed — score 100",
    );
}

#[test]
fn exit_1_hypothesis_failed() {
    simulated(
        &[
            "simulate",
            "experiments/black-friday/checkout-leak.yaml",
            "--cluster",
            "experiments/black-friday/past-the-edge/cluster.yaml",
        ],
        1,
        "SIMULATED — checkout-black-friday on simulated: black-friday-past-the-edge",
        "checkout-black-friday (simulated): hypothesis failed",
    );
}

#[test]
fn exit_2_invalid_input() {
    let (code, stdout, stderr) = oomsday_on(None, &["run", "no/such/experiment.yaml"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert_eq!(
        first_error(&stderr),
        "no/such/experiment.yaml: error: cannot read: No such file or directory (os error 2)"
    );
    let (code, _, stderr) = oomsday_on(None, &["simulate", "--no-such-flag"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        first_error(&stderr),
        "error: unexpected argument '--no-such-flag' found"
    );
    // A recording calibrate cannot simulate: it carries no model and none was given.
    let (code, stdout, stderr) =
        oomsday_on(None, &["calibrate", "tests/fixtures/real-runs/ephemeral"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert_eq!(
        first_error(&stderr),
        "error: tests/fixtures/real-runs/ephemeral: the recording carries no snapshot; record \
         with `run --predict` or give --model FILE"
    );
}

#[test]
fn exit_3_aborted() {
    simulated(
        &[
            "simulate",
            "experiments/pre-peak/01-checkout-linear.yaml",
            "--cluster",
            "experiments/black-friday/past-the-edge/cluster.yaml",
        ],
        3,
        "SIMULATED — pre-peak-checkout-linear on simulated: black-friday-past-the-edge",
        "pre-peak-checkout-linear (simulated): aborted",
    );
}

#[test]
fn exit_4_inconclusive() {
    // The model has no search workload: the leaker never ran.
    simulated(
        &[
            "simulate",
            "experiments/pre-peak/02-search-exponential.yaml",
            "--cluster",
            "experiments/black-friday/cluster.yaml",
        ],
        4,
        "SIMULATED — pre-peak-search-exponential on simulated: black-friday",
        "pre-peak-search-exponential (simulated): inconclusive — not scored",
    );
}

/// A kubeconfig file for `server` (a URL), written to a temporary directory of its own.
fn kubeconfig_file(name: &str, server: &str) -> String {
    let dir = std::env::temp_dir().join(format!("oomsday-exit-{name}-{}", std::process::id()));
    write_kubeconfig(&dir, server)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exit_5_no_cluster_reachable() {
    // No kubeconfig anywhere, an empty KUBECONFIG, or one naming no file.
    for kubeconfig in [None, Some(""), Some("/nonexistent/kubeconfig")] {
        let (code, _, stderr) = oomsday_on(kubeconfig, &["run", "experiments/contained-leak.yaml"]);
        assert_eq!(code, 5, "KUBECONFIG={kubeconfig:?}: {stderr}");
        assert!(
            first_error(&stderr)
                .starts_with("error: connecting to the cluster: no cluster configured"),
            "KUBECONFIG={kubeconfig:?}: {stderr}"
        );
    }
    // The same for every command that talks to a cluster.
    for args in [
        &["snapshot"][..],
        &["audit", "-n", "shop"],
        &["cleanup"],
        &["trigger", "x"],
        &["abort", "x"],
        &["history", "x"],
    ] {
        let (code, _, stderr) = oomsday_on(None, args);
        assert_eq!(code, 5, "{args:?}: {stderr}");
        assert!(
            first_error(&stderr).contains("connecting to the cluster: no cluster configured"),
            "{args:?}: {stderr}"
        );
    }
    // A kubeconfig whose API server does not answer: unreachable at preflight.
    let kubeconfig = kubeconfig_file("closed", &format!("http://127.0.0.1:{}", free_port()));
    let out = std::env::temp_dir().join(format!("oomsday-exit-5-{}", std::process::id()));
    let (code, stdout, stderr) = oomsday_on(
        Some(&kubeconfig),
        &[
            "run",
            "experiments/contained-leak.yaml",
            "--no-progress",
            "--out",
            &out.to_string_lossy(),
        ],
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(std::path::Path::new(&kubeconfig).with_file_name(""));
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("cart-contained-leak: inconclusive — not scored")
            && first.contains("phase Failed"),
        "{first}"
    );
}

/// `oomsday run experiments/contained-leak.yaml` against a fake API server with namespace
/// `shop` (and, if `cart`, its Deployment), refusing `denied`.
async fn run_against(cart: bool, denied: &[&str]) -> (i32, String, String) {
    let server = support::fake_api();
    for d in denied {
        server.deny(d);
    }
    server.create(
        "namespaces",
        json!({"metadata": {"name": "shop", "labels": {"oomsday.dev/allow": "true"}}}),
    );
    if cart {
        server.create(
            "deployments",
            json!({
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "cart"}},
                    "template": {
                        "metadata": {"labels": {"app": "cart"}},
                        "spec": {"containers": [{"name": "cart", "image": "shop/cart:1"}]}
                    }
                }
            }),
        );
    }
    let http = server.listen().await.expect("the fake API server listens");
    let kubeconfig = kubeconfig_file(&format!("fake-{cart}"), &http.url());
    let out = std::env::temp_dir().join(format!("oomsday-exit-fake-{}-{cart}", std::process::id()));
    let out = out.to_string_lossy().into_owned();
    let result = tokio::task::spawn_blocking({
        let kubeconfig = kubeconfig.clone();
        let out = out.clone();
        move || {
            oomsday_on(
                Some(&kubeconfig),
                &[
                    "run",
                    "experiments/contained-leak.yaml",
                    "--no-progress",
                    "--out",
                    &out,
                ],
            )
        }
    })
    .await
    .expect("binary");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(std::path::Path::new(&kubeconfig).with_file_name(""));
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_6_forbidden() {
    let (code, stdout, stderr) = run_against(true, &["patch deployments"]).await;
    assert_eq!(code, 6, "{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("cart-contained-leak: inconclusive — not scored")
            && first.contains("not allowed to patch deployments"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_7_not_found() {
    let (code, stdout, stderr) = run_against(false, &[]).await;
    assert_eq!(code, 7, "{stdout}\n{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("cart-contained-leak: inconclusive — not scored")
            && first.contains("Deployment shop/cart not found"),
        "{first}"
    );
}

/// Run by kubectl as its plugin `kubectl-oomsday` (`kubectl oomsday …`), the binary names itself
/// as the user typed it: in usage, help, examples and errors; its exit codes are the same.
#[test]
fn as_the_kubectl_plugin_it_says_kubectl_oomsday() {
    let (code, stdout, _) = support::oomsday_as("kubectl-oomsday", &["snapshot", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Usage: kubectl oomsday snapshot [OPTIONS]")
            && stdout.contains("Try: kubectl oomsday snapshot -o cluster.yaml"),
        "{stdout}"
    );
    let (code, _, stderr) = support::oomsday_as("kubectl-oomsday", &["bogus"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Usage: kubectl oomsday [OPTIONS] <COMMAND>"),
        "{stderr}"
    );
    let (code, _, stderr) = support::oomsday_as(
        "/usr/local/bin/kubectl-oomsday",
        &["run", "no-such-experiment.yaml"],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    // As `oomsday`, nothing changes.
    let (_, stdout, _) = support::oomsday(&["snapshot", "--help"]);
    assert!(
        stdout.contains("Usage: oomsday snapshot [OPTIONS]") && !stdout.contains("kubectl oomsday"),
        "{stdout}"
    );
}
