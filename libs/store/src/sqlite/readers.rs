//! Reader connections, each owned by a dedicated thread that takes jobs from one shared queue.
//!
//! Why threads that own their connections rather than connections behind mutexes used from
//! `spawn_blocking`: a job goes to whichever reader is free, without a lock per connection or
//! a blocking-pool thread parked on one; the blocking pool stays free for the rest of the
//! process; and each connection keeps its prepared-statement cache warm on one thread. In WAL
//! mode every read sees the last commit and never waits for the writer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::api::{StoreError, StoreResult};

type Job = Box<dyn FnOnce(&Connection) + Send>;

pub struct Readers {
    jobs: Sender<Job>,
}

impl Readers {
    /// Starts `count` threads, each with a connection from `open`.
    pub fn start(count: usize, open: impl Fn() -> StoreResult<Connection>) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let connection = open()?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{i}"))
                .spawn(move || serve(&connection, &queue))
                .map_err(|e| StoreError::Config(format!("starting an SQLite reader thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a free reader and waits for its result without blocking the runtime.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let _ = reply.send(job(connection));
        });
        self.jobs.send(job).map_err(|_| StoreError::Internal("the SQLite reader threads have stopped".into()))?;
        result.await.map_err(|_| StoreError::Internal("an SQLite reader failed mid-job".into()))?
    }
}

/// Runs jobs until the store is dropped. A panicking job loses its reply (its caller gets an
/// error); the reader goes on serving the others.
fn serve(connection: &Connection, queue: &Mutex<Receiver<Job>>) {
    loop {
        // The queue is held only while waiting for a job, so another reader takes the next one.
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = catch_unwind(AssertUnwindSafe(|| job(connection)));
    }
}
