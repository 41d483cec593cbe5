//! The core User schema (RFC 7643 §4.1 and §8.7.1), with the `aliases` attribute that logins
//! resolve through.

use super::definition::{AttrType, AttributeDef as A, Mutability, ResourceType, Returned, SchemaDef, Uniqueness};
use super::{ENTERPRISE_USER, USER_SCHEMA};

const TYPED_VALUE: [A; 4] = [
    A::string("value", "The value."),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the attribute's function."),
    A::string("primary", "Whether this is the primary value.").of_type(AttrType::Boolean),
];

const fn typed_values(name: &'static str, description: &'static str, sub_attributes: &'static [A]) -> A {
    A::complex(name, description, sub_attributes).multi()
}

const EMAIL: [A; 4] = [
    A::string("value", "Email address for the user."),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the email's function.").canonical(&["work", "home", "other"]),
    A::string("primary", "Whether this is the primary email address.").of_type(AttrType::Boolean),
];

const PHONE: [A; 4] = [
    A::string("value", "Phone number of the user."),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the phone number's function.").canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    A::string("primary", "Whether this is the primary phone number.").of_type(AttrType::Boolean),
];

const IM: [A; 4] = [
    A::string("value", "Instant messaging address for the user."),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the IM's function.").canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    A::string("primary", "Whether this is the primary IM address.").of_type(AttrType::Boolean),
];

const PHOTO: [A; 4] = [
    A::string("value", "URL of a photo of the user.").of_type(AttrType::Reference).case_exact().references(&["external"]),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the photo's function.").canonical(&["photo", "thumbnail"]),
    A::string("primary", "Whether this is the primary photo.").of_type(AttrType::Boolean),
];

const ADDRESS: [A; 9] = [
    A::string("formatted", "The full mailing address, formatted for display."),
    A::string("streetAddress", "The full street address component."),
    A::string("locality", "The city or locality component."),
    A::string("region", "The state or region component."),
    A::string("postalCode", "The zip code or postal code component."),
    A::string("country", "The country name component."),
    A::string("type", "A label indicating the address's function.").canonical(&["work", "home", "other"]),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("primary", "Whether this is the primary address.").of_type(AttrType::Boolean),
];

const GROUP_REF: [A; 4] = [
    A::string("value", "The identifier of the user's group.").case_exact().mutability(Mutability::ReadOnly),
    A::string("$ref", "The URI of the group.")
        .of_type(AttrType::Reference)
        .case_exact()
        .references(&["User", "Group"])
        .mutability(Mutability::ReadOnly)
        .unfilterable(),
    A::string("display", "A human-readable name, primarily used for display purposes.").mutability(Mutability::ReadOnly),
    A::string("type", "How the membership was derived.").canonical(&["direct", "indirect"]).mutability(Mutability::ReadOnly),
];

const CERTIFICATE: [A; 4] = [
    A::string("value", "The value of an X.509 certificate.").of_type(AttrType::Binary).case_exact(),
    A::string("display", "A human-readable name, primarily used for display purposes."),
    A::string("type", "A label indicating the certificate's function."),
    A::string("primary", "Whether this is the primary certificate.").of_type(AttrType::Boolean),
];

const ALIAS: [A; 2] = [
    A::string("value", "A login name that resolves to this user; unique within the tenant.").uniqueness(Uniqueness::Server),
    A::string("type", "The kind of alias.").canonical(&["email", "username", "other"]),
];

pub const USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &[
        A::string("userName", "Unique identifier for the user, used to sign in. Unique within the tenant, compared case-insensitively.")
            .required()
            .uniqueness(Uniqueness::Server),
        A::complex(
            "name",
            "The components of the user's real name.",
            &[
                A::string("formatted", "The full name, formatted for display."),
                A::string("familyName", "The family name."),
                A::string("givenName", "The given name."),
                A::string("middleName", "The middle name(s)."),
                A::string("honorificPrefix", "The honorific prefix(es)."),
                A::string("honorificSuffix", "The honorific suffix(es)."),
            ],
        ),
        A::string("displayName", "The name of the user, suitable for display to end-users."),
        A::string("nickName", "The casual way to address the user."),
        A::string("profileUrl", "A URI of the user's online profile.").of_type(AttrType::Reference).references(&["external"]),
        A::string("title", "The user's title, such as \"Vice President\"."),
        A::string("userType", "The relationship between the organization and the user."),
        A::string("preferredLanguage", "The user's preferred written or spoken language."),
        A::string("locale", "The user's default location for localization."),
        A::string("timezone", "The user's time zone in the Olson database format."),
        A::string("active", "The user's administrative status.").of_type(AttrType::Boolean),
        A::string("password", "The user's cleartext password; write-only, never stored or returned.")
            .case_exact()
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
        typed_values("emails", "Email addresses for the user.", &EMAIL),
        typed_values("phoneNumbers", "Phone numbers for the user.", &PHONE),
        typed_values("ims", "Instant messaging addresses for the user.", &IM),
        typed_values("photos", "URLs of photos of the user.", &PHOTO),
        typed_values("addresses", "Physical mailing addresses for the user.", &ADDRESS),
        typed_values("groups", "The groups the user belongs to, derived from group memberships.", &GROUP_REF)
            .mutability(Mutability::ReadOnly),
        typed_values("entitlements", "Entitlements of the user.", &TYPED_VALUE),
        typed_values("roles", "Roles of the user.", &TYPED_VALUE),
        typed_values("x509Certificates", "X.509 certificates issued to the user.", &CERTIFICATE),
        typed_values(
            "aliases",
            "Other login names of the user (for example other email addresses); each unique within the tenant.",
            &ALIAS,
        ),
    ],
};

pub const USER_RESOURCE: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: &[&ENTERPRISE_USER],
};
