//! The keys and the encryption: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) with a
//! random 24-byte nonce per message, so nonces need no counter shared between processes.
//!
//! A user's data key is wrapped by the master key with the tenant and user as associated data,
//! so a key row copied onto another user does not open; the wrapping records the id of the
//! master key, so that a process holding several (during a rotation) knows which opens it. An
//! event's personal fields are
//! encrypted together, as one JSON object, with the tenant, stream, version and type as
//! associated data, so a ciphertext moved to another event does not open either.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::master_key::MasterKeyId;
use domain::user::{erased_value, personal_fields};
use domain::{EventPayload, ResourceId, TenantSlug};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::table::WrappedKey;
use crate::api::{StoreError, StoreResult};

/// The field of an event's stored payload that holds its personal fields, encrypted.
pub const PERSONAL: &str = "personal";
/// Set on an event whose personal fields were erased, beside their markers.
pub const ERASED_FLAG: &str = "erased";

const NONCE: usize = 24;

/// What the canary holds: any process whose keys open it holds the key that wrapped it.
const CANARY: &[u8] = b"scimledger master key canary";
const CANARY_CONTEXT: &str = "scimledger master key canary v1";

/// A master key: it wraps users' data keys. Never shown; known by its [`MasterKeyId`].
#[derive(Clone)]
pub struct MasterKey {
    id: MasterKeyId,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        // A hash of the key, under a context of its own: it names the key and reveals nothing
        // of it (nor of what the key encrypts).
        let digest = Sha256::new().chain_update(b"scimledger master key id v1\n").chain_update(bytes).finalize();
        let id = MasterKeyId::parse(&super::master::hex(&digest[..8])).expect("16 lower-case hex digits");
        Self { id, cipher: XChaCha20Poly1305::new(bytes.into()) }
    }

    pub fn id(&self) -> &MasterKeyId {
        &self.id
    }
}

/// Why a wrapped key did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unopened {
    /// Wrapped under a master key that is not among the process's.
    Unknown(MasterKeyId),
    /// None of the keys that could have wrapped it opens it: another key, or an altered row.
    Refused,
}

/// The master keys a process holds, newest first: the newest wraps every new key; any of them
/// opens what it wrapped.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// `None` without any key.
    pub fn new(keys: Vec<MasterKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    pub fn newest(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn ids(&self) -> impl Iterator<Item = &MasterKeyId> {
        self.keys.iter().map(MasterKey::id)
    }

    /// `key` wrapped for `user` of `tenant` under the newest key: the nonce, then the ciphertext.
    pub fn wrap(&self, key: &DataKey, tenant: &TenantSlug, user: ResourceId) -> WrappedKey {
        self.seal(&key.bytes, &key_context(tenant, user))
    }

    /// The data key of `user` of `tenant`, if one of these master keys wrapped it.
    pub fn unwrap(&self, wrapped: &WrappedKey, tenant: &TenantSlug, user: ResourceId) -> Result<DataKey, Unopened> {
        let bytes = self.open(wrapped, &key_context(tenant, user))?;
        Ok(DataKey::from_bytes(bytes.try_into().map_err(|_| Unopened::Refused)?))
    }

    /// The canary, wrapped under the newest key.
    pub fn canary(&self) -> WrappedKey {
        self.seal(CANARY, CANARY_CONTEXT)
    }

    /// Whether one of these keys wrapped `canary`.
    pub fn opens_canary(&self, canary: &WrappedKey) -> Result<(), Unopened> {
        match self.open(canary, CANARY_CONTEXT)? == CANARY {
            true => Ok(()),
            false => Err(Unopened::Refused),
        }
    }

    fn seal(&self, plain: &[u8], context: &str) -> WrappedKey {
        let newest = self.newest();
        WrappedKey { master_key: Some(newest.id.clone()), wrapped: seal(&newest.cipher, plain, context.as_bytes()) }
    }

    /// Opens with the key the wrapping names; one wrapped before keys had ids, with whichever
    /// key opens it (the deployment's first, wherever it now stands in the file).
    fn open(&self, wrapped: &WrappedKey, context: &str) -> Result<Vec<u8>, Unopened> {
        let opened = match &wrapped.master_key {
            Some(id) => {
                let key = self.keys.iter().find(|key| &key.id == id).ok_or_else(|| Unopened::Unknown(id.clone()))?;
                open(&key.cipher, &wrapped.wrapped, context.as_bytes())
            }
            None => self.keys.iter().find_map(|key| open(&key.cipher, &wrapped.wrapped, context.as_bytes())),
        };
        opened.ok_or(Unopened::Refused)
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

    fn ring(keys: &[u8]) -> KeyRing {
        KeyRing::new(keys.iter().map(|k| MasterKey::from_bytes(&[*k; 32])).collect()).unwrap()
    }

    #[test]
    fn a_data_key_opens_only_with_its_master_key_and_for_its_user() {
        let tenant = TenantSlug::parse("acme").unwrap();
        let user = ResourceId::from_uuid(uuid::Uuid::from_u128(7));
        let key = DataKey::random();
        let wrapped = ring(&[1]).wrap(&key, &tenant, user);
        assert_eq!(wrapped.master_key.as_ref(), Some(MasterKey::from_bytes(&[1; 32]).id()));
        assert_eq!(ring(&[1]).unwrap(&wrapped, &tenant, user).unwrap().bytes, key.bytes);
        assert_eq!(ring(&[2]).unwrap(&wrapped, &tenant, user).err(), Some(Unopened::Unknown(wrapped.master_key.clone().unwrap())));
        assert_eq!(ring(&[1]).unwrap(&wrapped, &tenant, ResourceId::from_uuid(uuid::Uuid::from_u128(8))).err(), Some(Unopened::Refused));
    }

    /// A rotation's ring: the newest key wraps, either opens what it wrapped, and a key wrapped
    /// before keys had ids opens with whichever key wrapped it.
    #[test]
    fn a_ring_wraps_under_its_newest_key_and_opens_under_any() {
        let tenant = TenantSlug::parse("acme").unwrap();
        let user = ResourceId::from_uuid(uuid::Uuid::from_u128(7));
        let key = DataKey::random();
        let (old, both) = (ring(&[1]), ring(&[2, 1]));
        let under_old = old.wrap(&key, &tenant, user);
        let under_new = both.wrap(&key, &tenant, user);
        assert_eq!(under_new.master_key.as_ref(), Some(MasterKey::from_bytes(&[2; 32]).id()));
        assert_eq!(both.unwrap(&under_old, &tenant, user).unwrap().bytes, key.bytes);
        assert_eq!(both.unwrap(&under_new, &tenant, user).unwrap().bytes, key.bytes);
        let unlabelled = WrappedKey { master_key: None, ..under_old };
        assert_eq!(both.unwrap(&unlabelled, &tenant, user).unwrap().bytes, key.bytes);
        assert_eq!(ring(&[3, 2]).unwrap(&unlabelled, &tenant, user).err(), Some(Unopened::Refused));
        assert!(both.opens_canary(&old.canary()).is_ok());
        assert_eq!(old.opens_canary(&both.canary()).err(), Some(Unopened::Unknown(MasterKey::from_bytes(&[2; 32]).id().clone())));
        assert_ne!(MasterKey::from_bytes(&[1; 32]).id(), MasterKey::from_bytes(&[2; 32]).id());
    }
}
