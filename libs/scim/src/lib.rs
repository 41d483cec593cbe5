//! SCIM 2.0 (RFC 7643 and RFC 7644) as pure data and functions: no I/O, no HTTP, no SQL.
//!
//! - [`error`]: the RFC 7644 §3.12 Error response and its `scimType`s.
//! - [`schema`]: attribute definitions of User, the enterprise extension and Group; one source
//!   that drives validation, filtering, projection and the discovery documents.
//! - [`document`]: turning a client's JSON into a canonical resource document (attribute names
//!   as the schema spells them, string booleans as booleans, read-only input dropped).
//! - [`path`]: attribute paths (`name.givenName`, URN-qualified paths).
//! - [`filter`]: the filter grammar of RFC 7644 §3.4.2.2, parsed into an AST and evaluated.
//! - [`patch`]: PATCH requests (RFC 7644 §3.5.2) applied to a document.
//! - [`limits`]: the bounds on one request's values, members, operations, filter terms, index
//!   keys and resource size, each refused with a detail naming it.
//! - [`text`]: the one case-folding rule every layer compares by, and unpaired surrogates.
//! - [`projection`]: `attributes` / `excludedAttributes` with the `returned` rules.
//! - [`list`]: list and query parameters and the ListResponse message.
//! - [`cursor`]: the opaque, checksummed cursors of RFC 9865 cursor pagination.
//! - [`bulk`]: /Bulk requests (RFC 7644 §3.7): operations, `bulkId` references and the order
//!   they run in, and the BulkResponse.
//! - [`discovery`]: /ServiceProviderConfig, /ResourceTypes and /Schemas documents.

pub mod bulk;
pub mod cursor;
pub mod discovery;
pub mod document;
pub mod error;
pub mod filter;
pub mod limits;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod schema;
pub mod text;

pub use error::{ScimError, ScimType};
