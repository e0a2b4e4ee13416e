use super::*;
use crate::inject::tests::{HARDENED, STORY, plan, story_env, yaml};
use pretty_assertions::assert_eq;

fn pods(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("checkout-5d9f-{i:03}")).collect()
}

#[test]
fn ephemeral_container_has_no_resources_and_exits_at_its_deadline() {
    let p = plan(STORY);
    let got = ephemeral_patch(&p).unwrap();
    let name = ephemeral_container_name(&p.run_id);
    let want = yaml(&format!(
        "
spec:
  ephemeralContainers:
  - name: {name}
    image: {image}
    env: {env}
    securityContext: {HARDENED}
",
        image = crate::spec::DEFAULT_LEAKER_IMAGE,
        env = story_env(true),
    ));
    assert_eq!(got, want);
    assert!(
        name.starts_with("oomsday-leaker-") && name.len() == 23,
        "{name}"
    );
    assert!(crate::keys::is_leaker(&name));
}

#[test]
fn pod_choice_is_reproducible_and_sized() {
    let all = pods(10);
    let a = choose_pods("run-a", &all, Some("3".parse().unwrap()));
    assert_eq!(a.len(), 3);
    let mut shuffled = all.clone();
    shuffled.reverse();
    assert_eq!(
        choose_pods("run-a", &shuffled, Some("3".parse().unwrap())),
        a
    );
    assert_eq!(
        choose_pods("run-a", &all, Some("25%".parse().unwrap())).len(),
        3
    );
    assert_eq!(choose_pods("run-a", &all, None), all);
    assert_eq!(
        choose_pods("run-a", &all, Some("50".parse().unwrap())).len(),
        10
    );
    // Another run id picks differently somewhere among a few tries.
    assert!(["run-b", "run-c", "run-d"].iter().any(|r| choose_pods(
        r,
        &all,
        Some("3".parse().unwrap())
    ) != a));
    assert!(choose_pods("run-a", &[], Some("50%".parse().unwrap())).is_empty());
}

#[test]
fn fnv_is_the_reference_algorithm() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(&[""]), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
}
