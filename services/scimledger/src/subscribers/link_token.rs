//! The token an enrollment link carries: the user, the `user.provisioned` event it answers and
//! when it expires, sealed with the deployment's enrollment key (HMAC-SHA256), so that
//! scimledger can tell it made the token without keeping it. The same user and event always
//! give the same token: a resend after a crash carries the same link as the first email.
//! Single use is the Enrollment aggregate's business (`enrollment.verified`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::{ResourceId, TenantSlug};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

/// The name of the enrollment key among the deployment's secrets.
pub const ENROLLMENT_SECRET: &str = "enrollment";

const BODY: usize = 16 + 16 + 8;
const MAC: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkToken {
    pub user: ResourceId,
    pub cause: Uuid,
    pub expires_at: OffsetDateTime,
}

/// The token is not one scimledger made for this tenant.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the enrollment token is not valid")]
pub struct NotOurs;

impl LinkToken {
    pub fn seal(&self, key: &[u8; 32], tenant: &TenantSlug) -> String {
        let body = self.body();
        let mut sealed = body.to_vec();
        sealed.extend_from_slice(&mac(key, tenant, &body));
        URL_SAFE_NO_PAD.encode(sealed)
    }

    pub fn open(text: &str, key: &[u8; 32], tenant: &TenantSlug) -> Result<Self, NotOurs> {
        let sealed = URL_SAFE_NO_PAD.decode(text).map_err(|_| NotOurs)?;
        if sealed.len() != BODY + MAC {
            return Err(NotOurs);
        }
        let (body, tag) = sealed.split_at(BODY);
        let mut check = keyed(key, tenant);
        check.update(body);
        check.verify_slice(tag).map_err(|_| NotOurs)?;
        let user = Uuid::from_slice(&body[..16]).map_err(|_| NotOurs)?;
        let cause = Uuid::from_slice(&body[16..32]).map_err(|_| NotOurs)?;
        let seconds = i64::from_be_bytes(body[32..].try_into().map_err(|_| NotOurs)?);
        let expires_at = OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| NotOurs)?;
        Ok(Self { user: ResourceId::from_uuid(user), cause, expires_at })
    }

    fn body(&self) -> [u8; BODY] {
        let mut body = [0; BODY];
        body[..16].copy_from_slice(self.user.as_uuid().as_bytes());
        body[16..32].copy_from_slice(self.cause.as_bytes());
        body[32..].copy_from_slice(&self.expires_at.unix_timestamp().to_be_bytes());
        body
    }
}

/// Keyed per tenant too: a token of one tenant is no token of another.
fn keyed(key: &[u8; 32], tenant: &TenantSlug) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(tenant.as_str().as_bytes());
    mac.update(&[0]);
    mac
}

fn mac(key: &[u8; 32], tenant: &TenantSlug, body: &[u8]) -> [u8; MAC] {
    let mut mac = keyed(key, tenant);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_with_its_key_and_tenant_and_unaltered() {
        let (key, acme) = ([7; 32], TenantSlug::parse("acme").unwrap());
        let expires_at = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let token = LinkToken { user: ResourceId::new(), cause: Uuid::new_v4(), expires_at };
        let sealed = token.seal(&key, &acme);
        assert_eq!(sealed, token.seal(&key, &acme), "deterministic");
        assert_eq!(LinkToken::open(&sealed, &key, &acme), Ok(token));
        assert_eq!(LinkToken::open(&sealed, &[8; 32], &acme), Err(NotOurs));
        assert_eq!(LinkToken::open(&sealed, &key, &TenantSlug::parse("other").unwrap()), Err(NotOurs));
        let mut altered = sealed.into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(LinkToken::open(std::str::from_utf8(&altered).unwrap(), &key, &acme), Err(NotOurs));
        assert_eq!(LinkToken::open("not a token", &key, &acme), Err(NotOurs));
    }
}
