//! `/try`: the page that calls the agent from a browser. Plain HTML, CSS
//! and one ES module, compiled into the binary (no build step, nothing to
//! deploy beside it). Whether it is served at all is `[web] try`
//! (`crate::config::TryAccess`), decided when the router is built.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../../web/try/index.html");
const STYLE: &str = include_str!("../../../web/try/try.css");
const SCRIPT: &str = include_str!("../../../web/try/try.js");

/// The page's routes.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/try",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route("/try/", get(|| async { Redirect::permanent("/try") }))
        .route(
            "/try/try.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/try/try.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}
