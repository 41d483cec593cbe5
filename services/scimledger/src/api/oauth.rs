//! OAuth 2.0 for `oauth` connections. `POST /oauth/{tenant}/token` authenticates the client
//! (id and secret, form body or Basic) and answers three grants with a short-lived bearer
//! access token: client credentials (RFC 6749 §4.4, Entra), and the authorization code
//! (§4.1.3, PKCE per RFC 7636) and refresh token (§6) grants of Okta's App Integration
//! Wizard, whose codes come from the authorize endpoint (ADR 0072).
//!
//! - [`authorize`]: `/oauth/{tenant}/authorize`, its sign-in and consent forms.
//! - [`page`]: those pages' HTML and headers.
//! - [`seal`]: codes, refresh tokens, CSRF tokens and sign-in tickets, sealed.
//!
//! An access token is self-contained (ADR 0022): the credential it was issued for, when it
//! expires, and an HMAC-SHA-256 of both keyed by that credential's stored hash. Nothing is
//! written per token, and the token dies with its credential: revoked, rotated past its
//! grace, or its connection disabled, the credential is no longer live and the token fails.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use domain::connection::AuthMode;
use domain::TenantSlug;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

mod authorize;
mod page;
mod seal;

pub use authorize::{authorize_form, authorize_page};
pub use seal::GrantKey;

use domain::oauth_grant::{Grant, GrantCommand};
use domain::ResourceId;
use store::commands::{self, CommandError, Expect};
use store::{Actor, ConnectionSecret, StoreError};

use super::auth::Presented;
use super::errors::store_failure;
use super::provenance::Provenance;
use super::ApiState;
use crate::token;
use seal::Sealed;

const PREFIX: &str = "scimledger_at_";
/// Keeps these MACs apart from any other use of the same key.
const CONTEXT: &[u8] = b"scimledger oauth access token v1";

/// A parsed access token, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub credential_id: Uuid,
    expires: i64,
    mac: [u8; 32],
}

impl AccessToken {
    /// A token for `credential_id` (whose stored hash is `key`) that expires at `expires`.
    pub fn issue(credential_id: Uuid, key: &[u8; 32], expires: OffsetDateTime) -> String {
        let expires = expires.unix_timestamp();
        let mac = mac(credential_id, expires, key).finalize().into_bytes();
        format!("{PREFIX}{}{}{}", credential_id.simple(), hex::encode(expires.to_be_bytes()), hex::encode(mac))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        if rest.len() != 32 + 16 + 64 || !rest.is_ascii() {
            return None;
        }
        let credential_id = Uuid::try_parse(&rest[..32]).ok()?;
        let expires = i64::from_be_bytes(hex::decode(&rest[32..48]).ok()?.try_into().ok()?);
        let mac = hex::decode(&rest[48..]).ok()?.try_into().ok()?;
        Some(Self { credential_id, expires, mac })
    }

    /// Whether the token was issued with `key` and is still valid at `at`.
    pub fn verify(&self, key: &[u8; 32], at: OffsetDateTime) -> bool {
        self.expires > at.unix_timestamp() && mac(self.credential_id, self.expires, key).verify_slice(&self.mac).is_ok()
    }
}

