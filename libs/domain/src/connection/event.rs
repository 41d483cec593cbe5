//! What has happened to a connection. docs/events.md catalogues these; none carries a secret.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::settings::{AuthMode, SettingChanged, Settings};
use super::{ConnectionName, Retiring};
use crate::event::CURRENT_VERSION;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ConnectionEvent {
    /// `login` is the basic username or OAuth client id (not secret); none for token modes.
    #[serde(rename = "connection.created")]
    Created { name: ConnectionName, auth: AuthMode, login: Option<String>, settings: Settings, credential_id: Uuid },
    #[serde(rename = "connection.settings_changed")]
    SettingsChanged { changes: Vec<SettingChanged> },
    /// A new secret; each older one still live stops working at its `expires_at`.
    #[serde(rename = "connection.secret_rotated")]
    SecretRotated { credential_id: Uuid, grace_seconds: i64, retiring: Vec<Retiring> },
    #[serde(rename = "connection.secrets_revoked")]
    SecretsRevoked {
        credential_ids: Vec<Uuid>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// With `purge`, every user and group the connection owns is to be deleted (ADR 0041).
    /// Events from before purges existed carry no `purge`: they did not ask for one.
    #[serde(rename = "connection.disabled")]
    Disabled {
        #[serde(default)]
        purge: bool,
    },
}

impl DomainEvent for ConnectionEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}
