//! The access projection's state: per tenant, what a look-up answers (users by login, their
//! groups, whether they are active, who provisioned them) and what their roles derive from (the
//! role policy, the connections' `on_create_role`), folded from the log in commit order. It
//! also knows the roles each user's assignment stream holds, and which users an event may have
//! moved ([`Model::dirty`]), so that the deriver emits exactly the missing `role.*` events.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use cqrs_es::Aggregate;
use domain::connection::{Connection, ConnectionEvent};
use domain::group::GroupEvent;
use domain::names::fold_case;
use domain::role::assignment::{AssignRoles, AssignmentEvent};
use domain::role::{effective, GroupRef, RoleName, RolePolicy, RolePolicyEvent, UserFacts};
use domain::tenant::TenantEvent;
use domain::user::UserEvent;
use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use scim::document::Document;
use serde_json::{json, Value};
use smallvec::SmallVec;
use store::{RecordedEvent, StoreResult};
use uuid::Uuid;

use super::users::{UserEntry, Users};

/// A set of role names as a fingerprint: the deriver only asks whether the roles an
/// assignment stream holds are the roles a user should have, and the stream itself knows the
/// names when it decides which events that takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolesHeld(u64);

impl RolesHeld {
    pub const NONE: Self = Self(0);

    fn of(roles: &[RoleName]) -> Self {
        if roles.is_empty() {
            return Self::NONE;
        }
        let mut names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
        names.sort_unstable();
        names.dedup();
        let mut hasher = DefaultHasher::new();
        names.hash(&mut hasher);
        // Zero stands for no roles.
        Self(hasher.finish().max(1))
    }
}

#[derive(Debug, Clone, Default)]
struct GroupEntry {
    display_name: Box<str>,
    members: HashSet<ResourceId>,
}

/// The event that last moved a user's roles, named on the `role.*` events it leads to.
#[derive(Debug, Clone)]
struct Cause {
    event_type: Arc<str>,
    event_id: Uuid,
    position: i64,
}

impl Cause {
    fn to_json(&self) -> Value {
        json!({"event": &*self.event_type, "event_id": self.event_id, "position": self.position})
    }
}

#[derive(Debug, Default)]
struct TenantState {
    users: Users,
    groups: HashMap<ResourceId, GroupEntry>,
    /// For ids that groups name as members but that are no user (yet): those groups. A user
    /// pushed after the groups that name it joins them when it arrives.
    early: HashMap<ResourceId, SmallVec<[ResourceId; 1]>>,
    connections: HashMap<Uuid, Connection>,
    policy: RolePolicy,
    /// The roles held by the assignment streams of users that are gone, until their
    /// revocation is read back.
    departed: HashMap<ResourceId, RolesHeld>,
    /// The on-create roles users started with, one copy of each name.
    role_names: HashSet<Arc<RoleName>>,
    /// Users whose roles an event may have moved, with the latest such event.
    dirty: HashMap<ResourceId, Cause>,
    /// How many access tokens the tenant has made: a cache of their hashes is current while
    /// this has not moved.
    tokens: u64,
}

/// What a look-up answers for one login.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub id: ResourceId,
    pub user_name: String,
    pub active: bool,
    pub groups: Vec<GroupAnswer>,
    pub roles: Vec<String>,
    pub role_locked: bool,
    /// The provisioning connection's name, or `operator`.
    pub provisioned_by: String,
    /// The user's version (its ETag's).
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAnswer {
    pub id: ResourceId,
    pub display_name: String,
}

#[derive(Debug, Default)]
pub struct Model {
    tenants: HashMap<TenantSlug, TenantState>,
    /// How many operators the deployment has made (for the cache of their token hashes).
    operators: u64,
    deleted: HashSet<TenantSlug>,
    /// Event type names, one copy of each, for the causes kept with dirty users.
    event_types: HashSet<Arc<str>>,
}

