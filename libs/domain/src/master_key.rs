//! The deployment's master keys as the log knows them: only their ids (a key itself is never
//! logged), and each rotation that re-wrapped users' data keys under the newest one
//! (`master_key.rotated`). Logged under [`crate::TenantSlug::deployment`], one stream.

use std::fmt;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::CURRENT_VERSION;
use crate::{DomainError, ResourceId};

/// Names a master key without revealing it: 16 hex digits, the start of a hash of the key.
/// Stored beside every data key it wraps, so a process holding several keys knows which opens it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MasterKeyId(String);

impl MasterKeyId {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::invalid(format!("'{text}' is not a master key id: 16 lower-case hex digits")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MasterKeyId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MasterKeyId> for String {
    fn from(id: MasterKeyId) -> Self {
        id.0
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many data keys one master key wraps; `master_key` is `None` for keys wrapped before
/// keys had ids, all of them under the deployment's first master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedCount {
    pub master_key: Option<MasterKeyId>,
    pub keys: u64,
}

/// What one run of a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The newest master key: what the keys were re-wrapped under.
    pub to: MasterKeyId,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Keys still under older master keys when the run ended (none: the older keys may go).
    pub remaining: Vec<WrappedCount>,
}

#[derive(Debug, Clone)]
pub enum MasterKeyCommand {
    RecordRotation(Rotation),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum MasterKeyEvent {
    #[serde(rename = "master_key.rotated")]
    Rotated(Rotation),
}

impl DomainEvent for MasterKeyEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

/// The deployment's master keys, as far as commands need them: nothing a rotation decides on
/// (the key table holds what is wrapped under which key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MasterKeys {}

/// The one stream's UUID.
const MASTER_KEYS_STREAM: Uuid = Uuid::from_u128(0x6d4b_0c1e_93f2_4a7e_8b15_2f0a_c3e9_0069);

impl MasterKeys {
    pub fn stream_id() -> ResourceId {
        ResourceId::from_uuid(MASTER_KEYS_STREAM)
    }
}

impl Aggregate for MasterKeys {
    const TYPE: &'static str = "master_key";
    type Command = MasterKeyCommand;
    type Event = MasterKeyEvent;
    type Error = DomainError;
    type Services = ();

    /// Every run is recorded, one that found nothing to do too: the operator ran it, and its
    /// counts say what was left.
    async fn handle(&mut self, command: MasterKeyCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        let MasterKeyCommand::RecordRotation(rotation) = command;
        sink.write(MasterKeyEvent::Rotated(rotation), self).await;
        Ok(())
    }

    fn apply(&mut self, _: MasterKeyEvent) {}
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn rotation(rewrapped: u64) -> Rotation {
        let to = MasterKeyId::parse("00112233445566ff").unwrap();
        Rotation { to, rewrapped, remaining: vec![WrappedCount { master_key: None, keys: 2 }] }
    }

    #[test]
    fn every_rotation_run_is_recorded_with_its_counts() {
        TestFramework::<MasterKeys>::with(())
            .given(vec![MasterKeyEvent::Rotated(rotation(5))])
            .when(MasterKeyCommand::RecordRotation(rotation(0)))
            .then_expect_events(vec![MasterKeyEvent::Rotated(rotation(0))]);
    }

    #[test]
    fn a_master_key_id_is_sixteen_lower_case_hex_digits() {
        assert!(MasterKeyId::parse("00112233445566ff").is_ok());
        for bad in ["00112233445566FF", "0011223344556677aa", "", "0011223344556g77"] {
            assert!(MasterKeyId::parse(bad).is_err(), "{bad}");
        }
    }
}
