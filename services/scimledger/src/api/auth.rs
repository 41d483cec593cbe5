//! Authentication of SCIM requests, per tenant and per connection's auth mode.
//!
//! The tenant comes from the URL; the credentials must be a live secret of one of that
//! tenant's enabled connections, presented the way its mode says (docs/scim.md):
//! `Authorization: Bearer <token>` (bearer, header, and oauth access tokens), the raw token
//! (header) or Basic (basic). A missing, wrong, expired, revoked or disabled credential,
//! another tenant's, and an unknown tenant all get the same 401 with `WWW-Authenticate`:
//! nothing tells a caller which tenants exist.

use axum::extract::{OriginalUri, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use domain::connection::AuthMode;
use domain::TenantSlug;
use scim::ScimError;
use store::{Actor, Connection, ConnectionSecret, EventMetadata};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::access::Access;
use super::errors::store_failure;
use super::oauth::AccessToken;
use super::provenance::Provenance;
use super::reply::ScimReply;
use super::ApiState;
use crate::token;

/// The authenticated caller of a request to the users and groups of a tenant.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantSlug,
    pub party: Party,
    /// What its events record about the request.
    pub provenance: Provenance,
}

/// Who calls: a connection of the tenant (an IdP over SCIM), or an operator provisioning
/// manually through the admin API.
#[derive(Debug, Clone)]
pub enum Party {
    Connection(Connection),
    Operator(String),
}

impl Caller {
    pub fn access(&self) -> Access {
        match &self.party {
            Party::Connection(connection) => Access::of(connection),
            Party::Operator(_) => Access::OPERATOR,
        }
    }

    pub fn metadata(&self) -> EventMetadata {
        let actor = match &self.party {
            Party::Connection(connection) => Actor::Connection(connection.id),
            Party::Operator(name) => Actor::Operator(name.clone()),
        };
        self.provenance.metadata(actor)
    }
}

/// What an `Authorization` header presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Bearer(String),
    /// A value without a scheme word: a header-mode token.
    Raw(String),
    Basic {
        username: String,
        password: String,
    },
}

impl Presented {
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
        match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => Some(Presented::Bearer(rest.trim().to_owned())),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
                let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
                Some(Presented::Basic { username: username.to_owned(), password: password.to_owned() })
            }
            Some(_) => None,
            None if !value.is_empty() => Some(Presented::Raw(value.to_owned())),
            None => None,
        }
    }
}

/// The secret among `secrets` that `presented` proves, live at `at`.
pub fn identify<'s>(secrets: &'s [ConnectionSecret], presented: &Presented, at: OffsetDateTime) -> Option<&'s ConnectionSecret> {
    let live = secrets.iter().filter(|s| s.expires_at.is_none_or(|end| end > at));
    match presented {
        Presented::Bearer(text) => match AccessToken::parse(text) {
            Some(access) => live
                .filter(|s| s.connection.auth == AuthMode::Oauth && s.credential_id == access.credential_id)
                .find(|s| access.verify(&s.hash, at)),
            None => {
                let hash = token::hash(text);
                live.filter(|s| matches!(s.connection.auth, AuthMode::Bearer | AuthMode::Header)).find(|s| bool::from(s.hash.ct_eq(&hash)))
            }
        },
        Presented::Raw(text) => {
            let hash = token::hash(text);
            live.filter(|s| s.connection.auth == AuthMode::Header).find(|s| bool::from(s.hash.ct_eq(&hash)))
        }
        Presented::Basic { username, password } => {
            let hash = token::hash(password);
            live.filter(|s| s.connection.auth == AuthMode::Basic && s.connection.login.as_deref() == Some(username.as_str()))
                .find(|s| bool::from(s.hash.ct_eq(&hash)))
        }
    }
}

pub async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    // Inside the nested /scim/v2/{tenant} router the URI has lost its prefix; the original keeps it.
    let path = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().path(), |uri| uri.path());
    let tenant = path.strip_prefix("/scim/v2/").and_then(|rest| rest.split('/').next()).and_then(|slug| TenantSlug::parse(slug).ok());
    let presented = Presented::of(request.headers());
    let provenance = request.extensions().get::<Provenance>().cloned().unwrap_or_default();
    let (Some(tenant), Some(credentials)) = (tenant, presented.as_ref()) else {
        return unauthorized(presented.as_ref());
    };
    let secrets = match state.tenants.secrets(&*state.store, &tenant).await {
        Ok(secrets) => secrets,
        Err(e) => return ScimReply::error(store_failure(&e)).into_response(),
    };
    match identify(&secrets, credentials, store::now()) {
        Some(secret) => {
            let party = Party::Connection(secret.connection.clone());
            request.extensions_mut().insert(Caller { tenant, party, provenance });
            next.run(request).await
        }
        None => unauthorized(presented.as_ref()),
    }
}

/// 401 with the challenges of RFC 6750 §3 and RFC 7617; the scheme the client tried first.
fn unauthorized(presented: Option<&Presented>) -> Response {
    let detail = "valid credentials of one of this tenant's provisioning connections are required";
    let mut response = ScimReply::error(ScimError::unauthorized(detail)).into_response();
    let bearer = match presented {
        Some(Presented::Bearer(_) | Presented::Raw(_)) => r#"Bearer realm="scimledger", error="invalid_token""#,
        _ => r#"Bearer realm="scimledger""#,
    };
    let basic = r#"Basic realm="scimledger", charset="UTF-8""#;
    let challenges = match presented {
        Some(Presented::Basic { .. }) => [basic, bearer],
        _ => [bearer, basic],
    };
    for challenge in challenges {
        response.headers_mut().append(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn presented(value: &str) -> Option<Presented> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        Presented::of(&headers)
    }

    #[test]
    fn authorization_headers() {
        assert_eq!(presented("Bearer abc"), Some(Presented::Bearer("abc".into())));
        assert_eq!(presented("bearer  abc "), Some(Presented::Bearer("abc".into())));
        assert_eq!(presented("abc"), Some(Presented::Raw("abc".into())));
        // "user:pa:ss" in base64: the password may hold colons.
        assert_eq!(presented("Basic dXNlcjpwYTpzcw=="), Some(Presented::Basic { username: "user".into(), password: "pa:ss".into() }));
        assert_eq!(presented("Basic !!!"), None);
        assert_eq!(presented("Digest x"), None);
    }
}
