use super::*;

#[test]
fn recordings_are_named_without_the_folders_they_share() {
    let p = |s: &str| PathBuf::from(s);
    assert_eq!(
        names(&[
            p("tests/fixtures/real-runs/spill"),
            p("tests/fixtures/real-runs/campaign-spill/spill-01"),
        ]),
        ["spill", "campaign-spill/spill-01"]
    );
    assert_eq!(names(&[p("runs/a.jsonl")]), ["a.jsonl"]);
    assert_eq!(names(&[p("a.jsonl"), p("b.jsonl")]), ["a.jsonl", "b.jsonl"]);
}
