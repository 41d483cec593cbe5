//! PKCE (RFC 7636): the code challenge an authorization request may carry, and the verifier
//! that must match it when the code is exchanged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    S256,
    #[serde(rename = "plain")]
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkceChallenge {
    pub method: PkceMethod,
    pub challenge: String,
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`, for verifiers and challenges alike.
fn well_formed(text: &str) -> bool {
    (43..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl PkceChallenge {
    /// `code_challenge` and `code_challenge_method` as the authorization request gave them; no
    /// method means `plain` (RFC 7636 §4.3).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, DomainError> {
        let method = match method {
            None | Some("plain") => PkceMethod::Plain,
            Some("S256") => PkceMethod::S256,
            Some(other) => return Err(DomainError::invalid(format!("code_challenge_method '{other}' is not S256 or plain"))),
        };
        if !well_formed(challenge) {
            return Err(DomainError::invalid("code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'"));
        }
        Ok(Self { method, challenge: challenge.to_owned() })
    }

    /// Whether `verifier` is the one this challenge was made from.
    pub fn verifies(&self, verifier: &str) -> bool {
        well_formed(verifier)
            && match self.method {
                PkceMethod::Plain => verifier == self.challenge,
                PkceMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == self.challenge,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let challenge = PkceChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        assert!(challenge.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"));
        let plain = PkceChallenge::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", None).unwrap();
        assert_eq!(plain.method, PkceMethod::Plain);
        assert!(plain.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(PkceChallenge::parse("short", Some("S256")).is_err());
        assert!(PkceChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S512")).is_err());
    }
}
