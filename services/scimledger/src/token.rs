//! Secrets (connection tokens, passwords, client secrets, operator tokens): 256 random bits
//! shown once, stored as SHA-256; and the logins (usernames, client ids) that go with them.
//!
//! A random token has all the entropy a password lacks, so a fast hash is enough and a slow
//! password hash would only cost every request (docs/adr/0003-connection-tokens.md).

use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "scimledger_";

/// A new token: a recognisable prefix (for secret scanners) and 32 random bytes in hex.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// A basic username or OAuth client id: not secret, but unguessable all the same.
pub fn login(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}-{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }
}
