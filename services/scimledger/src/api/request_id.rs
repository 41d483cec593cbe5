//! Request ids: a random prefix drawn once per process and a counter (`3f9c0a1b-42`), unique
//! across restarts and replicas without a system call per request, as a random UUID would need.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

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
