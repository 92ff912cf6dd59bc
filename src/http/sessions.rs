//! Supervisor sessions (issue 17, decision 0038): a supervisor exchanges
//! the admin token and their display name for a session token, which
//! then stands for them on every admin route and in the `/webrtc/ws`
//! `join`, so that the audit log ([`crate::audit`]) can say who did what.
//!
//! Owns the token's shape and lifetime and the table behind it:
//!
//! - A token is [`TOKEN_PREFIX`] plus 32 random bytes in hex, from the
//!   process's one random source ([`crate::random`]). It is shown once,
//!   in the answer to the login, and never kept: the table holds its
//!   SHA-256, so a lookup is a hash-map probe on a digest (timing can
//!   teach an attacker about digests, which tells them nothing about a
//!   token), and a dump of the table holds nothing usable.
//! - A session ends [`ABSOLUTE_TTL`] after the login whatever happens,
//!   [`IDLE_TTL`] after its last use, or at its logout.
//! - The table is bounded ([`MAX_SESSIONS`]): a login at the cap drops
//!   the expired ones, then the one idle longest.
//!
//! [`SessionStore`] is the seam: this process's [`InMemorySessions`]
//! today, a shared store (several nodes behind one SIP proxy) later. It
//! sees digests only, and every method takes the time as an argument:
//! no clock is read here, so expiry is tested in simulated time.

pub mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;

use crate::audit::Actor;
use crate::random::{Random, RandomError};

/// A session ends this long after its login, used or not (a shift).
pub const ABSOLUTE_TTL: Duration = Duration::from_secs(12 * 3_600);
/// A session ends this long after its last request (the desk polls
/// every second while it is open, so only a closed or asleep desk idles).
pub const IDLE_TTL: Duration = Duration::from_secs(3_600);
/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 1_024;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// What every session token starts with: recognisable in a leak (secret
/// scanners) and never mistaken for the admin token.
pub const TOKEN_PREFIX: &str = "wls_";

/// Why a session could not be made or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The display name is empty, too long or not printable.
    #[error("name must be 1 to {MAX_NAME_CHARS} printable characters (no control characters), and not \"admin token\"")]
    BadName,
    /// The random source failed: no token is made without it.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The token names a session that has expired; it is forgotten as
    /// this is answered (a logged-out session is forgotten at once).
    #[error("the session has expired: log in again")]
    Expired,
    /// The token names no session.
    #[error("no such session")]
    Unknown,
}

/// A token's SHA-256: what the table is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of a presented token.
    pub fn of(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        TokenDigest(out)
    }
}

/// A session as the table keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its id (a UUIDv7; not the token): what the audit log records.
    pub id: String,
    /// The supervisor's display name.
    pub name: String,
    /// When it was made.
    pub created: SystemTime,
    /// When it was last used.
    pub last_used: SystemTime,
}

impl Session {
    /// When it ends if used no more: the earlier of the idle and the
    /// absolute bound.
    pub fn expires_at(&self) -> SystemTime {
        (self.last_used + IDLE_TTL).min(self.created + ABSOLUTE_TTL)
    }

    /// When it ends however much it is used.
    pub fn ends_by(&self) -> SystemTime {
        self.created + ABSOLUTE_TTL
    }

    fn expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at()
    }

    /// Who requests with it act as.
    pub fn actor(&self) -> Actor {
        Actor::supervisor(&self.name, &self.id)
    }
}

/// Where sessions are kept. Implementations see token digests only, and
/// take the time from the caller.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Keeps a new session under `digest`.
    fn insert(&self, digest: TokenDigest, session: Session, now: SystemTime);
    /// The live session under `digest`, its last use moved to `now`; an
    /// ended one is forgotten and answers [`SessionError::Expired`].
    fn touch(&self, digest: &TokenDigest, now: SystemTime) -> Result<Session, SessionError>;
    /// Ends the session under `digest`; the session it was.
    fn remove(&self, digest: &TokenDigest) -> Option<Session>;
    /// Sessions kept (live or not yet forgotten).
    fn len(&self) -> usize;
    /// Whether none is kept.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// This process's sessions, in a bounded map.
