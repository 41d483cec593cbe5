//! The Connection aggregate: one IdP app's way in, and its policy (issue 9).
//!
//! - [`settings`]: auth modes and the settings subscribers and read scopes act on.
//! - [`event`]: `connection.created`, `.settings_changed`, `.secret_rotated`,
//!   `.secrets_revoked`, `.disabled`.
//!
//! The aggregate knows each credential by id and when it stops working; the hashes travel
//! beside the events ([`NewSecret`]) into a table a rebuild keeps (ADR 0020). A disabled
//! connection takes no more commands: disabling is final, as the IdP's sync is cut off.

mod event;
mod redirect_uri;
pub mod settings;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use event::ConnectionEvent;

pub use crate::credential::{Credential, Retiring};
pub use settings::{AuthMode, OnDeactivate, ReadScope, RedirectUri, SettingChanged, Settings, SettingsChange};

use crate::credential;
pub use crate::names::ConnectionName;
use crate::secret::NewSecret;
use crate::DomainError;

#[derive(Debug, Clone)]
pub enum ConnectionCommand {
    Create {
        name: ConnectionName,
        auth: AuthMode,
        login: Option<String>,
        settings: Settings,
        secret: NewSecret,
    },
    ChangeSettings(SettingsChange),
    /// A new secret; the live ones stop working `grace` after `at` (at once for zero).
    Rotate {
        secret: NewSecret,
        grace: Duration,
        at: OffsetDateTime,
    },
    /// Every live secret but the newest stops working at `at`.
    Revoke {
        at: OffsetDateTime,
    },
    /// Stops the connection; with `purge`, what it owns is to be deleted too (ADR 0041).
    Disable {
        purge: bool,
    },
}

impl ConnectionCommand {
    /// The secret this command brings, to be stored with its events.
    pub fn new_secret(&self) -> Option<&NewSecret> {
        match self {
            ConnectionCommand::Create { secret, .. } | ConnectionCommand::Rotate { secret, .. } => Some(secret),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    pub name: ConnectionName,
    pub auth: AuthMode,
    pub login: Option<String>,
    pub settings: Settings,
    /// Oldest first; the last is the newest.
    pub credentials: Vec<Credential>,
    pub disabled: bool,
    /// Whether a disable asked for what the connection owns to be purged.
    #[serde(default)]
    pub purge: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    state: Option<ConnectionState>,
}

impl Connection {
    pub fn state(&self) -> Option<&ConnectionState> {
        self.state.as_ref()
    }

    /// The state of a connection that may still change.
    fn enabled(&self) -> Result<&ConnectionState, DomainError> {
        let state = self.state.as_ref().ok_or(DomainError::NotFound)?;
        if state.disabled {
            return Err(DomainError::invalid(format!("connection '{}' is disabled; create a new one", state.name)));
        }
        Ok(state)
    }

    fn decide(&self, command: ConnectionCommand) -> Result<Vec<ConnectionEvent>, DomainError> {
        match command {
            ConnectionCommand::Create { name, auth, login, settings, secret } => {
                if self.state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let (settings, _) = settings.with(&SettingsChange::default())?;
                redirects_only_for_oauth(auth, &settings)?;
                Ok(vec![ConnectionEvent::Created { name, auth, login, settings, credential_id: secret.id }])
            }
            ConnectionCommand::ChangeSettings(change) => {
                let state = self.enabled()?;
                let (next, changes) = state.settings.with(&change)?;
                redirects_only_for_oauth(state.auth, &next)?;
                Ok(if changes.is_empty() { vec![] } else { vec![ConnectionEvent::SettingsChanged { changes }] })
            }
            ConnectionCommand::Rotate { secret, grace, at } => {
                let retiring = credential::rotation(&self.enabled()?.credentials, grace, at)?;
                Ok(vec![ConnectionEvent::SecretRotated { credential_id: secret.id, grace_seconds: grace.whole_seconds(), retiring }])
            }
            ConnectionCommand::Revoke { at } => {
                let credentials = &self.enabled()?.credentials;
                let older = &credentials[..credentials.len().saturating_sub(1)];
                let credential_ids = credential::live(older, at);
                Ok(if credential_ids.is_empty() { vec![] } else { vec![ConnectionEvent::SecretsRevoked { credential_ids, at }] })
            }
            ConnectionCommand::Disable { purge } => {
                let state = self.state.as_ref().ok_or(DomainError::NotFound)?;
                // A connection disabled without purge may still be purged later: the purge
                // is the one thing a second disable adds.
                Ok(match (state.disabled, purge && !state.purge) {
                    (false, _) => vec![ConnectionEvent::Disabled { purge }],
                    (true, true) => vec![ConnectionEvent::Disabled { purge: true }],
                    (true, false) => vec![],
                })
            }
        }
    }
}

/// Only an OAuth client is ever sent to a redirect URI; on another mode one would mislead.
fn redirects_only_for_oauth(auth: AuthMode, settings: &Settings) -> Result<(), DomainError> {
    if auth != AuthMode::Oauth && !settings.redirect_uris.is_empty() {
        return Err(DomainError::invalid(format!("redirect URIs are for oauth connections; this one is {auth}")));
    }
    Ok(())
}

impl Aggregate for Connection {
    const TYPE: &'static str = "connection";
    type Command = ConnectionCommand;
    type Event = ConnectionEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: ConnectionCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ConnectionEvent) {
        if let ConnectionEvent::Created { name, auth, login, settings, credential_id } = event {
            let credentials = vec![Credential { id: credential_id, expires_at: None }];
            self.state = Some(ConnectionState { name, auth, login, settings, credentials, disabled: false, purge: false });
            return;
        }
        let Some(state) = self.state.as_mut() else { return };
        match event {
            ConnectionEvent::Created { .. } => unreachable!("handled above"),
            ConnectionEvent::SettingsChanged { changes } => {
                // The settings as one value: each change's `to` replaces its field.
                let mut value = serde_json::to_value(&state.settings).expect("settings serialise");
                for change in changes {
                    value[change.setting] = change.to;
                }
                if let Ok(settings) = serde_json::from_value(value) {
                    state.settings = settings;
                }
            }
            ConnectionEvent::SecretRotated { credential_id, retiring, .. } => {
                credential::rotate(&mut state.credentials, credential_id, &retiring);
            }
            ConnectionEvent::SecretsRevoked { credential_ids, at } => credential::revoke(&mut state.credentials, &credential_ids, at),
            ConnectionEvent::Disabled { purge } => {
                state.disabled = true;
                state.purge |= purge;
            }
        }
    }
}
