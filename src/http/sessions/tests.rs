use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::*;
use crate::audit::{AuditEntry, AuditSink};
use crate::http::admin::AdminToken;
use crate::random::FailingRandom;

/// A simulated clock's start: any fixed instant.
const T0: SystemTime = SystemTime::UNIX_EPOCH;

fn at(secs: u64) -> SystemTime {
    T0 + Duration::from_secs(secs)
}

#[test]
fn a_session_ends_after_an_idle_hour_or_twelve_hours_whatever_its_use() {
    let sessions = Sessions::in_memory();
    let made = sessions.login("  Ada Lovelace ", at(0)).expect("a session");
    assert_eq!(made.session.name, "Ada Lovelace");
    assert!(made.token.starts_with(TOKEN_PREFIX) && made.token.len() == 4 + 64);
    // Used every 59 minutes, it lives to its absolute bound.
    let mut now = 0;
    while now + 3_540 < 12 * 3_600 {
        now += 3_540;
        let session = sessions.check(&made.token, at(now)).expect("still live");
        assert_eq!(session.last_used, at(now));
    }
    assert_eq!(
        sessions.check(&made.token, at(12 * 3_600)),
        Err(SessionError::Expired)
    );
    assert_eq!(
        sessions.check(&made.token, at(12 * 3_600)),
        Err(SessionError::Unknown),
        "an ended session is forgotten"
    );
    // Left alone for an hour, it ends.
    let idle = sessions.login("Grace", at(100)).expect("a session");
    assert!(sessions.check(&idle.token, at(100 + 3_599)).is_ok());
    assert_eq!(
        sessions.check(&idle.token, at(100 + 3_599 + 3_600)),
        Err(SessionError::Expired)
    );
    assert!(sessions.is_empty());
}

#[test]
fn logging_out_ends_only_that_session() {
    let sessions = Sessions::in_memory();
    let ada = sessions.login("Ada", at(0)).expect("a session");
    let grace = sessions.login("Ada", at(0)).expect("a namesake");
    assert_ne!(ada.session.id, grace.session.id);
    assert_ne!(ada.token, grace.token);
    assert_eq!(
        sessions.logout(&ada.token).map(|s| s.id),
        Some(ada.session.id)
    );
    assert_eq!(
        sessions.check(&ada.token, at(1)),
        Err(SessionError::Unknown)
    );
    assert!(sessions.check(&grace.token, at(1)).is_ok());
    assert!(sessions.logout(&ada.token).is_none());
}

#[test]
fn a_wrong_token_names_no_session_and_only_digests_are_kept() {
    let store = Arc::new(InMemorySessions::default());
    let sessions = Sessions::new(store.clone(), crate::random::system());
    let made = sessions.login("Ada", at(0)).expect("a session");
    let mut wrong = made.token.clone();
    wrong.pop();
    wrong.push(if made.token.ends_with('0') { '1' } else { '0' });
    assert_eq!(sessions.check(&wrong, at(1)), Err(SessionError::Unknown));
    assert_eq!(sessions.check("", at(1)), Err(SessionError::Unknown));
    assert_eq!(
        sessions.check(&made.token[4..], at(1)),
        Err(SessionError::Unknown)
    );
    let table = format!("{:?}", store);
    assert!(
        !table.contains(&made.token[4..]),
        "the table keeps a token: {table}"
    );
}

#[test]
fn names_must_be_short_printable_and_not_the_admin_tokens() {
    for bad in [
        "",
        "   ",
        "a\u{7}b",
        "line\nbreak",
        "Admin Token",
        &"x".repeat(MAX_NAME_CHARS + 1),
    ] {
        assert_eq!(
            Sessions::valid_name(bad),
            Err(SessionError::BadName),
            "{bad:?}"
        );
    }
    for good in ["Ada", "Zoë O'Brien", "李雷", &"x".repeat(MAX_NAME_CHARS)] {
        assert_eq!(Sessions::valid_name(good).as_deref(), Ok(good.trim()));
    }
}

#[test]
fn a_failing_random_source_makes_no_session() {
    let sessions = Sessions::new(
        Arc::new(InMemorySessions::default()),
        Arc::new(FailingRandom),
    );
    assert!(matches!(
        sessions.login("Ada", at(0)),
        Err(SessionError::Random(_))
    ));
    assert!(sessions.is_empty());
}

#[test]
fn at_the_cap_the_expired_go_first_then_the_one_idle_longest() {
    let sessions = Sessions::in_memory();
    let oldest = sessions.login("first", at(0)).expect("a session");
    let kept = sessions.login("second", at(1)).expect("a session");
    for i in 2..MAX_SESSIONS as u64 {
        sessions.login("filler", at(2 + i % 3)).expect("a session");
    }
    assert_eq!(sessions.len(), MAX_SESSIONS);
    // The first one was used last of all: the second is idlest now.
    sessions.check(&oldest.token, at(10)).expect("live");
    sessions.login("newcomer", at(11)).expect("made at the cap");
    assert_eq!(sessions.len(), MAX_SESSIONS);
    assert!(sessions.check(&oldest.token, at(12)).is_ok());
    assert_eq!(
        sessions.check(&kept.token, at(12)),
        Err(SessionError::Unknown)
    );
    // An hour later every filler has expired: a login sweeps them all.
    sessions.login("late", at(10 + 3_600 + 5)).expect("made");
    assert!(sessions.len() <= 3, "{} kept", sessions.len());
}

