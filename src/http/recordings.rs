//! `GET /api/v1/recordings/{call id}.wav`: a finished call's recording
//! (decision 0026), behind the admin token of [`super::admin`]. The file
//! streams in 64 KiB chunks read off the runtime's threads; a call still in
//! progress has none yet (404), nor has a call that was not recorded.

use std::io::Read;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::admin::{protect, AdminToken};

/// Bytes per chunk of a streamed recording.
const CHUNK: usize = 64 * 1024;

/// The recordings route over `dir`, behind `token`.
pub fn routes(dir: PathBuf, token: AdminToken) -> Router {
    let router = Router::new()
        .route("/api/v1/recordings/{file}", get(recording))
        .with_state(dir);
    protect(router, token)
}

fn not_found(file: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!(
            "no recording {file:?}: the call was not recorded, is still in progress, or its recording expired"
        )})),
    )
        .into_response()
}

async fn recording(State(dir): State<PathBuf>, Path(file): Path<String>) -> Response {
    // Only `<uuid>.wav`: a name never reaches the file system otherwise.
    let Some(id) = file.strip_suffix(".wav") else {
        return not_found(&file);
    };
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return not_found(&file);
    }
    let path = dir.join(&file);
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        Ok::<_, std::io::Error>((file, len))
    })
    .await;
    let Ok(Ok((mut reader, len))) = opened else {
        return not_found(&file);
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut chunk = vec![0u8; CHUNK];
        match reader.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                if tx.blocking_send(Ok(chunk)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_recording_is_served_to_the_admin_token_only_and_names_never_leave_the_directory() {
        crate::tls::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!("warmline-rec-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let id = "01890a5d-ac96-774b-bcce-b302099a8057";
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join(format!("{id}.wav")), &body).expect("write");
        std::fs::write(dir.join("secret.txt"), b"no").expect("write");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = routes(dir.clone(), AdminToken::new(Some("admin")));
        tokio::spawn(crate::http::serve(listener, router, std::future::pending()));
        let http = reqwest::Client::new();
        let get = |path: String, token: Option<&'static str>| {
            let mut request = http.get(format!("http://{addr}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let url = format!("/api/v1/recordings/{id}.wav");
        let answer = get(url.clone(), None).await.expect("answers");
        assert_eq!(answer.status().as_u16(), 401);
        let answer = get(url.clone(), Some("wrong")).await.expect("answers");
        assert_eq!(answer.status().as_u16(), 401);
        let answer = get(url, Some("admin")).await.expect("answers");
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(answer.headers()[header::CONTENT_TYPE.as_str()], "audio/wav");
        assert_eq!(answer.bytes().await.expect("body").as_ref(), &body[..]);
        for path in [
            "/api/v1/recordings/secret.txt",
            "/api/v1/recordings/..%2Fsecret.txt",
            "/api/v1/recordings/01890a5d-ac96-774b-bcce-b302099a8058.wav",
        ] {
            let answer = get(path.to_owned(), Some("admin")).await.expect("answers");
            assert_eq!(answer.status().as_u16(), 404, "{path}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
