use super::*;

const TEXT: &str = "# HELP x_total A counter.\n# TYPE x_total counter\n\
    x_total{verb=\"LIST\",resource=\"pods\"} 3\n\
    x_total{verb=\"GET\",resource=\"pods\"} 4 1733493600000\n\
    x_total_other 9\n\
    x 1.5\n\
    x NaNx\n";

#[test]
fn samples_of_one_name_with_their_labels() {
    let got: Vec<(&str, f64)> = samples(TEXT, "x_total").collect();
    assert_eq!(
        got,
        [
            ("verb=\"LIST\",resource=\"pods\"", 3.0),
            ("verb=\"GET\",resource=\"pods\"", 4.0)
        ]
    );
    // A name that is a prefix of others reads only its own samples; unreadable values are skipped.
    assert_eq!(samples(TEXT, "x").collect::<Vec<_>>(), [("", 1.5)]);
    assert_eq!(label(got[0].0, "resource"), Some("pods"));
    assert_eq!(label(got[0].0, "verb"), Some("LIST"));
    assert_eq!(label(got[0].0, "scope"), None);
}
