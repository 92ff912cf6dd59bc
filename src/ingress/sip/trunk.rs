//! Who may call: trunk allow-lists and digest authentication of INVITEs.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warmline_sip::auth::{
    Algorithm, Challenge, Challenger, DigestCredentials, UserSecret, Verification,
};
use warmline_sip::message::{Request, SipHeaders, Uri};

use crate::config::TrunkConfig;

/// A trunk ready to check requests.
pub struct Trunk {
    /// Its settings.
    pub config: TrunkConfig,
    digest: Option<(Challenger, String, String)>,
}

impl std::fmt::Debug for Trunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trunk")
            .field("name", &self.config.name)
            .field("digest", &self.digest.is_some())
            .finish()
    }
}

/// Why a trunk cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TrunkError {
    /// The password variable is not set.
    #[error("trunk {trunk:?}: environment variable {variable} (its digest password) is not set")]
    MissingPassword {
        /// Trunk name.
        trunk: String,
        /// The variable.
        variable: String,
    },
    /// The digest challenger refused its settings.
    #[error("trunk {0:?}: cannot set up digest authentication: {1}")]
    Digest(String, String),
}

/// What a trunk says about an INVITE.
#[derive(Debug)]
pub enum Admission {
    /// Let it in.
    Accept,
    /// Answer 401 with these challenges (no or stale credentials).
    Challenge(Vec<Challenge>),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl Trunk {
    /// Sets up a trunk; `secret` keys its nonces; `env` looks up the
    /// password variable.
    pub fn new(
        config: TrunkConfig,
        secret: &[u8],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Trunk, TrunkError> {
        let digest = match (&config.digest_username, &config.digest_password_env) {
            (Some(user), Some(variable)) => {
                let password = env(variable).ok_or_else(|| TrunkError::MissingPassword {
                    trunk: config.name.clone(),
                    variable: variable.clone(),
                })?;
                let algorithms = config
                    .digest_algorithms
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>().map_err(|_| {
                            TrunkError::Digest(
                                config.name.clone(),
                                format!("unknown algorithm {a:?}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let challenger = Challenger::new(secret, config.digest_realm.clone(), &algorithms)
                    .map_err(|e| TrunkError::Digest(config.name.clone(), e.to_string()))?;
                Some((challenger, user.clone(), password))
            }
            _ => None,
        };
        Ok(Trunk { config, digest })
    }

    /// Whether requests from `ip` belong to this trunk.
    pub fn covers(&self, ip: IpAddr) -> bool {
        if self.config.allow.is_empty() {
            return self.digest.is_some();
        }
        self.config.allow.iter().any(|net| net.contains(ip))
    }

    /// Checks an INVITE's credentials when the trunk asks for them.
    pub fn admit(&self, request: &Request) -> Admission {
        let Some((challenger, user, password)) = &self.digest else {
            return Admission::Accept;
        };
        let now = unix_now();
        let Some(value) = request.headers.get("Authorization") else {
            return Admission::Challenge(challenger.challenge(now));
        };
        let creds = match DigestCredentials::parse(value) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(trunk = %self.config.name, error = %e, "unreadable Authorization: challenging again");
                return Admission::Challenge(challenger.challenge(now));
            }
        };
        // The digest covers the URI the client names: it must point at
        // this server (the Request-URI's host and port), or a response
        // could be replayed elsewhere. The user part is not compared: SIPp
        // and some PBXs put the bare server URI here.
        let same_target = Uri::parse(&creds.uri)
            .is_ok_and(|u| u.host == request.uri.host && u.port == request.uri.port);
        if !same_target {
            tracing::info!(trunk = %self.config.name, uri = %creds.uri, "digest URI is not the Request-URI");
            return Admission::Challenge(challenger.challenge(now));
        }
        let verdict = challenger.verify(
            &creds,
            request.method.as_str(),
            |name, _| (name == user).then(|| UserSecret::Password(password.clone())),
            now,
        );
        match verdict {
            Verification::Ok => Admission::Accept,
            Verification::Stale => Admission::Challenge(challenger.stale_challenge(now)),
            Verification::Invalid(reason) => {
                tracing::warn!(trunk = %self.config.name, ?reason, from = ?request.from().ok().map(|f| f.uri.to_string()), "digest authentication failed");
                Admission::Challenge(challenger.challenge(now))
            }
        }
    }
}
