//! `GET /api/v1/analytics` (issue 17, decision 0036): the figures of the
//! calls that started in a window, in total and grouped by day, agent,
//! number, trunk or agent version, read from the records store
//! ([`crate::store::analytics`]) behind the admin token, like the rest of
//! `/api/v1`.
//!
//! This module owns only the query string: the window (`from`, `to`: RFC
//! 3339 times or UTC dates; the last 7 UTC days, today included, by
//! default), `by` and `limit`. What each figure means is the store's.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::admin::{protect, AdminToken};
use super::calls::error;
use crate::store::analytics::{GroupBy, Window, WindowError, MAX_GROUPS};
use crate::store::writer::History;

/// Days the window spans unless `from` says otherwise.
pub const DEFAULT_DAYS: i64 = 7;
/// Groups returned unless `limit` says otherwise (by day: every date).
pub const DEFAULT_GROUPS: u32 = 20;

/// What is wrong with a query string.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnalyticsQueryError {
    /// `from` or `to` is neither an RFC 3339 time nor a date.
    #[error("{name} must be an RFC 3339 time (2026-12-01T00:00:00Z) or a UTC date (2026-12-01)")]
    Time {
        /// `from` or `to`.
        name: &'static str,
    },
    /// `by` names no grouping.
    #[error("by must be one of day, agent, number, trunk, version")]
    By,
    /// `limit` is out of range.
    #[error("limit must be a whole number from 1 to {MAX_GROUPS}")]
    Limit,
    /// The window itself.
    #[error(transparent)]
    Window(#[from] WindowError),
}

/// The routes, over `history` (none: the store is off), behind `token`.
pub fn routes(history: Option<History>, token: AdminToken) -> Router {
    protect(
        Router::new()
            .route("/api/v1/analytics", get(analytics))
            .with_state(history),
        token,
    )
}

/// The query string as sent.
#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    limit: Option<String>,
}

/// A time as `from` and `to` take it: RFC 3339, or a date meaning its
/// UTC midnight.
fn time(given: &str, name: &'static str) -> Result<jiff::Timestamp, AnalyticsQueryError> {
    if let Ok(at) = given.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    given
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or(AnalyticsQueryError::Time { name })
}

/// The next UTC midnight after `now`: the default end, so that the
/// default window is whole days with today the last.
fn end_of_today(now: jiff::Timestamp) -> jiff::Timestamp {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    today
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(now, |z| z.timestamp())
}

impl AnalyticsQuery {
    /// The window, grouping and group cap it asks for, at `now`.
    pub fn parse(
        &self,
        now: jiff::Timestamp,
    ) -> Result<(Window, GroupBy, u32), AnalyticsQueryError> {
        let span = jiff::SignedDuration::from_hours(24 * DEFAULT_DAYS);
        // Out of jiff's range (years ±9999) is as malformed as text.
        let back = |to: jiff::Timestamp, name| {
            to.checked_sub(span)
                .map_err(|_| AnalyticsQueryError::Time { name })
        };
        let (from, to) = match (&self.from, &self.to) {
            (Some(from), Some(to)) => (time(from, "from")?, time(to, "to")?),
            (Some(from), None) => {
                let from = time(from, "from")?;
                // At most the default span, never past today.
                let to = from
                    .checked_add(span)
                    .map_or(end_of_today(now), |to| to.min(end_of_today(now)));
                (from, to)
            }
            (None, Some(to)) => {
                let to = time(to, "to")?;
                (back(to, "to")?, to)
            }
            (None, None) => {
                let to = end_of_today(now);
                (back(to, "to")?, to)
            }
        };
        let by = match self.by.as_deref() {
            None => GroupBy::Day,
            Some(name) => GroupBy::parse(name).ok_or(AnalyticsQueryError::By)?,
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_GROUPS,
            Some(given) => given
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_GROUPS).contains(n))
                .ok_or(AnalyticsQueryError::Limit)?,
        };
        Ok((Window::new(from, to)?, by, limit))
    }
}

async fn analytics(
    State(history): State<Option<History>>,
    Query(query): Query<AnalyticsQuery>,
) -> Response {
    let (window, by, limit) = match query.parse(jiff::Timestamp::now()) {
        Ok(parsed) => parsed,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Some(history) = history else {
        return error(
            StatusCode::BAD_REQUEST,
            "analytics need the call records store, which is off ([store] enabled = false)",
        );
    };
    let found = match history.store().await {
        Ok(store) => store.analytics(window, by, limit).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(analytics) => Json(analytics).into_response(),
        Err(e) => super::history::unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(
        from: Option<&str>,
        to: Option<&str>,
        by: Option<&str>,
        limit: Option<&str>,
    ) -> AnalyticsQuery {
        AnalyticsQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            by: by.map(str::to_owned),
            limit: limit.map(str::to_owned),
        }
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().expect("a time")
    }

    #[test]
    fn the_default_window_is_the_last_seven_utc_days_with_today_the_last() {
        let now = at("2026-12-04T15:30:00Z");
        let (window, by, limit) = q(None, None, None, None).parse(now).expect("ok");
        assert_eq!(window.from(), at("2026-11-28T00:00:00Z"));
        assert_eq!(window.to(), at("2026-12-05T00:00:00Z"));
        assert_eq!((by, limit), (GroupBy::Day, DEFAULT_GROUPS));
        // A start alone spans the default length, never past today.
        let (window, ..) = q(Some("2026-12-03"), None, None, None)
            .parse(now)
            .expect("ok");
        assert_eq!(window.to(), at("2026-12-05T00:00:00Z"));
        let (window, ..) = q(Some("2026-11-01"), None, None, None)
            .parse(now)
            .expect("ok");
        assert_eq!(window.to(), at("2026-11-08T00:00:00Z"));
        let (window, ..) = q(None, Some("2026-12-01T12:00:00+01:00"), None, None)
            .parse(now)
            .expect("ok");
        assert_eq!(window.from(), at("2026-11-24T11:00:00Z"));
    }

    #[test]
    fn a_malformed_query_is_refused_with_what_to_send() {
        let now = at("2026-12-04T15:30:00Z");
        let refused = |query: AnalyticsQuery| query.parse(now).err();
        assert_eq!(
            refused(q(Some("yesterday"), None, None, None)),
            Some(AnalyticsQueryError::Time { name: "from" })
        );
        assert_eq!(
            refused(q(None, None, Some("week"), None)),
            Some(AnalyticsQueryError::By)
        );
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(
                refused(q(None, None, Some("agent"), Some(bad))),
                Some(AnalyticsQueryError::Limit),
                "{bad}"
            );
        }
        assert_eq!(
            refused(q(Some("2026-01-01"), Some("2026-12-01"), None, None)),
            Some(AnalyticsQueryError::Window(WindowError::TooLong))
        );
        assert_eq!(
            refused(q(None, Some("-009999-01-01T00:00:00Z"), None, None)),
            Some(AnalyticsQueryError::Time { name: "to" })
        );
        assert_eq!(
            refused(q(Some("1969-12-31"), Some("1970-01-02"), None, None)),
            Some(AnalyticsQueryError::Window(WindowError::BeforeEpoch))
        );
        assert_eq!(
            refused(q(Some("2026-12-02"), Some("2026-12-01"), None, None)),
            Some(AnalyticsQueryError::Window(WindowError::Empty))
        );
    }
}
