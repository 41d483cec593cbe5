//! The operator CLI: tenants and provisioning connections, on whichever backend the settings
//! select (also while a server runs on it).
//!
//! - [`tenant`]: `scimledger tenant create|list`.
//! - [`connection`]: `scimledger connection create|list`.
//! - [`demo`]: the first-start help and the `--demo` tenant of `serve`.
//! - [`events`]: `scimledger events tail|republish` (NATS).

pub mod connection;
pub mod demo;
pub mod events;
pub mod tenant;
