//! The plain-HTTP listener of `--acme-http` (port 80 in public): answers HTTP-01
//! challenges and redirects every other request to the HTTPS relay, so nothing of the
//! relay itself is ever served in clear text.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use url::Url;

use super::challenge::Challenges;

#[derive(Clone)]
struct Http01 {
    challenges: Arc<Challenges>,
    public_url: Url,
}

pub(crate) fn router(challenges: Arc<Challenges>, public_url: Url) -> Router {
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .fallback(to_https)
        .with_state(Http01 {
            challenges,
            public_url,
        })
}

async fn answer(State(state): State<Http01>, Path(token): Path<String>) -> Response {
    match state.challenges.http_01(&token) {
        Some(key_authorization) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            key_authorization,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The same path on the public URL; neither the request's Host header nor its path can
/// name another host (joining a path of `//evil.example` would).
async fn to_https(State(state): State<Http01>, uri: Uri) -> Response {
    let mut target = state.public_url;
    target.set_path(uri.path());
    target.set_query(uri.query());
    Redirect::permanent(target.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(router: &Router, path: &str) -> (StatusCode, String, Option<String>) {
        let request = Request::get(path)
            .header(header::HOST, "evil.example")
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            String::from_utf8_lossy(&body).into_owned(),
            location,
        )
    }

    #[tokio::test]
    async fn challenges_are_answered_and_everything_else_goes_to_https() {
        let challenges = Arc::new(Challenges::default());
        let public = Url::parse("https://relay.example").unwrap();
        let router = router(challenges.clone(), public);
        let _published = challenges.publish_http("tok", "tok.thumb");
        let (status, body, _) = get(&router, "/.well-known/acme-challenge/tok").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "tok.thumb"));
        let (status, _, _) = get(&router, "/.well-known/acme-challenge/other").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, location) = get(&router, "/s/abc?x=1").await;
        assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location.as_deref(), Some("https://relay.example/s/abc?x=1"));
        for (path, kept) in [
            (
                "//evil.example/login",
                "https://relay.example//evil.example/login",
            ),
            ("///evil.example", "https://relay.example///evil.example"),
            ("/%5Cevil.example", "https://relay.example/%5Cevil.example"),
        ] {
            let (status, _, location) = get(&router, path).await;
            assert_eq!(status, StatusCode::PERMANENT_REDIRECT, "{path}");
            assert_eq!(location.as_deref(), Some(kept), "{path}");
        }
    }
}
