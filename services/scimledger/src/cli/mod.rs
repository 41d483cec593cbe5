//! The operator CLI: tenants, provisioning connections and operators, on whichever backend the
//! settings select (also while a server runs on it), through the admin operations
//! (`crate::admin::ops`) as the actor `cli`.
//!
//! - [`tenant`]: `scimledger tenant create|list`, `scimledger operator create`.
//! - [`connection`]: `scimledger connection create|list|show|update|rotate|revoke|disable`.
//! - [`device`]: `scimledger device register|list|assign|unassign`.
//! - [`demo`]: the first-start help and the `--demo` tenant of `serve`.
//! - [`role`]: `scimledger role create|map|unmap|default|lock|unlock|list`.
//! - [`audit`]: `scimledger audit log|history|as-of|export|verify|seal`.
//! - [`master_key`]: `scimledger master-key generate|status|rotate`.
//! - [`rebuild`]: `scimledger rebuild [--verify]`.
//! - [`backup`]: `scimledger backup FILE` (the embedded database).
//! - [`events`]: `scimledger events tail|republish` (NATS).

pub mod audit;
pub mod backup;
pub mod connection;
pub mod demo;
pub mod device;
pub mod events;
pub mod master_key;
pub mod rebuild;
pub mod role;
pub mod tenant;
