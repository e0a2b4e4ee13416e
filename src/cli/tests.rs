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
    // The leaker never ran: inconclusive, as when a run meets them.
    assert_eq!(
        lib(crate::Error::Busy("in run r1".into())),
        exit::INCONCLUSIVE
    );
    let conflict = crate::Error::Conflict {
        what: "apply".into(),
        managers: "argocd".into(),
        message: "conflict".into(),
    };
    assert_eq!(lib(conflict), exit::INCONCLUSIVE);
    assert_eq!(lib(crate::Error::Kubeconfig("none".into())), exit::CLUSTER);
}

#[test]
fn a_run_the_cluster_kept_from_starting_exits_with_the_clusters_code() {
    use crate::ErrorKind;
    use crate::engine::Outcome;
    let cases = [
        (Outcome::Inconclusive, None, exit::INCONCLUSIVE),
        (
            Outcome::Inconclusive,
            Some(ErrorKind::Unreachable),
            exit::CLUSTER,
        ),
        (
            Outcome::Inconclusive,
            Some(ErrorKind::Forbidden),
            exit::FORBIDDEN,
        ),
        (
            Outcome::Inconclusive,
            Some(ErrorKind::NotFound),
            exit::NOT_FOUND,
        ),
        (
            Outcome::Inconclusive,
            Some(ErrorKind::Busy),
            exit::INCONCLUSIVE,
        ),
        (
            Outcome::Inconclusive,
            Some(ErrorKind::Input),
            exit::INCONCLUSIVE,
        ),
        // A run that went on to a verdict keeps its outcome's code.
        (
            Outcome::HypothesisFailed,
            Some(ErrorKind::Unreachable),
            exit::FAILED,
        ),
    ];
    for (outcome, error, code) in cases {
        assert_eq!(exit::of_run(outcome, error), code, "{outcome:?} {error:?}");
    }
}
