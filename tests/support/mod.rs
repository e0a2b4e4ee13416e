//! Shared by the integration tests: the ground truth of the real recorded runs; the real bed
//! served by the test kit's fake API server (`oomsday_testkit`); and the binary run as a user
//! runs it.
pub mod bed;
pub mod live;
pub mod truth;

use oomsday_testkit::Oomsday;

/// The `oomsday` binary, to run in the repository's root.
#[allow(dead_code)] // each test binary uses part of it
pub fn binary() -> Oomsday {
    Oomsday::new(env!("CARGO_BIN_EXE_oomsday"), env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `oomsday` binary in the repository's root: its exit code, stdout and stderr.
#[allow(dead_code)]
pub fn oomsday(args: &[&str]) -> (i32, String, String) {
    oomsday_with(args, &[])
}

/// [`oomsday`] with environment variables set (`Some`) or removed (`None`).
#[allow(dead_code)]
pub fn oomsday_with(args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String, String) {
    oomsday_as("oomsday", args, env)
}

/// [`oomsday_with`] invoked under another name (`argv[0]`), as kubectl runs its plugin
/// `kubectl-oomsday`.
#[allow(dead_code)]
pub fn oomsday_as(
    argv0: &str,
    args: &[&str],
    env: &[(&str, Option<&str>)],
) -> (i32, String, String) {
    let mut run = binary().arg0(argv0).args(args);
    for (name, value) in env {
        run = run.env(name, *value);
    }
    let out = run.output();
    (out.code.unwrap_or(-1), out.stdout, out.stderr)
}

/// The test kit's fake API server with oomsday's CRDs installed (discovery lists them).
#[allow(dead_code)]
pub fn fake_api() -> oomsday_testkit::ApiServer {
    let api = oomsday_testkit::ApiServer::new();
    api.register(
        "oomsday.dev/v1alpha1",
        &[
            ("leakexperiments", "LeakExperiment"),
            ("leakruns", "LeakRun"),
            ("leakexperiments/status", "LeakExperiment"),
            ("leakruns/status", "LeakRun"),
        ],
    );
    api
}

/// [`fake_api`] listening over HTTP, for the binary or a controller on its own runtime.
#[allow(dead_code)]
pub async fn serve() -> oomsday_testkit::Listening {
    fake_api()
        .listen()
        .await
        .expect("the fake API server listens")
}

/// A controller replica's options in the tests: Lease `oomsday-controller` in `oomsday-system`,
/// every namespace watched with no allow label needed, /metrics on a port of its own.
#[allow(dead_code)]
pub fn controller_options(identity: &str) -> oomsday::controller::manager::Options {
    oomsday::controller::manager::Options {
        identity: identity.into(),
        lease_namespace: "oomsday-system".into(),
        lease_name: "oomsday-controller".into(),
        watch_namespace: None,
        policy: oomsday::controller::lifecycle::TargetPolicy {
            require_allow_label: false,
            allow_system_namespaces: false,
        },
        listen: "127.0.0.1:0".parse().expect("an address"),
        shutdown_grace: std::time::Duration::from_secs(5),
    }
}

/// Creates namespace `name` in `server`.
#[allow(dead_code)]
pub fn namespace(server: &oomsday_testkit::ApiServer, name: &str) {
    server.create(
        "namespaces",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    );
}
