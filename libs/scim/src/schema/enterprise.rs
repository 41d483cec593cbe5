//! The enterprise User extension (RFC 7643 §4.3).

use super::definition::{AttrType, AttributeDef as A, Mutability, SchemaDef};
use super::ENTERPRISE_USER_SCHEMA;

pub const ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        A::string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
        A::string("costCenter", "Identifies the name of a cost center."),
        A::string("organization", "Identifies the name of an organization."),
        A::string("division", "Identifies the name of a division."),
        A::string("department", "Identifies the name of a department."),
        A::complex(
            "manager",
            "The user's manager.",
            &[
                A::string("value", "The id of the SCIM resource representing the user's manager.").case_exact(),
                A::string("$ref", "The URI of the SCIM resource representing the user's manager.")
                    .of_type(AttrType::Reference)
                    .case_exact()
                    .references(&["User"]),
                A::string("displayName", "The displayName of the user's manager.").mutability(Mutability::ReadOnly),
            ],
        ),
    ],
};
