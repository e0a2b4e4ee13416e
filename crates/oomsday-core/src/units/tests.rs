use super::*;

#[test]
fn quantities_parse_like_kubernetes() {
    let cases = [
        ("64Mi", 64 * MI),
        ("1.5Gi", 3 * GI / 2),
        ("500M", 500_000_000),
        ("2e9", 2_000_000_000),
        ("2E3", 2000),
        ("1048576", MI),
        ("100k", 100_000),
        ("0", 0),
        ("+1Ki", 1024),
        ("0.5", 1),
        ("800Mi", 800 * MI),
    ];
    for (s, want) in cases {
        assert_eq!(s.parse::<Quantity>().unwrap().bytes(), want, "{s}");
    }
}

#[test]
fn bad_quantities_name_the_value() {
    for s in ["", "-1Gi", "Mi", "12XB", "1.2.3Mi", "1GB", "e9"] {
        let e = s.parse::<Quantity>().unwrap_err().to_string();
        assert!(e.contains(&format!("`{s}`")), "{e}");
        assert!(e.contains("expected a Kubernetes quantity"), "{e}");
    }
    assert!(
        "1GB"
            .parse::<Quantity>()
            .unwrap_err()
            .to_string()
            .contains("not Kubernetes notation")
    );
}

#[test]
fn quantity_display_round_trips() {
    for s in ["64Mi", "1536Mi", "500M", "2G", "1023", "0", "6Gi", "1Ki"] {
        let q: Quantity = s.parse().unwrap();
        assert_eq!(q.to_string(), s);
        assert_eq!(q.to_string().parse::<Quantity>().unwrap(), q);
    }
    assert_eq!("1.5Gi".parse::<Quantity>().unwrap().to_string(), "1536Mi");
}

#[test]
fn rates_parse_and_convert() {
    let r: Rate = "40Mi/min".parse().unwrap();
    assert_eq!(r.amount, Quantity::mib(40));
    assert_eq!(r.per, RateUnit::Minute);
    assert!((r.bytes_per_second() - 40.0 * MI as f64 / 60.0).abs() < 1e-6);
    assert_eq!("1Gi/h".parse::<Rate>().unwrap().to_string(), "1Gi/h");
    assert_eq!(
        "16Mi/s".parse::<Rate>().unwrap().bytes_per_second(),
        16.0 * MI as f64
    );
    let e = "40Mi/m".parse::<Rate>().unwrap_err().to_string();
    assert!(e.contains("ambiguous"), "{e}");
    assert!(
        "40Mi"
            .parse::<Rate>()
            .unwrap_err()
            .to_string()
            .contains("no `/`")
    );
    assert!("abc/s".parse::<Rate>().is_err());
}

#[test]
fn durations_use_humantime() {
    assert_eq!(
        "90s".parse::<Duration>().unwrap().std(),
        StdDuration::from_secs(90)
    );
    assert_eq!(
        "1h 30m".parse::<Duration>().unwrap().std(),
        StdDuration::from_secs(5400)
    );
    assert_eq!(Duration::from_secs(5400).to_string(), "1h 30m");
    let e = "30".parse::<Duration>().unwrap_err().to_string();
    assert!(e.contains("no unit") && e.contains("`30`"), "{e}");
    assert!("ten minutes".parse::<Duration>().is_err());
}

#[test]
fn count_or_percent() {
    assert_eq!(
        "3".parse::<CountOrPercent>().unwrap(),
        CountOrPercent::Count(3)
    );
    let half: CountOrPercent = "50%".parse().unwrap();
    assert_eq!(half.of(20), 10);
    assert_eq!(half.of(3), 2);
    assert_eq!(CountOrPercent::Count(5).of(3), 3);
    assert!("101%".parse::<CountOrPercent>().is_err());
    assert!("-1".parse::<CountOrPercent>().is_err());
}

#[test]
fn serde_accepts_yaml_numbers() {
    let q: Quantity = serde_json::from_str("2000000000").unwrap();
    assert_eq!(q.bytes(), 2_000_000_000);
    let c: CountOrPercent = serde_json::from_str("3").unwrap();
    assert_eq!(c, CountOrPercent::Count(3));
    assert_eq!(
        serde_json::to_string(&Quantity::mib(64)).unwrap(),
        "\"64Mi\""
    );
    assert_eq!(
        serde_json::to_string(&CountOrPercent::Count(3)).unwrap(),
        "3"
    );
    let half: CountOrPercent = "50%".parse().unwrap();
    assert_eq!(serde_json::to_string(&half).unwrap(), "\"50%\"");
}

proptest::proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC{0,24}") {
        let _ = s.parse::<Quantity>();
        let _ = s.parse::<Rate>();
        let _ = s.parse::<Duration>();
        let _ = s.parse::<CountOrPercent>();
    }

    #[test]
    fn any_quantity_round_trips(b in 0u64..(1u64 << 62)) {
        let q = Quantity::from_bytes(b);
        proptest::prop_assert_eq!(q.to_string().parse::<Quantity>().unwrap(), q);
    }
}
