//! The Grant aggregate: one OAuth 2.0 authorization code grant (RFC 6749 §4.1) of a
//! connection, from the operator's consent to the code's exchange and each refresh token's
//! rotation (ADR 0072).
//!
//! - [`pkce`]: code challenges and verifiers (RFC 7636).
//! - [`event`]: `oauth_grant.consented`, `.code_redeemed`, `.refresh_token_rotated`, `.revoked`.
//!
//! Codes and refresh tokens are sealed by the server and name the grant and a serial (0 for
//! the code); the grant decides whether that serial is still the one that works, so single
//! use holds across servers through the stream's optimistic concurrency.

mod event;
pub mod pkce;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use event::{GrantEvent, RevokeReason};
pub use pkce::{PkceChallenge, PkceMethod};

use crate::connection::RedirectUri;
use crate::DomainError;

#[derive(Debug, Clone)]
pub enum GrantCommand {
    Consent {
        connection_id: Uuid,
        redirect_uri: RedirectUri,
        scope: Option<String>,
        code_challenge: Option<PkceChallenge>,
        code_expires_at: OffsetDateTime,
    },
    /// The token endpoint's `authorization_code` grant, by the client of `connection_id`
    /// authenticated with `credential_id`.
    Redeem { connection_id: Uuid, credential_id: Uuid, redirect_uri: Option<String>, code_verifier: Option<String>, at: OffsetDateTime },
    /// The `refresh_token` grant with refresh token `serial`.
    Refresh { connection_id: Uuid, credential_id: Uuid, serial: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantState {
    pub connection_id: Uuid,
    pub redirect_uri: RedirectUri,
    pub scope: Option<String>,
    pub code_challenge: Option<PkceChallenge>,
    pub code_expires_at: OffsetDateTime,
    /// The serial of the refresh token that works; 0 until the code is exchanged.
    pub refresh_serial: u32,
    pub revoked: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    state: Option<GrantState>,
}

/// Why a code or refresh token is refused: RFC 6749 §5.2's `invalid_grant`, with the reason.
fn invalid_grant(why: &str) -> DomainError {
    DomainError::invalid(why)
}

impl Grant {
    pub fn state(&self) -> Option<&GrantState> {
        self.state.as_ref()
    }

    /// The grant of `connection_id`, still in force.
    fn of(&self, connection_id: Uuid) -> Result<&GrantState, DomainError> {
        let state = self.state.as_ref().ok_or(DomainError::NotFound)?;
        if state.connection_id != connection_id {
            return Err(invalid_grant("the grant was issued to another client"));
        }
        if state.revoked {
            return Err(invalid_grant("the grant was revoked"));
        }
        Ok(state)
    }

    fn decide(&self, command: GrantCommand) -> Result<Vec<GrantEvent>, DomainError> {
        match command {
            GrantCommand::Consent { connection_id, redirect_uri, scope, code_challenge, code_expires_at } => {
                if self.state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![GrantEvent::Consented { connection_id, redirect_uri, scope, code_challenge, code_expires_at }])
            }
            GrantCommand::Redeem { connection_id, credential_id, redirect_uri, code_verifier, at } => {
                let state = self.of(connection_id)?;
                if state.refresh_serial > 0 {
                    // RFC 6749 §4.1.2: a code used twice is refused, and what it issued revoked.
                    return Ok(vec![GrantEvent::Revoked { reason: RevokeReason::CodeReused }]);
                }
                if at >= state.code_expires_at {
                    return Err(invalid_grant("the authorization code expired"));
                }
                if redirect_uri.as_deref() != Some(state.redirect_uri.as_str()) {
                    return Err(invalid_grant("redirect_uri differs from the authorization request's"));
                }
                match (&state.code_challenge, code_verifier) {
                    (Some(challenge), Some(verifier)) if challenge.verifies(&verifier) => {}
                    (Some(_), Some(_)) => return Err(invalid_grant("code_verifier does not match the code_challenge")),
                    (Some(_), None) => {
                        return Err(invalid_grant("code_verifier is required: the authorization request had a code_challenge"))
                    }
                    (None, Some(_)) => {
                        return Err(invalid_grant("code_verifier given, but the authorization request had no code_challenge"))
                    }
                    (None, None) => {}
                }
                Ok(vec![GrantEvent::CodeRedeemed { credential_id }])
            }
            GrantCommand::Refresh { connection_id, credential_id, serial } => {
                let state = self.of(connection_id)?;
                if state.refresh_serial == 0 || serial != state.refresh_serial {
                    return Err(invalid_grant("the refresh token was replaced by a newer one"));
                }
                Ok(vec![GrantEvent::RefreshTokenRotated { credential_id, serial: serial + 1 }])
            }
        }
    }
}

impl Aggregate for Grant {
    const TYPE: &'static str = "oauth_grant";
    type Command = GrantCommand;
    type Event = GrantEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: GrantCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: GrantEvent) {
        if let GrantEvent::Consented { connection_id, redirect_uri, scope, code_challenge, code_expires_at } = event {
            self.state =
                Some(GrantState { connection_id, redirect_uri, scope, code_challenge, code_expires_at, refresh_serial: 0, revoked: false });
            return;
        }
        let Some(state) = self.state.as_mut() else { return };
        match event {
            GrantEvent::Consented { .. } => unreachable!("handled above"),
            GrantEvent::CodeRedeemed { .. } => state.refresh_serial = 1,
            GrantEvent::RefreshTokenRotated { serial, .. } => state.refresh_serial = serial,
            GrantEvent::Revoked { .. } => state.revoked = true,
        }
    }
}
