//! The event log and the read models, behind one interface with two backends.
//!
//! - [`api`]: the [`Store`] trait and the types that cross it (commits, recorded events,
//!   read-model rows, tenants and connections, leases).
//! - [`commands`]: running a domain command: load its stream, decide, commit; retried when
//!   another writer won the race.
//! - [`projection`]: what a commit writes besides its events (read-model rows, reservations),
//!   derived from the domain's events and state; shared by both backends and by replay.
//! - [`write_plan`]: a commit's writes as ordered, typed steps, planned once for both
//!   backends, each of which only translates a step to its SQL.
//! - [`query`]: SCIM filters and sorting compiled to parameterised SQL for either dialect.
//! - [`paging`]: list pages for either dialect: index pages, and keyset cursor pages that cost
//!   the same at any depth.
//! - [`user_groups`]: each user's groups as its read-model row keeps them.
//! - [`postgres`]: PostgreSQL over tokio-postgres (production).
//! - [`sqlite`]: one SQLite file (the embedded default).
//! - `testing` (feature): fresh databases for tests.
//! - [`open`]: choosing the backend from a URL or a data directory.
//!
//! Every command's events, its read-model changes and its unique-value reservations commit in
//! one transaction: a reader that sees a response sees the resource, and a duplicate appends
//! nothing.

pub mod api;
pub mod commands;
pub mod open;
pub mod paging;
pub mod postgres;
pub mod projection;
pub mod query;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_groups;
pub mod write_plan;

pub use api::*;
pub use open::{open, Backend};
