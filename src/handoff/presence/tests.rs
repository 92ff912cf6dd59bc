use super::*;

fn rep(id: &str, skills: &[&str]) -> RepConfig {
    RepConfig {
        id: id.into(),
        name: id.to_uppercase(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        token_env: format!("TOKEN_{id}"),
        sip_password_env: None,
        sip_uri: None,
        outbound: None,
    }
}

fn directory() -> (InProcessDirectory, Instant) {
    let reps = [
        rep("ana", &["billing"]),
        rep("bo", &["billing", "default"]),
        rep("cy", &[]),
    ];
    let token = |var: &str| Some(format!("secret-{var}"));
    (
        InProcessDirectory::new(&reps, Duration::from_secs(10), &token),
        Instant::now(),
    )
}

fn id(s: &str) -> RepId {
    RepId(s.into())
}

#[test]
fn a_token_logs_in_its_rep_and_nothing_else_does() {
    let (d, _) = directory();
    assert_eq!(d.authenticate("secret-TOKEN_bo"), Some(id("bo")));
    assert_eq!(d.authenticate("secret-TOKEN_b"), None);
    assert_eq!(d.authenticate(""), None);
}

#[test]
fn nobody_logged_in_answers_nobody_and_busy_reps_make_the_call_wait() {
    let (d, t0) = directory();
    assert_eq!(d.claim("billing", "c1", &[], t0), Claim::Nobody);
    assert_eq!(d.position("billing", "c1"), None);
    d.set_presence(&id("ana"), Presence::Busy, t0)
        .expect("known");
    assert_eq!(d.logged_in("billing"), 1);
    assert_eq!(
        d.claim("billing", "c1", &[], t0),
        Claim::Wait { position: 1 }
    );
    assert_eq!(
        d.claim("billing", "c2", &[], t0),
        Claim::Wait { position: 2 }
    );
    // Asking again keeps the place.
    assert_eq!(
        d.claim("billing", "c1", &[], t0),
        Claim::Wait { position: 1 }
    );
}

#[test]
fn the_longest_idle_available_rep_rings_first() {
    let (d, t0) = directory();
    d.set_presence(&id("bo"), Presence::Available, t0)
        .expect("known");
    d.set_presence(&id("ana"), Presence::Available, t0 + Duration::from_secs(5))
        .expect("known");
    let now = t0 + Duration::from_secs(6);
    assert_eq!(d.claim("billing", "c1", &[], now), Claim::Rep(id("bo")));
    assert_eq!(d.claim("billing", "c2", &[], now), Claim::Rep(id("ana")));
    assert_eq!(
        d.claim("billing", "c3", &[], now),
        Claim::Wait { position: 1 }
    );
    // bo's call ends: wrap-up, then bo is idle since its end, after ana's
    // release-by-decline (which keeps ana's older idle time).
    d.release(&id("bo"), Release::CallEnded, now);
    d.release(&id("ana"), Release::Declined, now);
    let later = now + Duration::from_secs(11);
    assert_eq!(d.claim("billing", "c3", &[], later), Claim::Rep(id("ana")));
    assert_eq!(d.claim("billing", "c4", &[], later), Claim::Rep(id("bo")));
}

#[test]
fn wrap_up_keeps_a_rep_from_the_next_call_for_its_length() {
    let (d, t0) = directory();
    d.set_presence(&id("cy"), Presence::Available, t0)
        .expect("known");
    assert_eq!(d.claim("default", "c1", &[], t0), Claim::Rep(id("cy")));
    d.release(&id("cy"), Release::CallEnded, t0);
    let status = d.status(&id("cy"), t0).expect("known");
    assert_eq!(status.wrap_up_ms, 10_000);
    assert_eq!(d.next_wrap_up_end(t0), Some(t0 + Duration::from_secs(10)));
    let almost = t0 + Duration::from_millis(9_999);
    assert_eq!(
        d.claim("default", "c2", &[], almost),
        Claim::Wait { position: 1 }
    );
    let done = t0 + Duration::from_secs(10);
    assert_eq!(d.claim("default", "c2", &[], done), Claim::Rep(id("cy")));
    assert_eq!(d.position("default", "c2"), None);
}

#[test]
fn a_missed_ring_sets_the_rep_away_and_tried_reps_are_skipped() {
    let (d, t0) = directory();
    d.set_presence(&id("ana"), Presence::Available, t0)
        .expect("known");
    assert_eq!(d.claim("billing", "c1", &[], t0), Claim::Rep(id("ana")));
    d.release(&id("ana"), Release::Missed, t0);
    assert_eq!(
        d.status(&id("ana"), t0).map(|s| s.presence),
        Some(Presence::Away)
    );
    // Away is still logged in: the next call waits.
    assert_eq!(
        d.claim("billing", "c2", &[], t0),
        Claim::Wait { position: 1 }
    );
    // Everyone logged in was tried: nobody is left for this call.
    assert_eq!(d.claim("billing", "c2", &[id("ana")], t0), Claim::Nobody);
    assert_eq!(d.position("billing", "c2"), None);
}

#[test]
fn a_later_call_cannot_take_the_rep_a_waiting_call_is_owed() {
    let (d, t0) = directory();
    d.set_presence(&id("ana"), Presence::Busy, t0)
        .expect("known");
    assert_eq!(
        d.claim("billing", "first", &[], t0),
        Claim::Wait { position: 1 }
    );
    d.set_presence(&id("ana"), Presence::Available, t0)
        .expect("known");
    assert_eq!(
        d.claim("billing", "second", &[], t0),
        Claim::Wait { position: 2 }
    );
    assert_eq!(d.claim("billing", "first", &[], t0), Claim::Rep(id("ana")));
    assert_eq!(d.position("billing", "second"), Some(1));
}

#[test]
fn an_unknown_rep_is_an_error_naming_it() {
    let (d, t0) = directory();
    let err = d
        .set_presence(&id("zed"), Presence::Available, t0)
        .expect_err("unknown");
    assert!(err.to_string().contains("zed"));
}

#[test]
fn a_registered_sip_phone_makes_an_offline_rep_available_until_it_unregisters() {
    let (d, t0) = directory();
    assert_eq!(d.claim("billing", "c1", &[], t0), Claim::Nobody);
    let status = d.set_sip_registered(&id("ana"), true, t0).expect("known");
    assert_eq!(
        (status.presence, status.sip_registered),
        (Presence::Available, true)
    );
    assert_eq!(d.claim("billing", "c1", &[], t0), Claim::Rep(id("ana")));
    // A missed ring on the phone alone: away until it registers again.
    d.release(&id("ana"), Release::Missed, t0);
    assert_eq!(
        d.status(&id("ana"), t0).map(|s| s.presence),
        Some(Presence::Away)
    );
    d.set_sip_registered(&id("ana"), true, t0).expect("refresh");
    assert_eq!(d.claim("billing", "c2", &[], t0), Claim::Rep(id("ana")));
    d.release(&id("ana"), Release::Withdrawn, t0);
    // A presence chosen on the page wins over the phone.
    d.set_presence(&id("ana"), Presence::Busy, t0)
        .expect("known");
    assert_eq!(
        d.claim("billing", "c3", &[], t0),
        Claim::Wait { position: 1 }
    );
    d.leave_queue("billing", "c3");
    d.set_presence(&id("ana"), Presence::Offline, t0)
        .expect("known");
    d.set_sip_registered(&id("ana"), false, t0).expect("known");
    assert_eq!(d.claim("billing", "c4", &[], t0), Claim::Nobody);
    assert!(d.set_sip_registered(&id("zed"), true, t0).is_err());
}
