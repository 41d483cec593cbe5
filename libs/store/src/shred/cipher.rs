//! The keys and the encryption: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) with a
//! random 24-byte nonce per message, so nonces need no counter shared between processes.
//!
//! A user's data key is wrapped by the master key with the tenant and user as associated data,
//! so a key row copied onto another user does not open. An event's personal fields are
//! encrypted together, as one JSON object, with the tenant, stream, version and type as
//! associated data, so a ciphertext moved to another event does not open either.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::user::{erased_value, personal_fields};
use domain::{EventPayload, ResourceId, TenantSlug};
use serde_json::{Map, Value};

use crate::api::{StoreError, StoreResult};

/// The field of an event's stored payload that holds its personal fields, encrypted.
pub const PERSONAL: &str = "personal";
/// Set on an event whose personal fields were erased, beside their markers.
pub const ERASED_FLAG: &str = "erased";

const NONCE: usize = 24;

/// The deployment's master key: it wraps every user's data key. Never shown.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    /// `key` wrapped for `user` of `tenant`: the nonce, then the ciphertext.
    pub fn wrap(&self, key: &DataKey, tenant: &TenantSlug, user: ResourceId) -> Vec<u8> {
        seal(&self.0, &key.bytes, key_context(tenant, user).as_bytes())
    }

    /// Fails when the master key is not the one that wrapped it (or the row was altered).
    pub fn unwrap(&self, wrapped: &[u8], tenant: &TenantSlug, user: ResourceId) -> StoreResult<DataKey> {
        let bytes = open(&self.0, wrapped, key_context(tenant, user).as_bytes())
            .ok_or_else(|| StoreError::corrupt(format!("the data key of user {user}"), "it does not open with this master key"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| StoreError::corrupt(format!("the data key of user {user}"), "not 32 bytes"))?;
        Ok(DataKey::from_bytes(bytes))
    }
}

/// One user's key.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl DataKey {
    pub fn random() -> Self {
        Self::from_bytes(rand::random())
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(&bytes.into()), bytes }
    }
}

fn key_context(tenant: &TenantSlug, user: ResourceId) -> String {
    format!("scimledger user key v1\n{tenant}\n{user}")
}

/// Where an event sits: what its ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub tenant: &'a TenantSlug,
    pub user: ResourceId,
    pub version: i64,
}

impl Place<'_> {
    fn context(&self, event_type: &str) -> String {
        format!("scimledger event v1\n{}\n{}\n{}\n{event_type}", self.tenant, self.user, self.version)
    }
}

/// Moves the personal fields of a user event into one encrypted field; an event without any
/// is left as it is.
pub fn encrypt(key: &DataKey, place: Place<'_>, payload: &mut EventPayload) {
    let Value::Object(data) = &mut payload.data else { return };
    let personal: Map<String, Value> = personal_fields(&payload.event_type)
        .iter()
        .filter_map(|field| data.remove(*field).map(|value| ((*field).to_owned(), value)))
        .collect();
    if personal.is_empty() {
        return;
    }
    let plain = serde_json::to_vec(&personal).expect("JSON values serialise");
    let sealed = seal(&key.cipher, &plain, place.context(&payload.event_type).as_bytes());
    data.insert(PERSONAL.to_owned(), Value::String(STANDARD.encode(sealed)));
}

/// Replaces an event's personal fields by the erased markers, for an event written when its
/// user has no key any more.
pub fn erase(payload: &mut EventPayload) {
    let fields = personal_fields(&payload.event_type);
    let Value::Object(data) = &mut payload.data else { return };
    for field in fields {
        if data.contains_key(*field) {
            data.insert((*field).to_owned(), erased_value(field));
        }
    }
}

/// Whether a stored event has encrypted personal fields.
pub fn is_encrypted(payload: &EventPayload) -> bool {
    payload.data.get(PERSONAL).is_some_and(Value::is_string)
}

