use super::super::*;
use super::*;

/// A peer SDP with the given `o=` version, connection address and
/// media-level lines.
fn from_peer(version: u64, address: &str, extra: &str) -> SessionDescription {
    sdp(&format!(
        "v=0\r\no=peer 77 {version} IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 0\r\n{extra}"
    ))
}

const LIVE: &str = "192.0.2.1";

#[test]
fn same_session_id_and_version_is_a_refresh() {
    let before = from_peer(3, LIVE, "a=sendrecv\r\n");
    assert_eq!(
        classify_reoffer(&before, &before.clone()),
        ReofferKind::Refresh
    );
    // Only the o= line is compared, as drachtio does.
    let same_version_other_body = from_peer(3, LIVE, "a=sendonly\r\n");
    assert_eq!(
        classify_reoffer(&before, &same_version_other_body),
        ReofferKind::Refresh
    );
}

#[test]
fn a_new_session_id_is_not_a_refresh() {
    let before = from_peer(3, LIVE, "");
    let mut after = before.clone();
    after.origin.session_id = "78".into();
    assert_eq!(classify_reoffer(&before, &after), ReofferKind::Modify);
}

#[test]
fn sendonly_inactive_and_zero_address_are_hold() {
    let before = from_peer(1, LIVE, "a=sendrecv\r\n");
    for after in [
        from_peer(2, LIVE, "a=sendonly\r\n"),
        from_peer(2, LIVE, "a=inactive\r\n"),
        from_peer(2, "0.0.0.0", ""),
    ] {
        assert_eq!(
            classify_reoffer(&before, &after),
            ReofferKind::Hold,
            "{after}"
        );
    }
}

#[test]
fn back_to_sendrecv_is_resume() {
    let held = from_peer(2, LIVE, "a=sendonly\r\n");
    assert_eq!(
        classify_reoffer(&held, &from_peer(3, LIVE, "")),
        ReofferKind::Resume
    );
    let legacy = from_peer(2, "0.0.0.0", "");
    let back = from_peer(3, LIVE, "a=sendrecv\r\n");
    assert_eq!(classify_reoffer(&legacy, &back), ReofferKind::Resume);
}

#[test]
fn other_changes_are_modify() {
    let live = from_peer(1, LIVE, "");
    let moved = from_peer(2, "192.0.2.2", "");
    assert_eq!(classify_reoffer(&live, &moved), ReofferKind::Modify);
    // Still held, but differently: not a new hold.
    let sendonly = from_peer(2, LIVE, "a=sendonly\r\n");
    let inactive = from_peer(3, LIVE, "a=inactive\r\n");
    assert_eq!(classify_reoffer(&sendonly, &inactive), ReofferKind::Modify);
    // recvonly: the peer still listens, so it is not a hold.
    let recvonly = from_peer(2, LIVE, "a=recvonly\r\n");
    assert_eq!(classify_reoffer(&live, &recvonly), ReofferKind::Modify);
    // Leaving hold to recvonly is not a resume to sendrecv.
    let recvonly_later = from_peer(4, LIVE, "a=recvonly\r\n");
    assert_eq!(
        classify_reoffer(&sendonly, &recvonly_later),
        ReofferKind::Modify
    );
}

/// Our side for the answer_reoffer tests.
fn us() -> LocalMedia {
    LocalMedia::new("198.51.100.7".parse().unwrap(), 40002, 9)
}

#[test]
fn refresh_is_answered_with_the_previous_sdp_and_version() {
    let first = from_peer(1, LIVE, "");
    let mut previous_answer = answer(&first, &us()).unwrap().answer;
    previous_answer.origin.session_version = 7;
    let (kind, n) = answer_reoffer(&first, &previous_answer, &first.clone(), &us()).unwrap();
    assert_eq!(kind, ReofferKind::Refresh);
    assert_eq!(n.answer, previous_answer);
}

#[test]
fn hold_answer_bumps_our_version_and_an_unchanged_answer_keeps_it() {
    let first = from_peer(1, LIVE, "");
    let previous_answer = answer(&first, &us()).unwrap().answer;
    let v = previous_answer.origin.session_version;

    let hold = from_peer(2, LIVE, "a=sendonly\r\n");
    let (kind, n) = answer_reoffer(&first, &previous_answer, &hold, &us()).unwrap();
    assert_eq!(kind, ReofferKind::Hold);
    assert_eq!(n.answer.origin.session_version, v + 1);
    assert_eq!(n.answer.media[0].direction(), Some(Direction::RecvOnly));

    // A new peer version whose answer is the same as ours: no bump.
    let same = from_peer(2, LIVE, "");
    let (kind, n) = answer_reoffer(&first, &previous_answer, &same, &us()).unwrap();
    assert_eq!(kind, ReofferKind::Modify);
    assert_eq!(n.answer, previous_answer);
}
