//! The vocabulary of attribute characteristics, and look-ups over a resource type's schemas.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute and its characteristics (RFC 7643 §7).
#[derive(Debug)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttributeDef],
    /// Whether filters and `sortBy` may name it: false for what the read models do not keep
    /// (a member's `display`), or keep only as the server renders it (`meta.location`).
    pub filterable: bool,
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, case-insensitive string: the most common shape,
    /// which the schema tables adjust with the builder methods below.
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            kind: AttrType::String,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            filterable: true,
        }
    }
    pub const fn of_type(mut self, kind: AttrType) -> Self {
        self.kind = kind;
        self
    }
    pub const fn complex(name: &'static str, description: &'static str, sub_attributes: &'static [AttributeDef]) -> Self {
        let mut def = Self::string(name, description);
        def.kind = AttrType::Complex;
        def.sub_attributes = sub_attributes;
        def
    }
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub const fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }
    pub const fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    pub const fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    pub const fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    pub const fn unfilterable(mut self) -> Self {
        self.filterable = false;
        self
    }

    /// The sub-attribute of this complex attribute, matched case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// What a filter or `sortBy` naming this attribute alone compares: the attribute itself,
    /// or for a complex attribute its `value` sub-attribute (`emails eq "x"`, `manager eq
    /// "id"`); `None` for a complex attribute without one (`name`, `addresses`).
    pub fn compared(&self) -> Option<&AttributeDef> {
        match self.kind {
            AttrType::Complex => self.sub_attribute("value"),
            _ => Some(self),
        }
    }
}

/// A schema (RFC 7643 §7): an id (URN) and its attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A resource type (RFC 7643 §6): its endpoint, core schema and extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static SchemaDef,
    pub extensions: &'static [&'static SchemaDef],
}

/// The common attributes every resource has (RFC 7643 §3.1), answered by the service provider.
pub const COMMON_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::string("id", "Unique identifier of the resource, assigned by the service provider.")
        .case_exact()
        .mutability(Mutability::ReadOnly)
        .returned(Returned::Always)
        .uniqueness(Uniqueness::Server),
    AttributeDef::string("externalId", "Identifier of the resource as defined by the provisioning client.").case_exact(),
    AttributeDef::complex(
        "meta",
        "Resource metadata.",
        &[
            AttributeDef::string("resourceType", "Name of the resource type.").case_exact().mutability(Mutability::ReadOnly),
            AttributeDef::string("created", "When the resource was added.").of_type(AttrType::DateTime).mutability(Mutability::ReadOnly),
            AttributeDef::string("lastModified", "When the resource was last changed.")
                .of_type(AttrType::DateTime)
                .mutability(Mutability::ReadOnly),
            AttributeDef::string("location", "URI of the resource.")
                .of_type(AttrType::Reference)
                .case_exact()
                .mutability(Mutability::ReadOnly)
                .unfilterable(),
            AttributeDef::string("version", "Version (ETag) of the resource.").case_exact().mutability(Mutability::ReadOnly).unfilterable(),
        ],
    )
    .mutability(Mutability::ReadOnly),
];

impl ResourceType {
    /// The schema an attribute URN names: the core schema or one of the extensions.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static SchemaDef> {
        std::iter::once(self.schema).chain(self.extensions.iter().copied()).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn extension_by_urn(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions.iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// A top-level attribute of the core schema or a common attribute (id, externalId, meta).
    pub fn core_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.schema.attribute(name).or_else(|| COMMON_ATTRIBUTES.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }
}
