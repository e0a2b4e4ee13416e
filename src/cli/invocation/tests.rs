use super::*;

#[test]
fn the_plugin_is_known_by_its_executable_name() {
    let of = |s: &str| Invocation::of(Some(OsStr::new(s)));
    assert_eq!(
        of("/usr/local/bin/kubectl-oomsday"),
        Invocation::KubectlPlugin
    );
    assert_eq!(of("kubectl-oomsday.exe"), Invocation::KubectlPlugin);
    assert_eq!(of("/usr/bin/oomsday"), Invocation::Oomsday);
    assert_eq!(of("kubectl-oomsday-old"), Invocation::Oomsday);
    assert_eq!(Invocation::of(None), Invocation::Oomsday);
}

#[test]
fn only_command_lines_are_rewritten() {
    let subs = ["run", "cleanup", "snapshot", "simulate"].map(String::from);
    let text = "Usage: oomsday run [OPTIONS]\nTry: oomsday snapshot -o c.yaml && \
                oomsday simulate x.yaml\noomsday reverts; see oomsday.dev/run-id; \
                run `oomsday cleanup -n shop`; kubectl oomsday run";
    assert_eq!(
        Invocation::KubectlPlugin.rewrite(text, &subs),
        "Usage: kubectl oomsday run [OPTIONS]\nTry: kubectl oomsday snapshot -o c.yaml && \
         kubectl oomsday simulate x.yaml\noomsday reverts; see oomsday.dev/run-id; \
         run `kubectl oomsday cleanup -n shop`; kubectl oomsday run"
    );
    assert_eq!(Invocation::Oomsday.rewrite(text, &subs), text);
}
