//! Cursors of RFC 9865 cursor pagination: opaque strings that name a place in a resource
//! type's creation order (ADR 0011).
//!
//! A cursor is hex (RFC 3986 unreserved characters only): a version byte, the direction, the
//! key, and a checksum over those and the query's scope (resource type and filter). A
//! truncated, edited or made-up cursor, or one taken from a query with another filter, fails
//! the checksum and is `invalidCursor`; it can never reach the database as anything but a
//! number. Cursors hold no server state, so they never expire.

use sha2::{Digest, Sha256};

use crate::ScimError;

const FORMAT: u8 = 1;
/// Version, direction, key, checksum.
const LENGTH: usize = 1 + 1 + 8 + 8;

/// Where a page starts, relative to a key of the creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The resources with keys above this one, in ascending order.
    After(i64),
    /// The resources with keys below this one (the page before), in ascending order.
    Before(i64),
}

/// Writes a cursor for `position` in the query whose scope is `scope`.
pub fn encode(scope: &str, position: Position) -> String {
    let (direction, key) = match position {
        Position::After(k) => (b'a', k),
        Position::Before(k) => (b'b', k),
    };
    let mut bytes = Vec::with_capacity(LENGTH);
    bytes.extend([FORMAT, direction]);
    bytes.extend(key.to_be_bytes());
    let sum = checksum(scope, &bytes);
    bytes.extend(sum);
    hex::encode(bytes)
}

/// Reads a cursor back; anything but a cursor this scope handed out is `invalidCursor`.
pub fn decode(scope: &str, text: &str) -> Result<Position, ScimError> {
    let invalid = || ScimError::invalid_cursor("the cursor is not one this query handed out: start again with an empty cursor");
    let bytes = hex::decode(text.trim()).map_err(|_| invalid())?;
    if bytes.len() != LENGTH || bytes[0] != FORMAT {
        return Err(invalid());
    }
    let (body, sum) = bytes.split_at(LENGTH - 8);
    if checksum(scope, body) != sum {
        return Err(invalid());
    }
    let key = i64::from_be_bytes(body[2..10].try_into().expect("eight bytes"));
    match body[1] {
        b'a' => Ok(Position::After(key)),
        b'b' => Ok(Position::Before(key)),
        _ => Err(invalid()),
    }
}

fn checksum(scope: &str, body: &[u8]) -> [u8; 8] {
    let mut hash = Sha256::new();
    hash.update(b"scimledger cursor\0");
    hash.update(scope.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize()[..8].try_into().expect("eight bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;

    #[test]
    fn cursors_read_back_in_their_own_scope() {
        for position in [Position::After(0), Position::After(90_001), Position::Before(i64::MAX)] {
            let text = encode("Users|", position);
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
            assert_eq!(decode("Users|", &text).unwrap(), position);
        }
    }

    #[test]
    fn edited_foreign_and_malformed_cursors_are_invalid() {
        let text = encode("Users|", Position::After(42));
        let mut edited = text.clone().into_bytes();
        edited[6] = if edited[6] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(edited).unwrap();
        for bad in [edited.as_str(), &text[..text.len() - 2], "", "zz", "not a cursor", &format!("{text}00")] {
            let err = decode("Users|", bad).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidCursor)), "{bad}");
        }
        let err = decode("Users|userName sw \"a\"", &text).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidCursor));
    }
}