fn mac(credential_id: Uuid, expires: i64, key: &[u8; 32]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(credential_id.as_bytes());
    mac.update(&expires.to_be_bytes());
    mac
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

/// An RFC 6749 §5.2 error.
fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (status, no_store(), Json(json!({"error": error, "error_description": description}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="scimledger""#));
    }
    response
}

fn no_store() -> [(axum::http::HeaderName, HeaderValue); 2] {
    [(CACHE_CONTROL, HeaderValue::from_static("no-store")), (PRAGMA, HeaderValue::from_static("no-cache"))]
}

/// A store failure: RFC 6749 §5.2 has no word for these; the SCIM door's mapping decides the status.
fn unavailable(error: &StoreError) -> Response {
    let status = StatusCode::from_u16(store_failure(error).status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = if status == StatusCode::SERVICE_UNAVAILABLE { "temporarily_unavailable" } else { "server_error" };
    (status, no_store(), Json(json!({"error": error}))).into_response()
}

fn invalid_grant(description: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

pub async fn token(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    Extension(provenance): Extension<Provenance>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "send an application/x-www-form-urlencoded body");
    };
    match form.grant_type.as_deref() {
        Some("client_credentials" | "authorization_code" | "refresh_token") => {}
        Some(_) => {
            let supported = "supported: client_credentials, authorization_code, refresh_token";
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", supported);
        }
        None => return refuse(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"),
    }
    // RFC 6749 §2.3.1: Basic, or the form body; not both.
    let client = match (Presented::of(&headers), form.client_id.clone(), form.client_secret.clone()) {
        (Some(Presented::Basic { username, password }), None, _) => Some((username, password)),
        (None, Some(id), Some(secret)) => Some((id, secret)),
        (Some(_), Some(_), _) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", "send the client credentials once"),
        _ => None,
    };
    let invalid_client = || refuse(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    let (Some((client_id, client_secret)), Ok(tenant)) = (client, TenantSlug::parse(&tenant)) else {
        return invalid_client();
    };
    let secrets = match state.tenants.secrets(&*state.store, &tenant).await {
        Ok(secrets) => secrets,
        Err(e) => return unavailable(&e),
    };
    let now = store::now();
    let hash = token::hash(&client_secret);
    let found = secrets.iter().filter(|s| s.expires_at.is_none_or(|end| end > now)).find(|s| {
        s.connection.auth == AuthMode::Oauth && s.connection.login.as_deref() == Some(client_id.as_str()) && bool::from(s.hash.ct_eq(&hash))
    });
    let Some(secret) = found else { return invalid_client() };
    let access = access_token(&state, secret, now);
    let metadata = provenance.metadata(Actor::Connection(secret.connection.id));
    let issued = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let Some(grant) = form.code.as_deref().and_then(|code| state.oauth_key.open_code(tenant.as_str(), code)) else {
                return invalid_grant("unknown authorization code");
            };
            let command = GrantCommand::Redeem {
                connection_id: secret.connection.id,
                credential_id: secret.credential_id,
                redirect_uri: form.redirect_uri,
                code_verifier: form.code_verifier,
                at: now,
            };
            (grant, command)
        }
        Some("refresh_token") => {
            let Some(Sealed { grant, serial }) =
                form.refresh_token.as_deref().and_then(|text| state.oauth_key.open_refresh_token(tenant.as_str(), text))
            else {
                return invalid_grant("unknown refresh token");
            };
            (grant, GrantCommand::Refresh { connection_id: secret.connection.id, credential_id: secret.credential_id, serial })
        }
        _ => return (no_store(), Json(access)).into_response(),
    };
    let (grant, command) = issued;
    let id = ResourceId::from_uuid(grant);
    match commands::run::<Grant>(&*state.store, &tenant, id, command, &domain::Principal::Operator, metadata, Expect::Existing).await {
        Ok(outcome) => match outcome.aggregate.state() {
            Some(done) if !done.revoked => {
                let refresh = state.oauth_key.refresh_token(tenant.as_str(), Sealed { grant, serial: done.refresh_serial });
                let mut body = access;
                body["refresh_token"] = refresh.into();
                if let Some(scope) = &done.scope {
                    body["scope"] = scope.as_str().into();
                }
                (no_store(), Json(body)).into_response()
            }
            _ => invalid_grant("the authorization code was already used; the grant it made is revoked"),
        },
        Err(CommandError::Domain(domain::DomainError::Invalid(e))) => invalid_grant(&e.detail),
        Err(CommandError::Domain(_)) => invalid_grant("unknown grant"),
        Err(CommandError::Store(e)) => unavailable(&e),
        Err(CommandError::PreconditionFailed { .. }) => unreachable!("grant commands name no version"),
    }
}

/// An access token for the authenticated client (ADR 0022), as the token response's body.
fn access_token(state: &ApiState, secret: &ConnectionSecret, now: OffsetDateTime) -> serde_json::Value {
    let lifetime = time::Duration::seconds(state.settings.oauth_token_ttl_secs as i64);
    // Never outlives its credential (a rotated secret in its grace period).
    let expires = secret.expires_at.map_or(now + lifetime, |end| end.min(now + lifetime));
    json!({
        "access_token": AccessToken::issue(secret.credential_id, &secret.hash, expires),
        "token_type": "Bearer",
        "expires_in": (expires - now).whole_seconds(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_verify_only_with_their_key_and_until_they_expire() {
        let (id, key, now) = (Uuid::now_v7(), [7u8; 32], OffsetDateTime::now_utc());
        let text = AccessToken::issue(id, &key, now + time::Duration::minutes(5));
        let token = AccessToken::parse(&text).unwrap();
        assert_eq!(token.credential_id, id);
        assert!(token.verify(&key, now));
        assert!(!token.verify(&[8u8; 32], now), "another credential's key");
        assert!(!token.verify(&key, now + time::Duration::minutes(6)), "expired");
        let mut forged = text.clone();
        forged.replace_range(PREFIX.len() + 32..PREFIX.len() + 48, &hex::encode((now.unix_timestamp() + 86_400).to_be_bytes()));
        assert!(!AccessToken::parse(&forged).unwrap().verify(&key, now), "a changed expiry breaks the MAC");
        assert!(AccessToken::parse("scimledger_at_short").is_none());
    }
}
