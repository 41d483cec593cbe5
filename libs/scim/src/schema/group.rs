//! The core Group schema (RFC 7643 §4.2 and §8.7.1).

use super::definition::{AttrType, AttributeDef as A, Mutability, ResourceType, Returned, SchemaDef, Uniqueness};
use super::GROUP_SCHEMA;

pub const GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &[
        A::string("displayName", "A human-readable name for the group; unique within the tenant.")
            .required()
            .uniqueness(Uniqueness::Server),
        A::complex(
            "members",
            "A list of members of the group.",
            &[
                A::string("value", "Identifier of the member of this group.").case_exact().mutability(Mutability::Immutable),
                A::string("$ref", "The URI of the member resource.")
                    .of_type(AttrType::Reference)
                    .case_exact()
                    .references(&["User", "Group"])
                    .mutability(Mutability::Immutable)
                    .unfilterable(),
                A::string("display", "A human-readable name of the member.").mutability(Mutability::ReadOnly).unfilterable(),
                A::string("type", "The type of the member.").canonical(&["User", "Group"]).mutability(Mutability::Immutable).unfilterable(),
            ],
        )
        .multi()
        .returned(Returned::Default),
    ],
};

pub const GROUP_RESOURCE: ResourceType =
    ResourceType { id: "Group", name: "Group", endpoint: "/Groups", description: "Group", schema: &GROUP, extensions: &[] };
