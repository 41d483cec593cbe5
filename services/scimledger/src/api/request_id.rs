//! Request ids: a random prefix drawn once per process and a counter (`3f9c0a1b-42`), unique
//! across restarts and replicas without a system call per request, as a random UUID would need.
//! A client's own `X-Request-Id` is kept only when it is short and plain, since it goes into
//! every log line and event of the request; any other is replaced by ours.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::Request as AxumRequest;
use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

use super::REQUEST_ID;

/// The longest client request id kept.
pub const MAX_CLIENT_REQUEST_ID: usize = 64;

/// Whether a client's request id is kept: 1 to 64 letters, digits and `-._:`.
fn is_plain(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_CLIENT_REQUEST_ID).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(b))
}

/// Drops a client's `X-Request-Id` unless it is one plain value, so that ours takes its place.
pub async fn drop_unfit(mut request: AxumRequest) -> AxumRequest {
    let mut given = request.headers().get_all(REQUEST_ID).iter();
    let fit = match (given.next(), given.next()) {
        (None, _) => true,
        (Some(one), None) => is_plain(one),
        (Some(_), Some(_)) => false,
    };
    if !fit {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

#[derive(Clone)]
pub struct SequentialRequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl SequentialRequestIds {
    pub fn new() -> Self {
        Self { prefix: format!("{:08x}", rand::random::<u32>()).into(), next: Arc::new(AtomicU64::new(1)) }
    }
}

impl MakeRequestId for SequentialRequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_client_ids_are_kept() {
        for kept in ["abc-123", "0f8e.trace:7_x", &"a".repeat(MAX_CLIENT_REQUEST_ID)] {
            assert!(is_plain(&HeaderValue::from_str(kept).unwrap()), "{kept}");
        }
        for dropped in ["", "a b", "a\"b", "x<script>", "é", &"a".repeat(MAX_CLIENT_REQUEST_ID + 1)] {
            let value = HeaderValue::from_bytes(dropped.as_bytes()).unwrap();
            assert!(!is_plain(&value), "{dropped}");
        }
    }

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let mut ids = SequentialRequestIds::new();
        let request = Request::new(());
        let a = ids.make_request_id(&request).unwrap();
        let b = ids.make_request_id(&request).unwrap();
        assert_ne!(a.header_value(), b.header_value());
        let (a, b) = (a.header_value().to_str().unwrap().to_owned(), b.header_value().to_str().unwrap().to_owned());
        assert_eq!(a.split('-').next(), b.split('-').next());
    }
}
