//! The one writer connection, owned by a dedicated thread.
//!
//! SQLite lets one connection write at a time; a second writing connection in this process
//! would only wait in the busy handler, and could starve behind a steady stream of commits. So
//! every write of this process (commits, tenants, connections, checkpoints, migrations) is a
//! job on this thread's channel, and the async caller awaits a oneshot reply: the runtime never
//! blocks on SQLite.
//!
//! Commits waiting together share one transaction (group commit, see `append`): under load one
//! fsync serves many of them; alone, a commit is its own group. Other jobs keep their place in
//! the queue: a group ends at the first job that is not a commit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::append;
use crate::api::{Appended, Commit, StoreError, StoreResult};

/// The most commits one transaction takes, so that a burst does not hold its first callers
/// waiting for a very long transaction.
const GROUP_LIMIT: usize = 256;

enum Job {
    /// Boxed: a commit is large, and the queue's slots are as large as its largest job.
    Append(Box<Commit>, oneshot::Sender<StoreResult<Appended>>),
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    pub fn start(connection: Connection) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(connection, &queue))
            .map_err(|e| StoreError::Config(format!("starting the SQLite writer thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Appends `commit` atomically; answers once its transaction is durably committed.
    pub async fn append(&self, commit: Commit) -> StoreResult<Appended> {
        let (reply, result) = oneshot::channel();
        self.send(Job::Append(Box::new(commit), reply))?;
        result.await.map_err(|_| stopped_mid_job())?
    }

    /// Runs `job` on the writer connection.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        self.send(Job::Run(Box::new(move |connection| {
            let _ = reply.send(job(connection));
        })))?;
        result.await.map_err(|_| stopped_mid_job())?
    }

    fn send(&self, job: Job) -> StoreResult<()> {
        self.jobs.send(job).map_err(|_| StoreError::Internal("the SQLite writer thread has stopped".into()))
    }
}

/// A job's reply was dropped unanswered: it panicked (the panic hook has reported it).
fn stopped_mid_job() -> StoreError {
    StoreError::Internal("the SQLite writer failed mid-job".into())
}

/// Runs jobs until the store is dropped. A panicking job loses its reply (its caller gets an
/// error) and rolls back its transaction as it unwinds; the writer goes on serving the others.
fn serve(mut connection: Connection, queue: &Receiver<Job>) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| queue.recv().ok()) {
        let _ = catch_unwind(AssertUnwindSafe(|| match job {
            Job::Run(job) => job(&mut connection),
            Job::Append(commit, reply) => {
                let mut group = vec![(commit, reply)];
                while group.len() < GROUP_LIMIT {
                    match queue.try_recv() {
                        Ok(Job::Append(commit, reply)) => group.push((commit, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let (commits, replies): (Vec<Commit>, Vec<_>) = group.into_iter().map(|(commit, reply)| (*commit, reply)).unzip();
                for (reply, result) in replies.into_iter().zip(append::append_group(&mut connection, &commits)) {
                    let _ = reply.send(result);
                }
            }
        }));
    }
}
