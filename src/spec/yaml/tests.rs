use super::*;

#[test]
fn values_and_positions() {
    let text = "a: 1\nb:\n  c: [x, 2.5]\n  d:\n    - e: true\n---\n---\nf: null\n";
    let docs = parse_documents(text).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(
        docs[0].value,
        serde_json::json!({"a": 1, "b": {"c": ["x", 2.5], "d": [{"e": true}]}})
    );
    let d = &docs[0];
    let p = FieldPath::parse("b.d[0].e");
    assert_eq!(p.to_string(), "b.d[0].e");
    assert_eq!(d.position(&p, true), Pos { line: 5, column: 7 });
    assert_eq!(
        d.position(&p, false),
        Pos {
            line: 5,
            column: 10
        }
    );
    assert_eq!(
        d.position(&FieldPath::parse("b.c[1]"), false),
        Pos {
            line: 3,
            column: 10
        }
    );
    // Missing fields fall back to the nearest ancestor that was written.
    assert_eq!(
        d.position(&FieldPath::parse("b.zzz.y"), true),
        Pos { line: 2, column: 1 }
    );
    assert_eq!(docs[1].start.line, 8);
}

#[test]
fn syntax_errors_have_the_parsers_position() {
    let e = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    assert!(e.pos.line >= 2, "{e:?}");
    let e = parse_documents("a: 1\na: 2\n").unwrap_err();
    assert_eq!(e.pos.line, 2, "{e:?}");
}

#[test]
fn scalar_keys_become_strings_and_complex_keys_are_refused() {
    let d = parse_documents("1: a\ntrue: b\n").unwrap();
    assert_eq!(d[0].value, serde_json::json!({"1": "a", "true": "b"}));
    assert!(parse_documents("? [a]\n: b\n").is_err());
}

#[test]
fn field_path_parse_round_trips() {
    for s in [
        "spec",
        "spec.leak.rate",
        "spec.probes[0].http.url",
        "a[1][2].b",
    ] {
        assert_eq!(FieldPath::parse(s).to_string(), s);
    }
}
