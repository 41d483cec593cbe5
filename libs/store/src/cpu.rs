//! Where commands are decided: replaying a stream and deciding a command (a PATCH applied to a
//! large document, a member list diffed) is synchronous CPU work that no request timeout can
//! interrupt, so it runs on tokio's blocking threads, at most one job per core at a time
//! (ADR 0030). The async workers stay free to serve other requests and tenants meanwhile.
//! A creation is decided where it is asked for: it replays nothing, and a resource's size limit
//! bounds its work to far less than the hand-over to a blocking thread and back costs.

use std::future::Future;
use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::StoreError;

/// One permit per core: more jobs at once would only share the same cores.
static PERMITS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)));

/// Runs `job` off the async workers once a permit is free. The job may await futures that
/// need no I/O (cqrs-es's `handle` is async but decides synchronously).
pub async fn run<T, F>(job: impl FnOnce() -> F + Send + 'static) -> Result<T, StoreError>
where
    F: Future<Output = T>,
    T: Send + 'static,
{
    // Waiting for a permit is cancellable: a request that times out meanwhile leaves the queue.
    let permit = PERMITS.acquire().await.map_err(|_| StoreError::Internal("the decision pool is closed".into()))?;
    // The job holds the permit, not this future: a request that times out while its job runs
    // does not free the core the job still occupies.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        futures::executor::block_on(job())
    })
    .await
    .map_err(|e| match e.try_into_panic() {
        // A panicking decision is a bug: it unwinds into the request as it did on the async
        // worker, and the API answers 500, not "unavailable".
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => StoreError::Unavailable("the decision pool is shutting down".into()),
    })
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    #[tokio::test]
    async fn a_job_answers_and_a_panicking_job_panics_its_caller() {
        assert_eq!(super::run(|| async { 6 * 7 }).await.unwrap(), 42);
        let caught = std::panic::AssertUnwindSafe(super::run::<(), _>(|| async { panic!("a bug") })).catch_unwind().await;
        let panic = caught.expect_err("the panic reaches the caller");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"a bug"));
    }
}
