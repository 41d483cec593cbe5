//! Names that must be unique within a tenant, compared case-insensitively.

use std::fmt;

use scim::limits::MAX_KEY_BYTES;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The one case-folding rule (`scim::text::fold_case`), computed here rather than by a
/// database so that every backend compares the same keys (SQLite's `lower()` folds ASCII only).
pub use scim::text::fold_case;

/// What every validated name type shares: built from a `String` only through `parse` (serde
/// included), and shown as the text it holds.
macro_rules! text_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> Self {
                name.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

macro_rules! unique_name {
    ($(#[$doc:meta])* $name:ident, $attribute:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                if text.trim().is_empty() {
                    return Err(DomainError::invalid(concat!("'", $attribute, "' must not be empty")));
                }
                if text.len() > MAX_KEY_BYTES {
                    return Err(DomainError::invalid(format!(concat!("'", $attribute, "' is longer than {} bytes"), MAX_KEY_BYTES)));
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The case-folded key that uniqueness is enforced on.
            pub fn key(&self) -> String {
                fold_case(&self.0)
            }
        }

        text_conversions!($name);
    };
}

unique_name!(
    /// A user's `userName`: unique within a tenant, case-insensitively.
    UserName,
    "userName"
);
unique_name!(
    /// A group's `displayName`: unique within a tenant, case-insensitively.
    GroupName,
    "displayName"
);

/// A name people choose and read (a connection, a role, a device policy): printable, 1 to
/// `$max` characters. Not unique by case folding: the store keeps them as given.
macro_rules! printable_name {
    ($(#[$doc:meta])* $name:ident, $max:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                let ok = !text.trim().is_empty() && text.chars().count() <= $max && !text.chars().any(char::is_control);
                if ok {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(DomainError::invalid(format!(concat!("{:?} is not a ", $what, ": use 1 to ", $max, " printable characters"), text)))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_conversions!($name);
    };
}

printable_name!(
    /// A connection's name, unique within its tenant.
    ConnectionName,
    100,
    "connection name"
);
printable_name!(
    /// A role or device-policy name a connection's settings refer to.
    PolicyName,
    128,
    "role or policy name"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_beyond_ascii() {
        assert_eq!(UserName::parse("Ärger@Example.COM").unwrap().key(), "ärger@example.com");
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(UserName::parse("  ").is_err());
        assert!(GroupName::parse("").is_err());
    }
}
