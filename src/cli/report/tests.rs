use super::*;

fn stored_report(dir: &std::path::Path) -> PathBuf {
    let spec = crate::score::testkit::spec(
        serde_json::json!({"hypothesis": {"maxBystanderEvictions": 0}}),
    );
    let rec = crate::score::testkit::record(
        spec,
        vec![(0, crate::score::testkit::leaker_started("p", "n1"))],
    );
    let paths = report::write(dir, &Report::new(rec, None), &[Format::Json]).unwrap();
    paths[0].clone()
}

#[test]
fn renders_a_stored_report() {
    let dir = std::env::temp_dir().join(format!("oomsday-cli-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let json = stored_report(&dir);
    let out = dir.join("out.xml");
    let code = exec(Args {
        files: vec![json.clone()],
        format: Format::Junit,
        output: Some(out.clone()),
    })
    .unwrap();
    assert_eq!(code, exit::OK);
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains("name=\"maxBystanderEvictions: 0\""), "{xml}");

    let suite = dir.join("suite.md");
    let args = |format| Args {
        files: vec![json.clone(), json.clone()],
        format,
        output: Some(suite.clone()),
    };
    assert_eq!(exec(args(Format::Md)).unwrap(), exit::OK);
    assert!(
        std::fs::read_to_string(&suite)
            .unwrap()
            .contains("**2 runs: 2 passed")
    );
    assert_eq!(exec(args(Format::Html)).unwrap(), exit::USAGE);

    let missing = Args {
        files: vec![dir.join("run-that-is-a-leakrun-name")],
        format: Format::Md,
        output: None,
    };
    assert_eq!(exec(missing).unwrap(), exit::USAGE);
    std::fs::write(dir.join("bad.json"), "{\"schemaVersion\": 9}").unwrap();
    let bad = Args {
        files: vec![dir.join("bad.json")],
        format: Format::Md,
        output: None,
    };
    assert!(format!("{:#}", exec(bad).unwrap_err()).contains("schemaVersion 9"));
    let _ = std::fs::remove_dir_all(&dir);
}