/// Puts an event's personal fields back as they were written, or, without its key (erased),
/// as the erased markers and the `erased` flag.
pub fn decrypt(key: Option<&DataKey>, place: Place<'_>, payload: &mut EventPayload) -> StoreResult<()> {
    let what = || format!("the personal fields of event {} of user {}", place.version, place.user);
    let context = place.context(&payload.event_type);
    let fields = personal_fields(&payload.event_type);
    let Value::Object(data) = &mut payload.data else { return Ok(()) };
    let Some(Value::String(sealed)) = data.remove(PERSONAL) else { return Ok(()) };
    let Some(key) = key else {
        for field in fields {
            data.insert((*field).to_owned(), erased_value(field));
        }
        data.insert(ERASED_FLAG.to_owned(), Value::Bool(true));
        return Ok(());
    };
    let sealed = STANDARD.decode(sealed).map_err(|e| StoreError::corrupt(what(), e))?;
    let plain = open(&key.cipher, &sealed, context.as_bytes())
        .ok_or_else(|| StoreError::corrupt(what(), "they do not open with the user's key"))?;
    let personal: Map<String, Value> = serde_json::from_slice(&plain).map_err(|e| StoreError::corrupt(what(), e))?;
    data.extend(personal);
    Ok(())
}

fn seal(cipher: &XChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE] = rand::random();
    let mut out = nonce.to_vec();
    out.extend(
        cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad }).expect("XChaCha20-Poly1305 encrypts any length we hand it"),
    );
    out
}

fn open(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad }).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn place(tenant: &TenantSlug, version: i64) -> Place<'_> {
        Place { tenant, user: ResourceId::from_uuid(uuid::Uuid::from_u128(7)), version }
    }

    #[test]
    fn personal_fields_are_stored_encrypted_and_read_back_or_as_erased() {
        let tenant = TenantSlug::parse("acme").unwrap();
        let original = EventPayload {
            event_type: "user.provisioned".into(),
            type_version: 1,
            data: json!({"user_name": "bjensen", "active": true, "owner": "operator", "profile": {"emails": [{"value": "b@x.example"}]}}),
        };
        let key = DataKey::random();
        let mut stored = original.clone();
        encrypt(&key, place(&tenant, 1), &mut stored);
        let text = stored.data.to_string();
        assert!(!text.contains("bjensen") && !text.contains("b@x.example"), "{text}");
        assert_eq!((stored.data["active"].clone(), stored.data["owner"].clone()), (json!(true), json!("operator")));

        let mut read = stored.clone();
        decrypt(Some(&key), place(&tenant, 1), &mut read).unwrap();
        assert_eq!(read, original);

        let mut moved = stored.clone();
        assert!(decrypt(Some(&key), place(&tenant, 2), &mut moved).is_err(), "bound to its version");
        assert!(decrypt(Some(&DataKey::random()), place(&tenant, 1), &mut stored.clone()).is_err(), "another key");

        let mut erased = stored;
        decrypt(None, place(&tenant, 1), &mut erased).unwrap();
        assert_eq!(erased.data, json!({"user_name": "[erased]", "active": true, "owner": "operator", "profile": {}, "erased": true}));
    }

    #[test]
    fn a_data_key_opens_only_with_its_master_key_and_for_its_user() {
        let tenant = TenantSlug::parse("acme").unwrap();
        let master = MasterKey::from_bytes(&[1; 32]);
        let user = ResourceId::from_uuid(uuid::Uuid::from_u128(7));
        let key = DataKey::random();
        let wrapped = master.wrap(&key, &tenant, user);
        assert_eq!(master.unwrap(&wrapped, &tenant, user).unwrap().bytes, key.bytes);
        assert!(MasterKey::from_bytes(&[2; 32]).unwrap(&wrapped, &tenant, user).is_err());
        assert!(master.unwrap(&wrapped, &tenant, ResourceId::from_uuid(uuid::Uuid::from_u128(8))).is_err());
    }
}
