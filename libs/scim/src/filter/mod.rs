//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//!
//! - [`ast`]: the syntax tree.
//! - `lexer`: characters to tokens (URN paths keep their dots and colons).
//! - `parser`: tokens to a [`Filter`] or [`PatchPath`], with `and` binding tighter than `or`,
//!   and Entra ID's `emails[type eq "work"].value eq "x"` accepted.
//! - `eval`: whether a resource, or one element of a multi-valued attribute, matches.
//! - `validate`: every path names an attribute the resource type has.
//! - `display`: filters printed back as text that parses to the same tree.

mod ast;
mod display;
mod eval;
mod lexer;
mod parser;
mod validate;

pub use ast::{CompValue, CompareOp, Filter, PatchPath};
