//! `/dashboard`: the supervisor's desk (issue 17, decision 0030). Plain
//! HTML, CSS and ES modules under web/dashboard/, compiled into the binary
//! (no build step). The page itself is public and holds no data: it logs
//! in by exchanging the admin token and a name for a supervisor's session
//! (decision 0038), reads everything through `/api/v1` with that session
//! token as a bearer token, and joins calls through `/webrtc/ws`. Each
//! view is a module of its own, registered with views.js: the Analytics
//! view is analytics.js with analytics_charts.js and analytics.css
//! (decision 0036), the Audit view audit.js and audit.css (0038).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../web/dashboard/index.html");
const STYLE: &str = include_str!("../../web/dashboard/dashboard.css");
const SCRIPT: &str = include_str!("../../web/dashboard/dashboard.js");
const API: &str = include_str!("../../web/dashboard/api.js");
const MEDIA: &str = include_str!("../../web/dashboard/media.js");
const VIEWS: &str = include_str!("../../web/dashboard/views.js");
const ANALYTICS: &str = include_str!("../../web/dashboard/analytics.js");
const ANALYTICS_CHARTS: &str = include_str!("../../web/dashboard/analytics_charts.js");
const ANALYTICS_STYLE: &str = include_str!("../../web/dashboard/analytics.css");
const AUDIT: &str = include_str!("../../web/dashboard/audit.js");
const AUDIT_STYLE: &str = include_str!("../../web/dashboard/audit.css");
const INBOX: &str = include_str!("../../web/dashboard/inbox.js");
const INBOX_STYLE: &str = include_str!("../../web/dashboard/inbox.css");
const DETAIL: &str = include_str!("../../web/dashboard/detail.js");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The page and its assets.
pub fn routes() -> Router {
    Router::new()
        .route("/dashboard", get(|| async { asset(HTML, INDEX) }))
        .route(
            "/dashboard/",
            get(|| async { Redirect::permanent("/dashboard") }),
        )
        .route(
            "/dashboard/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/dashboard/dashboard.js",
            get(|| async { asset(JS, SCRIPT) }),
        )
        .route("/dashboard/api.js", get(|| async { asset(JS, API) }))
        .route("/dashboard/media.js", get(|| async { asset(JS, MEDIA) }))
        .route("/dashboard/views.js", get(|| async { asset(JS, VIEWS) }))
        .route(
            "/dashboard/analytics.js",
            get(|| async { asset(JS, ANALYTICS) }),
        )
        .route(
            "/dashboard/analytics_charts.js",
            get(|| async { asset(JS, ANALYTICS_CHARTS) }),
        )
        .route(
            "/dashboard/analytics.css",
            get(|| async { asset("text/css; charset=utf-8", ANALYTICS_STYLE) }),
        )
        .route("/dashboard/audit.js", get(|| async { asset(JS, AUDIT) }))
        .route(
            "/dashboard/audit.css",
            get(|| async { asset("text/css; charset=utf-8", AUDIT_STYLE) }),
        )
        .route("/dashboard/inbox.js", get(|| async { asset(JS, INBOX) }))
        .route("/dashboard/detail.js", get(|| async { asset(JS, DETAIL) }))
        .route(
            "/dashboard/inbox.css",
            get(|| async { asset("text/css; charset=utf-8", INBOX_STYLE) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(module: &str) -> Vec<&str> {
        module
            .lines()
            .filter_map(|l| l.trim().strip_prefix("import "))
            .filter_map(|l| l.split(" from ").nth(1))
            .map(|l| l.trim_matches(|c| c == '\'' || c == ';' || c == '"'))
            .collect()
    }

    #[test]
    fn the_main_module_imports_only_modules_the_routes_serve() {
        assert_eq!(
            imports(SCRIPT),
            [
                "./analytics.js",
                "./api.js",
                "./audit.js",
                "./media.js",
                "./views.js"
            ]
        );
        // The views' own modules import only served ones too.
        assert_eq!(imports(AUDIT), ["./api.js", "./views.js"]);
        assert_eq!(imports(INBOX), ["./api.js", "./views.js"]);
        assert_eq!(imports(DETAIL), ["./api.js", "./views.js", "./inbox.js"]);
        assert!(INDEX.contains("/dashboard/audit.css"));
        assert!(INDEX.contains("/dashboard/dashboard.js"));
        assert!(INDEX.contains("/dashboard/dashboard.css"));
        assert!(INDEX.contains("/dashboard/inbox.css"));
    }

    #[test]
    fn the_analytics_view_imports_only_modules_the_routes_serve() {
        assert_eq!(
            imports(ANALYTICS),
            ["./api.js", "./views.js", "./analytics_charts.js"]
        );
        assert!(imports(ANALYTICS_CHARTS).is_empty());
        assert!(INDEX.contains("/dashboard/analytics.css"));
    }
}
