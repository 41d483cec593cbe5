//! The access projection's state: per tenant, what a look-up answers (users by login, their
//! groups, whether they are active, who provisioned them) and what their roles derive from (the
//! role policy, the connections' `on_create_role`), folded from the log in commit order. It
//! also knows the roles each user's assignment stream holds, and which users an event may have
//! moved ([`Model::dirty`]), so that the deriver emits exactly the missing `role.*` events.

use std::collections::{BTreeSet, HashMap, HashSet};

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
use store::{RecordedEvent, StoreResult};
use uuid::Uuid;

#[derive(Debug, Clone)]
struct UserEntry {
    user_name: String,
    /// Case-folded logins: the userName's key and each alias's.
    logins: Vec<String>,
    active: bool,
    version: i64,
    owner: Owner,
    created_with: Option<RoleName>,
    groups: BTreeSet<ResourceId>,
}

#[derive(Debug, Clone, Default)]
struct GroupEntry {
    display_name: String,
    members: HashSet<ResourceId>,
}

#[derive(Debug, Default)]
struct TenantState {
    users: HashMap<ResourceId, UserEntry>,
    logins: HashMap<String, ResourceId>,
    groups: HashMap<ResourceId, GroupEntry>,
    connections: HashMap<Uuid, Connection>,
    policy: RolePolicy,
    /// The roles each user's assignment stream holds.
    assigned: HashMap<ResourceId, Vec<RoleName>>,
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
    /// Users whose roles an event may have moved, with the latest such event (the cause).
    dirty: HashMap<(TenantSlug, ResourceId), Value>,
    /// How many operators the deployment has made (for the cache of their token hashes).
    operators: u64,
    deleted: HashSet<TenantSlug>,
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
                self.dirty.retain(|(tenant, _), _| *tenant != event.tenant);
                self.deleted.insert(event.tenant.clone());
            }
            return Ok(());
        }
        let cause = json!({"event": event.payload.event_type, "event_id": event.event_id, "position": event.position});
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
                tenant.assigned.insert(user, roles);
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
            // What the enrollment mailer did, devices and OAuth grants change no one's access.
            StreamKind::Enrollment | StreamKind::Device | StreamKind::OauthGrant => Vec::new(),
        };
        for user in touched {
            self.dirty.insert((event.tenant.clone(), user), cause.clone());
        }
        Ok(())
    }

    /// The user `login` names in `tenant` (userName or alias, case-insensitively).
    pub fn look_up(&self, tenant: &TenantSlug, login: &str) -> Option<Answer> {
        let state = self.tenants.get(tenant)?;
        let id = *state.logins.get(&fold_case(login))?;
        let user = state.users.get(&id)?;
        let groups = user
            .groups
            .iter()
            .filter_map(|g| state.groups.get(g).map(|e| GroupAnswer { id: *g, display_name: e.display_name.clone() }))
            .collect();
        let provisioned_by = match user.owner {
            Owner::Connection(c) => state.connections.get(&c).and_then(|c| c.state()).map_or_else(|| c.to_string(), |s| s.name.to_string()),
            Owner::Operator => "operator".to_owned(),
        };
        Some(Answer {
            id,
            user_name: user.user_name.clone(),
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
        let tenants = &self.tenants;
        self.dirty.retain(|(tenant, user), cause| {
            if pending.len() >= limit {
                return true;
            }
            let Some(state) = tenants.get(tenant) else { return false };
            let roles = state.roles_of(*user);
            let held = state.assigned.get(user).map(Vec::as_slice).unwrap_or_default();
            let same = roles.len() == held.len() && roles.iter().all(|r| held.contains(r));
            if !same {
                pending.push((tenant.clone(), AssignRoles { user: *user, roles, cause: cause.clone() }));
            }
            // Kept until the assignment's events are read back, so a failed append is retried.
            !same
        });
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
        self.dirty.len()
    }
}

impl TenantState {
    fn roles_of(&self, id: ResourceId) -> Vec<RoleName> {
        let Some(user) = self.users.get(&id) else { return Vec::new() };
        let groups = user.groups.iter().filter_map(|g| self.groups.get(g).map(|e| (*g, e.display_name.as_str())));
        effective(&self.policy, UserFacts { id, active: user.active, groups, created_with: user.created_with.as_ref() })
    }

    fn user(&mut self, id: ResourceId, version: i64, event: UserEvent) -> Vec<ResourceId> {
        match event {
            UserEvent::Provisioned { user_name, active, profile, owner } => {
                let created_with = match owner {
                    Owner::Connection(c) => {
                        self.connections.get(&c).and_then(|c| c.state()).and_then(|s| s.settings.on_create_role.clone())
                    }
                    Owner::Operator => None,
                };
                let entry = UserEntry {
                    user_name: user_name.to_string(),
                    logins: Vec::new(),
                    active: active.unwrap_or(true),
                    version,
                    owner,
                    created_with,
                    // Memberships pushed before the user (by id) are the group's already.
                    groups: self.groups.iter().filter(|(_, g)| g.members.contains(&id)).map(|(g, _)| *g).collect(),
                };
                self.users.insert(id, entry);
                self.set_logins(id, &profile);
            }
            UserEvent::Deleted { .. } => {
                if let Some(user) = self.users.remove(&id) {
                    for login in user.logins {
                        release(&mut self.logins, login, id);
                    }
                    for group in user.groups {
                        if let Some(g) = self.groups.get_mut(&group) {
                            g.members.remove(&id);
                        }
                    }
                }
                return vec![id];
            }
            other => {
                let Some(user) = self.users.get_mut(&id) else { return Vec::new() };
                user.version = version;
                match other {
                    UserEvent::Claimed { to, .. } => user.owner = to,
                    UserEvent::Renamed { to, .. } => {
                        user.user_name = to.to_string();
                        // The first login is the userName's; the aliases stay.
                        let aliases = user.logins.iter().skip(1).cloned().collect();
                        self.set_logins_from(id, aliases);
                    }
                    UserEvent::ProfileUpdated { profile } => self.set_logins(id, &profile),
                    UserEvent::Deactivated { .. } => user.active = false,
                    UserEvent::Reactivated { .. } => user.active = true,
                    _ => {}
                }
            }
        }
        vec![id]
    }

    fn set_logins(&mut self, id: ResourceId, profile: &Document) {
        let aliases = profile.values_of("aliases").filter(|a| !a.trim().is_empty()).map(fold_case).collect();
        self.set_logins_from(id, aliases);
    }

    /// Makes the user's logins its userName's key and `aliases`.
    fn set_logins_from(&mut self, id: ResourceId, aliases: Vec<String>) {
        let Some(user) = self.users.get_mut(&id) else { return };
        for login in user.logins.drain(..) {
            release(&mut self.logins, login, id);
        }
        user.logins.push(fold_case(&user.user_name));
        user.logins.extend(aliases);
        for login in &user.logins {
            self.logins.insert(login.clone(), id);
        }
    }

    fn group(&mut self, id: ResourceId, event: GroupEvent) -> Vec<ResourceId> {
        match event {
            GroupEvent::Created { display_name, members, .. } => {
                let members: HashSet<ResourceId> = members.iter().map(|m| m.value).collect();
                self.groups.insert(id, GroupEntry { display_name: display_name.to_string(), members: members.clone() });
                self.join(id, members.iter().copied())
            }
            GroupEvent::Renamed { to, .. } => match self.groups.get_mut(&id) {
                Some(group) => {
                    group.display_name = to.to_string();
                    self.members(id)
                }
                None => Vec::new(),
            },
            GroupEvent::MembersAdded { members } => {
                if let Some(group) = self.groups.get_mut(&id) {
                    group.members.extend(members.iter().map(|m| m.value));
                }
                self.join(id, members.iter().map(|m| m.value))
            }
            GroupEvent::MembersRemoved { members } => {
                if let Some(group) = self.groups.get_mut(&id) {
                    for m in &members {
                        group.members.remove(&m.value);
                    }
                }
                let users: Vec<ResourceId> = members.iter().map(|m| m.value).filter(|m| self.users.contains_key(m)).collect();
                for user in &users {
                    self.users.get_mut(user).expect("just checked").groups.remove(&id);
                }
                users
            }
            GroupEvent::Deleted { .. } => {
                let users = self.members(id);
                for user in &users {
                    self.users.get_mut(user).expect("a member").groups.remove(&id);
                }
                self.groups.remove(&id);
                users
            }
            GroupEvent::Claimed { .. } | GroupEvent::ProfileUpdated { .. } => Vec::new(),
        }
    }

    /// Adds the group to its members that are users; returns them.
    fn join(&mut self, group: ResourceId, members: impl Iterator<Item = ResourceId>) -> Vec<ResourceId> {
        let mut users = Vec::new();
        for member in members {
            if let Some(user) = self.users.get_mut(&member) {
                user.groups.insert(group);
                users.push(member);
            }
        }
        users
    }

    /// The group's members that are users.
    fn members(&self, group: ResourceId) -> Vec<ResourceId> {
        self.groups.get(&group).map(|g| g.members.iter().filter(|m| self.users.contains_key(m)).copied().collect()).unwrap_or_default()
    }

    fn policy_changed(&mut self, event: RolePolicyEvent) -> Vec<ResourceId> {
        let touched = match &event {
            RolePolicyEvent::Defined { .. } => Vec::new(),
            RolePolicyEvent::Mapped { group, .. } | RolePolicyEvent::Unmapped { group, .. } => self.mapped_members(group),
            RolePolicyEvent::DefaultChanged { .. } => self.users.keys().copied().collect(),
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

/// Forgets `login` as `user`'s, unless another user holds it by now (logins are unique, but
/// one released may be claimed again).
fn release(logins: &mut HashMap<String, ResourceId>, login: String, user: ResourceId) {
    if logins.get(&login) == Some(&user) {
        logins.remove(&login);
    }
}
