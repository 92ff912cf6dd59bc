//! Which agent answers a call: the pure router over `[[routes]]`
//! (decision 0020). The ingresses call [`Router::route`] with the called
//! number and the trunk; `warmline check` uses [`Router::new`] to find
//! routes that can never win.
//!
//! Precedence, highest first: a route with a trunk and a number, a number
//! alone, a trunk alone, the default (neither). Among number routes the
//! exact number beats any prefix, and the longest prefix wins. Numbers are
//! compared in E.164 after [`normalise`].

/// Twilio calls arrive on this pseudo-trunk: `trunk = "twilio"` routes
/// them like a SIP trunk's name routes its calls.
pub const TWILIO_TRUNK: &str = "twilio";

/// Browser calls from `/try` arrive on this pseudo-trunk, with no called
/// number: `trunk = "webrtc"` picks the agent that `/try` talks to, and
/// without such a route the default route answers.
pub const WEBRTC_TRUNK: &str = "webrtc";

/// A route's number pattern, normalised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NumberPattern {
    /// One number.
    Exact(String),
    /// Every number starting with this (the `*` taken off).
    Prefix(String),
}

impl NumberPattern {
    /// Parses a route's `number`: E.164 (`+14155550100`), a prefix ending
    /// in `*` (`+1415*`), or digits that `default_country_code` makes
    /// E.164. `None` when it is neither.
    pub fn parse(raw: &str, default_country_code: Option<&str>) -> Option<NumberPattern> {
        let raw = raw.trim();
        let (body, prefix) = match raw.strip_suffix('*') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        if prefix && body.is_empty() {
            // `*` alone is the default route spelled differently: refuse
            // it, so the default is written one way only.
            return None;
        }
        let number = normalise(body, default_country_code)?;
        Some(if prefix {
            NumberPattern::Prefix(number)
        } else {
            NumberPattern::Exact(number)
        })
    }

    fn matches(&self, number: &str) -> Option<Specificity> {
        match self {
            NumberPattern::Exact(n) if n == number => Some(Specificity::EXACT),
            NumberPattern::Prefix(p) if number.starts_with(p.as_str()) => {
                Some(Specificity(p.len()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NumberPattern::Exact(n) => f.write_str(n),
            NumberPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// How closely a number pattern matched: exact beats any prefix, a longer
/// prefix beats a shorter one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Specificity(usize);

impl Specificity {
    const EXACT: Specificity = Specificity(usize::MAX);
}

/// Normalises a called number to E.164: separators (spaces, `-`, `.`,
/// `(`, `)`) go; `+` stays; `00` becomes `+`; otherwise a leading national
/// `0` is dropped and `default_country_code` put in front. Without a
/// country code, digits stay digits (and match routes written the same
/// way). `None` when what is left is not a number (a SIP user such as
/// `support`): such a call matches trunk and default routes only.
pub fn normalise(raw: &str, default_country_code: Option<&str>) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => match cleaned.strip_prefix("00") {
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        },
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if plus {
        return Some(format!("+{digits}"));
    }
    match default_country_code {
        Some(cc) => {
            let cc = cc.trim_start_matches('+');
            let national = digits.strip_prefix('0').unwrap_or(digits);
            Some(format!("+{cc}{national}"))
        }
        None => Some(digits.to_owned()),
    }
}

/// One `[[routes]]` entry, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Its position in the file (0-based), for messages.
    pub index: usize,
    /// The agent id.
    pub agent: String,
    /// The number pattern, if any.
    pub number: Option<NumberPattern>,
    /// The trunk name, if any.
    pub trunk: Option<String>,
}

impl Route {
    /// The precedence tier: trunk+number 3, number 2, trunk 1, default 0.
    pub fn tier(&self) -> u8 {
        match (&self.trunk, &self.number) {
            (Some(_), Some(_)) => 3,
            (None, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        }
    }

    /// What the route matches, for `warmline check` and messages.
    pub fn describe(&self) -> String {
        match (&self.trunk, &self.number) {
            (Some(t), Some(n)) => format!("number {n} on trunk {t}"),
            (None, Some(n)) => format!("number {n}"),
            (Some(t), None) => format!("trunk {t}"),
            (None, None) => "default".to_owned(),
        }
    }
}

/// Two routes that match the same calls with the same priority.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "routes[{first}] and routes[{second}] both match {what}: remove one or make one more specific"
)]
pub struct Ambiguous {
    /// The earlier route's index.
    pub first: usize,
    /// The later one's.
    pub second: usize,
    /// What both match.
    pub what: String,
}

/// The routing table.
#[derive(Clone, Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
    default_country_code: Option<String>,
}

impl Router {
    /// A router over `routes`; refuses two routes with the same trunk and
    /// the same number pattern (same priority for the same calls).
    pub fn new(
        routes: Vec<Route>,
        default_country_code: Option<String>,
    ) -> Result<Router, Ambiguous> {
        for (i, a) in routes.iter().enumerate() {
            if let Some(b) = routes[..i]
                .iter()
                .find(|b| b.trunk == a.trunk && b.number == a.number)
            {
                return Err(Ambiguous {
                    first: b.index,
                    second: a.index,
                    what: a.describe(),
                });
            }
        }
        Ok(Router {
            routes,
            default_country_code,
        })
    }

    /// The routes, in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route that answers a call to `called` (as it arrived: the
    /// Twilio `To` or the SIP user) on `trunk`; `None` when no route
    /// matches and there is no default.
    pub fn route(&self, called: &str, trunk: Option<&str>) -> Option<&Route> {
        let number = normalise(called, self.default_country_code.as_deref());
        self.routes
            .iter()
            .filter_map(|r| {
                if let Some(t) = &r.trunk {
                    if Some(t.as_str()) != trunk {
                        return None;
                    }
                }
                let specificity = match &r.number {
                    Some(pattern) => pattern.matches(number.as_deref()?)?,
                    None => Specificity(0),
                };
                Some(((r.tier(), specificity), r))
            })
            // Ties cannot happen: `new` refused equal (trunk, pattern)
            // pairs, and different patterns of one tier differ in
            // specificity or do not both match.
            .max_by_key(|(key, _)| *key)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests;
