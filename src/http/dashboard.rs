//! `/dashboard`: the supervisor's desk (issue 17, decision 0030). Plain
//! HTML, CSS and ES modules under web/dashboard/, compiled into the binary
//! (no build step). The page itself is public and holds no data: it logs
//! in with the admin token and reads everything through `/api/v1` with
//! it as a bearer token, and joins calls through `/webrtc/ws`.

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

    /// The modules `source` imports (`import … from './x.js'`).
    fn imports(source: &str) -> Vec<&str> {
        source
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
                "./api.js",
                "./media.js",
                "./views.js",
                "./inbox.js",
                "./detail.js"
            ]
        );
        // The views' own modules import only served ones too.
        assert_eq!(imports(INBOX), ["./api.js", "./views.js"]);
        assert_eq!(imports(DETAIL), ["./api.js", "./views.js", "./inbox.js"]);
        assert!(INDEX.contains("/dashboard/dashboard.js"));
        assert!(INDEX.contains("/dashboard/dashboard.css"));
        assert!(INDEX.contains("/dashboard/inbox.css"));
    }
}
