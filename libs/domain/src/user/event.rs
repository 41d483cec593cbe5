//! What has happened to a user. Names are past tense and stable; docs/events.md catalogues them.

use cqrs_es::DomainEvent;
use scim::document::Document;
use serde::{Deserialize, Serialize};

use crate::event::CURRENT_VERSION;
use crate::{Owner, TenantSlug, UserName};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum UserEvent {
    /// `active` is null when the client gave none (the user counts as active). Events recorded
    /// before ownership existed have no `owner`: it is their actor (`event::decode_recorded`).
    #[serde(rename = "user.provisioned")]
    Provisioned { user_name: UserName, active: Option<bool>, profile: Document, owner: Owner },
    /// A connection that claims manual resources took over an operator-owned user.
    #[serde(rename = "user.claimed")]
    Claimed { from: Owner, to: Owner },
    #[serde(rename = "user.renamed")]
    Renamed { from: UserName, to: UserName },
    /// The profile (every attribute but userName and active) as it now is.
    #[serde(rename = "user.profile_updated")]
    ProfileUpdated { profile: Document },
    /// Carries what a subscriber needs to act (reassign devices to the manager, notify).
    #[serde(rename = "user.deactivated")]
    Deactivated { user_name: UserName, emails: Vec<String>, manager: Option<String> },
    #[serde(rename = "user.reactivated")]
    Reactivated { user_name: UserName },
    /// The `active` attribute as it now is, when it changed without the user being deactivated
    /// or reactivated: set to true on a user that had none, or removed (null).
    #[serde(rename = "user.active_attribute_changed")]
    ActiveAttributeChanged { active: Option<bool> },
    /// `reason` and `cause` say why a subscriber deleted the user (absent for a DELETE).
    #[serde(rename = "user.deleted")]
    Deleted {
        user_name: UserName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<uuid::Uuid>,
    },
    /// An operator erased the (deleted) user: its key is destroyed with this event, so the
    /// personal data of its events reads as erased from now on (docs/adr/0068).
    #[serde(rename = "user.erased")]
    Erased {},
    /// The user arrived from `from`, another sub-tenant of the same parent, with the same id,
    /// as it now is (ADR 0074): here it starts as if provisioned, with its owner kept.
    #[serde(rename = "user.moved_in")]
    MovedIn { from: TenantSlug, user_name: UserName, active: Option<bool>, profile: Document, owner: Owner },
    /// The user left for `to`, another sub-tenant of the same parent: here it ends as if
    /// deleted (its logins and memberships go), its history stays.
    #[serde(rename = "user.moved_out")]
    MovedOut { to: TenantSlug, user_name: UserName },
}

/// The fields of a user event's payload that hold personal data, by event type: what is stored
/// encrypted under the user's key (docs/adr/0068); the enrollment outcomes' recipient too,
/// under the key of the user they name. Ids, owners, `active`, reasons and causes
/// stay clear, so that streams, filters and subscribers that need no personal data keep working.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "user.provisioned" | "user.moved_in" => &["user_name", "profile"],
        "user.renamed" => &["from", "to"],
        "user.profile_updated" => &["profile"],
        "user.deactivated" => &["user_name", "emails", "manager"],
        "user.reactivated" | "user.deleted" | "user.moved_out" => &["user_name"],
        // The mailer's outcomes name the user's address; they are kept under the user's key.
        "enrollment.sent" | "enrollment.failed" => &["to"],
        _ => &[],
    }
}

/// What a reader sees in place of a personal field once the user's key is destroyed: a
/// value of the field's own type, so that erased events still decode and fold.
pub const ERASED: &str = "[erased]";

pub fn erased_value(field: &str) -> serde_json::Value {
    match field {
        "profile" => serde_json::Value::Object(Default::default()),
        "emails" => serde_json::Value::Array(Vec::new()),
        "manager" => serde_json::Value::Null,
        _ => serde_json::Value::String(ERASED.to_owned()),
    }
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}
