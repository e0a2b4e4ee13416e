use super::*;

#[test]
fn cron_needs_seconds() {
    assert!(parse_cron("0 0 3 * * Tue").is_ok());
    assert!(parse_cron("0 30 9 * * MON-FRI").is_ok());
    let e = parse_cron("0 3 * * 2").unwrap_err();
    assert!(e.contains("6 with seconds first"), "{e}");
    assert!(parse_cron("0 0 3 * * Tue 2027").is_err());
    assert!(parse_cron("0 61 3 * * *").is_err());
    assert!(parse_cron("").is_err());
}

#[test]
fn blackout_forms() {
    let (a, b) = parse_blackout("2026-11-26/2026-11-30").unwrap();
    assert_eq!((a.day(), b.day()), (26, 30));
    let (a, b) = parse_blackout("2026-12-24").unwrap();
    assert_eq!(a, b);
    assert!(
        parse_blackout("2026-11-30/2026-11-26")
            .unwrap_err()
            .contains("ends before")
    );
    assert!(
        parse_blackout("2026-02-30")
            .unwrap_err()
            .contains("not a real date")
    );
    assert!(parse_blackout("26-11-2026").is_err());
    assert!(parse_blackout("2026-11-26/").is_err());
    assert!(parse_blackout("").is_err());
}

proptest::proptest! {
    #[test]
    fn cron_and_blackout_never_panic(s in "[0-9*/,\\-A-Za-z@? LW#]{0,40}", t in "\\PC{0,30}") {
        let _ = parse_cron(&s);
        let _ = parse_cron(&t);
        let _ = parse_blackout(&s);
        let _ = parse_blackout(&t);
    }
}

#[test]
fn names_and_urls() {
    assert!(is_dns_subdomain("checkout"));
    assert!(is_dns_subdomain("checkout-v2.shop"));
    assert!(!is_dns_subdomain("Checkout"));
    assert!(!is_dns_subdomain("-a"));
    assert!(!is_dns_subdomain(""));
    assert!(is_http_url("http://checkout.shop.svc/healthz"));
    assert!(is_http_url("https://x:9090"));
    assert!(!is_http_url("checkout/healthz"));
    assert!(!is_http_url("http://"));
}
