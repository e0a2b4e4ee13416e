use super::*;

fn fixtures(which: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(which)
}

fn args(which: &str, fail_on: Option<Severity>) -> Args {
    Args {
        manifests: Some(fixtures(which)),
        namespace: None,
        cluster: Default::default(),
        output: Output::Json,
        fail_on,
        node_memory: Some("96Gi".into()),
    }
}

#[tokio::test]
async fn fail_on_gates_the_exit_code() {
    assert_eq!(
        exec(args("story", Some(Severity::Critical))).await.unwrap(),
        exit::FAILED
    );
    assert_eq!(exec(args("story", None)).await.unwrap(), exit::OK);
    assert_eq!(
        exec(args("fixed", Some(Severity::Low))).await.unwrap(),
        exit::OK
    );
    let mut missing = args("nowhere", None);
    missing.manifests = Some(fixtures("nowhere"));
    assert_eq!(exec(missing).await.unwrap(), exit::USAGE);
    let mut bad = args("fixed", None);
    bad.node_memory = Some("lots".into());
    assert!(exec(bad).await.is_err());
}

#[test]
fn fail_on_takes_the_audit_severities() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    let parse = |v: &str| Cli::try_parse_from(["audit", "--fail-on", v]).map(|c| c.args.fail_on);
    assert_eq!(parse("high").unwrap(), Some(Severity::High));
    assert_eq!(parse("low").unwrap(), Some(Severity::Low));
    let e = parse("severe").unwrap_err().to_string();
    assert!(
        e.contains("[possible values: low, medium, high, critical]"),
        "{e}"
    );
}
