//! The length limit of a request's URL, answered as a SCIM error.
//!
//! Why a limit of our own: the HTTP layer refuses URLs of 64 KiB and more with a bare 414
//! before any handler runs. Below that, a URL over [`MAX_URI_BYTES`] gets the same status with
//! an RFC 7644 Error saying what to do instead; long filters belong in a POST /.search body.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scim::ScimError;

use super::reply::ScimReply;

/// The longest URL (path and query) served: room for any IdP's look-up many times over.
pub const MAX_URI_BYTES: usize = 16 * 1024;

pub async fn bounded(request: Request, next: Next) -> Response {
    let length = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if length > MAX_URI_BYTES {
        let detail = format!("the URL is longer than {MAX_URI_BYTES} bytes; send a long filter in a POST .search request");
        return ScimReply::error(ScimError::new(414, None, detail)).into_response();
    }
    next.run(request).await
}
