//! Security headers on every response warmline serves (the `/try` page,
//! the API, the Twilio routes, health and metrics), as Grafana and
//! Prometheus set on theirs: no MIME sniffing, no framing by another site
//! (clickjacking of `/try` or the rep page), no Referer leaking call URLs.
//! A handler that sets one of these itself keeps its own value.
//!
//! There are no cookies anywhere: the admin API takes a bearer token only,
//! so a cross-site request has no ambient credential to ride.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// The headers and their values.
pub const HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("referrer-policy", "no-referrer"),
];

/// `router` with [`HEADERS`] on every response, fallbacks (404) included.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(axum::middleware::from_fn(add))
}

async fn add(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn every_response_carries_the_security_headers_and_a_handlers_own_value_stays() {
        let router =
            with_security_headers(Router::new().route("/", get(|| async { "hello" })).route(
                "/framed",
                get(|| async { ([("x-frame-options", "SAMEORIGIN")], "framed") }),
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        for (path, frame) in [
            ("/", "DENY"),
            ("/framed", "SAMEORIGIN"),
            ("/missing", "DENY"),
        ] {
            let head = raw_get(addr, path).await;
            assert!(
                head.contains("x-content-type-options: nosniff"),
                "{path}: {head}"
            );
            assert!(
                head.contains(&format!("x-frame-options: {frame}")),
                "{path}: {head}"
            );
            assert!(
                head.contains("referrer-policy: no-referrer"),
                "{path}: {head}"
            );
            assert!(
                head.contains("content-security-policy: frame-ancestors 'none'"),
                "{path}: {head}"
            );
            assert!(
                !head.to_ascii_lowercase().contains("set-cookie"),
                "{path}: {head}"
            );
        }
    }

    async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await.expect("read");
        String::from_utf8_lossy(&out)
            .to_ascii_lowercase()
            .replace("deny", "DENY")
            .replace("sameorigin", "SAMEORIGIN")
    }
}
