//! The event log and the read models, behind one interface with two backends.
//!
//! - [`api`]: the [`Store`] trait and the types that cross it (commits, recorded events,
//!   read-model rows, tenants and connections, leases).
//! - [`commands`]: running a domain command: load its stream, decide, commit; retried when
//!   another writer won the race.
//! - [`group_snapshot`]: a group command's starting point without a replay: the group's row
//!   and the members the command names (ADR 0066).
//! - [`member_pages`]: a group's members handed over a page at a time from one snapshot, so
//!   that reading a group of any size takes bounded memory.
//! - [`cpu`]: the bounded pool commands are decided on, off the async workers.
//! - [`projection`]: what a commit writes besides its events (read-model rows, reservations),
//!   derived from the domain's events and state; shared by both backends and by replay.
//! - [`directory`]: what tenant, connection and operator commits write (rows, unique names,
//!   credential ends), shared by both backends.
//! - [`write_plan`]: a commit's writes as ordered, typed steps, planned once for both
//!   backends, each of which only translates a step to its SQL.
//! - [`query`]: SCIM filters and sorting compiled to parameterised SQL for either dialect.
//! - [`paging`]: list pages for either dialect: index pages, and keyset cursor pages that cost
//!   the same at any depth; each read as a connection's scope sees it.
//! - [`audit`]: what auditors ask of the log: filtered pages of a tenant's events, a
//!   resource's history with what each event changed, and its state as of any instant.
//! - [`seal`]: tamper evidence: each tenant's log sealed into a hash chain behind the
//!   appends, and verified against it.
//! - [`shred`]: crypto-shredding: user events' personal fields encrypted under a key per user,
//!   made unreadable by destroying it (erasure).
//! - [`rebuild`]: the read models rebuilt from the log beside the live ones, then compared
//!   with them or copied over them.
//! - [`purge`]: deleting what a connection disabled with purge owned, resumably.
//! - [`user_groups`]: each user's groups as its read-model row keeps them.
//! - [`postgres`]: PostgreSQL over tokio-postgres (production).
//! - [`sqlite`]: one SQLite file (the embedded default).
//! - `testing` (feature): fresh databases for tests.
//! - [`open`]: choosing the backend from a URL or a data directory, and the bounds it keeps
//!   (statement timeouts).
//! - [`database_url`]: the database URL, whose password no Debug or log shows.
//!
//! Every command's events, its read-model changes and its unique-value reservations commit in
//! one transaction: a reader that sees a response sees the resource, and a duplicate appends
//! nothing.

pub mod api;
pub mod audit;
pub mod commands;
pub mod cpu;
pub mod database_url;
pub mod directory;
pub mod group_snapshot;
pub mod member_pages;
pub mod moves;
pub mod open;
pub mod paging;
pub mod postgres;
pub mod projection;
pub mod purge;
pub mod query;
pub mod rebuild;
pub mod seal;
pub mod shred;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_groups;
pub mod write_plan;

pub use api::*;
pub use database_url::DatabaseUrl;
pub use member_pages::MemberPages;
pub use open::{open, open_with, Backend, Options};
