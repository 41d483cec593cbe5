//! A group's members handed over page by page from the read that walks them (ADR 0076).
//!
//! Each backend walks the members in one snapshot on a worker of its own (a task holding a
//! pooled PostgreSQL session, an SQLite reader thread) and sends the pages through a channel
//! of one page: the walk is never more than a page ahead of the reader, so memory stays
//! bounded whatever the group's size. A page that waits longer than the statement timeout to be
//! taken ends the walk, so a reader that stops draining frees the connection or thread; and
//! the receiving side tells a finished walk from one that stopped, so a cut walk never reads as
//! a complete list.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;

use crate::api::{Reference, StoreError, StoreResult};
use crate::query::Dialect;

/// The members of a group, a page at a time, in the order they were added; an `Err` ends it.
pub type MemberPages = Pin<Box<dyn Stream<Item = StoreResult<Vec<Reference>>> + Send + 'static>>;

/// What the walk sends: a page, the end (`None`), or why it stopped.
type Message = StoreResult<Option<Vec<Reference>>>;

/// The walking side of a [`channel`].
pub(crate) struct PageSender {
    pages: mpsc::Sender<Message>,
    /// How long a page may wait to be taken.
    patience: Duration,
}

impl PageSender {
    /// Hands `page` over; an error when the reader has gone or did not take it in time, after
    /// which the walk stops.
    pub async fn send(&self, page: Vec<Reference>) -> StoreResult<()> {
        self.pages.send_timeout(Ok(Some(page)), self.patience).await.map_err(|e| match e {
            mpsc::error::SendTimeoutError::Timeout(_) => {
                StoreError::Unavailable(format!("a group's members were not read for {:?}; the walk stopped", self.patience))
            }
            mpsc::error::SendTimeoutError::Closed(_) => StoreError::Unavailable("the reader of a group's members has gone".into()),
        })
    }

    /// Says that every page was sent.
    pub async fn finish(self) -> StoreResult<()> {
        self.pages.send_timeout(Ok(None), self.patience).await.map_err(|_| StoreError::Unavailable("the member walk could not end".into()))
    }

    /// Tells the reader why the walk stopped, if it is still there to hear it.
    pub fn fail(self, error: StoreError) {
        let _ = self.pages.try_send(Err(error));
    }
}

/// The reading side of a [`channel`].
pub(crate) struct PageReceiver(mpsc::Receiver<Message>);

/// A channel of one page.
pub(crate) fn channel(patience: Duration) -> (PageSender, PageReceiver) {
    let (pages, received) = mpsc::channel(1);
    (PageSender { pages, patience }, PageReceiver(received))
}

impl PageReceiver {
    /// The pages as a stream, which holds `keep` (what must be dropped with the reader: the
    /// guard that interrupts an SQLite walk) until it ends.
    pub fn into_stream(self, keep: impl Send + 'static) -> MemberPages {
        Box::pin(futures::stream::unfold(Some((self.0, keep)), |state| async move {
            let (mut received, keep) = state?;
            let item = match received.recv().await {
                Some(Ok(Some(page))) => Ok(page),
                Some(Ok(None)) => return None,
                Some(Err(error)) => Err(error),
                None => Err(StoreError::Unavailable("the walk of a group's members stopped before its end".into())),
            };
            // An error is the stream's last item.
            let next = item.is_ok().then_some((received, keep));
            Some((item, next))
        }))
    }
}

/// One page of a group's members: parameters tenant, group, the `added` to start after and the
/// page's size; columns `added`, the member's id and whether it is a user. A member whose
/// resource is gone is left out, as `members_of` does. Read from `(tenant, group_id, added)`.
pub(crate) fn page_sql(dialect: &dyn Dialect) -> String {
    let p = |n| dialect.param(n);
    format!(
        "SELECT m.added, m.member_id, u.id IS NOT NULL
         FROM memberships m
         LEFT JOIN users u ON u.tenant = m.tenant AND u.id = m.member_id
         LEFT JOIN groups g ON g.tenant = m.tenant AND g.id = m.member_id
         WHERE m.tenant = {} AND m.group_id = {} AND m.added > {} AND (u.id IS NOT NULL OR g.id IS NOT NULL)
         ORDER BY m.added LIMIT {}",
        p(1),
        p(2),
        p(3),
        p(4)
    )
}

/// Walks the members a page at a time (`page(after)` reads the members added after `after`,
/// each with its `added`) and sends them, then the end; or, on failure, why it stopped. Whether
/// the walk finished: if not, the snapshot it read from is to be abandoned.
pub(crate) async fn walk<F, R>(sender: PageSender, size: u32, mut page: F) -> bool
where
    F: FnMut(i64) -> R,
    R: Future<Output = StoreResult<Vec<(i64, Reference)>>>,
{
    let mut after = i64::MIN;
    let walked = async {
        loop {
            let rows = page(after).await?;
            let full = rows.len() == size as usize;
            if let Some((last, _)) = rows.last() {
                after = *last;
                sender.send(rows.into_iter().map(|(_, member)| member).collect()).await?;
            }
            if !full {
                return Ok(());
            }
        }
    };
    match walked.await {
        Ok(()) => sender.finish().await.is_ok(),
        Err(error) => {
            sender.fail(error);
            false
        }
    }
}
