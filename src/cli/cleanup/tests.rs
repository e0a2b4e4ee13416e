use super::*;
use crate::spec::TargetKind;

fn workload() -> Leftover {
    Leftover::Workload {
        namespace: "shop".into(),
        kind: TargetKind::Deployment,
        name: "checkout".into(),
        run_id: "checkout-leak-7f3a".into(),
        deadline: Some("2026-11-24T15:00:00Z".into()),
    }
}

fn ephemeral() -> Leftover {
    Leftover::Ephemeral {
        namespace: "shop".into(),
        pod: "checkout-5d9f-x".into(),
        container: "oomsday-leaker-1a2b3c4d".into(),
        deadline: None,
    }
}

#[test]
fn lines_name_what_is_left() {
    assert_eq!(
        describe(&workload()),
        "Deployment shop/checkout: leaker of run checkout-leak-7f3a (deadline 2026-11-24T15:00:00Z)"
    );
    assert!(describe(&ephemeral()).contains("cannot be removed"));
}

#[test]
fn clean_only_when_nothing_remains() {
    assert_eq!(exit_code(&[], false, 0), exit::OK);
    assert_eq!(exit_code(&[workload()], false, 0), exit::OK);
    assert_eq!(exit_code(&[workload()], true, 0), exit::FAILED);
    assert_eq!(exit_code(&[workload()], false, 1), exit::FAILED);
    assert_eq!(exit_code(&[ephemeral()], false, 0), exit::FAILED);
}
