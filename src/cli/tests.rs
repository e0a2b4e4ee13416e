use super::exit;
use crate::controller::startup::SetupError;
use crate::engine::Outcome;

#[test]
fn every_outcome_has_its_exit_code() {
    for (outcome, code) in [
        (Outcome::Passed, 0),
        (Outcome::BelowMinScore, 1),
        (Outcome::HypothesisFailed, 1),
        (Outcome::RevertFailed, 1),
        (Outcome::Aborted, 3),
        (Outcome::Inconclusive, 4),
    ] {
        assert_eq!(exit::of(outcome), code, "{outcome:?}");
    }
}

fn api(code: u16) -> kube::Error {
    kube::Error::Api(Box::new(
        kube::core::Status::failure("x", "X").with_code(code),
    ))
}

#[test]
fn errors_map_to_their_documented_codes() {
    let setup = |e: SetupError| exit::for_error(&anyhow::Error::new(e));
    assert_eq!(
        setup(SetupError::LeaseNamespaceMissing {
            namespace: "x".into()
        }),
        exit::NOT_FOUND
    );
    assert_eq!(
        setup(SetupError::CrdsMissing {
            missing: "x".into()
        }),
        exit::NOT_FOUND
    );
    assert_eq!(
        setup(SetupError::Forbidden {
            missing: "x".into()
        }),
        exit::FORBIDDEN
    );
    assert_eq!(
        setup(SetupError::Unreachable {
            what: "x".into(),
            detail: "refused".into()
        }),
        exit::CLUSTER
    );
    let lib = |e: crate::Error| exit::for_error(&anyhow::Error::new(e).context("doing it"));
    assert_eq!(lib(crate::Error::Kube(api(403))), exit::FORBIDDEN);
    assert_eq!(lib(crate::Error::Kube(api(404))), exit::NOT_FOUND);
    assert_eq!(lib(crate::Error::Kube(api(503))), exit::CLUSTER);
    assert_eq!(
        lib(crate::Error::Timeout {
            what: "get".into(),
            after: std::time::Duration::from_secs(1)
        }),
        exit::CLUSTER
    );
    assert_eq!(lib(crate::Error::Invalid("bad".into())), exit::USAGE);
    let wrapped = anyhow::Error::new(api(401)).context("triggering shop/lx");
    assert_eq!(exit::for_error(&wrapped), exit::FORBIDDEN);
    assert_eq!(exit::for_error(&anyhow::anyhow!("bad flag")), exit::USAGE);
}
