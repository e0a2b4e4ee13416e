use super::*;

#[test]
fn a_share_is_plausible_only_near_what_the_seeds_give() {
    assert!(plausible(4, 8, 5.0 / 21.0));
    assert!(plausible(2, 8, 2.0 / 21.0));
    assert!(!plausible(7, 8, 5.0 / 21.0));
    assert!(!plausible(0, 40, 0.5));
}

#[test]
fn one_in_five_is_share_enough() {
    assert!(share_enough(5, 21));
    assert!(!share_enough(4, 21));
    assert!(share_enough(1, 5));
}

#[test]
fn shares_within_fifteen_points() {
    let share = |real, sim| Share {
        what: "x".into(),
        real,
        of_real: 8,
        sim,
        of_sim: 21,
    };
    // 4/8 vs 5/21: 26 points.
    assert!(!share(4, 5).within());
    assert!((share(4, 5).points() - 26.19).abs() < 0.01);
    // 2/8 vs 3/21: 11 points.
    assert!(share(2, 3).within());
    // 2/8 vs 2/21: 15.5 points, just over.
    assert!(!share(2, 2).within());
}

/// Real runs and seeds of one experiment: medians within tolerance, the seeds' two histories
/// with the share of real runs in the shorter one, and the verdict's share.
#[test]
fn a_distribution_sets_medians_histories_and_verdicts_side_by_side() {
    let real = vec![3.1, 3.3, 13.3, 3.3, 18.1, 3.7, 11.3, 12.0];
    let mut sim = vec![3.0; 5];
    sim.extend([
        7.0, 8.0, 9.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0, 18.0, 20.0, 23.0,
    ]);
    sim.extend([9.0, 9.0, 10.0, 11.0]);
    assert_eq!(sim.len(), 21);
    let evictions = (Measure::TargetEvictions, vec![4.0, 4.0, 6.0], vec![4.0; 21]);
    let pass = |n: usize, of: usize| {
        (0..of)
            .map(|i| {
                if i < n {
                    Verdict::Passed
                } else {
                    Verdict::Failed
                }
            })
            .collect::<Vec<_>>()
    };
    let d = Distribution::of_values(
        &[(Measure::Recovery, real, sim), evictions],
        (&pass(2, 8), &pass(2, 21)),
    );
    let recovery = &d.rows[0];
    assert_eq!(
        recovery.real.map(|s| (s.lo, s.hi, s.runs)),
        Some((3.1, 18.1, 8))
    );
    assert_eq!(recovery.simulated.map(|s| s.median), Some(9.0));
    // The upper middle of 8: 11.3; 9.0 is within 30% of it.
    assert_eq!(recovery.within, Some(true));
    assert_eq!(d.rows[1].within, Some(true));
    let what: Vec<(&str, u32, u32)> = d
        .shares
        .iter()
        .map(|s| (s.what.as_str(), s.real, s.sim))
        .collect();
    assert_eq!(
        what,
        [
            ("recovery: the shorter history", 4, 5),
            ("verdict Passed", 2, 2)
        ]
    );
}

#[test]
fn a_measure_on_one_side_only_is_outside() {
    let d = Distribution::of_values(
        &[
            (Measure::FirstOomKill, vec![], vec![5.0; 21]),
            (Measure::FirstNotReady, vec![], vec![]),
        ],
        (&[Verdict::Failed], &[Verdict::Failed]),
    );
    assert_eq!(d.rows[0].within, Some(false));
    assert_eq!(d.rows[1].within, None);
}