#[derive(Debug, Default)]
struct Kept(std::sync::Mutex<Vec<AuditEntry>>);

impl AuditSink for Kept {
    fn record(&self, entry: AuditEntry) {
        self.0.lock().expect("lock").push(entry);
    }
}

const ADMIN: &str = "admin-sessions-unit";

async fn serve(sessions: Sessions, audit: crate::audit::Audit) -> String {
    crate::tls::install_crypto_provider();
    let token = AdminToken::new(Some(ADMIN)).with_sessions(sessions);
    let router =
        api::routes(token.clone(), audit).merge(crate::http::admin::protect(
            axum::Router::new().route(
                "/api/v1/whoami",
                axum::routing::get(
                    |axum::Extension(actor): axum::Extension<crate::audit::Actor>| async move {
                        actor.name
                    },
                ),
            ),
            token,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(crate::http::serve(listener, router, std::future::pending()));
    format!("http://{addr}")
}

#[tokio::test]
async fn the_api_logs_in_by_name_acts_as_that_name_and_logs_out() {
    let kept = Arc::new(Kept::default());
    let sessions = Sessions::in_memory();
    let base = serve(sessions.clone(), crate::audit::Audit::new(kept.clone())).await;
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "Ada"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status().as_u16(), 201);
    let made: Value = answer.json().await.expect("JSON");
    let token = made["token"].as_str().expect("a token").to_owned();
    assert_eq!(made["name"], "Ada");
    let expires: jiff::Timestamp = made["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    let in_12h = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(12);
    assert!(
        (in_12h.as_second() - expires.as_second()).abs() <= 5,
        "{made}"
    );

    let whoami = |bearer: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let answer = http
                .get(format!("{base}/api/v1/whoami"))
                .bearer_auth(bearer)
                .send()
                .await
                .expect("answers");
            (
                answer.status().as_u16(),
                answer.text().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(whoami(token.clone()).await, (200, "Ada".to_owned()));
    assert_eq!(
        whoami(ADMIN.to_owned()).await,
        (200, "admin token".to_owned())
    );
    let current: Value = http
        .get(format!("{base}/api/v1/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(current["name"], "Ada");
    assert_eq!(current["session_id"], made["session_id"]);
    assert!(current.get("token").is_none(), "{current}");

    // A session cannot mint sessions; a bad name is refused.
    let status = |r: reqwest::Response| r.status().as_u16();
    let minted = http
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&json!({"name": "Eve"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(status(minted), 403);
    let bad = http
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "\u{1b}[31m"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(status(bad), 400);
    let admin_logout = http
        .delete(format!("{base}/api/v1/sessions/current"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("answers");
    assert_eq!(status(admin_logout), 400);

    let out = http
        .delete(format!("{base}/api/v1/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(status(out), 200);
    let (after, body) = whoami(token.clone()).await;
    assert_eq!(after, 401, "{body}");
    let entries = kept.0.lock().expect("lock").clone();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.who.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(seen, [("Ada", "login"), ("Ada", "logout")]);
    assert!(entries
        .iter()
        .all(|e| e.detail["session"] == made["session_id"]));
    let logged = serde_json::to_string(&entries).expect("JSON");
    assert!(!logged.contains(&token), "a token reached the audit log");
}

#[tokio::test]
async fn an_expired_session_is_refused_with_401_saying_so() {
    let sessions = Sessions::in_memory();
    // Sessions made in the past: one a minute short of its absolute
    // bound, one a second past it.
    let now = SystemTime::now();
    let made_at = now - ABSOLUTE_TTL + Duration::from_secs(60);
    let alive = sessions.login("Ada", made_at).expect("a session");
    // Used every 50 minutes since.
    let mut used = made_at;
    while used + Duration::from_secs(3_000) < now {
        used += Duration::from_secs(3_000);
        sessions.check(&alive.token, used).expect("live");
    }
    let ended = sessions
        .login("Ada", now - ABSOLUTE_TTL - Duration::from_secs(1))
        .expect("a session");
    let base = serve(sessions, crate::audit::Audit::off()).await;
    let http = reqwest::Client::new();
    let get = |token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let answer = http
                .get(format!("{base}/api/v1/whoami"))
                .bearer_auth(token)
                .send()
                .await
                .expect("answers");
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get(alive.token.clone()).await, (200, "Ada".to_owned()));
    let (status, body) = get(ended.token.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
    let (status, body) = get(ended.token).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("wrong"), "forgotten once expired: {body}");
}

#[tokio::test]
async fn wrong_admin_tokens_at_the_login_past_the_burst_get_429_and_the_right_one_still_logs_in() {
    let base = serve(Sessions::in_memory(), crate::audit::Audit::off()).await;
    let http = reqwest::Client::new();
    let login = |token: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/api/v1/sessions"))
                .bearer_auth(token)
                .json(&json!({"name": "Mallory"}))
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        }
    };
    let burst = crate::http::rate_limit::BURST as usize;
    let mut statuses = Vec::new();
    for _ in 0..burst + 2 {
        statuses.push(login("guess").await);
    }
    assert!(statuses[..burst].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses[burst..].iter().all(|&s| s == 429), "{statuses:?}");
    assert_eq!(login(ADMIN).await, 201);
    // Session guesses spend the same bucket.
    assert_eq!(login("wls_00000000").await, 429);
}