impl Model {
    /// Folds one event of the log in.
    pub fn apply(&mut self, event: &RecordedEvent) -> StoreResult<()> {
        if self.deleted.contains(&event.tenant) {
            return Ok(());
        }
        if event.kind == StreamKind::Tenant {
            // A deleted tenant answers nothing and admits no token; its slug is never used again.
            if let TenantEvent::Deleted { .. } = event.decode()? {
                self.tenants.remove(&event.tenant);
                self.deleted.insert(event.tenant.clone());
            }
            return Ok(());
        }
        let tenant = self.tenants.entry(event.tenant.clone()).or_default();
        let touched = match event.kind {
            StreamKind::User => tenant.user(event.stream, event.stream_version, event.decode()?),
            StreamKind::Group => tenant.group(event.stream, event.decode()?),
            StreamKind::Connection => {
                let id = event.stream.as_uuid();
                tenant.connections.entry(id).or_default().apply(event.decode::<ConnectionEvent>()?);
                Vec::new()
            }
            StreamKind::RolePolicy => tenant.policy_changed(event.decode()?),
            StreamKind::RoleAssignment => {
                let (AssignmentEvent::Assigned { user, roles, .. } | AssignmentEvent::Revoked { user, roles, .. }) = event.decode()?;
                tenant.hold(user, RolesHeld::of(&roles));
                Vec::new()
            }
            StreamKind::AccessToken => {
                tenant.tokens += 1;
                Vec::new()
            }
            StreamKind::Operator => {
                self.operators += 1;
                Vec::new()
            }
            // Handled above.
            StreamKind::Tenant => Vec::new(),
            // What the enrollment mailer did, devices, OAuth grants and master keys change no one's access.
            StreamKind::Enrollment | StreamKind::Device | StreamKind::OauthGrant | StreamKind::MasterKey => Vec::new(),
        };
        if !touched.is_empty() {
            let event_type = match self.event_types.get(event.payload.event_type.as_str()) {
                Some(known) => Arc::clone(known),
                None => {
                    let name: Arc<str> = event.payload.event_type.as_str().into();
                    self.event_types.insert(Arc::clone(&name));
                    name
                }
            };
            let cause = Cause { event_type, event_id: event.event_id, position: event.position };
            for user in touched {
                tenant.dirty.insert(user, cause.clone());
            }
        }
        Ok(())
    }

    /// The user `login` names in `tenant` (userName or alias, case-insensitively).
    pub fn look_up(&self, tenant: &TenantSlug, login: &str) -> Option<Answer> {
        let state = self.tenants.get(tenant)?;
        let user = state.users.by_login(&fold_case(login))?;
        let id = user.id();
        let groups = user
            .groups
            .iter()
            .filter_map(|g| state.groups.get(g).map(|e| GroupAnswer { id: *g, display_name: e.display_name.to_string() }))
            .collect();
        let provisioned_by = match user.owner {
            Owner::Connection(c) => state.connections.get(&c).and_then(|c| c.state()).map_or_else(|| c.to_string(), |s| s.name.to_string()),
            Owner::Operator => "operator".to_owned(),
        };
        Some(Answer {
            id,
            user_name: user.user_name().to_owned(),
            active: user.active,
            groups,
            roles: state.roles_of(id).into_iter().map(String::from).collect(),
            role_locked: state.policy.lock(id).is_some(),
            provisioned_by,
            version: user.version,
        })
    }

    /// Up to `limit` users whose assignment streams lag their effective roles, as the commands
    /// that bring them level. Users whose streams already agree are no longer dirty.
    pub fn pending(&mut self, limit: usize) -> Vec<(TenantSlug, AssignRoles)> {
        let mut pending = Vec::new();
        for (slug, state) in &mut self.tenants {
            if pending.len() >= limit {
                break;
            }
            for (user, roles, cause) in state.pending(limit - pending.len()) {
                pending.push((slug.clone(), AssignRoles { user, roles, cause: cause.to_json() }));
            }
        }
        pending
    }

    /// The generation of the tenant's access tokens, which moves with each one made; `None`
    /// when the tenant has none.
    pub fn tokens(&self, tenant: &TenantSlug) -> Option<u64> {
        self.tenants.get(tenant).map(|t| t.tokens).filter(|made| *made > 0)
    }

