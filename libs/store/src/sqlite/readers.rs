//! Reader connections, each owned by a dedicated thread that takes jobs from one shared queue.
//!
//! Why threads that own their connections rather than connections behind mutexes used from
//! `spawn_blocking`: a job goes to whichever reader is free, without a lock per connection or
//! a blocking-pool thread parked on one; the blocking pool stays free for the rest of the
//! process; and each connection keeps its prepared-statement cache warm on one thread. In WAL
//! mode every read sees the last commit and never waits for the writer.
//!
//! A read ends when its caller stops waiting (a request that timed out drops its future) or
//! when it outlasts the statement timeout: the caller's side interrupts the statement the
//! reader is running (`sqlite3_interrupt`), and a job nobody waits for any more is not started.
//! A slow read so costs its reader no longer than its request lasts.
//! A job `spawn`ed rather than `run` hands its results over as it goes (a group's members,
//! ADR 0076) and is interrupted the same way when its guard is dropped.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, InterruptHandle};
use tokio::sync::oneshot;

use crate::api::{StoreError, StoreResult};

type Work = Box<dyn FnOnce(&Connection) + Send>;

/// A job and what its caller's side shares with the reader running it.
struct Job {
    work: Work,
    state: Arc<JobState>,
}

#[derive(Default)]
struct JobState {
    abandoned: AtomicBool,
    /// The interrupt handle of the reader running the job, while it runs. Set and cleared
    /// under the lock, so an interrupt never reaches the reader's next job.
    running_on: Mutex<Option<Arc<InterruptHandle>>>,
}

/// Abandons its job when dropped before the job answered: the running statement is
/// interrupted, or the job is never started.
pub struct Abandon(Option<Arc<JobState>>);

impl Abandon {
    /// The job answered: nothing is left to abandon.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.abandoned.store(true, Ordering::SeqCst);
            if let Some(handle) = state.running_on.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                handle.interrupt();
            }
        }
    }
}

pub struct Readers {
    jobs: Sender<Job>,
    statement_timeout: Duration,
}

impl Readers {
    /// Starts `count` threads named `<name>-<i>`, each with a connection from `open`.
    pub fn start(name: &str, count: usize, statement_timeout: Duration, open: impl Fn() -> StoreResult<Connection>) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let connection = open()?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(&connection, &queue))
                .map_err(|e| StoreError::Config(format!("starting an SQLite reader thread: {e}")))?;
        }
        Ok(Self { jobs, statement_timeout })
    }

    /// Runs `job` on a free reader and waits for its result without blocking the runtime; the
    /// job is interrupted if this future is dropped or the statement timeout passes first.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        let abandon = self.spawn(move |connection| {
            let _ = reply.send(job(connection));
        })?;
        let answer = self.answer(result).await.ok_or_else(|| self.timed_out())?;
        // Answered, with an error too: the job is over, there is nothing left to interrupt.
        abandon.disarm();
        answer
    }

    /// Queues `job` for a free reader without waiting for it: for a job that hands its results
    /// over as it goes. Dropping the guard interrupts the job, or keeps it from starting.
    pub fn spawn(&self, job: impl FnOnce(&Connection) + Send + 'static) -> StoreResult<Abandon> {
        let state = Arc::new(JobState::default());
        self.jobs
            .send(Job { work: Box::new(job), state: Arc::clone(&state) })
            .map_err(|_| StoreError::Internal("the SQLite reader threads have stopped".into()))?;
        Ok(Abandon(Some(state)))
    }

    /// What a job sends on `result`, waited for as long as a statement may run: `None` once
    /// that passed.
    pub async fn answer<T>(&self, result: oneshot::Receiver<StoreResult<T>>) -> Option<StoreResult<T>> {
        let answer = tokio::time::timeout(self.statement_timeout, result).await.ok()?;
        Some(answer.unwrap_or_else(|_| Err(StoreError::Internal("an SQLite reader failed mid-job".into()))))
    }

    pub fn timed_out(&self) -> StoreError {
        StoreError::Unavailable(format!("an SQLite read took longer than {:?} and was interrupted", self.statement_timeout))
    }

    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }
}

/// Runs jobs until the store is dropped. A panicking job loses its reply (its caller gets an
/// error); the reader goes on serving the others.
fn serve(connection: &Connection, queue: &Mutex<Receiver<Job>>) {
    let interrupt = Arc::new(connection.get_interrupt_handle());
    loop {
        // The queue is held only while waiting for a job, so another reader takes the next one.
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(Job { work, state }) = job else { return };
        {
            let mut running_on = state.running_on.lock().unwrap_or_else(|p| p.into_inner());
            if state.abandoned.load(Ordering::SeqCst) {
                continue;
            }
            *running_on = Some(Arc::clone(&interrupt));
        }
        let _ = catch_unwind(AssertUnwindSafe(|| work(connection)));
        *state.running_on.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
