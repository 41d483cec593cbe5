//! What has happened to a group.

use std::collections::HashSet;

use cqrs_es::DomainEvent;
use scim::document::Document;
use serde::{Deserialize, Serialize};

use super::Member;
use crate::event::CURRENT_VERSION;
use crate::{GroupName, Owner, ResourceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum GroupEvent {
    /// Events recorded before ownership existed have no `owner`: it is their actor.
    #[serde(rename = "group.created")]
    Created { display_name: GroupName, profile: Document, members: Vec<Member>, owner: Owner },
    /// A connection that claims manual resources took over an operator-owned group.
    #[serde(rename = "group.claimed")]
    Claimed { from: Owner, to: Owner },
    #[serde(rename = "group.renamed")]
    Renamed { from: GroupName, to: GroupName },
    /// The profile (every attribute but displayName and members) as it now is.
    #[serde(rename = "group.profile_updated")]
    ProfileUpdated { profile: Document },
    #[serde(rename = "group.members_added")]
    MembersAdded { members: Vec<Member> },
    #[serde(rename = "group.members_removed")]
    MembersRemoved { members: Vec<Member> },
    #[serde(rename = "group.deleted")]
    Deleted { display_name: GroupName },
}

impl DomainEvent for GroupEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

impl GroupEvent {
    /// The event without the members in `unknown` (ids that are no user or group of the
    /// tenant); `None` when nothing is left of it.
    pub fn without_members(self, unknown: &[ResourceId]) -> Option<Self> {
        let unknown: HashSet<ResourceId> = unknown.iter().copied().collect();
        let keep = |members: Vec<Member>| members.into_iter().filter(|m| !unknown.contains(&m.value)).collect::<Vec<_>>();
        match self {
            GroupEvent::Created { display_name, profile, members, owner } => {
                Some(GroupEvent::Created { display_name, profile, members: keep(members), owner })
            }
            GroupEvent::MembersAdded { members } => {
                let members = keep(members);
                (!members.is_empty()).then_some(GroupEvent::MembersAdded { members })
            }
            other => Some(other),
        }
    }
}
