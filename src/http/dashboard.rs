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
const CSS: &str = "text/css; charset=utf-8";

/// Every ES module the page loads, by the name it is served under
/// (`/dashboard/<name>`) and imported by (`./<name>`).
const MODULES: &[(&str, &str)] = &[
    ("dashboard.js", SCRIPT),
    ("api.js", API),
    ("media.js", MEDIA),
    ("views.js", VIEWS),
    ("analytics.js", ANALYTICS),
    ("analytics_charts.js", ANALYTICS_CHARTS),
    ("audit.js", AUDIT),
    ("inbox.js", INBOX),
    ("detail.js", DETAIL),
];

/// Every style sheet, by the name it is served under.
const STYLES: &[(&str, &str)] = &[
    ("dashboard.css", STYLE),
    ("analytics.css", ANALYTICS_STYLE),
    ("audit.css", AUDIT_STYLE),
    ("inbox.css", INBOX_STYLE),
];

/// The page and its assets.
pub fn routes() -> Router {
    let mut router = Router::new()
        .route("/dashboard", get(|| async { asset(HTML, INDEX) }))
        .route(
            "/dashboard/",
            get(|| async { Redirect::permanent("/dashboard") }),
        );
    for &(name, body) in MODULES {
        router = router.route(
            &format!("/dashboard/{name}"),
            get(move || async move { asset(JS, body) }),
        );
    }
    for &(name, body) in STYLES {
        router = router.route(
            &format!("/dashboard/{name}"),
            get(move || async move { asset(CSS, body) }),
        );
    }
    router
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
    fn every_module_imports_only_modules_the_routes_serve() {
        let served: Vec<String> = MODULES.iter().map(|(n, _)| format!("./{n}")).collect();
        for (name, body) in MODULES {
            for import in imports(body) {
                assert!(
                    served.iter().any(|s| s == import),
                    "{name} imports {import}, which /dashboard does not serve"
                );
            }
        }
        // The views are reached from the main module (directly or not).
        let main = imports(SCRIPT);
        for view in ["./views.js", "./api.js", "./media.js", "./analytics.js"] {
            assert!(main.contains(&view), "dashboard.js does not import {view}");
        }
        assert!(imports(INBOX).contains(&"./views.js"));
        assert!(imports(DETAIL).contains(&"./inbox.js"));
        assert!(imports(ANALYTICS).contains(&"./analytics_charts.js"));
    }

    #[test]
    fn the_page_links_only_what_the_routes_serve() {
        for (name, _) in STYLES {
            assert!(
                INDEX.contains(&format!("/dashboard/{name}")),
                "index.html does not link {name}"
            );
        }
        assert!(INDEX.contains("/dashboard/dashboard.js"));
        for link in INDEX.split("/dashboard/").skip(1) {
            let name: String = link
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            if name.ends_with(".js") || name.ends_with(".css") {
                assert!(
                    MODULES.iter().chain(STYLES).any(|(n, _)| *n == name),
                    "index.html links {name}, which is not served"
                );
            }
        }
    }
}