#[derive(Debug, Default)]
pub struct InMemorySessions {
    // Held for a map operation at most (a scan of ≤ MAX_SESSIONS at the
    // cap), never across an await.
    table: Mutex<HashMap<TokenDigest, Session>>,
}

impl InMemorySessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenDigest, Session>> {
        // Each operation is one insert, lookup or remove: a panic while
        // holding the lock cannot leave the map half-changed.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionStore for InMemorySessions {
    fn insert(&self, digest: TokenDigest, session: Session, now: SystemTime) {
        let mut table = self.lock();
        if table.len() >= MAX_SESSIONS {
            table.retain(|_, s| !s.expired(now));
        }
        if table.len() >= MAX_SESSIONS {
            let idlest = table
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(d, _)| *d);
            if let Some(dropped) = idlest.and_then(|d| table.remove(&d)) {
                tracing::warn!(
                    session = %dropped.id,
                    who = %dropped.name,
                    cap = MAX_SESSIONS,
                    "supervisor session dropped: the table is full and it was idle longest"
                );
            }
        }
        table.insert(digest, session);
    }

    fn touch(&self, digest: &TokenDigest, now: SystemTime) -> Result<Session, SessionError> {
        let mut table = self.lock();
        let session = table.get_mut(digest).ok_or(SessionError::Unknown)?;
        if session.expired(now) {
            table.remove(digest);
            return Err(SessionError::Expired);
        }
        session.last_used = session.last_used.max(now);
        Ok(session.clone())
    }

    fn remove(&self, digest: &TokenDigest) -> Option<Session> {
        self.lock().remove(digest)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Logins, lookups and logouts over a [`SessionStore`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    random: Random,
}

/// A session just made: its token (shown once) and the session.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The bearer token. Never logged.
    pub token: String,
    /// The session.
    pub session: Session,
}

impl Sessions {
    /// Sessions kept in `store`, tokens drawn from `random`.
    pub fn new(store: Arc<dyn SessionStore>, random: Random) -> Sessions {
        Sessions { store, random }
    }

    /// This process's in-memory table and the system's random source.
    pub fn in_memory() -> Sessions {
        Sessions::new(
            Arc::new(InMemorySessions::default()),
            crate::random::system(),
        )
    }

    /// A display name as kept: trimmed, then checked.
    pub fn valid_name(name: &str) -> Result<String, SessionError> {
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0
            || chars > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
            || name.eq_ignore_ascii_case(Actor::ADMIN_TOKEN)
        {
            return Err(SessionError::BadName);
        }
        Ok(name.to_owned())
    }

    /// Makes a session for `name` at `now`.
    pub fn login(&self, name: &str, now: SystemTime) -> Result<NewSession, SessionError> {
        let name = Sessions::valid_name(name)?;
        let token = format!("{TOKEN_PREFIX}{}", crate::random::hex(&*self.random, 32)?);
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
        let session = Session {
            id: uuid::Uuid::new_v7(ts).to_string(),
            name,
            created: now,
            last_used: now,
        };
        self.store
            .insert(TokenDigest::of(&token), session.clone(), now);
        Ok(NewSession { token, session })
    }

    /// The live session a presented token names, used at `now`.
    pub fn check(&self, token: &str, now: SystemTime) -> Result<Session, SessionError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(SessionError::Unknown);
        }
        self.store.touch(&TokenDigest::of(token), now)
    }

    /// Ends the session a token names.
    pub fn logout(&self, token: &str) -> Option<Session> {
        self.store.remove(&TokenDigest::of(token))
    }

    /// Sessions kept.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

#[cfg(test)]
mod tests;
