//! The Group aggregate.
//!
//! A group's state is its `displayName` (unique, changed only by `group.renamed`), its members
//! (changed only by `group.members_added` / `group.members_removed`) and the rest, its profile.
//! Replacing the member list is decided as the additions and removals it amounts to. Every
//! membership decision is linear in the members involved (ids looked up in hash sets).

mod command;
mod event;
mod member;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use scim::document::Document;
use scim::schema::GROUP_RESOURCE;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use command::GroupCommand;
pub use event::GroupEvent;
pub use member::{Member, MemberKind};

use crate::ownership::Owned;
use crate::{DomainError, GroupName, Owner, ResourceId};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    state: Option<GroupState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub display_name: GroupName,
    /// Every attribute but displayName and members.
    pub profile: Document,
    /// In the order they were added; no id twice.
    pub members: Vec<Member>,
    pub owner: Owner,
    pub deleted: bool,
}

impl GroupState {
    /// The whole SCIM document (members as `{value, type}`).
    pub fn document(&self) -> Document {
        let mut doc = self.profile.clone();
        doc.set("displayName", Value::String(self.display_name.to_string()));
        if !self.members.is_empty() {
            doc.set("members", Value::Array(self.members.iter().map(Member::to_json).collect()));
        }
        doc
    }

    /// The members' ids, to look members up in constant time.
    fn member_ids(&self) -> HashSet<ResourceId> {
        self.members.iter().map(|m| m.value).collect()
    }
}

struct Parts {
    display_name: GroupName,
    profile: Document,
    members: Vec<Member>,
}

impl Parts {
    fn of(mut doc: Document) -> Result<Self, DomainError> {
        let display_name = match doc.remove("displayName") {
            Some(Value::String(name)) => GroupName::parse(&name)?,
            _ => return Err(DomainError::invalid("the required attribute 'displayName' is missing")),
        };
        let members = Member::list_from(doc.remove("members"))?;
        Ok(Self { display_name, profile: doc, members })
    }
}

impl Group {
    /// A live group whose state was kept apart from its stream, at the stream's version, with
    /// only the members a command needs: those it names, or all of them for one that replaces
    /// the list (docs/adr/0066-group-commands-resume-from-the-group-row.md). Every decision
    /// reads members only through ids the command gives, or through the whole list.
    pub fn resumed(display_name: GroupName, profile: Document, members: Vec<Member>, owner: Owner) -> Self {
        Self { state: Some(GroupState { display_name, profile, members, owner, deleted: false }) }
    }

    pub fn state(&self) -> Option<&GroupState> {
        self.state.as_ref().filter(|s| !s.deleted)
    }

    fn live(&self) -> Result<&GroupState, DomainError> {
        self.state().ok_or(DomainError::NotFound)
    }

    fn changes_to(&self, doc: Document) -> Result<Vec<GroupEvent>, DomainError> {
        let current = self.live()?;
        let next = Parts::of(doc)?;
        let mut events = Vec::new();
        if next.display_name != current.display_name {
            events.push(GroupEvent::Renamed { from: current.display_name.clone(), to: next.display_name });
        }
        if next.profile != current.profile {
            events.push(GroupEvent::ProfileUpdated { profile: next.profile });
        }
        events.extend(self.membership_changes(next.members)?);
        Ok(events)
    }

    /// The additions and removals that make the member list equal `wanted`.
    fn membership_changes(&self, wanted: Vec<Member>) -> Result<Vec<GroupEvent>, DomainError> {
        let current = self.live()?;
        let wanted_ids: HashSet<ResourceId> = wanted.iter().map(|w| w.value).collect();
        let current_ids = current.member_ids();
        let removed: Vec<Member> = current.members.iter().filter(|m| !wanted_ids.contains(&m.value)).cloned().collect();
        let added: Vec<Member> = wanted.into_iter().filter(|w| !current_ids.contains(&w.value)).collect();
        let mut events = Vec::new();
        if !removed.is_empty() {
            events.push(GroupEvent::MembersRemoved { members: removed });
        }
        if !added.is_empty() {
            events.push(GroupEvent::MembersAdded { members: added });
        }
        Ok(events)
    }

    fn decide(&self, command: GroupCommand) -> Result<Vec<GroupEvent>, DomainError> {
        match command {
            GroupCommand::Create { resource, owner } => {
                if self.state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let parts = Parts::of(resource)?;
                Ok(vec![GroupEvent::Created { display_name: parts.display_name, profile: parts.profile, members: parts.members, owner }])
            }
            GroupCommand::Replace { resource } => self.changes_to(resource),
            GroupCommand::Patch { request } => {
                let patched = request.apply(&self.live()?.document(), &GROUP_RESOURCE)?;
                self.changes_to(patched)
            }
            GroupCommand::Rename { display_name } => {
                let current = self.live()?;
                Ok(if current.display_name == display_name {
                    vec![]
                } else {
                    vec![GroupEvent::Renamed { from: current.display_name.clone(), to: display_name }]
                })
            }
            GroupCommand::AddMembers { members } => {
                let mut present = self.live()?.member_ids();
                let added: Vec<Member> = members.into_iter().filter(|m| present.insert(m.value)).collect();
                Ok(if added.is_empty() { vec![] } else { vec![GroupEvent::MembersAdded { members: added }] })
            }
            GroupCommand::RemoveMembers { members } => {
                let leaving: HashSet<ResourceId> = members.into_iter().collect();
                let removed: Vec<Member> = self.live()?.members.iter().filter(|m| leaving.contains(&m.value)).cloned().collect();
                Ok(if removed.is_empty() { vec![] } else { vec![GroupEvent::MembersRemoved { members: removed }] })
            }
            GroupCommand::ReplaceMembers { members } => self.membership_changes(members),
            GroupCommand::Delete => Ok(vec![GroupEvent::Deleted { display_name: self.live()?.display_name.clone() }]),
        }
    }

    fn with_state(&mut self, change: impl FnOnce(&mut GroupState)) {
        if let Some(state) = self.state.as_mut() {
            change(state);
        }
    }
}

impl Owned for Group {
    fn owner(&self) -> Option<Owner> {
        self.state().map(|s| s.owner)
    }

    fn claimed(from: Owner, to: Owner) -> GroupEvent {
        GroupEvent::Claimed { from, to }
    }
}

impl Aggregate for Group {
    const TYPE: &'static str = "group";
    type Command = GroupCommand;
    type Event = GroupEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: GroupCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::Created { display_name, profile, members, owner } => {
                self.state = Some(GroupState { display_name, profile, members, owner, deleted: false });
            }
            GroupEvent::Claimed { to, .. } => self.with_state(|s| s.owner = to),
            GroupEvent::Renamed { to, .. } => self.with_state(|s| s.display_name = to),
            GroupEvent::ProfileUpdated { profile } => self.with_state(|s| s.profile = profile),
            GroupEvent::MembersAdded { members } => self.with_state(|s| s.members.extend(members)),
            GroupEvent::MembersRemoved { members } => {
                let leaving: HashSet<ResourceId> = members.iter().map(|m| m.value).collect();
                self.with_state(|s| s.members.retain(|m| !leaving.contains(&m.value)))
            }
            GroupEvent::Deleted { .. } => self.with_state(|s| s.deleted = true),
        }
    }
}
