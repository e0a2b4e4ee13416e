use super::*;

#[test]
fn outcomes() {
    use Outcome::*;
    let cases = [
        (Phase::Completed, Verdict::Passed, 90, None, Passed),
        (Phase::Completed, Verdict::Passed, 90, Some(80), Passed),
        (
            Phase::Completed,
            Verdict::Passed,
            70,
            Some(80),
            BelowMinScore,
        ),
        (
            Phase::Completed,
            Verdict::Failed,
            90,
            None,
            HypothesisFailed,
        ),
        (
            Phase::Completed,
            Verdict::Inconclusive,
            0,
            None,
            Inconclusive,
        ),
        (Phase::Failed, Verdict::Passed, 90, None, Inconclusive),
        (Phase::Failed, Verdict::Failed, 10, None, HypothesisFailed),
        (Phase::Aborted, Verdict::Failed, 10, None, Aborted),
        (Phase::Aborted, Verdict::Passed, 90, None, Aborted),
    ];
    for (phase, verdict, total, min, want) in cases {
        let got = Outcome::of(phase, verdict, Some(total), min);
        assert_eq!(got, want, "{phase:?} {verdict:?} {total} {min:?}");
    }
}

#[test]
fn worst_of_a_suite() {
    use Outcome::*;
    assert_eq!(Passed.worst(Inconclusive), Inconclusive);
    assert_eq!(Aborted.worst(HypothesisFailed), Aborted);
    assert_eq!(HypothesisFailed.worst(Passed), HypothesisFailed);
    assert_eq!(Aborted.worst(RevertFailed), RevertFailed);
}
