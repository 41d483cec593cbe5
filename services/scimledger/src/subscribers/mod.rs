//! The subscribers: work done after a commit, from the log (docs/subscribers.md).
//!
//! - [`mailer`]: the enrollment mailer.
//! - [`assets`]: devices and users on deactivation (`on_deactivate`).
//! - [`link_token`]: the sealed token an enrollment link carries.
//! - [`run`]: which subscribers a process runs, and `worker status`.

pub mod assets;
pub mod link_token;
pub mod mailer;
pub mod run;
