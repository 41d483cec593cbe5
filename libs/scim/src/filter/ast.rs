//! The filter syntax tree (RFC 7644 §3.4.2.2).

use serde_json::Number;

use crate::path::AttrPath;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath "[" valFilter "]"`: some element of the multi-valued attribute matches
    /// `filter`, whose paths are relative to the element (sub-attribute names).
    /// Entra ID's `emails[type eq "work"].value eq "x"` parses to a `ValuePath` whose filter is
    /// `type eq "work" and value eq "x"`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

/// A PATCH target (RFC 7644 §3.5.2): `attrPath` or `valuePath [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (possibly with a sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// `members[value eq "x"]`: the elements the operation applies to.
    pub filter: Option<Filter>,
    /// `emails[type eq "work"].value`: the sub-attribute of the selected elements.
    pub sub_attr: Option<String>,
}
