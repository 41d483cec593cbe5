//! PATCH (RFC 7644 §3.5.2): a request parsed into operations, applied to a [`Document`].
//!
//! - [`request`]: parsing the PatchOp message (Entra's capitalised ops, missing paths…).
//! - [`apply`]: applying operations to a copy of the document; the result is re-validated as a
//!   whole, so one failing operation leaves the resource unchanged.
//!
//! [`Document`]: crate::document::Document

mod apply;
mod request;

pub use request::{PatchOp, PatchOperation, PatchRequest, PATCH_OP_SCHEMA};

#[cfg(test)]
mod tests;
