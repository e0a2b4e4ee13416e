//! Shared by the integration tests (and the snapshot bench): the ground truth of the real
//! recorded runs; the mock API behind `kube::Client` that serves the real bed and a recording's
//! objects; the fake API server over real HTTP that the binary and the controller run against;
//! the one reading of query strings and selectors they (and the scale bench) share; and the
//! binary run as a user runs it.
pub mod apiserver;
pub mod live;
pub mod mock_api;
pub mod query;
pub mod truth;

/// Runs the `oomsday` binary in the repository's root: its exit code, stdout and stderr.
#[allow(dead_code)] // each test binary uses part of it
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
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oomsday"));
    command
        .arg0(argv0)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, value) in env {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    let out = command.output().expect("run oomsday");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
