//! PATCH (RFC 7644 §3.5.2): a request parsed into operations, applied to a [`Document`].
//!
//! - [`request`]: parsing the PatchOp message (Entra's capitalised ops, missing paths…).
//! - [`apply`]: applying operations to a copy of the document; the result is re-validated as a
//!   whole, so one failing operation leaves the resource unchanged. Each operation is one pass
//!   over the attribute it changes (elements looked up by hashed keys).
//! - [`batch`]: runs of operations that amount to one (Okta's member removals one by one),
//!   applied as one.
//! - [`members`]: the members a group PATCH names, when it names every one it touches.
//!
//! [`Document`]: crate::document::Document

mod apply;
mod batch;
mod members;
mod request;

pub use request::{PatchOp, PatchOperation, PatchRequest, PATCH_OP_SCHEMA};

#[cfg(test)]
mod tests;