    /// The generation of the deployment's operators.
    pub fn operators(&self) -> u64 {
        self.operators
    }

    /// How many users wait for their `role.*` events.
    pub fn dirty(&self) -> usize {
        self.tenants.values().map(|t| t.dirty.len()).sum()
    }
}

impl TenantState {
    fn roles_of(&self, id: ResourceId) -> Vec<RoleName> {
        let Some(user) = self.users.get(&id) else { return Vec::new() };
        let groups = user.groups.iter().filter_map(|g| self.groups.get(g).map(|e| (*g, &*e.display_name)));
        effective(&self.policy, UserFacts { id, active: user.active, groups, created_with: user.created_with.as_deref() })
    }

    /// Up to `limit` dirty users whose assignment streams lag, with their effective roles.
    fn pending(&mut self, limit: usize) -> Vec<(ResourceId, Vec<RoleName>, Cause)> {
        let mut pending = Vec::new();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.retain(|user, cause| {
            if pending.len() >= limit {
                return true;
            }
            let roles = self.roles_of(*user);
            let same = RolesHeld::of(&roles) == self.held(user);
            if !same {
                pending.push((*user, roles, cause.clone()));
            }
            // Kept until the assignment's events are read back, so a failed append is retried.
            !same
        });
        // A start-up marks every user dirty; most are level, and the table should not stay
        // at its peak size.
        if dirty.capacity() > 4 * dirty.len().max(1_024) {
            dirty.shrink_to_fit();
        }
        self.dirty = dirty;
        pending
    }

    fn held(&self, user: &ResourceId) -> RolesHeld {
        match self.users.get(user) {
            Some(entry) => entry.held,
            None => self.departed.get(user).copied().unwrap_or_default(),
        }
    }

    fn hold(&mut self, user: ResourceId, held: RolesHeld) {
        if let Some(entry) = self.users.get_mut(&user) {
            entry.held = held;
        } else if held == RolesHeld::NONE {
            self.departed.remove(&user);
        } else {
            self.departed.insert(user, held);
        }
    }

    fn user(&mut self, id: ResourceId, version: i64, event: UserEvent) -> Vec<ResourceId> {
        match event {
            // A user moved in (ADR 0074) starts here as a provisioned one does; moved out, it
            // ends as a deleted one: its logins and groups go, its roles are revoked.
            UserEvent::Provisioned { user_name, active, profile, owner } | UserEvent::MovedIn { user_name, active, profile, owner, .. } => {
                let created_with = match owner {
                    Owner::Connection(c) => self
                        .connections
                        .get(&c)
                        .and_then(|c| c.state())
                        .and_then(|s| s.settings.on_create_role.clone())
                        .map(|role| intern(&mut self.role_names, role)),
                    Owner::Operator => None,
                };
                let mut entry = UserEntry::new(id, user_name.to_string().into_boxed_str(), aliases_of(&profile));
                // Memberships pushed before the user (by id) are the group's already.
                entry.groups = self.early.remove(&id).unwrap_or_default();
                entry.version = version;
                entry.created_with = created_with;
                entry.held = self.departed.remove(&id).unwrap_or_default();
                entry.owner = owner;
                entry.active = active.unwrap_or(true);
                self.users.insert(entry);
            }
            UserEvent::Deleted { .. } | UserEvent::MovedOut { .. } => {
                if let Some(user) = self.users.remove(&id) {
                    for group in user.groups {
                        if let Some(g) = self.groups.get_mut(&group) {
                            g.members.remove(&id);
                        }
                    }
                    if user.held != RolesHeld::NONE {
                        self.departed.insert(id, user.held);
                    }
                }
                return vec![id];
            }
            other => {
                let Some(user) = self.users.get_mut(&id) else { return Vec::new() };
                user.version = version;
                match other {
                    UserEvent::Claimed { to, .. } => user.owner = to,
                    UserEvent::Renamed { to, .. } => self.users.rename(&id, to.to_string().into_boxed_str()),
                    UserEvent::ProfileUpdated { profile } => self.users.set_aliases(&id, aliases_of(&profile)),
                    UserEvent::Deactivated { .. } => user.active = false,
                    UserEvent::Reactivated { .. } => user.active = true,
                    _ => {}
                }
            }
        }
        vec![id]
    }

