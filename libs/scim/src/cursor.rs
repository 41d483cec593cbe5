//! Cursors of RFC 9865 cursor pagination: opaque strings that name a place in a resource
//! type's creation order (ADR 0011, ADR 0045).
//!
//! Inside, a cursor is a version byte, the direction, the key, and a checksum over those and
//! the query's scope (resource type and filter), so a cursor taken from a query with another
//! filter is refused. That is sealed for the client with the deployment's [`CursorKey`] and
//! the tenant ([`seal`], [`unseal`]): encrypted, since the key is a global log position that
//! would tell how much other tenants wrote, and authenticated, so that an edited, made-up or
//! other tenant's cursor is `invalidCursor`. What reaches the database is a number in range.
//! Cursors hold no server state, so they never expire.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::ScimError;

const FORMAT: u8 = 1;
/// Version, direction, key, checksum.
const LENGTH: usize = 1 + 1 + 8 + 8;
const SEALED_FORMAT: u8 = 2;
/// The synthetic IV that is also the seal's tag.
const TAG: usize = 16;
/// Version, tag, the inner cursor encrypted.
const SEALED_LENGTH: usize = 1 + TAG + LENGTH;

/// The deployment's key for sealing cursors; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key written as 64 hex digits (how settings give one).
    pub fn from_hex(text: &str) -> Result<Self, InvalidCursorKey> {
        let bytes = hex::decode(text.trim()).map_err(|_| InvalidCursorKey)?;
        Ok(Self(bytes.try_into().map_err(|_| InvalidCursorKey)?))
    }

    fn mac(&self, purpose: &[u8], realm: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose);
        mac.update(realm.as_bytes());
        mac.update(&[0]);
        mac
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cursor key is 64 hex digits (32 bytes)")]
pub struct InvalidCursorKey;

/// Seals an inner cursor ([`encode`]) for the client of `realm` (the tenant): a deterministic
/// authenticated encryption (SIV: the tag is an HMAC of realm and plaintext and seeds the
/// keystream, an HMAC of the tag), so equal positions give equal cursors and nothing else shows.
pub fn seal(key: &CursorKey, realm: &str, inner: &str) -> String {
    let plain = hex::decode(inner).expect("an inner cursor is hex");
    let tag = tag(key, realm, &plain);
    let mut out = Vec::with_capacity(SEALED_LENGTH);
    out.push(SEALED_FORMAT);
    out.extend(tag);
    out.extend(plain.iter().zip(keystream(key, realm, &tag)).map(|(p, k)| p ^ k));
    hex::encode(out)
}

/// Opens a cursor [`seal`] made for `realm` with `key`, giving the inner cursor back; anything
/// else (edited, truncated, another tenant's or deployment's) is `invalidCursor`.
pub fn unseal(key: &CursorKey, realm: &str, text: &str) -> Result<String, ScimError> {
    let bytes = hex::decode(text.trim()).map_err(|_| invalid())?;
    if bytes.len() != SEALED_LENGTH || bytes[0] != SEALED_FORMAT {
        return Err(invalid());
    }
    let (tag, cipher) = bytes[1..].split_at(TAG);
    let plain: Vec<u8> = cipher.iter().zip(keystream(key, realm, tag)).map(|(c, k)| c ^ k).collect();
    tag_mac(key, realm, &plain).verify_truncated_left(tag).map_err(|_| invalid())?;
    Ok(hex::encode(plain))
}

fn tag_mac(key: &CursorKey, realm: &str, plain: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac(b"scimledger cursor tag\0", realm);
    mac.update(plain);
    mac
}

fn tag(key: &CursorKey, realm: &str, plain: &[u8]) -> [u8; TAG] {
    tag_mac(key, realm, plain).finalize().into_bytes()[..TAG].try_into().expect("sixteen bytes")
}

