//! Connections owned by dedicated threads: the async runtime never blocks on SQLite.
//!
//! Each thread owns one connection and runs jobs from a shared queue. The writer is one such
//! thread (SQLite takes one writer at a time anyway); readers are a few more, on WAL snapshots.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::api::{StoreError, StoreResult};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub struct ConnectionThreads {
    jobs: Sender<Job>,
}

impl ConnectionThreads {
    /// Starts `count` threads, each with a connection from `open`.
    pub fn start(name: &str, count: usize, open: impl Fn() -> StoreResult<Connection>) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let connection = open()?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(connection, &queue))
                .map_err(|e| StoreError::Backend(format!("starting a {name} thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on one of the threads and waits for its result without blocking the runtime.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let _ = reply.send(job(connection));
        });
        self.jobs.send(job).map_err(|_| StoreError::Backend("the database threads have stopped".into()))?;
        result.await.map_err(|_| StoreError::Backend("a database thread stopped mid-job".into()))?
    }
}

fn serve(mut connection: Connection, queue: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the queue only while taking a job, so the other threads can take the next one.
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut connection),
            Err(_) => return, // the store was dropped
        }
    }
}