    fn group(&mut self, id: ResourceId, event: GroupEvent) -> Vec<ResourceId> {
        match event {
            GroupEvent::Created { display_name, members, .. } => {
                let members: HashSet<ResourceId> = members.iter().map(|m| m.value).collect();
                let joining: Vec<ResourceId> = members.iter().copied().collect();
                self.groups.insert(id, GroupEntry { display_name: display_name.to_string().into_boxed_str(), members });
                self.join(id, joining)
            }
            GroupEvent::Renamed { to, .. } => match self.groups.get_mut(&id) {
                Some(group) => {
                    group.display_name = to.to_string().into_boxed_str();
                    self.members(id)
                }
                None => Vec::new(),
            },
            GroupEvent::MembersAdded { members } => {
                let Some(group) = self.groups.get_mut(&id) else { return Vec::new() };
                let joining: Vec<ResourceId> = members.iter().map(|m| m.value).filter(|m| group.members.insert(*m)).collect();
                self.join(id, joining)
            }
            GroupEvent::MembersRemoved { members } => {
                let Some(group) = self.groups.get_mut(&id) else { return Vec::new() };
                let leaving: Vec<ResourceId> = members.iter().map(|m| m.value).filter(|m| group.members.remove(m)).collect();
                self.leave(id, leaving)
            }
            GroupEvent::Deleted { .. } => {
                let Some(group) = self.groups.remove(&id) else { return Vec::new() };
                self.leave(id, group.members.into_iter().collect())
            }
            GroupEvent::Claimed { .. } | GroupEvent::ProfileUpdated { .. } => Vec::new(),
        }
    }