/// The keystream (32 bytes, more than an inner cursor needs) of one tag.
fn keystream(key: &CursorKey, realm: &str, tag: &[u8]) -> [u8; 32] {
    let mut mac = key.mac(b"scimledger cursor stream\0", realm);
    mac.update(tag);
    mac.finalize().into_bytes().into()
}

fn invalid() -> ScimError {
    ScimError::invalid_cursor("the cursor is not one this query handed out: start again with an empty cursor")
}

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

/// Reads a cursor back; anything but a cursor this scope handed out is `invalidCursor`, and so
/// is a key no resource can have (negative, or the largest, whose next would overflow).
pub fn decode(scope: &str, text: &str) -> Result<Position, ScimError> {
    let bytes = hex::decode(text.trim()).map_err(|_| invalid())?;
    if bytes.len() != LENGTH || bytes[0] != FORMAT {
        return Err(invalid());
    }
    let (body, sum) = bytes.split_at(LENGTH - 8);
    if checksum(scope, body) != sum {
        return Err(invalid());
    }
    let key = i64::from_be_bytes(body[2..10].try_into().expect("eight bytes"));
    if !(0..i64::MAX).contains(&key) {
        return Err(invalid());
    }
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
        for position in [Position::After(0), Position::After(90_001), Position::Before(i64::MAX - 1)] {
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

    #[test]
    fn keys_whose_neighbours_overflow_are_invalid() {
        for position in [Position::After(i64::MAX), Position::Before(i64::MIN), Position::After(-1)] {
            let err = decode("Users|", &encode("Users|", position)).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidCursor), "{position:?}");
        }
    }

    fn key(byte: u8) -> CursorKey {
        CursorKey::new([byte; 32])
    }

    #[test]
    fn sealed_cursors_open_for_their_tenant_and_key_only() {
        let inner = encode("Users|", Position::After(4242));
        let sealed = seal(&key(1), "acme", &inner);
        assert!(sealed.bytes().all(|b| b.is_ascii_hexdigit()), "{sealed}");
        assert_eq!(unseal(&key(1), "acme", &sealed).unwrap(), inner);
        for (key, realm) in [(key(1), "beta"), (key(2), "acme")] {
            let err = unseal(&key, realm, &sealed).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidCursor)), "{realm}");
        }
        for at in [0, 2, 20, sealed.len() - 1] {
            let mut edited = sealed.clone().into_bytes();
            edited[at] = if edited[at] == b'0' { b'1' } else { b'0' };
            let err = unseal(&key(1), "acme", &String::from_utf8(edited).unwrap()).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidCursor), "edited at {at}");
        }
    }

    #[test]
    fn sealed_cursors_do_not_show_their_position() {
        // The inner cursor carries the key in plain sight; the sealed one must not, in any
        // byte order, and neighbouring positions must not give related cursors.
        let sealed: Vec<Vec<u8>> =
            (1_000..1_064).map(|k| hex::decode(seal(&key(7), "acme", &encode("Users|", Position::After(k)))).unwrap()).collect();
        for (i, bytes) in sealed.iter().enumerate() {
            let k = 1_000 + i as i64;
            for needle in [k.to_be_bytes(), k.to_le_bytes()] {
                assert!(!bytes.windows(8).any(|w| w == needle), "position {k} shows in its cursor");
            }
            assert!(!bytes.windows(2).any(|w| *w == (k as u16).to_be_bytes()), "position {k}'s low bytes show");
        }
        // Each byte of the sealed cursors varies (a counter would leave most bytes equal).
        for at in 1..SEALED_LENGTH {
            let distinct: std::collections::HashSet<u8> = sealed.iter().map(|b| b[at]).collect();
            assert!(distinct.len() > 16, "byte {at} takes only {} values over 64 positions", distinct.len());
        }
    }

    #[test]
    fn cursor_keys_come_as_64_hex_digits_and_never_print() {
        let key = CursorKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{key:?}"), "CursorKey(…)");
        assert!(CursorKey::from_hex("abcd").is_err());
        assert!(CursorKey::from_hex(&"zz".repeat(32)).is_err());
    }
}
