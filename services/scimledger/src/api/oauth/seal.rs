//! What the authorization code flow hands out, sealed with the deployment's OAuth key (ADR
//! 0072): codes and refresh tokens (a grant and a serial), the sign-in form's CSRF token (bound
//! to the browser's cookie) and the consent form's sign-in ticket (bound to the cookie, the
//! operator, the request and an expiry). Nothing of them is stored: the grant's stream says
//! which serial still works, so any server of the deployment can check any of them.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

/// The deployment's key for these seals; its `Debug` does not show it.
#[derive(Clone)]
pub struct GrantKey([u8; 32]);

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrantKey(…)")
    }
}

const CODE: &str = "scimledger_code_";
const REFRESH: &str = "scimledger_rt_";

/// A code (serial 0) or refresh token (serial 1 on) of a grant, not yet checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub grant: Uuid,
    pub serial: u32,
}

impl GrantKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// HMAC-SHA-256 over `purpose`, then each part followed by a NUL, so no two inputs run together.
    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn seal(&self, prefix: &str, tenant: &str, sealed: Sealed) -> String {
        let serial = sealed.serial.to_be_bytes();
        let mac = self.mac(prefix, &[tenant.as_bytes(), sealed.grant.as_bytes(), &serial]).finalize().into_bytes();
        format!("{prefix}{}{}{}", sealed.grant.simple(), hex::encode(serial), hex::encode(mac))
    }

    fn unseal(&self, prefix: &str, tenant: &str, text: &str) -> Option<Sealed> {
        let rest = text.strip_prefix(prefix)?;
        if rest.len() != 32 + 8 + 64 || !rest.is_ascii() {
            return None;
        }
        let grant = Uuid::try_parse(&rest[..32]).ok()?;
        let serial: [u8; 4] = hex::decode(&rest[32..40]).ok()?.try_into().ok()?;
        let mac = hex::decode(&rest[40..]).ok()?;
        self.mac(prefix, &[tenant.as_bytes(), grant.as_bytes(), &serial]).verify_slice(&mac).ok()?;
        Some(Sealed { grant, serial: u32::from_be_bytes(serial) })
    }

    pub fn code(&self, tenant: &str, grant: Uuid) -> String {
        self.seal(CODE, tenant, Sealed { grant, serial: 0 })
    }

    pub fn open_code(&self, tenant: &str, text: &str) -> Option<Uuid> {
        self.unseal(CODE, tenant, text).map(|s| s.grant)
    }

    pub fn refresh_token(&self, tenant: &str, sealed: Sealed) -> String {
        self.seal(REFRESH, tenant, sealed)
    }

    pub fn open_refresh_token(&self, tenant: &str, text: &str) -> Option<Sealed> {
        self.unseal(REFRESH, tenant, text).filter(|s| s.serial > 0)
    }

    /// The CSRF token of the forms shown to the browser holding `cookie`.
    pub fn csrf(&self, tenant: &str, cookie: &str) -> String {
        hex::encode(self.mac("csrf", &[tenant.as_bytes(), cookie.as_bytes()]).finalize().into_bytes())
    }

    pub fn csrf_holds(&self, tenant: &str, cookie: &str, token: &str) -> bool {
        let Ok(mac) = hex::decode(token) else { return false };
        self.mac("csrf", &[tenant.as_bytes(), cookie.as_bytes()]).verify_slice(&mac).is_ok()
    }

    /// The consent form's proof that `operator` signed in from the browser holding `cookie`
    /// for `request` (the authorization request, canonical), good until `expires` (Unix time).
    pub fn ticket(&self, tenant: &str, cookie: &str, operator: &str, request: &str, expires: i64) -> String {
        let expiry = expires.to_be_bytes();
        let mac = self.mac("sign-in", &[tenant.as_bytes(), cookie.as_bytes(), operator.as_bytes(), request.as_bytes(), &expiry]);
        format!("{}{}", hex::encode(expiry), hex::encode(mac.finalize().into_bytes()))
    }

    pub fn ticket_holds(&self, tenant: &str, cookie: &str, operator: &str, request: &str, ticket: &str, now: i64) -> bool {
        let (Some(expiry), Some(mac)) = (ticket.get(..16), ticket.get(16..)) else { return false };
        let (Ok(expiry), Ok(mac)) = (hex::decode(expiry), hex::decode(mac)) else { return false };
        let Ok(expiry) = <[u8; 8]>::try_from(expiry) else { return false };
        i64::from_be_bytes(expiry) > now
            && self
                .mac("sign-in", &[tenant.as_bytes(), cookie.as_bytes(), operator.as_bytes(), request.as_bytes(), &expiry])
                .verify_slice(&mac)
                .is_ok()
    }
}

/// A new browser cookie value: 128 random bits in hex.
pub fn new_cookie() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_their_key_tenant_and_kind() {
        let (key, other) = (GrantKey::new([1; 32]), GrantKey::new([2; 32]));
        let grant = Uuid::now_v7();
        let code = key.code("acme", grant);
        assert_eq!(key.open_code("acme", &code), Some(grant));
        assert_eq!(key.open_code("other", &code), None, "another tenant");
        assert_eq!(other.open_code("acme", &code), None, "another key");
        assert_eq!(key.open_refresh_token("acme", &code), None, "a code is no refresh token");
        let refresh = key.refresh_token("acme", Sealed { grant, serial: 3 });
        assert_eq!(key.open_refresh_token("acme", &refresh), Some(Sealed { grant, serial: 3 }));
        let mut forged = refresh.clone();
        forged.replace_range(REFRESH.len() + 32..REFRESH.len() + 40, "00000004");
        assert_eq!(key.open_refresh_token("acme", &forged), None, "a changed serial breaks the MAC");
    }

    #[test]
    fn csrf_tokens_and_tickets_are_bound_to_their_cookie() {
        let key = GrantKey::new([1; 32]);
        let csrf = key.csrf("acme", "cookie-a");
        assert!(key.csrf_holds("acme", "cookie-a", &csrf));
        assert!(!key.csrf_holds("acme", "cookie-b", &csrf));
        let ticket = key.ticket("acme", "cookie-a", "alice", "request", 100);
        assert!(key.ticket_holds("acme", "cookie-a", "alice", "request", &ticket, 99));
        assert!(!key.ticket_holds("acme", "cookie-a", "alice", "request", &ticket, 100), "expired");
        assert!(!key.ticket_holds("acme", "cookie-a", "mallory", "request", &ticket, 99), "another operator");
        assert!(!key.ticket_holds("acme", "cookie-b", "alice", "request", &ticket, 99), "another browser");
        assert!(!key.ticket_holds("acme", "cookie-a", "alice", "other request", &ticket, 99), "another request");
    }
}