    /// Adds the group to its new members; returns those that are users.
    fn join(&mut self, group: ResourceId, members: Vec<ResourceId>) -> Vec<ResourceId> {
        let mut users = Vec::new();
        for member in members {
            match self.users.get_mut(&member) {
                Some(user) => {
                    if !user.groups.contains(&group) {
                        user.groups.push(group);
                    }
                    users.push(member);
                }
                None => {
                    let groups = self.early.entry(member).or_default();
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
        }
        users
    }

    /// Takes the group from members that left it; returns those that are users.
    fn leave(&mut self, group: ResourceId, members: Vec<ResourceId>) -> Vec<ResourceId> {
        let mut users = Vec::new();
        for member in members {
            match self.users.get_mut(&member) {
                Some(user) => {
                    user.groups.retain(|g| *g != group);
                    users.push(member);
                }
                None => {
                    if let Some(groups) = self.early.get_mut(&member) {
                        groups.retain(|g| *g != group);
                        if groups.is_empty() {
                            self.early.remove(&member);
                        }
                    }
                }
            }
        }
        users
    }

    /// The group's members that are users.
    fn members(&self, group: ResourceId) -> Vec<ResourceId> {
        self.groups.get(&group).map(|g| g.members.iter().filter(|m| self.users.contains(m)).copied().collect()).unwrap_or_default()
    }

    fn policy_changed(&mut self, event: RolePolicyEvent) -> Vec<ResourceId> {
        let touched = match &event {
            RolePolicyEvent::Defined { .. } => Vec::new(),
            RolePolicyEvent::Mapped { group, .. } | RolePolicyEvent::Unmapped { group, .. } => self.mapped_members(group),
            RolePolicyEvent::DefaultChanged { .. } => self.users.ids().collect(),
            RolePolicyEvent::Locked { user, .. } | RolePolicyEvent::Unlocked { user, .. } => vec![*user],
        };
        self.policy.apply(event);
        touched
    }

    /// The users in the groups `group` names.
    fn mapped_members(&self, group: &GroupRef) -> Vec<ResourceId> {
        self.groups.iter().filter(|(id, g)| group.names(**id, &g.display_name)).flat_map(|(id, _)| self.members(*id)).collect()
    }
}

/// The profile's aliases, case-folded.
fn aliases_of(profile: &Document) -> Box<[Box<str>]> {
    profile.values_of("aliases").filter(|a| !a.trim().is_empty()).map(|a| fold_case(a).into_boxed_str()).collect()
}

fn intern(names: &mut HashSet<Arc<RoleName>>, name: RoleName) -> Arc<RoleName> {
    if let Some(known) = names.get(&name) {
        return Arc::clone(known);
    }
    let name = Arc::new(name);
    names.insert(Arc::clone(&name));
    name
}

#[cfg(test)]
mod tests {
    use domain::event::EventPayload;
    use time::OffsetDateTime;

    use super::*;

    fn event(kind: StreamKind, stream: ResourceId, version: i64, event_type: &str, data: Value) -> RecordedEvent {
        RecordedEvent {
            position: version,
            event_id: Uuid::now_v7(),
            tenant: TenantSlug::parse("acme").unwrap(),
            kind,
            stream,
            stream_version: version,
            payload: EventPayload { event_type: event_type.into(), type_version: 1, data },
            metadata: json!({}),
            recorded_at: OffsetDateTime::now_utc(),
        }
    }

    fn groups_of(model: &Model, login: &str) -> Vec<String> {
        let answer = model.look_up(&TenantSlug::parse("acme").unwrap(), login).expect("the login is known");
        answer.groups.into_iter().map(|g| g.display_name).collect()
    }

    #[test]
    fn a_user_pushed_after_the_groups_that_name_it_joins_them_and_leaves_with_them() {
        let (user, group) = (ResourceId::new(), ResourceId::new());
        let mut model = Model::default();
        let created = json!({"display_name": "Engineering", "profile": {}, "members": [{"value": user}], "owner": "operator"});
        model.apply(&event(StreamKind::Group, group, 1, "group.created", created)).unwrap();
        let provisioned = json!({"user_name": "Ada@Example.com", "active": true, "profile": {}, "owner": "operator"});
        model.apply(&event(StreamKind::User, user, 1, "user.provisioned", provisioned)).unwrap();
        assert_eq!(groups_of(&model, "ada@example.COM"), ["Engineering"]);

        model.apply(&event(StreamKind::Group, group, 2, "group.deleted", json!({"display_name": "Engineering"}))).unwrap();
        assert!(groups_of(&model, "ada@example.com").is_empty());
        assert!(model.tenants.values().all(|t| t.early.is_empty()), "nothing is remembered for a group that is gone");
    }

    #[test]
    fn a_renamed_user_answers_to_its_new_name_only() {
        let user = ResourceId::new();
        let mut model = Model::default();
        let provisioned = json!({"user_name": "old@example.com", "active": true, "profile": {"aliases": [{"value": "Alias@example.com"}]}, "owner": "operator"});
        model.apply(&event(StreamKind::User, user, 1, "user.provisioned", provisioned)).unwrap();
        let renamed = json!({"from": "old@example.com", "to": "New@example.com"});
        model.apply(&event(StreamKind::User, user, 2, "user.renamed", renamed)).unwrap();
        let tenant = TenantSlug::parse("acme").unwrap();
        assert!(model.look_up(&tenant, "old@example.com").is_none());
        assert_eq!(model.look_up(&tenant, "new@example.com").unwrap().user_name, "New@example.com");
        assert_eq!(model.look_up(&tenant, "alias@example.com").unwrap().version, 2);
    }

    #[test]
    fn held_roles_compare_as_sets() {
        let role = |name: &str| RoleName::parse(name).unwrap();
        assert_eq!(RolesHeld::of(&[role("admin"), role("editor")]), RolesHeld::of(&[role("editor"), role("admin")]));
        assert_ne!(RolesHeld::of(&[role("admin")]), RolesHeld::of(&[role("editor")]));
        assert_eq!(RolesHeld::of(&[]), RolesHeld::NONE);
        assert_ne!(RolesHeld::of(&[role("admin")]), RolesHeld::NONE);
    }
}
