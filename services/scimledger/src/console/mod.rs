//! `/console`: the operator console (issue 14 §2, ADR 0070). A page, one ES module and a style
//! sheet, embedded in the binary: no build step and nothing fetched from elsewhere. The script
//! calls the admin API with the operator token typed into its sign-in form, so the console has
//! no write path of its own; every change it makes is an admin command with the operator as
//! actor.
//!
//! Each answer carries a Content-Security-Policy that allows only this origin's script, style
//! and API (no inline script or style, no framing) and forbids form submissions, so that a
//! sign-in form submitted without its script cannot put the token in a URL.

use std::sync::LazyLock;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::api::ApiState;

pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// One embedded file and its entity tag.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    etag: LazyLock<HeaderValue>,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            content_type: $content_type,
            body: include_str!(concat!("assets/", $file)),
            etag: LazyLock::new(|| etag(include_str!(concat!("assets/", $file)))),
        }
    };
}

static PAGE: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("console.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("console.css", "text/css; charset=utf-8");

/// A strong entity tag from the content: a new binary's assets never match an old one's.
fn etag(body: &str) -> HeaderValue {
    let digest = Sha256::digest(body.as_bytes());
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12]))).expect("hex is a valid header value")
}

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/console", get(|headers: HeaderMap| async move { serve(&PAGE, &headers) }))
        .route("/console/", get(|headers: HeaderMap| async move { serve(&PAGE, &headers) }))
        .route("/console/console.js", get(|headers: HeaderMap| async move { serve(&SCRIPT, &headers) }))
        .route("/console/console.css", get(|headers: HeaderMap| async move { serve(&STYLE, &headers) }))
}

/// The asset, or 304 when the browser's copy is current. `no-cache`: the browser revalidates
/// on every load (a few bytes), so the console an upgraded server ships is the one shown.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = asset.etag.clone();
    let fresh =
        headers.get(IF_NONE_MATCH).is_some_and(|tags| tags.as_bytes().split(|b| *b == b',').any(|tag| tag.trim_ascii() == etag.as_bytes()));
    let mut response = match fresh {
        true => StatusCode::NOT_MODIFIED.into_response(),
        false => ([(CONTENT_TYPE, asset.content_type)], asset.body).into_response(),
    };
    let out = response.headers_mut();
    out.insert(ETAG, etag);
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_the_embedded_script_and_style() {
        assert!(PAGE.body.contains(r#"<script type="module" src="/console/console.js"></script>"#));
        assert!(PAGE.body.contains(r#"<link rel="stylesheet" href="/console/console.css">"#));
        // No inline script or style: the policy would refuse them.
        assert_eq!(PAGE.body.matches("<script").count(), 1);
        assert!(!PAGE.body.contains("<style") && !PAGE.body.contains(" style="));
        let handlers = PAGE
            .body
            .split(" on")
            .skip(1)
            .filter(|rest| rest.split_once('=').is_some_and(|(name, _)| name.chars().all(|c| c.is_ascii_lowercase())));
        assert_eq!(handlers.count(), 0, "an inline event handler");
    }

    #[test]
    fn a_current_copy_gets_not_modified() {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_str(&format!("\"other\", {}", SCRIPT.etag.to_str().unwrap())).unwrap());
        assert_eq!(serve(&SCRIPT, &headers).status(), StatusCode::NOT_MODIFIED);
        let answer = serve(&SCRIPT, &HeaderMap::new());
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(answer.headers()[ETAG], *SCRIPT.etag);
    }
}
