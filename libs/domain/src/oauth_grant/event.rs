//! What happens to an authorization grant. docs/events.md catalogues these; none carries a
//! code or a token (they are sealed, ADR 0072), and the actor in the metadata says who: the
//! operator who consented, then the connection exchanging its code and refresh tokens.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::pkce::PkceChallenge;
use crate::connection::RedirectUri;
use crate::event::CURRENT_VERSION;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum GrantEvent {
    /// An operator approved the connection's authorization request; its code works once, until
    /// `code_expires_at`, for this redirect URI and (when given) this PKCE challenge.
    #[serde(rename = "oauth_grant.consented")]
    Consented {
        connection_id: Uuid,
        redirect_uri: RedirectUri,
        scope: Option<String>,
        code_challenge: Option<PkceChallenge>,
        #[serde(with = "time::serde::rfc3339")]
        code_expires_at: OffsetDateTime,
    },
    /// The code was exchanged by the client authenticated with `credential_id`; refresh token 1
    /// was issued.
    #[serde(rename = "oauth_grant.code_redeemed")]
    CodeRedeemed { credential_id: Uuid },
    /// Refresh token `serial` replaced the one before it, which no longer works.
    #[serde(rename = "oauth_grant.refresh_token_rotated")]
    RefreshTokenRotated { credential_id: Uuid, serial: u32 },
    /// The grant's refresh tokens no longer work.
    #[serde(rename = "oauth_grant.revoked")]
    Revoked { reason: RevokeReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// Its code was presented a second time (RFC 6749 §4.1.2): someone else may hold it.
    CodeReused,
}

impl DomainEvent for GrantEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}
