//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//!
//! - `ast`: the syntax tree, [`Filter`] and [`PatchPath`].
//! - `lexer`: characters to tokens; URN paths keep their dots and colons, strings and numbers
//!   are JSON literals.
//! - `parser`: tokens to a [`Filter`] ([`Filter::parse`]) or a [`PatchPath`]
//!   ([`PatchPath::parse`]); `and` binds tighter than `or`, nesting is bounded, and Entra ID's
//!   `emails[type eq "work"].value eq "x"` is accepted as a value filter.
//! - `validate`: [`Filter::validate`], every path names an attribute of the resource type and
//!   every operator fits its type.
//! - `eval`: [`Filter::matches`] a resource, [`Filter::matches_element`] one element of a
//!   multi-valued attribute.
//! - `display`: filters and PATCH paths printed as canonical text that parses back to the same
//!   tree.

mod ast;
mod display;
mod eval;
mod lexer;
mod parser;
mod validate;

pub use ast::{CompValue, CompareOp, Filter, PatchPath};
