use super::*;

#[test]
fn leaker_names() {
    assert!(is_leaker("oomsday-leaker"));
    assert!(is_leaker("oomsday-leaker-7f3a"));
    assert!(is_leaker(&ephemeral_leaker(0x7f3a)));
    assert_eq!(ephemeral_leaker(0x7f3a), "oomsday-leaker-00007f3a");
    assert!(!is_leaker("oomsday-leakerx"));
    assert!(!is_leaker("app"));
}
