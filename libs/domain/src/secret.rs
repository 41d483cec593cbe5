//! Secrets as the domain sees them: a hash and an id. The service generates and hashes them;
//! events name only the id, so a hash never reaches the log or NATS.

use std::fmt;

use uuid::Uuid;

/// The SHA-256 of a generated secret (ADR 0003). Its Debug output hides the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A secret just generated for a connection or an operator, to be stored with its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecret {
    pub id: Uuid,
    pub hash: SecretHash,
}

impl NewSecret {
    pub fn new(hash: [u8; 32]) -> Self {
        Self { id: Uuid::now_v7(), hash: SecretHash(hash) }
    }
}
